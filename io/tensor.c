/* tensor: the shared part of .npy and safetensors arrays: the tensor type,
 * messages, values from file bytes and back, reading a file of either kind
 * (tensor_npy.c, tensor_safetensors.c parse them). */
#include "io/tensor.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/mem.h"
#include "io/tensor_impl.h"

void tensor_init(tensor *t)
{
    memset(t, 0, sizeof *t);
    t->dtype = FP_F64;
}

void tensor_clear(tensor *t)
{
    free(t->data);
    tensor_init(t);
}

/* ---- messages ---- */

int tn_fail(const tensor_err *e, const char *fmt, ...)
{
    if (!e->buf || e->len == 0) return -1;
    int n = snprintf(e->buf, e->len, "%s: ", e->label ? e->label : "<tensor>");
    if (n >= 0 && (size_t)n < e->len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Bytes from a file shown in a message: printable ASCII as is, the rest as
 * \xNN, at most about 60 characters. */
const char *tn_shown(char *out, size_t cap, const void *s, size_t n)
{
    const unsigned char *p = s;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k + 8 >= cap || i == 60) {
            memcpy(out + k, "...", 4);
            return out;
        }
        if (p[i] >= 0x20 && p[i] < 0x7f)
            out[k++] = (char)p[i];
        else
            k += (size_t)snprintf(out + k, cap - k, "\\x%02x", p[i]);
    }
    out[k] = '\0';
    return out;
}

/* The same for a string of which only the first stored bytes were kept. */
const char *tn_shown_part(char *out, size_t cap, const char *s, size_t stored, size_t n)
{
    tn_shown(out, cap, s, n < stored ? n : stored);
    size_t k = strlen(out);
    if (n > stored && k + 4 <= cap && (k < 3 || strcmp(out + k - 3, "...") != 0)) memcpy(out + k, "...", 4);
    return out;
}

void tn_shape_text(char *out, size_t cap, const size_t *shape, int ndim)
{
    size_t k = (size_t)snprintf(out, cap, "(");
    for (int i = 0; i < ndim && k < cap; i++) k += (size_t)snprintf(out + k, cap - k, "%s%zu", i ? ", " : "", shape[i]);
    if (k < cap) snprintf(out + k, cap - k, ndim == 1 ? ",)" : ")");
}

/* ---- values ---- */

size_t tn_dtype_size(int kind)
{
    switch (kind) {
    case ELEM_BOOL: case ELEM_I8: return 1;
    case ELEM_I16: case ELEM_U16: return 2;
    case ELEM_I32: case ELEM_U32: return 4;
    case ELEM_I64: case ELEM_U64: return 8;
    default: return (size_t)fp_info((fp_format)kind)->bits / 8;
    }
}

size_t tn_elem_size(const tensor *t) { return t->boolean ? 1 : tn_dtype_size((int)t->dtype); }

/* Flat index i of shape as "i,j,k" in where (cut to len). */
static void index_text(char *where, size_t len, size_t i, const size_t *shape, int ndim)
{
    size_t idx[TENSOR_MAX_DIMS], k = 0;
    for (int d = ndim - 1; d >= 0; d--) {
        idx[d] = shape[d] ? i % shape[d] : 0;
        i = shape[d] ? i / shape[d] : 0;
    }
    if (where && len) where[0] = '\0';
    for (int d = 0; d < ndim && where && k < len; d++)
        k += (size_t)snprintf(where + k, len - k, "%s%zu", d ? "," : "", idx[d]);
}

/* The element count of a shape; -1 when the product overflows size_t. */
int tn_shape_count(size_t *count, const size_t *shape, int ndim)
{
    size_t c = 1;
    for (int i = 0; i < ndim; i++)
        if (__builtin_mul_overflow(c, shape[i], &c)) return -1;
    *count = c;
    return 0;
}

/* Replaces t's contents by count little-endian values of element type kind
 * at data. A 1-byte value other than 0 and 1 is an error (what names the
 * dtype in the message); t is then unchanged. */
int tn_fill(tensor *t, int kind, int ndim, const size_t *shape, size_t count, const unsigned char *data,
                       const tensor_err *e, const char *what)
{
    size_t w = tn_dtype_size(kind), bytes;
    int boolean = tn_is_boolean_kind(kind);
    for (size_t i = 0; boolean && i < count; i++) {
        /* little-endian: 0 or 1 in the first byte, zeros after */
        int bad = data[i * w] > 1;
        for (size_t k = 1; k < w && !bad; k++) bad = data[i * w + k] != 0;
        if (bad) {
            char where[160], value[32];
            uint64_t u = 0;
            for (size_t k = 0; k < w; k++) u |= (uint64_t)data[i * w + k] << (8 * k);
            if (kind >= ELEM_I8 && kind <= ELEM_I64 && (data[i * w + w - 1] & 0x80)) { /* negative: sign-extend */
                if (w < 8) u |= ~(uint64_t)0 << (8 * w);
                snprintf(value, sizeof value, "%lld", (long long)u);
            } else {
                snprintf(value, sizeof value, "%llu", (unsigned long long)u);
            }
            index_text(where, sizeof where, i, shape, ndim);
            return tn_fail(e, "value %s at [%s] of %s: a mask holds only 0 and 1", value, where, what);
        }
    }
    fp_format f = boolean ? FP_F64 : (fp_format)kind;
    if (__builtin_mul_overflow(count, sizeof(double), &bytes)) mem_fail();
    double *v = mem_realloc(NULL, bytes), *table = NULL;
    if (w == 2 && count >= 65536) { /* every 2-byte pattern decoded once */
        table = mem_realloc(NULL, 65536 * sizeof *table);
        for (uint64_t b = 0; b < 65536; b++) table[b] = fp_bits_to_double(b, f);
    }
    for (size_t i = 0; i < count; i++, data += w) {
        if (boolean) {
            v[i] = data[0];
            continue;
        }
        uint64_t bits = 0;
        for (size_t k = 0; k < w; k++) bits |= (uint64_t)data[k] << (8 * k);
        if (f == FP_F64)
            memcpy(&v[i], &bits, sizeof bits); /* keeps NaN payloads */
        else
            v[i] = table ? table[bits] : fp_bits_to_double(bits, f);
    }
    free(table);
    free(t->data);
    tensor_init(t);
    t->dtype = f;
    t->boolean = boolean;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->count = count;
    t->data = v;
    return 0;
}

/* ---- files ---- */

static int read_file(unsigned char **out, size_t *len, const char *path, const tensor_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) return tn_fail(e, "cannot open: %s", strerror(errno));
    struct stat st;
    size_t cap = 1 << 16, n = 0;
    if (fstat(fileno(f), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fclose(f);
            return tn_fail(e, "is a directory");
        }
        if (S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < SIZE_MAX) cap = (size_t)st.st_size + 1;
    }
    unsigned char *buf = mem_realloc(NULL, cap);
    for (;;) {
        if (n == cap) {
            if (cap > SIZE_MAX / 2) {
                free(buf);
                fclose(f);
                return tn_fail(e, "file too large");
            }
            cap *= 2;
            buf = mem_realloc(buf, cap);
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return tn_fail(e, "read error");
    }
    *out = buf;
    *len = n;
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* A safetensors file starts with a header size that fits and a '{'. */
static int looks_like_safetensors(const unsigned char *buf, size_t len)
{
    if (len < 10) return 0;
    uint64_t hsize = 0;
    for (int i = 0; i < 8; i++) hsize |= (uint64_t)buf[i] << (8 * i);
    return hsize >= 2 && hsize <= len - 8 && buf[8] == '{';
}

int tensor_read(tensor *t, const char *path, const char *name, const tensor_read_options *opt, char *err, size_t errlen)
{
    tensor_err e = {err, errlen, path};
    unsigned char *buf = NULL;
    size_t len = 0;
    if (read_file(&buf, &len, path, &e)) return -1;
    int r, npy = len >= NPY_MAGIC_LEN && memcmp(buf, NPY_MAGIC, NPY_MAGIC_LEN) == 0;
    char text[80];
    if (name && npy)
        r = tn_fail(&e, "a .npy file holds one unnamed array, not a tensor named '%s'",
                 tn_shown(text, sizeof text, name, strlen(name)));
    else if (name || ends_with(path, ".safetensors"))
        r = tensor_read_safetensors_mem(t, buf, len, name, opt, path, err, errlen);
    else if (len == 0 || memcmp(buf, NPY_MAGIC, len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN) == 0)
        r = tensor_read_npy_mem(t, buf, len, opt, path, err, errlen);
    else if (looks_like_safetensors(buf, len))
        r = tensor_read_safetensors_mem(t, buf, len, NULL, opt, path, err, errlen);
    else
        r = tn_fail(&e, "not a .npy or safetensors file");
    free(buf);
    return r;
}

/* ---- writing ---- */
int tn_check(const tensor *t, const tensor_err *e, const char *what)
{
    size_t count;
    if ((unsigned)t->dtype >= FP_FORMAT_COUNT) return tn_fail(e, "%s has no valid dtype", what);
    if (t->ndim < 0 || t->ndim > TENSOR_MAX_DIMS) return tn_fail(e, "%s has %d dimensions", what, t->ndim);
    if (tn_shape_count(&count, t->shape, t->ndim) || count != t->count)
        return tn_fail(e, "%s: the shape and the count of values disagree", what);
    if (count > 0 && !t->data) return tn_fail(e, "%s has no values", what);
    for (size_t i = 0; t->boolean && i < count; i++)
        if (!(t->data[i] == 0 || t->data[i] == 1)) {
            char where[160];
            index_text(where, sizeof where, i, t->shape, t->ndim);
            return tn_fail(e, "%s is boolean but holds %g at [%s]", what, t->data[i], where);
        }
    return 0;
}

/* Writes the values of t, each rounded to its dtype, little-endian. */
void tn_write_values(FILE *f, const tensor *t)
{
    enum { CHUNK = 4096 };
    size_t w = tn_elem_size(t);
    unsigned char *out = mem_realloc(NULL, CHUNK * 8);
    for (size_t i = 0; i < t->count;) {
        size_t m = t->count - i < CHUNK ? t->count - i : CHUNK;
        for (size_t j = 0; j < m; j++) {
            uint64_t bits;
            if (t->boolean)
                bits = t->data[i + j] != 0;
            else if (t->dtype == FP_F64)
                memcpy(&bits, &t->data[i + j], sizeof bits);
            else
                bits = fp_round_double(t->data[i + j], t->dtype);
            for (size_t k = 0; k < w; k++) out[j * w + k] = (unsigned char)(bits >> (8 * k));
        }
        fwrite(out, 1, m * w, f);
        i += m;
    }
    free(out);
}

FILE *tn_create_file(const char *path, const tensor_err *e)
{
    FILE *f = fopen(path, "wb");
    if (!f) tn_fail(e, "cannot create: %s", strerror(errno));
    return f;
}

int tn_close_file(FILE *f, const char *path, const tensor_err *e)
{
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (!bad) return 0;
    int saved = errno;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) remove(path); /* never a device such as /dev/full */
    return tn_fail(e, "write error: %s", strerror(saved));
}

/* ---- checks ---- */

int tensor_first_nonfinite(const tensor *t, char *where, size_t len)
{
    if (where && len) where[0] = '\0';
    for (size_t i = 0; i < t->count; i++) {
        if (isfinite(t->data[i])) continue;
        index_text(where, len, i, t->shape, t->ndim);
        return 1;
    }
    return 0;
}

/* tensor: .npy (formats 1.0, 2.0, 3.0) and safetensors arrays read into exact
 * doubles and written back. Each header has a small strict parser, and every
 * size is checked against the bytes present before anything is read. */
#include "io/tensor.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/strbuf.h"
#include "core/mem.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6
#define NPY_ALIGN 64         /* numpy pads magic + header to a multiple of this */
#define NPY_GROWTH_DIGITS 21 /* and leaves room for the first axis to grow to 21 digits */
#define JSON_MAX_DEPTH 64    /* nesting of the values a safetensors header may skip */

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

typedef struct tensor_err {
    char *buf;
    size_t len;
    const char *label;
} tensor_err;

static int fail(const tensor_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(const tensor_err *e, const char *fmt, ...)
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
static const char *shown(char *out, size_t cap, const void *s, size_t n)
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
static const char *shown_part(char *out, size_t cap, const char *s, size_t stored, size_t n)
{
    shown(out, cap, s, n < stored ? n : stored);
    size_t k = strlen(out);
    if (n > stored && k + 4 <= cap && (k < 3 || strcmp(out + k - 3, "...") != 0)) memcpy(out + k, "...", 4);
    return out;
}

static void shape_text(char *out, size_t cap, const size_t *shape, int ndim)
{
    size_t k = (size_t)snprintf(out, cap, "(");
    for (int i = 0; i < ndim && k < cap; i++) k += (size_t)snprintf(out + k, cap - k, "%s%zu", i ? ", " : "", shape[i]);
    if (k < cap) snprintf(out + k, cap - k, ndim == 1 ? ",)" : ")");
}

/* ---- values ---- */

/* The element types of files: the four formats, and 1-byte 0/1 values
 * (bool, or uint8 holding only 0 and 1), read for masks. */
#define ELEM_BOOL ((int)FP_FORMAT_COUNT)

static size_t dtype_size(int kind) { return kind == ELEM_BOOL ? 1 : (size_t)fp_info((fp_format)kind)->bits / 8; }

static size_t tensor_elem_size(const tensor *t) { return t->boolean ? 1 : dtype_size((int)t->dtype); }

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
static int shape_count(size_t *count, const size_t *shape, int ndim)
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
static int tensor_fill(tensor *t, int kind, int ndim, const size_t *shape, size_t count, const unsigned char *data,
                       const tensor_err *e, const char *what)
{
    size_t w = dtype_size(kind), bytes;
    if (kind == ELEM_BOOL)
        for (size_t i = 0; i < count; i++)
            if (data[i] > 1) {
                char where[160];
                index_text(where, sizeof where, i, shape, ndim);
                return fail(e, "value %d at [%s] of %s: a mask holds only 0 and 1", data[i], where, what);
            }
    fp_format f = kind == ELEM_BOOL ? FP_F64 : (fp_format)kind;
    if (__builtin_mul_overflow(count, sizeof(double), &bytes)) mem_fail();
    double *v = mem_realloc(NULL, bytes), *table = NULL;
    if (w == 2 && count >= 65536) { /* every 2-byte pattern decoded once */
        table = mem_realloc(NULL, 65536 * sizeof *table);
        for (uint64_t b = 0; b < 65536; b++) table[b] = fp_bits_to_double(b, f);
    }
    for (size_t i = 0; i < count; i++, data += w) {
        if (kind == ELEM_BOOL) {
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
    t->boolean = kind == ELEM_BOOL;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->count = count;
    t->data = v;
    return 0;
}

/* ---- .npy: magic, version, header length, a Python dict literal, data ---- */

typedef struct npy_header {
    char descr[48];
    size_t descr_len; /* may exceed the stored part */
    int fortran;
    int ndim; /* may exceed TENSOR_MAX_DIMS (then only the first are kept) */
    size_t shape[TENSOR_MAX_DIMS];
    int has_descr, has_fortran, has_shape;
} npy_header;

typedef struct npy_lexer {
    const unsigned char *p, *end;
    int version;
    const tensor_err *e;
} npy_lexer;

static int is_digit(int c) { return c >= '0' && c <= '9'; }

static int is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '_' || c >= 0x80;
}

static void npy_space(npy_lexer *lx)
{
    while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' || *lx->p == '\r')) lx->p++;
}

static int npy_at(const npy_lexer *lx, int c) { return lx->p < lx->end && *lx->p == c; }

/* Whether the next word is w (and not the start of a longer name). */
static int npy_word(npy_lexer *lx, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(lx->end - lx->p) < n || memcmp(lx->p, w, n) != 0) return 0;
    if (lx->p + n < lx->end && is_name_char(lx->p[n])) return 0;
    lx->p += n;
    return 1;
}

/* string -> "'" { char } "'" | '"' { char } '"'
 * (no escapes: the strings numpy writes, keys and dtype names, have none) */
static int npy_string(npy_lexer *lx, char *out, size_t cap, size_t *n)
{
    unsigned char quote = *lx->p++;
    size_t k = 0;
    for (;;) {
        if (lx->p >= lx->end || *lx->p == '\n') return fail(lx->e, "unterminated string in the .npy header");
        unsigned char c = *lx->p++;
        if (c == quote) break;
        if (c == '\\') return fail(lx->e, "backslash in a string of the .npy header");
        if (k + 1 < cap) out[k] = (char)c;
        k++;
    }
    out[k + 1 < cap ? k : cap - 1] = '\0';
    *n = k;
    return 0;
}

/* dim -> digit { digit } [ 'L' ]     ('L': Python 2 longs, formats 1.0 and 2.0) */
static int npy_dim(npy_lexer *lx, size_t *d)
{
    if (npy_at(lx, '-')) return fail(lx->e, "negative dimension in the shape of the .npy header");
    if (lx->p >= lx->end || !is_digit(*lx->p))
        return fail(lx->e, "the shape in the .npy header holds something other than integers");
    if (*lx->p == '0' && lx->p + 1 < lx->end && is_digit(lx->p[1]))
        return fail(lx->e, "bad integer in the shape of the .npy header (leading zero)");
    size_t v = 0;
    while (lx->p < lx->end && is_digit(*lx->p)) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (size_t)(*lx->p - '0'), &v))
            return fail(lx->e, "dimension too large in the shape of the .npy header");
        lx->p++;
    }
    if (lx->version < 3 && (npy_at(lx, 'L') || npy_at(lx, 'l'))) lx->p++;
    if (lx->p < lx->end && (is_name_char(*lx->p) || *lx->p == '.'))
        return fail(lx->e, "the shape in the .npy header holds something other than integers");
    *d = v;
    return 0;
}

/* shape -> '(' ')' | '(' dim ',' ')' | '(' dim ',' dim { ',' dim } [ ','] ')'
 * (a Python tuple: one element needs its comma) */
static int npy_shape(npy_lexer *lx, npy_header *h)
{
    if (!npy_at(lx, '(')) return fail(lx->e, "'shape' in the .npy header is not a tuple");
    lx->p++;
    int n = 0, commas = 0;
    npy_space(lx);
    while (lx->p < lx->end && *lx->p != ')') {
        size_t d = 0;
        if (npy_dim(lx, &d)) return -1;
        if (n < TENSOR_MAX_DIMS) h->shape[n] = d;
        if (n < 1000) n++;
        npy_space(lx);
        if (!npy_at(lx, ',')) break;
        lx->p++;
        commas++;
        npy_space(lx);
    }
    if (!npy_at(lx, ')')) return fail(lx->e, "bad shape tuple in the .npy header");
    lx->p++;
    if (n == 1 && commas == 0)
        return fail(lx->e, "'shape' in the .npy header is not a tuple: (%zu) needs a comma", h->shape[0]);
    h->ndim = n;
    h->has_shape = 1;
    return 0;
}

/* descr -> string     (a list describes a structured dtype) */
static int npy_descr(npy_lexer *lx, npy_header *h)
{
    if (npy_at(lx, '[')) return fail(lx->e, "structured dtypes (records with fields) are not supported");
    if (!npy_at(lx, '\'') && !npy_at(lx, '"')) return fail(lx->e, "'descr' in the .npy header is not a string");
    if (npy_string(lx, h->descr, sizeof h->descr, &h->descr_len)) return -1;
    h->has_descr = 1;
    return 0;
}

/* fortran_order -> 'True' | 'False' */
static int npy_fortran(npy_lexer *lx, npy_header *h)
{
    if (npy_word(lx, "True"))
        h->fortran = 1;
    else if (npy_word(lx, "False"))
        h->fortran = 0;
    else
        return fail(lx->e, "'fortran_order' in the .npy header is not True or False");
    h->has_fortran = 1;
    return 0;
}

/* header -> '{' [ entry { ',' entry } [ ',' ] ] '}'     (then only spaces)
 * entry -> string ':' ( descr | fortran_order | shape )  (keys in any order) */
static int npy_dict(npy_lexer *lx, npy_header *h)
{
    npy_space(lx);
    if (!npy_at(lx, '{')) return fail(lx->e, "the .npy header is not a dict");
    lx->p++;
    for (;;) {
        npy_space(lx);
        if (npy_at(lx, '}')) break;
        if (lx->p >= lx->end) return fail(lx->e, "the .npy header dict is not closed");
        if (!npy_at(lx, '\'') && !npy_at(lx, '"')) return fail(lx->e, "bad key in the .npy header dict");
        char key[32], text[80];
        size_t klen;
        if (npy_string(lx, key, sizeof key, &klen)) return -1;
        npy_space(lx);
        if (!npy_at(lx, ':')) return fail(lx->e, "expected ':' after a key of the .npy header dict");
        lx->p++;
        npy_space(lx);
        int r, dup;
        if (klen == 5 && memcmp(key, "descr", 5) == 0) {
            dup = h->has_descr;
            r = dup ? 0 : npy_descr(lx, h);
        } else if (klen == 13 && memcmp(key, "fortran_order", 13) == 0) {
            dup = h->has_fortran;
            r = dup ? 0 : npy_fortran(lx, h);
        } else if (klen == 5 && memcmp(key, "shape", 5) == 0) {
            dup = h->has_shape;
            r = dup ? 0 : npy_shape(lx, h);
        } else
            return fail(lx->e, "unexpected key '%s' in the .npy header (descr, fortran_order and shape are expected)",
                        shown_part(text, sizeof text, key, sizeof key - 1, klen));
        if (dup) return fail(lx->e, "key '%s' appears twice in the .npy header", key);
        if (r) return -1;
        npy_space(lx);
        if (npy_at(lx, ',')) {
            lx->p++;
            continue;
        }
        if (npy_at(lx, '}')) break;
        return fail(lx->e, "expected ',' or '}' in the .npy header dict");
    }
    lx->p++;
    npy_space(lx);
    if (lx->p != lx->end) return fail(lx->e, "unexpected text after the .npy header dict");
    if (!h->has_descr) return fail(lx->e, "the .npy header has no 'descr'");
    if (!h->has_fortran) return fail(lx->e, "the .npy header has no 'fortran_order'");
    if (!h->has_shape) return fail(lx->e, "the .npy header has no 'shape'");
    return 0;
}

/* '<f8' '<f4' '<f2' ('=' for '<': numpy writes '<'); bf16 as '<u2' or '|V2'
 * (ml_dtypes) when asked for; '|b1' and '|u1' ('<', '=' too: one byte has
 * no order) for masks when allowed. *f is a format or ELEM_BOOL. */
static int npy_dtype(int *f, const npy_header *h, const tensor_read_options *opt, const tensor_err *e)
{
    const char *d = h->descr;
    size_t n = h->descr_len;
    char text[80];
    shown_part(text, sizeof text, d, sizeof h->descr - 1, n);
    int little = n == 3 && (d[0] == '<' || d[0] == '=');
    if (opt && opt->allow_bool && n == 3 && (little || d[0] == '|') && (d[1] == 'b' || d[1] == 'u') && d[2] == '1')
        *f = ELEM_BOOL;
    else if (little && d[1] == 'f' && d[2] == '8')
        *f = FP_F64;
    else if (little && d[1] == 'f' && d[2] == '4')
        *f = FP_F32;
    else if (little && d[1] == 'f' && d[2] == '2')
        *f = FP_F16;
    else if ((little && d[1] == 'u' && d[2] == '2') || (n == 3 && d[0] == '|' && d[1] == 'V' && d[2] == '2') ||
             (little && d[1] == 'V' && d[2] == '2')) {
        if (!opt || !opt->u2_as_bf16)
            return fail(e, "dtype '%s' holds 2-byte %s: give --dtype bf16 if this is bfloat16", text,
                        d[1] == 'u' ? "integers" : "raw values");
        *f = FP_BF16;
    } else if (n >= 3 && d[0] == '>')
        return fail(e, "dtype '%s' is big-endian, which is not supported; write it with a.astype('<%s')", text,
                    text + 1);
    else if ((n >= 1 && d[0] == 'O') || (n >= 2 && d[1] == 'O'))
        return fail(e, "object arrays (dtype '%s') are not supported", text);
    else
        return fail(e, "dtype '%s' is not supported (<f8, <f4, <f2, and bfloat16 stored as <u2 are)", text);
    return 0;
}

int tensor_read_npy_mem(tensor *t, const unsigned char *buf, size_t len, const tensor_read_options *opt,
                        const char *label, char *err, size_t errlen)
{
    tensor_err e = {err, errlen, label};
    if (len == 0) return fail(&e, "empty file");
    if (memcmp(buf, NPY_MAGIC, len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN) != 0)
        return fail(&e, "not a .npy file (it does not start with \\x93NUMPY)");
    if (len < NPY_MAGIC_LEN + 2) return fail(&e, "truncated .npy file (%zu bytes)", len);
    int major = buf[6], minor = buf[7];
    if (major < 1 || major > 3 || minor != 0)
        return fail(&e, "unsupported .npy format version %d.%d (1.0, 2.0 and 3.0 are supported)", major, minor);
    size_t pre = major == 1 ? 10 : 12, hlen;
    if (len < pre) return fail(&e, "truncated .npy file (%zu bytes)", len);
    if (major == 1)
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    else
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    if (hlen > len - pre)
        return fail(&e, "the .npy header length %zu runs past the end of the file (%zu bytes)", hlen, len);

    npy_header h;
    memset(&h, 0, sizeof h);
    npy_lexer lx = {buf + pre, buf + pre + hlen, major, &e};
    if (npy_dict(&lx, &h)) return -1;
    int f = FP_F64;
    if (npy_dtype(&f, &h, opt, &e)) return -1;
    if (h.fortran) return fail(&e, "Fortran order is not supported; write it with np.ascontiguousarray");
    if (h.ndim > TENSOR_MAX_DIMS) return fail(&e, "%d dimensions: at most %d are supported", h.ndim, TENSOR_MAX_DIMS);
    char shp[256];
    size_t count, bytes, avail = len - pre - hlen;
    shape_text(shp, sizeof shp, h.shape, h.ndim);
    if (shape_count(&count, h.shape, h.ndim) || __builtin_mul_overflow(count, dtype_size(f), &bytes))
        return fail(&e, "shape %s has too many elements (the product overflows)", shp);
    if (avail < bytes)
        return fail(&e, "data too short: shape %s of '%s' needs %zu bytes, the file holds %zu", shp, h.descr, bytes,
                    avail);
    if (avail > bytes)
        return fail(&e, "%zu trailing bytes after the data of shape %s of '%s'", avail - bytes, shp, h.descr);
    char what[120];
    snprintf(what, sizeof what, "a '%s' array", h.descr);
    return tensor_fill(t, f, h.ndim, h.shape, count, buf + pre + hlen, &e, what);
}

/* ---- safetensors: u64 header size, a JSON object, data ---- */

typedef struct st_entry {
    char *name;
    size_t name_len;
    char dtype[16];
    size_t dtype_len; /* may exceed the stored part */
    int ndim;         /* may exceed TENSOR_MAX_DIMS (then only the first are kept) */
    uint64_t shape[TENSOR_MAX_DIMS];
    uint64_t offsets[2];
} st_entry;

typedef struct json_lexer {
    const unsigned char *start, *p, *end;
    const tensor_err *e;
} json_lexer;

static int json_fail(const json_lexer *lx, const char *what)
{
    return fail(lx->e, "bad JSON in the safetensors header at byte %zu: %s", (size_t)(lx->p - lx->start) + 8, what);
}

static void json_space(json_lexer *lx)
{
    while (lx->p < lx->end && (*lx->p == ' ' || *lx->p == '\t' || *lx->p == '\n' || *lx->p == '\r')) lx->p++;
}

static int json_at(const json_lexer *lx, int c) { return lx->p < lx->end && *lx->p == c; }

static int json_hex4(const unsigned char *p, unsigned *v)
{
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int c = p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        *v = *v << 4 | (unsigned)d;
    }
    return 0;
}

/* string -> '"' { char | '\' ( '"' | '\' | '/' | 'b' | 'f' | 'n' | 'r' | 't' | 'u' hex4 ) } '"'
 * decoded to UTF-8 in a new NUL-terminated buffer (never longer than the
 * escaped text). */
static int json_string(json_lexer *lx, char **out, size_t *n)
{
    if (!json_at(lx, '"')) return json_fail(lx, "expected a string");
    const unsigned char *q = ++lx->p;
    while (q < lx->end && *q != '"') q += *q == '\\' && q + 1 < lx->end ? 2 : 1;
    if (q >= lx->end) return json_fail(lx, "unterminated string");
    unsigned char *s = mem_realloc(NULL, (size_t)(q - lx->p) + 1);
    size_t k = 0;
    while (lx->p < q) {
        unsigned c = *lx->p;
        if (c < 0x20) {
            free(s);
            return json_fail(lx, "control character in a string");
        }
        if (c != '\\') {
            s[k++] = (unsigned char)c;
            lx->p++;
            continue;
        }
        c = lx->p[1];
        lx->p += 2;
        static const char plain[] = "\"\\/bfnrt", meant[] = "\"\\/\b\f\n\r\t";
        const char *hit = c ? strchr(plain, (int)c) : NULL;
        if (hit) {
            s[k++] = (unsigned char)meant[hit - plain];
            continue;
        }
        unsigned u, lo;
        if (c != 'u' || q - lx->p < 4 || json_hex4(lx->p, &u)) {
            lx->p -= 2;
            free(s);
            return json_fail(lx, "bad escape in a string");
        }
        lx->p += 4;
        if (u >= 0xdc00 && u < 0xe000) {
            free(s);
            return json_fail(lx, "unpaired surrogate in a string");
        }
        if (u >= 0xd800 && u < 0xdc00) { /* a pair: \uD8xx\uDCxx */
            if (q - lx->p < 6 || lx->p[0] != '\\' || lx->p[1] != 'u' || json_hex4(lx->p + 2, &lo) || lo < 0xdc00 ||
                lo >= 0xe000) {
                free(s);
                return json_fail(lx, "unpaired surrogate in a string");
            }
            lx->p += 6;
            u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
        }
        if (u < 0x80)
            s[k++] = (unsigned char)u;
        else if (u < 0x800) {
            s[k++] = (unsigned char)(0xc0 | u >> 6);
            s[k++] = (unsigned char)(0x80 | (u & 0x3f));
        } else if (u < 0x10000) {
            s[k++] = (unsigned char)(0xe0 | u >> 12);
            s[k++] = (unsigned char)(0x80 | (u >> 6 & 0x3f));
            s[k++] = (unsigned char)(0x80 | (u & 0x3f));
        } else {
            s[k++] = (unsigned char)(0xf0 | u >> 18);
            s[k++] = (unsigned char)(0x80 | (u >> 12 & 0x3f));
            s[k++] = (unsigned char)(0x80 | (u >> 6 & 0x3f));
            s[k++] = (unsigned char)(0x80 | (u & 0x3f));
        }
    }
    lx->p = q + 1;
    s[k] = '\0';
    *out = (char *)s;
    *n = k;
    return 0;
}

/* uint -> '0' | nonzero { digit }     (a JSON number without sign, fraction, exponent) */
static int json_uint(json_lexer *lx, uint64_t *v)
{
    if (json_at(lx, '-')) return json_fail(lx, "negative number where a size is expected");
    if (lx->p >= lx->end || !is_digit(*lx->p)) return json_fail(lx, "expected a non-negative integer");
    if (*lx->p == '0' && lx->p + 1 < lx->end && is_digit(lx->p[1])) return json_fail(lx, "leading zero in a number");
    uint64_t x = 0;
    while (lx->p < lx->end && is_digit(*lx->p)) {
        if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, (uint64_t)(*lx->p - '0'), &x))
            return json_fail(lx, "integer too large");
        lx->p++;
    }
    if (json_at(lx, '.') || json_at(lx, 'e') || json_at(lx, 'E')) return json_fail(lx, "expected an integer");
    *v = x;
    return 0;
}

/* number -> [ '-' ] ( '0' | nonzero { digit } ) [ '.' digit { digit } ] [ ( 'e' | 'E' ) [ '+' | '-' ] digit { digit } ]
 */
static int json_number(json_lexer *lx)
{
    if (json_at(lx, '-')) lx->p++;
    if (lx->p >= lx->end || !is_digit(*lx->p)) return json_fail(lx, "bad number");
    if (*lx->p == '0')
        lx->p++;
    else
        while (lx->p < lx->end && is_digit(*lx->p)) lx->p++;
    if (json_at(lx, '.')) {
        lx->p++;
        if (lx->p >= lx->end || !is_digit(*lx->p)) return json_fail(lx, "bad number");
        while (lx->p < lx->end && is_digit(*lx->p)) lx->p++;
    }
    if (json_at(lx, 'e') || json_at(lx, 'E')) {
        lx->p++;
        if (json_at(lx, '+') || json_at(lx, '-')) lx->p++;
        if (lx->p >= lx->end || !is_digit(*lx->p)) return json_fail(lx, "bad number");
        while (lx->p < lx->end && is_digit(*lx->p)) lx->p++;
    }
    return 0;
}

static int json_word(json_lexer *lx, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(lx->end - lx->p) < n || memcmp(lx->p, w, n) != 0) return 0;
    lx->p += n;
    return 1;
}

/* value -> object | array | string | number | 'true' | 'false' | 'null'
 * object -> '{' [ string ':' value { ',' string ':' value } ] '}'
 * array -> '[' [ value { ',' value } ] ']'
 * Checked and skipped; the recursion is bounded by JSON_MAX_DEPTH. */
static int json_skip(json_lexer *lx, int depth)
{
    if (depth > JSON_MAX_DEPTH) return json_fail(lx, "nested too deeply");
    json_space(lx);
    if (lx->p >= lx->end) return json_fail(lx, "unexpected end");
    int c = *lx->p;
    if (c == '"') {
        char *s;
        size_t n;
        if (json_string(lx, &s, &n)) return -1;
        free(s);
        return 0;
    }
    if (c == '-' || is_digit(c)) return json_number(lx);
    if (json_word(lx, "true") || json_word(lx, "false") || json_word(lx, "null")) return 0;
    if (c != '{' && c != '[') return json_fail(lx, "expected a value");
    int close = c == '{' ? '}' : ']';
    lx->p++;
    json_space(lx);
    if (json_at(lx, close)) {
        lx->p++;
        return 0;
    }
    for (;;) {
        if (c == '{') {
            char *s;
            size_t n;
            json_space(lx);
            if (json_string(lx, &s, &n)) return -1;
            free(s);
            json_space(lx);
            if (!json_at(lx, ':')) return json_fail(lx, "expected ':'");
            lx->p++;
        }
        if (json_skip(lx, depth + 1)) return -1;
        json_space(lx);
        if (json_at(lx, ',')) {
            lx->p++;
            continue;
        }
        if (json_at(lx, close)) {
            lx->p++;
            return 0;
        }
        return json_fail(lx, c == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

/* uints -> '[' [ uint { ',' uint } ] ']'; the count in *n, the first max kept. */
static int json_uints(json_lexer *lx, uint64_t *v, int max, int *n)
{
    if (!json_at(lx, '[')) return json_fail(lx, "expected an array of integers");
    lx->p++;
    json_space(lx);
    *n = 0;
    if (json_at(lx, ']')) {
        lx->p++;
        return 0;
    }
    for (;;) {
        uint64_t x = 0;
        json_space(lx);
        if (json_uint(lx, &x)) return -1;
        if (*n < max) v[*n] = x;
        if (*n < 1000) (*n)++;
        json_space(lx);
        if (json_at(lx, ',')) {
            lx->p++;
            continue;
        }
        if (json_at(lx, ']')) {
            lx->p++;
            return 0;
        }
        return json_fail(lx, "expected ',' or ']'");
    }
}

/* info -> '{' [ member { ',' member } ] '}'
 * member -> '"dtype"' ':' string | '"shape"' ':' uints | '"data_offsets"' ':' uints
 *         | string ':' value      (other members are skipped) */
static int st_info(json_lexer *lx, st_entry *en)
{
    char text[80];
    const char *name = shown(text, sizeof text, en->name, en->name_len);
    if (!json_at(lx, '{')) return json_fail(lx, "a tensor's entry is not an object");
    lx->p++;
    int has_dtype = 0, has_shape = 0, has_offsets = 0;
    json_space(lx);
    if (json_at(lx, '}'))
        lx->p++;
    else
        for (;;) {
            char *key;
            size_t klen;
            json_space(lx);
            if (json_string(lx, &key, &klen)) return -1;
            json_space(lx);
            if (!json_at(lx, ':')) {
                free(key);
                return json_fail(lx, "expected ':'");
            }
            lx->p++;
            json_space(lx);
            int r, *seen = NULL;
            if (strcmp(key, "dtype") == 0 && klen == 5) {
                seen = &has_dtype;
                char *s;
                size_t n;
                r = has_dtype ? 0 : json_string(lx, &s, &n);
                if (!has_dtype && r == 0) {
                    memcpy(en->dtype, s, n < sizeof en->dtype ? n + 1 : sizeof en->dtype - 1);
                    en->dtype[sizeof en->dtype - 1] = '\0';
                    en->dtype_len = n;
                    free(s);
                }
            } else if (strcmp(key, "shape") == 0 && klen == 5) {
                seen = &has_shape;
                r = has_shape ? 0 : json_uints(lx, en->shape, TENSOR_MAX_DIMS, &en->ndim);
            } else if (strcmp(key, "data_offsets") == 0 && klen == 12) {
                int n = 0;
                seen = &has_offsets;
                r = has_offsets ? 0 : json_uints(lx, en->offsets, 2, &n);
                if (!has_offsets && r == 0 && n != 2)
                    r = fail(lx->e, "data_offsets of tensor '%s' do not hold two integers", name);
            } else
                r = json_skip(lx, 2);
            free(key);
            if (seen && *seen) return fail(lx->e, "tensor '%s' has a member given twice", name);
            if (r) return -1;
            if (seen) *seen = 1;
            json_space(lx);
            if (json_at(lx, ',')) {
                lx->p++;
                continue;
            }
            if (json_at(lx, '}')) {
                lx->p++;
                break;
            }
            return json_fail(lx, "expected ',' or '}'");
        }
    if (!has_dtype) return fail(lx->e, "tensor '%s' has no \"dtype\"", name);
    if (!has_shape) return fail(lx->e, "tensor '%s' has no \"shape\"", name);
    if (!has_offsets) return fail(lx->e, "tensor '%s' has no \"data_offsets\"", name);
    return 0;
}

static int st_entry_cmp(const void *a, const void *b)
{
    const st_entry *x = a, *y = b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int c = memcmp(x->name, y->name, n);
    if (c) return c;
    return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/* header -> '{' [ member { ',' member } ] '}'     (then only spaces)
 * member -> '"__metadata__"' ':' value | string ':' info */
static int st_header(json_lexer *lx, st_entry **out, size_t *count)
{
    st_entry *es = NULL;
    size_t n = 0, cap = 0;
    int r = 0;
    json_space(lx);
    if (!json_at(lx, '{')) {
        r = json_fail(lx, "the header is not a JSON object");
        goto done;
    }
    lx->p++;
    json_space(lx);
    if (json_at(lx, '}'))
        lx->p++;
    else
        for (;;) {
            char *key;
            size_t klen;
            json_space(lx);
            if ((r = json_string(lx, &key, &klen))) goto done;
            json_space(lx);
            if (!json_at(lx, ':')) {
                free(key);
                r = json_fail(lx, "expected ':'");
                goto done;
            }
            lx->p++;
            json_space(lx);
            if (klen == 12 && memcmp(key, "__metadata__", 12) == 0) {
                free(key);
                if ((r = json_skip(lx, 1))) goto done;
            } else {
                if (n == cap) {
                    cap = cap ? 2 * cap : 8;
                    es = mem_realloc(es, cap * sizeof *es);
                }
                st_entry *en = &es[n++];
                memset(en, 0, sizeof *en);
                en->name = key;
                en->name_len = klen;
                if ((r = st_info(lx, en))) goto done;
            }
            json_space(lx);
            if (json_at(lx, ',')) {
                lx->p++;
                continue;
            }
            if (json_at(lx, '}')) {
                lx->p++;
                break;
            }
            r = json_fail(lx, "expected ',' or '}'");
            goto done;
        }
    json_space(lx);
    if (lx->p != lx->end) {
        r = json_fail(lx, "unexpected text after the header object");
        goto done;
    }
    if (n > 1) qsort(es, n, sizeof *es, st_entry_cmp);
    for (size_t i = 1; i < n; i++)
        if (st_entry_cmp(&es[i - 1], &es[i]) == 0) {
            char text[80];
            r = fail(lx->e, "tensor name '%s' appears twice", shown(text, sizeof text, es[i].name, es[i].name_len));
            goto done;
        }
done:
    if (r) {
        for (size_t i = 0; i < n; i++) free(es[i].name);
        free(es);
        return -1;
    }
    *out = es;
    *count = n;
    return 0;
}

/* The names of a file's tensors for a message: "a, b, c" or "a, b, ... (N in all)". */
static void st_names(strbuf *b, const st_entry *es, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char text[80];
        if (i == 8) {
            strbuf_printf(b, ", ... (%zu in all)", n);
            return;
        }
        strbuf_printf(b, "%s'%s'", i ? ", " : "", shown(text, sizeof text, es[i].name, es[i].name_len));
    }
}

/* *f: a format, or ELEM_BOOL for BOOL and U8 when allowed. */
static int st_dtype(int *f, const st_entry *en, const tensor_read_options *opt, const tensor_err *e,
                    const char *name)
{
    static const struct {
        const char *name;
        int format;
    } known[] = {{"F64", FP_F64}, {"F32", FP_F32}, {"F16", FP_F16}, {"BF16", FP_BF16}};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (en->dtype_len == strlen(known[i].name) && strcmp(en->dtype, known[i].name) == 0) {
            *f = known[i].format;
            return 0;
        }
    if (opt && opt->allow_bool && (strcmp(en->dtype, "BOOL") == 0 || strcmp(en->dtype, "U8") == 0) &&
        en->dtype_len == strlen(en->dtype)) {
        *f = ELEM_BOOL;
        return 0;
    }
    char text[80];
    shown_part(text, sizeof text, en->dtype, sizeof en->dtype - 1, en->dtype_len);
    if (en->dtype_len == 3 && strcmp(en->dtype, "U16") == 0) {
        if (opt && opt->u2_as_bf16) {
            *f = FP_BF16;
            return 0;
        }
        return fail(e, "tensor '%s' has dtype U16, 2-byte integers: give --dtype bf16 if this is bfloat16", name);
    }
    return fail(e, "tensor '%s' has dtype \"%s\", which is not supported (F64, F32, F16 and BF16 are)", name, text);
}

int tensor_read_safetensors_mem(tensor *t, const unsigned char *buf, size_t len, const char *name,
                                const tensor_read_options *opt, const char *label, char *err, size_t errlen)
{
    tensor_err e = {err, errlen, label};
    if (len == 0) return fail(&e, "empty file");
    if (len < 8) return fail(&e, "too short for a safetensors file (%zu bytes)", len);
    uint64_t hsize = 0;
    for (int i = 0; i < 8; i++) hsize |= (uint64_t)buf[i] << (8 * i);
    if (hsize > len - 8)
        return fail(&e, "the safetensors header size %llu runs past the end of the file (%zu bytes)",
                    (unsigned long long)hsize, len);
    json_lexer lx = {buf + 8, buf + 8, buf + 8 + hsize, &e};
    st_entry *es;
    size_t n;
    if (st_header(&lx, &es, &n)) return -1;

    int r = 0;
    char text[80];
    const st_entry *en = NULL;
    strbuf names;
    strbuf_init(&names);
    if (name) {
        size_t want = strlen(name);
        for (size_t i = 0; i < n && !en; i++)
            if (es[i].name_len == want && memcmp(es[i].name, name, want) == 0) en = &es[i];
        if (!en) {
            st_names(&names, es, n);
            r = n ? fail(&e, "no tensor named '%s' (the file holds %s)", shown(text, sizeof text, name, want),
                         strbuf_str(&names))
                  : fail(&e, "no tensor named '%s' (the file holds none)", shown(text, sizeof text, name, want));
            goto done;
        }
    } else if (n == 1)
        en = &es[0];
    else {
        st_names(&names, es, n);
        r = n ? fail(&e, "the file holds %zu tensors (%s): give the name of one", n, strbuf_str(&names))
              : fail(&e, "the file holds no tensors");
        goto done;
    }

    shown(text, sizeof text, en->name, en->name_len);
    int f = FP_F64;
    if ((r = st_dtype(&f, en, opt, &e, text))) goto done;
    if (en->ndim > TENSOR_MAX_DIMS) {
        r = fail(&e, "tensor '%s' has %d dimensions: at most %d are supported", text, en->ndim, TENSOR_MAX_DIMS);
        goto done;
    }
    size_t shape[TENSOR_MAX_DIMS], count, bytes;
    int overflow = 0;
    for (int i = 0; i < en->ndim; i++) {
        if (en->shape[i] > SIZE_MAX) overflow = 1;
        shape[i] = (size_t)en->shape[i];
    }
    char shp[256];
    shape_text(shp, sizeof shp, shape, en->ndim);
    if (overflow || shape_count(&count, shape, en->ndim) || __builtin_mul_overflow(count, dtype_size(f), &bytes)) {
        r = fail(&e, "tensor '%s' of shape %s has too many elements (the product overflows)", text, shp);
        goto done;
    }
    uint64_t begin = en->offsets[0], end = en->offsets[1], avail = len - 8 - hsize;
    if (begin > end || end > avail) {
        r = fail(&e, "data_offsets [%llu, %llu] of tensor '%s' lie outside the data (%llu bytes)",
                 (unsigned long long)begin, (unsigned long long)end, text, (unsigned long long)avail);
        goto done;
    }
    if (end - begin != bytes) {
        r = fail(&e, "data_offsets [%llu, %llu] of tensor '%s' hold %llu bytes, but shape %s of %s needs %zu",
                 (unsigned long long)begin, (unsigned long long)end, text, (unsigned long long)(end - begin), shp,
                 en->dtype, bytes);
        goto done;
    }
    char what[160];
    snprintf(what, sizeof what, "tensor '%s' (%s)", text, en->dtype);
    r = tensor_fill(t, f, en->ndim, shape, count, buf + 8 + hsize + begin, &e, what);
done:
    strbuf_clear(&names);
    for (size_t i = 0; i < n; i++) free(es[i].name);
    free(es);
    return r ? -1 : 0;
}

/* ---- files ---- */

static int read_file(unsigned char **out, size_t *len, const char *path, const tensor_err *e)
{
    FILE *f = fopen(path, "rb");
    if (!f) return fail(e, "cannot open: %s", strerror(errno));
    struct stat st;
    size_t cap = 1 << 16, n = 0;
    if (fstat(fileno(f), &st) == 0) {
        if (S_ISDIR(st.st_mode)) {
            fclose(f);
            return fail(e, "is a directory");
        }
        if (S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size < SIZE_MAX) cap = (size_t)st.st_size + 1;
    }
    unsigned char *buf = mem_realloc(NULL, cap);
    for (;;) {
        if (n == cap) {
            if (cap > SIZE_MAX / 2) {
                free(buf);
                fclose(f);
                return fail(e, "file too large");
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
        return fail(e, "read error");
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
        r = fail(&e, "a .npy file holds one unnamed array, not a tensor named '%s'",
                 shown(text, sizeof text, name, strlen(name)));
    else if (name || ends_with(path, ".safetensors"))
        r = tensor_read_safetensors_mem(t, buf, len, name, opt, path, err, errlen);
    else if (len == 0 || memcmp(buf, NPY_MAGIC, len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN) == 0)
        r = tensor_read_npy_mem(t, buf, len, opt, path, err, errlen);
    else if (looks_like_safetensors(buf, len))
        r = tensor_read_safetensors_mem(t, buf, len, NULL, opt, path, err, errlen);
    else
        r = fail(&e, "not a .npy or safetensors file");
    free(buf);
    return r;
}

/* ---- writers ---- */

static const char *const npy_descrs[FP_FORMAT_COUNT] = {"<f8", "<f4", "<f2", "<u2"};
static const char *const st_dtypes[FP_FORMAT_COUNT] = {"F64", "F32", "F16", "BF16"};

static int tensor_check(const tensor *t, const tensor_err *e, const char *what)
{
    size_t count;
    if ((unsigned)t->dtype >= FP_FORMAT_COUNT) return fail(e, "%s has no valid dtype", what);
    if (t->ndim < 0 || t->ndim > TENSOR_MAX_DIMS) return fail(e, "%s has %d dimensions", what, t->ndim);
    if (shape_count(&count, t->shape, t->ndim) || count != t->count)
        return fail(e, "%s: the shape and the count of values disagree", what);
    if (count > 0 && !t->data) return fail(e, "%s has no values", what);
    for (size_t i = 0; t->boolean && i < count; i++)
        if (!(t->data[i] == 0 || t->data[i] == 1)) {
            char where[160];
            index_text(where, sizeof where, i, t->shape, t->ndim);
            return fail(e, "%s is boolean but holds %g at [%s]", what, t->data[i], where);
        }
    return 0;
}

/* Writes the values of t, each rounded to its dtype, little-endian. */
static void write_values(FILE *f, const tensor *t)
{
    enum { CHUNK = 4096 };
    size_t w = tensor_elem_size(t);
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

static FILE *create_file(const char *path, const tensor_err *e)
{
    FILE *f = fopen(path, "wb");
    if (!f) fail(e, "cannot create: %s", strerror(errno));
    return f;
}

static int close_file(FILE *f, const char *path, const tensor_err *e)
{
    int bad = ferror(f);
    if (fclose(f) != 0) bad = 1;
    if (!bad) return 0;
    int saved = errno;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) remove(path); /* never a device such as /dev/full */
    return fail(e, "write error: %s", strerror(saved));
}

/* The header numpy writes (numpy/lib/format.py, _write_array_header): the
 * dict with sorted keys, room for the first axis to grow, spaces up to a
 * multiple of 64 bytes counting magic and length, then '\n'. */
int tensor_write_npy(const char *path, const tensor *t, char *err, size_t errlen)
{
    tensor_err e = {err, errlen, path};
    if (tensor_check(t, &e, "the tensor")) return -1;
    strbuf h;
    strbuf_init(&h);
    strbuf_printf(&h, "{'descr': '%s', 'fortran_order': False, 'shape': (", t->boolean ? "|b1" : npy_descrs[t->dtype]);
    for (int i = 0; i < t->ndim; i++) strbuf_printf(&h, "%s%zu", i ? ", " : "", t->shape[i]);
    strbuf_puts(&h, t->ndim == 1 ? ",), }" : "), }");
    if (t->ndim > 0) {
        char digits[32];
        int d = snprintf(digits, sizeof digits, "%zu", t->shape[0]);
        for (int i = d; i < NPY_GROWTH_DIGITS; i++) strbuf_putc(&h, ' ');
    }
    size_t pad = NPY_ALIGN - (NPY_MAGIC_LEN + 2 + 2 + h.len + 1) % NPY_ALIGN;
    for (size_t i = 0; i < pad; i++) strbuf_putc(&h, ' ');
    strbuf_putc(&h, '\n');
    FILE *f = create_file(path, &e);
    if (!f) {
        strbuf_clear(&h);
        return -1;
    }
    unsigned char pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(h.len & 0xff), (unsigned char)(h.len >> 8)};
    fwrite(pre, 1, sizeof pre, f);
    fwrite(h.data, 1, h.len, f);
    strbuf_clear(&h);
    write_values(f, t);
    return close_file(f, path, &e);
}

typedef struct st_order {
    const char *name;
    size_t index;
} st_order;

static int st_order_cmp(const void *a, const void *b)
{
    return strcmp(((const st_order *)a)->name, ((const st_order *)b)->name);
}

int tensor_write_safetensors(const char *path, const tensor *const *ts, const char *const *names, size_t n, char *err,
                             size_t errlen)
{
    tensor_err e = {err, errlen, path};
    char text[80];
    for (size_t i = 0; i < n; i++) {
        if (!names[i]) return fail(&e, "tensor %zu has no name", i);
        shown(text, sizeof text, names[i], strlen(names[i]));
        if (strcmp(names[i], "__metadata__") == 0) return fail(&e, "'__metadata__' cannot name a tensor");
        char what[128];
        snprintf(what, sizeof what, "tensor '%s'", text);
        if (tensor_check(ts[i], &e, what)) return -1;
    }
    st_order *order = mem_realloc(NULL, (n ? n : 1) * sizeof *order);
    for (size_t i = 0; i < n; i++) order[i] = (st_order){names[i], i};
    if (n > 1) qsort(order, n, sizeof *order, st_order_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(order[i - 1].name, order[i].name) == 0) {
            shown(text, sizeof text, order[i].name, strlen(order[i].name));
            free(order);
            return fail(&e, "tensor name '%s' appears twice", text);
        }
    strbuf h;
    strbuf_init(&h);
    strbuf_putc(&h, '{');
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const tensor *t = ts[order[i].index];
        uint64_t bytes;
        if (__builtin_mul_overflow((uint64_t)t->count, (uint64_t)tensor_elem_size(t), &bytes) ||
            __builtin_add_overflow(offset, bytes, &bytes)) {
            free(order);
            strbuf_clear(&h);
            return fail(&e, "the tensors are too large");
        }
        if (i) strbuf_putc(&h, ',');
        strbuf_json_string(&h, order[i].name);
        strbuf_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", t->boolean ? "BOOL" : st_dtypes[t->dtype]);
        for (int k = 0; k < t->ndim; k++) strbuf_printf(&h, "%s%zu", k ? "," : "", t->shape[k]);
        strbuf_printf(&h, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)offset, (unsigned long long)bytes);
        offset = bytes;
    }
    strbuf_putc(&h, '}');
    while (h.len % 8) strbuf_putc(&h, ' '); /* the data starts 8-byte aligned */
    FILE *f = create_file(path, &e);
    if (!f) {
        free(order);
        strbuf_clear(&h);
        return -1;
    }
    unsigned char pre[8];
    for (int i = 0; i < 8; i++) pre[i] = (unsigned char)((uint64_t)h.len >> (8 * i));
    fwrite(pre, 1, sizeof pre, f);
    fwrite(h.data, 1, h.len, f);
    strbuf_clear(&h);
    for (size_t i = 0; i < n; i++) write_values(f, ts[order[i].index]);
    free(order);
    return close_file(f, path, &e);
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

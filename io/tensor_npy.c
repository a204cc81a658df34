/* tensor_npy: NumPy .npy arrays (formats 1.0, 2.0, 3.0): the header, a
 * Python dict literal, read by a small strict parser; written as numpy
 * writes it. */
#include "io/tensor.h"

#include <stdio.h>
#include <string.h>

#include "core/strbuf.h"
#include "io/tensor_impl.h"

#define NPY_ALIGN 64         /* numpy pads magic + header to a multiple of this */
#define NPY_GROWTH_DIGITS 21 /* and leaves room for the first axis to grow to 21 digits */

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

static int is_name_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || tn_is_digit(c) || c == '_' || c >= 0x80;
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
        if (lx->p >= lx->end || *lx->p == '\n') return tn_fail(lx->e, "unterminated string in the .npy header");
        unsigned char c = *lx->p++;
        if (c == quote) break;
        if (c == '\\') return tn_fail(lx->e, "backslash in a string of the .npy header");
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
    if (npy_at(lx, '-')) return tn_fail(lx->e, "negative dimension in the shape of the .npy header");
    if (lx->p >= lx->end || !tn_is_digit(*lx->p))
        return tn_fail(lx->e, "the shape in the .npy header holds something other than integers");
    if (*lx->p == '0' && lx->p + 1 < lx->end && tn_is_digit(lx->p[1]))
        return tn_fail(lx->e, "bad integer in the shape of the .npy header (leading zero)");
    size_t v = 0;
    while (lx->p < lx->end && tn_is_digit(*lx->p)) {
        if (__builtin_mul_overflow(v, 10, &v) || __builtin_add_overflow(v, (size_t)(*lx->p - '0'), &v))
            return tn_fail(lx->e, "dimension too large in the shape of the .npy header");
        lx->p++;
    }
    if (lx->version < 3 && (npy_at(lx, 'L') || npy_at(lx, 'l'))) lx->p++;
    if (lx->p < lx->end && (is_name_char(*lx->p) || *lx->p == '.'))
        return tn_fail(lx->e, "the shape in the .npy header holds something other than integers");
    *d = v;
    return 0;
}

/* shape -> '(' ')' | '(' dim ',' ')' | '(' dim ',' dim { ',' dim } [ ','] ')'
 * (a Python tuple: one element needs its comma) */
static int npy_shape(npy_lexer *lx, npy_header *h)
{
    if (!npy_at(lx, '(')) return tn_fail(lx->e, "'shape' in the .npy header is not a tuple");
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
    if (!npy_at(lx, ')')) return tn_fail(lx->e, "bad shape tuple in the .npy header");
    lx->p++;
    if (n == 1 && commas == 0)
        return tn_fail(lx->e, "'shape' in the .npy header is not a tuple: (%zu) needs a comma", h->shape[0]);
    h->ndim = n;
    h->has_shape = 1;
    return 0;
}

/* descr -> string     (a list describes a structured dtype) */
static int npy_descr(npy_lexer *lx, npy_header *h)
{
    if (npy_at(lx, '[')) return tn_fail(lx->e, "structured dtypes (records with fields) are not supported");
    if (!npy_at(lx, '\'') && !npy_at(lx, '"')) return tn_fail(lx->e, "'descr' in the .npy header is not a string");
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
        return tn_fail(lx->e, "'fortran_order' in the .npy header is not True or False");
    h->has_fortran = 1;
    return 0;
}

/* header -> '{' [ entry { ',' entry } [ ',' ] ] '}'     (then only spaces)
 * entry -> string ':' ( descr | fortran_order | shape )  (keys in any order) */
static int npy_dict(npy_lexer *lx, npy_header *h)
{
    npy_space(lx);
    if (!npy_at(lx, '{')) return tn_fail(lx->e, "the .npy header is not a dict");
    lx->p++;
    for (;;) {
        npy_space(lx);
        if (npy_at(lx, '}')) break;
        if (lx->p >= lx->end) return tn_fail(lx->e, "the .npy header dict is not closed");
        if (!npy_at(lx, '\'') && !npy_at(lx, '"')) return tn_fail(lx->e, "bad key in the .npy header dict");
        char key[32], text[80];
        size_t klen;
        if (npy_string(lx, key, sizeof key, &klen)) return -1;
        npy_space(lx);
        if (!npy_at(lx, ':')) return tn_fail(lx->e, "expected ':' after a key of the .npy header dict");
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
            return tn_fail(lx->e, "unexpected key '%s' in the .npy header (descr, fortran_order and shape are expected)",
                        tn_shown_part(text, sizeof text, key, sizeof key - 1, klen));
        if (dup) return tn_fail(lx->e, "key '%s' appears twice in the .npy header", key);
        if (r) return -1;
        npy_space(lx);
        if (npy_at(lx, ',')) {
            lx->p++;
            continue;
        }
        if (npy_at(lx, '}')) break;
        return tn_fail(lx->e, "expected ',' or '}' in the .npy header dict");
    }
    lx->p++;
    npy_space(lx);
    if (lx->p != lx->end) return tn_fail(lx->e, "unexpected text after the .npy header dict");
    if (!h->has_descr) return tn_fail(lx->e, "the .npy header has no 'descr'");
    if (!h->has_fortran) return tn_fail(lx->e, "the .npy header has no 'fortran_order'");
    if (!h->has_shape) return tn_fail(lx->e, "the .npy header has no 'shape'");
    return 0;
}

/* '<f8' '<f4' '<f2' ('=' for '<': numpy writes '<'); bf16 as '<u2' or '|V2'
 * (ml_dtypes) when asked for; '|b1' and '|u1' ('<', '=' too: one byte has
 * no order) for masks when allowed, and integer masks ('<i8', '<i4', '<i2',
 * '|i1', '<u8', '<u4', '<u2' unless bf16 is asked for) holding 0 and 1.
 * *f is a format or an ELEM_ kind. */
static int npy_dtype(int *f, const npy_header *h, const tensor_read_options *opt, const tensor_err *e)
{
    const char *d = h->descr;
    size_t n = h->descr_len;
    char text[80];
    tn_shown_part(text, sizeof text, d, sizeof h->descr - 1, n);
    int little = n == 3 && (d[0] == '<' || d[0] == '=');
    int mask_ints = opt && opt->allow_bool && !opt->u2_as_bf16;
    if (opt && opt->allow_bool && n == 3 && (little || d[0] == '|') && (d[1] == 'b' || d[1] == 'u') && d[2] == '1')
        *f = ELEM_BOOL;
    else if (opt && opt->allow_bool && n == 3 && (little || d[0] == '|') && d[1] == 'i' && d[2] == '1')
        *f = ELEM_I8;
    else if (mask_ints && little && (d[1] == 'i' || d[1] == 'u') && (d[2] == '2' || d[2] == '4' || d[2] == '8'))
        *f = (d[1] == 'i' ? ELEM_I16 : ELEM_U16) + (d[2] == '2' ? 0 : d[2] == '4' ? 1 : 2);
    else if (little && d[1] == 'f' && d[2] == '8')
        *f = FP_F64;
    else if (little && d[1] == 'f' && d[2] == '4')
        *f = FP_F32;
    else if (little && d[1] == 'f' && d[2] == '2')
        *f = FP_F16;
    else if ((little && d[1] == 'u' && d[2] == '2') || (n == 3 && d[0] == '|' && d[1] == 'V' && d[2] == '2') ||
             (little && d[1] == 'V' && d[2] == '2')) {
        if (!opt || !opt->u2_as_bf16)
            return tn_fail(e, "dtype '%s' holds 2-byte %s: give --dtype bf16 if this is bfloat16", text,
                        d[1] == 'u' ? "integers" : "raw values");
        *f = FP_BF16;
    } else if (n >= 3 && d[0] == '>')
        return tn_fail(e, "dtype '%s' is big-endian, which is not supported; write it with a.astype('<%s')", text,
                    text + 1);
    else if ((n >= 1 && d[0] == 'O') || (n >= 2 && d[1] == 'O'))
        return tn_fail(e, "object arrays (dtype '%s') are not supported", text);
    else
        return tn_fail(e, "dtype '%s' is not supported (<f8, <f4, <f2, and bfloat16 stored as <u2 are)", text);
    return 0;
}

int tensor_read_npy_mem(tensor *t, const unsigned char *buf, size_t len, const tensor_read_options *opt,
                        const char *label, char *err, size_t errlen)
{
    tensor_err e = {err, errlen, label};
    if (len == 0) return tn_fail(&e, "empty file");
    if (memcmp(buf, NPY_MAGIC, len < NPY_MAGIC_LEN ? len : NPY_MAGIC_LEN) != 0)
        return tn_fail(&e, "not a .npy file (it does not start with \\x93NUMPY)");
    if (len < NPY_MAGIC_LEN + 2) return tn_fail(&e, "truncated .npy file (%zu bytes)", len);
    int major = buf[6], minor = buf[7];
    if (major < 1 || major > 3 || minor != 0)
        return tn_fail(&e, "unsupported .npy format version %d.%d (1.0, 2.0 and 3.0 are supported)", major, minor);
    size_t pre = major == 1 ? 10 : 12, hlen;
    if (len < pre) return tn_fail(&e, "truncated .npy file (%zu bytes)", len);
    if (major == 1)
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8;
    else
        hlen = (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
    if (hlen > len - pre)
        return tn_fail(&e, "the .npy header length %zu runs past the end of the file (%zu bytes)", hlen, len);

    npy_header h;
    memset(&h, 0, sizeof h);
    npy_lexer lx = {buf + pre, buf + pre + hlen, major, &e};
    if (npy_dict(&lx, &h)) return -1;
    int f = FP_F64;
    if (npy_dtype(&f, &h, opt, &e)) return -1;
    if (h.fortran) return tn_fail(&e, "Fortran order is not supported; write it with np.ascontiguousarray");
    if (h.ndim > TENSOR_MAX_DIMS) return tn_fail(&e, "%d dimensions: at most %d are supported", h.ndim, TENSOR_MAX_DIMS);
    char shp[256];
    size_t count, bytes, avail = len - pre - hlen;
    tn_shape_text(shp, sizeof shp, h.shape, h.ndim);
    if (tn_shape_count(&count, h.shape, h.ndim) || __builtin_mul_overflow(count, tn_dtype_size(f), &bytes))
        return tn_fail(&e, "shape %s has too many elements (the product overflows)", shp);
    if (avail < bytes)
        return tn_fail(&e, "data too short: shape %s of '%s' needs %zu bytes, the file holds %zu", shp, h.descr, bytes,
                    avail);
    if (avail > bytes)
        return tn_fail(&e, "%zu trailing bytes after the data of shape %s of '%s'", avail - bytes, shp, h.descr);
    char what[120];
    snprintf(what, sizeof what, "a '%s' array", h.descr);
    return tn_fill(t, f, h.ndim, h.shape, count, buf + pre + hlen, &e, what);
}

/* ---- writing ---- */

static const char *const npy_descrs[FP_FORMAT_COUNT] = {"<f8", "<f4", "<f2", "<u2"};

/* The header numpy writes (numpy/lib/format.py, _write_array_header): the
 * dict with sorted keys, room for the first axis to grow, spaces up to a
 * multiple of 64 bytes counting magic and length, then '\n'. */
int tensor_write_npy(const char *path, const tensor *t, char *err, size_t errlen)
{
    tensor_err e = {err, errlen, path};
    if (tn_check(t, &e, "the tensor")) return -1;
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
    FILE *f = tn_create_file(path, &e);
    if (!f) {
        strbuf_clear(&h);
        return -1;
    }
    unsigned char pre[10] = {
        0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(h.len & 0xff), (unsigned char)(h.len >> 8)};
    fwrite(pre, 1, sizeof pre, f);
    fwrite(h.data, 1, h.len, f);
    strbuf_clear(&h);
    tn_write_values(f, t);
    return tn_close_file(f, path, &e);
}


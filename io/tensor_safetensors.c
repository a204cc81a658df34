/* tensor_safetensors: safetensors files: a u64 header size, a JSON header
 * read by a small strict lexer and parser, the data; and the writer. */
#include "io/tensor.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/strbuf.h"
#include "io/tensor_impl.h"

#define JSON_MAX_DEPTH 64    /* nesting of the values a safetensors header may skip */

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
    return tn_fail(lx->e, "bad JSON in the safetensors header at byte %zu: %s", (size_t)(lx->p - lx->start) + 8, what);
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
    if (lx->p >= lx->end || !tn_is_digit(*lx->p)) return json_fail(lx, "expected a non-negative integer");
    if (*lx->p == '0' && lx->p + 1 < lx->end && tn_is_digit(lx->p[1])) return json_fail(lx, "leading zero in a number");
    uint64_t x = 0;
    while (lx->p < lx->end && tn_is_digit(*lx->p)) {
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
    if (lx->p >= lx->end || !tn_is_digit(*lx->p)) return json_fail(lx, "bad number");
    if (*lx->p == '0')
        lx->p++;
    else
        while (lx->p < lx->end && tn_is_digit(*lx->p)) lx->p++;
    if (json_at(lx, '.')) {
        lx->p++;
        if (lx->p >= lx->end || !tn_is_digit(*lx->p)) return json_fail(lx, "bad number");
        while (lx->p < lx->end && tn_is_digit(*lx->p)) lx->p++;
    }
    if (json_at(lx, 'e') || json_at(lx, 'E')) {
        lx->p++;
        if (json_at(lx, '+') || json_at(lx, '-')) lx->p++;
        if (lx->p >= lx->end || !tn_is_digit(*lx->p)) return json_fail(lx, "bad number");
        while (lx->p < lx->end && tn_is_digit(*lx->p)) lx->p++;
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
    if (c == '-' || tn_is_digit(c)) return json_number(lx);
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
    const char *name = tn_shown(text, sizeof text, en->name, en->name_len);
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
                    r = tn_fail(lx->e, "data_offsets of tensor '%s' do not hold two integers", name);
            } else
                r = json_skip(lx, 2);
            free(key);
            if (seen && *seen) return tn_fail(lx->e, "tensor '%s' has a member given twice", name);
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
    if (!has_dtype) return tn_fail(lx->e, "tensor '%s' has no \"dtype\"", name);
    if (!has_shape) return tn_fail(lx->e, "tensor '%s' has no \"shape\"", name);
    if (!has_offsets) return tn_fail(lx->e, "tensor '%s' has no \"data_offsets\"", name);
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
            r = tn_fail(lx->e, "tensor name '%s' appears twice", tn_shown(text, sizeof text, es[i].name, es[i].name_len));
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
        strbuf_printf(b, "%s'%s'", i ? ", " : "", tn_shown(text, sizeof text, es[i].name, es[i].name_len));
    }
}

/* *f: a format, or for masks when allowed ELEM_BOOL for BOOL and U8, and
 * the ELEM_ integer kinds for I8 ... I64, U16 ... U64. */
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
    static const struct {
        const char *name;
        int kind;
    } ints[] = {{"I8", ELEM_I8}, {"I16", ELEM_I16}, {"I32", ELEM_I32}, {"I64", ELEM_I64},
                {"U16", ELEM_U16}, {"U32", ELEM_U32}, {"U64", ELEM_U64}};
    for (size_t i = 0; opt && opt->allow_bool && i < sizeof ints / sizeof ints[0]; i++)
        if (en->dtype_len == strlen(ints[i].name) && strcmp(en->dtype, ints[i].name) == 0 &&
            !(ints[i].kind == ELEM_U16 && opt->u2_as_bf16)) {
            *f = ints[i].kind;
            return 0;
        }
    char text[80];
    tn_shown_part(text, sizeof text, en->dtype, sizeof en->dtype - 1, en->dtype_len);
    if (en->dtype_len == 3 && strcmp(en->dtype, "U16") == 0) {
        if (opt && opt->u2_as_bf16) {
            *f = FP_BF16;
            return 0;
        }
        return tn_fail(e, "tensor '%s' has dtype U16, 2-byte integers: give --dtype bf16 if this is bfloat16", name);
    }
    return tn_fail(e, "tensor '%s' has dtype \"%s\", which is not supported (F64, F32, F16 and BF16 are)", name, text);
}

int tensor_read_safetensors_mem(tensor *t, const unsigned char *buf, size_t len, const char *name,
                                const tensor_read_options *opt, const char *label, char *err, size_t errlen)
{
    tensor_err e = {err, errlen, label};
    if (len == 0) return tn_fail(&e, "empty file");
    if (len < 8) return tn_fail(&e, "too short for a safetensors file (%zu bytes)", len);
    uint64_t hsize = 0;
    for (int i = 0; i < 8; i++) hsize |= (uint64_t)buf[i] << (8 * i);
    if (hsize > len - 8)
        return tn_fail(&e, "the safetensors header size %llu runs past the end of the file (%zu bytes)",
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
            r = n ? tn_fail(&e, "no tensor named '%s' (the file holds %s)", tn_shown(text, sizeof text, name, want),
                         strbuf_str(&names))
                  : tn_fail(&e, "no tensor named '%s' (the file holds none)", tn_shown(text, sizeof text, name, want));
            goto done;
        }
    } else if (n == 1)
        en = &es[0];
    else {
        st_names(&names, es, n);
        r = n ? tn_fail(&e, "the file holds %zu tensors (%s): give the name of one", n, strbuf_str(&names))
              : tn_fail(&e, "the file holds no tensors");
        goto done;
    }

    tn_shown(text, sizeof text, en->name, en->name_len);
    int f = FP_F64;
    if ((r = st_dtype(&f, en, opt, &e, text))) goto done;
    if (en->ndim > TENSOR_MAX_DIMS) {
        r = tn_fail(&e, "tensor '%s' has %d dimensions: at most %d are supported", text, en->ndim, TENSOR_MAX_DIMS);
        goto done;
    }
    size_t shape[TENSOR_MAX_DIMS], count, bytes;
    int overflow = 0;
    for (int i = 0; i < en->ndim; i++) {
        if (en->shape[i] > SIZE_MAX) overflow = 1;
        shape[i] = (size_t)en->shape[i];
    }
    char shp[256];
    tn_shape_text(shp, sizeof shp, shape, en->ndim);
    if (overflow || tn_shape_count(&count, shape, en->ndim) || __builtin_mul_overflow(count, tn_dtype_size(f), &bytes)) {
        r = tn_fail(&e, "tensor '%s' of shape %s has too many elements (the product overflows)", text, shp);
        goto done;
    }
    uint64_t begin = en->offsets[0], end = en->offsets[1], avail = len - 8 - hsize;
    if (begin > end || end > avail) {
        r = tn_fail(&e, "data_offsets [%llu, %llu] of tensor '%s' lie outside the data (%llu bytes)",
                 (unsigned long long)begin, (unsigned long long)end, text, (unsigned long long)avail);
        goto done;
    }
    if (end - begin != bytes) {
        r = tn_fail(&e, "data_offsets [%llu, %llu] of tensor '%s' hold %llu bytes, but shape %s of %s needs %zu",
                 (unsigned long long)begin, (unsigned long long)end, text, (unsigned long long)(end - begin), shp,
                 en->dtype, bytes);
        goto done;
    }
    char what[160];
    snprintf(what, sizeof what, "tensor '%s' (%s)", text, en->dtype);
    r = tn_fill(t, f, en->ndim, shape, count, buf + 8 + hsize + begin, &e, what);
done:
    strbuf_clear(&names);
    for (size_t i = 0; i < n; i++) free(es[i].name);
    free(es);
    return r ? -1 : 0;
}

/* ---- writing ---- */

static const char *const st_dtypes[FP_FORMAT_COUNT] = {"F64", "F32", "F16", "BF16"};

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
        if (!names[i]) return tn_fail(&e, "tensor %zu has no name", i);
        tn_shown(text, sizeof text, names[i], strlen(names[i]));
        if (strcmp(names[i], "__metadata__") == 0) return tn_fail(&e, "'__metadata__' cannot name a tensor");
        char what[128];
        snprintf(what, sizeof what, "tensor '%s'", text);
        if (tn_check(ts[i], &e, what)) return -1;
    }
    st_order *order = mem_realloc(NULL, (n ? n : 1) * sizeof *order);
    for (size_t i = 0; i < n; i++) order[i] = (st_order){names[i], i};
    if (n > 1) qsort(order, n, sizeof *order, st_order_cmp);
    for (size_t i = 1; i < n; i++)
        if (strcmp(order[i - 1].name, order[i].name) == 0) {
            tn_shown(text, sizeof text, order[i].name, strlen(order[i].name));
            free(order);
            return tn_fail(&e, "tensor name '%s' appears twice", text);
        }
    strbuf h;
    strbuf_init(&h);
    strbuf_putc(&h, '{');
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const tensor *t = ts[order[i].index];
        uint64_t bytes;
        if (__builtin_mul_overflow((uint64_t)t->count, (uint64_t)tn_elem_size(t), &bytes) ||
            __builtin_add_overflow(offset, bytes, &bytes)) {
            free(order);
            strbuf_clear(&h);
            return tn_fail(&e, "the tensors are too large");
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
    FILE *f = tn_create_file(path, &e);
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
    for (size_t i = 0; i < n; i++) tn_write_values(f, ts[order[i].index]);
    free(order);
    return tn_close_file(f, path, &e);
}


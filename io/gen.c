/* gen: writes the HMP script of one attention block (optionally causal,
 * scaled, multi-head), one relation per scalar entry, through a large
 * output buffer; input values come from splitmix64, never rand(). */
#include "io/gen.h"
#include "core/mem.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Families of names, in the order the script defines them. */
enum gen_family { FAM_X, FAM_WQ, FAM_WK, FAM_WV, FAM_Q, FAM_K, FAM_V, FAM_S, FAM_A, FAM_O };

static const char *const family_name[] = { "x", "Wq", "Wk", "Wv", "q", "k", "v", "s", "a", "o" };

#define GEN_CHUNK ((size_t)1 << 20)
#define GEN_PIECE 192 /* room reserved for one term: two names, operators */
#define GEN_INDEX_SLOT 8

typedef struct gen_writer {
    const gen_options *opt;
    char *buf;
    size_t len, cap;
    FILE *file;          /* flush target, or NULL */
    strbuf *sb;          /* flush target, or NULL */
    int failed;
    uint64_t rng;
    /* decimal text of 0..max_index, GEN_INDEX_SLOT bytes each */
    char *index_text;
    uint8_t *index_len;
    /* value tables: x = m/2 (m in [-4, 4]), weights = m/den (m in [-9, 9]) */
    char x_text[9][GEN_INDEX_SLOT * 2];
    char w_text[19][32];
} gen_writer;

void gen_options_init(gen_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->n = opt->d = opt->heads = 1;
    opt->seed = 1;
}

int gen_check(const gen_options *opt, char *err, size_t errlen)
{
    if (opt->n < 1 || opt->n > GEN_MAX_DIM) {
        snprintf(err, errlen, "N must be between 1 and %u", GEN_MAX_DIM);
        return -1;
    }
    if (opt->d < 1 || opt->d > GEN_MAX_DIM) {
        snprintf(err, errlen, "D must be between 1 and %u", GEN_MAX_DIM);
        return -1;
    }
    if (opt->heads < 1 || opt->heads > GEN_MAX_HEADS) {
        snprintf(err, errlen, "--heads must be between 1 and %u", GEN_MAX_HEADS);
        return -1;
    }
    if (opt->compact && (opt->n > 9 || opt->d > 9 || opt->heads > 1)) {
        snprintf(err, errlen, "--compact needs N <= 9, D <= 9 and one head (single-digit indices)");
        return -1;
    }
    return 0;
}

uint32_t gen_weight_den(uint32_t d)
{
    double den = floor(4.0 * pow((double)d, 0.75) + 0.5);
    return den < 1.0 ? 1u : (uint32_t)den;
}

uint64_t gen_relation_count(const gen_options *opt)
{
    uint64_t n = opt->n, d = opt->d, h = opt->heads;
    uint64_t pairs = opt->causal ? n * (n + 1) / 2 : n * n;
    uint64_t inputs = opt->symbolic ? 0 : n * d + 3 * h * d * d;
    return inputs + 3 * h * n * d + 2 * h * pairs + h * n * d;
}

/* ---- output buffer ---- */

static void gw_flush(gen_writer *w)
{
    if (w->len == 0) return;
    if (w->file) {
        if (!w->failed && fwrite(w->buf, 1, w->len, w->file) != w->len) w->failed = 1;
    } else {
        strbuf_putn(w->sb, w->buf, w->len);
    }
    w->len = 0;
}

/* Pointer to at least n free bytes (n <= GEN_PIECE). */
static inline char *gw_room(gen_writer *w, size_t n)
{
    if (w->len + n > w->cap) gw_flush(w);
    return w->buf + w->len;
}

static void gw_puts(gen_writer *w, const char *s)
{
    size_t n = strlen(s);
    while (n > 0) {
        size_t k = n < GEN_PIECE ? n : GEN_PIECE;
        memcpy(gw_room(w, k), s, k);
        w->len += k;
        s += k;
        n -= k;
    }
}

static void gw_printf(gen_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void gw_printf(gen_writer *w, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    gw_puts(w, line);
}

/* ---- names ---- */

static inline char *put_index(const gen_writer *w, char *p, uint32_t k)
{
    memcpy(p, w->index_text + (size_t)k * GEN_INDEX_SLOT, GEN_INDEX_SLOT);
    return p + w->index_len[k];
}

/* name -> family [ '_' head ] '_' i '_' j      (underscore form)
 *       | family i [ '_' ] j                     (compact form: W, s, a glue j) */
static char *put_name(const gen_writer *w, char *p, int fam, uint32_t h, uint32_t i, uint32_t j)
{
    const char *f = family_name[fam];
    while (*f) *p++ = *f++;
    if (w->opt->compact) {
        p = put_index(w, p, i);
        int glue = fam == FAM_WQ || fam == FAM_WK || fam == FAM_WV || fam == FAM_S || fam == FAM_A;
        if (!glue) *p++ = '_';
        return put_index(w, p, j);
    }
    if (w->opt->heads > 1 && fam != FAM_X) {
        *p++ = '_';
        p = put_index(w, p, h);
    }
    *p++ = '_';
    p = put_index(w, p, i);
    *p++ = '_';
    return put_index(w, p, j);
}

static inline char *put_text(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

/* "NAME = " */
static void start_relation(gen_writer *w, int fam, uint32_t h, uint32_t i, uint32_t j)
{
    char *p = gw_room(w, GEN_PIECE);
    char *q = put_name(w, p, fam, h, i, j);
    q = put_text(q, " = ", 3);
    w->len += (size_t)(q - p);
}

static void end_relation(gen_writer *w)
{
    *gw_room(w, 1) = '\n';
    w->len++;
}

/* term -> [ " + " ] A*B */
static void put_product(gen_writer *w, int first, int fa, uint32_t ha, uint32_t ia, uint32_t ja,
                        int fb, uint32_t hb, uint32_t ib, uint32_t jb)
{
    char *p = gw_room(w, GEN_PIECE);
    char *q = first ? p : put_text(p, " + ", 3);
    q = put_name(w, q, fa, ha, ia, ja);
    *q++ = '*';
    q = put_name(w, q, fb, hb, ib, jb);
    w->len += (size_t)(q - p);
}

/* term -> [ " + " ] exp(S) */
static void put_exp(gen_writer *w, int first, uint32_t h, uint32_t i, uint32_t j)
{
    char *p = gw_room(w, GEN_PIECE);
    char *q = first ? p : put_text(p, " + ", 3);
    q = put_text(q, "exp(", 4);
    q = put_name(w, q, FAM_S, h, i, j);
    *q++ = ')';
    w->len += (size_t)(q - p);
}

/* ---- random inputs ---- */

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* Uniform integer in [0, r) (Lemire's multiply-shift; bias < r / 2^64). */
static uint32_t uniform_below(uint64_t *state, uint32_t r)
{
    return (uint32_t)(((unsigned __int128)splitmix64(state) * r) >> 64);
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) { uint64_t t = a % b; a = b; b = t; }
    return a;
}

/* m/den reduced: "3/7", "-1/2", "2", "0". */
static void rational_text(char *out, size_t size, long m, uint64_t den)
{
    uint64_t g = gcd_u64(m < 0 ? (uint64_t)-m : (uint64_t)m, den);
    if (g == 0) g = 1;
    long num = m / (long)g;
    uint64_t d = den / g;
    if (d == 1) snprintf(out, size, "%ld", num);
    else snprintf(out, size, "%ld/%llu", num, (unsigned long long)d);
}

static void put_value(gen_writer *w, const char *text)
{
    size_t n = strlen(text);
    memcpy(gw_room(w, n), text, n);
    w->len += n;
}

/* ---- the script ---- */

static void write_header(gen_writer *w)
{
    const gen_options *o = w->opt;
    gw_printf(w, "# generated by: hmp gen attention %u %u", o->n, o->d);
    if (!o->symbolic) gw_printf(w, " --seed %llu", (unsigned long long)o->seed);
    if (o->symbolic) gw_puts(w, " --symbolic");
    if (o->scale) gw_puts(w, " --scale");
    if (o->causal) gw_puts(w, " --causal");
    if (o->heads > 1) gw_printf(w, " --heads %u", o->heads);
    if (o->compact) gw_puts(w, " --compact");
    gw_puts(w, "\n");
    gw_printf(w, "# One attention block over %u tokens with %u features, one relation per\n", o->n, o->d);
    gw_puts(w, "# scalar entry (indices from 1):\n");
    gw_printf(w, "#   x           inputs: token i is row i of x (%u x %u)\n", o->n, o->d);
    gw_printf(w, "#   Wq, Wk, Wv  query, key and value weights (%u x %u each)\n", o->d, o->d);
    gw_puts(w, "#   q, k, v     queries, keys and values: Q = X*Wq^T, K = X*Wk^T, V = X*Wv^T\n");
    if (o->scale)
        gw_printf(w, "#   s           scores, dot products of queries and keys: S = Q*K^T / sqrt(%u)\n", o->d);
    else
        gw_puts(w, "#   s           scores, dot products of queries and keys: S = Q*K^T\n");
    gw_puts(w, "#   a           attention weights: softmax of each row of s\n");
    gw_puts(w, "#   o           outputs, rows of v averaged with weights a: O = A*V\n");
    if (o->compact)
        gw_puts(w, "# Names: x1_2 is row 1, column 2 of x; Wq12, s12 and a12 glue both digits.\n");
    else if (o->heads > 1)
        gw_printf(w, "# Names: x_i_j is row i, column j of x; every other name starts with its head\n"
                     "# h = 1..%u (q_h_i_j), and each head has its own weights.\n", o->heads);
    else
        gw_puts(w, "# Names: x_i_j is row i, column j of x, and likewise for every family.\n");
    if (o->causal)
        gw_puts(w, "# Causal: token i attends to tokens t <= i only (s_i_j and a_i_j for j <= i).\n");
    if (o->symbolic)
        gw_puts(w, "# Symbolic: x and the weights have no relations; they stay free symbols.\n");
    else
        gw_printf(w, "# Inputs: x = m/2 with m uniform in [-4, 4]; weights m/%u with m uniform in\n"
                     "# [-9, 9] (denominator round(4*D^(3/4))), so that scores stay of order 1 to 10.\n",
                  gen_weight_den(o->d));
}

static void write_values(gen_writer *w)
{
    const gen_options *o = w->opt;
    for (uint32_t i = 1; i <= o->n; i++)
        for (uint32_t j = 1; j <= o->d; j++) {
            start_relation(w, FAM_X, 1, i, j);
            put_value(w, w->x_text[uniform_below(&w->rng, 9)]);
            end_relation(w);
        }
    for (int fam = FAM_WQ; fam <= FAM_WV; fam++)
        for (uint32_t h = 1; h <= o->heads; h++)
            for (uint32_t j = 1; j <= o->d; j++)
                for (uint32_t c = 1; c <= o->d; c++) {
                    start_relation(w, fam, h, j, c);
                    put_value(w, w->w_text[uniform_below(&w->rng, 19)]);
                    end_relation(w);
                }
}

/* q_i_j = Wq_j_1*x_i_1 + ... + Wq_j_D*x_i_D, and alike for k, v. */
static void write_projections(gen_writer *w)
{
    const gen_options *o = w->opt;
    for (int fam = FAM_Q; fam <= FAM_V; fam++) {
        int wfam = FAM_WQ + (fam - FAM_Q);
        for (uint32_t h = 1; h <= o->heads; h++)
            for (uint32_t i = 1; i <= o->n; i++)
                for (uint32_t j = 1; j <= o->d; j++) {
                    start_relation(w, fam, h, i, j);
                    for (uint32_t c = 1; c <= o->d; c++)
                        put_product(w, c == 1, wfam, h, j, c, FAM_X, h, i, c);
                    end_relation(w);
                }
    }
}

/* s_i_j = q_i_1*k_j_1 + ... (with --scale: ( ... ) / sqrt(D)); j <= i when causal. */
static void write_scores(gen_writer *w)
{
    const gen_options *o = w->opt;
    char tail[32];
    snprintf(tail, sizeof tail, ") / sqrt(%u)", o->d);
    for (uint32_t h = 1; h <= o->heads; h++)
        for (uint32_t i = 1; i <= o->n; i++) {
            uint32_t last = o->causal ? i : o->n;
            for (uint32_t j = 1; j <= last; j++) {
                start_relation(w, FAM_S, h, i, j);
                if (o->scale) gw_puts(w, "(");
                for (uint32_t c = 1; c <= o->d; c++)
                    put_product(w, c == 1, FAM_Q, h, i, c, FAM_K, h, j, c);
                if (o->scale) gw_puts(w, tail);
                end_relation(w);
            }
        }
}

/* a_i_j = exp(s_i_j) / (exp(s_i_1) + ... + exp(s_i_last)). */
static void write_softmax(gen_writer *w)
{
    const gen_options *o = w->opt;
    for (uint32_t h = 1; h <= o->heads; h++)
        for (uint32_t i = 1; i <= o->n; i++) {
            uint32_t last = o->causal ? i : o->n;
            for (uint32_t j = 1; j <= last; j++) {
                start_relation(w, FAM_A, h, i, j);
                put_exp(w, 1, h, i, j);
                gw_puts(w, last > 1 ? " / (" : " / ");
                for (uint32_t t = 1; t <= last; t++) put_exp(w, t == 1, h, i, t);
                if (last > 1) gw_puts(w, ")");
                end_relation(w);
            }
        }
}

/* o_i_j = a_i_1*v_1_j + ... + a_i_last*v_last_j. */
static void write_outputs(gen_writer *w)
{
    const gen_options *o = w->opt;
    for (uint32_t h = 1; h <= o->heads; h++)
        for (uint32_t i = 1; i <= o->n; i++) {
            uint32_t last = o->causal ? i : o->n;
            for (uint32_t j = 1; j <= o->d; j++) {
                start_relation(w, FAM_O, h, i, j);
                for (uint32_t t = 1; t <= last; t++) put_product(w, t == 1, FAM_A, h, i, t, FAM_V, h, t, j);
                end_relation(w);
            }
        }
}

/* output_directive per row: output o_i_1, ..., o_i_D. Explicit, because a
 * one-term softmax row (N = 1, or row 1 when causal) folds to 1 and would
 * otherwise leave its score unused, hence an output by default. */
static void write_output_directives(gen_writer *w)
{
    const gen_options *o = w->opt;
    gw_puts(w, "# The outputs: every entry of o.\n");
    for (uint32_t h = 1; h <= o->heads; h++)
        for (uint32_t i = 1; i <= o->n; i++) {
            gw_puts(w, "output ");
            for (uint32_t j = 1; j <= o->d; j++) {
                char *p = gw_room(w, GEN_PIECE);
                char *q = j == 1 ? p : put_text(p, ", ", 2);
                q = put_name(w, q, FAM_O, h, i, j);
                w->len += (size_t)(q - p);
            }
            end_relation(w);
        }
}

static int gen_run(gen_writer *w)
{
    const gen_options *o = w->opt;
    uint32_t max_index = o->n;
    if (o->d > max_index) max_index = o->d;
    if (o->heads > max_index) max_index = o->heads;
    w->cap = GEN_CHUNK;
    w->len = 0;
    w->buf = mem_realloc(NULL, w->cap);
    w->index_text = mem_calloc((size_t)max_index + 1, GEN_INDEX_SLOT);
    w->index_len = mem_realloc(NULL, (size_t)max_index + 1);
    for (uint32_t k = 0; k <= max_index; k++) {
        char tmp[16];
        int n = snprintf(tmp, sizeof tmp, "%u", k);
        memcpy(w->index_text + (size_t)k * GEN_INDEX_SLOT, tmp, (size_t)n);
        w->index_len[k] = (uint8_t)n;
    }
    uint32_t den = gen_weight_den(o->d);
    for (int m = -4; m <= 4; m++) rational_text(w->x_text[m + 4], sizeof w->x_text[0], m, 2);
    for (int m = -9; m <= 9; m++) rational_text(w->w_text[m + 9], sizeof w->w_text[0], m, den);
    w->rng = o->seed;
    w->failed = 0;

    write_header(w);
    if (!o->symbolic) write_values(w);
    write_projections(w);
    write_scores(w);
    write_softmax(w);
    write_outputs(w);
    write_output_directives(w);
    gw_flush(w);

    free(w->buf);
    free(w->index_text);
    free(w->index_len);
    return w->failed ? -1 : 0;
}

int gen_attention(FILE *out, const gen_options *opt)
{
    char err[128];
    if (gen_check(opt, err, sizeof err) != 0) return -1;
    gen_writer w;
    memset(&w, 0, sizeof w);
    w.opt = opt;
    w.file = out;
    int rc = gen_run(&w);
    if (fflush(out) != 0 || ferror(out)) rc = -1;
    return rc;
}

int gen_attention_sb(strbuf *out, const gen_options *opt)
{
    char err[128];
    if (gen_check(opt, err, sizeof err) != 0) return -1;
    gen_writer w;
    memset(&w, 0, sizeof w);
    w.opt = opt;
    w.sb = out;
    return gen_run(&w);
}

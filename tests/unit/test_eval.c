/* Tests of core/eval/eval: outputs of scripts, exactly or correctly rounded,
 * checked against independent computations (fmpq loops and MPFR at high
 * precision), ties, values near rounding boundaries, and errors. */
#include <criterion/criterion.h>
#include <mpfr.h>
#include <stdlib.h>
#include <string.h>

#include "eval/eval.h"
#include "tests/lib/testeval.h"
#include "core/parse.h"
#include "core/system.h"
#include "tests/lib/testlib.h"
#include "tests/lib/testscript.h"

typedef struct loaded {
    test_script t;
    eval_result res;
} loaded;

/* Loads text (a script that does not load fails the test) and evaluates
 * every output; returns eval_outputs' status. */
static int run(loaded *L, const char *text, const eval_request *req)
{
    memset(&L->res, 0, sizeof L->res);
    test_script_load(&L->t, text);
    return test_eval_outputs(&L->res, &L->t.y, req, &L->t.d);
}

static void done(loaded *L)
{
    eval_result_clear(&L->res);
    test_script_clear(&L->t);
}

static const char *value_of(loaded *L, const char *name)
{
    for (size_t i = 0; i < L->res.n; i++)
        if (strcmp(term_sym_name(&L->t.s, L->res.v[i].name), name) == 0) return L->res.v[i].decimal;
    cr_assert_fail("no output %s", name);
    return NULL;
}

static void expect(const char *text, slong digits, const char *name, const char *want)
{
    eval_request req;
    eval_request_init(&req);
    req.digits = digits;
    loaded L;
    cr_assert_eq(run(&L, text, &req), 0, "%s", text);
    cr_assert_str_eq(value_of(&L, name), want, "%s", text);
    done(&L);
}

Test(eval, exact_and_rounded)
{
    expect("a = 1/3", 30, "a", "0.333333333333333333333333333333");
    expect("a = 2/3", 5, "a", "0.66667");
    expect("a = exp(1)", 40, "a", "2.718281828459045235360287471352662497757");
    expect("a = log(2)", 20, "a", "0.69314718055994530942");
    expect("a = sqrt(2)", 30, "a", "1.41421356237309504880168872421");
    expect("a = tanh(1/2)", 15, "a", "0.462117157260010");
    expect("a = -exp(-1)", 10, "a", "-0.3678794412");
    expect("a = 1/8", 2, "a", "0.12"); /* tie, to even */
    expect("a = 3/8", 2, "a", "0.38");
    expect("a = 0", 5, "a", "0");
    /* exactly rational though written with exp: exp(1/3)^3/exp(1) = 1, so
     * this is a tie at 2 digits, decided through the exact value */
    expect("a = exp(1/3)^3 / exp(1) / 8", 2, "a", "0.12");
    expect("a = 5*exp(1/3)^3 / exp(1) / 8", 2, "a", "0.62");
    /* within 1e-40 of that tie: the balls must get that tight */
    expect("a = 1/8 + exp(-92)", 2, "a", "0.13");
    expect("a = 1/8 - exp(-92)", 2, "a", "0.12");
    expect("a = 1/8 + exp(-92)", 41, "a", "0.12500000000000000000000000000000000000011");
}

Test(eval, formats)
{
    static const struct { fp_format f; uint64_t bits; } third[] = {
        { FP_F64, 0x3fd5555555555555ULL }, { FP_F32, 0x3eaaaaabULL }, { FP_F16, 0x3555 }, { FP_BF16, 0x3eab },
    };
    for (int i = 0; i < 4; i++) {
        eval_request req;
        eval_request_init(&req);
        req.use_format = 1;
        req.format = third[i].f;
        loaded L;
        cr_assert_eq(run(&L, "a = 1/3\nb = exp(1/3)^3/exp(1)/3", &req), 0);
        cr_assert_eq(L.res.v[0].bits, third[i].bits, "%s", fp_info(third[i].f)->name);
        cr_assert_eq(L.res.v[1].bits, third[i].bits, "%s (exact path)", fp_info(third[i].f)->name);
        done(&L);
    }
    /* e in f16: 2.71875 = 0x4170; 70000 overflows f16 to +inf */
    eval_request req;
    eval_request_init(&req);
    req.use_format = 1;
    req.format = FP_F16;
    loaded L;
    cr_assert_eq(run(&L, "a = exp(1)\nb = 70000*exp(1)/exp(1)\nc = -exp(12)", &req), 0);
    cr_assert_eq(L.res.v[0].bits, 0x4170);
    cr_assert_eq(L.res.v[1].bits, 0x7c00);
    cr_assert_eq(L.res.v[2].bits, 0xfc00); /* -162754.79 */
    done(&L);
}

/* The seed's block: exact inputs, every output checked against q, k, v, s
 * computed with fmpq loops and the softmax with MPFR at 1000 bits. */
Test(eval, transformer_block)
{
    source src;
    char err[256];
    cr_assert_eq(source_read_file(&src, "examples/transformer_block.hmp", err, sizeof err), 0, "%s", err);
    char *text = malloc(src.len + 1);
    memcpy(text, src.text, src.len + 1);
    source_clear(&src);
    eval_request req;
    eval_request_init(&req);
    req.want_exact = 1;
    loaded L;
    cr_assert_eq(run(&L, text, &req), 0);
    free(text);
    /* inputs from the script's relations */
    enum { N = 3, D = 2 };
    fmpq_t x[N][D], wq[D][D], wk[D][D], wv[D][D], q[N][D], k[N][D], v[N][D], sc[N][N], t;
    fmpq_init(t);
    char name[32];
#define VALUE(dst, fmt, ...) do { \
        snprintf(name, sizeof name, fmt, __VA_ARGS__); \
        int32_t r = sys_relation_of(&L.t.y, term_sym_cstr(&L.t.s, name)); \
        cr_assert_geq(r, 0, "%s", name); \
        term_id rhs = L.t.sc.rels[r].rhs; \
        cr_assert_eq(term_op_of(&L.t.s, rhs), OP_NUM, "%s", name); \
        fmpq_init(dst); fmpq_set(dst, term_value(&L.t.s, rhs)); } while (0)
    for (int i = 0; i < N; i++) for (int j = 0; j < D; j++) VALUE(x[i][j], "x%d_%d", i + 1, j + 1);
    for (int i = 0; i < D; i++) for (int j = 0; j < D; j++) {
        VALUE(wq[i][j], "Wq%d%d", i + 1, j + 1);
        VALUE(wk[i][j], "Wk%d%d", i + 1, j + 1);
        VALUE(wv[i][j], "Wv%d%d", i + 1, j + 1);
    }
    for (int i = 0; i < N; i++) for (int j = 0; j < D; j++) {
        fmpq_init(q[i][j]); fmpq_init(k[i][j]); fmpq_init(v[i][j]);
        for (int c = 0; c < D; c++) {
            fmpq_mul(t, wq[j][c], x[i][c]); fmpq_add(q[i][j], q[i][j], t);
            fmpq_mul(t, wk[j][c], x[i][c]); fmpq_add(k[i][j], k[i][j], t);
            fmpq_mul(t, wv[j][c], x[i][c]); fmpq_add(v[i][j], v[i][j], t);
        }
    }
    for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) {
        fmpq_init(sc[i][j]);
        for (int c = 0; c < D; c++) { fmpq_mul(t, q[i][c], k[j][c]); fmpq_add(sc[i][j], sc[i][j], t); }
    }
    mpfr_t num, den, e, o, a;
    mpfr_inits2(1000, num, den, e, o, a, (mpfr_ptr)0);
    mpq_t m;
    mpq_init(m);
    for (int i = 0; i < N; i++) for (int j = 0; j < D; j++) {
        mpfr_set_zero(num, 1);
        mpfr_set_zero(den, 1);
        for (int c = 0; c < N; c++) {
            fmpq_get_mpq(m, sc[i][c]);
            mpfr_set_q(e, m, MPFR_RNDN);
            mpfr_exp(e, e, MPFR_RNDN);
            mpfr_add(den, den, e, MPFR_RNDN);
            fmpq_get_mpq(m, v[c][j]);
            mpfr_set_q(a, m, MPFR_RNDN);
            mpfr_mul(a, a, e, MPFR_RNDN);
            mpfr_add(num, num, a, MPFR_RNDN);
        }
        mpfr_div(o, num, den, MPFR_RNDN);
        snprintf(name, sizeof name, "o%d_%d", i + 1, j + 1);
        const char *got = value_of(&L, name);
        /* the reference's 30 digits (1000 bits leave no doubt about them) */
        mpfr_exp_t ex;
        char *ref = mpfr_get_str(NULL, &ex, 10, 30, o, MPFR_RNDN);
        char digits[64];
        size_t nd = 0;
        for (const char *c = got; *c && *c != 'e' && nd < sizeof digits - 1; c++)
            if (*c >= '0' && *c <= '9' && (nd > 0 || *c != '0')) digits[nd++] = *c;
        digits[nd] = '\0';
        cr_assert_str_eq(digits, ref[0] == '-' ? ref + 1 : ref, "%s = %s", name, got);
        cr_assert_eq(got[0] == '-', ref[0] == '-');
        mpfr_set_str(a, got, 10, MPFR_RNDN); /* and the magnitude */
        mpfr_sub(a, a, o, MPFR_RNDN);
        mpfr_div(a, a, o, MPFR_RNDN);
        cr_assert_lt(mpfr_get_d(a, MPFR_RNDN) < 0 ? -mpfr_get_d(a, MPFR_RNDN) : mpfr_get_d(a, MPFR_RNDN), 1e-28);
        mpfr_free_str(ref);
        /* the exact value is an exp-sum fraction (the scores are distinct) */
        for (size_t r = 0; r < L.res.n; r++)
            if (strcmp(term_sym_name(&L.t.s, L.res.v[r].name), name) == 0) {
                cr_assert(!L.res.v[r].rational);
                cr_assert_not_null(strstr(L.res.v[r].exact, "exp("));
            }
    }
    mpq_clear(m);
    mpfr_clears(num, den, e, o, a, (mpfr_ptr)0);
    for (int i = 0; i < N; i++) for (int j = 0; j < D; j++) { fmpq_clear(x[i][j]); fmpq_clear(q[i][j]); fmpq_clear(k[i][j]); fmpq_clear(v[i][j]); }
    for (int i = 0; i < D; i++) for (int j = 0; j < D; j++) { fmpq_clear(wq[i][j]); fmpq_clear(wk[i][j]); fmpq_clear(wv[i][j]); }
    for (int i = 0; i < N; i++) for (int j = 0; j < N; j++) fmpq_clear(sc[i][j]);
    fmpq_clear(t);
    done(&L);
}

/* Degenerate softmax rows are exactly rational: one key (causal row 1), or
 * equal scores. */
Test(eval, degenerate_rows_exact)
{
    eval_request req;
    eval_request_init(&req);
    loaded L;
    cr_assert_eq(run(&L,
                     "s1 = 1/3\ns2 = 1/3\ns3 = 2/6\n"
                     "a = exp(s1) / (exp(s1) + exp(s2) + exp(s3))\n"
                     "o = a*5 + exp(s2)/(exp(s1) + exp(s2) + exp(s3))\n"
                     "one = exp(s1)/exp(s1)\n"
                     "output a, o, one",
                     &req),
                 0);
    cr_assert(L.res.v[0].rational);
    cr_assert_str_eq(L.res.v[0].exact, "1/3");
    cr_assert_str_eq(L.res.v[1].exact, "2");
    cr_assert_str_eq(L.res.v[1].decimal, "2.00000000000000000000000000000");
    cr_assert_str_eq(L.res.v[2].decimal, "1.00000000000000000000000000000");
    done(&L);
}

static void expect_error(const char *text, int line, int col, const char *msg_part)
{
    eval_request req;
    eval_request_init(&req);
    loaded L;
    cr_assert_neq(run(&L, text, &req), 0, "%s", text);
    cr_assert_geq(L.t.d.n, 1);
    cr_assert_not_null(strstr(L.t.d.items[0].msg, msg_part), "got: %s", L.t.d.items[0].msg);
    if (line) {
        cr_assert_eq(L.t.d.items[0].pos.line, (uint32_t)line, "%s", L.t.d.items[0].msg);
        cr_assert_eq(L.t.d.items[0].pos.col, (uint32_t)col, "%s", L.t.d.items[0].msg);
    }
    cr_assert_eq(L.res.n, 0, "no partial result");
    done(&L);
}

Test(eval, errors)
{
    expect_error("z = exp(1/3)^3 - exp(1)\na = 1/z\nb = a + 1", 2, 5, "division by zero in relation 'a'");
    expect_error("u = 2\nz = u - 2\nb = 3 + log(z)", 3, 5, "logarithm of zero in relation 'b'");
    expect_error("b = log(1/2 - exp(1/3)^3/exp(1))", 1, 5, "logarithm of a negative number");
    expect_error("b = sqrt(-2)", 1, 5, "non-integer power of a negative number");
    expect_error("q = x + 1\no = q*2", 2, 1, "output 'o' depends on 'x', which no relation defines");
}

Test(eval, precision_cap)
{
    eval_request req;
    eval_request_init(&req);
    req.max_prec = 200;
    req.digits = 2;
    loaded L;
    /* within exp(-400) of the tie 1/8: needs ~580 bits */
    cr_assert_neq(run(&L, "a = 1/8 + exp(-400)", &req), 0);
    cr_assert_not_null(strstr(L.t.d.items[0].msg, "precision cap of 200 bits"));
    done(&L);
    req.max_prec = 0;
    cr_assert_eq(run(&L, "a = 1/8 + exp(-400)", &req), 0);
    cr_assert_str_eq(L.res.v[0].decimal, "0.13");
    done(&L);
}

Test(eval, bound_symbols)
{
    eval_request req;
    eval_request_init(&req);
    loaded L;
    test_script_load(&L.t, "o = exp(x)/(exp(x) + exp(y))");
    cr_assert_eq(sys_bind(&L.t.y, term_sym_cstr(&L.t.s, "x"), term_num_si(&L.t.s, 1, 2)), 0);
    cr_assert_eq(sys_bind(&L.t.y, term_sym_cstr(&L.t.s, "y"), term_num_si(&L.t.s, 1, 2)), 0);
    cr_assert_neq(sys_bind(&L.t.y, term_sym_cstr(&L.t.s, "o"), L.t.s.one), 0);
    cr_assert_eq(test_eval_outputs(&L.res, &L.t.y, &req, &L.t.d), 0);
    cr_assert_str_eq(L.res.v[0].exact, "1/2");
    done(&L);
}

/* ---- N-digit output equals the correct rounding, on random scripts ---- */

#define HIGH 3000
static test_rng rng;

/* A random expression as HMP text, with its value computed alongside by
 * MPFR at HIGH bits (a second method). Stays inside every domain. */
static void random_text(strbuf *b, mpfr_t v, int depth)
{
    int k = depth <= 0 ? 0 : test_randn(&rng, 8);
    if (k == 0) {
        long p = test_randn(&rng, 41) - 20, q = test_randn(&rng, 9) + 1;
        strbuf_printf(b, "(%ld/%ld)", p, q);
        mpfr_set_si(v, p, MPFR_RNDN);
        mpfr_div_si(v, v, q, MPFR_RNDN);
        return;
    }
    mpfr_t a, c;
    mpfr_init2(a, HIGH);
    mpfr_init2(c, HIGH);
    switch (k) {
    case 1: case 2:
        strbuf_putc(b, '('); random_text(b, a, depth - 1); strbuf_puts(b, " + "); random_text(b, c, depth - 1); strbuf_putc(b, ')');
        mpfr_add(v, a, c, MPFR_RNDN);
        break;
    case 3:
        strbuf_putc(b, '('); random_text(b, a, depth - 1); strbuf_puts(b, " * "); random_text(b, c, depth - 1); strbuf_putc(b, ')');
        mpfr_mul(v, a, c, MPFR_RNDN);
        break;
    case 4:
        strbuf_putc(b, '('); random_text(b, a, depth - 1); strbuf_puts(b, " / (1 + "); random_text(b, c, depth - 1); strbuf_puts(b, "^2))");
        mpfr_sqr(c, c, MPFR_RNDN);
        mpfr_add_ui(c, c, 1, MPFR_RNDN);
        mpfr_div(v, a, c, MPFR_RNDN);
        break;
    case 5:
        strbuf_puts(b, "exp(tanh("); random_text(b, a, depth - 1); strbuf_puts(b, "))");
        mpfr_tanh(a, a, MPFR_RNDN);
        mpfr_exp(v, a, MPFR_RNDN);
        break;
    case 6:
        strbuf_puts(b, "log(1 + "); random_text(b, a, depth - 1); strbuf_puts(b, "^2)");
        mpfr_sqr(a, a, MPFR_RNDN);
        mpfr_add_ui(a, a, 1, MPFR_RNDN);
        mpfr_log(v, a, MPFR_RNDN);
        break;
    default:
        strbuf_puts(b, "sqrt(abs("); random_text(b, a, depth - 1); strbuf_puts(b, "))");
        mpfr_abs(a, a, MPFR_RNDN);
        mpfr_sqrt(v, a, MPFR_RNDN);
        break;
    }
    mpfr_clear(a);
    mpfr_clear(c);
}

/* The N significant digits of v (sign, digits, no point) from both ends of
 * [v - 2^-2800 |v|, v + 2^-2800 |v|]: equal unless that interval meets a
 * rounding boundary (an exact tie), where either may be right. */
static void reference_digits(char **lo_digits, mpfr_exp_t *lo_e, char **hi_digits, mpfr_exp_t *hi_e,
                             const mpfr_t v, long n)
{
    mpfr_t lo, hi;
    mpfr_inits2(HIGH + 10, lo, hi, (mpfr_ptr)0);
    mpfr_mul_2si(lo, v, -2800, MPFR_RNDN);
    mpfr_abs(lo, lo, MPFR_RNDN);
    mpfr_add(hi, v, lo, MPFR_RNDU);
    mpfr_sub(lo, v, lo, MPFR_RNDD);
    *lo_digits = mpfr_get_str(NULL, lo_e, 10, (size_t)n, lo, MPFR_RNDN);
    *hi_digits = mpfr_get_str(NULL, hi_e, 10, (size_t)n, hi, MPFR_RNDN);
    mpfr_clears(lo, hi, (mpfr_ptr)0);
}

/* Sign and significant digits of a printed decimal, and its decimal exponent
 * in mpfr_get_str's convention (0.d1d2... * 10^e). */
static void digits_of(char *out, size_t cap, long *e10, const char *s)
{
    size_t n = 0;
    long point = -1, lead = 0, count = 0;
    int seen = 0;
    if (*s == '-') out[n++] = *s++;
    for (; *s && *s != 'e'; s++) {
        if (*s == '.') { point = count; continue; }
        if (!seen && *s == '0') { lead++; count++; continue; }
        seen = 1;
        if (n + 1 < cap) out[n++] = *s;
        count++;
    }
    out[n] = '\0';
    if (point < 0) point = count;
    *e10 = point - lead + (*s == 'e' ? atol(s + 1) : 0);
}

static void check_digits(const char *expr, const mpfr_t v, long n, int *checked, int *ties)
{
    char *ra, *rb;
    mpfr_exp_t ea, eb;
    reference_digits(&ra, &ea, &rb, &eb, v, n);
    int tie = ea != eb || strcmp(ra, rb) != 0;
    strbuf text;
    strbuf_init(&text);
    strbuf_printf(&text, "o = %s\n", expr);
    eval_request req;
    eval_request_init(&req);
    req.digits = n;
    loaded L;
    cr_assert_eq(run(&L, strbuf_str(&text), &req), 0, "%s", strbuf_str(&text));
    char got[128];
    long ge;
    digits_of(got, sizeof got, &ge, L.res.v[0].decimal);
    size_t keep = (size_t)n + (got[0] == '-'); /* zeros that only place the point */
    if (strlen(got) > keep) got[keep] = '\0';
    if (mpfr_zero_p(v)) cr_assert_str_eq(L.res.v[0].decimal, "0");
    else {
        int is_a = strcmp(got, ra) == 0 && ge == (long)ea, is_b = strcmp(got, rb) == 0 && ge == (long)eb;
        cr_assert(is_a || is_b, "%s to %ld digits: got %s, want %s e%ld", expr, n, L.res.v[0].decimal, ra, (long)ea);
    }
    (*checked)++;
    *ties += tie;
    mpfr_free_str(ra);
    mpfr_free_str(rb);
    done(&L);
    strbuf_clear(&text);
}

Test(eval, property_correct_digits)
{
    rng.state = 777;
    int iters = 1000 * test_multiplier(), checked = 0, ties = 0;
    mpfr_t v;
    mpfr_init2(v, HIGH);
    strbuf b;
    strbuf_init(&b);
    for (int it = 0; it < iters; it++) {
        strbuf_reset(&b);
        random_text(&b, v, 4);
        check_digits(strbuf_str(&b), v, 1 + test_randn(&rng, 40), &checked, &ties);
    }
    cr_assert_eq(checked, iters);
    cr_assert_lt(ties, iters / 20, "exact ties are rare: %d", ties);
    strbuf_clear(&b);
    mpfr_clear(v);
    mpfr_free_cache();
}

/* Softmax weights within 1e-35 .. 1e-43 of a rational (1, or 1/2 + tiny):
 * the decimal near the boundary is still the correct rounding. */
Test(eval, property_near_boundaries)
{
    rng.state = 4242;
    int checked = 0, ties = 0;
    mpfr_t v, t;
    mpfr_inits2(HIGH, v, t, (mpfr_ptr)0);
    strbuf b;
    strbuf_init(&b);
    for (int it = 0; it < 200 * test_multiplier(); it++) {
        long gap = 80 + test_randn(&rng, 20); /* exp(-gap): 1e-35 .. 1e-43 */
        long s = test_randn(&rng, 7) - 3;
        strbuf_reset(&b);
        if (it % 2) { /* a = exp(s)/(exp(s) + exp(s - gap)) = 1/(1 + exp(-gap)) */
            strbuf_printf(&b, "exp(%ld)/(exp(%ld) + exp(%ld))", s, s, s - gap);
            mpfr_set_si(t, -gap, MPFR_RNDN);
            mpfr_exp(t, t, MPFR_RNDN);
            mpfr_add_ui(t, t, 1, MPFR_RNDN);
            mpfr_ui_div(v, 1, t, MPFR_RNDN);
        } else { /* 3/8 + exp(-gap): a tie at 2 digits, pushed off by a hair */
            strbuf_printf(&b, "3/8 + exp(%ld)", -gap);
            mpfr_set_si(t, -gap, MPFR_RNDN);
            mpfr_exp(t, t, MPFR_RNDN);
            mpfr_set_ui(v, 3, MPFR_RNDN);
            mpfr_div_ui(v, v, 8, MPFR_RNDN);
            mpfr_add(v, v, t, MPFR_RNDN);
        }
        check_digits(strbuf_str(&b), v, it % 4 < 2 ? 2 : 30 + test_randn(&rng, 20), &checked, &ties);
    }
    cr_assert_eq(ties, 0, "a hair off a boundary is no tie");
    strbuf_clear(&b);
    mpfr_clears(v, t, (mpfr_ptr)0);
    mpfr_free_cache();
}

/* ---- lse and -inf ---- */

/* The first n significant digits of the correct rounding of v, from MPFR
 * (v held at 1000 bits: far more than the digits asked for). */
static void mpfr_digits(char *out, size_t cap, const mpfr_t v, long n)
{
    mpfr_exp_t e;
    char *d = mpfr_get_str(NULL, &e, 10, (size_t)n, v, MPFR_RNDN);
    snprintf(out, cap, "%s", d);
    mpfr_free_str(d);
}

static void expect_digits(const char *text, long n, const mpfr_t v)
{
    eval_request req;
    eval_request_init(&req);
    req.digits = n;
    loaded L;
    cr_assert_eq(run(&L, text, &req), 0, "%s", text);
    char got[128], want[128];
    long e10;
    digits_of(got, sizeof got, &e10, L.res.v[0].decimal);
    mpfr_digits(want, sizeof want, v, n);
    cr_assert_str_eq(got, want, "%s: %s", text, L.res.v[0].decimal);
    done(&L);
}

Test(eval, lse_values)
{
    mpfr_t v, t;
    mpfr_inits2(1000, v, t, (mpfr_ptr)0);
    /* lse(x, x) = x + log 2 for x = 1000, 10^6 */
    expect("a = lse(1000, 1000)", 30, "a", "1000.69314718055994530941723212");
    mpfr_const_log2(v, MPFR_RNDN);
    mpfr_add_ui(v, v, 1000000, MPFR_RNDN);
    expect_digits("a = lse(1000000, 1000000)", 30, v);
    expect_digits("a = lse(10^6, 10^6, -inf)", 30, v);
    expect("a = lse(1000000, 1000000)", 30, "a", "1000000.69314718055994530941723");
    /* log(exp(-1/3) + exp(-1/3) + exp(1/2)) written out */
    mpfr_set_si(t, -1, MPFR_RNDN);
    mpfr_div_ui(t, t, 3, MPFR_RNDN);
    mpfr_exp(t, t, MPFR_RNDN);
    mpfr_mul_ui(v, t, 2, MPFR_RNDN);
    mpfr_set_ui(t, 1, MPFR_RNDN);
    mpfr_div_ui(t, t, 2, MPFR_RNDN);
    mpfr_exp(t, t, MPFR_RNDN);
    mpfr_add(v, v, t, MPFR_RNDN);
    mpfr_log(v, v, MPFR_RNDN);
    expect_digits("a = lse(-1/3, 1/2, -1/3)", 40, v);
    /* lse(0, -1000) = log(1 + exp(-1000)), about 5.08e-435 */
    mpfr_set_si(t, -1000, MPFR_RNDN);
    mpfr_exp(t, t, MPFR_RNDN);
    mpfr_log1p(v, t, MPFR_RNDN);
    expect_digits("a = lse(0, -1000)", 30, v);
    /* an lse of non-rational arguments: lse(log 2, log 3) = log 5 */
    mpfr_set_ui(v, 5, MPFR_RNDN);
    mpfr_log(v, v, MPFR_RNDN);
    expect_digits("a = lse(log(2), log(3))", 50, v);
    mpfr_clears(v, t, (mpfr_ptr)0);
}

/* A softmax entry in lse form has the exact value of the plain form; the
 * decimals agree too. */
Test(eval, lse_softmax_exact)
{
    eval_request req;
    eval_request_init(&req);
    req.want_exact = 1;
    loaded L;
    cr_assert_eq(run(&L,
                     "s1 = 1/2\ns2 = -3/4\ns3 = 2\n"
                     "p = exp(s1) / (exp(s1) + exp(s2) + exp(s3))\n"
                     "q = exp(s1 - lse(s1, s2, s3))\n"
                     "o = 2*q + 3*exp(s3 - lse(s1, s2, s3))\n"
                     "o_plain = (2*exp(s1) + 3*exp(s3)) / (exp(s1) + exp(s2) + exp(s3))\n"
                     "eq = exp(s1 - lse(s1, s1))\n"
                     "output p, q, o, o_plain, eq",
                     &req),
                 0);
    cr_assert_str_eq(L.res.v[0].exact, L.res.v[1].exact);
    cr_assert_str_eq(L.res.v[0].exact, "exp(5/4)/(1 + exp(5/4) + exp(11/4))");
    cr_assert_str_eq(L.res.v[0].decimal, L.res.v[1].decimal);
    cr_assert_str_eq(L.res.v[2].exact, L.res.v[3].exact);
    cr_assert_str_eq(L.res.v[2].decimal, L.res.v[3].decimal);
    cr_assert_str_eq(L.res.v[4].exact, "1/2");
    cr_assert_str_eq(L.res.v[4].decimal, "0.500000000000000000000000000000");
    done(&L);
    /* an lse alone is printed as a term */
    cr_assert_eq(run(&L, "a = lse(1, 2)", &req), 0);
    cr_assert_str_eq(L.res.v[0].exact, "lse(1, 2)");
    done(&L);
}

/* An output whose term is -inf: "-inf" in decimal and exactly, the bits of
 * -inf in every format; folds give -inf or values. */
Test(eval, neg_inf_outputs)
{
    static const struct { fp_format f; uint64_t bits; } ninf[] = {
        { FP_F64, 0xfff0000000000000ULL }, { FP_F32, 0xff800000ULL }, { FP_F16, 0xfc00 }, { FP_BF16, 0xff80 },
    };
    const char *text = "m = -inf\n"
                       "a = m\nb = lse(m, -inf)\nc = 3*m + 2\nd = min(m, 1)\ne = max(m, -inf)\n"
                       "f = exp(m)\ng = max(m, 1/4)\nh = tanh(m)\n"
                       "output a, b, c, d, e, f, g, h";
    for (int i = 0; i < 4; i++) {
        eval_request req;
        eval_request_init(&req);
        req.use_format = 1;
        req.format = ninf[i].f;
        req.want_exact = i % 2;
        loaded L;
        cr_assert_eq(run(&L, text, &req), 0);
        cr_assert_eq(L.res.n, 8);
        for (int k = 0; k < 5; k++) {
            const eval_value *v = &L.res.v[k];
            cr_assert(v->neg_inf, "%s", term_sym_name(&L.t.s, v->name));
            cr_assert(!v->rational);
            cr_assert_str_eq(v->decimal, "-inf");
            cr_assert_str_eq(v->exact, "-inf");
            cr_assert_eq(v->bits, ninf[i].bits, "%s", fp_info(ninf[i].f)->name);
            cr_assert_str_eq(v->format_value, "-inf");
            cr_assert_eq(fp_bits_to_double(v->bits, ninf[i].f), -INFINITY);
        }
        cr_assert_str_eq(L.res.v[5].exact, "0");
        cr_assert_str_eq(L.res.v[6].exact, "1/4");
        cr_assert_str_eq(L.res.v[7].exact, "-1");
        for (int k = 5; k < 8; k++) cr_assert(!L.res.v[k].neg_inf);
        done(&L);
    }
}

/* -inf anywhere but as a whole output: an error at the relation that writes
 * the operation, as for the logarithm of a negative number. */
Test(eval, neg_inf_errors)
{
    expect_error("m = -inf\na = log(m)\nb = a + 1", 2, 5, "logarithm of -inf in relation 'a' (in log(-inf))");
    expect_error("s = -inf\nt = -s", 2, 5, "-inf times a factor that is not a positive rational in relation 't' (in -(-inf))");
    expect_error("b = 0 * -inf", 1, 5, "-inf times a factor that is not a positive rational in relation 'b' (in 0*(-inf))");
    expect_error("x = exp(1)\nw = 2 + x*(-inf)", 2, 5, "-inf times a factor that is not a positive rational in relation 'w'");
    expect_error("u = 1\nv = (-inf)^2 + u", 2, 5, "power of -inf in relation 'v' (in (-inf)^2)");
    expect_error("q = 2^(-inf)", 1, 5, "-inf in an exponent in relation 'q' (in 2^(-inf))");
    expect_error("a = abs(-inf)\nb = lse(a, 1)", 1, 5, "absolute value of -inf in relation 'a' (in abs(-inf))");
    expect_error("a = exp(-inf - -inf)", 1, 5, "-inf times a factor that is not a positive rational in relation 'a' (in -(-inf))");
    /* one good output and one bad: nothing is printed */
    expect_error("a = -inf\nb = log(a)\noutput a, b", 2, 5, "logarithm of -inf in relation 'b'");
    /* a free symbol is named first */
    expect_error("a = y*(-inf)", 1, 1, "output 'a' depends on 'y'");
}

/* Tests for expval: exact values N/D of exp sums. Hand cases, attention
 * blocks checked against an MPFR softmax computed by plain loops, random
 * expressions checked against direct ball evaluation, printing, limits. */
#include <criterion/criterion.h>
#include <mpfr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flint/fmpq.h>
#include <flint/fmpz.h>

#include "core/diag.h"
#include "eval/expval.h"
#include "core/parse.h"
#include "core/system.h"
#include "core/term.h"
#include "io/gen.h"
#include "tests/lib/testlib.h"

/* ---- helpers ---- */

typedef struct env {
    term_store s;
    expval_ctx ctx;
} env;

static void env_init(env *e)
{
    term_store_init(&e->s);
    expval_ctx_init(&e->ctx, &e->s);
}

static void env_clear(env *e)
{
    expval_ctx_clear(&e->ctx);
    term_store_clear(&e->s);
}

static term_id parse_text(term_store *s, const char *text)
{
    source src;
    diag_list d;
    source_from_string(&src, "t", text, strlen(text));
    diag_init(&d);
    term_id t = TERM_NONE;
    int rc = parse_expr(&t, s, &d, &src);
    if (rc) diag_print(stderr, &d);
    cr_assert_eq(rc, 0, "'%s' does not parse", text);
    diag_clear(&d);
    source_clear(&src);
    return t;
}

/* Status of text's value; the value in v, the failing node in *where. */
static int eval_text(expval *v, term_id *where, env *e, const char *text)
{
    term_id t = parse_text(&e->s, text);
    *where = TERM_NONE;
    return expval_of_term(v, where, &e->ctx, t);
}

static void assert_rational(const expval *v, slong p, slong q, const char *what)
{
    fmpq_t x, want;
    fmpq_init(x);
    fmpq_init(want);
    fmpq_set_si(want, p, (ulong)q);
    cr_assert(expval_get_fmpq(x, v), "%s: not rational", what);
    cr_assert(fmpq_equal(x, want), "%s: wrong rational", what);
    fmpq_clear(x);
    fmpq_clear(want);
}

static void assert_text_rational(env *e, const char *text, slong p, slong q)
{
    expval v;
    expval_init(&v);
    term_id where;
    int st = eval_text(&v, &where, e, text);
    cr_assert_eq(st, EV_OK, "'%s': status %d", text, st);
    assert_rational(&v, p, q, text);
    expval_clear(&v);
}

static void assert_text_status(env *e, const char *text, int status, const char *where_text)
{
    expval v;
    expval_init(&v);
    term_id where;
    int st = eval_text(&v, &where, e, text);
    cr_assert_eq(st, status, "'%s': status %d, want %d", text, st, status);
    if (where_text) cr_assert_eq(where, parse_text(&e->s, where_text), "'%s': wrong failing node", text);
    expval_clear(&v);
}

static void print_to(char *out, size_t size, const expval *v)
{
    strbuf b;
    strbuf_init(&b);
    expval_print(&b, v);
    snprintf(out, size, "%s", strbuf_str(&b));
    strbuf_clear(&b);
}

static void exp_si(expval *v, slong p, slong q)
{
    fmpq_t r;
    fmpq_init(r);
    fmpq_set_si(r, p, (ulong)q);
    expval_exp_fmpq(v, r);
    fmpq_clear(r);
}

static void rat_si(expval *v, slong p, slong q)
{
    fmpq_t r;
    fmpq_init(r);
    fmpq_set_si(r, p, (ulong)q);
    expval_set_fmpq(v, r);
    fmpq_clear(r);
}

/* ---- hand cases ---- */

Test(expval, exp_half_times_exp_minus_half)
{
    expval a, b, c;
    expval_init(&a);
    expval_init(&b);
    expval_init(&c);
    exp_si(&a, 1, 2);
    exp_si(&b, -1, 2);
    cr_assert_eq(expval_mul(&c, &a, &b), EV_OK);
    assert_rational(&c, 1, 1, "exp(1/2)*exp(-1/2)");
    cr_assert_eq(c.num.n, 1);
    cr_assert_eq(c.den.n, 1);
    fmpq_t q;
    fmpq_init(q);
    cr_assert(!expval_get_fmpq(q, &a), "exp(1/2) is not rational");
    fmpq_clear(q);
    expval_clear(&a);
    expval_clear(&b);
    expval_clear(&c);

    env e;
    env_init(&e);
    assert_text_rational(&e, "exp(1/2)*exp(-1/2)", 1, 1);
    assert_text_rational(&e, "exp(1/3)^3 * exp(-1)", 1, 1);
    env_clear(&e);
}

Test(expval, half_of_a_doubled_exp)
{
    /* exp(s)/(exp(s) + exp(s)) = 1/2, den normalised to exactly 1 */
    expval a, b, c;
    expval_init(&a);
    expval_init(&b);
    expval_init(&c);
    exp_si(&a, 3, 7);
    cr_assert_eq(expval_add(&b, &a, &a), EV_OK);
    cr_assert_eq(b.num.n, 1);
    cr_assert(fmpz_equal_si(fmpq_numref(b.num.c), 2));
    cr_assert_eq(expval_inv(&c, &b), EV_OK);
    cr_assert_eq(expval_mul(&c, &a, &c), EV_OK);
    assert_rational(&c, 1, 2, "exp(s)/(2*exp(s))");
    cr_assert_eq(c.den.n, 1);
    cr_assert(fmpq_is_one(c.den.c) && fmpq_is_zero(c.den.r));
    expval_clear(&a);
    expval_clear(&b);
    expval_clear(&c);

    env e;
    env_init(&e);
    assert_text_rational(&e, "exp(3/7)/(exp(3/7) + exp(3/7))", 1, 2);
    /* equal scores written differently: the store cannot fold them */
    assert_text_rational(&e, "exp(3/7)/(exp(3/7) + exp(1/7)^3)", 1, 2);
    env_clear(&e);
}

Test(expval, square_of_a_sum_expands)
{
    /* (exp(a) + exp(b))^2 = exp(2b) + 2*exp(a + b) + exp(2a), a = 1/3, b = -1/2 */
    expval a, b, s, p;
    expval_init(&a);
    expval_init(&b);
    expval_init(&s);
    expval_init(&p);
    exp_si(&a, 1, 3);
    exp_si(&b, -1, 2);
    cr_assert_eq(expval_add(&s, &a, &b), EV_OK);
    cr_assert_eq(expval_pow_si(&p, &s, 2), EV_OK);
    cr_assert_eq(p.num.n, 3);
    cr_assert_eq(p.den.n, 1);
    slong rp[3] = { -1, -1, 2 }, rq[3] = { 1, 6, 3 }, c[3] = { 1, 2, 1 };
    fmpq_t x;
    fmpq_init(x);
    for (int i = 0; i < 3; i++) {
        fmpq_set_si(x, rp[i], (ulong)rq[i]);
        cr_assert(fmpq_equal(p.num.r + i, x), "exponent %d", i);
        fmpq_set_si(x, c[i], 1);
        cr_assert(fmpq_equal(p.num.c + i, x), "coefficient %d", i);
    }
    fmpq_clear(x);
    char buf[256];
    print_to(buf, sizeof buf, &p);
    cr_assert_str_eq(buf, "exp(-1) + 2*exp(-1/6) + exp(2/3)");
    /* the same by a product and through the term store */
    cr_assert_eq(expval_mul(&a, &s, &s), EV_OK);
    cr_assert(expval_equal(&a, &p));
    env e;
    env_init(&e);
    term_id where;
    cr_assert_eq(eval_text(&b, &where, &e, "(exp(1/3) + exp(-1/2))^2"), EV_OK);
    cr_assert(expval_equal(&b, &p));
    print_to(buf, sizeof buf, &b);
    cr_assert_str_eq(buf, "exp(-1) + 2*exp(-1/6) + exp(2/3)");
    env_clear(&e);
    expval_clear(&a);
    expval_clear(&b);
    expval_clear(&s);
    expval_clear(&p);
}

Test(expval, exact_zero_and_division_by_it)
{
    expval a, m, z, i;
    expval_init(&a);
    expval_init(&m);
    expval_init(&z);
    expval_init(&i);
    exp_si(&a, 1, 1);
    rat_si(&m, -1, 1);
    cr_assert_eq(expval_mul(&m, &m, &a), EV_OK);
    cr_assert_eq(expval_add(&z, &a, &m), EV_OK);
    cr_assert(expval_is_zero(&z), "exp(1) - exp(1) is zero");
    assert_rational(&z, 0, 1, "exp(1) - exp(1)");
    cr_assert_eq(expval_inv(&i, &z), EV_DIV_ZERO);
    cr_assert_eq(expval_pow_si(&i, &z, -3), EV_DIV_ZERO);
    cr_assert_eq(expval_pow_si(&i, &z, 3), EV_OK);
    cr_assert(expval_is_zero(&i));
    cr_assert_eq(expval_pow_si(&i, &z, 0), EV_OK);
    assert_rational(&i, 1, 1, "0^0 as in the store");
    expval_clear(&a);
    expval_clear(&m);
    expval_clear(&z);
    expval_clear(&i);

    env e;
    env_init(&e);
    /* folded to 0^-1 by the store: the zero is the failing node */
    assert_text_status(&e, "1/(exp(1) - exp(1))", EV_DIV_ZERO, "0");
    /* zero only by value: the sum is the zero divided by */
    assert_text_rational(&e, "exp(1)*exp(1) - exp(2)", 0, 1);
    assert_text_status(&e, "3 + exp(1/2)/(exp(1)*exp(1) - exp(2))", EV_DIV_ZERO, "exp(1)*exp(1) - exp(2)");
    assert_text_status(&e, "(exp(1)^2 - exp(2))^(-1/2)", EV_DIV_ZERO, "exp(1)^2 - exp(2)");
    /* a small divisor is not a zero one */
    assert_text_rational(&e, "(exp(1)^2 - exp(2) + 1/10^30) * 10^30", 1, 1);
    env_clear(&e);
}

Test(expval, softmax_of_equal_scores_is_rational)
{
    env e;
    env_init(&e);
    /* three keys with the score 2/3 spelled three ways */
    assert_text_rational(&e, "exp(2/3)/(exp(2/3) + exp(1/3)*exp(1/3) + exp(1/6)^4)", 1, 3);
    assert_text_rational(&e, "(5*exp(2/3) - 2*exp(1/3)^2 + 7*exp(1/6)^4)/(exp(2/3) + exp(1/3)*exp(1/3) + exp(1/6)^4)",
                         10, 3);
    /* one key: the output is v exactly */
    assert_text_rational(&e, "(-7/5)*exp(9/4)/exp(9/4)", -7, 5);
    env_clear(&e);

    expval s, v, o;
    expval_init(&s);
    expval_init(&v);
    expval_init(&o);
    exp_si(&s, 9, 4);
    rat_si(&v, -7, 5);
    cr_assert_eq(expval_inv(&o, &s), EV_OK);
    cr_assert_eq(expval_mul(&o, &o, &s), EV_OK);
    cr_assert_eq(expval_mul(&o, &o, &v), EV_OK);
    cr_assert(expval_equal(&o, &v));
    assert_rational(&o, -7, 5, "one key");
    expval_clear(&s);
    expval_clear(&v);
    expval_clear(&o);
}

Test(expval, operations_outside_the_fragment)
{
    env e;
    env_init(&e);
    assert_text_status(&e, "exp(exp(1))", EV_OUTSIDE, "exp(exp(1))");
    assert_text_status(&e, "1 + x*exp(1)", EV_OUTSIDE, "x");
    assert_text_status(&e, "log(2) + 1", EV_OUTSIDE, "log(2)");
    assert_text_status(&e, "tanh(1/2)*3", EV_OUTSIDE, "tanh(1/2)");
    assert_text_status(&e, "2^(1/2)", EV_OUTSIDE, "2^(1/2)");
    assert_text_status(&e, "max(exp(1), 2)", EV_OUTSIDE, "max(exp(1), 2)");
    assert_text_status(&e, "2^exp(1)", EV_OUTSIDE, "2^exp(1)");
    assert_text_status(&e, "(exp(1)*exp(-1)*2)^(1/2)", EV_OUTSIDE, "(exp(1)*exp(-1)*2)^(1/2)");
    /* a failure is recorded and found again */
    assert_text_status(&e, "exp(exp(1))", EV_OUTSIDE, "exp(exp(1))");
    assert_text_status(&e, "5*exp(exp(1)) + 1", EV_OUTSIDE, "exp(exp(1))");
    /* inside the fragment: exp, max, min, abs and roots of rational values */
    assert_text_rational(&e, "exp(exp(1)*exp(-1)) * exp(-1)", 1, 1);
    assert_text_rational(&e, "max(exp(1)*exp(-1), 1/2, -3)", 1, 1);
    assert_text_rational(&e, "min(exp(1)*exp(-1), 1/2 + exp(2)*exp(-2))", 1, 1);
    assert_text_rational(&e, "min(exp(1)*exp(-1), 1/2)", 1, 2);
    assert_text_rational(&e, "abs(exp(1/2)*exp(-1/2) - 3)", 2, 1);
    assert_text_rational(&e, "(exp(1)*exp(-1)*4/9)^(3/2)", 8, 27);
    assert_text_rational(&e, "sqrt(exp(1))*exp(-1/2)", 1, 1);
    assert_text_rational(&e, "(exp(2)*exp(-2) - 1)^(1/3)", 0, 1);
    assert_text_rational(&e, "(-exp(1/5))^(10^30) * exp(-2*10^29)", 1, 1);
    assert_text_rational(&e, "x^0", 1, 1); /* folded by the store */
    env_clear(&e);
}

Test(expval, printing)
{
    env e;
    env_init(&e);
    const char *cases[] = {
        "exp(1/2)/(1 + exp(1/3))",
        "(3*exp(1/2) - 2*exp(2))/(1 + 2*exp(1/3))",
        "1/3",
        "-5",
        "0",
        "exp(-1/2)",
        "-exp(1)/(1 + exp(2))",
        "1/7 - 2/3*exp(1/2)",
        "1 - exp(1/3) + 5/2*exp(7)",
        "(1 - exp(1))/(1 + exp(1/2) - 3/4*exp(5/2))",
    };
    char buf[512];
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        expval v;
        expval_init(&v);
        term_id where;
        cr_assert_eq(eval_text(&v, &where, &e, cases[i]), EV_OK, "'%s'", cases[i]);
        print_to(buf, sizeof buf, &v);
        cr_assert_str_eq(buf, cases[i]);
        expval_clear(&v);
    }
    /* normalisation: the smallest exponent of the denominator becomes 1*exp(0) */
    expval v;
    expval_init(&v);
    term_id where;
    cr_assert_eq(eval_text(&v, &where, &e, "(6*exp(2))/(2*exp(1) + 4*exp(3/2))"), EV_OK);
    print_to(buf, sizeof buf, &v);
    cr_assert_str_eq(buf, "3*exp(1)/(1 + 2*exp(1/2))");
    cr_assert_eq(eval_text(&v, &where, &e, "exp(3)/(2*exp(3))"), EV_OK);
    print_to(buf, sizeof buf, &v);
    cr_assert_str_eq(buf, "1/2");
    /* a rational value prints as the number */
    cr_assert_eq(eval_text(&v, &where, &e, "(exp(1) - exp(2))/(2*exp(1) - 2*exp(2))"), EV_OK);
    print_to(buf, sizeof buf, &v);
    cr_assert_str_eq(buf, "1/2");
    expval_clear(&v);
    env_clear(&e);
}

/* ---- attention blocks against MPFR ---- */

typedef struct block {
    strbuf text;
    source src;
    term_store s;
    script sc;
    diag_list d;
    sys y;
} block;

static void block_build(block *b, const gen_options *o)
{
    strbuf_init(&b->text);
    cr_assert_eq(gen_attention_sb(&b->text, o), 0);
    source_from_string(&b->src, "gen.hmp", strbuf_str(&b->text), b->text.len);
    term_store_init(&b->s);
    script_init(&b->sc);
    diag_init(&b->d);
    cr_assert_eq(parse_script(&b->sc, &b->s, &b->d, &b->src), 0);
    cr_assert_eq(sys_build(&b->y, &b->s, &b->sc, &b->d), 0);
}

static void block_clear(block *b)
{
    sys_clear(&b->y);
    diag_clear(&b->d);
    script_clear(&b->sc);
    term_store_clear(&b->s);
    source_clear(&b->src);
    strbuf_clear(&b->text);
}

static int32_t block_rel(block *b, const char *fmt, uint32_t i, uint32_t j)
{
    char name[64];
    snprintf(name, sizeof name, fmt, i, j);
    int32_t r = sys_relation_of(&b->y, term_sym_cstr(&b->s, name));
    cr_assert(r >= 0, "no relation %s", name);
    return r;
}

/* The number an input relation defines. */
static void block_input(fmpq_t out, block *b, const char *fmt, uint32_t i, uint32_t j)
{
    term_id rhs = b->sc.rels[block_rel(b, fmt, i, j)].rhs;
    cr_assert_eq(term_op_of(&b->s, rhs), OP_NUM);
    fmpq_set(out, term_value(&b->s, rhs));
}

/* Checks every output of the block against softmax attention computed with
 * fmpq loops (q, k, v, scores) and MPFR at 1000 bits (exp, softmax, sums). */
static void check_block(const gen_options *o)
{
    block b;
    block_build(&b, o);
    uint32_t n = o->n, d = o->d;
    fmpq *x = _fmpq_vec_init(n * d), *wq = _fmpq_vec_init(d * d), *wk = _fmpq_vec_init(d * d),
         *wv = _fmpq_vec_init(d * d);
    fmpq *q = _fmpq_vec_init(n * d), *k = _fmpq_vec_init(n * d), *v = _fmpq_vec_init(n * d),
         *sc = _fmpq_vec_init(n * n);
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < d; j++) block_input(x + i * d + j, &b, "x_%u_%u", i + 1, j + 1);
    for (uint32_t i = 0; i < d; i++)
        for (uint32_t j = 0; j < d; j++) {
            block_input(wq + i * d + j, &b, "Wq_%u_%u", i + 1, j + 1);
            block_input(wk + i * d + j, &b, "Wk_%u_%u", i + 1, j + 1);
            block_input(wv + i * d + j, &b, "Wv_%u_%u", i + 1, j + 1);
        }
    /* q_i_j = sum_c Wq_j_c*x_i_c, likewise k and v */
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < d; j++)
            for (uint32_t c = 0; c < d; c++) {
                fmpq_addmul(q + i * d + j, wq + j * d + c, x + i * d + c);
                fmpq_addmul(k + i * d + j, wk + j * d + c, x + i * d + c);
                fmpq_addmul(v + i * d + j, wv + j * d + c, x + i * d + c);
            }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < n; j++)
            for (uint32_t c = 0; c < d; c++) fmpq_addmul(sc + i * n + j, q + i * d + c, k + j * d + c);

    mpfr_t ex[64], den, acc, t;
    cr_assert(n <= 64);
    mpfr_inits2(1000, den, acc, t, (mpfr_ptr)0);
    for (uint32_t j = 0; j < n; j++) mpfr_init2(ex[j], 1000);
    mpq_t m;
    mpq_init(m);
    expval_ctx ctx;
    expval_ctx_init(&ctx, &b.s);
    expval val;
    expval_init(&val);
    arb_t ball;
    arb_init(ball);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t keys = o->causal ? i + 1 : n;
        mpfr_set_zero(den, 1);
        for (uint32_t j = 0; j < keys; j++) {
            fmpq_get_mpq(m, sc + i * n + j);
            mpfr_set_q(ex[j], m, MPFR_RNDN);
            mpfr_exp(ex[j], ex[j], MPFR_RNDN);
            mpfr_add(den, den, ex[j], MPFR_RNDN);
        }
        for (uint32_t c = 0; c < d; c++) {
            mpfr_set_zero(acc, 1);
            for (uint32_t j = 0; j < keys; j++) {
                fmpq_get_mpq(m, v + j * d + c);
                mpfr_mul_q(t, ex[j], m, MPFR_RNDN);
                mpfr_add(acc, acc, t, MPFR_RNDN);
            }
            mpfr_div(acc, acc, den, MPFR_RNDN);
            term_id out = sys_inline_relation(&b.y, (size_t)block_rel(&b, "o_%u_%u", i + 1, c + 1));
            term_id where = TERM_NONE;
            cr_assert_eq(expval_of_term(&val, &where, &ctx, out), EV_OK, "o_%u_%u", i + 1, c + 1);
            expval_arb(ball, &val, 200);
            cr_assert(arb_contains_mpfr(ball, acc), "o_%u_%u: ball misses the MPFR value", i + 1, c + 1);
            if (!expval_is_zero(&val))
                cr_assert(arb_rel_accuracy_bits(ball) > 150, "o_%u_%u: ball too wide", i + 1, c + 1);
            fmpq_t r;
            fmpq_init(r);
            int rational = expval_get_fmpq(r, &val);
            if (keys == 1) { /* one key: the output is v of that key, exactly */
                cr_assert(rational, "o_%u_%u with one key is rational", i + 1, c + 1);
                cr_assert(fmpq_equal(r, v + c), "o_%u_%u = v_1_%u", i + 1, c + 1, c + 1);
            } else {
                /* distinct scores in a row give an irrational output unless
                 * the v column is constant over the keys */
                int same_v = 1;
                for (uint32_t j = 1; j < keys; j++) same_v &= fmpq_equal(v + j * d + c, v + c);
                int distinct = 1;
                for (uint32_t j = 0; j < keys; j++)
                    for (uint32_t l = j + 1; l < keys; l++) distinct &= !fmpq_equal(sc + i * n + j, sc + i * n + l);
                if (distinct) cr_assert_eq(rational, same_v, "o_%u_%u rational iff v constant", i + 1, c + 1);
            }
            fmpq_clear(r);
        }
    }
    arb_clear(ball);
    expval_clear(&val);
    expval_ctx_clear(&ctx);
    mpq_clear(m);
    for (uint32_t j = 0; j < n; j++) mpfr_clear(ex[j]);
    mpfr_clears(den, acc, t, (mpfr_ptr)0);
    _fmpq_vec_clear(x, n * d);
    _fmpq_vec_clear(wq, d * d);
    _fmpq_vec_clear(wk, d * d);
    _fmpq_vec_clear(wv, d * d);
    _fmpq_vec_clear(q, n * d);
    _fmpq_vec_clear(k, n * d);
    _fmpq_vec_clear(v, n * d);
    _fmpq_vec_clear(sc, n * n);
    block_clear(&b);
}

static gen_options block_options(uint32_t n, uint32_t d, int causal, uint64_t seed)
{
    gen_options o;
    gen_options_init(&o);
    o.n = n;
    o.d = d;
    o.causal = causal;
    o.seed = seed;
    return o;
}

Test(expval, attention_block_4x3)
{
    gen_options o = block_options(4, 3, 0, 1);
    check_block(&o);
    o.seed = 12345;
    check_block(&o);
}

Test(expval, attention_block_one_token)
{
    gen_options o = block_options(1, 3, 0, 7);
    check_block(&o);
}

Test(expval, attention_block_causal)
{
    gen_options o = block_options(4, 3, 1, 3);
    check_block(&o);
    o = block_options(6, 2, 1, 99);
    check_block(&o);
}

Test(expval, attention_block_16x4)
{
    gen_options o = block_options(16, 4, 0, 5);
    check_block(&o);
}

/* ---- random expressions against direct ball evaluation ---- */

#define DIRECT_PREC 512

typedef struct item {
    term_id t;
    arb_t ball; /* the value, evaluated directly while building */
} item;

/* A random rational p/q, |p| <= 6, 1 <= q <= 5. */
static void random_fmpq(fmpq_t x, test_rng *r)
{
    fmpq_set_si(x, test_randn(r, 13) - 6, (ulong)(1 + test_randn(r, 5)));
}

static void random_leaf(item *it, term_store *s, test_rng *r)
{
    fmpq_t x;
    fmpq_init(x);
    random_fmpq(x, r);
    arb_set_fmpq(it->ball, x, DIRECT_PREC);
    it->t = term_num(s, x);
    if (test_randn(r, 3) != 0) { /* exp(p/q), sometimes times a rational */
        arb_exp(it->ball, it->ball, DIRECT_PREC);
        it->t = term_exp(s, it->t);
        if (test_randn(r, 2)) {
            random_fmpq(x, r);
            if (fmpq_is_zero(x)) fmpq_one(x);
            arb_t c;
            arb_init(c);
            arb_set_fmpq(c, x, DIRECT_PREC);
            arb_mul(it->ball, it->ball, c, DIRECT_PREC);
            arb_clear(c);
            it->t = term_mul2(s, term_num(s, x), it->t);
        }
    }
    fmpq_clear(x);
}

/* Builds in pool[0..n) a random DAG; the last item is the expression. The
 * terms go through the store's constructors, the balls through Arb. */
static size_t random_expression(item *pool, size_t cap, term_store *s, test_rng *r)
{
    size_t n = 0;
    for (int i = 0; i < 3; i++) random_leaf(&pool[n++], s, r);
    int steps = 4 + test_randn(r, 7);
    for (int k = 0; k < steps && n < cap; k++) {
        /* the newest item half the time, so that the expression nests */
        item *a = &pool[test_randn(r, 2) ? n - 1 : (size_t)test_randn(r, (int)n)];
        item *b = &pool[test_randn(r, (int)n)];
        item *o = &pool[n];
        int op = k + 1 < steps ? test_randn(r, 7) : 1 + test_randn(r, 6); /* last: no leaf */
        int b_nonzero = !arb_contains_zero(b->ball);
        int a_nonzero = !arb_contains_zero(a->ball);
        if (op == 0) {
            random_leaf(o, s, r);
        } else if (op == 1) {
            o->t = term_add2(s, a->t, b->t);
            arb_add(o->ball, a->ball, b->ball, DIRECT_PREC);
        } else if (op == 2) {
            o->t = term_sub(s, a->t, b->t);
            arb_sub(o->ball, a->ball, b->ball, DIRECT_PREC);
        } else if (op == 3 || (op == 4 && !b_nonzero)) {
            o->t = term_mul2(s, a->t, b->t);
            arb_mul(o->ball, a->ball, b->ball, DIRECT_PREC);
        } else if (op == 4) {
            o->t = term_div(s, a->t, b->t);
            arb_div(o->ball, a->ball, b->ball, DIRECT_PREC);
        } else {
            /* small integer powers: 2, 3, and -1, -2 of nonzero values */
            slong e = a_nonzero ? (slong[]){ 2, 3, -1, -2 }[test_randn(r, 4)] : 2 + test_randn(r, 2);
            o->t = term_pow_si(s, a->t, e);
            arb_pow_ui(o->ball, a->ball, (ulong)(e < 0 ? -e : e), DIRECT_PREC);
            if (e < 0) arb_inv(o->ball, o->ball, DIRECT_PREC);
        }
        n++;
    }
    return n;
}

Test(expval, random_expressions_against_balls)
{
    test_rng r = { 20240607 };
    int iters = 1000 * test_multiplier();
    enum { CAP = 16 };
    item pool[CAP];
    for (int i = 0; i < CAP; i++) arb_init(pool[i].ball);
    expval v, w, x, z;
    expval_init(&v);
    expval_init(&w);
    expval_init(&x);
    expval_init(&z);
    arb_t e;
    arb_init(e);
    fmpq_t q;
    fmpq_init(q);
    strbuf text;
    strbuf_init(&text);
    int n_rational = 0, n_zero = 0;
    for (int it = 0; it < iters; it++) {
        env en;
        env_init(&en);
        size_t n = random_expression(pool, CAP, &en.s, &r);
        const item *top = &pool[n - 1];
        term_id where;
        int st = expval_of_term(&v, &where, &en.ctx, top->t);
        cr_assert_eq(st, EV_OK, "iteration %d: status %d", it, st);
        /* the exact value lies in the directly computed ball */
        expval_arb(e, &v, 256);
        cr_assert(arb_overlaps(e, top->ball), "iteration %d: balls disjoint", it);
        if (expval_is_zero(&v)) {
            n_zero++;
            cr_assert(arb_contains_zero(top->ball));
        } else {
            /* cancellation in a long sum may cost bits at 256; not at 1024 */
            expval_arb(e, &v, 1024);
            cr_assert(arb_overlaps(e, top->ball), "iteration %d: balls disjoint", it);
            cr_assert(arb_rel_accuracy_bits(e) > 256, "iteration %d: ball too wide", it);
        }
        if (expval_get_fmpq(q, &v)) {
            n_rational++;
            cr_assert(arb_contains_fmpq(top->ball, q), "iteration %d: rational outside the ball", it);
        }
        /* e - e = 0 */
        rat_si(&w, -1, 1);
        cr_assert_eq(expval_mul(&w, &w, &v), EV_OK);
        cr_assert_eq(expval_add(&z, &v, &w), EV_OK);
        cr_assert(expval_is_zero(&z), "iteration %d: e - e is not zero", it);
        /* e * inv(e) = 1, and e*x/x = e for another nonzero value x */
        if (!expval_is_zero(&v)) {
            cr_assert_eq(expval_inv(&w, &v), EV_OK);
            cr_assert_eq(expval_mul(&w, &w, &v), EV_OK);
            assert_rational(&w, 1, 1, "e*inv(e)");
        } else {
            cr_assert_eq(expval_inv(&w, &v), EV_DIV_ZERO);
        }
        for (size_t j = 0; j + 1 < n; j++) {
            if (arb_contains_zero(pool[j].ball)) continue;
            cr_assert_eq(expval_of_term(&x, &where, &en.ctx, pool[j].t), EV_OK);
            cr_assert_eq(expval_mul(&w, &v, &x), EV_OK);
            cr_assert_eq(expval_inv(&x, &x), EV_OK);
            cr_assert_eq(expval_mul(&w, &w, &x), EV_OK);
            cr_assert(expval_equal(&w, &v), "iteration %d: e*x/x != e", it);
            /* equal iff the difference is zero; unequal where balls are disjoint */
            cr_assert_eq(expval_of_term(&x, &where, &en.ctx, pool[j].t), EV_OK);
            int eq = expval_equal(&v, &x);
            rat_si(&w, -1, 1);
            cr_assert_eq(expval_mul(&w, &w, &x), EV_OK);
            cr_assert_eq(expval_add(&z, &v, &w), EV_OK);
            cr_assert_eq(eq, expval_is_zero(&z), "iteration %d: equal vs difference", it);
            if (!arb_overlaps(pool[j].ball, top->ball)) cr_assert(!eq);
            break;
        }
        /* printing round trip */
        strbuf_reset(&text);
        expval_print(&text, &v);
        term_id back = parse_text(&en.s, strbuf_str(&text));
        cr_assert_eq(expval_of_term(&w, &where, &en.ctx, back), EV_OK, "'%s'", strbuf_str(&text));
        cr_assert(expval_equal(&w, &v), "iteration %d: '%s' reads back differently", it, strbuf_str(&text));
        env_clear(&en);
    }
    /* the generator reaches both kinds */
    cr_assert(n_rational > 0 && n_rational < iters, "rational %d of %d", n_rational, iters);
    cr_assert(n_zero > 0, "no exact zero among %d", iters);
    strbuf_clear(&text);
    fmpq_clear(q);
    arb_clear(e);
    expval_clear(&v);
    expval_clear(&w);
    expval_clear(&x);
    expval_clear(&z);
    for (int i = 0; i < CAP; i++) arb_clear(pool[i].ball);
}

/* (q*S*T + q*S)/((T + 1)*S) = q for random exp sums S, T: terms the store
 * does not simplify, whose value only exact arithmetic sees is rational. */
Test(expval, hidden_rationals_are_detected)
{
    test_rng r = { 77 };
    int iters = 200 * test_multiplier();
    expval v;
    expval_init(&v);
    fmpq_t q, got, c;
    fmpq_init(q);
    fmpq_init(got);
    fmpq_init(c);
    for (int it = 0; it < iters; it++) {
        env e;
        env_init(&e);
        term_id sum[2];
        arb_t ball[2];
        for (int k = 0; k < 2; k++) {
            arb_init(ball[k]);
            do {
                int m = 1 + test_randn(&r, 4);
                term_id *terms = malloc((size_t)m * sizeof(term_id));
                arb_zero(ball[k]);
                for (int i = 0; i < m; i++) {
                    item leaf;
                    arb_init(leaf.ball);
                    random_leaf(&leaf, &e.s, &r);
                    terms[i] = leaf.t;
                    arb_add(ball[k], ball[k], leaf.ball, DIRECT_PREC);
                    arb_clear(leaf.ball);
                }
                sum[k] = term_add(&e.s, terms, (size_t)m);
                free(terms);
            } while (arb_contains_zero(ball[k]));
        }
        arb_t t1;
        arb_init(t1);
        arb_add_si(t1, ball[1], 1, DIRECT_PREC);
        int ok = !arb_contains_zero(t1);
        arb_clear(t1);
        do random_fmpq(q, &r);
        while (fmpq_is_zero(q));
        if (ok) {
            term_id S = sum[0], T = sum[1], Q = term_num(&e.s, q);
            term_id num = term_add2(&e.s, term_mul(&e.s, (term_id[]){ Q, S, T }, 3), term_mul2(&e.s, Q, S));
            term_id den = term_mul2(&e.s, term_add2(&e.s, T, e.s.one), S);
            term_id t = term_div(&e.s, num, den);
            term_id where;
            cr_assert_eq(expval_of_term(&v, &where, &e.ctx, t), EV_OK);
            cr_assert(expval_get_fmpq(got, &v), "iteration %d: not detected rational", it);
            cr_assert(fmpq_equal(got, q), "iteration %d: wrong rational", it);
            cr_assert(v.num.n == 1 && v.den.n == 1, "iteration %d: a rational is kept as q/1", it);
            /* and q + exp(1/97) is not rational */
            fmpq_set_si(c, 1, 97);
            t = term_add2(&e.s, t, term_exp(&e.s, term_num(&e.s, c)));
            cr_assert_eq(expval_of_term(&v, &where, &e.ctx, t), EV_OK);
            cr_assert(!expval_get_fmpq(got, &v));
        }
        arb_clear(ball[0]);
        arb_clear(ball[1]);
        env_clear(&e);
    }
    fmpq_clear(q);
    fmpq_clear(got);
    fmpq_clear(c);
    expval_clear(&v);
}

/* ---- the memo, depth, a growing store ---- */

/* t_{i+1} = t_i*exp(1/7) + t_i*exp(-1/7): every level uses t_i twice, so the
 * tree has 2^200 leaves; the value is sum_k binom(200, k)*exp((2k - 200)/7). */
Test(expval, shared_dag_is_evaluated_once_per_node)
{
    env e;
    env_init(&e);
    const slong levels = 200;
    term_id a = term_exp(&e.s, term_num_si(&e.s, 1, 7)), b = term_exp(&e.s, term_num_si(&e.s, -1, 7));
    term_id t = e.s.one;
    for (slong i = 0; i < levels; i++) t = term_add2(&e.s, term_mul2(&e.s, t, a), term_mul2(&e.s, t, b));
    expval v;
    expval_init(&v);
    term_id where;
    cr_assert_eq(expval_of_term(&v, &where, &e.ctx, t), EV_OK);
    cr_assert_eq(v.num.n, levels + 1);
    cr_assert_eq(v.den.n, 1);
    fmpz_t c;
    fmpq_t x;
    fmpz_init(c);
    fmpq_init(x);
    for (slong k = 0; k <= levels; k++) {
        fmpz_bin_uiui(c, (ulong)levels, (ulong)k);
        fmpz_set(fmpq_numref(x), c);
        fmpz_one(fmpq_denref(x));
        cr_assert(fmpq_equal(v.num.c + k, x), "coefficient %ld", (long)k);
        fmpq_set_si(x, 2 * k - levels, 7);
        cr_assert(fmpq_equal(v.num.r + k, x), "exponent %ld", (long)k);
    }
    /* evaluated again: the value is memoised */
    expval w;
    expval_init(&w);
    cr_assert_eq(expval_of_term(&w, &where, &e.ctx, t), EV_OK);
    cr_assert(expval_equal(&v, &w));
    expval_clear(&w);
    fmpz_clear(c);
    fmpq_clear(x);
    expval_clear(&v);
    env_clear(&e);
}

/* Values kept between calls: the root's and those of nodes with several
 * parents; a value one parent used is released. Failures stay recorded. */
Test(expval, memo_keeps_shared_values)
{
    env e;
    env_init(&e);
    term_id d = parse_text(&e.s, "exp(1/2) + exp(1/3) + exp(-1)");
    term_id inv = term_pow_si(&e.s, d, -1);
    term_id t = parse_text(&e.s, "2*exp(1/2)/(exp(1/2) + exp(1/3) + exp(-1)) + 3*exp(1/3)/(exp(1/2) + exp(1/3) + exp(-1))");
    expval v;
    expval_init(&v);
    term_id where;
    cr_assert_eq(expval_of_term(&v, &where, &e.ctx, t), EV_OK);
    cr_assert_eq(e.ctx.state[t], 1);
    cr_assert_eq(e.ctx.state[inv], 1, "shared by both summands");
    cr_assert_eq(e.ctx.state[d], 0, "used by the inverse only");
    cr_assert_eq(e.ctx.state[term_arg(&e.s, t, 0)], 0);
    expval w;
    expval_init(&w);
    cr_assert_eq(expval_of_term(&w, &where, &e.ctx, inv), EV_OK);
    cr_assert(expval_equal(&w, e.ctx.memo + inv));
    cr_assert_eq(expval_of_term(&w, &where, &e.ctx, d), EV_OK);
    cr_assert_eq(expval_pow_si(&w, &w, -1), EV_OK);
    cr_assert(expval_equal(&w, e.ctx.memo + inv));
    char buf[256];
    print_to(buf, sizeof buf, &v);
    cr_assert_str_eq(buf, "(3*exp(4/3) + 2*exp(3/2))/(1 + exp(4/3) + exp(3/2))");
    term_id bad = parse_text(&e.s, "1/(exp(1/2)^2 - exp(1))");
    cr_assert_eq(expval_of_term(&w, &where, &e.ctx, bad), EV_DIV_ZERO);
    cr_assert_eq(e.ctx.state[bad], 2);
    cr_assert_eq(e.ctx.status[bad], EV_DIV_ZERO);
    expval_clear(&v);
    expval_clear(&w);
    env_clear(&e);
}

/* t_{i+1} = abs(t_i*exp(1)*exp(-1) - 1), t_0 = 1/3: a chain far deeper than
 * any recursion could go, alternating 1/3, 2/3. */
Test(expval, deep_chain_is_iterative)
{
    env e;
    env_init(&e);
    const slong levels = getenv("HMP_SANITIZED") ? 100000 : 400000;
    term_id u = term_exp(&e.s, e.s.one), w = term_exp(&e.s, e.s.minus_one);
    term_id t = term_num_si(&e.s, 1, 3);
    for (slong i = 0; i < levels; i++)
        t = term_abs(&e.s, term_sub(&e.s, term_mul(&e.s, (term_id[]){ t, u, w }, 3), e.s.one));
    expval v;
    expval_init(&v);
    term_id where;
    cr_assert_eq(expval_of_term(&v, &where, &e.ctx, t), EV_OK);
    assert_rational(&v, levels % 2 ? 2 : 1, 3, "deep chain");
    /* the store grows; the same context evaluates the new terms */
    term_id t2 = term_mul2(&e.s, term_add2(&e.s, t, u), w);
    cr_assert_eq(expval_of_term(&v, &where, &e.ctx, t2), EV_OK);
    expval a, b;
    expval_init(&a);
    expval_init(&b);
    rat_si(&a, levels % 2 ? 2 : 1, 3);
    exp_si(&b, -1, 1);
    cr_assert_eq(expval_mul(&a, &a, &b), EV_OK);
    rat_si(&b, 1, 1);
    cr_assert_eq(expval_add(&a, &a, &b), EV_OK);
    cr_assert(expval_equal(&v, &a));
    expval_clear(&a);
    expval_clear(&b);
    /* a failure deep down is reported at its node */
    term_id bad = term_exp(&e.s, term_exp(&e.s, term_num_si(&e.s, 1, 2)));
    term_id t3 = term_add2(&e.s, term_mul2(&e.s, t, bad), e.s.one);
    cr_assert_eq(expval_of_term(&v, &where, &e.ctx, t3), EV_OUTSIDE);
    cr_assert_eq(where, bad);
    cr_assert(expval_is_zero(&v));
    expval_clear(&v);
    env_clear(&e);
}

/* ---- limits ---- */

/* sum_{i < n} exp(i/den) */
static void exp_range(expval *out, slong n, slong den)
{
    expval t;
    expval_init(&t);
    rat_si(out, 0, 1);
    for (slong i = 0; i < n; i++) {
        exp_si(&t, i, den);
        cr_assert_eq(expval_add(out, out, &t), EV_OK);
    }
    expval_clear(&t);
}

Test(expval, products_past_the_term_limit_fail_fast)
{
    expval a, b, c;
    expval_init(&a);
    expval_init(&b);
    expval_init(&c);
    exp_range(&a, 1001, 1009);
    exp_range(&b, 1001, 1013);
    cr_assert_eq(a.num.n, 1001);
    cr_assert_eq(expval_mul(&c, &a, &b), EV_TOO_BIG);
    cr_assert_eq(expval_pow_si(&c, &a, 2), EV_TOO_BIG);
    /* a big sum over a different big denominator needs the same products */
    cr_assert_eq(expval_inv(&c, &b), EV_OK);
    cr_assert_eq(expval_add(&c, &a, &c), EV_TOO_BIG);
    /* huge powers of a sum stop at the limit */
    exp_range(&a, 3, 2);
    cr_assert_eq(expval_pow_si(&c, &a, (slong)1 << 40), EV_TOO_BIG);
    cr_assert_eq(expval_pow_si(&c, &a, -((slong)1 << 40)), EV_TOO_BIG);
    /* within the limit: 999 x 1001 terms */
    exp_range(&a, 999, 1009);
    cr_assert_eq(expval_mul(&c, &a, &b), EV_OK);
    cr_assert(c.num.n > 900000);
    expval_clear(&a);
    expval_clear(&b);
    expval_clear(&c);
}

Test(expval, numbers_past_the_bit_limit)
{
    expval a, c;
    expval_init(&a);
    expval_init(&c);
    rat_si(&a, 3, 1);
    cr_assert_eq(expval_pow_si(&c, &a, 700000), EV_TOO_BIG); /* 1,109,000 bits */
    cr_assert(expval_is_zero(&c));
    cr_assert_eq(expval_pow_si(&c, &a, 600000), EV_OK); /* 951,000 bits */
    fmpz_t p;
    fmpz_init(p);
    fmpz_ui_pow_ui(p, 3, 600000);
    cr_assert(fmpz_equal(fmpq_numref(c.num.c), p));
    fmpz_clear(p);
    cr_assert_eq(expval_pow_si(&c, &a, WORD_MAX), EV_TOO_BIG);
    /* +-exp(r) to any power stays small */
    exp_si(&a, -1, 3);
    cr_assert_eq(expval_pow_si(&c, &a, WORD_MIN), EV_OK);
    cr_assert_eq(c.num.n, 1);
    expval_clear(&a);
    expval_clear(&c);

    env e;
    env_init(&e);
    assert_text_status(&e, "exp(2^1100000)", EV_TOO_BIG, "2^1100000");
    assert_text_status(&e, "exp(1/3) * 5^500000", EV_TOO_BIG, NULL);
    assert_text_status(&e, "(1 + exp(1/3))^(10^40)", EV_TOO_BIG, NULL);
    env_clear(&e);
}

/* ---- lse: exp(r + c_1*lse(A_1) + ...) is in the fragment ---- */

static void assert_text_prints(env *e, const char *text, const char *want)
{
    expval v;
    expval_init(&v);
    term_id where;
    int st = eval_text(&v, &where, e, text);
    cr_assert_eq(st, EV_OK, "'%s': status %d", text, st);
    char buf[512];
    print_to(buf, sizeof buf, &v);
    cr_assert_str_eq(buf, want, "'%s'", text);
    expval_clear(&v);
}

Test(expval, lse_inside_exp)
{
    env e;
    env_init(&e);
    assert_text_prints(&e, "exp(lse(1, 2))", "exp(1) + exp(2)");
    assert_text_prints(&e, "exp(2*lse(0, 1))", "1 + 2*exp(1) + exp(2)");
    assert_text_prints(&e, "exp(-lse(0, 1))", "1/(1 + exp(1))");
    assert_text_prints(&e, "exp(1/2 - lse(0, 0))", "1/2*exp(1/2)"); /* duplicates count: exp(1/2)/2 */
    assert_text_prints(&e, "exp(lse(1, 2) - lse(3, 4, 4))", "(exp(-2) + exp(-1))/(1 + 2*exp(1))");
    assert_text_prints(&e, "exp(lse(2, 2, 2, 2)/2)", "2*exp(1)"); /* (4*exp(2))^(1/2), an exact root */
    assert_text_prints(&e, "exp(lse(0, 1 + lse(1, 2)))", "1 + exp(2) + exp(3)"); /* an lse inside an lse */
    assert_text_prints(&e, "3*exp(1/3 - lse(1/3, 1/2)) + exp(1/2 - lse(1/3, 1/2))", "(3 + exp(1/6))/(1 + exp(1/6))");
    /* (lse(1,2) + 1)*2: a number times a sum with an lse in it */
    assert_text_prints(&e, "exp((lse(1, 2) + 1)*2 - 2*lse(1, 2))", "exp(2)");
    assert_text_rational(&e, "exp(-lse(0, 0, 0))", 1, 3);
    assert_text_rational(&e, "exp(lse(1/3, 1/3) - 1/3)", 2, 1);
    assert_text_rational(&e, "exp(1/5 - lse(1/5, 1/5)) + exp(1/5 - lse(1/5, 1/5))", 1, 1);
    /* exp(1)^lse(...) style: exp(x*log(y)) is not the form; an lse alone is a logarithm */
    assert_text_status(&e, "lse(1, 2)", EV_OUTSIDE, "lse(1, 2)");
    assert_text_status(&e, "1 + lse(1, 2)", EV_OUTSIDE, "1 + lse(1, 2)");
    assert_text_status(&e, "log(lse(1, 2))", EV_OUTSIDE, "log(lse(1, 2))");
    assert_text_status(&e, "lse(1, 2)^2 + 1", EV_OUTSIDE, "lse(1, 2)^2");
    assert_text_status(&e, "max(lse(0, 1), 2)", EV_OUTSIDE, "max(lse(0, 1), 2)");
    assert_text_status(&e, "exp(lse(0, 1)/2)", EV_OUTSIDE, "exp(lse(0, 1)/2)"); /* sqrt(1 + e) */
    assert_text_status(&e, "exp(lse(1, 1)/2)", EV_OUTSIDE, "exp(lse(1, 1)/2)");   /* sqrt(2)*exp(1/2) */
    assert_text_status(&e, "exp(exp(1) + lse(0, 1))", EV_OUTSIDE, "exp(1) + lse(0, 1)");
    assert_text_status(&e, "exp(lse(0, 1)*lse(0, 2))", EV_OUTSIDE, "lse(0, 1)*lse(0, 2)");
    assert_text_status(&e, "exp(exp(1)*lse(0, 2))", EV_OUTSIDE, "exp(1)*lse(0, 2)");
    assert_text_status(&e, "lse(exp(1), 0) + 2", EV_OUTSIDE, "lse(exp(1), 0)");
    assert_text_status(&e, "exp(lse(0, x))", EV_OUTSIDE, "x");
    assert_text_status(&e, "exp(lse(0, 1/(exp(1/2)^2 - exp(1))))", EV_DIV_ZERO, "exp(1/2)^2 - exp(1)");
    assert_text_status(&e, "exp(10^40*lse(0, 1))", EV_TOO_BIG, NULL);
    /* the fragment's values printed back parse to the same value */
    expval v, w;
    expval_init(&v);
    expval_init(&w);
    term_id where;
    cr_assert_eq(eval_text(&v, &where, &e, "exp(1/7 - lse(1/7, -2/3, 5/2, 5/2))"), EV_OK);
    strbuf b;
    strbuf_init(&b);
    expval_print(&b, &v);
    cr_assert_eq(eval_text(&w, &where, &e, strbuf_str(&b)), EV_OK);
    cr_assert(expval_equal(&v, &w));
    strbuf_clear(&b);
    expval_clear(&v);
    expval_clear(&w);
    env_clear(&e);
}

/* A row shares one lse node; its sum stays memoised (state 4) while the
 * nodes between it and the exps are released; outputs built from the
 * entries (a weighted sum of them) are evaluated whole. */
Test(expval, lse_row_in_a_dag)
{
    env e;
    env_init(&e);
    enum { N = 50 };
    term_id s[N], ex[N], entry[N], weighted[N];
    for (int k = 0; k < N; k++) {
        s[k] = term_num_si(&e.s, (k * 37) % 23 - 11, 1 + k % 4);
        ex[k] = term_exp(&e.s, s[k]);
    }
    term_id l = term_lse(&e.s, s, N);
    cr_assert_eq(term_op_of(&e.s, l), OP_LSE);
    term_id plain_den = term_pow_si(&e.s, term_add(&e.s, ex, N), -1);
    for (int k = 0; k < N; k++) {
        entry[k] = term_exp(&e.s, term_sub(&e.s, s[k], l));
        weighted[k] = term_mul2(&e.s, term_num_si(&e.s, k + 1, 1), entry[k]);
    }
    term_id o = term_add(&e.s, weighted, N);
    term_id total = term_add(&e.s, entry, N);
    expval v, w;
    expval_init(&v);
    expval_init(&w);
    term_id where;
    cr_assert_eq(expval_of_term(&v, &where, &e.ctx, o), EV_OK);
    cr_assert_eq(e.ctx.state[l], 4, "the row's sum is kept");
    cr_assert_eq(e.ctx.state[term_arg(&e.s, entry[0], 0)], 0, "s_1 - lse(row), used once, is released");
    for (int k = 0; k < N; k++) weighted[k] = term_mul(&e.s, (term_id[]){ term_num_si(&e.s, k + 1, 1), ex[k], plain_den }, 3);
    term_id o_plain = term_add(&e.s, weighted, N);
    cr_assert_eq(expval_of_term(&w, &where, &e.ctx, o_plain), EV_OK);
    cr_assert(expval_equal(&v, &w));
    cr_assert_eq(expval_of_term(&v, &where, &e.ctx, total), EV_OK);
    assert_rational(&v, 1, 1, "a row of softmax weights sums to 1");
    for (int k = 0; k < N; k += 7) { /* each entry again, later */
        cr_assert_eq(expval_of_term(&v, &where, &e.ctx, entry[k]), EV_OK);
        cr_assert_eq(expval_of_term(&w, &where, &e.ctx, term_mul2(&e.s, ex[k], plain_den)), EV_OK);
        cr_assert(expval_equal(&v, &w));
    }
    /* the lse itself is still no value */
    cr_assert_eq(expval_of_term(&v, &where, &e.ctx, l), EV_OUTSIDE);
    cr_assert_eq(where, l);
    expval_clear(&v);
    expval_clear(&w);
    env_clear(&e);
}

/* >= 1,000 random rational rows (duplicates now and then): every entry
 * exp(s_j - lse(row)) equals exp(s_j)/sum_k exp(s_k) exactly and prints the
 * same; the entries of a row sum to exactly 1; the value's ball meets an MPFR
 * softmax computed by a plain loop at 600 bits. */
Test(expval, property_softmax_rows_lse_form)
{
    test_rng r = { 20240611 };
    int iters = 1000 * test_multiplier(), dups = 0, entries = 0;
    env e;
    env_init(&e);
    mpfr_t num, den, x;
    mpfr_inits2(600, num, den, x, (mpfr_ptr)0);
    mpq_t m;
    mpq_init(m);
    fmpq_t q[8];
    for (int k = 0; k < 8; k++) fmpq_init(q[k]);
    expval a, b;
    expval_init(&a);
    expval_init(&b);
    arb_t ball, ref;
    arb_init(ball);
    arb_init(ref);
    strbuf pa, pb;
    strbuf_init(&pa);
    strbuf_init(&pb);
    for (int it = 0; it < iters; it++) {
        int n = 1 + test_randn(&r, 8);
        term_id s[8], ex[8], entry[8];
        for (int k = 0; k < n; k++) {
            if (k > 0 && test_randn(&r, 5) == 0) {
                fmpq_set(q[k], q[test_randn(&r, k)]);
                dups++;
            } else {
                fmpq_set_si(q[k], test_randn(&r, 41) - 20, (ulong)(1 + test_randn(&r, 7)));
            }
            s[k] = term_num(&e.s, q[k]);
            ex[k] = term_exp(&e.s, s[k]);
        }
        term_id l = term_lse(&e.s, s, (size_t)n);
        term_id inv = term_pow_si(&e.s, term_add(&e.s, ex, (size_t)n), -1);
        mpfr_set_zero(den, 1);
        for (int k = 0; k < n; k++) {
            fmpq_get_mpq(m, q[k]);
            mpfr_set_q(x, m, MPFR_RNDN);
            mpfr_exp(x, x, MPFR_RNDN);
            mpfr_add(den, den, x, MPFR_RNDN);
        }
        for (int j = 0; j < n; j++) {
            entry[j] = term_exp(&e.s, term_sub(&e.s, s[j], l));
            term_id plain = term_mul2(&e.s, ex[j], inv);
            term_id where;
            cr_assert_eq(expval_of_term(&a, &where, &e.ctx, entry[j]), EV_OK, "row %d entry %d", it, j);
            cr_assert_eq(expval_of_term(&b, &where, &e.ctx, plain), EV_OK);
            cr_assert(expval_equal(&a, &b), "row %d entry %d", it, j);
            strbuf_reset(&pa);
            strbuf_reset(&pb);
            expval_print(&pa, &a);
            expval_print(&pb, &b);
            cr_assert_str_eq(strbuf_str(&pa), strbuf_str(&pb));
            fmpq_get_mpq(m, q[j]);
            mpfr_set_q(num, m, MPFR_RNDN);
            mpfr_exp(num, num, MPFR_RNDN);
            mpfr_div(x, num, den, MPFR_RNDN);
            arf_set_mpfr(arb_midref(ref), x);
            mag_set_ui_2exp_si(arb_radref(ref), 1, mpfr_get_exp(x) - 550);
            expval_arb(ball, &a, 256);
            cr_assert(arb_overlaps(ball, ref), "row %d entry %d: %s", it, j, strbuf_str(&pa));
            entries++;
        }
        term_id where;
        cr_assert_eq(expval_of_term(&a, &where, &e.ctx, term_add(&e.s, entry, (size_t)n)), EV_OK);
        assert_rational(&a, 1, 1, "sum of a row");
        if (it % 100 == 99) { /* a fresh store now and then keeps memory flat */
            env_clear(&e);
            env_init(&e);
        }
    }
    cr_assert_geq(entries, iters);
    cr_assert_gt(dups, iters / 10);
    strbuf_clear(&pa);
    strbuf_clear(&pb);
    arb_clear(ball);
    arb_clear(ref);
    expval_clear(&a);
    expval_clear(&b);
    for (int k = 0; k < 8; k++) fmpq_clear(q[k]);
    mpq_clear(m);
    mpfr_clears(num, den, x, (mpfr_ptr)0);
    mpfr_free_cache();
    env_clear(&e);
}

/* -inf has no value: EV_NINF at the innermost term around it, also once
 * -inf itself has been asked for (its failure is recorded). Folded uses are
 * ordinary values. */
Test(expval, neg_inf)
{
    env e;
    env_init(&e);
    expval v;
    expval_init(&v);
    term_id where, ninf = term_neg_inf(&e.s);
    cr_assert_eq(expval_of_term(&v, &where, &e.ctx, ninf), EV_NINF);
    cr_assert_eq(where, ninf);
    cr_assert(expval_is_zero(&v));
    term_id lg = term_log(&e.s, ninf);
    cr_assert_eq(expval_of_term(&v, &where, &e.ctx, term_add2(&e.s, lg, e.s.one)), EV_NINF);
    cr_assert_eq(where, lg);
    term_id pinf = term_mul2(&e.s, e.s.minus_one, ninf);
    term_id t = term_add2(&e.s, pinf, term_exp(&e.s, e.s.one));
    cr_assert(term_has_ninf(&e.s, t));
    term_id t3 = term_mul2(&e.s, t, term_num_si(&e.s, 3, 1));
    cr_assert_eq(expval_of_term(&v, &where, &e.ctx, t3), EV_NINF);
    cr_assert_eq(where, pinf);
    cr_assert_eq(e.ctx.state[t3], 2);
    cr_assert_eq(e.ctx.status[t3], EV_NINF);
    cr_assert_eq(e.ctx.state[t], 0, "below a term around -inf nothing is evaluated");
    cr_assert_eq(expval_of_term(&v, &where, &e.ctx, t3), EV_NINF, "recorded");
    cr_assert_eq(where, pinf);
    /* the parser's -inf is the store's; folds give values */
    cr_assert_eq(parse_text(&e.s, "-inf"), ninf);
    assert_text_rational(&e, "exp(-inf) + 1/2", 1, 2);
    assert_text_rational(&e, "max(-inf, 1/3, -2)", 1, 3);
    assert_text_rational(&e, "exp(1/4 - lse(-inf, 1/4, 1/4))", 1, 2);
    assert_text_rational(&e, "tanh(-inf)*2", -2, 1);
    assert_text_status(&e, "exp(log(-inf))", EV_NINF, "log(-inf)");
    assert_text_status(&e, "abs(-inf) + 1", EV_NINF, "abs(-inf)");
    assert_text_status(&e, "exp(1)*(-inf)", EV_NINF, "exp(1)*(-inf)");
    assert_text_status(&e, "min(-inf, 2)", EV_NINF, "-inf");
    expval_clear(&v);
    env_clear(&e);
}

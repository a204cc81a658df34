/* Tests for expval against references: attention blocks against an MPFR
 * softmax computed by plain loops, random expressions against direct ball
 * evaluation, rationals hidden in exp sums detected. */
#include <criterion/criterion.h>
#include <mpfr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <flint/fmpq.h>
#include <flint/fmpz.h>

#include "core/diag.h"
#include "core/parse.h"
#include "core/system.h"
#include "core/term.h"
#include "eval/expval.h"
#include "io/gen.h"
#include "tests/lib/testexpval.h"
#include "tests/lib/testgen.h"
#include "tests/lib/testlib.h"
#include "tests/lib/testscript.h"

/* ---- attention blocks against MPFR ---- */

typedef test_script block;

static void block_build(block *b, const gen_options *o)
{
    char *text = test_gen_text(o);
    cr_assert(text != NULL);
    test_script_load(b, text);
    free(text);
}

static void block_clear(block *b) { test_script_clear(b); }

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

Test(expval, attention_block_4x3)
{
    gen_options o = test_gen_options(4, 3, 1, 0, 1);
    check_block(&o);
    o.seed = 12345;
    check_block(&o);
}

Test(expval, attention_block_one_token)
{
    gen_options o = test_gen_options(1, 3, 1, 0, 7);
    check_block(&o);
}

Test(expval, attention_block_causal)
{
    gen_options o = test_gen_options(4, 3, 1, TEST_GEN_CAUSAL, 3);
    check_block(&o);
    o = test_gen_options(6, 2, 1, TEST_GEN_CAUSAL, 99);
    check_block(&o);
}

Test(expval, attention_block_16x4)
{
    gen_options o = test_gen_options(16, 4, 1, 0, 5);
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

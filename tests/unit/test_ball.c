/* Tests of core/eval/ball: Arb balls of terms contain the values computed by
 * a second method (MPFR at 2000 bits, term by term); statuses. */
#include <criterion/criterion.h>
#include <mpfr.h>
#include <stdlib.h>

#include "eval/ball.h"
#include "core/term.h"
#include "tests/lib/testlib.h"

static term_store S;
static test_rng rng;
static void setup(void) { term_store_init(&S); }
static void teardown(void) { term_store_clear(&S); mpfr_free_cache(); }
TestSuite(ball, .init = setup, .fini = teardown);

#define HIGH 2000

/* A random term over rationals that stays in every domain, with its value
 * computed at the same time with MPFR (round to nearest at HIGH bits). */
static term_id random_valued(mpfr_t v, int depth)
{
    int k = depth <= 0 ? 0 : test_randn(&rng, 11);
    if (k == 0) {
        slong p = test_randn(&rng, 41) - 20, q = test_randn(&rng, 9) + 1;
        mpfr_set_si(v, p, MPFR_RNDN);
        mpfr_div_si(v, v, q, MPFR_RNDN);
        return term_num_si(&S, p, q);
    }
    mpfr_t a, b;
    mpfr_init2(a, HIGH);
    mpfr_init2(b, HIGH);
    term_id x = random_valued(a, depth - 1), t;
    switch (k) {
    case 1: case 2: { term_id y = random_valued(b, depth - 1); t = term_add2(&S, x, y); mpfr_add(v, a, b, MPFR_RNDN); break; }
    case 3: case 4: { term_id y = random_valued(b, depth - 1); t = term_mul2(&S, x, y); mpfr_mul(v, a, b, MPFR_RNDN); break; }
    case 5: { /* x / (y^2 + 1) */
        term_id y = random_valued(b, depth - 1);
        t = term_div(&S, x, term_add2(&S, term_pow_si(&S, y, 2), S.one));
        mpfr_sqr(b, b, MPFR_RNDN);
        mpfr_add_ui(b, b, 1, MPFR_RNDN);
        mpfr_div(v, a, b, MPFR_RNDN);
        break;
    }
    case 6: /* exp of a bounded argument: tanh keeps it in [-1, 1] */
        t = term_exp(&S, term_tanh(&S, x));
        mpfr_tanh(a, a, MPFR_RNDN);
        mpfr_exp(v, a, MPFR_RNDN);
        break;
    case 7: /* log(x^2 + 1) */
        t = term_log(&S, term_add2(&S, term_pow_si(&S, x, 2), S.one));
        mpfr_sqr(a, a, MPFR_RNDN);
        mpfr_add_ui(a, a, 1, MPFR_RNDN);
        mpfr_log(v, a, MPFR_RNDN);
        break;
    case 8: /* sqrt(|x|) */
        t = term_sqrt(&S, term_abs(&S, x));
        mpfr_abs(a, a, MPFR_RNDN);
        mpfr_sqrt(v, a, MPFR_RNDN);
        break;
    case 9: { term_id y = random_valued(b, depth - 1); t = term_max(&S, (term_id[]){ x, y }, 2); mpfr_max(v, a, b, MPFR_RNDN); break; }
    default: { term_id y = random_valued(b, depth - 1); t = term_min(&S, (term_id[]){ x, y }, 2); mpfr_min(v, a, b, MPFR_RNDN); break; }
    }
    mpfr_clear(a);
    mpfr_clear(b);
    return t;
}

/* The ball meets [v - 2^-1800 |v|, v + 2^-1800 |v|], which holds the true
 * value (MPFR's rounding errors at 2000 bits are far smaller); a wrong ball
 * misses it by far more. A ball of radius 0 (an exact rational) must be
 * within that distance of v. */
static int ball_contains_mpfr(const arb_t x, const mpfr_t v)
{
    arb_t w;
    arb_init(w);
    arf_set_mpfr(arb_midref(w), v);
    mag_set_ui_2exp_si(arb_radref(w), 1, mpfr_zero_p(v) ? -1800 : mpfr_get_exp(v) - 1800);
    int ok = arb_overlaps(x, w);
    arb_clear(w);
    return ok;
}

Test(ball, property_contains_true_value)
{
    rng.state = 31337;
    int iters = 1000 * test_multiplier(), checked = 0;
    mpfr_t v;
    mpfr_init2(v, HIGH);
    ball_ctx ctx;
    ball_ctx_init(&ctx, &S);
    for (int it = 0; it < iters; it++) {
        term_id t = random_valued(v, 5);
        static const slong precs[] = { 30, 64, 200 };
        for (int j = 0; j < 3; j++) {
            const arb_struct *x;
            term_id where;
            cr_assert_eq(ball_eval(&x, &where, &ctx, t, precs[j]), BALL_OK);
            cr_assert(arb_is_finite(x));
            cr_assert(ball_contains_mpfr(x, v), "case %d at %ld bits", it, (long)precs[j]);
            if (j == 2 && !arb_is_exact(x)) cr_assert_geq(arb_rel_accuracy_bits(x), 100);
        }
        checked++;
    }
    cr_assert_eq(checked, iters);
    ball_ctx_clear(&ctx);
    mpfr_clear(v);
}

Test(ball, known_values)
{
    ball_ctx ctx;
    ball_ctx_init(&ctx, &S);
    const arb_struct *x;
    term_id where;
    /* exp(1) = 2.718281828459045235360287471352662497757... */
    cr_assert_eq(ball_eval(&x, &where, &ctx, term_exp(&S, S.one), 128), BALL_OK);
    arb_t e;
    arb_init(e);
    arb_set_str(e, "2.71828182845904523536028747135266249775 +/- 1e-38", 128);
    cr_assert(arb_overlaps(x, e));
    cr_assert(arb_rel_accuracy_bits(x) > 120);
    /* sqrt(2)^2 = 2 is folded by the store; (3/7)^(1/3) is not */
    cr_assert_eq(ball_eval(&x, &where, &ctx, term_pow(&S, term_num_si(&S, 3, 7), term_num_si(&S, 1, 3)), 200), BALL_OK);
    arb_t c;
    arb_init(c);
    arb_pow_ui(c, x, 3, 200);
    arb_set_str(e, "0.428571428571428571428571428571428571428571428571 +/- 1e-45", 200);
    cr_assert(arb_overlaps(c, e));
    /* a symbolic exponent: 2^(1/2 + x) with x = 1/2 bound as a number gives 2 */
    term_id p = term_pow(&S, term_num_si(&S, 2, 1), term_exp(&S, S.zero));
    cr_assert_eq(p, term_num_si(&S, 2, 1));
    arb_clear(c);
    arb_clear(e);
    ball_ctx_clear(&ctx);
}

Test(ball, statuses)
{
    ball_ctx ctx;
    ball_ctx_init(&ctx, &S);
    const arb_struct *x;
    term_id where = TERM_NONE;
    term_id y = term_sym_cstr(&S, "y");
    term_id t = term_add2(&S, term_exp(&S, y), S.one);
    cr_assert_eq(ball_eval(&x, &where, &ctx, t, 64), BALL_FREE_SYMBOL);
    cr_assert_eq(where, y);
    /* 1/(exp(1/3) - exp(1/3)) is 1/0 after canonicalisation: undecided by balls */
    term_id z = term_div(&S, S.one, term_sub(&S, term_exp(&S, term_num_si(&S, 1, 3)), term_exp(&S, term_num_si(&S, 1, 3))));
    cr_assert_eq(ball_eval(&x, &where, &ctx, z, 64), BALL_UNDECIDED);
    cr_assert_eq(term_op_of(&S, where), OP_POW);
    /* 1/(exp(1/3)^3 - exp(1)) is exactly 1/0 too, but the store does not
     * know it: the ball of the divisor straddles 0 at every precision */
    term_id e3 = term_pow_si(&S, term_exp(&S, term_num_si(&S, 1, 3)), 3);
    term_id w = term_div(&S, S.one, term_sub(&S, e3, term_exp(&S, S.one)));
    cr_assert_eq(ball_eval(&x, &where, &ctx, w, 64), BALL_UNDECIDED);
    cr_assert_eq(ball_eval(&x, &where, &ctx, w, 1024), BALL_UNDECIDED);
    /* log of a negative number, sqrt of a negative number */
    cr_assert_eq(ball_eval(&x, &where, &ctx, term_log(&S, term_num_si(&S, -2, 1)), 64), BALL_UNDECIDED);
    cr_assert_eq(ball_eval(&x, &where, &ctx, term_sqrt(&S, term_num_si(&S, -2, 1)), 64), BALL_UNDECIDED);
    /* but a small nonzero divisor is decided at enough precision */
    term_id tiny = term_sub(&S, term_exp(&S, term_num_si(&S, 1, 1000000)), S.one); /* ~1e-6 */
    term_id r = term_div(&S, S.one, tiny);
    cr_assert_eq(ball_eval(&x, &where, &ctx, r, 64), BALL_OK);
    cr_assert(arb_is_positive(x));
    ball_ctx_clear(&ctx);
}

/* Evaluating again at the same precision reuses every node; at a higher one
 * the new ball is tighter and overlaps the old. */
Test(ball, reuse_and_refine)
{
    ball_ctx ctx;
    ball_ctx_init(&ctx, &S);
    term_id acc = S.one;
    for (int i = 1; i <= 2000; i++) acc = term_add2(&S, term_exp(&S, term_div(&S, acc, term_num_si(&S, i + 1, 1))), term_num_si(&S, 1, i));
    const arb_struct *x;
    term_id where;
    cr_assert_eq(ball_eval(&x, &where, &ctx, acc, 64), BALL_OK);
    arb_t a;
    arb_init(a);
    arb_set(a, x);
    cr_assert_eq(ball_eval(&x, &where, &ctx, acc, 64), BALL_OK);
    cr_assert(arb_equal(a, x));
    cr_assert_eq(ball_eval(&x, &where, &ctx, acc, 256), BALL_OK);
    cr_assert(arb_overlaps(a, x));
    cr_assert_lt(mag_cmp(arb_radref(x), arb_radref(a)), 0);
    arb_clear(a);
    ball_ctx_clear(&ctx);
}

/* ---- lse and -inf ---- */

/* lse of 1 to 6 random arguments (a repeated one now and then: duplicates
 * count twice), against MPFR's log(exp(a_1) + ... + exp(a_n)) written out
 * at HIGH bits, without the shift by the maximum that ball_eval uses. The
 * arguments are scaled by up to 2^12 so that the exps span e^+-80000. */
Test(ball, property_lse_against_mpfr)
{
    rng.state = 2718;
    int iters = 500 * test_multiplier(), dups = 0;
    mpfr_t v, e, a[6];
    mpfr_inits2(HIGH, v, e, (mpfr_ptr)0);
    for (int k = 0; k < 6; k++) mpfr_init2(a[k], HIGH);
    ball_ctx ctx;
    ball_ctx_init(&ctx, &S);
    for (int it = 0; it < iters; it++) {
        int n = 1 + test_randn(&rng, 6);
        term_id args[6];
        slong scale = (slong)1 << test_randn(&rng, 13);
        mpfr_set_zero(v, 1);
        for (int k = 0; k < n; k++) {
            if (k > 0 && test_randn(&rng, 4) == 0) {
                int i = test_randn(&rng, k);
                args[k] = args[i];
                mpfr_set(a[k], a[i], MPFR_RNDN);
                dups++;
            } else {
                args[k] = term_mul2(&S, random_valued(a[k], 3), term_num_si(&S, scale, 1));
                mpfr_mul_si(a[k], a[k], scale, MPFR_RNDN);
            }
            mpfr_exp(e, a[k], MPFR_RNDN);
            mpfr_add(v, v, e, MPFR_RNDN);
        }
        mpfr_log(v, v, MPFR_RNDN);
        term_id t = term_lse(&S, args, (size_t)n);
        static const slong precs[] = { 30, 64, 200 };
        for (int j = 0; j < 3; j++) {
            const arb_struct *x;
            term_id where;
            cr_assert_eq(ball_eval(&x, &where, &ctx, t, precs[j]), BALL_OK);
            cr_assert(arb_is_finite(x));
            cr_assert(ball_contains_mpfr(x, v), "case %d at %ld bits", it, (long)precs[j]);
            if (j == 2 && !arb_is_exact(x)) cr_assert_geq(arb_rel_accuracy_bits(x), 100, "case %d", it);
        }
    }
    cr_assert_gt(dups, iters / 10);
    ball_ctx_clear(&ctx);
    mpfr_clears(v, e, (mpfr_ptr)0);
    for (int k = 0; k < 6; k++) mpfr_clear(a[k]);
}

/* lse(x, x) = x + log(2) to full relative accuracy however large x is (the
 * shift by the largest midpoint makes both exps exactly 1), and lse(0, -k)
 * = log1p(exp(-k)) keeps its relative accuracy far below 2^-prec. */
Test(ball, lse_huge_and_tiny)
{
    ball_ctx ctx;
    ball_ctx_init(&ctx, &S);
    const arb_struct *x;
    term_id where;
    mpfr_t r, t;
    mpfr_inits2(400, r, t, (mpfr_ptr)0);
    static const slong big[] = { 1000, 1000000, 1000000000000 };
    for (int i = 0; i < 3; i++) {
        term_id b = term_num_si(&S, big[i], 1);
        term_id l = term_lse(&S, (term_id[]){ b, b }, 2);
        cr_assert_eq(term_op_of(&S, l), OP_LSE, "duplicates are kept");
        cr_assert_eq(ball_eval(&x, &where, &ctx, l, 64), BALL_OK);
        cr_assert_geq(arb_rel_accuracy_bits(x), 60, "lse(%ld, %ld)", (long)big[i], (long)big[i]);
        mpfr_const_log2(r, MPFR_RNDN);
        mpfr_add_si(r, r, big[i], MPFR_RNDN);
        cr_assert(ball_contains_mpfr(x, r));
    }
    /* lse(1e6, 1e6) = 1e6 + log 2 to 30 digits */
    term_id m = term_num_si(&S, 1000000, 1);
    cr_assert_eq(ball_eval(&x, &where, &ctx, term_lse(&S, (term_id[]){ m, m }, 2), 128), BALL_OK);
    char *str = arb_get_str(x, 30, ARB_STR_NO_RADIUS);
    cr_assert_str_eq(str, "1000000.69314718055994530941723");
    flint_free(str);
    /* three equal arguments and one far below: 5 + log(3 + exp(-100)) */
    term_id five = term_num_si(&S, 5, 1), low = term_num_si(&S, -95, 1);
    cr_assert_eq(ball_eval(&x, &where, &ctx, term_lse(&S, (term_id[]){ five, low, five, five }, 4), 200), BALL_OK);
    mpfr_set_si(t, -100, MPFR_RNDN);
    mpfr_exp(t, t, MPFR_RNDN);
    mpfr_add_ui(t, t, 3, MPFR_RNDN);
    mpfr_log(r, t, MPFR_RNDN);
    mpfr_add_ui(r, r, 5, MPFR_RNDN);
    cr_assert(ball_contains_mpfr(x, r));
    cr_assert_geq(arb_rel_accuracy_bits(x), 190);
    /* lse(0, -1000) = log1p(exp(-1000)) ~ 5.08e-435 */
    term_id l = term_lse(&S, (term_id[]){ S.zero, term_num_si(&S, -1000, 1) }, 2);
    cr_assert_eq(ball_eval(&x, &where, &ctx, l, 64), BALL_OK);
    cr_assert_geq(arb_rel_accuracy_bits(x), 55);
    mpfr_set_si(t, -1000, MPFR_RNDN);
    mpfr_exp(t, t, MPFR_RNDN);
    mpfr_log1p(r, t, MPFR_RNDN);
    cr_assert(ball_contains_mpfr(x, r));
    /* an lse of non-exact balls: lse(exp(1), log(3), 1/3) */
    term_id w = term_lse(&S, (term_id[]){ term_exp(&S, S.one), term_log(&S, term_num_si(&S, 3, 1)), term_num_si(&S, 1, 3) }, 3);
    cr_assert_eq(ball_eval(&x, &where, &ctx, w, 128), BALL_OK);
    mpfr_set_ui(r, 1, MPFR_RNDN);
    mpfr_exp(r, r, MPFR_RNDN);
    mpfr_exp(r, r, MPFR_RNDN);     /* exp(exp(1)) */
    mpfr_add_ui(r, r, 3, MPFR_RNDN); /* + exp(log 3) */
    mpfr_set_ui(t, 1, MPFR_RNDN);
    mpfr_div_ui(t, t, 3, MPFR_RNDN);
    mpfr_exp(t, t, MPFR_RNDN);
    mpfr_add(r, r, t, MPFR_RNDN);
    mpfr_log(r, r, MPFR_RNDN);
    cr_assert(ball_contains_mpfr(x, r));
    cr_assert_geq(arb_rel_accuracy_bits(x), 115);
    mpfr_clears(r, t, (mpfr_ptr)0);
    ball_ctx_clear(&ctx);
}

/* -inf has no ball: as the whole term (the caller prints it) or inside a
 * formal term, reported at the innermost formal term around it. Folded uses
 * have values. */
Test(ball, neg_inf)
{
    ball_ctx ctx;
    ball_ctx_init(&ctx, &S);
    const arb_struct *x;
    term_id where = TERM_NONE, ninf = term_neg_inf(&S);
    cr_assert_eq(ball_eval(&x, &where, &ctx, ninf, 64), BALL_NINF);
    cr_assert_eq(where, ninf);
    term_id lg = term_log(&S, ninf);
    cr_assert_eq(ball_eval(&x, &where, &ctx, term_add2(&S, lg, S.one), 64), BALL_NINF);
    cr_assert_eq(where, lg);
    /* -1 * -inf (+inf), inside exp and a sum */
    term_id pinf = term_mul2(&S, S.minus_one, ninf);
    cr_assert(term_has_ninf(&S, pinf));
    term_id t = term_add2(&S, term_exp(&S, pinf), term_num_si(&S, 2, 1));
    cr_assert_eq(ball_eval(&x, &where, &ctx, t, 64), BALL_NINF);
    cr_assert_eq(where, pinf);
    /* -inf + x*-inf with x = exp(1): the product, not the sum */
    term_id prod = term_mul2(&S, term_exp(&S, S.one), ninf);
    term_id sum = term_add2(&S, ninf, prod);
    cr_assert_eq(term_op_of(&S, sum), OP_ADD);
    cr_assert_eq(ball_eval(&x, &where, &ctx, sum, 64), BALL_NINF);
    cr_assert_eq(where, prod);
    cr_assert_eq(term_ninf_site(&S, sum), prod);
    /* (-inf)^2, abs(-inf), 0 * -inf */
    term_id sq = term_pow_si(&S, ninf, 2), ab = term_abs(&S, ninf);
    cr_assert_eq(ball_eval(&x, &where, &ctx, sq, 64), BALL_NINF);
    cr_assert_eq(where, sq);
    cr_assert_eq(ball_eval(&x, &where, &ctx, term_lse(&S, (term_id[]){ ab, S.one }, 2), 64), BALL_NINF);
    cr_assert_eq(where, ab);
    /* a free symbol beside -inf: the -inf is found first */
    term_id xs = term_mul2(&S, term_sym_cstr(&S, "x"), ninf);
    cr_assert_eq(ball_eval(&x, &where, &ctx, xs, 64), BALL_NINF);
    cr_assert_eq(where, xs);
    /* folds: exp(-inf) = 0, lse(-inf, 1/2, 1/2) = lse(1/2, 1/2) = 1/2 + log 2,
     * max(-inf, 1/3) = 1/3, tanh(-inf) = -1; the ball context is unharmed */
    term_id h = term_num_si(&S, 1, 2);
    term_id ok = term_add(&S, (term_id[]){ term_exp(&S, ninf), term_lse(&S, (term_id[]){ ninf, h, h }, 3),
                                           term_max(&S, (term_id[]){ ninf, term_num_si(&S, 1, 3) }, 2),
                                           term_tanh(&S, ninf) }, 4);
    cr_assert(!term_has_ninf(&S, ok));
    cr_assert_eq(ball_eval(&x, &where, &ctx, ok, 128), BALL_OK);
    arb_t want, sixth; /* 0 + (1/2 + log 2) + 1/3 - 1 = log 2 - 1/6 */
    arb_init(want);
    arb_init(sixth);
    arb_const_log2(want, 128);
    arb_set_si(sixth, 1);
    arb_div_si(sixth, sixth, 6, 128);
    arb_sub(want, want, sixth, 128);
    cr_assert(arb_overlaps(x, want));
    cr_assert_geq(arb_rel_accuracy_bits(x), 120);
    arb_clear(want);
    arb_clear(sixth);
    ball_ctx_clear(&ctx);
}

/* Tests of core/eval/ball: Arb balls of terms contain the values computed by
 * a second method (MPFR at 2000 bits, term by term); statuses. */
#include <criterion/criterion.h>
#include <mpfr.h>
#include <stdlib.h>

#include "core/eval/ball.h"
#include "core/term.h"
#include "tests/testlib.h"

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

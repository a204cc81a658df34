/* Tests for expval: exact values N/D of exp sums. Hand cases, printing, the
 * memo and depth, limits, lse inside exp. (Attention blocks against MPFR and
 * random expressions against balls: test_expval_reference.) */
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

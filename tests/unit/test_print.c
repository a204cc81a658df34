/* Tests of core/print: exact infix and LaTeX text, the DOT graph of a DAG,
 * the infix round trip through the parser, and terms far deeper than any
 * C stack. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"
#include "core/print.h"
#include "tests/lib/testlib.h"

static term_store S;
static strbuf B;
static term_id X, Y, Z, W;

static void setup(void)
{
    term_store_init(&S);
    strbuf_init(&B);
    X = term_sym_cstr(&S, "x");
    Y = term_sym_cstr(&S, "y");
    Z = term_sym_cstr(&S, "z");
    W = term_sym_cstr(&S, "w");
}

static void teardown(void)
{
    strbuf_clear(&B);
    term_store_clear(&S);
}

TestSuite(print, .init = setup, .fini = teardown);

/* ---- shorthands over the constructors ---- */

static term_id num(slong p, slong q) { return term_num_si(&S, p, q); }
static term_id sym(const char *name) { return term_sym_cstr(&S, name); }
static term_id add(term_id a, term_id b) { return term_add2(&S, a, b); }
static term_id add3(term_id a, term_id b, term_id c) { return term_add(&S, (term_id[]){ a, b, c }, 3); }
static term_id mul(term_id a, term_id b) { return term_mul2(&S, a, b); }
static term_id mul3(term_id a, term_id b, term_id c) { return term_mul(&S, (term_id[]){ a, b, c }, 3); }
static term_id neg(term_id a) { return term_neg(&S, a); }
static term_id sub(term_id a, term_id b) { return term_sub(&S, a, b); }
static term_id dvd(term_id a, term_id b) { return term_div(&S, a, b); }
static term_id pw(term_id b, slong p, slong q) { return term_pow(&S, b, num(p, q)); }
static term_id pwt(term_id b, term_id e) { return term_pow(&S, b, e); }
static term_id ex(term_id a) { return term_exp(&S, a); }

/* The text of t parsed back into the same store; TERM_NONE on a syntax error. */
static term_id parse_back(const char *text)
{
    source src;
    diag_list d;
    term_id t = TERM_NONE;
    source_from_string(&src, "<printed>", text, strlen(text));
    diag_init(&d);
    if (parse_expr(&t, &S, &d, &src) != 0) t = TERM_NONE;
    diag_clear(&d);
    source_clear(&src);
    return t;
}

static const char *infix(term_id t)
{
    strbuf_reset(&B);
    print_infix(&B, &S, t);
    return strbuf_str(&B);
}

static const char *latex(term_id t)
{
    strbuf_reset(&B);
    print_latex(&B, &S, t);
    return strbuf_str(&B);
}

/* Exact infix text, and that text reads back as t. */
#define CHECK(t, expected)                                                                         \
    do {                                                                                           \
        term_id t_ = (t);                                                                          \
        const char *got_ = infix(t_);                                                              \
        cr_expect_str_eq(got_, expected, "line %d: printed %s, want %s", __LINE__, got_, expected); \
        term_id back_ = parse_back(got_);                                                          \
        cr_expect_eq(back_, t_, "line %d: %s does not read back as the same term", __LINE__, got_); \
    } while (0)

#define CHECK_LATEX(t, expected)                                                                   \
    do {                                                                                           \
        const char *got_ = latex(t);                                                               \
        cr_expect_str_eq(got_, expected, "line %d: LaTeX %s, want %s", __LINE__, got_, expected);  \
    } while (0)

/* ---- infix: exact text ---- */

Test(print, atoms)
{
    CHECK(X, "x");
    CHECK(num(3, 1), "3");
    CHECK(num(-3, 1), "-3");
    CHECK(num(3, 7), "3/7");
    CHECK(num(-3, 7), "-3/7");
    CHECK(num(0, 1), "0");
    CHECK(sym("x_1_2"), "x_1_2");
    CHECK(sym("Wq11"), "Wq11");
    CHECK(sym("x[1,2]"), "x[1,2]");
    CHECK(sym("q1_1"), "q1_1");
}

Test(print, big_numbers)
{
    fmpq_t q;
    fmpq_init(q);
    fmpz_set_str(fmpq_numref(q), "-123456789012345678901234567891", 10);
    fmpz_set_str(fmpq_denref(q), "98765432109876543210987", 10);
    fmpq_canonicalise(q);
    term_id t = term_num(&S, q);
    CHECK(t, "-123456789012345678901234567891/98765432109876543210987");
    CHECK(mul(t, X), "-123456789012345678901234567891*x/98765432109876543210987");
    CHECK(add(X, t), "x - 123456789012345678901234567891/98765432109876543210987");
    fmpq_clear(q);
}

Test(print, sums)
{
    CHECK(add(num(1, 1), X), "x + 1");
    CHECK(add(X, num(1, 1)), "x + 1");
    CHECK(sub(X, num(1, 1)), "x - 1");
    CHECK(sub(X, mul(num(3, 1), Y)), "x - 3*y");
    CHECK(add(neg(X), Y), "-x + y");
    CHECK(add3(neg(X), neg(Y), num(-1, 1)), "-x - y - 1");
    CHECK(add(X, num(3, 7)), "x + 3/7");
    CHECK(sub(X, num(3, 7)), "x - 3/7");
    CHECK(add(X, dvd(Y, num(2, 1))), "x + y/2");
    CHECK(sub(X, dvd(Y, num(2, 1))), "x - y/2");
    CHECK(add(mul(num(2, 1), X), mul(num(3, 1), Y)), "2*x + 3*y");
    CHECK(add3(X, Y, Z), "x + y + z");
    CHECK(add(neg(mul(num(3, 7), X)), num(2, 1)), "-3*x/7 + 2");
    CHECK(sub(X, dvd(num(1, 1), Y)), "x - 1/y");
    CHECK(sub(X, mul(X, Y)), "x - x*y");
    CHECK(sub(Z, add(X, Y)), "-x - y + z");
    CHECK(sub(Z, mul(num(1, 2), add(X, Y))), "-x/2 - y/2 + z");
}

Test(print, sums_keep_stored_order)
{
    /* b was made first, so it has the smaller id and comes first */
    term_id b = sym("b"), a = sym("a");
    CHECK(add(a, b), "b + a");
    CHECK(sub(a, b), "-b + a");
    term_id eb = ex(b), ea = ex(a);
    CHECK(add(ea, eb), "exp(b) + exp(a)");
}

Test(print, scaled_sums)
{
    /* (-1)*(x + y) is a product of -1 and a sum */
    term_id s = add(X, Y);
    term_id m = term_mul(&S, (term_id[]){ S.minus_one, s }, 2);
    CHECK(m, "-(x + y)");
    /* inside a sum, a number times a sum is distributed */
    CHECK(add(Z, m), "-x - y + z");
    CHECK(mul(num(2, 1), s), "2*(x + y)");
    CHECK(mul(num(-2, 3), s), "-2*(x + y)/3");
}

Test(print, products)
{
    CHECK(mul(num(1, 2), X), "x/2");
    CHECK(mul(num(-1, 2), X), "-x/2");
    CHECK(mul(num(3, 7), X), "3*x/7");
    CHECK(mul3(num(3, 7), X, pw(Y, -1, 1)), "3*x/(7*y)");
    CHECK(mul3(num(-3, 7), X, pw(Y, -1, 1)), "-3*x/(7*y)");
    CHECK(mul(num(3, 7), pw(Y, -1, 1)), "3/(7*y)");
    CHECK(mul(num(1, 7), pw(Y, -1, 1)), "1/(7*y)");
    CHECK(mul(num(-1, 1), X), "-x");
    CHECK(neg(pw(X, -1, 1)), "-1/x");
    CHECK(mul(num(2, 1), pw(X, -1, 1)), "2/x");
    CHECK(mul(X, Y), "x*y");
    CHECK(mul3(num(3, 1), X, Y), "3*x*y");
    CHECK(mul3(num(-3, 1), X, Y), "-3*x*y");
    CHECK(mul(X, add(Y, num(1, 1))), "x*(y + 1)");
    CHECK(neg(pw(X, 2, 1)), "-x^2");
    CHECK(dvd(X, Y), "x/y");
    CHECK(dvd(X, mul(Y, Z)), "x/(y*z)");
    CHECK(dvd(mul(X, Y), mul(Z, W)), "x*y/(z*w)");
    CHECK(dvd(X, add(X, Y)), "x/(x + y)");
    CHECK(dvd(X, term_sqrt(&S, Y)), "x/sqrt(y)");
    CHECK(dvd(X, mul(term_sqrt(&S, Y), Z)), "x/(sqrt(y)*z)");
    CHECK(dvd(X, pw(Y, 3, 2)), "x/y^(3/2)");
    CHECK(dvd(X, pw(Y, 2, 1)), "x/y^2");
    CHECK(mul(pw(X, 2, 1), pw(Y, -3, 1)), "x^2/y^3");
    CHECK(dvd(num(1, 1), mul(num(2, 1), X)), "1/(2*x)");
    CHECK(dvd(add(X, Y), num(2, 1)), "(x + y)/2");
    CHECK(dvd(add(X, Y), add(Z, W)), "(x + y)/(z + w)");
    term_id ex_x = ex(X), ex_y = ex(Y);
    CHECK(dvd(ex_x, add(ex_x, ex_y)), "exp(x)/(exp(x) + exp(y))");
    CHECK(dvd(X, ex(Y)), "x/exp(y)");
    CHECK(mul(X, pw(Y, 1, 2)), "x*sqrt(y)");
}

Test(print, lone_negative_powers)
{
    CHECK(pw(X, -1, 1), "1/x");
    CHECK(pw(X, -2, 1), "1/x^2");
    CHECK(pw(X, -1, 2), "1/sqrt(x)");
    CHECK(pw(X, -3, 2), "1/x^(3/2)");
    CHECK(pw(X, -1, 3), "1/x^(1/3)");
    CHECK(pw(add(X, Y), -1, 1), "1/(x + y)");
    CHECK(pw(add(X, Y), -2, 1), "1/(x + y)^2");
    CHECK(pw(ex(X), -1, 1), "1/exp(x)");
    CHECK(pw(pwt(X, Y), -1, 1), "1/x^y");
    CHECK(pw(pwt(X, Y), -2, 1), "1/(x^y)^2");
    CHECK(pw(mul(X, Y), -1, 2), "1/sqrt(x*y)");
    CHECK(pw(num(-2, 1), -1, 3), "1/(-2)^(1/3)");
    CHECK(pw(num(-1, 2), -2, 3), "1/(-1/2)^(2/3)");
}

Test(print, powers)
{
    CHECK(pw(X, 2, 1), "x^2");
    CHECK(pw(X, 3, 2), "x^(3/2)");
    CHECK(pw(X, 1, 2), "sqrt(x)");
    CHECK(pw(X, 1, 3), "x^(1/3)");
    CHECK(pw(X, 2, 3), "x^(2/3)");
    CHECK(pw(num(-2, 1), 1, 3), "(-2)^(1/3)");
    CHECK(pw(num(1, 2), 1, 3), "(1/2)^(1/3)");
    CHECK(pw(num(1, 2), 1, 2), "sqrt(1/2)");
    CHECK(pw(num(2, 1), 1, 2), "sqrt(2)");
    CHECK(pw(num(2, 1), 3, 2), "2*sqrt(2)");
    CHECK(pw(num(2, 1), -1, 2), "sqrt(2)/2");
    CHECK(pw(num(2, 1), -2, 3), "2^(1/3)/2");
    CHECK(pw(num(-1, 1), 1, 2), "sqrt(-1)");
    CHECK(pw(add(X, num(1, 1)), 2, 1), "(x + 1)^2");
    CHECK(pw(mul(X, Y), 1, 2), "sqrt(x*y)");
    CHECK(pw(mul(X, Y), 1, 3), "(x*y)^(1/3)");
    CHECK(pw(mul(num(2, 1), X), 1, 3), "(2*x)^(1/3)");
    CHECK(pw(neg(X), 1, 3), "(-x)^(1/3)");
    CHECK(pw(neg(X), 1, 2), "sqrt(-x)");
    CHECK(pwt(pwt(X, Y), Z), "(x^y)^z");
    CHECK(pwt(X, pwt(Y, Z)), "x^y^z");
    CHECK(pwt(X, Y), "x^y");
    CHECK(pwt(X, neg(Y)), "x^(-y)");
    CHECK(pwt(X, add(Y, num(1, 1))), "x^(y + 1)");
    CHECK(pwt(X, mul(num(2, 1), Y)), "x^(2*y)");
    CHECK(pwt(X, pw(Y, -1, 1)), "x^(1/y)");
    CHECK(pwt(X, term_sqrt(&S, Y)), "x^sqrt(y)");
    CHECK(pwt(ex(X), Y), "exp(x)^y");
    CHECK(pwt(num(2, 1), X), "2^x");
    CHECK(pwt(num(-2, 1), X), "(-2)^x");
    CHECK(pwt(num(1, 2), X), "(1/2)^x");
    CHECK(pwt(term_sqrt(&S, X), Y), "sqrt(x)^y");
    CHECK(pw(term_sqrt(&S, X), 1, 3), "sqrt(x)^(1/3)");
    CHECK(term_sqrt(&S, term_sqrt(&S, X)), "sqrt(sqrt(x))");
    CHECK(pw(pw(X, -1, 1), 1, 2), "sqrt(1/x)");
    CHECK(pwt(pw(X, -1, 1), Y), "(1/x)^y");
    CHECK(pwt(pw(X, -1, 2), Y), "(1/sqrt(x))^y");
    CHECK(pw(ex(X), 2, 1), "exp(x)^2");
    CHECK(pw(pw(X, 1, 3), 1, 2), "sqrt(x^(1/3))");
}

Test(print, zero_base_powers)
{
    /* 0^2 folds to 0, so 0^(-2) cannot be written 1/0^2 */
    term_id z2 = pw(num(0, 1), -2, 1);
    cr_assert_eq(term_op_of(&S, z2), OP_POW);
    CHECK(z2, "0^(-2)");
    CHECK(pw(num(0, 1), -1, 2), "0^(-1/2)");
    CHECK(mul(X, pw(num(0, 1), -1, 1)), "0^(-1)*x");
}

Test(print, calls)
{
    CHECK(ex(X), "exp(x)");
    CHECK(term_log(&S, X), "log(x)");
    CHECK(term_abs(&S, X), "abs(x)");
    CHECK(term_tanh(&S, X), "tanh(x)");
    CHECK(term_sqrt(&S, X), "sqrt(x)");
    CHECK(term_max(&S, (term_id[]){ X, Y }, 2), "max(x, y)");
    CHECK(term_min(&S, (term_id[]){ X, Y }, 2), "min(x, y)");
    CHECK(term_max(&S, (term_id[]){ X, Y, Z }, 3), "max(x, y, z)");
    CHECK(term_max(&S, (term_id[]){ X, num(-1, 2) }, 2), "max(x, -1/2)");
    term_id xy = add(X, Y), nz = neg(Z);
    CHECK(term_min(&S, (term_id[]){ xy, nz }, 2), "min(x + y, -z)");
    CHECK(ex(neg(X)), "exp(-x)");
    CHECK(term_log(&S, add(X, num(1, 1))), "log(x + 1)");
    term_id ex_x = ex(X), ex_y = ex(Y);
    CHECK(mul(ex_x, ex_y), "exp(x)*exp(y)");
    CHECK(neg(ex(X)), "-exp(x)");
    CHECK(term_abs(&S, neg(X)), "abs(-x)");
    CHECK(term_tanh(&S, dvd(X, num(2, 1))), "tanh(x/2)");
    CHECK(ex(ex(ex(X))), "exp(exp(exp(x)))");
}

Test(print, attention_row)
{
    term_id s11 = sym("s11"), s12 = sym("s12");
    term_id q11 = sym("q1_1"), k21 = sym("k2_1"), q12 = sym("q1_2"), k22 = sym("k2_2");
    term_id dot = add(mul(q11, k21), mul(q12, k22));
    CHECK(dvd(dot, term_sqrt(&S, num(2, 1))), "(q1_1*k2_1 + q1_2*k2_2)*sqrt(2)/2");
    term_id m = term_max(&S, (term_id[]){ s11, s12 }, 2);
    term_id e1 = ex(sub(s11, m)), e2 = ex(sub(s12, m));
    CHECK(dvd(e2, add(e1, e2)),
          "exp(s12 - max(s11, s12))/(exp(s11 - max(s11, s12)) + exp(s12 - max(s11, s12)))");
}

Test(print, appends_to_buffer)
{
    strbuf_reset(&B);
    strbuf_puts(&B, "a = ");
    print_infix(&B, &S, add(X, num(1, 1)));
    cr_assert_str_eq(strbuf_str(&B), "a = x + 1");
}

Test(print, deterministic)
{
    term_id t = dvd(add3(X, neg(Y), num(3, 7)), mul(Z, add(W, num(-2, 1))));
    char *first = strdup(infix(t));
    for (int i = 0; i < 5; i++) cr_assert_str_eq(infix(t), first);
    free(first);
}

/* ---- lse and -inf ---- */

static term_id lse2(term_id a, term_id b) { return term_lse(&S, (term_id[]){ a, b }, 2); }

Test(print, lse)
{
    CHECK(lse2(X, Y), "lse(x, y)");
    CHECK(lse2(Y, X), "lse(x, y)");
    CHECK(lse2(X, X), "lse(x, x)");
    CHECK(term_lse(&S, (term_id[]){ X, Y, Z }, 3), "lse(x, y, z)");
    CHECK(lse2(num(0, 1), num(0, 1)), "lse(0, 0)");
    CHECK(lse2(add(X, Y), neg(Z)), "lse(-z, x + y)");
    CHECK(ex(sub(X, lse2(X, Y))), "exp(x - lse(x, y))");
    CHECK(neg(lse2(X, Y)), "-lse(x, y)");
    CHECK(pw(lse2(X, Y), 2, 1), "lse(x, y)^2");
    CHECK(dvd(X, lse2(X, Y)), "x/lse(x, y)");
}

Test(print, neg_inf)
{
    term_id ni = S.neg_inf; /* made with the store: a smaller id than x */
    CHECK(ni, "-inf");
    CHECK(neg(ni), "-(-inf)");
    CHECK(neg(neg(ni)), "-(-(-inf))");
    CHECK(mul(X, ni), "(-inf)*x");
    CHECK(mul(num(-2, 1), ni), "(-inf)*(-2)");
    CHECK(mul(num(0, 1), ni), "0*(-inf)");
    CHECK(mul(ni, ni), "(-inf)*(-inf)");
    CHECK(mul3(num(3, 1), X, ni), "(-inf)*x*3");
    CHECK(mul(mul(num(2, 1), X), ni), "(-inf)*(2*x)");
    CHECK(mul(dvd(X, Y), ni), "(-inf)*(x/y)");
    CHECK(neg(mul(X, ni)), "-((-inf)*x)");
    CHECK(pw(ni, 2, 1), "(-inf)^2");
    CHECK(pw(ni, 0, 1), "(-inf)^0");
    CHECK(pw(ni, -1, 1), "(-inf)^(-1)");
    CHECK(pw(ni, -2, 1), "(-inf)^(-2)");
    CHECK(pw(ni, 1, 2), "sqrt(-inf)");
    CHECK(pw(ni, -1, 2), "(-inf)^(-1/2)");
    CHECK(pw(neg(ni), 2, 1), "(-(-inf))^2");
    CHECK(neg(pw(ni, 2, 1)), "-(-inf)^2");
    CHECK(pwt(num(2, 1), ni), "2^(-inf)");
    CHECK(pwt(X, neg(ni)), "x^(-(-inf))");
    CHECK(term_log(&S, ni), "log(-inf)");
    CHECK(term_abs(&S, ni), "abs(-inf)");
    CHECK(ex(mul(X, ni)), "exp((-inf)*x)");
    CHECK(term_max(&S, (term_id[]){ mul(X, ni), Y }, 2), "max(y, (-inf)*x)");
    CHECK(lse2(Y, mul(X, ni)), "lse(y, (-inf)*x)");
    /* sums that mention -inf: formal, a sum inside is kept in parentheses */
    CHECK(add(ni, mul(X, ni)), "-inf + (-inf)*x");
    CHECK(term_add(&S, (term_id[]){ ni, mul(X, ni), ni }, 3), "-inf - inf + (-inf)*x");
    CHECK(sub(X, ni), "x - (-inf)");
    CHECK(add(X, neg(mul(X, ni))), "x - (-inf)*x");
    CHECK(add(neg(neg(ni)), X), "x - (-(-inf))");
    CHECK(add(Y, neg(neg(ni))), "y - (-(-inf))");
    CHECK(term_add(&S, (term_id[]){ add(X, Y), mul(Z, ni) }, 2), "(x + y) + (-inf)*z");
    CHECK(term_add(&S, (term_id[]){ sub(X, Y), mul(Z, ni), num(-3, 1), num(2, 1) }, 4),
          "(-inf)*z + (x - y) - 3 + 2");
    CHECK(term_add(&S, (term_id[]){ X, X, mul(Z, ni) }, 3), "x + x + (-inf)*z");
    CHECK(term_add(&S, (term_id[]){ neg(X), mul(num(-2, 1), Y), mul(Z, ni) }, 3), "(-inf)*z - x - 2*y");
    CHECK(term_add(&S, (term_id[]){ mul(num(-2, 1), add(X, Y)), mul(Z, ni) }, 2), "(-inf)*z - 2*(x + y)");
    CHECK(mul(add(X, mul(Z, ni)), Y), "y*(x + (-inf)*z)");
    CHECK(term_max(&S, (term_id[]){ sub(X, neg(ni)), Y }, 2), "max(y, x - (-(-inf)))");
}

/* A sum of -inf and -(-inf) terms printed with -inf after another term, and
 * x - inf read back as -inf. */
Test(print, neg_inf_subtracted)
{
    term_id ni = S.neg_inf;
    term_id m = neg(ni); /* -(-inf) */
    term_id t = term_add(&S, (term_id[]){ m, ni }, 2);
    CHECK(t, "-inf - (-inf)");
    cr_assert_eq(parse_back("x - inf"), ni);
    cr_assert_eq(parse_back("-(-inf) - inf"), t);
}

/* ---- LaTeX ---- */

Test(print, latex_names)
{
    CHECK_LATEX(X, "x");
    CHECK_LATEX(sym("x_1_2"), "x_{1,2}");
    CHECK_LATEX(sym("x[1,2]"), "x_{1,2}");
    CHECK_LATEX(sym("Wq11"), "\\mathrm{Wq}_{11}");
    CHECK_LATEX(sym("s12"), "s_{12}");
    CHECK_LATEX(sym("q1_1"), "q_{1,1}");
    CHECK_LATEX(sym("x1[2]"), "x_{1,2}");
    CHECK_LATEX(sym("W_q"), "W_{q}");
    CHECK_LATEX(sym("Wq"), "\\mathrm{Wq}");
    CHECK_LATEX(sym("alpha"), "\\alpha");
    CHECK_LATEX(sym("beta_1"), "\\beta_{1}");
    CHECK_LATEX(sym("x__1"), "\\mathrm{x\\_\\_1}");
    CHECK_LATEX(sym("x_"), "\\mathrm{x\\_}");
}

Test(print, latex_terms)
{
    CHECK_LATEX(num(3, 7), "\\frac{3}{7}");
    CHECK_LATEX(num(-2, 1), "-2");
    CHECK_LATEX(num(-3, 7), "-\\frac{3}{7}");
    CHECK_LATEX(mul(num(1, 2), X), "\\frac{x}{2}");
    CHECK_LATEX(mul3(num(-3, 7), X, pw(Y, -1, 1)), "-\\frac{3 x}{7 y}");
    CHECK_LATEX(pw(X, -1, 1), "\\frac{1}{x}");
    CHECK_LATEX(pw(X, 2, 1), "x^{2}");
    CHECK_LATEX(pw(X, 3, 2), "x^{\\frac{3}{2}}");
    CHECK_LATEX(pw(X, 1, 2), "\\sqrt{x}");
    CHECK_LATEX(pw(X, -1, 2), "\\frac{1}{\\sqrt{x}}");
    CHECK_LATEX(ex(X), "e^{x}");
    CHECK_LATEX(pw(ex(X), 2, 1), "\\left(e^{x}\\right)^{2}");
    CHECK_LATEX(term_log(&S, add(X, num(1, 1))), "\\log\\left(x + 1\\right)");
    CHECK_LATEX(term_abs(&S, X), "\\left|x\\right|");
    CHECK_LATEX(term_tanh(&S, X), "\\tanh\\left(x\\right)");
    CHECK_LATEX(term_max(&S, (term_id[]){ X, Y }, 2), "\\max\\left(x, y\\right)");
    CHECK_LATEX(term_min(&S, (term_id[]){ X, Y }, 2), "\\min\\left(x, y\\right)");
    CHECK_LATEX(sub(X, Y), "x - y");
    CHECK_LATEX(mul(X, Y), "x y");
    CHECK_LATEX(mul(num(2, 1), add(X, num(1, 1))), "2 \\left(x + 1\\right)");
    CHECK_LATEX(dvd(X, add(X, Y)), "\\frac{x}{x + y}");
    CHECK_LATEX(dvd(add(X, Y), mul(Z, add(X, W))), "\\frac{x + y}{z \\left(x + w\\right)}");
    CHECK_LATEX(mul(num(3, 1), pw(num(2, 1), 1, 3)), "3 \\cdot 2^{\\frac{1}{3}}");
    CHECK_LATEX(pw(num(1, 2), 1, 3), "\\left(\\frac{1}{2}\\right)^{\\frac{1}{3}}");
    CHECK_LATEX(pw(add(X, Y), 2, 1), "\\left(x + y\\right)^{2}");
    CHECK_LATEX(neg(pw(X, 2, 1)), "-x^{2}");
    CHECK_LATEX(pw(sym("x_1_2"), 2, 1), "x_{1,2}^{2}");
    term_id s11 = sym("s11"), s12 = sym("s12");
    term_id e11 = ex(s11), e12 = ex(s12);
    CHECK_LATEX(dvd(e12, add(e11, e12)), "\\frac{e^{s_{12}}}{e^{s_{11}} + e^{s_{12}}}");
}

Test(print, latex_lse_neg_inf)
{
    term_id ni = S.neg_inf;
    CHECK_LATEX(lse2(X, Y), "\\operatorname{lse}\\left(x, y\\right)");
    CHECK_LATEX(ex(sub(sym("s12"), term_lse(&S, (term_id[]){ sym("s11"), sym("s12") }, 2))),
                "e^{s_{12} - \\operatorname{lse}\\left(s_{11}, s_{12}\\right)}");
    CHECK_LATEX(ni, "-\\infty");
    CHECK_LATEX(neg(ni), "-\\left(-\\infty\\right)");
    CHECK_LATEX(mul(X, ni), "\\left(-\\infty\\right) \\cdot x");
    CHECK_LATEX(pw(ni, 2, 1), "\\left(-\\infty\\right)^{2}");
    CHECK_LATEX(pw(ni, -1, 1), "\\left(-\\infty\\right)^{-1}");
    CHECK_LATEX(term_log(&S, ni), "\\log\\left(-\\infty\\right)");
    CHECK_LATEX(pwt(num(2, 1), ni), "2^{-\\infty}");
    CHECK_LATEX(term_add(&S, (term_id[]){ ni, mul(X, ni), ni }, 3),
                "-\\infty - \\infty + \\left(-\\infty\\right) \\cdot x");
    CHECK_LATEX(sub(X, ni), "x - \\left(-\\infty\\right)");
}

/* ---- DOT ---- */

/* Plain scans: strstr in a loop is quadratic under the sanitizers, which
 * measure the whole haystack on every call. */
static int starts_with(const char *p, const char *what)
{
    while (*what && *p == *what) p++, what++;
    return *what == '\0';
}

static size_t count_of(const char *text, const char *what)
{
    size_t n = 0;
    for (const char *p = text; *p; p++) n += (size_t)starts_with(p, what);
    return n;
}

/* Lines "  n<id> [" declare nodes. */
static size_t node_lines(const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p; p++) {
        if (!starts_with(p, "\n  n")) continue;
        const char *q = p + 4;
        while (*q >= '0' && *q <= '9') q++;
        if (q > p + 4 && q[0] == ' ' && q[1] == '[') n++;
    }
    return n;
}

static void check_dot_shape(const char *text)
{
    cr_assert(strncmp(text, "digraph hmp {\n", 14) == 0, "%s", text);
    size_t len = strlen(text);
    cr_assert(len >= 2 && strcmp(text + len - 2, "}\n") == 0, "%s", text);
    cr_assert_eq(count_of(text, "{"), 1);
    cr_assert_eq(count_of(text, "}"), 1);
    cr_assert_eq(count_of(text, "["), count_of(text, "]"));
    /* every line but the first and the last ends with ';' */
    const char *line = strchr(text, '\n') + 1;
    while (*line != '}') {
        const char *end = strchr(line, '\n');
        cr_assert(end && end[-1] == ';', "line without ';' in %s", text);
        line = end + 1;
    }
}

Test(print, dot_shared_subterm_once)
{
    term_id s = add(X, Y);
    term_id t = mul(ex(s), s); /* s used twice */
    strbuf_reset(&B);
    print_dot(&B, &S, &t, NULL, 1);
    const char *d = strbuf_str(&B);
    check_dot_shape(d);
    /* x, y, x + y, exp, the product */
    cr_assert_eq(node_lines(d), 5, "%s", d);
    cr_assert_eq(count_of(d, "  r0 [shape=box"), 1, "%s", d);
    cr_assert_eq(count_of(d, " -> "), 5 + 1, "%s", d);
    char want[64];
    snprintf(want, sizeof want, "  n%u [", (unsigned)s);
    cr_assert_eq(count_of(d, want), 1);
    snprintf(want, sizeof want, "  n%u -> n%u;\n", (unsigned)t, (unsigned)s);
    cr_assert_eq(count_of(d, want), 1, "%s", d);
    snprintf(want, sizeof want, "  r0 -> n%u;\n", (unsigned)t);
    cr_assert_eq(count_of(d, want), 1, "%s", d);
    cr_assert_eq(count_of(d, "label=\"+\""), 1);
    cr_assert_eq(count_of(d, "label=\"*\""), 1);
    cr_assert_eq(count_of(d, "label=\"exp\""), 1);
    cr_assert_eq(count_of(d, "label=\"x\""), 1);
}

Test(print, dot_roots_and_labels)
{
    term_id a = add(X, num(3, 7));
    term_id b = ex(a);
    term_id p = pwt(X, Y);
    term_id roots[3] = { a, b, p };
    const char *labels[3] = { "a", "say \"hi\"\\", NULL };
    strbuf_reset(&B);
    print_dot(&B, &S, roots, labels, 3);
    const char *d = strbuf_str(&B);
    check_dot_shape(d);
    /* x, y, 3/7, a, exp(a), x^y, and three boxes */
    cr_assert_eq(node_lines(d), 6, "%s", d);
    cr_assert_eq(count_of(d, "\n  r"), 6, "%s", d); /* three boxes, three edges */
    cr_assert_eq(count_of(d, "label=\"3/7\""), 1, "%s", d);
    cr_assert_eq(count_of(d, "label=\"say \\\"hi\\\"\\\\\""), 1, "%s", d);
    cr_assert_eq(count_of(d, "label=\"root 2\""), 1, "%s", d);
    /* 2 (sum) + 1 (exp) + 2 (power) + 3 (roots) */
    cr_assert_eq(count_of(d, " -> "), 8, "%s", d);
    char want[64];
    snprintf(want, sizeof want, "  n%u -> n%u [label=\"0\"];\n", (unsigned)p, (unsigned)X);
    cr_assert_eq(count_of(d, want), 1, "%s", d);
    snprintf(want, sizeof want, "  n%u -> n%u [label=\"1\"];\n", (unsigned)p, (unsigned)Y);
    cr_assert_eq(count_of(d, want), 1, "%s", d);
    /* Z and W exist in the store but are not reachable */
    snprintf(want, sizeof want, "  n%u [", (unsigned)Z);
    cr_assert_eq(count_of(d, want), 0);
    /* same DAG, same bytes */
    char *first = strdup(d);
    strbuf_reset(&B);
    print_dot(&B, &S, roots, labels, 3);
    cr_assert_str_eq(strbuf_str(&B), first);
    free(first);
}

Test(print, dot_lse_neg_inf)
{
    term_id m = neg(S.neg_inf);
    term_id t = lse2(X, term_mul(&S, (term_id[]){ X, m }, 2));
    strbuf_reset(&B);
    print_dot(&B, &S, &t, NULL, 1);
    const char *d = strbuf_str(&B);
    check_dot_shape(d);
    /* x, -inf, -1, (-1)*(-inf), the product, lse */
    cr_assert_eq(node_lines(d), 6, "%s", d);
    char want[64];
    snprintf(want, sizeof want, "  n%u [shape=plaintext, label=\"-inf\"];\n", (unsigned)S.neg_inf);
    cr_assert_eq(count_of(d, want), 1, "%s", d);
    snprintf(want, sizeof want, "  n%u [shape=box, label=\"lse\"];\n", (unsigned)t);
    cr_assert_eq(count_of(d, want), 1, "%s", d);
    cr_assert_eq(count_of(d, "label=\"-1\""), 1, "%s", d);
    cr_assert_eq(count_of(d, " -> "), 2 + 2 + 2 + 1, "%s", d);
}

Test(print, dot_names_escaped)
{
    term_id t = add(sym("x[1,2]"), sym("Wq11"));
    strbuf_reset(&B);
    print_dot(&B, &S, &t, (const char *const[]){ "line\nbreak" }, 1);
    const char *d = strbuf_str(&B);
    check_dot_shape(d);
    cr_assert_eq(count_of(d, "label=\"x[1,2]\""), 1, "%s", d);
    cr_assert_eq(count_of(d, "label=\"line\\nbreak\""), 1, "%s", d);
}

/* ---- round trip: random terms ---- */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    r->s ^= r->s << 13;
    r->s ^= r->s >> 7;
    r->s ^= r->s << 17;
    return r->s;
}

static unsigned rng_below(rng *r, unsigned n) { return (unsigned)(rng_next(r) % n); }

static term_id random_number(rng *r)
{
    static const slong dens[] = { 1, 1, 1, 2, 3, 7 };
    slong p = (slong)rng_below(r, 11) - 5;
    return num(p, dens[rng_below(r, sizeof dens / sizeof dens[0])]);
}

static int with_neg_inf; /* random leaves may be -inf */

static term_id random_leaf(rng *r)
{
    static const char *const names[] = { "x", "y", "z", "w", "x_1_2", "Wq11", "x[1,2]", "s12", "q1_1" };
    if (with_neg_inf && rng_below(r, 6) == 0) return S.neg_inf;
    if (rng_below(r, 3) == 0) return random_number(r);
    return sym(names[rng_below(r, sizeof names / sizeof names[0])]);
}

static term_id random_exponent(rng *r)
{
    static const slong e[][2] = { { -3, 1 }, { -2, 1 }, { -1, 1 }, { 0, 1 }, { 1, 1 }, { 2, 1 }, { 3, 1 },
                                  { 1, 2 },  { -1, 2 }, { 3, 2 },  { 1, 3 }, { -3, 2 }, { 2, 3 } };
    size_t k = rng_below(r, sizeof e / sizeof e[0]);
    return num(e[k][0], e[k][1]);
}

/* A random term of depth at most depth (recursion bounded by depth). */
static term_id random_term(rng *r, int depth)
{
    if (depth <= 0 || rng_below(r, 6) == 0) return random_leaf(r);
    term_id a[4];
    unsigned n = 2 + rng_below(r, 3);
    switch (rng_below(r, 16)) {
    case 0:
    case 1:
        for (unsigned i = 0; i < n; i++) a[i] = random_term(r, depth - 1);
        return term_add(&S, a, n);
    case 2:
    case 3:
        for (unsigned i = 0; i < n; i++) a[i] = random_term(r, depth - 1);
        return term_mul(&S, a, n);
    case 4: return sub(random_term(r, depth - 1), random_term(r, depth - 1));
    case 5: return dvd(random_term(r, depth - 1), random_term(r, depth - 1));
    case 6: return neg(random_term(r, depth - 1));
    case 7:
    case 8: return pwt(random_term(r, depth - 1), random_exponent(r));
    case 9: return pwt(random_term(r, depth - 1), random_term(r, depth - 2));
    case 10: return ex(random_term(r, depth - 1));
    case 11: return rng_below(r, 2) ? term_log(&S, random_term(r, depth - 1)) : term_sqrt(&S, random_term(r, depth - 1));
    case 12: return rng_below(r, 2) ? term_abs(&S, random_term(r, depth - 1)) : term_tanh(&S, random_term(r, depth - 1));
    case 15:
        n = 1 + rng_below(r, 4);
        for (unsigned i = 0; i < n; i++) a[i] = random_term(r, depth - 1);
        return term_lse(&S, a, n);
    default:
        for (unsigned i = 0; i < n; i++) a[i] = random_term(r, depth - 1);
        return rng_below(r, 2) ? term_max(&S, a, n) : term_min(&S, a, n);
    }
}

static void round_trip_random(uint64_t seed, long cases, int neg_inf)
{
    rng r = { seed };
    strbuf again;
    strbuf_init(&again);
    with_neg_inf = neg_inf;
    long flagged = 0;
    for (long i = 0; i < cases; i++) {
        term_id t = random_term(&r, 1 + (int)(i % 6));
        flagged += term_has_ninf(&S, t);
        const char *text = infix(t);
        term_id back = parse_back(text);
        if (back != t) {
            strbuf_reset(&again);
            if (back) print_infix(&again, &S, back);
            cr_assert_fail("case %ld: %s reads back as %s (term %u, not %u)", i, text,
                    back ? strbuf_str(&again) : "a syntax error", (unsigned)back, (unsigned)t);
            break;
        }
    }
    strbuf_clear(&again);
    if (neg_inf) cr_assert_gt(flagged, cases / 4, "%ld of %ld terms mention -inf", flagged, cases);
}

Test(print, round_trip_random) { round_trip_random(0x9e3779b97f4a7c15ULL, 10000L * test_multiplier(), 0); }

/* With -inf among the leaves: formal terms of every shape. */
Test(print, round_trip_random_neg_inf) { round_trip_random(0x853c49e6748fea9bULL, 10000L * test_multiplier(), 1); }

/* Infix of any random term never has redundant outer parentheses nor a
 * doubled sign, and LaTeX braces balance. */
Test(print, random_text_shape)
{
    rng r = { 0x2545f4914f6cdd1dULL };
    long cases = 2000L * test_multiplier();
    for (long i = 0; i < cases; i++) {
        with_neg_inf = (int)(i & 1);
        term_id t = random_term(&r, 5);
        const char *text = infix(t);
            cr_assert(!strstr(text, "--") && !strstr(text, "+ -") && !strstr(text, "- -"), "%s", text);
        size_t len = strlen(text);
        int depth = 0, wraps = len > 0 && text[0] == '(';
        for (size_t k = 0; k < len; k++) {
            if (text[k] == '(') depth++;
            if (text[k] == ')') depth--;
            cr_assert(depth >= 0, "%s", text);
            if (depth == 0 && k + 1 < len) wraps = 0;
        }
        cr_assert_eq(depth, 0, "%s", text);
        cr_assert(!wraps, "whole text in parentheses: %s", text);
        const char *tex = latex(t);
        depth = 0;
        for (const char *c = tex; *c; c++) {
            if (*c == '{') depth++;
            if (*c == '}') depth--;
            cr_assert(depth >= 0, "%s", tex);
        }
        cr_assert_eq(depth, 0, "%s", tex);
        cr_assert_eq(count_of(tex, "\\left"), count_of(tex, "\\right"), "%s", tex);
    }
}

/* ---- depth: far past any C stack ---- */

#define DEEP 1000000

Test(print, deep_exp_chain, .timeout = 120)
{
    term_id t = X;
    for (int i = 0; i < DEEP; i++) t = ex(t);
    strbuf_reset(&B);
    print_infix(&B, &S, t);
    cr_assert_eq(B.len, (size_t)DEEP * 5 + 1);
    cr_assert(strncmp(B.data, "exp(exp(exp(", 12) == 0);
    cr_assert_eq(B.data[(size_t)DEEP * 4], 'x');
    cr_assert_eq(B.data[(size_t)DEEP * 4 - 1], '(');
    cr_assert_eq(B.data[(size_t)DEEP * 4 + 1], ')');
    cr_assert_eq(B.data[B.len - 1], ')');

    strbuf_reset(&B);
    print_latex(&B, &S, t);
    cr_assert_eq(B.len, (size_t)DEEP * 4 + 1);
    cr_assert(strncmp(B.data, "e^{e^{", 6) == 0);
    cr_assert_eq(B.data[(size_t)DEEP * 3], 'x');

    strbuf_reset(&B);
    print_dot(&B, &S, &t, NULL, 1);
    cr_assert_eq(count_of(B.data, " -> "), (size_t)DEEP + 1);
}

/* A chain whose every level needs parentheses: ((x + 1)^2 + 1)^2 ... */
Test(print, deep_parenthesised_chain, .timeout = 120)
{
    term_id t = X;
    for (int i = 0; i < DEEP / 4; i++) t = pw(add(t, num(1, 1)), 2, 1);
    strbuf_reset(&B);
    print_infix(&B, &S, t);
    /* "(" ... "x" then " + 1)^2" per level */
    cr_assert_eq(B.len, (size_t)(DEEP / 4) * 8 + 1);
    cr_assert_eq(B.data[DEEP / 4], 'x');
    cr_assert_eq(strcmp(B.data + B.len - 7, " + 1)^2"), 0);
    strbuf_reset(&B);
    print_latex(&B, &S, t);
    cr_assert_eq(count_of(B.data, "\\left("), (size_t)DEEP / 4);
}

/* Deep but within the parser's nesting limit: reads back as the same term. */
Test(print, deep_round_trip)
{
    term_id t = X;
    for (int i = 0; i < 2000; i++) {
        switch (i % 4) {
        case 0: t = ex(sub(Y, t)); break;
        case 1: t = dvd(num(1, 1), add(t, Z)); break;
        case 2: t = pw(mul(t, W), 1, 3); break;
        default: t = term_max(&S, (term_id[]){ t, neg(X) }, 2); break;
        }
    }
    const char *text = infix(t);
    cr_assert_eq(parse_back(text), t, "deep term does not read back");
}

/* Tests of core/parse: every construct of HMP v1, every error with its
 * position, recovery. (Limits and a random round trip text -> term:
 * test_parse_limits.) */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"
#include "core/strbuf.h"
#include "core/term.h"
#include "tests/lib/testlib.h"
#include "tests/lib/testparse.h"

/* ---- numbers ---- */

static void check_number(const char *text, const fmpq_t want)
{
    term_id t = E(text);
    cr_assert_eq(term_op_of(&S, t), OP_NUM, "\"%s\" is not a number", text);
    cr_assert(fmpq_equal(term_value(&S, t), want), "\"%s\" has the wrong value", text);
}

static void check_number_si(const char *text, slong p, slong q)
{
    fmpq_t v;
    fmpq_init(v);
    fmpq_set_si(v, p, (ulong)q);
    check_number(text, v);
    fmpq_clear(v);
}

Test(parse, numbers)
{
    check_number_si("12", 12, 1);
    check_number_si("0", 0, 1);
    check_number_si("007", 7, 1);
    check_number_si("0.25", 1, 4);
    check_number_si(".5", 1, 2);
    check_number_si("1.", 1, 1);
    check_number_si("1.50", 3, 2);
    check_number_si("1e-3", 1, 1000);
    check_number_si("2.5E+4", 25000, 1);
    check_number_si("2.5e4", 25000, 1);
    check_number_si("12.5e-1", 5, 4);
    check_number_si(".125E3", 125, 1);
    check_number_si("1.e2", 100, 1);
    check_number_si("0e999", 0, 1);
    check_number_si("0.000", 0, 1);
    check_number_si("999999999999999999", 999999999999999999, 1);
    check_number_si("0.000000000000000001", 1, 1000000000000000000);
    check_number_si("1/3", 1, 3);
    check_number_si("-0.75", -3, 4);
    check_number_si("4/6", 2, 3);

    fmpq_t v;
    fmpz_t t;
    fmpq_init(v);
    fmpz_init(t);
    /* 30 digits: past a machine word */
    fmpz_set_str(fmpq_numref(v), "123456789012345678901234567890", 10);
    check_number("123456789012345678901234567890", v);
    /* 1.234567890123456789e5 = 1234567890123456789 / 10^13 */
    fmpz_set_str(fmpq_numref(v), "1234567890123456789", 10);
    fmpz_set_ui(t, 10);
    fmpz_pow_ui(fmpq_denref(v), t, 13);
    fmpq_canonicalise(v);
    check_number("1.234567890123456789e5", v);
    /* 3e40 and 7e-30 */
    fmpq_one(v);
    fmpz_pow_ui(fmpq_numref(v), t, 40);
    fmpz_mul_ui(fmpq_numref(v), fmpq_numref(v), 3);
    check_number("3e40", v);
    fmpq_one(v);
    fmpz_pow_ui(fmpq_denref(v), t, 30);
    fmpz_set_ui(fmpq_numref(v), 7);
    check_number("7e-30", v);
    /* the exponent limit itself is accepted */
    fmpq_one(v);
    fmpz_pow_ui(fmpq_denref(v), t, PARSE_MAX_EXPONENT);
    check_number("1e-1000000", v);
    fmpq_clear(v);
    fmpz_clear(t);
}

Test(parse, number_of_100000_digits)
{
    size_t n = 100000;
    char *digits = malloc(n + 1);
    for (size_t i = 0; i < n; i++) digits[i] = (char)('1' + (i * 7 + i / 13) % 9);
    digits[n] = '\0';
    strbuf b;
    strbuf_init(&b);
    strbuf_printf(&b, "x = %s\ny = %.*s.%s\n", digits, 40000, digits, digits + 40000);
    cr_assert_eq(script_n(b.data, b.len), 0);
    fmpq_t v;
    fmpz_t ten;
    fmpq_init(v);
    fmpz_init(ten);
    fmpz_set_str(fmpq_numref(v), digits, 10);
    cr_assert(fmpq_equal(term_value(&S, rel(0, "x")), v));
    fmpz_set_ui(ten, 10);
    fmpz_pow_ui(fmpq_denref(v), ten, n - 40000);
    fmpq_canonicalise(v);
    cr_assert(fmpq_equal(term_value(&S, rel(1, "y")), v));
    fmpq_clear(v);
    fmpz_clear(ten);
    strbuf_clear(&b);
    free(digits);
}

Test(parse, number_limits)
{
    size_t n = PARSE_MAX_NUMBER_DIGITS;
    char *text = malloc(n + 16);
    memcpy(text, "x = ", 4);
    memset(text + 4, '7', n);
    text[n + 4] = '\0';
    /* exactly the limit: fine */
    cr_assert_eq(script_n(text, n + 4), 0);
    cr_assert_eq(term_op_of(&S, rel(0, "x")), OP_NUM);
    /* one more digit, anywhere in the mantissa */
    memcpy(text + n + 4, "7\ny = 1", 8);
    cr_assert_neq(script_n(text, n + 11), 0);
    cr_assert_eq(D.n_errors, 1);
    check_diag(0, 1, 5, "number has more than 1000000 digits");
    rel(1, "y");
    free(text);
    one_error("x = 1e1000001", 1, 5, "number exponent out of range (|exponent| > 1000000)");
    one_error("x = 2.5e-99999999999999999999999", 1, 5, "number exponent out of range (|exponent| > 1000000)");
}

/* ---- expressions ---- */

Test(parse, precedence)
{
    term_id a = SYM("a"), b = SYM("b"), c = SYM("c"), x = SYM("x"), y = SYM("y");
    cr_assert_eq(E("-x^2"), term_neg(&S, term_pow_si(&S, x, 2)));
    cr_assert_eq(E("(-x)^2"), term_pow_si(&S, term_neg(&S, x), 2));
    cr_assert_eq(E("-2^2"), NUM(-4, 1));
    cr_assert_eq(E("(-2)^2"), NUM(4, 1));
    cr_assert_eq(E("2^3^2"), NUM(512, 1));
    cr_assert_eq(E("(2^3)^2"), NUM(64, 1));
    cr_assert_eq(E("x^y^a"), term_pow(&S, x, term_pow(&S, y, a)));
    cr_assert_eq(E("x^-2"), term_pow_si(&S, x, -2));
    cr_assert_eq(E("2^-1"), NUM(1, 2));
    cr_assert_eq(E("2^-2^2"), NUM(1, 16));
    cr_assert_eq(E("x^-y^2"), term_pow(&S, x, term_neg(&S, term_pow_si(&S, y, 2))));
    cr_assert_eq(E("a-b-c"), term_add(&S, (term_id[]){ a, term_neg(&S, b), term_neg(&S, c) }, 3));
    cr_assert_neq(E("a-b-c"), E("a-(b-c)"));
    cr_assert_eq(E("a-(b-c)"), term_add(&S, (term_id[]){ a, term_neg(&S, b), c }, 3));
    cr_assert_eq(E("a/b/c"), term_mul(&S, (term_id[]){ a, term_pow_si(&S, b, -1), term_pow_si(&S, c, -1) }, 3));
    cr_assert_eq(E("a/(b/c)"), term_mul(&S, (term_id[]){ a, term_pow_si(&S, b, -1), c }, 3));
    cr_assert_eq(E("12/4/3"), NUM(1, 1));
    cr_assert_eq(E("a+b*c"), term_add2(&S, a, term_mul2(&S, b, c)));
    cr_assert_eq(E("(a+b)*c"), term_mul2(&S, term_add2(&S, a, b), c));
    cr_assert_eq(E("a*b^2"), term_mul2(&S, a, term_pow_si(&S, b, 2)));
    cr_assert_eq(E("-a*b"), term_mul2(&S, term_neg(&S, a), b));
    cr_assert_eq(E("a*-b"), term_mul2(&S, a, term_neg(&S, b)));
    cr_assert_eq(E("a - -b"), term_add2(&S, a, b));
    cr_assert_eq(E("--x"), x);
    cr_assert_eq(E("- - -x"), term_neg(&S, x));
    cr_assert_eq(E("+x"), x);
    cr_assert_eq(E("+-+x"), term_neg(&S, x));
    cr_assert_eq(E("2*-3"), NUM(-6, 1));
    cr_assert_eq(E("x - x"), S.zero);
    cr_assert_eq(E("x/x"), S.one);
    cr_assert_eq(E("x^0"), S.one);
    cr_assert_eq(E("((((x))))"), x);
    cr_assert_eq(E(" \n a \t+\n b \n"), term_add2(&S, a, b));
}

Test(parse, one_node_per_sum_and_product)
{
    strbuf b;
    strbuf_init(&b);
    for (int i = 0; i < 64; i++) strbuf_printf(&b, "%sa%d", i ? " + " : "", i);
    E("a0"); /* warm: 0 is the only new node */
    uint32_t before = term_count(&S);
    term_id t = E(b.data);
    /* 63 new symbols and one ADD: no intermediate sums */
    cr_assert_eq(term_count(&S) - before, 64);
    cr_assert_eq(term_op_of(&S, t), OP_ADD);
    cr_assert_eq(term_nargs(&S, t), 64);
    strbuf_reset(&b);
    for (int i = 0; i < 64; i++) strbuf_printf(&b, "%sm%d", i ? "*" : "", i);
    before = term_count(&S);
    t = E(b.data);
    cr_assert_eq(term_count(&S) - before, 65);
    cr_assert_eq(term_op_of(&S, t), OP_MUL);
    cr_assert_eq(term_nargs(&S, t), 64);
    strbuf_clear(&b);
}

Test(parse, names_and_index_forms)
{
    term_id x12 = SYM("x[1,2]");
    cr_assert_eq(E("x[1][2]"), x12);
    cr_assert_eq(E("x[1,2]"), x12);
    cr_assert_eq(E("x[ 1 , 2 ]"), x12);
    cr_assert_eq(E("x[\t1,2 ]"), x12);
    cr_assert_eq(E("x[01][002]"), x12);
    cr_assert_eq(E("x[0]"), SYM("x[0]"));
    cr_assert_eq(E("x[00]"), SYM("x[0]"));
    cr_assert_eq(E("x[1][2,3][4]"), SYM("x[1,2,3,4]"));
    cr_assert_eq(E("Wq_1[10,20]"), SYM("Wq_1[10,20]"));
    cr_assert_eq(E("x[123456789012345678901234567890]"), SYM("x[123456789012345678901234567890]"));
    cr_assert_eq(E("exp[1]"), SYM("exp[1]"));
    /* plain names stay as written */
    cr_assert_eq(E("x1_2"), SYM("x1_2"));
    cr_assert_eq(E("x_1_2"), SYM("x_1_2"));
    cr_assert_eq(E("Wq11"), SYM("Wq11"));
    cr_assert_eq(E("a_"), SYM("a_"));
    cr_assert_neq(SYM("x1_2"), SYM("x_1_2"));
    /* a function name not followed by '(' is a name */
    cr_assert_eq(E("exp + max"), term_add2(&S, SYM("exp"), SYM("max")));
    cr_assert_eq(E("x[1,2]*y[3]"), term_mul2(&S, x12, SYM("y[3]")));
    /* in a script, a newline inside brackets is a blank */
    cr_assert_eq(script_s("a = x[1,\n 2] + x[ 1 ][\n 2 ]\nb = 1"), 0);
    cr_assert_eq(rel(0, "a"), term_mul2(&S, NUM(2, 1), x12));
    cr_assert_eq(SC.rels[1].name_pos.line, 4);
    cr_assert_eq(script_s("y[2][1] = 3"), 0);
    cr_assert_eq(rel(2, "y[2,1]"), NUM(3, 1));
}

Test(parse, functions)
{
    term_id x = SYM("x"), y = SYM("y"), z = SYM("z");
    cr_assert_eq(E("exp(x)"), term_exp(&S, x));
    cr_assert_eq(E("log(x)"), term_log(&S, x));
    cr_assert_eq(E("sqrt(x)"), term_pow(&S, x, S.half));
    cr_assert_eq(E("sqrt(4)"), NUM(2, 1));
    cr_assert_eq(E("abs(x)"), term_abs(&S, x));
    cr_assert_eq(E("abs(-3/2)"), NUM(3, 2));
    cr_assert_eq(E("tanh(x)"), term_tanh(&S, x));
    cr_assert_eq(E("max(x, y, z)"), term_max(&S, (term_id[]){ x, y, z }, 3));
    cr_assert_eq(E("min(x,y)"), term_min(&S, (term_id[]){ x, y }, 2));
    cr_assert_eq(E("max(x)"), x);
    cr_assert_eq(E("min(3, 1, 2)"), NUM(1, 1));
    cr_assert_eq(E("exp (x)"), term_exp(&S, x));
    cr_assert_eq(E("exp(0)"), S.one);
    cr_assert_eq(E("log(1)"), S.zero);
    cr_assert_eq(E("exp(x+y)*2"), term_mul2(&S, NUM(2, 1), term_exp(&S, term_add2(&S, x, y))));
    cr_assert_eq(E("exp(x)^2"), term_pow_si(&S, term_exp(&S, x), 2));
    cr_assert_eq(E("-exp(x)"), term_neg(&S, term_exp(&S, x)));
    cr_assert_eq(E("max(\n x,\n exp(log(y))\n)"), term_max(&S, (term_id[]){ x, term_exp(&S, term_log(&S, y)) }, 2));
    cr_assert_eq(term_op_of(&S, E("exp(x)")), OP_EXP);
    cr_assert_eq(term_op_of(&S, E("max(x,y)")), OP_MAX);
}

Test(parse, function_errors)
{
    one_error("y = exp(1, 2)", 1, 5, "function 'exp' takes 1 argument, got 2");
    one_error("y = 1 + sqrt()", 1, 9, "function 'sqrt' takes 1 argument, got 0");
    one_error("y = max()", 1, 5, "function 'max' takes at least 1 argument, got 0");
    one_error("y = min( )", 1, 5, "function 'min' takes at least 1 argument, got 0");
    one_error("y = foo(x)", 1, 5, "unknown function 'foo'");
    one_error("y = 2*expp (x)", 1, 7, "unknown function 'expp'");
    one_error("y = exp(x", 1, 10, "expected ')' to close '(' at 1:8");
    one_error("y = max(x y)", 1, 11, "expected ')' to close '(' at 1:8");
    one_error("y = log(x,)", 1, 11, "expected an expression, found ')'");
}

Test(parse, lse)
{
    term_id x = SYM("x"), y = SYM("y"), z = SYM("z");
    term_id xy = term_lse(&S, (term_id[]){ x, y }, 2);
    cr_assert_eq(E("lse(x, y)"), xy);
    cr_assert_eq(term_op_of(&S, xy), OP_LSE);
    cr_assert_eq(E("lse(y,x)"), xy);
    cr_assert_eq(E("lse(x)"), x);
    cr_assert_eq(term_nargs(&S, E("lse(x, x)")), 2);
    cr_assert_eq(E("lse(lse(x, y), z)"), term_lse(&S, (term_id[]){ x, y, z }, 3));
    cr_assert_eq(term_nargs(&S, E("lse(lse(x, y), z)")), 3);
    cr_assert_eq(E("lse (\n x,\n y)"), xy);
    cr_assert_eq(E("exp(x - lse(x, y))"), term_exp(&S, term_sub(&S, x, xy)));
    cr_assert_eq(E("lse + 1"), term_add2(&S, SYM("lse"), S.one)); /* not a call: a name */
    one_error("y = lse()", 1, 5, "function 'lse' takes at least 1 argument, got 0");
    one_error("y = lse(x,", 1, 11, "expected an expression, found end of input");
}

Test(parse, neg_inf)
{
    term_id x = SYM("x"), y = SYM("y"), ni = S.neg_inf;
    cr_assert_eq(E("-inf"), ni);
    cr_assert_eq(E("- inf"), ni);
    cr_assert_eq(E("(-inf)"), ni);
    cr_assert_eq(E("+-inf"), ni);
    cr_assert_eq(E("--inf"), term_neg(&S, ni));
    cr_assert_eq(E("-(-inf)"), term_neg(&S, ni));
    /* each minus applies: a term that mentions -inf is formal, -(-t) is not t */
    cr_assert_eq(E("---inf"), term_neg(&S, term_neg(&S, ni)));
    cr_assert_eq(E("--(-inf)"), term_neg(&S, term_neg(&S, ni)));
    cr_assert_eq(E("-+-(--inf)"), term_neg(&S, term_neg(&S, term_neg(&S, ni))));
    cr_assert_eq(E("--x"), x);
    cr_assert_eq(E("2^--inf"), term_pow(&S, NUM(2, 1), term_neg(&S, ni)));
    cr_assert_eq(E("x + -inf"), ni);
    cr_assert_eq(E("-inf + x + y"), ni);
    cr_assert_eq(E("x - inf"), ni);             /* a - inf = a + -inf */
    cr_assert_eq(E("x*y - inf + 1"), ni);
    cr_assert_eq(E("x - -inf"), term_sub(&S, x, ni));
    cr_assert_eq(E("-inf - inf"), ni);
    cr_assert_eq(E("max(-inf, x)"), x);
    cr_assert_eq(E("min(-inf, x)"), ni);
    cr_assert_eq(E("lse(x, -inf, y)"), term_lse(&S, (term_id[]){ x, y }, 2));
    cr_assert_eq(E("lse(-inf, -inf)"), ni);
    cr_assert_eq(E("exp(-inf)"), S.zero);
    cr_assert_eq(E("tanh(-inf)"), S.minus_one);
    cr_assert_eq(E("2*-inf"), ni);
    cr_assert_eq(E("-inf*2"), ni);              /* unary minus binds tighter than '*' */
    cr_assert_eq(E("-inf/3"), ni);
    cr_assert_eq(E("-2*-inf"), term_mul2(&S, NUM(-2, 1), ni));
    cr_assert_eq(E("x*-inf"), term_mul2(&S, x, ni));
    cr_assert_eq(E("0*-inf"), term_mul2(&S, S.zero, ni));
    cr_assert_neq(E("0*-inf"), S.zero);
    cr_assert_eq(E("(-inf)^2"), term_pow_si(&S, ni, 2));
    cr_assert_eq(E("(-inf)^1"), ni);
    cr_assert_eq(E("2^-inf"), term_pow(&S, NUM(2, 1), ni));
    cr_assert_eq(E("x^(-inf)"), term_pow(&S, x, ni));
    cr_assert_eq(E("log(-inf)"), term_log(&S, ni));
    cr_assert_eq(E("1/-inf"), term_pow_si(&S, ni, -1));
    cr_assert_eq(E("-inf + x*-inf"), term_add2(&S, ni, term_mul2(&S, x, ni)));
    cr_assert(term_has_ninf(&S, E("exp(x*-inf)")));
    /* names that only start with inf are names */
    cr_assert_eq(E("info + inf_1 + inf2 + inf[3]"),
                 term_add(&S, (term_id[]){ SYM("info"), SYM("inf_1"), SYM("inf2"), SYM("inf[3]") }, 4));
    /* in a script */
    cr_assert_eq(script_s("m = -inf\ns = max(-inf, x)\na = exp(-inf)\nb = y - inf\n"), 0);
    cr_assert_eq(rel(0, "m"), ni);
    cr_assert_eq(rel(1, "s"), x);
    cr_assert_eq(rel(2, "a"), S.zero);
    cr_assert_eq(rel(3, "b"), ni);
}

#define INF_MSG "only -inf is supported (a masked score); +inf is not a value hmp represents"

Test(parse, inf_errors)
{
    one_error("y = inf", 1, 5, INF_MSG);
    one_error("y = 2*inf", 1, 7, INF_MSG);
    one_error("y = +inf", 1, 6, INF_MSG);
    one_error("y = -+inf", 1, 7, INF_MSG);
    one_error("y = x - +inf", 1, 10, INF_MSG);
    one_error("y = exp(inf)", 1, 9, INF_MSG);
    one_error("y = max(x, inf)", 1, 12, INF_MSG);
    one_error("y = 2^inf", 1, 7, INF_MSG);
    one_error("y = (inf)", 1, 6, INF_MSG);
    /* '^' binds tighter than a minus: -inf^2 is -(inf^2) */
    one_error("y = -inf^2", 1, 6, INF_MSG);
    one_error("y = x^-inf^2", 1, 8, INF_MSG);
    /* '*' and '/' bind tighter than a binary minus: a - inf*2 is a - (inf*2) */
    one_error("y = a - inf*2", 1, 9, INF_MSG);
    one_error("y = a - inf / 2", 1, 9, INF_MSG);
    one_error("y = a - inf^2", 1, 9, INF_MSG);
    one_error("inf = 3", 1, 1, "'inf' is reserved");
    one_error("  inf = -inf", 1, 3, "'inf' is reserved");
    one_error("inf + 1", 1, 1, "'inf' is reserved");
    one_error("output a, inf", 1, 11, "'inf' is reserved");
    one_error("y = inf(2)", 1, 5, "unknown function 'inf'");
    /* with parse_expr too */
    term_id t = TERM_NONE;
    diag_clear(&D);
    cr_assert_neq(parse_expr(&t, &S, &D, new_source("1 + inf", 7)), 0);
    check_diag(0, 1, 5, INF_MSG);
    /* recovery: the next statements are read */
    diag_clear(&D);
    cr_assert_neq(script_s("inf = 1\na = 2*inf\nb = -inf; c = inf + 1\nd = lse(b, 1)\n"), 0);
    cr_assert_eq(D.n_errors, 3);
    check_diag(0, 1, 1, "'inf' is reserved");
    check_diag(1, 2, 7, INF_MSG);
    check_diag(2, 3, 15, INF_MSG);
    cr_assert_eq(rel(0, "b"), S.neg_inf);
    cr_assert_eq(rel(1, "d"), term_lse(&S, (term_id[]){ SYM("b"), S.one }, 2));
}

/* ---- statements ---- */

Test(parse, relations_and_positions)
{
    cr_assert_eq(script_s("x1_1 = 1/2\n  q = Wq11*x1_1 + 3\n"), 0);
    cr_assert_eq(SC.n_rels, 2);
    cr_assert_eq(SC.n_dirs, 0);
    cr_assert_eq(SC.src, &SRCS[0]);
    cr_assert_eq(rel(0, "x1_1"), NUM(1, 2));
    cr_assert_eq(rel(1, "q"), term_add2(&S, term_mul2(&S, SYM("Wq11"), SYM("x1_1")), NUM(3, 1)));
    cr_assert_eq(SC.rels[0].name_pos.offset, 0);
    cr_assert_eq(SC.rels[0].name_pos.line, 1);
    cr_assert_eq(SC.rels[0].name_pos.col, 1);
    cr_assert_eq(SC.rels[0].rhs_pos.col, 8);
    cr_assert_eq(SC.rels[1].name_pos.offset, 13);
    cr_assert_eq(SC.rels[1].name_pos.line, 2);
    cr_assert_eq(SC.rels[1].name_pos.col, 3);
    cr_assert_eq(SC.rels[1].rhs_pos.line, 2);
    cr_assert_eq(SC.rels[1].rhs_pos.col, 7);
}

Test(parse, separators_comments_blank_lines)
{
    const char *text =
        "# a comment line\n"
        "\n"
        "a = 1; b = 2;c=3   # trailing comment\n"
        "   \t  \n"
        ";;\n"
        "d = a + b # c = 4 is a comment\r\n"
        "e = 5\r\n"
        "# last line without newline";
    cr_assert_eq(script_s(text), 0);
    cr_assert_eq(SC.n_rels, 5);
    cr_assert_eq(rel(0, "a"), NUM(1, 1));
    cr_assert_eq(rel(1, "b"), NUM(2, 1));
    cr_assert_eq(rel(2, "c"), NUM(3, 1));
    cr_assert_eq(SC.rels[2].name_pos.col, 14);
    cr_assert_eq(rel(3, "d"), term_add2(&S, SYM("a"), SYM("b")));
    cr_assert_eq(rel(4, "e"), NUM(5, 1));
    cr_assert_eq(SC.rels[4].name_pos.line, 7);
}

Test(parse, empty_scripts)
{
    cr_assert_eq(script_s(""), 0);
    cr_assert_eq(script_s("\n\n\n"), 0);
    cr_assert_eq(script_s("# only a comment"), 0);
    cr_assert_eq(script_s(";"), 0);
    cr_assert_eq(SC.n_rels, 0);
    cr_assert_eq(SC.n_dirs, 0);
    cr_assert_eq(D.n, 0);
    /* a comment may hold any bytes, NUL and invalid UTF-8 included */
    cr_assert_eq(script_n("# \0\xff\xc3\n x = 1", 12), 0);
    cr_assert_eq(rel(0, "x"), NUM(1, 1));
    cr_assert_eq(D.n, 0);
}

Test(parse, continuation_lines)
{
    cr_assert_eq(script_s("a = b +\n c\n"), 0);
    cr_assert_eq(rel(0, "a"), term_add2(&S, SYM("b"), SYM("c")));
    cr_assert_eq(script_s("a2 = b *   # a comment\n\n  # another\n c - \n d\n"), 0);
    cr_assert_eq(rel(1, "a2"), term_add2(&S, term_mul2(&S, SYM("b"), SYM("c")), term_neg(&S, SYM("d"))));
    cr_assert_eq(script_s("a3 = 2 ^\n3 /\n 4\n"), 0);
    cr_assert_eq(rel(2, "a3"), NUM(2, 1));
    cr_assert_eq(script_s("a4 = (b\n + c\n)\nz = 1"), 0);
    cr_assert_eq(rel(3, "a4"), term_add2(&S, SYM("b"), SYM("c")));
    cr_assert_eq(rel(4, "z"), NUM(1, 1));
    cr_assert_eq(script_s("a5 = max(b,\n c)\n"), 0);
    cr_assert_eq(rel(5, "a5"), term_max(&S, (term_id[]){ SYM("b"), SYM("c") }, 2));
    cr_assert_eq(script_s("a6 = -\n b"), 0);
    cr_assert_eq(rel(6, "a6"), term_neg(&S, SYM("b")));
    cr_assert_eq(script_s("output a,\n  a2, a3"), 0);
    cr_assert_eq(SC.n_dirs, 1);
    cr_assert_eq(SC.dirs[0].n_args, 3);
    /* a newline after an operand ends the statement */
    one_error("a = b\n + c", 2, 2, "expected a name at the start of a statement, found '+'");
    /* '=' does not continue the line */
    one_error("a =\nb = 3", 1, 4, "expected an expression, found end of line");
    cr_assert_eq(rel(SC.n_rels - 1, "b"), NUM(3, 1));
}

Test(parse, output_directive)
{
    cr_assert_eq(script_s("a = 1\noutput a, b_2 ,c[1][2]\n  output d\n"), 0);
    cr_assert_eq(SC.n_dirs, 2);
    directive *o = &SC.dirs[0];
    cr_assert_eq(o->kind, DIRECTIVE_OUTPUT);
    cr_assert_eq(o->pos.line, 2);
    cr_assert_eq(o->pos.col, 1);
    cr_assert_eq(o->n_args, 3);
    cr_assert_eq(o->args[0], SYM("a"));
    cr_assert_eq(o->args[1], SYM("b_2"));
    cr_assert_eq(o->args[2], SYM("c[1,2]"));
    cr_assert_eq(o->arg_pos[0].col, 8);
    cr_assert_eq(o->arg_pos[1].col, 11);
    cr_assert_eq(o->arg_pos[2].col, 16);
    cr_assert_eq(o->arg_pos[2].line, 2);
    cr_assert_eq(SC.dirs[1].pos.line, 3);
    cr_assert_eq(SC.dirs[1].pos.col, 3);
    cr_assert_eq(SC.dirs[1].n_args, 1);
    cr_assert_eq(SC.dirs[1].args[0], SYM("d"));
    /* followed by '=', the keyword is a name */
    cr_assert_eq(script_s("output = 3; output=output+1\noutput[1] = 2"), 0);
    cr_assert_eq(SC.n_dirs, 2);
    cr_assert_eq(rel(1, "output"), NUM(3, 1));
    cr_assert_eq(rel(2, "output"), term_add2(&S, SYM("output"), S.one));
    cr_assert_eq(rel(3, "output[1]"), NUM(2, 1));
    cr_assert_eq(script_s("output exp, output; x = 1"), 0);
    cr_assert_eq(SC.dirs[2].args[0], SYM("exp"));
    cr_assert_eq(SC.dirs[2].args[1], SYM("output"));
    one_error("output", 1, 7, "expected a name in 'output', found end of input");
    one_error("output\nx = 1", 1, 7, "expected a name in 'output', found end of line");
    one_error("output a b", 1, 10, "expected ',' or end of statement, found 'b'");
    one_error("output a,", 1, 10, "expected a name in 'output', found end of input");
    one_error("output 3", 1, 8, "expected a name in 'output', found '3'");
    one_error("output a)", 1, 9, "unmatched ')'");
    cr_assert_eq(SC.n_dirs, 3); /* the failed ones are not kept */
}

/* ---- errors ---- */

Test(parse, syntax_errors)
{
    one_error("x + 1 = 3", 1, 3, "expected '=' after name 'x'");
    one_error("foo bar", 1, 5, "expected '=' after name 'foo'");
    one_error("foo", 1, 4, "expected '=' after name 'foo'");
    one_error("x[1] y", 1, 6, "expected '=' after name 'x[1]'");
    one_error("exp(x) = 1", 1, 4, "expected '=' after name 'exp'");
    one_error("3 = x", 1, 1, "expected a name at the start of a statement, found '3'");
    one_error("(a) = 1", 1, 1, "expected a name at the start of a statement, found '('");
    one_error("a =", 1, 4, "expected an expression, found end of input");
    one_error("a = ;", 1, 5, "expected an expression, found ';'");
    one_error("a = b c", 1, 7, "expected an operator or end of statement, found 'c'");
    one_error("a = b = c", 1, 7, "expected an operator or end of statement, found '='");
    one_error("a = 2 3", 1, 7, "expected an operator or end of statement, found '3'");
    one_error("a = (b + c", 1, 11, "expected ')' to close '(' at 1:5");
    one_error("a = ((b + c)", 1, 13, "expected ')' to close '(' at 1:5");
    one_error("a = b)", 1, 6, "unmatched ')'");
    one_error("a = ()", 1, 6, "expected an expression, found ')'");
    one_error("a = 1 +", 1, 8, "expected an expression, found end of input");
    one_error("a = 1 * * 2", 1, 9, "expected an expression, found '*'");
    one_error("a = 2^", 1, 7, "expected an expression, found end of input");
    one_error("a = x y z w v u t s r q p o n m l k j i h g f e d c b a_very_long_name_indeed_it_is_really_long_yes",
              1, 7, "expected an operator or end of statement, found 'y'");
    one_error("a = b a_very_long_name_indeed_it_is_really_long_yes_more", 1, 7,
              "expected an operator or end of statement, found 'a_very_long_name_indeed_it_is_really...'");
    one_error("\n\n  a = (1 +\n\n   2 +", 5, 7, "expected an expression, found end of input");
    one_error("a = 1\nb = 2\nc = (1 + \n 2", 4, 3, "expected ')' to close '(' at 3:5");
    /* at the end of a line or of the input: just past the last token */
    one_error("a = (b + c\n", 1, 11, "expected ')' to close '(' at 1:5");
    one_error("a = (b + c  # note\n\n\n", 1, 11, "expected ')' to close '(' at 1:5");
    one_error("a =\nb = 1\n", 1, 4, "expected an expression, found end of line");
    one_error("a = 1 +\n\n", 1, 8, "expected an expression, found end of input");
    one_error("\tz = @", 1, 6, "unexpected character '@'");
    one_error("z = 3 [", 1, 7, "unexpected character '['");
    one_error("z = x [1]", 1, 7, "unexpected character '['");
    one_error("z = ]", 1, 5, "unexpected character ']'");
    one_error("z = a == b", 1, 7, "expected an operator or end of statement, found '='");
}

Test(parse, lexical_errors)
{
    one_error("a = 3 @", 1, 7, "unexpected character '@'");
    one_error("a = $x", 1, 5, "unexpected character '$'");
    one_error("a = \x01", 1, 5, "unexpected control character 0x01");
    one_error("a = 1\x7f", 1, 6, "unexpected control character 0x7f");
    one_error("a = \xff", 1, 5, "unexpected byte 0xff (not valid UTF-8)");
    one_error("a = x\xc3", 1, 6, "unexpected byte 0xc3 (not valid UTF-8)");       /* truncated */
    one_error("a = \xc3(", 1, 5, "unexpected byte 0xc3 (not valid UTF-8)");       /* bad continuation */
    one_error("a = \xc0\xaf", 1, 5, "unexpected byte 0xc0 (not valid UTF-8)");    /* overlong */
    one_error("a = \xe0\x80\x80", 1, 5, "unexpected byte 0xe0 (not valid UTF-8)"); /* overlong */
    one_error("a = \xed\xa0\x80", 1, 5, "unexpected byte 0xed (not valid UTF-8)"); /* surrogate */
    one_error("a = \xf4\x90\x80\x80", 1, 5, "unexpected byte 0xf4 (not valid UTF-8)"); /* > U+10FFFF */
    one_error("a = \x80", 1, 5, "unexpected byte 0x80 (not valid UTF-8)");
    one_error("a = \xc3\xa9", 1, 5, "unexpected character '\xc3\xa9'");
    one_error("\xce\xb1 = 1", 1, 1, "unexpected character '\xce\xb1'");
    one_error("a = 1 \xe2\x88\x92 2", 1, 7, "unexpected character '\xe2\x88\x92'");
    one_error("a = \xf0\x9f\x98\x80", 1, 5, "unexpected character '\xf0\x9f\x98\x80'");
    one_error("a = 1\xc2\xa0+ 2", 1, 6, "unexpected character '\xc2\xa0' (U+00A0)");
    one_error("\xef\xbb\xbf" "a = 1", 1, 1, "unexpected character '\xef\xbb\xbf' (U+FEFF)");
    one_error("a = 1.2.3", 1, 5, "malformed number '1.2.3'");
    one_error("a = 2x", 1, 5, "malformed number '2x'");
    one_error("a = 1e", 1, 5, "malformed number '1e'");
    one_error("a = 1e+", 1, 5, "malformed number '1e'");
    one_error("a = 3_000", 1, 5, "malformed number '3_000'");
    one_error("a = x[", 1, 7, "expected ']' to close '[' at 1:6");
    one_error("a = x[1,2", 1, 10, "expected ']' to close '[' at 1:6");
    one_error("a = x[1][", 1, 10, "expected ']' to close '[' at 1:9");
    one_error("a = x[a]", 1, 7, "expected a non-negative integer index, found 'a'");
    one_error("a = x[]", 1, 7, "expected a non-negative integer index, found ']'");
    one_error("a = x[-1]", 1, 7, "expected a non-negative integer index, found '-'");
    one_error("a = x[1,]", 1, 9, "expected a non-negative integer index, found ']'");
    one_error("a = x[1.5]", 1, 8, "expected ',' or ']' after an index, found '.'");
    one_error("a = x[1 2]", 1, 9, "expected ',' or ']' after an index, found '2'");
    one_error("a = x[\n 1\n  y]", 3, 3, "expected ',' or ']' after an index, found 'y'");
    one_error("a = x[\xff]", 1, 7, "unexpected byte 0xff (not valid UTF-8)");
    one_error("a = x[1\xc3\xa9]", 1, 8, "unexpected character '\xc3\xa9'");
}

Test(parse, nul_bytes)
{
    cr_assert_neq(script_n("a = 1\0 + 2\nb = 2", 16), 0);
    cr_assert_eq(D.n_errors, 1);
    check_diag(0, 1, 6, "unexpected NUL byte");
    cr_assert_eq(SC.n_rels, 1);
    rel(0, "b");
    diag_clear(&D);
    cr_assert_neq(script_n("\0", 1), 0);
    check_diag(0, 1, 1, "unexpected NUL byte");
    diag_clear(&D);
    cr_assert_neq(script_n("x[\0] = 1", 8), 0);
    check_diag(0, 1, 3, "unexpected NUL byte");
    cr_assert_eq(D.n_errors, 1);
    term_id t;
    diag_clear(&D);
    cr_assert_neq(parse_expr(&t, &S, &D, new_source("a\0", 2)), 0);
    check_diag(0, 1, 2, "unexpected NUL byte");
}

Test(parse, recovery_reports_several_errors)
{
    const char *text =
        "a = (1\n"       /* unclosed: the next line still parses */
        "b = 2\n"
        "c = @ @ @\n"    /* one error for the line */
        "d = x y\n"
        "e = 5 + (6 *\n" /* continues in parentheses ... */
        "  7))\n"        /* ... to here: one error, at the second ')' */
        "f = 6; g = 1 +; h = 8\n"
        "x + 1 = 3\n"
        "i = exp(1, 2) + foo(3)\n"
        "j = 9\n";
    cr_assert_neq(script_s(text), 0);
    cr_assert_eq(D.n_errors, 7);
    check_diag(0, 2, 1, "expected ')' to close '(' at 1:5");
    check_diag(1, 3, 5, "unexpected character '@'");
    check_diag(2, 4, 7, "expected an operator or end of statement, found 'y'");
    check_diag(3, 6, 5, "unmatched ')'");
    check_diag(4, 7, 15, "expected an expression, found ';'");
    check_diag(5, 8, 3, "expected '=' after name 'x'");
    check_diag(6, 9, 5, "function 'exp' takes 1 argument, got 2");
    cr_assert_eq(SC.n_rels, 4);
    cr_assert_eq(rel(0, "b"), NUM(2, 1));
    cr_assert_eq(rel(1, "f"), NUM(6, 1));
    cr_assert_eq(rel(2, "h"), NUM(8, 1));
    cr_assert_eq(rel(3, "j"), NUM(9, 1));
}

Test(parse, recovery_stops_when_the_error_list_is_full)
{
    strbuf b;
    strbuf_init(&b);
    for (int i = 0; i < 100; i++) strbuf_printf(&b, "a%d = @\n", i);
    strbuf_puts(&b, "z = 1\n");
    D.max_errors = 5;
    cr_assert_neq(script_n(b.data, b.len), 0);
    cr_assert_eq(D.n_errors, 5);
    cr_assert_eq(D.n, 5);
    check_diag(4, 5, 6, "unexpected character '@'");
    cr_assert_eq(SC.n_rels, 0);
    strbuf_clear(&b);
}

Test(parse, parse_expr_api)
{
    term_id t = TERM_NONE;
    cr_assert_eq(parse_expr(&t, &S, &D, new_source("  x\n*\n y  \n\n", 12)), 0);
    cr_assert_eq(t, term_mul2(&S, SYM("x"), SYM("y")));
    cr_assert_eq(parse_expr(&t, &S, &D, new_source("# note\n x # more\n", 17)), 0);
    cr_assert_eq(t, SYM("x"));
    cr_assert_eq(D.n, 0);
    const struct { const char *text; uint32_t line, col; const char *msg; } bad[] = {
        { "", 1, 1, "expected an expression, found end of input" },
        { "  \n ", 2, 2, "expected an expression, found end of input" },
        { "a b", 1, 3, "expected an operator or end of input, found 'b'" },
        { "a; b", 1, 2, "expected an operator or end of input, found ';'" },
        { "x = 1", 1, 3, "expected an operator or end of input, found '='" },
        { "(a", 1, 3, "expected ')' to close '(' at 1:1" },
        { "a)", 1, 2, "unmatched ')'" },
        { ")", 1, 1, "expected an expression, found ')'" },
        { "a + @", 1, 5, "unexpected character '@'" },
        { "a @", 1, 3, "unexpected character '@'" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        diag_clear(&D);
        t = 12345;
        cr_assert_neq(parse_expr(&t, &S, &D, new_source(bad[i].text, strlen(bad[i].text))), 0, "%s", bad[i].text);
        cr_assert_eq(t, 12345, "output written on error");
        cr_assert_eq(D.n_errors, 1, "%s", bad[i].text);
        check_diag(0, bad[i].line, bad[i].col, bad[i].msg);
    }
}

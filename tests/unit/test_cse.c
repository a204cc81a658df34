/* Tests of rewrite/cse: programs agree exactly with the original outputs at
 * random points (1,000+ random systems, with lse and masked scores too),
 * operation counts of small systems counted by hand, sub-sum, sub-product
 * and shared-denominator extraction, the seed block and larger attention
 * blocks, -inf and outputs with no real value, and the emitted C (lse
 * included) compiled, run and compared with certified values. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eval/ball.h"
#include "eval/eval.h"
#include "tests/lib/testeval.h"
#include "eval/expval.h"
#include "core/parse.h"
#include "core/system.h"
#include "io/gen.h"
#include "rewrite/cse.h"
#include "tests/lib/testgen.h"
#include "tests/lib/testlib.h"
#include "tests/lib/testscript.h"

typedef test_script loaded;

/* The program of text as HMP text, with its counts and inputs. */
typedef struct result {
    strbuf text;
    fmpz_t before;
    uint64_t dag, after;
    size_t temps, n_inputs;
    char **inputs;
    int restructured;
} result;

static void run_cse(result *r, const char *text, const cse_options *opt)
{
    loaded L;
    test_script_load(&L, text);
    cse_program p;
    cr_assert_eq(cse_build(&p, &L.y, opt), 0);
    strbuf_init(&r->text);
    cse_print(&r->text, &p);
    fmpz_init_set(r->before, p.ops_before);
    r->dag = p.ops_dag;
    r->after = p.ops_after;
    r->temps = p.n_temps;
    r->restructured = p.restructured;
    r->n_inputs = p.n_inputs;
    r->inputs = calloc(p.n_inputs + 1, sizeof *r->inputs);
    for (size_t i = 0; i < p.n_inputs; i++) r->inputs[i] = strdup(term_sym_name(&L.s, p.inputs[i]));
    cse_program_clear(&p);
    test_script_clear(&L);
}

static void result_clear(result *r)
{
    strbuf_clear(&r->text);
    fmpz_clear(r->before);
    for (size_t i = 0; i < r->n_inputs; i++) free(r->inputs[i]);
    free(r->inputs);
}

static result cse_default(const char *text)
{
    cse_options opt;
    cse_options_init(&opt);
    result r;
    run_cse(&r, text, &opt);
    return r;
}

/* ---- the program as a script ---- */

/* Every line reads only inputs and lines above it; returns the number of
 * relations (lines) of the program. */
static size_t check_straight_line(const char *program)
{
    loaded P;
    test_script_load(&P, program);
    unsigned char *mark = calloc((size_t)term_count(&P.s) + 1, 1);
    for (size_t i = 0; i < P.sc.n_rels; i++) {
        memset(mark, 0, (size_t)term_count(&P.s) + 1);
        term_mark_reachable(mark, &P.s, &P.sc.rels[i].rhs, 1);
        for (term_id t = 1; t <= P.sc.rels[i].rhs; t++) {
            if (!mark[t] || term_op_of(&P.s, t) != OP_SYM) continue;
            int32_t r = sys_relation_of(&P.y, t);
            cr_assert(r < (int32_t)i, "line %zu (%s) reads %s before it is defined:\n%s", i,
                      term_sym_name(&P.s, P.sc.rels[i].name), term_sym_name(&P.s, t), program);
        }
    }
    free(mark);
    size_t n = P.sc.n_rels;
    test_script_clear(&P);
    return n;
}

/* The outputs of text with inputs names[i] = vals[i], inlined to terms over
 * numbers (the inlining does the arithmetic exactly). */
static void outputs_at(loaded *L, term_id **out, const char *text, char **names, const fmpq *vals, size_t n)
{
    test_script_load(L, text);
    for (size_t i = 0; i < n; i++) {
        term_id sym = term_sym_cstr(&L->s, names[i]);
        term_id v = term_num(&L->s, vals + i);
        sys_bind(&L->y, sym, v); /* -1 for a name the script does not read: fine */
    }
    *out = calloc(L->y.n_outputs + 1, sizeof **out);
    for (size_t i = 0; i < L->y.n_outputs; i++)
        (*out)[i] = sys_inline_relation(&L->y, (size_t)sys_relation_of(&L->y, L->y.outputs[i]));
}

typedef struct agree_stats {
    size_t exact, balls, skipped;
} agree_stats;

/* Both scripts' outputs agree at the point: exactly (expval: rationals and
 * exp of rationals), or else as overlapping Arb balls at 256 bits. A
 * division by zero at the point, or a value outside the domain, skips it. */
static void agree_at(agree_stats *st, const char *original, const char *program, char **names, const fmpq *vals,
                     size_t n)
{
    loaded A, B;
    term_id *ta, *tb;
    outputs_at(&A, &ta, original, names, vals, n);
    outputs_at(&B, &tb, program, names, vals, n);
    cr_assert_eq(A.y.n_outputs, B.y.n_outputs);
    for (size_t i = 0; i < A.y.n_outputs; i++) {
        cr_assert_str_eq(term_sym_name(&A.s, A.y.outputs[i]), term_sym_name(&B.s, B.y.outputs[i]));
        expval_ctx ca, cb;
        expval_ctx_init(&ca, &A.s);
        expval_ctx_init(&cb, &B.s);
        expval va, vb;
        expval_init(&va);
        expval_init(&vb);
        term_id where;
        int sa = expval_of_term(&va, &where, &ca, ta[i]);
        int sb = expval_of_term(&vb, &where, &cb, tb[i]);
        if (sa == EV_DIV_ZERO || sb == EV_DIV_ZERO || sa == EV_TOO_BIG || sb == EV_TOO_BIG) {
            st->skipped++;
        } else if (sa == EV_OK && sb == EV_OK) {
            cr_assert(expval_equal(&va, &vb), "output %s differs:\n%s\nprogram:\n%s", term_sym_name(&A.s, A.y.outputs[i]),
                      original, program);
            st->exact++;
        } else {
            ball_ctx ba, bb;
            ball_ctx_init(&ba, &A.s);
            ball_ctx_init(&bb, &B.s);
            const arb_struct *xa, *xb;
            ball_status qa = ball_eval(&xa, &where, &ba, ta[i], 256);
            arb_t keep;
            arb_init(keep);
            if (qa == BALL_OK) arb_set(keep, xa);
            ball_status qb = ball_eval(&xb, &where, &bb, tb[i], 256);
            /* a ball compares only when finite and tight (sqrt of a
             * negative number, say, gives an indeterminate one) */
            if (qa == BALL_OK && qb == BALL_OK && arb_is_finite(keep) && arb_is_finite(xb) &&
                arb_rel_accuracy_bits(keep) > 64 && arb_rel_accuracy_bits(xb) > 64) {
                cr_assert(arb_overlaps(keep, xb), "output %s differs (balls):\n%s\nprogram:\n%s",
                          term_sym_name(&A.s, A.y.outputs[i]), original, program);
                st->balls++;
            } else {
                st->skipped++;
            }
            arb_clear(keep);
            ball_ctx_clear(&ba);
            ball_ctx_clear(&bb);
        }
        expval_clear(&va);
        expval_clear(&vb);
        expval_ctx_clear(&ca);
        expval_ctx_clear(&cb);
    }
    free(ta);
    free(tb);
    test_script_clear(&A);
    test_script_clear(&B);
}

/* ---- random systems ---- */

static const char *const constants[] = { "2", "3", "1/2", "-1", "2/3", "5", "-3/4" };

/* An expression over inputs x1..xk and relations r1..r(nr); calls: 0 none,
 * 1 exp, sqrt and max, 2 also lse of two or three arguments. */
static void random_expr(strbuf *b, test_rng *r, int depth, int k, int nr, int calls)
{
    int c = test_randn(r, 100);
    if (depth == 0 || c < 25) {
        int leaf = test_randn(r, 10);
        if (leaf < 5 || (leaf < 8 && nr == 0)) strbuf_printf(b, "x%d", 1 + test_randn(r, k));
        else if (leaf < 8) strbuf_printf(b, "r%d", 1 + test_randn(r, nr));
        else strbuf_puts(b, constants[test_randn(r, (int)(sizeof constants / sizeof *constants))]);
        return;
    }
    int op = test_randn(r, calls == 2 ? 15 : calls ? 13 : 10);
    if (op >= 13) { /* lse(a, b) or lse(a, b, c) */
        strbuf_puts(b, "lse(");
        for (int i = 0; i < op - 11; i++) {
            if (i) strbuf_puts(b, ", ");
            random_expr(b, r, depth - 1, k, nr, calls);
        }
        strbuf_putc(b, ')');
        return;
    }
    const char *pre = "(", *mid = " + ", *post = ")";
    switch (op) {
    case 0: case 1: mid = " + "; break;
    case 2: mid = " - "; break;
    case 3: case 4: mid = "*"; break;
    case 5: mid = "/"; break;
    case 6: /* a sum of three */
        strbuf_putc(b, '(');
        for (int i = 0; i < 3; i++) {
            if (i) strbuf_puts(b, test_randn(r, 3) ? " + " : " - ");
            random_expr(b, r, depth - 1, k, nr, calls);
        }
        strbuf_putc(b, ')');
        return;
    case 7:
        strbuf_putc(b, '(');
        random_expr(b, r, depth - 1, k, nr, calls);
        strbuf_puts(b, test_randn(r, 2) ? ")^2" : test_randn(r, 2) ? ")^3" : ")^(-1)");
        return;
    case 8:
        strbuf_puts(b, "-(");
        random_expr(b, r, depth - 1, k, nr, calls);
        strbuf_putc(b, ')');
        return;
    case 9: mid = "*"; break;
    case 10: pre = "exp("; break;
    case 11: pre = "sqrt("; break;
    default: pre = "max("; mid = ", "; break;
    }
    strbuf_puts(b, pre);
    random_expr(b, r, depth - 1, k, nr, calls);
    if (op < 10 || op > 11) {
        strbuf_puts(b, mid);
        random_expr(b, r, depth - 1, k, nr, calls);
    }
    strbuf_puts(b, post);
}

/* A system of relations with deliberate sharing: common sub-sums, common
 * sub-products and shared denominators next to random expressions. */
static void random_system(strbuf *b, test_rng *r, int calls)
{
    int k = 1 + test_randn(r, 4), nr = 0;
    int n = 2 + test_randn(r, 6);
    for (int i = 0; i < n; i++) {
        int shape = test_randn(r, 10);
        strbuf_printf(b, "r%d = ", ++nr);
        if (shape == 0 && nr > 1) { /* a + b + c next to a + b + d */
            int a = 1 + test_randn(r, k), c = 1 + test_randn(r, nr - 1);
            strbuf_printf(b, "x%d + r%d + %s\nr%d = x%d + r%d - ", a, c, test_randn(r, 2) ? "x1" : "3", nr + 1, a, c);
            random_expr(b, r, 1, k, nr - 1, calls);
            nr++;
        } else if (shape == 1 && nr > 1) { /* x*y*z next to x*y*w */
            int a = 1 + test_randn(r, k), c = 1 + test_randn(r, nr - 1);
            strbuf_printf(b, "2*x%d*r%d*x1\nr%d = -x%d*r%d*", a, c, nr + 1, a, c);
            random_expr(b, r, 1, k, nr - 1, calls);
            nr++;
        } else if (shape == 3 && calls == 2) { /* softmax weights of a row, a score masked or not */
            int a = 1 + test_randn(r, k), c = 1 + test_randn(r, k), masked = test_randn(r, 3) == 0;
            char third[32];
            snprintf(third, sizeof third, masked ? "-inf" : "x%d", c);
            strbuf_printf(b, "lse(x%d, 2*x%d, %s)\n", a, c, third);
            strbuf_printf(b, "r%d = exp(x%d - r%d)*x1 + exp(2*x%d - r%d)*x2 + exp(%s - r%d)*x%d", nr + 1, a, nr, c, nr, third,
                      nr, k);
            nr++;
        } else if (shape == 2) { /* a shared denominator */
            strbuf_puts(b, "(");
            random_expr(b, r, 1, k, nr - 1, calls);
            int a = 1 + test_randn(r, k);
            strbuf_printf(b, ")/(x%d + 7) - x%d/(x%d + 7)", a, 1 + test_randn(r, k), a);
        } else {
            random_expr(b, r, 3, k, nr - 1, calls);
        }
        strbuf_putc(b, '\n');
    }
    if (test_randn(r, 3) == 0) {
        strbuf_puts(b, "output ");
        int m = 1 + test_randn(r, nr);
        for (int i = 0; i < m; i++) strbuf_printf(b, "%sr%d", i ? ", " : "", nr - i);
        strbuf_putc(b, '\n');
    }
}

static void random_point(fmpq *vals, size_t n, test_rng *r, int small)
{
    for (size_t i = 0; i < n; i++) {
        slong p = test_randn(r, small ? 9 : 41) - (small ? 4 : 20), q = 1 + test_randn(r, small ? 4 : 9);
        if (p == 0) p = 1;
        fmpq_set_si(vals + i, p, (ulong)q);
    }
}

/* Minus signs in the relations of a program (comments left out). */
static uint64_t minus_signs(const char *program)
{
    uint64_t n = 0;
    for (const char *p = program; *p;) {
        const char *end = strchr(p, '\n');
        if (!end) end = p + strlen(p);
        if (*p != '#')
            for (const char *c = p; c < end; c++) n += *c == '-';
        p = *end ? end + 1 : end;
    }
    return n;
}

static void check_random_systems(uint64_t seed, int count, int calls)
{
    test_rng r = { seed };
    agree_stats st = { 0, 0, 0 };
    for (int it = 0; it < count; it++) {
        strbuf text;
        strbuf_init(&text);
        random_system(&text, &r, calls);
        result res = cse_default(strbuf_str(&text));
        cr_assert(res.after <= res.dag, "ops_after %llu > ops_dag %llu:\n%s", (unsigned long long)res.after,
                  (unsigned long long)res.dag, strbuf_str(&text));
        /* sharing saves, except where a shared value is read negated: a
         * tree absorbs the sign (-(5/x) is (-5)/x), a line costs one
         * operation for it, printed as a minus */
        fmpz_t bound;
        fmpz_init(bound);
        fmpz_add_ui(bound, res.before, minus_signs(strbuf_str(&res.text)));
        cr_assert(fmpz_cmp_ui(bound, res.dag) >= 0, "ops_before < ops_dag:\n%s", strbuf_str(&text));
        fmpz_clear(bound);
        size_t lines = check_straight_line(strbuf_str(&res.text));
        loaded O;
        test_script_load(&O, strbuf_str(&text));
        cr_assert_eq(lines, res.temps + O.y.n_outputs);
        test_script_clear(&O);
        fmpq *vals = _fmpq_vec_init((slong)res.n_inputs + 1);
        for (int k = 0; k < 2; k++) {
            random_point(vals, res.n_inputs, &r, calls);
            agree_at(&st, strbuf_str(&text), strbuf_str(&res.text), res.inputs, vals, res.n_inputs);
        }
        _fmpq_vec_clear(vals, (slong)res.n_inputs + 1);
        result_clear(&res);
        strbuf_clear(&text);
    }
    /* most outputs are compared, and exactly (lse by balls mostly) */
    cr_assert(st.exact + st.balls > 3 * st.skipped, "exact %zu, balls %zu, skipped %zu", st.exact, st.balls,
              st.skipped);
    if (calls < 2) cr_assert(st.exact > st.balls, "exact %zu, balls %zu", st.exact, st.balls);
    else cr_assert(st.balls > 0 && st.exact > 0, "exact %zu, balls %zu", st.exact, st.balls);
}

Test(cse, random_rational_systems_agree_exactly)
{
    check_random_systems(20261123, 800 * test_multiplier(), 0);
}

Test(cse, random_systems_with_calls_agree)
{
    check_random_systems(777, 400 * test_multiplier(), 1);
}

/* With lse calls and softmax rows (exp(s - lse(...)), a score sometimes
 * masked with -inf): the values of the program and of the script agree
 * (Arb balls at 256 bits overlap, or equal exactly). */
Test(cse, random_systems_with_lse_agree)
{
    check_random_systems(4242, 400 * test_multiplier(), 2);
}

/* Score-like systems: s_ij = sum_c q_ic k_jc with q, k linear in the rows
 * of x (coefficients symbols, numbers or products), some forms also used
 * elsewhere, so the re-association is sometimes kept and sometimes not. */
static void random_bilinear_system(strbuf *b, test_rng *r)
{
    int n = 2 + test_randn(r, 4), d = 2 + test_randn(r, 2), e = 2 + test_randn(r, 2);
    const char *coef[] = { "A%d%d", "B%d%d", "2", "-1", "1/3", "A%d%d*B%d%d" };
    int kinds[2][4][4]; /* the coefficient of x_a in feature c: one per side, not per token */
    for (int side = 0; side < 2; side++)
        for (int c = 1; c <= e; c++)
            for (int a = 1; a <= d; a++) kinds[side][c][a] = test_randn(r, 6);
    for (int side = 0; side < 2; side++)
        for (int i = 1; i <= n; i++)
            for (int c = 1; c <= e; c++) {
                strbuf_printf(b, "%c%d_%d =", side ? 'k' : 'q', i, c);
                for (int a = 1; a <= d; a++) {
                    int kind = kinds[side][c][a];
                    strbuf_puts(b, a > 1 ? " + " : " ");
                    if (kind == 5) strbuf_printf(b, coef[5], c, a, a, c);
                    else if (kind < 2) strbuf_printf(b, coef[kind], c + 3 * side, a);
                    else strbuf_puts(b, coef[kind]);
                    strbuf_printf(b, "*x%d_%d", i, a);
                }
                strbuf_putc(b, '\n');
            }
    int scaled[4];
    for (int c = 1; c <= e; c++) scaled[c] = test_randn(r, 4) == 0;
    for (int i = 1; i <= n; i++)
        for (int j = 1; j <= n; j++) {
            if (test_randn(r, 8) == 0) continue; /* not every pair */
            strbuf_printf(b, "s%d_%d =", i, j);
            for (int c = 1; c <= e; c++) strbuf_printf(b, "%s%sq%d_%d*k%d_%d", c > 1 ? " + " : " ", scaled[c] ? "3*" : "", i, c, j, c);
            strbuf_putc(b, '\n');
        }
    if (test_randn(r, 3) == 0) strbuf_puts(b, "t = exp(q1_1)\n"); /* a form used elsewhere too */
}

Test(cse, random_bilinear_systems_agree)
{
    test_rng r = { 31337 };
    agree_stats st = { 0, 0, 0 };
    int kept = 0, count = 150 * test_multiplier();
    for (int it = 0; it < count; it++) {
        strbuf text;
        strbuf_init(&text);
        random_bilinear_system(&text, &r);
        result res = cse_default(strbuf_str(&text));
        cr_assert(res.after <= res.dag, "%s", strbuf_str(&text));
        kept += res.restructured;
        check_straight_line(strbuf_str(&res.text));
        fmpq *vals = _fmpq_vec_init((slong)res.n_inputs + 1);
        random_point(vals, res.n_inputs, &r, 0);
        agree_at(&st, strbuf_str(&text), strbuf_str(&res.text), res.inputs, vals, res.n_inputs);
        _fmpq_vec_clear(vals, (slong)res.n_inputs + 1);
        result_clear(&res);
        strbuf_clear(&text);
    }
    cr_assert(kept > 0 && kept < count, "re-association kept in %d of %d", kept, count);
    cr_assert(st.exact > 0 && st.balls == 0 && st.skipped < st.exact / 10, "exact %zu, balls %zu, skipped %zu", st.exact,
              st.balls, st.skipped);
}

/* ---- counts by hand ---- */

static void expect_counts(const char *text, long before, uint64_t dag, uint64_t after)
{
    result r = cse_default(text);
    cr_assert(fmpz_equal_si(r.before, before), "ops_before of\n%s", text);
    cr_assert_eq(r.dag, dag, "ops_dag of\n%s: %llu", text, (unsigned long long)r.dag);
    cr_assert_eq(r.after, after, "ops_after of\n%s: %llu\n%s", text, (unsigned long long)r.after, strbuf_str(&r.text));
    check_straight_line(strbuf_str(&r.text));
    result_clear(&r);
}

Test(cse, counts_of_single_operations)
{
    expect_counts("a = x + y", 1, 1, 1);
    expect_counts("a = x - y", 1, 1, 1);          /* a subtraction, not a multiplication by -1 */
    expect_counts("a = -x - y", 2, 2, 2);         /* -x - y: a negation and a subtraction */
    expect_counts("a = -2*x - y", 2, 2, 2);       /* (-2)*x - y: the constant carries the sign */
    expect_counts("a = 3 - x", 1, 1, 1);
    expect_counts("a = x*y*z", 2, 2, 2);
    expect_counts("a = x/y", 1, 1, 1);
    expect_counts("a = 1/x", 1, 1, 1);            /* x^-1 is one division */
    expect_counts("a = x/(y*z)", 2, 2, 2);        /* y*z, then the division */
    expect_counts("a = -x", 1, 1, 1);
    expect_counts("a = -1/x", 1, 1, 1);           /* (-1)/x */
    expect_counts("a = 2*x", 1, 1, 1);
    expect_counts("a = x/3", 1, 1, 1);            /* (1/3)*x */
    expect_counts("a = x^2", 1, 1, 1);            /* x*x */
    expect_counts("a = x^3", 2, 2, 2);            /* x^2*x */
    expect_counts("a = x^4", 2, 2, 2);            /* (x^2)^2 */
    expect_counts("a = x^5", 3, 3, 3);            /* (x^2)^2*x */
    expect_counts("a = x^8", 3, 3, 3);            /* three squarings */
    expect_counts("a = x^-2", 2, 2, 2);           /* 1/(x*x) */
    expect_counts("a = sqrt(x)", 1, 1, 1);
    expect_counts("a = 1/sqrt(x)", 2, 2, 2);
    expect_counts("a = x^(3/2)", 1, 1, 1);        /* one call of pow */
    expect_counts("a = exp(x)", 1, 1, 1);
    expect_counts("a = exp(-x)", 2, 2, 2);        /* the argument is negated */
    expect_counts("a = exp(y - x)", 2, 2, 2);
    expect_counts("a = -exp(x)", 2, 2, 2);
    expect_counts("a = max(x, y, z)", 2, 2, 2);   /* two fmax */
    expect_counts("a = log(x) + tanh(y) + abs(z)", 5, 5, 5);
    expect_counts("a = 3", 0, 0, 0);
    expect_counts("a = x", 0, 0, 0);
}

Test(cse, counts_of_shared_nodes)
{
    /* exp(x) written twice, computed once: trees 2 + 2, DAG 3 */
    expect_counts("t = exp(x)\na = t + y\nb = t*y", 4, 3, 3);
    /* s^2 + s with s = x + y is s^2 + x + y (sums flatten): 2 + 1 + 1 as
     * a tree and as a DAG; x + y is then found twice: s, s^2 + s: 3 */
    expect_counts("s = x + y\na = s^2 + s", 4, 4, 3);
    /* x - y and y - x share one node t, y - x read as -t: the tree
     * 1 + (1 + 1) + (1 + 1) = 5; the program t, t^2, t*z, t^2 - t*z: 4 */
    expect_counts("a = (x - y)^2 + (y - x)*z", 5, 4, 4);
    /* a negation that a call needs is an operation: exp(t), exp(-t) */
    expect_counts("a = exp(x - y)\nb = exp(y - x)\nc = a + b", 5, 5, 5);
}

/* A chain s_(k+1) = exp(s_k) + exp(2*s_k) from s_0 = x + y: a tree of
 * c_(k+1) = 2 c_k + 4, c_0 = 1, that is 5*2^k - 4 operations; a DAG of
 * 1 + 4k (two exp, one product, one sum per level). */
Test(cse, astronomical_ops_before_is_exact)
{
    int k = 300;
    strbuf b;
    strbuf_init(&b);
    strbuf_puts(&b, "s0 = x + y\n");
    for (int i = 0; i < k; i++) strbuf_printf(&b, "s%d = exp(s%d) + exp(2*s%d)\n", i + 1, i, i);
    result r = cse_default(strbuf_str(&b));
    fmpz_t want;
    fmpz_init(want);
    fmpz_ui_pow_ui(want, 2, (ulong)k);
    fmpz_mul_ui(want, want, 5);
    fmpz_sub_ui(want, want, 4);
    cr_assert(fmpz_equal(r.before, want));
    cr_assert_eq(r.dag, (uint64_t)(1 + 4 * k));
    cr_assert_eq(r.after, (uint64_t)(1 + 4 * k));
    check_straight_line(strbuf_str(&r.text));
    fmpz_clear(want);
    result_clear(&r);
    strbuf_clear(&b);
}

/* ---- extraction ---- */

static size_t count_lines_with(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p++) n++;
    return n;
}

Test(cse, common_sub_sum_is_computed_once)
{
    /* a + b + c and a + b + d: 2 + 2 written, 1 (a + b) + 1 + 1 after */
    const char *text = "u = a + b + c\nv = a + b + d\n";
    result r = cse_default(text);
    cr_assert(fmpz_equal_si(r.before, 4));
    cr_assert_eq(r.dag, 4);
    cr_assert_eq(r.after, 3);
    cr_assert_eq(r.temps, 1);
    cr_assert_eq(count_lines_with(strbuf_str(&r.text), "a + b"), 1, "%s", strbuf_str(&r.text));
    cr_assert(strstr(strbuf_str(&r.text), "t1 = a + b\nu = c + t1\nv = d + t1\n"), "%s", strbuf_str(&r.text));
    result_clear(&r);
    /* with signs: a - b + c and b - a + d share a - b (the second negated) */
    r = cse_default("u = a - b + c\nv = b - a + d\n");
    cr_assert_eq(r.after, 3, "%s", strbuf_str(&r.text));
    result_clear(&r);
    /* three sums sharing a + b + c: 3 + 3 + 3 written, 2 + 1 + 1 + 1 after */
    r = cse_default("u = a + b + c + x\nv = a + b + c + y\nw = a + b + c + z\n");
    cr_assert_eq(r.dag, 9);
    cr_assert_eq(r.after, 5, "%s", strbuf_str(&r.text));
    result_clear(&r);
}

Test(cse, common_sub_product_is_computed_once)
{
    /* x*y*z and x*y*w: 2 + 2 written, x*y once then 1 + 1 */
    result r = cse_default("u = x*y*z\nv = x*y*w\n");
    cr_assert_eq(r.dag, 4);
    cr_assert_eq(r.after, 3);
    cr_assert(strstr(strbuf_str(&r.text), "t1 = x*y\n"), "%s", strbuf_str(&r.text));
    result_clear(&r);
    /* x/(d*e) and y/(d*e) share the divisor product d*e */
    r = cse_default("u = x/(d*e*f)\nv = y/(d*e*g)\n");
    cr_assert_eq(r.dag, 6);
    cr_assert_eq(r.after, 5, "%s", strbuf_str(&r.text));
    result_clear(&r);
}

Test(cse, shared_denominator_divides_once)
{
    /* x/D + y/D + z/D, D = u + v: written 2 + 3*(1 + 1) = 8 (D each
     * time), DAG 1 + 3 + 2 = 6, after (x + y + z)/D: 1 + 2 + 1 = 4 */
    const char *text = "d = u + v\na = x/d + y/d + z/d\n";
    result r = cse_default(text);
    cr_assert(fmpz_equal_si(r.before, 8));
    cr_assert_eq(r.dag, 6);
    cr_assert_eq(r.after, 4);
    cr_assert(strstr(strbuf_str(&r.text), "a = (x + y + z)/(u + v)\n"), "%s", strbuf_str(&r.text));
    result_clear(&r);
    /* softmax-weighted sums: each output divides once by its row sum */
    r = cse_default("d = exp(s1) + exp(s2)\no1 = exp(s1)/d*v1 + exp(s2)/d*v2\no2 = exp(s1)/d*w1 + exp(s2)/d*w2\n");
    /* DAG: 2 exp + 1 sum + 2*(2 products of 2 mults... ): each output
     * v1*e1/d + v2*e2/d = 2*2 + 1 = 5, so 3 + 10 = 13; after: each
     * (v1*e1 + v2*e2)/d = 2 + 1 + 1 = 4, so 3 + 8 = 11 */
    cr_assert_eq(r.dag, 13, "%s", strbuf_str(&r.text));
    cr_assert_eq(r.after, 11, "%s", strbuf_str(&r.text));
    result_clear(&r);
}

Test(cse, common_factor_of_a_sum)
{
    /* 2*x*a + 2*x*b: 2 + 2 + 1 written; x*2*(a + b): 1 + 1 + 1 */
    result r = cse_default("u = 2*x*a + 2*x*b\n");
    cr_assert_eq(r.dag, 5);
    cr_assert_eq(r.after, 3, "%s", strbuf_str(&r.text));
    result_clear(&r);
}

/* ---- the seed block ---- */

/* `hmp gen attention N D [--symbolic]`, in the seed's names when they fit. */
static void seed_text(strbuf *b, uint32_t n, uint32_t d, int symbolic)
{
    unsigned flags = (symbolic ? TEST_GEN_SYMBOLIC : 0) | (n <= 9 && d <= 9 ? TEST_GEN_COMPACT : 0);
    char *text = test_gen_attention(n, d, 1, flags, 1);
    cr_assert(text != NULL);
    strbuf_init(b);
    strbuf_puts(b, text);
    free(text);
}

/* Counts of `hmp gen attention 3 2 --symbolic --compact`, by hand:
 * before: per output sum_j v_j e_ij / D_i as a tree: v = 3, s = q.k =
 *   1 + 2 (1 + 3 + 3) = 15, e = 16, D = 2 + 3*16 = 50, each term
 *   2 + 3 + 16 + 50 = 71, the output 2 + 3*71 = 215; six: 1290.
 * DAG: q, k, v 18*3 = 54, s 9*3 = 27, exp 9, D 3*2 = 6, outputs
 *   6*(3*2 + 2) = 48: 144.
 * After: each output divides once, 6*(3 + 2 + 1) = 36 instead of 48: 132.
 * Re-associated, s_ij = x_i^T (Wq^T Wk) x_j: M 4*3 = 12, M x_j 3*2*3 = 18,
 *   s 9*3 = 27 replace q, k, s (18 + 18 + 27): 126. */
Test(cse, seed_block_counts)
{
    strbuf text;
    seed_text(&text, 3, 2, 1);
    result r = cse_default(strbuf_str(&text));
    cr_assert(fmpz_equal_si(r.before, 1290));
    cr_assert_eq(r.dag, 144);
    cr_assert_eq(r.after, 126);
    cr_assert(r.restructured);
    cr_assert(r.after < 132); /* the seed's documents: 132 instructions */
    check_straight_line(strbuf_str(&r.text));
    test_rng rng = { 5 };
    agree_stats st = { 0, 0, 0 };
    fmpq *vals = _fmpq_vec_init((slong)r.n_inputs);
    for (int k = 0; k < 3; k++) {
        random_point(vals, r.n_inputs, &rng, 1);
        agree_at(&st, strbuf_str(&text), strbuf_str(&r.text), r.inputs, vals, r.n_inputs);
    }
    cr_assert_eq(st.exact, 18); /* exp of rationals: compared exactly */
    _fmpq_vec_clear(vals, (slong)r.n_inputs);
    result_clear(&r);

    cse_options opt;
    cse_options_init(&opt);
    opt.restructure = 0;
    run_cse(&r, strbuf_str(&text), &opt);
    cr_assert_eq(r.after, 132);
    cr_assert(!r.restructured);
    result_clear(&r);
    opt.extract = 0;
    run_cse(&r, strbuf_str(&text), &opt);
    cr_assert_eq(r.after, 144);
    result_clear(&r);
    strbuf_clear(&text);
}

/* Larger blocks: the re-association is kept exactly when it saves (more
 * tokens than features), and programs still agree. */
Test(cse, attention_blocks_agree)
{
    static const uint32_t sizes[][2] = { { 4, 2 }, { 2, 3 }, { 5, 3 } };
    for (size_t c = 0; c < sizeof sizes / sizeof *sizes; c++) {
        strbuf text;
        seed_text(&text, sizes[c][0], sizes[c][1], 1);
        result r = cse_default(strbuf_str(&text));
        cr_assert(r.after < r.dag);
        cr_assert_eq(r.restructured, sizes[c][0] > sizes[c][1], "n %u d %u", sizes[c][0], sizes[c][1]);
        test_rng rng = { c + 1 };
        agree_stats st = { 0, 0, 0 };
        fmpq *vals = _fmpq_vec_init((slong)r.n_inputs);
        random_point(vals, r.n_inputs, &rng, 1);
        agree_at(&st, strbuf_str(&text), strbuf_str(&r.text), r.inputs, vals, r.n_inputs);
        cr_assert_eq(st.exact, (size_t)sizes[c][0] * sizes[c][1]);
        _fmpq_vec_clear(vals, (slong)r.n_inputs);
        result_clear(&r);
        strbuf_clear(&text);
    }
}

Test(cse, output_is_deterministic)
{
    strbuf text;
    seed_text(&text, 4, 3, 1);
    result a = cse_default(strbuf_str(&text)), b = cse_default(strbuf_str(&text));
    cr_assert_str_eq(strbuf_str(&a.text), strbuf_str(&b.text));
    result_clear(&a);
    result_clear(&b);
    strbuf_clear(&text);
}

Test(cse, names_of_relations_and_temporaries)
{
    /* a shared relation keeps its name; a clash with t1 moves the prefix */
    result r = cse_default("q = x + y\na = q*z\nb = q*w\n");
    cr_assert(strstr(strbuf_str(&r.text), "\nq = x + y\na = q*z\nb = q*w\n"), "%s", strbuf_str(&r.text));
    result_clear(&r);
    r = cse_default("t1 = 5\nu = a + b + c*t1\nv = a + b + d\n");
    cr_assert(strstr(strbuf_str(&r.text), "tmp1 = a + b\n"), "%s", strbuf_str(&r.text));
    result_clear(&r);
}

/* ---- C ---- */

static int have_cc(void) { return system("command -v cc > /dev/null 2>&1") == 0; }

/* Compiles the C of text with a main reading the inputs, runs it at vals
 * (exact in double) and compares every output with the certified value
 * (30 digits) within relative error 1e-12 (absolute 1e-300 near zero). */
static void check_c(const char *text, const fmpq *vals, size_t n_vals)
{
    if (!have_cc()) {
        cr_log_warn("no C compiler (cc) found: the emitted C is not compiled");
        return;
    }
    loaded L;
    test_script_load(&L, text);
    cse_options opt;
    cse_options_init(&opt);
    cse_program p;
    cr_assert_eq(cse_build(&p, &L.y, &opt), 0);
    cr_assert_eq(p.n_inputs, n_vals);
    strbuf c;
    strbuf_init(&c);
    cse_emit_c(&c, &p);
    char dir[] = "/tmp/hmp-cse-XXXXXX";
    cr_assert(mkdtemp(dir));
    char path[256], cmd[1024];
    snprintf(path, sizeof path, "%s/prog.c", dir);
    FILE *f = fopen(path, "w");
    cr_assert(f);
    fputs(strbuf_str(&c), f);
    fprintf(f, "\n#include <stdio.h>\n#include <stdlib.h>\nint main(int argc, char **argv)\n{\n"
               "    double in[%zu], out[%zu];\n    for (int i = 1; i < argc; i++) in[i - 1] = strtod(argv[i], NULL);\n"
               "    hmp_outputs(in, out);\n    for (int i = 0; i < %zu; i++) printf(\"%%.17g\\n\", out[i]);\n"
               "    return 0;\n}\n",
            n_vals + 1, p.n_outputs + 1, p.n_outputs);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cc -std=c99 -O1 -Wall -Wextra -Werror -o %s/prog %s -lm 2>&1", dir, path);
    FILE *cc = popen(cmd, "r");
    char line[4096];
    strbuf diag;
    strbuf_init(&diag);
    while (fgets(line, sizeof line, cc)) strbuf_puts(&diag, line);
    cr_assert_eq(pclose(cc), 0, "the emitted C does not compile:\n%s", strbuf_str(&diag));
    strbuf_clear(&diag);
    /* certified values of the same script at the same point */
    loaded R;
    test_script_load(&R, text);
    int n_cmd = snprintf(cmd, sizeof cmd, "%s/prog", dir);
    for (size_t i = 0; i < n_vals; i++) {
        term_id sym = term_sym_cstr(&R.s, term_sym_name(&L.s, p.inputs[i]));
        cr_assert_eq(sys_bind(&R.y, sym, term_num(&R.s, vals + i)), 0);
        n_cmd += snprintf(cmd + n_cmd, sizeof cmd - (size_t)n_cmd, " %.17g", fmpq_get_d(vals + i));
    }
    eval_request req;
    eval_request_init(&req);
    eval_result res;
    cr_assert_eq(test_eval_outputs(&res, &R.y, &req, &R.d), 0);
    FILE *run = popen(cmd, "r");
    cr_assert(run);
    for (size_t i = 0; i < res.n; i++) {
        cr_assert(fgets(line, sizeof line, run), "missing output %zu", i);
        double got = strtod(line, NULL), want = strtod(res.v[i].decimal, NULL);
        if (isinf(want)) { /* an output -inf */
            cr_assert(got == want, "%s: C gives %.17g, certified %s", term_sym_name(&R.s, res.v[i].name), got,
                      res.v[i].decimal);
            continue;
        }
        double err = got > want ? got - want : want - got, mag = want < 0 ? -want : want;
        cr_assert(err <= 1e-12 * mag + 1e-300, "%s: C gives %.17g, certified %s", term_sym_name(&R.s, res.v[i].name),
                  got, res.v[i].decimal);
    }
    cr_assert_eq(pclose(run), 0);
    eval_result_clear(&res);
    test_script_clear(&R);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
    strbuf_clear(&c);
    cse_program_clear(&p);
    test_script_clear(&L);
}

Test(cse, emitted_c_computes_the_outputs)
{
    strbuf text;
    seed_text(&text, 3, 2, 1);
    test_rng r = { 99 };
    fmpq *vals = _fmpq_vec_init(18);
    for (int i = 0; i < 18; i++) fmpq_set_si(vals + i, test_randn(&r, 129) - 64, 64); /* exact doubles */
    check_c(strbuf_str(&text), vals, 18);
    _fmpq_vec_clear(vals, 18);
    strbuf_clear(&text);
    /* every kind of operation, names that are not C identifiers, numbers
     * of the script as constants */
    const char *mixed = "w = 3/7\nx[1,2] = y + 1/3\n"
                        "a = sqrt(x[1,2]^2 + z^2)/(y - z)^3 - exp(-y)*w\n"
                        "b = max(y, z, 1/2) + abs(y - 2*z) + tanh(z)^2 - log(y^2 + 1)\n"
                        "c = (y + z)^(3/2) + 1/sqrt(y*y + 2) - 2^y\nint = a - b\n";
    vals = _fmpq_vec_init(2);
    fmpq_set_si(vals + 0, 5, 4);
    fmpq_set_si(vals + 1, -3, 8);
    check_c(mixed, vals, 2);
    _fmpq_vec_clear(vals, 2);
    /* a block with numbers only: a function of no inputs */
    seed_text(&text, 3, 2, 0);
    check_c(strbuf_str(&text), NULL, 0);
    strbuf_clear(&text);
}

/* ---- lse and -inf ---- */

/* lse of n arguments: n exp, n - 1 additions and one log, 2n operations
 * (the max shift of the C is not counted, docs/CSE.md). */
Test(cse, counts_of_lse)
{
    expect_counts("a = lse(x, y)", 4, 4, 4);
    expect_counts("a = lse(x, y, z)", 6, 6, 6);
    expect_counts("a = lse(x, x)", 4, 4, 4);         /* duplicates kept: log(2 exp(x)) */
    expect_counts("a = lse(-x, y)", 5, 5, 5);        /* the argument is negated */
    expect_counts("a = lse(x - y, z)", 5, 5, 5);     /* a subtraction, then lse */
    expect_counts("a = lse(x, y, -inf)", 4, 4, 4);   /* -inf dropped by the store */
    expect_counts("a = lse(lse(x, y), z)", 6, 6, 6); /* flattened */
    /* softmax weights of a row of three, the row's lse shared: as trees
     * each weight is exp(s_j - lse) = 1 + 1 + 6; the program computes the
     * lse once: 6 + 3 * 2 */
    expect_counts("m = lse(s1, s2, s3)\na1 = exp(s1 - m)\na2 = exp(s2 - m)\na3 = exp(s3 - m)\noutput a1, a2, a3\n", 24,
                  12, 12);
    /* an output of attention over them, sum_j a_j v_j: as a tree each term
     * a_j*v_j is 8 + 1, then 2 additions; the program: 6 + 3 * 3 + 2 */
    expect_counts("m = lse(s1, s2, s3)\no = exp(s1 - m)*v1 + exp(s2 - m)*v2 + exp(s3 - m)*v3\n", 3 * 9 + 2, 17, 17);
}

Test(cse, lse_is_shared_and_printed)
{
    result r = cse_default("m = lse(s1, s2)\na = exp(s1 - m)*v\nb = exp(s2 - m)*w\n");
    cr_assert(strstr(strbuf_str(&r.text), "m = lse(s1, s2)\n"), "%s", strbuf_str(&r.text));
    cr_assert_eq(count_lines_with(strbuf_str(&r.text), "lse("), 1, "%s", strbuf_str(&r.text));
    cr_assert_eq(r.after, 4 + 2 * 3, "%s", strbuf_str(&r.text));
    check_straight_line(strbuf_str(&r.text));
    result_clear(&r);
}

/* -inf is a constant: an output -inf costs nothing and prints -inf; a masked
 * score drops out of the row (the store folds exp(-inf) and lse). */
Test(cse, neg_inf_is_a_constant)
{
    result r = cse_default("a = -inf\nb = x + 1\n");
    cr_assert(strstr(strbuf_str(&r.text), "\na = -inf\n"), "%s", strbuf_str(&r.text));
    cr_assert_eq(r.dag, 1);
    cr_assert_eq(r.after, 1);
    check_straight_line(strbuf_str(&r.text));
    result_clear(&r);
    /* a masked score: s2 = -inf, its weight exactly 0 */
    r = cse_default("s2 = -inf\nm = lse(s1, s2, s3)\no = exp(s1 - m)*v1 + exp(s2 - m)*v2 + exp(s3 - m)*v3\n");
    cr_assert_eq(r.after, 4 + 2 * 2 + 2 + 1, "%s", strbuf_str(&r.text));
    cr_assert(!strstr(strbuf_str(&r.text), "v2"), "%s", strbuf_str(&r.text));
    result_clear(&r);
}

/* An output that mentions -inf where it has no real value is refused, with
 * an error at its relation, and nothing is built. */
Test(cse, output_without_real_value_is_an_error)
{
    static const char *const cases[][2] = {
        { "a = x + 1\nb = log(-inf) + x\n", "output 'b' has no real value: logarithm of -inf" },
        { "s = -inf\nb = -s\n", "output 'b' has no real value: -inf times a factor that is not a positive rational" },
        { "s = -inf\nb = x*s\noutput b\n", "output 'b' has no real value: -inf times a factor" },
        { "b = (-inf)^2\n", "output 'b' has no real value: power of -inf" },
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        loaded L;
        test_script_load(&L, cases[c][0]);
        cse_options opt;
        cse_options_init(&opt);
        cse_program p;
        cr_assert_eq(cse_build(&p, &L.y, &opt), -2, "%s", cases[c][0]);
        cr_assert_null(p.ir);
        cse_program_clear(&p);
        diag_list d;
        diag_init(&d);
        cr_assert_eq(cse_check_outputs(&d, &L.y), 1, "%s", cases[c][0]);
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        diag_print(f, &d);
        fclose(f);
        cr_assert(strstr(text, cases[c][1]), "%s\ngave:\n%s", cases[c][0], text);
        cr_assert(strstr(text, "t.hmp:"), "%s", text); /* at the relation, in the file */
        free(text);
        diag_clear(&d);
        test_script_clear(&L);
    }
    /* -inf itself and everything the store folds are values */
    loaded L;
    test_script_load(&L, "a = -inf\nb = exp(-inf) + lse(x, -inf) + max(-inf, y)\n");
    diag_list d;
    diag_init(&d);
    cr_assert_eq(cse_check_outputs(&d, &L.y), 0);
    diag_clear(&d);
    test_script_clear(&L);
}

/* The C of lse: compiled, run, and compared with the certified values, with
 * scores far beyond where exp overflows a double (a naive log(sum exp)
 * would give inf), a masked score, and an output -inf. */
Test(cse, emitted_c_computes_lse)
{
    const char *text = "s2 = -inf\n"
                       "m = lse(s1, s2, s3, s4)\n"
                       "o1 = exp(s1 - m)*v1 + exp(s2 - m)*v2 + exp(s3 - m)*v3 + exp(s4 - m)*v4\n"
                       "o2 = exp(s4 - m)\n"
                       "big = lse(1000*s1, 1000*s3)\n"
                       "low = lse(-1000*s1, -1000*s3)\n"
                       "masked = s2\n"
                       "output m, o1, o2, big, low, masked\n";
    fmpq *vals = _fmpq_vec_init(6);
    /* inputs in order of first use: s1, s3, s4, v1, v3, v4 */
    fmpq_set_si(vals + 0, 3, 2);
    fmpq_set_si(vals + 1, 5, 4);
    fmpq_set_si(vals + 2, -7, 8);
    fmpq_set_si(vals + 3, 1, 2);
    fmpq_set_si(vals + 4, -3, 1);
    fmpq_set_si(vals + 5, 9, 4);
    check_c(text, vals, 6);
    _fmpq_vec_clear(vals, 6);
    /* the helper is emitted only for programs with an lse */
    loaded L;
    test_script_load(&L, "a = exp(x) + 1\n");
    cse_options opt;
    cse_options_init(&opt);
    cse_program p;
    cr_assert_eq(cse_build(&p, &L.y, &opt), 0);
    strbuf c;
    strbuf_init(&c);
    cse_emit_c(&c, &p);
    cr_assert(!strstr(strbuf_str(&c), "hmp_lse"), "%s", strbuf_str(&c));
    strbuf_clear(&c);
    cse_program_clear(&p);
    test_script_clear(&L);
}

/* ---- attention blocks: the counts of docs/CSE.md ---- */

Test(cse, attention_counts_8_and_16)
{
    static const struct { uint32_t n; uint64_t dag, after; long before; size_t temps; } want[] = {
        { 8, 5432, 4984, 1192384, 264 },
        { 16, 44272, 40432, 71503616, 1040 },
    };
    for (size_t c = 0; c < sizeof want / sizeof *want; c++) {
        strbuf text;
        seed_text(&text, want[c].n, want[c].n, 1);
        result r = cse_default(strbuf_str(&text));
        cr_assert(fmpz_equal_si(r.before, want[c].before), "n %u", want[c].n);
        cr_assert_eq(r.dag, want[c].dag, "n %u: %llu", want[c].n, (unsigned long long)r.dag);
        cr_assert_eq(r.after, want[c].after, "n %u: %llu", want[c].n, (unsigned long long)r.after);
        cr_assert_eq(r.temps, want[c].temps, "n %u: %zu", want[c].n, r.temps);
        cr_assert(!r.restructured); /* n = d: the re-association saves nothing */
        result_clear(&r);
        strbuf_clear(&text);
    }
}

/* Tests of core/eval/mateval and eval through it: random attention blocks
 * and matrix programs print the same bytes as node by node; exact entries,
 * overlapping balls, doubles; coverage, fallbacks, errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/ball.h"
#include "eval/eval.h"
#include "tests/lib/testeval.h"
#include "eval/mateval.h"
#include "core/parse.h"
#include "core/system.h"
#include "io/gen.h"
#include "rewrite/recognise.h"
#include "tests/lib/testgen.h"
#include "tests/lib/testlib.h"
#include "tests/lib/testscript.h"

typedef test_script loaded;

/* What `hmp eval` would print, every field of every value (or the errors),
 * and whether the matrix program gave the values. */
typedef struct outcome {
    char *text;
    int status, matrix;
    size_t n_scalar;
} outcome;

static void evaluate(outcome *o, const char *script_text, const eval_request *req)
{
    loaded L;
    test_script_load(&L, script_text);
    eval_result res;
    memset(&res, 0, sizeof res);
    o->status = test_eval_outputs(&res, &L.y, req, &L.d);
    o->matrix = res.matrix;
    o->n_scalar = res.n_scalar;
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (o->status) diag_print(f, &L.d);
    for (size_t i = 0; i < res.n; i++) {
        const eval_value *v = &res.v[i];
        fprintf(f, "%s = %s | %s | %d %d", term_sym_name(&L.s, v->name), v->decimal, v->exact ? v->exact : "-",
                v->rational, v->neg_inf);
        if (req->use_format) fprintf(f, " | %llx %s", (unsigned long long)v->bits, v->format_value);
        fputc('\n', f);
    }
    fclose(f);
    o->text = buf;
    if (!o->status) eval_result_clear(&res);
    test_script_clear(&L);
}

/* Evaluates text through the matrix program and node by node (each in a
 * store of its own); the two print the same. Returns whether the matrix
 * program gave the values, or 2 when both report the same errors (a tie
 * outside the exact fragment: -3/2 = -3/2*(a_1 + a_2) with sqrt(3) in the
 * scores reaches the precision cap to 1 digit either way). */
static int same_both_ways(const char *text, const eval_request *req, const char *what)
{
    eval_request a = *req, b = *req;
    a.no_matrix = 0;
    b.no_matrix = 1;
    outcome x, y;
    evaluate(&x, text, &a);
    evaluate(&y, text, &b);
    cr_assert_eq(x.status, y.status, "%s: status %d against %d\n%s\n%s", what, x.status, y.status, x.text, y.text);
    cr_assert_str_eq(x.text, y.text, "%s (digits %ld, format %d)\nmatrix:\n%s\nscalar:\n%s\nscript:\n%s", what,
                     (long)req->digits, req->use_format ? (int)req->format : -1, x.text, y.text, text);
    cr_assert_eq(y.matrix, 0);
    free(x.text);
    free(y.text);
    return x.status ? 2 : x.matrix;
}

static void random_request(eval_request *req, test_rng *rng)
{
    eval_request_init(req);
    int r = test_randn(rng, 4);
    req->digits = r == 0 ? 1 + test_randn(rng, 3) : r == 1 ? 30 : 1 + test_randn(rng, 60);
    req->use_format = test_randn(rng, 3) == 0;
    req->format = (fp_format)test_randn(rng, FP_FORMAT_COUNT);
    if (test_randn(rng, 10) == 0) req->max_prec = 64 + 64 * test_randn(rng, 4); /* a low cap, now and then */
}

static void random_attention(gen_options *opt, test_rng *rng)
{
    gen_options_init(opt);
    opt->n = 1 + (uint32_t)test_randn(rng, 6);
    opt->d = 1 + (uint32_t)test_randn(rng, 5);
    opt->heads = test_randn(rng, 4) == 0 ? 2 + (uint32_t)test_randn(rng, 2) : 1;
    opt->scale = test_randn(rng, 2);
    opt->causal = test_randn(rng, 2);
    opt->seed = test_rand(rng);
}

/* ---- attention blocks ---- */

Test(mateval, attention_same_bytes_as_the_dag)
{
    test_rng rng = { 2026 };
    int count = 200 * test_multiplier(), covered = 0;
    char first[128] = "";
    for (int it = 0; it < count; it++) {
        gen_options opt;
        random_attention(&opt, &rng);
        char *text = test_gen_text(&opt);
        eval_request req;
        random_request(&req, &rng);
        char what[128];
        snprintf(what, sizeof what, "attention %u %u heads %u%s%s seed %llu", opt.n, opt.d, opt.heads,
                 opt.scale ? " --scale" : "", opt.causal ? " --causal" : "", (unsigned long long)opt.seed);
        int c = same_both_ways(text, &req, what);
        if (!c && !first[0]) snprintf(first, sizeof first, "%s", what);
        covered += c != 0;
        free(text);
    }
    cr_assert_eq(covered, count, "every attention block is a matrix program: %d of %d (not: %s)", covered, count, first);
}

/* Small integer inputs make degenerate rows common: a query row of zeros
 * (every score 0: weights exactly 1/n), equal scores, value columns of
 * zeros, one key in the first causal row. */
Test(mateval, attention_degenerate_rows)
{
    test_rng rng = { 77 };
    int count = 60 * test_multiplier();
    for (int it = 0; it < count; it++) {
        uint32_t n = 2 + (uint32_t)test_randn(&rng, 3), d = 1 + (uint32_t)test_randn(&rng, 2);
        int causal = test_randn(&rng, 2), lse = test_randn(&rng, 2);
        strbuf b;
        strbuf_init(&b);
        for (uint32_t i = 1; i <= n; i++)
            for (uint32_t j = 1; j <= d; j++) {
                strbuf_printf(&b, "q_%u_%u = %d\n", i, j, test_randn(&rng, 3) - 1);
                strbuf_printf(&b, "k_%u_%u = %d\n", i, j, test_randn(&rng, 2));
                strbuf_printf(&b, "v_%u_%u = %d/2\n", i, j, test_randn(&rng, 3) - 1);
            }
        for (uint32_t i = 1; i <= n; i++)
            for (uint32_t j = 1; j <= n; j++) {
                if (causal && j > i) continue;
                strbuf_printf(&b, "s_%u_%u = ", i, j);
                for (uint32_t t = 1; t <= d; t++) strbuf_printf(&b, "%sq_%u_%u*k_%u_%u", t > 1 ? " + " : "", i, t, j, t);
                strbuf_putc(&b, '\n');
            }
        for (uint32_t i = 1; i <= n; i++) {
            uint32_t last = causal ? i : n;
            for (uint32_t j = 1; j <= last; j++) {
                strbuf_printf(&b, "a_%u_%u = ", i, j);
                if (lse) {
                    strbuf_printf(&b, "exp(s_%u_%u - lse(", i, j);
                    for (uint32_t t = 1; t <= last; t++) strbuf_printf(&b, "%ss_%u_%u", t > 1 ? ", " : "", i, t);
                    strbuf_puts(&b, "))\n");
                } else {
                    strbuf_printf(&b, "exp(s_%u_%u) / (", i, j);
                    for (uint32_t t = 1; t <= last; t++) strbuf_printf(&b, "%sexp(s_%u_%u)", t > 1 ? " + " : "", i, t);
                    strbuf_puts(&b, ")\n");
                }
            }
            for (uint32_t j = 1; j <= d; j++) {
                strbuf_printf(&b, "o_%u_%u = ", i, j);
                for (uint32_t t = 1; t <= last; t++) strbuf_printf(&b, "%sa_%u_%u*v_%u_%u", t > 1 ? " + " : "", i, t, t, j);
                strbuf_putc(&b, '\n');
            }
        }
        eval_request req;
        random_request(&req, &rng);
        cr_assert(same_both_ways(b.data, &req, "degenerate rows"), "not covered:\n%s", b.data);
        strbuf_clear(&b);
    }
}

/* Exact entries are the inlined numbers; balls overlap the DAG's; the
 * doubles are close. */
Test(mateval, exact_entries_balls_and_doubles)
{
    test_rng rng = { 5150 };
    int count = 40 * test_multiplier(), rationals = 0, balls = 0;
    for (int it = 0; it < count; it++) {
        gen_options opt;
        random_attention(&opt, &rng);
        char *text = test_gen_text(&opt);
        loaded L;
        test_script_load(&L, text);
        mat_program p;
        mat_program_init(&p, &L.s);
        recog_program(&p, &L.y);
        mateval m;
        cr_assert_eq(mateval_init(&m, &p, &L.y), MATEVAL_OK, "%s", m.why);
        double *dbl = calloc(m.n_out, sizeof *dbl);
        cr_assert_eq(mateval_doubles(dbl, &m), MATEVAL_OK);
        cr_assert_eq(mateval_exact(&m), MATEVAL_OK);
        slong prec = 64 + 64 * test_randn(&rng, 3);
        cr_assert_eq(mateval_balls(&m, prec), MATEVAL_OK);
        ball_ctx bc;
        ball_ctx_init(&bc, &L.s);
        fmpq_t q;
        fmpq_init(q);
        for (size_t i = 0; i < m.n_out; i++) {
            term_id t = sys_inline_relation(&L.y, (size_t)sys_relation_of(&L.y, L.y.outputs[i]));
            int rational = mateval_output_rational(q, &m, i);
            cr_assert_eq(rational, term_op_of(&L.s, t) == OP_NUM, "output %zu", i);
            if (rational) {
                cr_assert(fmpq_equal(q, term_value(&L.s, t)));
                cr_assert_float_eq(dbl[i], fmpq_get_d(q), 1e-12 * (1 + fabs(fmpq_get_d(q))));
                rationals++;
                continue;
            }
            const arb_struct *x = NULL;
            term_id where;
            cr_assert_eq(ball_eval(&x, &where, &bc, t, prec), BALL_OK);
            const arb_struct *z = mateval_output_ball(&m, i);
            cr_assert(arb_overlaps(x, z), "output %zu: the balls are disjoint", i);
            cr_assert(arb_rel_accuracy_bits(z) > prec - 40, "output %zu: %ld bits of %ld", i,
                      (long)arb_rel_accuracy_bits(z), (long)prec);
            double mid = arf_get_d(arb_midref(z), ARF_RND_NEAR);
            cr_assert_float_eq(dbl[i], mid, 1e-9 * (1 + fabs(mid)), "output %zu: %g against %g", i, dbl[i], mid);
            balls++;
        }
        fmpq_clear(q);
        ball_ctx_clear(&bc);
        free(dbl);
        mateval_clear(&m);
        mat_program_clear(&p);
        test_script_clear(&L);
        free(text);
    }
    cr_assert_gt(rationals, 0);
    cr_assert_gt(balls, 0);
}

/* ---- random matrix programs with literal inputs ---- */

static const char *const values[] = { "0", "1", "-1", "1/2", "-3/4", "2", "5/3", "0", "1/3", "-2" };

/* A random program as a script: literal values for its inputs (small
 * rationals with repeats and zeros, now and then a constant like sqrt(2)),
 * then the relations of its operations. */
static char *random_script(test_rng *rng, flint_rand_t state)
{
    term_store s;
    term_store_init(&s);
    mat_program p;
    mat_program_init(&p, &s);
    mat_randtest_options opt;
    mat_randtest_options_init(&opt);
    opt.min_dim = 1;
    opt.max_dim = 3;
    opt.shared_sizes = 1;
    opt.any_form = 0;
    opt.same_operands = 1;
    mat_randtest(&p, state, &opt);
    strbuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < p.n_mats; i++) {
        const mat_family *f = &p.mats[i];
        if (f->kind != MAT_KIND_INPUT) continue;
        for (size_t cell = 0; cell < f->n_cells; cell++) {
            if (f->entry[cell] == TERM_NONE) continue;
            int r = test_randn(rng, 40);
            const char *v = r == 0 ? "sqrt(2)" : r == 1 ? "exp(-1/3)" : values[test_randn(rng, 10)];
            strbuf_printf(&b, "%s = %s\n", term_sym_name(&s, f->entry[cell]), v);
        }
    }
    recog_regen(&b, &p);
    mat_program_clear(&p);
    term_store_clear(&s);
    return b.data;
}

Test(mateval, programs_same_bytes_as_the_dag)
{
    test_rng rng = { 31337 };
    flint_rand_t state;
    flint_randinit(state);
    flint_randseed(state, 31337, 1);
    int count = 250 * test_multiplier(), covered = 0;
    for (int it = 0; it < count; it++) {
        char *text = random_script(&rng, state);
        eval_request req;
        random_request(&req, &rng);
        char what[64];
        snprintf(what, sizeof what, "program %d", it);
        covered += same_both_ways(text, &req, what) == 1;
        free(text);
    }
    flint_randclear(state);
    cr_assert_gt(covered, count / 2, "matrix programs: %d of %d", covered, count);
}

/* ---- coverage and fallbacks ---- */

static const char seed_block[] =
    "x1_1 = 1\nx1_2 = 1/2\nx2_1 = -1/2\nx2_2 = 1\n"
    "Wq11 = 1\nWq12 = 1/2\nWq21 = -1/2\nWq22 = 1\n"
    "q1_1 = Wq11*x1_1 + Wq12*x1_2\nq1_2 = Wq21*x1_1 + Wq22*x1_2\n"
    "q2_1 = Wq11*x2_1 + Wq12*x2_2\nq2_2 = Wq21*x2_1 + Wq22*x2_2\n"
    "s11 = q1_1*q1_1 + q1_2*q1_2\ns12 = q1_1*q2_1 + q1_2*q2_2\n"
    "s21 = q2_1*q1_1 + q2_2*q1_2\ns22 = q2_1*q2_1 + q2_2*q2_2\n"
    "a11 = exp(s11)/(exp(s11) + exp(s12))\na12 = exp(s12)/(exp(s11) + exp(s12))\n"
    "a21 = exp(s21)/(exp(s21) + exp(s22))\na22 = exp(s22)/(exp(s21) + exp(s22))\n"
    "o1_1 = a11*x1_1 + a12*x2_1\no1_2 = a11*x1_2 + a12*x2_2\n"
    "o2_1 = a21*x1_1 + a22*x2_1\no2_2 = a21*x1_2 + a22*x2_2\n";

Test(mateval, covered_and_not)
{
    eval_request req;
    eval_request_init(&req);
    outcome o;
    evaluate(&o, seed_block, &req);
    cr_assert_eq(o.status, 0);
    cr_assert(o.matrix);
    cr_assert_eq(o.n_scalar, 0);
    free(o.text);
    cr_assert(same_both_ways(seed_block, &req, "seed"));
    /* a relation left scalar: the scalar path */
    char *t = malloc(sizeof seed_block + 64);
    sprintf(t, "%sc = 3\nz = c*o1_1\n", seed_block);
    cr_assert_not(same_both_ways(t, &req, "scalar relation"));
    /* a free symbol: the scalar path, and its error */
    sprintf(t, "%sw = o2_2 + u\n", seed_block);
    evaluate(&o, t, &req);
    cr_assert_neq(o.status, 0);
    cr_assert_not(o.matrix);
    cr_assert(strstr(o.text, "depends on 'u'"), "%s", o.text);
    free(o.text);
    /* --exact: node by node, same text */
    req.want_exact = 1;
    cr_assert_not(same_both_ways(seed_block, &req, "exact"));
    free(t);
}

/* Balls the program cannot compute (the logarithm of a negative entry, a
 * zero divided by): the scalar path reports the error, as without the
 * program. */
Test(mateval, failures_fall_back)
{
    eval_request req;
    eval_request_init(&req);
    const char *log_neg =
        "x_1_1 = 1/2\nx_1_2 = -1\nx_2_1 = 3\nx_2_2 = 2\n"
        "y_1_1 = log(x_1_1)\ny_1_2 = log(x_1_2)\ny_2_1 = log(x_2_1)\ny_2_2 = log(x_2_2)\n";
    outcome o;
    evaluate(&o, log_neg, &req);
    cr_assert_neq(o.status, 0);
    cr_assert(strstr(o.text, "logarithm of a negative number"), "%s", o.text);
    free(o.text);
    same_both_ways(log_neg, &req, "log of a negative entry");
    const char *div_zero =
        "x_1_1 = 1/2\nx_1_2 = 0\nx_2_1 = 3\nx_2_2 = 2\n"
        "y_1_1 = 1/x_1_1\ny_1_2 = 1/x_1_2\ny_2_1 = 1/x_2_1\ny_2_2 = 1/x_2_2\n";
    same_both_ways(div_zero, &req, "division by zero");
    /* well defined where it is used: the program's values */
    const char *fine =
        "x_1_1 = 1/2\nx_1_2 = 1/3\nx_2_1 = 3\nx_2_2 = 2\n"
        "y_1_1 = log(x_1_1)\ny_1_2 = log(x_1_2)\ny_2_1 = log(x_2_1)\ny_2_2 = log(x_2_2)\n";
    cr_assert(same_both_ways(fine, &req, "logarithms"));
}

/* A rational found exactly after the balls failed: with its exact text on
 * a rounding boundary only. 1/4 + 10^-60 is not one at 1 digit (0.3), 1/4
 * is (a tie: 0.2, even). Both are written so that no number folds. */
Test(mateval, found_rationals_depend_on_the_value)
{
    eval_request req;
    eval_request_init(&req);
    req.digits = 1;
    for (int no_matrix = 0; no_matrix < 2; no_matrix++) {
        req.no_matrix = no_matrix;
        outcome o;
        evaluate(&o, "h = exp(1/3 - lse(1/3, 1/3))\no = h*(1/2 + 10^-60)\n", &req);
        cr_assert_eq(o.status, 0);
        cr_assert_str_eq(o.text, "o = 0.3 | - | 0 0\n");
        free(o.text);
        evaluate(&o, "h = exp(1/3 - lse(1/3, 1/3))\no = h/2\n", &req);
        cr_assert_str_eq(o.text, "o = 0.2 | 1/4 | 1 0\n");
        free(o.text);
    }
}

/* The doubles of a program with every kind of entry: numbers, constants,
 * softmax rows. */
Test(mateval, doubles)
{
    loaded L;
    test_script_load(&L, "x_1_1 = 1\nx_1_2 = sqrt(2)\nx_2_1 = -1/2\nx_2_2 = 0\n"
             "s_1_1 = x_1_1*x_1_1 + x_1_2*x_1_2\ns_1_2 = x_1_1*x_2_1 + x_1_2*x_2_2\n"
             "s_2_1 = x_2_1*x_1_1 + x_2_2*x_1_2\ns_2_2 = x_2_1*x_2_1 + x_2_2*x_2_2\n"
             "a_1_1 = exp(s_1_1)/(exp(s_1_1) + exp(s_1_2))\na_1_2 = exp(s_1_2)/(exp(s_1_1) + exp(s_1_2))\n"
             "a_2_1 = exp(s_2_1)/(exp(s_2_1) + exp(s_2_2))\na_2_2 = exp(s_2_2)/(exp(s_2_1) + exp(s_2_2))\n"
             "output a_1_1, a_2_2, s_1_1\n");
    mat_program p;
    mat_program_init(&p, &L.s);
    recog_program(&p, &L.y);
    mateval m;
    cr_assert_eq(mateval_init(&m, &p, &L.y), MATEVAL_OK, "%s", m.why);
    double d[3];
    cr_assert_eq(mateval_doubles(d, &m), MATEVAL_OK);
    /* s11 = 3, s12 = -1/2, s21 = -1/2, s22 = 1/4 */
    cr_assert_float_eq(d[0], 1 / (1 + exp(-3.5)), 1e-15);
    cr_assert_float_eq(d[1], 1 / (1 + exp(-0.75)), 1e-15);
    cr_assert_float_eq(d[2], 3.0, 1e-15);
    cr_assert_eq(mateval_exact(&m), MATEVAL_OK);
    fmpq_t q;
    fmpq_init(q);
    cr_assert_not(mateval_output_rational(q, &m, 0));
    cr_assert(mateval_output_rational(q, &m, 2));
    cr_assert(fmpq_equal_si(q, 3));
    fmpq_clear(q);
    mateval_clear(&m);
    mat_program_clear(&p);
    test_script_clear(&L);
}

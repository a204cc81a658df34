/* Evaluation benchmark: generated attention blocks to 30 certified digits,
 * node by node and through the matrix program (phase by phase, and the
 * ratio); fmpq_mat against fmpz_mat products. CPU seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flint/fmpq_mat.h>
#include <flint/fmpz_mat.h>

#include "eval/eval.h"
#include "tests/lib/testeval.h"
#include "core/fpfmt.h"
#include "eval/mateval.h"
#include "core/parse.h"
#include "core/system.h"
#include "io/gen.h"
#include "rewrite/recognise.h"
#include "tests/lib/benchlib.h"
#include "tests/lib/scriptload.h"
#include "tests/lib/testgen.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Node by node, as before the matrix program (the figures of earlier rows). */
static int bench_scalar(uint32_t n, uint32_t d, int scale, slong digits, int use_format)
{
    gen_options opt = test_gen_options(n, d, 1, scale ? TEST_GEN_SCALE : 0, 1);
    source src;
    if (bench_source(&src, &opt) != 0) return 1;
    test_script g;
    if (test_script_load_source(&g, &src, cpu_now) != TEST_SCRIPT_OK) return 1;
    double t0 = cpu_now();
    for (size_t i = 0; i < g.y.n_outputs; i++) sys_inline_relation(&g.y, (size_t)sys_relation_of(&g.y, g.y.outputs[i]));
    double t1 = cpu_now();
    eval_request req;
    eval_request_init(&req);
    req.digits = digits;
    req.use_format = use_format;
    req.format = FP_F32;
    req.no_matrix = 1;
    eval_result res;
    if (test_eval_outputs(&res, &g.y, &req, &g.d) != 0) {
        diag_print(stderr, &g.d);
        return 1;
    }
    double t2 = cpu_now();
    printf("node by node: attention %u %u%s, %zu outputs to %ld digits%s: eval %.3f s (%.1f us/output), "
           "ingest %.3f s (parse %.3f, system %.3f, inline %.3f); last precision %ld bits\n",
           n, d, scale ? " --scale" : "", res.n, (long)digits, use_format ? " and f32" : "", t2 - t1,
           (t2 - t1) / res.n * 1e6, g.parse_s + g.system_s + (t1 - t0), g.parse_s, g.system_s, t1 - t0,
           (long)res.max_prec_used);
    eval_result_clear(&res);
    test_script_clear(&g);
    source_clear(&src);
    return 0;
}

/* End to end through the matrix program, the evaluation split, then node by
 * node on a fresh ingest: same values, and the ratio. */
static int bench_matrix(uint32_t n, uint32_t d, uint32_t heads, int scale, int causal)
{
    gen_options opt = test_gen_options(n, d, heads, (scale ? TEST_GEN_SCALE : 0) | (causal ? TEST_GEN_CAUSAL : 0), 1);
    source src;
    if (bench_source(&src, &opt) != 0) return 1;
    test_script g;
    if (test_script_load_source(&g, &src, cpu_now) != TEST_SCRIPT_OK) return 1;
    size_t nodes = term_count(&g.s);
    double t0 = cpu_now();
    mat_program p;
    mat_program_init(&p, &g.s);
    recog_program(&p, &g.y);
    double t1 = cpu_now();
    eval_request req;
    eval_request_init(&req);
    eval_result res;
    if (eval_outputs(&res, &g.y, &p, &req, &g.d) != 0 || !res.matrix) {
        diag_print(stderr, &g.d);
        fprintf(stderr, "attention %u %u: not through the matrix program\n", n, d);
        return 1;
    }
    double t2 = cpu_now();

    /* the evaluation again, phase by phase */
    mateval m;
    double e0 = cpu_now();
    if (mateval_init(&m, &p, &g.y) != MATEVAL_OK || mateval_exact(&m) != MATEVAL_OK) return 1;
    double e1 = cpu_now();
    if (mateval_balls(&m, res.max_prec_used) != MATEVAL_OK) return 1;
    double e2 = cpu_now();
    strbuf b;
    strbuf_init(&b);
    size_t decided = 0;
    fmpq_t q;
    fmpq_init(q);
    for (size_t i = 0; i < m.n_out; i++) {
        strbuf_reset(&b);
        if (mateval_output_rational(q, &m, i)) fp_decimal_fmpq(&b, q, req.digits), decided++;
        else decided += fp_decimal_ball(&b, mateval_output_ball(&m, i), req.digits);
    }
    fmpq_clear(q);
    strbuf_clear(&b);
    double e3 = cpu_now();
    double *dbl = malloc(m.n_out * sizeof *dbl);
    if (mateval_doubles(dbl, &m) != MATEVAL_OK) return 1;
    double e4 = cpu_now();
    free(dbl);
    mateval_clear(&m);

    /* node by node, on a store of its own */
    test_script h;
    if (test_script_load_source(&h, &src, cpu_now) != TEST_SCRIPT_OK) return 1;
    double s0 = cpu_now();
    for (size_t i = 0; i < h.y.n_outputs; i++) sys_inline_relation(&h.y, (size_t)sys_relation_of(&h.y, h.y.outputs[i]));
    double s1 = cpu_now();
    eval_result ref;
    req.no_matrix = 1;
    if (test_eval_outputs(&ref, &h.y, &req, &h.d) != 0) return 1;
    double s2 = cpu_now();
    size_t same = 0;
    for (size_t i = 0; i < res.n; i++) same += strcmp(res.v[i].decimal, ref.v[i].decimal) == 0;

    double matrix = (t1 - t0) + (t2 - t1), scalar = (s1 - s0) + (s2 - s1);
    char hs[32] = "";
    if (heads > 1) snprintf(hs, sizeof hs, " --heads %u", heads);
    printf("attention %u %u%s%s%s: %zu nodes, %zu outputs to 30 digits\n", n, d, hs, scale ? " --scale" : "",
           causal ? " --causal" : "", nodes, res.n);
    printf("  matrix program: parse %.3f s, system %.3f s, recognise %.3f s, evaluate %.3f s: total %.3f s\n",
           g.parse_s, g.system_s, t1 - t0, t2 - t1, g.parse_s + g.system_s + matrix);
    printf("    evaluate: exact stage %.3f s, balls at %ld bits %.3f s, rounding %.3f s (%zu of %zu decided); "
           "%zu left to the scalar path; doubles %.4f s\n",
           e1 - e0, (long)res.max_prec_used, e2 - e1, e3 - e2, decided, res.n, res.n_scalar, e4 - e3);
    printf("  node by node: parse %.3f s, system %.3f s, inline %.3f s, evaluate %.3f s: total %.3f s\n", h.parse_s,
           h.system_s, s1 - s0, s2 - s1, h.parse_s + h.system_s + scalar);
    printf("  ratios: evaluate %.0fx (%.3f s against inline + evaluate %.3f s); with recognition %.1fx; "
           "end to end %.2fx; same decimals: %zu of %zu\n",
           scalar / (t2 - t1), t2 - t1, scalar, scalar / matrix,
           (h.parse_s + h.system_s + scalar) / (g.parse_s + g.system_s + matrix), same, res.n);
    int status = same == res.n ? 0 : 1; /* before res is cleared */
    eval_result_clear(&ref);
    eval_result_clear(&res);
    test_script_clear(&h);
    mat_program_clear(&p);
    test_script_clear(&g);
    source_clear(&src);
    return status;
}

/* The exact products of an attention block (Q = X Wq^T, K = X Wk^T,
 * S = Q K^T) with inputs as gen makes them: fmpq_mat_mul against integer
 * matrices over one denominator per matrix (fmpz_mat_mul). */
static void random_rational(fmpq_t x, uint64_t *state, slong range, slong den)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    fmpq_set_si(x, (slong)(z % (uint64_t)(2 * range + 1)) - range, (ulong)den);
}

static void bench_exact_repr(slong n, slong d, int reps)
{
    fmpq_mat_t X, Wq, Wk, Q, K, S, T;
    fmpq_mat_init(X, n, d);
    fmpq_mat_init(Wq, d, d);
    fmpq_mat_init(Wk, d, d);
    fmpq_mat_init(Q, n, d);
    fmpq_mat_init(K, n, d);
    fmpq_mat_init(S, n, n);
    fmpq_mat_init(T, d, d);
    uint64_t state = 1;
    slong wden = (slong)gen_weight_den((uint32_t)d);
    for (slong i = 0; i < n; i++)
        for (slong j = 0; j < d; j++) random_rational(fmpq_mat_entry(X, i, j), &state, 4, 2);
    for (slong i = 0; i < d; i++)
        for (slong j = 0; j < d; j++) {
            random_rational(fmpq_mat_entry(Wq, i, j), &state, 9, wden);
            random_rational(fmpq_mat_entry(Wk, i, j), &state, 9, wden);
        }
    double best_q = 1e30, best_z = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = cpu_now();
        fmpq_mat_t Kt;
        fmpq_mat_transpose(T, Wq);
        fmpq_mat_mul(Q, X, T);
        fmpq_mat_transpose(T, Wk);
        fmpq_mat_mul(K, X, T);
        fmpq_mat_init(Kt, d, n);
        fmpq_mat_transpose(Kt, K);
        fmpq_mat_mul(S, Q, Kt);
        fmpq_mat_clear(Kt);
        double t1 = cpu_now();
        /* the same over common denominators */
        fmpz_mat_t x, wq, wk, q, k, s, t;
        fmpz_t dx, dwq, dwk, ds;
        fmpz_init(dx);
        fmpz_init(dwq);
        fmpz_init(dwk);
        fmpz_init(ds);
        fmpz_mat_init(x, n, d);
        fmpz_mat_init(wq, d, d);
        fmpz_mat_init(wk, d, d);
        fmpz_mat_init(q, n, d);
        fmpz_mat_init(k, n, d);
        fmpz_mat_init(s, n, n);
        fmpz_mat_init(t, d, n);
        fmpq_mat_get_fmpz_mat_matwise(x, dx, X);
        fmpq_mat_get_fmpz_mat_matwise(wq, dwq, Wq);
        fmpq_mat_get_fmpz_mat_matwise(wk, dwk, Wk);
        fmpz_mat_t wt;
        fmpz_mat_init(wt, d, d);
        fmpz_mat_transpose(wt, wq);
        fmpz_mat_mul(q, x, wt);
        fmpz_mat_transpose(wt, wk);
        fmpz_mat_mul(k, x, wt);
        fmpz_mat_transpose(t, k);
        fmpz_mat_mul(s, q, t);
        fmpz_mul(ds, dx, dx); /* S = X Wq^T Wk X^T over dx^2 dwq dwk */
        fmpz_mul(ds, ds, dwq);
        fmpz_mul(ds, ds, dwk);
        double t2 = cpu_now();
        /* the same values */
        fmpq_t a;
        fmpq_init(a);
        fmpq_set_fmpz_frac(a, fmpz_mat_entry(s, n - 1, n - 1), ds);
        if (!fmpq_equal(a, fmpq_mat_entry(S, n - 1, n - 1))) printf("  (the two disagree)\n");
        fmpq_clear(a);
        fmpz_mat_clear(wt);
        fmpz_mat_clear(x);
        fmpz_mat_clear(wq);
        fmpz_mat_clear(wk);
        fmpz_mat_clear(q);
        fmpz_mat_clear(k);
        fmpz_mat_clear(s);
        fmpz_mat_clear(t);
        fmpz_clear(dx);
        fmpz_clear(dwq);
        fmpz_clear(dwk);
        fmpz_clear(ds);
        if (t1 - t0 < best_q) best_q = t1 - t0;
        if (t2 - t1 < best_z) best_z = t2 - t1;
    }
    printf("exact products Q, K, S of attention %ld %ld: fmpq_mat_mul %.4f s, fmpz_mat_mul over common "
           "denominators %.4f s (%.0fx)\n",
           (long)n, (long)d, best_q, best_z, best_q / best_z);
    fmpq_mat_clear(X);
    fmpq_mat_clear(Wq);
    fmpq_mat_clear(Wk);
    fmpq_mat_clear(Q);
    fmpq_mat_clear(K);
    fmpq_mat_clear(S);
    fmpq_mat_clear(T);
}

int main(void)
{
    int bad = 0;
    bad |= bench_scalar(64, 64, 0, 30, 0);
    bad |= bench_scalar(64, 64, 0, 30, 1);
    bad |= bench_scalar(64, 48, 1, 30, 0);
    bad |= bench_scalar(16, 16, 0, 1000, 0);
    bad |= bench_matrix(128, 64, 1, 0, 0);
    bad |= bench_matrix(128, 64, 1, 1, 1);
    bad |= bench_matrix(64, 32, 4, 1, 0);
    bench_exact_repr(128, 64, 3);
    return bad;
}

/* Tests of core/kernels/attention: the naive and tiled kernels against the
 * exact attention of their stored inputs (MPFR, 256 bits) within the a-priori
 * bound of docs/KERNELS.md, and bit for bit against an exact emulation. */
#include <criterion/criterion.h>
#include <math.h>
#include <mpfr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fpfmt.h"
#include "attention/attn.h"
#include "tests/lib/testlib.h"

static const fp_format computes[] = {FP_F64, FP_F32};
/* Scores of order 1, 100 and 10^4 (the larger with d <= 4). */
static const double magnitudes[] = {1, 100, 1e4};
#define N_MAG 3

static double unit_roundoff(fp_format f) { return ldexp(1.0, -fp_info(f)->prec); }
static double smallest_subnormal(fp_format f) { return ldexp(1.0, (int)fp_info(f)->emin - 1); }
static double stored(double x, fp_format f) { return fp_bits_to_double(fp_round_double(x, f), f); }
static double gamma_n(double n, double u) { return n * u / (1 - n * u); }

static double uniform(test_rng *r, double a, double b)
{
    return a + (b - a) * (double)(test_rand(r) >> 11) * 0x1p-53;
}

/* ---- problems ---- */

typedef struct problem {
    size_t n_q, n_k, d, d_v;
    double scale;
    int causal;
    unsigned char *mask; /* NULL or n_q x n_k, 0 = masked */
    double *q, *k, *v;   /* as given, before the storage rounding */
} problem;

static void problem_alloc(problem *P, size_t n_q, size_t n_k, size_t d, size_t d_v)
{
    memset(P, 0, sizeof *P);
    P->n_q = n_q;
    P->n_k = n_k;
    P->d = d;
    P->d_v = d_v;
    P->scale = 1 / sqrt((double)(d ? d : 1));
    P->q = calloc(n_q * d + 1, sizeof(double));
    P->k = calloc(n_k * d + 1, sizeof(double));
    P->v = calloc(n_k * d_v + 1, sizeof(double));
}

static void problem_free(problem *P)
{
    free(P->q);
    free(P->k);
    free(P->v);
    free(P->mask);
}

/* Random sizes (n up to 40, d up to 16, or 4 for large scores), q and k
 * uniform in [-a, a] with a^2 = mag so that scores are of order mag, v of
 * order 1 with or without an offset. masking: bit 0 causal, bit 1 a random
 * mask (keys seen with probability 0.7) with one row fully masked half of
 * the time. */
static void problem_random(problem *P, test_rng *r, double mag, int masking)
{
    size_t n_q = 1 + (size_t)test_randn(r, 40), n_k = 1 + (size_t)test_randn(r, 40);
    size_t d = 1 + (size_t)test_randn(r, mag > 1 ? 4 : 16), d_v = 1 + (size_t)test_randn(r, 8);
    problem_alloc(P, n_q, n_k, d, d_v);
    if (test_randn(r, 4) == 0) P->scale = uniform(r, -2, 2);
    double a = sqrt(mag), off = test_randn(r, 2) ? 0 : uniform(r, -3, 3);
    for (size_t x = 0; x < n_q * d; x++) P->q[x] = uniform(r, -a, a);
    for (size_t x = 0; x < n_k * d; x++) P->k[x] = uniform(r, -a, a);
    for (size_t x = 0; x < n_k * d_v; x++) P->v[x] = off + uniform(r, -1, 1);
    P->causal = masking & 1;
    if (masking & 2) {
        P->mask = malloc(n_q * n_k);
        for (size_t x = 0; x < n_q * n_k; x++) P->mask[x] = test_randn(r, 10) < 7;
        if (test_randn(r, 2)) memset(P->mask + (size_t)test_randn(r, (int)n_q) * n_k, 0, n_k);
    }
}

static attn_params params_of(const problem *P, attn_kind kind, size_t tile, fp_format compute, fp_format storage)
{
    attn_params p;
    memset(&p, 0, sizeof p);
    p.n_q = P->n_q;
    p.n_k = P->n_k;
    p.d = P->d;
    p.d_v = P->d_v;
    p.scale = P->scale;
    p.causal = P->causal;
    p.mask = P->mask;
    p.kind = kind;
    p.tile = tile;
    p.compute = compute;
    p.storage = storage;
    return p;
}

/* Query i sees key j (written apart from the kernel's test). */
static int sees(const problem *P, size_t i, size_t j)
{
    if (P->mask && P->mask[i * P->n_k + j] == 0) return 0;
    return !P->causal || (long long)j <= (long long)i + (long long)P->n_k - (long long)P->n_q;
}

static double *run_kernel(const problem *P, const attn_params *p)
{
    double *o = malloc((P->n_q * P->d_v + 1) * sizeof(double));
    cr_assert_eq(attn_run(o, P->q, P->k, P->v, p), 0);
    return o;
}

/* ---- the reference: exact attention of the stored inputs, MPFR at 256 bits ---- */

#define REF_PREC 256

typedef struct reference {
    double *x_hi, *x_lo; /* n_q x d_v: x = x_hi + x_lo to 2^-106 */
    double *w;           /* n_q x d_v: sum_j a_ij |v_jc|, rounded up */
    double *m;           /* n_q: max over seen j of |q_i|.|k_j| |scale|, rounded up */
    size_t *seen;        /* n_q: keys seen */
    double *vmax;        /* d_v: max_j |v_jc| */
} reference;

static void reference_compute(reference *R, const problem *P, fp_format storage)
{
    size_t nq = P->n_q, nk = P->n_k, d = P->d, dv = P->d_v;
    R->x_hi = calloc(nq * dv + 1, sizeof(double));
    R->x_lo = calloc(nq * dv + 1, sizeof(double));
    R->w = calloc(nq * dv + 1, sizeof(double));
    R->m = calloc(nq + 1, sizeof(double));
    R->seen = calloc(nq + 1, sizeof(size_t));
    R->vmax = calloc(dv + 1, sizeof(double));
    for (size_t x = 0; x < nk * dv; x++)
        R->vmax[x % dv] = fmax(R->vmax[x % dv], fabs(stored(P->v[x], storage)));
    mpfr_t *t = malloc((nk + 1) * sizeof(mpfr_t));
    mpfr_t *w = malloc((nk + 1) * sizeof(mpfr_t));
    for (size_t j = 0; j < nk; j++) mpfr_inits2(REF_PREC, t[j], w[j], (mpfr_ptr)0);
    mpfr_t prod, aprod, mx, l, num, abs_num, scale, y;
    mpfr_inits2(REF_PREC, prod, aprod, mx, l, num, abs_num, scale, y, (mpfr_ptr)0);
    mpfr_set_d(scale, P->scale, MPFR_RNDN);
    for (size_t i = 0; i < nq; i++) {
        size_t seen = 0;
        mpfr_set_inf(mx, -1);
        for (size_t j = 0; j < nk; j++) {
            if (!sees(P, i, j)) continue;
            seen++;
            mpfr_set_zero(t[j], 1);
            mpfr_set_zero(y, 1);
            for (size_t c = 0; c < d; c++) {
                mpfr_set_d(prod, stored(P->q[i * d + c], storage), MPFR_RNDN);
                mpfr_mul_d(prod, prod, stored(P->k[j * d + c], storage), MPFR_RNDN); /* exact */
                mpfr_add(t[j], t[j], prod, MPFR_RNDN);
                mpfr_abs(aprod, prod, MPFR_RNDN);
                mpfr_add(y, y, aprod, MPFR_RNDU);
            }
            mpfr_mul(t[j], t[j], scale, MPFR_RNDN);
            mpfr_mul_d(y, y, fabs(P->scale), MPFR_RNDU);
            R->m[i] = fmax(R->m[i], mpfr_get_d(y, MPFR_RNDU));
            if (mpfr_greater_p(t[j], mx)) mpfr_set(mx, t[j], MPFR_RNDN);
        }
        R->seen[i] = seen;
        if (!seen) continue; /* x = 0, W = 0 */
        mpfr_set_zero(l, 1);
        for (size_t j = 0; j < nk; j++) {
            if (!sees(P, i, j)) continue;
            mpfr_sub(w[j], t[j], mx, MPFR_RNDN);
            mpfr_exp(w[j], w[j], MPFR_RNDN);
            mpfr_add(l, l, w[j], MPFR_RNDN);
        }
        for (size_t c = 0; c < dv; c++) {
            mpfr_set_zero(num, 1);
            mpfr_set_zero(abs_num, 1);
            for (size_t j = 0; j < nk; j++) {
                if (!sees(P, i, j)) continue;
                double vjc = stored(P->v[j * dv + c], storage);
                mpfr_mul_d(prod, w[j], vjc, MPFR_RNDN);
                mpfr_add(num, num, prod, MPFR_RNDN);
                mpfr_mul_d(prod, w[j], fabs(vjc), MPFR_RNDN);
                mpfr_add(abs_num, abs_num, prod, MPFR_RNDN);
            }
            mpfr_div(num, num, l, MPFR_RNDN);
            double hi = mpfr_get_d(num, MPFR_RNDN);
            mpfr_sub_d(num, num, hi, MPFR_RNDN);
            R->x_hi[i * dv + c] = hi;
            R->x_lo[i * dv + c] = mpfr_get_d(num, MPFR_RNDN);
            mpfr_div(abs_num, abs_num, l, MPFR_RNDU);
            R->w[i * dv + c] = mpfr_get_d(abs_num, MPFR_RNDU);
        }
    }
    for (size_t j = 0; j < nk; j++) mpfr_clears(t[j], w[j], (mpfr_ptr)0);
    mpfr_clears(prod, aprod, mx, l, num, abs_num, scale, y, (mpfr_ptr)0);
    free(t);
    free(w);
}

static void reference_free(reference *R)
{
    free(R->x_hi);
    free(R->x_lo);
    free(R->w);
    free(R->m);
    free(R->seen);
    free(R->vmax);
}

/* sigma_i = gamma_{d+1} max_j |q_i|.|k_j| |scale| in the compute format,
 * rounded up. */
static double score_error(const reference *R, const attn_params *p, size_t i)
{
    return gamma_n((double)p->d + 1, unit_roundoff(p->compute)) * R->m[i] * (1 + 0x1p-40);
}

/* The absolute terms of underflow (docs/KERNELS.md): the output's eta_s/2
 * and a crude 32 n_k (K+1) eta_c (1 + max_j |v_jc|) for weights that
 * underflow in the compute format. */
static double underflow_slack(const reference *R, const attn_params *p, size_t c)
{
    double K = p->kind == ATTN_FLASH ? ceil((double)p->n_k / (double)p->tile) : 1;
    return smallest_subnormal(p->storage) / 2 +
           32 * (double)p->n_k * (K + 1) * smallest_subnormal(p->compute) * (1 + R->vmax[c]);
}

/* Entry (i, c) of o against the bound u_s|x| + E_i W_ic + A_ic. Returns
 * err / bound; fails the test when it is above 1. */
static double check_entry(const reference *R, const attn_params *p, const double *o, size_t i, size_t c,
                          double E, const char *what)
{
    size_t at = i * p->d_v + c;
    double oi = o[at];
    if (R->seen[i] == 0) {
        cr_assert(oi == 0 && !signbit(oi), "%s: fully masked row %zu gives %a, not 0", what, i, oi);
        return 0;
    }
    cr_assert(isfinite(oi), "%s: entry (%zu,%zu) = %g", what, i, c, oi);
    double err = fabs((oi - R->x_hi[at]) - R->x_lo[at]);
    double bound = unit_roundoff(p->storage) * fabs(R->x_hi[at]) + E * R->w[at] + underflow_slack(R, p, c);
    cr_assert(err <= bound, "%s: entry (%zu,%zu): |o - x| = %.6g > bound %.6g (o %.17g, x %.17g, E %g, W %g)", what,
              i, c, err, bound, oi, R->x_hi[at], E, R->w[at]);
    return err / bound;
}

/* Every entry of o within its bound; the largest err / bound. */
static double check_output(const reference *R, const attn_params *p, const double *o, const char *what)
{
    double worst = 0;
    for (size_t i = 0; i < p->n_q; i++) {
        double E = attn_error_factor(p, score_error(R, p, i));
        for (size_t c = 0; c < p->d_v; c++) worst = fmax(worst, check_entry(R, p, o, i, c, E, what));
    }
    return worst;
}

/* ---- the bound, every compute/storage pair and kernel ---- */

static void check_storage(fp_format storage, uint64_t seed)
{
    test_rng r = {seed};
    double worst[2][N_MAG] = {{0}};
    int iters = 3 * test_multiplier();
    size_t runs = 0, entries = 0;
    for (int it = 0; it < iters; it++)
        for (int mi = 0; mi < N_MAG; mi++)
            for (int masking = 0; masking < 4; masking++) {
                problem P;
                problem_random(&P, &r, magnitudes[mi], masking);
                reference R;
                reference_compute(&R, &P, storage);
                for (int ci = 0; ci < 2; ci++) {
                    fp_format compute = computes[ci];
                    char what[160];
                    attn_params pn = params_of(&P, ATTN_NAIVE, 0, compute, storage);
                    double *on = run_kernel(&P, &pn);
                    snprintf(what, sizeof what, "naive %s/%s mag %g masking %d n_q %zu n_k %zu d %zu",
                             fp_info(compute)->name, fp_info(storage)->name, magnitudes[mi], masking, P.n_q, P.n_k,
                             P.d);
                    worst[ci][mi] = fmax(worst[ci][mi], check_output(&R, &pn, on, what));
                    runs++;
                    size_t tiles[] = {1, 3, 16, P.n_k};
                    for (int ti = 0; ti < 4; ti++) {
                        attn_params pf = params_of(&P, ATTN_FLASH, tiles[ti], compute, storage);
                        double *of = run_kernel(&P, &pf);
                        snprintf(what, sizeof what, "flash tile %zu %s/%s mag %g masking %d n_q %zu n_k %zu d %zu",
                                 tiles[ti], fp_info(compute)->name, fp_info(storage)->name, magnitudes[mi], masking,
                                 P.n_q, P.n_k, P.d);
                        worst[ci][mi] = fmax(worst[ci][mi], check_output(&R, &pf, of, what));
                        runs++;
                        /* naive and flash agree: bit for bit with one tile (the
                         * same operations), within both bounds otherwise */
                        for (size_t i = 0; i < P.n_q; i++) {
                            double en = attn_error_factor(&pn, score_error(&R, &pn, i));
                            double ef = attn_error_factor(&pf, score_error(&R, &pf, i));
                            for (size_t c = 0; c < P.d_v; c++) {
                                size_t at = i * P.d_v + c;
                                if (tiles[ti] >= P.n_k)
                                    cr_assert(memcmp(&on[at], &of[at], sizeof(double)) == 0,
                                              "%s: naive %a, flash %a", what, on[at], of[at]);
                                double lim = 2 * unit_roundoff(storage) * fabs(R.x_hi[at]) + (en + ef) * R.w[at] +
                                             underflow_slack(&R, &pn, c) + underflow_slack(&R, &pf, c);
                                cr_assert(fabs(on[at] - of[at]) <= lim, "%s: naive %g, flash %g", what, on[at],
                                          of[at]);
                            }
                        }
                        free(of);
                    }
                    /* f64 arithmetic on f64 inputs: 1e-13 of the weighted size */
                    if (compute == FP_F64 && storage == FP_F64 && mi == 0)
                        for (size_t x = 0; x < P.n_q * P.d_v; x++)
                            cr_assert(fabs((on[x] - R.x_hi[x]) - R.x_lo[x]) <= 1e-13 * R.w[x], "%s: %.17g vs %.17g",
                                      what, on[x], R.x_hi[x]);
                    entries += P.n_q * P.d_v * 5;
                    free(on);
                }
                reference_free(&R);
                problem_free(&P);
            }
    for (int ci = 0; ci < 2; ci++) {
        fprintf(stderr, "kernels %s storage, %s compute: max |o - x| / bound", fp_info(storage)->name,
                fp_info(computes[ci])->name);
        for (int mi = 0; mi < N_MAG; mi++) fprintf(stderr, "  %.3g (scores ~%g)", worst[ci][mi], magnitudes[mi]);
        fprintf(stderr, "\n");
        /* the bound is not absurdly loose on scores of order 1 */
        cr_assert(worst[ci][0] > 1e-3, "%s/%s: bound loose by %g", fp_info(computes[ci])->name,
                  fp_info(storage)->name, 1 / worst[ci][0]);
    }
    fprintf(stderr, "kernels %s storage: %zu runs, %zu entries checked\n", fp_info(storage)->name, runs, entries);
    cr_assert(runs > 0);
    mpfr_free_cache();
}

Test(kernels, bound_f64_storage) { check_storage(FP_F64, 1001); }
Test(kernels, bound_f32_storage) { check_storage(FP_F32, 1002); }
Test(kernels, bound_f16_storage) { check_storage(FP_F16, 1003); }
Test(kernels, bound_bf16_storage) { check_storage(FP_BF16, 1004); }

/* ---- an exact emulation of the documented order of operations ---- */

typedef enum emu_op { EMU_ADD, EMU_SUB, EMU_MUL, EMU_DIV } emu_op;

/* a op b correctly rounded to f: the exact result (a quotient of p-bit
 * numbers is exact in 300 bits or further than 2^-(2p+2) relative from a
 * rounding boundary, so truncating it to 300 bits changes no rounding). */
static double emu(emu_op op, double a, double b, fp_format f)
{
    arf_t x, y, z;
    arf_init(x);
    arf_init(y);
    arf_init(z);
    arf_set_d(x, a);
    arf_set_d(y, b);
    switch (op) {
    case EMU_ADD: arf_add(z, x, y, ARF_PREC_EXACT, ARF_RND_DOWN); break;
    case EMU_SUB: arf_sub(z, x, y, ARF_PREC_EXACT, ARF_RND_DOWN); break;
    case EMU_MUL: arf_mul(z, x, y, ARF_PREC_EXACT, ARF_RND_DOWN); break;
    case EMU_DIV: arf_div(z, x, y, 300, ARF_RND_DOWN); break;
    }
    double r = fp_bits_to_double(fp_round_arf(z, f), f);
    arf_clear(x);
    arf_clear(y);
    arf_clear(z);
    return r;
}

static double emu_exp(double a, fp_format f) { return f == FP_F64 ? exp(a) : (double)expf((float)a); }

/* The kernel of p, as docs/KERNELS.md states it, every operation rounded by
 * emu; flash with tile n_k is the naive kernel. */
static void emulate(double *o, const problem *P, const attn_params *p)
{
    fp_format f = p->compute, st = p->storage;
    size_t nk = P->n_k, d = P->d, dv = P->d_v, tile = p->kind == ATTN_FLASH ? p->tile : (nk ? nk : 1);
    double *s = malloc((nk + 1) * sizeof(double)), *acc = malloc((2 * dv + 1) * sizeof(double)),
           *tacc = acc + dv;
    double scale = stored(P->scale, f);
    for (size_t i = 0; i < P->n_q; i++) {
        for (size_t j = 0; j < nk; j++) {
            if (!sees(P, i, j)) continue;
            double dot = 0;
            for (size_t c = 0; c < d; c++) {
                double qc = stored(stored(P->q[i * d + c], st), f), kc = stored(stored(P->k[j * d + c], st), f);
                dot = emu(EMU_ADD, dot, emu(EMU_MUL, qc, kc, f), f);
            }
            s[j] = emu(EMU_MUL, dot, scale, f);
        }
        double m = -INFINITY, l = 0;
        for (size_t c = 0; c < dv; c++) acc[c] = 0;
        for (size_t lo = 0; lo < nk; lo += tile) {
            size_t hi = lo + tile < nk ? lo + tile : nk;
            double mt = -INFINITY;
            for (size_t j = lo; j < hi; j++)
                if (sees(P, i, j) && s[j] > mt) mt = s[j];
            if (mt == -INFINITY) continue;
            double mn = fmax(m, mt), rescale = m == -INFINITY ? 0 : emu_exp(emu(EMU_SUB, m, mn, f), f), tsum = 0;
            for (size_t c = 0; c < dv; c++) tacc[c] = 0;
            for (size_t j = lo; j < hi; j++) {
                if (!sees(P, i, j)) continue;
                double pj = emu_exp(emu(EMU_SUB, s[j], mn, f), f);
                tsum = emu(EMU_ADD, tsum, pj, f);
                for (size_t c = 0; c < dv; c++) {
                    double vc = stored(stored(P->v[j * dv + c], st), f);
                    tacc[c] = emu(EMU_ADD, tacc[c], emu(EMU_MUL, pj, vc, f), f);
                }
            }
            l = emu(EMU_ADD, emu(EMU_MUL, l, rescale, f), tsum, f);
            for (size_t c = 0; c < dv; c++) acc[c] = emu(EMU_ADD, emu(EMU_MUL, acc[c], rescale, f), tacc[c], f);
            m = mn;
        }
        for (size_t c = 0; c < dv; c++)
            o[i * dv + c] = m == -INFINITY ? 0 : stored(emu(EMU_DIV, acc[c], l, f), st);
    }
    free(s);
    free(acc);
}

/* Bit for bit: no contraction into FMA, no wider intermediates, the
 * documented order of every sum. */
Test(kernels, emulation_bit_exact)
{
    test_rng r = {2024};
    int iters = 6 * test_multiplier();
    fp_format storages[] = {FP_F64, FP_F32, FP_F16, FP_BF16};
    for (int it = 0; it < iters; it++) {
        problem P;
        problem_random(&P, &r, magnitudes[it % N_MAG], it % 4);
        for (int si = 0; si < 4; si++)
            for (int ci = 0; ci < 2; ci++) {
                size_t tiles[] = {0, 1, 3, 16, P.n_k};
                for (int ti = 0; ti < 5; ti++) {
                    attn_params p =
                        params_of(&P, ti ? ATTN_FLASH : ATTN_NAIVE, tiles[ti], computes[ci], storages[si]);
                    double *o = run_kernel(&P, &p);
                    double *e = malloc((P.n_q * P.d_v + 1) * sizeof(double));
                    emulate(e, &P, &p);
                    for (size_t x = 0; x < P.n_q * P.d_v; x++)
                        cr_assert(memcmp(&o[x], &e[x], sizeof(double)) == 0,
                                  "%s/%s tile %zu entry %zu: kernel %a, emulation %a", fp_info(computes[ci])->name,
                                  fp_info(storages[si])->name, tiles[ti], x, o[x], e[x]);
                    free(o);
                    free(e);
                }
            }
        problem_free(&P);
    }
    mpfr_free_cache();
}

/* ---- exact cases ---- */

/* Equal scores: the weights are exactly 1/n, and (1 + 2 + 3 + 6)/4 = 3. */
Test(kernels, equal_scores_give_the_mean)
{
    problem P;
    problem_alloc(&P, 2, 4, 2, 1);
    double q[] = {0.5, -1, 0, 0}, k[] = {1, 1, 1, 1, 1, 1, 1, 1}, v[] = {1, 2, 3, 6};
    memcpy(P.q, q, sizeof q);
    memcpy(P.k, k, sizeof k);
    memcpy(P.v, v, sizeof v);
    for (int si = 0; si < FP_FORMAT_COUNT; si++)
        for (int ci = 0; ci < 2; ci++)
            for (size_t tile = 0; tile <= 4; tile++) {
                attn_params p = params_of(&P, tile ? ATTN_FLASH : ATTN_NAIVE, tile, computes[ci], (fp_format)si);
                double *o = run_kernel(&P, &p);
                cr_assert_eq(o[0], 3.0);
                cr_assert_eq(o[1], 3.0);
                free(o);
            }
    problem_free(&P);
}

/* A row that sees no key is exactly +0: by the mask, by causality when n_q >
 * n_k, and when n_k = 0. */
Test(kernels, fully_masked_rows_are_zero)
{
    test_rng r = {7};
    for (int it = 0; it < 20 * test_multiplier(); it++) {
        problem P;
        problem_random(&P, &r, 1, 2);
        size_t row = (size_t)test_randn(&r, (int)P.n_q);
        memset(P.mask + row * P.n_k, 0, P.n_k);
        for (size_t x = 0; x < P.n_k * P.d_v; x++) P.v[x] = 1e3 + P.v[x];
        for (int ci = 0; ci < 2; ci++) {
            attn_params p = params_of(&P, it % 2 ? ATTN_FLASH : ATTN_NAIVE, 1 + (size_t)test_randn(&r, 5),
                                      computes[ci], (fp_format)(it % FP_FORMAT_COUNT));
            double *o = run_kernel(&P, &p);
            for (size_t c = 0; c < P.d_v; c++)
                cr_assert(o[row * P.d_v + c] == 0 && !signbit(o[row * P.d_v + c]));
            free(o);
        }
        problem_free(&P);
    }
    /* causal, 5 queries and 3 keys: queries 0 and 1 see nothing */
    problem P;
    problem_alloc(&P, 5, 3, 1, 2);
    for (size_t x = 0; x < 5; x++) P.q[x] = 1;
    for (size_t x = 0; x < 3; x++) P.k[x] = (double)x;
    for (size_t x = 0; x < 6; x++) P.v[x] = 2 + (double)x;
    P.causal = 1;
    for (int kind = 0; kind < 2; kind++) {
        attn_params p = params_of(&P, kind ? ATTN_FLASH : ATTN_NAIVE, 2, FP_F64, FP_F64);
        double *o = run_kernel(&P, &p);
        for (size_t x = 0; x < 4; x++) cr_assert(o[x] == 0 && !signbit(o[x]));
        cr_assert_eq(o[4], 2.0); /* query 2 sees key 0 only */
        cr_assert_eq(o[5], 3.0);
        free(o);
    }
    problem_free(&P);
    /* no keys at all */
    problem_alloc(&P, 3, 0, 2, 2);
    for (size_t x = 0; x < 6; x++) P.q[x] = 1;
    for (int kind = 0; kind < 2; kind++) {
        attn_params p = params_of(&P, kind ? ATTN_FLASH : ATTN_NAIVE, 4, FP_F32, FP_F16);
        double *o = run_kernel(&P, &p);
        for (size_t x = 0; x < 6; x++) cr_assert(o[x] == 0 && !signbit(o[x]));
        free(o);
    }
    problem_free(&P);
}

/* With causal and n_q = n_k, query 0 sees key 0 alone: its weight is
 * exp(0) / exp(0) = 1 and the output is v_0 through the compute format,
 * rounded to the storage. */
Test(kernels, causal_first_row_is_v0)
{
    test_rng r = {99};
    for (int it = 0; it < 20 * test_multiplier(); it++) {
        problem P;
        problem_random(&P, &r, magnitudes[it % N_MAG], 1);
        size_t n = P.n_q < P.n_k ? P.n_q : P.n_k;
        P.n_q = P.n_k = n;
        fp_format storage = (fp_format)(it % FP_FORMAT_COUNT);
        for (int ci = 0; ci < 2; ci++)
            for (int kind = 0; kind < 2; kind++) {
                attn_params p = params_of(&P, kind ? ATTN_FLASH : ATTN_NAIVE, 1 + (size_t)test_randn(&r, 8),
                                          computes[ci], storage);
                double *o = run_kernel(&P, &p);
                for (size_t c = 0; c < P.d_v; c++) {
                    double want = stored(stored(stored(P.v[c], storage), computes[ci]), storage);
                    cr_assert(memcmp(&o[c], &want, sizeof want) == 0, "%a != %a", o[c], want);
                }
                free(o);
            }
        problem_free(&P);
    }
}

/* ---- masking conventions ---- */

/* causal = the mask j <= i + n_k - n_q, bit for bit; a masked key = the
 * key removed (naive kernel, bit for bit: it adds nothing). */
Test(kernels, masks_are_what_they_say)
{
    test_rng r = {31};
    for (int it = 0; it < 20 * test_multiplier(); it++) {
        problem P;
        problem_random(&P, &r, 1, 1);
        fp_format storage = (fp_format)(it % FP_FORMAT_COUNT), compute = computes[it % 2];
        attn_params pc = params_of(&P, it % 3 ? ATTN_FLASH : ATTN_NAIVE, 1 + (size_t)test_randn(&r, 6), compute,
                                   storage);
        double *oc = run_kernel(&P, &pc);
        problem M = P;
        M.causal = 0;
        M.mask = malloc(P.n_q * P.n_k + 1);
        for (size_t i = 0; i < P.n_q; i++)
            for (size_t j = 0; j < P.n_k; j++) M.mask[i * P.n_k + j] = j + P.n_q <= i + P.n_k;
        attn_params pm = pc;
        pm.causal = 0;
        pm.mask = M.mask;
        double *om = run_kernel(&M, &pm);
        cr_assert(memcmp(oc, om, P.n_q * P.d_v * sizeof(double)) == 0);
        free(oc);
        free(om);
        /* mask one key for every query: same as deleting it */
        size_t j0 = (size_t)test_randn(&r, (int)P.n_k);
        if (P.n_k > 1) {
            memset(M.mask, 1, P.n_q * P.n_k);
            for (size_t i = 0; i < P.n_q; i++) M.mask[i * P.n_k + j0] = 0;
            attn_params pn = params_of(&M, ATTN_NAIVE, 0, compute, storage);
            double *o1 = run_kernel(&M, &pn);
            problem D;
            problem_alloc(&D, P.n_q, P.n_k - 1, P.d, P.d_v);
            D.scale = P.scale;
            memcpy(D.q, P.q, P.n_q * P.d * sizeof(double));
            for (size_t j = 0, jd = 0; j < P.n_k; j++) {
                if (j == j0) continue;
                memcpy(D.k + jd * P.d, P.k + j * P.d, P.d * sizeof(double));
                memcpy(D.v + jd * P.d_v, P.v + j * P.d_v, P.d_v * sizeof(double));
                jd++;
            }
            attn_params pd = params_of(&D, ATTN_NAIVE, 0, compute, storage);
            double *o2 = run_kernel(&D, &pd);
            cr_assert(memcmp(o1, o2, P.n_q * P.d_v * sizeof(double)) == 0);
            free(o1);
            free(o2);
            problem_free(&D);
        }
        free(M.mask);
        problem_free(&P);
    }
}

/* Same inputs, same bits. */
Test(kernels, deterministic)
{
    test_rng r = {5};
    for (int it = 0; it < 10 * test_multiplier(); it++) {
        problem P;
        problem_random(&P, &r, magnitudes[it % N_MAG], it % 4);
        attn_params p = params_of(&P, it % 2 ? ATTN_FLASH : ATTN_NAIVE, 1 + (size_t)test_randn(&r, 17),
                                  computes[it % 2 ? 1 : 0], (fp_format)(it % FP_FORMAT_COUNT));
        double *a = run_kernel(&P, &p), *b = run_kernel(&P, &p);
        cr_assert(memcmp(a, b, P.n_q * P.d_v * sizeof(double)) == 0);
        free(a);
        free(b);
        problem_free(&P);
    }
}

/* ---- parameters ---- */

Test(kernels, invalid_parameters)
{
    problem P;
    problem_alloc(&P, 2, 3, 2, 2);
    double o[4];
    attn_params p = params_of(&P, ATTN_FLASH, 2, FP_F32, FP_F16);
    cr_assert_eq(attn_run(o, P.q, P.k, P.v, &p), 0);
    cr_assert_eq(attn_run(o, P.q, P.k, P.v, NULL), -1);
    p.tile = 0;
    cr_assert_eq(attn_run(o, P.q, P.k, P.v, &p), -1, "flash with tile 0");
    cr_assert(isinf(attn_error_factor(&p, 0)));
    p.kind = ATTN_NAIVE;
    cr_assert_eq(attn_run(o, P.q, P.k, P.v, &p), 0, "tile unused by the naive kernel");
    p.compute = FP_F16;
    cr_assert_eq(attn_run(o, P.q, P.k, P.v, &p), -1, "f16 arithmetic");
    p.compute = FP_BF16;
    cr_assert_eq(attn_run(o, P.q, P.k, P.v, &p), -1);
    p.compute = FP_F64;
    p.storage = FP_FORMAT_COUNT;
    cr_assert_eq(attn_run(o, P.q, P.k, P.v, &p), -1);
    p.storage = FP_F64;
    p.kind = (attn_kind)7;
    cr_assert_eq(attn_run(o, P.q, P.k, P.v, &p), -1);
    p.kind = ATTN_NAIVE;
    cr_assert_eq(attn_run(NULL, P.q, P.k, P.v, &p), -1);
    cr_assert_eq(attn_run(o, NULL, P.k, P.v, &p), -1);
    cr_assert_eq(attn_run(o, P.q, NULL, P.v, &p), -1);
    cr_assert_eq(attn_run(o, P.q, P.k, NULL, &p), -1);
    p.n_q = (size_t)-1;
    cr_assert_eq(attn_run(o, P.q, P.k, P.v, &p), -1, "sizes that overflow");
    problem_free(&P);
}

/* Zero sizes: nothing to do, or rows of zeros; NULL arrays without entries. */
Test(kernels, zero_sizes)
{
    attn_params p;
    memset(&p, 0, sizeof p);
    p.kind = ATTN_FLASH;
    p.tile = 1;
    p.compute = FP_F32;
    p.storage = FP_F32;
    cr_assert_eq(attn_run(NULL, NULL, NULL, NULL, &p), 0);
    p.n_q = 2;
    p.n_k = 3;
    cr_assert_eq(attn_run(NULL, NULL, NULL, NULL, &p), 0, "d = d_v = 0");
    double k[3] = {1, 2, 3}, v[3] = {1, 2, 3}, o[2] = {5, 5};
    p.d_v = 1; /* d = 0: every score 0, the mean of v */
    cr_assert_eq(attn_run(o, NULL, k, v, &p), 0);
    cr_assert_eq(o[0], 2.0);
    cr_assert_eq(o[1], 2.0);
    cr_assert_eq(attn_error_factor(&p, 0) > 0, 1);
    p.n_k = 0;
    o[0] = o[1] = 5;
    cr_assert_eq(attn_run(o, NULL, NULL, NULL, &p), 0);
    cr_assert(o[0] == 0 && o[1] == 0);
    cr_assert_eq(attn_error_factor(&p, 0), 0.0);
}

/* ---- the error factor ---- */

/* With sigma = 0, to first order E = 2 K u_e + (n_num + n_den + 1) u_c
 * (docs/KERNELS.md) with u_e = 2 u_c; with sigma > 0, 2 tau is added, tau =
 * sigma (d+3)/(d+1) for f64 arithmetic. */
Test(kernels, error_factor_formula)
{
    attn_params p;
    memset(&p, 0, sizeof p);
    p.n_q = 1;
    p.n_k = 10;
    p.d = 4;
    p.d_v = 1;
    p.kind = ATTN_NAIVE;
    p.compute = FP_F64;
    p.storage = FP_F64;
    double u = 0x1p-53, E = attn_error_factor(&p, 0);
    /* 4u (exp) + 10u (numerator) + u (division) + 9u (denominator) */
    cr_assert(E >= 24 * u && E <= 24 * u * (1 + 1e-9), "E = %.17g u", E / u);
    p.kind = ATTN_FLASH;
    p.tile = 10;
    cr_assert_eq(attn_error_factor(&p, 0), E, "one tile: the naive kernel");
    p.tile = 3; /* K = 4, b = 3: 16u + (3+8-2) + 1 + (3+8-3) = 34u */
    E = attn_error_factor(&p, 0);
    cr_assert(E >= 34 * u && E <= 34 * u * (1 + 1e-9), "E = %.17g u", E / u);
    double sigma = 1e-6;
    p.kind = ATTN_NAIVE;
    E = attn_error_factor(&p, sigma);
    double want = expm1(2 * sigma * 7 / 5 + 24 * u);
    cr_assert(E >= want && E <= want * (1 + 1e-9), "E = %.17g, want %.17g", E, want);
    /* f32 arithmetic on f16 inputs: the scale's conversion adds a rounding
     * to the scores, tau = (gamma_6 + 2u(1+gamma_6)) M = sigma 8/5; output
     * factor 1 + 2^-11 */
    p.compute = FP_F32;
    p.storage = FP_F16;
    u = 0x1p-24;
    E = attn_error_factor(&p, sigma);
    want = (1 + 0x1p-11) * expm1(2 * sigma * 8 / 5 + 24 * u);
    cr_assert(fabs(E / want - 1) < 1e-5, "E = %.17g, want %.17g", E, want);
    /* f32 arithmetic on f64 inputs: two more roundings in the scores, one
     * in v: tau = sigma 10/5, 25u */
    p.storage = FP_F64;
    E = attn_error_factor(&p, sigma);
    want = (1 + 0x1p-53) * expm1(2 * sigma * 10 / 5 + 25 * u);
    cr_assert(fabs(E / want - 1) < 1e-5, "E = %.17g, want %.17g", E, want);
    cr_assert(isinf(attn_error_factor(&p, NAN)));
    cr_assert(isinf(attn_error_factor(&p, -1)));
    cr_assert(isinf(attn_error_factor(NULL, 0)));
    p.n_k = (size_t)1 << 24; /* n u >= 1/2 */
    cr_assert(isinf(attn_error_factor(&p, 0)));
}

/* Monotone in sigma; tile 1 (the most rescaling) bounds every tile size and
 * the naive kernel, as core/verify assumes. */
Test(kernels, error_factor_tile_one_is_largest)
{
    test_rng r = {3};
    for (int it = 0; it < 200 * test_multiplier(); it++) {
        attn_params p;
        memset(&p, 0, sizeof p);
        p.n_q = 1;
        p.n_k = 1 + (size_t)test_randn(&r, 300);
        p.d = (size_t)test_randn(&r, 64);
        p.d_v = 1;
        p.compute = computes[it % 2];
        p.storage = (fp_format)(it / 2 % FP_FORMAT_COUNT);
        double sigma = it % 3 ? 0 : uniform(&r, 0, 1e-3);
        p.kind = ATTN_FLASH;
        p.tile = 1;
        double e1 = attn_error_factor(&p, sigma);
        cr_assert(attn_error_factor(&p, 2 * sigma + 1e-9) > e1);
        p.tile = 1 + (size_t)test_randn(&r, (int)p.n_k + 3);
        cr_assert(attn_error_factor(&p, sigma) <= e1, "n_k %zu tile %zu", p.n_k, p.tile);
        p.kind = ATTN_NAIVE;
        cr_assert(attn_error_factor(&p, sigma) <= e1);
    }
}

/* The assumption of the bound on libm: exp and expf within 1 ulp, sampled
 * against MPFR (normal and subnormal results). */
Test(kernels, libm_exp_within_one_ulp)
{
    test_rng r = {11};
    mpfr_t x, y;
    mpfr_inits2(128, x, y, (mpfr_ptr)0);
    double worst[2] = {0, 0};
    for (int it = 0; it < 20000 * test_multiplier(); it++) {
        int single = it % 2;
        double a = single ? (double)(float)uniform(&r, -103, 0) : uniform(&r, -744, 0);
        if (it % 10 == 0) a = single ? (double)(float)uniform(&r, -1, 1) : uniform(&r, -1, 1);
        double got = single ? (double)expf((float)a) : exp(a);
        mpfr_set_d(x, a, MPFR_RNDN);
        mpfr_exp(y, x, MPFR_RNDN);
        double yd = mpfr_get_d(y, MPFR_RNDN);
        int e;
        frexp(yd, &e); /* yd in [2^(e-1), 2^e) */
        int p = single ? 24 : 53, emin = single ? -125 : -1021;
        mpfr_sub_d(y, y, got, MPFR_RNDN);
        mpfr_abs(y, y, MPFR_RNDN);
        mpfr_mul_2si(y, y, p - (e > emin ? e : emin), MPFR_RNDN); /* in ulps, before any rounding to double */
        double err = mpfr_get_d(y, MPFR_RNDU);
        cr_assert(err <= 1, "exp%s(%a) = %a, error %g ulp", single ? "f" : "", a, got, err);
        worst[single] = fmax(worst[single], err);
    }
    fprintf(stderr, "kernels: largest error seen of exp %.3f ulp, of expf %.3f ulp\n", worst[0], worst[1]);
    mpfr_clears(x, y, (mpfr_ptr)0);
    mpfr_free_cache();
}

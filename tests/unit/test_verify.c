/* Tests of core/verify: certified checking of attention outputs against an
 * independent reference (MPFR at 300 bits), the fast pass against the pure
 * Arb pass, planted errors, masks, ties, large scores. */
#include <criterion/criterion.h>
#include <math.h>
#include <mpfr.h>
#include <stdlib.h>
#include <string.h>

#include "attention/attn.h"
#include "attention/verify.h"
#include "tests/lib/testlib.h"

static test_rng rng;

typedef struct problem_data {
    size_t n, nk, d, dv;
    double *q, *k, *v, *o, *truth;
    unsigned char *mask;
} problem_data;

/* A value of the format f near x (exact as a double). */
static double in_format(double x, fp_format f) { return fp_bits_to_double(fp_round_double(x, f), f); }

/* The exact attention of the stored inputs, rounded to f, by MPFR at 300
 * bits: the reference. scale = 1/sqrt(d) unless scale_q given. */
static void reference(problem_data *P, int causal, fp_format f, double scale_num, double scale_den)
{
    mpfr_t s, m, e, l, acc, t, sc;
    mpfr_inits2(300, s, m, e, l, acc, t, sc, (mpfr_ptr)0);
    if (scale_den == 0) { mpfr_set_ui(sc, (unsigned long)P->d, MPFR_RNDN); mpfr_rec_sqrt(sc, sc, MPFR_RNDN); }
    else { mpfr_set_d(sc, scale_num, MPFR_RNDN); mpfr_div_d(sc, sc, scale_den, MPFR_RNDN); }
    mpfr_t *sj = malloc(P->nk * sizeof *sj);
    for (size_t j = 0; j < P->nk; j++) mpfr_init2(sj[j], 300);
    for (size_t i = 0; i < P->n; i++) {
        int any = 0;
        for (size_t j = 0; j < P->nk; j++) {
            int vis = !(causal && j + P->n > i + P->nk) && !(P->mask && !P->mask[i * P->nk + j]);
            if (!vis) { mpfr_set_inf(sj[j], -1); continue; }
            mpfr_set_zero(sj[j], 1);
            for (size_t c = 0; c < P->d; c++) {
                mpfr_set_d(t, P->q[i * P->d + c], MPFR_RNDN);
                mpfr_mul_d(t, t, P->k[j * P->d + c], MPFR_RNDN); /* exact at 300 bits */
                mpfr_add(sj[j], sj[j], t, MPFR_RNDN);
            }
            mpfr_mul(sj[j], sj[j], sc, MPFR_RNDN);
            if (!any || mpfr_greater_p(sj[j], m)) mpfr_set(m, sj[j], MPFR_RNDN);
            any = 1;
        }
        for (size_t c = 0; c < P->dv; c++) {
            if (!any) { P->truth[i * P->dv + c] = 0; continue; }
            mpfr_set_zero(l, 1);
            mpfr_set_zero(acc, 1);
            for (size_t j = 0; j < P->nk; j++) {
                if (mpfr_inf_p(sj[j])) continue;
                mpfr_sub(e, sj[j], m, MPFR_RNDN);
                mpfr_exp(e, e, MPFR_RNDN);
                mpfr_add(l, l, e, MPFR_RNDN);
                mpfr_mul_d(e, e, P->v[j * P->dv + c], MPFR_RNDN);
                mpfr_add(acc, acc, e, MPFR_RNDN);
            }
            mpfr_div(acc, acc, l, MPFR_RNDN);
            arf_t a; /* one rounding from 300 bits to the format */
            arf_init(a);
            arf_set_mpfr(a, acc);
            double xr = fp_bits_to_double(fp_round_arf(a, f), f);
            arf_clear(a);
            /* x within 2^-280 of a midpoint beta between two values of the
             * format (tied keys whose mean is beta, the others' weights
             * below 2^-300): the side from the sign of sum_j e_j (v_j - beta),
             * where equal scores give equal e_j and their terms cancel */
            for (int dir = -1; dir <= 1; dir += 2) {
                uint64_t bits = fp_round_double(xr, f);
                int neg = signbit(xr) != 0;
                double nb = fp_bits_to_double(xr == 0 ? (dir > 0 ? 1 : ((uint64_t)1 << (fp_info(f)->bits - 1)) | 1)
                                                      : (dir > 0) != neg ? bits + 1 : bits - 1, f);
                double beta = 0.5 * (xr + nb); /* exact for f16, bf16 and f32 */
                mpfr_set_d(t, beta, MPFR_RNDN);
                mpfr_sub(t, acc, t, MPFR_RNDN);
                if (mpfr_zero_p(t) || mpfr_get_exp(t) < mpfr_get_exp(acc) - 280) {
                    mpfr_set_zero(l, 1);
                    for (size_t j = 0; j < P->nk; j++) {
                        if (mpfr_inf_p(sj[j])) continue;
                        mpfr_sub(e, sj[j], m, MPFR_RNDN);
                        mpfr_exp(e, e, MPFR_RNDN);
                        mpfr_mul_d(e, e, P->v[j * P->dv + c] - beta, MPFR_RNDN);
                        mpfr_add(l, l, e, MPFR_RNDN);
                    }
                    int sg = mpfr_sgn(l);
                    if (sg != 0) xr = sg * (nb - xr) > 0 ? nb : xr;
                    else xr = fp_bits_to_double(fp_round_double(beta, f), f);
                    break;
                }
            }
            P->truth[i * P->dv + c] = xr;
        }
    }
    for (size_t j = 0; j < P->nk; j++) mpfr_clear(sj[j]);
    free(sj);
    mpfr_clears(s, m, e, l, acc, t, sc, (mpfr_ptr)0);
}

static void make(problem_data *P, size_t n, size_t nk, size_t d, size_t dv, double qscale, fp_format f)
{
    P->n = n; P->nk = nk; P->d = d; P->dv = dv;
    P->q = calloc(n * d + 1, sizeof(double));
    P->k = calloc(nk * d + 1, sizeof(double));
    P->v = calloc(nk * dv + 1, sizeof(double));
    P->o = calloc(n * dv + 1, sizeof(double));
    P->truth = calloc(n * dv + 1, sizeof(double));
    P->mask = NULL;
    for (size_t x = 0; x < n * d; x++) P->q[x] = in_format(qscale * ((double)test_randn(&rng, 2001) - 1000) / 1000, f);
    for (size_t x = 0; x < nk * d; x++) P->k[x] = in_format(((double)test_randn(&rng, 2001) - 1000) / 1000, f);
    for (size_t x = 0; x < nk * dv; x++) P->v[x] = in_format(((double)test_randn(&rng, 2001) - 1000) / 1000, f);
}

static void unmake(problem_data *P)
{
    free(P->q); free(P->k); free(P->v); free(P->o); free(P->truth); free(P->mask);
}

static void setup_problem(verify_problem *vp, const problem_data *P, fp_format f, int causal)
{
    verify_problem_init(vp);
    vp->count = 1;
    vp->n_q = P->n; vp->n_k = P->nk; vp->d = P->d; vp->d_v = P->dv;
    vp->q = P->q; vp->k = P->k; vp->v = P->v; vp->o = P->o;
    vp->mask = P->mask;
    vp->causal = causal;
    vp->out_format = f;
    vp->compute = FP_F32;
}

/* Correctly rounded outputs: every entry is found correctly rounded, with
 * ulp_err <= 1/2, pass; the fast pass and the pure Arb pass agree. */
Test(verify, correctly_rounded_outputs_pass)
{
    rng.state = 99;
    static const fp_format fmts[] = { FP_F32, FP_F16, FP_BF16, FP_F64 };
    for (int it = 0; it < 40 * test_multiplier(); it++) {
        fp_format f = fmts[it % 4];
        problem_data P;
        size_t n = 1 + test_randn(&rng, 12), nk = 1 + test_randn(&rng, 12), d = 1 + test_randn(&rng, 8), dv = 1 + test_randn(&rng, 6);
        double qs = it % 5 == 0 ? 30 : 1; /* some large scores */
        make(&P, n, nk, d, dv, qs, f);
        int causal = it % 3 == 0; /* n > nk too: the first rows then see no key */
        if (it % 7 == 1) { /* a random mask with a fully masked row */
            P.mask = calloc(n * nk, 1);
            for (size_t x = 0; x < n * nk; x++) P.mask[x] = test_randn(&rng, 3) != 0;
            for (size_t j = 0; j < nk; j++) P.mask[j] = 0;
        }
        reference(&P, causal, f, 0, 0);
        memcpy(P.o, P.truth, n * dv * sizeof(double));
        verify_problem vp;
        setup_problem(&vp, &P, f, causal);
        verify_report r, ra;
        char err[128];
        cr_assert_eq(verify_run(&r, &vp, NULL, NULL, err, sizeof err), 0);
        cr_assert_eq(r.correctly_rounded, n * dv, "case %d (%s): %zu of %zu", it, fp_info(f)->name, r.correctly_rounded, n * dv);
        cr_assert_leq(r.max_ulp_err, 0.5, "case %d: %g", it, r.max_ulp_err);
        cr_assert(r.pass, "case %d", it);
        vp.arb_only = 1;
        cr_assert_eq(verify_run(&ra, &vp, NULL, NULL, err, sizeof err), 0);
        cr_assert_eq(memcmp(r.truth_bits, ra.truth_bits, n * dv * sizeof *r.truth_bits), 0, "fast and Arb passes agree (case %d)", it);
        cr_assert_eq(ra.correctly_rounded, n * dv);
        if (f != FP_F64) cr_assert_lt(r.fallback, n * dv, "the fast pass decides most entries (case %d)", it);
        verify_report_clear(&r);
        verify_report_clear(&ra);
        verify_problem_clear(&vp);
        unmake(&P);
    }
    mpfr_free_cache();
}

/* A planted error of 3 ulps in one entry of a correctly rounded output is
 * caught with --tol 1, and named among the worst entries. */
Test(verify, planted_error_caught)
{
    rng.state = 5;
    for (int it = 0; it < 20 * test_multiplier(); it++) {
        fp_format f = it % 2 ? FP_F16 : FP_F32;
        problem_data P;
        make(&P, 8, 8, 4, 4, 1, f);
        for (size_t x = 0; x < 8 * 4; x++) P.v[x] = fabs(P.v[x]) + 0.25; /* W close to |x| */
        reference(&P, 0, f, 0, 0);
        memcpy(P.o, P.truth, sizeof(double) * 32);
        size_t at = (size_t)test_randn(&rng, 32);
        uint64_t bits = fp_round_double(P.o[at], f);
        P.o[at] = fp_bits_to_double(bits + 3, f);
        verify_problem vp;
        setup_problem(&vp, &P, f, 0);
        vp.tol = 1;
        verify_report r;
        char err[128];
        cr_assert_eq(verify_run(&r, &vp, NULL, NULL, err, sizeof err), 0);
        cr_assert(!r.pass);
        cr_assert_eq(r.over_bound, 1);
        cr_assert_eq(r.worst[0].index, at);
        cr_assert_geq(r.worst[0].ulp_err, 2.5);
        cr_assert_leq(r.worst[0].ulp_err, 3.5);
        cr_assert_eq(r.correctly_rounded, 31);
        verify_report_clear(&r);
        verify_problem_clear(&vp);
        unmake(&P);
    }
    mpfr_free_cache();
}

/* Every failing entry is listed, in index order, with the bound of its row,
 * and only those: planted errors far over the a-priori bound in some
 * entries (a NaN in one), small errors in others; the list stops at
 * VERIFY_FAILING_MAX while failing_count goes on. */
Test(verify, failing_entries_listed)
{
    rng.state = 31;
    for (int it = 0; it < 12 * test_multiplier(); it++) {
        int many = it == 0; /* more failing entries than the list holds */
        size_t n = many ? 48 : 6 + (size_t)test_randn(&rng, 10), nk = 5 + (size_t)test_randn(&rng, 8), dv = many ? 32 : 3;
        problem_data P;
        make(&P, n, nk, 4, dv, 1, FP_F32);
        reference(&P, 0, FP_F32, 0, 0);
        memcpy(P.o, P.truth, n * dv * sizeof(double));
        size_t total = n * dv;
        unsigned char *planted = calloc(total, 1);
        for (size_t x = 0; x < total; x++) {
            int k = many ? 1 : test_randn(&rng, 6);
            if (k == 0) P.o[x] = fp_bits_to_double(fp_round_double(P.o[x], FP_F32) + 1, FP_F32); /* 1 ulp: fine */
            else if (k == 1) { P.o[x] = P.o[x] * 2 + 1; planted[x] = 1; }
        }
        if (!many) { size_t at = (size_t)test_randn(&rng, (int)total); P.o[at] = NAN; planted[at] = 1; }
        verify_problem vp;
        setup_problem(&vp, &P, FP_F32, 0);
        verify_report r;
        char err[128];
        cr_assert_eq(verify_run(&r, &vp, NULL, NULL, err, sizeof err), 0);
        size_t want = 0;
        for (size_t x = 0; x < total; x++) want += planted[x];
        cr_assert_eq(r.failing_count, want, "case %d: %zu failing, %zu planted", it, r.failing_count, want);
        cr_assert_eq(r.n_failing, want < VERIFY_FAILING_MAX ? want : VERIFY_FAILING_MAX);
        size_t k = 0;
        for (size_t x = 0; x < total && k < r.n_failing; x++) {
            if (!planted[x]) continue;
            const verify_entry *e = &r.failing[k++];
            cr_assert_eq(e->index, x, "case %d: entry %zu listed", it, x);
            cr_assert_eq(e->bound, r.row_bound[x / dv]);
            cr_assert(isnan(P.o[x]) || e->err_scaled > e->bound, "case %d: %g over %g", it, e->err_scaled, e->bound);
            cr_assert_leq(e->bound, r.bound);
        }
        for (size_t w = 0; w < r.n_worst; w++) cr_assert_eq(r.worst[w].bound, r.row_bound[r.worst[w].index / dv]);
        cr_assert(!r.pass);
        verify_report_clear(&r);
        verify_problem_clear(&vp);
        free(planted);
        unmake(&P);
    }
    mpfr_free_cache();
}

/* A verdict that could not have been a FAIL is none: where the a-priori
 * bound is infinite (f16 compute over rows this long) verify_run refuses
 * with VERIFY_NO_BOUND; with max_err_scaled an entry fails exactly when its
 * err_scaled is over the limit, checked against the reported errors and a
 * planted error. */
Test(verify, infinite_bound_refused_max_err_scaled_judges)
{
    rng.state = 8;
    for (int it = 0; it < 6 * test_multiplier(); it++) {
        problem_data P;
        size_t n = 4 + (size_t)test_randn(&rng, 6), nk = 64 + (size_t)test_randn(&rng, 64);
        make(&P, n, nk, 32, 4, 1, FP_F16);
        reference(&P, 0, FP_F16, 0, 0);
        memcpy(P.o, P.truth, n * 4 * sizeof(double));
        size_t at = (size_t)test_randn(&rng, (int)(n * 4));
        P.o[at] = P.o[at] * 1.5 + 0.01;
        verify_problem vp;
        setup_problem(&vp, &P, FP_F16, 0);
        vp.compute = FP_F16;
        verify_report r;
        char err[256] = "";
        cr_assert_eq(verify_run(&r, &vp, NULL, NULL, err, sizeof err), VERIFY_NO_BOUND, "case %d", it);
        cr_assert(strstr(err, "infinite") != NULL, "%s", err);
        cr_assert_null(r.over);
        double limit = it % 2 ? 4 : 0.5;
        vp.max_err_scaled = limit;
        cr_assert_eq(verify_run(&r, &vp, NULL, NULL, err, sizeof err), 0);
        size_t over = 0;
        for (size_t x = 0; x < n * 4; x++) {
            cr_assert_eq(r.over[x], r.err_scaled[x] > limit, "case %d entry %zu: %g against %g", it, x, r.err_scaled[x], limit);
            over += r.over[x];
        }
        cr_assert(r.over[at], "case %d: the planted error fails", it);
        cr_assert_eq(r.over_bound, over);
        cr_assert_eq(r.bound, limit);
        cr_assert(!r.pass);
        verify_report_clear(&r);
        verify_problem_clear(&vp);
        unmake(&P);
    }
    mpfr_free_cache();
}

/* Equal scores make the truth exactly rational (the mean of v): a tie of the
 * format is then decided exactly, ties to even. */
Test(verify, equal_scores_exact)
{
    problem_data P;
    rng.state = 1;
    make(&P, 1, 2, 1, 1, 1, FP_F16);
    P.q[0] = 1; P.k[0] = 0.5; P.k[1] = 0.5; /* equal scores */
    P.v[0] = 1; P.v[1] = 1 + 0x1p-10;        /* mean 1 + 2^-11: a tie in f16 */
    P.o[0] = 1;
    verify_problem vp;
    setup_problem(&vp, &P, FP_F16, 0);
    verify_report r;
    char err[128];
    cr_assert_eq(verify_run(&r, &vp, NULL, NULL, err, sizeof err), 0);
    cr_assert_eq(r.truth_bits[0], 0x3c00, "ties to even: 1.0");
    cr_assert_eq(r.correctly_rounded, 1);
    cr_assert_eq(r.ulp_err[0], 0.5);
    verify_report_clear(&r);
    verify_problem_clear(&vp);
    unmake(&P);
}

/* Outputs of the reference kernels pass their a-priori bound; NaN fails. */
Test(verify, kernels_within_bound)
{
    rng.state = 77;
    for (int it = 0; it < 20 * test_multiplier(); it++) {
        fp_format f = it % 3 == 0 ? FP_BF16 : it % 3 == 1 ? FP_F16 : FP_F32;
        problem_data P;
        size_t n = 2 + test_randn(&rng, 20), d = 1 + test_randn(&rng, 16), dv = 1 + test_randn(&rng, 8);
        make(&P, n, n, d, dv, it % 4 == 0 ? 10 : 1, f);
        attn_params ap;
        memset(&ap, 0, sizeof ap);
        ap.n_q = n; ap.n_k = n; ap.d = d; ap.d_v = dv;
        ap.scale = 1 / sqrt((double)d);
        ap.kind = it % 2 ? ATTN_FLASH : ATTN_NAIVE;
        ap.tile = 1 + test_randn(&rng, 8);
        ap.compute = FP_F32;
        ap.storage = f;
        ap.causal = it % 5 == 0;
        cr_assert_eq(attn_run(P.o, P.q, P.k, P.v, &ap), 0);
        verify_problem vp;
        setup_problem(&vp, &P, f, ap.causal);
        vp.scale_auto = 1;
        verify_report r;
        char err[128];
        cr_assert_eq(verify_run(&r, &vp, NULL, NULL, err, sizeof err), 0);
        cr_assert(r.pass, "case %d: max err_scaled %g, bound %g", it, r.max_err_scaled, r.bound);
        P.o[0] = NAN;
        verify_report_clear(&r);
        cr_assert_eq(verify_run(&r, &vp, NULL, NULL, err, sizeof err), 0);
        cr_assert(!r.pass);
        cr_assert_eq(r.nonfinite, 1);
        verify_report_clear(&r);
        verify_problem_clear(&vp);
        unmake(&P);
    }
    mpfr_free_cache();
}

/* The three ways to decide an entry (the BLAS pass, the double-double pass,
 * Arb balls) give the same truths and verdicts, on several problems at once
 * (per-problem masks), kernel outputs with real errors, more rows than one
 * block, and hard cases: scores of 1e4, tied keys, fully masked rows, tiny
 * and subnormal values. The truths also match the MPFR reference. */
Test(verify, three_passes_agree)
{
    rng.state = 2024;
    static const fp_format fmts[] = { FP_F32, FP_F16, FP_BF16, FP_F32 };
    for (int it = 0; it < 24 * test_multiplier(); it++) {
        fp_format f = fmts[it % 4];
        size_t count = 1 + test_randn(&rng, 3);
        size_t n = it % 6 == 5 ? 300 + test_randn(&rng, 40) : 1 + test_randn(&rng, 20);
        size_t nk = it % 6 == 5 ? 1 + test_randn(&rng, 6) : 1 + test_randn(&rng, 70);
        size_t d = 1 + test_randn(&rng, 9), dv = 1 + test_randn(&rng, 5);
        double qs = it % 4 == 1 ? 1e4 : it % 4 == 2 ? 30 : 1;
        int causal = it % 3 == 0;
        problem_data *P = calloc(count, sizeof *P);
        double *q = calloc(count * n * d, sizeof(double)), *k = calloc(count * nk * d, sizeof(double));
        double *v = calloc(count * nk * dv, sizeof(double)), *o = calloc(count * n * dv, sizeof(double));
        unsigned char *mask = NULL;
        if (it % 5 == 2) { /* one mask per problem, row 0 fully masked */
            mask = malloc(count * n * nk);
            for (size_t x = 0; x < count * n * nk; x++) mask[x] = test_randn(&rng, 4) != 0;
            for (size_t b = 0; b < count; b++) memset(mask + b * n * nk, 0, nk);
        }
        for (size_t b = 0; b < count; b++) {
            make(&P[b], n, nk, d, dv, qs, f);
            if (it % 7 == 3 && nk > 1) /* tied keys: key 1 repeats key 0 */
                memcpy(P[b].k + d, P[b].k, d * sizeof(double));
            if (it % 8 == 6) /* tiny values: subnormal in f16 and bf16 weights of v */
                for (size_t x = 0; x < nk * dv; x++) P[b].v[x] = in_format(P[b].v[x] * 0x1p-20, f);
            if (mask) P[b].mask = memcpy(malloc(n * nk), mask + b * n * nk, n * nk);
            reference(&P[b], causal, f, 0, 0);
            /* a kernel's output (f32 compute, flash with tile 3), not the truth */
            attn_params ap;
            memset(&ap, 0, sizeof ap);
            ap.n_q = n; ap.n_k = nk; ap.d = d; ap.d_v = dv;
            ap.kind = ATTN_FLASH; ap.tile = 3; ap.compute = FP_F32; ap.storage = f;
            ap.causal = causal; ap.mask = P[b].mask; ap.scale = 1 / sqrt((double)d);
            cr_assert_eq(attn_run(P[b].o, P[b].q, P[b].k, P[b].v, &ap), 0);
            memcpy(q + b * n * d, P[b].q, n * d * sizeof(double));
            memcpy(k + b * nk * d, P[b].k, nk * d * sizeof(double));
            memcpy(v + b * nk * dv, P[b].v, nk * dv * sizeof(double));
            memcpy(o + b * n * dv, P[b].o, n * dv * sizeof(double));
        }
        verify_problem vp;
        setup_problem(&vp, &P[0], f, causal);
        vp.count = count;
        vp.q = q; vp.k = k; vp.v = v; vp.o = o;
        vp.mask = mask;
        vp.mask_count = count;
        verify_report r[3];
        char err[128];
        for (int mode = 0; mode < 3; mode++) {
            vp.skip_fast = mode == 1;
            vp.arb_only = mode == 2;
            cr_assert_eq(verify_run(&r[mode], &vp, NULL, NULL, err, sizeof err), 0);
        }
        size_t total = count * n * dv;
        for (int mode = 1; mode < 3; mode++) {
            cr_assert_eq(memcmp(r[0].truth_bits, r[mode].truth_bits, total * sizeof(uint64_t)), 0, "case %d mode %d", it, mode);
            cr_assert_eq(r[0].over_bound, r[mode].over_bound, "case %d mode %d", it, mode);
            cr_assert_eq(r[0].correctly_rounded, r[mode].correctly_rounded, "case %d mode %d", it, mode);
            for (size_t t = 0; t < total; t++)
                cr_assert(fabs(r[0].ulp_err[t] - r[mode].ulp_err[t]) <= 1e-6 * fmax(1, r[0].ulp_err[t]),
                          "case %d entry %zu: %.17g vs %.17g", it, t, r[0].ulp_err[t], r[mode].ulp_err[t]);
        }
        cr_assert_eq(r[1].refined + r[1].fallback <= total, 1);
        for (size_t b = 0; b < count; b++)
            for (size_t t = 0; t < n * dv; t++) {
                double truth = fp_bits_to_double(r[0].truth_bits[b * n * dv + t], f);
                cr_assert(truth == P[b].truth[t] || (truth == 0 && P[b].truth[t] == 0),
                          "case %d problem %zu entry %zu: %.17g vs MPFR %.17g", it, b, t, truth, P[b].truth[t]);
            }
        /* the kernel's output lies within its proven bound */
        cr_assert(r[0].pass, "case %d: %zu over the bound, max err_scaled %g (bound %g)", it, r[0].over_bound, r[0].max_err_scaled, r[0].bound);
        for (int mode = 0; mode < 3; mode++) verify_report_clear(&r[mode]);
        verify_problem_clear(&vp);
        for (size_t b = 0; b < count; b++) unmake(&P[b]);
        free(P); free(q); free(k); free(v); free(o); free(mask);
    }
    mpfr_free_cache();
}

/* The counts of the passes add up: entries decided by the second pass and
 * by the balls are at most the entries, and with the first pass skipped
 * every entry of a row with visible keys goes to the later passes. */
Test(verify, pass_counts)
{
    rng.state = 77;
    problem_data P;
    make(&P, 16, 24, 8, 4, 1, FP_F32);
    reference(&P, 0, FP_F32, 0, 0);
    memcpy(P.o, P.truth, 16 * 4 * sizeof(double));
    verify_problem vp;
    setup_problem(&vp, &P, FP_F32, 0);
    verify_report r;
    char err[128];
    cr_assert_eq(verify_run(&r, &vp, NULL, NULL, err, sizeof err), 0);
    cr_assert_leq(r.refined + r.fallback, 64);
    cr_assert_eq(r.correctly_rounded, 64);
    verify_report_clear(&r);
    vp.skip_fast = 1;
    cr_assert_eq(verify_run(&r, &vp, NULL, NULL, err, sizeof err), 0);
    cr_assert_eq(r.refined + r.fallback, 64, "refined %zu fallback %zu", r.refined, r.fallback);
    cr_assert_gt(r.refined, 48, "the double-double pass decides most entries (%zu)", r.refined);
    cr_assert_eq(r.correctly_rounded, 64);
    verify_report_clear(&r);
    verify_problem_clear(&vp);
    unmake(&P);
    mpfr_free_cache();
}

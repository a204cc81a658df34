/* Tests of the conventions of real kernels in verify and its layout:
 * grouped-query attention against K and V repeated per query head, causal
 * alignments against explicit masks, FlashAttention's layout, format names. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention/attn.h"
#include "attention/convention.h"
#include "attention/reference.h"
#include "attention/verify.h"
#include "core/fpfmt.h"
#include "core/strbuf.h"
#include "io/layout.h"
#include "io/tensor.h"
#include "tests/lib/testlib.h"

static double random_value(test_rng *r, fp_format f)
{
    double x = ((double)test_randn(r, 2001) - 1000) / 500;
    return fp_bits_to_double(fp_round_double(x, f), f);
}

static double *random_array(test_rng *r, size_t n, fp_format f)
{
    double *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t x = 0; x < n; x++) a[x] = random_value(r, f);
    return a;
}

/* Two reports of the same output agree entry by entry. */
static void same_reports(const verify_report *a, const verify_report *b, size_t total, int it)
{
    cr_assert_eq(memcmp(a->truth_bits, b->truth_bits, total * sizeof *a->truth_bits), 0, "case %d: truths", it);
    cr_assert_eq(memcmp(a->ulp_err, b->ulp_err, total * sizeof *a->ulp_err), 0, "case %d: ulp errors", it);
    cr_assert_eq(memcmp(a->over, b->over, total), 0, "case %d: verdicts per entry", it);
    cr_assert_eq(a->pass, b->pass, "case %d", it);
    cr_assert_eq(a->over_bound, b->over_bound, "case %d", it);
}

/* a (one problem) gives the same report as its inputs with mask and no
 * other rule of visibility. */
static void same_as_masked(const verify_problem *a, const unsigned char *mask, int it)
{
    verify_problem b;
    verify_problem_init(&b);
    b.count = 1; b.n_q = a->n_q; b.n_k = a->n_k; b.d = a->d; b.d_v = a->d_v;
    b.q = a->q; b.k = a->k; b.v = a->v; b.o = a->o;
    b.mask = mask;
    verify_report ra, rb;
    char err[128];
    cr_assert_eq(verify_run(&ra, a, NULL, NULL, err, sizeof err), 0);
    cr_assert_eq(verify_run(&rb, &b, NULL, NULL, err, sizeof err), 0);
    same_reports(&ra, &rb, a->n_q * a->d_v, it);
    verify_report_clear(&ra);
    verify_report_clear(&rb);
    verify_problem_clear(&b);
}

/* Grouped-query and multi-query attention: K and V with kv_heads heads per
 * batch give the same report, entry by entry, as K and V repeated to one
 * head per query head (torch.repeat_interleave: query head h reads KV head
 * h / group), on outputs of the reference kernels with planted errors. */
Test(verify_conventions, gqa_equals_repeated_heads)
{
    test_rng r = { 2024 };
    for (int it = 0; it < 24 * test_multiplier(); it++) {
        size_t batch = 1 + (size_t)test_randn(&r, 2), kvh = 1 + (size_t)test_randn(&r, 3), group = 1 + (size_t)test_randn(&r, 4);
        size_t heads = kvh * group, nq = 1 + (size_t)test_randn(&r, 9), nk = 1 + (size_t)test_randn(&r, 9);
        size_t d = 1 + (size_t)test_randn(&r, 6), dv = 1 + (size_t)test_randn(&r, 5), count = batch * heads;
        fp_format f = it % 3 == 0 ? FP_BF16 : FP_F32;
        double *q = random_array(&r, count * nq * d, f), *k = random_array(&r, batch * kvh * nk * d, f);
        double *v = random_array(&r, batch * kvh * nk * dv, f);
        double *kr = malloc(count * nk * d * sizeof *kr), *vr = malloc(count * nk * dv * sizeof *vr);
        for (size_t b = 0; b < count; b++) {
            size_t src = (b / heads) * kvh + (b % heads) / group;
            memcpy(kr + b * nk * d, k + src * nk * d, nk * d * sizeof *kr);
            memcpy(vr + b * nk * dv, v + src * nk * dv, nk * dv * sizeof *vr);
        }
        int causal = it % 4 == 1 ? ATTN_CAUSAL_BOTTOM_RIGHT : it % 4 == 2 ? ATTN_CAUSAL_TOP_LEFT : ATTN_CAUSAL_NONE;
        double *o = malloc(count * nq * dv * sizeof *o);
        for (size_t b = 0; b < count; b++) {
            attn_params ap = { .n_q = nq, .n_k = nk, .d = d, .d_v = dv, .scale = 1 / sqrt((double)d), .causal = causal,
                               .kind = it % 2 ? ATTN_FLASH : ATTN_NAIVE, .tile = 2, .compute = FP_F32, .storage = f };
            cr_assert_eq(attn_run(o + b * nq * dv, q + b * nq * d, kr + b * nk * d, vr + b * nk * dv, &ap), 0);
        }
        if (it % 5 == 0) o[test_randn(&r, (int)(count * nq * dv))] *= 1.5; /* a planted error */
        verify_problem g, e;
        verify_problem_init(&g);
        g.count = count; g.n_q = nq; g.n_k = nk; g.d = d; g.d_v = dv;
        g.q = q; g.k = k; g.v = v; g.o = o;
        g.heads = heads; g.kv_heads = kvh;
        g.causal = causal; g.out_format = f; g.compute = FP_F32;
        verify_problem_init(&e);
        e.count = count; e.n_q = nq; e.n_k = nk; e.d = d; e.d_v = dv;
        e.q = q; e.k = kr; e.v = vr; e.o = o;
        e.causal = causal; e.out_format = f; e.compute = FP_F32;
        verify_report rg, re;
        char err[128];
        cr_assert_eq(verify_run(&rg, &g, NULL, NULL, err, sizeof err), 0);
        cr_assert_eq(verify_run(&re, &e, NULL, NULL, err, sizeof err), 0);
        same_reports(&rg, &re, count * nq * dv, it);
        if (it % 5 == 0) cr_assert(!rg.pass, "case %d: the planted error is caught", it);
        verify_report_clear(&rg);
        verify_report_clear(&re);
        verify_problem_clear(&g);
        verify_problem_clear(&e);
        free(q); free(k); free(v); free(kr); free(vr); free(o);
    }
}

/* Both causal alignments give the same report as an explicit mask of the
 * keys they let each query see (j <= i + n_k - n_q, and j <= i), with
 * n_q < n_k, n_q = n_k and n_q > n_k (rows that see no key included). */
Test(verify_conventions, causal_alignments_equal_masks)
{
    test_rng r = { 77 };
    for (int it = 0; it < 30 * test_multiplier(); it++) {
        size_t nq = 1 + (size_t)test_randn(&r, 10), nk = 1 + (size_t)test_randn(&r, 10), d = 1 + (size_t)test_randn(&r, 5);
        size_t dv = 1 + (size_t)test_randn(&r, 4);
        int top_left = it % 2;
        double *q = random_array(&r, nq * d, FP_F32), *k = random_array(&r, nk * d, FP_F32);
        double *v = random_array(&r, nk * dv, FP_F32), *o = random_array(&r, nq * dv, FP_F32);
        unsigned char *mask = malloc(nq * nk);
        for (size_t i = 0; i < nq; i++)
            for (size_t j = 0; j < nk; j++) mask[i * nk + j] = top_left ? j <= i : j + nq <= i + nk;
        verify_problem a;
        verify_problem_init(&a);
        a.count = 1; a.n_q = nq; a.n_k = nk; a.d = d; a.d_v = dv;
        a.q = q; a.k = k; a.v = v; a.o = o;
        a.causal = top_left ? ATTN_CAUSAL_TOP_LEFT : ATTN_CAUSAL_BOTTOM_RIGHT;
        same_as_masked(&a, mask, it);
        verify_problem_clear(&a);
        free(q); free(k); free(v); free(o); free(mask);
    }
}

/* Where each alignment starts, on a 3 x 5 and a 5 x 3 problem, written out. */
Test(verify_conventions, causal_alignment_tables)
{
    static const char *const br35[] = { "11100", "11110", "11111" }, *const tl35[] = { "10000", "11000", "11100" };
    static const char *const br53[] = { "000", "000", "100", "110", "111" }, *const tl53[] = { "100", "110", "111", "111", "111" };
    for (size_t i = 0; i < 3; i++)
        for (size_t j = 0; j < 5; j++) {
            cr_assert_eq(attn_key_visible(i, j, 3, 5, ATTN_CAUSAL_BOTTOM_RIGHT, NULL), br35[i][j] == '1');
            cr_assert_eq(attn_key_visible(i, j, 3, 5, ATTN_CAUSAL_TOP_LEFT, NULL), tl35[i][j] == '1');
            cr_assert_eq(attn_key_visible(j, i, 5, 3, ATTN_CAUSAL_BOTTOM_RIGHT, NULL), br53[j][i] == '1');
            cr_assert_eq(attn_key_visible(j, i, 5, 3, ATTN_CAUSAL_TOP_LEFT, NULL), tl53[j][i] == '1');
            cr_assert(attn_key_visible(i, j, 3, 5, ATTN_CAUSAL_NONE, NULL));
        }
}

/* FlashAttention's (batch, n, heads, d) reordered to (batch, heads, n, d):
 * every value lands where its indices say, for ranks 3 and 4. */
Test(verify_conventions, bnhd_to_bhnd)
{
    test_rng r = { 5 };
    for (int it = 0; it < 20; it++) {
        tensor t;
        tensor_init(&t);
        int rank4 = it % 2;
        size_t B = rank4 ? 1 + (size_t)test_randn(&r, 3) : 1, n = 1 + (size_t)test_randn(&r, 5);
        size_t h = 1 + (size_t)test_randn(&r, 4), d = 1 + (size_t)test_randn(&r, 3);
        t.ndim = rank4 ? 4 : 3;
        size_t *s = t.shape;
        if (rank4) { s[0] = B; s[1] = n; s[2] = h; s[3] = d; }
        else { s[0] = n; s[1] = h; s[2] = d; }
        t.count = B * n * h * d;
        t.data = malloc(t.count * sizeof *t.data);
        for (size_t x = 0; x < t.count; x++) t.data[x] = (double)x; /* its own flat index in bnhd */
        layout_bnhd_to_bhnd(&t);
        cr_assert_eq(t.shape[t.ndim - 3], h);
        cr_assert_eq(t.shape[t.ndim - 2], n);
        for (size_t b = 0; b < B; b++)
            for (size_t hh = 0; hh < h; hh++)
                for (size_t i = 0; i < n; i++)
                    for (size_t c = 0; c < d; c++)
                        cr_assert_eq(t.data[((b * h + hh) * n + i) * d + c], (double)(((b * n + i) * h + hh) * d + c));
        tensor_clear(&t);
    }
}

/* Format names as PyTorch, numpy and people write them. */
Test(verify_conventions, format_names)
{
    static const struct { const char *name; fp_format f; } cases[] = {
        { "f64", FP_F64 }, { "fp64", FP_F64 }, { "float64", FP_F64 }, { "double", FP_F64 }, { "torch.float64", FP_F64 },
        { "f32", FP_F32 }, { "fp32", FP_F32 }, { "float32", FP_F32 }, { "float", FP_F32 }, { "single", FP_F32 },
        { "np.float32", FP_F32 }, { "f16", FP_F16 }, { "fp16", FP_F16 }, { "float16", FP_F16 }, { "half", FP_F16 },
        { "torch.half", FP_F16 }, { "numpy.float16", FP_F16 }, { "bf16", FP_BF16 }, { "bfloat16", FP_BF16 },
        { "torch.bfloat16", FP_BF16 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fp_format f = FP_F64;
        cr_assert_eq(fp_format_from_name(&f, cases[i].name), 0, "%s", cases[i].name);
        cr_assert_eq(f, cases[i].f, "%s", cases[i].name);
    }
    static const char *const bad[] = { "", "fp8", "torch.", "f 32", "bf", "int8", "F32", "torch.torch.float32" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fp_format f;
        cr_assert_eq(fp_format_from_name(&f, bad[i]), -1, "'%s'", bad[i]);
    }
}

/* A (batch, 1, 1, n_k) padding mask becomes one n_q x n_k matrix per
 * problem whose rows are all the batch's row; (n_q = 1) masks of other ranks
 * the same; any value read from an integer mask counts as 0 or 1. */
Test(verify_conventions, padding_masks_broadcast)
{
    test_rng r = { 9 };
    for (int it = 0; it < 20; it++) {
        size_t B = 1 + (size_t)test_randn(&r, 3), H = 1 + (size_t)test_randn(&r, 3), nq = 1 + (size_t)test_randn(&r, 6);
        size_t nk = 1 + (size_t)test_randn(&r, 6);
        tensor q, m;
        tensor_init(&q);
        tensor_init(&m);
        q.ndim = 4; q.shape[0] = B; q.shape[1] = H; q.shape[2] = nq; q.shape[3] = 2;
        q.count = B * H * nq * 2;
        int rank = 2 + test_randn(&r, 3); /* (1, n_k), (B or 1, 1, n_k) ... */
        m.ndim = rank;
        m.boolean = 1;
        size_t mb = rank == 4 ? B : 1;
        for (int a = 0; a < rank; a++) m.shape[a] = 1;
        if (rank == 4) m.shape[0] = B;
        m.shape[rank - 1] = nk;
        m.count = mb * nk;
        m.data = malloc(m.count * sizeof *m.data);
        for (size_t x = 0; x < m.count; x++) m.data[x] = test_randn(&r, 4) != 0;
        verify_problem p;
        verify_problem_init(&p);
        p.count = B * H; p.heads = H; p.n_q = nq; p.n_k = nk; p.d = 2; p.d_v = 2;
        unsigned char *mask = NULL;
        size_t count = 0;
        strbuf msg;
        strbuf_init(&msg);
        cr_assert_eq(layout_mask(&mask, &count, &m, &q, &p, "m.npy", &msg), 0, "%s", strbuf_str(&msg));
        for (size_t b = 0; b < B * H; b++) {
            const unsigned char *mat = mask + (b % count) * nq * nk;
            size_t row = rank == 4 ? b / H : 0;
            for (size_t i = 0; i < nq; i++)
                for (size_t j = 0; j < nk; j++)
                    cr_assert_eq(mat[i * nk + j], m.data[row * nk + j] == 1, "case %d (%zu,%zu,%zu)", it, b, i, j);
        }
        free(mask);
        strbuf_clear(&msg);
        verify_problem_clear(&p);
        tensor_clear(&m);
    }
}

/* A sliding window (FlashAttention's window_size, both alignments, with and
 * without a causal mask, sides unbounded by -1) gives the same report as the
 * explicit mask of the keys it lets each query see. */
Test(verify_conventions, window_equals_mask)
{
    test_rng r = { 123 };
    for (int it = 0; it < 40 * test_multiplier(); it++) {
        size_t nq = 1 + (size_t)test_randn(&r, 10), nk = 1 + (size_t)test_randn(&r, 10), d = 1 + (size_t)test_randn(&r, 4);
        size_t dv = 1 + (size_t)test_randn(&r, 3);
        int top_left = test_randn(&r, 2), causal = test_randn(&r, 3) == 0;
        int64_t left = test_randn(&r, 5) - 1, right = test_randn(&r, 5) - 1;
        double *q = random_array(&r, nq * d, FP_F32), *k = random_array(&r, nk * d, FP_F32);
        double *v = random_array(&r, nk * dv, FP_F32), *o = random_array(&r, nq * dv, FP_F32);
        unsigned char *mask = malloc(nq * nk);
        int64_t off = top_left ? 0 : (int64_t)nk - (int64_t)nq;
        for (size_t i = 0; i < nq; i++)
            for (size_t j = 0; j < nk; j++) {
                int64_t c = (int64_t)i + off, jj = (int64_t)j;
                int vis = (left < 0 || jj >= c - left) && (right < 0 || jj <= c + right);
                if (causal) vis = vis && jj <= c;
                mask[i * nk + j] = (unsigned char)vis;
            }
        verify_problem a;
        verify_problem_init(&a);
        a.count = 1; a.n_q = nq; a.n_k = nk; a.d = d; a.d_v = dv;
        a.q = q; a.k = k; a.v = v; a.o = o;
        a.causal = !causal ? ATTN_CAUSAL_NONE : top_left ? ATTN_CAUSAL_TOP_LEFT : ATTN_CAUSAL_BOTTOM_RIGHT;
        a.window = 1; a.window_left = left; a.window_right = right; a.window_top_left = top_left;
        same_as_masked(&a, mask, it);
        verify_problem_clear(&a);
        free(q); free(k); free(v); free(o); free(mask);
    }
}

/* The diagnosis of a failing run: an output made by the reference kernel
 * under one convention, verified under another, is explained by the fix
 * that turns the second into the first; noise is explained by none. */
Test(verify_conventions, diagnosis_names_the_convention)
{
    test_rng r = { 4242 };
    for (int it = 0; it < 28 * test_multiplier(); it++) {
        convention_fix want = (convention_fix)(it % 7); /* CONVENTION_GQA_TILED included, not KV noise */
        int noise = it % 8 == 7;
        size_t nq = 6 + (size_t)test_randn(&r, 6), nk = nq + 1 + (size_t)test_randn(&r, 4), d = 4, dv = 4;
        size_t heads = want == CONVENTION_GQA_TILED ? 4 : 1, kvh = want == CONVENTION_GQA_TILED ? 2 : 1;
        double *q = random_array(&r, heads * nq * d, FP_F32), *k = random_array(&r, kvh * nk * d, FP_F32);
        double *v = random_array(&r, kvh * nk * dv, FP_F32), *o = malloc(heads * nq * dv * sizeof *o);
        /* the kernel's convention, and what verify is told */
        int kcausal = ATTN_CAUSAL_NONE, vcausal = ATTN_CAUSAL_NONE, kscale_one = 0, vscale_one = 0, swap = 0, tiled = 0;
        switch (want) {
        case CONVENTION_CAUSAL_ON: kcausal = ATTN_CAUSAL_BOTTOM_RIGHT; break;
        case CONVENTION_CAUSAL_TOP_LEFT: kcausal = ATTN_CAUSAL_TOP_LEFT; break;
        case CONVENTION_CAUSAL_OFF: vcausal = ATTN_CAUSAL_BOTTOM_RIGHT; break;
        case CONVENTION_ALIGN_OTHER: kcausal = ATTN_CAUSAL_TOP_LEFT; vcausal = ATTN_CAUSAL_BOTTOM_RIGHT; break;
        case CONVENTION_SCALE_ONE: kscale_one = 1; break;
        case CONVENTION_SCALE_AUTO: vscale_one = 1; break;
        case CONVENTION_KV_SWAPPED: swap = 1; break;
        default: tiled = 1; break;
        }
        for (size_t h = 0; h < heads; h++) {
            size_t kv = tiled ? h % kvh : h / (heads / kvh);
            attn_params ap = { .n_q = nq, .n_k = nk, .d = d, .d_v = dv, .scale = kscale_one ? 1 : 0.5, .causal = kcausal,
                               .kind = ATTN_NAIVE, .compute = FP_F64, .storage = FP_F32 };
            const double *kk = k + kv * nk * d, *vv = v + kv * nk * dv;
            cr_assert_eq(attn_run(o + h * nq * dv, q + h * nq * d, swap ? vv : kk, swap ? kk : vv, &ap), 0);
        }
        if (noise) for (size_t x = 0; x < heads * nq * dv; x++) o[x] = random_value(&r, FP_F32);
        verify_problem p;
        verify_problem_init(&p);
        p.count = heads; p.heads = heads; p.kv_heads = kvh;
        p.n_q = nq; p.n_k = nk; p.d = d; p.d_v = dv;
        p.q = q; p.k = k; p.v = v; p.o = o;
        p.causal = vcausal;
        if (vscale_one) p.scale_auto = 0; /* scale 1; auto is 1/sqrt(4) = 0.5, the kernel's */
        verify_report rep;
        char err[128];
        cr_assert_eq(verify_run(&rep, &p, NULL, NULL, err, sizeof err), 0);
        cr_assert(convention_worth_trying(&rep), "case %d: %zu of %zu fail", it, rep.failing_count, rep.entries);
        unsigned char fixes[CONVENTION_COUNT_];
        size_t problem = 99;
        size_t n = convention_diagnose(fixes, &problem, &p, &rep);
        cr_assert_lt(problem, heads);
        if (noise) cr_assert_eq(n, 0, "case %d: noise explained", it);
        else cr_assert(fixes[want], "case %d: fix %d not found (%zu found)", it, (int)want, n);
        verify_report_clear(&rep);
        verify_problem_clear(&p);
        free(q); free(k); free(v); free(o);
    }
}

/* Kernels that round P to a 16-bit format before P*V (bf16 and f16 storage,
 * f32 compute, naive and flash with several tiles; plain, large, tied and
 * sink scores) stay within the bound of that precision model in every
 * entry; the model that keeps P wide calls some of them wrong. */
Test(verify_conventions, probs_rounded_within_their_bound)
{
    test_rng r = { 31337 };
    static const fp_format fmts[] = { FP_BF16, FP_F16 };
    static const size_t tiles[] = { 0, 1, 2, 16 };
    size_t wide_fails = 0, cases = 0;
    for (int it = 0; it < 48 * test_multiplier(); it++) {
        fp_format f = fmts[it % 2];
        size_t tile = tiles[(it / 2) % 4];
        int kind = it / 8 % 4; /* 0 plain, 1 large scores, 2 ties behind a sink, positive values, 3 a sink key */
        size_t nq = 4 + (size_t)test_randn(&r, 8), nk = 16 + (size_t)test_randn(&r, 200), d = 8 + (size_t)test_randn(&r, 24);
        size_t dv = 4 + (size_t)test_randn(&r, 8);
        double *q = random_array(&r, nq * d, f), *k = random_array(&r, nk * d, f), *v = random_array(&r, nk * dv, f);
        if (kind == 1) for (size_t x = 0; x < nq * d; x++) q[x] = fp_bits_to_double(fp_round_double(q[x] * 6, f), f);
        if (kind == 2) { /* P of the tied keys rounds the same way in every one: the errors add up */
            for (size_t j = 2; j < nk; j++) memcpy(k + j * d, k + d, d * sizeof *k);
            for (size_t x = 0; x < nk * dv; x++) v[x] = fp_bits_to_double(fp_round_double(fabs(v[x]) + 0.25, f), f);
        }
        if (kind == 3) for (size_t c = 0; c < d; c++) k[c] = fp_bits_to_double(fp_round_double(q[c] * 4, f), f);
        double *o = malloc(nq * dv * sizeof *o);
        attn_params ap = { .n_q = nq, .n_k = nk, .d = d, .d_v = dv, .scale = 1 / sqrt((double)d),
                           .kind = tile ? ATTN_FLASH : ATTN_NAIVE, .tile = tile, .compute = FP_F32, .storage = f,
                           .probs_rounded = 1, .probs = f };
        cr_assert_eq(attn_run(o, q, k, v, &ap), 0);
        verify_problem p;
        verify_problem_init(&p);
        p.count = 1; p.n_q = nq; p.n_k = nk; p.d = d; p.d_v = dv;
        p.q = q; p.k = k; p.v = v; p.o = o;
        p.out_format = f; p.compute = FP_F32;
        p.probs_rounded = 1; p.probs = f;
        verify_report rep;
        char err[128];
        cr_assert_eq(verify_run(&rep, &p, NULL, NULL, err, sizeof err), 0, "%s", err);
        cr_assert(rep.pass, "case %d (%s, tile %zu, kind %d): max err_scaled %g, bound %g", it, fp_info(f)->name, tile,
                  kind, rep.max_err_scaled, rep.bound);
        verify_report_clear(&rep);
        p.probs_rounded = 0;
        cr_assert_eq(verify_run(&rep, &p, NULL, NULL, err, sizeof err), 0, "%s", err);
        wide_fails += !rep.pass;
        cases++;
        verify_report_clear(&rep);
        verify_problem_clear(&p);
        free(q); free(k); free(v); free(o);
    }
    cr_assert_gt(wide_fails, 0, "no kernel with P rounded exceeded the bound that keeps P wide (%zu cases)", cases);
}

/* ref_ratio: the naive kernel's own output, in the model verify is told,
 * has ratio exactly 1 (the same bits: masks, windows and grouped heads
 * included); a planted error raises it past 2; the truth itself has 0 or a
 * ratio under 1 (its only error is the final rounding). */
Test(verify_conventions, reference_ratio)
{
    test_rng r = { 777 };
    for (int it = 0; it < 16 * test_multiplier(); it++) {
        fp_format f = it % 2 ? FP_BF16 : FP_F32;
        size_t heads = 2, kvh = it % 3 == 0 ? 1 : 2, nq = 3 + (size_t)test_randn(&r, 6), nk = 3 + (size_t)test_randn(&r, 20);
        size_t d = 4, dv = 3;
        double *q = random_array(&r, heads * nq * d, f), *k = random_array(&r, kvh * nk * d, f);
        double *v = random_array(&r, kvh * nk * dv, f), *o = malloc(heads * nq * dv * sizeof *o);
        verify_problem p;
        verify_problem_init(&p);
        p.count = heads; p.heads = heads; p.kv_heads = kvh; p.n_q = nq; p.n_k = nk; p.d = d; p.d_v = dv;
        p.q = q; p.k = k; p.v = v; p.o = o;
        p.out_format = f; p.compute = FP_F32;
        p.probs_rounded = f == FP_BF16; p.probs = f;
        p.causal = it % 4 == 1 ? ATTN_CAUSAL_TOP_LEFT : ATTN_CAUSAL_NONE;
        if (it % 4 == 2) { p.window = 1; p.window_left = 2; p.window_right = 0; }
        /* O = the naive kernel's output in that model */
        unsigned char *mask = malloc(nq * nk);
        for (size_t b = 0; b < heads; b++) {
            for (size_t i = 0; i < nq; i++)
                for (size_t j = 0; j < nk; j++) mask[i * nk + j] = (unsigned char)verify_key_visible(&p, b, i, j);
            size_t kv = verify_kv_problem(&p, b);
            attn_params ap = { .n_q = nq, .n_k = nk, .d = d, .d_v = dv, .scale = 0.5, .mask = mask, .kind = ATTN_NAIVE,
                               .compute = FP_F32, .storage = f, .probs_rounded = p.probs_rounded, .probs = f };
            cr_assert_eq(attn_run(o + b * nq * dv, q + b * nq * d, k + kv * nk * d, v + kv * nk * dv, &ap), 0);
        }
        verify_report rep;
        char err[128];
        double oe, re;
        cr_assert_eq(verify_run(&rep, &p, NULL, NULL, err, sizeof err), 0);
        cr_assert_eq(reference_errors(&oe, &re, &p, &rep), 0);
        cr_assert_eq(oe, re, "case %d: the same kernel, the same errors (%g, %g)", it, oe, re);
        cr_assert(reference_ratio(oe, re) == 1 || (oe == 0 && reference_ratio(oe, re) == 0));
        /* the truth itself */
        for (size_t x = 0; x < heads * nq * dv; x++) o[x] = fp_bits_to_double(rep.truth_bits[x], f);
        cr_assert_eq(reference_errors(&oe, &re, &p, &rep), 0);
        cr_assert_eq(oe, 0);
        cr_assert_eq(reference_ratio(oe, re), 0);
        /* a planted error */
        size_t at = (size_t)test_randn(&r, (int)(heads * nq * dv));
        o[at] += 0.25;
        cr_assert_eq(reference_errors(&oe, &re, &p, &rep), 0);
        cr_assert_geq(oe, 0.2);
        cr_assert(reference_ratio(oe, re) > 2, "case %d: %g / %g", it, oe, re);
        verify_report_clear(&rep);
        verify_problem_clear(&p);
        free(q); free(k); free(v); free(o); free(mask);
    }
    cr_assert(isinf(reference_ratio(1, 0)));
    cr_assert(isnan(reference_ratio(NAN, 1)));
}

/* Self-attention in FlashAttention's (batch, n, heads, d) read as PyTorch's
 * (batch, heads, n, d): the shapes agree, every entry fails, and the
 * diagnosis names the other layout (and only the data in it decides). */
Test(verify_conventions, diagnosis_names_the_layout)
{
    test_rng r = { 99 };
    for (int it = 0; it < 8; it++) {
        size_t B = 1 + (size_t)test_randn(&r, 2), H = 2 + (size_t)test_randn(&r, 3), n = H + 1 + (size_t)test_randn(&r, 5);
        size_t d = 4, dv = 4, count = B * H;
        double *q = random_array(&r, count * n * d, FP_F32), *k = random_array(&r, count * n * d, FP_F32);
        double *v = random_array(&r, count * n * dv, FP_F32), *o = malloc(count * n * dv * sizeof *o);
        for (size_t b = 0; b < count; b++) {
            attn_params ap = { .n_q = n, .n_k = n, .d = d, .d_v = dv, .scale = 0.5, .kind = ATTN_NAIVE,
                               .compute = FP_F64, .storage = FP_F32 };
            cr_assert_eq(attn_run(o + b * n * dv, q + b * n * d, k + b * n * d, v + b * n * dv, &ap), 0);
        }
        tensor t[4];
        double *arrays[4] = { q, k, v, o };
        size_t widths[4] = { d, d, dv, dv };
        for (int f = 0; f < 4; f++) { /* (B, H, n, w) written as (B, n, H, w) */
            tensor_init(&t[f]);
            t[f].ndim = 4;
            t[f].shape[0] = B; t[f].shape[1] = n; t[f].shape[2] = H; t[f].shape[3] = widths[f];
            t[f].count = B * H * n * widths[f];
            t[f].data = malloc(t[f].count * sizeof(double));
            for (size_t bb = 0; bb < B; bb++)
                for (size_t h = 0; h < H; h++)
                    for (size_t i = 0; i < n; i++)
                        memcpy(t[f].data + ((bb * n + i) * H + h) * widths[f], arrays[f] + ((bb * H + h) * n + i) * widths[f],
                               widths[f] * sizeof(double));
        }
        verify_problem p; /* read as (B, heads = n, n = H, w) */
        verify_problem_init(&p);
        p.count = B * n; p.heads = n; p.kv_heads = n; p.n_q = H; p.n_k = H; p.d = d; p.d_v = dv;
        p.q = t[0].data; p.k = t[1].data; p.v = t[2].data; p.o = t[3].data;
        verify_report rep;
        char err[128];
        cr_assert_eq(verify_run(&rep, &p, NULL, NULL, err, sizeof err), 0);
        cr_assert(convention_worth_trying(&rep), "case %d", it);
        unsigned char fixes[CONVENTION_COUNT_];
        size_t problem;
        convention_diagnose(fixes, &problem, &p, &rep);
        cr_assert(fixes[CONVENTION_LAYOUT_OTHER], "case %d", it);
        verify_report_clear(&rep);
        /* read the right way round, it passes */
        for (int f = 0; f < 4; f++) layout_bnhd_to_bhnd(&t[f]);
        p.count = count; p.heads = H; p.kv_heads = H; p.n_q = n; p.n_k = n;
        p.q = t[0].data; p.k = t[1].data; p.v = t[2].data; p.o = t[3].data;
        cr_assert_eq(verify_run(&rep, &p, NULL, NULL, err, sizeof err), 0);
        cr_assert(rep.pass, "case %d", it);
        verify_report_clear(&rep);
        verify_problem_clear(&p);
        for (int f = 0; f < 4; f++) tensor_clear(&t[f]);
        free(q); free(k); free(v); free(o);
    }
}

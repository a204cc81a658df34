/* verify: certified checking of attention outputs, row by row: a fast pass
 * in double, a second in double-double, Arb balls for what they leave
 * (verify_fast.c, verify_ball.c); then the verdict and the summary. */
#include "attention/verify.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "core/mem.h"
#include "attention/verify_impl.h"

void verify_problem_init(verify_problem *p)
{
    memset(p, 0, sizeof *p);
    fmpq_init(p->scale);
    fmpq_one(p->scale);
    p->scale_auto = 1;
    p->out_format = FP_F32;
    p->compute = FP_F32;
}

void verify_problem_clear(verify_problem *p) { fmpq_clear(p->scale); }

int verify_key_visible(const verify_problem *p, size_t b, size_t i, size_t j) { return vf_visible(p, b, i, j); }

size_t verify_kv_problem(const verify_problem *p, size_t b) { return vf_kv(p, b); }

void verify_report_clear(verify_report *r)
{
    free(r->truth_bits);
    free(r->ulp_err);
    free(r->err_scaled);
    free(r->over);
    free(r->row_bound);
    free(r->failing);
    memset(r, 0, sizeof *r);
}

/* The scale as a double and a bound on its relative error. */
static double scale_double(const verify_problem *p, double *rel_err)
{
    if (p->scale_auto) { /* 1/sqrt(d): two correctly rounded operations */
        *rel_err = 2.0001 * U64;
        return 1.0 / sqrt((double)p->d);
    }
    mpfr_t m;
    mpfr_init2(m, 53);
    mpq_t qq;
    mpq_init(qq);
    fmpq_get_mpq(qq, p->scale);
    int inexact = mpfr_set_q(m, qq, MPFR_RNDN);
    double sc = mpfr_get_d(m, MPFR_RNDN);
    *rel_err = inexact ? U64 : 0;
    mpq_clear(qq);
    mpfr_clear(m);
    return sc;
}

/* The underflow allowance added to the a-priori bound (docs/VERIFY.md):
 * half the smallest subnormal of the output format (its final rounding
 * below the normal range), for each key a smallest subnormal of the
 * compute format for its weight and one for its product with v, and with
 * P rounded, for each key a smallest subnormal of the probs format (half
 * of it is the rounding error of a weight below its normal range, over a
 * row sum l >= 1/2). */
static double underflow_eta(const verify_problem *p, double vmax)
{
    double s_out = ldexp(1.0, (int)fp_info(p->out_format)->emin - 1);
    double s_c = ldexp(1.0, (int)fp_info(p->compute)->emin - 1);
    double s_p = p->probs_rounded ? ldexp(1.0, (int)fp_info(p->probs)->emin - 1) : 0;
    return 0.5 * s_out + (2.0 * s_c + s_p) * (double)p->n_k * fmax(vmax, 1.0);
}

static void prob_work_init(prob_work *pk, const verify_problem *p)
{
    size_t nk = p->n_k, d = p->d, dv = p->d_v;
    pk->kabs = mem_calloc(nk * d + 1, sizeof(double));
    pk->vabs = mem_calloc(nk * dv + 1, sizeof(double));
    pk->vt = mem_calloc(nk * dv + 1, sizeof(double));
    pk->vmax = mem_calloc(dv + 1, sizeof(double));
    pk->ka = pk->vta = pk->vata = NULL; /* when a row needs them */
    pk->balls = 0;
}

static void prob_work_clear(prob_work *pk, const verify_problem *p)
{
    free(pk->kabs); free(pk->vabs); free(pk->vt); free(pk->vmax);
    if (!pk->ka) return;
    _arb_vec_clear(pk->ka, (slong)(p->n_k * p->d));
    _arb_vec_clear(pk->vta, (slong)(p->n_k * p->d_v));
    _arb_vec_clear(pk->vata, (slong)(p->n_k * p->d_v));
}

/* |K|, |V|, V^T and max_j |v_jc| of problem b. */
static void prob_work_set(prob_work *pk, const verify_problem *p, size_t b)
{
    size_t nk = p->n_k, d = p->d, dv = p->d_v;
    const double *k = p->k + vf_kv(p, b) * nk * d, *v = p->v + vf_kv(p, b) * nk * dv;
    for (size_t x = 0; x < nk * d; x++) pk->kabs[x] = fabs(k[x]);
    for (size_t c = 0; c < dv; c++) pk->vmax[c] = 0;
    for (size_t j = 0; j < nk; j++)
        for (size_t c = 0; c < dv; c++) {
            double a = fabs(v[j * dv + c]);
            pk->vabs[j * dv + c] = a;
            pk->vt[c * nk + j] = v[j * dv + c];
            if (a > pk->vmax[c]) pk->vmax[c] = a;
        }
    double vm = 0;
    for (size_t c = 0; c < dv; c++) vm = fmax(vm, pk->vmax[c]);
    pk->eta = underflow_eta(p, vm);
    pk->balls = 0;
    pk->arb_rows = 0;
}

/* The exact balls of problem b's K, V^T and |V|^T, once a row needs them. */
static void prob_work_balls(prob_work *pk, const verify_problem *p, size_t b)
{
    if (pk->balls) return;
    size_t nk = p->n_k, d = p->d, dv = p->d_v;
    const double *k = p->k + vf_kv(p, b) * nk * d, *v = p->v + vf_kv(p, b) * nk * dv;
    if (!pk->ka) {
        pk->ka = _arb_vec_init((slong)(nk * d));
        pk->vta = _arb_vec_init((slong)(nk * dv));
        pk->vata = _arb_vec_init((slong)(nk * dv));
    }
    for (size_t x = 0; x < nk * d; x++) arb_set_d(pk->ka + x, k[x]);
    for (size_t j = 0; j < nk; j++)
        for (size_t c = 0; c < dv; c++) {
            arb_set_d(pk->vta + c * nk + j, v[j * dv + c]);
            arb_set_d(pk->vata + c * nk + j, fabs(v[j * dv + c]));
        }
    pk->balls = 1;
}

static void row_work_init(row_work *w, const verify_problem *p)
{
    size_t nk = p->n_k ? p->n_k : 1;
    w->s = mem_calloc(nk, sizeof(double));
    w->pw = mem_calloc(nk, sizeof(double));
    w->ap = _arb_vec_init((slong)nk);
    w->qa = _arb_vec_init((slong)p->d);
    w->kr = _arb_vec_init((slong)p->d);
    w->vc = _arb_vec_init((slong)nk);
    w->vac = _arb_vec_init((slong)nk);
    arb_init(w->x); arb_init(w->w); arb_init(w->e); arb_init(w->lim);
    arb_init(w->l); arb_init(w->t); arb_init(w->dot); arb_init(w->scale);
}

static void row_work_clear(row_work *w, const verify_problem *p)
{
    free(w->s); free(w->pw);
    _arb_vec_clear(w->ap, (slong)(p->n_k ? p->n_k : 1));
    _arb_vec_clear(w->qa, (slong)p->d);
    _arb_vec_clear(w->kr, (slong)p->d);
    _arb_vec_clear(w->vc, (slong)(p->n_k ? p->n_k : 1));
    _arb_vec_clear(w->vac, (slong)(p->n_k ? p->n_k : 1));
    arb_clear(w->x); arb_clear(w->w); arb_clear(w->e); arb_clear(w->lim);
    arb_clear(w->l); arb_clear(w->t); arb_clear(w->dot); arb_clear(w->scale);
}

static void block_work_init(block_work *bw, size_t rb, const verify_problem *p)
{
    size_t nk = p->n_k ? p->n_k : 1, dv = p->d_v ? p->d_v : 1, d = p->d ? p->d : 1;
    bw->s = mem_calloc(rb * nk, sizeof(double));
    bw->a = mem_calloc(rb * nk, sizeof(double));
    bw->pw = mem_calloc(rb * nk, sizeof(double));
    bw->qabs = mem_calloc(rb * d, sizeof(double));
    bw->num = mem_calloc(rb * dv, sizeof(double));
    bw->wsum = mem_calloc(rb * dv, sizeof(double));
    bw->part = mem_calloc(rb * dv, sizeof(double));
    bw->m = mem_calloc(rb, sizeof(double));
    bw->l = mem_calloc(rb, sizeof(double));
    bw->eps = mem_calloc(rb, sizeof(double));
    bw->tiny = mem_calloc(rb, sizeof(double));
    bw->allowed = mem_calloc(rb, sizeof(double));
}

static void block_work_clear(block_work *bw)
{
    free(bw->s); free(bw->a); free(bw->pw); free(bw->qabs); free(bw->num); free(bw->wsum); free(bw->part);
    free(bw->m); free(bw->l); free(bw->eps); free(bw->tiny); free(bw->allowed);
}

/* Adds row `row`'s entry states to the report. */
static void report_row(verify_report *r, const verify_problem *p, size_t row, entry_state *st)
{
    for (size_t c = 0; c < p->d_v; c++) {
        size_t idx = row * p->d_v + c;
        double o = p->o[idx];
        if (!st[c].decided) { /* beyond the cap: say so through the verdict */
            st[c].over = 1;
            st[c].ulp_err = st[c].err_scaled = NAN;
        }
        r->truth_bits[idx] = st[c].bits;
        r->ulp_err[idx] = st[c].ulp_err;
        r->err_scaled[idx] = st[c].err_scaled;
        if (!isfinite(o)) r->nonfinite++;
        r->over_bound += st[c].over;
        r->over[idx] = (unsigned char)st[c].over;
        double tv = fp_bits_to_double(st[c].bits, p->out_format);
        r->correctly_rounded += isfinite(o) && o == tv && !signbit(o) == !signbit(tv);
    }
}

/* Rows in a block: the entries still undecided. */
static size_t row_undecided(const entry_state *st, size_t dv)
{
    size_t n = 0;
    for (size_t c = 0; c < dv; c++) n += !st[c].decided;
    return n;
}

static void verify_rows(verify_report *r, const verify_problem *p, void (*progress)(double done, void *ctx),
                        void *ctx)
{
    size_t nk = p->n_k, dv = p->d_v, rows = p->count * p->n_q;
    size_t rbmax = vf_block_rows(nk);
    if (rbmax > p->n_q) rbmax = p->n_q ? p->n_q : 1;
    int nth = omp_get_max_threads();
    row_work *ws = mem_calloc((size_t)nth, sizeof *ws);
    for (int t = 0; t < nth; t++) row_work_init(&ws[t], p);
    prob_work pk;
    prob_work_init(&pk, p);
    block_work bw;
    block_work_init(&bw, rbmax, p);
    entry_state *st = mem_calloc(rbmax * (dv ? dv : 1), sizeof *st);
    size_t *need = mem_calloc(rbmax, sizeof *need);
    double sc_rel, sc = scale_double(p, &sc_rel);
    size_t done = 0;
    for (size_t b = 0; b < p->count; b++) {
        prob_work_set(&pk, p, b);
        for (size_t r0 = 0; r0 < p->n_q; r0 += rbmax) {
            size_t rb = p->n_q - r0 < rbmax ? p->n_q - r0 : rbmax;
            memset(st, 0, rb * dv * sizeof *st);
            vf_block_fast(st, &bw, &pk, p, b, r0, rb, sc, sc_rel);
            for (size_t ii = 0; ii < rb; ii++) {
                r->row_bound[b * p->n_q + r0 + ii] = bw.allowed[ii];
                if (bw.allowed[ii] > r->bound) r->bound = bw.allowed[ii];
            }
            /* the second pass, then the balls, for the rows left undecided */
            size_t nneed = 0;
            for (size_t ii = 0; ii < rb; ii++)
                if (row_undecided(st + ii * dv, dv)) need[nneed++] = ii;
            if (nneed && !p->arb_only) {
                for (size_t x = 0; x < nneed; x++) r->refined += row_undecided(st + need[x] * dv, dv);
#pragma omp parallel for schedule(dynamic, 1)
                for (size_t x = 0; x < nneed; x++) {
                    size_t ii = need[x];
                    vf_row_dd(st + ii * dv, p, &pk, b, r0 + ii, bw.a + ii * nk, bw.m[ii], bw.allowed[ii], sc, sc_rel,
                           &ws[omp_get_thread_num()]);
                }
                for (size_t x = 0; x < nneed; x++) r->refined -= row_undecided(st + need[x] * dv, dv);
                size_t n2 = 0;
                for (size_t x = 0; x < nneed; x++)
                    if (row_undecided(st + need[x] * dv, dv)) need[n2++] = need[x];
                nneed = n2;
            }
            if (nneed) {
                pk.arb_rows += nneed;
                if (pk.arb_rows > 32) prob_work_balls(&pk, p, b); /* many rows: convert once */
                for (size_t x = 0; x < nneed; x++) r->fallback += row_undecided(st + need[x] * dv, dv);
#pragma omp parallel for schedule(dynamic, 1)
                for (size_t x = 0; x < nneed; x++) {
                    size_t ii = need[x];
                    vf_row_arb(st + ii * dv, p, &pk, b, r0 + ii, bw.m[ii], bw.allowed[ii], pk.eta, &ws[omp_get_thread_num()]);
                }
            }
            for (size_t ii = 0; ii < rb; ii++) report_row(r, p, b * p->n_q + r0 + ii, st + ii * dv);
            done += rb;
            if (progress) progress((double)done / (double)rows, ctx);
        }
    }
    free(need);
    free(st);
    block_work_clear(&bw);
    prob_work_clear(&pk, p);
    for (int t = 0; t < nth; t++) row_work_clear(&ws[t], p);
    free(ws);
}

/* The k-th smallest of v[0..n-1] (0-based), by quickselect with the
 * median of three as pivot; v is permuted. */
static double select_kth(double *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        double a = v[lo], b = v[mid], c = v[hi];
        double piv = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < piv) i++;
            while (v[j] > piv) j--;
            if (i <= j) {
                double t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                if (j == 0) break;
                j--;
            }
        }
        if (k <= j) hi = j;
        else if (k >= i) lo = i;
        else return v[k];
    }
    return v[k];
}

static double median(double *v, size_t n)
{
    if (!n) return 0;
    double hi = select_kth(v, n, n / 2);
    if (n % 2) return hi;
    double lo = v[0]; /* the largest of the n/2 values below position n/2 */
    for (size_t t = 1; t < n / 2; t++) if (v[t] > lo) lo = v[t];
    return 0.5 * (lo + hi);
}

int verify_run(verify_report *r, const verify_problem *p, void (*progress)(double done, void *ctx), void *ctx,
               char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (p->scale_auto && p->d == 0) { snprintf(err, errlen, "scale auto needs d >= 1"); return -1; }
    size_t total = p->count * p->n_q * p->d_v;
    r->entries = total;
    r->truth_bits = mem_calloc(total ? total : 1, sizeof *r->truth_bits);
    r->ulp_err = mem_calloc(total ? total : 1, sizeof *r->ulp_err);
    r->err_scaled = mem_calloc(total ? total : 1, sizeof *r->err_scaled);
    r->over = mem_calloc(total ? total : 1, 1);
    size_t rows = p->count * p->n_q;
    r->row_bound = mem_calloc(rows ? rows : 1, sizeof *r->row_bound);
    r->bound = 0;
    verify_rows(r, p, progress, ctx);
    /* summary: maxima, medians, the worst entries by ulp_err */
    double *tmp = mem_calloc(total ? total : 1, sizeof *tmp);
    for (size_t t = 0; t < total; t++) {
        double e = r->ulp_err[t], f = r->err_scaled[t];
        if (e > r->max_ulp_err || isnan(e)) r->max_ulp_err = isnan(e) ? INFINITY : e;
        if (f > r->max_err_scaled || isnan(f)) r->max_err_scaled = isnan(f) ? INFINITY : f;
        /* keep the VERIFY_WORST largest, sorted, ties by index */
        size_t n = r->n_worst;
        double key = isnan(e) ? INFINITY : e;
        if (n == VERIFY_WORST && !(key > r->worst[n - 1].ulp_err)) continue;
        size_t pos = n < VERIFY_WORST ? n : VERIFY_WORST - 1;
        while (pos > 0 && key > r->worst[pos - 1].ulp_err) {
            if (pos < VERIFY_WORST) r->worst[pos] = r->worst[pos - 1];
            pos--;
        }
        verify_entry *we = &r->worst[pos];
        we->index = t;
        we->value = p->o[t];
        we->truth = fp_bits_to_double(r->truth_bits[t], p->out_format);
        we->ulp_err = key;
        we->err_scaled = f;
        we->bound = r->row_bound[t / p->d_v];
        if (r->n_worst < VERIFY_WORST) r->n_worst++;
    }
    /* the failing entries, in index order */
    for (size_t t = 0; t < total; t++) {
        if (!r->over[t] && isfinite(p->o[t])) continue;
        r->failing_count++;
        if (r->n_failing == VERIFY_FAILING_MAX) continue;
        if (!r->failing) r->failing = mem_calloc(VERIFY_FAILING_MAX, sizeof *r->failing);
        verify_entry *fe = &r->failing[r->n_failing++];
        fe->index = t;
        fe->value = p->o[t];
        fe->truth = fp_bits_to_double(r->truth_bits[t], p->out_format);
        fe->ulp_err = isnan(r->ulp_err[t]) ? INFINITY : r->ulp_err[t];
        fe->err_scaled = r->err_scaled[t];
        fe->bound = r->row_bound[t / p->d_v];
    }
    for (size_t t = 0; t < total; t++) tmp[t] = isnan(r->ulp_err[t]) ? INFINITY : r->ulp_err[t];
    r->median_ulp_err = median(tmp, total);
    for (size_t t = 0; t < total; t++) tmp[t] = isnan(r->err_scaled[t]) ? INFINITY : r->err_scaled[t];
    r->median_err_scaled = median(tmp, total);
    free(tmp);
    r->pass = r->over_bound == 0 && r->nonfinite == 0;
    if (progress) progress(1.0, ctx);
    if (!isfinite(r->bound)) { /* a verdict that could not have been a FAIL is none */
        snprintf(err, errlen,
                 "the a-priori bound of a kernel computing in %s is infinite for these inputs (n_k %zu, d %zu): "
                 "no output could fail it",
                 fp_info(p->compute)->name, p->n_k, p->d);
        verify_report_clear(r);
        return VERIFY_NO_BOUND;
    }
    return 0;
}

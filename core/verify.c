/* verify: certified checking of attention outputs. For each query row, a
 * double-precision pass computes the output with a rigorous bound on its
 * error (docs/VERIFY.md); where the bound cannot decide the correct rounding
 * or the verdict, the row is recomputed with Arb balls at rising precision,
 * and an exactly rational truth (equal scores) is found exactly. */
#include "core/verify.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/arbcompat.h"
#include "core/kernels/attention.h"
#include "core/mem.h"

#define U64 0x1p-53 /* unit roundoff of double */
#define VERIFY_MAX_PREC 8192

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

void verify_report_clear(verify_report *r)
{
    free(r->truth_bits);
    free(r->ulp_err);
    free(r->err_scaled);
    memset(r, 0, sizeof *r);
}

/* gamma_n = n u / (1 - n u) (Higham, Accuracy and Stability, eq. 3.8). */
static double gamma_n(double n, double u) { return n * u / (1 - n * u); }

/* The mask matrix of problem b (NULL: none). */
static const unsigned char *mask_of(const verify_problem *p, size_t b)
{
    if (!p->mask) return NULL;
    size_t mc = p->mask_count ? p->mask_count : 1;
    return p->mask + (b % mc) * p->n_q * p->n_k;
}

static int visible(const verify_problem *p, size_t b, size_t i, size_t j)
{
    return attn_key_visible(i, j, p->n_q, p->n_k, p->causal, mask_of(p, b));
}

/* ulp(x) = 2^(e - prec + 1), e = floor(log2 |x|) clamped at the format's
 * smallest normal exponent. */
static double ulp_of(double x, fp_format f)
{
    const fp_format_info *fi = fp_info(f);
    int e;
    if (x == 0 || !isfinite(x)) e = (int)fi->emin; /* MPFR emin: 2^(emin-1) is the smallest subnormal */
    else { frexp(x, &e); e -= 1; }
    int min_e = (int)fi->emin + fi->prec - 2; /* smallest normal: 2^(emin + prec - 2) */
    if (e < min_e) e = min_e;
    return ldexp(1.0, e - fi->prec + 1);
}

/* x = y * c for a double c (exact). */
static void arb_mul_arf_d(arb_t x, const arb_t y, double c, slong prec)
{
    arf_t a;
    arf_init(a);
    arf_set_d(a, c);
    arb_mul_arf(x, y, a, prec);
    arf_clear(a);
}

/* The state of one entry. */
typedef struct entry_state {
    int decided, over;
    uint64_t bits;
    double ulp_err, err_scaled;
} entry_state;

/* Decides entry (o, x) from balls x (containing the truth) and w (containing
 * sum_j a_ij |v_jc|), with the allowed err_scaled. 1 when decided: the
 * correct rounding of x, the binade of x (for its ulp) and the verdict
 * |o - x| <= allowed * u * w are all certain. */
static int decide_entry(entry_state *st, double o, const arb_t x, const arb_t w, double allowed,
                        const verify_problem *p, arb_t e, arb_t lim)
{
    fp_format f = p->out_format;
    uint64_t bits;
    if (!fp_round_ball(&bits, x, f)) return 0;
    arf_t a;
    arf_init(a);
    arb_get_abs_lbound_arf(a, x, 64);
    double xlo = arf_get_d(a, ARF_RND_FLOOR);
    arb_get_abs_ubound_arf(a, x, 64);
    double xhi = arf_get_d(a, ARF_RND_CEIL);
    arf_clear(a);
    double ulp = ulp_of(xlo, f);
    if (ulp != ulp_of(xhi, f)) return 0;
    double u = ldexp(1.0, -fp_info(f)->prec);
    double xm = arf_get_d(arb_midref(x), ARF_RND_NEAR), wm = arf_get_d(arb_midref(w), ARF_RND_NEAR);
    int over;
    if (!isfinite(o)) {
        over = 1;
    } else {
        arb_set_d(e, o);
        arb_sub(e, e, x, 128);
        arb_abs(e, e);
        if (p->tol > 0) { /* --tol T: |o - x| <= T u max(|x|, smallest normal) */
            arb_abs(lim, x);
            arb_t floor_;
            arb_init(floor_);
            arb_one(floor_);
            arb_mul_2exp_si(floor_, floor_, (slong)fp_info(f)->emin + fp_info(f)->prec - 2);
            arb_max(lim, lim, floor_, 128);
            arb_clear(floor_);
        } else { /* the a-priori bound: err_scaled <= allowed */
            arb_set(lim, w);
        }
        arb_mul_2exp_si(lim, lim, -fp_info(f)->prec);
        arb_mul_arf_d(lim, lim, allowed, 128);
        if (arb_le(e, lim)) over = 0;
        else if (arb_gt(e, lim)) over = 1;
        else return 0;
    }
    st->decided = 1;
    st->bits = bits;
    st->over = over;
    st->ulp_err = isfinite(o) ? fabs(o - xm) / ulp : INFINITY;
    st->err_scaled = !isfinite(o) ? INFINITY : wm > 0 ? fabs(o - xm) / (u * wm) : (o == xm ? 0 : INFINITY);
    return 1;
}

/* The a-priori bound for a row in units of u of the output format: 1 for
 * the final rounding, plus the kernel error factor (docs/KERNELS.md) for the
 * compute precision, for any tile size. */
static double row_allowed(const verify_problem *p, double score_error)
{
    if (p->tol > 0) return p->tol;
    attn_params ap;
    memset(&ap, 0, sizeof ap);
    ap.n_q = p->n_q;
    ap.n_k = p->n_k;
    ap.d = p->d;
    ap.d_v = p->d_v;
    ap.kind = p->bound_naive ? ATTN_NAIVE : ATTN_FLASH;
    ap.tile = p->bound_tile ? p->bound_tile : 1; /* tile 1: the most rescaling, covers every kernel */
    ap.compute = p->compute;
    ap.storage = p->out_format;
    double u = ldexp(1.0, -fp_info(p->out_format)->prec);
    return 1 + attn_error_factor(&ap, score_error) / u;
}

typedef struct row_work {
    double *s, *pw, *err;    /* n_k: scores, weights, score error bounds */
    double *num, *wsum;      /* d_v */
    arb_ptr ap;              /* n_k: Arb weights */
    arb_ptr ka, vta, vata, qa; /* the current problem's K, V^T, |V|^T and a q row, as balls */
    size_t arb_problem;      /* which problem ka.. hold, + 1; 0 = none yet */
    arb_t x, w, e, lim, l, t, dot, scale;
} row_work;

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

/* The score scale of row i as an Arb ball. */
static void scale_ball(arb_t out, const verify_problem *p, slong prec)
{
    if (p->scale_auto) arb_rsqrt_ui(out, (ulong)p->d, prec);
    else arb_set_fmpq(out, p->scale, prec);
}

/* Exactly rational truth of entry c of a row when every group of equal scores
 * has the same mean value (Lindemann-Weierstrass: otherwise the truth is
 * transcendental). 1 and q then. */
static int row_rational(fmpq_t out, const verify_problem *p, size_t b, size_t i, size_t c)
{
    size_t nk = p->n_k, d = p->d, dv = p->d_v;
    const double *q = p->q + (b * p->n_q + i) * d, *k = p->k + b * nk * d, *v = p->v + b * nk * dv;
    fmpq *dots = _fmpq_vec_init((slong)nk);
    fmpq_t a, t;
    fmpq_init(a);
    fmpq_init(t);
    arf_t f;
    arf_init(f);
    size_t *idx = mem_calloc(nk, sizeof *idx), n = 0;
    for (size_t j = 0; j < nk; j++) {
        if (!visible(p, b, i, j)) continue;
        idx[n++] = j;
        for (size_t cc = 0; cc < d; cc++) {
            arf_set_d(f, q[cc]);
            arf_get_fmpq(a, f);
            arf_set_d(f, k[j * d + cc]);
            arf_get_fmpq(t, f);
            fmpq_addmul(dots + j, a, t);
        }
    }
    /* group equal dots (insertion order by value; n is small here) */
    int rational = 1, have = 0;
    fmpq_t mean, sum;
    fmpq_init(mean);
    fmpq_init(sum);
    char *used = mem_calloc(nk ? nk : 1, 1);
    for (size_t g = 0; g < n && rational; g++) {
        if (used[g]) continue;
        fmpq_zero(sum);
        slong count = 0;
        for (size_t h = g; h < n; h++) {
            if (used[h] || !fmpq_equal(dots + idx[h], dots + idx[g])) continue;
            used[h] = 1;
            count++;
            arf_set_d(f, v[idx[h] * dv + c]);
            arf_get_fmpq(t, f);
            fmpq_add(sum, sum, t);
        }
        fmpz_t cnt;
        fmpz_init_set_si(cnt, count);
        fmpq_div_fmpz(t, sum, cnt);
        fmpz_clear(cnt);
        if (!have) { fmpq_set(mean, t); have = 1; }
        else if (!fmpq_equal(mean, t)) rational = 0;
    }
    if (rational) { if (have) fmpq_set(out, mean); else fmpq_zero(out); }
    free(used);
    free(idx);
    fmpq_clear(mean);
    fmpq_clear(sum);
    arf_clear(f);
    fmpq_clear(a);
    fmpq_clear(t);
    _fmpq_vec_clear(dots, (slong)nk);
    return rational;
}

/* The Arb pass over row i, at rising precision, for its undecided entries;
 * then the exact rational truth for what is still undecided. */
static void row_arb(entry_state *st, const verify_problem *p, size_t b, size_t i, double m, double allowed, row_work *w)
{
    size_t nk = p->n_k, d = p->d, dv = p->d_v;
    const double *q = p->q + (b * p->n_q + i) * d, *k = p->k + b * nk * d, *v = p->v + b * nk * dv;
    const double *o = p->o + (b * p->n_q + i) * dv;
    if (w->arb_problem != b + 1) { /* exact balls of this problem's K and V, once */
        for (size_t x = 0; x < nk * d; x++) arb_set_d(w->ka + x, k[x]);
        for (size_t j = 0; j < nk; j++)
            for (size_t c = 0; c < dv; c++) {
                arb_set_d(w->vta + c * nk + j, v[j * dv + c]);
                arb_set_d(w->vata + c * nk + j, fabs(v[j * dv + c]));
            }
        w->arb_problem = b + 1;
    }
    for (size_t c = 0; c < d; c++) arb_set_d(w->qa + c, q[c]);
    size_t left = dv;
    for (slong prec = 128; prec <= VERIFY_MAX_PREC && left; prec *= 2) {
        scale_ball(w->scale, p, prec);
        arb_zero(w->l);
        arb_set_d(w->t, m);
        for (size_t j = 0; j < nk; j++) {
            if (!visible(p, b, i, j)) { arb_zero(w->ap + j); continue; }
            arb_dot(w->dot, NULL, 0, w->qa, 1, w->ka + j * d, 1, (slong)d, prec);
            arb_mul(w->dot, w->dot, w->scale, prec);
            arb_sub(w->dot, w->dot, w->t, prec); /* any shift is exact for softmax */
            arb_exp(w->ap + j, w->dot, prec);
            arb_add(w->l, w->l, w->ap + j, prec);
        }
    left = 0;
        for (size_t c = 0; c < dv; c++) {
            if (st[c].decided) continue;
            /* masked keys have weight 0 */
            arb_dot(w->x, NULL, 0, w->ap, 1, w->vta + c * nk, 1, (slong)nk, prec);
            arb_dot(w->w, NULL, 0, w->ap, 1, w->vata + c * nk, 1, (slong)nk, prec);
            arb_div(w->x, w->x, w->l, prec);
            arb_div(w->w, w->w, w->l, prec);
            if (!decide_entry(&st[c], o[c], w->x, w->w, allowed, p, w->e, w->lim)) left++;
        }
    }
    if (!left) return;
    fmpq_t r;
    fmpq_init(r);
    for (size_t c = 0; c < dv; c++) {
        if (st[c].decided || !row_rational(r, p, b, i, c)) continue;
        arb_zero(w->w); /* sum_j a_j |v_j| from the last balls, for err_scaled */
        for (size_t j = 0; j < nk; j++) if (visible(p, b, i, j)) { arb_set_d(w->t, fabs(v[j * dv + c])); arb_addmul(w->w, w->ap + j, w->t, 256); }
        arb_div(w->w, w->w, w->l, 256);
        /* the exact value decides the rounding; a tie is not a ball's business */
        st[c].bits = fp_round_fmpq(r, p->out_format);
        double xd = fmpq_get_d(r);
        double u = ldexp(1.0, -fp_info(p->out_format)->prec), wm = arf_get_d(arb_midref(w->w), ARF_RND_NEAR);
        st[c].decided = 1;
        st[c].ulp_err = isfinite(o[c]) ? fabs(o[c] - xd) / ulp_of(xd, p->out_format) : INFINITY;
        st[c].err_scaled = !isfinite(o[c]) ? INFINITY : wm > 0 ? fabs(o[c] - xd) / (u * wm) : (o[c] == xd ? 0 : INFINITY);
        double min_normal = ldexp(1.0, (int)fp_info(p->out_format)->emin + fp_info(p->out_format)->prec - 2);
        st[c].over = !isfinite(o[c]) || (p->tol > 0 ? fabs(o[c] - xd) > p->tol * u * fmax(fabs(xd), min_normal)
                                                    : st[c].err_scaled > allowed);
    }
    fmpq_clear(r);
}

/* The fast pass over row i in double precision with a rigorous error bound
 * (docs/VERIFY.md, "The fast pass"). Decides what it can in st. Returns the
 * shift m used (the largest computed score), and in *allowed the row's
 * allowed err_scaled (row_allowed for a kernel computing in p->compute). */
static double row_fast(entry_state *st, const verify_problem *p, size_t b, size_t i, double sc, double sc_rel,
                       double *allowed, row_work *w)
{
    size_t nk = p->n_k, d = p->d, dv = p->d_v;
    const double *q = p->q + (b * p->n_q + i) * d, *k = p->k + b * nk * d, *v = p->v + b * nk * dv;
    const double *o = p->o + (b * p->n_q + i) * dv;
    double u = U64, gd = gamma_n((double)d + 1, u);
    double uc = ldexp(1.0, -fp_info(p->compute)->prec), gdc = gamma_n((double)d + 1, uc);
    double m = -INFINITY, sigma_c = 0;
    size_t n_vis = 0;
    for (size_t j = 0; j < nk; j++) {
        if (!visible(p, b, i, j)) { w->s[j] = -INFINITY; continue; }
        n_vis++;
        double dot = 0, adot = 0;
        const double *kj = k + j * d;
        for (size_t c = 0; c < d; c++) {
            dot += q[c] * kj[c];
            adot += fabs(q[c] * kj[c]);
        }
        double sj = dot * sc;
        /* |dot - q.k| <= gamma_d * sum|q_c k_c| (Higham Thm 3.1, any order, FMA
         * or not), the computed adot is within gamma_d of that sum; the
         * scale's and the product's roundings; underflow of products */
        double err = 1.01 * gd * adot * fabs(sc) + fabs(dot * sc) * (sc_rel + u) * 1.01 + (double)d * 0x1p-1070;
        w->s[j] = sj;
        w->err[j] = err;
        if (sj > m) m = sj;
        double ec = 1.01 * gdc * adot * fabs(sc); /* what a kernel in the compute precision may get wrong */
        if (ec > sigma_c) sigma_c = ec;
    }
    *allowed = row_allowed(p, sigma_c);
    if (n_vis == 0) { /* every key masked: the true output is 0 */
        arb_zero(w->x);
        arb_zero(w->w);
        for (size_t c = 0; c < dv; c++) {
            st[c].decided = 1;
            st[c].bits = fp_round_double(0.0, p->out_format);
            st[c].ulp_err = isfinite(o[c]) ? fabs(o[c]) / ulp_of(0, p->out_format) : INFINITY;
            st[c].err_scaled = (o[c] == 0) ? 0 : INFINITY;
            st[c].over = o[c] != 0;
        }
        return 0;
    }
    /* weights p_j = exp(s_j - m): relative error eps_j from the score error,
     * the subtraction and exp (assumed within 1 ulp: relative 2u); weights
     * below 2^-1000 are counted as an absolute error instead */
    double l = 0, eps = 0, tiny = 0;
    for (size_t j = 0; j < nk; j++) {
        if (w->s[j] == -INFINITY) { w->pw[j] = 0; continue; }
        double t = w->s[j] - m;
        double pj = exp(t);
        w->pw[j] = pj;
        l += pj;
        if (pj < 0x1p-1000) { tiny += 0x1p-999; continue; }
        double ej = expm1(w->err[j] + u * fabs(t) * 1.01 + 2.0001 * u);
        if (ej > eps) eps = ej;
    }
    double gn = gamma_n((double)n_vis, u);
    memset(w->num, 0, dv * sizeof *w->num);
    memset(w->wsum, 0, dv * sizeof *w->wsum);
    double *vmax = w->err; /* reuse: max_j |v_jc| */
    for (size_t c = 0; c < dv; c++) vmax[c] = 0;
    for (size_t j = 0; j < nk; j++) {
        double pj = w->pw[j];
        if (pj == 0 && w->s[j] == -INFINITY) continue;
        const double *vj = v + j * dv;
        for (size_t c = 0; c < dv; c++) {
            w->num[c] += pj * vj[c];
            w->wsum[c] += pj * fabs(vj[c]);
            if (fabs(vj[c]) > vmax[c]) vmax[c] = fabs(vj[c]);
        }
    }
    /* |x - O| <= What * (2eps/(1-eps) + (u + 2 gamma_n + u gamma_n)/(1 - gamma_n)) + tiny terms,
     * What = sum_j phat_j |v_j| / sum phat <= wsum/l * (1+gn)/((1-gn)(1-u)) */
    double rel = 2 * eps / (1 - eps) + (u + 2 * gn + u * gn) / (1 - gn);
    for (size_t c = 0; c < dv; c++) {
        if (st[c].decided) continue;
        double oc = w->num[c] / l;
        double what = w->wsum[c] / l * (1 + gn) / ((1 - gn) * (1 - u));
        double bound = (what * rel + 2 * tiny * vmax[c] / l) * (1 + 0x1p-30) + 0x1p-1070;
        arb_set_d(w->x, oc);
        mag_set_d(arb_radref(w->x), bound);
        /* W = sum_j a_j |v_j| lies within What*(1 +- (rel + 2 eps)) */
        double wrel = (rel + 2 * eps + 4 * gn) * (1 + 0x1p-30);
        arb_set_d(w->w, w->wsum[c] / l);
        mag_set_d(arb_radref(w->w), what * wrel + 2 * tiny * vmax[c] / l + 0x1p-1070);
        if (!p->arb_only) decide_entry(&st[c], o[c], w->x, w->w, *allowed, p, w->e, w->lim);
    }
    return m;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n)
{
    if (!n) return 0;
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
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
    row_work w;
    size_t nk = p->n_k ? p->n_k : 1, dv = p->d_v ? p->d_v : 1;
    w.s = mem_calloc(nk, sizeof(double));
    w.pw = mem_calloc(nk, sizeof(double));
    w.err = mem_calloc(nk > dv ? nk : dv, sizeof(double));
    w.num = mem_calloc(dv, sizeof(double));
    w.wsum = mem_calloc(dv, sizeof(double));
    w.ap = _arb_vec_init((slong)nk);
    w.ka = _arb_vec_init((slong)(p->n_k * p->d));
    w.vta = _arb_vec_init((slong)(p->n_k * p->d_v));
    w.vata = _arb_vec_init((slong)(p->n_k * p->d_v));
    w.qa = _arb_vec_init((slong)p->d);
    w.arb_problem = 0;
    arb_init(w.x); arb_init(w.w); arb_init(w.e); arb_init(w.lim); arb_init(w.l); arb_init(w.t); arb_init(w.dot); arb_init(w.scale);
    entry_state *st = mem_calloc(dv, sizeof *st);
    double sc_rel, sc = scale_double(p, &sc_rel);
    r->bound = 0;
    size_t rows = p->count * p->n_q;
    for (size_t row = 0; row < rows; row++) {
        size_t b = row / p->n_q, i = row % p->n_q;
        memset(st, 0, dv * sizeof *st);
        double allowed;
        double m = row_fast(st, p, b, i, sc, sc_rel, &allowed, &w);
        if (allowed > r->bound) r->bound = allowed;
        size_t undecided = 0;
        for (size_t c = 0; c < p->d_v; c++) undecided += !st[c].decided;
        if (undecided) {
            r->fallback += undecided;
            row_arb(st, p, b, i, m, allowed, &w);
        }
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
            r->correctly_rounded += isfinite(o) && fp_round_double(o, p->out_format) == st[c].bits;
        }
        if (progress && (row & 63) == 63) progress((double)(row + 1) / rows, ctx);
    }
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
        if (r->n_worst < VERIFY_WORST) r->n_worst++;
    }
    for (size_t t = 0; t < total; t++) tmp[t] = isnan(r->ulp_err[t]) ? INFINITY : r->ulp_err[t];
    r->median_ulp_err = median(tmp, total);
    for (size_t t = 0; t < total; t++) tmp[t] = isnan(r->err_scaled[t]) ? INFINITY : r->err_scaled[t];
    r->median_err_scaled = median(tmp, total);
    free(tmp);
    r->pass = r->over_bound == 0 && r->nonfinite == 0;
    if (progress) progress(1.0, ctx);
    free(st);
    free(w.s); free(w.pw); free(w.err); free(w.num); free(w.wsum);
    _arb_vec_clear(w.ap, (slong)nk);
    _arb_vec_clear(w.ka, (slong)(p->n_k * p->d));
    _arb_vec_clear(w.vta, (slong)(p->n_k * p->d_v));
    _arb_vec_clear(w.vata, (slong)(p->n_k * p->d_v));
    _arb_vec_clear(w.qa, (slong)p->d);
    arb_clear(w.x); arb_clear(w.w); arb_clear(w.e); arb_clear(w.lim); arb_clear(w.l); arb_clear(w.t); arb_clear(w.dot); arb_clear(w.scale);
    return 0;
}

/* verify: certified checking of attention outputs. For each query row, a
 * double-precision pass computes the output with a rigorous bound on its
 * error (docs/VERIFY.md); where the bound cannot decide the correct rounding
 * or the verdict, the row is recomputed with Arb balls at rising precision,
 * and an exactly rational truth (equal scores) is found exactly. */
#include "attention/verify.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>
#include <omp.h>

#include "core/arbcompat.h"
#include "attention/attn.h"
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
    free(r->over);
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

/* err_scaled = |o - x| / (u W) from balls x and W (which may lie far below
 * the double range): the midpoint of the quotient. */
static double ball_err_scaled(double o, const arb_t x, const arb_t w, double u)
{
    if (!isfinite(o)) return INFINITY;
    arb_t e, t;
    arb_init(e);
    arb_init(t);
    arb_set_d(e, o);
    arb_sub(e, e, x, 128);
    arb_abs(e, e);
    double r;
    if (arb_is_zero(w)) r = arb_is_zero(e) ? 0 : INFINITY;
    else {
        arb_mul_arf_d(t, w, u, 128);
        arb_div(e, e, t, 64);
        r = arf_get_d(arb_midref(e), ARF_RND_NEAR);
        if (!arb_is_finite(e)) r = INFINITY;
    }
    arb_clear(e);
    arb_clear(t);
    return r;
}

/* The verdict on o from balls x (the truth) and w (W = sum_j a_j |v_j|):
 * 1 over, 0 within, -1 undecided. Within means |o - x| <= T u max(|x|,
 * the smallest normal) with --tol T, else |o - x| <= allowed u W + eta
 * (the a-priori bound and the underflow allowance). e, lim: scratch. */
static int ball_verdict(double o, const arb_t x, const arb_t w, double allowed, double eta, const verify_problem *p,
                        arb_t e, arb_t lim)
{
    fp_format f = p->out_format;
    if (!isfinite(o)) return 1;
    arb_set_d(e, o);
    arb_sub(e, e, x, 128);
    arb_abs(e, e);
    arb_t t;
    arb_init(t);
    if (p->tol > 0) {
        arb_abs(lim, x);
        arb_set_d(t, ldexp(1.0, (int)fp_info(f)->emin + fp_info(f)->prec - 2));
        arb_max(lim, lim, t, 128);
    } else {
        arb_set(lim, w);
    }
    arb_mul_2exp_si(lim, lim, -fp_info(f)->prec);
    arb_mul_arf_d(lim, lim, p->tol > 0 ? p->tol : allowed, 128);
    if (p->tol <= 0) {
        arb_set_d(t, eta);
        arb_add(lim, lim, t, 128);
    }
    arb_clear(t);
    return arb_le(e, lim) ? 0 : arb_gt(e, lim) ? 1 : -1;
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
static int decide_entry(entry_state *st, double o, const arb_t x, const arb_t w, double allowed, double eta,
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
    double xm = arf_get_d(arb_midref(x), ARF_RND_NEAR);
    int over = ball_verdict(o, x, w, allowed, eta, p, e, lim);
    if (over < 0) return 0;
    st->decided = 1;
    st->bits = bits;
    st->over = over;
    st->ulp_err = isfinite(o) ? fabs(o - xm) / ulp : INFINITY;
    st->err_scaled = ball_err_scaled(o, x, w, u);
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

/* What every row of one problem shares: |K|, |V| and V^T as doubles, and
 * (once a row needs them) K, V^T and |V|^T as exact balls. */
typedef struct prob_work {
    double *kabs, *vabs, *vt, *vmax; /* n_k x d, n_k x d_v, d_v x n_k, d_v */
    double eta;                      /* the underflow allowance (underflow_eta) */
    arb_ptr ka, vta, vata;
    int balls;                       /* ka, vta, vata hold this problem */
    size_t arb_rows;                 /* rows of this problem sent to the balls */
} prob_work;

/* One thread's scratch for the Arb and double-double passes of a row. */
typedef struct row_work {
    double *s, *pw;          /* n_k: scores, weights */
    arb_ptr ap, qa;          /* n_k Arb weights, d: the q row */
    arb_ptr kr, vc, vac;     /* d: a k row; n_k: a column of V and of |V|
                                (when the problem's balls are not cached) */
    arb_t x, w, e, lim, l, t, dot, scale;
} row_work;

/* One block of rows for the fast pass: rb x n_k scores, sums |q||k| and
 * weights, rb x d |q|, rb x d_v accumulators; per row: the shift, the sum
 * of weights, the weights' relative error, the tiny weights' absolute error
 * and the allowed err_scaled. */
typedef struct block_work {
    double *s, *a, *pw, *qabs, *num, *wsum, *part;
    double *m, *l, *eps, *tiny, *allowed;
} block_work;

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

/* ---- the last resort: keys grouped by exactly equal scores ---------------- */

/* The keys of row i grouped by exactly equal scores (exact rational dot
 * products): ng groups; for group g, its score S_g and the keys in
 * keys[start[g] .. start[g + 1] - 1]. */
typedef struct row_groups {
    size_t ng, *keys, *start;
    fmpq *score;
} row_groups;

typedef struct key_dot {
    const fmpq *dot;
    size_t key;
} key_dot;

static int cmp_key_dot(const void *a, const void *b)
{
    const key_dot *x = a, *y = b;
    int c = fmpq_cmp(x->dot, y->dot);
    return c ? c : (x->key > y->key) - (x->key < y->key);
}

static void row_groups_make(row_groups *g, const verify_problem *p, size_t b, size_t i)
{
    size_t nk = p->n_k, d = p->d;
    const double *q = p->q + (b * p->n_q + i) * d, *k = p->k + b * nk * d;
    fmpq *dots = _fmpq_vec_init((slong)(nk ? nk : 1));
    fmpq_t a, t;
    fmpq_init(a);
    fmpq_init(t);
    g->keys = mem_calloc(nk + 1, sizeof *g->keys);
    g->start = mem_calloc(nk + 2, sizeof *g->start);
    size_t n = 0;
    for (size_t j = 0; j < nk; j++) {
        if (!visible(p, b, i, j)) continue;
        g->keys[n++] = j;
        for (size_t c = 0; c < d; c++) {
            fp_double_to_fmpq(a, q[c]);
            fp_double_to_fmpq(t, k[j * d + c]);
            fmpq_addmul(dots + j, a, t);
        }
    }
    key_dot *kd = mem_calloc(n + 1, sizeof *kd);
    for (size_t x = 0; x < n; x++) { kd[x].dot = dots + g->keys[x]; kd[x].key = g->keys[x]; }
    qsort(kd, n, sizeof *kd, cmp_key_dot);
    for (size_t x = 0; x < n; x++) g->keys[x] = kd[x].key;
    free(kd);
    g->ng = 0;
    for (size_t x = 0; x < n; x++)
        if (x == 0 || !fmpq_equal(dots + g->keys[x], dots + g->keys[x - 1])) g->start[g->ng++] = x;
    g->start[g->ng] = n;
    g->score = _fmpq_vec_init((slong)(g->ng ? g->ng : 1));
    for (size_t x = 0; x < g->ng; x++) fmpq_set(g->score + x, dots + g->keys[g->start[x]]);
    _fmpq_vec_clear(dots, (slong)(nk ? nk : 1));
    fmpq_clear(a);
    fmpq_clear(t);
}

static void row_groups_clear(row_groups *g)
{
    _fmpq_vec_clear(g->score, (slong)(g->ng ? g->ng : 1));
    free(g->keys);
    free(g->start);
}

/* The side of x = sum_g w_g V_g / sum_g w_g n_g of a rational beta: the
 * sign of D = sum_g w_g (V_g - n_g beta), whose terms are exact rationals
 * times positive balls, so a group whose values average to beta adds an
 * exact zero. -1, 0 (x = beta exactly), 1, or 2 when this precision cannot
 * tell. */
static int side_of(const arb_srcptr wg, const fmpq *vg, const row_groups *g, const fmpq_t beta, slong prec,
                   arb_t sum, arb_t t)
{
    fmpq_t diff;
    fmpq_init(diff);
    arb_zero(sum);
    for (size_t x = 0; x < g->ng; x++) {
        fmpz_t n;
        fmpz_init_set_ui(n, (ulong)(g->start[x + 1] - g->start[x]));
        fmpq_mul_fmpz(diff, beta, n);
        fmpq_sub(diff, vg + x, diff);
        fmpz_clear(n);
        if (fmpq_is_zero(diff)) continue;
        arb_set_fmpq(t, diff, prec);
        arb_addmul(sum, wg + x, t, prec);
    }
    fmpq_clear(diff);
    if (arb_is_zero(sum)) return 0;
    if (arb_is_positive(sum)) return 1;
    if (arb_is_negative(sum)) return -1;
    return 2;
}

/* The value of format f after v (toward +infinity), for finite v. */
static double format_next_up(double v, fp_format f)
{
    uint64_t bits = fp_round_double(v, f);
    const fp_format_info *fi = fp_info(f);
    uint64_t sign = (uint64_t)1 << (fi->bits - 1);
    if (v == 0) return fp_bits_to_double(1, f);
    return fp_bits_to_double(bits & sign ? bits - 1 : bits + 1, f);
}

/* Decides entry c of row i with grouped keys and, where the ball of x
 * straddles a point where the answer changes (zero, a rounding boundary,
 * a power of two), the exact side of x with side_of. 1 when decided. */
static int grouped_entry(entry_state *st, const verify_problem *p, size_t b, size_t i, size_t c, const row_groups *g,
                         arb_srcptr wg, const arb_t den, double allowed, double eta, slong prec, row_work *w)
{
    size_t nk = p->n_k, dv = p->d_v;
    const double *v = p->v + b * nk * dv;
    double o = p->o[(b * p->n_q + i) * dv + c];
    fp_format f = p->out_format;
    fmpq *vg = _fmpq_vec_init((slong)(g->ng ? g->ng : 1));
    fmpq_t t, beta;
    fmpq_init(t);
    fmpq_init(beta);
    arb_ptr vb = _arb_vec_init((slong)(g->ng ? g->ng : 1)), ab = _arb_vec_init((slong)(g->ng ? g->ng : 1));
    for (size_t x = 0; x < g->ng; x++) {
        for (size_t y = g->start[x]; y < g->start[x + 1]; y++) {
            double vj = v[g->keys[y] * dv + c];
            fp_double_to_fmpq(t, vj);
            fmpq_add(vg + x, vg + x, t);
            arb_set_d(w->t, fabs(vj));
            arb_add(ab + x, ab + x, w->t, prec);
        }
        arb_set_fmpq(vb + x, vg + x, prec);
    }
    arb_dot(w->x, NULL, 0, wg, 1, vb, 1, (slong)g->ng, prec);
    arb_div(w->x, w->x, den, prec);
    arb_dot(w->w, NULL, 0, wg, 1, ab, 1, (slong)g->ng, prec);
    arb_div(w->w, w->w, den, prec);
    int done = decide_entry(st, o, w->x, w->w, allowed, eta, p, w->e, w->lim);
    if (!done && arb_is_finite(w->x)) {
        /* the ball's ends, rounded to the format */
        arf_t lo, hi;
        arf_init(lo);
        arf_init(hi);
        arb_get_lbound_arf(lo, w->x, prec + 64);
        arb_get_ubound_arf(hi, w->x, prec + 64);
        double vlo = fp_bits_to_double(fp_round_arf(lo, f), f), vhi = fp_bits_to_double(fp_round_arf(hi, f), f);
        double xlo = arf_get_d(lo, ARF_RND_FLOOR), xhi = arf_get_d(hi, ARF_RND_CEIL);
        arf_clear(lo);
        arf_clear(hi);
        int ok = isfinite(vlo) && isfinite(vhi), exact = 0;
        fmpq_t xq; /* x when it is exactly rational */
        fmpq_init(xq);
        /* x's sign */
        int sgn = xlo > 0 ? 1 : xhi < 0 ? -1 : 2;
        if (ok && sgn == 2) {
            fmpq_zero(beta);
            sgn = side_of(wg, vg, g, beta, prec, w->l, w->t);
            if (sgn == 0) exact = 1;
        }
        ok = ok && sgn != 2;
        if (sgn > 0 && vlo < 0) vlo = 0.0;
        if (sgn < 0 && vhi > 0) vhi = -0.0;
        /* the rounding: if vlo and vhi are neighbours, which side of the
         * midpoint between them */
        uint64_t bits = 0;
        if (ok && exact) bits = fp_round_double(0.0, f);
        else if (ok) {
            if (vlo == vhi) bits = fp_round_double(vlo, f);
            else if (format_next_up(vlo, f) == vhi) {
                fp_double_to_fmpq(beta, vlo);
                fp_double_to_fmpq(t, vhi);
                fmpq_add(beta, beta, t);
                fmpq_div_2exp(beta, beta, 1);
                int s = side_of(wg, vg, g, beta, prec, w->l, w->t);
                if (s == 2) ok = 0;
                else if (s == 0) { exact = 1; fmpq_set(xq, beta); bits = fp_round_fmpq(beta, f); }
                else bits = fp_round_double(s > 0 ? vhi : vlo, f);
            } else {
                ok = 0; /* not neighbours: more precision first */
            }
        }
        /* the binade, for the ulp */
        double ulp = 0;
        if (ok) {
            double alo = sgn > 0 ? fmax(xlo, 0) : fabs(fmin(xhi, 0)), ahi = sgn > 0 ? xhi : fabs(xlo);
            if (ulp_of(alo, f) == ulp_of(ahi, f)) ulp = ulp_of(ahi, f);
            else {
                int e;
                frexp(ahi, &e); /* 2^(e-1) <= ahi < 2^e */
                double pw = ldexp(1.0, e - 1);
                if (!(pw > alo) || ulp_of(pw * 0.75, f) != ulp_of(alo, f)) ok = 0;
                else {
                    fp_double_to_fmpq(beta, sgn > 0 ? pw : -pw);
                    int s = side_of(wg, vg, g, beta, prec, w->l, w->t);
                    if (s == 2) ok = 0;
                    else ulp = (s * sgn >= 0) ? ulp_of(pw, f) : ulp_of(alo, f);
                }
            }
        }
        if (ok) {
            /* the verdict from the ball (or the exact value) */
            if (exact) arb_set_fmpq(w->x, xq, 256);
            double u = ldexp(1.0, -fp_info(f)->prec);
            int over = ball_verdict(o, w->x, w->w, allowed, eta, p, w->e, w->lim);
            if (over < 0) ok = 0;
            if (ok) {
                double xm = exact ? fmpq_get_d(xq) : arf_get_d(arb_midref(w->x), ARF_RND_NEAR);
                st->decided = 1;
                st->bits = bits;
                st->over = over;
                st->ulp_err = isfinite(o) ? fabs(o - xm) / ulp : INFINITY;
                st->err_scaled = ball_err_scaled(o, w->x, w->w, u);
                done = 1;
            }
        }
        fmpq_clear(xq);
    }
    _arb_vec_clear(vb, (slong)(g->ng ? g->ng : 1));
    _arb_vec_clear(ab, (slong)(g->ng ? g->ng : 1));
    _fmpq_vec_clear(vg, (slong)(g->ng ? g->ng : 1));
    fmpq_clear(t);
    fmpq_clear(beta);
    return done;
}

/* The grouped pass over row i for its undecided entries, at rising
 * precision up to the cap. */
static void row_grouped(entry_state *st, const verify_problem *p, size_t b, size_t i, double m, double allowed,
                        double eta, row_work *w)
{
    row_groups g;
    row_groups_make(&g, p, b, i);
    size_t dv = p->d_v, left = dv;
    arb_ptr wg = _arb_vec_init((slong)(g.ng ? g.ng : 1));
    arb_t den, sc;
    arb_init(den);
    arb_init(sc);
    for (slong prec = 128; prec <= VERIFY_MAX_PREC && left; prec *= 2) {
        scale_ball(sc, p, prec);
        arb_zero(den);
        for (size_t x = 0; x < g.ng; x++) { /* w_g = exp(S_g scale - m) */
            arb_set_fmpq(wg + x, g.score + x, prec);
            arb_mul(wg + x, wg + x, sc, prec);
            arb_set_d(w->t, m);
            arb_sub(wg + x, wg + x, w->t, prec);
            arb_exp(wg + x, wg + x, prec);
            arb_set_ui(w->t, (ulong)(g.start[x + 1] - g.start[x]));
            arb_addmul(den, wg + x, w->t, prec);
        }
        left = 0;
        for (size_t c = 0; c < dv; c++)
            if (!st[c].decided && !grouped_entry(&st[c], p, b, i, c, &g, wg, den, allowed, eta, prec, w)) left++;
    }
    _arb_vec_clear(wg, (slong)(g.ng ? g.ng : 1));
    arb_clear(den);
    arb_clear(sc);
    row_groups_clear(&g);
}

/* The Arb pass over row i for its undecided entries, at 128 and 256 bits;
 * then keys grouped by exactly equal scores, at rising precision. */
static void row_arb(entry_state *st, const verify_problem *p, const prob_work *pk, size_t b, size_t i, double m,
                    double allowed, double eta, row_work *w)
{
    size_t nk = p->n_k, d = p->d, dv = p->d_v;
    const double *q = p->q + (b * p->n_q + i) * d, *k = p->k + b * nk * d, *v = p->v + b * nk * dv;
    const double *o = p->o + (b * p->n_q + i) * dv;
    for (size_t c = 0; c < d; c++) arb_set_d(w->qa + c, q[c]);
    size_t left = dv;
    for (slong prec = 128; prec <= 256 && left; prec *= 2) { /* then grouped, to the cap */
        scale_ball(w->scale, p, prec);
        arb_zero(w->l);
        arb_set_d(w->t, m);
        for (size_t j = 0; j < nk; j++) {
            if (!visible(p, b, i, j)) { arb_zero(w->ap + j); continue; }
            arb_srcptr kp = pk->balls ? pk->ka + j * d : NULL;
            if (!pk->balls) { /* exact balls of k_j here */
                for (size_t c = 0; c < d; c++) arb_set_d(w->kr + c, k[j * d + c]);
                kp = w->kr;
            }
            arb_dot(w->dot, NULL, 0, w->qa, 1, kp, 1, (slong)d, prec);
            arb_mul(w->dot, w->dot, w->scale, prec);
            arb_sub(w->dot, w->dot, w->t, prec); /* any shift is exact for softmax */
            arb_exp(w->ap + j, w->dot, prec);
            arb_add(w->l, w->l, w->ap + j, prec);
        }
        left = 0;
        for (size_t c = 0; c < dv; c++) {
            if (st[c].decided) continue;
            /* masked keys have weight 0 */
            arb_srcptr vp = pk->balls ? pk->vta + c * nk : NULL, vap = pk->balls ? pk->vata + c * nk : NULL;
            if (!pk->balls) {
                for (size_t j = 0; j < nk; j++) {
                    arb_set_d(w->vc + j, v[j * dv + c]);
                    arb_set_d(w->vac + j, fabs(v[j * dv + c]));
                }
                vp = w->vc;
                vap = w->vac;
            }
            arb_dot(w->x, NULL, 0, w->ap, 1, vp, 1, (slong)nk, prec);
            arb_dot(w->w, NULL, 0, w->ap, 1, vap, 1, (slong)nk, prec);
            arb_div(w->x, w->x, w->l, prec);
            arb_div(w->w, w->w, w->l, prec);
            if (!decide_entry(&st[c], o[c], w->x, w->w, allowed, eta, p, w->e, w->lim)) left++;
        }
    }
    if (left) row_grouped(st, p, b, i, m, allowed, eta, w);
}

/* ---- the fast pass: blocks of rows, products by BLAS --------------------- */

/* Keys per partial product of P V: each product passes through at most
 * VERIFY_KEY_BLOCK - 1 additions inside its block and ceil(n_k / block) - 1
 * between blocks (docs/VERIFY.md), not n_k - 1. */
#define VERIFY_KEY_BLOCK 64

/* Rows per block: the block's three rb x n_k matrices take 12 MB or less. */
static size_t block_rows(size_t n_k)
{
    size_t r = ((size_t)1 << 19) / (n_k ? n_k : 1);
    if (r < 8) r = 8;
    if (r > 256) r = 256;
    return r;
}

/* The number of roundings a term of the blocked sum over n keys passes
 * through (its product's and the additions'). */
static double blocked_depth(size_t n)
{
    size_t b = VERIFY_KEY_BLOCK, nb = (n + b - 1) / b;
    return (double)(n < b ? n : b) + (double)(nb ? nb - 1 : 0);
}

/* Rounds x (finite) to format f, to nearest even, as a double; 0 when the
 * result would not be finite in f. */
static int round_to_format(double *out, double x, fp_format f)
{
    double ulp = ulp_of(x, f), r = nearbyint(x / ulp) * ulp; /* x / ulp is exact */
    const fp_format_info *fi = fp_info(f);
    double maxv = ldexp(1.0 - ldexp(1.0, -fi->prec), (int)fi->emax);
    if (!(fabs(r) <= maxv)) return 0;
    *out = r;
    return 1;
}

/* Decides entry o from [xc - rad, xc + rad], which contains the truth, and
 * [wc - wrad, wc + wrad], which contains W = sum_j a_j |v_j|, in double
 * arithmetic with outward margins far above its roundings. 1 when decided:
 * both ends of the interval round to one value of the format, lie in one
 * binade, and put |o - x| on one side of the allowed error. */
static int decide_fast(entry_state *st, double o, double xc, double rad, double wc, double wrad, double allowed, double eta,
                       const verify_problem *p)
{
    fp_format f = p->out_format;
    if (!isfinite(xc) || !isfinite(rad)) return 0;
    rad = rad * (1 + 0x1p-50) + 0x1p-1074;
    double lo = xc - rad * (1 + 0x1p-50), hi = xc + rad * (1 + 0x1p-50);
    if (!(lo > 0 || hi < 0)) return 0; /* zero inside: left to the balls */
    double ulp = ulp_of(fabs(lo), f);
    if (ulp != ulp_of(fabs(hi), f)) return 0;
    double rl, rh;
    if (!round_to_format(&rl, lo, f) || !round_to_format(&rh, hi, f) || rl != rh) return 0;
    double u = ldexp(1.0, -fp_info(f)->prec);
    int over;
    if (!isfinite(o)) {
        over = 1;
    } else {
        double e = fabs(o - xc), elo = (e - rad) * (1 - 0x1p-50), ehi = (e + rad) * (1 + 0x1p-50);
        double llo, lhi;
        if (p->tol > 0) {
            double mn = ldexp(1.0, (int)fp_info(f)->emin + fp_info(f)->prec - 2);
            llo = p->tol * u * fmax(fmin(fabs(lo), fabs(hi)), mn);
            lhi = p->tol * u * fmax(fmax(fabs(lo), fabs(hi)), mn);
        } else {
            llo = allowed * u * (wc - wrad) + eta;
            lhi = allowed * u * (wc + wrad) + eta;
        }
        llo *= 1 - 0x1p-50;
        lhi *= 1 + 0x1p-50;
        if (ehi < llo) over = 0;
        else if (elo > lhi) over = 1;
        else return 0;
    }
    st->decided = 1;
    st->bits = fp_round_double(rl, f);
    st->over = over;
    st->ulp_err = isfinite(o) ? fabs(o - xc) / ulp : INFINITY;
    st->err_scaled = !isfinite(o) ? INFINITY : wc > 0 ? fabs(o - xc) / (u * wc) : (o == xc ? 0 : INFINITY);
    return 1;
}

/* Entry states of a row whose every key is masked: the true output is 0. */
static void row_masked(entry_state *st, const double *o, size_t dv, fp_format f)
{
    for (size_t c = 0; c < dv; c++) {
        st[c].decided = 1;
        st[c].bits = fp_round_double(0.0, f);
        st[c].ulp_err = isfinite(o[c]) ? fabs(o[c]) / ulp_of(0, f) : INFINITY;
        st[c].err_scaled = (o[c] == 0) ? 0 : INFINITY;
        st[c].over = o[c] != 0;
    }
}

/* Row ii of the block (query row i of problem b), once S = Q K^T and
 * A = |Q| |K|^T are in the block: scores with their error bounds, the
 * shift m, the weights p_j = exp(s_j - m) and their relative error, the
 * blocked sum of the weights, and the allowed err_scaled. Returns the
 * number of visible keys. */
static size_t block_row_weights(block_work *bw, size_t ii, const verify_problem *p, size_t b, size_t i, double sc,
                                double sc_rel)
{
    size_t nk = p->n_k, d = p->d;
    double u = U64, gd = gamma_n((double)d + 1, u);
    double uc = ldexp(1.0, -fp_info(p->compute)->prec), gdc = gamma_n((double)d + 1, uc);
    double *s = bw->s + ii * nk, *a = bw->a + ii * nk, *pw = bw->pw + ii * nk;
    double m = -INFINITY, sigma_c = 0;
    size_t n_vis = 0;
    const unsigned char *mk = mask_of(p, b);
    for (size_t j = 0; j < nk; j++) {
        if (!attn_key_visible(i, j, p->n_q, nk, p->causal, mk)) { s[j] = -INFINITY; continue; }
        n_vis++;
        double sj = s[j] * sc;
        double ec = 1.01 * gdc * a[j] * fabs(sc); /* what a kernel in the compute precision may get wrong */
        if (ec > sigma_c) sigma_c = ec;
        s[j] = sj;
        if (sj > m) m = sj;
    }
    bw->allowed[ii] = row_allowed(p, sigma_c);
    bw->m[ii] = m;
    if (n_vis == 0) {
        memset(pw, 0, nk * sizeof *pw);
        bw->l[ii] = 0;
        return 0;
    }
    /* p_j = exp(s_j - m); the largest relative error as one expm1 at the
     * end (exp assumed within 1 ulp: relative 2u); weights below 2^-1000
     * counted as an absolute error instead */
    double emax = 0, tiny = 0, l = 0, lb = 0;
    for (size_t j = 0; j < nk; j++) pw[j] = exp(s[j] - m); /* masked: exp(-inf) = 0 */
    /* |dot - q.k| <= gamma_d sum|q_c k_c| (Higham Thm 3.1, any order, FMA or
     * not), the computed sum of |q_c k_c| within gamma_d of the true one; the
     * scale's and the product's roundings; underflow; then the rounding of
     * s_j - m. Separate loops, without calls, so that the compiler can
     * vectorise them; the same values as one loop. */
    size_t n_tiny = 0;
    for (size_t j = 0; j < nk; j++) {
        int counted = s[j] != -INFINITY && pw[j] >= 0x1p-1000;
        double err = 1.01 * gd * a[j] * fabs(sc) + fabs(s[j]) * (sc_rel + u) * 1.01 + (double)d * 0x1p-1070;
        double ej = err + u * fabs(s[j] - m) * 1.01;
        emax = counted && ej > emax ? ej : emax;
        n_tiny += s[j] != -INFINITY && pw[j] < 0x1p-1000;
    }
    tiny = (double)n_tiny * 0x1p-999;
    for (size_t j = 0; j < nk; j++) {
        lb += pw[j];
        if ((j + 1) % VERIFY_KEY_BLOCK == 0 || j + 1 == nk) { l += lb; lb = 0; }
    }
    bw->l[ii] = l;
    bw->eps[ii] = expm1(emax + 2.0001 * u);
    bw->tiny[ii] = tiny;
    return n_vis;
}

/* The fast pass over rows r0 .. r0 + rb - 1 of problem b; decides what it
 * can in st (rb x d_v). */
static void block_fast(entry_state *st, block_work *bw, const prob_work *pw_, const verify_problem *p, size_t b,
                       size_t r0, size_t rb, double sc, double sc_rel)
{
    size_t nk = p->n_k, d = p->d, dv = p->d_v;
    const double *q = p->q + (b * p->n_q + r0) * d, *k = p->k + b * nk * d, *v = p->v + b * nk * dv;
    const double *o = p->o + (b * p->n_q + r0) * dv;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)rb, (blasint)nk, (blasint)d, 1.0, q, (blasint)d,
                k, (blasint)d, 0.0, bw->s, (blasint)nk);
    for (size_t x = 0; x < rb * d; x++) bw->qabs[x] = fabs(q[x]);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (blasint)rb, (blasint)nk, (blasint)d, 1.0, bw->qabs,
                (blasint)d, pw_->kabs, (blasint)d, 0.0, bw->a, (blasint)nk);
#pragma omp parallel for schedule(static)
    for (size_t ii = 0; ii < rb; ii++) block_row_weights(bw, ii, p, b, r0 + ii, sc, sc_rel);
    /* O and W numerators: partial products over blocks of keys, added in
     * order (the depth of blocked_depth) */
    /* these products are small (at most VERIFY_KEY_BLOCK keys each): BLAS's own
     * threads cost more to wake than they save, so one thread does them */
    int blas_threads = openblas_get_num_threads();
    if (blas_threads > 1) openblas_set_num_threads(1);
    for (int pass = 0; pass < 2; pass++) {
        double *acc = pass ? bw->wsum : bw->num;
        const double *vv = pass ? pw_->vabs : v;
        memset(acc, 0, rb * dv * sizeof *acc);
        for (size_t k0 = 0; k0 < nk; k0 += VERIFY_KEY_BLOCK) {
            size_t kb = nk - k0 < VERIFY_KEY_BLOCK ? nk - k0 : VERIFY_KEY_BLOCK;
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (blasint)rb, (blasint)dv, (blasint)kb, 1.0,
                        bw->pw + k0, (blasint)nk, vv + k0 * dv, (blasint)dv, 0.0, bw->part, (blasint)dv);
            for (size_t x = 0; x < rb * dv; x++) acc[x] += bw->part[x];
        }
    }
    if (blas_threads > 1) openblas_set_num_threads(blas_threads);
    double u = U64, gn = gamma_n(blocked_depth(nk), u);
#pragma omp parallel for schedule(static)
    for (size_t ii = 0; ii < rb; ii++) {
        entry_state *sr = st + ii * dv;
        const double *orow = o + ii * dv;
        double l = bw->l[ii];
        if (l == 0) { row_masked(sr, orow, dv, p->out_format); continue; }
        if (p->arb_only || p->skip_fast) continue;
        double eps = bw->eps[ii], tiny = bw->tiny[ii];
        /* |x - O| <= What (2eps/(1-eps) + (u + 2 gn + u gn)/(1 - gn)) + tiny
         * terms, What = sum_j phat_j |v_j| / sum phat <= wsum/l (1+gn)/((1-gn)(1-u)) */
        double rel = 2 * eps / (1 - eps) + (u + 2 * gn + u * gn) / (1 - gn);
        double wrel = (rel + 2 * eps + 4 * gn) * (1 + 0x1p-30);
        for (size_t c = 0; c < dv; c++) {
            double num = bw->num[ii * dv + c], ws = bw->wsum[ii * dv + c];
            double oc = num / l, what = ws / l * (1 + gn) / ((1 - gn) * (1 - u));
            double tv = 2 * tiny * pw_->vmax[c] / l;
            double rad = (what * rel + tv) * (1 + 0x1p-30) + 0x1p-1070;
            double wrad = what * wrel + tv + 0x1p-1070;
            decide_fast(&sr[c], orow[c], oc, rad, ws / l, wrad, bw->allowed[ii], pw_->eta, p);
        }
    }
}

/* ---- the second pass: one row in double-double ------------------------- */

/* FMA in the error-free products where the machine has it (chosen when
 * the program starts); the results are the same bits either way, fma()
 * being exact-then-rounded in software too. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(__SANITIZE_ADDRESS__)
#define VERIFY_FMA_CLONES __attribute__((target_clones("fma", "default")))
#else
#define VERIFY_FMA_CLONES
#endif

/* a + b = s + e exactly (Knuth's TwoSum). */
static inline void two_sum(double *s, double *e, double a, double b)
{
    double x = a + b, z = x - a;
    *e = (a - (x - z)) + (b - z);
    *s = x;
}

/* Dot2 (Ogita, Rump and Oishi, "Accurate sum and dot product", SIAM J. Sci.
 * Comput. 26(6), 2005, Algorithm 5.3): the dot product as if computed in
 * twice the working precision, then rounded; without underflow the result
 * is within u |x.y| + gamma_n^2 |x|.|y| of x.y (their error bound for
 * Dot2). y with stride 0 and value 1 gives their Sum2. */
VERIFY_FMA_CLONES
static double dot2(const double *x, const double *y, size_t sy, size_t n)
{
    double s = 0, c = 0;
    for (size_t t = 0; t < n; t++) {
        double a = x[t], b = y[t * sy];
        double pr = a * b, pe = fma(a, b, -pr), e;
        two_sum(&s, &e, s, pr);
        c += pe + e;
    }
    return s + c;
}

/* Dot2 of q with DOT2_KEYS keys at once (independent chains, so the loop
 * runs at the machine's throughput, not its latency). */
#define DOT2_KEYS 8
VERIFY_FMA_CLONES
static void dot2_keys(double *out, const double *q, const double *k, size_t d)
{
    double s[DOT2_KEYS] = { 0 }, c[DOT2_KEYS] = { 0 };
    for (size_t t = 0; t < d; t++) {
        double a = q[t];
        for (int j = 0; j < DOT2_KEYS; j++) {
            double b = k[(size_t)j * d + t];
            double pr = a * b, pe = fma(a, b, -pr);
            double x = s[j] + pr, z = x - s[j];
            c[j] += pe + ((s[j] - (x - z)) + (pr - z));
            s[j] = x;
        }
    }
    for (int j = 0; j < DOT2_KEYS; j++) out[j] = s[j] + c[j];
}

/* Row i of problem b again, with every score, the sum of the weights and
 * the numerators of the undecided entries as Dot2 sums (docs/VERIFY.md,
 * "The second pass"). qk_abs: the row's sums |q||k| from the fast pass. */
static void row_dd(entry_state *st, const verify_problem *p, const prob_work *pwk, size_t b, size_t i,
                   const double *qk_abs, double m, double allowed, double sc, double sc_rel, row_work *w)
{
    size_t nk = p->n_k, d = p->d, dv = p->d_v;
    const double *q = p->q + (b * p->n_q + i) * d, *k = p->k + b * nk * d;
    const double *o = p->o + (b * p->n_q + i) * dv;
    double u = U64, g2d = gamma_n((double)d, u) * gamma_n((double)d, u);
    double emax = 0, tiny = 0;
    size_t n_vis = 0;
    const unsigned char *mk = mask_of(p, b);
    size_t j8 = nk - nk % DOT2_KEYS;
    for (size_t j = 0; j < j8; j += DOT2_KEYS) dot2_keys(w->s + j, q, k + j * d, d);
    for (size_t j = j8; j < nk; j++) w->s[j] = dot2(q, k + j * d, 1, d);
    for (size_t j = 0; j < nk; j++) {
        if (!attn_key_visible(i, j, p->n_q, nk, p->causal, mk)) { w->pw[j] = 0; continue; }
        n_vis++;
        double dot = w->s[j], sj = dot * sc;
        /* the Dot2 bound, the scale's and the product's roundings, underflow */
        double err = (u * fabs(dot) + 1.01 * g2d * qk_abs[j]) * fabs(sc) * 1.01 + fabs(sj) * (sc_rel + u) * 1.01 +
                     (double)d * 0x1p-1070;
        double t = sj - m, pj = exp(t);
        w->pw[j] = pj;
        if (pj < 0x1p-1000) { tiny += 0x1p-999; continue; }
        double ej = err + u * fabs(t) * 1.01;
        if (ej > emax) emax = ej;
    }
    if (n_vis == 0) return;
    double eps = expm1(emax + 2.0001 * u);
    double gn = gamma_n((double)nk, u), g2n = gn * gn;
    double ones = 1.0;
    double l = dot2(w->pw, &ones, 0, nk); /* Sum2: within u L + gamma_n^2 L */
    double dl = u + g2n;                      /* |l - L| <= dl L */
    double c2 = ((2 * u + dl) * (1 + u) / (1 - dl) + u) * (1 + 0x1p-30);
    for (size_t c = 0; c < dv; c++) {
        if (st[c].decided) continue;
        const double *vt = pwk->vt + c * nk;
        double num = dot2(w->pw, vt, 1, nk), ws = 0;
        for (size_t j = 0; j < nk; j++) ws += w->pw[j] * fabs(vt[j]);
        double xc = num / l;
        /* What' = sum phat |v| / sum phat, from a plain sum (gamma_n) */
        double what = ws / l * (1 + dl) / (1 - gn) * (1 + 0x1p-30);
        double tv = 2 * tiny * pwk->vmax[c] / l;
        /* |X - X'| <= What' 2eps/(1-eps); |X' - xc| <= (What' g2n (1+u)/(1-dl) + |X'| c2) */
        double c1 = 2 * eps / (1 - eps) + g2n * (1 + u) / (1 - dl) * 1.01;
        double rad = (what * c1 + fabs(xc) * c2) / (1 - c2) * (1 + 0x1p-30) + tv + 0x1p-1070;
        double wrad = what * (2 * eps / (1 - eps) + 2 * gn + 4 * u) * 1.01 + tv + 0x1p-1070;
        decide_fast(&st[c], o[c], xc, rad, ws / l, wrad, allowed, pwk->eta, p);
    }
}

/* The underflow allowance added to the a-priori bound (docs/VERIFY.md):
 * half the smallest subnormal of the output format (its final rounding
 * below the normal range), and for each key a smallest subnormal of the
 * compute format for its weight and one for its product with v. */
static double underflow_eta(const verify_problem *p, double vmax)
{
    double s_out = ldexp(1.0, (int)fp_info(p->out_format)->emin - 1);
    double s_c = ldexp(1.0, (int)fp_info(p->compute)->emin - 1);
    return 0.5 * s_out + 2.0 * (double)p->n_k * s_c * fmax(vmax, 1.0);
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
    const double *k = p->k + b * nk * d, *v = p->v + b * nk * dv;
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
    const double *k = p->k + b * nk * d, *v = p->v + b * nk * dv;
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
    size_t rbmax = block_rows(nk);
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
            block_fast(st, &bw, &pk, p, b, r0, rb, sc, sc_rel);
            for (size_t ii = 0; ii < rb; ii++)
                if (bw.allowed[ii] > r->bound) r->bound = bw.allowed[ii];
            /* the second pass, then the balls, for the rows left undecided */
            size_t nneed = 0;
            for (size_t ii = 0; ii < rb; ii++)
                if (row_undecided(st + ii * dv, dv)) need[nneed++] = ii;
            if (nneed && !p->arb_only) {
                for (size_t x = 0; x < nneed; x++) r->refined += row_undecided(st + need[x] * dv, dv);
#pragma omp parallel for schedule(dynamic, 1)
                for (size_t x = 0; x < nneed; x++) {
                    size_t ii = need[x];
                    row_dd(st + ii * dv, p, &pk, b, r0 + ii, bw.a + ii * nk, bw.m[ii], bw.allowed[ii], sc, sc_rel,
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
                    row_arb(st + ii * dv, p, &pk, b, r0 + ii, bw.m[ii], bw.allowed[ii], pk.eta, &ws[omp_get_thread_num()]);
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
        if (r->n_worst < VERIFY_WORST) r->n_worst++;
    }
    for (size_t t = 0; t < total; t++) tmp[t] = isnan(r->ulp_err[t]) ? INFINITY : r->ulp_err[t];
    r->median_ulp_err = median(tmp, total);
    for (size_t t = 0; t < total; t++) tmp[t] = isnan(r->err_scaled[t]) ? INFINITY : r->err_scaled[t];
    r->median_err_scaled = median(tmp, total);
    free(tmp);
    r->pass = r->over_bound == 0 && r->nonfinite == 0;
    if (progress) progress(1.0, ctx);
    return 0;
}

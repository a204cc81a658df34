/* verify_ball: the passes of verify in Arb balls: a row's entries at 128 and
 * 256 bits, then keys grouped by exactly equal scores at rising precision,
 * where an exactly rational truth is found exactly. */
#include "attention/verify_impl.h"

#include <stdlib.h>

#include "core/mem.h"

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
    double ulp = vf_ulp_of(xlo, f);
    if (ulp != vf_ulp_of(xhi, f)) return 0;
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
    const double *q = p->q + (b * p->n_q + i) * d, *k = p->k + vf_kv(p, b) * nk * d;
    fmpq *dots = _fmpq_vec_init((slong)(nk ? nk : 1));
    fmpq_t a, t;
    fmpq_init(a);
    fmpq_init(t);
    g->keys = mem_calloc(nk + 1, sizeof *g->keys);
    g->start = mem_calloc(nk + 2, sizeof *g->start);
    size_t n = 0;
    for (size_t j = 0; j < nk; j++) {
        if (!vf_visible(p, b, i, j)) continue;
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
    const double *v = p->v + vf_kv(p, b) * nk * dv;
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
            if (vf_ulp_of(alo, f) == vf_ulp_of(ahi, f)) ulp = vf_ulp_of(ahi, f);
            else {
                int e;
                frexp(ahi, &e); /* 2^(e-1) <= ahi < 2^e */
                double pw = ldexp(1.0, e - 1);
                if (!(pw > alo) || vf_ulp_of(pw * 0.75, f) != vf_ulp_of(alo, f)) ok = 0;
                else {
                    fp_double_to_fmpq(beta, sgn > 0 ? pw : -pw);
                    int s = side_of(wg, vg, g, beta, prec, w->l, w->t);
                    if (s == 2) ok = 0;
                    else ulp = (s * sgn >= 0) ? vf_ulp_of(pw, f) : vf_ulp_of(alo, f);
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
void vf_row_arb(entry_state *st, const verify_problem *p, const prob_work *pk, size_t b, size_t i, double m,
                    double allowed, double eta, row_work *w)
{
    size_t nk = p->n_k, d = p->d, dv = p->d_v;
    const double *q = p->q + (b * p->n_q + i) * d, *k = p->k + vf_kv(p, b) * nk * d, *v = p->v + vf_kv(p, b) * nk * dv;
    const double *o = p->o + (b * p->n_q + i) * dv;
    for (size_t c = 0; c < d; c++) arb_set_d(w->qa + c, q[c]);
    size_t left = dv;
    for (slong prec = 128; prec <= 256 && left; prec *= 2) { /* then grouped, to the cap */
        scale_ball(w->scale, p, prec);
        arb_zero(w->l);
        arb_set_d(w->t, m);
        for (size_t j = 0; j < nk; j++) {
            if (!vf_visible(p, b, i, j)) { arb_zero(w->ap + j); continue; }
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

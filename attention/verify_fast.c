/* verify_fast: the passes of verify in double precision with rigorous error
 * bounds (docs/VERIFY.md): blocks of rows with products by BLAS, then the
 * rows left undecided again in double-double (Dot2). */
#include "attention/verify_impl.h"

#include <string.h>

#include <cblas.h>

/* gamma_n = n u / (1 - n u) (Higham, Accuracy and Stability, eq. 3.8). */
static double gamma_n(double n, double u) { return n * u / (1 - n * u); }

/* The a-priori bound for a row in units of u of the output format: 1 for
 * the final rounding, plus the kernel error factor (docs/KERNELS.md) for the
 * compute precision, for any tile size. */
static double row_allowed(const verify_problem *p, double score_error)
{
    if (p->tol > 0) return p->tol;
    if (p->max_err_scaled > 0) return p->max_err_scaled;
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
    ap.probs_rounded = p->probs_rounded;
    ap.probs = p->probs;
    double u = ldexp(1.0, -fp_info(p->out_format)->prec);
    return 1 + attn_error_factor(&ap, score_error) / u;
}

/* ---- the fast pass: blocks of rows, products by BLAS --------------------- */

/* Keys per partial product of P V: each product passes through at most
 * VERIFY_KEY_BLOCK - 1 additions inside its block and ceil(n_k / block) - 1
 * between blocks (docs/VERIFY.md), not n_k - 1. */
#define VERIFY_KEY_BLOCK 64

/* Rows per block: the block's three rb x n_k matrices take 12 MB or less. */
size_t vf_block_rows(size_t n_k)
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
    double ulp = vf_ulp_of(x, f), r = nearbyint(x / ulp) * ulp; /* x / ulp is exact */
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
    double ulp = vf_ulp_of(fabs(lo), f);
    if (ulp != vf_ulp_of(fabs(hi), f)) return 0;
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
        st[c].ulp_err = isfinite(o[c]) ? fabs(o[c]) / vf_ulp_of(0, f) : INFINITY;
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
    const unsigned char *mk = vf_mask_of(p, b);
    for (size_t j = 0; j < nk; j++) {
        if (!vf_key_visible(p, mk, i, j)) { s[j] = -INFINITY; continue; }
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
void vf_block_fast(entry_state *st, block_work *bw, const prob_work *pw_, const verify_problem *p, size_t b,
                       size_t r0, size_t rb, double sc, double sc_rel)
{
    size_t nk = p->n_k, d = p->d, dv = p->d_v;
    const double *q = p->q + (b * p->n_q + r0) * d, *k = p->k + vf_kv(p, b) * nk * d, *v = p->v + vf_kv(p, b) * nk * dv;
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
void vf_row_dd(entry_state *st, const verify_problem *p, const prob_work *pwk, size_t b, size_t i,
                   const double *qk_abs, double m, double allowed, double sc, double sc_rel, row_work *w)
{
    size_t nk = p->n_k, d = p->d, dv = p->d_v;
    const double *q = p->q + (b * p->n_q + i) * d, *k = p->k + vf_kv(p, b) * nk * d;
    const double *o = p->o + (b * p->n_q + i) * dv;
    double u = U64, g2d = gamma_n((double)d, u) * gamma_n((double)d, u);
    double emax = 0, tiny = 0;
    size_t n_vis = 0;
    const unsigned char *mk = vf_mask_of(p, b);
    size_t j8 = nk - nk % DOT2_KEYS;
    for (size_t j = 0; j < j8; j += DOT2_KEYS) dot2_keys(w->s + j, q, k + j * d, d);
    for (size_t j = j8; j < nk; j++) w->s[j] = dot2(q, k + j * d, 1, d);
    for (size_t j = 0; j < nk; j++) {
        if (!vf_key_visible(p, mk, i, j)) { w->pw[j] = 0; continue; }
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


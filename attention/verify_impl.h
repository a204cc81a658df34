/* verify_impl: what the files of verify share: the state of an entry, the
 * scratch of a problem, a row and a block of rows, and the passes that decide
 * entries (verify_fast.c, verify_ball.c; functions prefixed vf_). Not a public API. */
#ifndef HMP_VERIFY_IMPL_H
#define HMP_VERIFY_IMPL_H

#include <math.h>

#include "core/arbcompat.h"
#include "attention/attn.h"
#include "attention/verify.h"

#define U64 0x1p-53 /* unit roundoff of double */
#define VERIFY_MAX_PREC 8192

/* The mask matrix of problem b (NULL: none). */
static inline const unsigned char *vf_mask_of(const verify_problem *p, size_t b)
{
    if (!p->mask) return NULL;
    size_t mc = p->mask_count ? p->mask_count : 1;
    return p->mask + (b % mc) * p->n_q * p->n_k;
}

/* The key/value problem that problem b (batch x query heads) reads. */
static inline size_t vf_kv(const verify_problem *p, size_t b)
{
    if (!p->heads || !p->kv_heads || p->kv_heads == p->heads) return b;
    return (b / p->heads) * p->kv_heads + (b % p->heads) / (p->heads / p->kv_heads);
}

/* Key j is seen by query i of a problem whose mask matrix is mk: the mask,
 * the causal mask, the sliding window. */
static inline int vf_key_visible(const verify_problem *p, const unsigned char *mk, size_t i, size_t j)
{
    if (!attn_key_visible(i, j, p->n_q, p->n_k, p->causal, mk)) return 0;
    if (!p->window) return 1;
    int64_t off = p->window_top_left ? 0 : (int64_t)p->n_k - (int64_t)p->n_q, c = (int64_t)i + off, jj = (int64_t)j;
    if (p->window_left >= 0 && jj < c - p->window_left) return 0;
    return !(p->window_right >= 0 && jj > c + p->window_right);
}

static inline int vf_visible(const verify_problem *p, size_t b, size_t i, size_t j)
{
    return vf_key_visible(p, vf_mask_of(p, b), i, j);
}

/* ulp(x) = 2^(e - prec + 1), e = floor(log2 |x|) clamped at the format's
 * smallest normal exponent. */
static inline double vf_ulp_of(double x, fp_format f)
{
    const fp_format_info *fi = fp_info(f);
    int e;
    if (x == 0 || !isfinite(x)) e = (int)fi->emin; /* MPFR emin: 2^(emin-1) is the smallest subnormal */
    else { frexp(x, &e); e -= 1; }
    int min_e = (int)fi->emin + fi->prec - 2; /* smallest normal: 2^(emin + prec - 2) */
    if (e < min_e) e = min_e;
    return ldexp(1.0, e - fi->prec + 1);
}

/* The state of one entry. */
typedef struct entry_state {
    int decided, over;
    uint64_t bits;
    double ulp_err, err_scaled;
} entry_state;

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

/* verify_fast.c */
/* Rows per block of the fast pass for n_k keys. */
size_t vf_block_rows(size_t n_k);
/* The fast pass over rows r0 .. r0 + rb - 1 of problem b (scale sc with
 * relative error sc_rel); decides what it can in st (rb x d_v), and leaves
 * in bw per row the shift, the sums |q||k| and the allowed err_scaled. */
void vf_block_fast(entry_state *st, block_work *bw, const prob_work *pw_, const verify_problem *p, size_t b,
                   size_t r0, size_t rb, double sc, double sc_rel);
/* The second pass, in double-double, over row i of problem b for its
 * undecided entries; qk_abs: the row's sums |q||k| from the fast pass. */
void vf_row_dd(entry_state *st, const verify_problem *p, const prob_work *pwk, size_t b, size_t i,
               const double *qk_abs, double m, double allowed, double sc, double sc_rel, row_work *w);

/* verify_ball.c */
/* The Arb pass over row i of problem b for its undecided entries (m: the
 * row's shift), then keys grouped by exactly equal scores. */
void vf_row_arb(entry_state *st, const verify_problem *p, const prob_work *pk, size_t b, size_t i, double m,
                double allowed, double eta, row_work *w);

#endif

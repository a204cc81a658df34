/* attn: reference numeric attention kernels over row-major arrays, as
 * GPUs and libraries compute them: naive (S = Q*K^T*scale, row softmax with
 * the max shift, O = A*V) and FlashAttention-style (tiles of keys, online
 * softmax with a running max and sum). Clarity first. */
#ifndef HMP_ATTN_H
#define HMP_ATTN_H

#include <stddef.h>

#include "core/fpfmt.h"

typedef enum attn_kind { ATTN_NAIVE, ATTN_FLASH } attn_kind;

/* Causal masks, and how they align when n_q != n_k. Bottom-right is
 * FlashAttention's (the last query sees every key: key j is seen by query i
 * iff j <= i + n_k - n_q); top-left is PyTorch's is_causal (j <= i). */
enum { ATTN_CAUSAL_NONE = 0, ATTN_CAUSAL_BOTTOM_RIGHT = 1, ATTN_CAUSAL_TOP_LEFT = 2 };

typedef struct attn_params {
    size_t n_q, n_k, d, d_v;  /* queries, keys, feature width of q/k, of v */
    double scale;             /* scores are (q . k) * scale */
    int causal;               /* ATTN_CAUSAL_*: 1 (bottom-right) or 2 (top-left) */
    const unsigned char *mask;/* optional n_q x n_k: 0 = masked out (-inf score) */
    attn_kind kind;
    size_t tile;              /* keys per tile (ATTN_FLASH), >= 1 */
    fp_format compute;        /* FP_F64 or FP_F32: the arithmetic */
    fp_format storage;        /* inputs and output rounded to this (RNE) */
    int probs_rounded;        /* P = exp(s - m) rounded to probs (RNE) before the
                                 product with V, the row sum taken unrounded:
                                 FlashAttention's P cast for the tensor cores,
                                 PyTorch's softmax(s).to(v.dtype) @ v */
    fp_format probs;
} attn_params;

/* Key j is seen by query i: not masked (mask may be NULL; n_q x n_k, 0 =
 * masked), and under a causal mask (ATTN_CAUSAL_*), j <= i + (n_k - n_q)
 * aligned bottom-right, j <= i top-left. No overflow for any sizes. */
static inline int attn_key_visible(size_t i, size_t j, size_t n_q, size_t n_k, int causal, const unsigned char *mask)
{
    if (mask && !mask[i * n_k + j]) return 0;
    if (causal == ATTN_CAUSAL_TOP_LEFT) return j <= i;
    return !causal || j + n_q <= i + n_k;
}

/* out (n_q x d_v) = attention(q (n_q x d), k (n_k x d), v (n_k x d_v)).
 * Inputs are first rounded to the storage format, every operation is done in
 * the compute format (f32 arithmetic in float), and the output is rounded to
 * the storage format. A row with every key masked gives 0. Returns 0, or -1
 * for invalid parameters. */
int attn_run(double *out, const double *q, const double *k, const double *v, const attn_params *p);

/* The a-priori error factor E_i of docs/KERNELS.md: a kernel with parameters
 * p computes |o_ic - x_ic| <= u_s |x_ic| + E_i * sum_j a_ij |v_jc|, where x is
 * the exact attention of the stored inputs, a its weights, u_s the storage's
 * unit roundoff, and score_error bounds the error of the computed scores of
 * row i (gamma_{d+1} * max_j |q_i|.|k_j| * |scale| for the compute format).
 * Rounded up. */
double attn_error_factor(const attn_params *p, double score_error);

#endif

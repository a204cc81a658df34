/* layout: the shapes of attention tensors read from files (Q, K, V, O of
 * (n, d), (heads, n, d) or (batch, heads, n, d), and a mask) checked
 * against each other and laid out as a verify_problem takes them. */
#ifndef HMP_LAYOUT_H
#define HMP_LAYOUT_H

#include "core/strbuf.h"
#include "attention/verify.h"
#include "io/tensor.h"

/* Checks that qkvo (Q, K, V, O, as named by names[0..3] in messages) have
 * shapes (..., n, d) with the same leading dimensions (K and V may have
 * fewer heads than Q, a divisor of Q's: grouped-query attention), K and Q
 * rows of one length, as many values as keys, and O of n_q x d_v; sets
 * p->count, heads, kv_heads, n_q, n_k, d and d_v. 0, or -1 with a message
 * appended to msg. */
int layout_shapes(verify_problem *p, const tensor *const qkvo[4], const char *const names[4], strbuf *msg);

/* Swaps the heads and positions axes (the third and second from last) of a
 * shape or an index of ndim entries: bnhd <-> bhnd; fewer than three: none. */
void layout_swap_heads(size_t *shape, int ndim);

/* Reorders t from (..., n, heads, d), FlashAttention's layout (bnhd), to
 * (..., heads, n, d), the layout verify reads (bhnd), in place; a tensor of
 * fewer than three dimensions is left as it is. */
void layout_bnhd_to_bhnd(tensor *t);

/* The mask as verify_problem takes it, from mask (read from file, which
 * names it in messages): 1 = attend, 0 = masked (0/1 values), or 0 = attend,
 * -inf = masked (additive); of shape (n_q, n_k), (heads, n_q, n_k) or
 * (batch, heads, n_q, n_k), right-aligned against the leading dimensions of
 * q, each leading one q's or 1 (broadcast), n_q possibly 1 (one row for
 * every query: a padding mask). On success *out (free it) holds
 * *count matrices p->n_q x p->n_k back to back (problem b uses b % *count);
 * 0, or -1 with a message appended to msg. After layout_shapes. */
int layout_mask(unsigned char **out, size_t *count, const tensor *mask, const tensor *q, const verify_problem *p,
                const char *file, strbuf *msg);

#endif

/* layout: the shapes of Q, K, V, O and the mask of `hmp verify` against each
 * other, and the mask expanded to the matrices verify_run reads. */
#include "io/layout.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

int layout_shapes(verify_problem *p, const tensor *const qkvo[4], const char *const names[4], strbuf *msg)
{
    const tensor *Q = qkvo[0], *K = qkvo[1], *V = qkvo[2], *O = qkvo[3];
    int nd = Q->ndim;
    if (nd < 2 || nd > 4) {
        strbuf_printf(msg, "Q has %d dimensions; expected (n, d), (heads, n, d) or (batch, heads, n, d)", nd);
        return -1;
    }
    for (int f = 1; f < 4; f++)
        if (qkvo[f]->ndim != nd) {
            strbuf_printf(msg, "%s has %d dimensions, Q has %d", names[f], qkvo[f]->ndim, nd);
            return -1;
        }
    size_t count = 1;
    for (int a = 0; a < nd - 2; a++) {
        /* the heads of K and V may be fewer than Q's (grouped-query and
         * multi-query attention): checked below */
        for (int f = 1; f < 4; f++)
            if (qkvo[f]->shape[a] != Q->shape[a] && !(a == nd - 3 && f < 3)) {
                strbuf_printf(msg, "dimension %d of %s is %zu, of Q %zu", a, names[f], qkvo[f]->shape[a], Q->shape[a]);
                return -1;
            }
        count *= Q->shape[a];
    }
    size_t heads = nd >= 3 ? Q->shape[nd - 3] : 1, kv_heads = nd >= 3 ? K->shape[nd - 3] : 1;
    if (nd >= 3 && V->shape[nd - 3] != kv_heads) {
        strbuf_printf(msg, "V has %zu heads, K has %zu", V->shape[nd - 3], kv_heads);
        return -1;
    }
    if (kv_heads == 0 ? heads != 0 : heads % kv_heads != 0) {
        strbuf_printf(msg, "K and V have %zu heads, which do not divide Q's %zu (grouped-query attention needs "
                      "Q's heads a multiple of K's)", kv_heads, heads);
        return -1;
    }
    size_t nq = Q->shape[nd - 2], d = Q->shape[nd - 1], nk = K->shape[nd - 2], dv = V->shape[nd - 1];
    if (K->shape[nd - 1] != d) {
        strbuf_printf(msg, "K has rows of %zu, Q of %zu", K->shape[nd - 1], d);
        return -1;
    }
    if (V->shape[nd - 2] != nk) {
        strbuf_printf(msg, "V has %zu rows, K has %zu", V->shape[nd - 2], nk);
        return -1;
    }
    if (O->shape[nd - 2] != nq || O->shape[nd - 1] != dv) {
        strbuf_printf(msg, "O is %zu x %zu, expected %zu x %zu", O->shape[nd - 2], O->shape[nd - 1], nq, dv);
        return -1;
    }
    p->count = count;
    p->heads = heads;
    p->kv_heads = kv_heads;
    p->n_q = nq;
    p->n_k = nk;
    p->d = d;
    p->d_v = dv;
    return 0;
}

/* The shapes a mask may have for inputs of ndim dimensions, for messages. */
static void mask_shapes(strbuf *b, const tensor *Q, size_t nq, size_t nk)
{
    int nd = Q->ndim;
    strbuf_printf(b, "(n_q, n_k) = (%zu, %zu)", nq, nk);
    if (nd >= 3) strbuf_printf(b, "%s(heads, n_q, n_k) = (%zu, %zu, %zu)", nd == 3 ? " or " : ", ", Q->shape[nd - 3], nq, nk);
    if (nd == 4) strbuf_printf(b, " or (batch, heads, n_q, n_k) = (%zu, %zu, %zu, %zu)", Q->shape[0], Q->shape[1], nq, nk);
    strbuf_puts(b, nd >= 3 ? "; a leading 1 broadcasts, and n_q = 1 gives every query the same row"
                           : "; n_q = 1 gives every query the same row");
}

int layout_mask(unsigned char **out, size_t *count, const tensor *mk, const tensor *Q, const verify_problem *p,
                const char *file, strbuf *msg)
{
    size_t nq = p->n_q, nk = p->n_k;
    int nd = Q->ndim, m = mk->ndim, lead = nd - 2;
    size_t qb = lead == 2 ? Q->shape[0] : 1, qh = lead >= 1 ? Q->shape[nd - 3] : 1;
    size_t mb = m == 4 ? mk->shape[0] : 1, mh = m >= 3 ? mk->shape[m - 3] : 1;
    size_t mq = m >= 2 ? mk->shape[m - 2] : 0; /* 1: one row for every query (a padding mask) */
    if (m < 2 || m > nd || (mq != nq && mq != 1) || mk->shape[m - 1] != nk || (mh != qh && mh != 1) ||
        (mb != qb && mb != 1)) {
        char shape[256];
        size_t k = (size_t)snprintf(shape, sizeof shape, "(");
        for (int a = 0; a < m && k < sizeof shape; a++) k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%zu", a ? ", " : "", mk->shape[a]);
        if (k < sizeof shape) snprintf(shape + k, sizeof shape - k, m == 1 ? ",)" : ")");
        strbuf_printf(msg, "%s: the mask is %s; expected ", file, shape);
        mask_shapes(msg, Q, nq, nk);
        return -1;
    }
    int additive = 0;
    for (size_t e = 0; e < mk->count && !mk->boolean; e++) if (isinf(mk->data[e]) && mk->data[e] < 0) additive = 1;
    for (size_t e = 0; e < mk->count; e++) {
        double v = mk->data[e];
        if (additive ? !(v == 0 || (isinf(v) && v < 0)) : !(v == 0 || v == 1)) {
            strbuf_printf(msg, "%s: mask values must be 0/1, or 0/-inf (got %g at entry %zu)", file, v, e);
            return -1;
        }
    }
    size_t mat = nq * nk, n, bytes;
    if (mb == 1 && mh == 1) n = 1;
    else if (mb == 1) n = qh;          /* one per head, shared by every batch */
    else n = qb * qh;                  /* one per problem (expanded when (batch, 1, ...)) */
    if (__builtin_mul_overflow(n, mat, &bytes)) {
        strbuf_printf(msg, "%s: the mask is too large", file);
        return -1;
    }
    unsigned char *mask = mem_calloc(bytes ? bytes : 1, 1);
    for (size_t b = 0; b < n; b++) {
        size_t src = mb == 1 || mh == qh ? b : b / qh; /* (batch, 1, ...) repeats over heads */
        for (size_t i = 0; i < nq; i++)
            for (size_t j = 0; j < nk; j++) {
                double v = mk->data[(src * mq + (mq == 1 ? 0 : i)) * nk + j];
                mask[b * mat + i * nk + j] = additive ? v == 0 : v == 1;
            }
    }
    *out = mask;
    *count = n;
    return 0;
}

void layout_swap_heads(size_t *shape, int ndim)
{
    if (ndim < 3) return;
    size_t h = shape[ndim - 3];
    shape[ndim - 3] = shape[ndim - 2];
    shape[ndim - 2] = h;
}

void layout_bnhd_to_bhnd(tensor *t)
{
    int nd = t->ndim;
    if (nd < 3) return;
    size_t n = t->shape[nd - 3], h = t->shape[nd - 2], d = t->shape[nd - 1], block = n * h * d;
    if (t->count > 0) { /* an empty tensor has only its shape to reorder */
        double *out = mem_realloc(NULL, t->count * sizeof *out);
        for (size_t base = 0; base < t->count; base += block)
            for (size_t i = 0; i < n; i++)
                for (size_t hh = 0; hh < h; hh++)
                    memcpy(out + base + (hh * n + i) * d, t->data + base + (i * h + hh) * d, d * sizeof *out);
        free(t->data);
        t->data = out;
    }
    layout_swap_heads(t->shape, nd);
}

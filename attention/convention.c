/* convention: the usual mistakes of convention tried on one failing problem
 * of a verify run (docs/VERIFY.md, Hints). */
#include "attention/convention.h"

#include <stdlib.h>
#include <string.h>

#include "attention/attn.h"
#include "core/mem.h"

int convention_worth_trying(const verify_report *r)
{
    return !r->pass && r->entries > 0 && r->failing_count * 100 > r->entries;
}

/* Problem b of p alone, as the run saw it. */
static void single_problem(verify_problem *s, const verify_problem *p, size_t b, size_t kv)
{
    *s = *p; /* the scale is shared read-only: s is never cleared */
    s->count = 1;
    s->heads = s->kv_heads = 0;
    s->q = p->q + b * p->n_q * p->d;
    s->k = p->k + kv * p->n_k * p->d;
    s->v = p->v + kv * p->n_k * p->d_v;
    s->o = p->o + b * p->n_q * p->d_v;
    size_t mc = p->mask_count ? p->mask_count : 1;
    s->mask = p->mask ? p->mask + (b % mc) * p->n_q * p->n_k : NULL;
    s->mask_count = 1;
}

/* 1 when s passes. */
static int passes(const verify_problem *s)
{
    verify_report r;
    char err[256];
    if (verify_run(&r, s, NULL, NULL, err, sizeof err) != 0) return 0;
    int pass = r.pass;
    verify_report_clear(&r);
    return pass;
}

/* Rows of head 0 of batch bb when the array a, read as (batch, heads, n,
 * w), is in truth (batch, n, heads, w): out gets heads rows of w. */
static void gather_other_layout(double *out, const double *a, size_t bb, size_t heads, size_t n, size_t w)
{
    for (size_t i = 0; i < heads; i++) memcpy(out + i * w, a + ((bb * heads + i) * n + 0) * w, w * sizeof *out);
}

/* 1 when the first head of batch bb passes read in the other layout. */
static int other_layout_passes(const verify_problem *p, size_t bb)
{
    size_t hq = p->heads ? p->heads : p->count, hk = p->kv_heads ? p->kv_heads : hq;
    double *q = mem_calloc(hq * p->d + 1, sizeof *q), *k = mem_calloc(hk * p->d + 1, sizeof *k);
    double *v = mem_calloc(hk * p->d_v + 1, sizeof *v), *o = mem_calloc(hq * p->d_v + 1, sizeof *o);
    gather_other_layout(q, p->q, bb, hq, p->n_q, p->d);
    gather_other_layout(k, p->k, bb, hk, p->n_k, p->d);
    gather_other_layout(v, p->v, bb, hk, p->n_k, p->d_v);
    gather_other_layout(o, p->o, bb, hq, p->n_q, p->d_v);
    verify_problem s = *p; /* the scale is shared read-only */
    s.count = 1;
    s.heads = s.kv_heads = 0;
    s.n_q = hq;
    s.n_k = hk;
    s.q = q; s.k = k; s.v = v; s.o = o;
    s.mask = NULL;
    s.mask_count = 0;
    int ok = passes(&s);
    free(q); free(k); free(v); free(o);
    return ok;
}

size_t convention_diagnose(unsigned char fixes[CONVENTION_COUNT_], size_t *problem, const verify_problem *p,
                           const verify_report *r)
{
    memset(fixes, 0, CONVENTION_COUNT_);
    if (!r->n_failing || !p->n_q || !p->d_v) return 0;
    size_t b = r->failing[0].index / (p->n_q * p->d_v);
    *problem = b;
    size_t heads = p->heads ? p->heads : p->count, kvh = p->kv_heads ? p->kv_heads : heads;
    size_t kv = verify_kv_problem(p, b);
    verify_problem base;
    single_problem(&base, p, b, kv);
    size_t found = 0;
    for (int f = 0; f < CONVENTION_COUNT_; f++) {
        verify_problem s = base;
        switch ((convention_fix)f) {
        case CONVENTION_CAUSAL_ON:
            if (p->causal) continue;
            s.causal = ATTN_CAUSAL_BOTTOM_RIGHT;
            break;
        case CONVENTION_CAUSAL_TOP_LEFT:
            if (p->causal || p->n_q == p->n_k) continue;
            s.causal = ATTN_CAUSAL_TOP_LEFT;
            break;
        case CONVENTION_CAUSAL_OFF:
            if (!p->causal) continue;
            s.causal = ATTN_CAUSAL_NONE;
            break;
        case CONVENTION_ALIGN_OTHER:
            if (!p->causal || p->n_q == p->n_k) continue;
            s.causal = p->causal == ATTN_CAUSAL_TOP_LEFT ? ATTN_CAUSAL_BOTTOM_RIGHT : ATTN_CAUSAL_TOP_LEFT;
            break;
        case CONVENTION_SCALE_ONE:
            if (!p->scale_auto) continue;
            s.scale_auto = 0; /* with scale auto, p->scale is its initial 1 */
            break;
        case CONVENTION_SCALE_AUTO:
            if (p->scale_auto || p->d == 0) continue;
            s.scale_auto = 1;
            break;
        case CONVENTION_KV_SWAPPED:
            if (p->d != p->d_v) continue;
            s.k = base.v;
            s.v = base.k;
            break;
        case CONVENTION_LAYOUT_OTHER:
            /* read swapped, the heads of K and V must be as many as Q's
             * positions' heads: n_q = n_k; masks are per position pair */
            if (p->mask || p->n_q != p->n_k || heads < 2 || p->count % heads != 0) continue;
            if (other_layout_passes(p, b / heads)) {
                fixes[f] = 1;
                found++;
            }
            continue;
        case CONVENTION_GQA_TILED:
            if (kvh == heads || kvh == 0) continue;
            {
                size_t kt = (b / heads) * kvh + (b % heads) % kvh;
                if (kt == kv) continue; /* the same key and value head: nothing to tell */
                s.k = p->k + kt * p->n_k * p->d;
                s.v = p->v + kt * p->n_k * p->d_v;
            }
            break;
        default: continue;
        }
        if (passes(&s)) {
            fixes[f] = 1;
            found++;
        }
    }
    return found;
}

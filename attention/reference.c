/* reference: the naive kernel run on every problem of a verify run, in its
 * precision model, and the largest errors of both outputs. */
#include "attention/reference.h"

#include <math.h>
#include <stdlib.h>

#include "attention/attn.h"
#include "core/fpfmt.h"
#include "core/mem.h"

int reference_errors(double *out_err, double *ref_err, const verify_problem *p, const verify_report *r)
{
    *out_err = *ref_err = 0;
    if (p->compute != FP_F64 && p->compute != FP_F32) return -1;
    size_t nq = p->n_q, nk = p->n_k, d = p->d, dv = p->d_v;
    size_t n_out = nq * dv, n_mask = nq * nk;
    double *o = mem_calloc(n_out ? n_out : 1, sizeof *o);
    unsigned char *mask = mem_calloc(n_mask ? n_mask : 1, 1);
    double sc_num = 0;
    if (p->scale_auto) sc_num = d ? 1 / sqrt((double)d) : 1;
    else sc_num = fmpq_get_d(p->scale);
    for (size_t b = 0; b < p->count; b++) {
        /* every rule of visibility (mask, causal, window) as one mask */
        for (size_t i = 0; i < nq; i++)
            for (size_t j = 0; j < nk; j++) mask[i * nk + j] = (unsigned char)verify_key_visible(p, b, i, j);
        attn_params ap = { .n_q = nq, .n_k = nk, .d = d, .d_v = dv, .scale = sc_num, .causal = ATTN_CAUSAL_NONE,
                           .mask = mask, .kind = ATTN_NAIVE, .compute = p->compute, .storage = p->out_format,
                           .probs_rounded = p->probs_rounded, .probs = p->probs };
        size_t kv = verify_kv_problem(p, b);
        if (attn_run(o, p->q + b * nq * d, p->k + kv * nk * d, p->v + kv * nk * dv, &ap) != 0) {
            free(o);
            free(mask);
            return -1;
        }
        for (size_t x = 0; x < nq * dv; x++) {
            size_t at = b * nq * dv + x;
            double t = fp_bits_to_double(r->truth_bits[at], p->out_format);
            double e = fabs(p->o[at] - t), er = fabs(o[x] - t);
            if (isnan(e)) *out_err = NAN; /* stays NaN: NaN > x is false */
            else if (e > *out_err) *out_err = e;
            if (er > *ref_err) *ref_err = er;
        }
    }
    free(o);
    free(mask);
    return 0;
}

double reference_ratio(double out_err, double ref_err)
{
    if (isnan(out_err) || isnan(ref_err)) return NAN;
    if (ref_err == 0) return out_err == 0 ? 0 : INFINITY;
    return out_err / ref_err;
}

/* reference: the error of hmp's own naive kernel on a verify problem, in
 * the same precision model (storage, compute, P's format), for the rule of
 * FlashAttention's tests: a kernel's error is no more than R times that of
 * a reference implementation in the same precision (ref_ratio). */
#ifndef HMP_REFERENCE_H
#define HMP_REFERENCE_H

#include "attention/verify.h"

/* The largest |o - x| over the entries of p's output (*out_err) and of the
 * naive kernel's output on the same inputs (*ref_err), x the correctly
 * rounded truths of r (verify_run on p). 0, or -1 when the model has no
 * reference kernel (compute in f16 or bf16). NaN outputs make *out_err NaN. */
int reference_errors(double *out_err, double *ref_err, const verify_problem *p, const verify_report *r);

/* out_err / ref_err: 0 when both are 0, +inf when only ref_err is, NaN with a
 * NaN error. */
double reference_ratio(double out_err, double ref_err);

#endif

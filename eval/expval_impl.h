/* expval_impl: what the two files of expval share: the arithmetic helpers
 * of sums and values (expval.c) that the term evaluator (expval_term.c)
 * builds on. Not a public API. */
#ifndef HMP_EXPVAL_IMPL_H
#define HMP_EXPVAL_IMPL_H

#include "eval/expval.h"

/* State of a node in expval_ctx: 0 unknown, 1 value, 2 status; SCHEDULED
 * only during one expval_of_term call; LSE_SUM and LOG_FORM as in expval.h. */
enum { EV_UNKNOWN = 0, EV_VALUE = 1, EV_FAILED = 2, EV_SCHEDULED = 3, EV_LSE_SUM = 4, EV_LOG_FORM = 5 };

void expval_sum_fit(expval_sum *x, slong n);        /* room for n terms */
void expval_sum_set_term(expval_sum *out, const fmpq_t c, const fmpq_t r); /* c*exp(r) */
void expval_sum_one(expval_sum *out);               /* 1*exp(0) */
int expval_sum_is_one(const expval_sum *x);
int expval_fmpq_bits_ok(const fmpq_t q);            /* within EV_MAX_BITS */
int expval_sum_bits_ok(const expval_sum *x);        /* every c_i, r_i within EV_MAX_BITS */
/* out = a * c*exp(r), c != 0: every term scaled, exponents shifted by r. */
void expval_sum_scale(expval_sum *out, const expval_sum *a, const fmpq_t c, const fmpq_t r);
void expval_swap(expval *a, expval *b);
void expval_zero(expval *out);                      /* 0 = 0/1 */

#endif

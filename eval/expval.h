/* expval: exact values of the exp-rational fragment over the rationals:
 * N/D with N, D finite sums c_i*exp(r_i) (c_i, r_i rational, r_i distinct).
 * By Lindemann-Weierstrass the exp(r_i) of distinct rationals are linearly
 * independent over Q, so a sum is zero iff all its c_i are, N/D is rational
 * iff N = k*D term by term, and equality is decidable. */
#ifndef HMP_EXPVAL_H
#define HMP_EXPVAL_H

#include <flint/fmpq.h>

#include "core/arbcompat.h"
#include "core/strbuf.h"
#include "core/term.h"

/* sum_i c[i]*exp(r[i]); r strictly increasing, every c[i] != 0; n = 0 is 0. */
typedef struct expval_sum {
    fmpq *c, *r;
    slong n, alloc;
} expval_sum;

typedef struct expval {
    expval_sum num, den; /* den != 0; normalised: den's first term is 1*exp(0) */
} expval;

void expval_sum_init(expval_sum *x);
void expval_sum_clear(expval_sum *x);
void expval_init(expval *v);
void expval_clear(expval *v);
void expval_set(expval *out, const expval *v);
void expval_set_fmpq(expval *out, const fmpq_t q);
void expval_exp_fmpq(expval *out, const fmpq_t r); /* exp(r) */

typedef enum ev_status {
    EV_OK = 0,
    EV_OUTSIDE,  /* not in the fragment: a symbol, log, tanh, a non-integer power of a non-square ... */
    EV_DIV_ZERO, /* division by an exact zero (or 0^-k) */
    EV_TOO_BIG,  /* more terms or bits than the limits below */
    EV_NINF      /* -inf: no real value (the caller reports a whole value -inf) */
} ev_status;

#define EV_MAX_TERMS 1000000
#define EV_MAX_BITS 1000000

int expval_add(expval *out, const expval *a, const expval *b);   /* status */
int expval_mul(expval *out, const expval *a, const expval *b);
int expval_inv(expval *out, const expval *a);                    /* EV_DIV_ZERO when a = 0 */
int expval_pow_si(expval *out, const expval *a, slong k);

int expval_is_zero(const expval *v);
/* 1 and q when v is a rational number. */
int expval_get_fmpq(fmpq_t q, const expval *v);
int expval_equal(const expval *a, const expval *b);
/* exp(r) for r rational, exp(0) = 1 ... as an HMP expression that parses back
 * to the same value: "(3*exp(1/2) - exp(2))/(1 + 2*exp(1/3))". */
void expval_print(strbuf *out, const expval *v);
/* A ball containing v, computed at working precision prec. */
void expval_arb(arb_t out, const expval *v, slong prec);

/* Exact values of terms of a store, memoised by term id (a DAG is evaluated
 * once per node). Terms built from numbers, +, *, integer powers, exp of a
 * rational-valued term, max/min/abs of rational-valued terms, and exp of
 * r + c_1*lse(A_1) + ... + c_k*lse(A_k) with r rational-valued and rational
 * c_i: exp(r) * prod_i (sum_{a in A_i} exp(a))^c_i, each a rational-valued
 * (or itself of that form), a value when every power is (integer c_i; a
 * root of a one-term sum). An lse, and such a sum r + c_i*lse(A_i), has no
 * value of its own in the fragment (it is a logarithm): as an argument of
 * exp, +, a number times it, or lse, it is kept; anywhere else, or as the
 * term asked for, it is EV_OUTSIDE. */
typedef struct expval_ctx {
    const term_store *s;
    expval *memo;          /* memo[t], where state[t] is 1, 4 or 5 */
    unsigned char *state;  /* 0 unknown, 1 value, 2 status in status[t],
                              4 an lse: memo[t] = sum_k exp(a_k), kept for the
                              context's lifetime; 5 a log form: memo[t].num
                              holds r + sum_i c_i*lse_i as the pairs
                              (r, 0), (c_i, lse_i) sorted by term id */
    unsigned char *status;
    uint32_t size;
} expval_ctx;

void expval_ctx_init(expval_ctx *ctx, const term_store *s);
void expval_ctx_clear(expval_ctx *ctx);
/* The value of t. On failure the status, and in *where the node that failed
 * (the innermost one: e.g. the zero that was divided by; for EV_NINF the
 * innermost term around -inf, as term_ninf_site, or t when t is -inf).
 * Iterative. */
int expval_of_term(expval *out, term_id *where, expval_ctx *ctx, term_id t);

#endif

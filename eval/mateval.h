/* mateval: values of a matrix program (program/mat): the rational stages
 * exactly with FLINT integer matrices over a common denominator, the others
 * in Arb ball matrices at a working precision, and in double. */
#ifndef HMP_MATEVAL_H
#define HMP_MATEVAL_H

#include <stddef.h>
#include <flint/fmpq.h>

#include "core/arbcompat.h"
#include "eval/ball.h"
#include "core/system.h"
#include "program/mat.h"

typedef enum mateval_status {
    MATEVAL_OK = 0,
    MATEVAL_UNCOVERED, /* an output the program does not compute from constants
                          (a relation left scalar, a free symbol, -inf): m->why */
    MATEVAL_FAILED     /* a value the balls cannot give (a logarithm or a divisor
                          whose ball holds 0, a non-finite ball): the scalar
                          evaluation decides, and reports what is wrong */
} mateval_status;

typedef struct mateval_family mateval_family; /* mateval_impl.h */

/* The evaluation of one program. Entries whose term (after inlining) would
 * be a number are exact rationals; the others carry their term, built in a
 * store of their own (`shadow`, so the script's store is left as it is), to
 * know which entries downstream are numbers. */
typedef struct mateval {
    mat_program *p;
    const sys *y;
    term_store shadow;      /* terms of entries that are not numbers; constants */
    ball_ctx bc;            /* balls of shadow terms */
    mateval_family *fam;    /* per family of p */
    size_t n_fam;
    term_id *scalar;        /* per operation: its constant in shadow, or TERM_NONE */
    size_t n_out;           /* the outputs of y, in order */
    uint32_t *out_fam;
    size_t *out_cell;
    int exact_done;         /* mateval_exact has run */
    slong prec;             /* working precision of the balls (0: none yet) */
    const char *why;        /* MATEVAL_UNCOVERED: what is not covered */
} mateval;

/* Prepares the evaluation of p, recognised from y (p->store == y->store).
 * MATEVAL_OK when every output of y is an entry of a family that p computes
 * from constants, with no relation left scalar and no free symbol; otherwise
 * MATEVAL_UNCOVERED and the reason in m->why. Clear m either way. */
int mateval_init(mateval *m, mat_program *p, const sys *y);
void mateval_clear(mateval *m);

/* The exact stages: every entry whose term would fold to a number gets that
 * rational (FLINT integer matrices over a common denominator); the others
 * get their term. MATEVAL_OK, or MATEVAL_FAILED (m then holds no values). */
int mateval_exact(mateval *m);
/* After mateval_exact: 1 and q when output i's term is a number q. */
int mateval_output_rational(fmpq_t q, const mateval *m, size_t i);

/* Balls of every entry the outputs need, at working precision prec (Arb
 * matrix products, softmax rows with the max shift). After mateval_exact.
 * MATEVAL_OK or MATEVAL_FAILED. */
int mateval_balls(mateval *m, slong prec);
/* After mateval_balls: the ball of output i (valid until the next call). */
const arb_struct *mateval_output_ball(const mateval *m, size_t i);

/* ---- entries of any family (not only outputs) ---- */

/* 1 when the program gives family f a value at cell: an entry the script
 * names, or a 0 a masked softmax puts above the diagonal. */
int mateval_entry_present(const mateval *m, uint32_t f, size_t cell);
/* After mateval_exact: 1 and q when the entry at cell of family f is the
 * rational q; 0 otherwise. */
int mateval_entry_rational(fmpq_t q, const mateval *m, uint32_t f, size_t cell);
/* After mateval_balls: the ball of the entry at cell of family f, or NULL
 * when the family has no balls (every entry rational: see
 * mateval_entry_rational). Valid until the next call. */
const arb_struct *mateval_entry_ball(const mateval *m, uint32_t f, size_t cell);

/* Every output in double (BLAS products, softmax with the max shift),
 * rounded at each step: no error bound. After mateval_init only.
 * MATEVAL_OK, or MATEVAL_FAILED (a constant with no real value). */
int mateval_doubles(double *out, mateval *m);

#endif

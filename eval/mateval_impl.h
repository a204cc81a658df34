/* mateval_impl: what the files of mateval share (functions prefixed mv_):
 * per-family state, cell arithmetic, the views of operation arguments.
 * Not a public API. */
#ifndef HMP_MATEVAL_IMPL_H
#define HMP_MATEVAL_IMPL_H

#include <flint/fmpz_mat.h>

#include "eval/mateval.h"

/* What is known of one entry of a family that is not all exact. */
enum {
    MV_ABSENT = 0, /* no entry there (a gap of the family) */
    MV_EXACT,      /* its term is a number: q[cell] */
    MV_TERM,       /* its term is not a number: term[cell] in m->shadow */
    MV_OPAQUE      /* its term is not a number and was not built (no
                      operation reads the family) */
};

struct mateval_family {
    uint8_t needed;       /* an output depends on it */
    uint8_t consumed;     /* a needed operation reads it */
    uint8_t ready;        /* its exact stage is done */
    uint8_t exact;        /* every entry present is a rational: num / den */
    uint8_t want_ball;    /* balls are needed (not exact, or read by an
                             operation whose output is not exact) */
    fmpz_mat_struct *num; /* exact: per batch, the numerators */
    fmpz_t den;           /* exact: the common denominator, > 0 */
    uint8_t *kind;        /* not exact: per cell, MV_* */
    fmpq *q;              /* not exact: per cell, the value of MV_EXACT */
    term_id *term;        /* not exact: per cell, the term of MV_TERM */
    arb_mat_struct *ball; /* per batch, at m->prec */
    double *dbl;          /* per cell (mateval_doubles) */
};

/* The cell of argument i of op read at (b, r, c) of the output, through the
 * argument's view (mat_view_cell). */
static inline size_t mv_arg_cell(const mat_program *p, const mat_op *op, uint32_t i, uint32_t b, uint32_t r, uint32_t c)
{
    return mat_view_cell(&p->mats[op->arg[i]], (mat_view)op->view[i], b, r, c);
}

/* 1 when the entry at cell exists: a named entry, any entry of a
 * temporary, or a zero of a masked softmax above the diagonal. */
int mv_present(const mat_program *p, uint32_t f, size_t cell);
/* The numerator of an exact family's entry at cell. */
fmpz *mv_num(const mateval *m, uint32_t f, size_t cell);
/* The value of an entry known to be rational: 1 and q, else 0. */
int mv_rational(fmpq_t q, const mateval *m, uint32_t f, size_t cell);

/* t, a term of the script's store over numbers only, rebuilt in
 * m->shadow; TERM_NONE when it mentions a name or -inf. */
term_id mv_import(mateval *m, term_id t);

/* mateval_exact.c: the exact stage of operation k. */
int mv_exact_op(mateval *m, uint32_t k);
/* mateval_exact.c: families whose balls are needed, once exactness is known. */
void mv_mark_balls(mateval *m);

#endif

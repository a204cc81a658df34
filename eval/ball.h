/* ball: certified evaluation of terms with Arb balls. Each node of a DAG is
 * evaluated once per working precision; every ball provably contains the
 * exact value of its term. */
#ifndef HMP_BALL_H
#define HMP_BALL_H

#include "core/arbcompat.h"
#include "core/term.h"

typedef enum ball_status {
    BALL_OK = 0,
    BALL_FREE_SYMBOL, /* a symbol with no value */
    BALL_UNDECIDED,   /* a divisor or a log argument whose ball holds a point
                         outside the domain: more precision, or the exact
                         value, tells a domain error from a small value */
    BALL_NINF         /* -inf where it has no real value (log(-inf), x*-inf,
                         ...: the formal terms of core/term.h), or the whole
                         term is -inf, which the caller reports as such */
} ball_status;

typedef struct ball_ctx {
    const term_store *s;
    arb_ptr val;     /* val[t] */
    slong *prec;     /* precision val[t] was computed at; 0 = not yet */
    uint32_t size;
} ball_ctx;

void ball_ctx_init(ball_ctx *ctx, const term_store *s);
void ball_ctx_clear(ball_ctx *ctx);

/* Evaluates t at working precision prec (bits), reusing every node already
 * computed at prec or more. On BALL_OK, *out (may be NULL) points at the ball
 * of t, valid until the next call. Otherwise *where is the node at fault; for
 * BALL_NINF the innermost term that mentions -inf and has no value (t itself
 * when t is -inf). Iterative: no recursion on term depth. */
ball_status ball_eval(const arb_struct **out, term_id *where, ball_ctx *ctx, term_id t, slong prec);


#endif

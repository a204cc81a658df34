/* engine: applies rule sets to terms: bottom-up to a fixpoint, memoised by
 * term id (a shared subterm is rewritten once), iterative, with a step cap;
 * or one step at a time. Every firing can be traced and the trace replayed. */
#ifndef HMP_ENGINE_H
#define HMP_ENGINE_H

#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"
#include "core/term.h"
#include "rewrite/rules.h"

#define RW_DEFAULT_MAX_STEPS 1000000
#define RW_NOWHERE UINT32_MAX

/* One firing: rule turned before into after; where is the label the caller
 * gave (a relation index), RW_NOWHERE if none. Replaying the step replaces
 * every occurrence of before by after. */
typedef struct rw_step {
    const rule *rule;
    term_id before, after;
    uint32_t where;
} rw_step;

/* Per-term memo, indexed by term id, grown with the store. */
typedef struct rw_memo {
    term_id *nf;        /* normal form; NONE: not yet (nf[t] == t: t is normal) */
    term_id *after;     /* the result of the rule that fires at t's root */
    uint32_t *rule;     /* that rule + 1 (index into the engine's rules); 0: not tried */
    uint32_t *stamp;    /* visit marks of one search */
    uint32_t size, generation;
} rw_memo;

typedef struct rw_frame rw_frame;
typedef struct rw_replacer rw_replacer;

typedef struct rw_engine {
    term_store *s;
    const rule **rules;    /* every rule of the sets, in order */
    size_t n_rules;
    size_t *by_op;         /* rules with root op o: by_op[o] .. by_op[o + 1] of op_rules */
    const rule **op_rules;
    rule_match match;
    rw_memo memo;
    int trace;             /* record steps (rw_set_trace) */
    rw_step *steps;
    size_t n_steps, cap_steps;
    size_t max_steps;      /* the cap on firings */
    size_t fired;          /* firings (steps) so far */
    size_t built;          /* rule results computed: at most one per term id */
    int capped;            /* the cap was reached: results may not be normal */
    /* scratch */
    rw_frame *frames;
    size_t n_frames, cap_frames;
    term_id *vals;
    size_t n_vals, cap_vals;
    term_id *work;
    size_t cap_work;
    rw_replacer *repl;
} rw_engine;

/* An engine applying the rules of sets[0 .. n) (in that order) to terms of s.
 * The sets must outlive the engine. */
void rw_init(rw_engine *e, term_store *s, const rule_set *const *sets, size_t n);
void rw_clear(rw_engine *e);
void rw_set_trace(rw_engine *e, int on);
void rw_set_max_steps(rw_engine *e, size_t max_steps);

/* The normal form of t under the engine's rules. Without a trace: every
 * argument first (bottom-up), then the first rule that fires at the node,
 * again until none does, memoised by id across calls, so a term shared by
 * several calls or parents is rewritten once. With a trace (rw_set_trace):
 * the whole of t one step at a time, each step the leftmost innermost redex
 * rewritten and every occurrence of it replaced (rw_step_term), so that the
 * steps labelled where replay on t; normal terms and rule results are still
 * memoised by id. Both reach a normal form of the same rules; they differ
 * only where a rebuilt parent absorbs a half-rewritten argument. Past the
 * step cap, e->capped is set and the result is t partly rewritten (still
 * equal to t). Iterative. */
term_id rw_simplify(rw_engine *e, term_id t, uint32_t where);

/* The first rule (in the engine's order) that rewrites t at its root, or
 * NULL; *after set when one does. Arguments are not looked at. */
const rule *rw_rewrite_root(term_id *after, rw_engine *e, term_id t);

/* One step on the whole term t: the leftmost innermost redex (found in
 * post-order, left to right; its arguments are normal) rewritten once, and
 * every occurrence of it replaced. 1 with *step and *out set; 0 when t is
 * normal or the cap is reached (then e->capped). Not recorded in the trace. */
int rw_step_term(rw_step *step, term_id *out, rw_engine *e, term_id t, uint32_t where);

/* t with every occurrence of before replaced by after, rebuilt through the
 * constructors (arguments of after are not looked into). Iterative. */
term_id rw_replace(term_store *s, term_id t, term_id before, term_id after);
/* Applies steps[0 .. n) in order to roots[0 .. k), in place: a step labelled
 * i < k rewrites roots[i], one labelled RW_NOWHERE every root; rewriting =
 * replacing every occurrence of before by after. */
void rw_replay(term_store *s, term_id *roots, size_t k, const rw_step *steps, size_t n);

/* "rule: before -> after" in infix. */
void rw_print_step(strbuf *out, const term_store *s, const rw_step *step);

#endif

/* engine: rewriting to a fixpoint with explicit stacks: bottom-up with a memo
 * by term id, or (traced) one leftmost innermost step at a time on the whole
 * term, so that a step replaces every occurrence of its before term. */
#include "rewrite/engine.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/vec.h"
#include "core/print.h"

#define RULE_NONE UINT32_MAX /* memo.rule: tried, no rule fires */

enum { PHASE_ENTER, PHASE_ARGS, PHASE_CHILD };

/* A term being normalised bottom-up (its arguments' values start at vbase
 * on the value stack; in PHASE_CHILD the normal form of the rebuilt node or
 * of the rule's result, t's own, is awaited), or visited by a search (next:
 * the next argument to visit). */
struct rw_frame {
    term_id t;
    uint32_t vbase, next;
    uint8_t phase;
};

/* ---- memo ---- */

static void memo_reserve(rw_memo *m, const term_store *s)
{
    if (s->n_nodes <= m->size) return;
    uint32_t size = s->n_nodes + s->n_nodes / 2 + 64;
    m->nf = mem_realloc(m->nf, (size_t)size * sizeof *m->nf);
    m->after = mem_realloc(m->after, (size_t)size * sizeof *m->after);
    m->rule = mem_realloc(m->rule, (size_t)size * sizeof *m->rule);
    m->stamp = mem_realloc(m->stamp, (size_t)size * sizeof *m->stamp);
    size_t add = (size_t)(size - m->size);
    memset(m->nf + m->size, 0, add * sizeof *m->nf);
    memset(m->after + m->size, 0, add * sizeof *m->after);
    memset(m->rule + m->size, 0, add * sizeof *m->rule);
    memset(m->stamp + m->size, 0, add * sizeof *m->stamp);
    m->size = size;
}

/* A fresh visit mark. */
static uint32_t memo_generation(rw_memo *m)
{
    if (++m->generation == 0) {
        memset(m->stamp, 0, (size_t)m->size * sizeof *m->stamp);
        m->generation = 1;
    }
    return m->generation;
}

static void memo_clear(rw_memo *m)
{
    free(m->nf);
    free(m->after);
    free(m->rule);
    free(m->stamp);
    memset(m, 0, sizeof *m);
}

/* ---- replacing ---- */

/* Marks and images over the store's ids, reused across replacements. */
struct rw_replacer {
    term_store *s;
    uint32_t *stamp;
    term_id *map;
    uint32_t size, gen;
    term_id *stack;     /* pairs: node, next argument */
    size_t n, cap;
    term_id *args;
    size_t cap_args;
};
typedef struct rw_replacer replacer;

static void replacer_clear(replacer *r)
{
    free(r->stamp);
    free(r->map);
    free(r->stack);
    free(r->args);
}

static void replacer_push(replacer *r, term_id t)
{
    if (r->n + 2 > r->cap) {
        r->cap = r->cap ? 2 * r->cap : 256;
        r->stack = mem_realloc(r->stack, r->cap * sizeof *r->stack);
    }
    r->stack[r->n++] = t;
    r->stack[r->n++] = 0;
}

/* The image of t: before replaced by after, parents rebuilt through the
 * constructors; a post-order walk of the nodes that can hold before (ids >=
 * before), each once per generation. */
static term_id replacer_image(replacer *r, term_id t, term_id before, term_id after)
{
    term_store *s = r->s;
    if (before > t) return t;
    if (t >= r->size) {
        uint32_t size = s->n_nodes + s->n_nodes / 2 + 64;
        r->stamp = mem_realloc(r->stamp, (size_t)size * sizeof *r->stamp);
        r->map = mem_realloc(r->map, (size_t)size * sizeof *r->map);
        memset(r->stamp + r->size, 0, (size_t)(size - r->size) * sizeof *r->stamp);
        r->size = size;
    }
    if (r->stamp[t] == r->gen) return r->map[t];
    replacer_push(r, t);
    while (r->n) {
        term_id y = r->stack[r->n - 2];
        uint32_t k = term_nargs(s, y);
        if (y == before || y < before || k == 0) {
            r->map[y] = y == before ? after : y;
            r->stamp[y] = r->gen;
            r->n -= 2;
            continue;
        }
        if (r->stack[r->n - 1] < k) {
            term_id a = term_arg(s, y, r->stack[r->n - 1]++);
            if (r->stamp[a] != r->gen) replacer_push(r, a);
            continue;
        }
        if (k > r->cap_args) {
            r->cap_args = k;
            r->args = mem_realloc(r->args, k * sizeof *r->args);
        }
        int changed = 0;
        for (uint32_t j = 0; j < k; j++) {
            term_id a = term_arg(s, y, j);
            r->args[j] = r->map[a];
            changed |= r->args[j] != a;
        }
        term_id v = changed ? term_make(s, term_op_of(s, y), r->args, k) : y;
        r->map[y] = v;
        r->stamp[y] = r->gen;
        r->n -= 2;
    }
    return r->map[t];
}

static void replacer_next(replacer *r)
{
    if (++r->gen == 0) {
        memset(r->stamp, 0, (size_t)r->size * sizeof *r->stamp);
        r->gen = 1;
    }
}

/* ---- engine ---- */

void rw_init(rw_engine *e, term_store *s, const rule_set *const *sets, size_t n)
{
    memset(e, 0, sizeof *e);
    e->s = s;
    e->max_steps = RW_DEFAULT_MAX_STEPS;
    for (size_t i = 0; i < n; i++) e->n_rules += sets[i]->n_rules;
    e->rules = mem_realloc(NULL, (e->n_rules ? e->n_rules : 1) * sizeof *e->rules);
    e->op_rules = mem_realloc(NULL, (e->n_rules ? e->n_rules : 1) * sizeof *e->op_rules);
    e->by_op = mem_calloc(OP_COUNT_ + 1, sizeof *e->by_op);
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < sets[i]->n_rules; j++) e->rules[k++] = &sets[i]->rules[j];
    /* rules grouped by root operator, keeping their order */
    k = 0;
    for (int op = 0; op < OP_COUNT_; op++) {
        e->by_op[op] = k;
        for (size_t i = 0; i < e->n_rules; i++)
            if ((int)e->rules[i]->op == op) e->op_rules[k++] = e->rules[i];
    }
    e->by_op[OP_COUNT_] = k;
    rule_match_init(&e->match, s);
    e->repl = mem_calloc(1, sizeof *e->repl);
    e->repl->s = s;
}

void rw_clear(rw_engine *e)
{
    free(e->rules);
    free(e->op_rules);
    free(e->by_op);
    rule_match_clear(&e->match);
    memo_clear(&e->memo);
    replacer_clear(e->repl);
    free(e->repl);
    free(e->steps);
    free(e->frames);
    free(e->vals);
    free(e->work);
    memset(e, 0, sizeof *e);
}

void rw_set_trace(rw_engine *e, int on) { e->trace = on; }
void rw_set_max_steps(rw_engine *e, size_t max_steps) { e->max_steps = max_steps; }

const rule *rw_rewrite_root(term_id *after, rw_engine *e, term_id t)
{
    term_op op = term_op_of(e->s, t);
    for (size_t i = e->by_op[op]; i < e->by_op[op + 1]; i++) {
        term_id u = rule_try(&e->match, e->op_rules[i], t);
        if (u != TERM_NONE) {
            *after = u;
            return e->op_rules[i];
        }
    }
    return NULL;
}

static uint32_t rule_index(const rw_engine *e, const rule *r)
{
    for (size_t i = 0; i < e->n_rules; i++)
        if (e->rules[i] == r) return (uint32_t)i;
    HMP_INVARIANT(0, "rewrite engine", "a rule the engine does not hold");
    return 0;
}

/* The rule that fires at t's root and its result, computed once per id. */
static const rule *fire_at(term_id *after, rw_engine *e, term_id t)
{
    rw_memo *m = &e->memo;
    if (m->rule[t] == 0) {
        term_id u = TERM_NONE;
        const rule *r = rw_rewrite_root(&u, e, t);
        memo_reserve(m, e->s);
        if (r) {
            m->rule[t] = rule_index(e, r) + 1;
            m->after[t] = u;
            e->built++;
        } else {
            m->rule[t] = RULE_NONE;
        }
    }
    if (m->rule[t] == RULE_NONE) return NULL;
    *after = m->after[t];
    return e->rules[m->rule[t] - 1];
}

/* May another rule fire? */
static int may_fire(rw_engine *e)
{
    if (e->fired < e->max_steps) return 1;
    e->capped = 1;
    return 0;
}

static void add_step(rw_engine *e, const rule *r, term_id before, term_id after, uint32_t where)
{
    VEC_RESERVE(e->steps, e->cap_steps, e->n_steps + 1);
    e->steps[e->n_steps++] = (rw_step){ r, before, after, where };
}

/* ---- bottom-up, memoised (no trace) ---- */

static void push_frame(rw_engine *e, term_id t)
{
    VEC_RESERVE(e->frames, e->cap_frames, e->n_frames + 1);
    e->frames[e->n_frames++] = (rw_frame){ .t = t, .phase = PHASE_ENTER };
}

static void push_value(rw_engine *e, term_id v)
{
    VEC_RESERVE(e->vals, e->cap_vals, e->n_vals + 1);
    e->vals[e->n_vals++] = v;
}

/* The frame on top is finished with value v. */
static void finish(rw_engine *e, term_id v)
{
    e->n_frames--;
    push_value(e, v);
}

static void step_enter(rw_engine *e)
{
    rw_memo *m = &e->memo;
    rw_frame *f = &e->frames[e->n_frames - 1];
    term_id x = f->t;
    memo_reserve(m, e->s);
    if (m->nf[x]) { finish(e, m->nf[x]); return; }
    uint32_t k = term_nargs(e->s, x);
    if (k == 0) { /* a number or a symbol */
        m->nf[x] = x;
        finish(e, x);
        return;
    }
    f->phase = PHASE_ARGS;
    f->vbase = (uint32_t)e->n_vals;
    for (uint32_t j = k; j-- > 0;) push_frame(e, term_arg(e->s, x, j)); /* argument 0 first */
}

/* Every argument has its normal form: a changed one means a rebuilt node to
 * normalise; otherwise the first rule that fires at x, if any. */
static void step_args(rw_engine *e)
{
    rw_memo *m = &e->memo;
    rw_frame *f = &e->frames[e->n_frames - 1];
    term_id x = f->t;
    uint32_t k = term_nargs(e->s, x);
    int changed = 0;
    if (e->cap_work < k) {
        e->cap_work = k;
        e->work = mem_realloc(e->work, e->cap_work * sizeof *e->work);
    }
    for (uint32_t j = 0; j < k; j++) {
        e->work[j] = e->vals[f->vbase + j];
        changed |= e->work[j] != term_arg(e->s, x, j);
    }
    e->n_vals = f->vbase;
    term_id next = TERM_NONE;
    if (changed) {
        next = term_make(e->s, term_op_of(e->s, x), e->work, k);
        if (next == x) next = TERM_NONE; /* cannot loop without firing */
    } else if (may_fire(e) && fire_at(&next, e, x)) {
        e->fired++;
    }
    f = &e->frames[e->n_frames - 1];
    if (!next) {
        m->nf[x] = x;
        finish(e, x);
        return;
    }
    f->phase = PHASE_CHILD;
    push_frame(e, next);
}

static term_id simplify_memo(rw_engine *e, term_id t)
{
    size_t base_frames = e->n_frames, base_vals = e->n_vals;
    push_frame(e, t);
    while (e->n_frames > base_frames) {
        rw_frame *f = &e->frames[e->n_frames - 1];
        if (f->phase == PHASE_ENTER) step_enter(e);
        else if (f->phase == PHASE_ARGS) step_args(e);
        else { /* the child's normal form is x's */
            term_id v = e->vals[--e->n_vals];
            e->memo.nf[f->t] = v;
            finish(e, v);
        }
    }
    HMP_INVARIANT(e->n_vals == base_vals + 1, "rewrite engine", "value stack out of balance");
    return e->vals[--e->n_vals];
}

/* ---- one step at a time on the whole term (traces) ---- */

/* The leftmost innermost redex of t (post-order, arguments left to right),
 * or NONE when t is normal; normal nodes are remembered (nf[x] = x) and
 * skipped. Frames: t = node, next = the next argument to visit. */
static term_id find_redex(term_id *after, const rule **r, rw_engine *e, term_id t)
{
    rw_memo *m = &e->memo;
    memo_reserve(m, e->s);
    if (m->nf[t] == t) return TERM_NONE;
    uint32_t gen = memo_generation(m);
    size_t base = e->n_frames;
    push_frame(e, t);
    m->stamp[t] = gen;
    term_id found = TERM_NONE;
    while (e->n_frames > base) {
        rw_frame *f = &e->frames[e->n_frames - 1];
        term_id x = f->t;
        uint32_t k = term_nargs(e->s, x);
        if (f->next < k) {
            term_id a = term_arg(e->s, x, f->next++);
            if (m->nf[a] != a && m->stamp[a] != gen) {
                m->stamp[a] = gen;
                push_frame(e, a);
            }
            continue;
        }
        /* every argument is normal */
        e->n_frames--;
        if (k > 0 && (*r = fire_at(after, e, x)) != NULL) {
            found = x;
            break;
        }
        m = &e->memo; /* fire_at may have grown the memo */
        m->nf[x] = x;
    }
    e->n_frames = base;
    return found;
}

int rw_step_term(rw_step *step, term_id *out, rw_engine *e, term_id t, uint32_t where)
{
    HMP_INVARIANT(t != TERM_NONE && t < e->s->n_nodes, "rewrite engine", "a term outside the store");
    term_id after = TERM_NONE;
    const rule *r = NULL;
    term_id x = find_redex(&after, &r, e, t);
    if (!x || !may_fire(e)) return 0;
    e->fired++;
    *step = (rw_step){ r, x, after, where };
    replacer_next(e->repl);
    *out = replacer_image(e->repl, t, x, after);
    return 1;
}

term_id rw_simplify(rw_engine *e, term_id t, uint32_t where)
{
    HMP_INVARIANT(t != TERM_NONE && t < e->s->n_nodes, "rewrite engine", "a term outside the store");
    if (!e->trace) return simplify_memo(e, t);
    rw_step st;
    term_id u;
    while (rw_step_term(&st, &u, e, t, where)) {
        add_step(e, st.rule, st.before, st.after, where);
        t = u;
    }
    return t;
}

/* ---- replacing and replaying ---- */

term_id rw_replace(term_store *s, term_id t, term_id before, term_id after)
{
    replacer r = { .s = s };
    replacer_next(&r);
    term_id u = replacer_image(&r, t, before, after);
    replacer_clear(&r);
    return u;
}

void rw_replay(term_store *s, term_id *roots, size_t k, const rw_step *steps, size_t n)
{
    replacer r = { .s = s };
    for (size_t i = 0; i < n; i++) {
        replacer_next(&r);
        for (size_t j = 0; j < k; j++)
            if (steps[i].where == RW_NOWHERE || steps[i].where == j)
                roots[j] = replacer_image(&r, roots[j], steps[i].before, steps[i].after);
    }
    replacer_clear(&r);
}

void rw_print_step(strbuf *out, const term_store *s, const rw_step *step)
{
    strbuf_puts(out, step->rule->def->name);
    strbuf_puts(out, ": ");
    print_infix(out, s, step->before);
    strbuf_puts(out, " -> ");
    print_infix(out, s, step->after);
}

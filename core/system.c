/* system: the relations of a script as one system: which relation defines
 * each name, free symbols, outputs, a dependency order with cycle reports,
 * and substitution of defined names into one shared DAG. No recursion. */
#include "core/system.h"
#include "core/mem.h"
#include "core/vec.h"

#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

/* Cycles reported per build; more are counted only in the return value. */
#define SYS_MAX_CYCLES 5
/* A longer cycle is printed as its first and last names around "...". */
#define SYS_CYCLE_HEAD 6
#define SYS_CYCLE_TAIL 3


static int cmp_u32(const void *pa, const void *pb)
{
    uint32_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
    return (a > b) - (a < b);
}

int32_t sys_relation_of(const sys *y, term_id t)
{
    if (t == TERM_NONE || t >= y->store->n_nodes || term_op_of(y->store, t) != OP_SYM) return -1;
    sym_id v = term_sym_of(y->store, t);
    return v < y->n_sym_slots ? y->rel_of_sym[v] : -1;
}

/* A relation is in force unless an earlier relation defines the same name. */
static int rel_in_force(const sys *y, size_t i)
{
    return sys_relation_of(y, y->scr->rels[i].name) == (int32_t)i;
}

/* Maps every name to its first definition; a second one is an error pointing
 * at both. Returns the number of errors. */
static size_t map_definitions(sys *y, diag_list *d)
{
    const script *sc = y->scr;
    term_store *s = y->store;
    size_t errors = 0;
    for (size_t i = 0; i < sc->n_rels; i++) {
        term_id name = sc->rels[i].name;
        HMP_INVARIANT(name != TERM_NONE && name < s->n_nodes && term_op_of(s, name) == OP_SYM, "sys", "relation name is not a symbol");
        sym_id v = term_sym_of(s, name);
        if (y->rel_of_sym[v] >= 0) {
            const relation *first = &sc->rels[y->rel_of_sym[v]];
            diag_error(d, sc->src, sc->rels[i].name_pos, "'%s' is defined twice", sym_name(s, v));
            diag_note(d, sc->src, first->name_pos, "first defined here");
            errors++;
        } else {
            y->rel_of_sym[v] = (int32_t)i;
        }
    }
    return errors;
}

/* Dependencies as lists: relation i depends on dep[start[i] .. start[i+1]). */
typedef struct dep_lists {
    uint32_t *start;
    vec_u32 dep;
} dep_lists;

/* Walks every right-hand side once per relation (shared subterms once),
 * collecting its symbols in increasing term id: the defined ones become
 * dependencies, the others free symbols in order of first appearance. */
static void collect_dependencies(dep_lists *g, sys *y)
{
    const script *sc = y->scr;
    term_store *s = y->store;
    uint32_t *stamp = mem_calloc(s->n_nodes, sizeof *stamp);
    unsigned char *free_seen = mem_calloc(y->n_sym_slots, 1);
    vec_u32 stack = { 0 }, syms = { 0 }, free_syms = { 0 };
    g->start = mem_realloc(NULL, (sc->n_rels + 1) * sizeof *g->start);
    for (size_t i = 0; i < sc->n_rels; i++) {
        g->start[i] = (uint32_t)g->dep.n;
        term_id rhs = sc->rels[i].rhs;
        HMP_INVARIANT(rhs != TERM_NONE && rhs < s->n_nodes, "sys", "relation without a right-hand side");
        uint32_t mark = (uint32_t)i + 1;
        syms.n = 0;
        stack.n = 0;
        stamp[rhs] = mark;
        vec_u32_push(&stack, rhs);
        while (stack.n) {
            term_id t = stack.v[--stack.n];
            if (term_op_of(s, t) == OP_SYM) { vec_u32_push(&syms, t); continue; }
            uint32_t k = term_nargs(s, t);
            const term_id *a = term_args(s, t);
            for (uint32_t j = 0; j < k; j++)
                if (stamp[a[j]] != mark) { stamp[a[j]] = mark; vec_u32_push(&stack, a[j]); }
        }
        if (syms.n > 1) qsort(syms.v, syms.n, sizeof *syms.v, cmp_u32);
        int in_force = rel_in_force(y, i);
        for (size_t j = 0; j < syms.n; j++) {
            int32_t r = sys_relation_of(y, syms.v[j]);
            if (r >= 0) {
                if (in_force) vec_u32_push(&g->dep, (uint32_t)r);
            } else {
                sym_id v = term_sym_of(s, syms.v[j]);
                if (!free_seen[v]) { free_seen[v] = 1; vec_u32_push(&free_syms, syms.v[j]); }
            }
        }
    }
    g->start[sc->n_rels] = (uint32_t)g->dep.n;
    y->free_syms = free_syms.v;
    y->n_free = free_syms.n;
    free(stack.v);
    free(syms.v);
    free(free_seen);
    free(stamp);
}

/* "dependency cycle: a -> b -> c -> a", long cycles shortened. */
static void report_cycle(sys *y, diag_list *d, const uint32_t *cyc, size_t len)
{
    const script *sc = y->scr;
    term_store *s = y->store;
    strbuf b;
    strbuf_init(&b);
    strbuf_puts(&b, "dependency cycle: ");
    for (size_t j = 0; j < len; j++) {
        if (len > SYS_CYCLE_HEAD + SYS_CYCLE_TAIL + 1 && j == SYS_CYCLE_HEAD) {
            strbuf_puts(&b, "... -> ");
            j = len - SYS_CYCLE_TAIL - 1;
            continue;
        }
        strbuf_puts(&b, term_sym_name(s, sc->rels[cyc[j]].name));
        strbuf_puts(&b, " -> ");
    }
    strbuf_puts(&b, term_sym_name(s, sc->rels[cyc[0]].name));
    if (len > SYS_CYCLE_HEAD + SYS_CYCLE_TAIL + 1) strbuf_printf(&b, " (%zu relations)", len);
    diag_error(d, sc->src, sc->rels[cyc[0]].name_pos, "%s", strbuf_str(&b));
    strbuf_clear(&b);
}

/* Depth-first search in script order with an explicit stack; a relation is
 * placed in order[] when everything it depends on is. A dependency still on
 * the stack closes a cycle, reported from where the search entered it.
 * Returns the number of cycles found. */
static size_t order_relations(sys *y, const dep_lists *g, diag_list *d)
{
    const script *sc = y->scr;
    size_t n = sc->n_rels;
    enum { WHITE, GREY, BLACK };
    unsigned char *color = mem_calloc(n, 1);
    uint32_t *stack_pos = mem_calloc(n, sizeof *stack_pos);
    uint32_t *rel = mem_realloc(NULL, n * sizeof *rel);
    uint32_t *next = mem_realloc(NULL, n * sizeof *next);
    size_t cycles = 0;
    y->order = mem_realloc(NULL, n * sizeof *y->order);
    y->n_order = 0;
    for (size_t root = 0; root < n; root++) {
        if (color[root] != WHITE || !rel_in_force(y, root)) continue;
        rel[0] = (uint32_t)root;
        next[0] = g->start[root];
        stack_pos[root] = 0;
        color[root] = GREY;
        size_t top = 1;
        while (top) {
            uint32_t r = rel[top - 1];
            if (next[top - 1] == g->start[r + 1]) {
                color[r] = BLACK;
                y->order[y->n_order++] = r;
                top--;
                continue;
            }
            uint32_t v = g->dep.v[next[top - 1]++];
            if (color[v] == WHITE) {
                color[v] = GREY;
                stack_pos[v] = (uint32_t)top;
                rel[top] = v;
                next[top] = g->start[v];
                top++;
            } else if (color[v] == GREY) {
                if (cycles < SYS_MAX_CYCLES)
                    report_cycle(y, d, rel + stack_pos[v], top - stack_pos[v]);
                cycles++;
            }
        }
    }
    free(color);
    free(stack_pos);
    free(rel);
    free(next);
    return cycles;
}

/* Output directives (names checked, duplicates dropped), or else every
 * relation in force that no other relation uses. Returns the error count. */
static size_t choose_outputs(sys *y, const dep_lists *g, diag_list *d)
{
    const script *sc = y->scr;
    term_store *s = y->store;
    size_t n = sc->n_rels, errors = 0, n_named = 0;
    unsigned char *flag = mem_calloc(n, 1);
    int directed = 0;
    for (size_t k = 0; k < sc->n_dirs; k++)
        if (sc->dirs[k].kind == DIRECTIVE_OUTPUT) {
            directed = 1;
            n_named += sc->dirs[k].n_args;
        }
    y->n_outputs = 0;
    if (directed) {
        y->outputs = mem_realloc(NULL, n_named * sizeof *y->outputs);
        for (size_t k = 0; k < sc->n_dirs; k++) {
            const directive *dir = &sc->dirs[k];
            if (dir->kind != DIRECTIVE_OUTPUT) continue;
            for (size_t j = 0; j < dir->n_args; j++) {
                term_id t = dir->args[j];
                HMP_INVARIANT(t != TERM_NONE && t < s->n_nodes && term_op_of(s, t) == OP_SYM, "sys", "output directive names a non-symbol");
                int32_t r = sys_relation_of(y, t);
                if (r < 0) {
                    diag_error(d, sc->src, dir->arg_pos[j], "output '%s' is not defined by any relation",
                               term_sym_name(s, t));
                    errors++;
                } else if (!flag[r]) {
                    flag[r] = 1;
                    y->outputs[y->n_outputs++] = t;
                }
            }
        }
    } else {
        /* flag[r]: some other relation in force uses r */
        for (size_t i = 0; i < n; i++)
            for (uint32_t e = g->start[i]; e < g->start[i + 1]; e++)
                if (g->dep.v[e] != i) flag[g->dep.v[e]] = 1;
        y->outputs = mem_realloc(NULL, n * sizeof *y->outputs);
        for (size_t i = 0; i < n; i++)
            if (rel_in_force(y, i) && !flag[i]) y->outputs[y->n_outputs++] = sc->rels[i].name;
    }
    free(flag);
    return errors;
}

/* Inlining is offered only when no dependency cycle was found: after such a
 * build y->inlined stays NULL and sys_inline_relation / sys_inline return
 * TERM_NONE, so nothing can loop. Other errors (a name defined twice, an
 * unknown output) leave inlining available; a second definition of a name
 * is never substituted for it. */
int sys_build(sys *y, term_store *s, const script *sc, diag_list *d)
{
    memset(y, 0, sizeof *y);
    y->store = s;
    y->scr = sc;
    y->n_sym_slots = s->n_syms;
    y->rel_of_sym = mem_realloc(NULL, (size_t)y->n_sym_slots * sizeof *y->rel_of_sym);
    for (uint32_t v = 0; v < y->n_sym_slots; v++) y->rel_of_sym[v] = -1;

    size_t errors = map_definitions(y, d);
    dep_lists g = { 0 };
    collect_dependencies(&g, y);
    size_t cycles = order_relations(y, &g, d);
    errors += cycles;
    errors += choose_outputs(y, &g, d);
    free(g.start);
    free(g.dep.v);
    if (cycles == 0) y->inlined = mem_calloc(sc->n_rels, sizeof *y->inlined);
    return errors ? 1 : 0;
}

void sys_clear(sys *y)
{
    free(y->rel_of_sym);
    free(y->order);
    free(y->free_syms);
    free(y->outputs);
    free(y->inlined);
    free(y->memo);
    memset(y, 0, sizeof *y);
}

/* memo must have a slot for every id up to t, and for every right-hand side. */
static void memo_reserve(sys *y, term_id t)
{
    if (t < y->memo_size) return;
    uint32_t size = y->store->n_nodes;
    if (size < y->memo_size + y->memo_size / 2) size = y->memo_size + y->memo_size / 2;
    HMP_INVARIANT(t < size, "sys", "term outside the store");
    y->memo = mem_realloc(y->memo, (size_t)size * sizeof *y->memo);
    memset(y->memo + y->memo_size, 0, (size_t)(size - y->memo_size) * sizeof *y->memo);
    y->memo_size = size;
}

/* The inlined value of root. memo[t] is the value of t with defined names
 * replaced: a name's value is its relation's, and a compound node is rebuilt
 * by term_make (re-canonicalised) only when an argument changed. Iterative:
 * a node waits on the stack until its arguments (or its relation's right-hand
 * side) have values. Terminates because the relations in force are acyclic. */
static term_id inline_term(sys *y, term_id root)
{
    term_store *s = y->store;
    const script *sc = y->scr;
    memo_reserve(y, root);
    if (y->memo[root]) return y->memo[root];
    vec_u32 stack = { 0 }, args = { 0 };
    vec_u32_push(&stack, root);
    while (stack.n) {
        term_id t = stack.v[stack.n - 1];
        HMP_INVARIANT(t < y->memo_size, "sys", "term outside the substitution memo");
        if (y->memo[t]) { stack.n--; continue; }
        term_op op = term_op_of(s, t);
        if (op == OP_NUM) { y->memo[t] = t; stack.n--; continue; }
        if (op == OP_SYM) {
            int32_t r = sys_relation_of(y, t);
            if (r < 0) { y->memo[t] = t; stack.n--; continue; }
            term_id rhs = sc->rels[r].rhs;
            if (y->memo[rhs]) {
                y->memo[t] = y->memo[rhs];
                y->inlined[r] = y->memo[rhs];
                stack.n--;
            } else {
                vec_u32_push(&stack, rhs);
            }
            continue;
        }
        uint32_t k = term_nargs(s, t);
        int ready = 1;
        for (uint32_t j = k; j-- > 0;) {
            term_id a = term_arg(s, t, j);
            if (!y->memo[a]) { ready = 0; vec_u32_push(&stack, a); }
        }
        if (!ready) continue;
        int changed = 0;
        args.n = 0;
        for (uint32_t j = 0; j < k; j++) {
            term_id a = term_arg(s, t, j);
            vec_u32_push(&args, y->memo[a]);
            changed |= y->memo[a] != a;
        }
        /* a canonical node over unchanged arguments is its own value */
        y->memo[t] = changed ? term_make(s, op, args.v, k) : t;
        stack.n--;
    }
    free(stack.v);
    free(args.v);
    return y->memo[root];
}

term_id sys_inline_relation(sys *y, size_t i)
{
    if (!y->inlined) return TERM_NONE;
    HMP_INVARIANT(i < y->scr->n_rels, "sys", "relation index out of range");
    if (y->inlined[i]) return y->inlined[i];
    term_id v = inline_term(y, y->scr->rels[i].rhs);
    y->inlined[i] = v;
    return v;
}

term_id sys_inline(sys *y, term_id t)
{
    if (!y->inlined || t == TERM_NONE) return TERM_NONE;
    return inline_term(y, t);
}

int sys_bind(sys *y, term_id sym, term_id value)
{
    if (!y->inlined || term_op_of(y->store, sym) != OP_SYM || sys_relation_of(y, sym) >= 0) return -1;
    memo_reserve(y, sym > value ? sym : value);
    if (y->memo[sym]) return -1;
    y->memo[sym] = value;
    return 0;
}

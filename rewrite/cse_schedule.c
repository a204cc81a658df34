/* cse_schedule: the cost model and the schedule of a cse program (uses,
 * temporaries, signs) with the operation counts of docs/CSE.md, and the
 * size of every output written as a tree. */
#include "rewrite/cse_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/* Inline expressions nest at most this deep; a deeper node gets a line. */
#define CSE_MAX_DEPTH 48

/* ---- the cost model ---- */

/* Multiplications of x^k by repeated squaring: floor(log2 k) squarings and
 * one multiplication per further 1 bit of k. */
static uint64_t powi_cost(uint32_t k)
{
    uint64_t c = 0;
    for (uint32_t x = k; x > 1; x >>= 1) c++;
    return c + (uint64_t)__builtin_popcount(k) - 1;
}

/* Operations of a node itself, its items computed; a sum's possible leading
 * minus aside. Sums of n terms: n - 1; products: n_num - 1 multiplications
 * and, with a denominator, n_den - 1 more and one division; calls: 1
 * (max/min of n arguments: n - 1; lse of n: n exp, n - 1 additions and a
 * log, 2n); -inf, like numbers: 0. */
static uint64_t node_ops(const cse_node *nd)
{
    switch (nd->kind) {
    case CK_SUM: return nd->n - 1;
    case CK_PROD: return (nd->nnum ? nd->nnum - 1 : 0) + (nd->n - nd->nnum);
    case CK_POWI: return powi_cost(nd->aux);
    case CK_CALL:
        if (nd->fn == OP_MAX || nd->fn == OP_MIN) return nd->n - 1;
        if (nd->fn == OP_LSE) return 2 * (uint64_t)nd->n;
        return 1;
    default: return 0;
    }
}

int cse_is_leaf(const cse_ir *ir, uint32_t n)
{
    uint8_t k = ir->kind[n];
    return k == CK_INPUT || k == CK_CONST || k == CK_NINF;
}

int cse_eff_neg(const cse_ir *ir, cse_ref r) { return (int)(CSE_NEG(r) ^ (ir->inner[CSE_NODE(r)] & 1u)); }

int cse_inline_node(const cse_ir *ir, uint32_t n) { return !cse_is_leaf(ir, n) && ir->temp[n] == 0; }

/* A product that prints a minus for free: it has a constant factor (-2*x)
 * or no numerator (-1/x). */
static int prod_takes_minus(const cse_ir *ir, uint32_t n)
{
    const cse_node *nd = &ir->nodes[n];
    if (nd->kind != CK_PROD) return 0;
    if (nd->nnum == 0) return 1;
    const cse_ref *it = cse_items(ir, n);
    for (uint32_t i = 0; i < nd->nnum; i++)
        if (ir->kind[CSE_NODE(it[i])] == CK_CONST) return 1;
    return 0;
}

int cse_neg_cost(const cse_ir *ir, uint32_t n)
{
    if (ir->kind[n] == CK_CONST || ir->kind[n] == CK_NINF) return 0;
    if (!cse_inline_node(ir, n)) return 1;
    if (ir->kind[n] == CK_SUM) return 0; /* printed with its signs flipped */
    return prod_takes_minus(ir, n) ? 0 : 1;
}

/* Items of a sum are read through the schedule (resolved refs in the pool
 * are not assumed): resolution is done by the caller beforehand. */
uint32_t cse_sum_leader(const cse_ir *ir, uint32_t n, int neg, int *minus_cost)
{
    const cse_node *nd = &ir->nodes[n];
    const cse_ref *it = cse_items(ir, n);
    uint32_t absorber = UINT32_MAX;
    for (uint32_t i = 0; i < nd->n; i++) {
        int item_neg = cse_eff_neg(ir, it[i]) ^ neg;
        if (!item_neg) { *minus_cost = 0; return i; }
        uint32_t m = CSE_NODE(it[i]);
        if (absorber == UINT32_MAX &&
            (ir->kind[m] == CK_CONST || (cse_inline_node(ir, m) && prod_takes_minus(ir, m))))
            absorber = i;
    }
    if (absorber != UINT32_MAX) { *minus_cost = 0; return absorber; }
    *minus_cost = 1;
    return 0;
}

/* ---- the schedule ---- */

typedef struct frame {
    uint32_t node, next;
} frame;

/* Rewrites the items of every reachable node to their resolved references
 * (in place: the schedule reads items directly afterwards). Keys in the
 * table go stale for rewritten nodes, which only costs missed sharing. */
/* The lines of the schedule: line_node, and room for their names. */
static void make_lines(cse_ir *ir)
{
    size_t n_temps = ir->sched_temps;
    ir->n_lines = n_temps;
    ir->line_node = mem_realloc(NULL, (n_temps + 1) * sizeof *ir->line_node);
    ir->temp_name = mem_calloc(n_temps + 1, sizeof *ir->temp_name);
    ir->temp_number = mem_calloc(n_temps + 1, sizeof *ir->temp_number);
    for (size_t k = 0; k < ir->n_order; k++) {
        uint32_t m = ir->order[k];
        if (ir->temp[m]) ir->line_node[ir->temp[m] - 1] = m;
    }
}

/* The last schedule still holds: no node made or forwarded since, the same
 * roots. */
static int schedule_current(cse_ir *ir, const cse_ref *roots, size_t n)
{
    if (!ir->sched_valid || ir->sched_version != ir->version || ir->sched_nodes != ir->n_nodes || n != ir->n_roots)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (cse_resolve(ir, roots[i]) != ir->roots[i]) return 0;
    return 1;
}

uint64_t cse_schedule(cse_ir *ir, const cse_ref *roots, size_t n, int lines)
{
    cse_lines_free(ir);
    if (schedule_current(ir, roots, n)) {
        if (lines) make_lines(ir);
        return ir->sched_ops;
    }
    uint32_t nn = ir->n_nodes;
    if (nn > ir->sched_cap) { /* made anew below: nothing to copy */
        ir->sched_cap = ir->cap_nodes;
        free(ir->uses);
        free(ir->inner);
        free(ir->temp);
        free(ir->depth);
        free(ir->order);
        ir->uses = mem_realloc(NULL, ir->sched_cap * sizeof *ir->uses);
        ir->inner = mem_realloc(NULL, ir->sched_cap);
        ir->temp = mem_realloc(NULL, ir->sched_cap * sizeof *ir->temp);
        ir->depth = mem_realloc(NULL, ir->sched_cap);
        ir->cap_order = ir->sched_cap; /* every node at most once */
        ir->order = mem_realloc(NULL, ir->cap_order * sizeof *ir->order);
        mem_populate(ir->uses, nn * sizeof *ir->uses);
        mem_populate(ir->inner, nn);
        mem_populate(ir->temp, nn * sizeof *ir->temp);
        mem_populate(ir->depth, nn);
    }
    memset(ir->uses, 0, nn * sizeof *ir->uses);
    memset(ir->inner, 0, nn);
    memset(ir->temp, 0, nn * sizeof *ir->temp);
    free(ir->roots);
    ir->roots = mem_realloc(NULL, (n ? n : 1) * sizeof *ir->roots);
    ir->n_roots = n;
    ir->n_order = 0;
    size_t cap_stack = 256, top = 0;
    frame *stack = mem_realloc(NULL, cap_stack * sizeof *stack);
    /* depth first from the roots; a node is reached for the first time
     * when its use count leaves 0 */
    for (size_t i = 0; i < n; i++) {
        cse_ref r = cse_resolve(ir, roots[i]);
        ir->roots[i] = r;
        uint32_t m = CSE_NODE(r);
        if (ir->uses[m]++) continue;
        stack[top++] = (frame){ m, 0 };
        while (top) {
            frame *f = &stack[top - 1];
            cse_node *nd = &ir->nodes[f->node];
            if (f->next < nd->n) {
                size_t at = nd->off + f->next++;
                if (f->next + 3 < nd->n) { /* the items ahead, for wide nodes */
                    uint32_t ahead = CSE_NODE(ir->pool[at + 4]);
                    __builtin_prefetch(&ir->uses[ahead]);
                    __builtin_prefetch(&ir->nodes[ahead]);
                }
                cse_ref r = cse_resolve(ir, ir->pool[at]);
                if (r != ir->pool[at]) cse_set_item(ir, at, r);
                uint32_t c = CSE_NODE(r);
                if (!ir->uses[c]++) {
                    if (top == cap_stack) {
                        cap_stack *= 2;
                        stack = mem_realloc(stack, cap_stack * sizeof *stack);
                    }
                    stack[top++] = (frame){ c, 0 };
                }
                continue;
            }
            uint32_t done = f->node;
            top--;
            if (cse_is_leaf(ir, done)) continue;
            ir->order[ir->n_order++] = done;
        }
    }
    free(stack);

    /* signs, temporaries and inline depth, items first */
    uint8_t *depth = ir->depth; /* written before read, items first */
    size_t n_temps = 0;
    for (size_t k = 0; k < ir->n_order; k++) {
        uint32_t m = ir->order[k];
        const cse_node *nd = &ir->nodes[m];
        const cse_ref *it = cse_items(ir, m);
        if (nd->kind == CK_PROD) {
            unsigned s = 0;
            for (uint32_t i = 0; i < nd->n; i++) s ^= (unsigned)cse_eff_neg(ir, it[i]);
            ir->inner[m] = (uint8_t)s;
        } else if (nd->kind == CK_POWI) {
            ir->inner[m] = (uint8_t)(cse_eff_neg(ir, it[0]) & (int)(nd->aux & 1));
        }
        unsigned d = 0;
        for (uint32_t i = 0; i < nd->n; i++) {
            uint32_t c = CSE_NODE(it[i]);
            if (cse_inline_node(ir, c) && depth[c] > d) d = depth[c];
        }
        d++;
        if (ir->uses[m] >= 2 || d >= CSE_MAX_DEPTH) {
            ir->temp[m] = (uint32_t)++n_temps;
            d = 0;
        }
        depth[m] = (uint8_t)d;
        /* inline sums asked for with a minus (call arguments, outputs)
         * print with their signs flipped: inner bit 2 (items are done) */
        if (nd->kind == CK_CALL)
            for (uint32_t i = 0; i < nd->n; i++) {
                uint32_t c = CSE_NODE(it[i]);
                if (cse_eff_neg(ir, it[i]) && cse_inline_node(ir, c) && ir->kind[c] == CK_SUM) ir->inner[c] |= 2;
            }
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t c = CSE_NODE(ir->roots[i]);
        if (cse_eff_neg(ir, ir->roots[i]) && cse_inline_node(ir, c) && ir->nodes[c].kind == CK_SUM) ir->inner[c] |= 2;
    }

    /* the count */
    uint64_t ops = 0;
    for (size_t k = 0; k < ir->n_order; k++) {
        uint32_t m = ir->order[k];
        const cse_node *nd = &ir->nodes[m];
        ops += node_ops(nd);
        if (nd->kind == CK_SUM) {
            int minus;
            cse_sum_leader(ir, m, (ir->inner[m] >> 1) & 1, &minus);
            ops += (uint64_t)minus;
        } else if (nd->kind == CK_CALL) {
            const cse_ref *it = cse_items(ir, m);
            for (uint32_t i = 0; i < nd->n; i++)
                if (cse_eff_neg(ir, it[i])) ops += (uint64_t)cse_neg_cost(ir, CSE_NODE(it[i]));
        }
    }
    for (size_t i = 0; i < n; i++)
        if (cse_eff_neg(ir, ir->roots[i])) ops += (uint64_t)cse_neg_cost(ir, CSE_NODE(ir->roots[i]));

    ir->sched_valid = 1;
    ir->sched_version = ir->version;
    ir->sched_nodes = ir->n_nodes;
    ir->sched_ops = ops;
    ir->sched_temps = n_temps;
    if (lines) make_lines(ir);
    return ops;
}

/* ---- every output as a tree ---- */

/* tree[m]: ops of node m written out with nothing shared; its negation (what
 * a call argument or an output may ask) costs tree[m] + d with d in -1..1.
 * In a tree every node is inline. Values are released after their last
 * use. Per node: the value, the uses left, the inner sign and d + 1. */
void cse_tree_count(fmpz_t total, cse_ir *ir, const cse_ref *roots, size_t n)
{
    uint32_t nn = ir->n_nodes;
    size_t bytes = (size_t)nn * (sizeof(fmpz) + sizeof(uint32_t) + 1);
    fmpz *tree = cse_scratch(ir, bytes);
    memset(tree, 0, bytes); /* fmpz zero is the word 0 */
    uint32_t *left = (uint32_t *)(tree + nn); /* uses not yet read; > 0 when the roots reach the node */
    uint8_t *bits = (uint8_t *)(left + nn);   /* bit 0 the inner sign, bits 1-2 d + 1 */
    for (size_t i = 0; i < n; i++) left[CSE_NODE(roots[i])]++;
    /* nodes were made items first: a downward sweep counts the uses */
    for (uint32_t m = nn; m-- > 1;) {
        if (!left[m]) continue;
        const cse_node *nd = &ir->nodes[m];
        const cse_ref *it = cse_items(ir, m);
        for (uint32_t i = 0; i < nd->n; i++) {
            HMP_INVARIANT(CSE_NODE(it[i]) < m, "cse", "nodes out of order for the tree count");
            left[CSE_NODE(it[i])]++;
        }
    }
    fmpz_zero(total);
    for (uint32_t m = 1; m < nn; m++) {
        if (!left[m]) continue;
        const cse_node *nd = &ir->nodes[m];
        const cse_ref *it = cse_items(ir, m);
        if (nd->kind == CK_CONST || nd->kind == CK_NINF) { bits[m] = 1 << 1; continue; }
        if (nd->kind == CK_INPUT) { bits[m] = 2 << 1; continue; }
        fmpz_set_ui(&tree[m], node_ops(nd));
        slong extra = 0;
        unsigned s = 0;
        int takes_minus = nd->kind == CK_PROD && nd->nnum == 0;
        int any_pos = 0, any_neg = 0, absorber = 0;
        for (uint32_t i = 0; i < nd->n; i++) {
            uint32_t c = CSE_NODE(it[i]);
            int e = (int)(CSE_NEG(it[i]) ^ (bits[c] & 1u));
            fmpz_add(&tree[m], &tree[m], &tree[c]);
            if (nd->kind == CK_CALL && e) extra += (slong)(bits[c] >> 1) - 1;
            s ^= (unsigned)e;
            if (e) any_neg = 1; else any_pos = 1;
            uint8_t ck = ir->kind[c];
            if (ck == CK_CONST) {
                absorber = 1;
                if (i < nd->nnum) takes_minus = 1;
            } else if (ck == CK_PROD) {
                const cse_node *cn = &ir->nodes[c];
                int t = cn->nnum == 0;
                for (uint32_t j = 0; j < cn->nnum && !t; j++) t = ir->kind[CSE_NODE(cse_items(ir, c)[j])] == CK_CONST;
                absorber |= t;
            }
            if (--left[c] == 0) fmpz_zero(&tree[c]);
        }
        if (extra) fmpz_add_si(&tree[m], &tree[m], extra);
        int d = 0;
        if (nd->kind == CK_SUM) {
            int plus = !any_pos && !absorber, minus = !any_neg && !absorber;
            if (plus) fmpz_add_ui(&tree[m], &tree[m], 1);
            d = minus - plus;
        } else if (!(nd->kind == CK_PROD && takes_minus)) {
            d = 1;
        }
        if (nd->kind == CK_PROD) s &= 1u;
        else if (nd->kind == CK_POWI) s &= nd->aux & 1u;
        else s = 0;
        bits[m] = (uint8_t)(s | (unsigned)(d + 1) << 1);
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t m = CSE_NODE(roots[i]);
        fmpz_add(total, total, &tree[m]);
        if (CSE_NEG(roots[i]) ^ (bits[m] & 1u)) fmpz_add_si(total, total, (slong)(bits[m] >> 1) - 1);
    }
    for (uint32_t m = 0; m < nn; m++) fmpz_zero(&tree[m]);
}

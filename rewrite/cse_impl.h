/* cse_impl: the internal program representation of the cse module, shared by
 * rewrite/cse*.c: hash-consed nodes over signed references, forwarding of
 * rewritten nodes, scheduling into temporaries, and the cost model. */
#ifndef HMP_CSE_IMPL_H
#define HMP_CSE_IMPL_H

#include <stdint.h>
#include <flint/fmpq.h>

#include "core/strbuf.h"
#include "core/term.h"
#include "rewrite/cse.h"

/* A reference: node << 1 | negated. */
typedef uint32_t cse_ref;
#define CSE_REF(node, neg) (((cse_ref)(node) << 1) | (cse_ref)(neg))
#define CSE_NODE(r) ((r) >> 1)
#define CSE_NEG(r) ((r) & 1u)

typedef enum cse_kind {
    CK_INPUT = 1, /* aux: the SYM term */
    CK_CONST,     /* aux: num_id of a value >= 0 */
    CK_SUM,       /* items: signed terms, sorted by node, the first positive */
    CK_PROD,      /* items [0, nnum): numerator, [nnum, n): denominator; built
                     positive (signs go to the reference), sorted by node */
    CK_POWI,      /* items[0] ^ aux, aux >= 2, base built positive */
    CK_CALL,      /* fn(items...): fn a term_op or a CF_ code below; lse
                     is the call OP_LSE of n >= 2 items */
    CK_NINF       /* the constant -inf (a whole value: the store folds or
                     keeps formal every other use, core/term.h) */
} cse_kind;

/* Calls beyond the term ops (term_op values stay below OP_COUNT_). */
enum { CF_SQRT = 64, /* x^(1/2) */
       CF_POWQ       /* x^r, r = aux (a num_id) not an integer and not 1/2 */ };

typedef struct cse_node {
    uint8_t kind, fn;
    uint16_t pad;
    uint32_t aux;
    uint32_t off, n, nnum;
    uint32_t hash;
} cse_node;

/* A node keeps its value once made; a pass that rewrites node P makes the
 * new structure and records fwd[P], which every reader follows
 * (cse_resolve). Items may be replaced in place by the references they
 * resolve to (same values): the schedule does so for what it reaches. */
struct cse_ir {
    term_store *s;
    cse_node *nodes; /* nodes[0] unused */
    uint8_t *kind;   /* kind[n] = nodes[n].kind, compact for item checks */
    cse_ref *fwd;    /* fwd[n] = CSE_REF(n, 0) while n stands for itself */
    uint64_t *fwd_bits; /* bit n: fwd[n] is another node (dense: read first) */
    int forwarded;   /* some node has been forwarded */
    int bulk;        /* sums and products are appended unshared, the table
                        is rebuilt at the end (cse_lower) */
    uint32_t n_nodes, cap_nodes;
    cse_ref *pool;
    size_t n_pool, cap_pool;
    /* The table of nodes by key: open addressing, a slot holds a node id in
     * its low table_bits bits and the low hash bits above them, 0 = empty;
     * a node's home slot is the top table_bits bits of its hash. It holds
     * the nodes that stood for themselves at the last rebuild and every
     * node made since (not those made in bulk until the end). */
    uint32_t *table;
    uint32_t table_mask, table_bits;
    uint64_t *listed; /* bit n: node n is in the table */
    /* in bulk: the other nodes made meanwhile (hash << 32 | id, 0 = empty) */
    uint64_t *side;
    uint32_t *side_ids; /* its nodes in order */
    uint32_t side_mask, n_side;
    /* scratch memory shared by the passes, kept (its pages stay mapped) */
    void *scratch;
    size_t cap_scratch;
    uint64_t version; /* bumped by every forwarding */
    /* the journal (cse_journal_begin): first values of what changed in place */
    int journal, journal_forwarded;
    uint32_t journal_nodes;
    size_t journal_pool;
    struct cse_change { uint32_t at; cse_ref old; } *fwd_log, *pool_log;
    size_t n_fwd_log, cap_fwd_log, n_pool_log, cap_pool_log;
    /* the schedule (cse_schedule) */
    cse_ref *roots;
    size_t n_roots;
    uint32_t *order;  /* reachable compound nodes, each after its items */
    size_t n_order;
    uint32_t *uses;   /* per node: references from reachable nodes and roots */
    uint8_t *inner;   /* per node: bit 0, the sign of its value against what its
                         line computes (products, powers); bit 1, an inline sum
                         printed with its signs flipped */
    uint32_t *temp;   /* per node: 0 inline, else its line (1-based) */
    term_id *temp_name; /* per line: a relation's name (SYM term), or 0 for t<k> */
    uint32_t *temp_number; /* per line: k of t<k> (0 when named) */
    uint32_t *line_node;   /* per line: its node */
    size_t n_lines;
    char *temp_prefix;
    /* scratch of the schedule, kept between schedules */
    uint8_t *depth;
    uint32_t sched_cap;
    size_t cap_order;
    /* the last schedule: valid while no node is made or forwarded */
    int sched_valid;
    uint64_t sched_version, sched_ops;
    uint32_t sched_nodes;
    size_t sched_temps;
};

void cse_ir_init(cse_ir *ir, term_store *s);
/* At least n bytes of scratch (contents undefined), valid until the next
 * call; every pass that needs per-node scratch takes it here. Whoever holds
 * it makes no node meanwhile (a resize of the table takes it too). */
void *cse_scratch(cse_ir *ir, size_t n);
/* Room for `nodes` more nodes with `items` more items (a hint). */
void cse_ir_reserve(cse_ir *ir, size_t nodes, size_t items);
void cse_ir_clear(cse_ir *ir);

/* Between these, sums and products are made without looking for an equal
 * node; the end merges equal nodes (forwarding copies) and rebuilds the
 * table. For passes that make many nodes at once. */
void cse_bulk_begin(cse_ir *ir);
void cse_bulk_end(cse_ir *ir);

static inline const cse_ref *cse_items(const cse_ir *ir, uint32_t n) { return ir->pool + ir->nodes[n].off; }
/* What r stands for now: r followed through the forwarding. */
cse_ref cse_resolve_forwarded(cse_ir *ir, cse_ref r);
/* Node n stands for another. */
static inline int cse_is_forwarded(const cse_ir *ir, uint32_t n) { return (ir->fwd_bits[n >> 6] >> (n & 63)) & 1u; }
static inline cse_ref cse_resolve(cse_ir *ir, cse_ref r)
{
    if (!ir->forwarded || !cse_is_forwarded(ir, CSE_NODE(r))) return r;
    return cse_resolve_forwarded(ir, r);
}
/* Records that node stands for r from now on (unless r is node itself). */
void cse_forward(cse_ir *ir, uint32_t node, cse_ref r);

/* A trial: from begin, what changes in place (forwarding, items resolved)
 * is journaled; undo puts it back as it was at begin (nodes made since
 * stay, standing for themselves), end keeps it. */
void cse_journal_begin(cse_ir *ir);
void cse_journal_undo(cse_ir *ir);
void cse_journal_end(cse_ir *ir);
/* Item at of the pool becomes r (the same value), journaled in a trial. */
void cse_set_item(cse_ir *ir, size_t at, cse_ref r);
/* Frees the lines of the last schedule (per-node arrays stay for reuse). */
void cse_lines_free(cse_ir *ir);

/* Constructors: each resolves its arguments and returns a canonical
 * reference (possibly to an existing node, or to a simpler form). */
cse_ref cse_input(cse_ir *ir, term_id sym);
cse_ref cse_neg_inf(cse_ir *ir);
cse_ref cse_const(cse_ir *ir, const fmpq_t q);
cse_ref cse_sum(cse_ir *ir, const cse_ref *items, size_t n);
cse_ref cse_prod(cse_ir *ir, const cse_ref *num, size_t nn, const cse_ref *den, size_t nd);
/* Fetches ahead the table slot of the product cse_prod would look up (for
 * a run of products made one after another, CSE_PREFETCH_AHEAD at a time:
 * their cache misses overlap). */
#define CSE_PREFETCH_AHEAD 8
void cse_prod_prefetch(cse_ir *ir, const cse_ref *num, size_t nn, const cse_ref *den, size_t nd);
/* out[i] = cse_prod(items + i*k, k, NULL, 0) for i < n, in order, the table
 * slots fetched ahead. */
void cse_prod_run(cse_ref *out, cse_ir *ir, const cse_ref *items, size_t k, size_t n);
cse_ref cse_powi(cse_ir *ir, cse_ref base, uint32_t k);
cse_ref cse_call(cse_ir *ir, unsigned fn, uint32_t aux, const cse_ref *args, size_t n);

/* Lowers roots (terms) into ir: out[i] for roots[i]. memo (size
 * term_count + 1, zeroed) receives the reference of every term lowered. */
void cse_lower(cse_ref *out, cse_ref *memo, cse_ir *ir, const term_id *roots, size_t n);

/* Schedules the program of roots: reachable nodes, uses, signs, and (when
 * lines is set) temporaries. Returns the operation count. */
uint64_t cse_schedule(cse_ir *ir, const cse_ref *roots, size_t n, int lines);
/* Each root written out as a tree (nothing shared), summed, exactly. Nodes
 * must be in the order they were made (right after cse_lower). */
void cse_tree_count(fmpz_t total, cse_ir *ir, const cse_ref *roots, size_t n);

/* The cost model, shared by counting and printing (after cse_schedule). */
int cse_is_leaf(const cse_ir *ir, uint32_t n);
int cse_eff_neg(const cse_ir *ir, cse_ref r);      /* sign the reference applies to the computed value */
int cse_inline_node(const cse_ir *ir, uint32_t n); /* compound and printed in place */
/* How a negation in a context that cannot absorb it (a call argument, an
 * output) is paid: 0 when the node prints it for free, else 1. */
int cse_neg_cost(const cse_ir *ir, uint32_t n);
/* Index of the item a sum leads with in orientation neg, and whether that
 * item is printed with a leading minus that costs one operation. */
uint32_t cse_sum_leader(const cse_ir *ir, uint32_t n, int neg, int *minus_cost);

/* The re-association (rewrite/cse_bilinear.c): sums of products of linear
 * forms and their re-associated forms. */
typedef struct cse_reassoc {
    term_id *from; /* the sums */
    cse_ref *to;   /* what each is re-associated, built in the program */
    size_t n;      /* sums found */
    int64_t delta; /* estimated change of the operation count */
} cse_reassoc;

/* Finds the sums of products of linear forms the roots reach and estimates
 * the change of the operation count their re-association gives (the side
 * that costs less contracted first). When ir is set and the estimate is
 * negative, builds the new sums in ir (memo: term -> reference, grown to the
 * store's size; what they read is lowered). Returns the number of sums. */
size_t cse_bilinear(cse_reassoc *out, term_store *s, const term_id *roots, size_t n, cse_ir *ir, cse_ref **memo,
                    uint32_t *memo_size);
void cse_reassoc_clear(cse_reassoc *r);

#endif

/* cse_impl: the internal program representation of the cse module, shared by
 * rewrite/cse*.c: hash-consed nodes over signed references, forwarding of
 * rewritten nodes, scheduling into temporaries, and the cost model. */
#ifndef HMP_CSE_IMPL_H
#define HMP_CSE_IMPL_H

#include <stdint.h>
#include <flint/fmpq.h>

#include "core/buf.h"
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
    CK_CALL       /* fn(items...): fn a term_op or a CF_ code below */
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
    int forwarded;   /* some node has been forwarded */
    int bulk;        /* sums and products are appended unshared, the table
                        is rebuilt at the end (cse_lower) */
    uint32_t n_nodes, cap_nodes;
    cse_ref *pool;
    size_t n_pool, cap_pool;
    uint64_t *table; /* hash << 32 | node id, 0 = empty */
    uint32_t table_mask;
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
    uint8_t *state, *depth;
    uint32_t sched_cap;
    size_t cap_order;
};

void cse_ir_init(cse_ir *ir, term_store *s);
/* Room for `nodes` more nodes with `items` more items (a hint). */
void cse_ir_reserve(cse_ir *ir, size_t nodes, size_t items);
void cse_ir_clear(cse_ir *ir);

/* Between these, sums and products are made without looking for an equal
 * node; the end merges equal nodes (forwarding copies) and rebuilds the
 * table. For passes that make many nodes at once. */
void cse_bulk_begin(cse_ir *ir);
void cse_bulk_end(cse_ir *ir);

static inline const cse_ref *cse_items(const cse_ir *ir, uint32_t n) { return ir->pool + ir->nodes[n].off; }
cse_ref cse_resolve(cse_ir *ir, cse_ref r);

/* Constructors: each resolves its arguments and returns a canonical
 * reference (possibly to an existing node, or to a simpler form). */
cse_ref cse_input(cse_ir *ir, term_id sym);
cse_ref cse_const(cse_ir *ir, const fmpq_t q);
cse_ref cse_sum(cse_ir *ir, const cse_ref *items, size_t n);
cse_ref cse_prod(cse_ir *ir, const cse_ref *num, size_t nn, const cse_ref *den, size_t nd);
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

/* term: the hash-consed term store. Terms are 32-bit ids into one arena;
 * structurally equal terms get the same id. Constructors only hash-cons and
 * canonicalise cheaply; everything that rewrites lives in rewrite/. */
#ifndef HMP_TERM_H
#define HMP_TERM_H

#include <stddef.h>
#include <stdint.h>
#include "core/num.h"

typedef uint32_t term_id;
#define TERM_NONE ((term_id)0) /* never a valid term */

typedef enum term_op {
    OP_NUM = 1, /* exact rational; payload num_id */
    OP_SYM,     /* symbol (a name); payload sym_id */
    OP_ADD,     /* n-ary sum, n >= 2 */
    OP_MUL,     /* n-ary product, n >= 2 */
    OP_POW,     /* base ^ exponent (exponent any term) */
    OP_EXP,
    OP_LOG,     /* natural logarithm */
    OP_MAX,     /* n-ary, n >= 2 */
    OP_MIN,     /* n-ary, n >= 2 */
    OP_ABS,
    OP_TANH,
    OP_LSE,     /* log-sum-exp, n-ary, n >= 2: log(exp(a_1) + ... + exp(a_n)) */
    OP_NINF,    /* the literal -inf (a masked score); no arguments */
    OP_COUNT_
} term_op;

typedef uint32_t sym_id;

/* One node: 8 bytes, plus its op in a byte array. Compound nodes keep their
 * arguments as a span of the argument pool (a = offset, b = count); NUM keeps
 * a num_id and SYM a sym_id in a. */
typedef struct term_node {
    uint32_t a, b;
} term_node;

typedef struct term_store {
    term_node *nodes;      /* nodes[0] unused (TERM_NONE) */
    uint8_t *ops;          /* ops[id] = term_op | TERM_FLAG_NINF when -inf occurs in the term */
    uint32_t n_nodes, cap_nodes;
    term_id *pool;         /* arguments of compound nodes */
    size_t n_pool, cap_pool;
    uint32_t *table;       /* open addressing: id | high hash bits (a tag), 0 = empty */
    uint32_t table_mask;
    uint32_t id_bits;      /* ids take the low id_bits bits of a slot */
    num_store nums;
    /* symbols: interned names */
    char *names;           /* NUL-terminated names, back to back */
    size_t n_names, cap_names;
    uint32_t *name_off;    /* name_off[sym] = offset in names */
    uint32_t *name_hash;
    uint32_t n_syms, cap_syms;
    uint32_t *sym_table;   /* open addressing, sym + 1, 0 = empty */
    uint32_t sym_table_mask;
    term_id *sym_term;     /* sym_term[sym] = its SYM term */
    /* terms present in every store */
    term_id zero, one, minus_one, half, neg_inf;
} term_store;

/* High bit of ops[id]: the term mentions -inf somewhere (OP_NINF itself, or
 * an argument with the flag). Read it with term_has_ninf; term_op_of masks it. */
#define TERM_FLAG_NINF 0x80u
#define TERM_OP_MASK 0x7fu

/* Invariant relied on everywhere: every argument id is smaller than the id of
 * its parent, so increasing id order is a topological order of any DAG. */

void term_store_init(term_store *s);
void term_store_clear(term_store *s);
/* Makes room for `nodes` more nodes with `args` more arguments in all, so
 * that building them moves and rehashes nothing. A hint: building more is
 * fine. */
void term_store_reserve(term_store *s, size_t nodes, size_t args);

/* ---- constructors: every one returns a canonical term ----
 * Canonical forms (the constructors guarantee them; equal forms <=> equal ids):
 * - ADD: flattened: no argument is a sum, and a number times a sum is
 *   distributed inside a sum (a + 2*(x + y) = a + 2*x + 2*y, so s - s = 0 for
 *   every s; a product c*(x + y) alone stays as it is); like terms collected: each argument is
 *   c*b with c a nonzero rational and b its "base" (the argument without its
 *   numeric coefficient), bases pairwise distinct; a nonzero numeric constant,
 *   if any, comes first; the rest are sorted by base (the ids of the base's
 *   factors, compared length first, then lexicographically). x + x = 2*x,
 *   x - x = 0.
 * - MUL: flattened; a numeric coefficient c != 1, if any, first (c == 0 gives
 *   0: 0*x = 0); the other factors are b or POW(b, e) with e a rational, bases
 *   pairwise distinct and sorted by base id: x*x = x^2, x*x^-1 = 1 (x assumed
 *   nonzero, as the store works on formal expressions).
 * - POW(b, e): e != 0 and e != 1 (x^0 = 1, x assumed nonzero; x^1 = x).
 *   With e an integer: numbers are folded, a product is distributed
 *   ((x*y)^k = x^k*y^k) and nested powers with rational exponent combine
 *   ((x^a)^k = x^(a*k)). A positive rational base with a rational exponent is
 *   reduced to c * b^(r) with 0 < r < 1, and folded when the root is exact
 *   (4^(1/2) = 2, 2^(3/2) = 2*2^(1/2)). sqrt(x) is POW(x, 1/2).
 * - EXP(0) = 1, LOG(1) = 0, TANH(0) = 0, ABS of a number is folded,
 *   ABS(ABS(x)) = ABS(x). Other calls stay formal.
 * - MAX/MIN: flattened, numeric arguments folded into one, duplicates removed,
 *   sorted by id; one argument left gives that argument.
 * - LSE(a_1, ..., a_n) = log(exp(a_1) + ... + exp(a_n)): flattened (an
 *   argument that is itself an LSE contributes its arguments: lse(lse(a, b),
 *   c) = lse(a, b, c)), sorted by id, duplicates KEPT (lse(x, x) = x + log 2
 *   is not x); -inf arguments dropped; one argument left gives that argument,
 *   none left (all were -inf) gives -inf. No numeric folding otherwise
 *   (lse(0, 0) stays: it is log 2).
 * - -inf (OP_NINF, s->neg_inf): the extended real minus infinity, allowed as
 *   a score. Every other term is finite (symbols are formal finite reals).
 *   Folded: exp(-inf) = 0; a sum with a -inf argument and no other argument
 *   that mentions -inf is -inf (x + -inf = -inf, -inf + -inf = -inf);
 *   c * -inf = -inf for a rational c > 0 (the product of exactly c and -inf);
 *   max(-inf, x, ...) = max(x, ...), min(-inf, x, ...) = -inf, and -inf
 *   dropped from lse as above; tanh(-inf) = -1. Everything else that mentions
 *   -inf stays formal and flagged (-1 * -inf, x * -inf, (-inf)^2, log(-inf),
 *   abs(-inf), a sum of -inf and a term flagged -inf, ...): such a term has no
 *   real value and the evaluators report it. A product with coefficient 0 and
 *   a factor flagged -inf is not folded to 0.
 */
term_id term_num(term_store *s, const fmpq_t q);
term_id term_num_si(term_store *s, slong p, slong q); /* p/q, q != 0 */
term_id term_num_id(term_store *s, num_id n);
/* Name of len bytes (not necessarily NUL-terminated, no NUL inside). */
term_id term_sym(term_store *s, const char *name, size_t len);
term_id term_sym_cstr(term_store *s, const char *name);

term_id term_add(term_store *s, const term_id *args, size_t n); /* n = 0 gives 0 */
term_id term_mul(term_store *s, const term_id *args, size_t n); /* n = 0 gives 1 */
term_id term_add2(term_store *s, term_id a, term_id b);
term_id term_mul2(term_store *s, term_id a, term_id b);
term_id term_neg(term_store *s, term_id a);               /* (-1)*a */
term_id term_sub(term_store *s, term_id a, term_id b);    /* a + (-1)*b */
term_id term_div(term_store *s, term_id a, term_id b);    /* a * b^-1 */
term_id term_pow(term_store *s, term_id base, term_id exponent);
term_id term_pow_si(term_store *s, term_id base, slong k);
term_id term_sqrt(term_store *s, term_id a);
term_id term_exp(term_store *s, term_id a);
term_id term_log(term_store *s, term_id a);
term_id term_abs(term_store *s, term_id a);
term_id term_tanh(term_store *s, term_id a);
term_id term_max(term_store *s, const term_id *args, size_t n); /* n >= 1 */
term_id term_min(term_store *s, const term_id *args, size_t n); /* n >= 1 */
term_id term_lse(term_store *s, const term_id *args, size_t n); /* n >= 1 */
term_id term_neg_inf(term_store *s);                            /* s->neg_inf */
/* Generic: op with args, through the matching constructor above. */
term_id term_make(term_store *s, term_op op, const term_id *args, size_t n);

/* ---- accessors ---- */
static inline term_op term_op_of(const term_store *s, term_id t) { return (term_op)(s->ops[t] & TERM_OP_MASK); }
static inline int term_has_ninf(const term_store *s, term_id t) { return (s->ops[t] & TERM_FLAG_NINF) != 0; }
/* The innermost term under t (t flagged with TERM_FLAG_NINF, t != -inf) that
 * mentions -inf and has no value: descends through arguments that mention
 * -inf to a term whose only such argument is -inf itself. Every such term is
 * formal (the constructors fold all that have values). */
term_id term_ninf_site(const term_store *s, term_id t);
/* Why w, a site (term_ninf_site), has no real value: "logarithm of -inf". */
const char *term_ninf_misuse(const term_store *s, term_id w);
static inline uint32_t term_nargs(const term_store *s, term_id t)
{
    uint8_t op = s->ops[t] & TERM_OP_MASK;
    return (op == OP_NUM || op == OP_SYM) ? 0 : s->nodes[t].b;
}
/* Pointer into the pool: valid until the next constructor call. */
static inline const term_id *term_args(const term_store *s, term_id t) { return s->pool + s->nodes[t].a; }
static inline term_id term_arg(const term_store *s, term_id t, uint32_t i) { return s->pool[s->nodes[t].a + i]; }
static inline num_id term_num_of(const term_store *s, term_id t) { return s->nodes[t].a; }
/* Value of a NUM term; valid until the next constructor call. */
static inline const fmpq *term_value(const term_store *s, term_id t) { return num_value(&s->nums, s->nodes[t].a); }
static inline sym_id term_sym_of(const term_store *s, term_id t) { return s->nodes[t].a; }
static inline const char *term_sym_name(const term_store *s, term_id t) { return s->names + s->name_off[s->nodes[t].a]; }
static inline const char *sym_name(const term_store *s, sym_id y) { return s->names + s->name_off[y]; }
static inline uint32_t term_count(const term_store *s) { return s->n_nodes - 1; }

int term_is_num(const term_store *s, term_id t);
int term_is_integer(const term_store *s, term_id t);
/* Splits t into coefficient * base (base = 1 when t is a number). */
void term_split_coeff(num_id *coeff, term_id *base, term_store *s, term_id t);
const char *term_op_name(term_op op); /* "add", "exp", ... */

/* Bytes held by nodes, argument pool and hash table (numbers and names not
 * included; see term_memory_all). */
size_t term_memory(const term_store *s);
size_t term_memory_all(const term_store *s);

/* Marks in mark[] (size term_count(s) + 1, zeroed by the caller) every node
 * reachable from the roots; returns how many were marked. No recursion. */
size_t term_mark_reachable(unsigned char *mark, const term_store *s, const term_id *roots, size_t n);

#endif

/* term: the hash-consed term store and its canonicalising constructors.
 * Nodes live in one arena addressed by 32-bit ids; arguments of compound nodes
 * in one contiguous pool; an open-addressing table finds existing nodes. */
#include "core/term.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS ((uint32_t)1 << 30)
/* Integer powers of numbers are folded only below this many result bits. */
#define POW_FOLD_BITS ((slong)1 << 21) /* ~631,000 digits: stays printable and parsable */
/* Roots b^(p/q) of numbers are looked for only for q up to this. */
#define ROOT_MAX_Q 4096

/* ---- hashing ---- */

static uint32_t hash_leaf(term_op op, uint32_t a)
{
    return (uint32_t)mem_mix64(((uint64_t)op << 40) ^ a);
}

static uint32_t hash_args(term_op op, const term_id *args, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL * (uint64_t)(op + 1) ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ args[i]) * 0x100000001b3ULL + (h >> 29);
    return (uint32_t)mem_mix64(h);
}

/* ---- the table ----
 * A slot holds a node id in its low id_bits bits and the high bits of the
 * node's hash above them, so most mismatches are rejected without touching
 * the node. Ids stay below 2^(id_bits - 1): the table grows at 3/4 load. */

static uint32_t node_hash(const term_store *s, term_id id)
{
    term_op op = term_op_of(s, id);
    const term_node *nd = &s->nodes[id];
    return op == OP_NUM || op == OP_SYM ? hash_leaf(op, nd->a) : hash_args(op, s->pool + nd->a, nd->b);
}

static inline uint32_t tag_mask(const term_store *s)
{
    return s->id_bits >= 32 ? 0 : ~(((uint32_t)1 << s->id_bits) - 1);
}

static void table_put(term_store *s, term_id id, uint32_t h)
{
    uint32_t i = h & s->table_mask;
    while (s->table[i]) i = (i + 1) & s->table_mask;
    s->table[i] = id | (h & tag_mask(s));
}

static void table_resize(term_store *s, uint32_t cap)
{
    free(s->table);
    s->table = mem_calloc(cap, sizeof *s->table);
    mem_populate(s->table, (size_t)cap * sizeof *s->table);
    s->table_mask = cap - 1;
    uint32_t log2cap = 0;
    while (((uint32_t)1 << log2cap) < cap) log2cap++;
    s->id_bits = log2cap + 1;
    for (term_id id = 1; id < s->n_nodes; id++) table_put(s, id, node_hash(s, id));
}

static term_id new_node(term_store *s, term_op op, uint8_t flags, uint32_t hash, uint32_t a, uint32_t b)
{
    if (s->n_nodes == ((uint32_t)1 << 31) - 1) { fputs("hmp: term store full (2^31 nodes)\n", stderr); abort(); }
    if (s->n_nodes == s->cap_nodes) {
        uint64_t cap = (uint64_t)s->cap_nodes + s->cap_nodes / 2;
        if (cap > ((uint64_t)1 << 31)) cap = (uint64_t)1 << 31;
        s->cap_nodes = (uint32_t)cap;
        s->nodes = mem_realloc(s->nodes, (size_t)s->cap_nodes * sizeof *s->nodes);
        s->ops = mem_realloc(s->ops, s->cap_nodes);
    }
    term_id id = s->n_nodes++;
    s->nodes[id].a = a;
    s->nodes[id].b = b;
    s->ops[id] = (uint8_t)(op | flags);
    if ((uint64_t)s->n_nodes * 4 > (uint64_t)(s->table_mask + 1) * 3) table_resize(s, (s->table_mask + 1) * 2);
    else table_put(s, id, hash);
    return id;
}

static term_id intern_leaf(term_store *s, term_op op, uint32_t a)
{
    uint32_t h = hash_leaf(op, a);
    uint32_t tag = h & tag_mask(s), idm = ~tag_mask(s);
    uint32_t i = h & s->table_mask;
    for (uint32_t e; (e = s->table[i]) != 0; i = (i + 1) & s->table_mask) {
        term_id id = e & idm;
        if ((e & ~idm) == tag && term_op_of(s, id) == op && s->nodes[id].a == a) return id;
    }
    return new_node(s, op, 0, h, a, 0);
}

/* args must not point into the pool. */
static term_id intern_args(term_store *s, term_op op, const term_id *args, size_t n)
{
    if (n >= MAX_ARGS) { fputs("hmp: too many arguments in one term\n", stderr); abort(); }
    uint32_t h = hash_args(op, args, n);
    uint32_t tag = h & tag_mask(s), idm = ~tag_mask(s);
    uint32_t i = h & s->table_mask;
    for (uint32_t e; (e = s->table[i]) != 0; i = (i + 1) & s->table_mask) {
        term_id id = e & idm;
        if ((e & ~idm) != tag || term_op_of(s, id) != op) continue;
        const term_node *nd = &s->nodes[id];
        if (nd->b == n && memcmp(s->pool + nd->a, args, n * sizeof *args) == 0) return id;
    }
    if (s->n_pool + n > UINT32_MAX) { fputs("hmp: term store full (argument pool)\n", stderr); abort(); }
    if (s->n_pool + n > s->cap_pool) {
        size_t cap = s->cap_pool + s->cap_pool / 2;
        if (cap < s->n_pool + n) cap = s->n_pool + n;
        s->pool = mem_realloc(s->pool, cap * sizeof *s->pool);
        s->cap_pool = cap;
    }
    uint32_t off = (uint32_t)s->n_pool;
    uint8_t flags = op == OP_NINF ? TERM_FLAG_NINF : 0;
    for (size_t k = 0; k < n; k++) flags |= s->ops[args[k]] & TERM_FLAG_NINF;
    if (n) memcpy(s->pool + off, args, n * sizeof *args);
    s->n_pool += n;
    return new_node(s, op, flags, h, off, (uint32_t)n);
}

/* ---- a small vector of ids on the stack, on the heap when large ---- */

#define LOCAL_IDS 32
typedef struct idvec {
    term_id *v;
    size_t n, cap;
    term_id local[LOCAL_IDS];
} idvec;

static void idvec_init(idvec *x) { x->v = x->local; x->n = 0; x->cap = LOCAL_IDS; }
static void idvec_clear(idvec *x) { if (x->v != x->local) free(x->v); }
static void idvec_reserve(idvec *x, size_t n)
{
    if (n <= x->cap) return;
    size_t cap = x->cap * 2 > n ? x->cap * 2 : n;
    if (x->v == x->local) {
        x->v = mem_realloc(NULL, cap * sizeof *x->v);
        memcpy(x->v, x->local, x->n * sizeof *x->v);
    } else {
        x->v = mem_realloc(x->v, cap * sizeof *x->v);
    }
    x->cap = cap;
}
static void idvec_push(idvec *x, term_id t) { idvec_reserve(x, x->n + 1); x->v[x->n++] = t; }

/* ---- store ---- */

void term_store_init(term_store *s)
{
    memset(s, 0, sizeof *s);
    s->cap_nodes = 1024;
    s->nodes = mem_realloc(NULL, s->cap_nodes * sizeof *s->nodes);
    s->ops = mem_realloc(NULL, s->cap_nodes);
    s->n_nodes = 1; /* id 0 is TERM_NONE */
    memset(&s->nodes[0], 0, sizeof s->nodes[0]);
    s->ops[0] = 0;
    table_resize(s, 2048);
    s->cap_pool = 1024;
    s->pool = mem_realloc(NULL, s->cap_pool * sizeof *s->pool);
    num_store_init(&s->nums);
    s->sym_table_mask = 255;
    s->sym_table = mem_calloc(256, sizeof *s->sym_table);
    s->zero = term_num_id(s, NUM_ZERO);
    s->one = term_num_id(s, NUM_ONE);
    s->minus_one = term_num_id(s, NUM_MINUS_ONE);
    s->half = term_num_si(s, 1, 2);
    term_id none[1] = { TERM_NONE };
    s->neg_inf = intern_args(s, OP_NINF, none, 0);
}

void term_store_reserve(term_store *s, size_t nodes, size_t args)
{
    uint64_t want = (uint64_t)s->n_nodes + nodes;
    if (want > ((uint64_t)1 << 31) - 1) want = ((uint64_t)1 << 31) - 1;
    if (want > s->cap_nodes) {
        uint32_t old = s->cap_nodes;
        s->cap_nodes = (uint32_t)want;
        s->nodes = mem_realloc(s->nodes, (size_t)s->cap_nodes * sizeof *s->nodes);
        s->ops = mem_realloc(s->ops, s->cap_nodes);
        mem_populate(s->nodes + old, (size_t)(s->cap_nodes - old) * sizeof *s->nodes);
        mem_populate(s->ops + old, s->cap_nodes - old);
    }
    if (s->n_pool + args > s->cap_pool && s->n_pool + args <= UINT32_MAX) {
        size_t old = s->cap_pool;
        s->cap_pool = s->n_pool + args;
        s->pool = mem_realloc(s->pool, s->cap_pool * sizeof *s->pool);
        mem_populate(s->pool + old, (s->cap_pool - old) * sizeof *s->pool);
    }
    uint64_t slots = (uint64_t)s->table_mask + 1;
    while (want * 4 > slots * 3 && slots < ((uint64_t)1 << 31)) slots *= 2;
    if (slots > (uint64_t)s->table_mask + 1) table_resize(s, (uint32_t)slots);
}

void term_store_clear(term_store *s)
{
    free(s->nodes);
    free(s->ops);
    free(s->pool);
    free(s->table);
    num_store_clear(&s->nums);
    free(s->names);
    free(s->name_off);
    free(s->name_hash);
    free(s->sym_table);
    free(s->sym_term);
    memset(s, 0, sizeof *s);
}

size_t term_memory(const term_store *s)
{
    return (size_t)s->cap_nodes * (sizeof *s->nodes + 1) + s->cap_pool * sizeof *s->pool +
           (size_t)(s->table_mask + 1) * sizeof *s->table;
}

size_t term_memory_all(const term_store *s)
{
    return term_memory(s) + num_memory(&s->nums) + s->cap_names +
           (size_t)s->cap_syms * (sizeof *s->name_off + sizeof *s->name_hash + sizeof *s->sym_term) +
           (size_t)(s->sym_table_mask + 1) * sizeof *s->sym_table;
}

/* ---- leaves ---- */

term_id term_num_id(term_store *s, num_id n) { return intern_leaf(s, OP_NUM, n); }
term_id term_num(term_store *s, const fmpq_t q) { return term_num_id(s, num_intern(&s->nums, q)); }
term_id term_num_si(term_store *s, slong p, slong q) { return term_num_id(s, num_intern_si(&s->nums, p, q)); }

static uint32_t hash_name(const char *name, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)name[i]) * 0x100000001b3ULL;
    return (uint32_t)mem_mix64(h ^ len);
}

static void sym_table_put(term_store *s, sym_id y)
{
    uint32_t i = s->name_hash[y] & s->sym_table_mask;
    while (s->sym_table[i]) i = (i + 1) & s->sym_table_mask;
    s->sym_table[i] = y + 1;
}

term_id term_sym(term_store *s, const char *name, size_t len)
{
    uint32_t h = hash_name(name, len);
    uint32_t i = h & s->sym_table_mask;
    for (uint32_t e; (e = s->sym_table[i]) != 0; i = (i + 1) & s->sym_table_mask) {
        sym_id y = e - 1;
        const char *nm = s->names + s->name_off[y];
        if (s->name_hash[y] == h && strncmp(nm, name, len) == 0 && nm[len] == '\0') return s->sym_term[y];
    }
    if (s->n_syms == s->cap_syms) {
        s->cap_syms = s->cap_syms ? s->cap_syms + s->cap_syms / 2 : 256;
        s->name_off = mem_realloc(s->name_off, s->cap_syms * sizeof *s->name_off);
        s->name_hash = mem_realloc(s->name_hash, s->cap_syms * sizeof *s->name_hash);
        s->sym_term = mem_realloc(s->sym_term, s->cap_syms * sizeof *s->sym_term);
    }
    if (s->n_names + len + 1 > UINT32_MAX) { fputs("hmp: too many names\n", stderr); abort(); }
    if (s->n_names + len + 1 > s->cap_names) {
        size_t cap = s->cap_names ? s->cap_names + s->cap_names / 2 : 4096;
        if (cap < s->n_names + len + 1) cap = s->n_names + len + 1;
        s->names = mem_realloc(s->names, cap);
        s->cap_names = cap;
    }
    sym_id y = s->n_syms++;
    s->name_off[y] = (uint32_t)s->n_names;
    memcpy(s->names + s->n_names, name, len);
    s->names[s->n_names + len] = '\0';
    s->n_names += len + 1;
    s->name_hash[y] = h;
    if ((uint64_t)s->n_syms * 4 > (uint64_t)(s->sym_table_mask + 1) * 3) {
        uint32_t cap = (s->sym_table_mask + 1) * 2;
        free(s->sym_table);
        s->sym_table = mem_calloc(cap, sizeof *s->sym_table);
        s->sym_table_mask = cap - 1;
        for (sym_id k = 0; k < s->n_syms; k++) sym_table_put(s, k);
    } else {
        sym_table_put(s, y);
    }
    s->sym_term[y] = intern_leaf(s, OP_SYM, y);
    return s->sym_term[y];
}

term_id term_sym_cstr(term_store *s, const char *name) { return term_sym(s, name, strlen(name)); }

/* ---- queries ---- */

int term_is_num(const term_store *s, term_id t) { return term_op_of(s, t) == OP_NUM; }

int term_is_integer(const term_store *s, term_id t)
{
    return term_op_of(s, t) == OP_NUM && num_is_integer(&s->nums, term_num_of(s, t));
}

void term_split_coeff(num_id *coeff, term_id *base, term_store *s, term_id t)
{
    if (term_op_of(s, t) == OP_NUM) { *coeff = term_num_of(s, t); *base = s->one; return; }
    if (term_op_of(s, t) == OP_MUL && term_op_of(s, term_arg(s, t, 0)) == OP_NUM) {
        uint32_t n = term_nargs(s, t);
        *coeff = term_num_of(s, term_arg(s, t, 0));
        if (n == 2) { *base = term_arg(s, t, 1); return; }
        idvec f;
        idvec_init(&f);
        idvec_reserve(&f, n - 1);
        memcpy(f.v, term_args(s, t) + 1, (n - 1) * sizeof *f.v);
        *base = intern_args(s, OP_MUL, f.v, n - 1);
        idvec_clear(&f);
        return;
    }
    *coeff = NUM_ONE;
    *base = t;
}

const char *term_op_name(term_op op)
{
    static const char *names[OP_COUNT_] = { "none", "num", "sym", "add", "mul", "pow",
                                            "exp", "log", "max", "min", "abs", "tanh",
                                            "lse", "ninf" };
    return (unsigned)op < OP_COUNT_ ? names[op] : "?";
}

/* ---- -inf (core/term.h): only the folds that hold in the extended reals;
 * every other term that mentions -inf is kept formal, its arguments as given
 * but sorted by id, so that it is still hash-consed deterministically. */

static int cmp_ids(const void *x, const void *y)
{
    term_id a = *(const term_id *)x, b = *(const term_id *)y;
    return (a > b) - (a < b);
}

static int any_ninf(const term_store *s, const term_id *args, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (term_has_ninf(s, args[i])) return 1;
    return 0;
}

static term_id formal_sorted(term_store *s, term_op op, const term_id *args, size_t n)
{
    idvec v;
    idvec_init(&v);
    idvec_reserve(&v, n);
    memcpy(v.v, args, n * sizeof *args);
    qsort(v.v, n, sizeof *v.v, cmp_ids);
    term_id t = intern_args(s, op, v.v, n);
    idvec_clear(&v);
    return t;
}

/* A sum with an argument that mentions -inf. */
static term_id add_ninf(term_store *s, const term_id *args, size_t n)
{
    int inf = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        if (args[i] == s->neg_inf) inf = 1;
        else if (term_has_ninf(s, args[i])) other = 1;
    }
    if (inf && !other) return s->neg_inf; /* x + -inf = -inf, x finite */
    idvec v;
    idvec_init(&v);
    idvec_reserve(&v, n);
    for (size_t i = 0; i < n; i++)
        if (args[i] != s->zero) v.v[v.n++] = args[i];
    term_id t = v.n == 1 ? v.v[0] : formal_sorted(s, OP_ADD, v.v, v.n);
    idvec_clear(&v);
    return t;
}

/* A product with an argument that mentions -inf. */
static term_id mul_ninf(term_store *s, const term_id *args, size_t n)
{
    int sign = 1;
    size_t inf = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        if (term_op_of(s, args[i]) == OP_NUM) sign *= fmpq_sgn(term_value(s, args[i]));
        else if (args[i] == s->neg_inf) inf++;
        else other++;
    }
    if (inf == 1 && other == 0 && sign > 0) return s->neg_inf; /* c * -inf = -inf, c > 0 */
    idvec v;
    idvec_init(&v);
    idvec_reserve(&v, n);
    for (size_t i = 0; i < n; i++)
        if (args[i] != s->one) v.v[v.n++] = args[i];
    term_id t = v.n == 1 ? v.v[0] : formal_sorted(s, OP_MUL, v.v, v.n);
    idvec_clear(&v);
    return t;
}

term_id term_neg_inf(term_store *s) { return s->neg_inf; }

/* ---- sums ---- */

/* A summand c*b: b is the span pool[off .. off+len) or, when single != 0,
 * the one term single. */
typedef struct summand {
    num_id coeff;
    term_id single;
    uint32_t off, len;
    term_id orig; /* the term c*b itself while c is unchanged, else 0 */
} summand;

static inline const term_id *summand_base(const term_store *s, const summand *m)
{
    return m->single ? &m->single : s->pool + m->off;
}

static int summand_cmp(const term_store *s, const summand *x, const summand *y)
{
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    const term_id *a = summand_base(s, x), *b = summand_base(s, y);
    for (uint32_t i = 0; i < x->len; i++)
        if (a[i] != b[i]) return a[i] < b[i] ? -1 : 1;
    return 0;
}

/* Stable merge sort (deterministic; n is often small). */
static void summand_sort(const term_store *s, summand *v, summand *tmp, size_t n)
{
    if (n < 2) return;
    if (n <= 12) {
        for (size_t i = 1; i < n; i++) {
            summand x = v[i];
            size_t j = i;
            while (j > 0 && summand_cmp(s, &v[j - 1], &x) > 0) { v[j] = v[j - 1]; j--; }
            v[j] = x;
        }
        return;
    }
    size_t h = n / 2;
    summand_sort(s, v, tmp, h);
    summand_sort(s, v + h, tmp, n - h);
    if (summand_cmp(s, &v[h - 1], &v[h]) <= 0) return;
    memcpy(tmp, v, h * sizeof *v);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) v[k++] = summand_cmp(s, &v[j], &tmp[i]) < 0 ? v[j++] : tmp[i++];
    while (i < h) v[k++] = tmp[i++];
}

static void summand_of(summand *m, const term_store *s, term_id t)
{
    m->orig = t;
    if (term_op_of(s, t) == OP_MUL) {
        const term_node *nd = &s->nodes[t];
        term_id first = s->pool[nd->a];
        if (term_op_of(s, first) == OP_NUM) {
            m->coeff = term_num_of(s, first);
            m->single = nd->b == 2 ? s->pool[nd->a + 1] : 0;
            m->off = nd->a + 1;
            m->len = nd->b - 1;
        } else {
            m->coeff = NUM_ONE;
            m->single = 0;
            m->off = nd->a;
            m->len = nd->b;
        }
    } else {
        m->coeff = NUM_ONE;
        m->single = t;
        m->off = 0;
        m->len = 1;
    }
}

/* The term c*b of a summand (b's factors are canonical and coefficient-free). */
static term_id summand_term(term_store *s, const summand *m)
{
    if (m->orig) return m->orig;
    if (m->coeff == NUM_ONE && m->single) return m->single;
    idvec f;
    idvec_init(&f);
    idvec_reserve(&f, m->len + 1);
    if (m->coeff != NUM_ONE) f.v[f.n++] = term_num_id(s, m->coeff);
    memcpy(f.v + f.n, summand_base(s, m), m->len * sizeof *f.v);
    f.n += m->len;
    term_id t = intern_args(s, OP_MUL, f.v, f.n);
    idvec_clear(&f);
    return t;
}

/* t = c*(sum): a MUL of a number and one sum. */
static int is_scaled_sum(const term_store *s, term_id t)
{
    return term_nargs(s, t) == 2 && term_op_of(s, term_arg(s, t, 0)) == OP_NUM && term_op_of(s, term_arg(s, t, 1)) == OP_ADD;
}

term_id term_add(term_store *s, const term_id *args, size_t n)
{
    if (any_ninf(s, args, n)) return add_ninf(s, args, n);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        term_id t = args[i];
        if (term_op_of(s, t) == OP_MUL && is_scaled_sum(s, t)) t = term_arg(s, t, 1);
        total += term_op_of(s, t) == OP_ADD ? term_nargs(s, t) : 1;
    }
    summand local[LOCAL_IDS], *v = total <= LOCAL_IDS / 2 ? local : mem_realloc(NULL, 2 * total * sizeof *v);
    summand *tmp = v + total;
    size_t m = 0;
    fmpq_t constant;
    int have_constant = 0;
    fmpq_init(constant);
    fmpq_t scaled;
    fmpq_init(scaled);
    for (size_t i = 0; i < n; i++) {
        term_id t = args[i];
        const fmpq *scale = NULL; /* c when t = c*(sum), flattened as c*x + c*y */
        if (term_op_of(s, t) == OP_MUL && is_scaled_sum(s, t)) {
            scale = term_value(s, term_arg(s, t, 0));
            t = term_arg(s, t, 1);
        }
        size_t k = 1;
        const term_id *ts = &args[i];
        if (term_op_of(s, t) == OP_ADD) { k = term_nargs(s, t); ts = term_args(s, t); }
        for (size_t j = 0; j < k; j++) {
            term_id u = ts[j];
            if (term_op_of(s, u) == OP_NUM) {
                if (term_num_of(s, u) == NUM_ZERO) continue;
                if (scale) fmpq_addmul(constant, term_value(s, u), scale);
                else fmpq_add(constant, constant, term_value(s, u));
                have_constant = 1;
            } else {
                summand_of(&v[m], s, u);
                if (scale) {
                    fmpq_mul(scaled, num_value(&s->nums, v[m].coeff), scale);
                    v[m].coeff = num_intern(&s->nums, scaled);
                    v[m].orig = 0;
                    scale = term_value(s, term_arg(s, args[i], 0)); /* interning may move values */
                }
                m++;
            }
        }
    }
    fmpq_clear(scaled);
    summand_sort(s, v, tmp, m);
    /* collect like terms: x + x = 2*x */
    size_t w = 0;
    fmpq_t c;
    fmpq_init(c);
    for (size_t i = 0; i < m;) {
        size_t j = i + 1;
        while (j < m && summand_cmp(s, &v[i], &v[j]) == 0) j++;
        summand x = v[i];
        if (j > i + 1) {
            fmpq_zero(c);
            for (size_t k = i; k < j; k++) fmpq_add(c, c, num_value(&s->nums, v[k].coeff));
            x.coeff = num_intern(&s->nums, c);
            x.orig = 0;
        }
        if (x.coeff != NUM_ZERO) v[w++] = x;
        i = j;
    }
    fmpq_clear(c);
    term_id result;
    num_id cid = have_constant ? num_intern(&s->nums, constant) : NUM_ZERO;
    fmpq_clear(constant);
    if (w == 0) {
        result = term_num_id(s, cid);
    } else if (w == 1 && cid == NUM_ZERO) {
        result = summand_term(s, &v[0]);
    } else {
        idvec out;
        idvec_init(&out);
        idvec_reserve(&out, w + 1);
        if (cid != NUM_ZERO) out.v[out.n++] = term_num_id(s, cid);
        for (size_t i = 0; i < w; i++) out.v[out.n++] = summand_term(s, &v[i]);
        result = intern_args(s, OP_ADD, out.v, out.n);
        idvec_clear(&out);
    }
    if (v != local) free(v);
    return result;
}

/* ---- products ---- */

typedef struct factor {
    term_id base;
    num_id expo;
    term_id orig; /* the factor b^e itself */
} factor;

static void factor_sort(factor *v, factor *tmp, size_t n)
{
    if (n < 2) return;
    if (n <= 12) {
        for (size_t i = 1; i < n; i++) {
            factor x = v[i];
            size_t j = i;
            while (j > 0 && v[j - 1].base > x.base) { v[j] = v[j - 1]; j--; }
            v[j] = x;
        }
        return;
    }
    size_t h = n / 2;
    factor_sort(v, tmp, h);
    factor_sort(v + h, tmp, n - h);
    if (v[h - 1].base <= v[h].base) return;
    memcpy(tmp, v, h * sizeof *v);
    size_t i = 0, j = h, k = 0;
    while (i < h && j < n) v[k++] = v[j].base < tmp[i].base ? v[j++] : tmp[i++];
    while (i < h) v[k++] = tmp[i++];
}

static term_id pow_num(term_store *s, term_id base, num_id e);

term_id term_mul(term_store *s, const term_id *args, size_t n)
{
    if (any_ninf(s, args, n)) return mul_ninf(s, args, n);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += term_op_of(s, args[i]) == OP_MUL ? term_nargs(s, args[i]) : 1;
    factor local[LOCAL_IDS], *v = total <= LOCAL_IDS / 2 ? local : mem_realloc(NULL, 2 * total * sizeof *v);
    factor *tmp = v + total;
    size_t m = 0;
    fmpq_t coeff;
    fmpq_init(coeff);
    fmpq_one(coeff);
    for (size_t i = 0; i < n; i++) {
        term_id t = args[i];
        size_t k = 1;
        const term_id *ts = &args[i];
        if (term_op_of(s, t) == OP_MUL) { k = term_nargs(s, t); ts = term_args(s, t); }
        for (size_t j = 0; j < k; j++) {
            term_id u = ts[j];
            if (term_op_of(s, u) == OP_NUM) {
                if (term_num_of(s, u) != NUM_ONE) fmpq_mul(coeff, coeff, term_value(s, u));
            } else if (term_op_of(s, u) == OP_POW && term_op_of(s, term_arg(s, u, 1)) == OP_NUM) {
                v[m].base = term_arg(s, u, 0);
                v[m].orig = u;
                v[m++].expo = term_num_of(s, term_arg(s, u, 1));
            } else {
                v[m].base = u;
                v[m].orig = u;
                v[m++].expo = NUM_ONE;
            }
        }
    }
    term_id result;
    if (fmpq_is_zero(coeff)) { /* 0*x = 0 */
        result = s->zero;
        goto done;
    }
    factor_sort(v, tmp, m);
    /* collect like factors: x*x = x^2, x*x^-1 = 1 */
    idvec out;
    idvec_init(&out);
    idvec_reserve(&out, m + 1);
    out.n = 1; /* slot for the coefficient */
    fmpq_t e;
    fmpq_init(e);
    for (size_t i = 0; i < m;) {
        size_t j = i + 1;
        while (j < m && v[j].base == v[i].base) j++;
        num_id expo = v[i].expo;
        term_id orig = j == i + 1 && term_op_of(s, v[i].base) != OP_NUM ? v[i].orig : TERM_NONE;
        if (j > i + 1) {
            fmpq_zero(e);
            for (size_t k = i; k < j; k++) fmpq_add(e, e, num_value(&s->nums, v[k].expo));
            expo = num_intern(&s->nums, e);
        }
        term_id base = v[i].base;
        i = j;
        if (expo == NUM_ZERO) continue; /* x^0 = 1, x assumed nonzero */
        /* an unmerged factor over a non-number is canonical as it is */
        term_id f = orig ? orig : pow_num(s, base, expo);
        /* a number's power may fold to a number or to c * b^r */
        if (term_op_of(s, f) == OP_NUM) {
            fmpq_mul(coeff, coeff, term_value(s, f));
        } else if (term_op_of(s, f) == OP_MUL) {
            uint32_t fn = term_nargs(s, f);
            for (uint32_t k = 0; k < fn; k++) {
                term_id g = term_arg(s, f, k);
                if (term_op_of(s, g) == OP_NUM) fmpq_mul(coeff, coeff, term_value(s, g));
                else out.v[out.n++] = g;
            }
        } else {
            out.v[out.n++] = f;
        }
    }
    fmpq_clear(e);
    if (fmpq_is_zero(coeff)) {
        result = s->zero;
    } else if (out.n == 1) {
        result = term_num(s, coeff);
    } else if (fmpq_is_one(coeff)) {
        result = out.n == 2 ? out.v[1] : intern_args(s, OP_MUL, out.v + 1, out.n - 1);
    } else {
        out.v[0] = term_num(s, coeff);
        result = intern_args(s, OP_MUL, out.v, out.n);
    }
    idvec_clear(&out);
done:
    fmpq_clear(coeff);
    if (v != local) free(v);
    return result;
}

term_id term_add2(term_store *s, term_id a, term_id b) { return term_add(s, (term_id[]){ a, b }, 2); }
term_id term_mul2(term_store *s, term_id a, term_id b) { return term_mul(s, (term_id[]){ a, b }, 2); }
term_id term_neg(term_store *s, term_id a) { return term_mul2(s, s->minus_one, a); }
term_id term_sub(term_store *s, term_id a, term_id b) { return term_add2(s, a, term_neg(s, b)); }
term_id term_div(term_store *s, term_id a, term_id b) { return term_mul2(s, a, term_pow_si(s, b, -1)); }

/* ---- powers ---- */

/* q = b^k exactly, when the result stays below POW_FOLD_BITS; 0 if too big. */
static int fmpq_pow_bounded(fmpq_t q, const fmpq_t b, slong k)
{
    slong bits = fmpz_bits(fmpq_numref(b)) + fmpz_bits(fmpq_denref(b));
    slong ak = k < 0 ? -k : k;
    if (ak > 0 && bits > POW_FOLD_BITS / ak) return 0;
    if (k < 0 && fmpq_is_zero(b)) return 0;
    fmpq_pow_si(q, b, k);
    return 1;
}

/* r = x^(1/q) when x >= 0 is an exact q-th power. */
static int fmpz_exact_root(fmpz_t r, const fmpz_t x, ulong q)
{
    fmpz_t c;
    fmpz_init(c);
    fmpz_root(r, x, (slong)q);
    fmpz_pow_ui(c, r, q);
    int ok = fmpz_equal(c, x);
    fmpz_clear(c);
    return ok;
}

static term_id pow_raw(term_store *s, term_id base, term_id e)
{
    return intern_args(s, OP_POW, (term_id[]){ base, e }, 2);
}

/* base ^ e with e a rational (as a num_id). */
static term_id pow_num(term_store *s, term_id base, num_id e)
{
    if (term_has_ninf(s, base)) /* (-inf)^k stays formal; x^1 = x */
        return e == NUM_ONE ? base : intern_args(s, OP_POW, (term_id[]){ base, term_num_id(s, e) }, 2);
    if (e == NUM_ZERO) return s->one; /* x^0 = 1, x assumed nonzero */
    if (e == NUM_ONE) return base;
    if (base == s->one) return s->one;
    const fmpq *ev = num_value(&s->nums, e);
    int e_int = fmpz_is_one(fmpq_denref(ev));
    term_op bop = term_op_of(s, base);
    if (bop == OP_NUM) {
        fmpq_t b, r;
        fmpq_init(b);
        fmpq_init(r);
        fmpq_set(b, term_value(s, base));
        term_id result = TERM_NONE;
        if (e_int) {
            if (fmpz_fits_si(fmpq_numref(ev)) && fmpq_pow_bounded(r, b, fmpz_get_si(fmpq_numref(ev))))
                result = term_num(s, r);
        } else if (fmpq_sgn(b) == 0) {
            if (fmpq_sgn(ev) > 0) result = s->zero;
        } else if (fmpq_sgn(b) > 0 && fmpz_fits_si(fmpq_numref(ev)) && fmpz_cmp_ui(fmpq_denref(ev), ROOT_MAX_Q) <= 0) {
            /* b^(p/q) = b^k * b^(r/q), k = floor(p/q), 0 < r < q */
            slong p = fmpz_get_si(fmpq_numref(ev));
            slong q = fmpz_get_si(fmpq_denref(ev));
            slong k = p >= 0 ? p / q : -((-p + q - 1) / q);
            slong rr = p - k * q;
            fmpq_t ipart, root;
            fmpq_init(ipart);
            fmpq_init(root);
            if (fmpq_pow_bounded(ipart, b, k)) {
                term_id frac;
                if (fmpz_exact_root(fmpq_numref(root), fmpq_numref(b), (ulong)q) &&
                    fmpz_exact_root(fmpq_denref(root), fmpq_denref(b), (ulong)q)) {
                    fmpq_pow_si(root, root, rr); /* exact root: fold */
                    fmpq_mul(ipart, ipart, root);
                    frac = s->one;
                } else {
                    frac = pow_raw(s, base, term_num_id(s, num_intern_si(&s->nums, rr, q)));
                }
                term_id c = term_num(s, ipart);
                result = frac == s->one ? c : fmpq_is_one(ipart) ? frac : intern_args(s, OP_MUL, (term_id[]){ c, frac }, 2);
            }
            fmpq_clear(ipart);
            fmpq_clear(root);
        }
        fmpq_clear(b);
        fmpq_clear(r);
        return result ? result : pow_raw(s, base, term_num_id(s, e));
    }
    if (e_int && bop == OP_MUL) { /* (x*y)^k = x^k * y^k */
        uint32_t n = term_nargs(s, base);
        idvec f;
        idvec_init(&f);
        idvec_reserve(&f, n);
        for (uint32_t i = 0; i < n; i++) f.v[i] = term_arg(s, base, i);
        for (uint32_t i = 0; i < n; i++) f.v[i] = pow_num(s, f.v[i], e);
        term_id t = term_mul(s, f.v, n);
        idvec_clear(&f);
        return t;
    }
    if (e_int && bop == OP_POW && term_op_of(s, term_arg(s, base, 1)) == OP_NUM) { /* (x^a)^k = x^(a*k) */
        fmpq_t ae;
        fmpq_init(ae);
        fmpq_mul(ae, term_value(s, term_arg(s, base, 1)), ev);
        num_id ne = num_intern(&s->nums, ae);
        fmpq_clear(ae);
        return pow_num(s, term_arg(s, base, 0), ne);
    }
    return pow_raw(s, base, term_num_id(s, e));
}

term_id term_pow(term_store *s, term_id base, term_id exponent)
{
    if (term_has_ninf(s, exponent)) return intern_args(s, OP_POW, (term_id[]){ base, exponent }, 2);
    if (term_op_of(s, exponent) == OP_NUM) return pow_num(s, base, term_num_of(s, exponent));
    if (base == s->one) return s->one;
    return pow_raw(s, base, exponent);
}

term_id term_pow_si(term_store *s, term_id base, slong k) { return pow_num(s, base, num_intern_si(&s->nums, k, 1)); }
term_id term_sqrt(term_store *s, term_id a) { return term_pow(s, a, s->half); }

/* ---- calls ---- */

term_id term_exp(term_store *s, term_id a)
{
    if (a == s->neg_inf) return s->zero; /* exp(-inf) = 0 */
    return a == s->zero ? s->one : intern_args(s, OP_EXP, &a, 1);
}
term_id term_log(term_store *s, term_id a) { return a == s->one ? s->zero : intern_args(s, OP_LOG, &a, 1); }
term_id term_tanh(term_store *s, term_id a)
{
    if (a == s->neg_inf) return s->minus_one; /* tanh(-inf) = -1 */
    return a == s->zero ? s->zero : intern_args(s, OP_TANH, &a, 1);
}

term_id term_abs(term_store *s, term_id a)
{
    if (term_op_of(s, a) == OP_NUM) {
        if (fmpq_sgn(term_value(s, a)) >= 0) return a;
        fmpq_t q;
        fmpq_init(q);
        fmpq_neg(q, term_value(s, a));
        term_id t = term_num(s, q);
        fmpq_clear(q);
        return t;
    }
    if (term_op_of(s, a) == OP_ABS) return a;
    return intern_args(s, OP_ABS, &a, 1);
}

static int id_cmp(const void *x, const void *y)
{
    term_id a = *(const term_id *)x, b = *(const term_id *)y;
    return (a > b) - (a < b);
}

static term_id minmax(term_store *s, term_op op, const term_id *args, size_t n)
{
    idvec v;
    idvec_init(&v);
    term_id best = TERM_NONE; /* the numeric argument kept */
    for (size_t i = 0; i < n; i++) {
        size_t k = 1;
        const term_id *ts = &args[i];
        if (term_op_of(s, args[i]) == op) { k = term_nargs(s, args[i]); ts = term_args(s, args[i]); }
        for (size_t j = 0; j < k; j++) {
            term_id u = ts[j];
            if (u == s->neg_inf) { /* max(-inf, x) = x, min(-inf, x) = -inf */
                if (op == OP_MIN) { idvec_clear(&v); return s->neg_inf; }
                continue;
            }
            if (term_op_of(s, u) == OP_NUM) {
                int c = best ? fmpq_cmp(term_value(s, u), term_value(s, best)) : 0;
                if (!best || (op == OP_MAX ? c > 0 : c < 0)) best = u;
            } else {
                idvec_push(&v, u);
            }
        }
    }
    if (best) idvec_push(&v, best);
    if (v.n == 0) { idvec_clear(&v); return s->neg_inf; } /* max(-inf, -inf) */
    qsort(v.v, v.n, sizeof *v.v, id_cmp);
    size_t w = 0;
    for (size_t i = 0; i < v.n; i++)
        if (w == 0 || v.v[w - 1] != v.v[i]) v.v[w++] = v.v[i];
    term_id t = w == 1 ? v.v[0] : intern_args(s, op, v.v, w);
    idvec_clear(&v);
    return t;
}

term_id term_max(term_store *s, const term_id *args, size_t n) { return minmax(s, OP_MAX, args, n); }
term_id term_min(term_store *s, const term_id *args, size_t n) { return minmax(s, OP_MIN, args, n); }

term_id term_lse(term_store *s, const term_id *args, size_t n)
{
    idvec v;
    idvec_init(&v);
    for (size_t i = 0; i < n; i++) {
        size_t k = 1;
        const term_id *ts = &args[i];
        if (term_op_of(s, args[i]) == OP_LSE) { k = term_nargs(s, args[i]); ts = term_args(s, args[i]); }
        for (size_t j = 0; j < k; j++)
            if (ts[j] != s->neg_inf) idvec_push(&v, ts[j]); /* exp(-inf) adds 0 */
    }
    term_id t;
    if (v.n == 0) t = s->neg_inf;
    else if (v.n == 1) t = v.v[0];
    else {
        qsort(v.v, v.n, sizeof *v.v, id_cmp); /* duplicates kept: lse(x, x) = x + log 2 */
        t = intern_args(s, OP_LSE, v.v, v.n);
    }
    idvec_clear(&v);
    return t;
}

term_id term_make(term_store *s, term_op op, const term_id *args, size_t n)
{
    switch (op) {
    case OP_ADD: return term_add(s, args, n);
    case OP_MUL: return term_mul(s, args, n);
    case OP_POW: return term_pow(s, args[0], args[1]);
    case OP_EXP: return term_exp(s, args[0]);
    case OP_LOG: return term_log(s, args[0]);
    case OP_ABS: return term_abs(s, args[0]);
    case OP_TANH: return term_tanh(s, args[0]);
    case OP_MAX: return term_max(s, args, n);
    case OP_MIN: return term_min(s, args, n);
    case OP_LSE: return term_lse(s, args, n);
    case OP_NINF: return s->neg_inf;
    default: break;
    }
    fprintf(stderr, "hmp: term_make: op %d is not compound\n", (int)op);
    abort();
}

size_t term_mark_reachable(unsigned char *mark, const term_store *s, const term_id *roots, size_t n)
{
    term_id top = 0;
    for (size_t i = 0; i < n; i++) {
        if (roots[i] == TERM_NONE) continue;
        mark[roots[i]] = 1;
        if (roots[i] > top) top = roots[i];
    }
    size_t count = 0;
    /* parents have larger ids than their arguments: one downward sweep */
    for (term_id t = top; t >= 1; t--) {
        if (!mark[t]) continue;
        count++;
        term_op op = term_op_of(s, t);
        if (op == OP_NUM || op == OP_SYM) continue;
        const term_node *nd = &s->nodes[t];
        for (uint32_t i = 0; i < nd->b; i++) mark[s->pool[nd->a + i]] = 1;
    }
    return count;
}

term_id term_ninf_site(const term_store *s, term_id t)
{
    for (;;) {
        uint32_t n = term_nargs(s, t);
        const term_id *a = term_args(s, t);
        term_id next = TERM_NONE;
        for (uint32_t i = 0; i < n && next == TERM_NONE; i++)
            if (a[i] != s->neg_inf && term_has_ninf(s, a[i])) next = a[i];
        if (next == TERM_NONE) return t;
        t = next;
    }
}

const char *term_ninf_misuse(const term_store *s, term_id w)
{
    switch (term_op_of(s, w)) {
    case OP_LOG: return "logarithm of -inf";
    case OP_ABS: return "absolute value of -inf";
    case OP_MUL: return "-inf times a factor that is not a positive rational";
    case OP_POW: return term_has_ninf(s, term_arg(s, w, 0)) ? "power of -inf" : "-inf in an exponent";
    case OP_ADD: return "-inf in a sum with no value";
    default: return "-inf where a real number is needed";
    }
}

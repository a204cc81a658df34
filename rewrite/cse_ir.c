/* cse_ir: the program representation of cse: hash-consed nodes over signed
 * references, changes journaled in a trial, and the lowering of terms into
 * them (the cost model and the schedule are in cse_schedule.c). */
#include "rewrite/cse_impl.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/mem.h"
#include "core/vec.h"

/* Integer powers of constants are folded only below this many bits. */
#define CSE_FOLD_BITS 4096

/* ---- a vector of references, on the stack while small ---- */

#define LOCAL_REFS 16
typedef struct refvec {
    cse_ref *v;
    size_t n, cap;
    cse_ref local[LOCAL_REFS];
} refvec;

static void rv_init(refvec *x) { x->v = x->local; x->n = 0; x->cap = LOCAL_REFS; }
static void rv_clear(refvec *x) { if (x->v != x->local) free(x->v); }
static void rv_push(refvec *x, cse_ref r)
{
    if (x->n == x->cap) {
        size_t cap = x->cap * 2;
        if (x->v == x->local) {
            x->v = mem_realloc(NULL, cap * sizeof *x->v);
            memcpy(x->v, x->local, x->n * sizeof *x->v);
        } else {
            x->v = mem_realloc(x->v, cap * sizeof *x->v);
        }
        x->cap = cap;
    }
    x->v[x->n++] = r;
}

static int ref_cmp(const void *a, const void *b)
{
    cse_ref x = *(const cse_ref *)a, y = *(const cse_ref *)b;
    return (x > y) - (x < y);
}

static void sort_refs(cse_ref *v, size_t n)
{
    size_t k = 1;
    while (k < n && v[k - 1] <= v[k]) k++;
    if (k >= n) return;
    if (n > 32) { qsort(v, n, sizeof *v, ref_cmp); return; }
    for (size_t i = 1; i < n; i++) {
        cse_ref x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) { v[j] = v[j - 1]; j--; }
        v[j] = x;
    }
}

/* ---- the store ---- */


/* Room for cap nodes. */
static void nodes_grow(cse_ir *ir, uint32_t cap)
{
    size_t words = ((size_t)ir->cap_nodes + 63) / 64, new_words = ((size_t)cap + 63) / 64;
    uint32_t old = ir->cap_nodes;
    ir->cap_nodes = cap;
    ir->nodes = mem_realloc(ir->nodes, (size_t)cap * sizeof *ir->nodes);
    ir->fwd = mem_realloc(ir->fwd, (size_t)cap * sizeof *ir->fwd);
    ir->kind = mem_realloc(ir->kind, cap);
    ir->fwd_bits = mem_realloc(ir->fwd_bits, new_words * sizeof *ir->fwd_bits);
    memset(ir->fwd_bits + words, 0, (new_words - words) * sizeof *ir->fwd_bits);
    ir->listed = mem_realloc(ir->listed, new_words * sizeof *ir->listed);
    memset(ir->listed + words, 0, (new_words - words) * sizeof *ir->listed);
    mem_populate(ir->nodes + old, (size_t)(cap - old) * sizeof *ir->nodes);
    mem_populate(ir->fwd + old, (size_t)(cap - old) * sizeof *ir->fwd);
    mem_populate(ir->kind + old, cap - old);
}

void cse_ir_init(cse_ir *ir, term_store *s)
{
    memset(ir, 0, sizeof *ir);
    ir->s = s;
    nodes_grow(ir, 1024);
    ir->kind[0] = 0;
    memset(&ir->nodes[0], 0, sizeof ir->nodes[0]);
    ir->fwd[0] = 0;
    ir->n_nodes = 1;
    ir->cap_pool = 4096;
    ir->pool = mem_realloc(NULL, ir->cap_pool * sizeof *ir->pool);
    ir->table_bits = 11;
    ir->table_mask = 2047;
    ir->table = mem_calloc(ir->table_mask + 1, sizeof *ir->table);
}

void *cse_scratch(cse_ir *ir, size_t n)
{
    if (n > ir->cap_scratch) {
        size_t cap = ir->cap_scratch + ir->cap_scratch / 2;
        if (cap < n) cap = n;
        ir->scratch = mem_realloc(ir->scratch, cap);
        mem_populate((char *)ir->scratch + ir->cap_scratch, cap - ir->cap_scratch);
        ir->cap_scratch = cap;
    }
    return ir->scratch;
}

/* Frees the lines of the last schedule (per-node arrays stay for reuse). */
void cse_lines_free(cse_ir *ir)
{
    free(ir->temp_name);
    free(ir->temp_number);
    free(ir->line_node);
    ir->temp_name = NULL;
    ir->temp_number = NULL;
    ir->line_node = NULL;
    ir->n_lines = 0;
}

void cse_ir_clear(cse_ir *ir)
{
    cse_lines_free(ir);
    free(ir->roots);
    free(ir->order);
    free(ir->uses);
    free(ir->inner);
    free(ir->temp);
    free(ir->depth);
    free(ir->nodes);
    free(ir->kind);
    free(ir->fwd);
    free(ir->fwd_bits);
    free(ir->listed);
    free(ir->pool);
    free(ir->table);
    free(ir->side);
    free(ir->side_ids);
    free(ir->scratch);
    free(ir->fwd_log);
    free(ir->pool_log);
    free(ir->temp_prefix);
    memset(ir, 0, sizeof *ir);
}

static uint32_t key_hash(unsigned kind, unsigned fn, uint32_t aux, uint32_t nnum, const cse_ref *items, size_t n)
{
    uint64_t h = mem_mix64(((uint64_t)kind << 56) ^ ((uint64_t)fn << 48) ^ ((uint64_t)nnum << 32) ^ aux) ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ items[i]) * 0x100000001b3ULL + (h >> 29);
    return (uint32_t)mem_mix64(h);
}

/* ---- changes in place, journaled in a trial ---- */

/* fwd[n] = r, its bit kept: set when n stands for something else. */
static void fwd_store(cse_ir *ir, uint32_t n, cse_ref r)
{
    ir->fwd[n] = r;
    uint64_t bit = (uint64_t)1 << (n & 63);
    if (r == CSE_REF(n, 0)) ir->fwd_bits[n >> 6] &= ~bit;
    else ir->fwd_bits[n >> 6] |= bit;
}

static void log_change(struct cse_change **log, size_t *n, size_t *cap, uint32_t at, cse_ref old)
{
    VEC_PUSH(*log, *n, *cap, ((struct cse_change){ at, old }));
}

static void set_fwd(cse_ir *ir, uint32_t n, cse_ref r)
{
    if (ir->journal && n < ir->journal_nodes) log_change(&ir->fwd_log, &ir->n_fwd_log, &ir->cap_fwd_log, n, ir->fwd[n]);
    fwd_store(ir, n, r);
}

void cse_set_item(cse_ir *ir, size_t at, cse_ref r)
{
    if (ir->journal && at < ir->journal_pool)
        log_change(&ir->pool_log, &ir->n_pool_log, &ir->cap_pool_log, (uint32_t)at, ir->pool[at]);
    ir->pool[at] = r;
}

void cse_journal_begin(cse_ir *ir)
{
    ir->journal = 1;
    ir->journal_nodes = ir->n_nodes;
    ir->journal_pool = ir->n_pool;
    ir->n_fwd_log = ir->n_pool_log = 0;
    ir->journal_forwarded = ir->forwarded;
}

void cse_journal_end(cse_ir *ir)
{
    ir->journal = 0;
    free(ir->fwd_log);
    free(ir->pool_log);
    ir->fwd_log = ir->pool_log = NULL;
    ir->n_fwd_log = ir->n_pool_log = ir->cap_fwd_log = ir->cap_pool_log = 0;
}

void cse_journal_undo(cse_ir *ir)
{
    for (size_t k = ir->n_fwd_log; k-- > 0;) fwd_store(ir, ir->fwd_log[k].at, ir->fwd_log[k].old);
    for (size_t k = ir->n_pool_log; k-- > 0;) ir->pool[ir->pool_log[k].at] = ir->pool_log[k].old;
    for (uint32_t k = ir->journal_nodes; k < ir->n_nodes; k++) fwd_store(ir, k, CSE_REF(k, 0));
    ir->forwarded = ir->journal_forwarded;
    ir->version++;
    cse_journal_end(ir);
}

/* ---- the table ----
 * Among nodes of equal hash, the one found first is the one made first
 * (insertion in order of ids, or of hash then id): lookups do not depend
 * on when the table was resized. */

/* A slot's content for node id of hash h: the tag (low bits of h) above
 * the id. */
static uint32_t table_entry(const cse_ir *ir, uint32_t h, uint32_t id)
{
    return ((h & ((1u << (32 - ir->table_bits)) - 1)) << ir->table_bits) | id;
}

static void table_put(cse_ir *ir, uint32_t id, uint32_t h)
{
    uint32_t i = h >> (32 - ir->table_bits);
    while (ir->table[i]) i = (i + 1) & ir->table_mask;
    ir->table[i] = table_entry(ir, h, id);
}

static int bit_of(const uint64_t *bits, uint32_t n) { return (int)((bits[n >> 6] >> (n & 63)) & 1u); }

/* Bytes nodes_by_hash needs. */
static size_t by_hash_bytes(const cse_ir *ir) { return 2 * (size_t)ir->n_nodes * sizeof(uint64_t) + 2049 * sizeof(uint32_t); }

/* (hash << 32 | id) of every node that stands for itself (live) or of every
 * node in the table (!live), sorted by hash then id: three stable counting
 * passes of 11, 11 and 10 bits (sequential reads, few write streams). In
 * buf (by_hash_bytes). */
static uint64_t *nodes_by_hash(void *buf, size_t *count, const cse_ir *ir, int live)
{
    size_t n = 0, nn = ir->n_nodes;
    uint64_t *a = buf, *b = a + nn;
    uint32_t *cnt = (uint32_t *)(b + nn);
    const uint64_t *bits = live ? ir->fwd_bits : ir->listed;
    for (uint32_t id = 1; id < ir->n_nodes; id++)
        if (bit_of(bits, id) != live) a[n++] = ((uint64_t)ir->nodes[id].hash << 32) | id;
    for (int shift = 32; shift < 64; shift += 11) {
        memset(cnt, 0, 2049 * sizeof *cnt);
        for (size_t k = 0; k < n; k++) cnt[((a[k] >> shift) & 2047) + 1]++;
        for (size_t d = 0; d < 2048; d++) cnt[d + 1] += cnt[d];
        for (size_t k = 0; k < n; k++) b[cnt[(a[k] >> shift) & 2047]++] = a[k];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    *count = n;
    return a;
}

/* The table made again with `slots` slots (a power of two, at least 1024
 * and more than every id) and the nodes hs[0 .. n) (sorted by hash, so by
 * home slot: the writes sweep the table once). */
static void table_fill(cse_ir *ir, uint64_t slots, const uint64_t *hs, size_t n)
{
    if (slots == (uint64_t)ir->table_mask + 1) {
        memset(ir->table, 0, slots * sizeof *ir->table); /* its pages are mapped already */
    } else {
        free(ir->table);
        ir->table = mem_calloc(slots, sizeof *ir->table);
        mem_populate(ir->table, slots * sizeof *ir->table);
        ir->table_mask = (uint32_t)(slots - 1);
        ir->table_bits = 0;
        while (((uint64_t)1 << ir->table_bits) < slots) ir->table_bits++;
    }
    for (size_t k = 0; k < n; k++) table_put(ir, (uint32_t)hs[k], (uint32_t)(hs[k] >> 32));
}

/* Slots for n nodes with room to grow by half before the next resize. */
static uint64_t table_slots(uint64_t n)
{
    uint64_t slots = 1024;
    while (n * 2 > slots && slots < ((uint64_t)1 << 31)) slots *= 2;
    return slots;
}

/* More than 7/8 of the slots would be taken by n nodes: with 4-byte slots
 * and tags, probing stays within a cache line or two up to there. */
static int table_full(const cse_ir *ir, uint64_t n) { return n * 8 > ((uint64_t)ir->table_mask + 1) * 7; }

/* The table at least `slots` large, with the same nodes. Uses the scratch:
 * no pass holds it while it makes nodes. */
static void table_resize(cse_ir *ir, uint64_t slots)
{
    size_t n;
    const uint64_t *hs = nodes_by_hash(cse_scratch(ir, by_hash_bytes(ir)), &n, ir, 0);
    table_fill(ir, slots, hs, n);
}

/* In bulk: the other nodes made meanwhile, in a small table of their own. */
static void side_put(cse_ir *ir, uint32_t id, uint32_t h)
{
    uint32_t i = h & ir->side_mask;
    while (ir->side[i]) i = (i + 1) & ir->side_mask;
    ir->side[i] = ((uint64_t)h << 32) | id;
}

static void side_add(cse_ir *ir, uint32_t id, uint32_t h)
{
    if ((uint64_t)(ir->n_side + 1) * 4 > (uint64_t)(ir->side_mask + 1) * 3) {
        uint32_t cap = ir->side_mask ? 2 * (ir->side_mask + 1) : 1024;
        free(ir->side);
        ir->side = mem_calloc(cap, sizeof *ir->side);
        ir->side_mask = cap - 1;
        /* put again in order of ids: nodes of equal hash keep their order */
        for (uint32_t k = 0; k < ir->n_side; k++) side_put(ir, ir->side_ids[k], ir->nodes[ir->side_ids[k]].hash);
        ir->side_ids = mem_realloc(ir->side_ids, cap * sizeof *ir->side_ids);
    }
    side_put(ir, id, h);
    ir->side_ids[ir->n_side++] = id;
}

/* The node of the side table with this key, or 0. */
static uint32_t side_find(const cse_ir *ir, uint32_t h, unsigned kind, unsigned fn, uint32_t aux, uint32_t nnum,
                          const cse_ref *items, size_t n)
{
    if (!ir->side) return 0;
    for (uint32_t i = h & ir->side_mask; ir->side[i]; i = (i + 1) & ir->side_mask) {
        uint64_t e = ir->side[i];
        if ((uint32_t)(e >> 32) != h) continue;
        const cse_node *nd = &ir->nodes[(uint32_t)e];
        if (nd->kind == kind && nd->fn == fn && nd->aux == aux && nd->nnum == nnum && nd->n == n &&
            (n == 0 || memcmp(ir->pool + nd->off, items, n * sizeof *items) == 0))
            return (uint32_t)e;
    }
    return 0;
}

/* The node with this key, made if new. items must not point into the pool. */
static uint32_t intern(cse_ir *ir, unsigned kind, unsigned fn, uint32_t aux, uint32_t nnum, const cse_ref *items, size_t n)
{
    HMP_INVARIANT(n < ((size_t)1 << 31), "cse", "too many items in one node");
    uint32_t h = key_hash(kind, fn, aux, nnum, items, n);
    int bulk = ir->bulk && (kind == CK_SUM || kind == CK_PROD);
    if (!bulk) {
        uint32_t idmask = (1u << ir->table_bits) - 1, tag = table_entry(ir, h, 0);
        for (uint32_t i = h >> (32 - ir->table_bits), e; (e = ir->table[i]) != 0; i = (i + 1) & ir->table_mask) {
            if ((e & ~idmask) != tag) continue;
            uint32_t id = e & idmask;
            const cse_node *nd = &ir->nodes[id];
            if (nd->hash == h && nd->kind == kind && nd->fn == fn && nd->aux == aux && nd->nnum == nnum && nd->n == n &&
                (n == 0 || memcmp(ir->pool + nd->off, items, n * sizeof *items) == 0))
                return id;
        }
        uint32_t id = ir->bulk ? side_find(ir, h, kind, fn, aux, nnum, items, n) : 0;
        if (id) return id;
    }
    HMP_INVARIANT(ir->n_nodes < ((uint32_t)1 << 30), "cse", "too many nodes");
    if (ir->n_nodes == ir->cap_nodes) nodes_grow(ir, ir->cap_nodes + ir->cap_nodes / 2);
    if (ir->n_pool + n > ir->cap_pool) {
        size_t cap = ir->cap_pool + ir->cap_pool / 2;
        if (cap < ir->n_pool + n) cap = ir->n_pool + n;
        ir->pool = mem_realloc(ir->pool, cap * sizeof *ir->pool);
        mem_populate(ir->pool + ir->cap_pool, (cap - ir->cap_pool) * sizeof *ir->pool);
        ir->cap_pool = cap;
    }
    HMP_INVARIANT(ir->n_pool + n <= UINT32_MAX, "cse", "item pool full");
    uint32_t id = ir->n_nodes++;
    cse_node *nd = &ir->nodes[id];
    nd->kind = (uint8_t)kind;
    ir->kind[id] = (uint8_t)kind;
    nd->fn = (uint8_t)fn;
    nd->pad = 0;
    nd->aux = aux;
    nd->off = (uint32_t)ir->n_pool;
    nd->n = (uint32_t)n;
    nd->nnum = nnum;
    nd->hash = h;
    if (n) memcpy(ir->pool + ir->n_pool, items, n * sizeof *items);
    ir->n_pool += n;
    ir->fwd[id] = CSE_REF(id, 0);
    if (bulk) return id;
    if (ir->bulk) {
        side_add(ir, id, h);
        return id;
    }
    if (table_full(ir, ir->n_nodes)) table_resize(ir, 2 * ((uint64_t)ir->table_mask + 1));
    table_put(ir, id, h);
    ir->listed[id >> 6] |= (uint64_t)1 << (id & 63);
    return id;
}

void cse_ir_reserve(cse_ir *ir, size_t nodes, size_t items)
{
    size_t want = (size_t)ir->n_nodes + nodes;
    if (want > ((size_t)1 << 30)) want = (size_t)1 << 30;
    if (want > ir->cap_nodes) nodes_grow(ir, (uint32_t)want);
    if (ir->n_pool + items > ir->cap_pool && ir->n_pool + items <= UINT32_MAX) {
        ir->cap_pool = ir->n_pool + items;
        ir->pool = mem_realloc(ir->pool, ir->cap_pool * sizeof *ir->pool);
    }
    if (ir->n_pool + items <= ir->cap_pool) mem_populate(ir->pool + ir->n_pool, items * sizeof *ir->pool);
    if (ir->bulk) return; /* the table is made at the end */
    uint64_t slots = (uint64_t)ir->table_mask + 1;
    while ((uint64_t)want * 8 > slots * 7 && slots < ((uint64_t)1 << 31)) slots *= 2;
    if (slots > (uint64_t)ir->table_mask + 1) table_resize(ir, slots);
}

/* After a bulk lowering: two terms may have given equal nodes (x*y and
 * -x*y, x - y and y - x): each later copy is forwarded to the first, items
 * are resolved and hashed again, until no copy is left (parents of copies
 * become copies in the next round). Returns the nodes that stand for
 * themselves by hash (nodes_by_hash) when the last round left them so, or
 * NULL. */
static const uint64_t *dedupe(cse_ir *ir, size_t *count)
{
    for (int round = 0; round < 8; round++) {
        /* items change only by forwarding: hashes made without it stand */
        for (uint32_t id = 1; ir->forwarded && id < ir->n_nodes; id++) {
            if (ir->fwd[id] != CSE_REF(id, 0)) continue;
            cse_node *nd = &ir->nodes[id];
            cse_ref *it = ir->pool + nd->off;
            for (uint32_t i = 0; i < nd->n; i++) {
                cse_ref r = cse_resolve(ir, it[i]);
                if (r != it[i]) cse_set_item(ir, nd->off + i, r);
            }
            nd->hash = key_hash(nd->kind, nd->fn, nd->aux, nd->nnum, it, nd->n);
        }
        size_t n;
        const uint64_t *hs = nodes_by_hash(cse_scratch(ir, by_hash_bytes(ir)), &n, ir, 1);
        size_t copies = 0;
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && (hs[j] >> 32) == (hs[i] >> 32)) j++;
            for (size_t a = i; a + 1 < j; a++) {
                uint32_t ia = (uint32_t)hs[a];
                const cse_node *x = &ir->nodes[ia];
                if (ir->fwd[ia] != CSE_REF(ia, 0)) continue;
                for (size_t b = a + 1; b < j; b++) {
                    uint32_t ib = (uint32_t)hs[b];
                    const cse_node *y = &ir->nodes[ib];
                    if (ir->fwd[ib] != CSE_REF(ib, 0) || x->kind != y->kind || x->fn != y->fn || x->aux != y->aux ||
                        x->nnum != y->nnum || x->n != y->n ||
                        memcmp(ir->pool + x->off, ir->pool + y->off, x->n * sizeof(cse_ref)) != 0)
                        continue;
                    uint32_t keep = ia < ib ? ia : ib, drop = ia ^ ib ^ keep;
                    set_fwd(ir, drop, CSE_REF(keep, 0));
                    ir->forwarded = 1;
                    ir->version++;
                    copies++;
                    if (drop == ia) break;
                }
            }
            i = j;
        }
        if (!copies) {
            *count = n;
            return hs;
        }
    }
    return NULL;
}

cse_ref cse_resolve_forwarded(cse_ir *ir, cse_ref r)
{
    uint32_t n = CSE_NODE(r);
    cse_ref cur = r;
    for (int steps = 0; ir->fwd[CSE_NODE(cur)] != CSE_REF(CSE_NODE(cur), 0); steps++) {
        HMP_INVARIANT(steps < (1 << 30), "cse", "forwarding cycle");
        cur = ir->fwd[CSE_NODE(cur)] ^ CSE_NEG(cur);
    }
    if (ir->fwd[n] != (cur ^ CSE_NEG(r))) set_fwd(ir, n, cur ^ CSE_NEG(r)); /* path compression: +n stands for this */
    return cur;
}

void cse_forward(cse_ir *ir, uint32_t node, cse_ref r)
{
    r = cse_resolve(ir, r);
    if (CSE_NODE(r) == node) return;
    set_fwd(ir, node, r);
    ir->forwarded = 1;
    ir->version++;
}

void cse_bulk_begin(cse_ir *ir)
{
    ir->bulk = 1;
    ir->n_side = 0;
}

/* The table is made again with the nodes that stand for themselves. */
void cse_bulk_end(cse_ir *ir)
{
    ir->bulk = 0;
    free(ir->side);
    free(ir->side_ids);
    ir->side = NULL;
    ir->side_ids = NULL;
    ir->side_mask = 0;
    ir->n_side = 0;
    size_t n;
    const uint64_t *hs = dedupe(ir, &n);
    if (!hs) hs = nodes_by_hash(cse_scratch(ir, by_hash_bytes(ir)), &n, ir, 1);
    table_fill(ir, table_slots(ir->n_nodes), hs, n);
    size_t words = ((size_t)ir->n_nodes + 63) / 64; /* the live nodes are listed */
    for (size_t w = 0; w < words; w++) ir->listed[w] = ~ir->fwd_bits[w];
    if (ir->n_nodes & 63) ir->listed[words - 1] &= ((uint64_t)1 << (ir->n_nodes & 63)) - 1;
}

/* ---- constructors ---- */

cse_ref cse_input(cse_ir *ir, term_id sym) { return CSE_REF(intern(ir, CK_INPUT, 0, sym, 0, NULL, 0), 0); }

cse_ref cse_neg_inf(cse_ir *ir) { return CSE_REF(intern(ir, CK_NINF, 0, 0, 0, NULL, 0), 0); }

cse_ref cse_const(cse_ir *ir, const fmpq_t q)
{
    fmpq_t a;
    fmpq_init(a);
    fmpq_abs(a, q);
    int neg = fmpq_sgn(q) < 0;
    num_id id = num_intern(&ir->s->nums, a);
    fmpq_clear(a);
    return CSE_REF(intern(ir, CK_CONST, 0, id, 0, NULL, 0), neg);
}

static const fmpq *const_value(const cse_ir *ir, uint32_t n) { return num_value(&ir->s->nums, ir->nodes[n].aux); }

static cse_ref const_si(cse_ir *ir, slong v)
{
    fmpq_t q;
    fmpq_init(q);
    fmpq_set_si(q, v, 1);
    cse_ref r = cse_const(ir, q);
    fmpq_clear(q);
    return r;
}

cse_ref cse_sum(cse_ir *ir, const cse_ref *items, size_t n)
{
    refvec v;
    rv_init(&v);
    fmpq_t c;
    fmpq_init(c);
    int have_const = 0;
    for (size_t i = 0; i < n; i++) {
        cse_ref r = cse_resolve(ir, items[i]);
        uint32_t m = CSE_NODE(r);
        if (ir->kind[m] == CK_CONST) {
            if (CSE_NEG(r)) fmpq_sub(c, c, const_value(ir, m));
            else fmpq_add(c, c, const_value(ir, m));
            have_const = 1;
        } else {
            rv_push(&v, r);
        }
    }
    /* merge repeated nodes: x + x = 2*x, x - x = 0 (repeat: a merge may
     * produce a node present already) */
    for (int again = 1; again;) {
        again = 0;
        sort_refs(v.v, v.n);
        size_t w = 0;
        for (size_t i = 0; i < v.n;) {
            size_t j = i;
            slong net = 0;
            while (j < v.n && CSE_NODE(v.v[j]) == CSE_NODE(v.v[i])) net += CSE_NEG(v.v[j++]) ? -1 : 1;
            uint32_t m = CSE_NODE(v.v[i]);
            i = j;
            if (net == 1 || net == -1) {
                v.v[w++] = CSE_REF(m, net < 0);
            } else if (net != 0) {
                cse_ref k = const_si(ir, net < 0 ? -net : net), x = CSE_REF(m, 0);
                v.v[w++] = cse_prod(ir, (cse_ref[]){ k, x }, 2, NULL, 0) ^ (cse_ref)(net < 0);
                again = 1;
            }
        }
        v.n = w;
    }
    if (have_const && !fmpq_is_zero(c)) {
        rv_push(&v, cse_const(ir, c));
        sort_refs(v.v, v.n);
    }
    fmpq_clear(c);
    cse_ref out;
    if (v.n == 0) {
        out = const_si(ir, 0);
    } else if (v.n == 1) {
        out = v.v[0];
    } else {
        cse_ref neg = CSE_NEG(v.v[0]);
        if (neg)
            for (size_t i = 0; i < v.n; i++) v.v[i] ^= 1;
        out = CSE_REF(intern(ir, CK_SUM, 0, 0, 0, v.v, v.n), neg);
    }
    rv_clear(&v);
    return out;
}

/* A factor base^expo of a product. */
typedef struct factor {
    uint32_t base;
    int64_t expo;
} factor;

static int factor_cmp(const void *a, const void *b)
{
    const factor *x = a, *y = b;
    return (x->base > y->base) - (x->base < y->base);
}

/* base^e for a merged exponent e (any size): a POWI, or a general power. */
static cse_ref power_of(cse_ir *ir, uint32_t base, int64_t e)
{
    if (e == 1) return CSE_REF(base, 0);
    if (e < ((int64_t)1 << 31)) return cse_powi(ir, CSE_REF(base, 0), (uint32_t)e);
    fmpq_t q;
    fmpq_init(q);
    fmpz_set_si(fmpq_numref(q), e);
    num_id id = num_intern(&ir->s->nums, q);
    fmpq_clear(q);
    cse_ref b = CSE_REF(base, 0);
    return cse_call(ir, CF_POWQ, id, &b, 1);
}

/* The product of nn >= 2 factors when they are distinct nodes, neither
 * numbers nor powers (what cse_prod makes of them: the nodes sorted, the
 * signs moved out), written into v; 0 when not. */
static int plain_product(cse_ref *v, cse_ref *sign, cse_ir *ir, const cse_ref *num, size_t nn)
{
    *sign = 0;
    for (size_t i = 0; i < nn; i++) {
        cse_ref r = cse_resolve(ir, num[i]);
        uint8_t k = ir->kind[CSE_NODE(r)];
        if (k == CK_CONST || k == CK_POWI) return 0;
        *sign ^= CSE_NEG(r);
        cse_ref x = r & ~1u;
        size_t j = i;
        while (j > 0 && v[j - 1] > x) { v[j] = v[j - 1]; j--; }
        if (j > 0 && v[j - 1] == x) return 0;
        v[j] = x;
    }
    return 1;
}

void cse_prod_prefetch(cse_ir *ir, const cse_ref *num, size_t nn, const cse_ref *den, size_t nd)
{
    (void)den;
    if (ir->bulk || nd != 0 || nn > LOCAL_REFS) return;
    /* factors 1 and -1 leave the key as it is */
    cse_ref f[LOCAL_REFS], v[LOCAL_REFS], sign;
    size_t k = 0;
    for (size_t i = 0; i < nn; i++) {
        uint32_t x = CSE_NODE(num[i]);
        if (ir->kind[x] != CK_CONST || !fmpq_is_one(const_value(ir, x))) f[k++] = num[i];
    }
    if (k < 2 || !plain_product(v, &sign, ir, f, k)) return;
    uint32_t h = key_hash(CK_PROD, 0, 0, (uint32_t)k, v, k);
    __builtin_prefetch(&ir->table[h >> (32 - ir->table_bits)]);
}

void cse_prod_run(cse_ref *out, cse_ir *ir, const cse_ref *items, size_t k, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i % CSE_PREFETCH_AHEAD == 0)
            for (size_t a = i; a < n && a < i + CSE_PREFETCH_AHEAD; a++) cse_prod_prefetch(ir, items + a * k, k, NULL, 0);
        out[i] = cse_prod(ir, items + i * k, k, NULL, 0);
    }
}

cse_ref cse_prod(cse_ir *ir, const cse_ref *num, size_t nn, const cse_ref *den, size_t nd)
{
    if (nd == 0 && nn >= 2 && nn <= LOCAL_REFS) {
        cse_ref v[LOCAL_REFS], sign;
        if (plain_product(v, &sign, ir, num, nn)) return CSE_REF(intern(ir, CK_PROD, 0, 0, (uint32_t)nn, v, nn), sign);
    }
    factor local[LOCAL_REFS], *f = nn + nd <= LOCAL_REFS ? local : mem_realloc(NULL, (nn + nd) * sizeof *f);
    size_t m = 0;
    cse_ref sign = 0;
    fmpq_t c;
    fmpq_init(c);
    fmpq_one(c);
    int zero_den = 0;
    for (size_t i = 0; i < nn + nd; i++) {
        int in_den = i >= nn;
        cse_ref r = cse_resolve(ir, in_den ? den[i - nn] : num[i]);
        uint32_t x = CSE_NODE(r);
        sign ^= CSE_NEG(r);
        if (ir->kind[x] == CK_CONST) {
            const fmpq *v = const_value(ir, x);
            if (!in_den) fmpq_mul(c, c, v);
            else if (fmpq_is_zero(v)) zero_den = 1; /* kept formal: x/0 */
            else fmpq_div(c, c, v);
            continue;
        }
        int64_t e = 1;
        if (ir->kind[x] == CK_POWI) {
            cse_ref b = cse_resolve(ir, cse_items(ir, x)[0]);
            e = ir->nodes[x].aux;
            if (CSE_NEG(b) && (e & 1)) sign ^= 1;
            x = CSE_NODE(b);
        }
        f[m].base = x;
        f[m++].expo = in_den ? -e : e;
    }
    cse_ref out;
    if (fmpq_is_zero(c)) {
        out = const_si(ir, 0);
        goto done;
    }
    if (m > 32) qsort(f, m, sizeof *f, factor_cmp);
    else
        for (size_t i = 1; i < m; i++) {
            factor x = f[i];
            size_t j = i;
            while (j > 0 && f[j - 1].base > x.base) { f[j] = f[j - 1]; j--; }
            f[j] = x;
        }
    refvec vn, vd;
    rv_init(&vn);
    rv_init(&vd);
    if (!fmpq_is_one(c)) rv_push(&vn, cse_const(ir, c));
    if (zero_den) rv_push(&vd, const_si(ir, 0));
    for (size_t i = 0; i < m;) {
        size_t j = i;
        int64_t e = 0;
        while (j < m && f[j].base == f[i].base) e += f[j++].expo;
        uint32_t b = f[i].base;
        i = j;
        if (e > 0) rv_push(&vn, power_of(ir, b, e));
        else if (e < 0) rv_push(&vd, power_of(ir, b, -e));
    }
    for (size_t i = 0; i < vn.n; i++) { sign ^= CSE_NEG(vn.v[i]); vn.v[i] &= ~1u; }
    for (size_t i = 0; i < vd.n; i++) { sign ^= CSE_NEG(vd.v[i]); vd.v[i] &= ~1u; }
    sort_refs(vn.v, vn.n);
    sort_refs(vd.v, vd.n);
    if (vn.n + vd.n == 0) {
        out = const_si(ir, 1) ^ sign;
    } else if (vd.n == 0 && vn.n == 1) {
        out = vn.v[0] ^ sign;
    } else {
        size_t total = vn.n + vd.n;
        refvec all;
        rv_init(&all);
        for (size_t i = 0; i < vn.n; i++) rv_push(&all, vn.v[i]);
        for (size_t i = 0; i < vd.n; i++) rv_push(&all, vd.v[i]);
        out = CSE_REF(intern(ir, CK_PROD, 0, 0, (uint32_t)vn.n, all.v, total), sign);
        rv_clear(&all);
    }
    rv_clear(&vn);
    rv_clear(&vd);
done:
    fmpq_clear(c);
    if (f != local) free(f);
    return out;
}

cse_ref cse_powi(cse_ir *ir, cse_ref base, uint32_t k)
{
    cse_ref b = cse_resolve(ir, base);
    cse_ref sign = CSE_NEG(b) && (k & 1);
    uint32_t x = CSE_NODE(b);
    if (k == 0) return const_si(ir, 1);
    if (k == 1) return CSE_REF(x, sign);
    if (ir->nodes[x].kind == CK_CONST) {
        const fmpq *v = const_value(ir, x);
        slong bits = fmpz_bits(fmpq_numref(v)) + fmpz_bits(fmpq_denref(v));
        if (bits * (slong)k <= CSE_FOLD_BITS || fmpq_is_zero(v) || fmpq_is_one(v)) {
            fmpq_t q;
            fmpq_init(q);
            fmpq_pow_si(q, v, (slong)k);
            cse_ref r = cse_const(ir, q) ^ sign;
            fmpq_clear(q);
            return r;
        }
    }
    cse_ref item = CSE_REF(x, 0);
    return CSE_REF(intern(ir, CK_POWI, 0, k, 0, &item, 1), sign);
}

cse_ref cse_call(cse_ir *ir, unsigned fn, uint32_t aux, const cse_ref *args, size_t n)
{
    refvec v;
    rv_init(&v);
    for (size_t i = 0; i < n; i++) {
        cse_ref r = cse_resolve(ir, args[i]);
        if (fn == OP_ABS) r &= ~1u; /* |-x| = |x| */
        rv_push(&v, r);
    }
    cse_ref out = CSE_REF(intern(ir, CK_CALL, fn, aux, 0, v.v, v.n), 0);
    rv_clear(&v);
    return out;
}

/* ---- lowering terms ---- */

/* The factors of a product (or of a lone power) as numerator and
 * denominator items: b^k (k integer) a power, b^(1/2) a square root, other
 * rational exponents a general power; negative exponents go below. */
static cse_ref lower_product(cse_ir *ir, const cse_ref *memo, term_id t)
{
    term_store *s = ir->s;
    uint32_t n = term_op_of(s, t) == OP_MUL ? term_nargs(s, t) : 1;
    refvec num, den;
    rv_init(&num);
    rv_init(&den);
    fmpq_t e;
    fmpq_init(e);
    for (uint32_t i = 0; i < n; i++) {
        term_id a = term_op_of(s, t) == OP_MUL ? term_arg(s, t, i) : t;
        term_op op = term_op_of(s, a);
        if (op == OP_NUM) {
            rv_push(&num, cse_const(ir, term_value(s, a)));
        } else if (op == OP_POW && term_op_of(s, term_arg(s, a, 1)) == OP_NUM) {
            cse_ref b = memo[term_arg(s, a, 0)];
            fmpq_set(e, term_value(s, term_arg(s, a, 1)));
            int neg = fmpq_sgn(e) < 0;
            refvec *side = neg ? &den : &num;
            if (neg) fmpq_neg(e, e);
            if (fmpz_is_one(fmpq_denref(e)) && fmpz_cmp_ui(fmpq_numref(e), ((ulong)1 << 31) - 1) <= 0) {
                rv_push(side, cse_powi(ir, b, (uint32_t)fmpz_get_ui(fmpq_numref(e))));
            } else if (fmpz_is_one(fmpq_numref(e)) && fmpz_equal_ui(fmpq_denref(e), 2)) {
                rv_push(side, cse_call(ir, CF_SQRT, 0, &b, 1));
            } else {
                num_id id = num_intern(&s->nums, e);
                rv_push(side, cse_call(ir, CF_POWQ, id, &b, 1));
            }
        } else if (op == OP_POW) {
            cse_ref args[2] = { memo[term_arg(s, a, 0)], memo[term_arg(s, a, 1)] };
            rv_push(&num, cse_call(ir, OP_POW, 0, args, 2));
        } else {
            rv_push(&num, memo[a]);
        }
    }
    fmpq_clear(e);
    cse_ref r = cse_prod(ir, num.v, num.n, den.v, den.n);
    rv_clear(&num);
    rv_clear(&den);
    return r;
}

void cse_lower(cse_ref *out, cse_ref *memo, cse_ir *ir, const term_id *roots, size_t n)
{
    term_store *s = ir->s;
    uint32_t count = term_count(s);
    unsigned char *need = mem_calloc((size_t)count + 1, 1);
    term_id top = 0;
    for (size_t i = 0; i < n; i++) {
        need[roots[i]] = 1;
        if (roots[i] > top) top = roots[i];
    }
    /* what each term needs lowered first; arguments have smaller ids */
    for (term_id t = top; t >= 1; t--) {
        if (!need[t] || memo[t]) continue;
        term_op op = term_op_of(s, t);
        uint32_t k = term_nargs(s, t);
        if (op == OP_MUL || op == OP_POW) {
            for (uint32_t i = 0; i < (op == OP_MUL ? k : 1); i++) {
                term_id a = op == OP_MUL ? term_arg(s, t, i) : t;
                if (term_op_of(s, a) == OP_POW) {
                    need[term_arg(s, a, 0)] = 1;
                    if (term_op_of(s, term_arg(s, a, 1)) != OP_NUM) need[term_arg(s, a, 1)] = 1;
                } else if (a != t && term_op_of(s, a) != OP_NUM) {
                    need[a] = 1;
                }
            }
        } else {
            for (uint32_t i = 0; i < k; i++) need[term_arg(s, t, i)] = 1;
        }
    }
    size_t n_need = 0, n_args = 0;
    for (term_id t = 1; t <= top; t++)
        if (need[t] && !memo[t]) { n_need++; n_args += term_nargs(s, t); }
    /* one term gives one sum or product: they need no lookup now, equal
     * nodes are merged at the end by sorting every node on its hash; when
     * most nodes are there already, looking each new one up is cheaper */
    int bulk = n_need > ir->n_nodes;
    if (bulk) cse_bulk_begin(ir);
    cse_ir_reserve(ir, n_need + n_need / 4, n_args + n_args / 4);
    refvec args;
    rv_init(&args);
    for (term_id t = 1; t <= top; t++) {
        if (!need[t] || memo[t]) continue;
        term_op op = term_op_of(s, t);
        uint32_t k = term_nargs(s, t);
        args.n = 0;
        switch (op) {
        case OP_NUM: memo[t] = cse_const(ir, term_value(s, t)); break;
        case OP_SYM: memo[t] = cse_input(ir, t); break;
        case OP_NINF: memo[t] = cse_neg_inf(ir); break;
        case OP_ADD:
            for (uint32_t i = 0; i < k; i++) rv_push(&args, memo[term_arg(s, t, i)]);
            memo[t] = cse_sum(ir, args.v, args.n);
            break;
        case OP_MUL:
        case OP_POW: memo[t] = lower_product(ir, memo, t); break;
        default:
            for (uint32_t i = 0; i < k; i++) rv_push(&args, memo[term_arg(s, t, i)]);
            memo[t] = cse_call(ir, op, 0, args.v, args.n);
            break;
        }
    }
    rv_clear(&args);
    free(need);
    if (bulk) cse_bulk_end(ir);
    for (size_t i = 0; i < n; i++) out[i] = memo[roots[i]];
}

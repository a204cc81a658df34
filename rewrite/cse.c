/* cse: the pipeline from a system's outputs to a straight-line program:
 * lowering with plain DAG sharing, then common factors of sums, common
 * sub-products and sub-sums (greedy pair extraction), counted at each stage. */
#include "rewrite/cse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/vec.h"
#include "core/print.h"
#include "rewrite/cse_impl.h"

/* Pair extraction looks at most this many candidate items per node and
 * runs at most this many rounds, which keeps it near linear. */
#define PAIR_CAP 12
#define PAIR_ROUNDS 16
/* A node with more factor candidates than this is not factored. */
#define FACTOR_MAX_KEYS 4096

void cse_options_init(cse_options *opt)
{
    opt->extract = 1;
    opt->restructure = 1;
}

/* ---- growable arrays ---- */



static int u64_cmp(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void sort_u64(uint64_t *v, size_t n)
{
    if (n > 32) { qsort(v, n, sizeof *v, u64_cmp); return; }
    for (size_t i = 1; i < n; i++) {
        uint64_t x = v[i];
        size_t j = i;
        while (j > 0 && v[j - 1] > x) { v[j] = v[j - 1]; j--; }
        v[j] = x;
    }
}


/* ---- common factors of sums ----
 * c*f*x + c*f*y = f*(c*x + c*y), and x/D + y/D = (x + y)/D: a factor (or a
 * divisor) shared by k >= 2 terms that are products used nowhere else is
 * applied once, saving k - 1 operations. Repeated on what it builds, so
 * nested common factors come out as well (Horner's scheme). */

/* Key of a factor of a product: node << 1 | (1 when it divides). */
static int factor_of(cse_ir *ir, uint32_t prod, uint64_t key, uint32_t *pos)
{
    const cse_node *nd = &ir->nodes[prod];
    const cse_ref *it = cse_items(ir, prod);
    uint32_t node = (uint32_t)(key >> 1);
    int den = (int)(key & 1);
    for (uint32_t i = den ? nd->nnum : 0; i < (den ? nd->n : nd->nnum); i++)
        if (CSE_NODE(cse_resolve(ir, it[i])) == node) { *pos = i; return 1; }
    return 0;
}

/* Needs a current schedule (its uses); leaves it stale when it returns > 0. */
static size_t pass_factor(cse_ir *ir)
{
    uint32_t base_n = ir->n_nodes;
    const uint32_t *uses = ir->uses; /* of the nodes below base_n */
    vec_u32 work = { 0 };
    for (size_t k = 0; k < ir->n_order; k++)
        if (ir->nodes[ir->order[k]].kind == CK_SUM) vec_u32_push(&work, ir->order[k]);
    size_t done = 0;
    uint64_t *keys = NULL;
    size_t cap_keys = 0, cap_seen = 0;
    uint64_t *seen = NULL; /* a set of keys + 1 (open addressing) */
    uint32_t *seen_count = NULL;
    vec_u32 group = { 0 }, rest = { 0 }, num = { 0 }, den = { 0 };
    for (size_t w = 0; w < work.n; w++) {
        uint32_t m = work.v[w];
        if (cse_is_forwarded(ir, m) || ir->kind[m] != CK_SUM) continue;
        const cse_node *nd = &ir->nodes[m];
        /* factors of the items that are products used only here */
        size_t nk = 0;
        for (uint32_t i = 0; i < nd->n; i++) {
            cse_ref r = cse_resolve(ir, cse_items(ir, m)[i]);
            uint32_t t = CSE_NODE(r);
            if (ir->nodes[t].kind != CK_PROD || (t < base_n && uses[t] != 1)) continue;
            const cse_node *tn = &ir->nodes[t];
            if (nk + tn->n > cap_keys) {
                cap_keys = 2 * (nk + tn->n) + 64;
                keys = mem_realloc(keys, cap_keys * sizeof *keys);
            }
            size_t first = nk;
            for (uint32_t j = 0; j < tn->n; j++) {
                cse_ref f = cse_resolve(ir, cse_items(ir, t)[j]);
                keys[nk++] = ((uint64_t)CSE_NODE(f) << 1) | (j >= tn->nnum);
            }
            if (nk - first > 1) { /* each factor once per term */
                sort_u64(keys + first, nk - first);
                size_t u = first;
                for (size_t j = first; j < nk; j++)
                    if (u == first || keys[u - 1] != keys[j]) keys[u++] = keys[j];
                nk = u;
            }
        }
        if (nk < 2 || nk > FACTOR_MAX_KEYS) continue;
        /* the keys counted in a small hash set (most sums have no factor
         * twice); the best: most terms, then divisors first, then the
         * smaller node */
        size_t mask = 15;
        while (mask + 1 < 2 * nk) mask = 2 * mask + 1;
        if (mask + 1 > cap_seen) {
            cap_seen = mask + 1;
            seen = mem_realloc(seen, cap_seen * sizeof *seen);
            seen_count = mem_realloc(seen_count, cap_seen * sizeof *seen_count);
        }
        memset(seen, 0, (mask + 1) * sizeof *seen);
        int repeated = 0;
        for (size_t i = 0; i < nk; i++) {
            size_t h = (size_t)mem_mix64(keys[i]) & mask;
            while (seen[h] && seen[h] != keys[i] + 1) h = (h + 1) & mask;
            if (seen[h]) {
                seen_count[h]++;
                repeated = 1;
            } else {
                seen[h] = keys[i] + 1;
                seen_count[h] = 1;
            }
        }
        if (!repeated) continue;
        uint64_t best = 0;
        size_t best_count = 1;
        for (size_t h = 0; h <= mask; h++) {
            if (!seen[h] || seen_count[h] < 2) continue;
            uint64_t key = seen[h] - 1;
            size_t c = seen_count[h];
            if (c > best_count || (c == best_count && ((key & 1) > (best & 1) || ((key & 1) == (best & 1) && key < best)))) {
                best = key;
                best_count = c;
            }
        }
        if (best_count < 2) continue;
        int side_den = (int)(best & 1);
        uint32_t fnode = (uint32_t)(best >> 1);
        group.n = rest.n = 0;
        /* the terms with the factor, without it: numerator, denominator and
         * sign of each (num holds every list, den the counts); then their
         * products are made, in the same order, their slots fetched ahead */
        num.n = den.n = 0;
        for (uint32_t i = 0; i < ir->nodes[m].n; i++) {
            cse_ref r = cse_resolve(ir, cse_items(ir, m)[i]);
            uint32_t t = CSE_NODE(r), pos;
            if (ir->nodes[t].kind != CK_PROD || (t < base_n && uses[t] != 1) || !factor_of(ir, t, best, &pos)) {
                vec_u32_push(&rest, r);
                continue;
            }
            const cse_node *tn = &ir->nodes[t];
            size_t start = num.n;
            cse_ref fsign = 0, nn = 0;
            for (uint32_t j = 0; j < tn->nnum; j++) {
                cse_ref f = cse_resolve(ir, cse_items(ir, t)[j]);
                if (j == pos) fsign = CSE_NEG(f);
                else { vec_u32_push(&num, f); nn++; }
            }
            for (uint32_t j = tn->nnum; j < tn->n; j++) {
                cse_ref f = cse_resolve(ir, cse_items(ir, t)[j]);
                if (j == pos) fsign = CSE_NEG(f);
                else vec_u32_push(&num, f);
            }
            vec_u32_push(&den, (cse_ref)start);
            vec_u32_push(&den, nn);
            vec_u32_push(&den, (cse_ref)(num.n - start - nn));
            vec_u32_push(&den, CSE_NEG(r) ^ fsign);
        }
        for (size_t g = 0; g < den.n; g += 4) {
            if (g % (4 * CSE_PREFETCH_AHEAD) == 0) /* the next few products' slots */
                for (size_t a = g; a < den.n && a < g + 4 * CSE_PREFETCH_AHEAD; a += 4)
                    cse_prod_prefetch(ir, num.v + den.v[a], den.v[a + 1], num.v + den.v[a] + den.v[a + 1], den.v[a + 2]);
            const cse_ref *fs = num.v + den.v[g];
            cse_ref rest_of_term = cse_prod(ir, fs, den.v[g + 1], fs + den.v[g + 1], den.v[g + 2]);
            vec_u32_push(&group, rest_of_term ^ den.v[g + 3]);
        }
        cse_ref inner = cse_sum(ir, group.v, group.n);
        cse_ref f = CSE_REF(fnode, 0);
        cse_ref factored = side_den ? cse_prod(ir, &inner, 1, &f, 1) : cse_prod(ir, (cse_ref[]){ inner, f }, 2, NULL, 0);
        vec_u32_push(&rest, factored);
        cse_ref whole = cse_sum(ir, rest.v, rest.n);
        cse_forward(ir, m, whole);
        done++;
        inner = cse_resolve(ir, inner);
        whole = cse_resolve(ir, whole);
        if (ir->nodes[CSE_NODE(inner)].kind == CK_SUM) vec_u32_push(&work, CSE_NODE(inner));
        if (ir->nodes[CSE_NODE(whole)].kind == CK_SUM && CSE_NODE(whole) != m) vec_u32_push(&work, CSE_NODE(whole));
    }
    free(keys);
    free(seen);
    free(seen_count);
    free(group.v);
    free(rest.v);
    free(num.v);
    free(den.v);
    free(work.v);
    return done;
}

/* ---- common pairs: sub-sums and sub-products ----
 * Greedy pair extraction (as in Re-Pair): the pair of items found in the
 * most sums (or products) becomes one new node, each node it occurs in uses
 * it instead, saving count - 1 operations per pair. Candidates per node are
 * capped (the items found in most nodes), pairs are counted in a hash table
 * and only repeated ones are sorted, so a round is near linear. */

typedef struct pair_entry {
    uint64_t key;
    uint32_t node, pa, pb; /* the node and the positions of both items */
} pair_entry;

static int pair_cmp(const void *a, const void *b)
{
    const pair_entry *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    return (x->node > y->node) - (x->node < y->node);
}

typedef struct pair_count {
    uint64_t key;
    uint32_t count, start; /* after sorting: first entry of the run */
} pair_count;

static int count_cmp(const void *a, const void *b)
{
    const pair_count *x = a, *y = b;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return (x->key > y->key) - (x->key < y->key);
}

/* A hash table of pair keys -> counts (open addressing; key + 1 stored). */
typedef struct pair_table {
    uint64_t *keys;
    uint32_t *counts;
    size_t mask;
} pair_table;

static uint32_t *pair_find(pair_table *t, uint64_t key)
{
    size_t i = (size_t)mem_mix64(key) & t->mask;
    for (; t->keys[i]; i = (i + 1) & t->mask)
        if (t->keys[i] == key + 1) return &t->counts[i];
    return NULL;
}

static uint32_t *pair_slot(pair_table *t, uint64_t key)
{
    size_t i = (size_t)mem_mix64(key) & t->mask;
    while (t->keys[i] && t->keys[i] != key + 1) i = (i + 1) & t->mask;
    t->keys[i] = key + 1;
    return &t->counts[i];
}

/* Key of a pair of items (positions i < j of node m); 0 when not a pair. */
static uint64_t pair_key(const cse_ir *ir, uint32_t m, uint32_t i, uint32_t j)
{
    const cse_node *nd = &ir->nodes[m];
    const cse_ref *it = cse_items(ir, m);
    uint32_t a = CSE_NODE(it[i]), b = CSE_NODE(it[j]);
    if (a == b) return 0;
    if (nd->kind == CK_SUM) {
        uint64_t rel = CSE_NEG(it[i]) ^ CSE_NEG(it[j]);
        if (a > b) { uint32_t x = a; a = b; b = x; }
        return ((uint64_t)a << 33) | ((uint64_t)b << 1) | rel;
    }
    uint64_t sa = i >= nd->nnum, sb = j >= nd->nnum;
    if (a > b) { uint32_t x = a; a = b; b = x; uint64_t y = sa; sa = sb; sb = y; }
    return ((uint64_t)a << 33) | (sa << 32) | ((uint64_t)b << 1) | sb;
}

typedef struct candidate {
    uint32_t occ, pos;
} candidate;

static int candidate_cmp(const void *a, const void *b)
{
    const candidate *x = a, *y = b;
    if (x->occ != y->occ) return x->occ > y->occ ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

/* Positions of the candidate items of node m (items found in >= 2 nodes of
 * the kind, at most PAIR_CAP, those found most first). */
static size_t candidates_of(uint32_t *pos, candidate *tmp, const cse_ir *ir, uint32_t m, const uint32_t *occ)
{
    const cse_node *nd = &ir->nodes[m];
    const cse_ref *it = cse_items(ir, m);
    size_t c = 0;
    for (uint32_t i = 0; i < nd->n; i++) {
        uint32_t o = occ[CSE_NODE(it[i])];
        if (o >= 2) tmp[c++] = (candidate){ o, i };
        if (c == 4 * PAIR_CAP) break;
    }
    if (c > PAIR_CAP) {
        qsort(tmp, c, sizeof *tmp, candidate_cmp);
        c = PAIR_CAP;
    }
    for (size_t k = 0; k < c; k++) pos[k] = tmp[k].pos;
    /* ascending positions: pair (i, j) has i < j */
    for (size_t k = 1; k < c; k++) {
        uint32_t x = pos[k];
        size_t j = k;
        while (j > 0 && pos[j - 1] > x) { pos[j] = pos[j - 1]; j--; }
        pos[j] = x;
    }
    return c;
}

/* The new node for a pair (items at positions pa, pb of node m). */
static cse_ref pair_node(cse_ir *ir, uint32_t m, uint32_t pa, uint32_t pb, cse_ref *use)
{
    const cse_node *nd = &ir->nodes[m];
    const cse_ref *it = cse_items(ir, m);
    cse_ref a = it[pa], b = it[pb];
    if (nd->kind == CK_SUM) {
        /* s_a a + s_b b = s_a (a + s_a s_b b) */
        cse_ref t = cse_sum(ir, (cse_ref[]){ a & ~1u, b ^ CSE_NEG(a) }, 2);
        *use = t ^ CSE_NEG(a);
        return t;
    }
    int da = pa >= nd->nnum, db = pb >= nd->nnum;
    cse_ref t;
    if (da == db) t = cse_prod(ir, (cse_ref[]){ a, b }, 2, NULL, 0); /* a*b, or a*b below */
    else t = da ? cse_prod(ir, &b, 1, &a, 1) : cse_prod(ir, &a, 1, &b, 1);
    *use = t;
    return t;
}

typedef struct replacement {
    uint32_t node, pa, pb;
    cse_ref item;  /* what replaces both */
    int below;     /* a divisor (both items were) */
} replacement;

static int replacement_cmp(const void *a, const void *b)
{
    const replacement *x = a, *y = b;
    if (x->node != y->node) return x->node < y->node ? -1 : 1;
    return (x->pa > y->pa) - (x->pa < y->pa);
}

/* Rebuilds node m with its replacements rep[0 .. k) applied. */
static void apply_replacements(cse_ir *ir, uint32_t m, const replacement *rep, size_t k, unsigned char *gone, vec_u32 *num,
                               vec_u32 *den)
{
    const cse_node *nd = &ir->nodes[m];
    for (size_t i = 0; i < k; i++) gone[rep[i].pa] = gone[rep[i].pb] = 1;
    num->n = den->n = 0;
    for (uint32_t i = 0; i < nd->n; i++) {
        if (gone[i]) { gone[i] = 0; continue; }
        vec_u32_push(nd->kind == CK_PROD && i >= nd->nnum ? den : num, cse_items(ir, m)[i]);
    }
    for (size_t i = 0; i < k; i++) vec_u32_push(rep[i].below ? den : num, rep[i].item);
    cse_ref r = nd->kind == CK_SUM ? cse_sum(ir, num->v, num->n) : cse_prod(ir, num->v, num->n, den->v, den->n);
    cse_forward(ir, m, r);
}

/* Needs a current schedule; leaves it stale when it returns > 0. */
static size_t pass_pairs(cse_ir *ir, const cse_ref *roots, size_t n_roots, cse_kind kind)
{
    size_t total = 0;
    vec_u32 num = { 0 }, den = { 0 };
    for (int round = 0; round < PAIR_ROUNDS; round++) {
        if (round > 0) cse_schedule(ir, roots, n_roots, 0);
        /* the nodes of the kind with two items or more, in schedule order */
        uint32_t max_n = 0;
        for (size_t k = 0; k < ir->n_order; k++) {
            const cse_node *nd = &ir->nodes[ir->order[k]];
            if (nd->kind == kind && nd->n > max_n) max_n = nd->n;
        }
        if (max_n < 3) break; /* pairs are first found in nodes of three items */
        uint32_t *occ = cse_scratch(ir, (size_t)ir->n_nodes * sizeof *occ); /* no node is made while held */
        memset(occ, 0, (size_t)ir->n_nodes * sizeof *occ);
        for (size_t k = 0; k < ir->n_order; k++) {
            uint32_t m = ir->order[k];
            const cse_node *nd = &ir->nodes[m];
            if (nd->kind != kind || nd->n < 2) continue;
            for (uint32_t i = 0; i < nd->n; i++) occ[CSE_NODE(cse_items(ir, m)[i])]++;
        }
        /* pairs of nodes with three items or more, counted in a table; a
         * node of two items is its pair, so it only adds to a pair seen */
        uint32_t pos[PAIR_CAP];
        candidate tmp[4 * PAIR_CAP];
        pair_entry *ent = NULL;
        size_t n_ent = 0, cap_ent = 0;
        for (size_t k = 0; k < ir->n_order; k++) {
            uint32_t m = ir->order[k];
            if (ir->nodes[m].kind != kind || ir->nodes[m].n < 3) continue;
            size_t c = candidates_of(pos, tmp, ir, m, occ);
            for (size_t i = 0; i < c; i++)
                for (size_t j = i + 1; j < c; j++) {
                    uint64_t key = pair_key(ir, m, pos[i], pos[j]);
                    if (!key) continue;
                    VEC_RESERVE(ent, cap_ent, n_ent + 1);
                    ent[n_ent++] = (pair_entry){ key, m, pos[i], pos[j] };
                }
        }
        if (n_ent == 0) break;
        pair_table tab;
        tab.mask = 1;
        while (tab.mask + 1 < 2 * n_ent) tab.mask = 2 * tab.mask + 1;
        tab.keys = mem_calloc(tab.mask + 1, sizeof *tab.keys);
        tab.counts = mem_calloc(tab.mask + 1, sizeof *tab.counts);
        for (size_t e = 0; e < n_ent; e++) (*pair_slot(&tab, ent[e].key))++;
        for (size_t k = 0; k < ir->n_order; k++) {
            uint32_t m = ir->order[k];
            if (ir->nodes[m].kind != kind || ir->nodes[m].n != 2) continue;
            uint64_t key = pair_key(ir, m, 0, 1);
            uint32_t *cnt = key ? pair_find(&tab, key) : NULL;
            if (!cnt) continue;
            (*cnt)++;
            if (n_ent == cap_ent) {
                cap_ent = 2 * cap_ent;
                ent = mem_realloc(ent, cap_ent * sizeof *ent);
            }
            ent[n_ent++] = (pair_entry){ key, m, 0, 1 };
        }
        size_t kept = 0;
        for (size_t e = 0; e < n_ent; e++)
            if (*pair_find(&tab, ent[e].key) >= 2) ent[kept++] = ent[e];
        n_ent = kept;
        free(tab.keys);
        free(tab.counts);
        if (n_ent > 1) qsort(ent, n_ent, sizeof *ent, pair_cmp);
        pair_count *runs = NULL;
        size_t n_runs = 0;
        if (n_ent) runs = mem_realloc(NULL, n_ent * sizeof *runs);
        for (size_t i = 0; i < n_ent;) {
            size_t j = i;
            while (j < n_ent && ent[j].key == ent[i].key) j++;
            runs[n_runs++] = (pair_count){ ent[i].key, (uint32_t)(j - i), (uint32_t)i };
            i = j;
        }
        if (n_runs > 1) qsort(runs, n_runs, sizeof *runs, count_cmp);
        /* greedy: most frequent pairs first, items used once per round;
         * consumed[] marks item positions in the pool */
        unsigned char *consumed = mem_calloc(ir->n_pool + 1, 1);
        replacement *rep = NULL;
        size_t n_rep = 0, cap_rep = 0;
        for (size_t r = 0; r < n_runs; r++) {
            const pair_entry *e = ent + runs[r].start;
            size_t live = 0;
            for (uint32_t k = 0; k < runs[r].count; k++) {
                uint32_t off = ir->nodes[e[k].node].off;
                if (!consumed[off + e[k].pa] && !consumed[off + e[k].pb]) live++;
            }
            if (live < 2) continue;
            cse_ref t = 0;
            for (uint32_t k = 0; k < runs[r].count; k++) {
                uint32_t m = e[k].node, off = ir->nodes[m].off;
                if (consumed[off + e[k].pa] || consumed[off + e[k].pb]) continue;
                consumed[off + e[k].pa] = consumed[off + e[k].pb] = 1;
                cse_ref use;
                cse_ref made = pair_node(ir, m, e[k].pa, e[k].pb, &use);
                if (!t) t = made;
                if (CSE_NODE(cse_resolve(ir, made)) == m) continue; /* m is the pair itself */
                VEC_RESERVE(rep, cap_rep, n_rep + 1);
                const cse_node *nd = &ir->nodes[m];
                int below = nd->kind == CK_PROD && e[k].pa >= nd->nnum && e[k].pb >= nd->nnum;
                rep[n_rep++] = (replacement){ m, e[k].pa, e[k].pb, use, below };
            }
        }
        free(consumed);
        free(runs);
        free(ent);
        if (n_rep == 0) {
            free(rep);
            break;
        }
        qsort(rep, n_rep, sizeof *rep, replacement_cmp);
        unsigned char *gone = mem_calloc((size_t)max_n + 1, 1);
        for (size_t i = 0; i < n_rep;) {
            size_t j = i;
            while (j < n_rep && rep[j].node == rep[i].node) j++;
            apply_replacements(ir, rep[i].node, rep + i, j - i, gone, &num, &den);
            i = j;
        }
        free(gone);
        free(rep);
        total += n_rep;
    }
    free(num.v);
    free(den.v);
    return total;
}

/* ---- variants of the pipeline ---- */

typedef struct variant {
    cse_ir *ir;
    cse_ref *roots;
    cse_ref *memo; /* term -> reference, for naming lines after relations */
    uint32_t memo_size;
    uint64_t ops;
    cse_stage stages[6];
    size_t n_stages;
} variant;

static void variant_clear(variant *v)
{
    if (v->ir) {
        cse_ir_clear(v->ir);
        free(v->ir);
    }
    free(v->roots);
    free(v->memo);
    memset(v, 0, sizeof *v);
}

static void stage(variant *v, const char *name, uint64_t ops)
{
    v->stages[v->n_stages++] = (cse_stage){ name, ops };
    v->ops = ops;
}

static void variant_build(variant *v, term_store *s, const term_id *roots, size_t n, int extract, fmpz_t tree)
{
    memset(v, 0, sizeof *v);
    v->ir = mem_calloc(1, sizeof *v->ir);
    cse_ir_init(v->ir, s);
    v->memo_size = term_count(s) + 1;
    v->memo = mem_calloc(v->memo_size, sizeof *v->memo);
    mem_populate(v->memo, v->memo_size * sizeof *v->memo);
    v->roots = mem_realloc(NULL, (n ? n : 1) * sizeof *v->roots);
    cse_lower(v->roots, v->memo, v->ir, roots, n);
    if (tree) cse_tree_count(tree, v->ir, v->roots, n);
    stage(v, "dag", cse_schedule(v->ir, v->roots, n, 0));
    if (!extract) return;
    /* each pass reads the schedule left by the previous count */
    uint64_t ops = v->ops;
    if (pass_factor(v->ir)) ops = cse_schedule(v->ir, v->roots, n, 0);
    stage(v, "factor", ops);
    if (pass_pairs(v->ir, v->roots, n, CK_PROD)) ops = cse_schedule(v->ir, v->roots, n, 0);
    stage(v, "subproducts", ops);
    if (pass_pairs(v->ir, v->roots, n, CK_SUM)) ops = cse_schedule(v->ir, v->roots, n, 0);
    stage(v, "subsums", ops);
}

/* The re-association of bilinear forms, applied to the program after the
 * other passes when the estimate says it saves: the new sums are lowered
 * into the same nodes and the old ones forwarded to them; the passes run
 * again on the result, which is kept only if its count is lower (otherwise
 * the journal puts back the forwarding and the items the schedules
 * resolved). */
static void try_bilinear(cse_program *p, variant *v, term_store *s, const term_id *roots, size_t n,
                         const cse_options *opt)
{
    cse_ir *ir = v->ir;
    cse_reassoc ra;
    cse_journal_begin(ir);
    cse_bilinear(&ra, s, roots, n, ir, &v->memo, &v->memo_size);
    if (!ra.to) { /* nothing found, or no saving expected: nothing built */
        cse_journal_end(ir);
        cse_reassoc_clear(&ra);
        return;
    }
    for (size_t i = 0; i < ra.n; i++) {
        cse_ref from = cse_resolve(ir, v->memo[ra.from[i]]);
        /* +node stands for what the reference's value is, sign moved over */
        cse_forward(ir, CSE_NODE(from), cse_resolve(ir, ra.to[i]) ^ CSE_NEG(from));
    }
    uint64_t ops = cse_schedule(ir, v->roots, n, 0);
    if (opt->extract) {
        if (pass_factor(ir)) ops = cse_schedule(ir, v->roots, n, 0);
        if (pass_pairs(ir, v->roots, n, CK_PROD)) ops = cse_schedule(ir, v->roots, n, 0);
        if (pass_pairs(ir, v->roots, n, CK_SUM)) ops = cse_schedule(ir, v->roots, n, 0);
    }
    if (ops < v->ops) {
        cse_journal_end(ir);
        stage(v, "bilinear", ops);
        p->restructured = 1;
        p->n_bilinear = ra.n;
        p->stages[p->n_stages++] = (cse_stage){ "bilinear", ops };
    } else {
        cse_journal_undo(ir);
    }
    cse_reassoc_clear(&ra);
}

/* ---- names of lines ---- */

/* "t", or a longer prefix when some name of the store is prefix + digits. */
static char *temp_prefix(const term_store *s)
{
    static const char *const tries[] = { "t", "tmp", "cse_t" };
    strbuf b;
    strbuf_init(&b);
    for (unsigned k = 0;; k++) {
        strbuf_reset(&b);
        strbuf_puts(&b, tries[k < 3 ? k : 2]);
        for (unsigned u = 3; u <= k; u++) strbuf_putc(&b, '_');
        const char *p = strbuf_str(&b);
        size_t len = strlen(p);
        int clash = 0;
        for (sym_id y = 0; y < s->n_syms && !clash; y++) {
            const char *name = sym_name(s, y);
            if (strncmp(name, p, len) != 0 || name[len] == '\0') continue;
            const char *d = name + len;
            while (*d >= '0' && *d <= '9') d++;
            clash = *d == '\0';
        }
        if (!clash) break;
    }
    char *out = mem_strdup(strbuf_str(&b));
    strbuf_clear(&b);
    return out;
}

/* Lines whose value is a relation's (inlined) value take its name; the
 * others are prefix1, prefix2, ... in program order. */
static void name_lines(cse_ir *ir, const variant *v, const sys *y)
{
    const script *sc = y->scr;
    unsigned char *is_output = mem_calloc(sc->n_rels + 1, 1);
    for (size_t i = 0; i < y->n_outputs; i++) {
        int32_t r = sys_relation_of(y, y->outputs[i]);
        if (r >= 0) is_output[r] = 1;
    }
    for (size_t i = 0; i < sc->n_rels; i++) {
        term_id t = y->inlined ? y->inlined[i] : TERM_NONE;
        if (is_output[i] || t == TERM_NONE || t >= v->memo_size || !v->memo[t]) continue;
        if (sys_relation_of(y, sc->rels[i].name) != (int32_t)i) continue;
        cse_ref r = cse_resolve(ir, v->memo[t]);
        uint32_t m = CSE_NODE(r);
        if (m >= ir->n_nodes || cse_is_leaf(ir, m) || !ir->temp[m] || cse_eff_neg(ir, r)) continue;
        uint32_t line = ir->temp[m] - 1;
        if (!ir->temp_name[line]) ir->temp_name[line] = sc->rels[i].name;
    }
    free(is_output);
    uint32_t k = 0;
    for (size_t line = 0; line < ir->n_lines; line++)
        if (!ir->temp_name[line]) ir->temp_number[line] = ++k;
    ir->temp_prefix = temp_prefix(ir->s);
}

/* ---- outputs with no real value ---- */

/* Mentions -inf where it has no real value: flagged and not -inf itself
 * (the store folds every use of -inf that has a value). */
static int no_real_value(const term_store *s, term_id t) { return term_has_ninf(s, t) && t != s->neg_inf; }

size_t cse_check_outputs(diag_list *d, sys *y)
{
    if (!y->inlined) return 0;
    const term_store *s = y->store;
    size_t bad = 0;
    for (size_t i = 0; i < y->n_outputs; i++) {
        int32_t r = sys_relation_of(y, y->outputs[i]);
        term_id t = sys_inline_relation(y, (size_t)r);
        if (!no_real_value(s, t)) continue;
        term_id w = term_ninf_site(s, t);
        strbuf b;
        strbuf_init(&b);
        print_infix(&b, s, w);
        if (b.len > 60) { b.len = 57; strbuf_puts(&b, "..."); }
        const relation *rel = &y->scr->rels[r];
        diag_error(d, y->scr->src, rel->name_pos, "output '%s' has no real value: %s (in %s)",
                   term_sym_name(s, rel->name), term_ninf_misuse(s, w), strbuf_str(&b));
        strbuf_clear(&b);
        bad++;
    }
    return bad;
}

/* ---- the program ---- */

int cse_build(cse_program *p, sys *y, const cse_options *opt)
{
    memset(p, 0, sizeof *p);
    fmpz_init(p->ops_before);
    p->store = y->store;
    if (!y->inlined) return -1;
    term_store *s = y->store;
    size_t n = y->n_outputs;
    term_id *roots = mem_realloc(NULL, (n ? n : 1) * sizeof *roots);
    for (size_t i = 0; i < n; i++) {
        roots[i] = sys_inline_relation(y, (size_t)sys_relation_of(y, y->outputs[i]));
        if (no_real_value(s, roots[i])) { /* no code computes a NaN in its place */
            free(roots);
            return -2;
        }
    }
    p->n_outputs = n;
    p->outputs = mem_realloc(NULL, (n ? n : 1) * sizeof *p->outputs);
    memcpy(p->outputs, y->outputs, n * sizeof *p->outputs);

    /* inputs: free symbols the outputs reach, in order of first use */
    unsigned char *mark = mem_calloc((size_t)term_count(s) + 1, 1);
    term_mark_reachable(mark, s, roots, n);
    p->inputs = mem_realloc(NULL, (y->n_free ? y->n_free : 1) * sizeof *p->inputs);
    for (size_t i = 0; i < y->n_free; i++)
        if (mark[y->free_syms[i]]) p->inputs[p->n_inputs++] = y->free_syms[i];
    free(mark);

    variant best;
    variant_build(&best, s, roots, n, opt->extract, p->ops_before);
    p->ops_dag = best.stages[0].ops;
    memcpy(p->stages, best.stages, best.n_stages * sizeof *best.stages);
    p->n_stages = best.n_stages;
    if (opt->restructure) try_bilinear(p, &best, s, roots, n, opt);
    if (best.ops > p->ops_dag) { /* the passes never should; keep the plain DAG then */
        variant_clear(&best);
        variant_build(&best, s, roots, n, 0, NULL);
        p->n_stages = 1;
        p->restructured = 0;
        p->n_bilinear = 0;
    }
    free(roots);
    p->ops_after = cse_schedule(best.ir, best.roots, n, 1);
    name_lines(best.ir, &best, y);
    p->n_temps = best.ir->n_lines;
    p->ir = best.ir;
    best.ir = NULL;
    variant_clear(&best);
    return 0;
}

void cse_program_clear(cse_program *p)
{
    if (p->ir) {
        cse_ir_clear(p->ir);
        free(p->ir);
    }
    free(p->inputs);
    free(p->outputs);
    fmpz_clear(p->ops_before);
    memset(p, 0, sizeof *p);
}

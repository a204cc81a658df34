/* cse_bilinear: re-association of sums of products of linear forms. With
 * L_k = sum_a A_ka x_a and R_k = sum_b B_kb y_b, s = sum_k c_k L_k R_k equals
 * sum_a x_a (sum_b y_b M_ab), M_ab = sum_k c_k A_ka B_kb; M is one matrix for
 * every such sum with the same coefficients (attention: x_i^T (Wq^T Wk) x_j). */
#include "rewrite/cse_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/vec.h"

/* A sum whose matrix M would have more entries than this is left alone. */
#define BILINEAR_MAX_ENTRIES ((size_t)1 << 22)


static int id_cmp(const void *a, const void *b)
{
    term_id x = *(const term_id *)a, y = *(const term_id *)b;
    return (x > y) - (x < y);
}

/* ---- interned arrays of ids: a key -> an entry with a value array ---- */

typedef struct vec_cache {
    vec_u32 keys, vals;
    size_t *key_off, *key_len, *val_off, *val_len;
    uint32_t *hash;
    size_t n, cap;
    uint32_t *table; /* entry + 1 */
    size_t mask;
} vec_cache;

static void cache_init(vec_cache *c)
{
    memset(c, 0, sizeof *c);
    c->mask = 255;
    c->table = mem_calloc(c->mask + 1, sizeof *c->table);
}

static void cache_clear(vec_cache *c)
{
    free(c->keys.v);
    free(c->vals.v);
    free(c->key_off);
    free(c->key_len);
    free(c->val_off);
    free(c->val_len);
    free(c->hash);
    free(c->table);
}

static uint32_t ids_hash(const term_id *k, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
    for (size_t i = 0; i < n; i++) h = (h ^ k[i]) * 0x100000001b3ULL + (h >> 29);
    return (uint32_t)mem_mix64(h);
}

static long cache_find(const vec_cache *c, const term_id *key, size_t n)
{
    uint32_t h = ids_hash(key, n);
    for (size_t i = h & c->mask; c->table[i]; i = (i + 1) & c->mask) {
        size_t e = c->table[i] - 1;
        if (c->hash[e] == h && c->key_len[e] == n && memcmp(c->keys.v + c->key_off[e], key, n * sizeof *key) == 0)
            return (long)e;
    }
    return -1;
}

static size_t cache_add(vec_cache *c, const term_id *key, size_t n, const term_id *val, size_t nv)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->key_off = mem_realloc(c->key_off, c->cap * sizeof *c->key_off);
        c->key_len = mem_realloc(c->key_len, c->cap * sizeof *c->key_len);
        c->val_off = mem_realloc(c->val_off, c->cap * sizeof *c->val_off);
        c->val_len = mem_realloc(c->val_len, c->cap * sizeof *c->val_len);
        c->hash = mem_realloc(c->hash, c->cap * sizeof *c->hash);
    }
    size_t e = c->n++;
    c->key_off[e] = c->keys.n;
    c->key_len[e] = n;
    for (size_t i = 0; i < n; i++) vec_u32_push(&c->keys, key[i]);
    c->val_off[e] = c->vals.n;
    c->val_len[e] = nv;
    for (size_t i = 0; i < nv; i++) vec_u32_push(&c->vals, val[i]);
    c->hash[e] = ids_hash(key, n);
    if (2 * c->n > c->mask + 1) {
        c->mask = 2 * c->mask + 1;
        free(c->table);
        c->table = mem_calloc(c->mask + 1, sizeof *c->table);
        for (size_t k = 0; k < c->n; k++) {
            size_t i = c->hash[k] & c->mask;
            while (c->table[i]) i = (i + 1) & c->mask;
            c->table[i] = (uint32_t)k + 1;
        }
    } else {
        size_t i = c->hash[e] & c->mask;
        while (c->table[i]) i = (i + 1) & c->mask;
        c->table[i] = (uint32_t)e + 1;
    }
    return e;
}

static const term_id *cache_val(const vec_cache *c, size_t e) { return c->vals.v + c->val_off[e]; }

/* ---- the cost model on terms (docs/CSE.md), for the estimate ---- */

static int num_is_pm1(const term_store *s, num_id c)
{
    const fmpq *q = num_value(&s->nums, c);
    return fmpz_is_one(fmpq_denref(q)) && fmpz_is_pm1(fmpq_numref(q));
}

static uint64_t powi_ops(ulong k)
{
    uint64_t c = 0;
    for (ulong x = k; x > 1; x >>= 1) c++;
    return c + (uint64_t)__builtin_popcountl(k) - 1;
}

/* Operations of term t itself, its arguments computed. */
static uint64_t term_ops(const term_store *s, term_id t)
{
    term_op op = term_op_of(s, t);
    uint32_t n = term_nargs(s, t);
    if (op == OP_ADD) return n - 1;
    if (op == OP_MAX || op == OP_MIN) return n - 1;
    if (op == OP_LSE) return 2 * (uint64_t)n;
    if (op == OP_NINF) return 0;
    if (op == OP_MUL || op == OP_POW) {
        uint64_t num = 0, den = 0, pw = 0;
        for (uint32_t i = 0; i < (op == OP_MUL ? n : 1); i++) {
            term_id a = op == OP_MUL ? term_arg(s, t, i) : t;
            if (term_op_of(s, a) == OP_NUM) { num += !num_is_pm1(s, term_num_of(s, a)); continue; }
            if (term_op_of(s, a) == OP_POW && term_op_of(s, term_arg(s, a, 1)) == OP_NUM) {
                const fmpq *e = term_value(s, term_arg(s, a, 1));
                int neg = fmpq_sgn(e) < 0;
                if (fmpz_is_one(fmpq_denref(e)) && fmpz_bits(fmpq_numref(e)) <= 30) {
                    slong k = fmpz_get_si(fmpq_numref(e));
                    pw += powi_ops((ulong)(k < 0 ? -k : k));
                } else {
                    pw += 1;
                }
                if (neg) den++; else num++;
                continue;
            }
            num++;
        }
        return (num ? num - 1 : 0) + den + pw;
    }
    return op == OP_NUM || op == OP_SYM ? 0 : 1;
}

/* Factors of c*A*B counted as multiplications: non-numeric factors of A and
 * B and |c| != 1. */
static uint64_t factor_count(const term_store *s, term_id a)
{
    if (term_op_of(s, a) != OP_MUL) return 1;
    uint64_t k = 0;
    for (uint32_t i = 0; i < term_nargs(s, a); i++) {
        term_id f = term_arg(s, a, i);
        k += term_op_of(s, f) == OP_NUM ? !num_is_pm1(s, term_num_of(s, f)) : 1;
    }
    return k;
}

/* ---- the analysis ---- */

/* Marks of terms by serial number (no clearing), in a table of the terms
 * marked (few: the factors of the forms' summands). */
typedef struct mark {
    term_id t;
    uint32_t last, cnt_at, cnt, var_at, var_pos;
} mark;

typedef struct scratch {
    mark *v; /* open addressing on t, 0 = empty */
    size_t mask, n;
    uint32_t serial;
} scratch;

static void scratch_init(scratch *w)
{
    w->mask = 1023;
    w->n = 0;
    w->serial = 0;
    w->v = mem_calloc(w->mask + 1, sizeof *w->v);
}

/* The marks of t (zero when new); valid until the next call. */
static mark *mark_of(scratch *w, term_id t)
{
    size_t i = (size_t)mem_mix64(t) & w->mask;
    for (; w->v[i].t; i = (i + 1) & w->mask)
        if (w->v[i].t == t) return &w->v[i];
    if (2 * (w->n + 1) > w->mask + 1) {
        size_t cap = 2 * (w->mask + 1);
        mark *v = mem_calloc(cap, sizeof *v);
        for (size_t k = 0; k <= w->mask; k++) {
            if (!w->v[k].t) continue;
            size_t j = (size_t)mem_mix64(w->v[k].t) & (cap - 1);
            while (v[j].t) j = (j + 1) & (cap - 1);
            v[j] = w->v[k];
        }
        free(w->v);
        w->v = v;
        w->mask = cap - 1;
        for (i = (size_t)mem_mix64(t) & w->mask; w->v[i].t; i = (i + 1) & w->mask) {}
    }
    w->n++;
    w->v[i] = (mark){ t, 0, 0, 0, 0, 0 };
    return &w->v[i];
}

/* The non-numeric factors of a summand u (u itself when not a product). */
static void factors_of(vec_u32 *out, num_id *coeff, const term_store *s, term_id u)
{
    out->n = 0;
    *coeff = NUM_ONE;
    if (term_op_of(s, u) != OP_MUL) { vec_u32_push(out, u); return; }
    for (uint32_t i = 0; i < term_nargs(s, u); i++) {
        term_id f = term_arg(s, u, i);
        if (term_op_of(s, f) == OP_NUM) *coeff = term_num_of(s, f);
        else vec_u32_push(out, f);
    }
}

/* One side of a sum: m linear forms over common variables. */
typedef struct side {
    uint32_t vars;   /* entry of the variable list in `lists` */
    uint32_t coef;   /* entry of the coefficient matrix (m x p) in `mats` */
    uint32_t p;      /* number of variables */
} side;

typedef struct analysis {
    term_store *s;
    scratch w;
    vec_u32 tmp, rest, buf;
    vec_cache sides;  /* form list -> (vars entry, coef entry, p), or (0,0,0) when not linear */
    vec_cache lists;  /* variable lists, interned */
    vec_cache coefs;  /* coefficient matrices, interned by content */
    vec_cache ms;     /* (m, p, q, c..., A, B) -> M entries (terms once built; 0 before) */
    vec_cache us;     /* (M, left, variable list) -> contracted vector */
} analysis;

/* Variables and coefficients of the forms f[0..m): the variables are the
 * factors found in every form, each summand c*W*x having exactly one. 0 and
 * the side when linear. Builds coefficient terms only for summands with
 * more than one other factor or a coefficient. */
static int analyze_side(side *out, analysis *an, const term_id *f, size_t m)
{
    long e = cache_find(&an->sides, f, m);
    if (e >= 0) {
        const term_id *v = cache_val(&an->sides, (size_t)e);
        if (!v[2]) return 0;
        *out = (side){ v[0], v[1], v[2] };
        return 1;
    }
    term_store *s = an->s;
    scratch *w = &an->w;
    uint32_t at = ++w->serial;
    for (size_t k = 0; k < m; k++) {
        uint32_t mine = ++w->serial;
        for (uint32_t i = 0; i < term_nargs(s, f[k]); i++) {
            num_id c;
            factors_of(&an->tmp, &c, s, term_arg(s, f[k], i));
            for (size_t j = 0; j < an->tmp.n; j++) {
                mark *x = mark_of(w, an->tmp.v[j]);
                if (x->last == mine) continue;
                x->last = mine;
                if (x->cnt_at != at) { x->cnt_at = at; x->cnt = 0; }
                x->cnt++;
            }
        }
    }
    vec_u32 *vars = &an->buf;
    vars->n = 0;
    uint32_t mine = ++w->serial;
    for (uint32_t i = 0; i < term_nargs(s, f[0]); i++) {
        num_id c;
        factors_of(&an->tmp, &c, s, term_arg(s, f[0], i));
        for (size_t j = 0; j < an->tmp.n; j++) {
            mark *x = mark_of(w, an->tmp.v[j]);
            if (x->cnt_at == at && x->cnt == m && x->var_at != mine) {
                x->var_at = mine;
                vec_u32_push(vars, an->tmp.v[j]);
            }
        }
    }
    int ok = vars->n > 0;
    size_t p = vars->n;
    vec_u32 coef = { 0 };
    if (ok) {
        qsort(vars->v, p, sizeof *vars->v, id_cmp);
        for (size_t a = 0; a < p; a++) mark_of(w, vars->v[a])->var_pos = (uint32_t)a;
        for (size_t i = 0; i < m * p; i++) vec_u32_push(&coef, TERM_NONE);
        for (size_t k = 0; k < m && ok; k++) {
            for (uint32_t i = 0; i < term_nargs(s, f[k]) && ok; i++) {
                num_id c;
                factors_of(&an->tmp, &c, s, term_arg(s, f[k], i));
                an->rest.n = 0;
                long var = -1;
                for (size_t j = 0; j < an->tmp.n; j++) {
                    const mark *x = mark_of(w, an->tmp.v[j]);
                    if (x->var_at == mine) {
                        if (var >= 0) { ok = 0; break; }
                        var = (long)x->var_pos;
                    } else {
                        vec_u32_push(&an->rest, an->tmp.v[j]);
                    }
                }
                if (!ok || var < 0) { ok = 0; break; }
                term_id a;
                if (c == NUM_ONE && an->rest.n == 1) {
                    a = an->rest.v[0]; /* W*x: the coefficient is W */
                } else {
                    vec_u32_push(&an->rest, term_num_id(s, c));
                    a = term_mul(s, an->rest.v, an->rest.n);
                }
                term_id *slot = &coef.v[k * p + (size_t)var];
                *slot = *slot ? term_add2(s, *slot, a) : a;
            }
        }
    }
    term_id val[3] = { 0, 0, 0 };
    if (ok) {
        long le = cache_find(&an->lists, vars->v, p);
        if (le < 0) le = (long)cache_add(&an->lists, vars->v, p, NULL, 0);
        long ce = cache_find(&an->coefs, coef.v, coef.n);
        if (ce < 0) ce = (long)cache_add(&an->coefs, coef.v, coef.n, NULL, 0);
        val[0] = (term_id)le;
        val[1] = (term_id)ce;
        val[2] = (term_id)p;
        *out = (side){ val[0], val[1], val[2] };
    }
    free(coef.v);
    cache_add(&an->sides, f, m, val, 3);
    return ok;
}

/* The forms of sum t: each argument c*L*R with L, R sums. 0 when not. */
static int forms_of(vec_u32 *lf, vec_u32 *rf, vec_u32 *cs, const term_store *s, term_id t)
{
    lf->n = rf->n = cs->n = 0;
    uint32_t m = term_nargs(s, t);
    if (m < 2) return 0;
    for (uint32_t k = 0; k < m; k++) {
        term_id u = term_arg(s, t, k);
        if (term_op_of(s, u) != OP_MUL) return 0;
        num_id c = NUM_ONE;
        term_id f[2];
        uint32_t nf = 0;
        for (uint32_t i = 0; i < term_nargs(s, u); i++) {
            term_id x = term_arg(s, u, i);
            if (term_op_of(s, x) == OP_NUM) c = term_num_of(s, x);
            else if (nf < 2 && term_op_of(s, x) == OP_ADD) f[nf++] = x;
            else return 0;
        }
        if (nf != 2) return 0;
        vec_u32_push(lf, f[0]);
        vec_u32_push(rf, f[1]);
        vec_u32_push(cs, c);
    }
    return 1;
}

/* Orients each product like the first: its left form shares factors with
 * the first left form (for sums whose forms come in mixed order). */
static void orient(analysis *an, vec_u32 *lf, vec_u32 *rf)
{
    term_store *s = an->s;
    scratch *w = &an->w;
    uint32_t mine = ++w->serial;
    for (uint32_t i = 0; i < term_nargs(s, lf->v[0]); i++) {
        num_id c;
        factors_of(&an->tmp, &c, s, term_arg(s, lf->v[0], i));
        for (size_t j = 0; j < an->tmp.n; j++) mark_of(w, an->tmp.v[j])->last = mine;
    }
    for (size_t k = 1; k < lf->n; k++) {
        size_t o[2] = { 0, 0 };
        for (int sd = 0; sd < 2; sd++) {
            term_id g = sd ? rf->v[k] : lf->v[k];
            for (uint32_t i = 0; i < term_nargs(s, g); i++) {
                num_id c;
                factors_of(&an->tmp, &c, s, term_arg(s, g, i));
                for (size_t j = 0; j < an->tmp.n; j++) o[sd] += mark_of(w, an->tmp.v[j])->last == mine;
            }
        }
        if (o[1] > o[0]) { term_id x = lf->v[k]; lf->v[k] = rf->v[k]; rf->v[k] = x; }
    }
}

/* One matched sum. */
typedef struct match {
    term_id sum;
    uint32_t m_entry; /* its M in an->ms */
    side l, r;
} match;

/* M's key: (m, p, q, c_1..c_m, A entry, B entry). */
static size_t m_entry(analysis *an, const vec_u32 *cs, const side *l, const side *r, size_t m)
{
    vec_u32 *key = &an->buf;
    key->n = 0;
    vec_u32_push(key, (term_id)m);
    vec_u32_push(key, l->p);
    vec_u32_push(key, r->p);
    for (size_t k = 0; k < m; k++) vec_u32_push(key, cs->v[k]);
    vec_u32_push(key, l->coef);
    vec_u32_push(key, r->coef);
    long e = cache_find(&an->ms, key->v, key->n);
    if (e < 0) e = (long)cache_add(&an->ms, key->v, key->n, NULL, 0);
    return (size_t)e;
}

/* The number of nonzero terms c_k A_ka B_kb of entry (a, b) of M. */
static size_t m_terms(const analysis *an, size_t me, size_t a, size_t b, uint64_t *mults)
{
    const term_id *key = an->ms.keys.v + an->ms.key_off[me];
    size_t m = key[0], p = key[1], q = key[2];
    const term_id *cs = key + 3;
    const term_id *A = an->coefs.keys.v + an->coefs.key_off[key[3 + m]];
    const term_id *B = an->coefs.keys.v + an->coefs.key_off[key[4 + m]];
    size_t t = 0;
    for (size_t k = 0; k < m; k++) {
        term_id x = A[k * p + a], y = B[k * q + b];
        if (!x || !y) continue;
        t++;
        if (mults) *mults += factor_count(an->s, x) + factor_count(an->s, y) + !num_is_pm1(an->s, cs[k]) - 1;
    }
    return t;
}

/* ---- the estimate: operations removed and added ---- */

/* Operations of the terms only the matched sums use (they go away), by a
 * cascade of use counts over the DAG of the roots. */
static uint64_t ops_removed(uint32_t *uses, const term_store *s, const unsigned char *mark, const term_id *roots,
                            size_t n, const match *mt, size_t n_mt, uint32_t count)
{
    for (size_t i = 0; i < n; i++) uses[roots[i]]++;
    for (term_id t = 1; t <= count; t++)
        if (mark[t])
            for (uint32_t i = 0; i < term_nargs(s, t); i++) uses[term_arg(s, t, i)]++;
    vec_u32 stack = { 0 };
    uint64_t ops = 0;
    for (size_t k = 0; k < n_mt; k++) {
        ops += term_ops(s, mt[k].sum);
        for (uint32_t i = 0; i < term_nargs(s, mt[k].sum); i++) vec_u32_push(&stack, term_arg(s, mt[k].sum, i));
        while (stack.n) {
            term_id t = stack.v[--stack.n];
            if (--uses[t] != 0) continue;
            ops += term_ops(s, t);
            for (uint32_t i = 0; i < term_nargs(s, t); i++) vec_u32_push(&stack, term_arg(s, t, i));
        }
    }
    free(stack.v);
    return ops;
}

/* Operations the re-associated sums need: each distinct M, each distinct
 * contracted vector, and each sum. */
static uint64_t ops_added(analysis *an, const match *mt, size_t n_mt, int left)
{
    uint64_t ops = 0;
    /* per M, once: its entries' operations are counted, and the operations
     * of one contracted vector (+ 1, 0 before) from its nonzero pattern */
    uint64_t *vec_ops = mem_calloc(an->ms.n + 1, sizeof *vec_ops);
    unsigned char *nz = NULL;
    vec_cache seen;
    cache_init(&seen);
    for (size_t k = 0; k < n_mt; k++) {
        size_t me = mt[k].m_entry;
        const term_id *key = an->ms.keys.v + an->ms.key_off[me];
        size_t p = key[1], q = key[2];
        size_t n_outer = left ? q : p, n_inner = left ? p : q;
        if (!vec_ops[me]) {
            nz = mem_realloc(nz, p * q);
            for (size_t a = 0; a < p; a++)
                for (size_t b = 0; b < q; b++) {
                    uint64_t mults = 0;
                    size_t t = m_terms(an, me, a, b, &mults);
                    if (t) ops += t - 1 + mults;
                    nz[a * q + b] = t > 0;
                }
            uint64_t v = 0;
            for (size_t o = 0; o < n_outer; o++) {
                size_t z = 0;
                for (size_t i = 0; i < n_inner; i++) z += nz[left ? i * q + o : o * q + i];
                if (z) v += 2 * z - 1;
            }
            vec_ops[me] = v + 1;
        }
        term_id vkey[3] = { (term_id)me, (term_id)left, left ? mt[k].l.vars : mt[k].r.vars };
        if (cache_find(&seen, vkey, 3) < 0) {
            cache_add(&seen, vkey, 3, NULL, 0);
            ops += vec_ops[me] - 1;
        }
        ops += 2 * n_outer - 1;
    }
    cache_clear(&seen);
    free(nz);
    free(vec_ops);
    return ops;
}

/* ---- building, straight into the program's nodes ---- */

typedef struct builder {
    cse_ir *ir;
    const cse_ref *memo;  /* term -> reference (variables, coefficients) */
    cse_ref **m_refs;     /* per M entry: its p*q references, once built */
    vec_u32 refs, items;    /* scratch */
} builder;

/* The sum of the products of the k-tuples in bd->items, made in order. */
static cse_ref sum_of_products(builder *bd, size_t k)
{
    size_t n = bd->items.n / k;
    if (bd->refs.cap < n) {
        bd->refs.cap = n;
        bd->refs.v = mem_realloc(bd->refs.v, n * sizeof *bd->refs.v);
    }
    bd->refs.n = n;
    cse_prod_run(bd->refs.v, bd->ir, bd->items.v, k, n);
    return cse_sum(bd->ir, bd->refs.v, n);
}

/* M_ab = sum_k c_k A_ka B_kb, every entry, for M entry me. */
static const cse_ref *build_m(builder *bd, analysis *an, size_t me)
{
    if (bd->m_refs[me]) return bd->m_refs[me];
    cse_ir *ir = bd->ir;
    const term_id *key = an->ms.keys.v + an->ms.key_off[me];
    size_t m = key[0], p = key[1], q = key[2];
    const term_id *cs = key + 3;
    const term_id *A = an->coefs.keys.v + an->coefs.key_off[key[3 + m]];
    const term_id *B = an->coefs.keys.v + an->coefs.key_off[key[4 + m]];
    cse_ref *out = mem_realloc(NULL, p * q * sizeof *out);
    cse_ref *c = mem_realloc(NULL, m * sizeof *c);
    for (size_t k = 0; k < m; k++) c[k] = cse_const(ir, num_value(&an->s->nums, cs[k]));
    for (size_t a = 0; a < p; a++)
        for (size_t b = 0; b < q; b++) {
            bd->items.n = 0;
            for (size_t k = 0; k < m; k++) {
                term_id x = A[k * p + a], y = B[k * q + b];
                if (!x || !y) continue;
                vec_u32_push(&bd->items, c[k]);
                vec_u32_push(&bd->items, bd->memo[x]);
                vec_u32_push(&bd->items, bd->memo[y]);
            }
            out[a * q + b] = sum_of_products(bd, 3);
        }
    free(c);
    bd->m_refs[me] = out;
    return out;
}

/* s' = sum_o x_o (sum_i y_i M_oi), the contracted vector shared. */
static cse_ref build_sum(builder *bd, analysis *an, const match *mt, int left)
{
    size_t me = mt->m_entry;
    const term_id *key = an->ms.keys.v + an->ms.key_off[me];
    size_t p = key[1], q = key[2];
    const cse_ref *M = build_m(bd, an, me);
    const term_id *vl = an->lists.keys.v + an->lists.key_off[mt->l.vars];
    const term_id *vr = an->lists.keys.v + an->lists.key_off[mt->r.vars];
    const term_id *inner = left ? vl : vr, *outer = left ? vr : vl;
    size_t n_inner = left ? p : q, n_outer = left ? q : p;
    term_id vkey[3] = { (term_id)me, (term_id)left, left ? mt->l.vars : mt->r.vars };
    long ve = cache_find(&an->us, vkey, 3);
    if (ve < 0) {
        vec_u32 val = { 0 };
        for (size_t o = 0; o < n_outer; o++) {
            bd->items.n = 0;
            for (size_t i = 0; i < n_inner; i++) {
                vec_u32_push(&bd->items, bd->memo[inner[i]]);
                vec_u32_push(&bd->items, M[left ? i * q + o : o * q + i]);
            }
            vec_u32_push(&val, sum_of_products(bd, 2));
        }
        ve = (long)cache_add(&an->us, vkey, 3, val.v, val.n); /* values: references */
        free(val.v);
    }
    const cse_ref *u = cache_val(&an->us, (size_t)ve);
    bd->items.n = 0;
    for (size_t o = 0; o < n_outer; o++) {
        vec_u32_push(&bd->items, bd->memo[outer[o]]);
        vec_u32_push(&bd->items, u[o]);
    }
    return sum_of_products(bd, 2);
}

/* Lowers what the new sums read (variables, coefficients built by the
 * analysis), then builds every new sum. */
static void build_all(cse_reassoc *out, analysis *an, const match *mt, size_t n_mt, int left, cse_ir *ir,
                      cse_ref **memo, uint32_t *memo_size)
{
    term_store *s = an->s;
    uint32_t size = term_count(s) + 1;
    if (size > *memo_size) {
        *memo = mem_realloc(*memo, (size_t)size * sizeof **memo);
        memset(*memo + *memo_size, 0, (size_t)(size - *memo_size) * sizeof **memo);
        *memo_size = size;
    }
    vec_u32 need = { 0 };
    unsigned char *m_seen = mem_calloc(an->ms.n + 1, 1);
    for (size_t k = 0; k < n_mt; k++) {
        const term_id *lists[2] = { an->lists.keys.v + an->lists.key_off[mt[k].l.vars],
                                    an->lists.keys.v + an->lists.key_off[mt[k].r.vars] };
        size_t lens[2] = { mt[k].l.p, mt[k].r.p };
        for (int sd = 0; sd < 2; sd++)
            for (size_t i = 0; i < lens[sd]; i++)
                if (!(*memo)[lists[sd][i]]) vec_u32_push(&need, lists[sd][i]);
        size_t me = mt[k].m_entry;
        if (m_seen[me]) continue;
        m_seen[me] = 1;
        const term_id *key = an->ms.keys.v + an->ms.key_off[me];
        size_t m = key[0];
        for (int sd = 0; sd < 2; sd++) {
            size_t e = key[3 + m + sd];
            const term_id *c = an->coefs.keys.v + an->coefs.key_off[e];
            for (size_t i = 0; i < an->coefs.key_len[e]; i++)
                if (c[i] && !(*memo)[c[i]]) vec_u32_push(&need, c[i]);
        }
    }
    free(m_seen);
    if (need.n) {
        cse_ref *r = mem_realloc(NULL, need.n * sizeof *r);
        cse_lower(r, *memo, ir, need.v, need.n);
        free(r);
    }
    free(need.v);
    builder bd = { ir, *memo, mem_calloc(an->ms.n + 1, sizeof(cse_ref *)), { 0 }, { 0 } };
    out->from = mem_realloc(NULL, n_mt * sizeof *out->from);
    out->to = mem_realloc(NULL, n_mt * sizeof *out->to);
    for (size_t k = 0; k < n_mt; k++) {
        out->from[k] = mt[k].sum;
        out->to[k] = build_sum(&bd, an, &mt[k], left);
    }
    for (size_t e = 0; e < an->ms.n; e++) free(bd.m_refs[e]);
    free(bd.m_refs);
    free(bd.refs.v);
    free(bd.items.v);
}

size_t cse_bilinear(cse_reassoc *out, term_store *s, const term_id *roots, size_t n, cse_ir *ir, cse_ref **memo,
                    uint32_t *memo_size)
{
    memset(out, 0, sizeof *out);
    uint32_t count = term_count(s);
    /* per term: reached from the roots, and uses (ops_removed); in the
     * program's scratch when there is one (no node is made while held) */
    size_t bytes = ((size_t)count + 1) * (sizeof(uint32_t) + 1);
    uint32_t *uses = ir ? cse_scratch(ir, bytes) : mem_realloc(NULL, bytes);
    memset(uses, 0, bytes);
    unsigned char *mark = (unsigned char *)(uses + (size_t)count + 1);
    term_mark_reachable(mark, s, roots, n);
    analysis an;
    memset(&an, 0, sizeof an);
    an.s = s;
    scratch_init(&an.w);
    cache_init(&an.sides);
    cache_init(&an.lists);
    cache_init(&an.coefs);
    cache_init(&an.ms);
    cache_init(&an.us);
    match *mt = NULL;
    size_t n_mt = 0, cap_mt = 0;
    vec_u32 lf = { 0 }, rf = { 0 }, cs = { 0 };
    for (term_id t = 1; t <= count; t++) {
        if (!mark[t] || term_op_of(s, t) != OP_ADD || !forms_of(&lf, &rf, &cs, s, t)) continue;
        side l, r;
        int ok = analyze_side(&l, &an, lf.v, lf.n) && analyze_side(&r, &an, rf.v, rf.n);
        if (!ok) { /* forms in mixed order: orient them, then try again */
            orient(&an, &lf, &rf);
            ok = analyze_side(&l, &an, lf.v, lf.n) && analyze_side(&r, &an, rf.v, rf.n);
        }
        if (!ok || (size_t)l.p * r.p > BILINEAR_MAX_ENTRIES / lf.n) continue;
        /* L R = R L: one orientation for every sum, or s_ij and s_ji would
         * need M and its transpose */
        if (l.coef > r.coef || (l.coef == r.coef && l.vars > r.vars)) {
            side x = l;
            l = r;
            r = x;
        }
        VEC_RESERVE(mt, cap_mt, n_mt + 1);
        mt[n_mt++] = (match){ t, (uint32_t)m_entry(&an, &cs, &l, &r, lf.n), l, r };
    }
    free(lf.v);
    free(rf.v);
    free(cs.v);
    int left = 0;
    if (n_mt) {
        int64_t removed = (int64_t)ops_removed(uses, s, mark, roots, n, mt, n_mt, count);
        int64_t d0 = (int64_t)ops_added(&an, mt, n_mt, 0) - removed;
        int64_t d1 = (int64_t)ops_added(&an, mt, n_mt, 1) - removed;
        left = d1 < d0;
        out->delta = left ? d1 : d0;
    }
    out->n = n_mt;
    if (ir && n_mt && out->delta < 0) build_all(out, &an, mt, n_mt, left, ir, memo, memo_size);
    free(mt);
    free(an.tmp.v);
    free(an.rest.v);
    free(an.buf.v);
    cache_clear(&an.sides);
    cache_clear(&an.lists);
    cache_clear(&an.coefs);
    cache_clear(&an.ms);
    cache_clear(&an.us);
    free(an.w.v);
    if (!ir) free(uses);
    return n_mt;
}

void cse_reassoc_clear(cse_reassoc *r)
{
    free(r->from);
    free(r->to);
    memset(r, 0, sizeof *r);
}

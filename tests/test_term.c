/* Tests of core/term: hash-consing and the canonical forms of constructors. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/term.h"
#include "tests/testlib.h"

static test_rng rng;

static term_store S;
static void setup(void) { term_store_init(&S); }
static void teardown(void) { term_store_clear(&S); }

#define X term_sym_cstr(&S, "x")
#define Y term_sym_cstr(&S, "y")
#define Z term_sym_cstr(&S, "z")
#define N(p, q) term_num_si(&S, p, q)

TestSuite(term, .init = setup, .fini = teardown);

Test(term, leaves_interned)
{
    cr_assert_eq(X, X);
    cr_assert_neq(X, Y);
    cr_assert_eq(term_sym(&S, "x_1_2junk", 5), term_sym_cstr(&S, "x_1_2"));
    cr_assert_str_eq(term_sym_name(&S, X), "x");
    cr_assert_eq(N(1, 4), N(2, 8));
    cr_assert_eq(N(0, 3), S.zero);
    cr_assert_eq(N(5, 5), S.one);
    cr_assert_eq(N(1, 2), S.half);
    cr_assert_eq(term_op_of(&S, X), OP_SYM);
    cr_assert_eq(term_op_of(&S, S.one), OP_NUM);
}

Test(term, sums)
{
    term_id x = X, y = Y;
    cr_assert_eq(term_add2(&S, x, x), term_mul2(&S, N(2, 1), x));
    cr_assert_eq(term_sub(&S, x, x), S.zero);
    cr_assert_eq(term_add2(&S, x, S.zero), x);
    cr_assert_eq(term_add2(&S, x, y), term_add2(&S, y, x));
    cr_assert_eq(term_add2(&S, N(1, 2), N(1, 3)), N(5, 6));
    term_id s = term_add(&S, (term_id[]){ x, N(1, 1), y, N(2, 1) }, 4);
    cr_assert_eq(term_op_of(&S, s), OP_ADD);
    cr_assert_eq(term_nargs(&S, s), 3);
    cr_assert_eq(term_arg(&S, s, 0), N(3, 1)); /* constant first */
    /* flattening: (x + y) + z == x + (y + z) */
    term_id z = Z;
    cr_assert_eq(term_add2(&S, term_add2(&S, x, y), z), term_add2(&S, x, term_add2(&S, y, z)));
    /* 2x + 3x = 5x, 2xy - 2yx = 0 */
    cr_assert_eq(term_add2(&S, term_mul2(&S, N(2, 1), x), term_mul2(&S, N(3, 1), x)), term_mul2(&S, N(5, 1), x));
    term_id xy = term_mul2(&S, x, y);
    cr_assert_eq(term_sub(&S, term_mul2(&S, N(2, 1), xy), term_mul(&S, (term_id[]){ y, N(2, 1), x }, 3)), S.zero);
    /* 1/2*x*y + 1/2*y*x = x*y */
    term_id h = term_mul(&S, (term_id[]){ S.half, x, y }, 3);
    cr_assert_eq(term_add2(&S, h, h), xy);
    cr_assert_eq(term_add(&S, NULL, 0), S.zero);
}

Test(term, products)
{
    term_id x = X, y = Y;
    cr_assert_eq(term_mul2(&S, x, x), term_pow_si(&S, x, 2));
    cr_assert_eq(term_div(&S, x, x), S.one);
    cr_assert_eq(term_mul2(&S, x, term_pow_si(&S, x, -1)), S.one);
    cr_assert_eq(term_mul2(&S, S.zero, x), S.zero);
    cr_assert_eq(term_mul2(&S, S.one, x), x);
    cr_assert_eq(term_mul2(&S, x, y), term_mul2(&S, y, x));
    cr_assert_eq(term_mul(&S, NULL, 0), S.one);
    term_id p = term_mul(&S, (term_id[]){ x, N(3, 1), y, N(1, 6) }, 4);
    cr_assert_eq(term_nargs(&S, p), 3);
    cr_assert_eq(term_arg(&S, p, 0), S.half);
    /* x^2 * x^-1/2 = x^(3/2) */
    cr_assert_eq(term_mul2(&S, term_pow_si(&S, x, 2), term_pow(&S, x, N(-1, 2))), term_pow(&S, x, N(3, 2)));
    /* x/y/x = 1/y */
    cr_assert_eq(term_div(&S, term_div(&S, x, y), x), term_pow_si(&S, y, -1));
    cr_assert_eq(term_neg(&S, term_neg(&S, x)), x);
    cr_assert_eq(term_mul(&S, NULL, 0), S.one);
    cr_assert_eq(term_mul2(&S, N(2, 3), N(3, 4)), S.half);
}

Test(term, powers)
{
    term_id x = X, y = Y;
    cr_assert_eq(term_pow_si(&S, x, 0), S.one);
    cr_assert_eq(term_pow_si(&S, x, 1), x);
    cr_assert_eq(term_pow_si(&S, N(2, 3), 3), N(8, 27));
    cr_assert_eq(term_pow_si(&S, N(2, 3), -2), N(9, 4));
    cr_assert_eq(term_sqrt(&S, N(4, 9)), N(2, 3));
    cr_assert_eq(term_pow(&S, N(8, 1), N(2, 3)), N(4, 1));
    /* 2^(3/2) = 2*sqrt(2); 2^(-1/2) = sqrt(2)/2 */
    term_id r2 = term_sqrt(&S, N(2, 1));
    cr_assert_eq(term_op_of(&S, r2), OP_POW);
    cr_assert_eq(term_pow(&S, N(2, 1), N(3, 2)), term_mul2(&S, N(2, 1), r2));
    cr_assert_eq(term_pow(&S, N(2, 1), N(-1, 2)), term_mul2(&S, S.half, r2));
    cr_assert_eq(term_mul2(&S, r2, r2), N(2, 1));
    cr_assert_eq(term_div(&S, S.one, r2), term_mul2(&S, S.half, r2));
    /* (x*y)^2 = x^2*y^2, (2x)^-1 = 1/2 x^-1 */
    cr_assert_eq(term_pow_si(&S, term_mul2(&S, x, y), 2), term_mul2(&S, term_pow_si(&S, x, 2), term_pow_si(&S, y, 2)));
    cr_assert_eq(term_pow_si(&S, term_mul2(&S, N(2, 1), x), -1), term_mul2(&S, S.half, term_pow_si(&S, x, -1)));
    /* (x^2)^3 = x^6, (x^(1/2))^2 = x, (x^2)^(1/2) stays (it is |x|) */
    cr_assert_eq(term_pow_si(&S, term_pow_si(&S, x, 2), 3), term_pow_si(&S, x, 6));
    cr_assert_eq(term_pow_si(&S, term_sqrt(&S, x), 2), x);
    term_id sq = term_sqrt(&S, term_pow_si(&S, x, 2));
    cr_assert_eq(term_op_of(&S, sq), OP_POW);
    cr_assert_eq(term_arg(&S, sq, 0), term_pow_si(&S, x, 2));
    /* formal: 0^-1 and (-2)^(1/2) are kept, never folded to nonsense */
    cr_assert_eq(term_op_of(&S, term_pow_si(&S, S.zero, -1)), OP_POW);
    cr_assert_eq(term_op_of(&S, term_sqrt(&S, N(-2, 1))), OP_POW);
    cr_assert_eq(term_sqrt(&S, S.zero), S.zero);
    cr_assert_eq(term_pow(&S, S.one, x), S.one);
    /* a symbolic exponent stays */
    term_id xy = term_pow(&S, x, y);
    cr_assert_eq(term_op_of(&S, xy), OP_POW);
    cr_assert_eq(term_arg(&S, xy, 1), y);
    /* huge integer powers of numbers stay formal instead of exhausting memory */
    cr_assert_eq(term_op_of(&S, term_pow_si(&S, N(3, 1), 1000000000)), OP_POW);
    cr_assert_eq(term_op_of(&S, term_pow_si(&S, N(3, 1), 1000)), OP_NUM);
}

Test(term, calls)
{
    term_id x = X, y = Y;
    cr_assert_eq(term_exp(&S, S.zero), S.one);
    cr_assert_eq(term_log(&S, S.one), S.zero);
    cr_assert_eq(term_tanh(&S, S.zero), S.zero);
    cr_assert_eq(term_abs(&S, N(-3, 2)), N(3, 2));
    cr_assert_eq(term_abs(&S, term_abs(&S, x)), term_abs(&S, x));
    cr_assert_eq(term_op_of(&S, term_exp(&S, x)), OP_EXP);
    cr_assert_eq(term_exp(&S, x), term_exp(&S, x));
    cr_assert_eq(term_max(&S, (term_id[]){ x, N(1, 1), y, N(2, 1) }, 4), term_max(&S, (term_id[]){ y, N(2, 1), x }, 3));
    cr_assert_eq(term_max(&S, (term_id[]){ x, x }, 2), x);
    cr_assert_eq(term_min(&S, (term_id[]){ N(3, 1), N(-1, 2) }, 2), N(-1, 2));
    cr_assert_eq(term_max(&S, (term_id[]){ term_max(&S, (term_id[]){ x, y }, 2), Z }, 2),
                 term_max(&S, (term_id[]){ x, term_max(&S, (term_id[]){ y, Z }, 2) }, 2));
    cr_assert_neq(term_max(&S, (term_id[]){ x, y }, 2), term_min(&S, (term_id[]){ x, y }, 2));
}

/* ---- random expressions ---- */

#define NSYM 5
static term_id syms[NSYM];

static term_id random_term(int depth)
{
    int k = depth <= 0 ? test_randn(&rng, 2) : test_randn(&rng, 10);
    switch (k) {
    case 0: return syms[test_randn(&rng, NSYM)];
    case 1: return N(test_randn(&rng, 9) - 4, test_randn(&rng, 3) + 1);
    case 2: case 3: {
        term_id a[4];
        int n = 2 + test_randn(&rng, 3);
        for (int i = 0; i < n; i++) a[i] = random_term(depth - 1);
        return term_add(&S, a, (size_t)n);
    }
    case 4: case 5: {
        term_id a[4];
        int n = 2 + test_randn(&rng, 3);
        for (int i = 0; i < n; i++) a[i] = random_term(depth - 1);
        return term_mul(&S, a, (size_t)n);
    }
    case 6: return term_pow_si(&S, random_term(depth - 1), test_randn(&rng, 5) - 2);
    case 7: return term_exp(&S, random_term(depth - 1));
    case 8: return term_sub(&S, random_term(depth - 1), random_term(depth - 1));
    default: return term_div(&S, random_term(depth - 1), random_term(depth - 1));
    }
}

static void shuffle(term_id *a, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)test_randn(&rng, (int)i);
        term_id t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

/* Sums and products do not depend on the order or grouping of arguments. */
Test(term, property_order_and_grouping)
{
    rng.state = 42;
    for (int i = 0; i < NSYM; i++) { char nm[16]; snprintf(nm, sizeof nm, "v%d", i); syms[i] = term_sym_cstr(&S, nm); }
    int iters = 10000 * test_multiplier();
    for (int it = 0; it < iters; it++) {
        term_id a[6];
        size_t n = 2 + (size_t)test_randn(&rng, 5);
        for (size_t i = 0; i < n; i++) a[i] = random_term(2);
        term_id sum = term_add(&S, a, n), prod = term_mul(&S, a, n);
        shuffle(a, n);
        cr_assert_eq(term_add(&S, a, n), sum);
        cr_assert_eq(term_mul(&S, a, n), prod);
        /* left fold == one n-ary call */
        term_id l = a[0], m = a[0];
        for (size_t i = 1; i < n; i++) { l = term_add2(&S, l, a[i]); m = term_mul2(&S, m, a[i]); }
        cr_assert_eq(l, sum);
        cr_assert_eq(m, prod);
        /* right fold */
        term_id r = a[n - 1], q = a[n - 1];
        for (size_t i = n - 1; i-- > 0;) { r = term_add2(&S, a[i], r); q = term_mul2(&S, a[i], q); }
        cr_assert_eq(r, sum);
        cr_assert_eq(q, prod);
        /* a - a = 0, a + (-1)*a = 0 */
        cr_assert_eq(term_sub(&S, sum, sum), S.zero);
    }
}

/* Checks every node of the store: children before parents, the canonical
 * form of its op, and that no two ids have the same structure. */
static void check_store_invariants(void)
{
    for (term_id t = 1; t <= term_count(&S); t++) {
        term_op op = term_op_of(&S, t);
        uint32_t n = term_nargs(&S, t);
        for (uint32_t i = 0; i < n; i++) cr_assert_lt(term_arg(&S, t, i), t);
        if (op == OP_ADD) {
            cr_assert_geq(n, 2);
            for (uint32_t i = 0; i < n; i++) {
                term_id a = term_arg(&S, t, i);
                cr_assert_neq(term_op_of(&S, a), OP_ADD);
                if (term_op_of(&S, a) == OP_MUL && term_nargs(&S, a) == 2)
                    cr_assert(!(term_op_of(&S, term_arg(&S, a, 0)) == OP_NUM && term_op_of(&S, term_arg(&S, a, 1)) == OP_ADD));
                if (i > 0) cr_assert_neq(term_op_of(&S, a), OP_NUM);
                else if (term_op_of(&S, a) == OP_NUM) cr_assert_neq(a, S.zero);
            }
        } else if (op == OP_MUL) {
            cr_assert_geq(n, 2);
            term_id prev_base = 0;
            for (uint32_t i = 0; i < n; i++) {
                term_id a = term_arg(&S, t, i);
                cr_assert_neq(term_op_of(&S, a), OP_MUL);
                if (term_op_of(&S, a) == OP_NUM) {
                    cr_assert_eq(i, 0);
                    cr_assert(a != S.zero && a != S.one);
                    continue;
                }
                term_id base = a;
                if (term_op_of(&S, a) == OP_POW && term_op_of(&S, term_arg(&S, a, 1)) == OP_NUM) base = term_arg(&S, a, 0);
                cr_assert_gt(base, prev_base, "factors sorted by base, bases distinct");
                prev_base = base;
            }
        } else if (op == OP_POW) {
            term_id e = term_arg(&S, t, 1);
            cr_assert(e != S.zero && e != S.one);
            cr_assert_neq(term_arg(&S, t, 0), S.one);
            if (term_is_integer(&S, e)) {
                term_op bop = term_op_of(&S, term_arg(&S, t, 0));
                cr_assert_neq(bop, OP_MUL);
                if (bop == OP_POW) cr_assert_neq(term_op_of(&S, term_arg(&S, term_arg(&S, t, 0), 1)), OP_NUM);
            }
        }
    }
    /* structural uniqueness: sort (op, args) keys */
    uint32_t count = term_count(&S);
    term_id *ids = malloc(count * sizeof *ids);
    for (uint32_t i = 0; i < count; i++) ids[i] = i + 1;
    /* pairwise check through a second table keyed by full structure */
    size_t cap = 1;
    while (cap < 2 * (size_t)count) cap <<= 1;
    term_id *tab = calloc(cap, sizeof *tab);
    for (uint32_t i = 0; i < count; i++) {
        term_id t = ids[i];
        uint64_t h = term_op_of(&S, t) * 1000003ULL;
        uint32_t n = term_nargs(&S, t);
        if (n == 0) h ^= S.nodes[t].a * 0x9e3779b97f4a7c15ULL;
        for (uint32_t k = 0; k < n; k++) h = (h ^ term_arg(&S, t, k)) * 0x100000001b3ULL;
        size_t slot = (size_t)(h ^ (h >> 31)) & (cap - 1);
        for (; tab[slot]; slot = (slot + 1) & (cap - 1)) {
            term_id u = tab[slot];
            int same = term_op_of(&S, u) == term_op_of(&S, t) && term_nargs(&S, u) == n;
            if (same && n == 0) same = S.nodes[u].a == S.nodes[t].a;
            for (uint32_t k = 0; same && k < n; k++) same = term_arg(&S, u, k) == term_arg(&S, t, k);
            cr_assert(!same, "terms %u and %u have the same structure", u, t);
        }
        tab[slot] = t;
    }
    free(tab);
    free(ids);
}

Test(term, property_store_invariants)
{
    rng.state = 7;
    for (int i = 0; i < NSYM; i++) { char nm[16]; snprintf(nm, sizeof nm, "w%d", i); syms[i] = term_sym_cstr(&S, nm); }
    int iters = 10000 * test_multiplier();
    for (int it = 0; it < iters; it++) random_term(4);
    cr_assert_gt(term_count(&S), 10000);
    check_store_invariants();
}

/* ---- canonicalisation preserves values: evaluate the random expression
 * directly while building it, and the canonical term independently ---- */

static fmpq_t sym_val[NSYM];

/* Builds a random expression and its value at sym_val; returns 0 when the
 * value is undefined (division by zero) or too large. */
static int random_valued(term_id *t, fmpq_t v, int depth)
{
    int k = depth <= 0 ? test_randn(&rng, 2) : test_randn(&rng, 8);
    if (k == 0) { int i = test_randn(&rng, NSYM); *t = syms[i]; fmpq_set(v, sym_val[i]); return 1; }
    if (k == 1) {
        slong p = test_randn(&rng, 9) - 4, q = test_randn(&rng, 3) + 1;
        *t = N(p, q);
        fmpq_set_si(v, p, (ulong)q);
        return 1;
    }
    term_id a, b;
    fmpq_t va, vb;
    fmpq_init(va);
    fmpq_init(vb);
    int ok = random_valued(&a, va, depth - 1) && random_valued(&b, vb, depth - 1);
    if (ok) {
        switch (k) {
        case 2: case 3: *t = term_add2(&S, a, b); fmpq_add(v, va, vb); break;
        case 4: *t = term_sub(&S, a, b); fmpq_sub(v, va, vb); break;
        case 5: case 6: *t = term_mul2(&S, a, b); fmpq_mul(v, va, vb); break;
        default:
            if (fmpq_is_zero(vb)) { ok = 0; break; }
            *t = term_div(&S, a, b);
            fmpq_div(v, va, vb);
        }
    }
    if (ok && fmpz_bits(fmpq_numref(v)) + fmpz_bits(fmpq_denref(v)) > 2000) ok = 0;
    fmpq_clear(va);
    fmpq_clear(vb);
    return ok;
}

/* Value of a canonical term over +, *, integer powers; 0 if undefined. */
static int eval_term(fmpq_t v, term_id t)
{
    switch (term_op_of(&S, t)) {
    case OP_NUM: fmpq_set(v, term_value(&S, t)); return 1;
    case OP_SYM:
        for (int i = 0; i < NSYM; i++)
            if (syms[i] == t) { fmpq_set(v, sym_val[i]); return 1; }
        return 0;
    case OP_ADD: case OP_MUL: {
        int add = term_op_of(&S, t) == OP_ADD, ok = 1;
        fmpq_t a;
        fmpq_init(a);
        if (add) fmpq_zero(v); else fmpq_one(v);
        for (uint32_t i = 0; ok && i < term_nargs(&S, t); i++) {
            ok = eval_term(a, term_arg(&S, t, i));
            if (add) fmpq_add(v, v, a); else fmpq_mul(v, v, a);
        }
        fmpq_clear(a);
        return ok;
    }
    case OP_POW: {
        term_id e = term_arg(&S, t, 1);
        if (!term_is_integer(&S, e)) return 0;
        if (!eval_term(v, term_arg(&S, t, 0))) return 0;
        slong k = fmpz_get_si(fmpq_numref(term_value(&S, e)));
        if (k < 0 && fmpq_is_zero(v)) return 0;
        fmpq_pow_si(v, v, k);
        return 1;
    }
    default: return 0;
    }
}

Test(term, property_values_preserved)
{
    rng.state = 2024;
    for (int i = 0; i < NSYM; i++) {
        char nm[16];
        snprintf(nm, sizeof nm, "u%d", i);
        syms[i] = term_sym_cstr(&S, nm);
        fmpq_init(sym_val[i]);
    }
    int iters = 10000 * test_multiplier(), checked = 0;
    fmpq_t want, got;
    fmpq_init(want);
    fmpq_init(got);
    for (int it = 0; it < iters; it++) {
        /* fresh values for the symbols, nonzero so x/x = 1 holds */
        for (int i = 0; i < NSYM; i++) fmpq_set_si(sym_val[i], test_randn(&rng, 2) ? test_randn(&rng, 7) + 1 : -(test_randn(&rng, 7) + 1), (ulong)test_randn(&rng, 4) + 1);
        term_id t;
        if (!random_valued(&t, want, 4)) continue;
        int ok = eval_term(got, t);
        if (!ok) continue; /* a canonical form with 0^-k: value undefined */
        cr_assert(fmpq_equal(got, want), "canonical form changed the value (case %d)", it);
        checked++;
    }
    cr_assert_gt(checked, iters / 2);
    fmpq_clear(want);
    fmpq_clear(got);
    for (int i = 0; i < NSYM; i++) fmpq_clear(sym_val[i]);
}

/* Same constructions in two stores: same ids (determinism). */
Test(term, deterministic_ids)
{
    term_store a, b;
    term_store_init(&a);
    term_store_init(&b);
    term_store *st[2] = { &a, &b };
    term_id last[2];
    for (int k = 0; k < 2; k++) {
        uint64_t seed = 99;
        term_store *s = st[k];
        term_id acc = s->zero;
        for (int i = 0; i < 5000; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            char nm[16];
            snprintf(nm, sizeof nm, "a%u", (unsigned)(seed >> 33) % 100);
            term_id x = term_sym_cstr(s, nm);
            acc = (seed >> 20) % 3 ? term_add2(s, acc, term_mul2(s, x, x)) : term_exp(s, term_sub(s, acc, x));
        }
        last[k] = acc;
    }
    cr_assert_eq(last[0], last[1]);
    cr_assert_eq(term_count(&a), term_count(&b));
    cr_assert_eq(memcmp(a.nodes, b.nodes, (term_count(&a) + 1) * sizeof *a.nodes), 0);
    term_store_clear(&a);
    term_store_clear(&b);
}

/* The memory budget: <= 40 bytes per node including the hash table, on the
 * shape of an attention block (sums of products). */
Test(term, memory_budget)
{
    enum { D = 64, ROWS = 3000 };
    term_id w[D * 4], terms[D];
    for (int i = 0; i < D * 4; i++) { char nm[16]; snprintf(nm, sizeof nm, "W_%d", i); w[i] = term_sym_cstr(&S, nm); }
    for (int r = 0; r < ROWS; r++) {
        for (int c = 0; c < D; c++) {
            char nm[32];
            snprintf(nm, sizeof nm, "x_%d_%d", r, c);
            terms[c] = term_mul2(&S, w[(r + c) % (D * 4)], term_sym_cstr(&S, nm));
        }
        term_add(&S, terms, D);
    }
    double per_node = (double)term_memory(&S) / term_count(&S);
    cr_assert_leq(per_node, 40.0, "%.1f bytes per node", per_node);
}

Test(term, mark_reachable)
{
    term_id x = X, y = Y;
    term_id e = term_exp(&S, term_add2(&S, x, y));
    term_id f = term_mul2(&S, e, e); /* exp(x+y)^2 */
    term_id g = term_add2(&S, e, term_log(&S, e));
    unsigned char *mark = calloc(term_count(&S) + 1, 1);
    size_t n = term_mark_reachable(mark, &S, (term_id[]){ f, g }, 2);
    /* f, 2, e, x+y, x, y, g, log(e) */
    cr_assert_eq(n, 8);
    cr_assert(mark[x] && mark[y] && mark[e] && mark[f] && mark[g]);
    free(mark);
}

/* Reserving capacity changes no id and no canonical form. */
Test(term, reserve_changes_nothing)
{
    term_store a, b;
    term_store_init(&a);
    term_store_init(&b);
    term_store_reserve(&b, 100000, 300000);
    term_store *st[2] = { &a, &b };
    term_id last[2];
    for (int k = 0; k < 2; k++) {
        term_store *s = st[k];
        term_id acc = s->zero;
        for (int i = 0; i < 20000; i++) {
            char nm[16];
            snprintf(nm, sizeof nm, "r%d", i % 97);
            acc = term_add2(s, term_mul2(s, acc, term_sym_cstr(s, nm)), term_num_si(s, i, 7));
            if (i % 50 == 0) acc = term_exp(s, term_sym_cstr(s, nm));
        }
        last[k] = acc;
    }
    cr_assert_eq(last[0], last[1]);
    cr_assert_eq(term_count(&a), term_count(&b));
    cr_assert_eq(memcmp(a.pool, b.pool, a.n_pool * sizeof *a.pool), 0);
    term_store_clear(&a);
    term_store_clear(&b);
}

/* Tests of core/term: hash-consing and the canonical forms of constructors. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/term.h"
#include "tests/lib/testlib.h"

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
        if (term_has_ninf(&S, t)) continue; /* formal: checked by check_ninf_node */
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

/* ---- -inf and lse (core/term.h): the folds, and what stays formal ---- */

#define NINF S.neg_inf

static int mentions(term_id t, term_id u)
{
    for (uint32_t i = 0; i < term_nargs(&S, t); i++)
        if (term_arg(&S, t, i) == u) return 1;
    return 0;
}

static int args_sorted(term_id t)
{
    for (uint32_t i = 1; i < term_nargs(&S, t); i++)
        if (term_arg(&S, t, i - 1) > term_arg(&S, t, i)) return 0;
    return 1;
}

Test(term, neg_inf_leaf)
{
    cr_assert_eq(term_neg_inf(&S), NINF);
    cr_assert_eq(term_op_of(&S, NINF), OP_NINF);
    cr_assert_eq(term_nargs(&S, NINF), 0);
    cr_assert(term_has_ninf(&S, NINF));
    cr_assert_eq(term_make(&S, OP_NINF, NULL, 0), NINF);
    cr_assert_str_eq(term_op_name(OP_NINF), "ninf");
    cr_assert_str_eq(term_op_name(OP_LSE), "lse");
    /* numbers, symbols and ordinary terms are finite: not flagged */
    cr_assert(!term_has_ninf(&S, S.zero));
    cr_assert(!term_has_ninf(&S, X));
    cr_assert(!term_has_ninf(&S, term_exp(&S, term_add2(&S, X, N(1, 2)))));
    /* the flag is a high bit of ops[], masked by term_op_of */
    term_id m = term_neg(&S, NINF);
    cr_assert_neq(S.ops[m], OP_MUL);
    cr_assert_eq(term_op_of(&S, m), OP_MUL);
    cr_assert_eq(S.ops[m] & TERM_OP_MASK, OP_MUL);
}

Test(term, neg_inf_exp_tanh)
{
    cr_assert_eq(term_exp(&S, NINF), S.zero);
    cr_assert_eq(term_tanh(&S, NINF), S.minus_one);
    cr_assert_eq(term_make(&S, OP_EXP, &NINF, 1), S.zero);
    /* exp of another term that mentions -inf stays formal */
    term_id xi = term_mul2(&S, X, NINF);
    term_id e = term_exp(&S, xi);
    cr_assert_eq(term_op_of(&S, e), OP_EXP);
    cr_assert_eq(term_arg(&S, e, 0), xi);
    cr_assert(term_has_ninf(&S, e));
    cr_assert_eq(term_op_of(&S, term_tanh(&S, xi)), OP_TANH);
    /* log and abs of -inf have no value: formal */
    term_id l = term_log(&S, NINF), a = term_abs(&S, NINF);
    cr_assert_eq(term_op_of(&S, l), OP_LOG);
    cr_assert_eq(term_op_of(&S, a), OP_ABS);
    cr_assert(term_has_ninf(&S, l) && term_has_ninf(&S, a));
    cr_assert_eq(term_abs(&S, a), a);
}

Test(term, neg_inf_sums)
{
    term_id x = X, y = Y;
    /* x + -inf = -inf for every finite x */
    cr_assert_eq(term_add2(&S, x, NINF), NINF);
    cr_assert_eq(term_add2(&S, NINF, x), NINF);
    cr_assert_eq(term_add2(&S, N(3, 1), NINF), NINF);
    cr_assert_eq(term_add2(&S, NINF, NINF), NINF);
    cr_assert_eq(term_add(&S, (term_id[]){ x, NINF, term_add2(&S, x, y), N(-7, 2) }, 4), NINF);
    cr_assert_eq(term_add(&S, &NINF, 1), NINF);
    cr_assert_eq(term_sub(&S, x, term_neg(&S, term_neg(&S, x))), S.zero); /* still canonical */
    /* -inf + (x * -inf): both mention -inf, so the sum stays formal */
    term_id xi = term_mul2(&S, x, NINF);
    term_id s = term_add2(&S, NINF, xi);
    cr_assert_eq(term_op_of(&S, s), OP_ADD);
    cr_assert(term_has_ninf(&S, s));
    cr_assert_eq(term_nargs(&S, s), 2);
    cr_assert(mentions(s, NINF) && mentions(s, xi) && args_sorted(s));
    cr_assert_eq(term_add2(&S, xi, NINF), s);
    /* x - (-inf) = x + (-1)*(-inf): formal, not -inf and not +inf */
    term_id d = term_sub(&S, x, NINF);
    cr_assert_eq(term_op_of(&S, d), OP_ADD);
    cr_assert(mentions(d, x) && mentions(d, term_neg(&S, NINF)));
    /* formal sums: no canonicalisation beyond dropping zeros and sorting */
    cr_assert_eq(term_add(&S, (term_id[]){ S.zero, xi }, 2), xi);
    term_id f = term_add(&S, (term_id[]){ x, x, xi }, 3);
    cr_assert_eq(term_nargs(&S, f), 3); /* x + x is not collected here */
    cr_assert_neq(f, term_add2(&S, term_add2(&S, x, x), xi));
    term_id g = term_add(&S, (term_id[]){ term_add2(&S, x, y), xi }, 2);
    cr_assert_eq(term_nargs(&S, g), 2); /* a sum inside, not flattened */
    cr_assert(mentions(g, term_add2(&S, x, y)));
    /* -inf + -inf + (x * -inf): both -inf kept */
    term_id h = term_add(&S, (term_id[]){ NINF, xi, NINF }, 3);
    cr_assert_eq(term_nargs(&S, h), 3);
    cr_assert_eq(term_arg(&S, h, 0), NINF);
    cr_assert_eq(term_arg(&S, h, 1), NINF);
}

Test(term, neg_inf_products)
{
    term_id x = X;
    /* c * -inf = -inf for a rational c > 0 */
    cr_assert_eq(term_mul2(&S, N(2, 1), NINF), NINF);
    cr_assert_eq(term_mul2(&S, NINF, N(1, 3)), NINF);
    cr_assert_eq(term_mul(&S, (term_id[]){ N(2, 1), NINF, N(3, 1) }, 3), NINF);
    cr_assert_eq(term_mul(&S, (term_id[]){ N(-2, 1), NINF, N(-3, 1) }, 3), NINF);
    cr_assert_eq(term_mul2(&S, S.one, NINF), NINF);
    cr_assert_eq(term_mul(&S, &NINF, 1), NINF);
    /* -2 * -inf and -1 * -inf are +inf: formal */
    term_id m2 = term_mul2(&S, N(-2, 1), NINF);
    cr_assert_eq(term_op_of(&S, m2), OP_MUL);
    cr_assert(term_has_ninf(&S, m2));
    cr_assert(mentions(m2, N(-2, 1)) && mentions(m2, NINF) && args_sorted(m2));
    term_id m1 = term_neg(&S, NINF);
    cr_assert_eq(term_op_of(&S, m1), OP_MUL);
    cr_assert_eq(term_arg(&S, m1, 0), S.minus_one);
    cr_assert_eq(term_arg(&S, m1, 1), NINF);
    cr_assert_neq(term_neg(&S, m1), NINF); /* -(-(-inf)) is not folded either */
    /* 0 * -inf is not 0 */
    term_id z = term_mul2(&S, S.zero, NINF);
    cr_assert_neq(z, S.zero);
    cr_assert_eq(term_op_of(&S, z), OP_MUL);
    cr_assert(term_has_ninf(&S, z));
    /* x * -inf: x may be negative or 0, so formal */
    term_id xi = term_mul2(&S, x, NINF);
    cr_assert_eq(term_op_of(&S, xi), OP_MUL);
    cr_assert_eq(term_mul2(&S, NINF, x), xi);
    cr_assert_eq(term_mul(&S, (term_id[]){ S.one, x, NINF }, 3), xi); /* ones dropped */
    /* -inf * -inf is +inf: formal, both kept */
    term_id ii = term_mul2(&S, NINF, NINF);
    cr_assert_eq(term_nargs(&S, ii), 2);
    /* a product inside a formal product is not flattened */
    term_id twox = term_mul2(&S, N(2, 1), x);
    term_id p = term_mul2(&S, twox, NINF);
    cr_assert_eq(term_nargs(&S, p), 2);
    cr_assert(mentions(p, twox));
    cr_assert_neq(p, term_mul(&S, (term_id[]){ N(2, 1), x, NINF }, 3));
    /* division by -inf: formal */
    term_id q = term_div(&S, x, NINF);
    cr_assert(term_has_ninf(&S, q));
    cr_assert_neq(q, S.zero);
}

Test(term, neg_inf_powers)
{
    cr_assert_eq(term_pow_si(&S, NINF, 1), NINF);
    cr_assert_eq(term_pow(&S, NINF, S.one), NINF);
    term_id sq = term_pow_si(&S, NINF, 2);
    cr_assert_eq(term_op_of(&S, sq), OP_POW);
    cr_assert_eq(term_arg(&S, sq, 0), NINF);
    cr_assert_eq(term_arg(&S, sq, 1), N(2, 1));
    cr_assert(term_has_ninf(&S, sq));
    /* x^0 = 1 holds for finite x only */
    cr_assert_neq(term_pow_si(&S, NINF, 0), S.one);
    /* ((-inf)^2)^3 is not combined */
    cr_assert_neq(term_pow_si(&S, sq, 3), term_pow_si(&S, NINF, 6));
    cr_assert_eq(term_op_of(&S, term_sqrt(&S, NINF)), OP_POW);
    /* a -inf exponent: formal, base first (not sorted) */
    term_id e = term_pow(&S, N(2, 1), NINF);
    cr_assert_eq(term_op_of(&S, e), OP_POW);
    cr_assert_eq(term_arg(&S, e, 0), N(2, 1));
    cr_assert_eq(term_arg(&S, e, 1), NINF);
    cr_assert(term_has_ninf(&S, e));
    term_id one_inf = term_pow(&S, S.one, NINF);
    cr_assert_neq(one_inf, S.one);
    cr_assert_eq(term_op_of(&S, one_inf), OP_POW);
}

Test(term, neg_inf_max_min)
{
    term_id x = X, y = Y;
    cr_assert_eq(term_max(&S, (term_id[]){ NINF, x }, 2), x);
    cr_assert_eq(term_max(&S, (term_id[]){ x, NINF, y }, 3), term_max(&S, (term_id[]){ y, x }, 2));
    cr_assert_eq(term_max(&S, (term_id[]){ NINF, N(3, 1), N(2, 1) }, 3), N(3, 1));
    cr_assert_eq(term_max(&S, (term_id[]){ NINF, N(-5, 1) }, 2), N(-5, 1));
    cr_assert_eq(term_max(&S, &NINF, 1), NINF);
    cr_assert_eq(term_max(&S, (term_id[]){ NINF, NINF }, 2), NINF);
    cr_assert_eq(term_min(&S, (term_id[]){ NINF, x }, 2), NINF);
    cr_assert_eq(term_min(&S, (term_id[]){ x, y, NINF }, 3), NINF);
    cr_assert_eq(term_min(&S, (term_id[]){ N(-100, 1), NINF }, 2), NINF);
    cr_assert_eq(term_min(&S, &NINF, 1), NINF);
    /* another flagged argument stays, and flags the call */
    term_id xi = term_mul2(&S, x, NINF);
    term_id m = term_max(&S, (term_id[]){ xi, y }, 2);
    cr_assert_eq(term_op_of(&S, m), OP_MAX);
    cr_assert(term_has_ninf(&S, m));
    cr_assert_eq(term_max(&S, (term_id[]){ y, xi, NINF }, 3), m);
    term_id n = term_min(&S, (term_id[]){ xi, y }, 2);
    cr_assert_eq(term_op_of(&S, n), OP_MIN);
    cr_assert(term_has_ninf(&S, n));
}

Test(term, lse)
{
    term_id x = X, y = Y, z = Z;
    term_id xy = term_lse(&S, (term_id[]){ x, y }, 2);
    cr_assert_eq(term_op_of(&S, xy), OP_LSE);
    cr_assert_eq(term_nargs(&S, xy), 2);
    cr_assert(args_sorted(xy));
    cr_assert(!term_has_ninf(&S, xy));
    /* sorted: the order of arguments does not matter */
    cr_assert_eq(term_lse(&S, (term_id[]){ y, x }, 2), xy);
    /* one argument: that argument */
    cr_assert_eq(term_lse(&S, &x, 1), x);
    cr_assert_eq(term_lse(&S, (term_id[]){ N(3, 1) }, 1), N(3, 1));
    /* -inf arguments dropped: exp(-inf) adds 0 */
    cr_assert_eq(term_lse(&S, (term_id[]){ NINF, x, y }, 3), xy);
    cr_assert_eq(term_lse(&S, (term_id[]){ x, NINF }, 2), x);
    cr_assert_eq(term_lse(&S, (term_id[]){ NINF, NINF }, 2), NINF);
    cr_assert_eq(term_lse(&S, &NINF, 1), NINF);
    /* duplicates kept: lse(x, x) = x + log 2, not x */
    term_id xx = term_lse(&S, (term_id[]){ x, x }, 2);
    cr_assert_neq(xx, x);
    cr_assert_eq(term_nargs(&S, xx), 2);
    cr_assert_eq(term_arg(&S, xx, 0), x);
    cr_assert_eq(term_arg(&S, xx, 1), x);
    cr_assert_neq(term_lse(&S, (term_id[]){ x, x, y }, 3), xy);
    cr_assert_eq(term_nargs(&S, term_lse(&S, (term_id[]){ x, y, x }, 3)), 3);
    /* flattened */
    term_id xyz = term_lse(&S, (term_id[]){ x, y, z }, 3);
    cr_assert_eq(term_nargs(&S, xyz), 3);
    cr_assert_eq(term_lse(&S, (term_id[]){ xy, z }, 2), xyz);
    cr_assert_eq(term_lse(&S, (term_id[]){ z, xy }, 2), xyz);
    cr_assert_eq(term_lse(&S, (term_id[]){ x, term_lse(&S, (term_id[]){ z, y }, 2) }, 2), xyz);
    cr_assert_eq(term_nargs(&S, term_lse(&S, (term_id[]){ xy, xy }, 2)), 4);
    /* no numeric folding: lse(0, 0) is log 2 */
    term_id l00 = term_lse(&S, (term_id[]){ S.zero, S.zero }, 2);
    cr_assert_eq(term_op_of(&S, l00), OP_LSE);
    cr_assert_eq(term_nargs(&S, l00), 2);
    /* not max, not log of a sum */
    cr_assert_neq(xy, term_max(&S, (term_id[]){ x, y }, 2));
    cr_assert_eq(term_make(&S, OP_LSE, (term_id[]){ y, x }, 2), xy);
    /* a flagged argument (other than -inf) stays and flags the call */
    term_id xi = term_mul2(&S, x, NINF);
    term_id l = term_lse(&S, (term_id[]){ y, xi }, 2);
    cr_assert_eq(term_op_of(&S, l), OP_LSE);
    cr_assert(term_has_ninf(&S, l));
    /* a softmax entry: exp(s_j - lse(row)), one lse node per row */
    term_id e1 = term_exp(&S, term_sub(&S, x, xyz)), e2 = term_exp(&S, term_sub(&S, y, term_lse(&S, (term_id[]){ z, y, x }, 3)));
    cr_assert_eq(term_arg(&S, term_arg(&S, e1, 0), 1), term_arg(&S, term_arg(&S, e2, 0), 1));
}

/* ---- random terms with -inf mixed in ---- */

static term_id ninf_pool[8];

/* A random term that may mention -inf. n-ary calls are also built from a
 * shuffled copy of their arguments, which must give the same id. */
static term_id random_ninf_term(int depth)
{
    int k = depth <= 0 ? test_randn(&rng, 4) : test_randn(&rng, 17);
    term_id a[5], b[5];
    int n = 1 + test_randn(&rng, 4);
    switch (k) {
    case 0: return syms[test_randn(&rng, NSYM)];
    case 1: return N(test_randn(&rng, 7) - 3, test_randn(&rng, 2) + 1);
    case 2: case 3: return NINF;
    case 4: return ninf_pool[test_randn(&rng, 8)];
    case 14: return term_pow(&S, random_ninf_term(depth - 1), N(test_randn(&rng, 5) - 2, test_randn(&rng, 2) + 1));
    case 15: {
        term_id base = random_ninf_term(depth - 1);
        return term_pow(&S, base, random_ninf_term(depth - 2));
    }
    case 16: {
        term_id u = random_ninf_term(depth - 1);
        switch (test_randn(&rng, 5)) {
        case 0: return term_exp(&S, u);
        case 1: return term_log(&S, u);
        case 2: return term_abs(&S, u);
        case 3: return term_tanh(&S, u);
        default: return term_neg(&S, u);
        }
    }
    default: break;
    }
    for (int i = 0; i < n; i++) a[i] = b[i] = random_ninf_term(depth - 1);
    shuffle(b, (size_t)n);
    term_op op;
    switch (k) {
    case 5: case 6: op = OP_ADD; break;
    case 7: case 8: op = OP_MUL; break;
    case 9: op = OP_MAX; break;
    case 10: op = OP_MIN; break;
    default: op = OP_LSE; break;
    }
    term_id t = term_make(&S, op, a, (size_t)n);
    cr_assert_eq(term_make(&S, op, b, (size_t)n), t, "%s of %d arguments depends on their order", term_op_name(op), n);
    return t;
}

/* Invariants of the nodes that mention -inf: formal shapes (core/term.h). */
static void check_ninf_node(term_id t)
{
    term_op op = term_op_of(&S, t);
    uint32_t n = term_nargs(&S, t);
    switch (op) {
    case OP_ADD: {
        cr_assert_geq(n, 2);
        cr_assert(args_sorted(t));
        int other = 0; /* an argument other than -inf that mentions it */
        for (uint32_t i = 0; i < n; i++) {
            term_id a = term_arg(&S, t, i);
            cr_assert_neq(a, S.zero);
            if (a != NINF && term_has_ninf(&S, a)) other = 1;
        }
        cr_assert(other, "a sum of -inf and finite terms must be -inf");
        break;
    }
    case OP_MUL: {
        cr_assert_geq(n, 2);
        cr_assert(args_sorted(t));
        for (uint32_t i = 0; i < n; i++) cr_assert_neq(term_arg(&S, t, i), S.one);
        break;
    }
    case OP_POW: cr_assert_neq(term_arg(&S, t, 1), S.one); break; /* (-inf)^1 = -inf */
    case OP_EXP: case OP_TANH: cr_assert_neq(term_arg(&S, t, 0), NINF); break;
    case OP_MAX: case OP_MIN: case OP_LSE:
        cr_assert_geq(n, 2);
        cr_assert(args_sorted(t));
        for (uint32_t i = 0; i < n; i++) cr_assert_neq(term_arg(&S, t, i), NINF);
        break;
    default: break;
    }
}

Test(term, property_neg_inf)
{
    rng.state = 31337;
    for (int i = 0; i < NSYM; i++) { char nm[16]; snprintf(nm, sizeof nm, "m%d", i); syms[i] = term_sym_cstr(&S, nm); }
    term_id x = syms[0];
    ninf_pool[0] = NINF;
    ninf_pool[1] = term_neg(&S, NINF);
    ninf_pool[2] = term_mul2(&S, x, NINF);
    ninf_pool[3] = term_pow_si(&S, NINF, 2);
    ninf_pool[4] = term_log(&S, NINF);
    ninf_pool[5] = term_mul2(&S, S.zero, NINF);
    ninf_pool[6] = term_add2(&S, NINF, ninf_pool[2]);
    ninf_pool[7] = term_lse(&S, (term_id[]){ x, syms[1] }, 2);
    int iters = 5000 * test_multiplier();
    term_id *roots = malloc((size_t)iters * sizeof *roots);
    int flagged = 0, finite = 0;
    for (int it = 0; it < iters; it++) {
        roots[it] = random_ninf_term(1 + it % 4);
        if (term_has_ninf(&S, roots[it])) flagged++;
        else finite++;
    }
    cr_assert_gt(flagged, iters / 10);
    cr_assert_gt(finite, iters / 10);
    /* flagged iff -inf is reachable: by a walk over the arguments, never
     * reading the flags */
    uint32_t count = term_count(&S);
    unsigned char *reach = calloc((size_t)count + 1, 1);
    for (term_id t = 1; t <= count; t++) {
        reach[t] = t == NINF;
        for (uint32_t i = 0; i < term_nargs(&S, t); i++) reach[t] |= reach[term_arg(&S, t, i)];
        cr_assert_eq(!!term_has_ninf(&S, t), reach[t], "term %u: flag %d, -inf reachable %d", t, term_has_ninf(&S, t), reach[t]);
        if (reach[t]) check_ninf_node(t);
    }
    /* and by term_mark_reachable from each of a sample of roots */
    unsigned char *mark = malloc((size_t)count + 1);
    for (int it = 0; it < iters; it += 1 + iters / 200) {
        memset(mark, 0, (size_t)count + 1);
        term_mark_reachable(mark, &S, &roots[it], 1);
        cr_assert_eq(!!mark[NINF], !!term_has_ninf(&S, roots[it]), "root %d", it);
    }
    free(mark);
    free(reach);
    free(roots);
    check_store_invariants(); /* the finite terms are canonical as ever */
}

/* The same random construction in a fresh store gives the same ids. */
Test(term, neg_inf_deterministic)
{
    term_id last[2];
    uint32_t counts[2];
    for (int k = 0; k < 2; k++) {
        term_store_clear(&S);
        term_store_init(&S);
        rng.state = 555;
        for (int i = 0; i < NSYM; i++) { char nm[16]; snprintf(nm, sizeof nm, "d%d", i); syms[i] = term_sym_cstr(&S, nm); }
        for (int i = 0; i < 8; i++) ninf_pool[i] = i % 2 ? NINF : term_neg(&S, NINF);
        term_id t = S.zero;
        for (int it = 0; it < 500; it++) t = random_ninf_term(3);
        last[k] = t;
        counts[k] = term_count(&S);
    }
    cr_assert_eq(last[0], last[1]);
    cr_assert_eq(counts[0], counts[1]);
}

/* Tests of rewrite/engine: values kept at random rational points (exactly,
 * or by overlapping Arb balls); measures decreasing at every firing; traces
 * that replay; the step cap; deep terms. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <flint/fmpq.h>

#include "core/arbcompat.h"
#include "core/diag.h"
#include "core/parse.h"
#include "core/print.h"
#include "core/term.h"
#include "rewrite/engine.h"
#include "rewrite/rules.h"
#include "tests/lib/testlib.h"
#include "tests/lib/testrules.h"

/* ---- random terms, evaluated at random rational points ---- */

#define N_SYMS 4
static const char *const sym_names[N_SYMS] = { "x", "y", "z", "w" };

static term_id random_leaf(test_rng *r)
{
    if (test_randn(r, 5) < 3) return term_sym_cstr(&S, sym_names[test_randn(r, N_SYMS)]);
    return term_num_si(&S, test_randn(r, 7) - 3, test_randn(r, 3) + 1);
}

static term_id random_term(test_rng *r, int depth);

static term_id small(test_rng *r, int depth) { return random_term(r, depth > 1 ? depth - 1 : 0); }

/* A positive term where a positive argument is wanted. */
static term_id random_positive(test_rng *r, int depth)
{
    switch (test_randn(r, 3)) {
    case 0: return term_exp(&S, small(r, depth < 2 ? depth : 2));
    case 1: return term_add2(&S, term_pow_si(&S, small(r, depth), 2), term_num_si(&S, test_randn(r, 3) + 1, 2));
    default: return term_num_si(&S, test_randn(r, 5) + 1, test_randn(r, 3) + 1);
    }
}

/* Random terms rich in redexes of every rule. */
static term_id random_term(test_rng *r, int depth)
{
    if (depth <= 0 || test_randn(r, 6) == 0) return random_leaf(r);
    term_id a = small(r, depth), b, c;
    switch (test_randn(r, 24)) {
    case 0: case 1: b = small(r, depth); return test_randn(r, 2) ? term_add2(&S, a, b) : term_add(&S, (term_id[]){ a, b, small(r, depth) }, 3);
    case 2: case 3: b = small(r, depth); return test_randn(r, 2) ? term_mul2(&S, a, b) : term_mul(&S, (term_id[]){ a, b, small(r, depth) }, 3);
    case 4: { static const slong k[] = { -2, -1, 2, 3 }; return term_pow_si(&S, a, k[test_randn(r, 4)]); }
    case 5: { static const slong p[] = { 1, 1, 3, -1, 2 }, q[] = { 2, 3, 2, 2, 3 }; int i = test_randn(r, 5); return term_pow(&S, a, term_num_si(&S, p[i], q[i])); }
    case 6: return term_pow(&S, random_positive(r, depth - 1), small(r, 2));
    case 7: return term_exp(&S, small(r, 2));
    case 8: return term_log(&S, test_randn(r, 2) ? a : random_positive(r, depth - 1));
    case 9: return term_abs(&S, a);
    case 10: { static const slong k[] = { 2, 4, 2 }, p[] = { 1, 1, 1 }, q[] = { 2, 2, 3 }; int i = test_randn(r, 3); return term_pow(&S, term_pow_si(&S, a, k[i]), term_num_si(&S, p[i], q[i])); }
    case 11: return term_pow_si(&S, term_abs(&S, a), test_randn(r, 3) + 2);
    case 12: return term_abs(&S, test_randn(r, 2) ? term_pow_si(&S, a, 2) : term_exp(&S, small(r, 2)));
    case 13: return term_log(&S, term_exp(&S, a));
    case 14: return term_exp(&S, term_log(&S, test_randn(r, 2) ? random_positive(r, depth - 1) : a));
    case 15: b = random_positive(r, depth - 1); return term_mul2(&S, term_pow(&S, b, small(r, 2)), term_pow(&S, b, small(r, 2)));
    case 16: b = term_sym_cstr(&S, sym_names[test_randn(r, N_SYMS)]); return term_mul(&S, (term_id[]){ b, term_pow(&S, b, small(r, 2)), a }, 3);
    case 17: b = term_add2(&S, a, small(r, depth)); return term_pow_si(&S, b, test_randn(r, 2) ? 2 : -2);
    case 18: b = small(r, depth); c = small(r, depth); return term_mul2(&S, a, term_add2(&S, b, c));
    case 19: b = small(r, depth); return term_add(&S, (term_id[]){ term_pow_si(&S, a, -1), term_div(&S, b, small(r, depth)), small(r, 1) }, 3);
    case 20: return term_log(&S, term_mul(&S, (term_id[]){ random_positive(r, depth - 1), random_positive(r, depth - 1), term_num_si(&S, test_randn(r, 3) + 1, 1) }, 3));
    case 21: b = random_positive(r, depth - 1); return term_pow(&S, term_pow(&S, b, small(r, 2)), small(r, 2));
    case 22: b = small(r, depth); c = small(r, depth); return term_add2(&S, term_mul2(&S, a, b), term_mul2(&S, a, c));
    default: return term_log(&S, term_pow(&S, a, small(r, 1)));
    }
}

enum { VAL_DEFINED, VAL_UNDEFINED, VAL_NOT_RATIONAL };

/* Values of the symbols, by sym id (every symbol of the tests has one). */
typedef struct point {
    fmpq v[N_SYMS];
    sym_id id[N_SYMS];
} point;

static const fmpq *point_value(const point *pt, sym_id y)
{
    for (int i = 0; i < N_SYMS; i++)
        if (pt->id[i] == y) return &pt->v[i];
    cr_assert_fail("a symbol without a value");
    return NULL;
}

/* Exact rational value of t, by a dynamic program over its DAG: sums,
 * products, integer powers, abs, max, min. */
static int exact_value(fmpq_t out, term_id t, const point *pt)
{
    unsigned char *mark = calloc((size_t)t + 1, 1), *st = calloc((size_t)t + 1, 1);
    fmpq *val = malloc(((size_t)t + 1) * sizeof *val);
    term_mark_reachable(mark, &S, &t, 1);
    for (term_id u = 1; u <= t; u++) {
        if (!mark[u]) continue;
        fmpq_init(val + u);
        uint32_t n = term_nargs(&S, u);
        int status = VAL_DEFINED;
        for (uint32_t j = 0; j < n; j++) {
            int a = st[term_arg(&S, u, j)];
            if (a == VAL_UNDEFINED) status = VAL_UNDEFINED;
            else if (a == VAL_NOT_RATIONAL && status == VAL_DEFINED) status = VAL_NOT_RATIONAL;
        }
        term_op op = term_op_of(&S, u);
        if (status == VAL_DEFINED) switch (op) {
            case OP_NUM: fmpq_set(val + u, term_value(&S, u)); break;
            case OP_SYM: fmpq_set(val + u, point_value(pt, term_sym_of(&S, u))); break;
            case OP_ADD: for (uint32_t j = 0; j < n; j++) fmpq_add(val + u, val + u, val + term_arg(&S, u, j)); break;
            case OP_MUL:
                fmpq_one(val + u);
                for (uint32_t j = 0; j < n; j++) fmpq_mul(val + u, val + u, val + term_arg(&S, u, j));
                break;
            case OP_POW: {
                term_id e = term_arg(&S, u, 1);
                const fmpq *b = val + term_arg(&S, u, 0);
                if (term_op_of(&S, e) != OP_NUM || !term_is_integer(&S, e) || fmpz_bits(fmpq_numref(term_value(&S, e))) > 6) status = VAL_NOT_RATIONAL;
                else if (fmpq_is_zero(b) && fmpq_sgn(term_value(&S, e)) < 0) status = VAL_UNDEFINED;
                else fmpq_pow_si(val + u, b, fmpz_get_si(fmpq_numref(term_value(&S, e))));
                break;
            }
            case OP_ABS: fmpq_abs(val + u, val + term_arg(&S, u, 0)); break;
            case OP_MAX: case OP_MIN:
                fmpq_set(val + u, val + term_arg(&S, u, 0));
                for (uint32_t j = 1; j < n; j++) {
                    int c = fmpq_cmp(val + term_arg(&S, u, j), val + u);
                    if (op == OP_MAX ? c > 0 : c < 0) fmpq_set(val + u, val + term_arg(&S, u, j));
                }
                break;
            default: status = VAL_NOT_RATIONAL; break;
            }
        st[u] = (unsigned char)status;
    }
    int status = st[t];
    if (status == VAL_DEFINED) fmpq_set(out, val + t);
    for (term_id u = 1; u <= t; u++)
        if (mark[u]) fmpq_clear(val + u);
    free(val);
    free(st);
    free(mark);
    return status;
}

/* A ball containing the value of t; 0 when some domain condition could not
 * be decided (a divisor or log argument whose ball holds 0, a root of a ball
 * holding negatives). The evaluator's meaning of powers. */
static int ball_value(arb_t out, term_id t, const point *pt, slong prec)
{
    unsigned char *mark = calloc((size_t)t + 1, 1);
    arb_ptr val = _arb_vec_init((slong)t + 1);
    term_mark_reachable(mark, &S, &t, 1);
    int ok = 1;
    for (term_id u = 1; u <= t && ok; u++) {
        if (!mark[u]) continue;
        arb_ptr v = val + u;
        uint32_t n = term_nargs(&S, u);
        term_op op = term_op_of(&S, u);
        arb_srcptr a0 = n ? val + term_arg(&S, u, 0) : NULL;
        switch (op) {
        case OP_NUM: arb_set_fmpq(v, term_value(&S, u), prec); break;
        case OP_SYM: arb_set_fmpq(v, point_value(pt, term_sym_of(&S, u)), prec); break;
        case OP_ADD: arb_zero(v); for (uint32_t j = 0; j < n; j++) arb_add(v, v, val + term_arg(&S, u, j), prec); break;
        case OP_MUL: arb_one(v); for (uint32_t j = 0; j < n; j++) arb_mul(v, v, val + term_arg(&S, u, j), prec); break;
        case OP_POW: {
            term_id e = term_arg(&S, u, 1);
            if (term_op_of(&S, e) == OP_NUM) {
                const fmpq *q = term_value(&S, e);
                if (fmpq_sgn(q) < 0 && arb_contains_zero(a0)) { ok = 0; break; }
                if (fmpz_is_one(fmpq_denref(q))) { arb_pow_fmpz(v, a0, fmpq_numref(q), prec); break; }
                if (arb_contains_negative(a0)) { ok = 0; break; }
                arb_root_ui(v, a0, fmpz_get_ui(fmpq_denref(q)), prec);
                arb_pow_fmpz(v, v, fmpq_numref(q), prec);
            } else {
                if (arb_contains_nonpositive(a0)) { ok = 0; break; }
                arb_log(v, a0, prec);
                arb_mul(v, v, val + e, prec);
                arb_exp(v, v, prec);
            }
            break;
        }
        case OP_EXP: arb_exp(v, a0, prec); break;
        case OP_LOG: if (arb_contains_nonpositive(a0)) ok = 0; else arb_log(v, a0, prec); break;
        case OP_ABS: arb_abs(v, a0); break;
        case OP_TANH: arb_tanh(v, a0, prec); break;
        case OP_MAX: case OP_MIN:
            arb_set(v, a0);
            for (uint32_t j = 1; j < n; j++) {
                if (op == OP_MAX) arb_max(v, v, val + term_arg(&S, u, j), prec);
                else arb_min(v, v, val + term_arg(&S, u, j), prec);
            }
            break;
        default: ok = 0; break;
        }
        if (ok && !arb_is_finite(v)) ok = 0;
    }
    if (ok) arb_set(out, val + t);
    _arb_vec_clear(val, (slong)t + 1);
    free(mark);
    return ok;
}

static int ball_value_retry(arb_t out, term_id t, const point *pt)
{
    for (slong prec = 128; prec <= 2048; prec *= 4)
        if (ball_value(out, t, pt, prec)) return 1;
    return 0;
}

/* 1: the values agree; 0: they differ, or the rewritten term is undefined
 * where the original is defined; -1: the original is undefined there; -2:
 * the rewritten term's balls cannot decide a domain condition (a root of a
 * sum that cancels to exactly 0, say [0 +/- eps]), though the original is
 * defined. */
static int compare_at(term_id orig, term_id res, const point *pt)
{
    fmpq_t qo, qr;
    fmpq_init(qo);
    fmpq_init(qr);
    arb_t bo, br;
    arb_init(bo);
    arb_init(br);
    int so = exact_value(qo, orig, pt), sr = VAL_NOT_RATIONAL, verdict;
    if (so == VAL_UNDEFINED) verdict = -1;
    else {
        sr = exact_value(qr, res, pt);
        if (so == VAL_DEFINED && sr == VAL_DEFINED) verdict = fmpq_equal(qo, qr);
        else if (so == VAL_DEFINED && sr == VAL_UNDEFINED) verdict = 0;
        else if (so != VAL_DEFINED && !ball_value_retry(bo, orig, pt)) verdict = -1;
        else {
            if (so == VAL_DEFINED) arb_set_fmpq(bo, qo, 2048);
            if (sr == VAL_DEFINED) verdict = arb_contains_fmpq(bo, qr);
            else if (sr == VAL_UNDEFINED) verdict = 0;
            else if (!ball_value_retry(br, res, pt)) verdict = -2;
            else verdict = arb_overlaps(bo, br);
        }
    }
    fmpq_clear(qo);
    fmpq_clear(qr);
    arb_clear(bo);
    arb_clear(br);
    return verdict;
}

static void random_point(point *pt, test_rng *r)
{
    for (int i = 0; i < N_SYMS; i++) {
        pt->id[i] = term_sym_of(&S, term_sym_cstr(&S, sym_names[i]));
        fmpq_set_si(pt->v + i, test_randn(r, 11) - 5, (ulong)test_randn(r, 4) + 1);
    }
}

static void point_clear(point *pt)
{
    for (int i = 0; i < N_SYMS; i++) fmpq_clear(pt->v + i);
}

static void point_init(point *pt)
{
    for (int i = 0; i < N_SYMS; i++) fmpq_init(pt->v + i);
}

/* The combinations of sets the random tests run. */
static const char *const combos[][3] = {
    { "algebra" }, { "algebra", "expand" }, { "algebra", "together" }, { "algebra", "factor" },
    { "algebra", "expand", "together" }, { "together", "factor" },
};
static const size_t combo_len[] = { 1, 2, 2, 2, 3, 2 };
#define N_COMBOS (sizeof combo_len / sizeof combo_len[0])

typedef struct fire_count {
    const char *name;
    size_t n;
} fire_count;

static void count_firings(fire_count *fc, size_t *n_fc, const rw_engine *e)
{
    for (size_t i = 0; i < e->n_steps; i++) {
        const char *name = e->steps[i].rule->def->name;
        size_t k = 0;
        while (k < *n_fc && strcmp(fc[k].name, name) != 0) k++;
        if (k == *n_fc) fc[(*n_fc)++] = (fire_count){ name, 0 };
        fc[k].n++;
    }
}

Test(rules, values_kept_measures_decrease)
{
    test_rng rng = { 0x5eed0001 };
    int terms = 1200 * test_multiplier();
    set_list lists[N_COMBOS];
    for (size_t c = 0; c < N_COMBOS; c++) sets_init(&lists[c], combos[c], combo_len[c]);
    fire_count fc[64];
    size_t n_fc = 0, compared = 0, steps = 0, differ = 0, undecided = 0;
    point pt;
    point_init(&pt);
    for (int i = 0; i < terms; i++) {
        term_id t = random_term(&rng, 4);
        size_t c = (size_t)i % N_COMBOS;
        rw_engine e;
        rw_init(&e, &S, lists[c].ptr, lists[c].n);
        rw_set_trace(&e, 1);
        term_id u = rw_simplify(&e, t, 0);
        cr_assert(!e.capped);
        for (size_t k = 0; k < e.n_steps; k++) assert_measure_decreases(&e.steps[k]);
        count_firings(fc, &n_fc, &e);
        steps += e.n_steps;
        /* a fixpoint: simplifying again changes nothing */
        cr_assert_eq(rw_simplify(&e, u, 0), u);
        /* the same rules bottom-up, without a trace */
        rw_engine f;
        rw_init(&f, &S, lists[c].ptr, lists[c].n);
        term_id u2 = rw_simplify(&f, t, 0);
        cr_assert_eq(rw_simplify(&f, u2, 0), u2);
        differ += u2 != u;
        rw_clear(&f);
        for (int p = 0; p < 3; p++) {
            random_point(&pt, &rng);
            for (int k = 0; k < 2; k++) {
                term_id w = k ? u2 : u;
                int v = compare_at(t, w, &pt);
                if (v == -2) undecided++;
                if (v < 0) continue;
                if (!v) {
                    char *x = infix(t), *y = infix(w);
                    cr_assert_fail("value changed (sets %zu, %s): %s -> %s", c, k ? "bottom-up" : "traced", x, y);
                }
                compared++;
            }
        }
        rw_clear(&e);
    }
    point_clear(&pt);
    /* the test means something: most terms compared, every rule exercised */
    cr_assert(compared > (size_t)terms, "only %zu comparisons", compared);
    cr_assert(undecided * 50 < compared, "%zu points undecided", undecided);
    cr_assert(steps > (size_t)terms, "only %zu steps", steps);
    cr_log_info("%d random terms, %zu comparisons (%zu undecided), %zu steps; traced and bottom-up normal forms "
                "differ on %zu", terms, compared, undecided, steps, differ);
    for (size_t c = 0; c < N_COMBOS; c++) {
        for (size_t i = 0; i < lists[c].n; i++)
            for (size_t j = 0; j < lists[c].sets[i].n_rules; j++) {
                const char *name = lists[c].sets[i].rules[j].def->name;
                size_t k = 0;
                while (k < n_fc && strcmp(fc[k].name, name) != 0) k++;
                cr_assert(k < n_fc && fc[k].n > 0, "rule %s never fired on random terms", name);
            }
        sets_clear(&lists[c]);
    }
}

/* Several relations sharing random subterms, simplified by one engine; the
 * trace replayed on the inputs gives the same terms. */
Test(rules, traces_replay)
{
    test_rng rng = { 0x5eed0002 };
    int rounds = 300 * test_multiplier();
    set_list lists[N_COMBOS];
    for (size_t c = 0; c < N_COMBOS; c++) sets_init(&lists[c], combos[c], combo_len[c]);
    size_t total_steps = 0;
    for (int i = 0; i < rounds; i++) {
        term_id pool[4], roots[6], replayed[6], results[6];
        for (int k = 0; k < 4; k++) pool[k] = random_term(&rng, 3);
        for (int k = 0; k < 6; k++) {
            term_id a = pool[test_randn(&rng, 4)], b = random_term(&rng, 2);
            switch (test_randn(&rng, 4)) {
            case 0: roots[k] = term_add2(&S, a, b); break;
            case 1: roots[k] = term_mul2(&S, a, b); break;
            case 2: roots[k] = term_abs(&S, term_pow_si(&S, term_add2(&S, a, b), 2)); break;
            default: roots[k] = term_log(&S, term_exp(&S, term_add2(&S, a, pool[test_randn(&rng, 4)]))); break;
            }
            replayed[k] = roots[k];
        }
        size_t c = (size_t)i % N_COMBOS;
        rw_engine e;
        rw_init(&e, &S, lists[c].ptr, lists[c].n);
        rw_set_trace(&e, 1);
        for (int k = 0; k < 6; k++) results[k] = rw_simplify(&e, roots[k], (uint32_t)k);
        rw_replay(&S, replayed, 6, e.steps, e.n_steps);
        for (int k = 0; k < 6; k++) {
            if (replayed[k] == results[k]) continue;
            char *x = infix(roots[k]), *y = infix(results[k]), *z = infix(replayed[k]);
            cr_assert_fail("replay differs (sets %zu): %s\n  engine: %s\n  replay: %s", c, x, y, z);
        }
        for (size_t k = 0; k < e.n_steps; k++) cr_assert(e.steps[k].where < 6);
        total_steps += e.n_steps;
        rw_clear(&e);
    }
    cr_assert(total_steps > (size_t)rounds);
    for (size_t c = 0; c < N_COMBOS; c++) sets_clear(&lists[c]);
}

/* A traced relation is rewritten as a whole: a subterm rewritten in an
 * earlier relation is rewritten again in its own steps (the rule's result is
 * reused, not recomputed), and a node rebuilt from rewritten arguments that
 * is a redex gets its own step. */
Test(rules, trace_per_relation)
{
    const char *names[] = { "algebra" };
    set_list l;
    sets_init(&l, names, 1);
    rw_engine e;
    rw_init(&e, &S, l.ptr, 1);
    rw_set_trace(&e, 1);
    term_id roots[2] = { parse("abs(x^2) + y"), parse("abs(abs(x)^2) + abs(x^2)*z") }, copy[2] = { roots[0], roots[1] };
    term_id r0 = rw_simplify(&e, roots[0], 0), r1 = rw_simplify(&e, roots[1], 1);
    cr_assert_eq(r0, parse("x^2 + y"));
    cr_assert_eq(r1, parse("x^2 + x^2*z"));
    cr_assert_eq(e.built, 2);   /* abs(x^2) and abs(x)^2, each computed once */
    cr_assert_eq(e.n_steps, 3); /* abs(x^2) -> x^2 in relation 0, and once more in 1 */
    cr_assert_eq(e.steps[0].where, 0);
    cr_assert_eq(e.steps[1].before, parse("abs(x)^2"));
    cr_assert_eq(e.steps[2].before, parse("abs(x^2)"));
    cr_assert_eq(e.steps[2].where, 1);
    rw_replay(&S, copy, 2, e.steps, e.n_steps);
    cr_assert_eq(copy[0], r0);
    cr_assert_eq(copy[1], r1);
    rw_clear(&e);
    sets_clear(&l);
}

Test(rules, shared_subterm_rewritten_once)
{
    const char *names[] = { "algebra" };
    set_list l;
    sets_init(&l, names, 1);
    term_id redex = parse("log(exp(x + y))"), want = parse("x + y");
    for (int trace = 0; trace < 2; trace++) {
        rw_engine e;
        rw_init(&e, &S, l.ptr, 1);
        rw_set_trace(&e, trace);
        for (int i = 0; i < 1000; i++) {
            char name[16];
            snprintf(name, sizeof name, "v%d", i);
            term_id t = term_mul2(&S, term_sym_cstr(&S, name), redex);
            cr_assert_eq(rw_simplify(&e, t, (uint32_t)i), term_mul2(&S, term_sym_cstr(&S, name), want));
        }
        cr_assert_eq(e.built, 1);
        cr_assert_eq(e.fired, trace ? 1000 : 1);
        cr_assert_eq(e.n_steps, trace ? 1000 : 0);
        rw_clear(&e);
    }
    /* a DAG whose tree has 2^100 leaves, in linear time */
    rw_engine e;
    rw_init(&e, &S, l.ptr, 1);
    term_id t = redex;
    for (int i = 0; i < 100; i++) t = term_add2(&S, term_mul2(&S, t, parse("y")), term_log(&S, term_exp(&S, t)));
    term_id u = rw_simplify(&e, t, 0);
    cr_assert(!e.capped);
    cr_assert(e.fired < 400);
    cr_assert_eq(rw_simplify(&e, u, 0), u);
    rw_clear(&e);
    sets_clear(&l);
}

/* abs(x) -> abs(-x) -> abs(x) -> ...: the cap stops it, and says so. */
static const rule_def flip_rules[] = { { "flip", "abs(x)", "abs(-1*x)", NULL, NULL, "" } };
static const rule_set_def flip_set = { "flip", "", flip_rules, 1, rule_measure_ops, "", NULL };

Test(rules, step_cap_reports)
{
    rule_set rs;
    rule_set_init(&rs, &flip_set);
    const rule_set *p = &rs;
    for (int trace = 0; trace < 2; trace++) {
        rw_engine e;
        rw_init(&e, &S, &p, 1);
        rw_set_trace(&e, trace);
        rw_set_max_steps(&e, 1001);
        term_id t = parse("abs(x) + y");
        term_id u = rw_simplify(&e, t, 0);
        cr_assert(e.capped);
        cr_assert_eq(e.fired, 1001);
        if (trace) cr_assert_eq(e.n_steps, 1001);
        /* an odd number of flips: abs(-x), the same value */
        cr_assert_eq(u, parse("abs(-x) + y"));
        rw_clear(&e);
    }
    /* one step at a time stops at the cap too */
    rw_engine e;
    rw_init(&e, &S, &p, 1);
    rw_set_max_steps(&e, 5);
    term_id t = parse("abs(x)"), u;
    rw_step st;
    int n = 0;
    while (rw_step_term(&st, &u, &e, t, 0)) { t = u; n++; }
    cr_assert_eq(n, 5);
    cr_assert(e.capped);
    rw_clear(&e);
    rule_set_clear(&rs);
    /* a real set under a small cap: partly simplified, still equal */
    const char *names[] = { "algebra" };
    set_list l;
    sets_init(&l, names, 1);
    rw_init(&e, &S, l.ptr, 1);
    rw_set_max_steps(&e, 2);
    t = parse("log(exp(x)) + log(exp(y)) + log(exp(z)) + log(exp(w))");
    u = rw_simplify(&e, t, 0);
    cr_assert(e.capped);
    cr_assert_eq(e.fired, 2);
    cr_assert_eq(u, parse("x + y + log(exp(z)) + log(exp(w))"));
    rw_clear(&e);
    sets_clear(&l);
}

Test(rules, one_step_at_a_time)
{
    test_rng rng = { 0x5eed0003 };
    const char *names[] = { "algebra", "expand" };
    set_list l;
    sets_init(&l, names, 2);
    for (int i = 0; i < 200 * test_multiplier(); i++) {
        rw_engine e;
        rw_init(&e, &S, l.ptr, 2);
        term_id t0 = random_term(&rng, 3), t = t0, u;
        rw_step st;
        size_t n = 0;
        while (rw_step_term(&st, &u, &e, t, 7)) {
            cr_assert_eq(st.where, 7);
            cr_assert_eq(rw_replace(&S, t, st.before, st.after), u);
            assert_measure_decreases(&st);
            t = u;
            n++;
        }
        cr_assert(!e.capped);
        cr_assert_eq(e.fired, n);
        /* a normal form: the whole engine finds nothing to do either */
        rw_engine f;
        rw_init(&f, &S, l.ptr, 2);
        cr_assert_eq(rw_simplify(&f, t, 0), t);
        cr_assert_eq(f.fired, 0);
        rw_clear(&f);
        rw_clear(&e);
    }
    sets_clear(&l);
}

static size_t deep_length(void) { return getenv("HMP_SANITIZED") ? 250000 : 1000000; }

/* log(exp(log(exp(... x ...) + y) + y): a chain of 3n nodes, n firings
 * (without the + y, every level would rebuild into the one below, which is
 * memoised: one firing in all). */
static term_id log_exp_chain(size_t n)
{
    term_id t = parse("x"), y = parse("y");
    for (size_t i = 0; i < n; i++) t = term_log(&S, term_exp(&S, term_add2(&S, t, y)));
    return t;
}

Test(rules, deep_chain_rewritten)
{
    const char *names[] = { "algebra", "expand", "together" };
    set_list l;
    sets_init(&l, names, 3);
    size_t n = deep_length();
    term_id t = log_exp_chain(n);
    rw_engine e;
    rw_init(&e, &S, l.ptr, 3);
    rw_set_max_steps(&e, 2 * n);
    cr_assert_eq(rw_simplify(&e, t, 0), term_add2(&S, parse("x"), term_mul2(&S, term_num_si(&S, (slong)n, 1), parse("y"))));
    cr_assert_eq(e.fired, n, "%zu firings", e.fired);
    rw_clear(&e);
    sets_clear(&l);
}

Test(rules, deep_chain_normal)
{
    const char *names[] = { "algebra", "expand", "together" };
    set_list l;
    sets_init(&l, names, 3);
    size_t n = deep_length();
    /* nothing to rewrite: abs(... abs(abs(x + y) + y) ... + y) */
    term_id x = parse("x"), y = parse("y"), t = x;
    for (size_t i = 0; i < n; i++) t = term_abs(&S, term_add2(&S, t, y));
    for (int trace = 0; trace < 2; trace++) {
        rw_engine e;
        rw_init(&e, &S, l.ptr, 3);
        rw_set_trace(&e, trace);
        cr_assert_eq(rw_simplify(&e, t, 0), t);
        cr_assert_eq(e.fired, 0);
        rw_clear(&e);
    }
    /* replacing deep inside; the measures of it */
    term_id inner = term_abs(&S, term_add2(&S, x, y));
    term_id u = rw_replace(&S, t, inner, x);
    cr_assert_neq(u, t);
    fmpz_t v;
    fmpz_init(v);
    rule_measure_ops(v, &S, t);
    cr_assert_eq(fmpz_get_ui(v), 3 * n + 1); /* W(abs(t + y)) = W(t) + 3 */
    rule_measure_ops(v, &S, u);
    cr_assert_eq(fmpz_get_ui(v), 3 * n - 2); /* abs(x + y) -> x */
    fmpz_clear(v);
    sets_clear(&l);
}

/* Traced, each step walks the chain from its root: a shorter chain. */
Test(rules, deep_chain_traced)
{
    const char *names[] = { "algebra", "expand", "together" };
    set_list l;
    sets_init(&l, names, 3);
    size_t m = 700;
    term_id t = log_exp_chain(m), r = t;
    rw_engine e;
    rw_init(&e, &S, l.ptr, 3);
    rw_set_trace(&e, 1);
    term_id u = rw_simplify(&e, t, 0);
    cr_assert_eq(e.n_steps, m);
    rw_replay(&S, &r, 1, e.steps, e.n_steps);
    cr_assert_eq(r, u);
    rw_clear(&e);
    sets_clear(&l);
}

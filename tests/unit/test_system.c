/* Tests for system: definitions, free symbols, outputs, dependency order,
 * cycle reports and inlining, on scripts parsed from text and on scripts
 * assembled directly from constructed terms. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flint/fmpq.h>
#include <flint/fmpz.h>

#include "core/diag.h"
#include "core/parse.h"
#include "core/system.h"
#include "core/term.h"
#include "tests/lib/testlib.h"

/* Size of the million-relation tests; smaller under the sanitizers, which
 * check the same code paths far more slowly. */
static uint32_t chain_length(void)
{
    return getenv("HMP_SANITIZED") ? 250000 : 1000000;
}

static uint64_t rng_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint32_t rng_below(uint64_t *state, uint32_t n) { return (uint32_t)(rng_next(state) % n); }

/* ---- scripts parsed from text ---- */

typedef struct text_case {
    term_store s;
    source src;
    script sc;
    diag_list d;
    sys y;
} text_case;

static void tc_parse(text_case *c, const char *text)
{
    term_store_init(&c->s);
    source_from_string(&c->src, "t.hmp", text, strlen(text));
    script_init(&c->sc);
    diag_init(&c->d);
    int rc = parse_script(&c->sc, &c->s, &c->d, &c->src);
    if (rc != 0) diag_print(stderr, &c->d);
    cr_assert_eq(rc, 0, "script does not parse:\n%s", text);
    cr_assert_eq(c->d.n, 0);
}

static int tc_build(text_case *c) { return sys_build(&c->y, &c->s, &c->sc, &c->d); }

static void tc_clear(text_case *c)
{
    sys_clear(&c->y);
    diag_clear(&c->d);
    script_clear(&c->sc);
    source_clear(&c->src);
    term_store_clear(&c->s);
}

static term_id sym(term_store *s, const char *name) { return term_sym_cstr(s, name); }

/* Relation index defining name (which must exist). */
static size_t rel_named(const sys *y, term_store *s, const char *name)
{
    int32_t r = sys_relation_of(y, sym(s, name));
    cr_assert(r >= 0, "'%s' is not defined", name);
    return (size_t)r;
}

static void assert_diag(const diag_list *d, size_t k, diag_level level, uint32_t line, uint32_t col,
                        const char *msg)
{
    cr_assert(k < d->n, "diagnostic %zu missing (only %zu)", k, d->n);
    cr_assert_eq(d->items[k].level, level, "diagnostic %zu: level %d", k, (int)d->items[k].level);
    cr_assert_str_eq(d->items[k].msg, msg);
    cr_assert_eq(d->items[k].pos.line, line, "'%s': line %u, expected %u", msg, d->items[k].pos.line, line);
    cr_assert_eq(d->items[k].pos.col, col, "'%s': col %u, expected %u", msg, d->items[k].pos.col, col);
}

/* The names of a list of SYM terms, joined by spaces. */
static void names_of(char *out, size_t cap, const term_store *s, const term_id *t, size_t n)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        cr_assert_eq(term_op_of(s, t[i]), OP_SYM);
        int w = snprintf(out + len, cap - len, "%s%s", i ? " " : "", term_sym_name(s, t[i]));
        cr_assert(w >= 0 && (size_t)w < cap - len);
        len += (size_t)w;
    }
}

static size_t reachable(term_store *s, term_id root)
{
    unsigned char *mark = calloc(term_count(s) + 1, 1);
    cr_assert(mark);
    size_t n = term_mark_reachable(mark, s, &root, 1);
    free(mark);
    return n;
}

/* ---- scripts assembled from constructed terms ---- */

typedef struct built_case {
    term_store s;
    source src;
    script sc;
    diag_list d;
    sys y;
} built_case;

static void bc_init(built_case *c, size_t cap)
{
    term_store_init(&c->s);
    static const char text[] = "constructed\n";
    source_from_string(&c->src, "built.hmp", text, sizeof text - 1);
    memset(&c->sc, 0, sizeof c->sc);
    c->sc.src = &c->src;
    c->sc.rels = calloc(cap ? cap : 1, sizeof *c->sc.rels);
    c->sc.cap_rels = cap;
    cr_assert(c->sc.rels);
    diag_init(&c->d);
}

/* Relation name = rhs, its name at line `line`, column 1. */
static void bc_rel(built_case *c, term_id name, term_id rhs, uint32_t line)
{
    cr_assert(c->sc.n_rels < c->sc.cap_rels);
    relation *r = &c->sc.rels[c->sc.n_rels++];
    r->name = name;
    r->rhs = rhs;
    r->name_pos = (src_pos){ line, line, 1 };
    r->rhs_pos = (src_pos){ line, line, 5 };
}

static int bc_build(built_case *c) { return sys_build(&c->y, &c->s, &c->sc, &c->d); }

static void bc_clear(built_case *c)
{
    sys_clear(&c->y);
    diag_clear(&c->d);
    for (size_t k = 0; k < c->sc.n_dirs; k++) {
        free(c->sc.dirs[k].args);
        free(c->sc.dirs[k].arg_pos);
    }
    free(c->sc.dirs);
    free(c->sc.rels);
    source_clear(&c->src);
    term_store_clear(&c->s);
}

/* ================= definitions, free symbols, outputs ================= */

Test(system, free_symbols_in_first_use_order)
{
    text_case c;
    tc_parse(&c, "a = p + b\nb = q * 2\nc = a + b + r + p\nd = exp(q) + later\nlater = 3\n");
    cr_assert_eq(tc_build(&c), 0);
    char buf[256];
    names_of(buf, sizeof buf, &c.s, c.y.free_syms, c.y.n_free);
    cr_assert_str_eq(buf, "p q r");
    cr_assert_eq(c.d.n, 0);
    tc_clear(&c);
}

Test(system, free_symbols_within_one_rhs_by_term_id)
{
    built_case c;
    bc_init(&c, 3);
    term_id x = sym(&c.s, "x"), y = sym(&c.s, "y"), z = sym(&c.s, "z"), w = sym(&c.s, "w");
    term_id a = sym(&c.s, "a"), b = sym(&c.s, "b"), e = sym(&c.s, "e");
    /* a = z*w + y + x: increasing id gives x y z w */
    bc_rel(&c, a, term_add2(&c.s, term_add2(&c.s, term_mul2(&c.s, z, w), y), x), 1);
    /* b = exp(a) * y + e: e is defined below, nothing new is free */
    bc_rel(&c, b, term_add2(&c.s, term_mul2(&c.s, term_exp(&c.s, a), y), e), 2);
    bc_rel(&c, e, term_num_si(&c.s, 7, 1), 3);
    cr_assert_eq(bc_build(&c), 0);
    char buf[256];
    names_of(buf, sizeof buf, &c.s, c.y.free_syms, c.y.n_free);
    cr_assert_str_eq(buf, "x y z w");
    cr_assert_eq(sys_relation_of(&c.y, x), -1);
    cr_assert_eq(sys_relation_of(&c.y, e), 2);
    cr_assert_eq(sys_relation_of(&c.y, b), 1);
    cr_assert_eq(sys_relation_of(&c.y, term_num_si(&c.s, 7, 1)), -1);
    /* a symbol created after the build is free */
    term_id fresh = sym(&c.s, "fresh");
    cr_assert_eq(sys_relation_of(&c.y, fresh), -1);
    bc_clear(&c);
}

Test(system, default_outputs_are_unused_relations_in_script_order)
{
    text_case c;
    tc_parse(&c, "d = c\nb = a + 1\na = x\nc = a * 2\ne = 5\n");
    cr_assert_eq(tc_build(&c), 0);
    char buf[256];
    names_of(buf, sizeof buf, &c.s, c.y.outputs, c.y.n_outputs);
    cr_assert_str_eq(buf, "d b e");
    tc_clear(&c);
}

Test(system, output_directive_in_order_without_duplicates)
{
    text_case c;
    tc_parse(&c, "a = x\nb = a + 1\nc = a * 2\noutput c, a\noutput c, b\n");
    cr_assert_eq(tc_build(&c), 0);
    char buf[256];
    names_of(buf, sizeof buf, &c.s, c.y.outputs, c.y.n_outputs);
    cr_assert_str_eq(buf, "c a b");
    tc_clear(&c);
}

Test(system, unknown_output_name)
{
    text_case c;
    tc_parse(&c, "a = x\noutput a, z\n");
    cr_assert_neq(tc_build(&c), 0);
    cr_assert_eq(c.d.n, 1);
    assert_diag(&c.d, 0, DIAG_ERROR, 2, 11, "output 'z' is not defined by any relation");
    char buf[256];
    names_of(buf, sizeof buf, &c.s, c.y.outputs, c.y.n_outputs);
    cr_assert_str_eq(buf, "a");
    /* a free symbol named as output is no output either */
    tc_clear(&c);
    tc_parse(&c, "a = x\noutput x\n");
    cr_assert_neq(tc_build(&c), 0);
    assert_diag(&c.d, 0, DIAG_ERROR, 2, 8, "output 'x' is not defined by any relation");
    cr_assert_eq(c.y.n_outputs, 0);
    tc_clear(&c);
}

Test(system, unknown_output_in_constructed_directive)
{
    built_case c;
    bc_init(&c, 1);
    term_id a = sym(&c.s, "a"), x = sym(&c.s, "x"), z = sym(&c.s, "z");
    bc_rel(&c, a, term_exp(&c.s, x), 1);
    c.sc.dirs = calloc(1, sizeof *c.sc.dirs);
    c.sc.n_dirs = c.sc.cap_dirs = 1;
    directive *dir = &c.sc.dirs[0];
    dir->kind = DIRECTIVE_OUTPUT;
    dir->pos = (src_pos){ 20, 4, 1 };
    dir->n_args = 3;
    dir->args = malloc(3 * sizeof *dir->args);
    dir->arg_pos = malloc(3 * sizeof *dir->arg_pos);
    dir->args[0] = z;
    dir->arg_pos[0] = (src_pos){ 27, 4, 8 };
    dir->args[1] = a;
    dir->arg_pos[1] = (src_pos){ 30, 4, 11 };
    dir->args[2] = z;
    dir->arg_pos[2] = (src_pos){ 33, 4, 14 };
    cr_assert_neq(bc_build(&c), 0);
    cr_assert_eq(c.d.n, 2);
    assert_diag(&c.d, 0, DIAG_ERROR, 4, 8, "output 'z' is not defined by any relation");
    assert_diag(&c.d, 1, DIAG_ERROR, 4, 14, "output 'z' is not defined by any relation");
    cr_assert_eq(c.y.n_outputs, 1);
    cr_assert_eq(c.y.outputs[0], a);
    /* errors that are not cycles leave inlining available */
    cr_assert_eq(sys_inline_relation(&c.y, 0), term_exp(&c.s, x));
    bc_clear(&c);
}

Test(system, name_defined_twice)
{
    text_case c;
    tc_parse(&c, "x = 1\ny = x + t\n  x = 3\n");
    cr_assert_neq(tc_build(&c), 0);
    cr_assert_eq(c.d.n, 2);
    assert_diag(&c.d, 0, DIAG_ERROR, 3, 3, "'x' is defined twice");
    assert_diag(&c.d, 1, DIAG_NOTE, 1, 1, "first defined here");
    cr_assert_eq(c.d.n_errors, 1);
    /* the first definition is kept */
    cr_assert_eq(rel_named(&c.y, &c.s, "x"), 0);
    cr_assert_eq(c.y.n_order, 2);
    term_id t = sym(&c.s, "t");
    cr_assert_eq(sys_inline_relation(&c.y, 1), term_add2(&c.s, t, term_num_si(&c.s, 1, 1)));
    /* the second definition is no output */
    char buf[256];
    names_of(buf, sizeof buf, &c.s, c.y.outputs, c.y.n_outputs);
    cr_assert_str_eq(buf, "y");
    tc_clear(&c);
}

Test(system, name_defined_three_times_constructed)
{
    built_case c;
    bc_init(&c, 4);
    term_id x = sym(&c.s, "x"), u = sym(&c.s, "u");
    bc_rel(&c, u, term_num_si(&c.s, 2, 1), 1);
    bc_rel(&c, x, term_num_si(&c.s, 1, 1), 2);
    bc_rel(&c, x, u, 5);
    bc_rel(&c, x, term_exp(&c.s, u), 9);
    cr_assert_neq(bc_build(&c), 0);
    cr_assert_eq(c.d.n, 4);
    assert_diag(&c.d, 0, DIAG_ERROR, 5, 1, "'x' is defined twice");
    assert_diag(&c.d, 1, DIAG_NOTE, 2, 1, "first defined here");
    assert_diag(&c.d, 2, DIAG_ERROR, 9, 1, "'x' is defined twice");
    assert_diag(&c.d, 3, DIAG_NOTE, 2, 1, "first defined here");
    cr_assert_eq(sys_relation_of(&c.y, x), 1);
    cr_assert_eq(sys_inline(&c.y, term_add2(&c.s, x, u)), term_num_si(&c.s, 3, 1));
    bc_clear(&c);
}

Test(system, empty_script)
{
    built_case c;
    bc_init(&c, 0);
    cr_assert_eq(bc_build(&c), 0);
    cr_assert_eq(c.y.n_order, 0);
    cr_assert_eq(c.y.n_outputs, 0);
    cr_assert_eq(c.y.n_free, 0);
    term_id x = sym(&c.s, "x");
    cr_assert_eq(sys_inline(&c.y, x), x);
    bc_clear(&c);
}

/* ================= cycles ================= */

Test(system, self_reference_is_a_cycle)
{
    text_case c;
    tc_parse(&c, "y = 2\nx = x + 1\n");
    cr_assert_neq(tc_build(&c), 0);
    cr_assert_eq(c.d.n, 1);
    assert_diag(&c.d, 0, DIAG_ERROR, 2, 1, "dependency cycle: x -> x");
    /* after a cycle nothing is inlined, and nothing loops */
    cr_assert_eq(sys_inline_relation(&c.y, 0), TERM_NONE);
    cr_assert_eq(sys_inline_relation(&c.y, 1), TERM_NONE);
    cr_assert_eq(sys_inline(&c.y, sym(&c.s, "x")), TERM_NONE);
    tc_clear(&c);
}

Test(system, bare_self_reference)
{
    built_case c;
    bc_init(&c, 1);
    term_id x = sym(&c.s, "x");
    bc_rel(&c, x, x, 3);
    cr_assert_neq(bc_build(&c), 0);
    cr_assert_eq(c.d.n, 1);
    assert_diag(&c.d, 0, DIAG_ERROR, 3, 1, "dependency cycle: x -> x");
    cr_assert_eq(sys_inline_relation(&c.y, 0), TERM_NONE);
    bc_clear(&c);
}

Test(system, cycle_of_two)
{
    text_case c;
    tc_parse(&c, "a = b + 1\nb = a * 2\n");
    cr_assert_neq(tc_build(&c), 0);
    cr_assert_eq(c.d.n, 1);
    assert_diag(&c.d, 0, DIAG_ERROR, 1, 1, "dependency cycle: a -> b -> a");
    cr_assert_eq(sys_inline_relation(&c.y, 1), TERM_NONE);
    tc_clear(&c);
}

Test(system, cycle_of_three_entered_from_outside)
{
    text_case c;
    tc_parse(&c, "out = b + x\na = exp(b) + 1\nb = c * 2\nc = log(a)\n");
    cr_assert_neq(tc_build(&c), 0);
    cr_assert_eq(c.d.n, 1);
    /* the search enters the cycle at b (used by out, which comes first) */
    assert_diag(&c.d, 0, DIAG_ERROR, 3, 1, "dependency cycle: b -> c -> a -> b");
    cr_assert_eq(sys_inline_relation(&c.y, 0), TERM_NONE);
    tc_clear(&c);
}

Test(system, two_distinct_cycles_each_reported_once)
{
    text_case c;
    tc_parse(&c, "a = b\nb = a + c\nc = d\nd = c * 2\ne = a + c\n");
    cr_assert_neq(tc_build(&c), 0);
    cr_assert_eq(c.d.n, 2);
    assert_diag(&c.d, 0, DIAG_ERROR, 1, 1, "dependency cycle: a -> b -> a");
    assert_diag(&c.d, 1, DIAG_ERROR, 3, 1, "dependency cycle: c -> d -> c");
    tc_clear(&c);
}

Test(system, many_cycles_reported_at_most_a_few)
{
    built_case c;
    bc_init(&c, 100);
    for (int i = 0; i < 100; i++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", i);
        term_id n = sym(&c.s, name);
        bc_rel(&c, n, term_add2(&c.s, n, sym(&c.s, "x")), (uint32_t)i + 1);
    }
    cr_assert_neq(bc_build(&c), 0);
    cr_assert(c.d.n >= 1 && c.d.n <= 10, "%zu diagnostics", c.d.n);
    assert_diag(&c.d, 0, DIAG_ERROR, 1, 1, "dependency cycle: s0 -> s0");
    bc_clear(&c);
}

Test(system, long_cycle_is_shortened)
{
    built_case c;
    enum { N = 20 };
    bc_init(&c, N);
    term_id names[N];
    for (int i = 0; i < N; i++) {
        char name[16];
        snprintf(name, sizeof name, "c%d", i);
        names[i] = sym(&c.s, name);
    }
    for (int i = 0; i < N; i++) bc_rel(&c, names[i], term_exp(&c.s, names[(i + 1) % N]), (uint32_t)i + 1);
    cr_assert_neq(bc_build(&c), 0);
    cr_assert_eq(c.d.n, 1);
    assert_diag(&c.d, 0, DIAG_ERROR, 1, 1,
                "dependency cycle: c0 -> c1 -> c2 -> c3 -> c4 -> c5 -> ... -> c17 -> c18 -> c19 -> c0 "
                "(20 relations)");
    bc_clear(&c);
}

/* A chain of a million relations closed into one cycle: found without deep
 * recursion, reported once. */
Test(system, million_cycle)
{
    built_case c;
    const uint32_t n = chain_length();
    bc_init(&c, n);
    term_id *names = malloc(n * sizeof *names);
    for (uint32_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "m%u", i);
        names[i] = sym(&c.s, name);
    }
    term_id one = term_num_si(&c.s, 1, 1);
    for (uint32_t i = 0; i < n; i++) bc_rel(&c, names[i], term_add2(&c.s, names[(i + 1) % n], one), i + 1);
    cr_assert_neq(bc_build(&c), 0);
    cr_assert_eq(c.d.n, 1);
    char want[256];
    snprintf(want, sizeof want,
             "dependency cycle: m0 -> m1 -> m2 -> m3 -> m4 -> m5 -> ... -> m%u -> m%u -> m%u -> m0 (%u relations)",
             n - 3, n - 2, n - 1, n);
    assert_diag(&c.d, 0, DIAG_ERROR, 1, 1, want);
    cr_assert_eq(sys_inline_relation(&c.y, 5), TERM_NONE);
    free(names);
    bc_clear(&c);
}

/* ================= dependency order on random systems ================= */

/* A random acyclic system: relation k (topological index) is the sum of
 * items, each a free symbol, an earlier relation's name, or exp of one.
 * Script order is a random permutation. The test keeps its own dependency
 * sets and computes the inlined values independently. */
typedef struct random_system {
    built_case c;
    uint32_t n, n_free;
    uint32_t *topo_of;   /* script index -> topological index */
    uint32_t *script_of; /* topological index -> script index */
    unsigned char *dep;  /* dep[k * n + j]: k uses j */
    term_id *value;      /* by topological index */
    term_id *frees;
} random_system;

static void rs_make(random_system *r, uint64_t seed)
{
    uint64_t st = seed;
    r->n = 1 + rng_below(&st, 24);
    r->n_free = 1 + rng_below(&st, 5);
    uint32_t n = r->n;
    bc_init(&r->c, n);
    term_store *s = &r->c.s;
    r->topo_of = malloc(n * sizeof *r->topo_of);
    r->script_of = malloc(n * sizeof *r->script_of);
    r->dep = calloc((size_t)n * n, 1);
    r->value = malloc(n * sizeof *r->value);
    r->frees = malloc(r->n_free * sizeof *r->frees);
    term_id *names = malloc(n * sizeof *names);
    term_id *rhs = malloc(n * sizeof *rhs);
    for (uint32_t k = 0; k < n; k++) r->topo_of[k] = k;
    for (uint32_t k = n; k > 1; k--) {
        uint32_t j = rng_below(&st, k), t = r->topo_of[k - 1];
        r->topo_of[k - 1] = r->topo_of[j];
        r->topo_of[j] = t;
    }
    for (uint32_t p = 0; p < n; p++) r->script_of[r->topo_of[p]] = p;
    /* symbols created in a random interleaving of names and free symbols */
    uint32_t made_names = 0, made_free = 0;
    while (made_names < n || made_free < r->n_free) {
        char name[16];
        if (made_free == r->n_free || (made_names < n && rng_below(&st, 2))) {
            snprintf(name, sizeof name, "r%u", made_names);
            names[made_names++] = sym(s, name);
        } else {
            snprintf(name, sizeof name, "f%u", made_free);
            r->frees[made_free++] = sym(s, name);
        }
    }
    for (uint32_t k = 0; k < n; k++) {
        /* distinct items, so that no name gets a coefficient: 2*r with r a
         * sum would stay a product, while the sum of its value twice is
         * collected term by term */
        uint32_t tries = rng_below(&st, 4), m = 0;
        term_id items[4], vals[4];
        for (uint32_t i = 0; i < tries; i++) {
            uint32_t kind = k ? rng_below(&st, 3) : 0;
            term_id item, val;
            uint32_t j = 0;
            if (kind == 0) {
                item = val = r->frees[rng_below(&st, r->n_free)];
            } else {
                j = rng_below(&st, k);
                item = kind == 1 ? names[j] : term_exp(s, names[j]);
                val = kind == 1 ? r->value[j] : term_exp(s, r->value[j]);
            }
            int seen = 0;
            for (uint32_t e = 0; e < m; e++) seen |= items[e] == item;
            if (seen) continue;
            if (kind) r->dep[(size_t)k * n + j] = 1;
            items[m] = item;
            vals[m++] = val;
        }
        if (m == 0) {
            items[0] = vals[0] = term_num_si(s, (slong)k + 1, 2);
            m = 1;
        }
        rhs[k] = term_add(s, items, m);
        r->value[k] = term_add(s, vals, m);
    }
    for (uint32_t p = 0; p < n; p++) bc_rel(&r->c, names[r->topo_of[p]], rhs[r->topo_of[p]], p + 1);
    free(names);
    free(rhs);
}

static void rs_clear(random_system *r)
{
    bc_clear(&r->c);
    free(r->topo_of);
    free(r->script_of);
    free(r->dep);
    free(r->value);
    free(r->frees);
}

static void rs_check(random_system *r)
{
    uint32_t n = r->n;
    sys *y = &r->c.y;
    term_store *s = &r->c.s;
    cr_assert_eq(bc_build(&r->c), 0);
    cr_assert_eq(r->c.d.n, 0);
    /* order: a permutation, every relation after its dependencies */
    cr_assert_eq(y->n_order, n);
    uint32_t *pos = malloc(n * sizeof *pos);
    for (uint32_t p = 0; p < n; p++) pos[p] = UINT32_MAX;
    for (uint32_t i = 0; i < n; i++) {
        cr_assert(y->order[i] < n);
        cr_assert_eq(pos[y->order[i]], UINT32_MAX, "relation twice in order");
        pos[y->order[i]] = i;
    }
    for (uint32_t k = 0; k < n; k++)
        for (uint32_t j = 0; j < n; j++)
            if (r->dep[(size_t)k * n + j])
                cr_assert(pos[r->script_of[j]] < pos[r->script_of[k]], "dependency ordered after its user");
    /* outputs: relations nobody uses, script order */
    size_t n_out = 0;
    for (uint32_t p = 0; p < n; p++) {
        uint32_t k = r->topo_of[p];
        int used = 0;
        for (uint32_t u = 0; u < n; u++) used |= r->dep[(size_t)u * n + k];
        if (!used) {
            cr_assert(n_out < y->n_outputs);
            cr_assert_eq(y->outputs[n_out], r->c.sc.rels[p].name);
            n_out++;
        }
    }
    cr_assert_eq(n_out, y->n_outputs);
    /* free symbols: every f used somewhere, each once, none defined */
    for (size_t i = 0; i < y->n_free; i++) {
        cr_assert_eq(sys_relation_of(y, y->free_syms[i]), -1);
        cr_assert_eq(term_sym_name(s, y->free_syms[i])[0], 'f');
        for (size_t j = 0; j < i; j++) cr_assert_neq(y->free_syms[i], y->free_syms[j]);
    }
    /* inlined values against the independently substituted ones */
    for (uint32_t k = 0; k < n; k++) {
        term_id v = sys_inline_relation(y, r->script_of[k]);
        cr_assert_eq(v, r->value[k], "relation r%u: inlined value differs", k);
    }
    free(pos);
}

Test(system, random_dags_order_outputs_inlining)
{
    int iters = 500 * test_multiplier();
    for (int it = 0; it < iters; it++) {
        random_system r;
        rs_make(&r, 0x5eed0000u + (uint64_t)it);
        rs_check(&r);
        rs_clear(&r);
    }
}

Test(system, random_dags_deterministic)
{
    int iters = 100 * test_multiplier();
    for (int it = 0; it < iters; it++) {
        random_system r1, r2;
        rs_make(&r1, 0xd00d0000u + (uint64_t)it);
        rs_make(&r2, 0xd00d0000u + (uint64_t)it);
        cr_assert_eq(bc_build(&r1.c), 0);
        cr_assert_eq(bc_build(&r2.c), 0);
        cr_assert_eq(r1.c.y.n_order, r2.c.y.n_order);
        cr_assert(memcmp(r1.c.y.order, r2.c.y.order, r1.n * sizeof *r1.c.y.order) == 0);
        cr_assert_eq(r1.c.y.n_free, r2.c.y.n_free);
        cr_assert_eq(r1.c.y.n_outputs, r2.c.y.n_outputs);
        for (size_t i = 0; i < r1.c.y.n_free; i++)
            cr_assert_str_eq(term_sym_name(&r1.c.s, r1.c.y.free_syms[i]),
                             term_sym_name(&r2.c.s, r2.c.y.free_syms[i]));
        /* a second build over the same script gives the same system */
        sys again;
        cr_assert_eq(sys_build(&again, &r1.c.s, &r1.c.sc, &r1.c.d), 0);
        cr_assert(memcmp(again.order, r1.c.y.order, r1.n * sizeof *again.order) == 0);
        cr_assert_eq(again.n_free, r1.c.y.n_free);
        for (size_t i = 0; i < again.n_free; i++) cr_assert_eq(again.free_syms[i], r1.c.y.free_syms[i]);
        cr_assert(memcmp(again.outputs, r1.c.y.outputs, again.n_outputs * sizeof *again.outputs) == 0);
        sys_clear(&again);
        rs_clear(&r1);
        rs_clear(&r2);
    }
}

Test(system, order_is_script_order_dfs)
{
    text_case c;
    tc_parse(&c, "d = b + c\nc = a\nb = a * 2\na = x\n");
    cr_assert_eq(tc_build(&c), 0);
    /* from d: b (its dependencies in term id order) then c, each after a */
    cr_assert_eq(c.y.n_order, 4);
    size_t a = rel_named(&c.y, &c.s, "a"), b = rel_named(&c.y, &c.s, "b");
    size_t cc = rel_named(&c.y, &c.s, "c"), d = rel_named(&c.y, &c.s, "d");
    cr_assert_eq(c.y.order[0], a);
    cr_assert_eq(c.y.order[3], d);
    cr_assert((c.y.order[1] == b && c.y.order[2] == cc) || (c.y.order[1] == cc && c.y.order[2] == b));
    tc_clear(&c);
}

/* ================= inlining ================= */

Test(system, inline_square_and_sum)
{
    text_case c;
    tc_parse(&c, "a = x + 1\nb = a*a\nc = b + a\n");
    cr_assert_eq(tc_build(&c), 0);
    term_store *s = &c.s;
    term_id x = sym(s, "x"), one = term_num_si(s, 1, 1);
    term_id xp1 = term_add2(s, x, one);
    term_id sq = term_pow_si(s, xp1, 2);
    term_id parts[3] = { sq, x, one };
    term_id expect_c = term_add(s, parts, 3);
    cr_assert_eq(sys_inline_relation(&c.y, rel_named(&c.y, s, "a")), xp1);
    cr_assert_eq(sys_inline_relation(&c.y, rel_named(&c.y, s, "b")), sq);
    cr_assert_eq(sys_inline_relation(&c.y, rel_named(&c.y, s, "c")), expect_c);
    /* the same through sys_inline on a new term */
    term_id q = term_mul2(s, sym(s, "c"), sym(s, "w"));
    cr_assert_eq(sys_inline(&c.y, q), term_mul2(s, expect_c, sym(s, "w")));
    /* outputs default to c only */
    cr_assert_eq(c.y.n_outputs, 1);
    cr_assert_eq(c.y.outputs[0], sym(s, "c"));
    tc_clear(&c);
}

Test(system, inline_square_and_sum_constructed)
{
    built_case c;
    bc_init(&c, 3);
    term_store *s = &c.s;
    term_id x = sym(s, "x"), a = sym(s, "a"), b = sym(s, "b"), cn = sym(s, "c");
    term_id one = term_num_si(s, 1, 1);
    /* script order c, b, a: inlining reaches definitions further down */
    bc_rel(&c, cn, term_add2(s, b, a), 1);
    bc_rel(&c, b, term_mul2(s, a, a), 2);
    bc_rel(&c, a, term_add2(s, x, one), 3);
    cr_assert_eq(bc_build(&c), 0);
    term_id xp1 = term_add2(s, x, one);
    term_id parts[3] = { term_pow_si(s, xp1, 2), x, one };
    term_id expect = term_add(s, parts, 3);
    cr_assert_eq(sys_inline_relation(&c.y, 0), expect);
    /* inlining c cached the relations reached through their names */
    cr_assert_eq(c.y.inlined[1], term_pow_si(s, xp1, 2));
    cr_assert_eq(c.y.inlined[2], xp1);
    /* a second call builds nothing */
    uint32_t nodes = s->n_nodes;
    cr_assert_eq(sys_inline_relation(&c.y, 0), expect);
    cr_assert_eq(sys_inline(&c.y, cn), expect);
    cr_assert_eq(s->n_nodes, nodes);
    cr_assert_eq(c.y.order[0], 2);
    cr_assert_eq(c.y.order[1], 1);
    cr_assert_eq(c.y.order[2], 0);
    bc_clear(&c);
}

/* a_0 = x, a_i = a_{i-1} + a_{i-1}: a_n = 2^n x. */
static term_id two_pow_times(term_store *s, ulong n, term_id x)
{
    fmpq_t q;
    fmpq_init(q);
    fmpz_one(fmpq_numref(q));
    fmpz_mul_2exp(fmpq_numref(q), fmpq_numref(q), n);
    term_id c = term_num(s, q);
    fmpq_clear(q);
    return term_mul2(s, c, x);
}

Test(system, doubling_chain_collapses)
{
    /* from text, n = 200 */
    enum { N = 200 };
    size_t cap = 64 * (N + 1);
    char *text = malloc(cap);
    size_t len = (size_t)snprintf(text, cap, "a0 = x\n");
    for (int i = 1; i <= N; i++) len += (size_t)snprintf(text + len, cap - len, "a%d = a%d + a%d\n", i, i - 1, i - 1);
    text_case c;
    tc_parse(&c, text);
    free(text);
    cr_assert_eq(tc_build(&c), 0);
    term_id x = sym(&c.s, "x");
    term_id v = sys_inline_relation(&c.y, N);
    cr_assert_eq(v, two_pow_times(&c.s, N, x));
    cr_assert_eq(reachable(&c.s, v), 3);
    cr_assert_eq(sys_inline_relation(&c.y, 37), two_pow_times(&c.s, 37, x));
    tc_clear(&c);

    /* constructed, n = 3000, script in reverse order */
    built_case b;
    const uint32_t n = 3000;
    bc_init(&b, n + 1);
    term_id *names = malloc((n + 1) * sizeof *names);
    for (uint32_t i = 0; i <= n; i++) {
        char name[16];
        snprintf(name, sizeof name, "a%u", i);
        names[i] = sym(&b.s, name);
    }
    x = sym(&b.s, "x");
    for (uint32_t i = n; i >= 1; i--) bc_rel(&b, names[i], term_add2(&b.s, names[i - 1], names[i - 1]), i + 1);
    bc_rel(&b, names[0], x, 1);
    cr_assert_eq(bc_build(&b), 0);
    cr_assert_eq(sys_inline_relation(&b.y, 0), two_pow_times(&b.s, n, x));
    free(names);
    bc_clear(&b);
}

/* a_0 = x, a_i = exp(a_{i-1})*y + a_{i-1}: as a tree a_n has about 2^n
 * nodes; as a DAG three new nodes per step. */
Test(system, sharing_chain_grows_linearly)
{
    enum { N = 60 };
    size_t cap = 64 * (N + 1);
    char *text = malloc(cap);
    size_t len = (size_t)snprintf(text, cap, "a0 = x\n");
    for (int i = 1; i <= N; i++)
        len += (size_t)snprintf(text + len, cap - len, "a%d = exp(a%d) * y + a%d\n", i, i - 1, i - 1);
    text_case c;
    tc_parse(&c, text);
    free(text);
    cr_assert_eq(tc_build(&c), 0);
    term_store *s = &c.s;
    term_id x = sym(s, "x"), y = sym(s, "y");
    /* independently: the same recurrence with constructors */
    term_id expect = x;
    size_t count[N + 1];
    for (int i = 0; i <= N; i++) {
        if (i > 0) expect = term_add2(s, term_mul2(s, term_exp(s, expect), y), expect);
        term_id v = sys_inline_relation(&c.y, (size_t)i);
        cr_assert_eq(v, expect, "a%d differs", i);
        count[i] = reachable(s, v);
    }
    cr_assert_eq(count[0], 1);
    for (int i = 2; i <= N; i++)
        cr_assert_eq(count[i] - count[i - 1], count[2] - count[1], "a%d: %zu nodes after %zu", i, count[i],
                     count[i - 1]);
    cr_assert(count[N] <= 4 * N + 4, "%zu nodes", count[N]);
    tc_clear(&c);

    /* a long constructed chain: inlining stays linear in nodes */
    built_case b;
    const uint32_t n = 2000;
    bc_init(&b, n + 1);
    s = &b.s;
    x = sym(s, "x");
    y = sym(s, "y");
    term_id prev = sym(s, "a0");
    bc_rel(&b, prev, x, 1);
    for (uint32_t i = 1; i <= n; i++) {
        char name[16];
        snprintf(name, sizeof name, "a%u", i);
        term_id cur = sym(s, name);
        bc_rel(&b, cur, term_add2(s, term_mul2(s, term_exp(s, prev), y), prev), i + 1);
        prev = cur;
    }
    cr_assert_eq(bc_build(&b), 0);
    uint32_t before = s->n_nodes;
    term_id v = sys_inline_relation(&b.y, n);
    cr_assert(s->n_nodes - before <= 4 * n, "%u new nodes", s->n_nodes - before);
    size_t nodes = reachable(s, v);
    cr_assert(nodes >= 3 * n && nodes <= 3 * n + 3, "%zu nodes", nodes);
    bc_clear(&b);
}

/* a_0 = x + 1, a_i = a_{i-1} + 1, a million relations, script order from
 * the last: order and inlining without deep recursion. */
Test(system, million_relation_chain)
{
    built_case c;
    const uint32_t n = chain_length();
    bc_init(&c, n);
    term_store *s = &c.s;
    term_id x = sym(s, "x"), one = term_num_si(s, 1, 1);
    term_id *names = malloc(n * sizeof *names);
    for (uint32_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof name, "a%u", i);
        names[i] = sym(s, name);
    }
    for (uint32_t p = 0; p < n; p++) {
        uint32_t i = n - 1 - p;
        bc_rel(&c, names[i], term_add2(s, i ? names[i - 1] : x, one), p + 1);
    }
    cr_assert_eq(bc_build(&c), 0);
    cr_assert_eq(c.y.n_order, n);
    for (uint32_t k = 0; k < n; k++)
        if (c.y.order[k] != n - 1 - k) cr_assert_fail("order[%u] = %u", k, c.y.order[k]);
    cr_assert_eq(c.y.n_outputs, 1);
    cr_assert_eq(c.y.outputs[0], names[n - 1]);
    cr_assert_eq(c.y.n_free, 1);
    cr_assert_eq(c.y.free_syms[0], x);
    term_id v = sys_inline_relation(&c.y, 0);
    cr_assert_eq(v, term_add2(s, x, term_num_si(s, (slong)n, 1)));
    cr_assert_eq(sys_inline_relation(&c.y, n - 1), term_add2(s, x, one));
    cr_assert_eq(sys_inline_relation(&c.y, n / 2), term_add2(s, x, term_num_si(s, (slong)(n - n / 2), 1)));
    free(names);
    bc_clear(&c);
}

/* A right-hand side of depth 200000 (exp of exp of ...) over a defined name:
 * rebuilt without recursion. */
Test(system, deep_rhs)
{
    built_case c;
    const uint32_t depth = 200000;
    bc_init(&c, 2);
    term_store *s = &c.s;
    term_id x = sym(s, "x"), a = sym(s, "a"), t = a;
    for (uint32_t i = 0; i < depth; i++) t = term_exp(s, t);
    bc_rel(&c, sym(s, "deep"), t, 1);
    bc_rel(&c, a, term_mul2(s, x, term_num_si(s, 3, 1)), 2);
    cr_assert_eq(bc_build(&c), 0);
    cr_assert_eq(c.y.n_free, 1);
    term_id expect = term_mul2(s, x, term_num_si(s, 3, 1));
    for (uint32_t i = 0; i < depth; i++) expect = term_exp(s, expect);
    cr_assert_eq(sys_inline_relation(&c.y, 0), expect);
    bc_clear(&c);
}

/* Attention score s = (q . k) / sqrt(4) with rational inputs folds to one
 * exact number, computed here with fmpq. */
static const slong score_q[4][2] = { { 1, 2 }, { 2, 3 }, { -3, 4 }, { 5, 7 } };
static const slong score_k[4][2] = { { 5, 1 }, { -1, 3 }, { 7, 8 }, { 11, 13 } };

static void expected_score(fmpq_t out)
{
    fmpq_t a, b;
    fmpq_init(a);
    fmpq_init(b);
    fmpq_zero(out);
    for (int i = 0; i < 4; i++) {
        fmpq_set_si(a, score_q[i][0], (ulong)score_q[i][1]);
        fmpq_set_si(b, score_k[i][0], (ulong)score_k[i][1]);
        fmpq_addmul(out, a, b);
    }
    fmpq_div_2exp(out, out, 1); /* sqrt(4) = 2 */
    fmpq_clear(a);
    fmpq_clear(b);
}

Test(system, rational_attention_score_folds)
{
    char text[512];
    size_t len = 0;
    for (int i = 0; i < 4; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "q%d = %ld/%ld\nk%d = %ld/%ld\n", i + 1,
                                score_q[i][0], score_q[i][1], i + 1, score_k[i][0], score_k[i][1]);
    snprintf(text + len, sizeof text - len, "s = (q1*k1 + q2*k2 + q3*k3 + q4*k4) / sqrt(4)\n");
    text_case c;
    tc_parse(&c, text);
    cr_assert_eq(tc_build(&c), 0);
    fmpq_t want;
    fmpq_init(want);
    expected_score(want);
    term_id v = sys_inline_relation(&c.y, rel_named(&c.y, &c.s, "s"));
    cr_assert_eq(term_op_of(&c.s, v), OP_NUM);
    cr_assert(fmpq_equal(term_value(&c.s, v), want), "score is not %s", fmpq_get_str(NULL, 10, want));
    cr_assert_eq(c.y.n_free, 0);
    cr_assert_eq(c.y.n_outputs, 1);
    tc_clear(&c);

    /* the same system constructed directly */
    built_case b;
    bc_init(&b, 9);
    term_store *s = &b.s;
    term_id prods[4];
    for (int i = 0; i < 4; i++) {
        char qn[16], kn[16];
        snprintf(qn, sizeof qn, "q%d", i + 1);
        snprintf(kn, sizeof kn, "k%d", i + 1);
        term_id q = sym(s, qn), k = sym(s, kn);
        bc_rel(&b, q, term_num_si(s, score_q[i][0], score_q[i][1]), (uint32_t)(2 * i + 1));
        bc_rel(&b, k, term_num_si(s, score_k[i][0], score_k[i][1]), (uint32_t)(2 * i + 2));
        prods[i] = term_mul2(s, q, k);
    }
    bc_rel(&b, sym(s, "s"), term_div(s, term_add(s, prods, 4), term_sqrt(s, term_num_si(s, 4, 1))), 9);
    cr_assert_eq(bc_build(&b), 0);
    v = sys_inline_relation(&b.y, 8);
    cr_assert_eq(v, term_num(s, want));
    fmpq_clear(want);
    bc_clear(&b);
}

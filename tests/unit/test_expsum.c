/* Tests of rewrite/expsum: every rule of the sets expsum and stable on
 * positive and negative cases with their measures; softmax recognised in the
 * seed block, shuffled, renamed, scaled, causal and two-head blocks, and not
 * in near-misses; masked rows; exp-constant; traces that replay; random rows
 * whose values are kept (Arb balls and exact values); the C of
 * `hmp cse --emit c --stable` against certified values where exp overflows. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flint/fmpq.h>

#include "core/arbcompat.h"
#include "core/diag.h"
#include "eval/ball.h"
#include "eval/expval.h"
#include "core/parse.h"
#include "core/print.h"
#include "core/system.h"
#include "core/term.h"
#include "frontends/cli.h"
#include "io/gen.h"
#include "rewrite/engine.h"
#include "rewrite/expsum.h"
#include "rewrite/rules.h"
#include "tests/lib/testgen.h"
#include "tests/lib/testlib.h"
#include "tests/lib/testscript.h"

static term_store S;
static void setup(void) { term_store_init(&S); }
static void teardown(void) { term_store_clear(&S); flint_cleanup(); }
TestSuite(expsum, .init = setup, .fini = teardown);

static term_id parse_in(term_store *s, const char *text)
{
    source src;
    source_from_string(&src, "test", text, strlen(text));
    diag_list d;
    diag_init(&d);
    term_id t = TERM_NONE;
    int rc = parse_expr(&t, s, &d, &src);
    if (rc) diag_print(stderr, &d);
    cr_assert_eq(rc, 0, "does not parse: %s", text);
    diag_clear(&d);
    source_clear(&src);
    return t;
}

static term_id parse(const char *text) { return parse_in(&S, text); }

static char *infix_in(const term_store *s, term_id t)
{
    strbuf b;
    strbuf_init(&b);
    print_infix(&b, s, t);
    char *text = strdup(strbuf_str(&b));
    strbuf_clear(&b);
    return text;
}

static char *infix(term_id t) { return infix_in(&S, t); }

/* measure(after) < measure(before) for the set of the step's rule (the
 * system passes have none: they are not a rewriting system). */
static void assert_step_decreases(const term_store *s, const rw_step *st)
{
    rule_measure f = st->rule->set->def->measure;
    if (!f) return;
    fmpz_t a, b;
    fmpz_init(a);
    fmpz_init(b);
    f(b, s, st->before);
    f(a, s, st->after);
    if (fmpz_cmp(a, b) >= 0) {
        char *x = infix_in(s, st->before), *y = infix_in(s, st->after);
        cr_assert_fail("%s: measure of %s does not decrease: %s -> %s", st->rule->def->name, st->rule->set->def->name, x,
                       y);
    }
    fmpz_clear(a);
    fmpz_clear(b);
}

/* ---- scripts ---- */

typedef struct loaded {
    test_script t;
    term_id *terms; /* the simplified right-hand sides */
    expsum_simplifier x;
    int ran;
} loaded;

static void load(loaded *L, const char *text)
{
    memset(L, 0, sizeof *L);
    test_script_load(&L->t, text);
}

/* Simplifies every relation as `hmp simplify` does (default sets). */
static void simplify(loaded *L, int stable, int trace)
{
    expsum_options opt;
    expsum_options_init(&opt);
    opt.stable = stable;
    opt.trace = trace;
    expsum_simplifier_init(&L->x, &L->t.s, &opt);
    L->terms = calloc(L->t.sc.n_rels + 1, sizeof *L->terms);
    for (size_t i = 0; i < L->t.sc.n_rels; i++) L->terms[i] = L->t.sc.rels[i].rhs;
    expsum_run(&L->x, L->terms, L->t.sc.n_rels, &L->t.y);
    L->ran = 1;
    cr_assert(!L->x.capped);
}

static void unload(loaded *L)
{
    if (L->ran) expsum_simplifier_clear(&L->x);
    free(L->terms);
    test_script_clear(&L->t);
}

static size_t rel_index(const loaded *L, const char *name)
{
    for (size_t i = 0; i < L->t.sc.n_rels; i++)
        if (strcmp(term_sym_name(&L->t.s, L->t.sc.rels[i].name), name) == 0) return i;
    cr_assert_fail("no relation %s", name);
    return 0;
}

/* The simplified relation name is text (parsed in the script's store). */
static void assert_rel(loaded *L, const char *name, const char *text)
{
    term_id got = L->terms[rel_index(L, name)], want = parse_in(&L->t.s, text);
    char *g = infix_in(&L->t.s, got);
    cr_assert_eq(got, want, "%s = %s, want %s", name, g, text);
    free(g);
}

/* The trace replayed on the right-hand sides gives the results, and every
 * step of an engine decreases its set's measure. */
static void assert_trace_replays(loaded *L)
{
    size_t n = L->t.sc.n_rels;
    term_id *roots = calloc(n + 1, sizeof *roots);
    for (size_t i = 0; i < n; i++) roots[i] = L->t.sc.rels[i].rhs;
    rw_replay(&L->t.s, roots, n, L->x.steps, L->x.n_steps);
    for (size_t i = 0; i < n; i++) {
        char *a = infix_in(&L->t.s, roots[i]), *b = infix_in(&L->t.s, L->terms[i]);
        cr_assert_eq(roots[i], L->terms[i], "relation %zu: replay gives %s, simplification %s", i, a, b);
        free(a);
        free(b);
    }
    for (size_t i = 0; i < L->x.n_steps; i++) assert_step_decreases(&L->t.s, &L->x.steps[i]);
    free(roots);
}

/* The lines of text in a random order (comments dropped), with every
 * occurrence of each from[i] replaced by to[i]. */
static char *shuffled(const char *text, test_rng *r, const char *const *from, const char *const *to, size_t n_map)
{
    char *copy = strdup(text);
    char **lines = NULL;
    size_t n = 0;
    for (char *p = strtok(copy, "\n"); p; p = strtok(NULL, "\n"))
        if (p[0] != '#') {
            lines = realloc(lines, (n + 1) * sizeof *lines);
            lines[n++] = p;
        }
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)test_randn(r, (int)i);
        char *w = lines[i - 1];
        lines[i - 1] = lines[j];
        lines[j] = w;
    }
    strbuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < n; i++) {
        for (const char *p = lines[i]; *p;) {
            size_t k = 0;
            while (k < n_map && strncmp(p, from[k], strlen(from[k])) != 0) k++;
            if (k < n_map) {
                strbuf_puts(&b, to[k]);
                p += strlen(from[k]);
            } else {
                strbuf_putc(&b, *p++);
            }
        }
        strbuf_putc(&b, '\n');
    }
    char *out = strdup(strbuf_str(&b));
    strbuf_clear(&b);
    free(lines);
    free(copy);
    return out;
}

static void assert_counts(const char *text, size_t entries, size_t rows, int stable)
{
    loaded L;
    load(&L, text);
    simplify(&L, stable, 0);
    cr_assert_eq(L.x.report.softmax_entries, entries, "%zu entries, want %zu", L.x.report.softmax_entries, entries);
    cr_assert_eq(L.x.report.softmax_rows, rows, "%zu rows, want %zu", L.x.report.softmax_rows, rows);
    cr_assert_eq(L.x.report.n_masked, 0);
    unload(&L);
}

/* ---- every rule: positive and negative cases ---- */

Test(expsum, measures)
{
    fmpz_t v;
    fmpz_init(v);
    /* ops: lse of n arguments counts n; log(exp(a) + exp(b)) counts 2n */
    rule_measure_ops(v, &S, parse("lse(x, y, z)"));
    cr_assert_eq(fmpz_get_si(v), 3 + 3);
    rule_measure_ops(v, &S, parse("log(exp(x) + exp(y) + exp(z))"));
    cr_assert_eq(fmpz_get_si(v), 3 + 6);
    rule_measure_ops(v, &S, term_neg_inf(&S));
    cr_assert_eq(fmpz_get_si(v), 0);
    /* stable: leaves 2, lse (n + 3)*sum + n + 2, exp +1, products of
     * non-numbers, powers with a numeric exponent their base */
    expsum_measure_stable(v, &S, parse("lse(x, y)"));
    cr_assert_eq(fmpz_get_si(v), 5 * 4 + 4);
    expsum_measure_stable(v, &S, parse("exp(x)/(y + z)"));
    cr_assert_eq(fmpz_get_si(v), 3 + 4);
    expsum_measure_stable(v, &S, parse("x^y*3"));
    cr_assert_eq(fmpz_get_si(v), 4);
    expsum_measure_stable(v, &S, parse("log(exp(x))"));
    cr_assert_eq(fmpz_get_si(v), 4);
    /* the stable form of a row weighs less than its lse form, though larger */
    fmpz_t w;
    fmpz_init(w);
    term_id a = parse("exp(s1 - lse(s1, s2, s3, s4))");
    rule_set st;
    rule_set_init(&st, &rule_set_stable);
    const rule_set *p = &st;
    rw_engine e;
    rw_init(&e, &S, &p, 1);
    term_id b = rw_simplify(&e, a, 0);
    cr_assert_eq(b, parse("exp(s1 - max(s1, s2, s3, s4))/(exp(s1 - max(s1, s2, s3, s4)) + exp(s2 - max(s1, s2, s3, s4)) + "
                          "exp(s3 - max(s1, s2, s3, s4)) + exp(s4 - max(s1, s2, s3, s4)))"));
    expsum_measure_stable(v, &S, a);
    expsum_measure_stable(w, &S, b);
    cr_assert(fmpz_cmp(w, v) < 0);
    rule_measure_ops(v, &S, a);
    rule_measure_ops(w, &S, b);
    cr_assert(fmpz_cmp(w, v) > 0);
    rw_clear(&e);
    rule_set_clear(&st);
    fmpz_clear(w);
    fmpz_clear(v);
}

/* ---- softmax in scripts ---- */

static const char seed_path[] = "examples/transformer_block.hmp";

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    strbuf b;
    strbuf_init(&b);
    char buf[4096];
    size_t k;
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) strbuf_putn(&b, buf, k);
    fclose(f);
    char *out = strdup(strbuf_str(&b));
    strbuf_clear(&b);
    return out;
}

Test(expsum, seed_block_nine_entries_three_rows)
{
    char *text = read_file(seed_path);
    loaded L;
    load(&L, text);
    simplify(&L, 0, 1);
    cr_assert_eq(L.x.report.softmax_entries, 9);
    cr_assert_eq(L.x.report.softmax_rows, 3);
    /* the derivation: softmax-entry on a11, ..., a33, in script order */
    cr_assert_eq(L.x.n_steps, 9);
    for (size_t i = 0; i < 9; i++) {
        const rw_step *st = &L.x.steps[i];
        char want[8];
        snprintf(want, sizeof want, "a%zu%zu", i / 3 + 1, i % 3 + 1);
        cr_assert_str_eq(st->rule->def->name, "softmax-entry");
        cr_assert_str_eq(term_sym_name(&L.t.s, L.t.sc.rels[st->where].name), want);
    }
    assert_rel(&L, "a11", "exp(s11 - lse(s11, s12, s13))");
    assert_rel(&L, "a23", "exp(s23 - lse(s21, s22, s23))");
    assert_rel(&L, "a32", "exp(s32 - lse(s31, s32, s33))");
    /* one lse per row, shared by its entries */
    cr_assert_eq(L.x.report.entry_row[rel_index(&L, "a21")], L.x.report.entry_row[rel_index(&L, "a22")]);
    cr_assert_neq(L.x.report.entry_row[rel_index(&L, "a21")], L.x.report.entry_row[rel_index(&L, "a31")]);
    assert_trace_replays(&L);
    unload(&L);
    /* stable: the same entries and rows, each in the max-shifted form, after
     * the lse form in the trace */
    load(&L, text);
    simplify(&L, 1, 1);
    cr_assert_eq(L.x.report.softmax_entries, 9);
    cr_assert_eq(L.x.report.softmax_rows, 3);
    cr_assert(L.x.report.stable);
    assert_rel(&L, "a12", "exp(s12 - max(s11, s12, s13))/(exp(s11 - max(s11, s12, s13)) + exp(s12 - max(s11, s12, s13)) "
                          "+ exp(s13 - max(s11, s12, s13)))");
    size_t last_entry = 0, first_stable = L.x.n_steps;
    for (size_t i = 0; i < L.x.n_steps; i++) {
        const char *name = L.x.steps[i].rule->def->name;
        if (strcmp(name, "softmax-entry") == 0) last_entry = i;
        else if (i < first_stable) first_stable = i;
    }
    cr_assert(last_entry < first_stable && first_stable < L.x.n_steps);
    assert_trace_replays(&L);
    unload(&L);
    free(text);
}

Test(expsum, generated_blocks_in_any_order_and_names)
{
    char *b;
    /* plain, lines shuffled, names changed */
    b = test_gen_attention(3, 2, 1, TEST_GEN_SYMBOLIC, 1);
    assert_counts(b, 9, 3, 0);
    assert_counts(b, 9, 3, 1);
    test_rng r = { 0xe59 };
    static const char *const from[] = { "s_", "a_", "q_" }, *const to[] = { "score", "attn_", "query" };
    for (int k = 0; k < 5; k++) {
        char *t = shuffled(b, &r, from, to, k % 2 ? 3 : 0);
        assert_counts(t, 9, 3, k % 2);
        free(t);
    }
    free(b);
    /* the seed's compact names, shuffled */
    b = test_gen_attention(3, 2, 1, TEST_GEN_SYMBOLIC | TEST_GEN_COMPACT, 1);
    char *t = shuffled(b, &r, NULL, NULL, 0);
    assert_counts(t, 9, 3, 0);
    free(t);
    free(b);
    /* scaled: the scores carry / sqrt(2), the rows are the same */
    b = test_gen_attention(3, 2, 1, TEST_GEN_SYMBOLIC | TEST_GEN_SCALE, 1);
    assert_counts(b, 9, 3, 0);
    free(b);
    /* causal: row 1 is exp(s_1_1)/exp(s_1_1) = 1 (no row), rows 2 and 3 */
    b = test_gen_attention(3, 2, 1, TEST_GEN_SYMBOLIC | TEST_GEN_CAUSAL, 1);
    assert_counts(b, 5, 2, 0);
    assert_counts(b, 5, 2, 1);
    free(b);
    b = test_gen_attention(4, 2, 1, TEST_GEN_SYMBOLIC | TEST_GEN_SCALE | TEST_GEN_CAUSAL, 1);
    assert_counts(b, 9, 3, 0);
    free(b);
    /* two heads: six rows */
    b = test_gen_attention(3, 2, 2, TEST_GEN_SYMBOLIC, 1);
    assert_counts(b, 18, 6, 0);
    t = shuffled(b, &r, NULL, NULL, 0);
    assert_counts(t, 18, 6, 1);
    free(t);
    free(b);
}

Test(expsum, written_differently)
{
    loaded L;
    load(&L, "a1 = exp(x + y)/(exp(y + x) + exp(z) + exp(w))\n"
             "a2 = exp(z)/(exp(w) + exp(x + y) + exp(z))\n"
             "a3 = exp(w)*1/(exp(z) + exp(w) + exp(y + x))\n"
             /* a common summand c in every score: the same row */
             "b1 = exp(x + y + c)/(exp(x + y + c) + exp(z + c) + exp(w + c))\n"
             "b2 = exp(z)*exp(c)/(exp(x + y)*exp(c) + exp(z)*exp(c) + exp(w)*exp(c))\n"
             "b3 = exp(w)*exp(c)/(exp(c)*(exp(x + y) + exp(z) + exp(w)))\n"
             /* a common factor that is a number */
             "c1 = exp(p + 1/2)/(exp(p + 1/2) + exp(q + 1/2))\n"
             "c2 = exp(q)*exp(1)/(exp(p + 1) + exp(q + 1))\n"
             /* extra factors: rewritten, not counted as entries */
             "d1 = v*exp(p)/(exp(p) + exp(q))\n"
             "d2 = exp(q)*v/(exp(q) + exp(p))*u\n");
    simplify(&L, 0, 1);
    assert_rel(&L, "a1", "exp(x + y - lse(x + y, z, w))");
    assert_rel(&L, "b1", "exp(x + y - lse(x + y, z, w))");
    assert_rel(&L, "b2", "exp(z - lse(x + y, z, w))");
    assert_rel(&L, "b3", "exp(w - lse(x + y, z, w))");
    assert_rel(&L, "c1", "exp(p - lse(p, q))");
    assert_rel(&L, "c2", "exp(q - lse(p, q))");
    assert_rel(&L, "d1", "v*exp(p - lse(p, q))");
    assert_rel(&L, "d2", "u*v*exp(q - lse(p, q))");
    cr_assert_eq(L.x.report.softmax_entries, 8);
    cr_assert_eq(L.x.report.softmax_rows, 2);
    assert_trace_replays(&L);
    unload(&L);
    /* exp(0) is 1 on reading: a sum with the term 1 is no row (as + 1) */
    load(&L, "z1 = 1/(exp(0) + exp(p))\nz2 = exp(p)/(exp(0) + exp(p))\n");
    simplify(&L, 0, 0);
    assert_rel(&L, "z2", "exp(p)/(1 + exp(p))");
    cr_assert_eq(L.x.report.softmax_entries, 0);
    unload(&L);
    /* but an entry whose score is 0, in either form, is one */
    load(&L, "z = exp(-lse(0, p))\nw = exp(p - lse(0, p))\nm = exp(-max(0, p))/(exp(-max(0, p)) + exp(p - max(0, p)))\n");
    simplify(&L, 0, 0);
    cr_assert_eq(L.x.report.softmax_entries, 3);
    cr_assert_eq(L.x.report.softmax_rows, 1);
    unload(&L);
}

Test(expsum, near_misses_left_alone)
{
    static const char *const misses[] = {
        "a = exp(s3)/(exp(s1) + exp(s2))",              /* numerator not in the row */
        "a = exp(s1)/(exp(s1) + exp(s2) + 1)",          /* an extra term that is no exp */
        "a = exp(s1)/(exp(s1) + exp(s2) + x)",
        "a = exp(s1)/(exp(s1) + 2*exp(s2))",            /* a different weight */
        "a = exp(s1)/(2*exp(s1) + 2*exp(s2))",
        "a = exp(2*s1)/(exp(s1) + exp(s2))",            /* numerator written with another score */
        "a = exp(s1)/(exp(s1) + exp(s2))^2",
        "a = exp(s1)/(exp(s1) - exp(s2))",
        "a = s1/(s1 + s2)",
        "a = exp(s1)/(exp(s1) + exp(s2)) + 1",          /* an entry inside a sum: rewritten, not counted */
    };
    for (size_t i = 0; i < sizeof misses / sizeof *misses; i++) {
        loaded L;
        load(&L, misses[i]);
        simplify(&L, 0, 1);
        cr_assert_eq(L.x.report.softmax_entries, 0, "%s", misses[i]);
        for (size_t k = 0; k < L.x.n_steps; k++)
            cr_assert(i + 1 == sizeof misses / sizeof *misses ||
                          strcmp(L.x.steps[k].rule->def->name, "softmax-entry") != 0,
                      "softmax-entry fires on %s", misses[i]);
        unload(&L);
    }
    /* a row with a missing term in one entry's denominator is another row */
    loaded L;
    load(&L, "a1 = exp(s1)/(exp(s1) + exp(s2) + exp(s3))\n"
             "a2 = exp(s2)/(exp(s1) + exp(s2) + exp(s3))\n"
             "a3 = exp(s3)/(exp(s2) + exp(s3))\n"
             "a4 = exp(s4)/(exp(s1) + exp(s2) + exp(s3) + exp(s4))\n");
    simplify(&L, 0, 0);
    cr_assert_eq(L.x.report.softmax_entries, 4);
    cr_assert_eq(L.x.report.softmax_rows, 3);
    cr_assert_eq(L.x.report.entry_row[0], L.x.report.entry_row[1]);
    cr_assert_neq(L.x.report.entry_row[1], L.x.report.entry_row[2]);
    cr_assert_neq(L.x.report.entry_row[0], L.x.report.entry_row[3]);
    unload(&L);
}

Test(expsum, log_sum_exp_in_scripts)
{
    loaded L;
    load(&L, "l = log(exp(a) + exp(b))\n"
             "m = log(exp(a + c) + exp(b + c) + exp(c))\n"
             "n = log(exp(a) + exp(b)) - log(exp(b) + exp(a))\n"
             "p = log(exp(a) + exp(b) + 1)\n"
             "q = exp(a)/exp(l)\n");
    simplify(&L, 0, 1);
    assert_rel(&L, "l", "lse(a, b)");
    assert_rel(&L, "m", "c + lse(0, a, b)");
    assert_rel(&L, "n", "0");
    assert_rel(&L, "p", "log(exp(a) + exp(b) + 1)");
    assert_rel(&L, "q", "exp(a - l)");
    assert_trace_replays(&L);
    unload(&L);
    load(&L, "l = log(exp(a) + exp(b))\nm = log(exp(a + c) + exp(b + c))\n");
    simplify(&L, 1, 1);
    assert_rel(&L, "l", "max(a, b) + log(exp(a - max(a, b)) + exp(b - max(a, b)))");
    assert_rel(&L, "m", "c + max(a, b) + log(exp(a - max(a, b)) + exp(b - max(a, b)))");
    assert_trace_replays(&L);
    unload(&L);
}

/* ---- masks ---- */

Test(expsum, masked_rows)
{
    loaded L;
    load(&L, "s11 = x\ns12 = -inf\ns13 = y\n"
             "s21 = -inf\ns22 = m\nm = -inf\n"
             "a11 = exp(s11)/(exp(s11) + exp(s12) + exp(s13))\n"
             "a12 = exp(s12)/(exp(s11) + exp(s12) + exp(s13))\n"
             "a13 = exp(s13)/(exp(s11) + exp(s12) + exp(s13))\n"
             "a21 = exp(s21)/(exp(s21) + exp(s22))\n"
             "a22 = v*exp(s22)/(exp(s21) + exp(s22))\n"
             "l2 = log(exp(s21) + exp(s22))\n"
             "o = a21*v + a11*w\n");
    simplify(&L, 0, 1);
    /* partly masked: the -inf score leaves the row */
    assert_rel(&L, "a11", "exp(s11 - lse(s11, s13))");
    assert_rel(&L, "a12", "0");
    assert_rel(&L, "a13", "exp(s13 - lse(s11, s13))");
    /* fully masked (through another relation): 0, not 0/0, and reported */
    assert_rel(&L, "a21", "0");
    assert_rel(&L, "a22", "0");
    assert_rel(&L, "l2", "-inf");
    assert_rel(&L, "o", "a21*v + a11*w");
    cr_assert_eq(L.x.report.n_masked, 1);
    const expsum_masked_row *m = &L.x.report.masked[0];
    cr_assert_eq(m->row, term_lse(&L.t.s, (term_id[]){ term_sym_cstr(&L.t.s, "s21"), term_sym_cstr(&L.t.s, "s22") }, 2));
    cr_assert_eq(m->n_where, 2);
    cr_assert_eq(m->where[0], rel_index(&L, "a21"));
    cr_assert_eq(m->where[1], rel_index(&L, "a22"));
    cr_assert_eq(L.x.report.softmax_entries, 2);
    cr_assert_eq(L.x.report.softmax_rows, 1);
    size_t masked_row = 0, masked_score = 0;
    for (size_t i = 0; i < L.x.n_steps; i++) {
        masked_row += strcmp(L.x.steps[i].rule->def->name, "masked-row") == 0;
        masked_score += strcmp(L.x.steps[i].rule->def->name, "masked-score") == 0;
    }
    cr_assert_eq(masked_row, 2);
    cr_assert(masked_score >= 3);
    assert_trace_replays(&L);
    unload(&L);
}

/* A full block with -inf above the diagonal: the rows shrink to the causal
 * ones, as `hmp gen --causal` writes them. */
Test(expsum, causal_by_minus_inf_scores)
{
    char *b;
    b = test_gen_attention(4, 2, 1, TEST_GEN_SYMBOLIC, 1);
    strbuf t;
    strbuf_init(&t);
    const char *p = b;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        unsigned i, j;
        if (sscanf(p, "s_%u_%u =", &i, &j) == 2 && j > i) strbuf_printf(&t, "s_%u_%u = -inf", i, j);
        else strbuf_putn(&t, p, len);
        strbuf_putc(&t, '\n');
        p += len + (e != NULL);
    }
    loaded L;
    load(&L, strbuf_str(&t));
    simplify(&L, 0, 1);
    cr_assert_eq(L.x.report.softmax_entries, 9);
    cr_assert_eq(L.x.report.softmax_rows, 3);
    cr_assert_eq(L.x.report.n_masked, 0);
    assert_rel(&L, "a_1_1", "1");
    assert_rel(&L, "a_1_2", "0");
    assert_rel(&L, "a_2_1", "exp(s_2_1 - lse(s_2_1, s_2_2))");
    assert_rel(&L, "a_3_4", "0");
    assert_rel(&L, "a_4_3", "exp(s_4_3 - lse(s_4_1, s_4_2, s_4_3, s_4_4))");
    assert_trace_replays(&L);
    unload(&L);
    /* every score -inf: every row masked, every entry 0 */
    strbuf_reset(&t);
    strbuf_puts(&t, "s1 = -inf\ns2 = -inf\na1 = exp(s1)/(exp(s1) + exp(s2))\na2 = exp(s2)/(exp(s1) + exp(s2))\n"
                "b = exp(-inf)/(exp(-inf) + exp(-inf))\n");
    load(&L, strbuf_str(&t));
    simplify(&L, 1, 1);
    assert_rel(&L, "a1", "0");
    assert_rel(&L, "a2", "0");
    assert_rel(&L, "b", "0"); /* written with -inf: exp(-inf) = 0 on reading */
    cr_assert_eq(L.x.report.n_masked, 1);
    cr_assert_eq(L.x.report.softmax_entries, 0);
    assert_trace_replays(&L);
    unload(&L);
    strbuf_clear(&t);
    free(b);
}

/* ---- exp-constant ---- */

Test(expsum, exp_constant_shares_exp_b)
{
    loaded L;
    load(&L, "a = exp(z + 1) + exp(z + 2)\n"
             "b = exp(u) + exp(u - 1/2)\n"
             "c = exp(w + 3)\n"
             "d = exp(p - lse(p, q)) + exp(p + 1 - lse(p, q))\n"
             "e = exp(exp(z + 1) + 1) + exp(exp(z + 1))\n");
    simplify(&L, 0, 1);
    assert_rel(&L, "a", "exp(1)*exp(z) + exp(2)*exp(z)");
    assert_rel(&L, "b", "exp(u) + exp(-1/2)*exp(u)");
    assert_rel(&L, "c", "exp(w + 3)");                           /* nothing to share */
    assert_rel(&L, "d", "exp(p - lse(p, q)) + exp(1)*exp(p - lse(p, q))"); /* an entry stays whole */
    assert_rel(&L, "e", "exp(1)*exp(exp(1)*exp(z)) + exp(exp(1)*exp(z))"); /* nested: inside first */
    size_t k = 0;
    for (size_t i = 0; i < L.x.n_steps; i++) k += strcmp(L.x.steps[i].rule->def->name, "exp-constant") == 0;
    cr_assert_eq(k, 6);
    assert_trace_replays(&L);
    unload(&L);
}

/* ---- random rows: values kept ---- */

/* A ball of t at 200 bits, which must be finite and tight. */
static void ball_of(arb_t out, ball_ctx *ctx, term_id t)
{
    const arb_struct *v;
    term_id where;
    ball_status st = ball_eval(&v, &where, ctx, t, 200);
    cr_assert_eq(st, BALL_OK, "no ball (status %d)", (int)st);
    arb_set(out, v);
    cr_assert(arb_rel_accuracy_bits(out) > 150);
}

/* t with each symbol syms[i] replaced by the number vals[i]. */
static term_id at_point(term_store *s, term_id t, const term_id *syms, const term_id *vals, size_t n)
{
    for (size_t i = 0; i < n; i++) t = rw_replace(s, t, syms[i], vals[i]);
    return t;
}

Test(expsum, random_rows_keep_their_values)
{
    test_rng r = { 0x50f7 };
    int rows = 1000 * test_multiplier();
    rule_set st;
    rule_set_init(&st, &rule_set_stable);
    const rule_set *stp = &st;
    expsum_options opt;
    expsum_options_init(&opt);
    size_t entries = 0, exact = 0;
    arb_t x, y;
    arb_init(x);
    arb_init(y);
    for (int it = 0; it < rows; it++) {
        term_store row_store, *s = &row_store; /* small: substitutions walk the store */
        term_store_init(s);
        int n = 1 + test_randn(&r, 8), kind = test_randn(&r, 4);
        term_id sym[9], val[9], e[8], plain[8], sum[8];
        /* names: distinct, random, in a random order */
        int base = test_randn(&r, 1000);
        for (int k = 0; k < n; k++) {
            char name[32];
            snprintf(name, sizeof name, "t%d_%d", base, (k * 7 + it) % 97 + 100 * k);
            sym[k] = term_sym_cstr(s, name);
        }
        sym[n] = term_sym_cstr(s, "c");
        term_id c = kind == 0 ? s->zero : kind == 1 ? sym[n] : kind == 2 ? term_num_si(s, test_randn(&r, 41) - 20, 1 + test_randn(&r, 5)) : term_add2(s, sym[n], s->half);
        for (int k = 0; k < n; k++) e[k] = term_exp(s, term_add2(s, sym[k], c));
        for (int j = 0; j < n; j++) {
            /* the denominator in a random order and form */
            int form = test_randn(&r, 3);
            for (int k = 0; k < n; k++)
                sum[k] = form == 0 ? e[k] : form == 1 ? term_mul2(s, term_exp(s, sym[k]), term_exp(s, c)) : term_exp(s, sym[k]);
            for (int k = n; k > 1; k--) {
                int h = test_randn(&r, k);
                term_id w = sum[k - 1];
                sum[k - 1] = sum[h];
                sum[h] = w;
            }
            term_id den = form == 2 ? term_mul2(s, term_exp(s, c), term_add(s, sum, (size_t)n)) : term_add(s, sum, (size_t)n);
            term_id num = form == 0 ? e[j] : term_mul2(s, term_exp(s, sym[j]), term_exp(s, c));
            plain[j] = term_div(s, num, den);
        }
        term_id res[8];
        memcpy(res, plain, (size_t)n * sizeof *res);
        expsum_simplifier xs;
        opt.trace = it % 10 == 0;
        expsum_simplifier_init(&xs, s, &opt);
        expsum_run(&xs, res, (size_t)n, NULL);
        for (size_t k = 0; k < xs.n_steps; k++) assert_step_decreases(s, &xs.steps[k]);
        /* every entry is exp(s_j - lse(row)), one row */
        term_id row = term_lse(s, sym, (size_t)n);
        for (int j = 0; j < n; j++) {
            term_id want = n == 1 ? s->one : term_exp(s, term_sub(s, sym[j], row));
            char *g = infix_in(s, res[j]), *w = infix_in(s, want);
            cr_assert_eq(res[j], want, "row %d entry %d: %s, want %s", it, j, g, w);
            free(g);
            free(w);
        }
        cr_assert_eq(xs.report.softmax_entries, n == 1 ? 0u : (size_t)n);
        cr_assert_eq(xs.report.softmax_rows, n == 1 ? 0u : 1u);
        expsum_simplifier_clear(&xs);
        /* the values at a random rational point: balls, and exactly */
        for (int k = 0; k <= n; k++) val[k] = term_num_si(s, test_randn(&r, 2001) - 1000, 1 + test_randn(&r, 40));
        rw_engine eng;
        rw_init(&eng, s, &stp, 1);
        ball_ctx bc;
        ball_ctx_init(&bc, s);
        expval_ctx ec;
        expval_ctx_init(&ec, s);
        expval va, vb;
        expval_init(&va);
        expval_init(&vb);
        for (int j = 0; j < n; j++) {
            term_id stable = rw_simplify(&eng, res[j], 0);
            term_id p0 = at_point(s, plain[j], sym, val, (size_t)n + 1);
            term_id p1 = at_point(s, res[j], sym, val, (size_t)n + 1);
            term_id p2 = at_point(s, stable, sym, val, (size_t)n + 1);
            ball_of(x, &bc, p0);
            ball_of(y, &bc, p1);
            cr_assert(arb_overlaps(x, y), "row %d entry %d: the lse form changes the value", it, j);
            ball_of(y, &bc, p2);
            cr_assert(arb_overlaps(x, y), "row %d entry %d: the stable form changes the value", it, j);
            term_id where;
            cr_assert_eq(expval_of_term(&va, &where, &ec, p0), EV_OK);
            if (expval_of_term(&vb, &where, &ec, p1) == EV_OK) {
                cr_assert(expval_equal(&va, &vb), "row %d entry %d: exact values differ", it, j);
                exact++;
            }
            cr_assert_eq(expval_of_term(&vb, &where, &ec, p2), EV_OK);
            cr_assert(expval_equal(&va, &vb), "row %d entry %d: exact values of the stable form differ", it, j);
            entries++;
        }
        expval_clear(&va);
        expval_clear(&vb);
        expval_ctx_clear(&ec);
        ball_ctx_clear(&bc);
        rw_clear(&eng);
        term_store_clear(s);
    }
    cr_assert(entries >= (size_t)rows);
    cr_assert(exact * 2 > entries, "only %zu of %zu entries compared exactly", exact, entries);
    cr_log_info("%d random rows, %zu entries, %zu compared exactly in the lse form", rows, entries, exact);
    arb_clear(x);
    arb_clear(y);
    rule_set_clear(&st);
}

/* ---- random terms: every firing lowers its measure, values kept ---- */

static term_id random_term(test_rng *r, term_store *s, int depth)
{
    static const char *const names[] = { "x", "y", "z" };
    if (depth == 0 || test_randn(r, 6) == 0) {
        if (test_randn(r, 4)) return term_sym_cstr(s, names[test_randn(r, 3)]);
        return term_num_si(s, test_randn(r, 7) - 3, 1 + test_randn(r, 2));
    }
    term_id a = random_term(r, s, depth - 1), b = random_term(r, s, depth - 1);
    switch (test_randn(r, 9)) {
    case 0: return term_add2(s, a, b);
    case 1: return term_mul2(s, a, b);
    case 2: return term_exp(s, a);
    case 3: return term_mul2(s, term_exp(s, a), term_exp(s, b));
    case 4: return term_log(s, term_add2(s, term_exp(s, a), term_exp(s, b)));
    case 5: return term_div(s, term_exp(s, a), term_add2(s, term_exp(s, a), term_exp(s, b)));
    case 6: return term_pow_si(s, term_exp(s, a), test_randn(r, 5) - 2);
    case 7: return term_lse(s, (term_id[]){ term_add2(s, a, b), term_add2(s, b, term_sym_cstr(s, "x")) }, 2);
    default: return term_log(s, term_exp(s, a));
    }
}

Test(expsum, random_terms_measures_and_values)
{
    test_rng r = { 0x7e57 };
    int terms = 400 * test_multiplier();
    expsum_options opt;
    expsum_options_init(&opt);
    opt.trace = 1;
    size_t steps = 0, compared = 0, undecided = 0;
    term_id syms[3] = { term_sym_cstr(&S, "x"), term_sym_cstr(&S, "y"), term_sym_cstr(&S, "z") };
    arb_t a, b;
    arb_init(a);
    arb_init(b);
    for (int i = 0; i < terms; i++) {
        term_id t = random_term(&r, &S, 4), u = t;
        opt.stable = i % 2;
        expsum_simplifier xs;
        expsum_simplifier_init(&xs, &S, &opt);
        expsum_run(&xs, &u, 1, NULL);
        cr_assert(!xs.capped);
        for (size_t k = 0; k < xs.n_steps; k++) assert_step_decreases(&S, &xs.steps[k]);
        steps += xs.n_steps;
        term_id replayed = t;
        rw_replay(&S, &replayed, 1, xs.steps, xs.n_steps);
        cr_assert_eq(replayed, u);
        expsum_simplifier_clear(&xs);
        term_id vals[3];
        for (int k = 0; k < 3; k++) vals[k] = term_num_si(&S, test_randn(&r, 9) - 4, 1 + test_randn(&r, 3));
        term_id p = at_point(&S, t, syms, vals, 3), q = at_point(&S, u, syms, vals, 3);
        ball_ctx bc;
        ball_ctx_init(&bc, &S);
        const arb_struct *v;
        term_id where;
        if (ball_eval(&v, &where, &bc, p, 128) == BALL_OK) {
            arb_set(a, v);
            /* huge values (exp of exp) may need more precision once shifted */
            ball_status st = BALL_UNDECIDED;
            for (slong prec = 128; prec <= 4096 && st == BALL_UNDECIDED; prec *= 8) st = ball_eval(&v, &where, &bc, q, prec);
            char *x = infix(p), *y = infix(q);
            cr_assert(st == BALL_OK || st == BALL_UNDECIDED, "the result has no value where the term has: %s -> %s", x, y);
            if (st == BALL_OK) {
                arb_set(b, v);
                cr_assert(arb_overlaps(a, b), "value changed: %s -> %s", x, y);
                compared++;
            } else {
                undecided++;
            }
            free(x);
            free(y);
        }
        ball_ctx_clear(&bc);
    }
    cr_assert(steps > (size_t)terms, "only %zu steps", steps);
    cr_assert(compared > (size_t)terms / 2 && undecided * 20 < compared, "%zu compared, %zu undecided", compared, undecided);
    cr_log_info("%d random terms, %zu steps, %zu values compared, %zu undecided", terms, steps, compared, undecided);
    arb_clear(a);
    arb_clear(b);
}

/* ---- hmp cse --emit c --stable: no overflow ---- */

static int have_cc(void) { return system("command -v cc > /dev/null 2>&1") == 0; }

/* Runs `hmp cse --emit c [--stable]` on the script at path, compiles the C
 * with a main and returns the outputs at in[] (the inputs by name). */
static void run_emitted(double *out, size_t n_out, const char *dir, const char *path, int stable, char **names,
                        const double *vals, size_t n_vals)
{
    char c_path[256], cmd[4096];
    snprintf(c_path, sizeof c_path, "%s/prog%d.c", dir, stable);
    FILE *f = fopen(c_path, "w"), *err = tmpfile();
    cr_assert(f && err);
    char *argv[] = { "cse", (char *)path, "--emit", "c", "--stable", NULL };
    cr_assert_eq(cli_cse(stable ? 5 : 4, argv, f, err), 0);
    fclose(err);
    fclose(f);
    /* the order of the inputs, from the comment */
    char *text = read_file(c_path);
    double in[64];
    size_t n_in = 0;
    for (const char *p = strstr(text, "in["); p; p = strstr(p + 1, "in[")) {
        unsigned i;
        char name[64];
        if (sscanf(p, "in[%u] = %63s", &i, name) != 2) continue;
        size_t k = 0;
        while (k < n_vals && strcmp(names[k], name) != 0) k++;
        cr_assert(k < n_vals && i < 64, "input %s", name);
        in[i] = vals[k];
        n_in = i + 1 > n_in ? i + 1 : n_in;
    }
    cr_assert_eq(n_in, n_vals);
    free(text);
    f = fopen(c_path, "a");
    fprintf(f, "\n#include <stdio.h>\n#include <stdlib.h>\nint main(int argc, char **argv)\n{\n"
               "    double in[%zu], out[%zu];\n    for (int i = 1; i < argc; i++) in[i - 1] = strtod(argv[i], NULL);\n"
               "    hmp_outputs(in, out);\n    for (int i = 0; i < %zu; i++) printf(\"%%a\\n\", out[i]);\n    return 0;\n}\n",
            n_vals + 1, n_out + 1, n_out);
    fclose(f);
    snprintf(cmd, sizeof cmd, "cc -std=c99 -O1 -Wall -Wextra -o %s/prog%d %s -lm 2>&1", dir, stable, c_path);
    FILE *cc = popen(cmd, "r");
    char line[4096];
    while (fgets(line, sizeof line, cc)) fputs(line, stderr);
    cr_assert_eq(pclose(cc), 0, "the emitted C does not compile");
    int k = snprintf(cmd, sizeof cmd, "%s/prog%d", dir, stable);
    for (size_t i = 0; i < n_vals; i++) k += snprintf(cmd + k, sizeof cmd - (size_t)k, " %a", in[i]);
    FILE *run = popen(cmd, "r");
    for (size_t i = 0; i < n_out; i++) {
        cr_assert(fgets(line, sizeof line, run));
        out[i] = strtod(line, NULL);
    }
    cr_assert_eq(pclose(run), 0);
}

/* The emitted stable C of softmax rows with scores in [lo, hi] (dyadic
 * rationals, exact in double) against exp(s_j)/sum_k exp(s_k) at 200 bits.
 * Bound: the scores and m = max are exact, s_k - m is exact (Sterbenz: both
 * in [lo, hi] with hi <= 2 lo), each exp is within 1 ulp (2u, u = 2^-53), the
 * n - 1 additions of positive terms within (n - 1)u, the division u: the
 * relative error is at most (n + 4)u + O(u^2); asserted: (n + 6)u. Returns
 * how many outputs of the unshifted C are not finite. */
static size_t check_rows(const char *dir, int n, int rows, double lo, double hi, test_rng *r)
{
    strbuf text;
    strbuf_init(&text);
    char *names[64];
    double vals[64];
    fmpq *q = _fmpq_vec_init(n * rows);
    for (int i = 0; i < rows; i++)
        for (int k = 0; k < n; k++) {
            char name[32];
            snprintf(name, sizeof name, "s%d_%d", i + 1, k + 1);
            names[i * n + k] = strdup(name);
            /* lo + (hi - lo)*j/1024, exact in double */
            fmpq_set_si(q + i * n + k, (slong)(lo * 1024) + (slong)((hi - lo) * test_randn(r, 1025)), 1024);
            vals[i * n + k] = fmpq_get_d(q + i * n + k);
        }
    strbuf_puts(&text, "output");
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < n; j++) strbuf_printf(&text, "%s a%d_%d", i + j ? "," : "", i + 1, j + 1);
    strbuf_putc(&text, '\n');
    for (int i = 0; i < rows; i++)
        for (int j = 0; j < n; j++) {
            strbuf_printf(&text, "a%d_%d = exp(s%d_%d)/(", i + 1, j + 1, i + 1, j + 1);
            for (int k = 0; k < n; k++) strbuf_printf(&text, "%sexp(s%d_%d)", k ? " + " : "", i + 1, k + 1);
            strbuf_puts(&text, ")\n");
        }
    char path[256];
    snprintf(path, sizeof path, "%s/rows.hmp", dir);
    FILE *f = fopen(path, "w");
    fputs(strbuf_str(&text), f);
    fclose(f);
    size_t n_out = (size_t)(n * rows), not_finite = 0;
    double *got = calloc(n_out, sizeof *got), *plain = calloc(n_out, sizeof *plain);
    run_emitted(got, n_out, dir, path, 1, names, vals, n_out);
    run_emitted(plain, n_out, dir, path, 0, names, vals, n_out);
    arb_t sum, e, want;
    arb_init(sum);
    arb_init(e);
    arb_init(want);
    const double u = ldexp(1.0, -53);
    for (int i = 0; i < rows; i++) {
        arb_zero(sum);
        for (int k = 0; k < n; k++) {
            arb_set_fmpq(e, q + i * n + k, 200);
            arb_exp(e, e, 200);
            arb_add(sum, sum, e, 200);
        }
        for (int j = 0; j < n; j++) {
            arb_set_fmpq(e, q + i * n + j, 200);
            arb_exp(e, e, 200);
            arb_div(want, e, sum, 200);
            double w = arf_get_d(arb_midref(want), ARF_RND_NEAR), g = got[i * n + j];
            cr_assert(isfinite(g) && fabs(g - w) <= (n + 6) * u * w, "row %d entry %d: %a, certified %a (%g ulps)", i, j,
                      g, w, fabs(g - w) / (u * w));
            not_finite += !isfinite(plain[i * n + j]);
        }
    }
    arb_clear(sum);
    arb_clear(e);
    arb_clear(want);
    free(got);
    free(plain);
    for (size_t i = 0; i < n_out; i++) free(names[i]);
    _fmpq_vec_clear(q, n * rows);
    strbuf_clear(&text);
    return not_finite;
}

Test(expsum, stable_c_does_not_overflow)
{
    if (!have_cc()) {
        cr_log_warn("no C compiler (cc) found: the emitted C is not compiled");
        return;
    }
    char dir[] = "/tmp/hmp-expsum-XXXXXX";
    cr_assert(mkdtemp(dir));
    test_rng r = { 0x700 };
    for (int rep = 0; rep < test_multiplier(); rep++) {
        /* exp(s) overflows double for s > 709.78: the unshifted C gives inf/inf */
        cr_assert_eq(check_rows(dir, 4, 3, 710, 1000, &r), 12);
        cr_assert_eq(check_rows(dir, 8, 2, 1000, 1600, &r), 16);
        /* below the overflow, both compute; the stable C within the bound */
        check_rows(dir, 5, 2, 650, 700, &r);
    }
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

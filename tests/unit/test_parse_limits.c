/* Tests of core/parse: the nesting and number limits, a million nested
 * parentheses, long lines, fresh stores, and a random round trip text ->
 * term. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"
#include "core/strbuf.h"
#include "core/term.h"
#include "tests/lib/testlib.h"
#include "tests/lib/testparse.h"

static test_rng rng;

/* ---- limits and robustness ---- */

/* "x = " prefix, then open, then body, then close: each count times. */
static char *nested(size_t count, const char *open, const char *body, const char *close, size_t *len)
{
    size_t lo = strlen(open), lb = strlen(body), lc = strlen(close);
    size_t n = 4 + count * (lo + lc) + lb;
    char *t = malloc(n + 1), *q = t;
    memcpy(q, "x = ", 4);
    q += 4;
    for (size_t i = 0; i < count; i++, q += lo) memcpy(q, open, lo);
    memcpy(q, body, lb);
    q += lb;
    for (size_t i = 0; i < count; i++, q += lc) memcpy(q, close, lc);
    *q = '\0';
    *len = n;
    return t;
}

static void depth_ok(const char *open, const char *body, const char *close, size_t count)
{
    size_t len;
    char *t = nested(count, open, body, close, &len);
    script_clear(&SC);
    diag_clear(&D);
    cr_assert_eq(script_n(t, len), 0, "%zu levels of \"%s\" rejected: %s", count, open, D.n ? D.items[0].msg : "");
    cr_assert_eq(SC.n_rels, 1);
    free(t);
}

static void depth_fails(const char *open, const char *body, const char *close, size_t count, uint32_t col)
{
    size_t len;
    char *t = nested(count, open, body, close, &len);
    script_clear(&SC);
    diag_clear(&D);
    cr_assert_neq(script_n(t, len), 0);
    cr_assert_eq(D.n_errors, 1, "%zu levels of \"%s\": %zu errors", count, open, D.n_errors);
    check_diag(0, 1, col, "expression nested too deeply (more than 10000 levels)");
    cr_assert_eq(SC.n_rels, 0);
    free(t);
}

Test(parse, nesting_limit)
{
    cr_assert_eq(PARSE_MAX_DEPTH, 10000);
    depth_ok("(", "1", ")", 10000);
    cr_assert_eq(SC.rels[0].rhs, S.one);
    depth_fails("(", "1", ")", 10001, 4 + 10001);
    depth_ok("exp(", "0", ")", 10000);
    depth_fails("exp(", "0", ")", 10001, 4 + 4 * 10001);
    depth_ok("-", "y", "", 10000);
    cr_assert_eq(SC.rels[0].rhs, SYM("y"));
    depth_fails("-", "y", "", 10001, 4 + 10001);
    depth_ok("y^", "y", "", 10000);
    depth_fails("y^", "y", "", 10001, 4 + 2 * 10001);
    depth_ok("-(", "y", ")", 5000);
    depth_fails("-(", "y", ")", 5001, 4 + 2 * 5000 + 1);
}

Test(parse, million_nested_parentheses)
{
    depth_fails("(", "1", ")", 1000000, 4 + 10001);
    depth_fails("max(1,", "1", ")", 1000000, 4 + 6 * 10000 + 4);
    depth_fails("-", "1", "", 1000000, 4 + 10001);
    depth_fails("2^", "1", "", 1000000, 4 + 2 * 10001);
    /* and unclosed: still one error */
    size_t len;
    char *t = nested(1000000, "(", "1", "", &len);
    diag_clear(&D);
    cr_assert_neq(script_n(t, len), 0);
    cr_assert_eq(D.n_errors, 1);
    free(t);
}

Test(parse, long_line_and_million_term_sum, .timeout = 60)
{
    /* one line of about 10 MB: a sum of 1,000,000 terms */
    size_t n = 1000000;
    strbuf b;
    strbuf_init(&b);
    strbuf_puts(&b, "s = a0");
    for (size_t i = 1; i < n; i++) strbuf_printf(&b, " + a%zu", i);
    size_t long_len = b.len;
    cr_assert_gt(long_len, 9000000);
    strbuf_puts(&b, "\nt = s");
    cr_assert_eq(script_n(b.data, b.len), 0);
    term_id s = rel(0, "s");
    cr_assert_eq(term_op_of(&S, s), OP_ADD);
    cr_assert_eq(term_nargs(&S, s), n);
    cr_assert_eq(SC.rels[1].name_pos.line, 2);
    /* an error at the end of the long line: its column */
    strbuf_reset(&b);
    strbuf_puts(&b, "s = a0");
    for (size_t i = 1; i < n; i++) strbuf_printf(&b, " + a%zu", i);
    strbuf_puts(&b, " @\nu = 1");
    cr_assert_neq(script_n(b.data, b.len), 0);
    cr_assert_eq(D.n_errors, 1);
    check_diag(0, 1, (uint32_t)long_len + 2, "unexpected character '@'");
    rel(2, "u");
    /* a long line of garbage: one error, linear time */
    diag_clear(&D);
    char *junk = malloc(10000001);
    memset(junk, '@', 10000000);
    junk[0] = 'x';
    junk[1] = '=';
    cr_assert_neq(script_n(junk, 10000000), 0);
    cr_assert_eq(D.n_errors, 1);
    check_diag(0, 1, 3, "unexpected character '@'");
    /* names after an error on a long line: recovery stays linear */
    strbuf_reset(&b);
    strbuf_puts(&b, "v = (1 2");
    for (size_t i = 0; i < n; i++) strbuf_puts(&b, " a");
    strbuf_puts(&b, "\n  w = 1");
    diag_clear(&D);
    cr_assert_neq(script_n(b.data, b.len), 0);
    cr_assert_eq(D.n_errors, 1);
    check_diag(0, 1, 8, "expected ')' to close '(' at 1:5");
    rel(3, "w");
    diag_clear(&D);
    /* the same in parentheses that never close */
    memset(junk + 2, '(', 5000000);
    cr_assert_neq(script_n(junk, 10000000), 0);
    cr_assert_eq(D.n_errors, 1);
    check_diag(0, 1, 2 + 10001, "expression nested too deeply (more than 10000 levels)");
    free(junk);
    strbuf_clear(&b);
}

Test(parse, same_text_same_ids_in_fresh_stores)
{
    const char *text =
        "x[1,1] = 1/2; x[1,2] = -0.25\n"
        "q_1_1 = Wq_1_1*x[1][1] + Wq_1_2*x[1,2]\n"
        "s = (q_1_1*k_1_1 + q_1_2*k_2_1) / sqrt(2)\n"
        "a = exp(s) / (exp(s) + exp(t) + 1e-3) - max(s, t)^2\n"
        "output a\n";
    term_store s2;
    script sc2;
    diag_list d2;
    term_store_init(&s2);
    script_init(&sc2);
    diag_init(&d2);
    cr_assert_eq(script_s(text), 0);
    cr_assert_eq(parse_script(&sc2, &s2, &d2, &SRCS[0]), 0);
    cr_assert_eq(sc2.n_rels, SC.n_rels);
    cr_assert_eq(term_count(&s2), term_count(&S));
    for (size_t i = 0; i < SC.n_rels; i++) {
        cr_assert_eq(sc2.rels[i].name, SC.rels[i].name);
        cr_assert_eq(sc2.rels[i].rhs, SC.rels[i].rhs);
    }
    cr_assert_eq(sc2.dirs[0].args[0], SC.dirs[0].args[0]);
    script_clear(&sc2);
    diag_clear(&d2);
    term_store_clear(&s2);
}

/* ---- random round trip: text built with its expected term ---- */

enum { LV_SUM, LV_PRODUCT, LV_UNARY, LV_POWER, LV_PRIMARY };

typedef struct gen {
    strbuf *b;
    int parens;  /* parentheses open in the text: newlines are blanks there */
} gen;

/* Blanks between tokens; after an operator (cont) the line may break. */
static void gen_space(gen *g, int cont)
{
    int r = test_randn(&rng, 20);
    if (r < 10) return;
    if (r < 15) strbuf_putc(g->b, ' ');
    else if (r < 16) strbuf_puts(g->b, " \t ");
    else if (r < 18 && (cont || g->parens)) strbuf_puts(g->b, "\n  ");
    else if (r < 19 && (cont || g->parens)) strbuf_puts(g->b, "  # note + ( \n");
    else strbuf_puts(g->b, "  ");
}

static void gen_open(gen *g) { strbuf_putc(g->b, '('); g->parens++; gen_space(g, 1); }
static void gen_close(gen *g) { gen_space(g, 0); strbuf_putc(g->b, ')'); g->parens--; }

/* A literal; its value is m * 10^(e - f) for digits m, f of them after the
 * point, exponent e, computed here from those parts, not from the text. */
static term_id gen_number(gen *g)
{
    ulong m = (ulong)test_randn(&rng, test_randn(&rng, 4) == 0 ? 1000000 : 20);
    int f = 0, e = 0, form = test_randn(&rng, 7);
    char digits[32];
    snprintf(digits, sizeof digits, "%lu", m);
    int nd = (int)strlen(digits);
    if (form <= 2) { /* integer, maybe with leading zeros */
        if (form == 2) strbuf_puts(g->b, "00");
        strbuf_puts(g->b, digits);
    } else if (form <= 4) { /* decimal: digits split at the point */
        f = test_randn(&rng, nd + 1);
        if (f == nd && test_randn(&rng, 2)) strbuf_putc(g->b, '0');
        strbuf_putn(g->b, digits, (size_t)(nd - f));
        strbuf_putc(g->b, '.');
        strbuf_puts(g->b, digits + nd - f);
        if (f == 0 && test_randn(&rng, 2)) { /* "12.0" */
            strbuf_putc(g->b, '0');
            f = 1;
            m *= 10;
        }
    } else { /* exponent form */
        e = test_randn(&rng, 9) - 4;
        f = test_randn(&rng, 2) ? test_randn(&rng, nd + 1) : 0;
        if (f) {
            strbuf_putn(g->b, digits, (size_t)(nd - f));
            strbuf_putc(g->b, '.');
            strbuf_puts(g->b, digits + nd - f);
        } else {
            strbuf_puts(g->b, digits);
        }
        strbuf_printf(g->b, "%s%s%d", test_randn(&rng, 2) ? "e" : "E", e >= 0 && test_randn(&rng, 2) ? "+" : "", e);
    }
    fmpq_t v;
    fmpz_t p;
    fmpq_init(v);
    fmpz_init(p);
    fmpz_set_ui(fmpq_numref(v), m);
    fmpz_set_ui(p, 10);
    int k = e - f;
    fmpz_pow_ui(p, p, (ulong)(k < 0 ? -k : k));
    if (k >= 0) fmpz_mul(fmpq_numref(v), fmpq_numref(v), p);
    else fmpz_set(fmpq_denref(v), p);
    fmpq_canonicalise(v);
    term_id t = term_num(&S, v);
    fmpq_clear(v);
    fmpz_clear(p);
    return t;
}

static term_id gen_name(gen *g)
{
    static const char *plain[] = { "x", "y", "z1", "w_2", "alpha", "Wq11", "exp", "max", "output", "x_1_2" };
    int r = test_randn(&rng, 14);
    if (r < 10) {
        strbuf_puts(g->b, plain[r]);
        return SYM(plain[r]);
    }
    int i = test_randn(&rng, 3), j = test_randn(&rng, 12);
    char canon[32];
    snprintf(canon, sizeof canon, "x[%d,%d]", i, j);
    switch (r) {
    case 10: strbuf_printf(g->b, "x[%d][%d]", i, j); break;
    case 11: strbuf_printf(g->b, "x[%d,%d]", i, j); break;
    case 12: strbuf_printf(g->b, "x[ %d ,%s%d ]", i, test_randn(&rng, 2) ? "\n" : " ", j); break;
    default: strbuf_printf(g->b, "x[0%d][%d]", i, j); break;
    }
    return SYM(canon);
}

static term_id gen_expr(gen *g, int need, int depth);

/* Exponents stay small so that numbers fold quickly: a general exponent only
 * over a symbol. */
static term_id gen_exponent(gen *g, term_id base, int depth)
{
    int r = test_randn(&rng, term_op_of(&S, base) == OP_SYM ? 6 : 4);
    if (r < 2) { /* a small integer, maybe negative */
        int k = test_randn(&rng, 4);
        int neg = r == 1;
        strbuf_printf(g->b, "%s%d", neg ? "-" : "", k);
        return neg ? term_neg(&S, NUM(k, 1)) : NUM(k, 1);
    }
    if (r == 2) {
        gen_open(g);
        strbuf_puts(g->b, "1/2");
        gen_close(g);
        return term_mul2(&S, S.one, term_pow_si(&S, NUM(2, 1), -1));
    }
    if (r == 3) return gen_name(g);
    return gen_expr(g, LV_UNARY, depth + 2);
}

/* Writes an expression that parses at level need or tighter; returns the
 * term the parser must build for it. */
static term_id gen_expr(gen *g, int need, int depth)
{
    int kind = depth > 4 ? test_randn(&rng, 3) : test_randn(&rng, 11);
    if (depth > 4 && kind == 2) kind = 10;
    int level;
    switch (kind) {
    case 0: case 1: level = LV_PRIMARY; break; /* number, name */
    case 10: level = LV_UNARY; break;          /* -inf */
    case 2: case 3: level = LV_SUM; break;
    case 4: case 5: level = LV_PRODUCT; break;
    case 6: level = LV_UNARY; break;
    case 7: level = LV_POWER; break;
    default: level = LV_PRIMARY; break;        /* call, parentheses */
    }
    int wrap = level < need || test_randn(&rng, 12) == 0;
    if (wrap) gen_open(g);
    term_id t;
    term_id items[6];
    switch (kind) {
    case 0: t = gen_number(g); break;
    case 1: t = gen_name(g); break;
    case 10:
        strbuf_putc(g->b, '-');
        gen_space(g, 1);
        strbuf_puts(g->b, "inf");
        t = S.neg_inf;
        break;
    case 2: case 3: {
        int n = 2 + test_randn(&rng, 4);
        items[0] = gen_expr(g, LV_PRODUCT, depth + 1);
        for (int i = 1; i < n; i++) {
            int minus = test_randn(&rng, 2);
            gen_space(g, 0);
            strbuf_putc(g->b, minus ? '-' : '+');
            gen_space(g, 1);
            if (minus && test_randn(&rng, 10) == 0) { /* a - inf = a + -inf */
                strbuf_puts(g->b, "inf");
                items[i] = S.neg_inf;
                continue;
            }
            items[i] = gen_expr(g, LV_PRODUCT, depth + 1);
            if (minus) items[i] = term_neg(&S, items[i]);
        }
        t = term_add(&S, items, (size_t)n);
        break;
    }
    case 4: case 5: {
        int n = 2 + test_randn(&rng, 3);
        items[0] = gen_expr(g, LV_UNARY, depth + 1);
        for (int i = 1; i < n; i++) {
            int div = test_randn(&rng, 3) == 0;
            gen_space(g, 0);
            strbuf_putc(g->b, div ? '/' : '*');
            gen_space(g, 1);
            items[i] = gen_expr(g, LV_UNARY, depth + 1);
            if (div) items[i] = term_pow_si(&S, items[i], -1);
        }
        t = term_mul(&S, items, (size_t)n);
        break;
    }
    case 6: {
        int minus = test_randn(&rng, 4) != 0;
        strbuf_putc(g->b, minus ? '-' : '+');
        gen_space(g, 1);
        t = gen_expr(g, LV_UNARY, depth + 1);
        if (minus) t = term_neg(&S, t);
        break;
    }
    case 7: {
        term_id base = gen_expr(g, LV_PRIMARY, depth + 1);
        gen_space(g, 0);
        strbuf_putc(g->b, '^');
        gen_space(g, 1);
        t = term_pow(&S, base, gen_exponent(g, base, depth));
        break;
    }
    default: {
        static const char *fname[] = { "exp", "log", "sqrt", "abs", "tanh", "max", "min", "lse" };
        int f = test_randn(&rng, 9);
        if (f == 8) { /* parentheses only */
            gen_open(g);
            t = gen_expr(g, LV_SUM, depth + 1);
            gen_close(g);
            break;
        }
        strbuf_puts(g->b, fname[f]);
        if (test_randn(&rng, 8) == 0) strbuf_putc(g->b, ' ');
        gen_open(g);
        int n = f >= 5 ? 1 + test_randn(&rng, 4) : 1;
        for (int i = 0; i < n; i++) {
            if (i) {
                gen_space(g, 0);
                strbuf_putc(g->b, ',');
                gen_space(g, 1);
            }
            items[i] = gen_expr(g, LV_SUM, depth + 1);
        }
        gen_close(g);
        switch (f) {
        case 0: t = term_exp(&S, items[0]); break;
        case 1: t = term_log(&S, items[0]); break;
        case 2: t = term_sqrt(&S, items[0]); break;
        case 3: t = term_abs(&S, items[0]); break;
        case 4: t = term_tanh(&S, items[0]); break;
        case 5: t = term_max(&S, items, (size_t)n); break;
        case 6: t = term_min(&S, items, (size_t)n); break;
        default: t = term_lse(&S, items, (size_t)n); break;
        }
        break;
    }
    }
    if (wrap) gen_close(g);
    return t;
}

Test(parse, random_round_trip, .timeout = 120)
{
    rng.state = 20240611;
    int cases = 2000 * test_multiplier();
    strbuf b, line;
    strbuf_init(&b);
    strbuf_init(&line);
    for (int c = 0; c < cases; c++) {
        strbuf_reset(&b);
        gen g = { &b, 0 };
        gen_space(&g, 0);
        term_id want = gen_expr(&g, LV_SUM, 0);
        gen_space(&g, 0);
        cr_assert_eq(g.parens, 0);
        /* as an expression */
        source src;
        source_from_string(&src, "r.hmp", b.data, b.len);
        term_id got = TERM_NONE;
        int rc = parse_expr(&got, &S, &D, &src);
        cr_assert_eq(rc, 0, "case %d: \"%s\": %s", c, b.data, D.n ? D.items[D.n - 1].msg : "");
        cr_assert_eq(got, want, "case %d: \"%s\" gave term %u, expected %u", c, b.data, got, want);
        source_clear(&src);
        /* as the right-hand side of a relation in a script */
        strbuf_reset(&line);
        strbuf_printf(&line, "pre = 1\nr%d =%s%s ; post = 2\n", c, test_randn(&rng, 2) ? " " : "", b.data);
        source_from_string(&src, "r.hmp", line.data, line.len);
        script sc;
        script_init(&sc);
        rc = parse_script(&sc, &S, &D, &src);
        cr_assert_eq(rc, 0, "case %d: \"%s\": %s", c, line.data, D.n ? D.items[D.n - 1].msg : "");
        cr_assert_eq(sc.n_rels, 3);
        cr_assert_eq(sc.rels[1].rhs, want, "case %d in a script: \"%s\"", c, line.data);
        cr_assert_eq(sc.rels[1].rhs_pos.line, 2);
        script_clear(&sc);
        source_clear(&src);
    }
    strbuf_clear(&b);
    strbuf_clear(&line);
}

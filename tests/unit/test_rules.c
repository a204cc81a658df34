/* Tests of rewrite/rules: every rule on a positive and a negative case;
 * matching modulo AC with sequence variables; the registry, facts and
 * measures. (The engine on random terms: test_rules_engine.) */
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

/* ---- every rule: a positive and a negative case ---- */

typedef struct rule_case {
    const char *rule, *input, *expected; /* expected NULL: the rule must not fire */
} rule_case;

static const rule_case cases[] = {
    { "pow-product", "x^a*x^b", "x^(a+b)" },
    { "pow-product", "2*x^a*y*x^b", "2*y*x^(a+b)" },
    { "pow-product", "x^2*x^y", "x^(2+y)" },
    { "pow-product", "x^a*y^b", NULL },
    { "pow-product", "x^a*y", NULL },
    { "pow-product-base", "x*x^b*y", "x^(1+b)*y" },
    { "pow-product-base", "exp(u)*exp(u)^v", "exp(u)^(1+v)" },
    { "pow-product-base", "2*2^b", NULL },
    { "pow-product-base", "x*y^b", NULL },
    { "pow-of-pow", "(x^y)^z", "x^(y*z)" },
    { "pow-of-pow", "(x^3)^(1/3)", "x" },
    { "pow-of-pow", "(x^(1/2))^(1/3)", "x^(1/6)" },
    { "pow-of-pow", "(x^2)^(1/2)", NULL },
    { "pow-of-pow", "(x+y)^(1/2)", NULL },
    { "pow-of-even-pow", "(x^2)^(1/2)", "abs(x)" },
    { "pow-of-even-pow", "(x^4)^(1/2)", "abs(x)^2" },
    { "pow-of-even-pow", "(x^2)^y", "abs(x)^(2*y)" },
    { "pow-of-even-pow", "(x^3)^(1/2)", NULL },
    { "even-power-of-abs", "abs(x)^4", "x^4" },
    { "even-power-of-abs", "abs(x+y)^-2", "(x+y)^-2" },
    { "even-power-of-abs", "abs(x)^3", NULL },
    { "even-power-of-abs", "abs(x)^(1/2)", NULL },
    { "abs-of-nonneg", "abs(x^2 + exp(y))", "x^2 + exp(y)" },
    { "abs-of-nonneg", "abs(sqrt(x)*2)", "2*sqrt(x)" },
    { "abs-of-nonneg", "abs(x + 1)", NULL },
    { "abs-of-nonneg", "abs(x^3)", NULL },
    { "log-of-exp", "log(exp(x + y))", "x + y" },
    { "log-of-exp", "log(exp(x) + 1)", NULL },
    { "exp-of-log", "exp(log(exp(x) + 2))", "exp(x) + 2" },
    { "exp-of-log", "exp(log(3))", "3" },
    { "exp-of-log", "exp(log(x))", NULL },
    { "exp-of-log", "exp(log(x^2))", NULL },
    { "log-of-power", "log(x^3)", "3*log(x)" },
    { "log-of-power", "log(x^y)", "y*log(x)" },
    { "log-of-power", "log(sqrt(x))", "log(x)/2" },
    { "log-of-power", "log(2^y)", NULL },
    { "log-of-power", "log(x^2)", NULL },
    { "log-of-even-power", "log(x^2)", "2*log(abs(x))" },
    { "log-of-even-power", "log(x^-4)", "-4*log(abs(x))" },
    { "log-of-even-power", "log(x^3)", NULL },
    { "expand-product", "(x + 1)*(y + 2)", "x*y + 2*x + y + 2" },
    { "expand-product", "3*(x + y)", "3*x + 3*y" },
    { "expand-product", "x*(y + z)/w", "(x*y + x*z)/w" },
    { "expand-product", "(x + y)/w", NULL },
    { "expand-product", "(x + y)/(z + w)", NULL },
    { "expand-power", "(x + y)^2", "x^2 + 2*x*y + y^2" },
    { "expand-power", "(x + 1)^-2", "1/(x^2 + 2*x + 1)" },
    { "expand-power", "(x + y)^(1/2)", NULL },
    { "expand-power", "(x + y)^-1", NULL },
    { "log-of-product", "log(exp(x)*exp(y))", "log(exp(x)) + log(exp(y))" },
    { "log-of-product", "log(3*exp(x)*(y^2 + 1))", "log(3*exp(x)) + log(y^2 + 1)" },
    { "log-of-product", "log(x*y)", NULL },
    { "log-of-product", "log(2*exp(x))", NULL },
    { "log-of-product", "log(exp(x)*y^2)", NULL },
    { "together", "1/x + 1/y", "(x + y)/(x*y)" },
    { "together", "x + 1/x", "(x^2 + 1)/x" },
    { "together", "1/x^2 + 1/(x*y)", "(y + x)/(x^2*y)" },
    { "together", "x + y", NULL },
    { "together", "x/2 + y", NULL },
    { "collect-factor", "x*y + x*z", "x*(y + z)" },
    { "collect-factor", "x*y + x + w", "x*(y + 1) + w" },
    { "collect-factor", "x*y + z*w", NULL },
    { "collect-factor", "2*x + 2*y", NULL },
    { "softmax-entry", "exp(a)/(exp(a) + exp(b))", "exp(a - lse(a, b))" },
    { "softmax-entry", "exp(b)/(exp(c) + exp(b) + exp(a))", "exp(b - lse(a, b, c))" },
    { "softmax-entry", "exp(y + x)/(exp(x + y) + exp(z))", "exp(x + y - lse(x + y, z))" },
    { "softmax-entry", "v*w*exp(b)/(exp(a) + exp(b))", "v*w*exp(b - lse(a, b))" },
    { "softmax-entry", "exp(t)*exp(b)/(exp(a) + exp(b))", "exp(t)*exp(b - lse(a, b))" },
    { "softmax-entry", "exp(c)/(exp(a) + exp(b))", NULL },             /* numerator not in the row */
    { "softmax-entry", "exp(a)/(exp(a) + exp(b) + 1)", NULL },         /* a term that is no exp */
    { "softmax-entry", "exp(a)/(exp(a) + 2*exp(b))", NULL },           /* a different weight */
    { "softmax-entry", "2*exp(a)/(exp(a) + exp(b))", "2*exp(a - lse(a, b))" },
    { "softmax-entry", "exp(a)/(exp(a) + exp(b))^2", NULL },           /* not one denominator */
    { "softmax-entry", "exp(a)*(exp(a) + exp(b))", NULL },
    { "exp-product", "exp(x)*exp(y)", "exp(x + y)" },
    { "exp-product", "2*exp(x)*y*exp(-x)", "2*y" },
    { "exp-product", "w*exp(x)*exp(y)", "w*exp(x + y)" },
    { "exp-product", "exp(x)*y", NULL },
    { "exp-product", "exp(x)*log(y)", NULL },
    { "exp-power", "exp(x)^2", "exp(2*x)" },
    { "exp-power", "1/exp(x + y)", "exp(-(x + y))" },
    { "exp-power", "exp(x)^y", "exp(x*y)" },
    { "exp-power", "sqrt(exp(x))", "exp(x/2)" },
    { "exp-power", "(exp(x) + 1)^2", NULL },
    { "exp-power", "x^2", NULL },
    { "log-of-exp", "log(exp(x + y))", "x + y" },
    { "log-of-exp", "log(exp(x) + exp(y))", NULL },
    { "exp-of-log", "exp(log(exp(x) + exp(y)))", "exp(x) + exp(y)" },
    { "exp-of-log", "exp(log(x))", NULL },
    { "log-sum-exp", "log(exp(a) + exp(b))", "lse(a, b)" },
    { "log-sum-exp", "log(exp(b) + exp(a) + exp(a + b))", "lse(a, b, a + b)" },
    { "log-sum-exp", "log(exp(a) + 2*exp(b))", NULL },
    { "log-sum-exp", "log(exp(a) + 1)", NULL },
    { "log-sum-exp", "log(exp(a)*exp(b))", NULL },
    { "lse-shift", "lse(a + c, b + c)", "c + lse(a, b)" },
    { "lse-shift", "lse(a + c + 1, b + c + 1, 2*d + c + 1)", "c + 1 + lse(a, b, 2*d)" },
    { "lse-shift", "lse(x + 1/2, y + 1/2)", "1/2 + lse(x, y)" },
    { "lse-shift", "lse(a, b + c)", NULL },
    { "lse-shift", "lse(c, c + x)", "c + lse(0, x)" },
    { "lse-shift", "lse(-max(0, p), p - max(0, p))", "-max(0, p) + lse(0, p)" },
    { "lse-shift", "lse(1, x + 1)", NULL },       /* 1 + lse(0, x) would not lower the count */
    { "lse-shift", "lse(c, c)", NULL },
    { "lse-shift", "lse(x + 1, y + 2)", NULL },   /* different constants */
    { "lse-shift", "lse(x + 2*c, y + c)", NULL }, /* different weights */
    { "lse-stable", "lse(a, b)", "max(a, b) + log(exp(a - max(a, b)) + exp(b - max(a, b)))" },
    { "lse-stable", "lse(1, 2)", "2 + log(exp(-1) + 1)" },
    { "lse-stable", "lse(x, x)", "x + log(2)" },
    { "lse-stable", "lse(x, x*-inf)", NULL },
    { "exp-minus-log", "exp(x - log(exp(y) + exp(z)))", "exp(x)/(exp(y) + exp(z))" },
    { "exp-minus-log", "exp(2*log(3) + x)", "9*exp(x)" },
    { "exp-minus-log", "exp(-log(exp(y) + 1)/2)", "(exp(y) + 1)^(-1/2)" },
    { "exp-minus-log", "exp(x - log(y))", NULL },
    { "exp-minus-log", "exp(x - y*log(exp(z)))", NULL },
    { "softmax-entry", "v*exp(b)/(exp(c) + exp(a) + exp(b))", "v*exp(b - lse(a, b, c))" },
    { "softmax-entry", "exp(c)/(exp(a) + exp(b))", NULL },
    { "softmax-entry", "exp(a)/(exp(a) + exp(b) + 1)", NULL },
    { "softmax-entry", "exp(a)/(exp(a) + 2*exp(b))", NULL },
    { "exp-power", "1/exp(x)", "exp(-x)" },
    { "log-sum-exp", "log(exp(a + b) + exp(c) + exp(1))", "lse(a + b, c, 1)" },
    { "lse-shift", "lse(x + 1, y + 1, 2*z + 1)", "1 + lse(x, y, 2*z)" },
    { "lse-shift", "lse(1, x + 1)", NULL },
    { "exp-minus-log", "exp(x - log(exp(y) + 1))", "exp(x)/(exp(y) + 1)" },
    { "exp-minus-log", "exp(x + 2*log(3))", "9*exp(x)" },
};

Test(rules, every_rule_positive_and_negative)
{
    const char *names[] = { "algebra", "expand", "together", "factor", "expsum", "stable" };
    set_list l;
    sets_init(&l, names, 6);
    rule_match m;
    rule_match_init(&m, &S);
    size_t n_cases = sizeof cases / sizeof cases[0];
    for (size_t i = 0; i < n_cases; i++) {
        const rule *r = find_rule(&l, cases[i].rule);
        cr_assert_not_null(r, "no rule %s", cases[i].rule);
        term_id t = parse(cases[i].input);
        term_id u = rule_try(&m, r, t);
        if (!cases[i].expected) {
            char *got = u ? infix(u) : NULL;
            cr_assert_eq(u, TERM_NONE, "%s fires on %s (gives %s)", cases[i].rule, cases[i].input, got ? got : "");
            free(got);
            continue;
        }
        term_id want = parse(cases[i].expected);
        char *got = u ? infix(u) : strdup("nothing");
        cr_assert_eq(u, want, "%s on %s: got %s, want %s", cases[i].rule, cases[i].input, got, cases[i].expected);
        free(got);
        rw_step st = { r, t, u, RW_NOWHERE };
        assert_measure_decreases(&st);
    }
    /* every rule of every set has both kinds of case */
    for (size_t i = 0; i < l.n; i++)
        for (size_t j = 0; j < l.sets[i].n_rules; j++) {
            const char *name = l.sets[i].rules[j].def->name;
            int pos = 0, neg = 0;
            for (size_t k = 0; k < n_cases; k++)
                if (strcmp(cases[k].rule, name) == 0) {
                    if (cases[k].expected) pos++;
                    else neg++;
                }
            cr_assert(pos > 0 && neg > 0, "rule %s lacks a positive or a negative case", name);
        }
    rule_match_clear(&m);
    sets_clear(&l);
}

/* ---- matching ---- */

static int always(const rule_match *m) { (void)m; return 1; }

static const rule_def probe_rules[] = {
    { "probe-product", "x^a*y*R", "y", always, NULL, "" },
    { "probe-repeat", "x*x^b", "x", NULL, NULL, "" },
    { "probe-number", "x^2", "x", NULL, NULL, "" },
    { "probe-nested", "exp(a+A)*B", "a", NULL, NULL, "" },
};
static const rule_set_def probe_set = { "probe", "", probe_rules, 4, rule_measure_ops, "", NULL };

Test(rules, matching_modulo_ac)
{
    rule_set rs;
    rule_set_init(&rs, &probe_set);
    rule_match m;
    rule_match_init(&m, &S);
    /* x^a found among the factors, y another factor, R the rest */
    term_id t = parse("3*u*v^w*z");
    cr_assert(rule_match_term(&m, &rs.rules[0], t));
    cr_assert_eq(rule_var(&m, "x"), parse("v"));
    cr_assert_eq(rule_var(&m, "a"), parse("w"));
    const term_id *rest;
    size_t n = rule_seq(&rest, &m, "R");
    term_id y = rule_var(&m, "y");
    /* y and the rest are the other three factors, each once */
    cr_assert_eq(n, 2);
    term_id all[3] = { y, rest[0], rest[1] };
    term_id want[3] = { parse("3"), parse("u"), parse("z") };
    for (int i = 0; i < 3; i++) {
        int found = 0;
        for (int j = 0; j < 3; j++) found += all[j] == want[i];
        cr_assert_eq(found, 1);
    }
    cr_assert_eq(rule_var(&m, "nothing"), TERM_NONE);
    cr_assert(!rule_match_term(&m, &rs.rules[0], parse("u*z"))); /* no power */
    cr_assert(!rule_match_term(&m, &rs.rules[0], parse("u^w")));  /* one factor only */
    /* a repeated variable binds one term */
    cr_assert(rule_match_term(&m, &rs.rules[1], parse("x*x^y")));
    cr_assert(!rule_match_term(&m, &rs.rules[1], parse("x*z^y")));
    cr_assert(!rule_match_term(&m, &rs.rules[1], parse("x*x^y*z"))); /* no rest variable */
    /* a number matches itself */
    cr_assert(rule_match_term(&m, &rs.rules[2], parse("(x+y)^2")));
    cr_assert(!rule_match_term(&m, &rs.rules[2], parse("(x+y)^3")));
    /* a sum inside a call inside a product, with backtracking to the right exp */
    cr_assert(rule_match_term(&m, &rs.rules[3], parse("exp(u)*exp(v + w)*z")));
    term_id a = rule_var(&m, "a");
    cr_assert(a == parse("v") || a == parse("w"));
    n = rule_seq(&rest, &m, "B");
    cr_assert_eq(n, 2);
    rule_match_clear(&m);
    rule_set_clear(&rs);
}

static const rule_def bad_rules[] = { { "bad", "R + exp(A)", "R", NULL, NULL, "" } };
static const rule_set_def bad_set = { "bad", "", bad_rules, 1, rule_measure_ops, "", NULL };

Test(rules, malformed_table_aborts, .signal = SIGABRT)
{
    rule_set rs;
    rule_set_init(&rs, &bad_set); /* a sequence variable inside exp */
    rule_set_clear(&rs);
}

Test(rules, registry)
{
    cr_assert_eq(rule_set_count(), 6);
    cr_assert_eq(rule_set_find("algebra", 7), &rule_set_algebra);
    cr_assert_eq(rule_set_find("expand", 6), &rule_set_expand);
    cr_assert_null(rule_set_find("algebr", 6));
    cr_assert(rule_sets_conflict(&rule_set_factor, &rule_set_expand));
    cr_assert(rule_sets_conflict(&rule_set_expand, &rule_set_factor));
    cr_assert(!rule_sets_conflict(&rule_set_expand, &rule_set_together));
    cr_assert(rule_set_expsum.n_rules > 0);
    cr_assert_eq(rule_set_find("stable", 6), &rule_set_stable);
    cr_assert(rule_sets_conflict(&rule_set_stable, &rule_set_expsum));
    cr_assert(!rule_sets_conflict(&rule_set_stable, &rule_set_algebra));
    for (size_t i = 0; i < rule_set_count(); i++) {
        rule_set rs;
        rule_set_init(&rs, rule_set_def_at(i)); /* every table compiles */
        cr_assert_eq(rs.n_rules, rule_set_def_at(i)->n_rules);
        rule_set_clear(&rs);
    }
}

Test(rules, facts)
{
    const char *nonneg[] = { "x^2", "exp(y)", "abs(x) + 3", "sqrt(x)", "x^y", "max(x, 1)", "tanh(x^2)", "2*x^4*exp(y)" };
    const char *not_nonneg[] = { "x", "x^3", "x + 1", "log(x)", "min(x, 1)", "-exp(y)", "tanh(x)" };
    const char *positive[] = { "exp(y)", "3", "x^2 + 1", "x^-2", "x^(-1/2)", "x^y", "2*exp(x)*exp(y)", "max(x, 1)" };
    const char *not_positive[] = { "x^2", "abs(x)", "sqrt(x)", "x^-1", "exp(x) - 1", "0" };
    for (size_t i = 0; i < sizeof nonneg / sizeof *nonneg; i++) cr_assert(rule_nonneg(&S, parse(nonneg[i])), "%s", nonneg[i]);
    for (size_t i = 0; i < sizeof not_nonneg / sizeof *not_nonneg; i++)
        cr_assert(!rule_nonneg(&S, parse(not_nonneg[i])), "%s", not_nonneg[i]);
    for (size_t i = 0; i < sizeof positive / sizeof *positive; i++) cr_assert(rule_positive(&S, parse(positive[i])), "%s", positive[i]);
    for (size_t i = 0; i < sizeof not_positive / sizeof *not_positive; i++)
        cr_assert(!rule_positive(&S, parse(not_positive[i])), "%s", not_positive[i]);
    cr_assert(rule_is_denominator(&S, parse("x^-2")));
    cr_assert(rule_is_denominator(&S, parse("(x+y)^(-1/2)")));
    cr_assert(!rule_is_denominator(&S, parse("x^2")));
    cr_assert(!rule_is_denominator(&S, parse("x^(-y)")));
}

Test(rules, measures)
{
    fmpz_t v;
    fmpz_init(v);
    /* ops: x + y*z: 2; coefficients free; a power counts its base twice */
    rule_measure_ops(v, &S, parse("x + y*z"));
    cr_assert_eq(fmpz_get_si(v), 2 + 3);
    rule_measure_ops(v, &S, parse("3*x"));
    cr_assert_eq(fmpz_get_si(v), 1);
    rule_measure_ops(v, &S, parse("(x + y)^2"));
    cr_assert_eq(fmpz_get_si(v), 2 * 3 + 1);
    /* poly: (x + y)*z = (2 + 2 + 1)*2 */
    rule_measure_poly(v, &S, parse("(x + y)*z"));
    cr_assert_eq(fmpz_get_si(v), 10);
    rule_measure_poly(v, &S, parse("(x + y)^3"));
    cr_assert_eq(fmpz_get_si(v), 125);
    /* fractions: two sums with a fraction, one inside the other's term */
    rule_measure_fractions(v, &S, parse("1/x + exp(1/y + z)"));
    cr_assert_eq(fmpz_get_si(v), 2);
    rule_measure_fractions(v, &S, parse("x/2 + y"));
    cr_assert_eq(fmpz_get_si(v), 0);
    /* exact on a DAG whose tree is astronomically large */
    term_id t = parse("x");
    for (int i = 0; i < 200; i++) t = term_mul2(&S, term_add2(&S, t, S.one), term_add2(&S, t, parse("y")));
    rule_measure_ops(v, &S, t);
    cr_assert(fmpz_bits(v) > 190);
    fmpz_clear(v);
}

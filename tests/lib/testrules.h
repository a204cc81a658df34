/* testrules: the fixture of the rules suites (test_rules*.c): one store per
 * test, terms parsed and printed in it, rule sets by name, the measure of
 * every step checked. */
#ifndef HMP_TESTRULES_H
#define HMP_TESTRULES_H

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

static term_store S;
static inline void setup(void) { term_store_init(&S); }
static inline void teardown(void) { term_store_clear(&S); flint_cleanup(); }
TestSuite(rules, .init = setup, .fini = teardown);

static inline term_id parse(const char *text)
{
    source src;
    source_from_string(&src, "test", text, strlen(text));
    diag_list d;
    diag_init(&d);
    term_id t = TERM_NONE;
    int rc = parse_expr(&t, &S, &d, &src);
    if (rc) diag_print(stderr, &d);
    cr_assert_eq(rc, 0, "does not parse: %s", text);
    diag_clear(&d);
    source_clear(&src);
    return t;
}

static inline char *infix(term_id t)
{
    strbuf b;
    strbuf_init(&b);
    print_infix(&b, &S, t);
    char *text = strdup(strbuf_str(&b));
    strbuf_clear(&b);
    return text;
}

/* Compiled sets by name, for one test. */
typedef struct set_list {
    rule_set sets[8];
    const rule_set *ptr[8];
    size_t n;
} set_list;

static inline void sets_init(set_list *l, const char *const *names, size_t n)
{
    l->n = n;
    for (size_t i = 0; i < n; i++) {
        const rule_set_def *def = rule_set_find(names[i], strlen(names[i]));
        cr_assert_not_null(def, "no rule set %s", names[i]);
        rule_set_init(&l->sets[i], def);
        l->ptr[i] = &l->sets[i];
    }
}

static inline void sets_clear(set_list *l)
{
    for (size_t i = 0; i < l->n; i++) rule_set_clear(&l->sets[i]);
}

static inline const rule *find_rule(const set_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        for (size_t j = 0; j < l->sets[i].n_rules; j++)
            if (strcmp(l->sets[i].rules[j].def->name, name) == 0) return &l->sets[i].rules[j];
    return NULL;
}

/* measure(after) < measure(before) for the set of the step's rule. */
static inline void assert_measure_decreases(const rw_step *st)
{
    fmpz_t a, b;
    fmpz_init(a);
    fmpz_init(b);
    rule_measure f = st->rule->set->def->measure;
    f(b, &S, st->before);
    f(a, &S, st->after);
    if (fmpz_cmp(a, b) >= 0) {
        char *x = infix(st->before), *y = infix(st->after);
        cr_assert_fail("%s: measure %s does not decrease: %s -> %s (%ld -> %ld)", st->rule->def->name,
                       st->rule->set->def->name, x, y, fmpz_get_si(b), fmpz_get_si(a));
    }
    fmpz_clear(a);
    fmpz_clear(b);
}

#endif

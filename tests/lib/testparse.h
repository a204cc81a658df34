/* testparse: the fixture of the parser suites (test_parse*.c): a store,
 * a diagnostic list, a script and sources per test; scripts and expressions
 * parsed into them, diagnostics checked. */
#ifndef HMP_TESTPARSE_H
#define HMP_TESTPARSE_H

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/parse.h"
#include "core/term.h"
#include "tests/lib/testlib.h"

/* Every test gets a store, a diagnostic list, a script and a few sources
 * (which must outlive the script and the diagnostics). */
#define MAX_SOURCES 128
static term_store S;
static diag_list D;
static script SC;
static source SRCS[MAX_SOURCES];
static int n_srcs;

static inline void setup(void)
{
    term_store_init(&S);
    diag_init(&D);
    script_init(&SC);
    n_srcs = 0;
}

static inline void teardown(void)
{
    script_clear(&SC);
    diag_clear(&D);
    term_store_clear(&S);
    for (int i = 0; i < n_srcs; i++) source_clear(&SRCS[i]);
}

TestSuite(parse, .init = setup, .fini = teardown);

static inline const source *new_source(const char *text, size_t len)
{
    cr_assert(n_srcs < MAX_SOURCES);
    source_from_string(&SRCS[n_srcs], "t.hmp", text, len);
    return &SRCS[n_srcs++];
}

/* Parses a script (appending to SC); returns parse_script's status. */
static inline int script_n(const char *text, size_t len) { return parse_script(&SC, &S, &D, new_source(text, len)); }
static inline int script_s(const char *text) { return script_n(text, strlen(text)); }

/* The term of an expression that must parse. */
static inline term_id E(const char *text)
{
    term_id t = TERM_NONE;
    int rc = parse_expr(&t, &S, &D, new_source(text, strlen(text)));
    cr_assert_eq(rc, 0, "parse_expr failed on \"%s\": %s", text, D.n ? D.items[D.n - 1].msg : "?");
    cr_assert_neq(t, TERM_NONE);
    return t;
}

#define SYM(name) term_sym_cstr(&S, name)
#define NUM(p, q) term_num_si(&S, p, q)

/* The value of relation i, which must define name. */
static inline term_id rel(size_t i, const char *name)
{
    cr_assert(i < SC.n_rels, "relation %zu missing (%zu parsed)", i, SC.n_rels);
    cr_assert_str_eq(term_sym_name(&S, SC.rels[i].name), name);
    return SC.rels[i].rhs;
}

static inline void check_diag(size_t i, uint32_t line, uint32_t col, const char *msg)
{
    cr_assert(i < D.n, "diagnostic %zu missing (%zu recorded), expected \"%s\"", i, D.n, msg);
    cr_expect_str_eq(D.items[i].msg, msg);
    cr_expect_eq(D.items[i].pos.line, line, "\"%s\": line %u, expected %u", msg, D.items[i].pos.line, line);
    cr_expect_eq(D.items[i].pos.col, col, "\"%s\": col %u, expected %u", msg, D.items[i].pos.col, col);
    cr_expect_eq(D.items[i].level, DIAG_ERROR);
    /* the offset agrees with line and column */
    src_pos p = source_pos(D.items[i].src, D.items[i].pos.offset);
    cr_expect_eq(p.line, line);
    cr_expect_eq(p.col, col);
}

/* text (a script) gives exactly one error, msg at line:col. */
static inline void one_error(const char *text, uint32_t line, uint32_t col, const char *msg)
{
    diag_clear(&D);
    cr_expect_neq(script_s(text), 0, "no error for \"%s\"", text);
    cr_expect_eq(D.n_errors, 1, "\"%s\": %zu errors, first \"%s\"", text, D.n_errors, D.n ? D.items[0].msg : "");
    check_diag(0, line, col, msg);
}

#endif

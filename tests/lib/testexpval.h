/* testexpval: what the expval suites (test_expval*.c) share: a store with
 * an evaluator, texts parsed and evaluated, exact values asserted. */
#ifndef HMP_TESTEXPVAL_H
#define HMP_TESTEXPVAL_H

#include <criterion/criterion.h>
#include <mpfr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <flint/fmpq.h>
#include <flint/fmpz.h>

#include "core/diag.h"
#include "eval/expval.h"
#include "core/parse.h"
#include "core/system.h"
#include "core/term.h"
#include "io/gen.h"
#include "tests/lib/testgen.h"
#include "tests/lib/testlib.h"
#include "tests/lib/testscript.h"

typedef struct env {
    term_store s;
    expval_ctx ctx;
} env;

static inline void env_init(env *e)
{
    term_store_init(&e->s);
    expval_ctx_init(&e->ctx, &e->s);
}

static inline void env_clear(env *e)
{
    expval_ctx_clear(&e->ctx);
    term_store_clear(&e->s);
}

static inline term_id parse_text(term_store *s, const char *text)
{
    source src;
    diag_list d;
    source_from_string(&src, "t", text, strlen(text));
    diag_init(&d);
    term_id t = TERM_NONE;
    int rc = parse_expr(&t, s, &d, &src);
    if (rc) diag_print(stderr, &d);
    cr_assert_eq(rc, 0, "'%s' does not parse", text);
    diag_clear(&d);
    source_clear(&src);
    return t;
}

/* Status of text's value; the value in v, the failing node in *where. */
static inline int eval_text(expval *v, term_id *where, env *e, const char *text)
{
    term_id t = parse_text(&e->s, text);
    *where = TERM_NONE;
    return expval_of_term(v, where, &e->ctx, t);
}

static inline void assert_rational(const expval *v, slong p, slong q, const char *what)
{
    fmpq_t x, want;
    fmpq_init(x);
    fmpq_init(want);
    fmpq_set_si(want, p, (ulong)q);
    cr_assert(expval_get_fmpq(x, v), "%s: not rational", what);
    cr_assert(fmpq_equal(x, want), "%s: wrong rational", what);
    fmpq_clear(x);
    fmpq_clear(want);
}

static inline void assert_text_rational(env *e, const char *text, slong p, slong q)
{
    expval v;
    expval_init(&v);
    term_id where;
    int st = eval_text(&v, &where, e, text);
    cr_assert_eq(st, EV_OK, "'%s': status %d", text, st);
    assert_rational(&v, p, q, text);
    expval_clear(&v);
}

static inline void assert_text_status(env *e, const char *text, int status, const char *where_text)
{
    expval v;
    expval_init(&v);
    term_id where;
    int st = eval_text(&v, &where, e, text);
    cr_assert_eq(st, status, "'%s': status %d, want %d", text, st, status);
    if (where_text) cr_assert_eq(where, parse_text(&e->s, where_text), "'%s': wrong failing node", text);
    expval_clear(&v);
}

static inline void print_to(char *out, size_t size, const expval *v)
{
    strbuf b;
    strbuf_init(&b);
    expval_print(&b, v);
    snprintf(out, size, "%s", strbuf_str(&b));
    strbuf_clear(&b);
}

static inline void exp_si(expval *v, slong p, slong q)
{
    fmpq_t r;
    fmpq_init(r);
    fmpq_set_si(r, p, (ulong)q);
    expval_exp_fmpq(v, r);
    fmpq_clear(r);
}

static inline void rat_si(expval *v, slong p, slong q)
{
    fmpq_t r;
    fmpq_init(r);
    fmpq_set_si(r, p, (ulong)q);
    expval_set_fmpq(v, r);
    fmpq_clear(r);
}

#endif

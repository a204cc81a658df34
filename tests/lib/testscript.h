/* testscript: a script parsed from text and built into a system, as the
 * commands load a file (frontends/input), for the suites that need one. */
#ifndef HMP_TESTSCRIPT_H
#define HMP_TESTSCRIPT_H

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "core/diag.h"
#include "core/parse.h"
#include "core/system.h"
#include "core/term.h"

typedef struct test_script {
    source src;
    term_store s;
    script sc;
    diag_list d;
    sys y;
} test_script;

/* Loads text; a script that does not load fails the test (its errors on
 * stderr). test_script_clear frees it. */
static inline void test_script_load(test_script *L, const char *text)
{
    memset(L, 0, sizeof *L);
    source_from_string(&L->src, "t.hmp", text, strlen(text));
    term_store_init(&L->s);
    script_init(&L->sc);
    diag_init(&L->d);
    int bad = parse_script(&L->sc, &L->s, &L->d, &L->src) != 0;
    if (!bad) bad = sys_build(&L->y, &L->s, &L->sc, &L->d) != 0;
    if (bad) diag_print(stderr, &L->d);
    cr_assert(!bad, "the script does not load:\n%s", text);
}

static inline void test_script_clear(test_script *L)
{
    sys_clear(&L->y);
    diag_clear(&L->d);
    script_clear(&L->sc);
    term_store_clear(&L->s);
    source_clear(&L->src);
}

#endif

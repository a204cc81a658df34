/* scriptload: a script parsed and built into a system, as the commands load
 * a file (frontends/input); no Criterion, so the benchmarks use it too
 * (tests/lib/testscript.h asserts on it for the suites). */
#ifndef HMP_SCRIPTLOAD_H
#define HMP_SCRIPTLOAD_H

#include <stdio.h>
#include <string.h>

#include "core/diag.h"
#include "core/parse.h"
#include "core/system.h"
#include "core/term.h"

typedef struct test_script {
    source src;        /* the text, when loaded from one */
    term_store s;
    script sc;
    diag_list d;
    sys y;
    double parse_s, system_s; /* each phase on the clock given (0 without) */
} test_script;

typedef enum test_script_status {
    TEST_SCRIPT_OK = 0,
    TEST_SCRIPT_PARSE_ERROR = 1, /* the system is not built */
    TEST_SCRIPT_BUILD_ERROR = 2
} test_script_status;

/* Parses src (not freed with L) into L and builds its system; the errors
 * printed on stderr. clock, when not NULL, times the two phases. L is
 * freed with test_script_clear whatever the status. */
static inline test_script_status test_script_load_source(test_script *L, const source *src, double (*clock)(void))
{
    source own = { 0 };
    if (src == &L->src) own = L->src;
    memset(L, 0, sizeof *L);
    L->src = own;
    term_store_init(&L->s);
    script_init(&L->sc);
    diag_init(&L->d);
    double t0 = clock ? clock() : 0;
    test_script_status status = TEST_SCRIPT_OK;
    if (parse_script(&L->sc, &L->s, &L->d, src) != 0) status = TEST_SCRIPT_PARSE_ERROR;
    double t1 = clock ? clock() : 0;
    if (!status && sys_build(&L->y, &L->s, &L->sc, &L->d) != 0) status = TEST_SCRIPT_BUILD_ERROR;
    double t2 = clock ? clock() : 0;
    L->parse_s = t1 - t0;
    L->system_s = t2 - t1;
    if (status) diag_print(stderr, &L->d);
    return status;
}

/* The same from text, named name in messages. */
static inline test_script_status test_script_try_load(test_script *L, const char *name, const char *text, size_t len)
{
    memset(L, 0, sizeof *L);
    source_from_string(&L->src, name, text, len);
    return test_script_load_source(L, &L->src, NULL);
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

/* testscript: a script parsed from text and built into a system, as the
 * commands load a file (frontends/input), for the suites that need one. */
#ifndef HMP_TESTSCRIPT_H
#define HMP_TESTSCRIPT_H

#include <criterion/criterion.h>
#include <string.h>

#include "tests/lib/scriptload.h"

/* Loads text; a script that does not load fails the test (its errors on
 * stderr). test_script_clear frees it. */
static inline void test_script_load(test_script *L, const char *text)
{
    test_script_status status = test_script_try_load(L, "t.hmp", text, strlen(text));
    cr_assert(status == TEST_SCRIPT_OK, "the script does not %s:\n%s",
              status == TEST_SCRIPT_PARSE_ERROR ? "parse" : "build", text);
}

#endif

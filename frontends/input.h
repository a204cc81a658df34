/* input: what every command that reads a script does first: read the file,
 * parse it, build its system; errors printed FILE:LINE:COL with a caret. */
#ifndef HMP_INPUT_H
#define HMP_INPUT_H

#include <stdio.h>

#include "core/diag.h"
#include "core/parse.h"
#include "core/system.h"
#include "core/term.h"

typedef struct input {
    source src;
    term_store store;
    script scr;
    diag_list diags;
    sys system;
} input;

/* Loads path ("-" = standard input). 0 on success (warnings, if any, printed
 * to err); otherwise the errors are printed to err and it returns
 * CLI_EXIT_INPUT. input_clear is needed in both cases. */
int input_load(input *in, const char *path, FILE *err);
void input_clear(input *in);

#endif

/* input: read, parse and build the system of a script for a command. */
#include "frontends/input.h"

#include <string.h>

#include "frontends/cli.h"

int input_load(input *in, const char *path, FILE *err)
{
    memset(in, 0, sizeof *in);
    term_store_init(&in->store);
    script_init(&in->scr);
    diag_init(&in->diags);
    char msg[512];
    if (source_read_file(&in->src, path, msg, sizeof msg) != 0) {
        fprintf(err, "hmp: error: %s\n", msg);
        return CLI_EXIT_INPUT;
    }
    int failed = parse_script(&in->scr, &in->store, &in->diags, &in->src) != 0;
    if (!failed) failed = sys_build(&in->system, &in->store, &in->scr, &in->diags) != 0;
    if (in->diags.n > 0) diag_print(err, &in->diags);
    return failed || in->diags.n_errors > 0 ? CLI_EXIT_INPUT : 0;
}

void input_clear(input *in)
{
    sys_clear(&in->system);
    diag_clear(&in->diags);
    script_clear(&in->scr);
    term_store_clear(&in->store);
    source_clear(&in->src);
}

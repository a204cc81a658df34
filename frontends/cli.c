/* cli: what the subcommands share: usage errors and writing a finished
 * output in one piece. */
#include "frontends/cli.h"

int cli_usage_error(FILE *err, const char *command, const char *usage, const char *msg, const char *arg)
{
    fprintf(err, "hmp %s: %s", command, msg);
    if (arg) fprintf(err, " '%s'", arg);
    fputs("\n", err);
    fputs(usage, err);
    fprintf(err, "try 'hmp %s --help' for more\n", command);
    return CLI_EXIT_INPUT;
}

int cli_write(FILE *out, FILE *err, const strbuf *b)
{
    const char *text = b->data ? b->data : "";
    if (fwrite(text, 1, b->len, out) != b->len || fflush(out) != 0) {
        fputs("hmp: error: cannot write the output\n", err);
        return CLI_EXIT_IO;
    }
    return CLI_EXIT_OK;
}

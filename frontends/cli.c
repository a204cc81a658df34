/* cli: what the subcommands share: usage errors and writing a finished
 * output in one piece. */
#include "frontends/cli.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

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

char **cli_split_equals(int *argc, char **argv)
{
    int n = *argc, extra = 0, dashes = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(argv[i], "--") == 0) dashes = 1;
        if (!dashes && strncmp(argv[i], "--", 2) == 0 && argv[i][2] != '=' && strchr(argv[i], '=')) extra++;
    }
    char **out = mem_calloc((size_t)(n + extra + 1), sizeof *out);
    int k = 0;
    dashes = 0;
    for (int i = 0; i < n; i++) {
        const char *eq = strchr(argv[i], '=');
        if (strcmp(argv[i], "--") == 0) dashes = 1;
        if (!dashes && strncmp(argv[i], "--", 2) == 0 && argv[i][2] != '=' && eq) {
            size_t len = (size_t)(eq - argv[i]);
            char *name = mem_calloc(len + 1, 1);
            memcpy(name, argv[i], len);
            out[k++] = name;
            out[k++] = mem_strdup(eq + 1);
        } else {
            out[k++] = mem_strdup(argv[i]);
        }
    }
    *argc = k;
    return out;
}

void cli_args_free(char **args, int argc)
{
    for (int i = 0; i < argc; i++) free(args[i]);
    free(args);
}

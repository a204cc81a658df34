/* main: the hmp command line: `hmp COMMAND [ARGS]`, dispatched to the
 * cli_ subcommands; `hmp --help` and `hmp --version`. */
#include <stdio.h>
#include <string.h>

#include "frontends/cli.h"

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv, FILE *out, FILE *err);
    void (*help)(FILE *out);
} command;

static const command commands[] = {
    { "run", cli_run, cli_run_help },
    { "eval", cli_eval, cli_eval_help },
    { "simplify", cli_simplify, cli_simplify_help },
    { "verify", cli_verify, cli_verify_help },
    { "check", cli_check, cli_check_help },
    { "cse", cli_cse, cli_cse_help },
    { "matrix", cli_matrix, cli_matrix_help },
    { "gen", cli_gen, cli_gen_help },
};

static const char main_usage[] = "usage: hmp COMMAND [ARGS]   (hmp --help for the commands)\n";

static void main_help(FILE *out)
{
    fputs("hmp " HMP_VERSION ": a symbolic algebra engine for transformer attention.\n"
          "Reads HMP scripts (relations `name = expression`) into one hash-consed term DAG.\n"
          "\n"
          "usage: hmp COMMAND [ARGS]\n"
          "\n"
          "commands:\n"
          "  run FILE      parse a script, build its system of relations, print the\n"
          "                outputs and statistics of the DAG (--json, --inline)\n"
          "  eval FILE     every output exactly, or correctly rounded to N digits or\n"
          "                to f64/f32/f16/bf16 (--digits, --format, --exact, --json)\n"
          "  simplify FILE every relation rewritten by rule sets to a fixpoint: algebra\n"
          "                and expsum by default, --stable, --expand, --together; the\n"
          "                derivation (--steps, --json)\n"
          "  verify --q Q --k K --v V --out O\n"
          "                certify an attention output from .npy/safetensors files:\n"
          "                true values, errors in ULPs, a verdict (exit 0 pass, 1 fail)\n"
          "  check FILE --kernel naive|flash\n"
          "                run a reference kernel on a script's attention and certify\n"
          "                every output entry against its bound (exit 0 pass, 1 fail)\n"
          "  cse FILE      the outputs as a straight-line program, common subexpressions\n"
          "                computed once; operation counts before and after (--json,\n"
          "                --emit c)\n"
          "  matrix FILE   the relations as a matrix program (Q = X * Wq^T, ...), each\n"
          "                operation verified entry by entry (--json, --regen)\n"
          "  gen attention N D\n"
          "                write an HMP script of an attention block (N tokens, D\n"
          "                features; causal, scaled, multi-head)\n"
          "\n"
          "options:\n"
          "  -h, --help    this help; hmp COMMAND --help for the options of a command\n"
          "  --version     the version\n"
          "\n"
          "exit status:\n"
          "  0  success\n"
          "  1  the output could not be written\n"
          "  2  bad input (a syntax error, a name defined twice, a cycle ...) or bad usage\n",
          out);
}

static const command *find_command(const char *name)
{
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(commands[i].name, name) == 0) return &commands[i];
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("hmp: missing COMMAND\n", stderr);
        fputs(main_usage, stderr);
        return CLI_EXIT_INPUT;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0 || strcmp(name, "help") == 0) {
        if (argc > 2) {
            const command *c = find_command(argv[2]);
            if (!c) {
                fprintf(stderr, "hmp: unknown command '%s'\n", argv[2]);
                fputs(main_usage, stderr);
                return CLI_EXIT_INPUT;
            }
            c->help(stdout);
        } else {
            main_help(stdout);
        }
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_IO;
    }
    if (strcmp(name, "--version") == 0) {
        puts("hmp " HMP_VERSION);
        return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_IO;
    }
    const command *c = find_command(name);
    if (!c) {
        if (name[0] == '-') fprintf(stderr, "hmp: unknown option '%s'\n", name);
        else fprintf(stderr, "hmp: unknown command '%s'\n", name);
        fputs(main_usage, stderr);
        return CLI_EXIT_INPUT;
    }
    int n = argc - 1;
    char **args = cli_split_equals(&n, argv + 1);
    int status = c->run(n, args, stdout, stderr);
    cli_args_free(args, n);
    return status;
}

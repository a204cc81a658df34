/* cli: the subcommands of the hmp command line. Each takes its own name in
 * argv[0] and the arguments after it, writes results to out and messages to
 * err, and returns the process exit status. */
#ifndef HMP_CLI_H
#define HMP_CLI_H

#include <stdio.h>

#include "core/strbuf.h"

#define HMP_VERSION "0.1.0"

/* Exit statuses. */
#define CLI_EXIT_OK 0
#define CLI_EXIT_IO 1      /* the output could not be written */
#define CLI_EXIT_INPUT 2   /* bad input (syntax, system errors) or bad usage */

/* "hmp COMMAND: MSG 'ARG'", the short usage and a pointer to --help, on err;
 * returns CLI_EXIT_INPUT. arg may be NULL. */
int cli_usage_error(FILE *err, const char *command, const char *usage, const char *msg, const char *arg);
/* Writes b to out and flushes: CLI_EXIT_OK, or CLI_EXIT_IO with a message. */
int cli_write(FILE *out, FILE *err, const strbuf *b);
/* The arguments with every "--NAME=VALUE" (before a "--" alone) split into
 * "--NAME" and "VALUE", as GNU getopt's users write them: a new array of
 * *argc new strings, NULL after them (free both with cli_args_free). */
char **cli_split_equals(int *argc, char **argv);
void cli_args_free(char **args, int argc);

/* hmp run FILE|- [--json] [--inline] */
int cli_run(int argc, char **argv, FILE *out, FILE *err);
void cli_run_help(FILE *out);

/* hmp eval FILE|- [--digits N] [--format F] [--exact] [--json] [--set NAME=VALUE] [--max-prec BITS] */
int cli_eval(int argc, char **argv, FILE *out, FILE *err);
void cli_eval_help(FILE *out);

/* hmp simplify FILE|- [--steps] [--json] [--stable] [--expand] [--together] [--rules SET,...] [--inline] [--max-steps N] [--list] */
int cli_simplify(int, char **, FILE *, FILE *);
void cli_simplify_help(FILE *);

/* hmp verify --q Q --k K --v V --out O [--scale S|auto] [--causal] [--mask M] [--dtype bf16] [--compute F] [--tol T] [--json] */
int cli_verify(int argc, char **argv, FILE *out, FILE *err);
void cli_verify_help(FILE *out);

/* hmp check FILE|- --kernel naive|flash [--compute F] [--storage F] [--tile T] [--tol T] [--json] */
int cli_check(int argc, char **argv, FILE *out, FILE *err);
void cli_check_help(FILE *out);

/* hmp cse FILE|- [--json | --emit c] [--no-restructure] [--dag-only] */
int cli_cse(int, char **, FILE *, FILE *);
void cli_cse_help(FILE *);

/* hmp matrix FILE|- [--json | --regen] */
int cli_matrix(int argc, char **argv, FILE *out, FILE *err);
void cli_matrix_help(FILE *out);

/* hmp gen attention N D [--seed S] [--symbolic] [--scale] [--causal] [--heads H] [--compact] */
int cli_gen(int argc, char **argv, FILE *out, FILE *err);
void cli_gen_help(FILE *out);

#endif

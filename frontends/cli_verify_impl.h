/* cli_verify_impl: what the files of `hmp verify` share: the command line
 * as parsed (cli_verify_args.c) and the problem options it sets. Not a
 * public API. */
#ifndef HMP_CLI_VERIFY_IMPL_H
#define HMP_CLI_VERIFY_IMPL_H

#include <stdio.h>

#include "core/fpfmt.h"
#include "attention/verify.h"
#include "io/tensor.h"

/* The options of `hmp verify`, as given. */
typedef struct cli_verify_args {
    const char *files[4];       /* --q, --k, --v, --out */
    const char *mask_file;      /* --mask, or NULL */
    const char *scale_text;     /* --scale: "auto" or a number */
    const char *report_dir;     /* --report, or NULL */
    int json, causal, bound_naive;
    int have_compute;           /* --compute was given: compute */
    int have_probs;             /* --probs-dtype was given: probs */
    fp_format probs;
    fp_format compute;
    size_t bound_tile;          /* --tile, 0 when not given */
    double tol;                 /* --tol, 0 when not given */
    double max_err_scaled;      /* --max-err-scaled, 0 when not given */
    int ref_ratio;              /* --ref-ratio */
    double max_ref_ratio;       /* --max-ref-ratio, 0 when not given */
    tensor_read_options ro;     /* --dtype bf16: 2-byte integers read as bf16 */
    int have_dtype;             /* --dtype F: every file must hold F */
    fp_format dtype;
    int bnhd;                   /* --layout bnhd: (batch, n, heads, d) */
    int top_left;               /* --causal-align top-left */
    int window;                 /* --window L,R */
    long long window_left, window_right;
    int help;                   /* --help was given (and printed) */
} cli_verify_args;

/* The option names of the four files, "--q" to "--out". */
extern const char *const cli_verify_file_options[4];

/* Parses argv[1 .. argc-1] into a. CLI_EXIT_OK (with a->help set when
 * --help was printed on out), or CLI_EXIT_INPUT after a usage message on err. */
int cli_verify_parse(cli_verify_args *a, int argc, char **argv, FILE *out, FILE *err);

/* Sets the options of p (initialised) that a gives before any file is read:
 * the scale, causal, the kernel's bound, the tolerance. CLI_EXIT_OK, or
 * CLI_EXIT_INPUT after a usage message on err (a scale that is no number). */
int cli_verify_options(verify_problem *p, const cli_verify_args *a, FILE *err);

#endif

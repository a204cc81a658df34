/* cli_cse: `hmp cse FILE`: the outputs of a script as a straight-line
 * program with common subexpressions computed once, its operation counts
 * before and after, as HMP text, JSON or a C function. */
#include "frontends/cli.h"

#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/mem.h"
#include "frontends/input.h"
#include "rewrite/cse.h"
#include "rewrite/expsum.h"

static const char cse_usage[] = "usage: hmp cse FILE|- [--json | --emit c] [--stable] [--no-restructure] [--dag-only]\n";

void cli_cse_help(FILE *out)
{
    fputs(cse_usage, out);
    fputs("\n"
          "Turns the outputs of the HMP script FILE (\"-\" reads standard input), every\n"
          "relation inlined, into a straight-line program: one line per value used\n"
          "more than once (named after the relation it equals, or t1, t2, ...), then\n"
          "the outputs under their own names, an `output` directive, and the counts as\n"
          "comments. The program is itself an HMP script with the same outputs.\n"
          "Beyond sharing equal subexpressions it extracts common factors of sums\n"
          "(x/D + y/D = (x + y)/D: one division), common sub-products and sub-sums\n"
          "(a+b shared by a+b+c and a+b+d), and re-associates sums of products of\n"
          "linear forms (q.k with q = Wq*x, k = Wk*x as x^T (Wq^T Wk) x) when that\n"
          "lowers the count.\n"
          "\n"
          "counts (docs/CSE.md): every + - * / and every call (exp, log, sqrt, ...)\n"
          "is one operation; a sum of n terms n - 1, a product of n factors n - 1; a\n"
          "coefficient -1 is a subtraction; x^k costs the multiplications of repeated\n"
          "squaring (x^2: 1, x^3: 2, x^4: 2); numbers are free.\n"
          "  ops_before   every output written out as a tree over the inputs, nothing\n"
          "               shared (exact, however large)\n"
          "  ops_dag      every distinct node once (plain DAG sharing)\n"
          "  ops_after    the program\n"
          "  temporaries  lines of the program before the outputs\n"
          "\n"
          "options:\n"
          "  --json            one JSON object: program (name, expr), outputs, inputs,\n"
          "                    ops_before, ops_dag, ops_after, temporaries, stages\n"
          "                    (the count after each step), bilinear_sums\n"
          "  --emit c          a C function void hmp_outputs(const double *in,\n"
          "                    double *out): free symbols are the inputs, in order of\n"
          "                    first use (listed in a comment), numbers of the script\n"
          "                    are constants\n"
          "  --stable          first simplify every output (hmp simplify --inline\n"
          "                    --stable): softmax and log-sum-exp in the max-shifted\n"
          "                    form exp(s - m)/sum exp(s_k - m), m = max s_k, so that\n"
          "                    the C does not overflow for any scores in double range\n"
          "  --no-restructure  keep products associated as written\n"
          "  --dag-only        plain DAG sharing only (no extraction, no re-association)\n"
          "  -h, --help        this help\n"
          "\n"
          "exit status: 0 success, 1 output could not be written, 2 bad input or usage\n",
          out);
}

static int cse_usage_error(FILE *err, const char *msg, const char *arg)
{
    return cli_usage_error(err, "cse", cse_usage, msg, arg);
}

/* Every output's inlined value replaced by its simplification (algebra,
 * expsum, then stable): an equal value, so the program keeps its meaning. */
static int stable_outputs(input *in)
{
    sys *y = &in->system;
    if (!y->inlined) return -1;
    size_t n = y->n_outputs;
    term_id *t = mem_realloc(NULL, (n ? n : 1) * sizeof *t);
    for (size_t i = 0; i < n; i++) t[i] = sys_inline_relation(y, (size_t)sys_relation_of(y, y->outputs[i]));
    expsum_options opt;
    expsum_options_init(&opt);
    opt.stable = 1;
    expsum_simplifier x;
    expsum_simplifier_init(&x, &in->store, &opt);
    expsum_run(&x, t, n, y);
    for (size_t i = 0; i < n; i++) y->inlined[sys_relation_of(y, y->outputs[i])] = t[i];
    expsum_simplifier_clear(&x);
    free(t);
    return 0;
}

int cli_cse(int argc, char **argv, FILE *out, FILE *err)
{
    const char *path = NULL;
    int json = 0, emit_c = 0, stable = 0, options_done = 0;
    cse_options opt;
    cse_options_init(&opt);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0) options_done = 1;
            else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { cli_cse_help(out); return CLI_EXIT_OK; }
            else if (strcmp(a, "--json") == 0) json = 1;
            else if (strcmp(a, "--stable") == 0) stable = 1;
            else if (strcmp(a, "--no-restructure") == 0) opt.restructure = 0;
            else if (strcmp(a, "--dag-only") == 0) opt.restructure = opt.extract = 0;
            else if (strcmp(a, "--emit") == 0) {
                if (i + 1 >= argc || strcmp(argv[i + 1], "c") != 0)
                    return cse_usage_error(err, "--emit needs the language c, got", i + 1 < argc ? argv[i + 1] : "");
                emit_c = 1;
                i++;
            } else return cse_usage_error(err, "unknown option", a);
        } else if (path) {
            return cse_usage_error(err, "more than one FILE:", a);
        } else {
            path = a;
        }
    }
    if (!path) return cse_usage_error(err, "missing FILE (\"-\" reads standard input)", NULL);
    if (json && emit_c) return cse_usage_error(err, "--json and --emit c exclude each other", NULL);

    input in;
    int status = input_load(&in, path, err);
    if (status == 0) { /* outputs that mention -inf where it has no value */
        diag_list d;
        diag_init(&d);
        if (cse_check_outputs(&d, &in.system) > 0) {
            diag_print(err, &d);
            status = CLI_EXIT_INPUT;
        }
        diag_clear(&d);
    }
    if (status == 0 && stable && stable_outputs(&in) != 0) {
        fputs("hmp cse: error: the system cannot be inlined\n", err);
        status = CLI_EXIT_INPUT;
    } else if (status == 0) {
        cse_program p;
        if (cse_build(&p, &in.system, &opt) != 0) {
            fputs("hmp cse: error: the system cannot be inlined\n", err);
            status = CLI_EXIT_INPUT;
        } else {
            strbuf b;
            strbuf_init(&b);
            if (emit_c) cse_emit_c(&b, &p);
            else if (json) cse_print_json(&b, &p);
            else cse_print(&b, &p);
            status = cli_write(out, err, &b);
            strbuf_clear(&b);
        }
        cse_program_clear(&p);
    }
    input_clear(&in);
    return status;
}

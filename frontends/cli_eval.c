/* cli_eval: `hmp eval FILE`: the value of every output, correctly rounded to
 * N significant digits or to a floating-point format, or exactly. */
#include "frontends/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "eval/eval.h"
#include "rewrite/recognise.h"
#include "core/mem.h"
#include "frontends/input.h"

static const char eval_usage[] =
    "usage: hmp eval FILE|- [--digits N] [--format f64|f32|f16|bf16] [--exact] [--json]\n"
    "                       [--set NAME=VALUE ...] [--max-prec BITS] [--no-matrix]\n";

void cli_eval_help(FILE *out)
{
    fputs(eval_usage, out);
    fputs("\n"
          "Evaluates every output of the HMP script FILE (\"-\" reads standard input)\n"
          "and prints NAME = VALUE, one line per output. Every digit printed is\n"
          "certain: rational values are computed exactly; other values (exp, log,\n"
          "sqrt, tanh of rationals) are enclosed in Arb balls, and the working\n"
          "precision is doubled until the ball decides the rounding asked for\n"
          "(Ziv's strategy). A value that is exactly rational but not written as\n"
          "one (a softmax row with one key or equal scores) is found exactly.\n"
          "\n"
          "options:\n"
          "  --digits N       N significant decimal digits, rounded to nearest, ties\n"
          "                   to even (default 30, at most 1000000)\n"
          "  --format F       round to the format F instead: f64, f32, f16 (IEEE\n"
          "                   binary16) or bf16 (bfloat16), to nearest, ties to even,\n"
          "                   with subnormals and overflow to infinity as IEEE 754;\n"
          "                   printed as the shortest decimal of that value and its\n"
          "                   bits in hex\n"
          "  --exact          the exact value: a rational, or a quotient of sums of\n"
          "                   rational multiples of exp(rational), as HMP text\n"
          "  --json           one JSON object: {\"values\": {NAME: {\"decimal\": ...,\n"
          "                   \"exact\": ... (when asked, when the value folds to a\n"
          "                   number, or is a rational on a rounding tie), \"format\":\n"
          "                   ..., \"bits\": ..., \"value\": ... (with --format)}}}\n"
          "  --set NAME=VALUE give the free symbol NAME a value (an expression over\n"
          "                   numbers: 1/3, -0.25, sqrt(2)); repeatable\n"
          "  --max-prec BITS  the cap on the working precision (default: 64 times the\n"
          "                   first precision, at least 65536 bits); past it, an\n"
          "                   error names the outputs left undecided\n"
          "  --no-matrix      evaluate node by node (see below), for comparison\n"
          "  -h, --help       this help\n"
          "\n"
          "Matrix programs: when matrix recognition (hmp matrix) covers every output,\n"
          "with no relation left scalar and no free symbol, the values come from the\n"
          "matrix program: its rational stages exactly with integer matrices, the\n"
          "others (softmax rows, the products after them) in ball matrices. Scripts\n"
          "it does not cover, --exact, --set and --no-matrix evaluate node by node\n"
          "over the inlined DAG. Both ways print the same bytes.\n"
          "\n"
          "Errors: a syntax error, a free symbol an output depends on, a division by\n"
          "zero, the logarithm of a number <= 0 (each naming the relation), or the\n"
          "precision cap; nothing is printed on standard output then.\n"
          "\n"
          "exit status: 0 success, 1 output could not be written, 2 bad input or usage\n",
          out);
}

static int eval_usage_error(FILE *err, const char *msg, const char *arg)
{
    return cli_usage_error(err, "eval", eval_usage, msg, arg);
}

static int parse_long(long *v, const char *text, long lo, long hi)
{
    char *end;
    errno = 0;
    long x = strtol(text, &end, 10);
    if (errno || end == text || *end || x < lo || x > hi) return -1;
    *v = x;
    return 0;
}

/* Binds each --set NAME=VALUE to a free symbol of the system. */
static int bind_settings(input *in, char **settings, size_t n, FILE *err)
{
    for (size_t i = 0; i < n; i++) {
        const char *eq = strchr(settings[i], '=');
        if (!eq || eq == settings[i]) {
            fprintf(err, "hmp eval: --set needs NAME=VALUE, got '%s'\n", settings[i]);
            return CLI_EXIT_INPUT;
        }
        term_id name = term_sym(&in->store, settings[i], (size_t)(eq - settings[i]));
        char label[64];
        snprintf(label, sizeof label, "--set %.*s", (int)(eq - settings[i] > 40 ? 40 : eq - settings[i]), settings[i]);
        source src;
        source_from_string(&src, label, eq + 1, strlen(eq + 1));
        diag_list d;
        diag_init(&d);
        term_id value;
        int bad = parse_expr(&value, &in->store, &d, &src) != 0;
        if (!bad) {
            unsigned char *mark = mem_calloc((size_t)term_count(&in->store) + 1, 1);
            term_mark_reachable(mark, &in->store, &value, 1);
            for (term_id t = 1; t <= value && !bad; t++)
                if (mark[t] && term_op_of(&in->store, t) == OP_SYM) {
                    diag_error(&d, &src, (src_pos){ 0, 1, 1 }, "the value of %s must be made of numbers, not names like '%s'",
                               term_sym_name(&in->store, name), term_sym_name(&in->store, t));
                    bad = 1;
                }
            free(mark);
        }
        if (!bad && sys_bind(&in->system, name, value) != 0) {
            int32_t r = sys_relation_of(&in->system, name);
            if (r >= 0)
                diag_error(&d, &in->src, in->scr.rels[r].name_pos, "--set %s: '%s' is defined by the script",
                           term_sym_name(&in->store, name), term_sym_name(&in->store, name));
            else
                diag_error(&d, NULL, (src_pos){ 0, 0, 0 }, "--set %s given twice", term_sym_name(&in->store, name));
            bad = 1;
        }
        if (bad) diag_print(err, &d);
        diag_clear(&d);
        source_clear(&src);
        if (bad) return CLI_EXIT_INPUT;
    }
    return 0;
}

static void report(strbuf *b, const input *in, const eval_result *res, const eval_request *req, int json)
{
    const term_store *s = &in->store;
    if (!json) {
        for (size_t i = 0; i < res->n; i++) {
            const eval_value *v = &res->v[i];
            strbuf_printf(b, "%s = ", term_sym_name(s, v->name));
            if (req->want_exact) strbuf_puts(b, v->exact);
            else if (req->use_format) {
                strbuf_puts(b, v->format_value);
                strbuf_printf(b, "  (%s ", fp_info(req->format)->name);
                fp_print_bits(b, v->bits, req->format);
                strbuf_putc(b, ')');
            } else strbuf_puts(b, v->decimal);
            strbuf_putc(b, '\n');
        }
        return;
    }
    strbuf_puts(b, "{\n  \"values\": {");
    for (size_t i = 0; i < res->n; i++) {
        const eval_value *v = &res->v[i];
        strbuf_puts(b, i ? ",\n    " : "\n    ");
        strbuf_json_string(b, term_sym_name(s, v->name));
        strbuf_puts(b, ": {\"decimal\": ");
        strbuf_json_string(b, v->decimal);
        if (v->exact) {
            strbuf_puts(b, ", \"exact\": ");
            strbuf_json_string(b, v->exact);
        }
        if (req->use_format) {
            strbuf_printf(b, ", \"format\": \"%s\", \"bits\": \"", fp_info(req->format)->name);
            fp_print_bits(b, v->bits, req->format);
            strbuf_puts(b, "\", \"value\": ");
            strbuf_json_string(b, v->format_value);
        }
        strbuf_putc(b, '}');
    }
    strbuf_printf(b, "%s},\n  \"digits\": %ld\n}\n", res->n ? "\n  " : "", (long)req->digits);
}

int cli_eval(int argc, char **argv, FILE *out, FILE *err)
{
    eval_request req;
    eval_request_init(&req);
    const char *path = NULL;
    int json = 0, options_done = 0;
    char **settings = mem_calloc((size_t)argc, sizeof *settings);
    size_t n_settings = 0;
    int status = 0;
    for (int i = 1; i < argc && status == 0; i++) {
        const char *a = argv[i];
        int has_value = i + 1 < argc;
        long v;
        if (!options_done && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0) options_done = 1;
            else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { cli_eval_help(out); free(settings); return CLI_EXIT_OK; }
            else if (strcmp(a, "--json") == 0) json = 1;
            else if (strcmp(a, "--exact") == 0) req.want_exact = 1;
            else if (strcmp(a, "--no-matrix") == 0) req.no_matrix = 1;
            else if (strcmp(a, "--digits") == 0) {
                if (!has_value || parse_long(&v, argv[++i], 1, EVAL_MAX_DIGITS) != 0)
                    status = eval_usage_error(err, "--digits needs a number from 1 to 1000000, got", has_value ? argv[i] : "");
                else req.digits = v;
            } else if (strcmp(a, "--max-prec") == 0) {
                if (!has_value || parse_long(&v, argv[++i], 64, (long)1 << 40) != 0)
                    status = eval_usage_error(err, "--max-prec needs a number of bits >= 64, got", has_value ? argv[i] : "");
                else req.max_prec = v;
            } else if (strcmp(a, "--format") == 0) {
                if (!has_value || fp_format_from_name(&req.format, argv[++i]) != 0)
                    status = eval_usage_error(err, "--format needs f64, f32, f16 or bf16, got", has_value ? argv[i] : "");
                else req.use_format = 1;
            } else if (strcmp(a, "--set") == 0) {
                if (!has_value) status = eval_usage_error(err, "--set needs NAME=VALUE", NULL);
                else settings[n_settings++] = argv[++i];
            } else status = eval_usage_error(err, "unknown option", a);
        } else if (path) {
            status = eval_usage_error(err, "more than one FILE:", a);
        } else {
            path = a;
        }
    }
    if (status == 0 && !path) status = eval_usage_error(err, "missing FILE (\"-\" reads standard input)", NULL);
    if (status != 0) { free(settings); return status; }

    input in;
    status = input_load(&in, path, err);
    if (status == 0) status = bind_settings(&in, settings, n_settings, err);
    if (status == 0) {
        eval_result res;
        /* the matrix program first, when it can help: the evaluator never
         * recognises */
        mat_program prog, *p = NULL;
        if (eval_wants_program(&in.system, &req)) {
            mat_program_init(&prog, in.system.store);
            recog_program(&prog, &in.system);
            p = &prog;
        }
        int failed = eval_outputs(&res, &in.system, p, &req, &in.diags);
        if (p) mat_program_clear(p);
        if (failed) {
            diag_print(err, &in.diags);
            status = CLI_EXIT_INPUT;
        } else {
            strbuf b;
            strbuf_init(&b);
            report(&b, &in, &res, &req, json);
            status = cli_write(out, err, &b);
            strbuf_clear(&b);
            eval_result_clear(&res);
        }
    }
    input_clear(&in);
    free(settings);
    return status;
}

/* cli_check: `hmp check FILE --kernel naive|flash`: run a reference kernel
 * on the attention of a script and certify every output entry against the
 * exact attention of the stored inputs (attention/check). */
#include "frontends/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "attention/check.h"
#include "frontends/input.h"

static const char check_usage[] =
    "usage: hmp check FILE|- --kernel naive|flash [--compute f64|f32]\n"
    "                 [--storage f64|f32|f16|bf16] [--tile T] [--tol T] [--json]\n";

void cli_check_help(FILE *out)
{
    fputs(check_usage, out);
    fputs("\n"
          "Finds the attention O = softmax_rows(c * Q * K^T) * V of the HMP script FILE\n"
          "(\"-\" reads standard input) in its matrix program (hmp matrix FILE shows it;\n"
          "causal with masked_softmax_rows, one problem per head), rounds the exact Q, K\n"
          "and V to the storage format (each entry directly from its rational) and c to\n"
          "the nearest double, runs the kernel, and checks every output entry against\n"
          "the exact attention of the stored inputs with that scale: the bound of that\n"
          "kernel (docs/KERNELS.md), certified as by hmp verify (docs/VERIFY.md).\n"
          "Also, informational, ulp_err against the script's own exact outputs: it\n"
          "includes the rounding of the inputs to storage, and no bound is claimed.\n"
          "\n"
          "options:\n"
          "  --kernel K      naive (scores, softmax, weighted sum) or flash (online\n"
          "                  softmax over tiles of keys)\n"
          "  --compute F     the kernel's arithmetic: f64 (default) or f32\n"
          "  --storage F     inputs and output rounded to f64, f32, f16 or bf16\n"
          "                  (default: the compute format)\n"
          "  --tile T        flash: keys per tile (default 64)\n"
          "  --tol T         pass iff every entry has |o - x| <= T*u*|x| (|x| at least\n"
          "                  the smallest normal), instead of the kernel's bound\n"
          "  --json          everything as one JSON object\n"
          "  -h, --help      this help\n"
          "\n"
          "exit status: 0 pass, 1 fail (or output not written), 2 bad input or usage\n"
          "(a script whose outputs are not an attention is bad input)\n",
          out);
}

static int check_usage_error(FILE *err, const char *msg, const char *arg)
{
    return cli_usage_error(err, "check", check_usage, msg, arg);
}

int cli_check(int argc, char **argv, FILE *out, FILE *err)
{
    const char *path = NULL;
    int json = 0, options_done = 0, have_kernel = 0, have_storage = 0, have_tile = 0;
    check_options o;
    check_options_init(&o);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        const char *val = has ? argv[i + 1] : "";
        if (options_done || a[0] != '-' || a[1] == '\0') {
            if (path) return check_usage_error(err, "more than one FILE:", a);
            path = a;
        } else if (strcmp(a, "--") == 0) options_done = 1;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { cli_check_help(out); return CLI_EXIT_OK; }
        else if (strcmp(a, "--json") == 0) json = 1;
        else if (strcmp(a, "--kernel") == 0) {
            if (strcmp(val, "naive") == 0) o.kind = ATTN_NAIVE;
            else if (strcmp(val, "flash") == 0) o.kind = ATTN_FLASH;
            else return check_usage_error(err, "--kernel takes naive or flash, got", val);
            have_kernel = 1;
            i++;
        } else if (strcmp(a, "--compute") == 0) {
            if (fp_format_from_name(&o.compute, val) != 0 || (o.compute != FP_F64 && o.compute != FP_F32))
                return check_usage_error(err, "--compute takes f64 or f32, got", val);
            i++;
        } else if (strcmp(a, "--storage") == 0) {
            if (!has || fp_format_from_name(&o.storage, val) != 0)
                return check_usage_error(err, "--storage takes f64, f32, f16 or bf16, got", val);
            have_storage = 1;
            i++;
        } else if (strcmp(a, "--tile") == 0) {
            char *end;
            long t = has ? strtol(val, &end, 10) : 0;
            if (!has || *end || t < 1 || t > 1000000000L) return check_usage_error(err, "--tile needs a positive integer, got", val);
            o.tile = (size_t)t;
            have_tile = 1;
            i++;
        } else if (strcmp(a, "--tol") == 0) {
            char *end;
            o.tol = has ? strtod(val, &end) : 0;
            if (!has || *end || !(o.tol > 0) || !isfinite(o.tol)) return check_usage_error(err, "--tol needs a positive number, got", val);
            i++;
        } else return check_usage_error(err, "unknown option", a);
    }
    if (!path) return check_usage_error(err, "missing FILE (\"-\" reads standard input)", NULL);
    if (!have_kernel) return check_usage_error(err, "missing --kernel naive|flash", NULL);
    if (have_tile && o.kind != ATTN_FLASH) return check_usage_error(err, "--tile is for --kernel flash", NULL);
    if (!have_storage) o.storage = o.compute;

    input in;
    int status = input_load(&in, path, err);
    if (status == 0) {
        check_problem cp;
        check_report r;
        char msg[512];
        memset(&r, 0, sizeof r);
        if (check_prepare(&cp, &in.system, msg, sizeof msg) != 0) {
            fprintf(err, "hmp check: error: %s: not an attention the kernels can run: %s\n", path, msg);
            if (strcmp(path, "-") == 0) fputs("(hmp matrix on the same script shows the matrix program)\n", err);
            else fprintf(err, "(hmp matrix %s shows the matrix program)\n", path);
            status = CLI_EXIT_INPUT;
        } else if (check_run(&r, &cp, &o, msg, sizeof msg) != 0) {
            fprintf(err, "hmp check: error: %s: %s\n", path, msg);
            status = CLI_EXIT_INPUT;
        } else {
            strbuf b;
            strbuf_init(&b);
            if (json) check_print_json(&b, &cp, &r, &o);
            else check_print(&b, &cp, &r, &o);
            status = cli_write(out, err, &b);
            if (status == CLI_EXIT_OK && !r.vr.pass) status = 1;
            strbuf_clear(&b);
        }
        check_report_clear(&r);
        check_problem_clear(&cp);
    }
    input_clear(&in);
    return status;
}

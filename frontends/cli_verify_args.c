/* cli_verify_args: the command line of `hmp verify`: its usage and help,
 * the options parsed, and the options of the problem they set. */
#include "frontends/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attention/attn.h"
#include "core/parse.h"
#include "frontends/cli_verify_impl.h"

static const char verify_usage[] =
    "usage: hmp verify --q Q --k K --v V --out O [--scale S|auto] [--causal]\n"
    "                  [--causal-align bottom-right|top-left] [--window L,R] [--mask M]\n"
    "                  [--layout bhnd|bnhd]\n"
    "                  [--dtype F] [--compute f64|f32|f16|bf16] [--probs-dtype F]\n"
    "                  [--kernel naive|flash]\n"
    "                  [--tile T] [--tol T | --max-err-scaled T] [--ref-ratio]\n"
    "                  [--max-ref-ratio R] [--json] [--report DIR]\n";

void cli_verify_help(FILE *out)
{
    fputs(verify_usage, out);
    fputs("\n"
          "Checks the attention output O = softmax(Q*K^T*scale)*V computed by any kernel\n"
          "against the true value of the stored inputs (every float is an exact\n"
          "rational). For every entry: the correctly rounded true value in O's format,\n"
          "ulp_err = |o - x| / ulp(x) and err_scaled = |o - x| / (u * sum_j a_ij |v_jc|)\n"
          "(u = 2^-p of O's format), and whether it is within the bound. Every figure\n"
          "rests on certified enclosures of x (docs/VERIFY.md).\n"
          "\n"
          "files: .npy (format 1.0, 2.0, 3.0; '<f8', '<f4', '<f2'; '<u2' or a 2-byte\n"
          "void read as bfloat16 with --dtype bf16) or safetensors (F64, F32, F16,\n"
          "BF16) written FILE.safetensors:NAME; a mask may also be boolean ('|b1',\n"
          "BOOL) or an integer type ('|u1', '<i8', U8, I64 ...) holding 0 and 1.\n"
          "Shapes (n, d), (heads, n, d)\n"
          "or (batch, heads, n, d) (PyTorch's layout; --layout bnhd for\n"
          "FlashAttention's); Q, K, V, O must agree, except that K and V may have\n"
          "fewer heads than Q when they divide Q's (grouped-query and multi-query\n"
          "attention: query head h reads KV head h / (heads_q / heads_kv), as\n"
          "repeat_interleave and FlashAttention do). NaN or infinity in Q, K or V\n"
          "is bad input. Every option may also be written --option=value.\n"
          "\n"
          "options:\n"
          "  --q, --k, --v, --out FILE   the inputs and the output to check\n"
          "  --scale S|auto   the score scale: a number (exact: 0.125, 1/8) or auto =\n"
          "                   1/sqrt(d), exactly (default auto)\n"
          "  --causal         a causal mask: query i sees keys j <= i + n_k - n_q\n"
          "  --causal-align A where the causal mask starts when n_q != n_k:\n"
          "                   bottom-right (default; FlashAttention: the last query\n"
          "                   sees every key) or top-left (PyTorch's is_causal:\n"
          "                   j <= i); it aligns --window too\n"
          "  --window L,R     a sliding window, FlashAttention's window_size: query i\n"
          "                   sees keys i + n_k - n_q - L <= j <= i + n_k - n_q + R\n"
          "                   (bottom-right; i - L <= j <= i + R top-left); -1 leaves\n"
          "                   a side unbounded (--window 255,0: a causal window of 256)\n"
          "  --mask M         1 = attend, 0 = masked (bool, any integer type, or float),\n"
          "                   or an additive mask (0 = attend, -inf = masked): one\n"
          "                   (n_q, n_k) matrix for every problem, (heads, n_q, n_k) one\n"
          "                   per head, (batch, heads, n_q, n_k) one per problem; a\n"
          "                   leading 1 broadcasts, and n_q = 1 gives every query the\n"
          "                   same row ((batch, 1, 1, n_k) padding masks). A row with\n"
          "                   every key masked has true output 0 (the safe-softmax\n"
          "                   convention of PyTorch)\n"
          "  --layout L       bhnd (default): (batch, heads, n, d), PyTorch's; bnhd:\n"
          "                   (batch, n, heads, d), FlashAttention's, for Q, K, V and\n"
          "                   O (positions are printed in the files' layout)\n"
          "  --dtype F        the format every file must hold (f64, f32, f16, bf16;\n"
          "                   fp16, float16, half, torch.bfloat16 ... alike): another\n"
          "                   is bad input; bf16 also reads 2-byte integer or void\n"
          "                   arrays as bfloat16\n"
          "  --compute F      the precision the kernel computed in, for the a-priori\n"
          "                   bound (default f32; f64 when O is f64)\n"
          "  --probs-dtype F  the format the kernel rounds P = exp(s - m) to before\n"
          "                   P*V, its row sum kept wide (default: O's format when it\n"
          "                   is f16 or bf16, as FlashAttention's tensor-core product\n"
          "                   and PyTorch's softmax(s).to(v.dtype) @ v do; f32 or f64\n"
          "                   for a kernel that keeps P wide)\n"
          "  --kernel K       the bound of that kernel: naive, or flash (online\n"
          "                   softmax over tiles of keys); default: any kernel\n"
          "  --tile T         flash's tile of keys, for the bound (default: any tile;\n"
          "                   the bound for tile 1 holds for every tile and kernel)\n"
          "  --tol T          pass iff every entry has |o - x| <= T*u*|x| (|x| at least\n"
          "                   the smallest normal), instead of the a-priori bound: a\n"
          "                   correctly rounded output passes --tol 1\n"
          "  --max-err-scaled T  pass iff every entry has err_scaled <= T, instead of\n"
          "                   the a-priori bound (which grows with n and d)\n"
          "  --ref-ratio      also run hmp's naive kernel in the same precision model\n"
          "                   and report ref_ratio = max |o - x| / its max |o - x|\n"
          "  --max-ref-ratio R  with that, fail unless ref_ratio <= R as well (the rule\n"
          "                   of FlashAttention's tests: R = 2)\n"
          "  --json           everything as one JSON object\n"
          "  --report DIR     also write DIR/report.json (what --json prints),\n"
          "                   DIR/heatmap.svg (err_scaled over rows and columns) and\n"
          "                   DIR/histogram.svg (ulp_err); DIR is created if needed\n"
          "  -h, --help       this help\n"
          "\n"
          "exit status: 0 pass, 1 fail (or output not written), 2 bad input or usage\n",
          out);
}

static int verify_usage_error(FILE *err, const char *msg, const char *arg)
{
    return cli_usage_error(err, "verify", verify_usage, msg, arg);
}

/* A finite number > 0 in text (NULL: none): 0, or -1. */
static int positive_number(double *out, const char *text)
{
    char *end;
    if (!text) return -1;
    *out = strtod(text, &end);
    return *end || end == text || !(*out > 0) || !isfinite(*out) ? -1 : 0;
}

const char *const cli_verify_file_options[4] = { "--q", "--k", "--v", "--out" };

int cli_verify_parse(cli_verify_args *args, int argc, char **argv, FILE *out, FILE *err)
{
    const char *const *names = cli_verify_file_options;
    int status = 0;
    memset(args, 0, sizeof *args);
    args->scale_text = "auto";
    args->compute = FP_F32;
    for (int i = 1; i < argc && !status; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        int which = -1;
        for (int f = 0; f < 4; f++) if (strcmp(a, names[f]) == 0) which = f;
        if (which >= 0) {
            if (!has) status = verify_usage_error(err, "missing FILE after", a);
            else args->files[which] = argv[++i];
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_verify_help(out);
            args->help = 1;
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) args->json = 1;
        else if (strcmp(a, "--causal") == 0) args->causal = 1;
        else if (strcmp(a, "--mask") == 0) { if (!has) status = verify_usage_error(err, "missing FILE after", a); else args->mask_file = argv[++i]; }
        else if (strcmp(a, "--report") == 0) { if (!has) status = verify_usage_error(err, "missing DIR after", a); else args->report_dir = argv[++i]; }
        else if (strcmp(a, "--scale") == 0) { if (!has) status = verify_usage_error(err, "missing S after", a); else args->scale_text = argv[++i]; }
        else if (strcmp(a, "--dtype") == 0) {
            if (!has || fp_format_from_name(&args->dtype, argv[i + 1]) != 0)
                status = verify_usage_error(err, "--dtype takes f64, f32, f16 or bf16, got", has ? argv[i + 1] : "");
            else { args->have_dtype = 1; args->ro.u2_as_bf16 = args->dtype == FP_BF16; i++; }
        } else if (strcmp(a, "--layout") == 0) {
            if (!has || (strcmp(argv[i + 1], "bhnd") != 0 && strcmp(argv[i + 1], "bnhd") != 0))
                status = verify_usage_error(err, "--layout takes bhnd or bnhd, got", has ? argv[i + 1] : "");
            else args->bnhd = strcmp(argv[++i], "bnhd") == 0;
        } else if (strcmp(a, "--causal-align") == 0) {
            if (!has || (strcmp(argv[i + 1], "bottom-right") != 0 && strcmp(argv[i + 1], "top-left") != 0))
                status = verify_usage_error(err, "--causal-align takes bottom-right or top-left, got", has ? argv[i + 1] : "");
            else args->top_left = strcmp(argv[++i], "top-left") == 0;
        } else if (strcmp(a, "--compute") == 0) {
            if (!has || fp_format_from_name(&args->compute, argv[i + 1]) != 0) status = verify_usage_error(err, "--compute takes f64, f32, f16 or bf16, got", has ? argv[i + 1] : "");
            else { args->have_compute = 1; i++; }
        } else if (strcmp(a, "--probs-dtype") == 0) {
            if (!has || fp_format_from_name(&args->probs, argv[i + 1]) != 0)
                status = verify_usage_error(err, "--probs-dtype takes f64, f32, f16 or bf16, got", has ? argv[i + 1] : "");
            else { args->have_probs = 1; i++; }
        } else if (strcmp(a, "--kernel") == 0) {
            if (!has || (strcmp(argv[i + 1], "naive") != 0 && strcmp(argv[i + 1], "flash") != 0)) status = verify_usage_error(err, "--kernel takes naive or flash, got", has ? argv[i + 1] : "");
            else { args->bound_naive = strcmp(argv[++i], "naive") == 0; }
        } else if (strcmp(a, "--tile") == 0) {
            char *end;
            long t = has ? strtol(argv[i + 1], &end, 10) : 0;
            if (!has || *end || t < 1) status = verify_usage_error(err, "--tile needs a positive integer, got", has ? argv[i + 1] : "");
            else args->bound_tile = (size_t)t;
            i++;
        } else if (strcmp(a, "--tol") == 0) {
            if (positive_number(&args->tol, has ? argv[i + 1] : NULL) != 0)
                status = verify_usage_error(err, "--tol needs a positive number, got", has ? argv[i + 1] : "");
            i++;
        } else if (strcmp(a, "--window") == 0) {
            char *end = NULL, *end2 = NULL;
            const char *w = has ? argv[i + 1] : "";
            long long l = strtoll(w, &end, 10), r = 0;
            int ok = has && end != w && *end == ',' && (r = strtoll(end + 1, &end2, 10), end2 != end + 1 && *end2 == '\0') &&
                     l >= -1 && r >= -1;
            if (!ok) status = verify_usage_error(err, "--window needs L,R, two integers >= -1 (-1: unbounded), got", w);
            else { args->window = 1; args->window_left = l; args->window_right = r; }
            i++;
        } else if (strcmp(a, "--ref-ratio") == 0) {
            args->ref_ratio = 1;
        } else if (strcmp(a, "--max-ref-ratio") == 0) {
            if (positive_number(&args->max_ref_ratio, has ? argv[i + 1] : NULL) != 0)
                status = verify_usage_error(err, "--max-ref-ratio needs a positive number, got", has ? argv[i + 1] : "");
            i++;
        } else if (strcmp(a, "--max-err-scaled") == 0) {
            if (positive_number(&args->max_err_scaled, has ? argv[i + 1] : NULL) != 0)
                status = verify_usage_error(err, "--max-err-scaled needs a positive number, got", has ? argv[i + 1] : "");
            i++;
        } else status = verify_usage_error(err, "unknown option", a);
    }
    for (int f = 0; f < 4 && !status; f++)
        if (!args->files[f]) status = verify_usage_error(err, "missing", names[f]);
    if (!status && args->tol > 0 && args->max_err_scaled > 0)
        status = verify_usage_error(err, "--tol and --max-err-scaled are two verdicts: give one", NULL);
    if (!status && (args->ref_ratio || args->max_ref_ratio > 0) && args->have_compute && args->compute != FP_F64 &&
        args->compute != FP_F32)
        status = verify_usage_error(err, "--ref-ratio runs a kernel computing in f64 or f32, not", fp_info(args->compute)->name);
    return status;
}

/* Parses a rational number (0.125, 1/8, 1e-3) with the HMP parser. */
static int parse_scale(fmpq_t out, const char *text)
{
    term_store s;
    term_store_init(&s);
    source src;
    source_from_string(&src, "--scale", text, strlen(text));
    diag_list d;
    diag_init(&d);
    term_id t;
    int ok = parse_expr(&t, &s, &d, &src) == 0 && term_op_of(&s, t) == OP_NUM;
    if (ok) fmpq_set(out, term_value(&s, t));
    diag_clear(&d);
    source_clear(&src);
    term_store_clear(&s);
    return ok ? 0 : -1;
}

int cli_verify_options(verify_problem *p, const cli_verify_args *a, FILE *err)
{
    if (strcmp(a->scale_text, "auto") != 0) {
        p->scale_auto = 0;
        if (parse_scale(p->scale, a->scale_text) != 0)
            return verify_usage_error(err, "--scale needs a number or auto, got", a->scale_text);
    }
    p->causal = !a->causal ? ATTN_CAUSAL_NONE : a->top_left ? ATTN_CAUSAL_TOP_LEFT : ATTN_CAUSAL_BOTTOM_RIGHT;
    p->window = a->window;
    p->window_left = a->window_left;
    p->window_right = a->window_right;
    p->window_top_left = a->top_left;
    p->tol = a->tol;
    p->max_err_scaled = a->max_err_scaled;
    p->bound_naive = a->bound_naive;
    p->bound_tile = a->bound_tile;
    return CLI_EXIT_OK;
}

/* cli_verify: `hmp verify`: certify an attention output written by another
 * tool (.npy or safetensors) entry by entry: the correctly rounded true
 * value, the error in ULPs and relative to what was summed, and a verdict. */
#include "frontends/cli.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/strbuf.h"
#include "core/mem.h"
#include "core/parse.h"
#include "attention/verify.h"
#include "io/report.h"
#include "io/tensor.h"

static const char verify_usage[] =
    "usage: hmp verify --q Q --k K --v V --out O [--scale S|auto] [--causal] [--mask M]\n"
    "                  [--dtype bf16] [--compute f64|f32|f16|bf16] [--kernel naive|flash]\n"
    "                  [--tile T] [--tol T] [--json] [--report DIR]\n";

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
          "BOOL) or uint8 ('|u1', U8) holding 0 and 1. Shapes (n, d), (heads, n, d)\n"
          "or (batch, heads, n, d); Q, K, V, O must agree. NaN or infinity in Q, K\n"
          "or V is bad input.\n"
          "\n"
          "options:\n"
          "  --q, --k, --v, --out FILE   the inputs and the output to check\n"
          "  --scale S|auto   the score scale: a number (exact: 0.125, 1/8) or auto =\n"
          "                   1/sqrt(d), exactly (default auto)\n"
          "  --causal         query i sees keys j <= i + n_k - n_q\n"
          "  --mask M         1 = attend, 0 = masked (bool, uint8 or float), or an\n"
          "                   additive mask (0 = attend, -inf = masked): one (n_q, n_k)\n"
          "                   matrix for every problem, (heads, n_q, n_k) one per head,\n"
          "                   (batch, heads, n_q, n_k) one per problem; a leading 1\n"
          "                   broadcasts. A row with every key masked has true output\n"
          "                   0 (the safe-softmax convention of PyTorch)\n"
          "  --dtype bf16     read 2-byte integer or void arrays as bfloat16\n"
          "  --compute F      the precision the kernel computed in, for the a-priori\n"
          "                   bound (default f32; f64 when O is f64)\n"
          "  --kernel K       the bound of that kernel: naive, or flash (online\n"
          "                   softmax over tiles of keys); default: any kernel\n"
          "  --tile T         flash's tile of keys, for the bound (default: any tile;\n"
          "                   the bound for tile 1 holds for every tile and kernel)\n"
          "  --tol T          pass iff every entry has |o - x| <= T*u*|x| (|x| at least\n"
          "                   the smallest normal), instead of the a-priori bound: a\n"
          "                   correctly rounded output passes --tol 1\n"
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

/* FILE or FILE.safetensors:NAME */
static int read_arg(tensor *t, const char *arg, const tensor_read_options *ro, FILE *err)
{
    char *path = mem_strdup(arg);
    const char *name = NULL;
    char *colon = strrchr(path, ':');
    if (colon && colon - path >= 12 && strncmp(colon - 12, ".safetensors", 12) == 0) {
        *colon = '\0';
        name = colon + 1;
    }
    char msg[512];
    int rc = tensor_read(t, path, name, ro, msg, sizeof msg);
    if (rc != 0) fprintf(err, "hmp verify: error: %s\n", msg);
    free(path);
    return rc;
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

static void progress_bar(double done, void *ctx)
{
    FILE *err = ctx;
    int width = 40, filled = (int)(done * width);
    fprintf(err, "\rverify [%.*s%*s] %3d%%", filled, "########################################", width - filled, "",
            (int)(done * 100));
    if (done >= 1) fputs("\r                                                       \r", err);
    fflush(err);
}

static void put_index(strbuf *b, size_t flat, const tensor *o, int json)
{
    size_t idx[TENSOR_MAX_DIMS];
    for (int a = o->ndim - 1; a >= 0; a--) {
        idx[a] = o->shape[a] ? flat % o->shape[a] : 0;
        flat = o->shape[a] ? flat / o->shape[a] : 0;
    }
    strbuf_putc(b, '[');
    for (int a = 0; a < o->ndim; a++) strbuf_printf(b, a ? (json ? ", %zu" : ",%zu") : "%zu", idx[a]);
    strbuf_putc(b, ']');
}

static void put_num(strbuf *b, double x)
{
    if (isnan(x)) strbuf_puts(b, "null");
    else if (isinf(x)) strbuf_puts(b, x > 0 ? "1e999" : "-1e999");
    else strbuf_printf(b, "%.17g", x);
}

/* An error measure: 6 significant digits, well within what the enclosures
 * of the truth guarantee, so the bytes do not depend on how the truth was
 * enclosed (which pass, how many threads). */
static void put_err(strbuf *b, double x)
{
    if (isnan(x) || isinf(x)) put_num(b, x);
    else strbuf_printf(b, "%.6g", x);
}

/* The report as one JSON object (--json, and report.json of --report). */
static void put_json(strbuf *b, const verify_report *r, const verify_problem *p, const tensor *o)
{
    strbuf_printf(b, "{\n  \"entries\": %zu,\n  \"format\": \"%s\",\n  \"compute\": \"%s\",\n", r->entries,
              fp_info(p->out_format)->name, fp_info(p->compute)->name);
    strbuf_puts(b, "  \"max_ulp_err\": "); put_err(b, r->max_ulp_err);
    strbuf_puts(b, ",\n  \"median_ulp_err\": "); put_err(b, r->median_ulp_err);
    strbuf_puts(b, ",\n  \"max_err_scaled\": "); put_err(b, r->max_err_scaled);
    strbuf_puts(b, ",\n  \"median_err_scaled\": "); put_err(b, r->median_err_scaled);
    strbuf_printf(b, ",\n  \"correctly_rounded\": %zu,\n  \"over_bound\": %zu,\n  \"nonfinite\": %zu,\n  \"refined\": %zu,\n  \"fallback\": %zu,\n", r->correctly_rounded, r->over_bound, r->nonfinite, r->refined, r->fallback);
    strbuf_puts(b, "  \"bound\": "); put_num(b, r->bound);
    strbuf_printf(b, ",\n  \"bound_kind\": \"%s\",\n  \"worst\": [", p->tol > 0 ? "tol" : "a priori");
    for (size_t w = 0; w < r->n_worst; w++) {
        const verify_entry *e = &r->worst[w];
        strbuf_puts(b, w ? ",\n    {\"index\": " : "\n    {\"index\": ");
        put_index(b, e->index, o, 1);
        strbuf_puts(b, ", \"value\": "); put_num(b, e->value);
        strbuf_puts(b, ", \"true\": "); put_num(b, e->truth);
        strbuf_puts(b, ", \"ulp_err\": "); put_err(b, e->ulp_err);
        strbuf_puts(b, ", \"err_scaled\": "); put_err(b, e->err_scaled);
        strbuf_putc(b, '}');
    }
    strbuf_printf(b, "%s],\n  \"pass\": %s\n}\n", r->n_worst ? "\n  " : "", r->pass ? "true" : "false");
}

/* The shapes a mask may have for inputs of ndim dimensions, for messages. */
static void mask_shapes(strbuf *b, const tensor *Q, size_t nq, size_t nk)
{
    int nd = Q->ndim;
    strbuf_printf(b, "(n_q, n_k) = (%zu, %zu)", nq, nk);
    if (nd >= 3) strbuf_printf(b, "%s(heads, n_q, n_k) = (%zu, %zu, %zu)", nd == 3 ? " or " : ", ", Q->shape[nd - 3], nq, nk);
    if (nd == 4) strbuf_printf(b, " or (batch, heads, n_q, n_k) = (%zu, %zu, %zu, %zu)", Q->shape[0], Q->shape[1], nq, nk);
    if (nd >= 3) strbuf_puts(b, "; a leading 1 broadcasts");
}

/* The mask as verify_problem takes it: *count matrices n_q x n_k back to
 * back (1 = attend), problem b using matrix b % count. mk is (n_q, n_k),
 * (heads, n_q, n_k) or (batch, heads, n_q, n_k), right-aligned against Q's
 * leading dimensions, each leading one equal to Q's or 1 (broadcast). 0, or
 * CLI_EXIT_INPUT with a message. */
static int mask_build(unsigned char **out, size_t *count, const tensor *mk, const tensor *Q, size_t nq, size_t nk,
                      const char *file, FILE *err)
{
    int nd = Q->ndim, m = mk->ndim, lead = nd - 2;
    size_t qb = lead == 2 ? Q->shape[0] : 1, qh = lead >= 1 ? Q->shape[nd - 3] : 1;
    size_t mb = m == 4 ? mk->shape[0] : 1, mh = m >= 3 ? mk->shape[m - 3] : 1;
    if (m < 2 || m > nd || mk->shape[m - 2] != nq || mk->shape[m - 1] != nk || (mh != qh && mh != 1) ||
        (mb != qb && mb != 1)) {
        char shape[256];
        size_t k = (size_t)snprintf(shape, sizeof shape, "(");
        for (int a = 0; a < m && k < sizeof shape; a++) k += (size_t)snprintf(shape + k, sizeof shape - k, "%s%zu", a ? ", " : "", mk->shape[a]);
        if (k < sizeof shape) snprintf(shape + k, sizeof shape - k, m == 1 ? ",)" : ")");
        strbuf b;
        strbuf_init(&b);
        mask_shapes(&b, Q, nq, nk);
        fprintf(err, "hmp verify: error: %s: the mask is %s; expected %s\n", file, shape, strbuf_str(&b));
        strbuf_clear(&b);
        return CLI_EXIT_INPUT;
    }
    int additive = 0;
    for (size_t e = 0; e < mk->count && !mk->boolean; e++) if (isinf(mk->data[e]) && mk->data[e] < 0) additive = 1;
    for (size_t e = 0; e < mk->count; e++) {
        double v = mk->data[e];
        if (additive ? !(v == 0 || (isinf(v) && v < 0)) : !(v == 0 || v == 1)) {
            fprintf(err, "hmp verify: error: %s: mask values must be 0/1, or 0/-inf (got %g at entry %zu)\n", file, v, e);
            return CLI_EXIT_INPUT;
        }
    }
    size_t mat = nq * nk, n, bytes;
    if (mb == 1 && mh == 1) n = 1;
    else if (mb == 1) n = qh;          /* one per head, shared by every batch */
    else n = qb * qh;                  /* one per problem (expanded when (batch, 1, ...)) */
    if (__builtin_mul_overflow(n, mat, &bytes)) {
        fprintf(err, "hmp verify: error: %s: the mask is too large\n", file);
        return CLI_EXIT_INPUT;
    }
    unsigned char *mask = mem_calloc(bytes ? bytes : 1, 1);
    for (size_t b = 0; b < n; b++) {
        size_t src = mb == 1 || mh == qh ? b : b / qh; /* (batch, 1, ...) repeats over heads */
        for (size_t x = 0; x < mat; x++) {
            double v = mk->data[src * mat + x];
            mask[b * mat + x] = additive ? v == 0 : v == 1;
        }
    }
    *out = mask;
    *count = n;
    return 0;
}

int cli_verify(int argc, char **argv, FILE *out, FILE *err)
{
    const char *files[4] = { NULL, NULL, NULL, NULL }, *mask_file = NULL, *scale_text = "auto", *report_dir = NULL;
    int json = 0, causal = 0, have_compute = 0, status = 0, bound_naive = 0;
    size_t bound_tile = 0;
    double tol = 0;
    fp_format compute = FP_F32;
    tensor_read_options ro = { 0 };
    static const char *names[4] = { "--q", "--k", "--v", "--out" };
    for (int i = 1; i < argc && !status; i++) {
        const char *a = argv[i];
        int has = i + 1 < argc;
        int which = -1;
        for (int f = 0; f < 4; f++) if (strcmp(a, names[f]) == 0) which = f;
        if (which >= 0) {
            if (!has) status = verify_usage_error(err, "missing FILE after", a);
            else files[which] = argv[++i];
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            cli_verify_help(out);
            return CLI_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) json = 1;
        else if (strcmp(a, "--causal") == 0) causal = 1;
        else if (strcmp(a, "--mask") == 0) { if (!has) status = verify_usage_error(err, "missing FILE after", a); else mask_file = argv[++i]; }
        else if (strcmp(a, "--report") == 0) { if (!has) status = verify_usage_error(err, "missing DIR after", a); else report_dir = argv[++i]; }
        else if (strcmp(a, "--scale") == 0) { if (!has) status = verify_usage_error(err, "missing S after", a); else scale_text = argv[++i]; }
        else if (strcmp(a, "--dtype") == 0) {
            if (!has || strcmp(argv[i + 1], "bf16") != 0) status = verify_usage_error(err, "--dtype takes bf16, got", has ? argv[i + 1] : "");
            else { ro.u2_as_bf16 = 1; i++; }
        } else if (strcmp(a, "--compute") == 0) {
            if (!has || fp_format_from_name(&compute, argv[i + 1]) != 0) status = verify_usage_error(err, "--compute takes f64, f32, f16 or bf16, got", has ? argv[i + 1] : "");
            else { have_compute = 1; i++; }
        } else if (strcmp(a, "--kernel") == 0) {
            if (!has || (strcmp(argv[i + 1], "naive") != 0 && strcmp(argv[i + 1], "flash") != 0)) status = verify_usage_error(err, "--kernel takes naive or flash, got", has ? argv[i + 1] : "");
            else { bound_naive = strcmp(argv[++i], "naive") == 0; }
        } else if (strcmp(a, "--tile") == 0) {
            char *end;
            long t = has ? strtol(argv[i + 1], &end, 10) : 0;
            if (!has || *end || t < 1) status = verify_usage_error(err, "--tile needs a positive integer, got", has ? argv[i + 1] : "");
            else bound_tile = (size_t)t;
            i++;
        } else if (strcmp(a, "--tol") == 0) {
            char *end;
            tol = has ? strtod(argv[i + 1], &end) : 0;
            if (!has || *end || !(tol > 0) || !isfinite(tol)) status = verify_usage_error(err, "--tol needs a positive number, got", has ? argv[i + 1] : "");
            i++;
        } else status = verify_usage_error(err, "unknown option", a);
    }
    for (int f = 0; f < 4 && !status; f++)
        if (!files[f]) status = verify_usage_error(err, "missing", names[f]);
    if (status) return status;

    verify_problem p;
    verify_problem_init(&p);
    if (strcmp(scale_text, "auto") != 0) {
        p.scale_auto = 0;
        if (parse_scale(p.scale, scale_text) != 0) { verify_problem_clear(&p); return verify_usage_error(err, "--scale needs a number or auto, got", scale_text); }
    }
    tensor t[4], mk;
    for (int f = 0; f < 4; f++) tensor_init(&t[f]);
    tensor_init(&mk);
    unsigned char *mask = NULL;
    for (int f = 0; f < 4 && !status; f++) if (read_arg(&t[f], files[f], &ro, err) != 0) status = CLI_EXIT_INPUT;
    tensor_read_options mask_ro = ro;
    mask_ro.allow_bool = 1;
    if (!status && mask_file && read_arg(&mk, mask_file, &mask_ro, err) != 0) status = CLI_EXIT_INPUT;
    /* shapes: (..., n, d) with equal leading dimensions */
    if (!status) {
        const tensor *Q = &t[0], *K = &t[1], *V = &t[2], *O = &t[3];
        int nd = Q->ndim;
        if (nd < 2 || nd > 4) { fprintf(err, "hmp verify: error: Q has %d dimensions; expected (n, d), (heads, n, d) or (batch, heads, n, d)\n", nd); status = CLI_EXIT_INPUT; }
        for (int f = 1; f < 4 && !status; f++)
            if (t[f].ndim != nd) { fprintf(err, "hmp verify: error: %s has %d dimensions, Q has %d\n", names[f] + 2, t[f].ndim, nd); status = CLI_EXIT_INPUT; }
        size_t count = 1;
        for (int a = 0; a < nd - 2 && !status; a++) {
            for (int f = 1; f < 4; f++)
                if (t[f].shape[a] != Q->shape[a]) { fprintf(err, "hmp verify: error: dimension %d of %s is %zu, of Q %zu\n", a, names[f] + 2, t[f].shape[a], Q->shape[a]); status = CLI_EXIT_INPUT; break; }
            count *= Q->shape[a];
        }
        if (!status) {
            size_t nq = Q->shape[nd - 2], d = Q->shape[nd - 1], nk = K->shape[nd - 2], dv = V->shape[nd - 1];
            if (K->shape[nd - 1] != d) { fprintf(err, "hmp verify: error: K has rows of %zu, Q of %zu\n", K->shape[nd - 1], d); status = CLI_EXIT_INPUT; }
            else if (V->shape[nd - 2] != nk) { fprintf(err, "hmp verify: error: V has %zu rows, K has %zu\n", V->shape[nd - 2], nk); status = CLI_EXIT_INPUT; }
            else if (O->shape[nd - 2] != nq || O->shape[nd - 1] != dv) { fprintf(err, "hmp verify: error: O is %zu x %zu, expected %zu x %zu\n", O->shape[nd - 2], O->shape[nd - 1], nq, dv); status = CLI_EXIT_INPUT; }
            else if (p.scale_auto && d == 0) { fprintf(err, "hmp verify: error: --scale auto needs d >= 1\n"); status = CLI_EXIT_INPUT; }
            p.count = count; p.n_q = nq; p.n_k = nk; p.d = d; p.d_v = dv;
        }
    }
    for (int f = 0; f < 3 && !status; f++) {
        char where[128];
        if (tensor_first_nonfinite(&t[f], where, sizeof where)) {
            fprintf(err, "hmp verify: error: %s: %s at [%s] is not a finite number\n", files[f], names[f] + 2, where);
            status = CLI_EXIT_INPUT;
        }
    }
    if (!status && mask_file) status = mask_build(&mask, &p.mask_count, &mk, &t[0], p.n_q, p.n_k, mask_file, err);
    if (!status) {
        p.q = t[0].data; p.k = t[1].data; p.v = t[2].data; p.o = t[3].data;
        p.mask = mask;
        p.causal = causal;
        p.out_format = t[3].dtype;
        p.compute = have_compute ? compute : (t[3].dtype == FP_F64 ? FP_F64 : FP_F32);
        p.tol = tol;
        p.bound_naive = bound_naive;
        p.bound_tile = bound_tile;
        verify_report r;
        char msg[256];
        int tty = isatty(fileno(err)) && p.count * p.n_q * p.n_k * (p.d + p.d_v) > 50000000;
        if (verify_run(&r, &p, tty ? progress_bar : NULL, err, msg, sizeof msg) != 0) {
            fprintf(err, "hmp verify: error: %s\n", msg);
            status = CLI_EXIT_INPUT;
        } else {
            strbuf b, js;
            strbuf_init(&b);
            strbuf_init(&js);
            const char *fmt = fp_info(p.out_format)->name;
            if (json || report_dir) put_json(&js, &r, &p, &t[3]);
            if (json) {
                strbuf_putn(&b, strbuf_str(&js), js.len);
            } else {
                strbuf_printf(&b, "entries            %zu (%s output, bound for %s compute, %s)\n", r.entries, fmt, fp_info(p.compute)->name,
                          p.bound_naive ? "naive kernel" : p.bound_tile ? "flash kernel" : "any kernel");
                strbuf_printf(&b, "correctly rounded  %zu (%.2f%%)\n", r.correctly_rounded, r.entries ? 100.0 * r.correctly_rounded / r.entries : 100.0);
                strbuf_printf(&b, "ulp_err            max %.4g, median %.4g\n", r.max_ulp_err, r.median_ulp_err);
                strbuf_printf(&b, "err_scaled         max %.4g, median %.4g\n", r.max_err_scaled, r.median_err_scaled);
                strbuf_printf(&b, "bound              %.4g (%s), over it: %zu\n", r.bound, p.tol > 0 ? "--tol, relative error in units of u" : "a priori, err_scaled", r.over_bound);
                strbuf_printf(&b, "nonfinite          %zu\n", r.nonfinite);
                if (r.n_worst) strbuf_puts(&b, "worst entries:\n");
                for (size_t w = 0; w < r.n_worst; w++) {
                    const verify_entry *e = &r.worst[w];
                    strbuf_puts(&b, "  ");
                    put_index(&b, e->index, &t[3], 0);
                    strbuf_printf(&b, "  value %.9g  true %.9g  ulp_err %.4g  err_scaled %.4g\n", e->value, e->truth, e->ulp_err, e->err_scaled);
                }
                strbuf_puts(&b, r.pass ? "PASS\n" : "FAIL\n");
            }
            status = cli_write(out, err, &b);
            if (status == CLI_EXIT_OK && report_dir) {
                report_input in = { .r = &r, .count = p.count, .n_q = p.n_q, .d_v = p.d_v, .lead_dims = t[3].ndim - 2,
                                    .heads = t[3].ndim == 4 ? t[3].shape[1] : 0, .over = NULL, .tol = p.tol > 0, .title = files[3] };
                in.over = r.over;
                char msg2[1024];
                if (report_write(report_dir, strbuf_str(&js), &in, msg2, sizeof msg2) != 0) {
                    fprintf(err, "hmp verify: error: %s\n", msg2);
                    status = CLI_EXIT_IO;
                }
            }
            if (status == CLI_EXIT_OK && !r.pass) status = 1;
            strbuf_clear(&b);
            strbuf_clear(&js);
            verify_report_clear(&r);
        }
    }
    free(mask);
    for (int f = 0; f < 4; f++) tensor_clear(&t[f]);
    tensor_clear(&mk);
    verify_problem_clear(&p);
    return status;
}

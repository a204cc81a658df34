/* cli_verify: `hmp verify`: certify an attention output written by another
 * tool (.npy or safetensors) entry by entry: the correctly rounded true
 * value, the error in ULPs and relative to what was summed, and a verdict. */
#include "frontends/cli.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/strbuf.h"
#include "core/mem.h"
#include "attention/attn.h"
#include "attention/convention.h"
#include "attention/reference.h"
#include "attention/summary.h"
#include "attention/verify.h"
#include "io/layout.h"
#include "io/report.h"
#include "io/tensor.h"
#include "frontends/cli_verify_impl.h"

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

static void progress_bar(double done, void *ctx)
{
    FILE *err = ctx;
    int width = 40, filled = (int)(done * width);
    fprintf(err, "\rverify [%.*s%*s] %3d%%", filled, "########################################", width - filled, "",
            (int)(done * 100));
    if (done >= 1) fputs("\r                                                       \r", err);
    fflush(err);
}

/* The output as verify reads it, and the layout of its file. */
typedef struct index_ctx {
    const tensor *o; /* (..., heads, n, d_v) */
    int bnhd;        /* the file is (..., n, heads, d_v) */
} index_ctx;

/* Entry flat of the output as [i,j,k] ([i, j, k] in JSON), in the file's
 * layout. */
static void put_index(strbuf *b, size_t flat, int json, const void *ctx)
{
    const index_ctx *ic = ctx;
    const tensor *o = ic->o;
    size_t idx[TENSOR_MAX_DIMS];
    for (int a = o->ndim - 1; a >= 0; a--) {
        idx[a] = o->shape[a] ? flat % o->shape[a] : 0;
        flat = o->shape[a] ? flat / o->shape[a] : 0;
    }
    if (ic->bnhd) layout_swap_heads(idx, o->ndim);
    strbuf_putc(b, '[');
    for (int a = 0; a < o->ndim; a++) strbuf_printf(b, a ? (json ? ", %zu" : ",%zu") : "%zu", idx[a]);
    strbuf_putc(b, ']');
}

/* The shape of t as its file has it, as a JSON list. */
static void put_shape(strbuf *b, const tensor *t, int bnhd)
{
    size_t shape[TENSOR_MAX_DIMS];
    for (int a = 0; a < t->ndim; a++) shape[a] = t->shape[a];
    if (bnhd) layout_swap_heads(shape, t->ndim);
    strbuf_putc(b, '[');
    for (int a = 0; a < t->ndim; a++) strbuf_printf(b, a ? ", %zu" : "%zu", shape[a]);
    strbuf_putc(b, ']');
}

/* What the run assumed of the kernel, as one JSON object. */
static void put_settings(strbuf *b, const verify_problem *p, const tensor t[4], const cli_verify_args *a)
{
    static const char *const names[4] = { "q", "k", "v", "out" };
    strbuf_puts(b, "  \"settings\": {\"shapes\": {");
    for (int f = 0; f < 4; f++) {
        strbuf_printf(b, "%s\"%s\": ", f ? ", " : "", names[f]);
        put_shape(b, &t[f], a->bnhd);
    }
    strbuf_printf(b, "}, \"layout\": \"%s\", \"heads\": %zu, \"kv_heads\": %zu, \"scale\": ", a->bnhd ? "bnhd" : "bhnd",
                  p->heads ? p->heads : 1, p->kv_heads ? p->kv_heads : 1);
    strbuf_json_string(b, a->scale_text);
    strbuf_printf(b, ", \"causal\": %s, \"causal_align\": \"%s\", \"window\": ", a->causal ? "true" : "false",
                  a->top_left ? "top-left" : "bottom-right");
    if (a->window) strbuf_printf(b, "[%lld, %lld]", a->window_left, a->window_right);
    else strbuf_puts(b, "null");
    strbuf_puts(b, ", \"mask\": ");
    if (a->mask_file) strbuf_json_string(b, a->mask_file);
    else strbuf_puts(b, "null");
    strbuf_printf(b, ", \"formats\": {");
    for (int f = 0; f < 4; f++) strbuf_printf(b, "%s\"%s\": \"%s\"", f ? ", " : "", names[f], fp_info(t[f].dtype)->name);
    strbuf_printf(b, "}, \"compute\": \"%s\", \"probs_dtype\": \"%s\", \"kernel\": \"%s\", \"tile\": ",
                  fp_info(p->compute)->name, fp_info(p->probs_rounded ? p->probs : p->compute)->name,
                  p->bound_naive ? "naive" : p->bound_tile ? "flash" : "any");
    if (p->bound_tile) strbuf_printf(b, "%zu", p->bound_tile);
    else strbuf_puts(b, "null");
    strbuf_printf(b, ", \"verdict\": \"%s\"},\n",
                  p->tol > 0 ? "tol" : p->max_err_scaled > 0 ? "max-err-scaled" : "a priori");
}

/* What the report adds to verify's summary: the conventions under which a
 * failing run's problem passes, and the reference ratio. */
typedef struct extras {
    unsigned char fixes[CONVENTION_COUNT_];
    size_t n, problem;
    int ref;                  /* --ref-ratio or --max-ref-ratio: computed */
    double out_err, ref_err, ratio;
    int ref_fail;             /* over --max-ref-ratio */
} extras;

/* What the user would change for fix f, in the words of the command line. */
static const char *fix_text(convention_fix f, const verify_problem *p, int bnhd)
{
    switch (f) {
    case CONVENTION_CAUSAL_ON: return "--causal";
    case CONVENTION_CAUSAL_TOP_LEFT: return "--causal --causal-align top-left";
    case CONVENTION_CAUSAL_OFF: return "no --causal";
    case CONVENTION_ALIGN_OTHER:
        return p->causal == ATTN_CAUSAL_TOP_LEFT ? "--causal-align bottom-right" : "--causal-align top-left";
    case CONVENTION_SCALE_ONE: return "--scale 1";
    case CONVENTION_SCALE_AUTO: return "--scale auto";
    case CONVENTION_KV_SWAPPED: return "--k and --v swapped";
    case CONVENTION_GQA_TILED:
        return "K and V heads read tiled (query head h on KV head h % kv_heads; hmp reads them repeated, as "
               "repeat_interleave and FlashAttention do)";
    case CONVENTION_LAYOUT_OTHER:
        return bnhd ? "--layout bhnd (PyTorch's (batch, heads, n, d))" : "--layout bnhd (FlashAttention's (batch, n, heads, d))";
    default: return "?";
    }
}

/* The failing problem tried, as [batch,head] of the files. */
static void put_problem(strbuf *b, const verify_problem *p, size_t problem)
{
    size_t heads = p->heads ? p->heads : 1;
    if (p->count == heads) strbuf_printf(b, "head %zu", problem);
    else strbuf_printf(b, "problem [%zu,%zu]", problem / heads, problem % heads);
}

static void put_hints_text(strbuf *b, const extras *h, const verify_problem *p, int bnhd)
{
    for (int f = 0; f < CONVENTION_COUNT_; f++) {
        if (!h->fixes[f]) continue;
        strbuf_printf(b, "hint: it passes with %s (tried on ", fix_text((convention_fix)f, p, bnhd));
        put_problem(b, p, h->problem);
        strbuf_puts(b, ")\n");
    }
}

/* The report as one JSON object (--json, and report.json of --report). */
static void put_json(strbuf *b, const verify_report *r, const verify_problem *p, const tensor t[4],
                     const cli_verify_args *a, const summary_style *s, const extras *h)
{
    strbuf_printf(b, "{\n  \"entries\": %zu,\n  \"format\": \"%s\",\n  \"compute\": \"%s\",\n", r->entries,
                  fp_info(p->out_format)->name, fp_info(p->compute)->name);
    put_settings(b, p, t, a);
    summary_json(b, r, s);
    strbuf_puts(b, ",\n  \"hints\": [");
    size_t k = 0;
    for (int f = 0; f < CONVENTION_COUNT_; f++) {
        if (!h->fixes[f]) continue;
        strbuf_puts(b, k++ ? ", " : "");
        strbuf_json_string(b, fix_text((convention_fix)f, p, a->bnhd));
    }
    strbuf_puts(b, "]");
    if (h->ref) {
        strbuf_puts(b, ",\n  \"ref_ratio\": "); summary_json_err(b, h->ratio);
        strbuf_puts(b, ",\n  \"out_err\": "); summary_json_num(b, h->out_err);
        strbuf_puts(b, ",\n  \"ref_err\": "); summary_json_num(b, h->ref_err);
        strbuf_puts(b, ",\n  \"max_ref_ratio\": ");
        if (a->max_ref_ratio > 0) summary_json_num(b, a->max_ref_ratio);
        else strbuf_puts(b, "null");
    }
    summary_json_end(b, r);
}

/* The report as text. */
static void put_text(strbuf *b, const verify_report *r, const verify_problem *p, const summary_style *s, const extras *h,
                     const cli_verify_args *a)
{
    char note[128];
    if (p->tol > 0 || p->max_err_scaled > 0)
        snprintf(note, sizeof note, "%s output, judged by %s", fp_info(p->out_format)->name,
                 p->tol > 0 ? "--tol" : "--max-err-scaled");
    else
        snprintf(note, sizeof note, "%s output, bound for %s compute%s%s, %s", fp_info(p->out_format)->name,
                 fp_info(p->compute)->name, p->probs_rounded ? ", P in " : "",
                 p->probs_rounded ? fp_info(p->probs)->name : "",
                 p->bound_naive ? "naive kernel" : p->bound_tile ? "flash kernel" : "any kernel");
    summary_text(b, r, note, s);
    if (h->ref) {
        strbuf_printf(b, "ref_ratio          %.4g (max |o - x| %.4g; hmp's naive kernel in the same precision %.4g)",
                      h->ratio, h->out_err, h->ref_err);
        if (a->max_ref_ratio > 0) strbuf_printf(b, ", limit %.4g%s", a->max_ref_ratio, h->ref_fail ? ": over it" : "");
        strbuf_putc(b, '\n');
    }
    put_hints_text(b, h, p, a->bnhd);
    summary_verdict(b, r);
}

/* Prints the report of a run and writes --report DIR: the exit status. */
static int print_report(const verify_report *r, const verify_problem *p, const tensor t[4], const cli_verify_args *a,
                        FILE *out, FILE *err)
{
    const tensor *o = &t[3];
    index_ctx ic = { .o = o, .bnhd = a->bnhd };
    summary_style style = { .put_index = put_index, .ctx = &ic, .tol = p->tol > 0,
                            .max_err_scaled = p->max_err_scaled > 0, .mark_over = 0 };
    extras h;
    memset(&h, 0, sizeof h);
    if (convention_worth_trying(r)) h.n = convention_diagnose(h.fixes, &h.problem, p, r);
    verify_report final = *r; /* the verdict with --max-ref-ratio; shares r's arrays */
    if (a->ref_ratio || a->max_ref_ratio > 0) {
        if (reference_errors(&h.out_err, &h.ref_err, p, r) != 0) {
            fprintf(err, "hmp verify: error: no reference kernel computes in %s; --ref-ratio needs f64 or f32 compute\n",
                    fp_info(p->compute)->name);
            return CLI_EXIT_INPUT;
        }
        h.ref = 1;
        h.ratio = reference_ratio(h.out_err, h.ref_err);
        h.ref_fail = a->max_ref_ratio > 0 && !(h.ratio <= a->max_ref_ratio);
        if (h.ref_fail) final.pass = 0;
    }
    r = &final;
    strbuf b, js;
    strbuf_init(&b);
    strbuf_init(&js);
    if (a->json || a->report_dir) put_json(&js, r, p, t, a, &style, &h);
    if (a->json) strbuf_putn(&b, strbuf_str(&js), js.len);
    else put_text(&b, r, p, &style, &h, a);
    int status = cli_write(out, err, &b);
    if (status == CLI_EXIT_OK && a->report_dir) {
        report_input in = { .r = r, .count = p->count, .n_q = p->n_q, .d_v = p->d_v, .lead_dims = o->ndim - 2,
                            .heads = o->ndim == 4 ? o->shape[1] : 0, .over = r->over, .tol = p->tol > 0,
                            .title = a->files[3] };
        char msg[1024];
        if (report_write(a->report_dir, strbuf_str(&js), &in, msg, sizeof msg) != 0) {
            fprintf(err, "hmp verify: error: %s\n", msg);
            status = CLI_EXIT_IO;
        }
    }
    if (status == CLI_EXIT_OK && !r->pass) status = 1;
    strbuf_clear(&b);
    strbuf_clear(&js);
    return status;
}

/* 1 when the shapes of qkvo fit with the heads and n axes swapped. */
static int shapes_fit_other_layout(const tensor *const qkvo[4], const char *const names[4])
{
    if (qkvo[0]->ndim < 3) return 0;
    tensor sw[4];
    const tensor *swp[4];
    for (int f = 0; f < 4; f++) {
        sw[f] = *qkvo[f];
        sw[f].data = NULL;
        layout_swap_heads(sw[f].shape, sw[f].ndim);
        swp[f] = &sw[f];
    }
    verify_problem scratch;
    verify_problem_init(&scratch);
    strbuf msg;
    strbuf_init(&msg);
    int fits = layout_shapes(&scratch, swp, names, &msg) == 0;
    strbuf_clear(&msg);
    verify_problem_clear(&scratch);
    return fits;
}

/* The files read and checked into p (the mask into *mask): the exit status. */
static int load_problem(verify_problem *p, tensor t[4], tensor *mk, unsigned char **mask, const cli_verify_args *a,
                        FILE *err)
{
    const char *names[4]; /* "q" to "out": the options without "--" */
    for (int f = 0; f < 4; f++) names[f] = cli_verify_file_options[f] + 2;
    for (int f = 0; f < 4; f++) if (read_arg(&t[f], a->files[f], &a->ro, err) != 0) return CLI_EXIT_INPUT;
    tensor_read_options mask_ro = a->ro;
    mask_ro.allow_bool = 1;
    if (a->mask_file && read_arg(mk, a->mask_file, &mask_ro, err) != 0) return CLI_EXIT_INPUT;
    for (int f = 0; f < 4 && a->have_dtype; f++)
        if (t[f].dtype != a->dtype) {
            fprintf(err, "hmp verify: error: %s holds %s, not %s (--dtype)\n", a->files[f], fp_info(t[f].dtype)->name,
                    fp_info(a->dtype)->name);
            return CLI_EXIT_INPUT;
        }
    if (a->bnhd)
        for (int f = 0; f < 4; f++) layout_bnhd_to_bhnd(&t[f]);
    /* shapes: (..., n, d) with equal leading dimensions */
    const tensor *qkvo[4] = { &t[0], &t[1], &t[2], &t[3] };
    strbuf msg;
    strbuf_init(&msg);
    int status = CLI_EXIT_OK;
    if (layout_shapes(p, qkvo, names, &msg) != 0) {
        status = CLI_EXIT_INPUT;
        if (shapes_fit_other_layout(qkvo, names))
            strbuf_printf(&msg, "\nhint: the shapes fit the other layout: --layout %s (%s)", a->bnhd ? "bhnd" : "bnhd",
                          a->bnhd ? "PyTorch's (batch, heads, n, d)" : "FlashAttention's (batch, n, heads, d)");
    } else if (p->scale_auto && p->d == 0) {
        strbuf_puts(&msg, "--scale auto needs d >= 1");
        status = CLI_EXIT_INPUT;
    }
    for (int f = 0; f < 3 && !status; f++) {
        char where[128];
        if (tensor_first_nonfinite(&t[f], where, sizeof where)) {
            strbuf_printf(&msg, "%s: %s at [%s] is not a finite number", a->files[f], names[f], where);
            status = CLI_EXIT_INPUT;
        }
    }
    if (!status && a->mask_file && layout_mask(mask, &p->mask_count, mk, &t[0], p, a->mask_file, &msg) != 0)
        status = CLI_EXIT_INPUT;
    if (status) fprintf(err, "hmp verify: error: %s\n", strbuf_str(&msg));
    strbuf_clear(&msg);
    if (status) return status;
    p->q = t[0].data; p->k = t[1].data; p->v = t[2].data; p->o = t[3].data;
    p->mask = *mask;
    p->out_format = t[3].dtype;
    p->compute = a->have_compute ? a->compute : (t[3].dtype == FP_F64 ? FP_F64 : FP_F32);
    /* P rounded to O's format when that is 16-bit, unless told otherwise;
     * rounding to a precision the kernel computes in changes nothing */
    fp_format probs = a->have_probs ? a->probs : t[3].dtype == FP_F16 || t[3].dtype == FP_BF16 ? t[3].dtype : p->compute;
    p->probs = probs;
    p->probs_rounded = fp_info(probs)->prec < fp_info(p->compute)->prec;
    return CLI_EXIT_OK;
}

int cli_verify(int argc, char **argv, FILE *out, FILE *err)
{
    cli_verify_args a;
    int status = cli_verify_parse(&a, argc, argv, out, err);
    if (status || a.help) return status;
    verify_problem p;
    verify_problem_init(&p);
    status = cli_verify_options(&p, &a, err);
    if (status) {
        verify_problem_clear(&p);
        return status;
    }
    tensor t[4], mk;
    for (int f = 0; f < 4; f++) tensor_init(&t[f]);
    tensor_init(&mk);
    unsigned char *mask = NULL;
    status = load_problem(&p, t, &mk, &mask, &a, err);
    if (!status) {
        verify_report r;
        char msg[256];
        int tty = isatty(fileno(err)) && p.count * p.n_q * p.n_k * (p.d + p.d_v) > 50000000;
        int rc = verify_run(&r, &p, tty ? progress_bar : NULL, err, msg, sizeof msg);
        if (rc != 0) {
            fprintf(err, "hmp verify: error: %s%s\n", msg,
                    rc == VERIFY_NO_BOUND ? "; judge with --tol T or --max-err-scaled T" : "");
            status = CLI_EXIT_INPUT;
        } else {
            status = print_report(&r, &p, t, &a, out, err);
            verify_report_clear(&r);
        }
    }
    free(mask);
    for (int f = 0; f < 4; f++) tensor_clear(&t[f]);
    tensor_clear(&mk);
    verify_problem_clear(&p);
    return status;
}

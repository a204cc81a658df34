/* summary: the summary of a verify_report that `hmp verify` and `hmp check`
 * share, as text and as JSON; each names entries its own way. */
#include "attention/summary.h"

#include <math.h>

/* Failing entries listed in the text (all of them, to VERIFY_FAILING_MAX, in JSON). */
#define SUMMARY_TEXT_FAILING 10

static void put_entry_text(strbuf *b, const verify_report *r, const verify_entry *e, const summary_style *s)
{
    strbuf_puts(b, "  ");
    s->put_index(b, e->index, 0, s->ctx);
    strbuf_printf(b, "  value %.9g  true %.9g  ulp_err %.4g  err_scaled %.4g  bound %.4g%s\n", e->value, e->truth,
                  e->ulp_err, e->err_scaled, e->bound, s->mark_over && r->over[e->index] ? "  OVER" : "");
}

void summary_text(strbuf *b, const verify_report *r, const char *note, const summary_style *s)
{
    strbuf_printf(b, "entries            %zu (%s)\n", r->entries, note);
    strbuf_printf(b, "correctly rounded  %zu (%.2f%%)\n", r->correctly_rounded,
                  r->entries ? 100.0 * r->correctly_rounded / r->entries : 100.0);
    strbuf_printf(b, "ulp_err            max %.4g, median %.4g\n", r->max_ulp_err, r->median_ulp_err);
    strbuf_printf(b, "err_scaled         max %.4g, median %.4g\n", r->max_err_scaled, r->median_err_scaled);
    if (s->tol)
        strbuf_printf(b, "bound              %.4g (--tol, relative error in units of u), over it: %zu\n", r->bound,
                      r->over_bound);
    else if (s->max_err_scaled)
        strbuf_printf(b, "bound              %.4g (--max-err-scaled, err_scaled), over it: %zu\n", r->bound,
                      r->over_bound);
    else
        strbuf_printf(b, "bound              per row, up to %.4g (a priori, err_scaled), over it: %zu\n", r->bound,
                      r->over_bound);
    strbuf_printf(b, "nonfinite          %zu\n", r->nonfinite);
    if (r->failing_count) {
        strbuf_printf(b, "failing entries    %zu", r->failing_count);
        if (r->failing_count > SUMMARY_TEXT_FAILING) strbuf_printf(b, ", the first %d", SUMMARY_TEXT_FAILING);
        strbuf_puts(b, ":\n");
        for (size_t w = 0; w < r->n_failing && w < SUMMARY_TEXT_FAILING; w++) put_entry_text(b, r, &r->failing[w], s);
    }
    if (r->n_worst) strbuf_puts(b, "worst entries:\n");
    for (size_t w = 0; w < r->n_worst; w++) put_entry_text(b, r, &r->worst[w], s);
}

void summary_verdict(strbuf *b, const verify_report *r) { strbuf_puts(b, r->pass ? "PASS\n" : "FAIL\n"); }

void summary_json_num(strbuf *b, double x)
{
    if (isnan(x)) strbuf_puts(b, "null");
    else if (isinf(x)) strbuf_puts(b, x > 0 ? "1e999" : "-1e999");
    else strbuf_printf(b, "%.17g", x);
}

void summary_json_err(strbuf *b, double x)
{
    if (isnan(x) || isinf(x)) summary_json_num(b, x);
    else strbuf_printf(b, "%.6g", x);
}

static void put_entry_json(strbuf *b, const verify_report *r, const verify_entry *e, const summary_style *s, int first)
{
    strbuf_puts(b, first ? "\n    {\"index\": " : ",\n    {\"index\": ");
    s->put_index(b, e->index, 1, s->ctx);
    strbuf_puts(b, ", \"value\": "); summary_json_num(b, e->value);
    strbuf_puts(b, ", \"true\": "); summary_json_num(b, e->truth);
    strbuf_puts(b, ", \"ulp_err\": "); summary_json_err(b, e->ulp_err);
    strbuf_puts(b, ", \"err_scaled\": "); summary_json_err(b, e->err_scaled);
    strbuf_puts(b, ", \"bound\": "); summary_json_err(b, e->bound);
    if (s->mark_over) strbuf_printf(b, ", \"over\": %s", r->over[e->index] ? "true" : "false");
    strbuf_putc(b, '}');
}

void summary_json(strbuf *b, const verify_report *r, const summary_style *s)
{
    strbuf_puts(b, "  \"max_ulp_err\": "); summary_json_err(b, r->max_ulp_err);
    strbuf_puts(b, ",\n  \"median_ulp_err\": "); summary_json_err(b, r->median_ulp_err);
    strbuf_puts(b, ",\n  \"max_err_scaled\": "); summary_json_err(b, r->max_err_scaled);
    strbuf_puts(b, ",\n  \"median_err_scaled\": "); summary_json_err(b, r->median_err_scaled);
    strbuf_printf(b, ",\n  \"correctly_rounded\": %zu,\n  \"over_bound\": %zu,\n  \"nonfinite\": %zu,\n"
                  "  \"refined\": %zu,\n  \"fallback\": %zu,\n",
                  r->correctly_rounded, r->over_bound, r->nonfinite, r->refined, r->fallback);
    strbuf_puts(b, "  \"bound\": "); summary_json_num(b, r->bound);
    strbuf_printf(b, ",\n  \"bound_kind\": \"%s\",\n  \"worst\": [", s->tol ? "tol" : s->max_err_scaled ? "max-err-scaled" : "a priori");
    for (size_t w = 0; w < r->n_worst; w++) put_entry_json(b, r, &r->worst[w], s, w == 0);
    strbuf_puts(b, r->n_worst ? "\n  ]" : "]");
    strbuf_printf(b, ",\n  \"failing_count\": %zu,\n  \"failing\": [", r->failing_count);
    for (size_t w = 0; w < r->n_failing; w++) put_entry_json(b, r, &r->failing[w], s, w == 0);
    strbuf_puts(b, r->n_failing ? "\n  ]" : "]");
}

void summary_json_end(strbuf *b, const verify_report *r)
{
    strbuf_printf(b, ",\n  \"pass\": %s\n}\n", r->pass ? "true" : "false");
}

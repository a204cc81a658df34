/* summary: a verify_report as `hmp verify` and `hmp check` print it (counts,
 * errors, the bound, the worst entries, the verdict), as text lines or as
 * members of a JSON object. */
#ifndef HMP_SUMMARY_H
#define HMP_SUMMARY_H

#include <stddef.h>

#include "core/strbuf.h"
#include "attention/verify.h"

/* How the entries of a report are named, and what is said of them. */
typedef struct summary_style {
    /* Writes the position of entry index (flat, into the output): "[i,j]"
     * and the like as text, or when json the value of "index" (and any
     * members that follow it in the entry's object). */
    void (*put_index)(strbuf *out, size_t index, int json, const void *ctx);
    const void *ctx;     /* passed to put_index */
    int tol;             /* the bound is --tol's, not the a-priori one */
    int max_err_scaled;  /* the bound is --max-err-scaled's */
    int mark_over;       /* say of each worst entry whether it is over the bound */
} summary_style;

/* The text lines from "entries N (note)" to the worst entries: the failing
 * entries (the first 10) before them, each entry with the bound of its row. */
void summary_text(strbuf *out, const verify_report *r, const char *note, const summary_style *s);

/* "PASS\n" or "FAIL\n". */
void summary_verdict(strbuf *out, const verify_report *r);

/* The members "max_ulp_err" to "worst", "failing_count" and "failing" (the
 * first VERIFY_FAILING_MAX failing entries) of a JSON object, two spaces in,
 * one a line; the caller writes what comes before (ending ",\n") and after. */
void summary_json(strbuf *out, const verify_report *r, const summary_style *s);

/* The last member, "pass", and the end of the object. */
void summary_json_end(strbuf *out, const verify_report *r);

/* A double as JSON: 17 significant digits, null for NaN, +-1e999 for the
 * infinities. */
void summary_json_num(strbuf *out, double x);

/* An error measure as JSON: 6 significant digits, well within what the
 * enclosures of the truth guarantee, so the bytes do not depend on how the
 * truth was enclosed (which pass, how many threads). */
void summary_json_err(strbuf *out, double x);

#endif

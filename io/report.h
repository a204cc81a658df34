/* report: what `hmp verify --report DIR` writes: the JSON summary and two
 * standalone SVG figures of a verify_report, a heatmap of err_scaled over the
 * output's rows and columns and a histogram of ulp_err. Deterministic bytes. */
#ifndef HMP_REPORT_H
#define HMP_REPORT_H

#include <stddef.h>

#include "core/strbuf.h"
#include "attention/verify.h"

/* The heatmap's grid is at most this many cells each way; larger outputs
 * are binned, a cell showing the largest err_scaled of its bin. */
#define REPORT_MAX_CELLS 512
/* The colour levels of the heatmap's sequential scale. */
#define REPORT_LEVELS 64

typedef struct report_input {
    const verify_report *r;    /* with its per-entry arrays, count x n_q x d_v */
    size_t count, n_q, d_v;    /* count problems stacked row after row */
    int lead_dims;             /* 0: O is (n, d); 1: (heads, n, d); 2: (batch,
                                  heads, n, d) -- the labels of problems */
    size_t heads;              /* problems per batch when lead_dims is 2 */
    const unsigned char *over; /* NULL, or per entry 1 when it failed the
                                  verdict; NULL: err_scaled > bound or not finite */
    int tol;                   /* the bound is --tol's (a relative error) */
    const char *title;         /* the name of the output checked (its file) */
} report_input;

/* Whether entry e failed: over[e] when given, else err_scaled > bound;
 * NaN (undecided) and infinity (nonfinite output) always fail. */
int report_entry_bad(const report_input *in, size_t e);

/* Appends to out a standalone SVG document: err_scaled over (row, column),
 * problems stacked, binned to at most REPORT_MAX_CELLS x REPORT_MAX_CELLS
 * cells (the max of each bin), a log colour scale with its legend, failed
 * entries in magenta. */
void report_heatmap_svg(strbuf *out, const report_input *in);

/* Appends to out a standalone SVG document: the histogram of ulp_err, one
 * bin for 0, one per power of 2 (2^e, 2^(e+1)], one for inf and NaN; log
 * scales both ways; a line at 0.5 ulp. */
void report_histogram_svg(strbuf *out, const report_input *in);

/* Creates dir (with its missing parents; an existing directory is reused
 * and its files overwritten) and writes dir/report.json (json, as given),
 * dir/heatmap.svg and dir/histogram.svg. 0 on success; -1 and a message
 * naming the path in err otherwise. */
int report_write(const char *dir, const char *json, const report_input *in, char *err, size_t errlen);

#endif

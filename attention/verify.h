/* verify: certified checking of an attention output: the stored inputs are
 * exact; every entry's true output is enclosed, correctly rounded to the
 * output's format and compared with the output given (docs/VERIFY.md). */
#ifndef HMP_VERIFY_H
#define HMP_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <flint/fmpq.h>

#include "core/fpfmt.h"

typedef struct verify_problem {
    size_t count;             /* independent (batch x heads) problems */
    size_t n_q, n_k, d, d_v;
    const double *q, *k, *v;  /* q: count x n_q x d, row-major, exact; k, v:
                                 n_k x d and n_k x d_v per key/value head */
    size_t heads, kv_heads;   /* grouped-query attention: count = batch x heads
                                 query heads; K and V have kv_heads heads per
                                 batch (dividing heads), query head h reading
                                 KV head h / (heads / kv_heads); 0 = one KV
                                 head per query head */
    const double *o;          /* count x n_q x d_v: the output to check */
    const unsigned char *mask;/* NULL, or mask_count matrices n_q x n_k, 0 = masked;
                                 problem b uses matrix b % mask_count */
    size_t mask_count;        /* 1 (shared), heads, or count; 0 means 1 */
    int causal;               /* ATTN_CAUSAL_*: key j seen by query i iff
                                 j <= i + n_k - n_q (bottom-right) or j <= i
                                 (top-left) */
    int window;               /* a sliding window (FlashAttention's window_size): */
    int64_t window_left, window_right; /* key j seen by query i iff i + off - left
                                 <= j <= i + off + right, off = n_k - n_q
                                 (bottom-right) or 0 (window_top_left); -1:
                                 unbounded on that side */
    int window_top_left;
    int scale_auto;           /* scale = 1/sqrt(d), exactly */
    fmpq_t scale;             /* otherwise this rational */
    fp_format out_format;     /* the format o was stored in: ulps and u */
    fp_format compute;        /* the precision the kernel computed in (bound) */
    int probs_rounded;        /* P rounded to probs before P*V (attn_params) */
    fp_format probs;
    int bound_naive;          /* the bound of the naive kernel, not flash */
    size_t bound_tile;        /* flash's key tile for the bound; 0 = any (tile 1,
                                 the largest bound of every kernel) */
    double tol;               /* > 0: pass iff |o - x| <= tol * u * max(|x|, the
                                 smallest normal) everywhere (u = 2^-p) */
    double max_err_scaled;    /* > 0: pass iff err_scaled <= max_err_scaled
                                 everywhere (in place of the a-priori bound) */
    int arb_only;             /* decide every entry with Arb balls (no fast pass) */
    int skip_fast;            /* no decisions by the first pass: the second
                                 (double-double) pass and the balls decide */
} verify_problem;

void verify_problem_init(verify_problem *p);
void verify_problem_clear(verify_problem *p);
/* 1 when query i of problem b sees key j (mask, causal, window). */
int verify_key_visible(const verify_problem *p, size_t b, size_t i, size_t j);
/* The key/value problem that problem b reads (grouped-query attention). */
size_t verify_kv_problem(const verify_problem *p, size_t b);

typedef struct verify_entry {
    size_t index;             /* flat index into o */
    double value, truth;      /* o, and the true value (as a double, rounded) */
    double ulp_err, err_scaled;
    double bound;             /* the largest err_scaled allowed in its row (or --tol) */
} verify_entry;

#define VERIFY_WORST 10
#define VERIFY_FAILING_MAX 1000

typedef struct verify_report {
    size_t entries;
    double max_ulp_err, median_ulp_err, max_err_scaled, median_err_scaled;
    size_t over_bound;        /* entries past the bound (or --tol) */
    size_t nonfinite;         /* NaN or infinity where the truth is finite */
    size_t correctly_rounded; /* o equals the correctly rounded truth */
    size_t refined;           /* entries decided by the double-double pass */
    size_t fallback;          /* entries decided by Arb balls */
    double bound;             /* the largest allowed err_scaled of any row */
    verify_entry worst[VERIFY_WORST];
    size_t n_worst;
    verify_entry *failing;    /* the entries that fail (over the bound of their
                                 row, or not finite), in index order: the first
                                 VERIFY_FAILING_MAX */
    size_t n_failing, failing_count; /* those listed; all of them */
    int pass;
    /* per entry (count x n_q x d_v): the correctly rounded truth's bits, the
     * errors */
    uint64_t *truth_bits;
    double *ulp_err, *err_scaled;
    unsigned char *over;      /* 1 where the entry fails (the verdict) */
    double *row_bound;        /* per row (count x n_q): its allowed err_scaled */
} verify_report;

void verify_report_clear(verify_report *r);

/* Checks every entry. 0 on success (r filled; r->pass says the verdict);
 * -1 with a message in err for what the data cannot be (it does not
 * happen for validated inputs); VERIFY_NO_BOUND (r cleared, a message in
 * err) when the a-priori bound is infinite for some row, so that no output
 * could fail it: a verdict then needs tol or max_err_scaled. progress (may
 * be NULL) is called now and then with the fraction done. */
#define VERIFY_NO_BOUND (-2)
int verify_run(verify_report *r, const verify_problem *p, void (*progress)(double done, void *ctx), void *ctx,
               char *err, size_t errlen);

#endif

/* check: runs a reference attention kernel (attention/attn) on the attention
 * of a script, recognised as a matrix program, and checks every output entry
 * against the certified exact attention of the stored inputs (attention/verify). */
#ifndef HMP_CHECK_H
#define HMP_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <flint/fmpq.h>

#include "core/strbuf.h"
#include "eval/mateval.h"
#include "attention/attn.h"
#include "core/system.h"
#include "attention/verify.h"
#include "rewrite/recognise.h"

typedef struct check_options {
    attn_kind kind;      /* the kernel */
    size_t tile;         /* ATTN_FLASH: keys per tile, >= 1 */
    fp_format compute;   /* FP_F64 or FP_F32 */
    fp_format storage;   /* inputs and output rounded to this */
    double tol;          /* > 0: verify's relative tolerance instead of the bound */
} check_options;

/* Naive kernel, tile 64, f64 compute and storage, no tolerance. */
void check_options_init(check_options *o);

/* The attention of a script: O = A * V, A = softmax_rows(S) (or its causal
 * form), S = c * Q * K^T; one problem per head. */
typedef struct check_problem {
    mat_program prog;
    mateval ev;
    int ev_ready;               /* ev was initialised (clear it) */
    uint32_t fam_q, fam_k, fam_v, fam_s, fam_a, fam_o;
    size_t heads, n_q, n_k, d, d_v;
    int masked;                 /* masked_softmax_rows (n_q = n_k): query i sees keys j <= i */
    fmpq *q, *k, *v;            /* exact inputs, heads x n x d, row-major */
    term_id scale_term;         /* the script's factor c (TERM_NONE: 1) */
    double scale;               /* the double nearest c (ties to even) */
    double *q_st, *k_st, *v_st; /* the inputs rounded to stored_format */
    fp_format stored_format;
    int stored;                 /* q_st, k_st, v_st are filled */
} check_problem;

/* Recognises the relations of y (built on y->store) as a matrix program and
 * finds the attention its outputs are. 0, or -1 with a message in err (not
 * an attention: what was found; free symbols; relations left scalar;
 * inputs that are not rationals). cp must stay where it is until cleared
 * (it points into itself); clear it in both cases. y must outlive cp. */
int check_prepare(check_problem *cp, const sys *y, char *err, size_t errlen);
void check_problem_clear(check_problem *cp);

/* The exact inputs rounded, each directly from its rational, to f (ties to
 * even). 0, or -1 with a message when an entry overflows the format. */
int check_store(check_problem *cp, fp_format f, char *err, size_t errlen);

/* out (heads x n_q x d_v) = the kernel of o on the stored inputs, head by
 * head (check_store to o->storage first). 0, or -1 for invalid options. */
int check_kernel(double *out, const check_problem *cp, const check_options *o);

typedef struct check_report {
    verify_report vr;          /* the verdict: against the stored inputs */
    int have_script;           /* the informational comparison was made */
    double script_max_ulp_err, script_median_ulp_err;
    size_t script_max_index;   /* the entry of the largest */
    double *out;               /* the output checked (heads x n_q x d_v) */
    size_t entries;
} check_report;

void check_report_clear(check_report *r);

/* Checks the output out (heads x n_q x d_v, values of o->storage) of a
 * kernel with options o: attention/verify against the exact attention of the
 * stored inputs with the scale as the kernel used it (cp->scale exactly) and
 * the bound of that kernel; then, informational, ulp_err against the
 * script's own outputs (exact inputs and scale). After check_store with
 * o->storage. 0, or -1 with a message. r owns a copy of out. */
int check_outputs(check_report *r, check_problem *cp, const double *out, const check_options *o, char *err,
                  size_t errlen);

/* check_store, check_kernel and check_outputs. */
int check_run(check_report *r, check_problem *cp, const check_options *o, char *err, size_t errlen);

/* The report as text (the summary of `hmp verify`, the kernel and the
 * informational block, PASS or FAIL) or as one JSON object. */
void check_print(strbuf *out, check_problem *cp, const check_report *r, const check_options *o);
void check_print_json(strbuf *out, check_problem *cp, const check_report *r, const check_options *o);

#endif

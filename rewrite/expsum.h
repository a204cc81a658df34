/* expsum: the exp laws and softmax (rule set expsum), the max-shifted form
 * of log-sum-exp (rule set stable), the passes over a whole system (masked
 * rows, exp-constant) and the report of the softmax entries and rows found. */
#ifndef HMP_EXPSUM_H
#define HMP_EXPSUM_H

#include <stddef.h>
#include <stdint.h>
#include <flint/fmpz.h>

#include "core/system.h"
#include "core/term.h"
#include "rewrite/engine.h"
#include "rewrite/rules.h"

/* The measure of the set stable (docs/REWRITE.md): P(leaf) = 2, sums, max
 * and min the sum of their arguments, products that of their factors that
 * are not numbers, b^e P(b) for e a number and P(b)*P(e) otherwise, exp,
 * log, abs and tanh 1 more than their argument, and lse of n arguments
 * (n + 3)*(their sum) + n + 2. */
void expsum_measure_stable(fmpz_t out, const term_store *s, term_id t);

/* 1 when t is exactly one entry of a softmax row, either in the lse form
 * exp(s_j - lse(s_1, ..., s_n)) or in the stable form exp(s_j - m) *
 * (exp(s_1 - m) + ... + exp(s_n - m))^-1 with m = max(s_1, ..., s_n), s_j
 * among the s_k. Then *row = lse(s_1, ..., s_n) (the same term for both
 * forms: it names the row) and *pos = the index of s_j among the row's
 * arguments. May add terms to s. */
int expsum_entry(term_id *row, uint32_t *pos, term_store *s, term_id t);

/* A row whose every score is -inf: its entries were set to 0. */
typedef struct expsum_masked_row {
    term_id row;      /* lse(s_1, ..., s_n) over the scores as written */
    uint32_t *where;  /* labels of the terms whose entries became 0, increasing */
    size_t n_where;
} expsum_masked_row;

/* What the simplification found: the softmax entries among the terms
 * (exact entries, expsum_entry), the distinct rows they use, the masked rows. */
typedef struct expsum_report {
    size_t softmax_entries;
    size_t softmax_rows;
    term_id *entry_row;          /* per term: its row, or TERM_NONE */
    size_t n_terms;
    expsum_masked_row *masked;   /* in order of the row's first masked entry */
    size_t n_masked;
    int stable;                  /* the terms are in the stable form */
} expsum_report;

void expsum_report_init(expsum_report *r);
void expsum_report_clear(expsum_report *r);
/* Counts the entries and rows among terms[0 .. n) (keeps r->masked). */
void expsum_recognise(expsum_report *r, term_store *s, const term_id *terms, size_t n);

#define EXPSUM_MAX_SETS 16

typedef struct expsum_options {
    const rule_set_def *sets[EXPSUM_MAX_SETS]; /* the first engine's sets, in order */
    size_t n_sets;                             /* 0: algebra, expsum */
    int stable;        /* then a second engine with the set stable alone */
    int trace;         /* record every step (slower: docs/REWRITE.md) */
    size_t max_steps;  /* the cap on the firings of both engines together */
} expsum_options;

void expsum_options_init(expsum_options *opt);

/* The whole simplification of a system's terms: the first engine to its
 * fixpoint; when its sets include expsum, the masked rows and scores
 * (needs the system) and exp-constant; with opt.stable the second engine;
 * then the report. */
typedef struct expsum_simplifier {
    term_store *s;
    expsum_options opt;
    rule_set sets[EXPSUM_MAX_SETS];
    rule_set stable_set;   /* compiled when opt.stable */
    rule_set pass_set;     /* the rules the system passes are traced as */
    rw_engine first, second;
    int passes;            /* expsum is among the sets */
    rw_step *steps;        /* the trace, every phase in order (opt.trace) */
    size_t n_steps, cap_steps;
    size_t fired;          /* firings of both engines */
    int capped;            /* the step cap was reached: later phases skipped */
    expsum_report report;
} expsum_simplifier;

/* Compiles the sets of opt (which must outlive the simplifier). Usage
 * errors (sets that undo each other) are the caller's to refuse. */
void expsum_simplifier_init(expsum_simplifier *x, term_store *s, const expsum_options *opt);
void expsum_simplifier_clear(expsum_simplifier *x);

/* Simplifies terms[0 .. n) in place; term i is labelled i in the trace and
 * the report. y: the system whose names the terms use (a score is masked
 * when its relation inlines to -inf), or NULL (no masks). Each result
 * equals its term (a fully masked row's entries excepted: they become 0,
 * the convention of a safe softmax, and are listed in x->report.masked).
 * Call once per simplifier. */
void expsum_run(expsum_simplifier *x, term_id *terms, size_t n, sys *y);

#endif

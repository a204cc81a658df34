/* cse: common subexpression elimination. The DAG of a system's outputs
 * becomes a straight-line program (SSA) with one temporary per shared value,
 * common sub-sums and sub-products extracted, and operation counts. */
#ifndef HMP_CSE_H
#define HMP_CSE_H

#include <stddef.h>
#include <stdint.h>
#include <flint/fmpz.h>

#include "core/strbuf.h"
#include "core/diag.h"
#include "core/system.h"
#include "core/term.h"

/* What the pipeline may do beyond plain DAG sharing (docs/CSE.md). */
typedef struct cse_options {
    int extract;     /* common factors of sums, sub-products, sub-sums (default 1) */
    int restructure; /* re-associate sums of products of linear forms, kept only
                        when the count drops (default 1) */
} cse_options;

void cse_options_init(cse_options *opt);

/* One stage of the pipeline and the operation count after it. */
typedef struct cse_stage {
    const char *name; /* "dag", "factor", "subproducts", "subsums", "bilinear" */
    uint64_t ops;
} cse_stage;

typedef struct cse_ir cse_ir; /* the program's nodes (rewrite/cse_impl.h) */

typedef struct cse_program {
    term_store *store;
    cse_ir *ir;            /* the chosen program */
    term_id *inputs;       /* free symbols the outputs use, in order of first use */
    size_t n_inputs;
    term_id *outputs;      /* SYM terms of the outputs, in the system's order */
    size_t n_outputs;
    size_t n_temps;        /* temporaries of the program (outputs not counted) */
    fmpz_t ops_before;     /* every output written out as a tree, summed (exact) */
    uint64_t ops_dag;      /* one count per distinct node: plain DAG sharing */
    uint64_t ops_after;    /* the program */
    cse_stage stages[8];   /* the counts stage by stage, in the order applied */
    size_t n_stages;
    int restructured;      /* the bilinear re-association was kept */
    size_t n_bilinear;     /* sums it re-associated (when kept) */
} cse_program;

/* Reports in d, at the output's relation, each output of y (inlined by this
 * call) whose value has no real value: it mentions -inf where the store keeps
 * it formal (log(-inf), x*-inf, ...; core/term.h). An output that is -inf
 * itself is a value. Returns the number of outputs reported. */
size_t cse_check_outputs(diag_list *d, sys *y);

/* Builds the program of y's outputs (inlined by this call; y must have been
 * built without a dependency cycle). New terms may be added to y's store. 0 on
 * success; -1 when y offers no inlining, -2 when an output has no real value
 * (cse_check_outputs says which): nothing is built then, cse_program_clear is
 * still safe. Deterministic: the same system gives the same program. */
int cse_build(cse_program *p, sys *y, const cse_options *opt);
void cse_program_clear(cse_program *p);

/* The program as HMP text: one relation per temporary, then the outputs, an
 * `output` directive and the counts as comments. It parses back as a script
 * whose outputs equal the original ones. */
void cse_print(strbuf *out, const cse_program *p);
/* {"program": [{"name", "expr"}], "outputs", "inputs", "ops_before",
 * "ops_dag", "ops_after", "temporaries", "stages", "restructured"}. */
void cse_print_json(strbuf *out, const cse_program *p);
/* A C function `void hmp_outputs(const double *in, double *out)`: in[] holds
 * the inputs in the order of p->inputs, out[] receives the outputs in the
 * order of p->outputs (both listed in a comment); numbers of the script are
 * constants. Compiles as C99 with <math.h> (link with -lm). */
void cse_emit_c(strbuf *out, const cse_program *p);

/* Number of lines of the program (temporaries and outputs) and line i: its
 * name and right-hand side as HMP text (written into the buffers). */
size_t cse_line_count(const cse_program *p);
void cse_line(strbuf *name, strbuf *expr, const cse_program *p, size_t i);

#endif

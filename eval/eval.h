/* eval: the values of a script's outputs. Rational values are exact (fmpq);
 * values with exp stay exact as exp-sum fractions (expval); decimals and
 * floating-point formats are correctly rounded from Arb balls, raising the
 * working precision until the ball decides (Ziv's strategy) up to a cap.
 * Through the matrix program when it covers every output (eval/mateval),
 * else node by node over the inlined DAG: the same bytes either way. */
#ifndef HMP_EVAL_H
#define HMP_EVAL_H

#include "core/diag.h"
#include "core/fpfmt.h"
#include "core/system.h"
#include "program/mat.h"

#define EVAL_DEFAULT_DIGITS 30
#define EVAL_MAX_DIGITS 1000000
/* The default cap on the working precision: 64 times the first precision
 * tried, and at least 2^16 bits. */
#define EVAL_MIN_MAX_PREC 65536

typedef struct eval_request {
    slong digits;      /* significant decimal digits, >= 1 */
    int use_format;    /* also round to `format` */
    fp_format format;
    int want_exact;    /* the exact value of every output */
    slong max_prec;    /* cap on the working precision in bits; 0 = default */
    int no_matrix;     /* the scalar path only (no matrix recognition) */
} eval_request;

typedef struct eval_value {
    term_id name;       /* the output (a SYM term) */
    term_id term;       /* its value as a term over numbers; TERM_NONE when
                           the matrix program gave the value */
    int rational;       /* the value was decided exactly as the rational q:
                           its term is a number, or it lies on a rounding
                           boundary (no ball can decide it) */
    int neg_inf;        /* the value is -inf (the output's term is -inf):
                           decimal and exact "-inf", bits of -inf */
    fmpq_t q;
    char *decimal;      /* correctly rounded to `digits` significant digits */
    uint64_t bits;      /* correctly rounded to the format (use_format) */
    char *format_value; /* that value as the shortest decimal reading back */
    char *exact;        /* the exact value (want_exact, or rational above) */
    slong prec;         /* working precision that decided it; 0 = exactly */
} eval_value;

typedef struct eval_result {
    eval_value *v;
    size_t n;
    slong max_prec_used;
    int matrix;         /* the matrix program gave the values */
    size_t n_scalar;    /* of those, outputs its balls left to the scalar path */
} eval_result;

void eval_request_init(eval_request *req);
void eval_result_clear(eval_result *res);
/* 1 when a matrix program could give y's outputs: the request allows it
 * (neither req->no_matrix nor req->want_exact), y has outputs and no free
 * symbol. The caller then recognises y (recog_program) and passes the
 * program to eval_outputs; the evaluator never recognises. */
int eval_wants_program(const sys *y, const eval_request *req);
/* Evaluates every output of y. 0 on success; otherwise errors in d (a free
 * symbol, a domain error naming its relation, -inf where it has no value,
 * the precision cap) and res holds nothing to print. p is the matrix
 * program recognised from y, or NULL (node by node). When eval_wants_program
 * and p covers every output (mateval_init), its rational stages give the
 * outputs that are numbers and its balls the others at the first two
 * working precisions; what they leave undecided, and every output when p
 * does not cover them or its balls fail, goes node by node. */
int eval_outputs(eval_result *res, sys *y, mat_program *p, const eval_request *req, diag_list *d);

#endif

/* eval: the values of a script's outputs. Rational values are exact (fmpq);
 * values with exp stay exact as exp-sum fractions (expval); decimals and
 * floating-point formats are correctly rounded from Arb balls, raising the
 * working precision until the ball decides (Ziv's strategy) up to a cap. */
#ifndef HMP_EVAL_H
#define HMP_EVAL_H

#include "core/diag.h"
#include "core/eval/fpfmt.h"
#include "core/system.h"

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
} eval_request;

typedef struct eval_value {
    term_id name;       /* the output (a SYM term) */
    term_id term;       /* its value as a term over numbers */
    int rational;       /* the value is a rational number: q */
    int neg_inf;        /* the value is -inf (the output's term is -inf):
                           decimal and exact "-inf", bits of -inf */
    fmpq_t q;
    char *decimal;      /* correctly rounded to `digits` significant digits */
    uint64_t bits;      /* correctly rounded to the format (use_format) */
    char *format_value; /* that value as the shortest decimal reading back */
    char *exact;        /* the exact value (want_exact, or rational) */
    slong prec;         /* working precision that decided it; 0 = exactly */
} eval_value;

typedef struct eval_result {
    eval_value *v;
    size_t n;
    slong max_prec_used;
} eval_result;

void eval_request_init(eval_request *req);
void eval_result_clear(eval_result *res);
/* Evaluates every output of y. 0 on success; otherwise errors in d (a free
 * symbol, a domain error naming its relation, -inf where it has no value,
 * the precision cap) and res holds nothing to print. */
int eval_outputs(eval_result *res, sys *y, const eval_request *req, diag_list *d);

#endif

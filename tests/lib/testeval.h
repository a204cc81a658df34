/* testeval: evaluation as hmp eval does it: the matrix program recognised
 * first when it can help (eval_wants_program), then eval_outputs. */
#ifndef HMP_TESTEVAL_H
#define HMP_TESTEVAL_H

#include "eval/eval.h"
#include "program/mat.h"
#include "rewrite/recognise.h"

static inline int test_eval_outputs(eval_result *res, sys *y, const eval_request *req, diag_list *d)
{
    if (!eval_wants_program(y, req)) return eval_outputs(res, y, NULL, req, d);
    mat_program p;
    mat_program_init(&p, y->store);
    recog_program(&p, y);
    int status = eval_outputs(res, y, &p, req, d);
    mat_program_clear(&p);
    return status;
}

#endif

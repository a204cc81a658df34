/* eval: values of a script's outputs, exact where possible and otherwise
 * correctly rounded from Arb balls with Ziv's strategy: evaluate at a working
 * precision; when a ball cannot decide the rounding asked for, double the
 * precision and evaluate again, up to a cap. A value that is exactly a
 * rounding boundary (only rationals can be: exp of a nonzero rational is
 * transcendental, Lindemann) is found through the exact value instead.
 * The balls come from the matrix program when it covers the outputs. */
#include "eval/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval/ball.h"
#include "eval/expval.h"
#include "eval/mateval.h"
#include "core/mem.h"
#include "core/print.h"

void eval_request_init(eval_request *req)
{
    memset(req, 0, sizeof *req);
    req->digits = EVAL_DEFAULT_DIGITS;
    req->format = FP_F64;
}

void eval_result_clear(eval_result *res)
{
    for (size_t i = 0; i < res->n; i++) {
        fmpq_clear(res->v[i].q);
        free(res->v[i].decimal);
        free(res->v[i].format_value);
        free(res->v[i].exact);
    }
    free(res->v);
    memset(res, 0, sizeof *res);
}

/* The first relation, in dependency order, whose value contains node w: the
 * relation where the operation at w is written. -1 if none. */
static int32_t relation_containing(sys *y, term_id w)
{
    for (size_t i = 0; i < y->n_order; i++) sys_inline_relation(y, y->order[i]);
    const term_store *s = y->store;
    uint32_t n = s->n_nodes;
    unsigned char *has = mem_calloc(n, 1);
    has[w] = 1;
    for (term_id t = w + 1; t < n; t++) {
        uint32_t k = term_nargs(s, t);
        const term_id *a = term_args(s, t);
        for (uint32_t j = 0; j < k && !has[t]; j++) has[t] = has[a[j]];
    }
    int32_t found = -1;
    for (size_t i = 0; i < y->n_order && found < 0; i++) {
        term_id v = y->inlined[y->order[i]];
        if (v != TERM_NONE && v < n && has[v]) found = (int32_t)y->order[i];
    }
    free(has);
    return found;
}

static void domain_error(diag_list *d, sys *y, term_id w, term_id output, const char *what)
{
    int32_t r = relation_containing(y, w);
    strbuf b;
    strbuf_init(&b);
    print_infix(&b, y->store, w);
    if (b.len > 60) { b.len = 57; strbuf_puts(&b, "..."); }
    if (r >= 0) {
        const relation *rel = &y->scr->rels[r];
        diag_error(d, y->scr->src, rel->rhs_pos, "%s in relation '%s' (in %s)", what,
                   term_sym_name(y->store, rel->name), strbuf_str(&b));
    } else {
        diag_error(d, NULL, (src_pos){ 0, 0, 0 }, "%s in the value of '%s' (in %s)", what,
                   term_sym_name(y->store, output), strbuf_str(&b));
    }
    strbuf_clear(&b);
}

/* What the exact value says about a node whose ball straddles its domain's
 * edge: 1 = a domain error (reported), 0 = more precision may decide. */
static int check_domain(diag_list *d, sys *y, expval_ctx *ex, term_id w, term_id output)
{
    const term_store *s = y->store;
    term_op op = term_op_of(s, w);
    term_id arg = term_arg(s, w, 0);
    expval v;
    expval_init(&v);
    term_id where = TERM_NONE;
    int st = expval_of_term(&v, &where, ex, arg);
    int reported = 0;
    if (st == EV_DIV_ZERO) { /* a zero divisor inside arg (its ball would have been caught first) */
        domain_error(d, y, w, output, "division by zero");
        reported = 1;
    } else if (st == EV_OK) {
        fmpq_t q;
        fmpq_init(q);
        int rational = expval_get_fmpq(q, &v);
        int sign = rational ? fmpq_sgn(q) : expval_is_zero(&v) ? 0 : 2; /* 2: nonzero, sign unknown */
        int neg_exponent = op == OP_POW && term_op_of(s, term_arg(s, w, 1)) == OP_NUM &&
                           fmpq_sgn(term_value(s, term_arg(s, w, 1))) < 0;
        if (sign == 0 && (op == OP_LOG || neg_exponent)) {
            domain_error(d, y, w, output, op == OP_LOG ? "logarithm of zero" : "division by zero");
            reported = 1;
        } else if (sign < 0 && op == OP_LOG) {
            domain_error(d, y, w, output, "logarithm of a negative number");
            reported = 1;
        } else if (sign < 0 && op == OP_POW) {
            domain_error(d, y, w, output, "non-integer power of a negative number");
            reported = 1;
        }
        fmpq_clear(q);
    }
    expval_clear(&v);
    return reported;
}

/* Reports every output that depends on a free symbol. 1 if any. */
static int check_free_symbols(diag_list *d, sys *y, const term_id *terms, size_t n)
{
    const term_store *s = y->store;
    term_id top = 0;
    for (size_t i = 0; i < n; i++) if (terms[i] > top) top = terms[i];
    /* first[t]: a free symbol in t (the smallest id), 0 if none */
    term_id *first = mem_calloc((size_t)top + 1, sizeof *first);
    for (term_id t = 1; t <= top; t++) {
        if (term_op_of(s, t) == OP_SYM) { first[t] = t; continue; }
        uint32_t k = term_nargs(s, t);
        const term_id *a = term_args(s, t);
        for (uint32_t j = 0; j < k; j++)
            if (first[a[j]] && (!first[t] || first[a[j]] < first[t])) first[t] = first[a[j]];
    }
    int bad = 0;
    for (size_t i = 0; i < n && !diag_full(d); i++) {
        term_id f = first[terms[i]];
        if (!f) continue;
        const relation *rel = &y->scr->rels[sys_relation_of(y, y->outputs[i])];
        const char *name = term_sym_name(s, f);
        diag_error(d, y->scr->src, rel->name_pos,
                   "output '%s' depends on '%s', which no relation defines (give it a value with --set %s=VALUE)",
                   term_sym_name(s, rel->name), name, name);
        bad = 1;
    }
    free(first);
    return bad;
}

/* The ball's magnitude is beyond the exponents fp_decimal_ball handles. */
static int out_of_decimal_range(const arb_t x)
{
    const fmpz *e = ARF_EXPREF(arb_midref(x));
    return fmpz_cmp_si(e, FP_DECIMAL_EXP_LIMIT - 64) > 0 || fmpz_cmp_si(e, -FP_DECIMAL_EXP_LIMIT + 64) < 0;
}

/* Decides value i exactly from the rational q. */
static void decide_rational(eval_value *ev, const fmpq_t q, const eval_request *req)
{
    strbuf b;
    strbuf_init(&b);
    ev->rational = 1;
    fmpq_set(ev->q, q);
    fp_decimal_fmpq(&b, q, req->digits);
    ev->decimal = strbuf_take(&b);
    if (req->use_format) {
        ev->bits = fp_round_fmpq(q, req->format);
        fp_print_value(&b, ev->bits, req->format);
        ev->format_value = strbuf_take(&b);
    }
    char *text = fmpq_get_str(NULL, 10, q);
    ev->exact = mem_strdup(text);
    flint_free(text);
    ev->prec = 0;
    strbuf_clear(&b);
}

/* Value i is exactly -inf. */
static void decide_neg_inf(eval_value *ev, const eval_request *req)
{
    strbuf b;
    strbuf_init(&b);
    ev->neg_inf = 1;
    ev->decimal = mem_strdup("-inf");
    if (req->use_format) {
        ev->bits = fp_round_double(-INFINITY, req->format);
        fp_print_value(&b, ev->bits, req->format);
        ev->format_value = strbuf_take(&b);
    }
    ev->exact = mem_strdup("-inf");
    ev->prec = 0;
    strbuf_clear(&b);
}

/* Tries to decide value i from its ball. 1 when decided. */
static int decide_ball(eval_value *ev, const arb_t x, const eval_request *req, slong prec)
{
    strbuf b;
    strbuf_init(&b);
    uint64_t bits = 0;
    int ok = fp_decimal_ball(&b, x, req->digits);
    if (ok && req->use_format) ok = fp_round_ball(&bits, x, req->format);
    if (ok) {
        ev->decimal = strbuf_take(&b);
        if (req->use_format) {
            ev->bits = bits;
            fp_print_value(&b, bits, req->format);
            ev->format_value = strbuf_take(&b);
        }
        ev->prec = prec;
    }
    strbuf_clear(&b);
    return ok;
}

/* A rational value q found exactly after balls failed to decide it. On a
 * rounding boundary of what is asked (a decimal tie, a midpoint of the
 * format), no ball can decide it: decided exactly, with its exact text.
 * Otherwise decided from a ball around q narrow enough to decide any
 * non-boundary rational (radius about 2^-P |q|, never 0: a rational a/b off a
 * boundary of denominator D is at least 1/(b*D) away from it, and D is at
 * most 2*10^(N + bits(b)) for N digits, 2^1076 for the formats), so that
 * what is printed depends on the value only, not on which balls failed.
 * Zero is taken as a boundary: no ball around it of positive radius
 * decides it. */
static void decide_found_rational(eval_value *ev, const fmpq_t q, const eval_request *req)
{
    if (fmpq_is_zero(q)) { /* a ball of positive radius never decides 0 */
        decide_rational(ev, q, req);
        return;
    }
    slong num = (slong)fmpz_bits(fmpq_numref(q)), den = (slong)fmpz_bits(fmpq_denref(q));
    slong prec = 2 * (num + den) + 4 * req->digits + 2400;
    arb_t x;
    arb_init(x);
    arb_set_fmpq(x, q, prec);
    arb_add_error_2exp_si(x, num - den + 1 - prec); /* |q| < 2^(num - den + 1); never exact */
    if (!decide_ball(ev, x, req, prec)) decide_rational(ev, q, req);
    arb_clear(x);
}

/* The first working precision and the cap. */
static slong first_prec(const eval_request *req, slong *cap)
{
    slong prec0 = (slong)ceil((double)req->digits * 3.3219280948873623) + 32;
    if (req->use_format && fp_info(req->format)->prec + 32 > prec0) prec0 = fp_info(req->format)->prec + 32;
    *cap = req->max_prec > 0 ? req->max_prec : (64 * prec0 > EVAL_MIN_MAX_PREC ? 64 * prec0 : EVAL_MIN_MAX_PREC);
    return prec0;
}

/* Node by node, the outputs which[0 .. nw) (res->v[i] holds name and an
 * initialised q): exactly when the inlined term is a number or -inf, else
 * Ziv's loop over the balls of the DAG. 0, or 1 with errors in d. */
static int scalar_values(eval_result *res, sys *y, const eval_request *req, diag_list *d, const size_t *which, size_t nw)
{
    const term_store *s = y->store;
    for (size_t k = 0; k < nw; k++) {
        size_t i = which[k];
        res->v[i].term = sys_inline_relation(y, (size_t)sys_relation_of(y, y->outputs[i]));
    }
    expval_ctx ex;
    expval_ctx_init(&ex, s);
    ball_ctx bc;
    ball_ctx_init(&bc, s);
    char *done = mem_calloc(nw ? nw : 1, 1), *tried_exact = mem_calloc(nw ? nw : 1, 1);
    size_t left = nw;
    int failed = 0;

    for (size_t k = 0; k < nw; k++) { /* rational values and -inf: exactly */
        eval_value *ev = &res->v[which[k]];
        if (term_op_of(s, ev->term) == OP_NUM) decide_rational(ev, term_value(s, ev->term), req);
        else if (ev->term == s->neg_inf) decide_neg_inf(ev, req);
        else continue;
        done[k] = 1;
        left--;
    }

    slong cap, prec = first_prec(req, &cap);
    for (int round = 0; left > 0 && !failed; round++) {
        for (size_t k = 0; k < nw && !failed; k++) {
            if (done[k]) continue;
            size_t i = which[k];
            eval_value *ev = &res->v[i];
            const arb_struct *x = NULL;
            term_id where = TERM_NONE;
            ball_status st = ball_eval(&x, &where, &bc, ev->term, prec);
            if (st == BALL_OK && decide_ball(ev, x, req, prec)) { done[k] = 1; left--; continue; }
            if (st == BALL_OK && !arb_contains_zero(x) && out_of_decimal_range(x)) {
                const relation *rel = &y->scr->rels[sys_relation_of(y, y->outputs[i])];
                char *e2 = fmpz_get_str(NULL, 10, ARF_EXPREF(arb_midref(x)));
                diag_error(d, y->scr->src, rel->name_pos,
                           "output '%s': its magnitude, about 2^%s, is beyond what hmp writes in decimal (10^-5000000 to 10^5000000)",
                           term_sym_name(s, rel->name), e2);
                flint_free(e2);
                failed = 1;
                break;
            }
            if (st == BALL_UNDECIDED && check_domain(d, y, &ex, where, y->outputs[i])) { failed = 1; break; }
            if (st == BALL_NINF) {
                domain_error(d, y, where, y->outputs[i], term_ninf_misuse(s, where));
                failed = 1;
                break;
            }
            if (st == BALL_FREE_SYMBOL) { failed = 1; break; } /* excluded by the caller */
            if (round >= 1 && !tried_exact[k]) {
                /* two precisions did not decide: perhaps an exact tie */
                tried_exact[k] = 1;
                expval v;
                expval_init(&v);
                term_id w;
                fmpq_t q;
                fmpq_init(q);
                if (expval_of_term(&v, &w, &ex, ev->term) == EV_OK && expval_get_fmpq(q, &v)) {
                    decide_found_rational(ev, q, req);
                    done[k] = 1;
                    left--;
                }
                fmpq_clear(q);
                expval_clear(&v);
            }
        }
        if (left == 0 || failed) break;
        if (2 * prec > cap) {
            for (size_t k = 0; k < nw && !diag_full(d); k++) {
                if (done[k]) continue;
                const relation *rel = &y->scr->rels[sys_relation_of(y, y->outputs[which[k]])];
                diag_error(d, y->scr->src, rel->name_pos,
                           "output '%s': no decision below the precision cap of %ld bits (raise it with --max-prec)",
                           term_sym_name(s, rel->name), (long)cap);
            }
            failed = 1;
            break;
        }
        prec *= 2;
    }
    if (prec > res->max_prec_used) res->max_prec_used = prec;

    if (!failed && req->want_exact) {
        strbuf b;
        strbuf_init(&b);
        for (size_t k = 0; k < nw; k++) {
            eval_value *ev = &res->v[which[k]];
            if (ev->exact) continue;
            expval v;
            expval_init(&v);
            term_id w;
            if (expval_of_term(&v, &w, &ex, ev->term) == EV_OK) expval_print(&b, &v);
            else print_infix(&b, s, ev->term);
            ev->exact = strbuf_take(&b);
            expval_clear(&v);
        }
        strbuf_clear(&b);
    }
    free(done);
    free(tried_exact);
    ball_ctx_clear(&bc);
    expval_ctx_clear(&ex);
    return failed;
}

/* res with one value per output of y, names set, nothing decided. */
static void result_start(eval_result *res, const sys *y)
{
    memset(res, 0, sizeof *res);
    res->n = y->n_outputs;
    res->v = mem_calloc(res->n ? res->n : 1, sizeof *res->v);
    for (size_t i = 0; i < res->n; i++) {
        fmpq_init(res->v[i].q);
        res->v[i].name = y->outputs[i];
        res->v[i].term = TERM_NONE;
    }
}

/* Every output node by node. */
static int eval_scalar(eval_result *res, sys *y, const eval_request *req, diag_list *d)
{
    memset(res, 0, sizeof *res);
    size_t n = y->n_outputs;
    term_id *terms = mem_calloc(n ? n : 1, sizeof *terms);
    for (size_t i = 0; i < n; i++) terms[i] = sys_inline_relation(y, (size_t)sys_relation_of(y, y->outputs[i]));
    int bad = check_free_symbols(d, y, terms, n);
    free(terms);
    if (bad) return 1;
    result_start(res, y);
    size_t *which = mem_calloc(n ? n : 1, sizeof *which);
    for (size_t i = 0; i < n; i++) which[i] = i;
    int failed = scalar_values(res, y, req, d, which, n);
    free(which);
    if (failed) { eval_result_clear(res); return 1; }
    return 0;
}

int eval_wants_program(const sys *y, const eval_request *req)
{
    return !req->no_matrix && !req->want_exact && y->n_free == 0 && y->n_outputs > 0;
}

int eval_outputs(eval_result *res, sys *y, mat_program *p, const eval_request *req, diag_list *d)
{
    if (!p || !eval_wants_program(y, req)) return eval_scalar(res, y, req, d);
    mateval m;
    if (mateval_init(&m, p, y) != MATEVAL_OK || mateval_exact(&m) != MATEVAL_OK) {
        mateval_clear(&m);
        return eval_scalar(res, y, req, d);
    }
    result_start(res, y);
    size_t n = res->n, left = n;
    char *done = mem_calloc(n ? n : 1, 1);
    for (size_t i = 0; i < n; i++) { /* the outputs whose terms are numbers */
        if (!mateval_output_rational(res->v[i].q, &m, i)) continue;
        fmpq_t q;
        fmpq_init(q);
        fmpq_set(q, res->v[i].q);
        decide_rational(&res->v[i], q, req);
        fmpq_clear(q);
        done[i] = 1;
        left--;
    }
    /* balls at the first two precisions, as the scalar loop tries them
     * before it asks the exact value */
    slong cap, prec = first_prec(req, &cap);
    int failed = 0;
    arb_t x;
    arb_init(x);
    for (int round = 0; round < 2 && left > 0; round++) {
        if (round == 1) {
            if (2 * prec > cap) break;
            prec *= 2;
        }
        if (mateval_balls(&m, prec) != MATEVAL_OK) { failed = 1; break; }
        for (size_t i = 0; i < n; i++) {
            if (done[i]) continue;
            /* an exact ball (exp(0) = 1, 1/2 of an lse row of two equal
             * scores) would round a tie that the DAG's balls cannot: given
             * a radius, such a value is left to the scalar path below */
            arb_set(x, mateval_output_ball(&m, i));
            if (arb_is_exact(x))
                arb_add_error_2exp_si(x, (arf_is_zero(arb_midref(x)) ? 0 : arf_abs_bound_lt_2exp_si(arb_midref(x))) - prec);
            if (decide_ball(&res->v[i], x, req, prec)) { done[i] = 1; left--; }
        }
    }
    arb_clear(x);
    mateval_clear(&m);
    if (!failed) {
        res->matrix = 1;
        res->max_prec_used = prec;
        if (left > 0) { /* undecided: node by node, as the scalar path would */
            size_t *which = mem_calloc(left, sizeof *which), nw = 0;
            for (size_t i = 0; i < n; i++)
                if (!done[i]) which[nw++] = i;
            res->n_scalar = nw;
            diag_list scratch;
            diag_init(&scratch);
            failed = scalar_values(res, y, req, &scratch, which, nw);
            diag_clear(&scratch);
            free(which);
        }
    }
    free(done);
    if (!failed) return 0;
    /* the balls failed, or an error: the scalar path says what it is */
    eval_result_clear(res);
    return eval_scalar(res, y, req, d);
}

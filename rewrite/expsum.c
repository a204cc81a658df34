/* expsum: exp laws, softmax entries in the lse form, log-sum-exp and its
 * shift invariance (set expsum); the max-shifted form (set stable); masked
 * rows and exp-constant over a whole system; the softmax report. */
#include "rewrite/expsum.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/vec.h"

/* ---- a growable vector of ids ---- */


static int id_cmp(const void *x, const void *y)
{
    term_id a = *(const term_id *)x, b = *(const term_id *)y;
    return (a > b) - (a < b);
}

/* A copy of t's arguments (constructors move the pool). */
static term_id *args_copy(const term_store *s, term_id t, uint32_t *n)
{
    *n = term_nargs(s, t);
    term_id *v = mem_realloc(NULL, (*n ? *n : 1) * sizeof *v);
    memcpy(v, term_args(s, t), *n * sizeof *v);
    return v;
}

/* x is a sum whose every term is exp(...) with coefficient 1, nothing -inf. */
static int is_sum_of_exps(const term_store *s, term_id x)
{
    if (term_op_of(s, x) != OP_ADD || term_has_ninf(s, x)) return 0;
    uint32_t n = term_nargs(s, x);
    for (uint32_t i = 0; i < n; i++)
        if (term_op_of(s, term_arg(s, x, i)) != OP_EXP) return 0;
    return 1;
}

/* The arguments of the exps of a sum of exps. */
static term_id *exp_arguments(const term_store *s, term_id x, uint32_t *n)
{
    term_id *v = args_copy(s, x, n);
    for (uint32_t i = 0; i < *n; i++) v[i] = term_arg(s, v[i], 0);
    return v;
}

/* ---- expsum ---- */

static int arg_positive(const rule_match *m) { return rule_positive(m->s, rule_var(m, "x")); }

/* x is a sum of exps and exp(a) one of its terms. */
static int softmax_ok(const rule_match *m)
{
    term_id x = rule_var(m, "x"), a = rule_var(m, "a");
    if (!is_sum_of_exps(m->s, x) || term_has_ninf(m->s, a)) return 0;
    uint32_t n = term_nargs(m->s, x);
    for (uint32_t i = 0; i < n; i++)
        if (term_arg(m->s, term_arg(m->s, x, i), 0) == a) return 1;
    return 0;
}

/* exp(a) * (exp(s_1) + ... + exp(s_n))^-1 * R = exp(a - lse(s_1, ..., s_n)) * R:
 * exp(a) / sum exp(s_k) = exp(a - log(sum exp(s_k))). */
static term_id softmax_entry(const rule_match *m, term_id t)
{
    (void)t;
    term_store *s = m->s;
    uint32_t n;
    term_id *sk = exp_arguments(s, rule_var(m, "x"), &n);
    term_id row = term_lse(s, sk, n);
    term_id entry = term_exp(s, term_sub(s, rule_var(m, "a"), row));
    const term_id *rest;
    size_t k = rule_seq(&rest, m, "R");
    term_id *f = mem_realloc(NULL, (k + 1) * sizeof *f);
    if (k) memcpy(f, rest, k * sizeof *f);
    f[k] = entry;
    term_id out = term_mul(s, f, k + 1);
    free(f);
    free(sk);
    return out;
}

static int log_of_exps(const rule_match *m) { return is_sum_of_exps(m->s, rule_var(m, "x")); }

/* log(exp(a_1) + ... + exp(a_n)) = lse(a_1, ..., a_n): the definition. */
static term_id log_sum_exp(const rule_match *m, term_id t)
{
    (void)t;
    uint32_t n;
    term_id *a = exp_arguments(m->s, rule_var(m, "x"), &n);
    term_id out = term_lse(m->s, a, n);
    free(a);
    return out;
}

/* lse(c + a_1, ..., c + a_n) = c + lse(a_1, ..., a_n) (shift invariance:
 * sum exp(c + a_k) = exp(c) sum exp(a_k)), c = every summand common to all
 * the arguments, numbers included. An argument that is c itself leaves 0;
 * with p common summands c_i and z such arguments the operation count drops
 * by (n - 1)(W(c_1) + ... + W(c_p) + p) - z (docs/REWRITE.md): the rule
 * fires only when that is positive. */
static term_id lse_shift(const rule_match *m, term_id t)
{
    term_store *s = m->s;
    if (term_has_ninf(s, t)) return TERM_NONE;
    uint32_t n;
    term_id *a = args_copy(s, t, &n);
    /* summands of a[0] found in every argument (a sum's summands are distinct) */
    vec_u32 common = { 0 };
    uint32_t k0 = term_op_of(s, a[0]) == OP_ADD ? term_nargs(s, a[0]) : 1;
    for (uint32_t j = 0; j < k0; j++) {
        term_id u = term_op_of(s, a[0]) == OP_ADD ? term_arg(s, a[0], j) : a[0];
        int everywhere = 1;
        for (uint32_t i = 1; i < n && everywhere; i++) {
            if (term_op_of(s, a[i]) != OP_ADD) { everywhere = a[i] == u; continue; }
            uint32_t ki = term_nargs(s, a[i]), h = 0;
            while (h < ki && term_arg(s, a[i], h) != u) h++;
            everywhere = h < ki;
        }
        if (everywhere) vec_u32_push(&common, u);
    }
    term_id out = TERM_NONE;
    if (common.n > 0) {
        term_id *rest = mem_realloc(NULL, n * sizeof *rest);
        vec_u32 own = { 0 };
        uint32_t empty = 0;
        for (uint32_t i = 0; i < n; i++) {
            uint32_t ki;
            term_id *v;
            if (term_op_of(s, a[i]) == OP_ADD) v = args_copy(s, a[i], &ki);
            else { v = mem_realloc(NULL, sizeof *v); v[0] = a[i]; ki = 1; }
            own.n = 0;
            for (uint32_t h = 0; h < ki; h++) {
                size_t c = 0;
                while (c < common.n && common.v[c] != v[h]) c++;
                if (c == common.n) vec_u32_push(&own, v[h]);
            }
            empty += own.n == 0;
            rest[i] = term_add(s, own.v, own.n);
            free(v);
        }
        fmpz_t w, d;
        fmpz_init(w);
        fmpz_init(d);
        for (size_t c = 0; c < common.n; c++) {
            rule_measure_ops(w, s, common.v[c]);
            fmpz_add(d, d, w);
        }
        fmpz_add_ui(d, d, common.n);
        fmpz_mul_ui(d, d, n - 1);
        if (fmpz_cmp_ui(d, empty) > 0) out = term_add2(s, term_add(s, common.v, common.n), term_lse(s, rest, n));
        fmpz_clear(w);
        fmpz_clear(d);
        free(own.v);
        free(rest);
    }
    free(common.v);
    free(a);
    return out;
}

static const rule_def expsum_rules[] = {
    { "softmax-entry", "exp(a)*x^(-1)*R", NULL, softmax_ok, softmax_entry,
      "exp(a)/(exp(s_1) + ... + exp(s_n)) = exp(a - lse(s_1, ..., s_n)), a among the s_k, every term of the sum an exp "
      "with coefficient 1" },
    { "exp-product", "exp(a)*exp(b)*R", "exp(a+b)*R", NULL, NULL,
      "exp(a)*exp(b) = exp(a + b) for all real a, b" },
    { "exp-power", "exp(a)^k", "exp(k*a)", NULL, NULL,
      "exp(a)^k = exp(k*a) for every exponent k (exp(a) > 0); 1/exp(a) = exp(-a)" },
    { "log-of-exp", "log(exp(x))", "x", NULL, NULL,
      "log(exp(x)) = x for every real x" },
    { "exp-of-log", "exp(log(x))", "x", arg_positive, NULL,
      "exp(log(x)) = x when x > 0 is known: a positive number, exp(y), a sum of exps, ..." },
    { "log-sum-exp", "log(x)", NULL, log_of_exps, log_sum_exp,
      "log(exp(a_1) + ... + exp(a_n)) = lse(a_1, ..., a_n), every term of the sum an exp with coefficient 1" },
    { "lse-shift", "lse(a, A)", NULL, NULL, lse_shift,
      "lse(a_1 + c, ..., a_n + c) = c + lse(a_1, ..., a_n) for the summands c common to every argument (when that "
      "lowers the operation count)" },
};

const rule_set_def rule_set_expsum = {
    "expsum", "exp laws, softmax entries and log-sum-exp in the lse form (default, after algebra)",
    expsum_rules, sizeof expsum_rules / sizeof expsum_rules[0],
    rule_measure_ops, "operation count (rule_measure_ops; lse of n arguments counts n)", NULL,
};

/* ---- stable ---- */

/* lse(a_1, ..., a_n) = m + log(exp(a_1 - m) + ... + exp(a_n - m)) with
 * m = max(a_1, ..., a_n): shift invariance with c = -m; every exponent is
 * then <= 0, so no exp overflows and one of them is exp(0) = 1. */
static term_id lse_stable(const rule_match *m, term_id t)
{
    term_store *s = m->s;
    if (term_has_ninf(s, t)) return TERM_NONE;
    uint32_t n;
    term_id *a = args_copy(s, t, &n);
    term_id mx = term_max(s, a, n);
    for (uint32_t i = 0; i < n; i++) a[i] = term_exp(s, term_sub(s, a[i], mx));
    term_id out = term_add2(s, mx, term_log(s, term_add(s, a, n)));
    free(a);
    return out;
}

/* exp(x + c_1*log(y_1) + ...) = exp(x) * y_1^c_1 * ... for every summand
 * c*log(y), c a number, y > 0 known (exp(c*log(y)) = y^c for y > 0). */
static term_id exp_minus_log(const rule_match *m, term_id t)
{
    term_store *s = m->s;
    term_id x = term_arg(s, t, 0);
    if (term_has_ninf(s, x)) return TERM_NONE;
    uint32_t n;
    term_id *v;
    if (term_op_of(s, x) == OP_ADD) v = args_copy(s, x, &n);
    else { v = mem_realloc(NULL, sizeof *v); v[0] = x; n = 1; }
    vec_u32 keep = { 0 }, factors = { 0 };
    for (uint32_t i = 0; i < n; i++) {
        num_id c;
        term_id b;
        term_split_coeff(&c, &b, s, v[i]);
        if (term_op_of(s, b) == OP_LOG && rule_positive(s, term_arg(s, b, 0))) vec_u32_push(&factors, term_pow(s, term_arg(s, b, 0), term_num_id(s, c)));
        else vec_u32_push(&keep, v[i]);
    }
    term_id out = TERM_NONE;
    if (factors.n > 0) {
        vec_u32_push(&factors, term_exp(s, term_add(s, keep.v, keep.n)));
        out = term_mul(s, factors.v, factors.n);
    }
    free(keep.v);
    free(factors.v);
    free(v);
    return out;
}

static const rule_def stable_rules[] = {
    { "lse-stable", "lse(a, A)", NULL, NULL, lse_stable,
      "lse(a_1, ..., a_n) = m + log(exp(a_1 - m) + ... + exp(a_n - m)), m = max(a_1, ..., a_n)" },
    { "exp-minus-log", "exp(x)", NULL, NULL, exp_minus_log,
      "exp(x + c*log(y)) = exp(x)*y^c for a number c when y > 0 is known (a sum of exps is)" },
};

/* The stable measure: a dynamic program over the DAG, tree values. */
static void stable_node(fmpz_t out, const term_store *s, term_id t, const fmpz *val)
{
    uint32_t n = term_nargs(s, t);
    fmpz_zero(out);
    switch (term_op_of(s, t)) {
    case OP_NUM: case OP_SYM: case OP_NINF: fmpz_set_ui(out, 2); return;
    case OP_ADD: case OP_MAX: case OP_MIN:
        for (uint32_t i = 0; i < n; i++) fmpz_add(out, out, val + term_arg(s, t, i));
        return;
    case OP_MUL:
        for (uint32_t i = 0; i < n; i++)
            if (term_op_of(s, term_arg(s, t, i)) != OP_NUM) fmpz_add(out, out, val + term_arg(s, t, i));
        return;
    case OP_POW: {
        term_id b = term_arg(s, t, 0), e = term_arg(s, t, 1);
        if (term_op_of(s, e) == OP_NUM) fmpz_set(out, val + b);
        else fmpz_mul(out, val + b, val + e);
        return;
    }
    case OP_LSE:
        for (uint32_t i = 0; i < n; i++) fmpz_add(out, out, val + term_arg(s, t, i));
        fmpz_mul_ui(out, out, (ulong)n + 3);
        fmpz_add_ui(out, out, (ulong)n + 2);
        return;
    default: /* exp, log, abs, tanh */
        fmpz_add_ui(out, val + term_arg(s, t, 0), 1);
        return;
    }
}

void expsum_measure_stable(fmpz_t out, const term_store *s, term_id t)
{
    unsigned char *mark = mem_calloc((size_t)t + 1, 1);
    fmpz *val = mem_calloc((size_t)t + 1, sizeof *val); /* zeroed fmpz are valid zeros */
    term_mark_reachable(mark, s, &t, 1);
    for (term_id u = 1; u <= t; u++)
        if (mark[u]) stable_node(val + u, s, u, val);
    fmpz_set(out, val + t);
    for (term_id u = 1; u <= t; u++) fmpz_clear(val + u);
    free(val);
    free(mark);
}

const rule_set_def rule_set_stable = {
    "stable", "the max-shifted form of lse and softmax (--stable, after expsum; undoes it)",
    stable_rules, sizeof stable_rules / sizeof stable_rules[0],
    expsum_measure_stable, "stable weight (expsum_measure_stable): lse weighs (n + 3) times its arguments", "expsum",
};

/* ---- the passes over a system, named in traces ----
 * Never run by an engine (the builders decline): the patterns say where
 * each applies, expsum_run does the work over all the terms at once. */

static term_id applied_by_expsum_run(const rule_match *m, term_id t) { (void)m; (void)t; return TERM_NONE; }

static const rule_def pass_rules[] = {
    { "masked-row", "exp(x)", NULL, NULL, applied_by_expsum_run,
      "an entry exp(s_j - lse(s_1, ..., s_n)) of a row whose every score is -inf is 0 (a safe softmax; not an "
      "identity: 0/0 has no value)" },
    { "masked-score", "lse(a, A)", NULL, NULL, applied_by_expsum_run,
      "a score s of a row whose relation is -inf replaced by -inf (lse drops it, exp(-inf - ...) = 0)" },
    { "exp-constant", "exp(a+A)", NULL, NULL, applied_by_expsum_run,
      "exp(b + c) = exp(c)*exp(b), c a nonzero number, when exp(b + c') with another number c' or exp(b) is in the "
      "system too: exp(b) is then shared" },
};

static const rule_set_def pass_set_def = {
    "expsum-passes", "passes of expsum over the whole system (masks, exp-constant)",
    pass_rules, sizeof pass_rules / sizeof pass_rules[0],
    NULL, "none: each runs once over the system", NULL,
};

enum { PASS_MASKED_ROW, PASS_MASKED_SCORE, PASS_EXP_CONSTANT };

/* ---- softmax entries ---- */

static int is_minus_one(const term_store *s, term_id c)
{
    if (term_op_of(s, c) != OP_NUM) return 0;
    const fmpq *v = term_value(s, c);
    return fmpz_equal_si(fmpq_numref(v), -1) && fmpz_is_one(fmpq_denref(v));
}

/* The summand c*u of e (a sum, or one summand) with c = -1 and u of
 * operator op, or NONE; from index *from on (updated). */
static term_id negated_summand(const term_store *s, term_id e, term_op op, uint32_t *from)
{
    int sum = term_op_of(s, e) == OP_ADD;
    uint32_t n = sum ? term_nargs(s, e) : 1;
    for (; *from < n; (*from)++) {
        term_id u = sum ? term_arg(s, e, *from) : e;
        if (term_op_of(s, u) != OP_MUL || term_nargs(s, u) != 2) continue;
        term_id c = term_arg(s, u, 0), b = term_arg(s, u, 1);
        if (term_op_of(s, b) != op || !is_minus_one(s, c)) continue;
        (*from)++;
        return b;
    }
    return TERM_NONE;
}

static int index_in_args(uint32_t *pos, const term_store *s, term_id t, term_id a)
{
    uint32_t n = term_nargs(s, t);
    for (uint32_t i = 0; i < n; i++)
        if (term_arg(s, t, i) == a) { *pos = i; return 1; }
    return 0;
}

/* exp(s_j - L), L = lse(row), s_j an argument of L. */
static int entry_lse_form(term_id *row, uint32_t *pos, term_store *s, term_id t)
{
    term_id e = term_arg(s, t, 0);
    uint32_t from = 0;
    term_id l;
    while ((l = negated_summand(s, e, OP_LSE, &from)) != TERM_NONE) {
        term_id a = term_add2(s, e, l);
        if (index_in_args(pos, s, l, a)) { *row = l; return 1; }
    }
    return 0;
}

/* exp(s_j - M) * Z^-1, Z = sum exp(s_k - M), M = max(s_k). */
static int entry_stable_form(term_id *row, uint32_t *pos, term_store *s, term_id t)
{
    if (term_nargs(s, t) != 2) return 0;
    term_id f = term_arg(s, t, 0), d = term_arg(s, t, 1);
    if (term_op_of(s, f) != OP_EXP) { term_id w = f; f = d; d = w; }
    if (term_op_of(s, f) != OP_EXP || term_op_of(s, d) != OP_POW) return 0;
    term_id z = term_arg(s, d, 0), k = term_arg(s, d, 1);
    if (!is_minus_one(s, k) || !is_sum_of_exps(s, z)) return 0;
    uint32_t j;
    if (!index_in_args(&j, s, z, f)) return 0;
    term_id e = term_arg(s, f, 0);
    uint32_t from = 0;
    term_id mx;
    int found = 0;
    while (!found && (mx = negated_summand(s, e, OP_MAX, &from)) != TERM_NONE) {
        uint32_t n;
        term_id *a = exp_arguments(s, z, &n);
        for (uint32_t i = 0; i < n; i++) a[i] = term_add2(s, a[i], mx);
        if (term_max(s, a, n) == mx) {
            term_id sj = a[j];
            *row = term_lse(s, a, n);
            found = term_op_of(s, *row) == OP_LSE && index_in_args(pos, s, *row, sj);
        }
        free(a);
    }
    return found;
}

int expsum_entry(term_id *row, uint32_t *pos, term_store *s, term_id t)
{
    if (term_has_ninf(s, t)) return 0;
    if (term_op_of(s, t) == OP_EXP) return entry_lse_form(row, pos, s, t);
    if (term_op_of(s, t) == OP_MUL) return entry_stable_form(row, pos, s, t);
    return 0;
}

/* ---- the report ---- */

void expsum_report_init(expsum_report *r) { memset(r, 0, sizeof *r); }

void expsum_report_clear(expsum_report *r)
{
    free(r->entry_row);
    for (size_t i = 0; i < r->n_masked; i++) free(r->masked[i].where);
    free(r->masked);
    memset(r, 0, sizeof *r);
}

void expsum_recognise(expsum_report *r, term_store *s, const term_id *terms, size_t n)
{
    free(r->entry_row);
    r->entry_row = mem_calloc(n ? n : 1, sizeof *r->entry_row);
    r->n_terms = n;
    r->softmax_entries = r->softmax_rows = 0;
    term_id *rows = mem_realloc(NULL, (n ? n : 1) * sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        uint32_t pos;
        term_id row;
        if (!expsum_entry(&row, &pos, s, terms[i])) continue;
        r->entry_row[i] = row;
        rows[r->softmax_entries++] = row;
    }
    qsort(rows, r->softmax_entries, sizeof *rows, id_cmp);
    for (size_t i = 0; i < r->softmax_entries; i++) r->softmax_rows += i == 0 || rows[i] != rows[i - 1];
    free(rows);
}

/* ---- the simplifier ---- */

void expsum_options_init(expsum_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->max_steps = RW_DEFAULT_MAX_STEPS;
}

void expsum_simplifier_init(expsum_simplifier *x, term_store *s, const expsum_options *opt)
{
    memset(x, 0, sizeof *x);
    x->s = s;
    x->opt = *opt;
    if (x->opt.n_sets == 0) {
        x->opt.sets[0] = &rule_set_algebra;
        x->opt.sets[1] = &rule_set_expsum;
        x->opt.n_sets = 2;
    }
    const rule_set *ptr[EXPSUM_MAX_SETS];
    for (size_t i = 0; i < x->opt.n_sets; i++) {
        rule_set_init(&x->sets[i], x->opt.sets[i]);
        ptr[i] = &x->sets[i];
        if (x->opt.sets[i] == &rule_set_expsum) x->passes = 1;
    }
    rw_init(&x->first, s, ptr, x->opt.n_sets);
    rw_set_trace(&x->first, x->opt.trace);
    rw_set_max_steps(&x->first, x->opt.max_steps);
    rule_set_init(&x->pass_set, &pass_set_def);
    if (x->opt.stable) {
        rule_set_init(&x->stable_set, &rule_set_stable);
        const rule_set *st = &x->stable_set;
        rw_init(&x->second, s, &st, 1);
        rw_set_trace(&x->second, x->opt.trace);
    }
    expsum_report_init(&x->report);
    x->report.stable = x->opt.stable;
}

void expsum_simplifier_clear(expsum_simplifier *x)
{
    rw_clear(&x->first);
    for (size_t i = 0; i < x->opt.n_sets; i++) rule_set_clear(&x->sets[i]);
    if (x->opt.stable) {
        rw_clear(&x->second);
        rule_set_clear(&x->stable_set);
    }
    rule_set_clear(&x->pass_set);
    free(x->steps);
    expsum_report_clear(&x->report);
    memset(x, 0, sizeof *x);
}

static void add_step(expsum_simplifier *x, const rule *r, term_id before, term_id after, uint32_t where)
{
    if (!x->opt.trace) return;
    VEC_RESERVE(x->steps, x->cap_steps, x->n_steps + 1);
    x->steps[x->n_steps++] = (rw_step){ r, before, after, where };
}

/* The engine's steps from *copied on, appended to the trace. */
static void take_steps(expsum_simplifier *x, const rw_engine *e, size_t *copied)
{
    for (; *copied < e->n_steps; (*copied)++) {
        const rw_step *st = &e->steps[*copied];
        add_step(x, st->rule, st->before, st->after, st->where);
    }
}

/* The nodes reachable from t, in increasing id (an explicit stack; stamp[]
 * over the store's ids, gen a fresh mark). */
typedef struct reach {
    uint32_t *stamp;
    uint32_t size, gen;
    vec_u32 stack, out;
} reach;

static void reach_clear(reach *r)
{
    free(r->stamp);
    free(r->stack.v);
    free(r->out.v);
}

static void reach_walk(reach *r, const term_store *s, term_id t)
{
    if (s->n_nodes > r->size) {
        uint32_t size = s->n_nodes + s->n_nodes / 2 + 64;
        r->stamp = mem_realloc(r->stamp, (size_t)size * sizeof *r->stamp);
        memset(r->stamp + r->size, 0, (size_t)(size - r->size) * sizeof *r->stamp);
        r->size = size;
    }
    if (++r->gen == 0) {
        memset(r->stamp, 0, (size_t)r->size * sizeof *r->stamp);
        r->gen = 1;
    }
    r->out.n = r->stack.n = 0;
    vec_u32_push(&r->stack, t);
    r->stamp[t] = r->gen;
    while (r->stack.n) {
        term_id u = r->stack.v[--r->stack.n];
        vec_u32_push(&r->out, u);
        uint32_t k = term_nargs(s, u);
        for (uint32_t j = 0; j < k; j++) {
            term_id a = term_arg(s, u, j);
            if (r->stamp[a] != r->gen) {
                r->stamp[a] = r->gen;
                vec_u32_push(&r->stack, a);
            }
        }
    }
    qsort(r->out.v, r->out.n, sizeof *r->out.v, id_cmp);
}

/* Marks (mark[u] = 1, size term_count + 1) every node reachable from terms. */
static unsigned char *mark_all(const term_store *s, const term_id *terms, size_t n)
{
    unsigned char *mark = mem_calloc((size_t)term_count(s) + 1, 1);
    term_mark_reachable(mark, s, terms, n);
    return mark;
}

/* ---- masks ---- */

/* score_state[u]: 0 not looked at, 1 a score that is not -inf, 2 masked. */
static int score_masked(unsigned char *state, term_store *s, sys *y, term_id a)
{
    if (term_op_of(s, a) != OP_SYM) return 0;
    if (!state[a]) {
        int32_t r = sys_relation_of(y, a);
        state[a] = r >= 0 && sys_inline_relation(y, (size_t)r) == s->neg_inf ? 2 : 1;
    }
    return state[a] == 2;
}

static expsum_masked_row *masked_row_of(expsum_simplifier *x, term_id row)
{
    expsum_report *r = &x->report;
    for (size_t i = 0; i < r->n_masked; i++)
        if (r->masked[i].row == row) return &r->masked[i];
    r->masked = mem_realloc(r->masked, (r->n_masked + 1) * sizeof *r->masked);
    r->masked[r->n_masked] = (expsum_masked_row){ row, NULL, 0 };
    return &r->masked[r->n_masked++];
}

/* Rows with -inf scores: the entries of a row whose every score is -inf
 * become 0 (masked-row), then every -inf score of a row is replaced by -inf
 * (masked-score) so that lse drops it; changed[i] set for the terms changed. */
static void mask_pass(expsum_simplifier *x, term_id *terms, size_t n, sys *y, unsigned char *changed)
{
    term_store *s = x->s;
    term_id top = 0;
    for (size_t i = 0; i < n; i++)
        if (terms[i] > top) top = terms[i];
    unsigned char *mark = mark_all(s, terms, n);
    /* per LSE node reachable: 1 = some score masked, 2 = every score masked */
    unsigned char *row_state = mem_calloc((size_t)top + 1, 1);
    unsigned char *state = mem_calloc((size_t)top + 1, 1);
    int any = 0;
    for (term_id u = 1; u <= top; u++) {
        if (!mark[u] || term_op_of(s, u) != OP_LSE) continue;
        uint32_t k = term_nargs(s, u), masked = 0;
        for (uint32_t j = 0; j < k; j++) masked += score_masked(state, s, y, term_arg(s, u, j));
        row_state[u] = masked == 0 ? 0 : masked == k ? 2 : 1;
        any |= masked > 0;
    }
    free(mark);
    if (any) {
        reach rc = { 0 };
        vec_u32 entries = { 0 }, scores = { 0 };
        const rule *masked_row = &x->pass_set.rules[PASS_MASKED_ROW];
        const rule *masked_score = &x->pass_set.rules[PASS_MASKED_SCORE];
        for (size_t i = 0; i < n; i++) {
            reach_walk(&rc, s, terms[i]);
            entries.n = scores.n = 0;
            for (size_t h = 0; h < rc.out.n; h++) {
                term_id u = rc.out.v[h], row;
                uint32_t pos;
                if (term_op_of(s, u) == OP_LSE && u <= top && row_state[u]) {
                    uint32_t k = term_nargs(s, u);
                    for (uint32_t j = 0; j < k; j++)
                        if (score_masked(state, s, y, term_arg(s, u, j))) vec_u32_push(&scores, term_arg(s, u, j));
                } else if (term_op_of(s, u) == OP_EXP && expsum_entry(&row, &pos, s, u) && row <= top && row_state[row] == 2) {
                    vec_u32_push(&entries, u);
                    expsum_masked_row *mr = masked_row_of(x, row);
                    if (mr->n_where == 0 || mr->where[mr->n_where - 1] != i) {
                        mr->where = mem_realloc(mr->where, (mr->n_where + 1) * sizeof *mr->where);
                        mr->where[mr->n_where++] = (uint32_t)i;
                    }
                }
            }
            if (scores.n) qsort(scores.v, scores.n, sizeof *scores.v, id_cmp);
            term_id t = terms[i];
            for (size_t h = 0; h < entries.n; h++) {
                term_id v = rw_replace(s, t, entries.v[h], s->zero);
                if (v != t) add_step(x, masked_row, entries.v[h], s->zero, (uint32_t)i);
                t = v;
            }
            for (size_t h = 0; h < scores.n; h++) {
                if (h > 0 && scores.v[h] == scores.v[h - 1]) continue;
                term_id v = rw_replace(s, t, scores.v[h], s->neg_inf);
                if (v != t) add_step(x, masked_score, scores.v[h], s->neg_inf, (uint32_t)i);
                t = v;
            }
            if (t != terms[i]) {
                terms[i] = t;
                changed[i] = 1;
            }
        }
        free(entries.v);
        free(scores.v);
        reach_clear(&rc);
    }
    free(state);
    free(row_state);
}

/* ---- exp-constant ---- */

/* exp(A) as c + b: *c the numeric summand of A (NONE if none), *b the rest. */
static void split_constant(term_id *c, term_id *b, term_store *s, term_id a)
{
    *c = TERM_NONE;
    *b = a;
    if (term_op_of(s, a) != OP_ADD || term_op_of(s, term_arg(s, a, 0)) != OP_NUM) return;
    uint32_t n;
    term_id *v = args_copy(s, a, &n);
    *c = v[0];
    *b = term_add(s, v + 1, n - 1);
    free(v);
}

typedef struct exp_split {
    term_id base, constant, node; /* node = exp(base + constant); constant NONE: exp(base) */
} exp_split;

static int exp_split_cmp(const void *x, const void *y)
{
    const exp_split *a = x, *b = y;
    if (a->base != b->base) return (a->base > b->base) - (a->base < b->base);
    return (a->node > b->node) - (a->node < b->node);
}

/* exp(b + c) = exp(c)*exp(b) for the exps of the terms whose b recurs with
 * another constant (or none): exp(b) is then computed once. A softmax entry
 * stays whole (its row is already shared) but counts as an exp(b). */
static void exp_constant_pass(expsum_simplifier *x, term_id *terms, size_t n)
{
    term_store *s = x->s;
    term_id top = 0;
    for (size_t i = 0; i < n; i++)
        if (terms[i] > top) top = terms[i];
    unsigned char *mark = mark_all(s, terms, n);
    exp_split *v = NULL;
    size_t nv = 0, cap = 0;
    for (term_id u = 1; u <= top; u++) {
        if (!mark[u] || term_op_of(s, u) != OP_EXP || term_has_ninf(s, u)) continue;
        term_id a = term_arg(s, u, 0), row;
        uint32_t pos;
        if (term_op_of(s, a) == OP_NUM) continue;
        VEC_RESERVE(v, cap, nv + 1);
        if (expsum_entry(&row, &pos, s, u)) { /* kept whole */
            v[nv].constant = TERM_NONE;
            v[nv].base = a;
        } else {
            split_constant(&v[nv].constant, &v[nv].base, s, a);
        }
        v[nv++].node = u;
    }
    if (nv) qsort(v, nv, sizeof *v, exp_split_cmp);
    /* qualify[u] = 1: u = exp(b + c) becomes exp(c)*exp(b) */
    unsigned char *qualify = mem_calloc((size_t)top + 1, 1);
    size_t n_qualify = 0;
    for (size_t i = 0; i < nv;) {
        size_t j = i + 1;
        while (j < nv && v[j].base == v[i].base) j++;
        if (j - i >= 2)
            for (size_t h = i; h < j; h++)
                if (v[h].constant) { qualify[v[h].node] = 1; n_qualify++; }
        i = j;
    }
    free(v);
    if (n_qualify > 0) {
        /* images bottom-up: a qualifying node from its rebuilt form (cur) */
        term_id *img = mem_calloc((size_t)top + 1, sizeof *img), *cur = mem_calloc((size_t)top + 1, sizeof *cur);
        vec_u32 args = { 0 };
        for (term_id u = 1; u <= top; u++) {
            if (!mark[u]) continue;
            uint32_t k = term_nargs(s, u);
            int any = 0;
            args.n = 0;
            for (uint32_t j = 0; j < k; j++) {
                term_id a = term_arg(s, u, j);
                vec_u32_push(&args, img[a]);
                any |= img[a] != a;
            }
            term_id c = any ? term_make(s, term_op_of(s, u), args.v, k) : u;
            img[u] = c;
            if (qualify[u] && term_op_of(s, c) == OP_EXP) {
                term_id k0, b;
                split_constant(&k0, &b, s, term_arg(s, c, 0));
                if (k0) {
                    cur[u] = c;
                    img[u] = term_mul2(s, term_exp(s, k0), term_exp(s, b));
                }
            }
        }
        free(args.v);
        if (x->opt.trace) {
            const rule *r = &x->pass_set.rules[PASS_EXP_CONSTANT];
            reach rc = { 0 };
            for (size_t i = 0; i < n; i++) {
                reach_walk(&rc, s, terms[i]);
                for (size_t h = 0; h < rc.out.n; h++) {
                    term_id u = rc.out.v[h];
                    if (u <= top && cur[u]) add_step(x, r, cur[u], img[u], (uint32_t)i);
                }
            }
            reach_clear(&rc);
        }
        for (size_t i = 0; i < n; i++) terms[i] = img[terms[i]];
        free(img);
        free(cur);
    }
    free(qualify);
    free(mark);
}

/* ---- the whole run ---- */

void expsum_run(expsum_simplifier *x, term_id *terms, size_t n, sys *y)
{
    size_t copied = 0;
    for (size_t i = 0; i < n; i++) terms[i] = rw_simplify(&x->first, terms[i], (uint32_t)i);
    take_steps(x, &x->first, &copied);
    x->fired = x->first.fired;
    x->capped = x->first.capped;
    if (x->passes && !x->capped) {
        if (y) {
            unsigned char *changed = mem_calloc(n ? n : 1, 1);
            mask_pass(x, terms, n, y, changed);
            for (size_t i = 0; i < n; i++)
                if (changed[i]) terms[i] = rw_simplify(&x->first, terms[i], (uint32_t)i);
            take_steps(x, &x->first, &copied);
            x->fired = x->first.fired;
            x->capped = x->first.capped;
            free(changed);
        }
        if (!x->capped) exp_constant_pass(x, terms, n);
    }
    if (x->opt.stable && !x->capped) {
        size_t copied2 = 0;
        rw_set_max_steps(&x->second, x->opt.max_steps - x->fired);
        for (size_t i = 0; i < n; i++) terms[i] = rw_simplify(&x->second, terms[i], (uint32_t)i);
        take_steps(x, &x->second, &copied2);
        x->fired += x->second.fired;
        x->capped = x->second.capped;
    }
    expsum_recognise(&x->report, x->s, terms, n);
}

/* expval_term: the iterative memoised evaluator of exact values over the
 * term DAG: powers, roots, log forms r + sum c_i*lse(A_i) under exp. */
#include "eval/expval_impl.h"

#include <stdlib.h>
#include <string.h>

#include "eval/ball.h"
#include "core/mem.h"

/* ---- evaluation of terms ---- */

void expval_ctx_init(expval_ctx *ctx, const term_store *s)
{
    ctx->s = s;
    ctx->memo = NULL;
    ctx->state = NULL;
    ctx->status = NULL;
    ctx->size = 0;
}

void expval_ctx_clear(expval_ctx *ctx)
{
    for (uint32_t i = 0; i < ctx->size; i++)
        if (ctx->memo[i].num.alloc || ctx->memo[i].den.alloc) expval_clear(ctx->memo + i);
    free(ctx->memo);
    free(ctx->state);
    free(ctx->status);
    expval_ctx_init(ctx, ctx->s);
}

/* Slots for every node of the store (which may have grown since the last
 * call). A zeroed expval is an empty one; its den is set on first use. */
static void ctx_fit(expval_ctx *ctx)
{
    uint32_t n = ctx->s->n_nodes;
    if (n <= ctx->size) return;
    uint32_t old = ctx->size;
    ctx->memo = mem_realloc(ctx->memo, (size_t)n * sizeof(expval));
    ctx->state = mem_realloc(ctx->state, n);
    ctx->status = mem_realloc(ctx->status, n);
    memset(ctx->memo + old, 0, (size_t)(n - old) * sizeof(expval));
    memset(ctx->state + old, 0, n - old);
    memset(ctx->status + old, 0, n - old);
    ctx->size = n;
}

/* Reduces k >= 1 values pairwise in a balanced tree (sums and products of
 * many sums grow less, and merges cost O(T log k) instead of O(T k)). */
static int reduce_balanced(expval *out, const expval **v, size_t k, int is_add)
{
    if (k == 1) {
        expval_set(out, v[0]);
        return EV_OK;
    }
    size_t m = (k + 1) / 2;
    expval *w = mem_realloc(NULL, m * sizeof(expval));
    for (size_t i = 0; i < m; i++) expval_init(w + i);
    int st = EV_OK;
    for (size_t i = 0; st == EV_OK && i < k / 2; i++)
        st = is_add ? expval_add(w + i, v[2 * i], v[2 * i + 1]) : expval_mul(w + i, v[2 * i], v[2 * i + 1]);
    if (k % 2) expval_set(w + m - 1, v[k - 1]);
    while (st == EV_OK && m > 1) {
        for (size_t i = 0; st == EV_OK && i < m / 2; i++)
            st = is_add ? expval_add(w + i, w + 2 * i, w + 2 * i + 1) : expval_mul(w + i, w + 2 * i, w + 2 * i + 1);
        if (m % 2) expval_swap(w + m / 2, w + m - 1);
        m = (m + 1) / 2;
    }
    if (st == EV_OK) expval_swap(out, w);
    for (size_t i = 0; i < (k + 1) / 2; i++) expval_clear(w + i);
    free(w);
    return st;
}

/* Largest root taken exactly (as in the term store). */
#define EV_ROOT_MAX_Q 4096

/* r = x^(1/n) when x >= 0 is an exact n-th power. */
static int fmpz_exact_root(fmpz_t r, const fmpz_t x, slong n)
{
    fmpz_t c;
    fmpz_init(c);
    fmpz_root(r, x, n);
    fmpz_pow_ui(c, r, (ulong)n);
    int ok = fmpz_equal(c, x);
    fmpz_clear(c);
    return ok;
}

/* b^e for a rational e that is not a machine integer. In the fragment when
 * b = 0 (e > 0), or b = c*exp(r) with (c*exp(r))^e = c^e*exp(r*e) and c^e
 * rational: c > 0 an exact n-th power for e = p/n, or c = +-1 for a huge
 * integer e. Other huge integer powers are too big, other roots outside. */
static int pow_fmpq(expval *out, const expval *b, const fmpq_t e)
{
    int integer = fmpz_is_one(fmpq_denref(e));
    if (expval_is_zero(b)) {
        if (fmpq_sgn(e) < 0) return EV_DIV_ZERO;
        expval_zero(out);
        return EV_OK;
    }
    if (b->num.n != 1 || !expval_sum_is_one(&b->den)) return integer ? EV_TOO_BIG : EV_OUTSIDE;
    const fmpq *c = b->num.c, *r = b->num.r;
    fmpq_t coef, x;
    fmpq_init(coef);
    fmpq_init(x);
    int st = EV_OK;
    if (integer) {
        if (!fmpz_is_one(fmpq_denref(c)) || !fmpz_is_pm1(fmpq_numref(c))) st = EV_TOO_BIG;
        else fmpq_set_si(coef, fmpq_sgn(c) < 0 && fmpz_is_odd(fmpq_numref(e)) ? -1 : 1, 1);
    } else if (fmpq_sgn(c) < 0 || !fmpz_fits_si(fmpq_numref(e)) || fmpz_cmp_ui(fmpq_denref(e), EV_ROOT_MAX_Q) > 0) {
        st = EV_OUTSIDE;
    } else {
        slong n = fmpz_get_si(fmpq_denref(e)), p = fmpz_get_si(fmpq_numref(e));
        if (!fmpz_exact_root(fmpq_numref(coef), fmpq_numref(c), n) ||
            !fmpz_exact_root(fmpq_denref(coef), fmpq_denref(c), n)) {
            st = EV_OUTSIDE;
        } else {
            /* |p| < 2^63 and the root has at most EV_MAX_BITS bits: bound first */
            ulong ap = p < 0 ? -(ulong)p : (ulong)p;
            ulong bits = fmpz_bits(fmpq_numref(coef)) + fmpz_bits(fmpq_denref(coef));
            if (bits > 2 && ap > (ulong)(2 * EV_MAX_BITS) / (bits - 2)) st = EV_TOO_BIG;
            else fmpq_pow_si(coef, coef, p);
        }
    }
    if (st == EV_OK) {
        fmpq_mul(x, r, e);
        if (!expval_fmpq_bits_ok(coef) || !expval_fmpq_bits_ok(x)) {
            st = EV_TOO_BIG;
        } else {
            expval_sum_set_term(&out->num, coef, x);
            expval_sum_one(&out->den);
        }
    }
    fmpq_clear(coef);
    fmpq_clear(x);
    return st;
}

/* ---- log forms: r + c_1*lse(A_1) + ... + c_k*lse(A_k) ----
 * Such a term is a logarithm, outside the fragment, but its exp is
 * exp(r) * prod_i S_i^c_i with S_i = sum_{a in A_i} exp(a), inside it when
 * every power is. An lse node keeps S_i (state LSE_SUM, never released: the
 * log forms above it name it by id); a sum or a multiple of lse terms keeps
 * its pairs (c_i, lse_i) and (r, 0) as an expval_sum whose "exponents" are term
 * ids (state LOG_FORM); exp, a sum, a number times one, or an lse use them. */

static int is_log_kind(const expval_ctx *ctx, term_id t)
{
    return ctx->state[t] == EV_LSE_SUM || ctx->state[t] == EV_LOG_FORM;
}

/* One pair (c, key) of a log form; key 0 is the rational part r. */
typedef struct log_pair {
    term_id key;
    const fmpq *c;
} log_pair;

static int cmp_log_pair(const void *a, const void *b)
{
    term_id x = ((const log_pair *)a)->key, y = ((const log_pair *)b)->key;
    return x < y ? -1 : x > y;
}

static term_id log_key(const fmpq_t r) { return (term_id)fmpz_get_ui(fmpq_numref(r)); }

/* out = r + sum of the pairs (sorted by key, equal keys added, zeros
 * dropped); a log form (*kind = LOG_FORM) unless no lse is left, then the
 * rational r. */
static void log_form_build(expval *out, unsigned char *kind, const fmpq_t r, log_pair *p, size_t np)
{
    qsort(p, np, sizeof *p, cmp_log_pair);
    expval_sum *x = &out->num;
    expval_sum_fit(x, (slong)np + 1);
    slong k = 0;
    if (!fmpq_is_zero(r)) {
        fmpq_set(x->c, r);
        fmpq_zero(x->r);
        k = 1;
    }
    for (size_t i = 0; i < np;) {
        fmpq_set(x->c + k, p[i].c);
        size_t j = i + 1;
        for (; j < np && p[j].key == p[i].key; j++) fmpq_add(x->c + k, x->c + k, p[j].c);
        if (!fmpq_is_zero(x->c + k)) fmpq_set_ui(x->r + k++, p[i].key, 1);
        i = j;
    }
    x->n = k;
    expval_sum_one(&out->den);
    *kind = EV_LOG_FORM;
    if (k == 0 || (k == 1 && fmpq_is_zero(x->r))) {
        expval_set_fmpq(out, r);
        *kind = EV_VALUE;
    }
}

/* A sum of rational values and log forms. */
static int log_form_sum(expval *out, unsigned char *kind, expval_ctx *ctx, const term_id *args, uint32_t n)
{
    fmpq_t r, q, one;
    fmpq_init(r);
    fmpq_init(q);
    fmpq_init(one);
    fmpq_one(one);
    log_pair *p = NULL;
    size_t np = 0, cap = 0;
    int st = EV_OK;
    for (uint32_t i = 0; st == EV_OK && i < n; i++) {
        term_id u = args[i];
        const expval_sum *x = &ctx->memo[u].num;
        slong m = ctx->state[u] == EV_LSE_SUM ? 1 : ctx->state[u] == EV_LOG_FORM ? x->n : 0;
        if (np + (size_t)m > cap) {
            while (np + (size_t)m > cap) cap = cap ? 2 * cap : 16;
            p = mem_realloc(p, cap * sizeof *p);
        }
        if (ctx->state[u] == EV_LSE_SUM) {
            p[np++] = (log_pair){ u, one };
        } else if (ctx->state[u] == EV_LOG_FORM) {
            for (slong j = 0; j < x->n; j++) {
                if (fmpq_is_zero(x->r + j)) fmpq_add(r, r, x->c + j);
                else p[np++] = (log_pair){ log_key(x->r + j), x->c + j };
            }
        } else if (expval_get_fmpq(q, ctx->memo + u)) {
            fmpq_add(r, r, q);
        } else {
            st = EV_OUTSIDE; /* exp(1) + lse(a, b) */
        }
    }
    if (st == EV_OK) log_form_build(out, kind, r, p, np);
    if (st == EV_OK && !expval_sum_bits_ok(&out->num)) st = EV_TOO_BIG;
    free(p);
    fmpq_clear(r);
    fmpq_clear(q);
    fmpq_clear(one);
    return st;
}

/* A product of rational values and one log form: the log form scaled. */
static int log_form_scale(expval *out, unsigned char *kind, expval_ctx *ctx, const term_id *args, uint32_t n)
{
    fmpq_t c, q;
    fmpq_init(c);
    fmpq_init(q);
    fmpq_one(c);
    term_id f = TERM_NONE;
    int st = EV_OK;
    for (uint32_t i = 0; st == EV_OK && i < n; i++) {
        if (is_log_kind(ctx, args[i])) {
            if (f != TERM_NONE) st = EV_OUTSIDE; /* a product of two logarithms */
            f = args[i];
        } else if (expval_get_fmpq(q, ctx->memo + args[i])) {
            fmpq_mul(c, c, q);
        } else {
            st = EV_OUTSIDE;
        }
    }
    if (st == EV_OK) {
        log_pair one = { f, c };
        fmpq_zero(q);
        if (fmpq_is_zero(c)) log_form_build(out, kind, q, NULL, 0);
        else if (ctx->state[f] == EV_LSE_SUM) log_form_build(out, kind, q, &one, 1);
        else {
            expval_sum_scale(&out->num, &ctx->memo[f].num, c, q); /* keys unchanged */
            expval_sum_one(&out->den);
            *kind = EV_LOG_FORM;
        }
        if (!expval_sum_bits_ok(&out->num)) st = EV_TOO_BIG;
    }
    fmpq_clear(c);
    fmpq_clear(q);
    return st;
}

static int pow_fmpq(expval *out, const expval *b, const fmpq_t e);

/* exp of the log form of node u: exp(r) * prod_i S_i^c_i. */
static int exp_of_log_form(expval *out, expval_ctx *ctx, term_id u)
{
    if (ctx->state[u] == EV_LSE_SUM) { /* exp(lse(A)) = S */
        expval_set(out, ctx->memo + u);
        return EV_OK;
    }
    const expval_sum *x = &ctx->memo[u].num;
    expval acc, pw;
    expval_init(&acc);
    expval_init(&pw);
    fmpq_t r;
    fmpq_init(r);
    int st = EV_OK;
    for (slong i = 0; i < x->n; i++)
        if (fmpq_is_zero(x->r + i)) fmpq_set(r, x->c + i);
    expval_exp_fmpq(&acc, r);
    for (slong i = 0; st == EV_OK && i < x->n; i++) {
        if (fmpq_is_zero(x->r + i)) continue;
        term_id l = log_key(x->r + i);
        if (l >= ctx->size || ctx->state[l] != EV_LSE_SUM) abort(); /* lse values are kept */
        const fmpq *c = x->c + i;
        if (fmpz_is_one(fmpq_denref(c)) && fmpz_fits_si(fmpq_numref(c)))
            st = expval_pow_si(&pw, ctx->memo + l, fmpz_get_si(fmpq_numref(c)));
        else
            st = pow_fmpq(&pw, ctx->memo + l, c);
        if (st == EV_OK) st = expval_mul(&acc, &acc, &pw);
    }
    if (st == EV_OK) expval_swap(out, &acc);
    expval_clear(&acc);
    expval_clear(&pw);
    fmpq_clear(r);
    return st;
}

static int cmp_fmpq(const void *a, const void *b) { return fmpq_cmp((const fmpq *)a, (const fmpq *)b); }

/* S = sum_k exp(a_k) of an lse: rational a_k sorted, equal ones counted
 * (duplicates are kept by the store: lse(x, x) = x + log 2); log forms
 * through exp_of_log_form. */
static int lse_sum(expval *out, unsigned char *kind, expval_ctx *ctx, const term_id *args, uint32_t n)
{
    if (n > EV_MAX_TERMS) return EV_TOO_BIG;
    fmpq *a = _fmpq_vec_init(n);
    slong na = 0;
    expval extra, e;
    expval_init(&extra);
    expval_init(&e);
    int st = EV_OK;
    for (uint32_t i = 0; st == EV_OK && i < n; i++) {
        if (is_log_kind(ctx, args[i])) {
            st = exp_of_log_form(&e, ctx, args[i]);
            if (st == EV_OK) st = expval_add(&extra, &extra, &e);
        } else if (expval_get_fmpq(a + na, ctx->memo + args[i])) {
            na++;
        } else {
            st = EV_OUTSIDE; /* lse(exp(1), 0) */
        }
    }
    if (st == EV_OK) {
        /* fmpq entries are plain words (small values or handles), so qsort may move them */
        qsort(a, (size_t)na, sizeof(fmpq), cmp_fmpq);
        expval_sum *x = &out->num;
        expval_sum_fit(x, na);
        slong k = 0;
        for (slong i = 0; i < na;) {
            slong j = i + 1;
            while (j < na && fmpq_equal(a + j, a + i)) j++;
            fmpq_set_si(x->c + k, j - i, 1);
            fmpq_set(x->r + k++, a + i);
            i = j;
        }
        x->n = k;
        expval_sum_one(&out->den);
        if (!expval_is_zero(&extra)) st = expval_add(out, out, &extra);
        if (st == EV_OK && !expval_sum_bits_ok(&out->num)) st = EV_TOO_BIG;
        *kind = EV_LSE_SUM;
    }
    _fmpq_vec_clear(a, n);
    expval_clear(&extra);
    expval_clear(&e);
    return st;
}

/* The value of node t from its arguments' values (all present); *kind is
 * the state it takes: a value, an lse's sum or a log form. */
static int eval_node(expval *out, unsigned char *kind, expval_ctx *ctx, term_id t)
{
    const term_store *s = ctx->s;
    term_op op = term_op_of(s, t);
    uint32_t n = term_nargs(s, t);
    const term_id *args = term_args(s, t);
    int st = EV_OK;
    *kind = EV_VALUE;
    if (op == OP_LSE) return lse_sum(out, kind, ctx, args, n);
    for (uint32_t i = 0; i < n; i++) {
        if (!is_log_kind(ctx, args[i])) continue;
        if (op == OP_ADD) return log_form_sum(out, kind, ctx, args, n);
        if (op == OP_MUL) return log_form_scale(out, kind, ctx, args, n);
        if (op == OP_EXP) return exp_of_log_form(out, ctx, args[0]);
        return EV_OUTSIDE; /* log(lse(a, b)), lse(a, b)^2, max(lse(a, b), 0) ... */
    }
    switch (op) {
    case OP_NUM: {
        const fmpq *q = term_value(s, t);
        if (!expval_fmpq_bits_ok(q)) return EV_TOO_BIG;
        expval_set_fmpq(out, q);
        return EV_OK;
    }
    case OP_ADD:
    case OP_MUL: {
        const expval **v = mem_realloc(NULL, n * sizeof(expval *));
        for (uint32_t i = 0; i < n; i++) v[i] = ctx->memo + args[i];
        st = reduce_balanced(out, v, n, op == OP_ADD);
        free(v);
        return st;
    }
    case OP_POW: {
        fmpq_t e;
        fmpq_init(e);
        if (!expval_get_fmpq(e, ctx->memo + args[1])) st = EV_OUTSIDE; /* x^exp(1) */
        else if (fmpz_is_one(fmpq_denref(e)) && fmpz_fits_si(fmpq_numref(e)))
            st = expval_pow_si(out, ctx->memo + args[0], fmpz_get_si(fmpq_numref(e)));
        else st = pow_fmpq(out, ctx->memo + args[0], e);
        fmpq_clear(e);
        return st;
    }
    case OP_EXP: {
        fmpq_t r;
        fmpq_init(r);
        /* exp of a non-rational value (exp(exp(1))) leaves the fragment */
        if (expval_get_fmpq(r, ctx->memo + args[0])) expval_exp_fmpq(out, r);
        else st = EV_OUTSIDE;
        fmpq_clear(r);
        return st;
    }
    case OP_MAX:
    case OP_MIN:
    case OP_ABS: {
        fmpq_t best, q;
        fmpq_init(best);
        fmpq_init(q);
        for (uint32_t i = 0; st == EV_OK && i < n; i++) {
            if (!expval_get_fmpq(q, ctx->memo + args[i])) st = EV_OUTSIDE;
            else if (i == 0) fmpq_set(best, q);
            else if (op == OP_MAX ? fmpq_cmp(q, best) > 0 : fmpq_cmp(q, best) < 0) fmpq_set(best, q);
        }
        if (op == OP_ABS) fmpq_abs(best, best);
        if (st == EV_OK) expval_set_fmpq(out, best);
        fmpq_clear(best);
        fmpq_clear(q);
        return st;
    }
    default: /* SYM, LOG, TANH (NINF never gets here) */
        return EV_OUTSIDE;
    }
}

static int cmp_id(const void *a, const void *b)
{
    term_id x = *(const term_id *)a, y = *(const term_id *)b;
    return x < y ? -1 : x > y;
}

/* Index of t in the sorted list, or -1. */
static long find_id(const term_id *list, size_t n, term_id t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (list[mid] < t) lo = mid + 1;
        else hi = mid;
    }
    return lo < n && list[lo] == t ? (long)lo : -1;
}

/* The innermost failed node under a failed t: follow the first failed
 * argument down (the one whose status t took). For a division by zero,
 * the zero that was divided by. */
static term_id failure_site(const expval_ctx *ctx, term_id t)
{
    const term_store *s = ctx->s;
    for (;;) {
        if (term_has_ninf(s, t)) return t == s->neg_inf ? t : term_ninf_site(s, t);
        uint32_t n = term_nargs(s, t);
        const term_id *args = term_args(s, t);
        uint32_t i = 0;
        while (i < n && ctx->state[args[i]] != EV_FAILED) i++;
        if (i == n) break;
        t = args[i];
    }
    if (ctx->status[t] == EV_DIV_ZERO && term_op_of(s, t) == OP_POW) t = term_arg(s, t, 0);
    return t;
}

static void memo_release(expval_ctx *ctx, term_id t)
{
    expval_clear(ctx->memo + t);
    memset(ctx->memo + t, 0, sizeof(expval));
    ctx->state[t] = EV_UNKNOWN;
}

/* Iterative: the nodes below t without a recorded result are collected with
 * an explicit stack and evaluated in increasing id order (arguments have
 * smaller ids than their parents). A value needed by one parent only in this
 * call is released once that parent is done; shared values and t's own stay
 * memoised for later calls. Failures are recorded for good. */
int expval_of_term(expval *out, term_id *where, expval_ctx *ctx, term_id t)
{
    const term_store *s = ctx->s;
    if (t == TERM_NONE || t >= s->n_nodes) abort();
    ctx_fit(ctx);
    term_id *list = NULL, *stack = NULL;
    size_t n_list = 0, cap_list = 0, n_stack = 0, cap_stack = 0;
    /* collect */
    if (ctx->state[t] == EV_UNKNOWN) {
        cap_stack = 64;
        stack = mem_realloc(NULL, cap_stack * sizeof(term_id));
        stack[n_stack++] = t;
        while (n_stack > 0) {
            term_id u = stack[--n_stack];
            if (ctx->state[u] != EV_UNKNOWN) continue;
            ctx->state[u] = EV_SCHEDULED;
            if (n_list == cap_list) {
                cap_list = cap_list ? 2 * cap_list : 64;
                list = mem_realloc(list, cap_list * sizeof(term_id));
            }
            list[n_list++] = u;
            if (term_has_ninf(s, u)) continue; /* no value, whatever its arguments */
            uint32_t n = term_nargs(s, u);
            const term_id *args = term_args(s, u);
            if (n_stack + n > cap_stack) {
                while (n_stack + n > cap_stack) cap_stack *= 2;
                stack = mem_realloc(stack, cap_stack * sizeof(term_id));
            }
            for (uint32_t i = 0; i < n; i++)
                if (ctx->state[args[i]] == EV_UNKNOWN) stack[n_stack++] = args[i];
        }
        free(stack);
        qsort(list, n_list, sizeof(term_id), cmp_id);
    }
    /* uses[k]: parents of list[k] in this call; shared[k]: more than one */
    uint32_t *uses = mem_calloc(n_list ? n_list : 1, sizeof(uint32_t));
    unsigned char *shared = mem_calloc(n_list ? n_list : 1, 1);
    for (size_t k = 0; k < n_list; k++) {
        uint32_t n = term_nargs(s, list[k]);
        const term_id *args = term_args(s, list[k]);
        for (uint32_t i = 0; i < n; i++) {
            long j = find_id(list, n_list, args[i]);
            if (j >= 0) uses[j]++;
        }
    }
    for (size_t k = 0; k < n_list; k++) shared[k] = uses[k] > 1;
    /* evaluate */
    for (size_t k = 0; k < n_list; k++) {
        term_id u = list[k];
        uint32_t n = term_nargs(s, u);
        const term_id *args = term_args(s, u);
        int st = term_has_ninf(s, u) ? EV_NINF : EV_OK;
        for (uint32_t i = 0; st == EV_OK && i < n; i++)
            if (ctx->state[args[i]] == EV_FAILED) st = ctx->status[args[i]];
        expval *m = ctx->memo + u;
        if (m->den.alloc == 0) expval_init(m);
        unsigned char kind = EV_VALUE;
        if (st == EV_OK) st = eval_node(m, &kind, ctx, u);
        if (st == EV_OK) {
            ctx->state[u] = kind;
        } else {
            memo_release(ctx, u);
            ctx->state[u] = EV_FAILED;
            ctx->status[u] = (unsigned char)st;
        }
        for (uint32_t i = 0; i < n; i++) {
            long j = find_id(list, n_list, args[i]);
            if (j < 0) continue;
            /* an lse's sum stays: log forms above it name it */
            unsigned char a_state = ctx->state[args[i]];
            if (--uses[j] == 0 && !shared[j] && (a_state == EV_VALUE || a_state == EV_LOG_FORM))
                memo_release(ctx, args[i]);
        }
    }
    free(uses);
    free(shared);
    free(list);
    if (ctx->state[t] == EV_VALUE) {
        expval_set(out, ctx->memo + t);
        return EV_OK;
    }
    if (is_log_kind(ctx, t)) { /* a logarithm: no value in the fragment */
        if (where) *where = t;
        expval_zero(out);
        return EV_OUTSIDE;
    }
    if (where) *where = failure_site(ctx, t);
    expval_zero(out);
    return ctx->status[t];
}

/* ball: certified evaluation of terms with Arb balls, each DAG node once per
 * working precision. Arb's operations return balls that contain the exact
 * result of the operation on any points of their input balls (Johansson,
 * "Arb: efficient arbitrary-precision midpoint-radius interval arithmetic",
 * IEEE Trans. Computers 66(8), 2017), so every ball here contains its term. */
#include "eval/ball.h"

#include <string.h>

#include "core/mem.h"

void ball_ctx_init(ball_ctx *ctx, const term_store *s)
{
    memset(ctx, 0, sizeof *ctx);
    ctx->s = s;
}

void ball_ctx_clear(ball_ctx *ctx)
{
    for (uint32_t i = 0; i < ctx->size; i++)
        if (ctx->prec[i]) arb_clear(ctx->val + i);
    free(ctx->val);
    free(ctx->prec);
    memset(ctx, 0, sizeof *ctx);
}

static void ctx_reserve(ball_ctx *ctx, term_id t)
{
    if (t < ctx->size) return;
    uint32_t size = ctx->s->n_nodes;
    if (size < ctx->size + ctx->size / 2) size = ctx->size + ctx->size / 2;
    if (size <= t) size = t + 1;
    ctx->val = mem_realloc(ctx->val, (size_t)size * sizeof *ctx->val);
    ctx->prec = mem_realloc(ctx->prec, (size_t)size * sizeof *ctx->prec);
    memset(ctx->prec + ctx->size, 0, (size_t)(size - ctx->size) * sizeof *ctx->prec);
    ctx->size = size;
}

/* x^k for a rational k = p/q: x^(1/q) needs x >= 0 (q > 1), then ^p. */
static ball_status pow_rational(arb_t y, const arb_t x, const fmpq_t k, slong prec)
{
    const fmpz *p = fmpq_numref(k), *q = fmpq_denref(k);
    if (fmpz_sgn(p) < 0 && arb_contains_zero(x)) return BALL_UNDECIDED;
    if (fmpz_is_one(q)) {
        arb_pow_fmpz(y, x, p, prec);
        return BALL_OK;
    }
    if (arb_contains_negative(x)) return BALL_UNDECIDED;
    if (!fmpz_fits_si(q)) {
        arb_pow_fmpq(y, x, k, prec);
        return BALL_OK;
    }
    arb_root_ui(y, x, fmpz_get_ui(q), prec);
    arb_pow_fmpz(y, y, p, prec);
    return BALL_OK;
}

/* lse(a_1..a_n) = m + log1p(S), S = expm1(a_j - m) + sum_{k != j} exp(a_k - m),
 * with m the largest midpoint (a_j's), since sum_k exp(a_k) = exp(m)*(1 + S).
 * m is an exact binary number, so a_k - m loses nothing when a_k is near m
 * (lse(1000, 1000): a_k - m = 0 exactly, S = 1, the value is 1000 + log(2)
 * with the relative error of one log and one addition); every exp(a_k - m)
 * is at most about 1, and log1p keeps the relative accuracy of a value near
 * 0 (lse(0, -1000) = log1p(exp(-1000)), no cancellation in 1 + S). */
static void lse_ball(arb_t v, const arb_struct *val, const term_id *a, uint32_t n, slong prec)
{
    uint32_t j = 0;
    for (uint32_t k = 1; k < n; k++)
        if (arf_cmp(arb_midref(val + a[k]), arb_midref(val + a[j])) > 0) j = k;
    arf_t m;
    arb_t d, sum;
    arf_init(m);
    arb_init(d);
    arb_init(sum);
    arf_set(m, arb_midref(val + a[j]));
    for (uint32_t k = 0; k < n; k++) {
        arb_sub_arf(d, val + a[k], m, prec);
        if (k == j) arb_expm1(d, d, prec);
        else arb_exp(d, d, prec);
        arb_add(sum, sum, d, prec);
    }
    arb_log1p(v, sum, prec);
    arb_add_arf(v, v, m, prec);
    arf_clear(m);
    arb_clear(d);
    arb_clear(sum);
}

/* The ball of node t from the balls of its arguments. */
static ball_status eval_node(ball_ctx *ctx, term_id t, slong prec)
{
    const term_store *s = ctx->s;
    arb_ptr v = ctx->val + t;
    uint32_t n = term_nargs(s, t);
    const term_id *a = term_args(s, t);
    switch (term_op_of(s, t)) {
    case OP_NUM: arb_set_fmpq(v, term_value(s, t), prec); return BALL_OK;
    case OP_SYM: return BALL_FREE_SYMBOL;
    case OP_ADD:
        arb_add(v, ctx->val + a[0], ctx->val + a[1], prec);
        for (uint32_t i = 2; i < n; i++) arb_add(v, v, ctx->val + a[i], prec);
        return BALL_OK;
    case OP_MUL:
        arb_mul(v, ctx->val + a[0], ctx->val + a[1], prec);
        for (uint32_t i = 2; i < n; i++) arb_mul(v, v, ctx->val + a[i], prec);
        return BALL_OK;
    case OP_POW: {
        const arb_struct *x = ctx->val + a[0];
        if (term_op_of(s, a[1]) == OP_NUM) return pow_rational(v, x, term_value(s, a[1]), prec);
        /* x^y = exp(y*log(x)), x > 0 */
        if (arb_contains_nonpositive(x)) return BALL_UNDECIDED;
        arb_log(v, x, prec);
        arb_mul(v, v, ctx->val + a[1], prec);
        arb_exp(v, v, prec);
        return BALL_OK;
    }
    case OP_EXP: arb_exp(v, ctx->val + a[0], prec); return BALL_OK;
    case OP_LOG:
        if (arb_contains_nonpositive(ctx->val + a[0])) return BALL_UNDECIDED;
        arb_log(v, ctx->val + a[0], prec);
        return BALL_OK;
    case OP_TANH: arb_tanh(v, ctx->val + a[0], prec); return BALL_OK;
    case OP_ABS: arb_abs(v, ctx->val + a[0]); return BALL_OK;
    case OP_LSE: lse_ball(v, ctx->val, a, n, prec); return BALL_OK;
    case OP_MAX: case OP_MIN: {
        int is_max = term_op_of(s, t) == OP_MAX;
        arb_set(v, ctx->val + a[0]);
        for (uint32_t i = 1; i < n; i++) {
            if (is_max) arb_max(v, v, ctx->val + a[i], prec);
            else arb_min(v, v, ctx->val + a[i], prec);
        }
        return BALL_OK;
    }
    default: break;
    }
    return BALL_FREE_SYMBOL;
}

ball_status ball_eval(const arb_struct **out, term_id *where, ball_ctx *ctx, term_id t, slong prec)
{
    ctx_reserve(ctx, t);
    term_id *stack = NULL;
    size_t n = 0, cap = 0;
    ball_status st = BALL_OK;
#define PUSH(x) do { if (n == cap) { cap = cap ? 2 * cap : 64; stack = mem_realloc(stack, cap * sizeof *stack); } stack[n++] = (x); } while (0)
    PUSH(t);
    while (n) {
        term_id u = stack[n - 1];
        if (ctx->prec[u] >= prec) { n--; continue; }
        if (term_has_ninf(ctx->s, u)) {
            /* -inf itself, or a formal term around it (core/term.h): no ball */
            st = BALL_NINF;
            *where = u == ctx->s->neg_inf ? u : term_ninf_site(ctx->s, u);
            break;
        }
        uint32_t k = term_nargs(ctx->s, u);
        const term_id *a = term_args(ctx->s, u);
        int ready = 1;
        for (uint32_t i = k; i-- > 0;)
            if (ctx->prec[a[i]] < prec) { ready = 0; PUSH(a[i]); a = term_args(ctx->s, u); }
        if (!ready) continue;
        if (!ctx->prec[u]) arb_init(ctx->val + u);
        st = eval_node(ctx, u, prec);
        if (st != BALL_OK) {
            *where = u;
            arb_clear(ctx->val + u);
            ctx->prec[u] = 0;
            break;
        }
        ctx->prec[u] = prec;
        n--;
    }
#undef PUSH
    free(stack);
    if (st == BALL_OK && out) *out = ctx->val + t;
    return st;
}

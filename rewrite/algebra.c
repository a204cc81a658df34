/* algebra: the rule sets of ordinary algebra: sound identities of powers,
 * abs, exp and log (algebra), expansion (expand), one common denominator
 * (together), common factors (factor). The exp laws are rewrite/expsum.c. */
#include "rewrite/rules.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/vec.h"

/* expand, together and factor decline (leave the term as it is) past this
 * many terms in the result. */
#define ALGEBRA_MAX_TERMS 1000000

/* ---- algebra ---- */

static int not_a_number(const rule_match *m) { return term_op_of(m->s, rule_var(m, "x")) != OP_NUM; }

static int exponent_not_even(const rule_match *m) { return !rule_is_even_integer(m->s, rule_var(m, "a")); }
static int exponent_even(const rule_match *m) { return rule_is_even_integer(m->s, rule_var(m, "a")); }
static int power_even(const rule_match *m) { return rule_is_even_integer(m->s, rule_var(m, "k")); }
static int arg_nonneg(const rule_match *m) { return rule_nonneg(m->s, rule_var(m, "x")); }
static int arg_positive(const rule_match *m) { return rule_positive(m->s, rule_var(m, "x")); }

/* log(x^a) = a*log(x): a not even; with a symbolic exponent, x not a number
 * (log(2^y) and y*log(2) are the same size). */
static int log_power_ok(const rule_match *m)
{
    term_id a = rule_var(m, "a");
    if (rule_is_even_integer(m->s, a)) return 0;
    return term_op_of(m->s, a) == OP_NUM || not_a_number(m);
}

static const rule_def algebra_rules[] = {
    { "pow-product", "x^a*x^b*R", "x^(a+b)*R", NULL, NULL,
      "x^a*x^b = x^(a+b) (a or b is not a number, so x > 0 wherever the product is defined)" },
    { "pow-product-base", "x*x^b*R", "x^(1+b)*R", not_a_number, NULL,
      "x*x^b = x^(1+b), x not a number (then b is not one either, so x > 0)" },
    { "pow-of-pow", "(x^a)^b", "x^(a*b)", exponent_not_even, NULL,
      "(x^a)^b = x^(a*b) unless a is an even integer (x^a >= 0 forces x >= 0 then)" },
    { "pow-of-even-pow", "(x^a)^b", "abs(x)^(a*b)", exponent_even, NULL,
      "(x^a)^b = abs(x)^(a*b) for a an even integer: sqrt(x^2) = abs(x)" },
    { "even-power-of-abs", "abs(x)^k", "x^k", power_even, NULL,
      "abs(x)^k = x^k for k an even integer" },
    { "abs-of-nonneg", "abs(x)", "x", arg_nonneg, NULL,
      "abs(x) = x when x >= 0 is known: x^2, exp(y), sqrt(y), a sum of such" },
    { "log-of-exp", "log(exp(x))", "x", NULL, NULL,
      "log(exp(x)) = x for every real x" },
    { "exp-of-log", "exp(log(x))", "x", arg_positive, NULL,
      "exp(log(x)) = x when x > 0 is known: a positive number, exp(y), ..." },
    { "log-of-power", "log(x^a)", "a*log(x)", log_power_ok, NULL,
      "log(x^a) = a*log(x) unless a is an even integer (log needs x^a > 0, so x > 0)" },
    { "log-of-even-power", "log(x^a)", "a*log(abs(x))", exponent_even, NULL,
      "log(x^a) = a*log(abs(x)) for a an even integer" },
};

const rule_set_def rule_set_algebra = {
    "algebra", "sound identities of powers, abs, exp and log (the default)",
    algebra_rules, sizeof algebra_rules / sizeof algebra_rules[0],
    rule_measure_ops, "operation count (rule_measure_ops)", NULL,
};

/* ---- expand ---- */

/* A copy of t's arguments (constructors move the pool). */
static term_id *args_copy(const term_store *s, term_id t, uint32_t *n)
{
    *n = term_nargs(s, t);
    term_id *v = mem_realloc(NULL, (*n ? *n : 1) * sizeof *v);
    memcpy(v, term_args(s, t), *n * sizeof *v);
    return v;
}

/* The summands of a sum, or t alone. */
static term_id *summands(const term_store *s, term_id t, uint32_t *n)
{
    if (term_op_of(s, t) == OP_ADD) return args_copy(s, t, n);
    term_id *v = mem_realloc(NULL, sizeof *v);
    v[0] = t;
    *n = 1;
    return v;
}

/* a*b distributed: every summand of a times every summand of b, as one sum. */
static term_id multiply_out(term_store *s, term_id a, term_id b)
{
    uint32_t na, nb;
    term_id *va = summands(s, a, &na), *vb = summands(s, b, &nb);
    term_id *prod = mem_realloc(NULL, (size_t)na * nb * sizeof *prod);
    for (uint32_t i = 0; i < na; i++)
        for (uint32_t j = 0; j < nb; j++) prod[(size_t)i * nb + j] = term_mul2(s, va[i], vb[j]);
    term_id out = term_add(s, prod, (size_t)na * nb);
    free(prod);
    free(va);
    free(vb);
    return out;
}

/* A product with sums among its factors: the sums multiplied out, with every
 * other factor but the denominators (b^-k, b not a number) distributed. */
static term_id expand_product(const rule_match *m, term_id t)
{
    term_store *s = m->s;
    uint32_t n;
    term_id *f = args_copy(s, t, &n);
    term_id *keep = mem_realloc(NULL, n * sizeof *keep), *dist = mem_realloc(NULL, n * sizeof *dist);
    term_id *sums = mem_realloc(NULL, n * sizeof *sums);
    size_t n_keep = 0, n_dist = 0, n_sums = 0;
    uint64_t terms = 1;
    for (uint32_t i = 0; i < n; i++) {
        if (term_op_of(s, f[i]) == OP_ADD) {
            sums[n_sums++] = f[i];
            terms *= term_nargs(s, f[i]);
            if (terms > ALGEBRA_MAX_TERMS) terms = ALGEBRA_MAX_TERMS + 1;
        } else if (rule_is_denominator(s, f[i])) {
            keep[n_keep++] = f[i];
        } else {
            dist[n_dist++] = f[i];
        }
    }
    term_id out = TERM_NONE;
    if (n_sums > 0 && (n_sums > 1 || n_dist > 0) && terms <= ALGEBRA_MAX_TERMS) {
        term_id acc = term_mul(s, dist, n_dist);
        for (size_t i = 0; i < n_sums; i++) acc = multiply_out(s, acc, sums[i]);
        keep[n_keep++] = acc;
        out = term_mul(s, keep, n_keep);
    }
    free(f);
    free(keep);
    free(dist);
    free(sums);
    return out;
}

static int power_of_sum_ok(const rule_match *m)
{
    term_id k = rule_var(m, "k");
    if (!term_is_integer(m->s, k)) return 0;
    const fmpz *z = fmpq_numref(term_value(m->s, k));
    return fmpz_cmp_si(z, 2) >= 0 || fmpz_cmp_si(z, -2) <= 0;
}

/* Number of terms of (n terms)^k multiplied out, capped past the limit:
 * binomial(n + k - 1, k). */
static uint64_t multinomial_terms(uint64_t n, uint64_t k)
{
    uint64_t c = 1;
    for (uint64_t i = 1; i <= k; i++) {
        c = c * (n + i - 1) / i; /* exact: c*(n+i-1) is divisible by i */
        if (c > ALGEBRA_MAX_TERMS) return ALGEBRA_MAX_TERMS + 1;
    }
    return c;
}

/* (a + b + ...)^k multiplied out; for k < 0 the denominator is. */
static term_id expand_power(const rule_match *m, term_id t)
{
    term_store *s = m->s;
    term_id base = term_arg(s, t, 0);
    const fmpz *z = fmpq_numref(term_value(s, term_arg(s, t, 1)));
    if (!fmpz_fits_si(z)) return TERM_NONE;
    slong k = fmpz_get_si(z), ak = k < 0 ? -k : k;
    if (multinomial_terms(term_nargs(s, base), (uint64_t)ak) > ALGEBRA_MAX_TERMS) return TERM_NONE;
    term_id acc = base;
    for (slong i = 1; i < ak; i++) acc = multiply_out(s, acc, base);
    return k < 0 ? term_pow_si(s, acc, -1) : acc;
}

/* log(c*x*y*...) = log(c*x) + log(y) + ... when c > 0 and every factor is
 * known positive; at least two factors that are not numbers. */
static term_id log_of_product(const rule_match *m, term_id t)
{
    term_store *s = m->s;
    uint32_t n;
    term_id *f = args_copy(s, term_arg(s, t, 0), &n);
    uint32_t first = term_op_of(s, f[0]) == OP_NUM ? 1 : 0;
    term_id out = TERM_NONE;
    int ok = n - first >= 2 && (!first || fmpq_sgn(term_value(s, f[0])) > 0);
    for (uint32_t i = first; ok && i < n; i++) ok = rule_positive(s, f[i]);
    if (ok) {
        term_id *logs = mem_realloc(NULL, n * sizeof *logs);
        size_t k = 0;
        logs[k++] = term_log(s, first ? term_mul2(s, f[0], f[1]) : f[0]);
        for (uint32_t i = first + 1; i < n; i++) logs[k++] = term_log(s, f[i]);
        out = term_add(s, logs, k);
        free(logs);
    }
    free(f);
    return out;
}

static const rule_def expand_rules[] = {
    { "expand-product", "(a+A)*B", NULL, NULL, expand_product,
      "a*(b + c) = a*b + a*c, every sum of a product multiplied out; denominators stay one factor" },
    { "expand-power", "(a+A)^k", NULL, power_of_sum_ok, expand_power,
      "(a + b)^k multiplied out for an integer k >= 2, and the denominator of (a + b)^-k alike" },
    { "log-of-product", "log(x*y*R)", NULL, NULL, log_of_product,
      "log(x*y) = log(x) + log(y) when x > 0 and y > 0 are known" },
};

const rule_set_def rule_set_expand = {
    "expand", "multiply out products and integer powers of sums (--expand)",
    expand_rules, sizeof expand_rules / sizeof expand_rules[0],
    rule_measure_poly, "polynomial weight (rule_measure_poly)", NULL,
};

/* ---- together ---- */

typedef struct base_power {
    term_id base;
    num_id expo; /* |e| of b^e, e < 0 */
} base_power;

static int base_power_cmp(const void *x, const void *y)
{
    const base_power *a = x, *b = y;
    return (a->base > b->base) - (a->base < b->base);
}

/* Σ s_i = (Σ s_i*L) / L, L = the product over every denominator base b of
 * b^(largest |e| with which b^e, e < 0, divides some s_i). */
static term_id together(const rule_match *m, term_id t)
{
    term_store *s = m->s;
    uint32_t n;
    term_id *v = args_copy(s, t, &n);
    base_power *bp = NULL;
    size_t n_bp = 0, cap_bp = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t k = term_op_of(s, v[i]) == OP_MUL ? term_nargs(s, v[i]) : 1;
        for (uint32_t j = 0; j < k; j++) {
            term_id f = k == 1 && term_op_of(s, v[i]) != OP_MUL ? v[i] : term_arg(s, v[i], j);
            if (!rule_is_denominator(s, f)) continue;
            VEC_RESERVE(bp, cap_bp, n_bp + 1);
            fmpq_t e;
            fmpq_init(e);
            fmpq_neg(e, term_value(s, term_arg(s, f, 1)));
            bp[n_bp++] = (base_power){ term_arg(s, f, 0), num_intern(&s->nums, e) };
            fmpq_clear(e);
        }
    }
    term_id out = TERM_NONE;
    if (n_bp > 0) {
        qsort(bp, n_bp, sizeof *bp, base_power_cmp); /* equal bases: any order, the max is taken */
        size_t w = 0;
        for (size_t i = 0; i < n_bp; i++) {
            if (w > 0 && bp[w - 1].base == bp[i].base) {
                if (fmpq_cmp(num_value(&s->nums, bp[i].expo), num_value(&s->nums, bp[w - 1].expo)) > 0)
                    bp[w - 1].expo = bp[i].expo;
            } else {
                bp[w++] = bp[i];
            }
        }
        if ((uint64_t)n * (w + 1) <= ALGEBRA_MAX_TERMS) {
            term_id *lf = mem_realloc(NULL, w * sizeof *lf);
            for (size_t i = 0; i < w; i++) lf[i] = term_pow(s, bp[i].base, term_num_id(s, bp[i].expo));
            term_id l = term_mul(s, lf, w);
            for (uint32_t i = 0; i < n; i++) v[i] = term_mul2(s, v[i], l);
            term_id numer = term_add(s, v, n);
            out = term_mul2(s, numer, term_pow_si(s, l, -1));
            free(lf);
        }
    }
    free(bp);
    free(v);
    return out;
}

static const rule_def together_rules[] = {
    { "together", "a+A", NULL, NULL, together,
      "a/b + c/d = (a*d + c*b)/(b*d): a sum over one common denominator (the lcm of the monomials)" },
};

const rule_set_def rule_set_together = {
    "together", "a sum of fractions over one common denominator (--together)",
    together_rules, sizeof together_rules / sizeof together_rules[0],
    rule_measure_fractions, "sums with a fraction among their terms (rule_measure_fractions)", NULL,
};

/* ---- factor ---- */

static int id_cmp(const void *x, const void *y)
{
    term_id a = *(const term_id *)x, b = *(const term_id *)y;
    return (a > b) - (a < b);
}

/* The factors of a summand that are not numbers (t itself if not a product). */
static uint32_t factors_of(const term_store *s, term_id t, const term_id **f)
{
    if (term_op_of(s, t) != OP_MUL) { *f = NULL; return term_op_of(s, t) == OP_NUM ? 0 : 1; }
    *f = term_args(s, t);
    return term_nargs(s, t);
}

/* x*a + x*b + c = x*(a + b) + c for the factor x (not a number) shared by the
 * most terms (at least two; ties: the smallest id). */
static term_id collect_factor(const rule_match *m, term_id t)
{
    term_store *s = m->s;
    uint32_t n;
    term_id *v = args_copy(s, t, &n);
    vec_u32 all;
    vec_u32_init(&all);
    for (uint32_t i = 0; i < n; i++) {
        const term_id *f;
        uint32_t k = factors_of(s, v[i], &f);
        for (uint32_t j = 0; j < k; j++) {
            term_id g = f ? f[j] : v[i];
            if (term_op_of(s, g) != OP_NUM) {
                vec_u32_push(&all, g);
            }
        }
    }
    qsort(all.v, all.n, sizeof *all.v, id_cmp);
    term_id best = TERM_NONE;
    size_t best_count = 1;
    for (size_t i = 0; i < all.n;) {
        size_t j = i + 1;
        while (j < all.n && all.v[j] == all.v[i]) j++;
        if (j - i > best_count) { best_count = j - i; best = all.v[i]; }
        i = j;
    }
    free(all.v);
    term_id out = TERM_NONE;
    if (best) {
        term_id *inner = mem_realloc(NULL, n * sizeof *inner), *outer = mem_realloc(NULL, (n + 1) * sizeof *outer);
        size_t n_in = 0, n_out = 0;
        for (uint32_t i = 0; i < n; i++) {
            term_id u = v[i];
            if (u == best) { inner[n_in++] = s->one; continue; }
            int has = 0;
            if (term_op_of(s, u) == OP_MUL) {
                uint32_t k = term_nargs(s, u);
                for (uint32_t j = 0; j < k && !has; j++) has = term_arg(s, u, j) == best;
            }
            if (!has) { outer[n_out++] = u; continue; }
            uint32_t k;
            term_id *f = args_copy(s, u, &k);
            size_t w = 0;
            for (uint32_t j = 0; j < k; j++)
                if (f[j] != best) f[w++] = f[j];
            inner[n_in++] = term_mul(s, f, w);
            free(f);
        }
        outer[n_out++] = term_mul2(s, best, term_add(s, inner, n_in));
        out = term_add(s, outer, n_out);
        free(inner);
        free(outer);
    }
    free(v);
    return out;
}

static const rule_def factor_rules[] = {
    { "collect-factor", "a+A", NULL, NULL, collect_factor,
      "x*a + x*b = x*(a + b) for the factor shared by the most terms of a sum" },
};

const rule_set_def rule_set_factor = {
    "factor", "pull a factor shared by terms of a sum out of them (undoes expand)",
    factor_rules, sizeof factor_rules / sizeof factor_rules[0],
    rule_measure_ops, "operation count (rule_measure_ops)", "expand",
};

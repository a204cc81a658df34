/* expval: exact values N/D of the exp-rational fragment, N and D sums
 * c_i*exp(r_i) sorted by exponent; arithmetic, exact tests, printing and
 * balls (the evaluator over the term DAG is in expval_term.c). */
#include "eval/expval_impl.h"

#include <stdlib.h>
#include <string.h>

#include "eval/ball.h"
#include "core/mem.h"

/* ---- sums ---- */

void expval_sum_init(expval_sum *x)
{
    x->c = x->r = NULL;
    x->n = x->alloc = 0;
}

void expval_sum_clear(expval_sum *x)
{
    for (slong i = 0; i < x->alloc; i++) {
        fmpq_clear(x->c + i);
        fmpq_clear(x->r + i);
    }
    free(x->c);
    free(x->r);
    expval_sum_init(x);
}

/* Room for n terms; new slots are initialised (to 0). */
void expval_sum_fit(expval_sum *x, slong n)
{
    if (n <= x->alloc) return;
    slong a = x->alloc * 2 > n ? x->alloc * 2 : n;
    x->c = mem_realloc(x->c, (size_t)a * sizeof(fmpq));
    x->r = mem_realloc(x->r, (size_t)a * sizeof(fmpq));
    for (slong i = x->alloc; i < a; i++) {
        fmpq_init(x->c + i);
        fmpq_init(x->r + i);
    }
    x->alloc = a;
}

static void expval_sum_set(expval_sum *out, const expval_sum *x)
{
    if (out == x) return;
    expval_sum_fit(out, x->n);
    for (slong i = 0; i < x->n; i++) {
        fmpq_set(out->c + i, x->c + i);
        fmpq_set(out->r + i, x->r + i);
    }
    out->n = x->n;
}

/* out = c*exp(r) (c != 0) */
void expval_sum_set_term(expval_sum *out, const fmpq_t c, const fmpq_t r)
{
    expval_sum_fit(out, 1);
    fmpq_set(out->c, c);
    fmpq_set(out->r, r);
    out->n = 1;
}

void expval_sum_one(expval_sum *out)
{
    expval_sum_fit(out, 1);
    fmpq_one(out->c);
    fmpq_zero(out->r);
    out->n = 1;
}

int expval_sum_is_one(const expval_sum *x)
{
    return x->n == 1 && fmpq_is_one(x->c) && fmpq_is_zero(x->r);
}

static int expval_sum_equal(const expval_sum *a, const expval_sum *b)
{
    if (a == b) return 1;
    if (a->n != b->n) return 0;
    for (slong i = 0; i < a->n; i++)
        if (!fmpq_equal(a->r + i, b->r + i) || !fmpq_equal(a->c + i, b->c + i)) return 0;
    return 1;
}

int expval_fmpq_bits_ok(const fmpq_t q)
{
    return fmpz_bits(fmpq_numref(q)) <= EV_MAX_BITS && fmpz_bits(fmpq_denref(q)) <= EV_MAX_BITS;
}

int expval_sum_bits_ok(const expval_sum *x)
{
    for (slong i = 0; i < x->n; i++)
        if (!expval_fmpq_bits_ok(x->c + i) || !expval_fmpq_bits_ok(x->r + i)) return 0;
    return 1;
}

/* out = a + b by merging the sorted lists; out distinct from a and b. */
static int expval_sum_add(expval_sum *out, const expval_sum *a, const expval_sum *b)
{
    expval_sum_fit(out, a->n + b->n);
    slong i = 0, j = 0, k = 0;
    while (i < a->n || j < b->n) {
        int cmp = i == a->n ? 1 : j == b->n ? -1 : fmpq_cmp(a->r + i, b->r + j);
        if (cmp < 0) {
            fmpq_set(out->c + k, a->c + i);
            fmpq_set(out->r + k++, a->r + i++);
        } else if (cmp > 0) {
            fmpq_set(out->c + k, b->c + j);
            fmpq_set(out->r + k++, b->r + j++);
        } else {
            fmpq_add(out->c + k, a->c + i, b->c + j);
            if (!fmpq_is_zero(out->c + k)) fmpq_set(out->r + k++, a->r + i);
            i++;
            j++;
        }
    }
    out->n = k;
    return k > EV_MAX_TERMS ? EV_TOO_BIG : EV_OK;
}

/* out = a * c*exp(r), term by term (exponents stay distinct and sorted);
 * out may be a. */
void expval_sum_scale(expval_sum *out, const expval_sum *a, const fmpq_t c, const fmpq_t r)
{
    expval_sum_fit(out, a->n);
    for (slong i = 0; i < a->n; i++) {
        fmpq_mul(out->c + i, a->c + i, c);
        fmpq_add(out->r + i, a->r + i, r);
    }
    out->n = a->n;
}

/* Min-heap of rows of the product: row i holds the next exponent
 * a.r[i] + b.r[col[i]]. */
typedef struct mul_heap {
    slong *row, *col;
    fmpq *key;
    slong n;
} mul_heap;

static void mul_heap_sift(mul_heap *h, slong at)
{
    slong x = h->row[at];
    for (;;) {
        slong child = 2 * at + 1;
        if (child >= h->n) break;
        if (child + 1 < h->n && fmpq_cmp(h->key + h->row[child + 1], h->key + h->row[child]) < 0) child++;
        if (fmpq_cmp(h->key + h->row[child], h->key + x) >= 0) break;
        h->row[at] = h->row[child];
        at = child;
    }
    h->row[at] = x;
}

/* out = a * b: all pairwise products exp(p)*exp(q) = exp(p + q), merged in
 * increasing exponent order by a heap over the rows of the shorter sum, so
 * that like exponents arrive together. out distinct from a and b. With limit,
 * EV_TOO_BIG when the expansion has more than EV_MAX_TERMS terms. */
static int expval_sum_mul(expval_sum *out, const expval_sum *a, const expval_sum *b, int limit)
{
    if (a->n > b->n) {
        const expval_sum *t = a;
        a = b;
        b = t;
    }
    slong n = a->n, m = b->n;
    out->n = 0;
    if (n == 0) return EV_OK;
    if (limit && n * m > EV_MAX_TERMS) return EV_TOO_BIG;
    if (n == 1) {
        expval_sum_scale(out, b, a->c, a->r);
        return EV_OK;
    }
    mul_heap h;
    h.row = mem_realloc(NULL, (size_t)n * sizeof(slong));
    h.col = mem_realloc(NULL, (size_t)n * sizeof(slong));
    h.key = _fmpq_vec_init(n);
    h.n = n;
    /* a.r increasing: the keys a.r[i] + b.r[0] are sorted, hence a heap */
    for (slong i = 0; i < n; i++) {
        h.row[i] = i;
        h.col[i] = 0;
        fmpq_add(h.key + i, a->r + i, b->r);
    }
    expval_sum_fit(out, n + m);
    slong k = 0; /* terms in out; the last one may still grow or cancel */
    while (h.n > 0) {
        slong i = h.row[0], j = h.col[i];
        if (k > 0 && fmpq_equal(out->r + k - 1, h.key + i)) {
            fmpq_addmul(out->c + k - 1, a->c + i, b->c + j);
        } else {
            if (k > 0 && fmpq_is_zero(out->c + k - 1)) k--;
            if (k == out->alloc) expval_sum_fit(out, k + 1);
            fmpq_mul(out->c + k, a->c + i, b->c + j);
            fmpq_set(out->r + k++, h.key + i);
        }
        if (++h.col[i] < m) {
            fmpq_add(h.key + i, a->r + i, b->r + j + 1);
        } else {
            h.row[0] = h.row[--h.n];
        }
        if (h.n > 0) mul_heap_sift(&h, 0);
    }
    if (k > 0 && fmpq_is_zero(out->c + k - 1)) k--;
    out->n = k;
    _fmpq_vec_clear(h.key, n);
    free(h.row);
    free(h.col);
    return EV_OK;
}

/* ---- values ---- */

void expval_init(expval *v)
{
    expval_sum_init(&v->num);
    expval_sum_init(&v->den);
    expval_sum_one(&v->den);
}

void expval_clear(expval *v)
{
    expval_sum_clear(&v->num);
    expval_sum_clear(&v->den);
}

void expval_swap(expval *a, expval *b)
{
    expval t = *a;
    *a = *b;
    *b = t;
}

void expval_zero(expval *out)
{
    out->num.n = 0;
    expval_sum_one(&out->den);
}

void expval_set(expval *out, const expval *v)
{
    if (out == v) return;
    expval_sum_set(&out->num, &v->num);
    expval_sum_set(&out->den, &v->den);
}

void expval_set_fmpq(expval *out, const fmpq_t q)
{
    out->num.n = 0;
    if (!fmpq_is_zero(q)) {
        expval_sum_fit(&out->num, 1);
        fmpq_set(out->num.c, q);
        fmpq_zero(out->num.r);
        out->num.n = 1;
    }
    expval_sum_one(&out->den);
}

void expval_exp_fmpq(expval *out, const fmpq_t r)
{
    expval_sum_fit(&out->num, 1);
    fmpq_one(out->num.c);
    fmpq_set(out->num.r, r);
    out->num.n = 1;
    expval_sum_one(&out->den);
}

/* Brings v to normal form: den's first term 1*exp(0) (num and den multiplied
 * by (1/c0)*exp(-r0)); a rational value k as k/1; 0 as 0/1. Then checks the
 * bit limit. */
static int expval_normalise(expval *v)
{
    if (v->den.n == 0) abort(); /* a zero denominator is never built */
    if (v->num.n == 0) {
        expval_sum_one(&v->den);
        return EV_OK;
    }
    if (!expval_sum_is_one(&v->den)) {
        fmpq_t c, r;
        fmpq_init(c);
        fmpq_init(r);
        fmpq_inv(c, v->den.c);
        fmpq_neg(r, v->den.r);
        expval_sum_scale(&v->num, &v->num, c, r);
        expval_sum_scale(&v->den, &v->den, c, r);
        fmpq_clear(c);
        fmpq_clear(r);
    }
    fmpq_t k;
    fmpq_init(k);
    if (v->den.n > 1 && expval_get_fmpq(k, v)) {
        expval_set_fmpq(v, k);
    }
    fmpq_clear(k);
    if (!expval_sum_bits_ok(&v->num) || !expval_sum_bits_ok(&v->den)) return EV_TOO_BIG;
    return EV_OK;
}

/* Common exit of the arithmetic: on success out takes t, on failure out = 0. */
static int expval_finish(expval *out, expval *t, int st)
{
    if (st == EV_OK) st = expval_normalise(t);
    if (st == EV_OK) expval_swap(out, t);
    else expval_zero(out);
    expval_clear(t);
    return st;
}

int expval_add(expval *out, const expval *a, const expval *b)
{
    if (expval_is_zero(a)) {
        expval_set(out, b);
        return EV_OK;
    }
    if (expval_is_zero(b)) {
        expval_set(out, a);
        return EV_OK;
    }
    expval t;
    expval_init(&t);
    int st;
    if (expval_sum_equal(&a->den, &b->den)) { /* the common case: one softmax row */
        st = expval_sum_add(&t.num, &a->num, &b->num);
        expval_sum_set(&t.den, &a->den);
    } else { /* a.num*b.den + b.num*a.den over a.den*b.den */
        expval_sum x, y;
        expval_sum_init(&x);
        expval_sum_init(&y);
        st = expval_sum_mul(&x, &a->num, &b->den, 1);
        if (st == EV_OK) st = expval_sum_mul(&y, &b->num, &a->den, 1);
        if (st == EV_OK) st = expval_sum_add(&t.num, &x, &y);
        if (st == EV_OK) st = expval_sum_mul(&t.den, &a->den, &b->den, 1);
        expval_sum_clear(&x);
        expval_sum_clear(&y);
    }
    return expval_finish(out, &t, st);
}

int expval_mul(expval *out, const expval *a, const expval *b)
{
    if (expval_is_zero(a) || expval_is_zero(b)) {
        expval_zero(out);
        return EV_OK;
    }
    expval t;
    expval_init(&t);
    int st = EV_OK;
    if (expval_sum_equal(&a->num, &b->den)) { /* (N/D)*(M/N) = M/D */
        expval_sum_set(&t.num, &b->num);
        expval_sum_set(&t.den, &a->den);
    } else if (expval_sum_equal(&a->den, &b->num)) {
        expval_sum_set(&t.num, &a->num);
        expval_sum_set(&t.den, &b->den);
    } else {
        st = expval_sum_mul(&t.num, &a->num, &b->num, 1);
        if (st == EV_OK) st = expval_sum_mul(&t.den, &a->den, &b->den, 1);
    }
    return expval_finish(out, &t, st);
}

int expval_inv(expval *out, const expval *a)
{
    if (expval_is_zero(a)) {
        expval_zero(out);
        return EV_DIV_ZERO;
    }
    expval t;
    expval_init(&t);
    expval_sum_set(&t.num, &a->den);
    expval_sum_set(&t.den, &a->num);
    return expval_finish(out, &t, EV_OK);
}

int expval_pow_si(expval *out, const expval *a, slong k)
{
    if (k == 1) {
        expval_set(out, a);
        return EV_OK;
    }
    if (k == -1) return expval_inv(out, a);
    expval b, r; /* r = 1 (x^0 = 1, as in the term store) */
    expval_init(&b);
    expval_init(&r);
    expval_sum_one(&r.num);
    int st = k < 0 ? expval_inv(&b, a) : (expval_set(&b, a), EV_OK);
    ulong e = k < 0 ? -(ulong)k : (ulong)k;
    /* right-to-left binary powering; every product checks the limits */
    while (st == EV_OK && e != 0) {
        if (e & 1) st = expval_mul(&r, &r, &b);
        e >>= 1;
        if (st == EV_OK && e != 0) st = expval_mul(&b, &b, &b);
    }
    if (st == EV_OK) expval_swap(out, &r);
    else expval_zero(out);
    expval_clear(&b);
    expval_clear(&r);
    return st;
}

int expval_is_zero(const expval *v) { return v->num.n == 0; }

/* By the Lindemann-Weierstrass theorem (Baker, Transcendental Number Theory,
 * Thm 1.4), exp(r_1), ..., exp(r_n) of distinct rationals (algebraic numbers)
 * are linearly independent over the algebraic numbers. So N = k*D as values
 * iff N - k*D has every coefficient zero, i.e. N = k*D term by term: the test
 * is complete, and a sum's representation is unique. */
int expval_get_fmpq(fmpq_t q, const expval *v)
{
    const expval_sum *n = &v->num, *d = &v->den;
    if (n->n == 0) {
        fmpq_zero(q);
        return 1;
    }
    if (n->n != d->n) return 0;
    for (slong i = 0; i < n->n; i++)
        if (!fmpq_equal(n->r + i, d->r + i)) return 0;
    fmpq_t k, x;
    fmpq_init(k);
    fmpq_init(x);
    fmpq_div(k, n->c, d->c);
    int ok = 1;
    for (slong i = 1; ok && i < n->n; i++) {
        fmpq_mul(x, k, d->c + i);
        ok = fmpq_equal(x, n->c + i);
    }
    if (ok) fmpq_set(q, k);
    fmpq_clear(k);
    fmpq_clear(x);
    return ok;
}

int expval_equal(const expval *a, const expval *b)
{
    if (a == b) return 1;
    /* unique representation of sums (see expval_get_fmpq) */
    if (expval_sum_equal(&a->den, &b->den)) return expval_sum_equal(&a->num, &b->num);
    if (expval_is_zero(a) || expval_is_zero(b)) return expval_is_zero(a) && expval_is_zero(b);
    /* disjoint balls settle most unequal pairs before any product; more
     * precision when the products would be large */
    slong work = a->num.n * b->den.n + b->num.n * a->den.n;
    slong max_prec = work > EV_MAX_TERMS ? 4096 : 64;
    arb_t x, y;
    arb_init(x);
    arb_init(y);
    int maybe = 1;
    for (slong prec = 64; maybe && prec <= max_prec; prec *= 4) {
        expval_arb(x, a, prec);
        expval_arb(y, b, prec);
        maybe = arb_overlaps(x, y);
    }
    arb_clear(x);
    arb_clear(y);
    if (!maybe) return 0;
    /* a.num*b.den == b.num*a.den as sums */
    expval_sum l, r;
    expval_sum_init(&l);
    expval_sum_init(&r);
    expval_sum_mul(&l, &a->num, &b->den, 0);
    expval_sum_mul(&r, &b->num, &a->den, 0);
    int eq = expval_sum_equal(&l, &r);
    expval_sum_clear(&l);
    expval_sum_clear(&r);
    return eq;
}

/* ---- printing and balls ---- */

static void print_fmpq(strbuf *out, const fmpq_t q)
{
    char *str = fmpq_get_str(NULL, 10, q);
    strbuf_puts(out, str);
    flint_free(str);
}

/* sum -> "3*exp(1/2) - 2*exp(2)", "1 + exp(1/3)", "-5". */
static void print_sum(strbuf *out, const expval_sum *x)
{
    if (x->n == 0) {
        strbuf_putc(out, '0');
        return;
    }
    fmpq_t a;
    fmpq_init(a);
    for (slong i = 0; i < x->n; i++) {
        int neg = fmpq_sgn(x->c + i) < 0;
        if (i == 0) {
            if (neg) strbuf_putc(out, '-');
        } else {
            strbuf_puts(out, neg ? " - " : " + ");
        }
        fmpq_abs(a, x->c + i);
        if (fmpq_is_zero(x->r + i)) {
            print_fmpq(out, a);
            continue;
        }
        if (!fmpq_is_one(a)) {
            print_fmpq(out, a);
            strbuf_putc(out, '*');
        }
        strbuf_puts(out, "exp(");
        print_fmpq(out, x->r + i);
        strbuf_putc(out, ')');
    }
    fmpq_clear(a);
}

void expval_print(strbuf *out, const expval *v)
{
    if (expval_sum_is_one(&v->den)) {
        print_sum(out, &v->num);
        return;
    }
    int paren_num = v->num.n > 1;
    /* a bare denominator only where "x/D" cannot regroup: a positive integer
     * or a lone exp(r) */
    const expval_sum *d = &v->den;
    int bare_den = d->n == 1 && fmpq_sgn(d->c) > 0 && fmpz_is_one(fmpq_denref(d->c)) &&
                   (fmpq_is_zero(d->r) || fmpq_is_one(d->c));
    if (paren_num) strbuf_putc(out, '(');
    print_sum(out, &v->num);
    if (paren_num) strbuf_putc(out, ')');
    strbuf_putc(out, '/');
    if (!bare_den) strbuf_putc(out, '(');
    print_sum(out, d);
    if (!bare_den) strbuf_putc(out, ')');
}

/* sum c_i*exp(r_i) in ball arithmetic (rigorous enclosures throughout). */
static void expval_sum_arb(arb_t out, const expval_sum *x, slong prec)
{
    arb_t t, c;
    arb_init(t);
    arb_init(c);
    arb_zero(out);
    for (slong i = 0; i < x->n; i++) {
        arb_set_fmpq(t, x->r + i, prec);
        arb_exp(t, t, prec);
        arb_set_fmpq(c, x->c + i, prec);
        arb_mul(t, t, c, prec);
        arb_add(out, out, t, prec);
    }
    arb_clear(t);
    arb_clear(c);
}

void expval_arb(arb_t out, const expval *v, slong prec)
{
    arb_t d;
    arb_init(d);
    expval_sum_arb(out, &v->num, prec);
    if (!expval_sum_is_one(&v->den)) {
        expval_sum_arb(d, &v->den, prec);
        arb_div(out, out, d, prec);
    }
    arb_clear(d);
}

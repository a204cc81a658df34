/* recognise_predict: the term an operation gives one entry, built with the
 * store's constructors from the names of its arguments' entries, so that it
 * equals a relation's right side exactly when their hash-consed ids agree. */
#include "rewrite/recognise_impl.h"

#include <stdlib.h>

#include "core/mem.h"

#define MAT_LOCAL_TERMS 256

/* A gap of a masked softmax's output above the diagonal is a zero of the
 * matrix (the weight of a masked key); any other gap has no value. */
static int gap_is_zero(const mat_program *p, const mat_family *f, uint32_t r, uint32_t c)
{
    return f->op >= 0 && p->ops[f->op].code == MAT_OP_MASKED_SOFTMAX_ROWS && c > r;
}

/* Argument i of op at (r, c) of the matrix the op reads (after its view). */
static term_id arg_term(mat_program *p, uint32_t k, uint32_t i, uint32_t b, uint32_t r, uint32_t c)
{
    const mat_op *op = &p->ops[k];
    const mat_family *f = &p->mats[op->arg[i]];
    uint32_t bb, rr, cc;
    if (!mat_view_pos(f, (mat_view)op->view[i], b, r, c, &bb, &rr, &cc)) return RECOG_NO_TERM;
    if (f->kind == MAT_KIND_TEMP) return recog_predict_op(p, (uint32_t)f->op, bb, rr, cc);
    term_id t = f->entry[mat_cell(f, bb, rr, cc)];
    if (t == TERM_NONE && gap_is_zero(p, f, rr, cc)) return p->store->zero;
    return t;
}

static term_id predict_matmul(mat_program *p, uint32_t k, uint32_t b, uint32_t r, uint32_t c)
{
    term_store *s = p->store;
    uint32_t rows, inner;
    mat_arg_shape(p, &p->ops[k], 0, &rows, &inner);
    term_id local[MAT_LOCAL_TERMS];
    term_id *terms = inner <= MAT_LOCAL_TERMS ? local : mem_realloc(NULL, inner * sizeof *terms);
    size_t n = 0;
    term_id result = RECOG_NO_TERM;
    for (uint32_t t = 0; t < inner; t++) {
        term_id x = arg_term(p, k, 0, b, r, t);
        term_id y = arg_term(p, k, 1, b, t, c);
        if (x == RECOG_NO_TERM || y == RECOG_NO_TERM) goto done;
        if (x == s->zero || y == s->zero) continue;
        const mat_op *op = &p->ops[k];
        if (op->scale_each && op->scalar != TERM_NONE) terms[n++] = term_mul(s, (term_id[]){ op->scalar, x, y }, 3);
        else terms[n++] = term_mul2(s, x, y);
    }
    result = term_add(s, terms, n);
    if (!p->ops[k].scale_each && p->ops[k].scalar != TERM_NONE) result = term_mul2(s, p->ops[k].scalar, result);
done:
    if (terms != local) free(terms);
    return result;
}

/* Softmax of row r: the sum of exps (plain form) or the lse of the row,
 * cached per operation for the row last asked. */
static term_id softmax_row(mat_program *p, uint32_t k, uint32_t b, uint32_t r)
{
    mat_op *op = &p->ops[k];
    if (op->cache_t != TERM_NONE && op->cache_b == b && op->cache_r == r) return op->cache_t;
    term_store *s = p->store;
    uint32_t rows, cols;
    mat_arg_shape(p, op, 0, &rows, &cols);
    uint32_t n = cols;
    if (op->code == MAT_OP_MASKED_SOFTMAX_ROWS && r + 1 < n) n = r + 1;
    int lse = op->lse, stable = op->stable;
    term_id local[MAT_LOCAL_TERMS];
    term_id *terms = n <= MAT_LOCAL_TERMS ? local : mem_realloc(NULL, n * sizeof *terms);
    term_id result = RECOG_NO_TERM, m = TERM_NONE;
    for (uint32_t t = 0; t < n; t++) {
        term_id x = arg_term(p, k, 0, b, r, t);
        if (x == RECOG_NO_TERM) goto done;
        terms[t] = x;
    }
    if (stable) m = term_max(s, terms, n);
    for (uint32_t t = 0; t < n && !lse; t++) terms[t] = term_exp(s, stable ? term_sub(s, terms[t], m) : terms[t]);
    result = lse ? term_lse(s, terms, n) : term_add(s, terms, n);
    op = &p->ops[k];
    op->cache_b = b;
    op->cache_r = r;
    op->cache_t = result;
    op->cache_m = m;
done:
    if (terms != local) free(terms);
    return result;
}

term_id recog_predict_op(mat_program *p, uint32_t k, uint32_t b, uint32_t r, uint32_t c)
{
    term_store *s = p->store;
    const mat_op *op = &p->ops[k];
    term_id x = RECOG_NO_TERM, y = RECOG_NO_TERM;
    switch (op->code) {
    case MAT_OP_MATMUL:
        return predict_matmul(p, k, b, r, c);
    case MAT_OP_SOFTMAX_ROWS:
    case MAT_OP_MASKED_SOFTMAX_ROWS: {
        if (op->code == MAT_OP_MASKED_SOFTMAX_ROWS && c > r) return s->zero;
        /* a row of one: exp(x) / exp(x) = 1 (and exp(x - x) = 1) whatever x */
        if (op->code == MAT_OP_MASKED_SOFTMAX_ROWS && r == 0) return s->one;
        int lse = op->lse;
        term_id row = softmax_row(p, k, b, r);
        if (row == RECOG_NO_TERM) return RECOG_NO_TERM;
        x = arg_term(p, k, 0, b, r, c);
        if (x == RECOG_NO_TERM) return RECOG_NO_TERM;
        /* exp(x) / sum_k exp(x_k), exp(x - lse(x_1, ..., x_n)), or
         * exp(x - m) / sum_k exp(x_k - m) with m = max(x_1, ..., x_n) */
        if (lse) return term_exp(s, term_sub(s, x, row));
        if (p->ops[k].stable) x = term_sub(s, x, p->ops[k].cache_m);
        return term_mul2(s, term_exp(s, x), term_pow_si(s, row, -1));
    }
    case MAT_OP_CONCAT_HEADS: {
        const mat_family *a = &p->mats[op->arg[0]];
        uint32_t h = c / a->cols, j = c % a->cols;
        if (h >= a->batch || r >= a->rows) return RECOG_NO_TERM;
        if (a->kind == MAT_KIND_TEMP) return recog_predict_op(p, (uint32_t)a->op, h, r, j);
        return a->entry[mat_cell(a, h, r, j)];
    }
    default:
        break;
    }
    x = arg_term(p, k, 0, b, r, c);
    if (x == RECOG_NO_TERM) return RECOG_NO_TERM;
    if (op->n_args == 2) {
        y = arg_term(p, k, 1, b, r, c);
        if (y == RECOG_NO_TERM) return RECOG_NO_TERM;
    }
    op = &p->ops[k];
    switch (op->code) {
    case MAT_OP_SCALE: return term_mul2(s, op->scalar, x);
    case MAT_OP_ADD: case MAT_OP_ADD_ROW: case MAT_OP_ADD_COL: return term_add2(s, x, y);
    case MAT_OP_SUB: return term_sub(s, x, y);
    case MAT_OP_MUL: return term_mul2(s, x, y);
    case MAT_OP_ADD_SCALAR: return term_add2(s, x, op->scalar);
    case MAT_OP_TRANSPOSE: case MAT_OP_COPY: return x;
    case MAT_OP_MAP:
        if (op->fn == OP_POW) return term_pow(s, x, op->scalar);
        return term_make(s, (term_op)op->fn, &x, 1);
    default:
        return RECOG_NO_TERM;
    }
}

/* ---- matching without building ---- */

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

static int sorted_u64(const uint64_t *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (v[i - 1] > v[i]) return 0;
    return 1;
}

/* 1 when want is, provably, the entry (b, r, c) of the matrix product k, read
 * from the canonical forms of core/term.h without building terms: a product
 * of two distinct names is MUL(x, y) with x < y by id (x*x is POW(x, 2));
 * a sum of distinct such products is the ADD of exactly them, and adding
 * the arguments of a canonical sum gives that sum again. 0: unknown. */
static int match_matmul(mat_program *p, uint32_t k, uint32_t b, uint32_t r, uint32_t c, term_id want)
{
    term_store *s = p->store;
    const mat_op *op = &p->ops[k];
    if (op->scale_each) return 0;
    term_id sum = want;
    if (op->scalar != TERM_NONE) {
        if (term_op_of(s, want) != OP_MUL) return 0;
        sum = TERM_NONE;
        for (uint32_t i = 0; i < term_nargs(s, want); i++) {
            term_id a = term_arg(s, want, i);
            if (term_op_of(s, a) != OP_ADD) continue;
            if (sum != TERM_NONE) return 0;
            sum = a;
        }
        if (sum == TERM_NONE || term_mul2(s, p->ops[k].scalar, sum) != want) return 0;
    }
    if (term_op_of(s, sum) != OP_ADD) return 0;
    uint32_t rows, inner, n = term_nargs(s, sum);
    mat_arg_shape(p, &p->ops[k], 0, &rows, &inner);
    uint64_t local[2 * MAT_LOCAL_TERMS];
    uint64_t *key = inner <= MAT_LOCAL_TERMS && n <= MAT_LOCAL_TERMS ? local : mem_realloc(NULL, 2 * ((size_t)inner + n) * sizeof *key);
    uint64_t *got = key + (key == local ? MAT_LOCAL_TERMS : inner);
    size_t m = 0;
    int ok = 1;
    for (uint32_t t = 0; t < inner && ok; t++) {
        term_id x = arg_term(p, k, 0, b, r, t);
        term_id y = arg_term(p, k, 1, b, t, c);
        if (x == s->zero || y == s->zero) continue;
        if (x == RECOG_NO_TERM || y == RECOG_NO_TERM || term_op_of(s, x) != OP_SYM || term_op_of(s, y) != OP_SYM || m == n) {
            ok = 0;
            break;
        }
        key[m++] = x < y ? (uint64_t)x << 32 | y : (uint64_t)y << 32 | x;
    }
    ok = ok && m == n && n >= 2;
    for (uint32_t i = 0; i < n && ok; i++) {
        term_id a = term_arg(s, sum, i);
        if (term_op_of(s, a) == OP_MUL && term_nargs(s, a) == 2 && term_op_of(s, term_arg(s, a, 0)) == OP_SYM &&
            term_op_of(s, term_arg(s, a, 1)) == OP_SYM)
            got[i] = (uint64_t)term_arg(s, a, 0) << 32 | term_arg(s, a, 1);
        else if (term_op_of(s, a) == OP_POW && term_op_of(s, term_arg(s, a, 0)) == OP_SYM &&
                 term_op_of(s, term_arg(s, a, 1)) == OP_NUM && fmpq_equal_si((fmpq *)term_value(s, term_arg(s, a, 1)), 2))
            got[i] = (uint64_t)term_arg(s, a, 0) << 32 | term_arg(s, a, 0);
        else
            ok = 0;
    }
    if (ok) { /* usually both are in order already: the sum's by its canonical form */
        if (!sorted_u64(key, m)) qsort(key, m, sizeof *key, cmp_u64);
        if (!sorted_u64(got, n)) qsort(got, n, sizeof *got, cmp_u64);
        for (uint32_t i = 0; i < n && ok; i++) ok = key[i] == got[i];
    }
    if (key != local) free(key);
    return ok;
}

int recog_match_op(mat_program *p, uint32_t k, uint32_t b, uint32_t r, uint32_t c, term_id want)
{
    if (p->ops[k].code == MAT_OP_MATMUL && match_matmul(p, k, b, r, c, want)) return 1;
    return recog_predict_op(p, k, b, r, c) == want;
}

/* mateval_exact: the exact stage of each operation: rational families as
 * FLINT integer matrices over one denominator, the others entry by entry
 * with their terms, to know which entries are numbers. */
#include "eval/mateval_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

static void exact_alloc(mateval *m, uint32_t f)
{
    const mat_family *g = &m->p->mats[f];
    mateval_family *v = &m->fam[f];
    v->exact = 1;
    fmpz_one(v->den);
    v->num = mem_realloc(NULL, g->batch * sizeof *v->num);
    for (uint32_t b = 0; b < g->batch; b++) fmpz_mat_init(v->num + b, g->rows, g->cols);
}

static void mixed_alloc(mateval *m, uint32_t f)
{
    const mat_family *g = &m->p->mats[f];
    mateval_family *v = &m->fam[f];
    v->exact = 0;
    v->kind = mem_calloc(g->n_cells, 1);
    v->q = _fmpq_vec_init((slong)g->n_cells);
    v->term = mem_calloc(g->n_cells, sizeof *v->term);
}

/* Divides numerators and denominator by their common factor. */
static void exact_normalise(mateval *m, uint32_t f)
{
    const mat_family *g = &m->p->mats[f];
    mateval_family *v = &m->fam[f];
    fmpz_t d, c;
    fmpz_init_set(d, v->den);
    fmpz_init(c);
    for (uint32_t b = 0; b < g->batch && !fmpz_is_one(d); b++) {
        fmpz_mat_content(c, v->num + b);
        fmpz_gcd(d, d, c);
    }
    if (!fmpz_is_one(d)) {
        for (uint32_t b = 0; b < g->batch; b++) fmpz_mat_scalar_divexact_fmpz(v->num + b, v->num + b, d);
        fmpz_divexact(v->den, v->den, d);
    }
    fmpz_clear(d);
    fmpz_clear(c);
}

static int is_num(const mateval *m, term_id t) { return t != TERM_NONE && term_op_of(&m->shadow, t) == OP_NUM; }

/* ---- rational families ---- */

/* Argument i of op at batch b as the product reads it: the stored matrix,
 * or its transpose in tmp (initialised here; the caller clears it). */
static const fmpz_mat_struct *exact_view(mateval *m, const mat_op *op, uint32_t i, uint32_t b, fmpz_mat_struct *tmp,
                                         int *used)
{
    const mat_family *a = &m->p->mats[op->arg[i]];
    const fmpz_mat_struct *x = m->fam[op->arg[i]].num + (a->rank == 3 ? b : 0);
    *used = 0;
    if (op->view[i] == MAT_VIEW_PLAIN) return x;
    fmpz_mat_init(tmp, fmpz_mat_ncols(x), fmpz_mat_nrows(x));
    fmpz_mat_transpose(tmp, x);
    *used = 1;
    return tmp;
}

/* out[b] = A'[b] * B'[b] over den = den(A) * den(B), every batch of the
 * output (out initialised with its shape). */
static void exact_product(mateval *m, const mat_op *op, fmpz_mat_struct *out, fmpz_t den, uint32_t batch)
{
    for (uint32_t b = 0; b < batch; b++) {
        fmpz_mat_struct ta, tb;
        int ua, ub;
        const fmpz_mat_struct *x = exact_view(m, op, 0, b, &ta, &ua);
        const fmpz_mat_struct *y = exact_view(m, op, 1, b, &tb, &ub);
        fmpz_mat_mul(out + b, x, y);
        if (ua) fmpz_mat_clear(&ta);
        if (ub) fmpz_mat_clear(&tb);
    }
    fmpz_mul(den, m->fam[op->arg[0]].den, m->fam[op->arg[1]].den);
}

/* The operations done on rational families as a whole: every argument
 * exact and every constant factor a number. */
static int exact_whole(const mateval *m, uint32_t k)
{
    const mat_op *op = &m->p->ops[k];
    for (uint32_t i = 0; i < op->n_args; i++)
        if (!m->fam[op->arg[i]].exact) return 0;
    term_id c = m->scalar[k];
    switch (op->code) {
    case MAT_OP_MATMUL: return c == TERM_NONE || is_num(m, c);
    case MAT_OP_SCALE: case MAT_OP_ADD_SCALAR: return is_num(m, c);
    case MAT_OP_ADD: case MAT_OP_SUB: case MAT_OP_MUL: case MAT_OP_ADD_ROW: case MAT_OP_ADD_COL:
    case MAT_OP_TRANSPOSE: case MAT_OP_COPY: case MAT_OP_CONCAT_HEADS: return 1;
    case MAT_OP_MAP: return op->fn == OP_ABS; /* |x| of a number is folded */
    default: return 0;
    }
}

static void exact_op(mateval *m, uint32_t k)
{
    const mat_program *p = m->p;
    const mat_op *op = &p->ops[k];
    uint32_t f = op->out;
    const mat_family *g = &p->mats[f];
    exact_alloc(m, f);
    mateval_family *v = &m->fam[f];
    const mateval_family *a = &m->fam[op->arg[0]];
    const mateval_family *b2 = op->n_args == 2 ? &m->fam[op->arg[1]] : NULL;
    const fmpq *c = m->scalar[k] != TERM_NONE ? term_value(&m->shadow, m->scalar[k]) : NULL;
    if (op->code == MAT_OP_MATMUL) {
        exact_product(m, op, v->num, v->den, g->batch);
        if (c) { /* a number factor (scale_each or not: the sum of c*x*y is c times the sum) */
            for (uint32_t b = 0; b < g->batch; b++) fmpz_mat_scalar_mul_fmpz(v->num + b, v->num + b, fmpq_numref(c));
            fmpz_mul(v->den, v->den, fmpq_denref(c));
        }
        exact_normalise(m, f);
        return;
    }
    fmpz_t fa, fb;
    fmpz_init_set_ui(fa, 1);
    fmpz_init_set_ui(fb, 1);
    switch (op->code) {
    case MAT_OP_ADD: case MAT_OP_SUB: case MAT_OP_ADD_ROW: case MAT_OP_ADD_COL:
        fmpz_lcm(v->den, a->den, b2->den);
        fmpz_divexact(fa, v->den, a->den);
        fmpz_divexact(fb, v->den, b2->den);
        break;
    case MAT_OP_MUL: fmpz_mul(v->den, a->den, b2->den); break;
    case MAT_OP_SCALE: case MAT_OP_ADD_SCALAR: fmpz_mul(v->den, a->den, fmpq_denref(c)); break;
    default: fmpz_set(v->den, a->den); break;
    }
    for (size_t cell = 0; cell < g->n_cells; cell++) {
        uint32_t b, r, col;
        mat_cell_pos(g, cell, &b, &r, &col);
        fmpz *out = mv_num(m, f, cell);
        if (op->code == MAT_OP_CONCAT_HEADS) {
            const mat_family *h = &p->mats[op->arg[0]];
            fmpz_set(out, mv_num(m, op->arg[0], mat_cell(h, col / h->cols, r, col % h->cols)));
            continue;
        }
        const fmpz *x = mv_num(m, op->arg[0], mv_arg_cell(p, op, 0, b, r, col));
        const fmpz *y = b2 ? mv_num(m, op->arg[1], mv_arg_cell(p, op, 1, b, r, col)) : NULL;
        switch (op->code) {
        case MAT_OP_ADD: case MAT_OP_ADD_ROW: case MAT_OP_ADD_COL:
            fmpz_mul(out, x, fa);
            fmpz_addmul(out, y, fb);
            break;
        case MAT_OP_SUB:
            fmpz_mul(out, x, fa);
            fmpz_submul(out, y, fb);
            break;
        case MAT_OP_MUL: fmpz_mul(out, x, y); break;
        case MAT_OP_SCALE: fmpz_mul(out, x, fmpq_numref(c)); break;
        case MAT_OP_ADD_SCALAR: /* x/da + cn/cd = (x*cd + cn*da) / (da*cd) */
            fmpz_mul(out, x, fmpq_denref(c));
            fmpz_addmul(out, fmpq_numref(c), a->den);
            break;
        case MAT_OP_MAP: fmpz_abs(out, x); break;
        default: fmpz_set(out, x); break; /* transpose, copy */
        }
    }
    fmpz_clear(fa);
    fmpz_clear(fb);
    exact_normalise(m, f);
}

/* ---- entries one by one, as terms ----
 * Each entry's term is built in the shadow store with the store's
 * constructors from its arguments' terms, as inlining builds it, so an
 * entry is a number exactly where its inlined term is. */

/* The term of entry cell of family f in the shadow store; TERM_NONE for a
 * gap. Families read by an operation never hold MV_OPAQUE. */
static term_id cell_term(mateval *m, uint32_t f, size_t cell)
{
    mateval_family *v = &m->fam[f];
    if (v->exact || v->kind[cell] == MV_EXACT) {
        fmpq_t q;
        fmpq_init(q);
        mv_rational(q, m, f, cell);
        term_id t = term_num(&m->shadow, q);
        fmpq_clear(q);
        return t;
    }
    if (v->kind[cell] == MV_TERM) return v->term[cell];
    if (v->kind[cell] == MV_ABSENT) return TERM_NONE;
    mem_invariant_failed("mateval", "an unbuilt entry is read");
}

static void set_term(mateval *m, uint32_t f, size_t cell, term_id t)
{
    mateval_family *v = &m->fam[f];
    if (term_op_of(&m->shadow, t) == OP_NUM) {
        v->kind[cell] = MV_EXACT;
        fmpq_set(v->q + cell, term_value(&m->shadow, t));
    } else {
        v->kind[cell] = MV_TERM;
        v->term[cell] = t;
    }
}

static void set_rational(mateval *m, uint32_t f, size_t cell, const fmpq_t q)
{
    m->fam[f].kind[cell] = MV_EXACT;
    fmpq_set(m->fam[f].q + cell, q);
}

/* Elementwise operations, transposes, copies and heads side by side: each
 * entry as the predictor of rewrite/recognise builds it, over the terms of the
 * arguments' entries. */
static int entrywise_op(mateval *m, uint32_t k)
{
    const mat_program *p = m->p;
    const mat_op *op = &p->ops[k];
    uint32_t f = op->out;
    const mat_family *g = &p->mats[f];
    term_store *s = &m->shadow;
    term_id c = m->scalar[k];
    mixed_alloc(m, f);
    for (size_t cell = 0; cell < g->n_cells; cell++) {
        if (!mv_present(p, f, cell)) continue;
        uint32_t b, r, col;
        mat_cell_pos(g, cell, &b, &r, &col);
        term_id x, y = TERM_NONE, t;
        if (op->code == MAT_OP_CONCAT_HEADS) {
            const mat_family *h = &p->mats[op->arg[0]];
            x = cell_term(m, op->arg[0], mat_cell(h, col / h->cols, r, col % h->cols));
        } else {
            x = cell_term(m, op->arg[0], mv_arg_cell(p, op, 0, b, r, col));
            if (op->n_args == 2) {
                y = cell_term(m, op->arg[1], mv_arg_cell(p, op, 1, b, r, col));
                if (y == TERM_NONE) return MATEVAL_FAILED;
            }
        }
        if (x == TERM_NONE) return MATEVAL_FAILED;
        switch (op->code) {
        case MAT_OP_SCALE: t = term_mul2(s, c, x); break;
        case MAT_OP_ADD: case MAT_OP_ADD_ROW: case MAT_OP_ADD_COL: t = term_add2(s, x, y); break;
        case MAT_OP_SUB: t = term_sub(s, x, y); break;
        case MAT_OP_MUL: t = term_mul2(s, x, y); break;
        case MAT_OP_ADD_SCALAR: t = term_add2(s, x, c); break;
        case MAT_OP_MAP: t = op->fn == OP_POW ? term_pow(s, x, c) : term_make(s, (term_op)op->fn, &x, 1); break;
        default: t = x; break; /* transpose, copy, concat_heads */
        }
        set_term(m, f, cell, t);
    }
    return MATEVAL_OK;
}

/* Softmax rows: exp(x) * (sum_k exp(x_k))^-1, or exp(x - lse(row)) (the form
 * the relations use), over the keys k < n (k <= r when masked). */
static int softmax_op(mateval *m, uint32_t k)
{
    const mat_program *p = m->p;
    const mat_op *op = &p->ops[k];
    uint32_t f = op->out;
    const mat_family *g = &p->mats[f];
    term_store *s = &m->shadow;
    int masked = op->code == MAT_OP_MASKED_SOFTMAX_ROWS;
    uint32_t rows, cols;
    mat_arg_shape(p, op, 0, &rows, &cols);
    mixed_alloc(m, f);
    term_id *key = mem_realloc(NULL, (size_t)cols * sizeof *key);
    term_id *e = mem_realloc(NULL, (size_t)cols * sizeof *e);
    fmpq_t zero, one;
    fmpq_init(zero);
    fmpq_init(one);
    fmpq_one(one);
    int status = MATEVAL_OK;
    for (uint32_t b = 0; b < g->batch && status == MATEVAL_OK; b++) {
        for (uint32_t r = 0; r < g->rows && status == MATEVAL_OK; r++) {
            uint32_t n = masked && r + 1 < cols ? r + 1 : cols;
            int whole = 1;
            for (uint32_t t = 0; t < n; t++) {
                key[t] = cell_term(m, op->arg[0], mv_arg_cell(p, op, 0, b, r, t));
                if (key[t] == TERM_NONE) whole = 0;
            }
            term_id row = TERM_NONE, inv = TERM_NONE;
            for (uint32_t col = 0; col < g->cols; col++) {
                size_t cell = mat_cell(g, b, r, col);
                if (!mv_present(p, f, cell)) continue;
                if (masked && col > r) { set_rational(m, f, cell, zero); continue; }
                if (masked && r == 0) { set_rational(m, f, cell, one); continue; }
                if (!whole) { status = MATEVAL_FAILED; break; }
                if (row == TERM_NONE) {
                    if (op->lse) row = term_lse(s, key, n);
                    else {
                        for (uint32_t t = 0; t < n; t++) e[t] = term_exp(s, key[t]);
                        row = term_add(s, e, n);
                        inv = term_pow_si(s, row, -1);
                    }
                }
                term_id x = key[col];
                set_term(m, f, cell, op->lse ? term_exp(s, term_sub(s, x, row)) : term_mul2(s, term_exp(s, x), inv));
            }
        }
    }
    fmpq_clear(zero);
    fmpq_clear(one);
    free(key);
    free(e);
    return status;
}

/* ---- products ----
 * A product no operation reads is only classified (number or not) by
 * collecting its summands as term_add does, never built. */

/* A sum being collected as term_add collects it: a constant and
 * coefficients of bases (a term without its numeric coefficient). */
typedef struct mv_sum {
    fmpq_t constant;
    term_id *base;
    fmpq *coef;
    size_t n, cap;
} mv_sum;

static void sum_init(mv_sum *S)
{
    memset(S, 0, sizeof *S);
    fmpq_init(S->constant);
}

static void sum_clear(mv_sum *S)
{
    fmpq_clear(S->constant);
    if (S->coef) _fmpq_vec_clear(S->coef, (slong)S->cap);
    free(S->base);
}

static void sum_reset(mv_sum *S)
{
    fmpq_zero(S->constant);
    S->n = 0;
}

static void sum_push(mv_sum *S, term_id base, const fmpq_t c)
{
    if (S->n == S->cap) {
        size_t cap = S->cap ? 2 * S->cap : 16;
        fmpq *coef = _fmpq_vec_init((slong)cap);
        for (size_t i = 0; i < S->n; i++) fmpq_swap(coef + i, S->coef + i);
        if (S->coef) _fmpq_vec_clear(S->coef, (slong)S->cap);
        S->coef = coef;
        S->base = mem_realloc(S->base, cap * sizeof *S->base);
        S->cap = cap;
    }
    S->base[S->n] = base;
    fmpq_set(S->coef + S->n, c);
    S->n++;
}

/* Adds c*t the way term_add flattens its arguments: a sum gives its
 * arguments, a number times a sum (c2*(x + y)) is distributed, anything
 * else is coefficient * base (term_split_coeff). */
static void sum_add_term(mateval *m, mv_sum *S, term_id t, const fmpq_t c)
{
    term_store *s = &m->shadow;
    fmpq_t scale, x;
    fmpq_init(scale);
    fmpq_init(x);
    fmpq_set(scale, c);
    if (term_op_of(s, t) == OP_MUL && term_nargs(s, t) == 2 && term_op_of(s, term_arg(s, t, 0)) == OP_NUM &&
        term_op_of(s, term_arg(s, t, 1)) == OP_ADD) {
        fmpq_mul(scale, scale, term_value(s, term_arg(s, t, 0)));
        t = term_arg(s, t, 1);
    }
    uint32_t n = term_op_of(s, t) == OP_ADD ? term_nargs(s, t) : 1;
    for (uint32_t j = 0; j < n; j++) {
        term_id u = term_op_of(s, t) == OP_ADD ? term_arg(s, t, j) : t;
        num_id coeff;
        term_id base;
        term_split_coeff(&coeff, &base, s, u);
        fmpq_mul(x, scale, num_value(&s->nums, coeff));
        if (base == s->one) fmpq_add(S->constant, S->constant, x);
        else sum_push(S, base, x);
    }
    fmpq_clear(scale);
    fmpq_clear(x);
}

typedef struct mv_pair {
    term_id base;
    uint32_t i;
} mv_pair;

static int cmp_pair(const void *x, const void *y)
{
    const mv_pair *a = x, *b = y;
    if (a->base != b->base) return a->base < b->base ? -1 : 1;
    return (a->i > b->i) - (a->i < b->i);
}

/* 1 when the collected sum is a number (every base's coefficients cancel). */
static int sum_is_number(mv_sum *S)
{
    if (S->n == 0) return 1;
    mv_pair *v = mem_realloc(NULL, S->n * sizeof *v);
    for (size_t i = 0; i < S->n; i++) v[i] = (mv_pair){ S->base[i], (uint32_t)i };
    qsort(v, S->n, sizeof *v, cmp_pair);
    int number = 1;
    fmpq_t acc;
    fmpq_init(acc);
    for (size_t i = 0; i < S->n && number;) {
        size_t j = i;
        fmpq_zero(acc);
        while (j < S->n && v[j].base == v[i].base) fmpq_add(acc, acc, S->coef + v[j++].i);
        number = fmpq_is_zero(acc);
        i = j;
    }
    fmpq_clear(acc);
    free(v);
    return number;
}

/* The sum collected in S as a term (term_add collects the same summands). */
static term_id sum_term(mateval *m, const mv_sum *S)
{
    term_store *s = &m->shadow;
    term_id *args = mem_realloc(NULL, (S->n + 1) * sizeof *args);
    size_t n = 0;
    args[n++] = term_num(s, S->constant);
    for (size_t i = 0; i < S->n; i++) args[n++] = term_mul2(s, term_num(s, S->coef + i), S->base[i]);
    term_id t = term_add(s, args, n);
    free(args);
    return t;
}

/* The value of an entry as a factor of a product: 1 and q when rational,
 * else 0 and its term. */
static int factor_of(fmpq_t q, term_id *t, mateval *m, uint32_t f, size_t cell)
{
    if (mv_rational(q, m, f, cell)) return 1;
    *t = m->fam[f].term[cell];
    HMP_INVARIANT(m->fam[f].kind[cell] == MV_TERM, "mateval", "an unbuilt entry is read");
    return 0;
}

/* Collects sum_t [c*] x_t * y_t of entry (b, r, col) of product k into S:
 * each product's numeric factors multiplied, the others as term_mul would
 * combine them. */
static void collect_entry(mateval *m, uint32_t k, uint32_t inner, uint32_t b, uint32_t r, uint32_t col, mv_sum *S)
{
    const mat_op *op = &m->p->ops[k];
    term_id c = m->scalar[k];
    int c_each = op->scale_each && c != TERM_NONE;
    fmpq_t coef, x;
    fmpq_init(coef);
    fmpq_init(x);
    for (uint32_t t = 0; t < inner; t++) {
        term_id fs[3];
        size_t nf = 0;
        fmpq_one(coef);
        size_t cells[2] = { mv_arg_cell(m->p, op, 0, b, r, t), mv_arg_cell(m->p, op, 1, b, t, col) };
        for (int i = 0; i < 2; i++) {
            if (factor_of(x, &fs[nf], m, op->arg[i], cells[i])) fmpq_mul(coef, coef, x);
            else nf++;
        }
        if (c_each) {
            if (is_num(m, c)) fmpq_mul(coef, coef, term_value(&m->shadow, c));
            else fs[nf++] = c;
        }
        if (fmpq_is_zero(coef)) continue; /* 0*x = 0 */
        if (nf == 0) fmpq_add(S->constant, S->constant, coef);
        else sum_add_term(m, S, nf == 1 ? fs[0] : term_mul(&m->shadow, fs, nf), coef);
    }
    fmpq_clear(coef);
    fmpq_clear(x);
}

/* Lines (rows of A', or columns of B') whose entries' bases are pairwise
 * distinct: a sum over such a line times rational factors cancels nowhere,
 * so it is a number only when every non-rational product is 0. */
static uint8_t *distinct_lines(mateval *m, uint32_t k, int side, uint32_t batch, uint32_t lines, uint32_t inner)
{
    const mat_op *op = &m->p->ops[k];
    uint8_t *ok = mem_calloc((size_t)batch * lines, 1);
    mv_sum S;
    sum_init(&S);
    fmpq_t one;
    fmpq_init(one);
    fmpq_one(one);
    for (uint32_t b = 0; b < batch; b++)
        for (uint32_t l = 0; l < lines; l++) {
            sum_reset(&S);
            for (uint32_t t = 0; t < inner; t++) {
                size_t cell = side == 0 ? mv_arg_cell(m->p, op, 0, b, l, t) : mv_arg_cell(m->p, op, 1, b, t, l);
                const mateval_family *v = &m->fam[op->arg[side]];
                if (v->kind[cell] == MV_TERM) sum_add_term(m, &S, v->term[cell], one);
            }
            int distinct = 1;
            if (S.n > 1) {
                mv_pair *v = mem_realloc(NULL, S.n * sizeof *v);
                for (size_t i = 0; i < S.n; i++) v[i] = (mv_pair){ S.base[i], (uint32_t)i };
                qsort(v, S.n, sizeof *v, cmp_pair);
                for (size_t i = 1; i < S.n && distinct; i++) distinct = v[i].base != v[i - 1].base;
                free(v);
            }
            ok[(size_t)b * lines + l] = (uint8_t)distinct;
        }
    fmpq_clear(one);
    sum_clear(&S);
    return ok;
}

/* 1 when entry cell of family f is a rational zero. */
static int is_zero(const mateval *m, uint32_t f, size_t cell)
{
    const mateval_family *v = &m->fam[f];
    if (v->exact) return fmpz_is_zero(mv_num(m, f, cell));
    return v->kind[cell] == MV_ABSENT || (v->kind[cell] == MV_EXACT && fmpq_is_zero(v->q + cell));
}

static int is_rational(const mateval *m, uint32_t f, size_t cell)
{
    const mateval_family *v = &m->fam[f];
    return v->exact || v->kind[cell] != MV_TERM;
}

/* A product whose arguments are not all rational. An output nobody reads
 * is classified only; one an operation reads gets its terms. */
static int product_op(mateval *m, uint32_t k)
{
    const mat_program *p = m->p;
    const mat_op *op = &p->ops[k];
    uint32_t f = op->out;
    const mat_family *g = &p->mats[f];
    term_store *s = &m->shadow;
    term_id c = m->scalar[k];
    uint32_t rows, inner;
    mat_arg_shape(p, op, 0, &rows, &inner);
    mixed_alloc(m, f);
    const mateval_family *va = &m->fam[op->arg[0]], *vb = &m->fam[op->arg[1]];
    int status = MATEVAL_OK;
    fmpq_t q;
    fmpq_init(q);

    if (va->exact && vb->exact && !op->scale_each) {
        /* rational sums times a factor that is not a number: c*q, or 0 */
        fmpz_mat_struct *num = mem_realloc(NULL, g->batch * sizeof *num);
        fmpz_t den;
        fmpz_init(den);
        for (uint32_t b = 0; b < g->batch; b++) fmpz_mat_init(num + b, g->rows, g->cols);
        exact_product(m, op, num, den, g->batch);
        for (size_t cell = 0; cell < g->n_cells; cell++) {
            if (!mv_present(p, f, cell)) continue;
            uint32_t b, r, col;
            mat_cell_pos(g, cell, &b, &r, &col);
            fmpq_set_fmpz_frac(q, fmpz_mat_entry(num + b, r, col), den);
            set_term(m, f, cell, term_mul2(s, c, term_num(s, q)));
        }
        for (uint32_t b = 0; b < g->batch; b++) fmpz_mat_clear(num + b);
        free(num);
        fmpz_clear(den);
    } else if (m->fam[f].consumed) {
        /* an operation reads it: the terms, as inlining builds them */
        term_id *prod = mem_realloc(NULL, (size_t)inner * sizeof *prod);
        for (size_t cell = 0; cell < g->n_cells && status == MATEVAL_OK; cell++) {
            if (!mv_present(p, f, cell)) continue;
            uint32_t b, r, col;
            mat_cell_pos(g, cell, &b, &r, &col);
            for (uint32_t t = 0; t < inner; t++) {
                term_id x = cell_term(m, op->arg[0], mv_arg_cell(p, op, 0, b, r, t));
                term_id y = cell_term(m, op->arg[1], mv_arg_cell(p, op, 1, b, t, col));
                if (x == TERM_NONE || y == TERM_NONE) { status = MATEVAL_FAILED; break; }
                prod[t] = op->scale_each && c != TERM_NONE ? term_mul(s, (term_id[]){ c, x, y }, 3) : term_mul2(s, x, y);
            }
            if (status != MATEVAL_OK) break;
            term_id sum = term_add(s, prod, inner);
            if (!op->scale_each && c != TERM_NONE) sum = term_mul2(s, c, sum);
            set_term(m, f, cell, sum);
        }
        free(prod);
    } else {
        /* read by no operation: number or not, without building the sums */
        int c_num = c == TERM_NONE || is_num(m, c);
        int side = -1; /* the argument with terms, when the other is rational */
        if (c_num) side = va->exact && !vb->exact ? 1 : !va->exact && vb->exact ? 0 : -1;
        uint8_t *distinct = NULL;
        uint32_t lines = side == 0 ? g->rows : g->cols;
        if (side >= 0) distinct = distinct_lines(m, k, side, g->batch, lines, inner);
        mv_sum S;
        sum_init(&S);
        for (size_t cell = 0; cell < g->n_cells; cell++) {
            if (!mv_present(p, f, cell)) continue;
            uint32_t b, r, col;
            mat_cell_pos(g, cell, &b, &r, &col);
            /* the products that are not rational (and not 0) */
            size_t open = 0;
            for (uint32_t t = 0; t < inner; t++) {
                size_t ca = mv_arg_cell(p, op, 0, b, r, t), cb = mv_arg_cell(p, op, 1, b, t, col);
                if (is_zero(m, op->arg[0], ca) || is_zero(m, op->arg[1], cb)) continue;
                if (!is_rational(m, op->arg[0], ca) || !is_rational(m, op->arg[1], cb)) open++;
            }
            if (open > 0 && distinct && distinct[(size_t)b * lines + (side == 0 ? r : col)]) {
                m->fam[f].kind[cell] = MV_OPAQUE;
                continue;
            }
            sum_reset(&S);
            collect_entry(m, k, inner, b, r, col, &S);
            if (!sum_is_number(&S)) {
                /* c*sum may still fold (sqrt(3)*(q*sqrt(3)) = 3q): built */
                term_id t = !op->scale_each && !c_num ? term_mul2(s, c, sum_term(m, &S)) : TERM_NONE;
                if (t != TERM_NONE && term_op_of(s, t) == OP_NUM) set_rational(m, f, cell, term_value(s, t));
                else m->fam[f].kind[cell] = MV_OPAQUE;
                continue;
            }
            fmpq_set(q, S.constant);
            if (!op->scale_each && c != TERM_NONE) {
                if (!c_num && !fmpq_is_zero(q)) { /* c*q with c not a number */
                    m->fam[f].kind[cell] = MV_OPAQUE;
                    continue;
                }
                if (c_num) fmpq_mul(q, q, term_value(s, c));
            }
            set_rational(m, f, cell, q);
        }
        sum_clear(&S);
        free(distinct);
    }
    fmpq_clear(q);
    return status;
}

int mv_exact_op(mateval *m, uint32_t k)
{
    const mat_op *op = &m->p->ops[k];
    if (exact_whole(m, k)) {
        exact_op(m, k);
        return MATEVAL_OK;
    }
    switch (op->code) {
    case MAT_OP_MATMUL: return product_op(m, k);
    case MAT_OP_SOFTMAX_ROWS: case MAT_OP_MASKED_SOFTMAX_ROWS: return softmax_op(m, k);
    default: return entrywise_op(m, k);
    }
}

void mv_mark_balls(mateval *m)
{
    const mat_program *p = m->p;
    for (size_t f = 0; f < m->n_fam; f++) m->fam[f].want_ball = m->fam[f].needed && !m->fam[f].exact;
    for (size_t k = p->n_ops; k-- > 0;) {
        const mat_op *op = &p->ops[k];
        if (!m->fam[op->out].want_ball || p->mats[op->out].op != (int32_t)k) continue;
        for (uint32_t i = 0; i < op->n_args; i++) m->fam[op->arg[i]].want_ball = 1;
    }
}

/* mat_randtest: random matrix programs for property tests (FLINT's *_randtest
 * habit): inputs of random shapes, then operations of every code that fit
 * them, each output a new family; deterministic for a given state. */
#include "program/mat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flint/ulong_extras.h>

#define RANDTEST_MAX_FAMILIES 16

void mat_randtest_options_init(mat_randtest_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->min_inputs = 2;
    opt->max_inputs = 4;
    opt->max_ops = 5;
    opt->min_dim = 2;
    opt->max_dim = 4;
    opt->any_form = 1;
    opt->same_operands = 0;
}

/* Uniform in [lo, hi]. */
static uint32_t randtest_between(flint_rand_t state, uint32_t lo, uint32_t hi)
{
    return lo + (uint32_t)n_randint(state, hi - lo + 1);
}

static int randtest_coin(flint_rand_t state, ulong n) { return n_randint(state, n) == 0; }

/* The constants of the operations, built as the parser builds them. */
static term_id randtest_factor(term_store *s, flint_rand_t state)
{
    switch (n_randint(state, 5)) {
    case 0: return term_num_si(s, 2, 1);
    case 1: return term_num_si(s, -3, 1);
    case 2: return term_num_si(s, 1, 2);
    case 3: return term_div(s, term_num_si(s, 1, 1), term_sqrt(s, term_num_si(s, 2, 1)));
    default: return term_sqrt(s, term_num_si(s, 3, 1));
    }
}

typedef struct randtest {
    mat_program *p;
    flint_rand_s *state;
    const mat_randtest_options *opt;
    uint32_t first_base; /* family k is named after first_base + k */
} randtest;

/* A new family of the given shape: in a random form and index base when
 * opt->any_form, else x_1_2 from 1. */
static uint32_t randtest_family(randtest *R, uint32_t rank, const uint32_t *dim, mat_pattern pattern)
{
    char base[8];
    uint32_t b = R->first_base + (uint32_t)R->p->n_mats;
    snprintf(base, sizeof base, "%c%c", 'a' + b % 26, 'a' + (b / 26 + 7 * b) % 26);
    mat_form form = MAT_FORM_UNDERSCORE;
    uint32_t ib = 1;
    if (R->opt->any_form) {
        ib = (uint32_t)n_randint(R->state, 2);
        int compact_ok = 1;
        for (uint32_t k = 0; k < rank; k++) compact_ok &= dim[k] + ib <= 10;
        form = (mat_form)n_randint(R->state, 4);
        if (form == MAT_FORM_COMPACT && !compact_ok) form = MAT_FORM_UNDERSCORE;
        if (form == MAT_FORM_GLUED && rank == 1) form = MAT_FORM_UNDERSCORE;
    }
    return mat_add_family(R->p, base, form, rank, dim, ib, pattern);
}

/* A new family of f's shape (f may move when the family is added: its
 * extents are copied first). */
static uint32_t randtest_like(randtest *R, const mat_family *f, mat_pattern pattern)
{
    uint32_t dim[MAT_MAX_RANK], rank = f->rank;
    memcpy(dim, f->dim, sizeof dim);
    return randtest_family(R, rank, dim, pattern);
}

static const mat_family *randtest_get(const randtest *R, uint32_t f) { return &R->p->mats[f]; }

/* A masked softmax's output: its upper triangle is absent, so it is read only
 * plain, as the left factor of a product. */
static int randtest_masked(const randtest *R, uint32_t f)
{
    const mat_family *m = randtest_get(R, f);
    return m->kind == MAT_KIND_OP && R->p->ops[m->op].code == MAT_OP_MASKED_SOFTMAX_ROWS;
}

typedef struct randtest_want {
    uint32_t min_rank, max_rank;
    uint32_t rows, cols;  /* 0: any */
    uint32_t batch;       /* nonzero: a rank-3 family has this batch */
    int transposable;     /* (rows, cols) read plain or transposed */
    int allow_masked;
    int64_t not_this;     /* a family excluded, or -1 */
} randtest_want;

static int randtest_fits(const randtest *R, uint32_t f, const randtest_want *w)
{
    const mat_family *m = randtest_get(R, f);
    if (m->rank < w->min_rank || m->rank > w->max_rank || (int64_t)f == w->not_this) return 0;
    if (!w->allow_masked && randtest_masked(R, f)) return 0;
    if (w->batch && m->rank == 3 && m->batch != w->batch) return 0;
    int plain = (!w->rows || m->rows == w->rows) && (!w->cols || m->cols == w->cols);
    int trans = (!w->rows || m->cols == w->rows) && (!w->cols || m->rows == w->cols);
    return plain || (w->transposable && trans);
}

/* A random family that fits w, or -1. */
static int64_t randtest_pick(const randtest *R, const randtest_want *w)
{
    uint32_t found[RANDTEST_MAX_FAMILIES];
    ulong n = 0;
    for (uint32_t f = 0; f < R->p->n_mats && n < RANDTEST_MAX_FAMILIES; f++)
        if (randtest_fits(R, f, w)) found[n++] = f;
    return n ? (int64_t)found[n_randint(R->state, n)] : -1;
}

static randtest_want randtest_any(uint32_t min_rank, uint32_t max_rank)
{
    randtest_want w = { min_rank, max_rank, 0, 0, 0, 0, 0, -1 };
    return w;
}

/* How f is read to give rows x cols: plain, transposed, or either when both fit. */
static uint8_t randtest_view(const randtest *R, const mat_family *f, uint32_t rows, uint32_t cols)
{
    int plain = f->rows == rows && f->cols == cols, trans = f->rows == cols && f->cols == rows;
    if (plain && trans) return (uint8_t)n_randint(R->state, 2);
    return plain ? MAT_VIEW_PLAIN : MAT_VIEW_T;
}

/* out = A * B: A plain or transposed (a masked softmax plain), B a matrix
 * plain or transposed or a vector; either may be a batch of heads; now and
 * then a factor, on the product or in every term. */
static int randtest_matmul(randtest *R, mat_op *op)
{
    flint_rand_s *st = R->state;
    randtest_want wa = randtest_any(2, 3);
    wa.allow_masked = 1;
    int64_t a = randtest_pick(R, &wa);
    if (a < 0) return 0;
    const mat_family *fa = randtest_get(R, (uint32_t)a);
    uint8_t va = a == 0 || randtest_masked(R, (uint32_t)a) || n_randint(st, 2) ? MAT_VIEW_PLAIN : MAT_VIEW_T;
    uint32_t m = va == MAT_VIEW_T ? fa->cols : fa->rows, k = va == MAT_VIEW_T ? fa->rows : fa->cols;
    uint32_t batch = fa->rank == 3 ? fa->batch : 0;
    int64_t b = -1;
    uint8_t vb = MAT_VIEW_PLAIN;
    if (fa->rank == 2 && randtest_coin(st, 4)) { /* a matrix times a vector */
        randtest_want wv = randtest_any(1, 1);
        wv.rows = k;
        b = randtest_pick(R, &wv);
    }
    if (b < 0) { /* a matrix with k rows (plain) or k columns (transposed) */
        randtest_want wb = randtest_any(2, 3);
        wb.rows = k;
        wb.batch = batch;
        wb.transposable = 1;
        b = randtest_pick(R, &wb);
        if (b < 0) return 0;
        const mat_family *g = randtest_get(R, (uint32_t)b);
        vb = g->rows == k && g->cols == k ? (uint8_t)n_randint(st, 2) : g->rows == k ? MAT_VIEW_PLAIN : MAT_VIEW_T;
    }
    const mat_family *fb = randtest_get(R, (uint32_t)b);
    if (!batch && fb->rank == 3) batch = fb->batch;
    uint32_t n = fb->rank == 1 ? 1 : vb == MAT_VIEW_T ? fb->rows : fb->cols;
    uint32_t rank = fb->rank == 1 ? 1 : batch ? 3 : 2, dim[3];
    if (rank == 1) dim[0] = m;
    else if (rank == 2) { dim[0] = m; dim[1] = n; }
    else { dim[0] = batch; dim[1] = m; dim[2] = n; }
    uint32_t out = randtest_family(R, rank, dim, MAT_PATTERN_FULL);
    mat_op_init(op, MAT_OP_MATMUL, out);
    op->n_args = 2;
    op->arg[0] = (uint32_t)a;
    op->view[0] = va;
    op->arg[1] = (uint32_t)b;
    op->view[1] = vb;
    ulong sc = n_randint(st, 5);
    if (sc >= 3) {
        op->scalar = randtest_factor(R->p->store, st);
        op->scale_each = sc == 4;
    }
    return 1;
}

/* out = A + B, A - B, A .* B: B of A's shape, plain or transposed. */
static int randtest_elementwise(randtest *R, mat_op *op)
{
    randtest_want wa = randtest_any(1, 3);
    int64_t a = randtest_pick(R, &wa);
    if (a < 0) return 0;
    const mat_family *fa = randtest_get(R, (uint32_t)a);
    randtest_want wb = randtest_any(fa->rank, fa->rank);
    wb.rows = fa->rows;
    wb.cols = fa->cols;
    wb.batch = fa->rank == 3 ? fa->batch : 0;
    wb.transposable = fa->rank > 1;
    if (!R->opt->same_operands) wb.not_this = a;
    int64_t b = randtest_pick(R, &wb);
    if (b < 0) return 0;
    const mat_family *fb = randtest_get(R, (uint32_t)b);
    uint8_t vb = fb->rank == 1 ? MAT_VIEW_PLAIN : randtest_view(R, fb, fa->rows, fa->cols);
    uint32_t out = randtest_like(R, fa, MAT_PATTERN_FULL);
    static const mat_opcode codes[] = { MAT_OP_ADD, MAT_OP_SUB, MAT_OP_MUL };
    mat_op_init(op, codes[n_randint(R->state, 3)], out);
    op->n_args = 2;
    op->arg[0] = (uint32_t)a;
    op->arg[1] = (uint32_t)b;
    op->view[1] = vb;
    return 1;
}

/* out = A + b: a vector added to every row or every column (a bias). */
static int randtest_bias(randtest *R, mat_op *op)
{
    randtest_want wa = randtest_any(2, 3);
    int64_t a = randtest_pick(R, &wa);
    if (a < 0) return 0;
    int row = (int)n_randint(R->state, 2);
    uint32_t len = row ? randtest_get(R, (uint32_t)a)->cols : randtest_get(R, (uint32_t)a)->rows;
    randtest_want wb = randtest_any(1, 1);
    wb.rows = len;
    int64_t b = randtest_pick(R, &wb);
    if (b < 0) b = randtest_family(R, 1, &len, MAT_PATTERN_FULL);
    const mat_family *fa = randtest_get(R, (uint32_t)a);
    uint32_t out = randtest_like(R, fa, MAT_PATTERN_FULL);
    mat_op_init(op, row ? MAT_OP_ADD_ROW : MAT_OP_ADD_COL, out);
    op->n_args = 2;
    op->arg[0] = (uint32_t)a;
    op->arg[1] = (uint32_t)b;
    op->view[1] = row ? MAT_VIEW_ROW : MAT_VIEW_COL;
    return 1;
}

/* out = c * A or A + c. */
static int randtest_scale(randtest *R, mat_op *op)
{
    flint_rand_s *st = R->state;
    randtest_want wa = randtest_any(1, 3);
    int64_t a = randtest_pick(R, &wa);
    if (a < 0) return 0;
    const mat_family *fa = randtest_get(R, (uint32_t)a);
    uint32_t out = randtest_like(R, fa, MAT_PATTERN_FULL);
    int add = (int)n_randint(st, 2);
    mat_op_init(op, add ? MAT_OP_ADD_SCALAR : MAT_OP_SCALE, out);
    op->n_args = 1;
    op->arg[0] = (uint32_t)a;
    term_store *s = R->p->store;
    if (!add) op->scalar = randtest_factor(s, st);
    else op->scalar = n_randint(st, 2) ? term_num_si(s, -5, 3) : term_sqrt(s, term_num_si(s, 2, 1));
    return 1;
}

/* Softmax of every row, masked (causal, on a square matrix) or not, of A or
 * (square) A^T, written plain, in the lse form or max-shifted (stable). */
static int randtest_softmax(randtest *R, mat_op *op)
{
    flint_rand_s *st = R->state;
    int masked = (int)n_randint(st, 2);
    uint32_t cand[RANDTEST_MAX_FAMILIES];
    ulong n = 0;
    for (uint32_t g = 0; g < R->p->n_mats && n < RANDTEST_MAX_FAMILIES; g++) {
        const mat_family *m = randtest_get(R, g);
        if (m->rank < 2 || randtest_masked(R, g)) continue;
        if (masked ? m->rows == m->cols : m->cols >= 2) cand[n++] = g;
    }
    if (!n) return 0;
    uint32_t f = cand[n_randint(st, n)];
    const mat_family *fa = randtest_get(R, f);
    uint8_t va = fa->rows == fa->cols && !masked ? (uint8_t)n_randint(st, 2) : MAT_VIEW_PLAIN;
    if (fa->rows < 2 && va == MAT_VIEW_T) va = MAT_VIEW_PLAIN;
    if (va == MAT_VIEW_PLAIN && fa->cols < 2) return 0;
    uint32_t out = randtest_like(R, fa, masked ? MAT_PATTERN_LOWER : MAT_PATTERN_FULL);
    mat_op_init(op, masked ? MAT_OP_MASKED_SOFTMAX_ROWS : MAT_OP_SOFTMAX_ROWS, out);
    op->n_args = 1;
    op->arg[0] = f;
    op->view[0] = va;
    ulong form = n_randint(st, 3);
    op->lse = form == 1;
    op->stable = form == 2;
    return 1;
}

/* out = A^T or a copy of A (a matrix or a batch of them). */
static int randtest_transpose(randtest *R, mat_op *op)
{
    randtest_want wa = randtest_any(2, 3);
    int64_t a = randtest_pick(R, &wa);
    if (a < 0) return 0;
    const mat_family *fa = randtest_get(R, (uint32_t)a);
    int t = (int)n_randint(R->state, 2);
    uint32_t dim[3];
    memcpy(dim, fa->dim, sizeof dim);
    if (t) {
        uint32_t x = dim[fa->rank - 1];
        dim[fa->rank - 1] = dim[fa->rank - 2];
        dim[fa->rank - 2] = x;
    }
    uint32_t out = randtest_family(R, fa->rank, dim, MAT_PATTERN_FULL);
    mat_op_init(op, t ? MAT_OP_TRANSPOSE : MAT_OP_COPY, out);
    op->n_args = 1;
    op->arg[0] = (uint32_t)a;
    op->view[0] = t ? MAT_VIEW_T : MAT_VIEW_PLAIN;
    return 1;
}

/* out = f(A) elementwise: exp, log, tanh, abs, or a power 2, -1, 1/2. */
static int randtest_map(randtest *R, mat_op *op)
{
    flint_rand_s *st = R->state;
    randtest_want wa = randtest_any(1, 3);
    int64_t a = randtest_pick(R, &wa);
    if (a < 0) return 0;
    const mat_family *fa = randtest_get(R, (uint32_t)a);
    uint32_t out = randtest_like(R, fa, MAT_PATTERN_FULL);
    static const uint8_t fns[] = { OP_EXP, OP_LOG, OP_TANH, OP_ABS, OP_POW, OP_POW, OP_POW };
    mat_op_init(op, MAT_OP_MAP, out);
    op->n_args = 1;
    op->arg[0] = (uint32_t)a;
    op->fn = fns[n_randint(st, 7)];
    if (op->fn == OP_POW) {
        static const slong num[] = { 2, -1, 1 }, den[] = { 1, 1, 2 };
        ulong k = n_randint(st, 3);
        op->scalar = term_num_si(R->p->store, num[k], den[k]);
    }
    return 1;
}

/* out[i, h*D + j] = A[h, i, j]: the heads of a batch side by side. */
static int randtest_concat_heads(randtest *R, mat_op *op)
{
    randtest_want wa = randtest_any(3, 3);
    int64_t a = randtest_pick(R, &wa);
    if (a < 0) return 0;
    const mat_family *fa = randtest_get(R, (uint32_t)a);
    uint32_t dim[2] = { fa->rows, fa->batch * fa->cols };
    uint32_t out = randtest_family(R, 2, dim, MAT_PATTERN_FULL);
    mat_op_init(op, MAT_OP_CONCAT_HEADS, out);
    op->n_args = 1;
    op->arg[0] = (uint32_t)a;
    return 1;
}

/* One random operation with a new output family; 0 when none fitted (a
 * family may have been added all the same). */
static int randtest_op(randtest *R)
{
    mat_op op;
    int made;
    switch (n_randint(R->state, 12)) {
    case 0: case 1: case 2: made = randtest_matmul(R, &op); break;
    case 3: case 4: made = randtest_elementwise(R, &op); break;
    case 5: made = randtest_bias(R, &op); break;
    case 6: made = randtest_scale(R, &op); break;
    case 7: case 8: made = randtest_softmax(R, &op); break;
    case 9: made = randtest_transpose(R, &op); break;
    case 10: made = randtest_map(R, &op); break;
    default: made = randtest_concat_heads(R, &op); break;
    }
    if (made && mat_add_op(R->p, &op) != 0) {
        fprintf(stderr, "mat_randtest: %s does not fit its arguments\n", mat_opcode_name(op.code));
        abort();
    }
    return made;
}

void mat_randtest(mat_program *p, flint_rand_t state, const mat_randtest_options *opt)
{
    randtest R = { p, state, opt, (uint32_t)n_randint(state, 26) };
    uint32_t n_in = randtest_between(state, opt->min_inputs, opt->max_inputs);
    uint32_t sizes[2] = { randtest_between(state, opt->min_dim, opt->max_dim),
                          randtest_between(state, opt->min_dim, opt->max_dim) };
    for (uint32_t i = 0; i < n_in && p->n_mats < RANDTEST_MAX_FAMILIES; i++) {
        uint32_t dim[3], rank = randtest_coin(state, 6) ? 3 : randtest_coin(state, 7) ? 1 : 2;
        for (uint32_t k = 0; k < rank; k++)
            dim[k] = opt->shared_sizes ? sizes[n_randint(state, 2)] : randtest_between(state, opt->min_dim, opt->max_dim);
        randtest_family(&R, rank, dim, MAT_PATTERN_FULL);
    }
    uint32_t n_ops = randtest_between(state, 1, opt->max_ops), made = 0;
    for (int tries = 0; made < n_ops && tries < 40 && p->n_mats + 2 < RANDTEST_MAX_FAMILIES; tries++)
        made += (uint32_t)randtest_op(&R);
}

/* mateval_ball: the families in Arb ball matrices at a working precision
 * (arb_mat_mul, softmax rows with the max shift, rational entries from
 * their exact values), and the double evaluation (BLAS products). */
#include "eval/mateval_impl.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "core/mem.h"

static arb_struct *ball_at(const mateval *m, uint32_t f, size_t cell)
{
    const mat_family *g = &m->p->mats[f];
    uint32_t b, r, c;
    mat_cell_pos(g, cell, &b, &r, &c);
    return arb_mat_entry(m->fam[f].ball + b, r, c);
}

static void ball_alloc(mateval *m, uint32_t f)
{
    const mat_family *g = &m->p->mats[f];
    mateval_family *v = &m->fam[f];
    if (v->ball) return;
    v->ball = mem_realloc(NULL, g->batch * sizeof *v->ball);
    for (uint32_t b = 0; b < g->batch; b++) arb_mat_init(v->ball + b, g->rows, g->cols);
}

/* The ball of a constant of the shadow store. 0, or -1 when it has none. */
static int constant_ball(arb_t out, mateval *m, term_id t, slong prec)
{
    const arb_struct *x = NULL;
    term_id where;
    if (ball_eval(&x, &where, &m->bc, t, prec) != BALL_OK) return -1;
    arb_set(out, x);
    return 0;
}

/* x^c for the exponent c of a map (a constant): as eval/ball does,
 * x^(p/q) needs x >= 0 when q > 1, x != 0 when p < 0; x^c = exp(c log x)
 * needs x > 0. -1 when the ball does not show the power is defined. */
static int power_ball(arb_t y, const arb_t x, mateval *m, term_id c, const arb_t cball, slong prec)
{
    if (term_op_of(&m->shadow, c) != OP_NUM) {
        if (arb_contains_nonpositive(x)) return -1;
        arb_log(y, x, prec);
        arb_mul(y, y, cball, prec);
        arb_exp(y, y, prec);
        return 0;
    }
    const fmpq *e = term_value(&m->shadow, c);
    const fmpz *p = fmpq_numref(e), *q = fmpq_denref(e);
    if (fmpz_sgn(p) < 0 && arb_contains_zero(x)) return -1;
    if (fmpz_is_one(q)) {
        arb_pow_fmpz(y, x, p, prec);
        return 0;
    }
    if (arb_contains_negative(x)) return -1;
    if (!fmpz_fits_si(q)) {
        arb_pow_fmpq(y, x, e, prec);
        return 0;
    }
    arb_root_ui(y, x, fmpz_get_ui(q), prec);
    arb_pow_fmpz(y, y, p, prec);
    return 0;
}

/* Softmax of row r of batch b over its n keys into the output row. The
 * balls contain the values: Arb's operations enclose the image of their
 * input balls (Johansson, IEEE Trans. Computers 66(8), 2017), and the shift
 * by m (a midpoint, exact) is exact algebra:
 * exp(x_j) / sum_k exp(x_k) = exp(x_j - m) / sum_k exp(x_k - m). */
static void softmax_row_balls(mateval *m, uint32_t k, uint32_t b, uint32_t r, uint32_t n, slong prec, arb_ptr e)
{
    const mat_program *p = m->p;
    const mat_op *op = &p->ops[k];
    const mat_family *g = &p->mats[op->out];
    for (uint32_t c = 0; c < g->cols; c++) arb_zero(ball_at(m, op->out, mat_cell(g, b, r, c)));
    if (n == 1) {
        arb_one(ball_at(m, op->out, mat_cell(g, b, r, 0)));
        return;
    }
    const arf_struct *top = NULL;
    for (uint32_t t = 0; t < n; t++) {
        const arb_struct *x = ball_at(m, op->arg[0], mv_arg_cell(p, op, 0, b, r, t));
        if (!top || arf_cmp(arb_midref(x), top) > 0) top = arb_midref(x);
    }
    arf_t shift;
    arf_init(shift);
    arf_set(shift, top);
    arb_t sum;
    arb_init(sum);
    for (uint32_t t = 0; t < n; t++) {
        arb_sub_arf(e + t, ball_at(m, op->arg[0], mv_arg_cell(p, op, 0, b, r, t)), shift, prec);
        arb_exp(e + t, e + t, prec);
        arb_add(sum, sum, e + t, prec);
    }
    for (uint32_t c = 0; c < n; c++) arb_div(ball_at(m, op->out, mat_cell(g, b, r, c)), e + c, sum, prec);
    arb_clear(sum);
    arf_clear(shift);
}

/* The balls of operation k's output from its arguments' balls. */
static int op_balls(mateval *m, uint32_t k, slong prec)
{
    const mat_program *p = m->p;
    const mat_op *op = &p->ops[k];
    uint32_t f = op->out;
    const mat_family *g = &p->mats[f];
    mateval_family *v = &m->fam[f];
    arb_t c;
    arb_init(c);
    int status = MATEVAL_OK;
    if (m->scalar[k] != TERM_NONE && constant_ball(c, m, m->scalar[k], prec) != 0) status = MATEVAL_FAILED;
    if (status == MATEVAL_OK && op->code == MAT_OP_MATMUL) {
        for (uint32_t b = 0; b < g->batch; b++) {
            arb_mat_struct view[2];
            const arb_mat_struct *x[2];
            for (int i = 0; i < 2; i++) {
                const mat_family *a = &p->mats[op->arg[i]];
                x[i] = m->fam[op->arg[i]].ball + (a->rank == 3 ? b : 0);
                if (op->view[i] == MAT_VIEW_T) {
                    arb_mat_init(view + i, arb_mat_ncols(x[i]), arb_mat_nrows(x[i]));
                    arb_mat_transpose(view + i, x[i]);
                    x[i] = view + i;
                }
            }
            arb_mat_mul(v->ball + b, x[0], x[1], prec);
            if (m->scalar[k] != TERM_NONE) arb_mat_scalar_mul_arb(v->ball + b, v->ball + b, c, prec);
            for (int i = 0; i < 2; i++)
                if (op->view[i] == MAT_VIEW_T) arb_mat_clear(view + i);
        }
    } else if (status == MATEVAL_OK && (op->code == MAT_OP_SOFTMAX_ROWS || op->code == MAT_OP_MASKED_SOFTMAX_ROWS)) {
        uint32_t rows, cols;
        mat_arg_shape(p, op, 0, &rows, &cols);
        arb_ptr e = _arb_vec_init(cols);
        for (uint32_t b = 0; b < g->batch && status == MATEVAL_OK; b++)
            for (uint32_t r = 0; r < g->rows; r++) {
                uint32_t n = op->code == MAT_OP_MASKED_SOFTMAX_ROWS && r + 1 < cols ? r + 1 : cols;
                int whole = 1;
                for (uint32_t t = 0; t < n && whole; t++)
                    whole = mv_present(p, op->arg[0], mv_arg_cell(p, op, 0, b, r, t));
                if (whole) softmax_row_balls(m, k, b, r, n, prec, e);
                else for (uint32_t col = 0; col < g->cols; col++) arb_zero(ball_at(m, f, mat_cell(g, b, r, col)));
            }
        _arb_vec_clear(e, cols);
    } else if (status == MATEVAL_OK) {
        for (size_t cell = 0; cell < g->n_cells && status == MATEVAL_OK; cell++) {
            arb_struct *out = ball_at(m, f, cell);
            if (!mv_present(p, f, cell)) { arb_zero(out); continue; }
            uint32_t b, r, col;
            mat_cell_pos(g, cell, &b, &r, &col);
            const arb_struct *x, *y = NULL;
            if (op->code == MAT_OP_CONCAT_HEADS) {
                const mat_family *h = &p->mats[op->arg[0]];
                x = ball_at(m, op->arg[0], mat_cell(h, col / h->cols, r, col % h->cols));
            } else {
                x = ball_at(m, op->arg[0], mv_arg_cell(p, op, 0, b, r, col));
                if (op->n_args == 2) y = ball_at(m, op->arg[1], mv_arg_cell(p, op, 1, b, r, col));
            }
            switch (op->code) {
            case MAT_OP_SCALE: arb_mul(out, x, c, prec); break;
            case MAT_OP_ADD: case MAT_OP_ADD_ROW: case MAT_OP_ADD_COL: arb_add(out, x, y, prec); break;
            case MAT_OP_SUB: arb_sub(out, x, y, prec); break;
            case MAT_OP_MUL: arb_mul(out, x, y, prec); break;
            case MAT_OP_ADD_SCALAR: arb_add(out, x, c, prec); break;
            case MAT_OP_MAP:
                switch (op->fn) {
                case OP_EXP: arb_exp(out, x, prec); break;
                case OP_TANH: arb_tanh(out, x, prec); break;
                case OP_ABS: arb_abs(out, x); break;
                case OP_LOG:
                    if (arb_contains_nonpositive(x)) status = MATEVAL_FAILED;
                    else arb_log(out, x, prec);
                    break;
                default:
                    if (power_ball(out, x, m, m->scalar[k], c, prec) != 0) status = MATEVAL_FAILED;
                    break;
                }
                break;
            default: arb_set(out, x); break; /* transpose, copy, concat_heads */
            }
        }
    }
    arb_clear(c);
    return status;
}

/* The balls of family f (its arguments' balls computed). */
static int family_balls(mateval *m, uint32_t f, slong prec)
{
    const mat_program *p = m->p;
    const mat_family *g = &p->mats[f];
    mateval_family *v = &m->fam[f];
    ball_alloc(m, f);
    if (v->exact) {
        for (uint32_t b = 0; b < g->batch; b++) {
            arb_mat_set_fmpz_mat(v->ball + b, v->num + b);
            if (!fmpz_is_one(v->den)) arb_mat_scalar_div_fmpz(v->ball + b, v->ball + b, v->den, prec);
        }
        return MATEVAL_OK;
    }
    if (g->kind != MAT_KIND_LITERAL && op_balls(m, (uint32_t)g->op, prec) != MATEVAL_OK) return MATEVAL_FAILED;
    for (size_t cell = 0; cell < g->n_cells; cell++) {
        arb_struct *x = ball_at(m, f, cell);
        switch (v->kind[cell]) {
        case MV_ABSENT: arb_zero(x); break;
        case MV_EXACT: arb_set_fmpq(x, v->q + cell, prec); break;
        case MV_TERM:
            if (g->kind == MAT_KIND_LITERAL && constant_ball(x, m, v->term[cell], prec) != 0) return MATEVAL_FAILED;
            /* fall through */
        default:
            if (!arb_is_finite(x)) return MATEVAL_FAILED;
            break;
        }
    }
    return MATEVAL_OK;
}

int mateval_balls(mateval *m, slong prec)
{
    const mat_program *p = m->p;
    if (!m->exact_done) return MATEVAL_FAILED;
    for (uint32_t f = 0; f < m->n_fam; f++)
        if (m->fam[f].want_ball && p->mats[f].kind == MAT_KIND_LITERAL && family_balls(m, f, prec) != MATEVAL_OK)
            return MATEVAL_FAILED;
    for (uint32_t k = 0; k < p->n_ops; k++) {
        uint32_t f = p->ops[k].out;
        if (!m->fam[f].want_ball || p->mats[f].op != (int32_t)k) continue;
        if (family_balls(m, f, prec) != MATEVAL_OK) return MATEVAL_FAILED;
    }
    m->prec = prec;
    return MATEVAL_OK;
}

/* ---- double ---- */

static int constant_double(double *out, mateval *m, term_id t)
{
    arb_t x;
    arb_init(x);
    int ok = constant_ball(x, m, t, 64) == 0 && arb_is_finite(x);
    if (ok) *out = arf_get_d(arb_midref(x), ARF_RND_NEAR);
    arb_clear(x);
    return ok ? 0 : -1;
}

static int literal_doubles(mateval *m, uint32_t f)
{
    const mat_family *g = &m->p->mats[f];
    double *d = m->fam[f].dbl;
    const term_store *s = m->y->store;
    for (size_t cell = 0; cell < g->n_cells; cell++) {
        if (g->entry[cell] == TERM_NONE) continue;
        if (g->rel[cell] < 0) return MATEVAL_FAILED;
        term_id rhs = m->y->scr->rels[g->rel[cell]].rhs;
        if (term_op_of(s, rhs) == OP_NUM) { d[cell] = fmpq_get_d(term_value(s, rhs)); continue; }
        term_id t = mv_import(m, rhs);
        if (t == TERM_NONE || constant_double(d + cell, m, t) != 0) return MATEVAL_FAILED;
    }
    return MATEVAL_OK;
}

static int op_doubles(mateval *m, uint32_t k)
{
    const mat_program *p = m->p;
    const mat_op *op = &p->ops[k];
    uint32_t f = op->out;
    const mat_family *g = &p->mats[f];
    double *out = m->fam[f].dbl, c = 1;
    if (m->scalar[k] != TERM_NONE && constant_double(&c, m, m->scalar[k]) != 0) return MATEVAL_FAILED;
    if (op->code == MAT_OP_MATMUL) {
        uint32_t rows, inner;
        mat_arg_shape(p, op, 0, &rows, &inner);
        for (uint32_t b = 0; b < g->batch; b++) {
            const double *x[2];
            int trans[2];
            int ld[2];
            for (int i = 0; i < 2; i++) {
                const mat_family *a = &p->mats[op->arg[i]];
                x[i] = m->fam[op->arg[i]].dbl + (a->rank == 3 ? (size_t)b * a->rows * a->cols : 0);
                trans[i] = op->view[i] == MAT_VIEW_T;
                ld[i] = (int)a->cols;
            }
            cblas_dgemm(CblasRowMajor, trans[0] ? CblasTrans : CblasNoTrans, trans[1] ? CblasTrans : CblasNoTrans,
                        (blasint)g->rows, (blasint)g->cols, (blasint)inner, c, x[0], (blasint)ld[0], x[1],
                        (blasint)ld[1], 0.0, out + (size_t)b * g->rows * g->cols, (blasint)g->cols);
        }
        return MATEVAL_OK;
    }
    if (op->code == MAT_OP_SOFTMAX_ROWS || op->code == MAT_OP_MASKED_SOFTMAX_ROWS) {
        uint32_t rows, cols;
        mat_arg_shape(p, op, 0, &rows, &cols);
        const double *x = m->fam[op->arg[0]].dbl;
        for (uint32_t b = 0; b < g->batch; b++)
            for (uint32_t r = 0; r < g->rows; r++) {
                uint32_t n = op->code == MAT_OP_MASKED_SOFTMAX_ROWS && r + 1 < cols ? r + 1 : cols;
                double *o = out + mat_cell(g, b, r, 0), top = -INFINITY, sum = 0;
                for (uint32_t t = 0; t < n; t++) top = fmax(top, x[mv_arg_cell(p, op, 0, b, r, t)]);
                for (uint32_t t = 0; t < g->cols; t++) o[t] = 0;
                for (uint32_t t = 0; t < n; t++) sum += o[t] = exp(x[mv_arg_cell(p, op, 0, b, r, t)] - top);
                for (uint32_t t = 0; t < n; t++) o[t] /= sum;
            }
        return MATEVAL_OK;
    }
    const double *x = m->fam[op->arg[0]].dbl, *y = op->n_args == 2 ? m->fam[op->arg[1]].dbl : NULL;
    for (size_t cell = 0; cell < g->n_cells; cell++) {
        uint32_t b, r, col;
        mat_cell_pos(g, cell, &b, &r, &col);
        double a, z = 0;
        if (op->code == MAT_OP_CONCAT_HEADS) {
            const mat_family *h = &p->mats[op->arg[0]];
            a = x[mat_cell(h, col / h->cols, r, col % h->cols)];
        } else {
            a = x[mv_arg_cell(p, op, 0, b, r, col)];
            if (y) z = y[mv_arg_cell(p, op, 1, b, r, col)];
        }
        double v;
        switch (op->code) {
        case MAT_OP_SCALE: v = c * a; break;
        case MAT_OP_ADD: case MAT_OP_ADD_ROW: case MAT_OP_ADD_COL: v = a + z; break;
        case MAT_OP_SUB: v = a - z; break;
        case MAT_OP_MUL: v = a * z; break;
        case MAT_OP_ADD_SCALAR: v = a + c; break;
        case MAT_OP_MAP:
            switch (op->fn) {
            case OP_EXP: v = exp(a); break;
            case OP_LOG: v = log(a); break;
            case OP_TANH: v = tanh(a); break;
            case OP_ABS: v = fabs(a); break;
            default: v = pow(a, c); break;
            }
            break;
        default: v = a; break;
        }
        out[cell] = mv_present(p, f, cell) ? v : 0;
    }
    return MATEVAL_OK;
}

int mateval_doubles(double *out, mateval *m)
{
    const mat_program *p = m->p;
    for (uint32_t f = 0; f < m->n_fam; f++) {
        if (!m->fam[f].needed) continue;
        if (!m->fam[f].dbl) m->fam[f].dbl = mem_calloc(p->mats[f].n_cells, sizeof(double));
        if (p->mats[f].kind == MAT_KIND_LITERAL && literal_doubles(m, f) != MATEVAL_OK) return MATEVAL_FAILED;
    }
    for (uint32_t k = 0; k < p->n_ops; k++) {
        uint32_t f = p->ops[k].out;
        if (!m->fam[f].needed || p->mats[f].op != (int32_t)k) continue;
        if (op_doubles(m, k) != MATEVAL_OK) return MATEVAL_FAILED;
    }
    for (size_t i = 0; i < m->n_out; i++) out[i] = m->fam[m->out_fam[i]].dbl[m->out_cell[i]];
    return MATEVAL_OK;
}

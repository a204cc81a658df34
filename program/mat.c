/* mat: the matrix program as data: init and clear, families and operations
 * added and checked, cells named in their family's form. */
#include "program/mat.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/vec.h"

void mat_program_init(mat_program *p, term_store *s)
{
    memset(p, 0, sizeof *p);
    p->store = s;
    strcpy(p->temp_prefix, "T");
}

void mat_program_clear(mat_program *p)
{
    for (size_t i = 0; i < p->n_mats; i++) {
        mat_family *f = &p->mats[i];
        free(f->name);
        free(f->base);
        free(f->entry);
        free(f->rel);
        free(f->except);
    }
    free(p->mats);
    free(p->ops);
    free(p->scalar);
    for (size_t i = 0; i < p->n_ambiguous; i++) free(p->ambiguous[i]);
    free(p->ambiguous);
    memset(p, 0, sizeof *p);
}

uint32_t mat_push_family(mat_program *p)
{
    VEC_RESERVE(p->mats, p->cap_mats, p->n_mats + 1);
    mat_family *f = &p->mats[p->n_mats];
    memset(f, 0, sizeof *f);
    f->op = -1;
    return (uint32_t)p->n_mats++;
}

uint32_t mat_push_op(mat_program *p, const mat_op *op)
{
    VEC_RESERVE(p->ops, p->cap_ops, p->n_ops + 1);
    mat_op *o = &p->ops[p->n_ops];
    *o = *op;
    o->cache_t = TERM_NONE;
    return (uint32_t)p->n_ops++;
}

void mat_set_shape(mat_family *f)
{
    f->batch = 1;
    f->cols = 1;
    if (f->rank == 1) {
        f->rows = f->dim[0];
    } else if (f->rank == 2) {
        f->rows = f->dim[0];
        f->cols = f->dim[1];
    } else {
        f->batch = f->dim[0];
        f->rows = f->dim[1];
        f->cols = f->dim[2];
    }
    f->n_cells = (size_t)f->batch * f->rows * f->cols;
}

uint32_t mat_push_temp(mat_program *p, uint32_t like)
{
    uint32_t t = mat_push_family(p);
    mat_family *f = &p->mats[t];
    const mat_family *g = &p->mats[like];
    f->rank = g->rank;
    memcpy(f->dim, g->dim, sizeof f->dim);
    mat_set_shape(f);
    f->pattern = g->pattern;
    f->kind = MAT_KIND_TEMP;
    strbuf b;
    strbuf_init(&b);
    strbuf_printf(&b, "%s%u", p->temp_prefix, ++p->next_temp);
    f->name = mem_strdup(b.data);
    strbuf_clear(&b);
    return t;
}

void mat_op_init(mat_op *op, mat_opcode code, uint32_t out)
{
    memset(op, 0, sizeof *op);
    op->code = code;
    op->out = out;
    op->scalar = TERM_NONE;
}

void mat_arg_shape(const mat_program *p, const mat_op *op, uint32_t i, uint32_t *rows, uint32_t *cols)
{
    const mat_family *a = &p->mats[op->arg[i]];
    const mat_family *o = &p->mats[op->out];
    switch ((mat_view)op->view[i]) {
    case MAT_VIEW_PLAIN: *rows = a->rows; *cols = a->cols; break;
    case MAT_VIEW_T: *rows = a->cols; *cols = a->rows; break;
    case MAT_VIEW_ROW: *rows = o->rows; *cols = a->rows; break;
    case MAT_VIEW_COL: *rows = a->rows; *cols = o->cols; break;
    }
}

static int n_args_of(mat_opcode code)
{
    switch (code) {
    case MAT_OP_MATMUL: case MAT_OP_ADD: case MAT_OP_SUB: case MAT_OP_MUL:
    case MAT_OP_ADD_ROW: case MAT_OP_ADD_COL: return 2;
    default: return 1;
    }
}

int mat_op_check(const mat_program *p, const mat_op *op)
{
    if (op->code >= MAT_OP_COUNT_ || op->out >= p->n_mats) return -1;
    if ((int)op->n_args != n_args_of(op->code)) return -1;
    const mat_family *o = &p->mats[op->out];
    for (uint32_t i = 0; i < op->n_args; i++) {
        if (op->arg[i] >= p->n_mats || op->arg[i] == op->out) return -1;
        const mat_family *a = &p->mats[op->arg[i]];
        int vec = op->view[i] == MAT_VIEW_ROW || op->view[i] == MAT_VIEW_COL;
        if (vec && a->rank != 1) return -1;
        if (op->code == MAT_OP_CONCAT_HEADS) continue;
        if (a->rank == 3 && (o->rank != 3 || a->batch != o->batch)) return -1;
    }
    uint32_t r0, c0, r1 = 0, c1 = 0;
    mat_arg_shape(p, op, 0, &r0, &c0);
    if (op->n_args == 2) mat_arg_shape(p, op, 1, &r1, &c1);
    int vec0 = op->view[0] == MAT_VIEW_ROW || op->view[0] == MAT_VIEW_COL;
    int vec1 = op->n_args == 2 && (op->view[1] == MAT_VIEW_ROW || op->view[1] == MAT_VIEW_COL);
    switch (op->code) {
    case MAT_OP_MATMUL:
        if (vec0 || vec1) return -1;
        return r0 == o->rows && c1 == o->cols && c0 == r1 && c0 > 0 ? 0 : -1;
    case MAT_OP_ADD: case MAT_OP_SUB: case MAT_OP_MUL:
        return r0 == o->rows && c0 == o->cols && r1 == o->rows && c1 == o->cols ? 0 : -1;
    case MAT_OP_ADD_ROW:
        return !vec0 && op->view[1] == MAT_VIEW_ROW && r0 == o->rows && c0 == o->cols && c1 == o->cols ? 0 : -1;
    case MAT_OP_ADD_COL:
        return !vec0 && op->view[1] == MAT_VIEW_COL && r0 == o->rows && c0 == o->cols && r1 == o->rows ? 0 : -1;
    case MAT_OP_SCALE: case MAT_OP_ADD_SCALAR:
        if (op->scalar == TERM_NONE) return -1;
        /* fall through */
    case MAT_OP_SOFTMAX_ROWS: case MAT_OP_MASKED_SOFTMAX_ROWS: case MAT_OP_COPY:
        return !vec0 && r0 == o->rows && c0 == o->cols ? 0 : -1;
    case MAT_OP_TRANSPOSE:
        return op->view[0] == MAT_VIEW_T && r0 == o->rows && c0 == o->cols ? 0 : -1;
    case MAT_OP_MAP:
        if (op->fn != OP_EXP && op->fn != OP_LOG && op->fn != OP_TANH && op->fn != OP_ABS && op->fn != OP_POW) return -1;
        if (op->fn == OP_POW && op->scalar == TERM_NONE) return -1;
        return !vec0 && r0 == o->rows && c0 == o->cols ? 0 : -1;
    case MAT_OP_CONCAT_HEADS: {
        const mat_family *a = &p->mats[op->arg[0]];
        return a->rank == 3 && o->rank == 2 && op->view[0] == MAT_VIEW_PLAIN && a->rows == o->rows &&
                       (uint64_t)a->batch * a->cols == o->cols ? 0 : -1;
    }
    default:
        return -1;
    }
}

/* ---- programs built by hand ---- */

uint32_t mat_add_family(mat_program *p, const char *base, mat_form form, uint32_t rank,
                        const uint32_t *dim, uint32_t index_base, mat_pattern pattern)
{
    uint32_t fi = mat_push_family(p);
    mat_family *f = &p->mats[fi];
    f->base = mem_strdup(base);
    f->name = mem_strdup(base);
    f->form = form;
    f->rank = rank;
    f->index_base = index_base;
    memcpy(f->dim, dim, rank * sizeof *dim);
    mat_set_shape(f);
    f->entry = mem_calloc(f->n_cells, sizeof *f->entry);
    f->rel = mem_realloc(NULL, f->n_cells * sizeof *f->rel);
    f->pattern = pattern;
    f->kind = MAT_KIND_INPUT;
    strbuf b;
    strbuf_init(&b);
    for (size_t cell = 0; cell < f->n_cells; cell++) {
        uint32_t bb, r, c;
        f->rel[cell] = -1;
        mat_cell_pos(f, cell, &bb, &r, &c);
        if (pattern == MAT_PATTERN_LOWER && c > r) continue;
        strbuf_reset(&b);
        mat_format_name(&b, f, cell);
        f = &p->mats[fi];
        f->entry[cell] = term_sym(p->store, b.data, b.len);
        f->n_present++;
    }
    strbuf_clear(&b);
    return fi;
}

int mat_add_op(mat_program *p, const mat_op *op)
{
    if (mat_op_check(p, op) != 0) return -1;
    uint32_t k = mat_push_op(p, op);
    mat_family *o = &p->mats[op->out];
    if (o->kind != MAT_KIND_TEMP) o->kind = MAT_KIND_OP;
    o->op = (int32_t)k;
    return 0;
}

const char *mat_opcode_name(mat_opcode code)
{
    static const char *const names[MAT_OP_COUNT_] = {
        "matmul", "scale", "add", "sub", "mul", "add_row", "add_col", "add_scalar",
        "softmax_rows", "masked_softmax_rows", "transpose", "copy", "map", "concat_heads",
    };
    return (unsigned)code < MAT_OP_COUNT_ ? names[code] : "?";
}

const char *mat_reason_text(mat_reason r)
{
    switch (r) {
    case MAT_REASON_NO_INDEX: return "no index in the name";
    case MAT_REASON_UNSUPPORTED: return "more than 3 indices, or too sparse a family";
    case MAT_REASON_AMBIGUOUS: return "compact name that decodes in more than one way";
    case MAT_REASON_NO_OP: return "no operation verified for its family";
    case MAT_REASON_MISMATCH: return "differs from the operation of its family";
    case MAT_REASON_NOT_CONSTANT: return "not a constant, in a family of constants";
    }
    return "?";
}

const char *mat_entry_name(const mat_program *p, uint32_t f, size_t cell)
{
    const mat_family *m = &p->mats[f];
    if (!m->entry || cell >= m->n_cells || m->entry[cell] == TERM_NONE) return NULL;
    return term_sym_name(p->store, m->entry[cell]);
}

int mat_is_exception(const mat_family *f, size_t cell)
{
    size_t lo = 0, hi = f->n_except;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (f->except[mid] == cell) return 1;
        if (f->except[mid] < cell) lo = mid + 1;
        else hi = mid;
    }
    return 0;
}

void mat_format_name(strbuf *out, const mat_family *f, size_t cell)
{
    uint32_t idx[MAT_MAX_RANK];
    size_t rest = cell;
    for (uint32_t k = f->rank; k-- > 0;) {
        idx[k] = (uint32_t)(rest % f->dim[k]) + f->index_base;
        rest /= f->dim[k];
    }
    strbuf_puts(out, f->base);
    for (uint32_t k = 0; k < f->rank; k++) {
        switch (f->form) {
        case MAT_FORM_COMPACT: strbuf_printf(out, "%u", idx[k]); break;
        case MAT_FORM_GLUED: strbuf_printf(out, k == 0 ? "%u" : "_%u", idx[k]); break;
        case MAT_FORM_UNDERSCORE: strbuf_printf(out, "_%u", idx[k]); break;
        case MAT_FORM_BRACKET: strbuf_printf(out, k == 0 ? "[%u" : ",%u", idx[k]); break;
        }
    }
    if (f->form == MAT_FORM_BRACKET) strbuf_putc(out, ']');
}

void mat_family_form(strbuf *out, const mat_family *f)
{
    static const char *const letters[MAT_MAX_RANK][MAT_MAX_RANK] = { { "i" }, { "i", "j" }, { "h", "i", "j" } };
    if (!f->base) {
        strbuf_puts(out, "-");
        return;
    }
    strbuf_puts(out, f->base);
    for (uint32_t k = 0; k < f->rank; k++) {
        const char *l = letters[f->rank - 1][k];
        switch (f->form) {
        case MAT_FORM_COMPACT: strbuf_printf(out, "{%s}", l); break;
        case MAT_FORM_GLUED: strbuf_printf(out, k == 0 ? "{%s}" : "_{%s}", l); break;
        case MAT_FORM_UNDERSCORE: strbuf_printf(out, "_{%s}", l); break;
        case MAT_FORM_BRACKET: strbuf_printf(out, k == 0 ? "[{%s}" : ",{%s}", l); break;
        }
    }
    if (f->form == MAT_FORM_BRACKET) strbuf_putc(out, ']');
}

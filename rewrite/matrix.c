/* matrix: the matrix program (families, operations, what stayed scalar),
 * programs built by hand, and recognition: families classified, ordered
 * by their dependencies, each lifted to a verified operation. */
#include "rewrite/matrix_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

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
    if (p->n_mats == p->cap_mats) {
        p->cap_mats = p->cap_mats ? 2 * p->cap_mats : 16;
        p->mats = mem_realloc(p->mats, p->cap_mats * sizeof *p->mats);
    }
    mat_family *f = &p->mats[p->n_mats];
    memset(f, 0, sizeof *f);
    f->op = -1;
    return (uint32_t)p->n_mats++;
}

uint32_t mat_push_op(mat_program *p, const mat_op *op)
{
    if (p->n_ops == p->cap_ops) {
        p->cap_ops = p->cap_ops ? 2 * p->cap_ops : 16;
        p->ops = mem_realloc(p->ops, p->cap_ops * sizeof *p->ops);
    }
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
    sb_init(&b);
    sb_printf(&b, "%s%u", p->temp_prefix, ++p->next_temp);
    f->name = mem_strdup(b.data);
    sb_clear(&b);
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
    sb_init(&b);
    for (size_t cell = 0; cell < f->n_cells; cell++) {
        uint32_t bb, r, c;
        f->rel[cell] = -1;
        mat_cell_pos(f, cell, &bb, &r, &c);
        if (pattern == MAT_PATTERN_LOWER && c > r) continue;
        sb_reset(&b);
        mat_format_name(&b, f, cell);
        f = &p->mats[fi];
        f->entry[cell] = term_sym(p->store, b.data, b.len);
        f->n_present++;
    }
    sb_clear(&b);
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

term_id mat_predict(mat_program *p, uint32_t f, size_t cell)
{
    mat_family *m = &p->mats[f];
    if (cell >= m->n_cells) return TERM_NONE;
    uint32_t b, r, c;
    mat_cell_pos(m, cell, &b, &r, &c);
    if (m->neginf_upper && c > r) return p->store->neg_inf;
    if (m->op >= 0 && (m->kind == MAT_KIND_OP || m->kind == MAT_KIND_TEMP))
        return mat_predict_op(p, (uint32_t)m->op, b, r, c);
    return m->entry ? m->entry[cell] : TERM_NONE;
}

/* ---- recognition ---- */

int mat_mentions(mat_ctx *c, term_id t)
{
    if (t >= c->n_mentions) {
        size_t n = (size_t)term_count(c->s) + 1;
        c->mentions = mem_realloc(c->mentions, n);
        for (size_t id = c->n_mentions ? c->n_mentions : 1; id < n; id++) {
            term_id u = (term_id)id;
            uint8_t m = 0;
            term_op op = term_op_of(c->s, u);
            if (op == OP_SYM) {
                m = c->sym_fam[term_sym_of(c->s, u)] >= 0;
            } else {
                uint32_t k = term_nargs(c->s, u);
                const term_id *a = term_args(c->s, u);
                for (uint32_t i = 0; i < k && !m; i++) m = c->mentions[a[i]];
            }
            c->mentions[id] = m;
        }
        if (c->n_mentions == 0) c->mentions[0] = 0;
        c->n_mentions = n;
    }
    return c->mentions[t];
}

/* Exceptions a family of n checked entries may have: max(1, n/8), none
 * below 3 entries. */
size_t mat_allowed_exceptions(size_t n)
{
    return n >= 3 ? (n / 8 > 1 ? n / 8 : 1) : 0;
}

/* Kinds of the families that need no operation: inputs, and literals (all
 * entries constants but at most the allowed exceptions). */
static void classify(mat_ctx *c)
{
    for (uint32_t fi = 0; fi < c->n_families; fi++) {
        mat_family *f = &c->p->mats[fi];
        if (f->n_defined == 0) { f->kind = MAT_KIND_INPUT; continue; }
        size_t computed = 0;
        for (size_t i = 0; i < f->n_cells; i++)
            if (f->rel[i] >= 0) computed += mat_mentions(c, c->scr->rels[f->rel[i]].rhs);
        if (computed == 0 || computed > mat_allowed_exceptions(f->n_defined) || computed == f->n_defined) {
            f->kind = computed ? MAT_KIND_SCALAR : MAT_KIND_LITERAL;
            continue;
        }
        f->kind = MAT_KIND_LITERAL;
        f->except = mem_realloc(NULL, computed * sizeof *f->except);
        for (size_t i = 0; i < f->n_cells; i++)
            if (f->rel[i] >= 0 && mat_mentions(c, c->scr->rels[f->rel[i]].rhs)) f->except[f->n_except++] = (uint32_t)i;
    }
}

/* Order of lifting: by level (1 + the highest level of the families the
 * representative entries use; inputs and literals 0), then by name order;
 * families on a cycle last. */
static size_t lift_order(mat_ctx *c, uint32_t *order)
{
    enum { DEPS_CAP = 64 };
    uint32_t nf = c->n_families;
    size_t *first = mem_calloc((size_t)nf + 1, sizeof *first);
    uint32_t *deps = NULL;
    size_t n_deps = 0, cap_deps = 0;
    int64_t *level = mem_realloc(NULL, ((size_t)nf + 1) * sizeof *level);
    for (uint32_t fi = 0; fi < nf; fi++) {
        first[fi] = n_deps;
        level[fi] = c->p->mats[fi].kind == MAT_KIND_SCALAR ? -1 : 0;
        if (level[fi] == 0) continue;
        if (cap_deps - n_deps < DEPS_CAP) {
            cap_deps = 2 * cap_deps + DEPS_CAP;
            deps = mem_realloc(deps, cap_deps * sizeof *deps);
        }
        n_deps += mat_family_deps(c, fi, deps + n_deps, DEPS_CAP);
    }
    first[nf] = n_deps;
    /* a family's level is set once every family it uses has one: on a DAG
     * the first value is final; rounds <= the length of the longest path */
    for (int changed = 1; changed;) {
        changed = 0;
        for (uint32_t fi = 0; fi < nf; fi++) {
            if (level[fi] >= 0) continue;
            int64_t l = 1;
            int ready = 1;
            for (size_t k = first[fi]; k < first[fi + 1] && ready; k++) {
                uint32_t g = deps[k];
                if (g == fi) continue;
                if (level[g] < 0) ready = 0;
                else if (level[g] + 1 > l) l = level[g] + 1;
            }
            if (ready) { level[fi] = l; changed = 1; }
        }
    }
    int64_t top = 0;
    for (uint32_t fi = 0; fi < nf; fi++)
        if (level[fi] > top) top = level[fi];
    for (uint32_t fi = 0; fi < nf; fi++)
        if (level[fi] < 0) level[fi] = top + 1;
    size_t n = 0;
    for (int64_t l = 1; l <= top + 1; l++)
        for (uint32_t fi = 0; fi < nf; fi++)
            if (c->p->mats[fi].kind == MAT_KIND_SCALAR && level[fi] == l) order[n++] = fi;
    free(deps);
    free(first);
    free(level);
    return n;
}

static void add_scalar(mat_program *p, uint32_t rel, mat_reason reason, int32_t mat)
{
    if (p->n_scalar == p->cap_scalar) {
        p->cap_scalar = p->cap_scalar ? 2 * p->cap_scalar : 16;
        p->scalar = mem_realloc(p->scalar, p->cap_scalar * sizeof *p->scalar);
    }
    p->scalar[p->n_scalar++] = (mat_scalar){ rel, reason, mat };
}

static int is_exception(const mat_family *f, size_t cell)
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

static int is_temp_like(const char *nm, const char *prefix)
{
    size_t k = strlen(prefix);
    if (strncmp(nm, prefix, k) != 0 || nm[k] == '\0') return 0;
    while (nm[k] >= '0' && nm[k] <= '9') k++;
    return nm[k] == '\0';
}

/* Temporaries are named T1, T2, ...; tmp1, ... when the script has a name
 * T<n>; Tmp1, ... when it has both. */
static void choose_temp_prefix(mat_ctx *c)
{
    int has_t = 0, has_tmp = 0;
    for (uint32_t v = 0; v < c->n_syms; v++) {
        has_t |= is_temp_like(sym_name(c->s, v), "T");
        has_tmp |= is_temp_like(sym_name(c->s, v), "tmp");
    }
    strcpy(c->p->temp_prefix, !has_t ? "T" : !has_tmp ? "tmp" : "Tmp");
}

int mat_recognise(mat_program *p, const sys *y)
{
    mat_ctx c;
    memset(&c, 0, sizeof c);
    c.p = p;
    c.s = y->store;
    c.y = y;
    c.scr = y->scr;
    p->scr = y->scr;
    c.n_syms = c.s->n_syms;
    c.sym_fam = mem_realloc(NULL, ((size_t)c.n_syms + 1) * sizeof *c.sym_fam);
    c.sym_cell = mem_calloc((size_t)c.n_syms + 1, sizeof *c.sym_cell);
    c.sym_reason = mem_calloc((size_t)c.n_syms + 1, 1);
    for (uint32_t v = 0; v < c.n_syms; v++) c.sym_fam[v] = -1;
    choose_temp_prefix(&c);
    mat_families_build(&c);
    classify(&c);
    uint32_t *order = mem_realloc(NULL, ((size_t)c.n_families + 1) * sizeof *order);
    size_t n = lift_order(&c, order);
    for (size_t k = 0; k < n; k++) mat_lift_family(&c, order[k]);
    free(order);

    const script *sc = y->scr;
    p->n_relations = sc->n_rels;
    for (size_t i = 0; i < sc->n_rels; i++) {
        uint32_t v = term_sym_of(c.s, sc->rels[i].name);
        int32_t fi = c.sym_fam[v];
        if (fi < 0) {
            add_scalar(p, (uint32_t)i, (mat_reason)c.sym_reason[v], -1);
            continue;
        }
        const mat_family *f = &p->mats[fi];
        size_t cell = c.sym_cell[v];
        int except = is_exception(f, cell);
        if (f->kind == MAT_KIND_LITERAL && !except) p->n_literal++;
        else if (f->kind == MAT_KIND_OP && !except) p->n_covered++;
        else add_scalar(p, (uint32_t)i, f->kind == MAT_KIND_OP ? MAT_REASON_MISMATCH
                                         : f->kind == MAT_KIND_LITERAL ? MAT_REASON_NOT_CONSTANT : MAT_REASON_NO_OP, fi);
    }
    free(c.sym_fam);
    free(c.sym_cell);
    free(c.sym_reason);
    free(c.mentions);
    return 0;
}

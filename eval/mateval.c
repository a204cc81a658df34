/* mateval: what a matrix program covers (every output an entry computed from
 * constants), which families the outputs need, the literal families, and
 * the driver of the exact stages. */
#include "eval/mateval_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

int mv_present(const mat_program *p, uint32_t f, size_t cell)
{
    const mat_family *m = &p->mats[f];
    if (cell >= m->n_cells) return 0;
    if (!m->entry || m->entry[cell] != TERM_NONE) return 1;
    if (m->op >= 0 && p->ops[m->op].code == MAT_OP_MASKED_SOFTMAX_ROWS) {
        uint32_t b, r, c;
        mat_cell_pos(m, cell, &b, &r, &c);
        return c > r;
    }
    return 0;
}

fmpz *mv_num(const mateval *m, uint32_t f, size_t cell)
{
    const mat_family *g = &m->p->mats[f];
    uint32_t b, r, c;
    mat_cell_pos(g, cell, &b, &r, &c);
    return fmpz_mat_entry(m->fam[f].num + b, r, c);
}

int mv_rational(fmpq_t q, const mateval *m, uint32_t f, size_t cell)
{
    const mateval_family *v = &m->fam[f];
    if (v->exact) {
        fmpq_set_fmpz_frac(q, mv_num(m, f, cell), v->den);
        return 1;
    }
    if (v->kind[cell] == MV_EXACT) {
        fmpq_set(q, v->q + cell);
        return 1;
    }
    if (v->kind[cell] == MV_ABSENT) {
        fmpq_zero(q);
        return 1;
    }
    return 0;
}

/* ---- constants: closed terms copied into the shadow store ---- */

static int cmp_id(const void *x, const void *y)
{
    term_id a = *(const term_id *)x, b = *(const term_id *)y;
    return (a > b) - (a < b);
}

/* t (a term of the script's store) rebuilt in m->shadow; TERM_NONE when it
 * mentions a name or -inf (not a constant the program can use). */
term_id mv_import(mateval *m, term_id t)
{
    const term_store *s = m->y->store;
    if (term_has_ninf(s, t)) return TERM_NONE;
    if (term_op_of(s, t) == OP_NUM) return term_num(&m->shadow, term_value(s, t));
    /* the nodes under t, each once, in increasing id order (arguments first) */
    size_t n = 0, cap = 16, top = 0;
    term_id *ids = mem_realloc(NULL, cap * sizeof *ids);
    term_id *stack = mem_realloc(NULL, cap * sizeof *stack);
    size_t cap_stack = cap;
    stack[top++] = t;
    term_id result = TERM_NONE;
    while (top > 0) {
        term_id u = stack[--top];
        if (term_op_of(s, u) == OP_SYM || term_op_of(s, u) == OP_NINF) goto done;
        if (n == cap) { cap *= 2; ids = mem_realloc(ids, cap * sizeof *ids); }
        ids[n++] = u;
        uint32_t k = term_nargs(s, u);
        for (uint32_t j = 0; j < k; j++) {
            if (top == cap_stack) { cap_stack *= 2; stack = mem_realloc(stack, cap_stack * sizeof *stack); }
            stack[top++] = term_arg(s, u, j);
        }
        if (n > 100000) goto done; /* not a constant worth copying */
    }
    qsort(ids, n, sizeof *ids, cmp_id);
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        if (w == 0 || ids[w - 1] != ids[i]) ids[w++] = ids[i];
    n = w;
    term_id *to = mem_realloc(NULL, n * sizeof *to);
    term_id *args = NULL;
    size_t cap_args = 0;
    for (size_t i = 0; i < n; i++) {
        term_id u = ids[i];
        if (term_op_of(s, u) == OP_NUM) { to[i] = term_num(&m->shadow, term_value(s, u)); continue; }
        uint32_t k = term_nargs(s, u);
        if (k > cap_args) { cap_args = k; args = mem_realloc(args, cap_args * sizeof *args); }
        for (uint32_t j = 0; j < k; j++) {
            term_id *at = bsearch(&s->pool[s->nodes[u].a + j], ids, n, sizeof *ids, cmp_id);
            args[j] = to[at - ids];
        }
        to[i] = term_make(&m->shadow, term_op_of(s, u), args, k);
    }
    result = to[n - 1]; /* t has the largest id of its cone */
    free(args);
    free(to);
done:
    free(ids);
    free(stack);
    return result;
}

/* ---- coverage ---- */

static int uncovered(mateval *m, const char *why)
{
    m->why = why;
    return MATEVAL_UNCOVERED;
}

int mateval_init(mateval *m, mat_program *p, const sys *y)
{
    memset(m, 0, sizeof *m);
    m->p = p;
    m->y = y;
    term_store_init(&m->shadow);
    ball_ctx_init(&m->bc, &m->shadow);
    m->n_fam = p->n_mats;
    m->fam = mem_calloc(m->n_fam ? m->n_fam : 1, sizeof *m->fam);
    for (size_t f = 0; f < m->n_fam; f++) fmpz_init_set_ui(m->fam[f].den, 1);
    m->scalar = mem_calloc(p->n_ops ? p->n_ops : 1, sizeof *m->scalar);
    if (y->n_free > 0) return uncovered(m, "free symbols");
    if (p->n_scalar > 0) return uncovered(m, "relations left scalar");
    if (y->n_outputs == 0) return uncovered(m, "no outputs");
    const term_store *s = y->store;

    /* outputs: which family and cell each names */
    size_t n_syms = (size_t)s->n_syms + 1;
    int64_t *where = mem_realloc(NULL, n_syms * sizeof *where);
    for (size_t v = 0; v < n_syms; v++) where[v] = -1;
    size_t *fam_base = mem_calloc(m->n_fam + 1, sizeof *fam_base);
    for (size_t f = 0; f < m->n_fam; f++) fam_base[f + 1] = fam_base[f] + p->mats[f].n_cells;
    for (size_t f = 0; f < m->n_fam; f++) {
        const mat_family *g = &p->mats[f];
        if (!g->entry) continue;
        for (size_t cell = 0; cell < g->n_cells; cell++)
            if (g->entry[cell] != TERM_NONE) where[term_sym_of(s, g->entry[cell])] = (int64_t)(fam_base[f] + cell);
    }
    m->n_out = y->n_outputs;
    m->out_fam = mem_calloc(m->n_out, sizeof *m->out_fam);
    m->out_cell = mem_calloc(m->n_out, sizeof *m->out_cell);
    int status = MATEVAL_OK;
    for (size_t i = 0; i < m->n_out && status == MATEVAL_OK; i++) {
        int64_t at = where[term_sym_of(s, y->outputs[i])];
        if (at < 0) { status = uncovered(m, "an output outside the program"); break; }
        size_t f = 0;
        while (fam_base[f + 1] <= (size_t)at) f++;
        m->out_fam[i] = (uint32_t)f;
        m->out_cell[i] = (size_t)at - fam_base[f];
        m->fam[f].needed = 1;
    }
    free(where);
    free(fam_base);
    if (status != MATEVAL_OK) return status;

    /* families the outputs need: operations run in order, so one pass back */
    for (size_t k = p->n_ops; k-- > 0;) {
        const mat_op *op = &p->ops[k];
        if (!m->fam[op->out].needed || p->mats[op->out].op != (int32_t)k) continue;
        for (uint32_t i = 0; i < op->n_args; i++) {
            m->fam[op->arg[i]].needed = 1;
            m->fam[op->arg[i]].consumed = 1;
        }
    }
    for (size_t f = 0; f < m->n_fam; f++) {
        if (!m->fam[f].needed) continue;
        const mat_family *g = &p->mats[f];
        if (g->neginf_upper) return uncovered(m, "-inf entries");
        if (g->n_except) return uncovered(m, "entries left scalar");
        if (g->kind == MAT_KIND_LITERAL) {
            if (!g->entry || !g->rel) return uncovered(m, "a literal without entries");
            continue;
        }
        if ((g->kind != MAT_KIND_OP && g->kind != MAT_KIND_TEMP) || g->op < 0)
            return uncovered(m, g->kind == MAT_KIND_INPUT ? "an input family" : "a family with no operation");
    }
    for (size_t k = 0; k < p->n_ops; k++) {
        const mat_op *op = &p->ops[k];
        m->scalar[k] = TERM_NONE;
        if (!m->fam[op->out].needed || op->scalar == TERM_NONE) continue;
        m->scalar[k] = mv_import(m, op->scalar);
        if (m->scalar[k] == TERM_NONE) return uncovered(m, "a factor that is not a constant");
    }
    return MATEVAL_OK;
}

void mateval_clear(mateval *m)
{
    for (size_t f = 0; f < m->n_fam; f++) {
        mateval_family *v = &m->fam[f];
        const mat_family *g = &m->p->mats[f];
        if (v->num) {
            for (uint32_t b = 0; b < g->batch; b++) fmpz_mat_clear(v->num + b);
            free(v->num);
        }
        fmpz_clear(v->den);
        if (v->q) _fmpq_vec_clear(v->q, (slong)g->n_cells);
        free(v->kind);
        free(v->term);
        if (v->ball) {
            for (uint32_t b = 0; b < g->batch; b++) arb_mat_clear(v->ball + b);
            free(v->ball);
        }
        free(v->dbl);
    }
    free(m->fam);
    free(m->scalar);
    free(m->out_fam);
    free(m->out_cell);
    ball_ctx_clear(&m->bc);
    term_store_clear(&m->shadow);
    memset(m, 0, sizeof *m);
}

/* ---- literals ---- */

/* A literal family: exact when every entry is a number, otherwise each
 * entry a number or a constant term. */
static int literal(mateval *m, uint32_t f)
{
    const mat_family *g = &m->p->mats[f];
    mateval_family *v = &m->fam[f];
    const term_store *s = m->y->store;
    const script *sc = m->y->scr;
    int all_num = 1;
    for (size_t cell = 0; cell < g->n_cells && all_num; cell++) {
        if (g->entry[cell] == TERM_NONE) continue;
        if (g->rel[cell] < 0) return MATEVAL_FAILED;
        all_num = term_op_of(s, sc->rels[g->rel[cell]].rhs) == OP_NUM;
    }
    if (all_num) {
        v->exact = 1;
        fmpz_one(v->den);
        for (size_t cell = 0; cell < g->n_cells; cell++)
            if (g->entry[cell] != TERM_NONE)
                fmpz_lcm(v->den, v->den, fmpq_denref(term_value(s, sc->rels[g->rel[cell]].rhs)));
        v->num = mem_realloc(NULL, g->batch * sizeof *v->num);
        for (uint32_t b = 0; b < g->batch; b++) fmpz_mat_init(v->num + b, g->rows, g->cols);
        fmpz_t t;
        fmpz_init(t);
        for (size_t cell = 0; cell < g->n_cells; cell++) {
            if (g->entry[cell] == TERM_NONE) continue;
            const fmpq *x = term_value(s, sc->rels[g->rel[cell]].rhs);
            fmpz_divexact(t, v->den, fmpq_denref(x));
            fmpz_mul(mv_num(m, f, cell), fmpq_numref(x), t);
        }
        fmpz_clear(t);
        return MATEVAL_OK;
    }
    v->kind = mem_calloc(g->n_cells, 1);
    v->q = _fmpq_vec_init((slong)g->n_cells);
    v->term = mem_calloc(g->n_cells, sizeof *v->term);
    for (size_t cell = 0; cell < g->n_cells; cell++) {
        if (g->entry[cell] == TERM_NONE) continue;
        if (g->rel[cell] < 0) return MATEVAL_FAILED;
        term_id rhs = sc->rels[g->rel[cell]].rhs;
        if (term_op_of(s, rhs) == OP_NUM) {
            v->kind[cell] = MV_EXACT;
            fmpq_set(v->q + cell, term_value(s, rhs));
            continue;
        }
        term_id t = mv_import(m, rhs);
        if (t == TERM_NONE) return MATEVAL_FAILED;
        v->kind[cell] = MV_TERM;
        v->term[cell] = t;
    }
    return MATEVAL_OK;
}

int mateval_exact(mateval *m)
{
    const mat_program *p = m->p;
    for (uint32_t f = 0; f < m->n_fam; f++) {
        if (!m->fam[f].needed || p->mats[f].kind != MAT_KIND_LITERAL) continue;
        if (literal(m, f) != MATEVAL_OK) return MATEVAL_FAILED;
        m->fam[f].ready = 1;
    }
    for (uint32_t k = 0; k < p->n_ops; k++) {
        const mat_op *op = &p->ops[k];
        if (!m->fam[op->out].needed || p->mats[op->out].op != (int32_t)k) continue;
        for (uint32_t i = 0; i < op->n_args; i++)
            if (!m->fam[op->arg[i]].ready) return MATEVAL_FAILED; /* not in evaluation order */
        if (mv_exact_op(m, k) != MATEVAL_OK) return MATEVAL_FAILED;
        m->fam[op->out].ready = 1;
    }
    for (size_t i = 0; i < m->n_out; i++)
        if (!m->fam[m->out_fam[i]].ready) return MATEVAL_FAILED;
    mv_mark_balls(m);
    m->exact_done = 1;
    return MATEVAL_OK;
}

int mateval_output_rational(fmpq_t q, const mateval *m, size_t i)
{
    return m->exact_done && mv_rational(q, m, m->out_fam[i], m->out_cell[i]);
}

const arb_struct *mateval_output_ball(const mateval *m, size_t i)
{
    const mat_family *g = &m->p->mats[m->out_fam[i]];
    uint32_t b, r, c;
    mat_cell_pos(g, m->out_cell[i], &b, &r, &c);
    return arb_mat_entry(m->fam[m->out_fam[i]].ball + b, r, c);
}

int mateval_entry_present(const mateval *m, uint32_t f, size_t cell) { return mv_present(m->p, f, cell); }

int mateval_entry_rational(fmpq_t q, const mateval *m, uint32_t f, size_t cell) { return mv_rational(q, m, f, cell); }

const arb_struct *mateval_entry_ball(const mateval *m, uint32_t f, size_t cell)
{
    const mateval_family *v = &m->fam[f];
    if (v->exact || !v->ball) return NULL;
    uint32_t b, r, c;
    mat_cell_pos(&m->p->mats[f], cell, &b, &r, &c);
    return arb_mat_entry(v->ball + b, r, c);
}

/* recognise: families classified, ordered by their dependencies, each
 * lifted to a verified operation; the entry a program predicts. */
#include "rewrite/recognise_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/vec.h"

term_id recog_predict(mat_program *p, uint32_t f, size_t cell)
{
    mat_family *m = &p->mats[f];
    if (cell >= m->n_cells) return TERM_NONE;
    uint32_t b, r, c;
    mat_cell_pos(m, cell, &b, &r, &c);
    if (m->neginf_upper && c > r) return p->store->neg_inf;
    if (m->op >= 0 && (m->kind == MAT_KIND_OP || m->kind == MAT_KIND_TEMP))
        return recog_predict_op(p, (uint32_t)m->op, b, r, c);
    return m->entry ? m->entry[cell] : TERM_NONE;
}

/* ---- recognition ---- */

int recog_mentions(recog_ctx *c, term_id t)
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
size_t recog_allowed_exceptions(size_t n)
{
    return n >= 3 ? (n / 8 > 1 ? n / 8 : 1) : 0;
}

/* Kinds of the families that need no operation: inputs, and literals (all
 * entries constants but at most the allowed exceptions). */
static void classify(recog_ctx *c)
{
    for (uint32_t fi = 0; fi < c->n_families; fi++) {
        mat_family *f = &c->p->mats[fi];
        if (f->n_defined == 0) { f->kind = MAT_KIND_INPUT; continue; }
        size_t computed = 0;
        for (size_t i = 0; i < f->n_cells; i++)
            if (f->rel[i] >= 0) computed += recog_mentions(c, c->scr->rels[f->rel[i]].rhs);
        if (computed == 0 || computed > recog_allowed_exceptions(f->n_defined) || computed == f->n_defined) {
            f->kind = computed ? MAT_KIND_SCALAR : MAT_KIND_LITERAL;
            continue;
        }
        f->kind = MAT_KIND_LITERAL;
        f->except = mem_realloc(NULL, computed * sizeof *f->except);
        for (size_t i = 0; i < f->n_cells; i++)
            if (f->rel[i] >= 0 && recog_mentions(c, c->scr->rels[f->rel[i]].rhs)) f->except[f->n_except++] = (uint32_t)i;
    }
}

/* Order of lifting: by level (1 + the highest level of the families the
 * representative entries use; inputs and literals 0), then by name order;
 * families on a cycle last. */
static size_t lift_order(recog_ctx *c, uint32_t *order)
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
        n_deps += recog_family_deps(c, fi, deps + n_deps, DEPS_CAP);
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
    VEC_RESERVE(p->scalar, p->cap_scalar, p->n_scalar + 1);
    p->scalar[p->n_scalar++] = (mat_scalar){ rel, reason, mat };
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
static void choose_temp_prefix(recog_ctx *c)
{
    int has_t = 0, has_tmp = 0;
    for (uint32_t v = 0; v < c->n_syms; v++) {
        has_t |= is_temp_like(sym_name(c->s, v), "T");
        has_tmp |= is_temp_like(sym_name(c->s, v), "tmp");
    }
    strcpy(c->p->temp_prefix, !has_t ? "T" : !has_tmp ? "tmp" : "Tmp");
}

int recog_program(mat_program *p, const sys *y)
{
    recog_ctx c;
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
    recog_families_build(&c);
    classify(&c);
    uint32_t *order = mem_realloc(NULL, ((size_t)c.n_families + 1) * sizeof *order);
    size_t n = lift_order(&c, order);
    for (size_t k = 0; k < n; k++) recog_lift_family(&c, order[k]);
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
        int except = mat_is_exception(f, cell);
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

/* recognise_regen: a matrix program back as the scalar relations it
 * generates (hmp matrix --regen), through the predictor. */
#include "rewrite/recognise_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/print.h"

/* ---- regeneration ---- */

/* except[] is sorted: cells in increasing order. */
#define COPY_PENDING UINT32_MAX

static int cmp_term(const void *x, const void *y)
{
    term_id a = *(const term_id *)x, b = *(const term_id *)y;
    return (a > b) - (a < b);
}

/* t of src rebuilt in dst through the constructors; memo[old] = new id.
 * Arguments have smaller ids than their parents: the nodes reached are
 * built in increasing id order, no recursion. */
static term_id copy_term(term_store *dst, const term_store *src, term_id t, term_id *memo)
{
    if (t == TERM_NONE || memo[t]) return memo[t];
    term_id *todo = NULL, *stack = NULL;
    size_t n = 0, cap = 0, top = 0, cap_stack = 0;
    stack = mem_realloc(NULL, (cap_stack = 64) * sizeof *stack);
    stack[top++] = t;
    memo[t] = COPY_PENDING;
    while (top > 0) {
        term_id u = stack[--top];
        if (n == cap) todo = mem_realloc(todo, (cap = 2 * cap + 64) * sizeof *todo);
        todo[n++] = u;
        uint32_t k = term_nargs(src, u);
        if (cap_stack - top < k) stack = mem_realloc(stack, (cap_stack = 2 * cap_stack + k) * sizeof *stack);
        for (uint32_t i = 0; i < k; i++) {
            term_id a = term_arg(src, u, i);
            if (memo[a] == 0) {
                memo[a] = COPY_PENDING;
                stack[top++] = a;
            }
        }
    }
    qsort(todo, n, sizeof *todo, cmp_term);
    term_id local[64];
    for (size_t i = 0; i < n; i++) {
        term_id u = todo[i];
        term_op op = term_op_of(src, u);
        term_id v;
        if (op == OP_NUM) v = term_num(dst, term_value(src, u));
        else if (op == OP_SYM) v = term_sym_cstr(dst, term_sym_name(src, u));
        else if (op == OP_NINF) v = dst->neg_inf;
        else {
            uint32_t k = term_nargs(src, u);
            term_id *args = k <= 64 ? local : mem_realloc(NULL, k * sizeof *args);
            for (uint32_t j = 0; j < k; j++) args[j] = memo[term_arg(src, u, j)];
            v = term_make(dst, op, args, k);
            if (args != local) free(args);
        }
        memo[u] = v;
    }
    free(todo);
    free(stack);
    return memo[t];
}

/* p with its terms in the fresh store s, the names of the families interned
 * first, family by family, row by row: what is printed from it does not
 * depend on the order of the script's lines. */
static void copy_program(mat_program *q, const mat_program *p, term_store *s, term_id *memo)
{
    mat_program_init(q, s);
    q->scr = p->scr;
    for (size_t i = 0; i < p->n_mats; i++) {
        mat_family *f = &p->mats[i];
        uint32_t k = mat_push_family(q);
        mat_family *g = &q->mats[k];
        *g = *f;
        g->name = mem_strdup(f->name);
        g->base = f->base ? mem_strdup(f->base) : NULL;
        g->except = NULL;
        g->entry = NULL;
        g->rel = NULL;
        if (f->n_except) {
            g->except = mem_realloc(NULL, f->n_except * sizeof *g->except);
            memcpy(g->except, f->except, f->n_except * sizeof *g->except);
        }
        if (!f->entry) continue;
        g->rel = mem_realloc(NULL, f->n_cells * sizeof *g->rel);
        memcpy(g->rel, f->rel, f->n_cells * sizeof *g->rel);
        g->entry = mem_realloc(NULL, f->n_cells * sizeof *g->entry);
        for (size_t cell = 0; cell < f->n_cells; cell++) g->entry[cell] = copy_term(s, p->store, f->entry[cell], memo);
    }
    for (size_t k = 0; k < p->n_ops; k++) {
        mat_op op = p->ops[k];
        if (op.scalar != TERM_NONE) op.scalar = copy_term(s, p->store, op.scalar, memo);
        mat_push_op(q, &op);
    }
}

static void regen_line(strbuf *out, const term_store *s, term_id name, term_id value)
{
    strbuf_puts(out, term_sym_name(s, name));
    strbuf_puts(out, " = ");
    print_infix(out, s, value);
    strbuf_putc(out, '\n');
}

void recog_regen(strbuf *out, mat_program *p0)
{
    term_store s;
    term_store_init(&s);
    term_id *memo = mem_calloc((size_t)term_count(p0->store) + 1, sizeof *memo);
    mat_program q;
    copy_program(&q, p0, &s, memo);
    mat_program *p = &q;
    const script *sc = p->scr;
    strbuf_puts(out, "# scalar relations of the matrix program (hmp matrix --regen)\n");
    for (size_t i = 0; i < p->n_mats; i++) {
        const mat_family *f = &p->mats[i];
        if (f->kind != MAT_KIND_LITERAL || !sc) continue;
        strbuf_printf(out, "# %s: literal\n", f->name);
        for (size_t cell = 0; cell < f->n_cells; cell++)
            if (f->rel[cell] >= 0 && !mat_is_exception(f, cell)) regen_line(out, &s, f->entry[cell], copy_term(&s, p0->store, sc->rels[f->rel[cell]].rhs, memo));
    }
    for (size_t k = 0; k < p->n_ops; k++) {
        uint32_t fi = p->ops[k].out;
        if (p->mats[fi].kind == MAT_KIND_TEMP) continue;
        strbuf_puts(out, "# ");
        mat_print_op(out, p, &p->ops[k]);
        strbuf_putc(out, '\n');
        for (size_t cell = 0; cell < p->mats[fi].n_cells; cell++) {
            const mat_family *f = &p->mats[fi];
            if (f->entry[cell] == TERM_NONE || mat_is_exception(f, cell)) continue;
            if (sc && f->rel[cell] < 0) continue; /* a free name of the script */
            term_id name = f->entry[cell];
            term_id v = recog_predict(p, fi, cell);
            if (v != TERM_NONE) regen_line(out, &s, name, v);
        }
    }
    if (sc) {
        if (p0->n_scalar) strbuf_puts(out, "# left scalar\n");
        for (size_t i = 0; i < p0->n_scalar; i++) {
            const relation *r = &sc->rels[p0->scalar[i].rel];
            term_id name = copy_term(&s, p0->store, r->name, memo);
            regen_line(out, &s, name, copy_term(&s, p0->store, r->rhs, memo));
        }
        for (size_t d = 0; d < sc->n_dirs; d++) {
            const directive *dir = &sc->dirs[d];
            if (dir->kind != DIRECTIVE_OUTPUT) continue;
            strbuf_puts(out, "output ");
            for (size_t i = 0; i < dir->n_args; i++) strbuf_printf(out, "%s%s", i ? ", " : "", term_sym_name(p0->store, dir->args[i]));
            strbuf_putc(out, '\n');
        }
    }
    mat_program_clear(&q);
    free(memo);
    term_store_clear(&s);
}

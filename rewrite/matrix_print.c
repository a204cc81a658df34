/* matrix_print: a matrix program as text (`Q = X * Wq^T`), as JSON, and
 * back as the scalar relations it generates (hmp matrix --regen). */
#include "rewrite/matrix_impl.h"

#include <string.h>

#include "core/mem.h"
#include "core/print.h"

#define MAT_PRINT_MAX_EXCEPT 8
#define MAT_PRINT_MAX_SCALAR 50

static void shape_text(strbuf *b, const mat_family *f, const char *sep)
{
    for (uint32_t k = 0; k < f->rank; k++) {
        if (k) sb_puts(b, sep);
        sb_printf(b, "%u", f->dim[k]);
    }
}

static void mat_name(strbuf *b, const mat_program *p, uint32_t m)
{
    const mat_family *f = &p->mats[m];
    sb_puts(b, f->name);
    if (f->rank == 3) sb_puts(b, "[h]");
}

static void arg_text(strbuf *b, const mat_program *p, const mat_op *op, uint32_t i)
{
    switch ((mat_view)op->view[i]) {
    case MAT_VIEW_PLAIN: mat_name(b, p, op->arg[i]); break;
    case MAT_VIEW_T: mat_name(b, p, op->arg[i]); sb_puts(b, "^T"); break;
    case MAT_VIEW_ROW: sb_puts(b, "row("); mat_name(b, p, op->arg[i]); sb_puts(b, ")"); break;
    case MAT_VIEW_COL: sb_puts(b, "col("); mat_name(b, p, op->arg[i]); sb_puts(b, ")"); break;
    }
}

/* A constant in an expression: parenthesised unless a name or a number >= 0. */
static void const_text(strbuf *b, const term_store *s, term_id t)
{
    term_op op = term_op_of(s, t);
    int bare = op == OP_SYM || (op == OP_NUM && fmpq_sgn(term_value(s, t)) >= 0);
    if (!bare) sb_putc(b, '(');
    print_infix(b, s, t);
    if (!bare) sb_putc(b, ')');
}

/* " / m" when c = 1/m with m an integer > 1, " / sqrt(m)" when c is an
 * irrational 1/sqrt(m), m > 0 rational; else 0. */
static int divisor_text(strbuf *b, term_store *s, term_id c)
{
    if (term_op_of(s, c) == OP_NUM) {
        const fmpq *v = term_value(s, c);
        if (!fmpz_is_one(fmpq_numref(v)) || fmpz_cmp_si(fmpq_denref(v), 1) <= 0) return 0;
        sb_puts(b, " / ");
        print_infix(b, s, term_pow_si(s, c, -1));
        return 1;
    }
    term_id sq = term_pow_si(s, c, -2);
    if (term_op_of(s, sq) == OP_NUM && fmpq_sgn(term_value(s, sq)) > 0) {
        sb_puts(b, " / sqrt(");
        print_infix(b, s, sq);
        sb_puts(b, ")");
        return 1;
    }
    return 0;
}

/* c is positive: a rational > 0, or a product of one with roots of positive rationals. */
static int positive_const(const term_store *s, term_id c)
{
    if (term_op_of(s, c) == OP_NUM) return fmpq_sgn(term_value(s, c)) > 0;
    if (term_op_of(s, c) == OP_POW) return term_op_of(s, term_arg(s, c, 0)) == OP_NUM && fmpq_sgn(term_value(s, term_arg(s, c, 0))) > 0;
    if (term_op_of(s, c) != OP_MUL) return 0;
    for (uint32_t i = 0; i < term_nargs(s, c); i++)
        if (!positive_const(s, term_arg(s, c, i))) return 0;
    return 1;
}

/* "A * B^T / sqrt(2)" or "c * (A * B)"; the factor c of scale. */
static void scaled_text(strbuf *b, const mat_program *p, term_id c, const char *body, int compound)
{
    term_store *s = p->store;
    strbuf d;
    sb_init(&d);
    if (positive_const(s, c) && divisor_text(&d, s, c)) {
        sb_puts(b, body);
        sb_puts(b, d.data);
    } else {
        const_text(b, s, c);
        sb_puts(b, compound ? " * (" : " * ");
        sb_puts(b, body);
        if (compound) sb_puts(b, ")");
    }
    sb_clear(&d);
}

/* The right side of op: "X * Wq^T", "softmax_rows(S)", ... */
static void op_rhs(strbuf *b, const mat_program *p, const mat_op *op)
{
    static const char *const fn_names[OP_COUNT_] = { [OP_EXP] = "exp", [OP_LOG] = "log", [OP_TANH] = "tanh", [OP_ABS] = "abs" };
    strbuf a;
    sb_init(&a);
    switch (op->code) {
    case MAT_OP_MATMUL:
        arg_text(&a, p, op, 0);
        sb_puts(&a, " * ");
        arg_text(&a, p, op, 1);
        if (op->scalar != TERM_NONE) scaled_text(b, p, op->scalar, a.data, 1);
        else sb_puts(b, a.data);
        break;
    case MAT_OP_SCALE:
        arg_text(&a, p, op, 0);
        scaled_text(b, p, op->scalar, a.data, 0);
        break;
    case MAT_OP_ADD: case MAT_OP_SUB: case MAT_OP_MUL: case MAT_OP_ADD_ROW: case MAT_OP_ADD_COL:
        arg_text(b, p, op, 0);
        sb_puts(b, op->code == MAT_OP_SUB ? " - " : op->code == MAT_OP_MUL ? " .* " : " + ");
        arg_text(b, p, op, 1);
        break;
    case MAT_OP_ADD_SCALAR:
        arg_text(b, p, op, 0);
        sb_puts(b, " + ");
        const_text(b, p->store, op->scalar);
        break;
    case MAT_OP_SOFTMAX_ROWS: case MAT_OP_MASKED_SOFTMAX_ROWS: case MAT_OP_CONCAT_HEADS:
        sb_printf(b, "%s(", mat_opcode_name(op->code));
        arg_text(b, p, op, 0);
        sb_puts(b, ")");
        break;
    case MAT_OP_TRANSPOSE: case MAT_OP_COPY:
        arg_text(b, p, op, 0);
        break;
    case MAT_OP_MAP:
        if (op->fn == OP_POW) {
            arg_text(b, p, op, 0);
            sb_puts(b, " .^ ");
            const_text(b, p->store, op->scalar);
        } else {
            sb_printf(b, "%s(", fn_names[op->fn] ? fn_names[op->fn] : "?");
            arg_text(b, p, op, 0);
            sb_puts(b, ")");
        }
        break;
    default:
        sb_puts(b, "?");
    }
    sb_clear(&a);
}

static const char *kind_name(mat_kind k)
{
    switch (k) {
    case MAT_KIND_INPUT: return "input";
    case MAT_KIND_LITERAL: return "literal";
    case MAT_KIND_OP: return "op";
    case MAT_KIND_SCALAR: return "scalar";
    case MAT_KIND_TEMP: return "temp";
    }
    return "?";
}

static const char *pattern_name(mat_pattern pt)
{
    return pt == MAT_PATTERN_FULL ? "full" : pt == MAT_PATTERN_LOWER ? "lower" : "sparse";
}

/* Names of a computed family of the script that no relation defines. */
static size_t free_entries(const mat_program *p, const mat_family *f)
{
    return p->scr && f->kind == MAT_KIND_OP ? f->n_present - f->n_defined : 0;
}

static const char *rel_name(const mat_program *p, uint32_t rel)
{
    return term_sym_name(p->store, p->scr->rels[rel].name);
}

void mat_print(strbuf *out, const mat_program *p)
{
    size_t n_fam = 0;
    for (size_t i = 0; i < p->n_mats; i++) n_fam += p->mats[i].kind != MAT_KIND_TEMP;
    sb_printf(out, "# matrix program: %zu operation%s, %zu famil%s; %zu relations: %zu literal, %zu computed, %zu scalar\n",
              p->n_ops, p->n_ops == 1 ? "" : "s", n_fam, n_fam == 1 ? "y" : "ies", p->n_relations, p->n_literal,
              p->n_covered, p->n_scalar);
    if (n_fam) sb_puts(out, "# families (name: index form, shape, first index, kind):\n");
    strbuf form;
    sb_init(&form);
    for (size_t i = 0; i < p->n_mats; i++) {
        const mat_family *f = &p->mats[i];
        if (f->kind == MAT_KIND_TEMP) continue;
        sb_reset(&form);
        mat_family_form(&form, f);
        sb_printf(out, "#   %-6s %-14s ", f->name, form.data);
        sb_reset(&form);
        shape_text(&form, f, "x");
        sb_printf(out, "%-9s %u  %s", form.data, f->index_base, kind_name(f->kind));
        if (f->pattern == MAT_PATTERN_LOWER) sb_puts(out, ", lower triangle");
        else if (f->pattern == MAT_PATTERN_SPARSE) sb_printf(out, ", %zu gaps", f->n_cells - f->n_present);
        if (f->neginf_upper) sb_puts(out, ", -inf above the diagonal");
        if (free_entries(p, f)) sb_printf(out, ", %zu free", free_entries(p, f));
        if (f->kind == MAT_KIND_LITERAL && f->n_except) sb_printf(out, ", %zu not constant", f->n_except);
        sb_puts(out, "\n");
    }
    sb_clear(&form);
    if (p->n_ambiguous) {
        sb_puts(out, "# ambiguous names (left out):");
        for (size_t i = 0; i < p->n_ambiguous; i++) sb_printf(out, "%s %s", i ? "," : "", p->ambiguous[i]);
        sb_puts(out, "\n");
    }
    for (size_t k = 0; k < p->n_ops; k++) {
        const mat_op *op = &p->ops[k];
        const mat_family *o = &p->mats[op->out];
        mat_name(out, p, op->out);
        sb_puts(out, " = ");
        op_rhs(out, p, op);
        if (o->kind != MAT_KIND_TEMP && (o->n_except || o->neginf_upper)) {
            sb_puts(out, "   #");
            if (o->neginf_upper) sb_puts(out, o->n_except ? " -inf above the diagonal;" : " -inf above the diagonal");
            if (o->n_except) {
                sb_puts(out, " except");
                for (size_t e = 0; e < o->n_except && e < MAT_PRINT_MAX_EXCEPT; e++) {
                    const char *nm = mat_entry_name(p, op->out, o->except[e]);
                    sb_printf(out, "%s %s", e ? "," : "", nm ? nm : "?");
                }
                if (o->n_except > MAT_PRINT_MAX_EXCEPT) sb_printf(out, " and %zu more", o->n_except - MAT_PRINT_MAX_EXCEPT);
            }
        }
        sb_puts(out, "\n");
    }
    sb_printf(out, "# scalar relations: %zu\n", p->n_scalar);
    for (size_t i = 0; i < p->n_scalar && i < MAT_PRINT_MAX_SCALAR; i++) {
        const mat_scalar *x = &p->scalar[i];
        sb_printf(out, "#   %s (line %u): %s\n", rel_name(p, x->rel), p->scr->rels[x->rel].name_pos.line,
                  mat_reason_text(x->reason));
    }
    if (p->n_scalar > MAT_PRINT_MAX_SCALAR) sb_printf(out, "#   ... and %zu more\n", p->n_scalar - MAT_PRINT_MAX_SCALAR);
}

/* ---- JSON ---- */

static void json_infix(strbuf *b, const term_store *s, term_id t)
{
    strbuf x;
    sb_init(&x);
    print_infix(&x, s, t);
    sb_json_string(b, sb_str(&x));
    sb_clear(&x);
}

static void json_op(strbuf *b, const mat_program *p, const mat_op *op)
{
    static const char *const view_names[] = { "none", "none", "row", "col" };
    const mat_family *o = &p->mats[op->out];
    sb_puts(b, "{\"out\": ");
    sb_json_string(b, o->name);
    sb_printf(b, ", \"op\": \"%s\", \"args\": [", mat_opcode_name(op->code));
    int vec = 0;
    for (uint32_t i = 0; i < op->n_args; i++) {
        if (i) sb_puts(b, ", ");
        sb_json_string(b, p->mats[op->arg[i]].name);
        vec |= op->view[i] == MAT_VIEW_ROW || op->view[i] == MAT_VIEW_COL;
    }
    sb_puts(b, "], \"transpose\": [");
    for (uint32_t i = 0; i < op->n_args; i++) sb_printf(b, "%s%s", i ? ", " : "", op->view[i] == MAT_VIEW_T ? "true" : "false");
    sb_puts(b, "]");
    if (vec) {
        sb_puts(b, ", \"broadcast\": [");
        for (uint32_t i = 0; i < op->n_args; i++) sb_printf(b, "%s\"%s\"", i ? ", " : "", view_names[op->view[i]]);
        sb_puts(b, "]");
    }
    sb_puts(b, ", \"shape\": [");
    if (o->rank == 3) sb_printf(b, "%u, ", o->batch);
    sb_printf(b, "%u, %u]", o->rows, o->cols);
    if (op->code == MAT_OP_MATMUL) {
        uint32_t r, inner;
        mat_arg_shape(p, op, 0, &r, &inner);
        sb_printf(b, ", \"inner\": %u", inner);
    }
    if ((op->code == MAT_OP_MATMUL || op->code == MAT_OP_SCALE) && op->scalar != TERM_NONE) {
        sb_puts(b, ", \"scale\": ");
        json_infix(b, p->store, op->scalar);
        if (op->code == MAT_OP_MATMUL) sb_printf(b, ", \"scale_form\": \"%s\"", op->scale_each ? "each" : "outside");
    }
    if (op->code == MAT_OP_ADD_SCALAR) {
        sb_puts(b, ", \"scalar\": ");
        json_infix(b, p->store, op->scalar);
    }
    if (op->code == MAT_OP_MAP) {
        sb_printf(b, ", \"fn\": \"%s\"", op->fn == OP_POW ? "pow" : term_op_name((term_op)op->fn));
        if (op->fn == OP_POW) {
            sb_puts(b, ", \"exponent\": ");
            json_infix(b, p->store, op->scalar);
        }
    }
    if (op->code == MAT_OP_SOFTMAX_ROWS || op->code == MAT_OP_MASKED_SOFTMAX_ROWS)
        sb_printf(b, ", \"form\": \"%s\"", op->lse ? "lse" : op->stable ? "stable" : "plain");
    if (o->kind != MAT_KIND_TEMP && o->neginf_upper) sb_puts(b, ", \"mask\": \"-inf above the diagonal\"");
    if (o->kind != MAT_KIND_TEMP && o->n_except) {
        sb_puts(b, ", \"except\": [");
        for (size_t e = 0; e < o->n_except; e++) {
            if (e) sb_puts(b, ", ");
            const char *nm = mat_entry_name(p, op->out, o->except[e]);
            sb_json_string(b, nm ? nm : "?");
        }
        sb_puts(b, "]");
    }
    sb_puts(b, "}");
}

void mat_print_json(strbuf *out, const mat_program *p)
{
    sb_puts(out, "{\n  \"ops\": [");
    for (size_t k = 0; k < p->n_ops; k++) {
        sb_puts(out, k ? ",\n    " : "\n    ");
        json_op(out, p, &p->ops[k]);
    }
    sb_puts(out, p->n_ops ? "\n  ],\n" : "],\n");
    sb_printf(out, "  \"scalar_left\": %zu,\n  \"relations\": %zu,\n  \"literal_relations\": %zu,\n  \"computed_relations\": %zu,\n",
              p->n_scalar, p->n_relations, p->n_literal, p->n_covered);
    sb_puts(out, "  \"inputs\": [");
    int first = 1;
    for (size_t i = 0; i < p->n_mats; i++) {
        const mat_family *f = &p->mats[i];
        if (f->kind != MAT_KIND_INPUT && f->kind != MAT_KIND_LITERAL) continue;
        sb_puts(out, first ? "" : ", ");
        sb_json_string(out, f->name);
        first = 0;
    }
    sb_puts(out, "],\n  \"families\": {");
    strbuf form;
    sb_init(&form);
    for (size_t i = 0; i < p->n_mats; i++) {
        const mat_family *f = &p->mats[i];
        sb_puts(out, i ? ",\n    " : "\n    ");
        sb_json_string(out, f->name);
        sb_puts(out, ": {\"base\": ");
        if (f->base) sb_json_string(out, f->base);
        else sb_puts(out, "null");
        sb_reset(&form);
        mat_family_form(&form, f);
        sb_puts(out, ", \"form\": ");
        if (f->base) sb_json_string(out, form.data);
        else sb_puts(out, "null");
        sb_printf(out, ", \"rank\": %u, \"shape\": [", f->rank);
        shape_text(out, f, ", ");
        sb_printf(out, "], \"index_base\": %u, \"kind\": \"%s\", \"entries\": %zu, \"defined\": %zu, \"gaps\": %zu, \"pattern\": \"%s\"",
                  f->index_base, kind_name(f->kind), f->n_present, f->n_defined, f->n_cells - f->n_present,
                  pattern_name(f->pattern));
        if (f->kind == MAT_KIND_OP) sb_printf(out, ", \"free\": %zu", free_entries(p, f));
        if (f->n_except && f->kind != MAT_KIND_TEMP) {
            sb_puts(out, ", \"except\": [");
            for (size_t e = 0; e < f->n_except; e++) {
                const char *nm = mat_entry_name(p, (uint32_t)i, f->except[e]);
                sb_printf(out, "%s", e ? ", " : "");
                sb_json_string(out, nm ? nm : "?");
            }
            sb_puts(out, "]");
        }
        sb_puts(out, "}");
    }
    sb_clear(&form);
    sb_puts(out, p->n_mats ? "\n  },\n" : "},\n");
    sb_puts(out, "  \"scalar\": [");
    for (size_t i = 0; i < p->n_scalar; i++) {
        const mat_scalar *x = &p->scalar[i];
        sb_puts(out, i ? ",\n    " : "\n    ");
        sb_puts(out, "{\"name\": ");
        sb_json_string(out, rel_name(p, x->rel));
        sb_printf(out, ", \"line\": %u, \"family\": ", p->scr->rels[x->rel].name_pos.line);
        if (x->mat >= 0) sb_json_string(out, p->mats[x->mat].name);
        else sb_puts(out, "null");
        sb_puts(out, ", \"reason\": ");
        sb_json_string(out, mat_reason_text(x->reason));
        sb_puts(out, "}");
    }
    sb_puts(out, p->n_scalar ? "\n  ],\n" : "],\n");
    sb_puts(out, "  \"ambiguous\": [");
    for (size_t i = 0; i < p->n_ambiguous; i++) {
        sb_puts(out, i ? ", " : "");
        sb_json_string(out, p->ambiguous[i]);
    }
    sb_puts(out, "]\n}\n");
}

/* ---- regeneration ---- */

/* except[] is sorted: cells in increasing order. */
static int is_except(const mat_family *f, size_t cell)
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
    sb_puts(out, term_sym_name(s, name));
    sb_puts(out, " = ");
    print_infix(out, s, value);
    sb_putc(out, '\n');
}

void mat_regen(strbuf *out, mat_program *p0)
{
    term_store s;
    term_store_init(&s);
    term_id *memo = mem_calloc((size_t)term_count(p0->store) + 1, sizeof *memo);
    mat_program q;
    copy_program(&q, p0, &s, memo);
    mat_program *p = &q;
    const script *sc = p->scr;
    sb_puts(out, "# scalar relations of the matrix program (hmp matrix --regen)\n");
    for (size_t i = 0; i < p->n_mats; i++) {
        const mat_family *f = &p->mats[i];
        if (f->kind != MAT_KIND_LITERAL || !sc) continue;
        sb_printf(out, "# %s: literal\n", f->name);
        for (size_t cell = 0; cell < f->n_cells; cell++)
            if (f->rel[cell] >= 0 && !is_except(f, cell)) regen_line(out, &s, f->entry[cell], copy_term(&s, p0->store, sc->rels[f->rel[cell]].rhs, memo));
    }
    for (size_t k = 0; k < p->n_ops; k++) {
        uint32_t fi = p->ops[k].out;
        if (p->mats[fi].kind == MAT_KIND_TEMP) continue;
        sb_puts(out, "# ");
        mat_name(out, p, fi);
        sb_puts(out, " = ");
        op_rhs(out, p, &p->ops[k]);
        sb_putc(out, '\n');
        for (size_t cell = 0; cell < p->mats[fi].n_cells; cell++) {
            const mat_family *f = &p->mats[fi];
            if (f->entry[cell] == TERM_NONE || is_except(f, cell)) continue;
            if (sc && f->rel[cell] < 0) continue; /* a free name of the script */
            term_id name = f->entry[cell];
            term_id v = mat_predict(p, fi, cell);
            if (v != TERM_NONE) regen_line(out, &s, name, v);
        }
    }
    if (sc) {
        if (p0->n_scalar) sb_puts(out, "# left scalar\n");
        for (size_t i = 0; i < p0->n_scalar; i++) {
            const relation *r = &sc->rels[p0->scalar[i].rel];
            term_id name = copy_term(&s, p0->store, r->name, memo);
            regen_line(out, &s, name, copy_term(&s, p0->store, r->rhs, memo));
        }
        for (size_t d = 0; d < sc->n_dirs; d++) {
            const directive *dir = &sc->dirs[d];
            if (dir->kind != DIRECTIVE_OUTPUT) continue;
            sb_puts(out, "output ");
            for (size_t i = 0; i < dir->n_args; i++) sb_printf(out, "%s%s", i ? ", " : "", term_sym_name(p0->store, dir->args[i]));
            sb_putc(out, '\n');
        }
    }
    mat_program_clear(&q);
    free(memo);
    term_store_clear(&s);
}

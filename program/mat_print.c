/* mat_print: a matrix program as text (`Q = X * Wq^T`) and as JSON. */
#include "program/mat.h"

#include <string.h>

#include "core/mem.h"
#include "core/print.h"

#define MAT_PRINT_MAX_EXCEPT 8
#define MAT_PRINT_MAX_SCALAR 50

static void shape_text(strbuf *b, const mat_family *f, const char *sep)
{
    for (uint32_t k = 0; k < f->rank; k++) {
        if (k) strbuf_puts(b, sep);
        strbuf_printf(b, "%u", f->dim[k]);
    }
}

static void mat_name(strbuf *b, const mat_program *p, uint32_t m)
{
    const mat_family *f = &p->mats[m];
    strbuf_puts(b, f->name);
    if (f->rank == 3) strbuf_puts(b, "[h]");
}

static void arg_text(strbuf *b, const mat_program *p, const mat_op *op, uint32_t i)
{
    switch ((mat_view)op->view[i]) {
    case MAT_VIEW_PLAIN: mat_name(b, p, op->arg[i]); break;
    case MAT_VIEW_T: mat_name(b, p, op->arg[i]); strbuf_puts(b, "^T"); break;
    case MAT_VIEW_ROW: strbuf_puts(b, "row("); mat_name(b, p, op->arg[i]); strbuf_puts(b, ")"); break;
    case MAT_VIEW_COL: strbuf_puts(b, "col("); mat_name(b, p, op->arg[i]); strbuf_puts(b, ")"); break;
    }
}

/* A constant in an expression: parenthesised unless a name or a number >= 0. */
static void const_text(strbuf *b, const term_store *s, term_id t)
{
    term_op op = term_op_of(s, t);
    int bare = op == OP_SYM || (op == OP_NUM && fmpq_sgn(term_value(s, t)) >= 0);
    if (!bare) strbuf_putc(b, '(');
    print_infix(b, s, t);
    if (!bare) strbuf_putc(b, ')');
}

/* " / m" when c = 1/m with m an integer > 1, " / sqrt(m)" when c is an
 * irrational 1/sqrt(m), m > 0 rational; else 0. */
static int divisor_text(strbuf *b, term_store *s, term_id c)
{
    if (term_op_of(s, c) == OP_NUM) {
        const fmpq *v = term_value(s, c);
        if (!fmpz_is_one(fmpq_numref(v)) || fmpz_cmp_si(fmpq_denref(v), 1) <= 0) return 0;
        strbuf_puts(b, " / ");
        print_infix(b, s, term_pow_si(s, c, -1));
        return 1;
    }
    term_id sq = term_pow_si(s, c, -2);
    if (term_op_of(s, sq) == OP_NUM && fmpq_sgn(term_value(s, sq)) > 0) {
        strbuf_puts(b, " / sqrt(");
        print_infix(b, s, sq);
        strbuf_puts(b, ")");
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
    strbuf_init(&d);
    if (positive_const(s, c) && divisor_text(&d, s, c)) {
        strbuf_puts(b, body);
        strbuf_puts(b, d.data);
    } else {
        const_text(b, s, c);
        strbuf_puts(b, compound ? " * (" : " * ");
        strbuf_puts(b, body);
        if (compound) strbuf_puts(b, ")");
    }
    strbuf_clear(&d);
}

/* The right side of op: "X * Wq^T", "softmax_rows(S)", ... */
static void op_rhs(strbuf *b, const mat_program *p, const mat_op *op)
{
    static const char *const fn_names[OP_COUNT_] = { [OP_EXP] = "exp", [OP_LOG] = "log", [OP_TANH] = "tanh", [OP_ABS] = "abs" };
    strbuf a;
    strbuf_init(&a);
    switch (op->code) {
    case MAT_OP_MATMUL:
        arg_text(&a, p, op, 0);
        strbuf_puts(&a, " * ");
        arg_text(&a, p, op, 1);
        if (op->scalar != TERM_NONE) scaled_text(b, p, op->scalar, a.data, 1);
        else strbuf_puts(b, a.data);
        break;
    case MAT_OP_SCALE:
        arg_text(&a, p, op, 0);
        scaled_text(b, p, op->scalar, a.data, 0);
        break;
    case MAT_OP_ADD: case MAT_OP_SUB: case MAT_OP_MUL: case MAT_OP_ADD_ROW: case MAT_OP_ADD_COL:
        arg_text(b, p, op, 0);
        strbuf_puts(b, op->code == MAT_OP_SUB ? " - " : op->code == MAT_OP_MUL ? " .* " : " + ");
        arg_text(b, p, op, 1);
        break;
    case MAT_OP_ADD_SCALAR:
        arg_text(b, p, op, 0);
        strbuf_puts(b, " + ");
        const_text(b, p->store, op->scalar);
        break;
    case MAT_OP_SOFTMAX_ROWS: case MAT_OP_MASKED_SOFTMAX_ROWS: case MAT_OP_CONCAT_HEADS:
        strbuf_printf(b, "%s(", mat_opcode_name(op->code));
        arg_text(b, p, op, 0);
        strbuf_puts(b, ")");
        break;
    case MAT_OP_TRANSPOSE: case MAT_OP_COPY:
        arg_text(b, p, op, 0);
        break;
    case MAT_OP_MAP:
        if (op->fn == OP_POW) {
            arg_text(b, p, op, 0);
            strbuf_puts(b, " .^ ");
            const_text(b, p->store, op->scalar);
        } else {
            strbuf_printf(b, "%s(", fn_names[op->fn] ? fn_names[op->fn] : "?");
            arg_text(b, p, op, 0);
            strbuf_puts(b, ")");
        }
        break;
    default:
        strbuf_puts(b, "?");
    }
    strbuf_clear(&a);
}

void mat_print_op(strbuf *out, const mat_program *p, const mat_op *op)
{
    mat_name(out, p, op->out);
    strbuf_puts(out, " = ");
    op_rhs(out, p, op);
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
    strbuf_printf(out, "# matrix program: %zu operation%s, %zu famil%s; %zu relations: %zu literal, %zu computed, %zu scalar\n",
              p->n_ops, p->n_ops == 1 ? "" : "s", n_fam, n_fam == 1 ? "y" : "ies", p->n_relations, p->n_literal,
              p->n_covered, p->n_scalar);
    if (n_fam) strbuf_puts(out, "# families (name: index form, shape, first index, kind):\n");
    strbuf form;
    strbuf_init(&form);
    for (size_t i = 0; i < p->n_mats; i++) {
        const mat_family *f = &p->mats[i];
        if (f->kind == MAT_KIND_TEMP) continue;
        strbuf_reset(&form);
        mat_family_form(&form, f);
        strbuf_printf(out, "#   %-6s %-14s ", f->name, form.data);
        strbuf_reset(&form);
        shape_text(&form, f, "x");
        strbuf_printf(out, "%-9s %u  %s", form.data, f->index_base, kind_name(f->kind));
        if (f->pattern == MAT_PATTERN_LOWER) strbuf_puts(out, ", lower triangle");
        else if (f->pattern == MAT_PATTERN_SPARSE) strbuf_printf(out, ", %zu gaps", f->n_cells - f->n_present);
        if (f->neginf_upper) strbuf_puts(out, ", -inf above the diagonal");
        if (free_entries(p, f)) strbuf_printf(out, ", %zu free", free_entries(p, f));
        if (f->kind == MAT_KIND_LITERAL && f->n_except) strbuf_printf(out, ", %zu not constant", f->n_except);
        strbuf_puts(out, "\n");
    }
    strbuf_clear(&form);
    if (p->n_ambiguous) {
        strbuf_puts(out, "# ambiguous names (left out):");
        for (size_t i = 0; i < p->n_ambiguous; i++) strbuf_printf(out, "%s %s", i ? "," : "", p->ambiguous[i]);
        strbuf_puts(out, "\n");
    }
    for (size_t k = 0; k < p->n_ops; k++) {
        const mat_op *op = &p->ops[k];
        const mat_family *o = &p->mats[op->out];
        mat_print_op(out, p, op);
        if (o->kind != MAT_KIND_TEMP && (o->n_except || o->neginf_upper)) {
            strbuf_puts(out, "   #");
            if (o->neginf_upper) strbuf_puts(out, o->n_except ? " -inf above the diagonal;" : " -inf above the diagonal");
            if (o->n_except) {
                strbuf_puts(out, " except");
                for (size_t e = 0; e < o->n_except && e < MAT_PRINT_MAX_EXCEPT; e++) {
                    const char *nm = mat_entry_name(p, op->out, o->except[e]);
                    strbuf_printf(out, "%s %s", e ? "," : "", nm ? nm : "?");
                }
                if (o->n_except > MAT_PRINT_MAX_EXCEPT) strbuf_printf(out, " and %zu more", o->n_except - MAT_PRINT_MAX_EXCEPT);
            }
        }
        strbuf_puts(out, "\n");
    }
    strbuf_printf(out, "# scalar relations: %zu\n", p->n_scalar);
    for (size_t i = 0; i < p->n_scalar && i < MAT_PRINT_MAX_SCALAR; i++) {
        const mat_scalar *x = &p->scalar[i];
        strbuf_printf(out, "#   %s (line %u): %s\n", rel_name(p, x->rel), p->scr->rels[x->rel].name_pos.line,
                  mat_reason_text(x->reason));
    }
    if (p->n_scalar > MAT_PRINT_MAX_SCALAR) strbuf_printf(out, "#   ... and %zu more\n", p->n_scalar - MAT_PRINT_MAX_SCALAR);
}

/* ---- JSON ---- */

static void json_infix(strbuf *b, const term_store *s, term_id t)
{
    strbuf x;
    strbuf_init(&x);
    print_infix(&x, s, t);
    strbuf_json_string(b, strbuf_str(&x));
    strbuf_clear(&x);
}

static void json_op(strbuf *b, const mat_program *p, const mat_op *op)
{
    static const char *const view_names[] = { "none", "none", "row", "col" };
    const mat_family *o = &p->mats[op->out];
    strbuf_puts(b, "{\"out\": ");
    strbuf_json_string(b, o->name);
    strbuf_printf(b, ", \"op\": \"%s\", \"args\": [", mat_opcode_name(op->code));
    int vec = 0;
    for (uint32_t i = 0; i < op->n_args; i++) {
        if (i) strbuf_puts(b, ", ");
        strbuf_json_string(b, p->mats[op->arg[i]].name);
        vec |= op->view[i] == MAT_VIEW_ROW || op->view[i] == MAT_VIEW_COL;
    }
    strbuf_puts(b, "], \"transpose\": [");
    for (uint32_t i = 0; i < op->n_args; i++) strbuf_printf(b, "%s%s", i ? ", " : "", op->view[i] == MAT_VIEW_T ? "true" : "false");
    strbuf_puts(b, "]");
    if (vec) {
        strbuf_puts(b, ", \"broadcast\": [");
        for (uint32_t i = 0; i < op->n_args; i++) strbuf_printf(b, "%s\"%s\"", i ? ", " : "", view_names[op->view[i]]);
        strbuf_puts(b, "]");
    }
    strbuf_puts(b, ", \"shape\": [");
    if (o->rank == 3) strbuf_printf(b, "%u, ", o->batch);
    strbuf_printf(b, "%u, %u]", o->rows, o->cols);
    if (op->code == MAT_OP_MATMUL) {
        uint32_t r, inner;
        mat_arg_shape(p, op, 0, &r, &inner);
        strbuf_printf(b, ", \"inner\": %u", inner);
    }
    if ((op->code == MAT_OP_MATMUL || op->code == MAT_OP_SCALE) && op->scalar != TERM_NONE) {
        strbuf_puts(b, ", \"scale\": ");
        json_infix(b, p->store, op->scalar);
        if (op->code == MAT_OP_MATMUL) strbuf_printf(b, ", \"scale_form\": \"%s\"", op->scale_each ? "each" : "outside");
    }
    if (op->code == MAT_OP_ADD_SCALAR) {
        strbuf_puts(b, ", \"scalar\": ");
        json_infix(b, p->store, op->scalar);
    }
    if (op->code == MAT_OP_MAP) {
        strbuf_printf(b, ", \"fn\": \"%s\"", op->fn == OP_POW ? "pow" : term_op_name((term_op)op->fn));
        if (op->fn == OP_POW) {
            strbuf_puts(b, ", \"exponent\": ");
            json_infix(b, p->store, op->scalar);
        }
    }
    if (op->code == MAT_OP_SOFTMAX_ROWS || op->code == MAT_OP_MASKED_SOFTMAX_ROWS)
        strbuf_printf(b, ", \"form\": \"%s\"", op->lse ? "lse" : op->stable ? "stable" : "plain");
    if (o->kind != MAT_KIND_TEMP && o->neginf_upper) strbuf_puts(b, ", \"mask\": \"-inf above the diagonal\"");
    if (o->kind != MAT_KIND_TEMP && o->n_except) {
        strbuf_puts(b, ", \"except\": [");
        for (size_t e = 0; e < o->n_except; e++) {
            if (e) strbuf_puts(b, ", ");
            const char *nm = mat_entry_name(p, op->out, o->except[e]);
            strbuf_json_string(b, nm ? nm : "?");
        }
        strbuf_puts(b, "]");
    }
    strbuf_puts(b, "}");
}

void mat_print_json(strbuf *out, const mat_program *p)
{
    strbuf_puts(out, "{\n  \"ops\": [");
    for (size_t k = 0; k < p->n_ops; k++) {
        strbuf_puts(out, k ? ",\n    " : "\n    ");
        json_op(out, p, &p->ops[k]);
    }
    strbuf_puts(out, p->n_ops ? "\n  ],\n" : "],\n");
    strbuf_printf(out, "  \"scalar_left\": %zu,\n  \"relations\": %zu,\n  \"literal_relations\": %zu,\n  \"computed_relations\": %zu,\n",
              p->n_scalar, p->n_relations, p->n_literal, p->n_covered);
    strbuf_puts(out, "  \"inputs\": [");
    int first = 1;
    for (size_t i = 0; i < p->n_mats; i++) {
        const mat_family *f = &p->mats[i];
        if (f->kind != MAT_KIND_INPUT && f->kind != MAT_KIND_LITERAL) continue;
        strbuf_puts(out, first ? "" : ", ");
        strbuf_json_string(out, f->name);
        first = 0;
    }
    strbuf_puts(out, "],\n  \"families\": {");
    strbuf form;
    strbuf_init(&form);
    for (size_t i = 0; i < p->n_mats; i++) {
        const mat_family *f = &p->mats[i];
        strbuf_puts(out, i ? ",\n    " : "\n    ");
        strbuf_json_string(out, f->name);
        strbuf_puts(out, ": {\"base\": ");
        if (f->base) strbuf_json_string(out, f->base);
        else strbuf_puts(out, "null");
        strbuf_reset(&form);
        mat_family_form(&form, f);
        strbuf_puts(out, ", \"form\": ");
        if (f->base) strbuf_json_string(out, form.data);
        else strbuf_puts(out, "null");
        strbuf_printf(out, ", \"rank\": %u, \"shape\": [", f->rank);
        shape_text(out, f, ", ");
        strbuf_printf(out, "], \"index_base\": %u, \"kind\": \"%s\", \"entries\": %zu, \"defined\": %zu, \"gaps\": %zu, \"pattern\": \"%s\"",
                  f->index_base, kind_name(f->kind), f->n_present, f->n_defined, f->n_cells - f->n_present,
                  pattern_name(f->pattern));
        if (f->kind == MAT_KIND_OP) strbuf_printf(out, ", \"free\": %zu", free_entries(p, f));
        if (f->n_except && f->kind != MAT_KIND_TEMP) {
            strbuf_puts(out, ", \"except\": [");
            for (size_t e = 0; e < f->n_except; e++) {
                const char *nm = mat_entry_name(p, (uint32_t)i, f->except[e]);
                strbuf_printf(out, "%s", e ? ", " : "");
                strbuf_json_string(out, nm ? nm : "?");
            }
            strbuf_puts(out, "]");
        }
        strbuf_puts(out, "}");
    }
    strbuf_clear(&form);
    strbuf_puts(out, p->n_mats ? "\n  },\n" : "},\n");
    strbuf_puts(out, "  \"scalar\": [");
    for (size_t i = 0; i < p->n_scalar; i++) {
        const mat_scalar *x = &p->scalar[i];
        strbuf_puts(out, i ? ",\n    " : "\n    ");
        strbuf_puts(out, "{\"name\": ");
        strbuf_json_string(out, rel_name(p, x->rel));
        strbuf_printf(out, ", \"line\": %u, \"family\": ", p->scr->rels[x->rel].name_pos.line);
        if (x->mat >= 0) strbuf_json_string(out, p->mats[x->mat].name);
        else strbuf_puts(out, "null");
        strbuf_puts(out, ", \"reason\": ");
        strbuf_json_string(out, mat_reason_text(x->reason));
        strbuf_puts(out, "}");
    }
    strbuf_puts(out, p->n_scalar ? "\n  ],\n" : "],\n");
    strbuf_puts(out, "  \"ambiguous\": [");
    for (size_t i = 0; i < p->n_ambiguous; i++) {
        strbuf_puts(out, i ? ", " : "");
        strbuf_json_string(out, p->ambiguous[i]);
    }
    strbuf_puts(out, "]\n}\n");
}

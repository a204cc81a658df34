/* cse_emit: a program of cse as HMP text (relations that parse back), as one
 * JSON object, and as a C function over doubles. Expressions print exactly
 * the operations counted (docs/CSE.md); nesting is bounded by the schedule. */
#include "rewrite/cse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fpfmt.h"
#include "core/mem.h"
#include "rewrite/cse_impl.h"

/* What an expression prints as, weakest first (as in core/print.c: unary
 * minus binds tighter than * and /, ^ tighter than unary minus). */
enum { LV_ANY, LV_SUM, LV_PROD, LV_NEG, LV_POW, LV_ATOM };

typedef struct printer {
    const cse_program *p;
    const cse_ir *ir;
    strbuf *out;
    int c;        /* C syntax */
    char **cname; /* C: per node, the name of an input or a line */
} printer;

/* ---- leaves ---- */

static int const_is_integer(const cse_ir *ir, uint32_t m)
{
    return fmpz_is_one(fmpq_denref(num_value(&ir->s->nums, ir->nodes[m].aux)));
}

static void put_fmpz(strbuf *out, const fmpz_t z)
{
    char *str = fmpz_get_str(NULL, 10, z);
    strbuf_puts(out, str);
    flint_free(str);
}

/* |value| of a constant: HMP "3", "3/7"; C a double literal. */
static void put_const(printer *pr, uint32_t m)
{
    const fmpq *q = num_value(&pr->ir->s->nums, pr->ir->nodes[m].aux);
    if (pr->c) {
        strbuf b;
        strbuf_init(&b);
        fp_print_value(&b, fp_round_fmpq(q, FP_F64), FP_F64);
        const char *t = strbuf_str(&b);
        if (strcmp(t, "inf") == 0) strbuf_puts(pr->out, "HUGE_VAL");
        else {
            strbuf_puts(pr->out, t);
            if (!strpbrk(t, ".en")) strbuf_puts(pr->out, ".0");
        }
        strbuf_clear(&b);
        return;
    }
    put_fmpz(pr->out, fmpq_numref(q));
    if (!fmpz_is_one(fmpq_denref(q))) {
        strbuf_putc(pr->out, '/');
        put_fmpz(pr->out, fmpq_denref(q));
    }
}

static int const_level(const printer *pr, uint32_t m)
{
    return pr->c || const_is_integer(pr->ir, m) ? LV_ATOM : LV_PROD;
}

static void put_name(printer *pr, uint32_t m)
{
    const cse_ir *ir = pr->ir;
    if (pr->c) { strbuf_puts(pr->out, pr->cname[m]); return; }
    if (ir->nodes[m].kind == CK_INPUT) { strbuf_puts(pr->out, term_sym_name(ir->s, ir->nodes[m].aux)); return; }
    uint32_t line = ir->temp[m] - 1;
    if (ir->temp_name[line]) strbuf_puts(pr->out, term_sym_name(ir->s, ir->temp_name[line]));
    else strbuf_printf(pr->out, "%s%u", ir->temp_prefix, ir->temp_number[line]);
}

/* ---- expressions ---- */

static void put_node(printer *pr, uint32_t m, int neg, int min);

/* The level node m prints at, negated or not. */
static int node_level(const printer *pr, uint32_t m, int neg)
{
    const cse_ir *ir = pr->ir;
    const cse_node *nd = &ir->nodes[m];
    if (nd->kind == CK_CONST) return neg ? (const_level(pr, m) == LV_ATOM ? LV_NEG : LV_PROD) : const_level(pr, m);
    if (nd->kind == CK_NINF) return LV_NEG; /* -inf */
    if (!cse_inline_node(ir, m)) return neg ? LV_NEG : LV_ATOM;
    switch (nd->kind) {
    case CK_SUM: return LV_SUM;
    case CK_PROD: return LV_PROD;
    case CK_POWI: return neg ? LV_NEG : (pr->c ? LV_ATOM : LV_POW);
    case CK_CALL:
        if (neg) return LV_NEG;
        if (!pr->c && (nd->fn == CF_POWQ || nd->fn == OP_POW)) return LV_POW;
        return LV_ATOM;
    default: return LV_ATOM;
    }
}

static void put_sum(printer *pr, uint32_t m, int neg)
{
    const cse_ir *ir = pr->ir;
    const cse_node *nd = &ir->nodes[m];
    const cse_ref *it = cse_items(ir, m);
    int minus;
    uint32_t lead = cse_sum_leader(ir, m, neg, &minus);
    int lead_neg = cse_eff_neg(ir, it[lead]) ^ neg;
    if (lead_neg && !minus) {
        put_node(pr, CSE_NODE(it[lead]), 1, LV_SUM); /* -3, -2*x, -1/x */
    } else {
        if (lead_neg) strbuf_putc(pr->out, '-');
        put_node(pr, CSE_NODE(it[lead]), 0, lead_neg ? LV_NEG : LV_PROD);
    }
    for (uint32_t i = 0; i < nd->n; i++) {
        if (i == lead) continue;
        int s = cse_eff_neg(ir, it[i]) ^ neg;
        strbuf_puts(pr->out, s ? " - " : " + ");
        put_node(pr, CSE_NODE(it[i]), 0, LV_PROD);
    }
}

/* A factor of a product; a constant first as c*... (never below). */
static void put_factors(printer *pr, const cse_ref *it, uint32_t from, uint32_t to, int neg_first)
{
    uint32_t first = from;
    for (uint32_t i = from; i < to; i++)
        if (pr->ir->nodes[CSE_NODE(it[i])].kind == CK_CONST) { first = i; break; }
    put_node(pr, CSE_NODE(it[first]), neg_first, LV_NEG);
    for (uint32_t i = from; i < to; i++) {
        if (i == first) continue;
        strbuf_putc(pr->out, '*');
        put_node(pr, CSE_NODE(it[i]), 0, LV_NEG);
    }
}

static void put_prod(printer *pr, uint32_t m, int neg)
{
    const cse_ir *ir = pr->ir;
    const cse_node *nd = &ir->nodes[m];
    const cse_ref *it = cse_items(ir, m);
    if (nd->nnum == 0) {
        strbuf_puts(pr->out, neg ? (pr->c ? "-1.0" : "-1") : (pr->c ? "1.0" : "1"));
    } else {
        int has_const = 0;
        for (uint32_t i = 0; i < nd->nnum; i++) has_const |= ir->nodes[CSE_NODE(it[i])].kind == CK_CONST;
        if (neg && !has_const) strbuf_putc(pr->out, '-');
        put_factors(pr, it, 0, nd->nnum, neg && has_const);
    }
    uint32_t nden = nd->n - nd->nnum;
    if (nden == 0) return;
    strbuf_putc(pr->out, '/');
    if (nden == 1) {
        put_node(pr, CSE_NODE(it[nd->nnum]), 0, LV_NEG);
        return;
    }
    strbuf_putc(pr->out, '(');
    put_factors(pr, it, nd->nnum, nd->n, 0);
    strbuf_putc(pr->out, ')');
}

static const char *call_name(unsigned fn, int c)
{
    switch (fn) {
    case OP_EXP: return "exp";
    case OP_LOG: return "log";
    case OP_ABS: return c ? "fabs" : "abs";
    case OP_TANH: return "tanh";
    case OP_MAX: return c ? "fmax" : "max";
    case OP_MIN: return c ? "fmin" : "min";
    case OP_LSE: return c ? "hmp_lse" : "lse";
    case CF_SQRT: return "sqrt";
    default: return "pow";
    }
}

/* An argument: the value of the reference, its sign included. */
static void put_arg(printer *pr, cse_ref r, int min)
{
    put_node(pr, CSE_NODE(r), cse_eff_neg(pr->ir, r), min);
}

static void put_call(printer *pr, uint32_t m)
{
    const cse_ir *ir = pr->ir;
    const cse_node *nd = &ir->nodes[m];
    const cse_ref *it = cse_items(ir, m);
    strbuf *out = pr->out;
    if (!pr->c && (nd->fn == CF_POWQ || nd->fn == OP_POW)) {
        put_arg(pr, it[0], LV_ATOM);
        strbuf_putc(out, '^');
        if (nd->fn == OP_POW) {
            put_arg(pr, it[1], LV_ATOM);
            return;
        }
        const fmpq *e = num_value(&ir->s->nums, nd->aux);
        int integer = fmpz_is_one(fmpq_denref(e));
        if (!integer) strbuf_putc(out, '(');
        put_fmpz(out, fmpq_numref(e));
        if (!integer) {
            strbuf_putc(out, '/');
            put_fmpz(out, fmpq_denref(e));
            strbuf_putc(out, ')');
        }
        return;
    }
    if (pr->c && (nd->fn == OP_MAX || nd->fn == OP_MIN)) {
        /* fmax(fmax(a, b), c) */
        for (uint32_t i = 1; i < nd->n; i++) strbuf_printf(out, "%s(", call_name(nd->fn, 1));
        put_arg(pr, it[0], LV_ANY);
        for (uint32_t i = 1; i < nd->n; i++) {
            strbuf_puts(out, ", ");
            put_arg(pr, it[i], LV_ANY);
            strbuf_putc(out, ')');
        }
        return;
    }
    if (pr->c && nd->fn == OP_LSE) {
        /* hmp_lse(n, (const double[]){a, b, ...}) */
        strbuf_printf(out, "hmp_lse(%u, (const double[]){", nd->n);
        for (uint32_t i = 0; i < nd->n; i++) {
            if (i) strbuf_puts(out, ", ");
            put_arg(pr, it[i], LV_ANY);
        }
        strbuf_puts(out, "})");
        return;
    }
    strbuf_printf(out, "%s(", call_name(nd->fn, pr->c));
    for (uint32_t i = 0; i < nd->n; i++) {
        if (i) strbuf_puts(out, ", ");
        put_arg(pr, it[i], LV_ANY);
    }
    if (pr->c && nd->fn == CF_POWQ) {
        strbuf b;
        strbuf_init(&b);
        fp_print_value(&b, fp_round_fmpq(num_value(&ir->s->nums, nd->aux), FP_F64), FP_F64);
        strbuf_printf(out, ", %s%s", strbuf_str(&b), strpbrk(strbuf_str(&b), ".en") ? "" : ".0");
        strbuf_clear(&b);
    }
    strbuf_putc(out, ')');
}

/* Prints (-1)^neg times what node m computes, in parentheses when it would
 * print below min. */
static void put_node(printer *pr, uint32_t m, int neg, int min)
{
    const cse_ir *ir = pr->ir;
    const cse_node *nd = &ir->nodes[m];
    int paren = node_level(pr, m, neg) < min;
    if (paren) strbuf_putc(pr->out, '(');
    if (nd->kind == CK_CONST) {
        if (neg) strbuf_putc(pr->out, '-');
        put_const(pr, m);
    } else if (nd->kind == CK_NINF) {
        strbuf_puts(pr->out, neg ? "-(" : "");
        strbuf_puts(pr->out, pr->c ? "-INFINITY" : "-inf");
        strbuf_puts(pr->out, neg ? ")" : "");
    } else if (!cse_inline_node(ir, m)) {
        if (neg) strbuf_putc(pr->out, '-');
        put_name(pr, m);
    } else {
        switch (nd->kind) {
        case CK_SUM: put_sum(pr, m, neg); break;
        case CK_PROD: put_prod(pr, m, neg); break;
        case CK_POWI:
            if (neg) strbuf_putc(pr->out, '-');
            if (pr->c) {
                strbuf_puts(pr->out, "hmp_powi(");
                put_node(pr, CSE_NODE(cse_items(ir, m)[0]), 0, LV_ANY);
                strbuf_printf(pr->out, ", %u)", nd->aux);
            } else {
                put_node(pr, CSE_NODE(cse_items(ir, m)[0]), 0, LV_ATOM);
                strbuf_printf(pr->out, "^%u", nd->aux);
            }
            break;
        default:
            if (neg) strbuf_putc(pr->out, '-');
            put_call(pr, m);
            break;
        }
    }
    if (paren) strbuf_putc(pr->out, ')');
}

/* The right-hand side of line `line` (0-based: temporaries, then outputs). */
static void put_line_expr(printer *pr, size_t line)
{
    const cse_ir *ir = pr->ir;
    if (line < ir->n_lines) {
        uint32_t m = ir->line_node[line];
        const cse_node *nd = &ir->nodes[m];
        /* the line computes the node itself (signs go to its readers) */
        switch (nd->kind) {
        case CK_SUM: put_sum(pr, m, 0); break;
        case CK_PROD: put_prod(pr, m, 0); break;
        case CK_POWI:
            if (pr->c) {
                strbuf_puts(pr->out, "hmp_powi(");
                put_node(pr, CSE_NODE(cse_items(ir, m)[0]), 0, LV_ANY);
                strbuf_printf(pr->out, ", %u)", nd->aux);
            } else {
                put_node(pr, CSE_NODE(cse_items(ir, m)[0]), 0, LV_ATOM);
                strbuf_printf(pr->out, "^%u", nd->aux);
            }
            break;
        default: put_call(pr, m); break;
        }
        return;
    }
    put_arg(pr, ir->roots[line - ir->n_lines], LV_ANY);
}

/* ---- the public printers ---- */

size_t cse_line_count(const cse_program *p) { return p->ir ? p->ir->n_lines + p->n_outputs : 0; }

void cse_line(strbuf *name, strbuf *expr, const cse_program *p, size_t i)
{
    printer pr = { p, p->ir, name, 0, NULL };
    if (i < p->ir->n_lines) put_name(&pr, p->ir->line_node[i]);
    else strbuf_puts(name, term_sym_name(p->store, p->outputs[i - p->ir->n_lines]));
    pr.out = expr;
    put_line_expr(&pr, i);
}

static void put_name_list(strbuf *out, const term_store *s, const term_id *v, size_t n, int json)
{
    for (size_t i = 0; i < n; i++) {
        if (i) strbuf_puts(out, ", ");
        if (json) strbuf_json_string(out, term_sym_name(s, v[i]));
        else strbuf_puts(out, term_sym_name(s, v[i]));
    }
}

static void put_stages(strbuf *out, const cse_program *p)
{
    for (size_t i = 0; i < p->n_stages; i++)
        strbuf_printf(out, "%s%s %llu", i ? ", " : "", p->stages[i].name, (unsigned long long)p->stages[i].ops);
}

static void put_line(strbuf *out, const cse_program *p, size_t i)
{
    printer pr = { p, p->ir, out, 0, NULL };
    if (i < p->ir->n_lines) put_name(&pr, p->ir->line_node[i]);
    else strbuf_puts(out, term_sym_name(p->store, p->outputs[i - p->ir->n_lines]));
    strbuf_puts(out, " = ");
    put_line_expr(&pr, i);
}

void cse_print(strbuf *out, const cse_program *p)
{
    strbuf_printf(out, "# straight-line program: %zu outputs, %zu inputs, %zu temporaries\n", p->n_outputs, p->n_inputs,
              p->n_temps);
    if (p->n_inputs) {
        strbuf_puts(out, "# inputs: ");
        put_name_list(out, p->store, p->inputs, p->n_inputs, 0);
        strbuf_putc(out, '\n');
    }
    size_t lines = cse_line_count(p);
    for (size_t i = 0; i < lines; i++) {
        put_line(out, p, i);
        strbuf_putc(out, '\n');
    }
    for (size_t i = 0; i < p->n_outputs; i += 8) { /* eight names per directive */
        strbuf_puts(out, "output ");
        put_name_list(out, p->store, p->outputs + i, p->n_outputs - i < 8 ? p->n_outputs - i : 8, 0);
        strbuf_putc(out, '\n');
    }
    strbuf_puts(out, "# ops_before: ");
    put_fmpz(out, p->ops_before);
    strbuf_printf(out, "   (each output written out as a tree)\n# ops_dag: %llu   (each distinct node once)\n",
              (unsigned long long)p->ops_dag);
    strbuf_printf(out, "# ops_after: %llu\n# temporaries: %zu\n# stages: ", (unsigned long long)p->ops_after, p->n_temps);
    put_stages(out, p);
    strbuf_putc(out, '\n');
    if (p->restructured)
        strbuf_printf(out, "# bilinear: %zu sums of products of linear forms re-associated as x^T (A^T B) y\n",
                  p->n_bilinear);
}

void cse_print_json(strbuf *out, const cse_program *p)
{
    strbuf_puts(out, "{\n  \"program\": [");
    strbuf name, expr;
    strbuf_init(&name);
    strbuf_init(&expr);
    size_t lines = cse_line_count(p);
    for (size_t i = 0; i < lines; i++) {
        strbuf_reset(&name);
        strbuf_reset(&expr);
        cse_line(&name, &expr, p, i);
        strbuf_puts(out, i ? ",\n    {\"name\": " : "\n    {\"name\": ");
        strbuf_json_string(out, strbuf_str(&name));
        strbuf_puts(out, ", \"expr\": ");
        strbuf_json_string(out, strbuf_str(&expr));
        strbuf_putc(out, '}');
    }
    strbuf_clear(&name);
    strbuf_clear(&expr);
    strbuf_puts(out, lines ? "\n  ],\n  \"outputs\": [" : "],\n  \"outputs\": [");
    put_name_list(out, p->store, p->outputs, p->n_outputs, 1);
    strbuf_puts(out, "],\n  \"inputs\": [");
    put_name_list(out, p->store, p->inputs, p->n_inputs, 1);
    strbuf_puts(out, "],\n  \"ops_before\": ");
    put_fmpz(out, p->ops_before);
    strbuf_printf(out, ",\n  \"ops_dag\": %llu,\n  \"ops_after\": %llu,\n  \"temporaries\": %zu,\n  \"stages\": [",
              (unsigned long long)p->ops_dag, (unsigned long long)p->ops_after, p->n_temps);
    for (size_t i = 0; i < p->n_stages; i++)
        strbuf_printf(out, "%s{\"stage\": \"%s\", \"ops\": %llu}", i ? ", " : "", p->stages[i].name,
                  (unsigned long long)p->stages[i].ops);
    strbuf_printf(out, "],\n  \"bilinear_sums\": %zu\n}\n", p->restructured ? p->n_bilinear : (size_t)0);
}

/* ---- C ---- */

/* Identifiers the generated code uses or math.h may define. */
static const char *const c_reserved[] = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while", "in",
    "out", "hmp_outputs", "hmp_powi", "hmp_lse", "exp", "log", "log1p", "sqrt", "pow", "fabs", "tanh", "fmax", "fmin",
    "INFINITY",
    "NAN", "math_errhandling", NULL
};

static int c_name_reserved(const char *n)
{
    for (size_t i = 0; c_reserved[i]; i++)
        if (strcmp(n, c_reserved[i]) == 0) return 1;
    static const char *const prefixes[] = { "M_", "FP_", "MATH_", "HUGE_", "_", NULL };
    for (size_t i = 0; prefixes[i]; i++)
        if (strncmp(n, prefixes[i], strlen(prefixes[i])) == 0) return 1;
    return 0;
}

/* A set of names given out (open addressing). */
typedef struct name_set {
    char **v;
    size_t mask, n;
} name_set;

static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return mem_mix64(h);
}

static int set_has(const name_set *set, const char *s)
{
    for (size_t i = name_hash(s) & set->mask; set->v[i]; i = (i + 1) & set->mask)
        if (strcmp(set->v[i], s) == 0) return 1;
    return 0;
}

static void set_add(name_set *set, char *s)
{
    if (2 * (set->n + 1) > set->mask + 1) {
        size_t cap = 2 * (set->mask + 1);
        char **v = mem_calloc(cap, sizeof *v);
        for (size_t k = 0; k <= set->mask; k++) {
            if (!set->v[k]) continue;
            size_t i = name_hash(set->v[k]) & (cap - 1);
            while (v[i]) i = (i + 1) & (cap - 1);
            v[i] = set->v[k];
        }
        free(set->v);
        set->v = v;
        set->mask = cap - 1;
    }
    size_t i = name_hash(s) & set->mask;
    while (set->v[i]) i = (i + 1) & set->mask;
    set->v[i] = s;
    set->n++;
}

/* A valid, unused C identifier for name: other characters become '_', and
 * a suffix _2, _3 ... separates names that collide. */
static char *c_name(name_set *set, const char *name)
{
    strbuf b;
    strbuf_init(&b);
    for (const char *c = name; *c; c++) {
        int ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_';
        strbuf_putc(&b, ok ? *c : '_');
    }
    while (b.len > 1 && b.data[b.len - 1] == '_') b.data[--b.len] = '\0';
    if (b.len == 0 || (b.data[0] >= '0' && b.data[0] <= '9') || c_name_reserved(strbuf_str(&b))) {
        char *old = mem_strdup(strbuf_str(&b));
        strbuf_reset(&b);
        strbuf_printf(&b, "v_%s", old);
        free(old);
    }
    char *base = mem_strdup(strbuf_str(&b));
    for (unsigned k = 2; set_has(set, strbuf_str(&b)); k++) {
        strbuf_reset(&b);
        strbuf_printf(&b, "%s_%u", base, k);
    }
    free(base);
    char *out = mem_strdup(strbuf_str(&b));
    strbuf_clear(&b);
    set_add(set, out);
    return out;
}

void cse_emit_c(strbuf *out, const cse_program *p)
{
    const cse_ir *ir = p->ir;
    name_set set = { mem_calloc(64, sizeof(char *)), 63, 0 };
    char **cname = mem_calloc(ir->n_nodes, sizeof *cname);
    strbuf tmp;
    strbuf_init(&tmp);
    /* inputs by their INPUT node (an input the program no longer reads gets
     * a name all the same) */
    char **input_name = mem_calloc(p->n_inputs + 1, sizeof *input_name);
    for (size_t i = 0; i < p->n_inputs; i++) input_name[i] = c_name(&set, term_sym_name(p->store, p->inputs[i]));
    uint32_t *input_at = mem_calloc((size_t)term_count(p->store) + 1, sizeof *input_at); /* index + 1 */
    unsigned char *read = mem_calloc(p->n_inputs + 1, 1);
    for (size_t i = 0; i < p->n_inputs; i++) input_at[p->inputs[i]] = (uint32_t)i + 1;
    for (uint32_t m = 1; m < ir->n_nodes; m++) {
        if (ir->nodes[m].kind != CK_INPUT || !input_at[ir->nodes[m].aux]) continue;
        cname[m] = input_name[input_at[ir->nodes[m].aux] - 1];
        if (ir->uses[m]) read[input_at[ir->nodes[m].aux] - 1] = 1;
    }
    free(input_at);
    for (size_t line = 0; line < ir->n_lines; line++) {
        uint32_t m = ir->line_node[line];
        strbuf_reset(&tmp);
        printer pr0 = { p, ir, &tmp, 0, NULL };
        put_name(&pr0, m);
        cname[m] = c_name(&set, strbuf_str(&tmp));
    }
    strbuf_puts(out, "/* hmp_outputs: the outputs of an HMP script as a straight-line program\n"
                 " * (hmp cse --emit c). in[i] is the i-th input, out[i] the i-th output:\n");
    for (size_t i = 0; i < p->n_inputs; i++) {
        strbuf_printf(out, " *   in[%zu] = %s", i, term_sym_name(p->store, p->inputs[i]));
        if (strcmp(input_name[i], term_sym_name(p->store, p->inputs[i])) != 0) strbuf_printf(out, " (%s)", input_name[i]);
        strbuf_putc(out, '\n');
    }
    for (size_t i = 0; i < p->n_outputs; i++) strbuf_printf(out, " *   out[%zu] = %s\n", i, term_sym_name(p->store, p->outputs[i]));
    strbuf_puts(out, " * Numbers of the script are constants, rounded to the nearest double.\n * Operations: ");
    strbuf_printf(out, "%llu (", (unsigned long long)p->ops_after);
    put_fmpz(out, p->ops_before);
    strbuf_printf(out, " with nothing shared, %llu with the DAG shared). */\n", (unsigned long long)p->ops_dag);
    strbuf_puts(out, "#include <math.h>\n\n"
                 "static inline double hmp_powi(double x, unsigned k)\n"
                 "{\n"
                 "    double r = 1.0;\n"
                 "    for (; k; k >>= 1, x *= x)\n"
                 "        if (k & 1) r *= x;\n"
                 "    return r;\n"
                 "}\n\n");
    int lse = 0;
    for (size_t k = 0; k < ir->n_order && !lse; k++)
        lse = ir->nodes[ir->order[k]].kind == CK_CALL && ir->nodes[ir->order[k]].fn == OP_LSE;
    if (lse)
        strbuf_puts(out, "/* log(exp(x[0]) + ... + exp(x[n-1])) with the largest x[j] taken out:\n"
                     " * x[j] + log1p(sum over i != j of exp(x[i] - x[j])), so no exp\n"
                     " * overflows; -INFINITY when every x[i] is. */\n"
                     "static double hmp_lse(int n, const double *x)\n"
                     "{\n"
                     "    int j = 0;\n"
                     "    for (int i = 1; i < n; i++)\n"
                     "        if (x[i] > x[j]) j = i;\n"
                     "    if (x[j] == -INFINITY) return -INFINITY;\n"
                     "    double s = 0.0;\n"
                     "    for (int i = 0; i < n; i++)\n"
                     "        if (i != j) s += exp(x[i] - x[j]);\n"
                     "    return x[j] + log1p(s);\n"
                     "}\n\n");
    strbuf_puts(out, "void hmp_outputs(const double *in, double *out)\n{\n");
    if (!p->n_inputs) strbuf_puts(out, "    (void)in;\n");
    if (!p->n_outputs) strbuf_puts(out, "    (void)out;\n");
    for (size_t i = 0; i < p->n_inputs; i++) strbuf_printf(out, "    const double %s = in[%zu];\n", input_name[i], i);
    for (size_t i = 0; i < p->n_inputs; i++)
        if (!read[i]) strbuf_printf(out, "    (void)%s;\n", input_name[i]);
    free(read);
    printer pr = { p, ir, out, 1, cname };
    for (size_t line = 0; line < ir->n_lines; line++) {
        uint32_t m = ir->line_node[line];
        strbuf_printf(out, "    const double %s = ", cname[m]);
        put_line_expr(&pr, line);
        strbuf_puts(out, ";");
        strbuf_reset(&tmp);
        printer pr0 = { p, ir, &tmp, 0, NULL };
        put_name(&pr0, m);
        if (strcmp(strbuf_str(&tmp), cname[m]) != 0) strbuf_printf(out, " /* %s */", strbuf_str(&tmp));
        strbuf_putc(out, '\n');
    }
    for (size_t i = 0; i < p->n_outputs; i++) {
        strbuf_printf(out, "    out[%zu] = ", i);
        put_line_expr(&pr, ir->n_lines + i);
        strbuf_printf(out, "; /* %s */\n", term_sym_name(p->store, p->outputs[i]));
    }
    strbuf_puts(out, "}\n");
    strbuf_clear(&tmp);
    for (size_t k = 0; k <= set.mask; k++) free(set.v[k]);
    free(set.v);
    free(cname);
    free(input_name);
}

/* print: terms as infix text that parses back to the same term, as LaTeX, and
 * as a Graphviz DOT digraph. The text printers walk a term with an explicit
 * stack of pending items, so a term's depth never reaches the C stack. */
#include "core/print.h"
#include "core/mem.h"
#include "core/vec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What an item prints as, weakest first. A context asks for a minimum and
 * gets parentheses below it. Unary minus binds tighter than * and /, ^ binds
 * tighter than unary minus and is right-associative: -x^2 = -(x^2), x^y^z =
 * x^(y^z). */
enum {
    PREC_ANY = 0,
    PREC_SUM,
    PREC_PROD,
    PREC_NEG,
    PREC_POW,
    PREC_ATOM,
    PREC_PASS /* prints as one of its parts, which asks for its own parentheses */
};

typedef enum item_kind {
    ITEM_TEXT,  /* literal text */
    ITEM_TERM,  /* a term; a NUM or MUL with neg set prints negated */
    ITEM_RECIP, /* POW(b, e), e a negative number, printed as b^(-e) */
    ITEM_NUMER, /* |numerator| of a NUM term */
    ITEM_DENOM  /* denominator of a NUM term */
} item_kind;

typedef struct item {
    uint8_t kind, min, neg;
    term_id t;
    const char *text;
} item;

typedef struct item_vec {
    item *v;
    size_t n, cap;
} item_vec;

typedef struct printer {
    const term_store *s;
    strbuf *out;
    int latex;
    item_vec stack; /* pending items, the next one on top */
    item_vec line;  /* the items of one expansion, in reading order */
} printer;

static void items_push(item_vec *x, item it) { VEC_PUSH(x->v, x->n, x->cap, it); }

static void emit_text(printer *p, const char *text)
{
    items_push(&p->line, (item){ .kind = ITEM_TEXT, .text = text });
}

static void emit_term(printer *p, term_id t, int min, int neg)
{
    items_push(&p->line, (item){ .kind = ITEM_TERM, .min = (uint8_t)min, .neg = (uint8_t)neg, .t = t });
}

static void emit(printer *p, item_kind kind, term_id t, int min)
{
    items_push(&p->line, (item){ .kind = (uint8_t)kind, .min = (uint8_t)min, .t = t });
}

/* ---- numbers ---- */

/* |z| in decimal. */
static void put_fmpz_abs(strbuf *out, const fmpz_t z)
{
    if (fmpz_fits_si(z)) {
        slong v = fmpz_get_si(z);
        strbuf_printf(out, "%lu", v < 0 ? 0UL - (unsigned long)v : (unsigned long)v);
        return;
    }
    char *str = fmpz_get_str(NULL, 10, z);
    strbuf_puts(out, str[0] == '-' ? str + 1 : str);
    flint_free(str);
}

/* A number as infix: 3, -3, 3/7, -3/7 (negated when neg is set). */
static void put_num_infix(strbuf *out, const fmpq *v, int neg)
{
    if (fmpq_sgn(v) * (neg ? -1 : 1) < 0) strbuf_putc(out, '-');
    put_fmpz_abs(out, fmpq_numref(v));
    if (!fmpz_is_one(fmpq_denref(v))) {
        strbuf_putc(out, '/');
        put_fmpz_abs(out, fmpq_denref(v));
    }
}

static int q_is(const fmpq *q, slong num, slong den)
{
    return fmpz_equal_si(fmpq_numref(q), num) && fmpz_equal_si(fmpq_denref(q), den);
}

static int is_num(const term_store *s, term_id t) { return term_op_of(s, t) == OP_NUM; }

/* Terms that mention -inf are formal (core/term.h): their arguments are
 * sorted by id and not in canonical shape (several numbers in a product, a
 * sum inside a sum). They print argument by argument, each one parenthesised
 * as needed, so that the parser, building through the same constructors,
 * gets the same term back. The one special shape: (-1)*v prints as -v. */
static int is_formal_neg(const term_store *s, term_id t)
{
    return term_has_ninf(s, t) && term_op_of(s, t) == OP_MUL && term_nargs(s, t) == 2 &&
           term_arg(s, t, 0) == s->minus_one;
}

/* Prints with a leading minus: a negative number, or a product whose
 * coefficient is negative, or a formal -v. Sums write these as subtractions. */
static int is_negative(const term_store *s, term_id t)
{
    if (term_has_ninf(s, t)) return is_formal_neg(s, t);
    if (term_op_of(s, t) == OP_MUL) t = term_arg(s, t, 0);
    return is_num(s, t) && fmpq_sgn(term_value(s, t)) < 0;
}

/* POW(b, e), e a negative number: written as a division by b^(-e). Not for
 * b = 0: 0^2 folds to 0, so 1/0^2 would read back as 0^-1; 0^(-2) stays. */
static int is_recip(const term_store *s, term_id t)
{
    if (term_op_of(s, t) != OP_POW || term_has_ninf(s, t)) return 0;
    term_id b = term_arg(s, t, 0), e = term_arg(s, t, 1);
    if (!is_num(s, e) || fmpq_sgn(term_value(s, e)) >= 0) return 0;
    return !(is_num(s, b) && fmpq_is_zero(term_value(s, b)));
}

static int is_sqrt(const term_store *s, term_id t)
{
    if (term_op_of(s, t) != OP_POW) return 0;
    term_id e = term_arg(s, t, 1);
    return is_num(s, e) && q_is(term_value(s, e), 1, 2);
}

/* ---- products ----
 * A product prints as  [-] numerator [/ denominator]: the numerator is the
 * coefficient's |numerator| (left out when 1 and a factor follows) and the
 * factors with positive exponent; the denominator is the coefficient's
 * denominator and b^(-e) for each factor b^e with e < 0. A lone b^e, e < 0,
 * is the product 1/b^(-e). Integer powers distribute over products and nested
 * powers combine, so x/(7*y) reads back as 1/7 * x * y^-1. */
typedef struct product {
    term_id coeff;    /* NUM term, or TERM_NONE for 1 */
    const term_id *f; /* the factors */
    uint32_t n;
    term_id lone;     /* storage for f when t is a lone power */
    int sign;
    int show_numer, show_denom;
    uint32_t n_up, n_down; /* factors above and below the bar */
} product;

static void product_of(product *pr, const term_store *s, term_id t, int neg)
{
    pr->coeff = TERM_NONE;
    if (term_op_of(s, t) == OP_MUL) {
        pr->f = term_args(s, t);
        pr->n = term_nargs(s, t);
        if (is_num(s, pr->f[0])) {
            pr->coeff = pr->f[0];
            pr->f++;
            pr->n--;
        }
    } else {
        pr->lone = t;
        pr->f = &pr->lone;
        pr->n = 1;
    }
    const fmpq *c = pr->coeff ? term_value(s, pr->coeff) : NULL;
    pr->sign = (c ? fmpq_sgn(c) : 1) * (neg ? -1 : 1);
    pr->n_down = 0;
    for (uint32_t i = 0; i < pr->n; i++) pr->n_down += (uint32_t)is_recip(s, pr->f[i]);
    pr->n_up = pr->n - pr->n_down;
    pr->show_numer = (c && !fmpz_is_pm1(fmpq_numref(c))) || pr->n_up == 0;
    pr->show_denom = c && !fmpz_is_one(fmpq_denref(c));
}

static int product_prec(const product *pr)
{
    uint32_t above = (uint32_t)pr->show_numer + pr->n_up;
    uint32_t below = (uint32_t)pr->show_denom + pr->n_down;
    if (below > 0 || above > 1) return PREC_PROD;
    return pr->sign < 0 ? PREC_NEG : PREC_PASS;
}

static int item_prec(const printer *p, const item *it)
{
    const term_store *s = p->s;
    term_id t = it->t;
    if (it->kind == ITEM_RECIP) {
        const fmpq *e = term_value(s, term_arg(s, t, 1));
        if (q_is(e, -1, 1)) return PREC_PASS;
        if (q_is(e, -1, 2)) return PREC_ATOM;
        return PREC_POW;
    }
    switch (term_op_of(s, t)) {
    case OP_NUM: {
        const fmpq *v = term_value(s, t);
        if (!fmpz_is_one(fmpq_denref(v))) return PREC_PROD;
        return fmpq_sgn(v) * (it->neg ? -1 : 1) < 0 ? PREC_NEG : PREC_ATOM;
    }
    case OP_ADD: return PREC_SUM;
    case OP_NINF: return PREC_NEG;
    case OP_MUL: {
        if (term_has_ninf(s, t)) {
            if (!is_formal_neg(s, t)) return PREC_PROD;
            return it->neg ? PREC_PASS : PREC_NEG; /* negated, (-1)*v prints as v */
        }
        product pr;
        product_of(&pr, s, t, it->neg);
        return product_prec(&pr);
    }
    case OP_POW:
        if (is_recip(s, t)) return PREC_PROD;
        return is_sqrt(s, t) ? PREC_ATOM : PREC_POW;
    case OP_EXP: return p->latex ? PREC_POW : PREC_ATOM; /* e^{x} in LaTeX */
    default: return PREC_ATOM;
    }
}

/* ---- infix ---- */

static void emit_summand(printer *p, term_id u, int first)
{
    if (first) {
        emit_term(p, u, PREC_PROD, 0);
    } else if (u == p->s->neg_inf) { /* a - inf reads as a + -inf */
        emit_text(p, p->latex ? " - \\infty" : " - inf");
    } else if (is_negative(p->s, u)) {
        emit_text(p, " - ");
        emit_term(p, u, PREC_PROD, 1);
    } else {
        emit_text(p, " + ");
        emit_term(p, u, PREC_PROD, 0);
    }
}

/* sum -> term { ('+' | '-') term }: the terms in stored order, the constant
 * last; a term with a negative coefficient is subtracted. */
static void expand_sum(printer *p, term_id t)
{
    const term_store *s = p->s;
    uint32_t n = term_nargs(s, t);
    const term_id *a = term_args(s, t);
    uint32_t start = is_num(s, a[0]) ? 1 : 0;
    for (uint32_t i = start; i < n; i++) emit_summand(p, a[i], i == start);
    if (start) emit_summand(p, a[0], 0);
}

static void expand_product_infix(printer *p, term_id t, int neg, int min)
{
    product pr;
    product_of(&pr, p->s, t, neg);
    if (product_prec(&pr) == PREC_PASS) { /* 1*x: just x */
        emit_term(p, pr.f[0], min, 0);
        return;
    }
    if (pr.sign < 0) emit_text(p, "-");
    int first = 1;
    if (pr.show_numer) {
        if (pr.coeff) emit(p, ITEM_NUMER, pr.coeff, 0);
        else emit_text(p, "1");
        first = 0;
    }
    for (uint32_t i = 0; i < pr.n; i++) {
        if (is_recip(p->s, pr.f[i])) continue;
        if (!first) emit_text(p, "*");
        emit_term(p, pr.f[i], PREC_POW, 0);
        first = 0;
    }
    uint32_t below = (uint32_t)pr.show_denom + pr.n_down;
    if (!below) return;
    emit_text(p, below > 1 ? "/(" : "/");
    first = 1;
    if (pr.show_denom) {
        emit(p, ITEM_DENOM, pr.coeff, 0);
        first = 0;
    }
    for (uint32_t i = 0; i < pr.n; i++) {
        if (!is_recip(p->s, pr.f[i])) continue;
        if (!first) emit_text(p, "*");
        emit(p, ITEM_RECIP, pr.f[i], PREC_POW);
        first = 0;
    }
    if (below > 1) emit_text(p, ")");
}

/* A product that mentions -inf: its arguments in stored order, or -v. neg:
 * it is subtracted (only -v is), so v is printed. */
static void expand_formal_product(printer *p, term_id t, int neg, int min)
{
    const term_store *s = p->s;
    if (is_formal_neg(s, t)) {
        term_id v = term_arg(s, t, 1);
        if (neg) { /* v, in parentheses when it starts with a minus itself */
            item iv = { .kind = ITEM_TERM, .t = v };
            emit_term(p, v, item_prec(p, &iv) == PREC_NEG ? PREC_POW : min, 0);
        } else {
            emit_text(p, "-");
            emit_term(p, v, PREC_POW, 0);
        }
        return;
    }
    uint32_t n = term_nargs(s, t);
    for (uint32_t i = 0; i < n; i++) {
        if (i) emit_text(p, p->latex ? " \\cdot " : "*");
        emit_term(p, term_arg(s, t, i), PREC_POW, 0);
    }
}

static const char *call_name(term_op op)
{
    switch (op) {
    case OP_EXP: return "exp";
    case OP_LOG: return "log";
    case OP_ABS: return "abs";
    case OP_TANH: return "tanh";
    case OP_MAX: return "max";
    case OP_MIN: return "min";
    case OP_LSE: return "lse";
    default: return NULL;
    }
}

static void broken(const char *what, term_id t)
{
    fprintf(stderr, "hmp: print: %s (term %u)\n", what, (unsigned)t);
    abort();
}

static void expand_infix(printer *p, const item *it)
{
    const term_store *s = p->s;
    term_id t = it->t;
    if (it->kind == ITEM_RECIP) {
        term_id b = term_arg(s, t, 0), e = term_arg(s, t, 1);
        if (q_is(term_value(s, e), -1, 1)) {
            emit_term(p, b, it->min, 0);
        } else if (q_is(term_value(s, e), -1, 2)) {
            emit_text(p, "sqrt(");
            emit_term(p, b, PREC_ANY, 0);
            emit_text(p, ")");
        } else {
            emit_term(p, b, PREC_ATOM, 0);
            emit_text(p, "^");
            emit_term(p, e, PREC_POW, 1);
        }
        return;
    }
    term_op op = term_op_of(s, t);
    switch (op) {
    case OP_NUM: put_num_infix(p->out, term_value(s, t), it->neg); return;
    case OP_SYM: strbuf_puts(p->out, term_sym_name(s, t)); return;
    case OP_ADD: expand_sum(p, t); return;
    case OP_NINF: strbuf_puts(p->out, "-inf"); return;
    case OP_MUL:
        if (term_has_ninf(s, t)) expand_formal_product(p, t, it->neg, it->min);
        else expand_product_infix(p, t, it->neg, it->min);
        return;
    case OP_POW:
        if (is_recip(s, t)) {
            expand_product_infix(p, t, 0, it->min);
        } else if (is_sqrt(s, t)) {
            emit_text(p, "sqrt(");
            emit_term(p, term_arg(s, t, 0), PREC_ANY, 0);
            emit_text(p, ")");
        } else {
            emit_term(p, term_arg(s, t, 0), PREC_ATOM, 0);
            emit_text(p, "^");
            emit_term(p, term_arg(s, t, 1), PREC_POW, 0);
        }
        return;
    case OP_EXP:
    case OP_LOG:
    case OP_ABS:
    case OP_TANH:
    case OP_MAX:
    case OP_MIN:
    case OP_LSE: {
        uint32_t n = term_nargs(s, t);
        /* the name and "(" as one literal: "exp(" */
        static const char *const open[OP_COUNT_] = {
            [OP_EXP] = "exp(", [OP_LOG] = "log(", [OP_ABS] = "abs(",
            [OP_TANH] = "tanh(", [OP_MAX] = "max(", [OP_MIN] = "min(",
            [OP_LSE] = "lse(",
        };
        emit_text(p, open[op]);
        for (uint32_t i = 0; i < n; i++) {
            if (i) emit_text(p, ", ");
            emit_term(p, term_arg(s, t, i), PREC_ANY, 0);
        }
        emit_text(p, ")");
        return;
    }
    default: broken("unknown operator", t);
    }
}

/* ---- LaTeX ---- */

/* LaTeX names. An index form becomes a subscript: x_1_2 and x[1,2] give
 * x_{1,2}; digits glued to the end of the leading part are an index too:
 * s12 gives s_{12}, q1_1 gives q_{1,1}, Wq11 gives \mathrm{Wq}_{11}. The base
 * is written as is when one letter, as its command when the name of a Greek
 * letter (alpha gives \alpha), else upright (\mathrm{Wq}). A name fitting
 * none of this (x__1) is written upright whole, with \_ for _. */
static const char *const greek[] = {
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
    "lambda", "mu", "nu", "xi", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
    "omega", "Gamma", "Delta", "Theta", "Lambda", "Xi", "Pi", "Sigma", "Upsilon", "Phi",
    "Psi", "Omega",
};

static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_alnum(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Index part after the head: "" or "_i_j..." or "[i,j,...]", every index a
 * nonempty run of letters and digits. */
static int index_tail_ok(const char *tail)
{
    if (*tail == '\0') return 1;
    char sep = *tail == '_' ? '_' : ',';
    const char *p = tail + 1, *end = tail + strlen(tail);
    if (*tail == '[') {
        if (end[-1] != ']') return 0;
        end--;
    } else if (*tail != '_') {
        return 0;
    }
    if (p == end) return 0;
    size_t run = 0;
    for (; p < end; p++) {
        if (*p == sep) {
            if (!run) return 0;
            run = 0;
        } else if (is_alnum(*p)) {
            run++;
        } else {
            return 0;
        }
    }
    return run > 0;
}

static void put_latex_name(strbuf *out, const char *name)
{
    size_t head = strcspn(name, "_[");
    size_t letters = head;
    while (letters > 0 && is_digit(name[letters - 1])) letters--;
    const char *tail = name + head;
    int ok = letters > 0 && index_tail_ok(tail);
    for (size_t i = 0; ok && i < head; i++) ok = is_alnum(name[i]);
    if (!ok) {
        strbuf_puts(out, "\\mathrm{");
        for (const char *c = name; *c; c++) {
            if (*c == '_') strbuf_puts(out, "\\_");
            else strbuf_putc(out, *c);
        }
        strbuf_putc(out, '}');
        return;
    }
    int is_greek = 0;
    for (size_t i = 0; i < sizeof greek / sizeof greek[0]; i++)
        if (strlen(greek[i]) == letters && strncmp(greek[i], name, letters) == 0) is_greek = 1;
    if (letters == 1) {
        strbuf_putc(out, name[0]);
    } else if (is_greek) {
        strbuf_putc(out, '\\');
        strbuf_putn(out, name, letters);
    } else {
        strbuf_puts(out, "\\mathrm{");
        strbuf_putn(out, name, letters);
        strbuf_putc(out, '}');
    }
    if (letters == head && *tail == '\0') return;
    strbuf_puts(out, "_{");
    strbuf_putn(out, name + letters, head - letters);
    if (*tail) {
        if (letters < head) strbuf_putc(out, ',');
        const char *end = tail + strlen(tail) - (*tail == '[');
        for (const char *c = tail + 1; c < end; c++) strbuf_putc(out, *c == '_' ? ',' : *c);
    }
    strbuf_puts(out, "}");
}

static void put_num_latex(strbuf *out, const fmpq *v, int neg)
{
    if (fmpq_sgn(v) * (neg ? -1 : 1) < 0) strbuf_putc(out, '-');
    if (fmpz_is_one(fmpq_denref(v))) {
        put_fmpz_abs(out, fmpq_numref(v));
        return;
    }
    strbuf_puts(out, "\\frac{");
    put_fmpz_abs(out, fmpq_numref(v));
    strbuf_puts(out, "}{");
    put_fmpz_abs(out, fmpq_denref(v));
    strbuf_putc(out, '}');
}

/* Whether a factor's LaTeX starts with a digit (2^{\frac{1}{3}}): then it is
 * joined with \cdot rather than a space. */
static int latex_digit_first(const term_store *s, term_id f, int recip)
{
    if (term_op_of(s, f) != OP_POW || is_sqrt(s, f)) return 0;
    term_id b = term_arg(s, f, 0), e = term_arg(s, f, 1);
    if (!is_num(s, b) || fmpq_sgn(term_value(s, b)) < 0 || !fmpz_is_one(fmpq_denref(term_value(s, b))))
        return 0;
    return !recip || !q_is(term_value(s, e), -1, 2);
}

static void expand_product_latex(printer *p, term_id t, int neg, int min)
{
    const term_store *s = p->s;
    product pr;
    product_of(&pr, s, t, neg);
    if (product_prec(&pr) == PREC_PASS) {
        emit_term(p, pr.f[0], min, 0);
        return;
    }
    uint32_t above = (uint32_t)pr.show_numer + pr.n_up;
    uint32_t below = (uint32_t)pr.show_denom + pr.n_down;
    if (pr.sign < 0) emit_text(p, "-");
    if (below) emit_text(p, "\\frac{");
    /* one item alone between the braces of \frac needs no parentheses */
    int fmin = below && above == 1 ? PREC_ANY : PREC_POW;
    int first = 1;
    if (pr.show_numer) {
        if (pr.coeff) emit(p, ITEM_NUMER, pr.coeff, 0);
        else emit_text(p, "1");
        first = 0;
    }
    for (uint32_t i = 0; i < pr.n; i++) {
        if (is_recip(s, pr.f[i])) continue;
        if (!first) emit_text(p, latex_digit_first(s, pr.f[i], 0) ? " \\cdot " : " ");
        emit_term(p, pr.f[i], fmin, 0);
        first = 0;
    }
    if (!below) return;
    emit_text(p, "}{");
    fmin = below == 1 ? PREC_ANY : PREC_POW;
    first = 1;
    if (pr.show_denom) {
        emit(p, ITEM_DENOM, pr.coeff, 0);
        first = 0;
    }
    for (uint32_t i = 0; i < pr.n; i++) {
        if (!is_recip(s, pr.f[i])) continue;
        if (!first) emit_text(p, latex_digit_first(s, pr.f[i], 1) ? " \\cdot " : " ");
        emit(p, ITEM_RECIP, pr.f[i], fmin);
        first = 0;
    }
    emit_text(p, "}");
}

static void expand_latex(printer *p, const item *it)
{
    const term_store *s = p->s;
    term_id t = it->t;
    if (it->kind == ITEM_RECIP) {
        term_id b = term_arg(s, t, 0), e = term_arg(s, t, 1);
        if (q_is(term_value(s, e), -1, 1)) {
            emit_term(p, b, it->min, 0);
        } else if (q_is(term_value(s, e), -1, 2)) {
            emit_text(p, "\\sqrt{");
            emit_term(p, b, PREC_ANY, 0);
            emit_text(p, "}");
        } else {
            emit_term(p, b, PREC_ATOM, 0);
            emit_text(p, "^{");
            emit_term(p, e, PREC_ANY, 1);
            emit_text(p, "}");
        }
        return;
    }
    term_op op = term_op_of(s, t);
    switch (op) {
    case OP_NUM: put_num_latex(p->out, term_value(s, t), it->neg); return;
    case OP_SYM: put_latex_name(p->out, term_sym_name(s, t)); return;
    case OP_ADD: expand_sum(p, t); return;
    case OP_NINF: strbuf_puts(p->out, "-\\infty"); return;
    case OP_MUL:
        if (term_has_ninf(s, t)) expand_formal_product(p, t, it->neg, it->min);
        else expand_product_latex(p, t, it->neg, it->min);
        return;
    case OP_POW:
        if (is_recip(s, t)) {
            expand_product_latex(p, t, 0, it->min);
        } else if (is_sqrt(s, t)) {
            emit_text(p, "\\sqrt{");
            emit_term(p, term_arg(s, t, 0), PREC_ANY, 0);
            emit_text(p, "}");
        } else {
            emit_term(p, term_arg(s, t, 0), PREC_ATOM, 0);
            emit_text(p, "^{");
            emit_term(p, term_arg(s, t, 1), PREC_ANY, 0);
            emit_text(p, "}");
        }
        return;
    case OP_EXP:
        emit_text(p, "e^{");
        emit_term(p, term_arg(s, t, 0), PREC_ANY, 0);
        emit_text(p, "}");
        return;
    case OP_ABS:
        emit_text(p, "\\left|");
        emit_term(p, term_arg(s, t, 0), PREC_ANY, 0);
        emit_text(p, "\\right|");
        return;
    case OP_LOG:
    case OP_TANH:
    case OP_MAX:
    case OP_MIN:
    case OP_LSE: {
        static const char *const open[OP_COUNT_] = {
            [OP_LOG] = "\\log\\left(", [OP_TANH] = "\\tanh\\left(",
            [OP_MAX] = "\\max\\left(", [OP_MIN] = "\\min\\left(",
            [OP_LSE] = "\\operatorname{lse}\\left(",
        };
        uint32_t n = term_nargs(s, t);
        emit_text(p, open[op]);
        for (uint32_t i = 0; i < n; i++) {
            if (i) emit_text(p, ", ");
            emit_term(p, term_arg(s, t, i), PREC_ANY, 0);
        }
        emit_text(p, "\\right)");
        return;
    }
    default: broken("unknown operator", t);
    }
}

/* ---- the walk ---- */

static void print_text(strbuf *out, const term_store *s, term_id t, int latex)
{
    if (t == TERM_NONE || t > term_count(s)) broken("no such term", t);
    printer p = { .s = s, .out = out, .latex = latex };
    const char *open = latex ? "\\left(" : "(", *close = latex ? "\\right)" : ")";
    items_push(&p.stack, (item){ .kind = ITEM_TERM, .min = PREC_ANY, .t = t });
    while (p.stack.n > 0) {
        item it = p.stack.v[--p.stack.n];
        switch (it.kind) {
        case ITEM_TEXT: strbuf_puts(out, it.text); continue;
        case ITEM_NUMER: put_fmpz_abs(out, fmpq_numref(term_value(s, it.t))); continue;
        case ITEM_DENOM: put_fmpz_abs(out, fmpq_denref(term_value(s, it.t))); continue;
        default: break;
        }
        if (item_prec(&p, &it) < it.min) {
            items_push(&p.stack, (item){ .kind = ITEM_TEXT, .text = close });
            it.min = PREC_ANY;
            items_push(&p.stack, it);
            items_push(&p.stack, (item){ .kind = ITEM_TEXT, .text = open });
            continue;
        }
        p.line.n = 0;
        if (latex) expand_latex(&p, &it);
        else expand_infix(&p, &it);
        for (size_t i = p.line.n; i-- > 0;) items_push(&p.stack, p.line.v[i]);
    }
    free(p.stack.v);
    free(p.line.v);
}

void print_infix(strbuf *out, const term_store *s, term_id t) { print_text(out, s, t, 0); }
void print_latex(strbuf *out, const term_store *s, term_id t) { print_text(out, s, t, 1); }

/* ---- DOT ---- */

/* text as a DOT string literal: quotes and backslashes escaped, line breaks
 * as \n, other control bytes dropped. */
static void put_dot_string(strbuf *out, const char *text)
{
    strbuf_putc(out, '"');
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\') {
            strbuf_putc(out, '\\');
            strbuf_putc(out, (char)*c);
        } else if (*c == '\n') {
            strbuf_puts(out, "\\n");
        } else if (*c >= 0x20) {
            strbuf_putc(out, (char)*c);
        }
    }
    strbuf_putc(out, '"');
}

void print_dot(strbuf *out, const term_store *s, const term_id *roots, const char *const *labels, size_t n)
{
    uint32_t count = term_count(s);
    unsigned char *mark = calloc((size_t)count + 1, 1);
    if (!mark) mem_fail();
    for (size_t i = 0; i < n; i++)
        if (roots[i] > count) broken("no such term", roots[i]);
    term_mark_reachable(mark, s, roots, n);
    strbuf label;
    strbuf_init(&label);
    strbuf_puts(out, "digraph hmp {\n  ordering=out;\n  node [fontname=\"Helvetica\"];\n");
    /* increasing ids: arguments before their parents, same order every run */
    for (term_id t = 1; t <= count; t++) {
        if (!mark[t]) continue;
        term_op op = term_op_of(s, t);
        const char *shape = "ellipse";
        strbuf_reset(&label);
        switch (op) {
        case OP_NUM:
            put_num_infix(&label, term_value(s, t), 0);
            shape = "plaintext";
            break;
        case OP_SYM: strbuf_puts(&label, term_sym_name(s, t)); break;
        case OP_ADD: strbuf_puts(&label, "+"); shape = "circle"; break;
        case OP_MUL: strbuf_puts(&label, "*"); shape = "circle"; break;
        case OP_POW: strbuf_puts(&label, "^"); shape = "circle"; break;
        case OP_NINF: strbuf_puts(&label, "-inf"); shape = "plaintext"; break;
        default:
            if (!call_name(op)) broken("unknown operator", t);
            strbuf_puts(&label, call_name(op));
            shape = "box";
            break;
        }
        strbuf_printf(out, "  n%u [shape=%s, label=", (unsigned)t, shape);
        put_dot_string(out, strbuf_str(&label));
        strbuf_puts(out, "];\n");
        uint32_t k = term_nargs(s, t);
        for (uint32_t i = 0; i < k; i++) {
            strbuf_printf(out, "  n%u -> n%u", (unsigned)t, (unsigned)term_arg(s, t, i));
            /* the one operator whose argument order matters */
            if (op == OP_POW) strbuf_printf(out, " [label=\"%u\"]", (unsigned)i);
            strbuf_puts(out, ";\n");
        }
    }
    for (size_t i = 0; i < n; i++) {
        strbuf_reset(&label);
        if (labels && labels[i]) strbuf_puts(&label, labels[i]);
        else strbuf_printf(&label, "root %zu", i);
        strbuf_printf(out, "  r%zu [shape=box, style=bold, label=", i);
        put_dot_string(out, strbuf_str(&label));
        strbuf_puts(out, "];\n");
        if (roots[i] != TERM_NONE) strbuf_printf(out, "  r%zu -> n%u;\n", i, (unsigned)roots[i]);
    }
    strbuf_puts(out, "}\n");
    strbuf_clear(&label);
    free(mark);
}

/* parse: the HMP v1 language (docs/LANGUAGE.md). A byte-level lexer with one
 * token of lookahead feeds a recursive-descent parser; n-ary sums and products
 * collect their operands on one scratch stack and become one term each. */
#include "core/parse.h"
#include "core/mem.h"
#include "core/vec.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- lexer ---- */

typedef enum tok_kind {
    TK_EOF, TK_NEWLINE, TK_SEMI, TK_NAME, TK_NUMBER,
    TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_CARET,
    TK_LPAREN, TK_RPAREN, TK_COMMA, TK_EQ,
    TK_ERROR /* a bad token, already reported by the lexer */
} tok_kind;

typedef struct token {
    tok_kind kind;
    src_pos pos;
    size_t end;            /* offset just past the token */
    /* NAME: its canonical spelling (into the source, or into the name buffer
     * when it has index brackets) */
    const char *name;
    size_t name_len;
    unsigned char indexed; /* NAME with brackets */
    unsigned char call;    /* NAME: the next non-blank byte is '(' */
    unsigned char assign;  /* NAME: the next non-blank byte is '=' (not "==") */
    unsigned char first;   /* the first token of its line */
    /* NUMBER: mantissa in [pos.offset, mant_end), digits in it, digits after
     * the point, the exponent after e/E */
    size_t mant_end, n_digits, n_frac;
    long exp10;
} token;

typedef struct parser {
    const source *src;
    const unsigned char *text;
    size_t len;
    size_t cur;            /* lexer offset */
    uint32_t line;
    size_t line_start;
    size_t nest;           /* '(' open: a newline is a blank */
    int cont;              /* last token an operator or ',': the line goes on */
    int nl_blank;          /* every newline is a blank (parse_expr) */
    int recovering;        /* skipping after an error: lexer errors not reported */
    uint32_t end_line;     /* line where the last token ended (0: none yet) */
    token tok;
    src_pos prev_end;      /* just past the last token before a newline (line 0: none) */
    term_store *s;
    diag_list *d;
    size_t n_errors;
    int failed;            /* an error in the current statement */
    size_t depth;          /* nesting levels entered in the current statement */
    term_id *stk;          /* scratch stack of n-ary operands */
    size_t top, cap;
    char *namebuf;         /* canonical spelling of a bracketed name */
    size_t namebuf_cap;
    char *numbuf;          /* NUL-terminated digits of a long number */
    size_t numbuf_cap;
} parser;

enum { C_ALPHA = 1, C_DIGIT = 2, C_UNDER = 4, C_BLANK = 8 };
#define C_NAME (C_ALPHA | C_DIGIT | C_UNDER)

static const unsigned char char_class[256] = {
    ['a' ... 'z'] = C_ALPHA, ['A' ... 'Z'] = C_ALPHA, ['0' ... '9'] = C_DIGIT,
    ['_'] = C_UNDER, [' '] = C_BLANK, ['\t'] = C_BLANK, ['\r'] = C_BLANK,
    ['\f'] = C_BLANK, ['\v'] = C_BLANK,
};

static src_pos pos_at(const parser *p, size_t off)
{
    return (src_pos){ off, p->line, (uint32_t)(off - p->line_start + 1) };
}

/* The one error routine: records the error, marks the statement failed. */
static void error_at(parser *p, src_pos pos, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void error_at(parser *p, src_pos pos, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    diag_error(p->d, p->src, pos, "%s", msg);
    p->n_errors++;
    p->failed = 1;
}

/* 'text' for a message, cut to a readable length. */
static const char *quote(char *buf, size_t n, const char *text, size_t len)
{
    if (len > 40) snprintf(buf, n, "'%.36s...'", text);
    else snprintf(buf, n, "'%.*s'", (int)len, text);
    return buf;
}

static const char *tok_desc(const parser *p, char *buf, size_t n)
{
    const token *k = &p->tok;
    switch (k->kind) {
    case TK_EOF: return "end of input";
    case TK_NEWLINE: return "end of line";
    case TK_NAME: return quote(buf, n, k->name, k->name_len);
    default: return quote(buf, n, (const char *)p->text + k->pos.offset, k->end - k->pos.offset);
    }
}

/* Length of a well-formed UTF-8 sequence at i, 0 if it is not one; *cp gets
 * the code point. */
static size_t utf8_seq(const unsigned char *t, size_t i, size_t len, uint32_t *cp)
{
    unsigned c = t[i];
    size_t n;
    uint32_t v;
    if (c >= 0xc2 && c <= 0xdf) { n = 2; v = c & 0x1f; }
    else if (c >= 0xe0 && c <= 0xef) { n = 3; v = c & 0x0f; }
    else if (c >= 0xf0 && c <= 0xf4) { n = 4; v = c & 0x07; }
    else return 0;
    if (len - i < n) return 0;
    for (size_t k = 1; k < n; k++) {
        if ((t[i + k] & 0xc0) != 0x80) return 0;
        v = v << 6 | (t[i + k] & 0x3f);
    }
    if (n == 3 && (v < 0x800 || (v >= 0xd800 && v <= 0xdfff))) return 0;
    if (n == 4 && (v < 0x10000 || v > 0x10ffff)) return 0;
    *cp = v;
    return n;
}

/* Code points that print as nothing or as a blank. */
static int invisible(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0xa0) || cp == 0xad || (cp >= 0x2000 && cp <= 0x200f) ||
           (cp >= 0x2028 && cp <= 0x202f) || (cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 || cp == 0xfeff;
}

/* Reports the byte at i as not allowed there; returns the offset past it. */
static size_t lex_bad_char(parser *p, size_t i)
{
    const unsigned char *t = p->text;
    unsigned c = t[i];
    size_t n = 1;
    uint32_t cp = 0;
    int report = !p->recovering;
    src_pos at = pos_at(p, i);
    if (c == 0) {
        if (report) error_at(p, at, "unexpected NUL byte");
    } else if (c < 0x20 || c == 0x7f) {
        if (report) error_at(p, at, "unexpected control character 0x%02x", c);
    } else if (c < 0x80) {
        if (report) error_at(p, at, "unexpected character '%c'", (char)c);
    } else if ((n = utf8_seq(t, i, p->len, &cp)) > 0) {
        if (report && invisible(cp)) error_at(p, at, "unexpected character '%.*s' (U+%04X)", (int)n, (const char *)t + i, (unsigned)cp);
        else if (report) error_at(p, at, "unexpected character '%.*s'", (int)n, (const char *)t + i);
    } else {
        n = 1;
        if (report) error_at(p, at, "unexpected byte 0x%02x (not valid UTF-8)", c);
    }
    p->failed = 1;
    return i + n;
}

/* While recovering inside parentheses: does the line at i start a relation
 * (NAME [index] '=')? Then the newline before it ends the statement. */
static int line_starts_relation(const parser *p, size_t i)
{
    const unsigned char *t = p->text;
    while (char_class[t[i]] & C_BLANK) i++;
    if (!(char_class[t[i]] & C_ALPHA)) return 0;
    while (char_class[t[i]] & C_NAME) i++;
    while (t[i] == '[') {
        while (i < p->len && t[i] != ']' && t[i] != '\n') i++;
        if (t[i] != ']') return 0;
        i++;
    }
    while (char_class[t[i]] & C_BLANK) i++;
    return t[i] == '=' && t[i + 1] != '=';
}

static int newline_ends_statement(const parser *p, size_t i)
{
    if (p->nl_blank) return 0;
    if (p->recovering) return p->nest == 0 || line_starts_relation(p, i + 1);
    return p->nest == 0 && !p->cont;
}

/* Skips blanks, comments and newlines inside brackets; returns the offset of
 * the next other byte. */
static size_t skip_bracket_space(parser *p, size_t i)
{
    const unsigned char *t = p->text;
    for (;;) {
        if (char_class[t[i]] & C_BLANK) i++;
        else if (t[i] == '\n') { i++; p->line++; p->line_start = i; }
        else if (t[i] == '#') {
            const unsigned char *nl = memchr(t + i, '\n', p->len - i);
            i = nl ? (size_t)(nl - t) : p->len;
        } else return i;
    }
}

static void namebuf_put(parser *p, size_t *n, const void *bytes, size_t len)
{
    if (*n + len + 1 > p->namebuf_cap) {
        while (*n + len + 1 > p->namebuf_cap) p->namebuf_cap = p->namebuf_cap ? 2 * p->namebuf_cap : 64;
        p->namebuf = mem_realloc(p->namebuf, p->namebuf_cap);
    }
    memcpy(p->namebuf + *n, bytes, len);
    *n += len;
}

/* index_groups -> '[' INT { ',' INT } ']' { '[' INT { ',' INT } ']' }
 * Canonical spelling: NAME '[' INT { ',' INT } ']', leading zeros dropped.
 * i is at the first '['; the name is [start, i). Returns the offset past
 * the last ']', or 0 after an error. */
static size_t lex_index_groups(parser *p, size_t start, size_t i)
{
    const unsigned char *t = p->text;
    size_t n = 0;
    char found[64];
    namebuf_put(p, &n, t + start, i - start);
    namebuf_put(p, &n, "[", 1);
    int first = 1;
    while (t[i] == '[') {
        src_pos open = pos_at(p, i);
        i++;
        for (;;) {
            i = skip_bracket_space(p, i);
            if (!(char_class[t[i]] & C_DIGIT)) {
                if (i >= p->len) {
                    if (!p->recovering) error_at(p, pos_at(p, i), "expected ']' to close '[' at %u:%u", open.line, open.col);
                } else if (t[i] < 0x20 || t[i] >= 0x7f) {
                    p->cur = lex_bad_char(p, i);
                    return 0;
                } else if (!p->recovering) {
                    error_at(p, pos_at(p, i), "expected a non-negative integer index, found %s", quote(found, sizeof found, (const char *)t + i, 1));
                }
                p->failed = 1;
                p->cur = i < p->len ? i + 1 : i;
                return 0;
            }
            if (!first) namebuf_put(p, &n, ",", 1);
            first = 0;
            while (t[i] == '0' && (char_class[t[i + 1]] & C_DIGIT)) i++;
            size_t d0 = i;
            while (char_class[t[i]] & C_DIGIT) i++;
            namebuf_put(p, &n, t + d0, i - d0);
            i = skip_bracket_space(p, i);
            if (t[i] == ',') { i++; continue; }
            if (t[i] == ']') { i++; break; }
            if (i >= p->len) {
                if (!p->recovering) error_at(p, pos_at(p, i), "expected ']' to close '[' at %u:%u", open.line, open.col);
            } else if (t[i] < 0x20 || t[i] >= 0x7f) {
                p->cur = lex_bad_char(p, i);
                return 0;
            } else if (!p->recovering) {
                error_at(p, pos_at(p, i), "expected ',' or ']' after an index, found %s", quote(found, sizeof found, (const char *)t + i, 1));
            }
            p->failed = 1;
            p->cur = i < p->len ? i + 1 : i;
            return 0;
        }
    }
    namebuf_put(p, &n, "]", 1);
    p->namebuf[n] = '\0';
    p->tok.name = p->namebuf;
    p->tok.name_len = n;
    return i;
}

/* NUMBER -> DIGITS [ '.' [ DIGITS ] ] [ EXP ] | '.' DIGITS [ EXP ],
 * EXP -> ('e'|'E') [ '+'|'-' ] DIGITS. Returns the offset past it. */
static size_t lex_number(parser *p, size_t i)
{
    const unsigned char *t = p->text;
    token *k = &p->tok;
    size_t start = i, nd = 0, nf = 0;
    while (char_class[t[i]] & C_DIGIT) i++;
    nd = i - start;
    if (t[i] == '.') {
        size_t f0 = ++i;
        while (char_class[t[i]] & C_DIGIT) i++;
        nf = i - f0;
        nd += nf;
    }
    k->mant_end = i;
    k->exp10 = 0;
    int exp_big = 0;
    if ((t[i] == 'e' || t[i] == 'E') &&
        ((char_class[t[i + 1]] & C_DIGIT) || ((t[i + 1] == '+' || t[i + 1] == '-') && (char_class[t[i + 2]] & C_DIGIT)))) {
        i++;
        int neg = t[i] == '-';
        if (t[i] == '+' || t[i] == '-') i++;
        long e = 0;
        while (char_class[t[i]] & C_DIGIT) {
            if (e <= PARSE_MAX_EXPONENT) e = 10 * e + (t[i] - '0');
            i++;
        }
        if (e > PARSE_MAX_EXPONENT) exp_big = 1;
        k->exp10 = neg ? -e : e;
    }
    k->n_digits = nd;
    k->n_frac = nf;
    k->end = i;
    if ((char_class[t[i]] & C_NAME) || t[i] == '.') {
        size_t j = i;
        while ((char_class[t[j]] & C_NAME) || t[j] == '.') j++;
        char q[64];
        if (!p->recovering) error_at(p, k->pos, "malformed number %s", quote(q, sizeof q, (const char *)t + start, j - start));
        p->failed = 1;
        k->kind = TK_ERROR;
        return j;
    }
    if (nd > PARSE_MAX_NUMBER_DIGITS) {
        if (!p->recovering) error_at(p, k->pos, "number has more than %d digits", PARSE_MAX_NUMBER_DIGITS);
        p->failed = 1;
        k->kind = TK_ERROR;
    } else if (exp_big) {
        if (!p->recovering) error_at(p, k->pos, "number exponent out of range (|exponent| > %d)", PARSE_MAX_EXPONENT);
        p->failed = 1;
        k->kind = TK_ERROR;
    }
    return i;
}

/* Reads the next token into p->tok. */
static void lex_next(parser *p)
{
    const unsigned char *t = p->text;
    token *k = &p->tok;
    size_t i = p->cur;
    if (k->kind != TK_NEWLINE && k->kind != TK_EOF && k->end > k->pos.offset)
        p->prev_end = (src_pos){ k->end, k->pos.line, k->pos.col + (uint32_t)(k->end - k->pos.offset) };
    for (;;) {
        unsigned char c = t[i];
        if (char_class[c] & C_BLANK) i++;
        else if (c == '#') {
            const unsigned char *nl = memchr(t + i, '\n', p->len - i);
            i = nl ? (size_t)(nl - t) : p->len;
        } else if (c == '\n' && !newline_ends_statement(p, i)) {
            i++;
            p->line++;
            p->line_start = i;
        } else break;
    }
    k->pos = pos_at(p, i);
    k->first = p->end_line != p->line;
    int cont = 0;
    unsigned char c = t[i];
    switch (c) {
    case '\n':
        k->kind = TK_NEWLINE;
        i++;
        p->line++;
        p->line_start = i;
        p->nest = 0;
        break;
    case ';': k->kind = TK_SEMI; i++; break;
    case '+': k->kind = TK_PLUS; i++; cont = 1; break;
    case '-': k->kind = TK_MINUS; i++; cont = 1; break;
    case '*': k->kind = TK_STAR; i++; cont = 1; break;
    case '/': k->kind = TK_SLASH; i++; cont = 1; break;
    case '^': k->kind = TK_CARET; i++; cont = 1; break;
    case ',': k->kind = TK_COMMA; i++; cont = 1; break;
    case '=': k->kind = TK_EQ; i++; break;
    case '(': k->kind = TK_LPAREN; i++; p->nest++; break;
    case ')': k->kind = TK_RPAREN; i++; if (p->nest) p->nest--; break;
    default:
        if (char_class[c] & C_ALPHA) {
            size_t start = i++;
            while (char_class[t[i]] & C_NAME) i++;
            k->kind = TK_NAME;
            k->name = (const char *)t + start;
            k->name_len = i - start;
            k->indexed = 0;
            if (t[i] == '[') {
                size_t e = lex_index_groups(p, start, i);
                if (!e) {
                    k->kind = TK_ERROR;
                    k->end = p->cur;
                    p->cont = 0;
                    p->end_line = p->line;
                    return;
                }
                i = e;
                k->indexed = 1;
            }
            size_t j = i;
            while (char_class[t[j]] & C_BLANK) j++;
            k->call = !k->indexed && t[j] == '(';
            k->assign = t[j] == '=' && t[j + 1] != '=';
        } else if ((char_class[c] & C_DIGIT) || (c == '.' && (char_class[t[i + 1]] & C_DIGIT))) {
            k->kind = TK_NUMBER;
            i = lex_number(p, i);
        } else if (c == 0 && i >= p->len) {
            k->kind = TK_EOF;
        } else {
            k->kind = TK_ERROR;
            i = lex_bad_char(p, i);
        }
    }
    k->end = i;
    p->cur = i;
    p->cont = cont;
    p->end_line = k->kind == TK_NEWLINE ? p->line - 1 : p->line;
}

/* ---- parser ---- */

static void parser_init(parser *p, term_store *s, diag_list *d, const source *src)
{
    memset(p, 0, sizeof *p);
    p->src = src;
    p->text = (const unsigned char *)src->text;
    p->len = src->len;
    p->line = 1;
    p->s = s;
    p->d = d;
}

static void parser_clear(parser *p)
{
    free(p->stk);
    free(p->namebuf);
    free(p->numbuf);
}

static void push(parser *p, term_id t)
{
    VEC_RESERVE(p->stk, p->cap, p->top + 1);
    p->stk[p->top++] = t;
}

/* A syntax error at the current token (the lexer already reported a bad one). */
static void syntax_error(parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void syntax_error(parser *p, const char *fmt, ...)
{
    p->failed = 1;
    if (p->tok.kind == TK_ERROR) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* at the end of a line or of the input, point just past what came last */
    int at_end = (p->tok.kind == TK_NEWLINE || p->tok.kind == TK_EOF) && p->prev_end.line > 0;
    error_at(p, at_end ? p->prev_end : p->tok.pos, "%s", msg);
}

/* Enters one nesting level at the current token; 0 past PARSE_MAX_DEPTH. */
static int enter_level(parser *p)
{
    if (++p->depth <= PARSE_MAX_DEPTH) return 1;
    syntax_error(p, "expression nested too deeply (more than %d levels)", PARSE_MAX_DEPTH);
    return 0;
}

/* "expected WHAT, found TOKEN" at the current token. Kept out of line: the
 * recursive rules must keep small stack frames. */
static __attribute__((noinline, cold)) void error_found(parser *p, const char *what)
{
    char q[64];
    syntax_error(p, "expected %s, found %s", what, tok_desc(p, q, sizeof q));
}

static __attribute__((noinline, cold)) void error_unknown_function(parser *p)
{
    char q[64];
    syntax_error(p, "unknown function %s", quote(q, sizeof q, p->tok.name, p->tok.name_len));
}

/* The name inf, which only a minus directly before it makes a value: the
 * literal -inf (a masked score). */
static int tok_is_inf(const parser *p)
{
    const token *k = &p->tok;
    return k->kind == TK_NAME && !k->indexed && k->name_len == 3 && memcmp(k->name, "inf", 3) == 0;
}

static __attribute__((noinline, cold)) void error_inf(parser *p, src_pos at)
{
    error_at(p, at, "only -inf is supported (a masked score); +inf is not a value hmp represents");
}

static const slong pow10_table[19] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
    10000000000, 100000000000, 1000000000000, 10000000000000, 100000000000000,
    1000000000000000, 10000000000000000, 100000000000000000, 1000000000000000000,
};

/* The exact rational of the current NUMBER token: mantissa * 10^(exp - frac). */
static __attribute__((noinline)) term_id number_term(parser *p)
{
    const token *k = &p->tok;
    const unsigned char *t = p->text;
    long scale = k->exp10 - (long)k->n_frac;
    if (k->n_digits <= 18) {
        slong m = 0;
        for (size_t i = k->pos.offset; i < k->mant_end; i++)
            if (t[i] != '.') m = 10 * m + (t[i] - '0');
        if (scale == 0) return term_num_si(p->s, m, 1);
        if (scale < 0 && scale >= -18) return term_num_si(p->s, m, pow10_table[-scale]);
        if (scale > 0 && (long)k->n_digits + scale <= 18) return term_num_si(p->s, m * pow10_table[scale], 1);
    }
    if (k->n_digits + 1 > p->numbuf_cap) {
        p->numbuf_cap = k->n_digits + 1;
        p->numbuf = mem_realloc(p->numbuf, p->numbuf_cap);
    }
    size_t n = 0;
    for (size_t i = k->pos.offset; i < k->mant_end; i++)
        if (t[i] != '.') p->numbuf[n++] = (char)t[i];
    p->numbuf[n] = '\0';
    fmpq_t q;
    fmpz_t ten;
    fmpq_init(q);
    fmpz_init(ten);
    fmpz_set_str(fmpq_numref(q), p->numbuf, 10);
    if (scale != 0) {
        fmpz_set_ui(ten, 10);
        fmpz_pow_ui(ten, ten, (ulong)(scale < 0 ? -scale : scale));
        if (scale > 0) fmpz_mul(fmpq_numref(q), fmpq_numref(q), ten);
        else fmpz_swap(fmpq_denref(q), ten);
    }
    fmpq_canonicalise(q);
    term_id r = term_num(p->s, q);
    fmpq_clear(q);
    fmpz_clear(ten);
    return r;
}

typedef struct function_def {
    const char *name;
    size_t len;
    term_op op;
    unsigned min_args, max_args; /* max 0: no limit */
} function_def;

static const function_def functions[] = {
    { "exp", 3, OP_EXP, 1, 1 },   { "log", 3, OP_LOG, 1, 1 },   { "sqrt", 4, OP_POW, 1, 1 },
    { "abs", 3, OP_ABS, 1, 1 },   { "tanh", 4, OP_TANH, 1, 1 }, { "max", 3, OP_MAX, 1, 0 },
    { "min", 3, OP_MIN, 1, 0 },   { "lse", 3, OP_LSE, 1, 0 },
};

static term_id parse_sum(parser *p);

/* expr -> sum */
static inline __attribute__((always_inline)) term_id parse_expression(parser *p) { return parse_sum(p); }

/* Out of line: only calls pay for its frame in the recursion. */
/* call -> FUNC '(' [ expr { ',' expr } ] ')' */
static __attribute__((noinline)) term_id parse_call(parser *p)
{
    const function_def *f = NULL;
    for (size_t i = 0; i < sizeof functions / sizeof *functions; i++)
        if (functions[i].len == p->tok.name_len && memcmp(functions[i].name, p->tok.name, p->tok.name_len) == 0) f = &functions[i];
    if (!f) {
        error_unknown_function(p);
        return TERM_NONE;
    }
    src_pos at = p->tok.pos;
    lex_next(p); /* the '(' seen by the lexer */
    src_pos open = p->tok.pos;
    if (!enter_level(p)) return TERM_NONE;
    lex_next(p);
    size_t base = p->top;
    if (p->tok.kind != TK_RPAREN) {
        for (;;) {
            term_id a = parse_expression(p);
            if (!a) return TERM_NONE;
            push(p, a);
            if (p->tok.kind != TK_COMMA) break;
            lex_next(p);
        }
    }
    if (p->tok.kind != TK_RPAREN) {
        syntax_error(p, "expected ')' to close '(' at %u:%u", open.line, open.col);
        return TERM_NONE;
    }
    size_t n = p->top - base;
    if (n < f->min_args || (f->max_args && n > f->max_args)) {
        if (f->max_args == f->min_args)
            error_at(p, at, "function '%s' takes %u argument%s, got %zu", f->name, f->min_args, f->min_args == 1 ? "" : "s", n);
        else
            error_at(p, at, "function '%s' takes at least %u argument%s, got %zu", f->name, f->min_args, f->min_args == 1 ? "" : "s", n);
        return TERM_NONE;
    }
    p->depth--;
    lex_next(p);
    term_id *a = p->stk + base, r;
    switch (f->op) {
    case OP_EXP: r = term_exp(p->s, a[0]); break;
    case OP_LOG: r = term_log(p->s, a[0]); break;
    case OP_POW: r = term_sqrt(p->s, a[0]); break;
    case OP_ABS: r = term_abs(p->s, a[0]); break;
    case OP_TANH: r = term_tanh(p->s, a[0]); break;
    case OP_MAX: r = term_max(p->s, a, n); break;
    case OP_LSE: r = term_lse(p->s, a, n); break;
    default: r = term_min(p->s, a, n); break;
    }
    p->top = base;
    return r;
}

/* primary -> NUMBER | NAME | call | '(' expr ')'    (NAME not inf) */
static term_id parse_primary(parser *p)
{
    term_id t;
    switch (p->tok.kind) {
    case TK_NUMBER:
        t = number_term(p);
        lex_next(p);
        return t;
    case TK_NAME:
        if (p->tok.call) return parse_call(p);
        if (tok_is_inf(p)) {
            error_inf(p, p->tok.pos);
            return TERM_NONE;
        }
        t = term_sym(p->s, p->tok.name, p->tok.name_len);
        lex_next(p);
        return t;
    case TK_LPAREN: {
        src_pos open = p->tok.pos;
        if (!enter_level(p)) return TERM_NONE;
        lex_next(p);
        t = parse_expression(p);
        if (!t) return TERM_NONE;
        if (p->tok.kind != TK_RPAREN) {
            syntax_error(p, "expected ')' to close '(' at %u:%u", open.line, open.col);
            return TERM_NONE;
        }
        p->depth--;
        lex_next(p);
        return t;
    }
    default:
        error_found(p, "an expression");
        return TERM_NONE;
    }
}

/* After a minus, at the name inf: the literal -inf, unless what follows
 * binds tighter than that minus ('^' after a unary minus: -inf^2 is
 * -(inf^2); also '*' and '/' after a binary one: a - inf*2 is a - (inf*2)),
 * which leaves inf alone, an error. */
static term_id parse_neg_inf(parser *p, int binary)
{
    src_pos at = p->tok.pos;
    lex_next(p);
    tok_kind k = p->tok.kind;
    if (k == TK_CARET || (binary && (k == TK_STAR || k == TK_SLASH))) {
        error_inf(p, at);
        return TERM_NONE;
    }
    return p->s->neg_inf;
}

/* t with k minus signs before it: -(-(...t)). Two cancel only as the store
 * folds them, so for a finite t by parity; a term that mentions -inf is
 * formal and takes each one (---inf is -(-(-inf)), as written). */
static term_id negate(parser *p, term_id t, term_id k)
{
    if (!term_has_ninf(p->s, t)) return k & 1 ? term_neg(p->s, t) : t;
    while (k-- > 0) t = term_neg(p->s, t);
    return t;
}

/* unary -> ('-'|'+') unary | '-' 'inf' | power     ('-' 'inf' not before '^')
 * power -> primary [ '^' unary ]
 * Both rules in one loop, so that neither signs nor '^' chains recurse: the
 * chain  s1 p1 ^ s2 p2 ^ ... ^ sn pn  (si: signs, pi: primaries) folds from
 * the right, r = sn pn, then r = si (pi ^ r): -x^2 = -(x^2), 2^3^2 = 2^9.
 * Every sign and every '^' enters one nesting level. The last sign of a run,
 * when a minus directly before inf, makes the literal -inf: --inf = -(-inf). */
static term_id parse_unary(parser *p)
{
    size_t depth0 = p->depth, base = p->top;
    for (;;) {
        term_id neg = 0; /* minus signs in the run */
        tok_kind last = TK_EOF;
        while (p->tok.kind == TK_MINUS || p->tok.kind == TK_PLUS) {
            if (p->tok.kind == TK_MINUS) neg++;
            last = p->tok.kind;
            if (!enter_level(p)) return TERM_NONE;
            lex_next(p);
        }
        term_id t;
        if (last == TK_MINUS && tok_is_inf(p)) {
            t = parse_neg_inf(p, 0);
            neg--; /* that minus is part of the literal */
        } else {
            t = parse_primary(p);
        }
        if (!t) return TERM_NONE;
        if (p->tok.kind != TK_CARET) {
            t = negate(p, t, neg);
            while (p->top > base) {
                neg = p->stk[--p->top];
                t = term_pow(p->s, p->stk[--p->top], t);
                t = negate(p, t, neg);
            }
            p->depth = depth0;
            return t;
        }
        push(p, t);
        push(p, neg);
        if (!enter_level(p)) return TERM_NONE;
        lex_next(p);
    }
}

/* product -> unary { ('*'|'/') unary }    one MUL over all factors, '/ x'
 * contributing x^-1 */
static term_id parse_product(parser *p)
{
    term_id t = parse_unary(p);
    if (!t) return TERM_NONE;
    tok_kind k = p->tok.kind;
    if (k != TK_STAR && k != TK_SLASH) return t;
    size_t base = p->top;
    push(p, t);
    while (k == TK_STAR || k == TK_SLASH) {
        lex_next(p);
        t = parse_unary(p);
        if (!t) return TERM_NONE;
        push(p, k == TK_SLASH ? term_pow_si(p->s, t, -1) : t);
        k = p->tok.kind;
    }
    t = term_mul(p->s, p->stk + base, p->top - base);
    p->top = base;
    return t;
}

/* sum -> product { ('+'|'-') product | '-' 'inf' }    one ADD over all
 * terms, '- x' contributing (-1)*x and '- inf' (not before '*', '/', '^')
 * the literal -inf: a - inf = a + -inf */
static term_id parse_sum(parser *p)
{
    term_id t = parse_product(p);
    if (!t) return TERM_NONE;
    tok_kind k = p->tok.kind;
    if (k != TK_PLUS && k != TK_MINUS) return t;
    size_t base = p->top;
    push(p, t);
    while (k == TK_PLUS || k == TK_MINUS) {
        lex_next(p);
        if (k == TK_MINUS && tok_is_inf(p)) {
            t = parse_neg_inf(p, 1);
            if (!t) return TERM_NONE;
            push(p, t);
        } else {
            t = parse_product(p);
            if (!t) return TERM_NONE;
            push(p, k == TK_MINUS ? term_neg(p->s, t) : t);
        }
        k = p->tok.kind;
    }
    t = term_add(p->s, p->stk + base, p->top - base);
    p->top = base;
    return t;
}

static int at_statement_end(const parser *p)
{
    tok_kind k = p->tok.kind;
    return k == TK_NEWLINE || k == TK_SEMI || k == TK_EOF;
}

/* Checks that the statement ends here; what: what else could follow. */
static int expect_statement_end(parser *p, const char *what)
{
    if (at_statement_end(p)) return 1;
    if (p->tok.kind == TK_RPAREN) syntax_error(p, "unmatched ')'");
    else error_found(p, what);
    return 0;
}

static void script_grow_dirs(script *sc)
{
    VEC_RESERVE(sc->dirs, sc->cap_dirs, sc->n_dirs + 1);
}

/* output_directive -> 'output' NAME { ',' NAME } */
static void parse_output(parser *p, script *sc)
{
    directive dir = { DIRECTIVE_OUTPUT, p->tok.pos, NULL, NULL, 0 };
    size_t cap = 0;
    lex_next(p);
    for (;;) {
        if (p->tok.kind != TK_NAME) {
            error_found(p, "a name in 'output'");
            break;
        }
        if (tok_is_inf(p)) {
            syntax_error(p, "'inf' is reserved");
            break;
        }
        if (dir.n_args == cap) {
            cap = cap ? 2 * cap : 4;
            dir.args = mem_realloc(dir.args, cap * sizeof *dir.args);
            dir.arg_pos = mem_realloc(dir.arg_pos, cap * sizeof *dir.arg_pos);
        }
        dir.args[dir.n_args] = term_sym(p->s, p->tok.name, p->tok.name_len);
        dir.arg_pos[dir.n_args++] = p->tok.pos;
        lex_next(p);
        if (p->tok.kind != TK_COMMA) break;
        lex_next(p);
    }
    if (!p->failed && expect_statement_end(p, "',' or end of statement")) {
        script_grow_dirs(sc);
        sc->dirs[sc->n_dirs++] = dir;
        return;
    }
    free(dir.args);
    free(dir.arg_pos);
}

/* Directives: a keyword at the start of a statement, not followed by '='. */
typedef struct directive_def {
    const char *word;
    size_t len;
    void (*parse)(parser *p, script *sc);
} directive_def;

static const directive_def directives[] = {
    { "output", 6, parse_output },
};

/* statement -> NAME '=' expr | directive | (empty)    (NAME not inf) */
static void parse_statement(parser *p, script *sc)
{
    char q[64];
    token *k = &p->tok;
    if (at_statement_end(p)) return;
    if (k->kind != TK_NAME) {
        error_found(p, "a name at the start of a statement");
        return;
    }
    if (tok_is_inf(p)) {
        syntax_error(p, "'inf' is reserved");
        return;
    }
    if (!k->assign && !k->indexed) {
        for (size_t i = 0; i < sizeof directives / sizeof *directives; i++)
            if (directives[i].len == k->name_len && memcmp(directives[i].word, k->name, k->name_len) == 0) {
                directives[i].parse(p, sc);
                return;
            }
    }
    relation r;
    r.name = term_sym(p->s, k->name, k->name_len);
    r.name_pos = k->pos;
    lex_next(p);
    if (k->kind != TK_EQ) {
        const char *name = term_sym_name(p->s, r.name);
        syntax_error(p, "expected '=' after name %s", quote(q, sizeof q, name, strlen(name)));
        return;
    }
    lex_next(p);
    r.rhs_pos = k->pos;
    r.rhs = parse_expression(p);
    if (!r.rhs || !expect_statement_end(p, "an operator or end of statement") || p->failed) return;
    VEC_RESERVE(sc->rels, sc->cap_rels, sc->n_rels + 1);
    sc->rels[sc->n_rels++] = r;
}

/* Is the current token a NAME that begins its line, and the line a relation
 * (NAME [index] '=')? Recovery stops before it: an unclosed '(' on one line
 * does not swallow the relation on the next. */
static int token_starts_relation_line(const parser *p)
{
    if (p->tok.kind != TK_NAME || !p->tok.first) return 0;
    return line_starts_relation(p, p->tok.pos.offset - (p->tok.pos.col - 1));
}

/* After an error: skips to the next newline or ';' outside parentheses (or a
 * newline before a line that starts a relation, for an unclosed '('). */
static void recover(parser *p, size_t stmt_start)
{
    p->recovering = 1;
    while (!at_statement_end(p) && !(p->tok.pos.offset > stmt_start && token_starts_relation_line(p))) lex_next(p);
    p->recovering = 0;
    p->nest = 0;
    p->cont = 0;
}

void script_init(script *sc) { memset(sc, 0, sizeof *sc); }

void script_clear(script *sc)
{
    for (size_t i = 0; i < sc->n_dirs; i++) {
        free(sc->dirs[i].args);
        free(sc->dirs[i].arg_pos);
    }
    free(sc->rels);
    free(sc->dirs);
    memset(sc, 0, sizeof *sc);
}

/* script -> { statement (NEWLINE | ';') } EOF */
int parse_script(script *sc, term_store *s, diag_list *d, const source *src)
{
    parser p;
    parser_init(&p, s, d, src);
    sc->src = src;
    /* scripts hold about one new node per 24 bytes and one argument per 8 */
    term_store_reserve(s, src->len / 24, src->len / 8);
    lex_next(&p);
    while (p.tok.kind != TK_EOF && !diag_full(d)) {
        size_t start = p.tok.pos.offset;
        p.failed = 0;
        p.top = 0;
        p.depth = 0;
        if (p.tok.kind == TK_ERROR) p.failed = 1; /* reported by the lexer */
        else parse_statement(&p, sc);
        if (p.failed) recover(&p, start);
        if (p.tok.kind == TK_NEWLINE || p.tok.kind == TK_SEMI) lex_next(&p);
    }
    parser_clear(&p);
    return p.n_errors != 0;
}

int parse_expr(term_id *out, term_store *s, diag_list *d, const source *src)
{
    parser p;
    parser_init(&p, s, d, src);
    p.nl_blank = 1;
    lex_next(&p);
    term_id t = parse_expression(&p);
    if (t && p.tok.kind != TK_EOF) {
        if (p.tok.kind == TK_RPAREN) syntax_error(&p, "unmatched ')'");
        else error_found(&p, "an operator or end of input");
    }
    parser_clear(&p);
    if (p.n_errors || p.failed || !t) return 1;
    *out = t;
    return 0;
}

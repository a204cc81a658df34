/* rules: compiling rule tables (patterns parsed once into a store per set),
 * matching modulo AC with backtracking over a goal stack, templates, the facts
 * guards use, the measures, and the registry of sets. */
#include "rewrite/rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/diag.h"
#include "core/mem.h"
#include "core/vec.h"
#include "core/parse.h"

/* Patterns are small: these bound the matcher's goal stack. */
#define RULE_MAX_PATTERN_NODES 24
#define RULE_MAX_GOALS 64
/* Facts (nonneg, positive) look this deep, then answer "not known". */
#define RULE_FACT_DEPTH 12

static void rule_bug(const rule_set_def *def, const rule_def *rd, const char *what)
{
    fprintf(stderr, "hmp: rule set '%s', rule '%s': %s\n", def->name, rd ? rd->name : "?", what);
    abort();
}

/* ---- a growable vector of ids ---- */


/* Operators matched modulo associativity and commutativity (lse keeps
 * duplicate arguments: matched as a multiset). */
static int is_ac(term_op op) { return op == OP_ADD || op == OP_MUL || op == OP_MAX || op == OP_MIN || op == OP_LSE; }

/* ---- compiling ---- */

static int var_slot(const rule *r, term_id p)
{
    for (uint32_t i = 0; i < r->n_vars; i++)
        if (r->var_term[i] == p) return (int)i;
    return -1;
}

static int name_is_seq(const term_store *ps, term_id p) { const char *n = term_sym_name(ps, p); return n[0] >= 'A' && n[0] <= 'Z'; }

/* Nodes of the pattern or template t, in increasing id; depth is bounded by
 * the table (RULE_MAX_PATTERN_NODES). */
static void collect_nodes(vec_u32 *out, const term_store *ps, term_id t)
{
    unsigned char *mark = mem_calloc((size_t)t + 1, 1);
    term_mark_reachable(mark, ps, &t, 1);
    for (term_id u = 1; u <= t; u++)
        if (mark[u]) vec_u32_push(out, u);
    free(mark);
}

static term_id parse_text(rule_set *rs, const rule_def *rd, const char *text, const char *what)
{
    source src;
    source_from_string(&src, rd->name, text, strlen(text));
    diag_list d;
    diag_init(&d);
    term_id t = TERM_NONE;
    if (parse_expr(&t, &rs->patterns, &d, &src) != 0) {
        diag_print(stderr, &d);
        rule_bug(rs->def, rd, what);
    }
    diag_clear(&d);
    source_clear(&src);
    return t;
}

/* Checks that sequence variables sit directly inside sums and products (at
 * most one each) and occur once; returns how many times each node is an
 * argument in uses[]. */
static void check_sequences(const rule_set *rs, const rule_def *rd, const rule *r, const vec_u32 *nodes, int in_template)
{
    const term_store *ps = &rs->patterns;
    uint32_t seq_uses[RULE_MAX_VARS] = { 0 };
    for (size_t i = 0; i < nodes->n; i++) {
        term_id u = nodes->v[i];
        term_op op = term_op_of(ps, u);
        uint32_t k = term_nargs(ps, u), n_seq = 0;
        for (uint32_t j = 0; j < k; j++) {
            term_id a = term_arg(ps, u, j);
            int slot = term_op_of(ps, a) == OP_SYM ? var_slot(r, a) : -1;
            if (slot < 0 || !r->var_seq[slot]) continue;
            if (!is_ac(op)) rule_bug(rs->def, rd, "a sequence variable outside a sum or product");
            n_seq++;
            seq_uses[slot]++;
        }
        if (n_seq > 1) rule_bug(rs->def, rd, "two sequence variables in one sum or product");
    }
    if (!in_template)
        for (uint32_t i = 0; i < r->n_vars; i++)
            if (r->var_seq[i] && seq_uses[i] != 1) rule_bug(rs->def, rd, "a sequence variable used twice or at the root");
}

static void compile_rule(rule_set *rs, rule *r, const rule_def *rd)
{
    term_store *ps = &rs->patterns;
    memset(r, 0, sizeof *r);
    r->def = rd;
    r->set = rs;
    if (!rd->pattern) rule_bug(rs->def, rd, "no pattern");
    if (!rd->result && !rd->build) rule_bug(rs->def, rd, "neither a result nor a builder");
    r->pattern = parse_text(rs, rd, rd->pattern, "the pattern does not parse");
    r->op = term_op_of(ps, r->pattern);
    if (r->op == OP_NUM || r->op == OP_SYM) rule_bug(rs->def, rd, "a pattern must be a call, a power, a sum or a product");
    vec_u32 nodes = { 0 };
    collect_nodes(&nodes, ps, r->pattern);
    if (nodes.n > RULE_MAX_PATTERN_NODES) rule_bug(rs->def, rd, "pattern too large");
    for (size_t i = 0; i < nodes.n; i++) {
        term_id u = nodes.v[i];
        if (term_op_of(ps, u) != OP_SYM) continue;
        if (r->n_vars == RULE_MAX_VARS) rule_bug(rs->def, rd, "too many variables");
        r->var_term[r->n_vars] = u;
        r->var_seq[r->n_vars] = (uint8_t)name_is_seq(ps, u);
        r->n_vars++;
    }
    check_sequences(rs, rd, r, &nodes, 0);
    if (rd->result) {
        r->result = parse_text(rs, rd, rd->result, "the result does not parse");
        nodes.n = 0;
        collect_nodes(&nodes, ps, r->result);
        if (nodes.n > RULE_MAX_PATTERN_NODES) rule_bug(rs->def, rd, "result too large");
        for (size_t i = 0; i < nodes.n; i++)
            if (term_op_of(ps, nodes.v[i]) == OP_SYM && var_slot(r, nodes.v[i]) < 0)
                rule_bug(rs->def, rd, "the result uses a name the pattern does not bind");
        if (term_op_of(ps, r->result) == OP_SYM && r->var_seq[var_slot(r, r->result)])
            rule_bug(rs->def, rd, "a sequence variable as the whole result");
        check_sequences(rs, rd, r, &nodes, 1);
    }
    free(nodes.v);
}

void rule_set_init(rule_set *rs, const rule_set_def *def)
{
    memset(rs, 0, sizeof *rs);
    rs->def = def;
    term_store_init(&rs->patterns);
    rs->n_rules = def->n_rules;
    rs->rules = mem_calloc(def->n_rules ? def->n_rules : 1, sizeof *rs->rules);
    for (size_t i = 0; i < def->n_rules; i++) compile_rule(rs, &rs->rules[i], &def->rules[i]);
}

void rule_set_clear(rule_set *rs)
{
    free(rs->rules);
    term_store_clear(&rs->patterns);
    memset(rs, 0, sizeof *rs);
}

/* ---- registry ---- */

static const rule_set_def *const known_sets[] = {
    &rule_set_algebra, &rule_set_expand, &rule_set_together, &rule_set_factor, &rule_set_expsum, &rule_set_stable,
};

size_t rule_set_count(void) { return sizeof known_sets / sizeof known_sets[0]; }
const rule_set_def *rule_set_def_at(size_t i) { return i < rule_set_count() ? known_sets[i] : NULL; }

const rule_set_def *rule_set_find(const char *name, size_t len)
{
    for (size_t i = 0; i < rule_set_count(); i++)
        if (strlen(known_sets[i]->name) == len && memcmp(known_sets[i]->name, name, len) == 0) return known_sets[i];
    return NULL;
}

int rule_sets_conflict(const rule_set_def *a, const rule_set_def *b)
{
    return (a->undoes && strcmp(a->undoes, b->name) == 0) || (b->undoes && strcmp(b->undoes, a->name) == 0);
}

/* ---- matching ----
 * A goal stack: PAIR (pattern node p against subject t) or PLACE (the next
 * single argument of the sum/product pattern p goes to an unused argument of
 * t). Each level copies the stack (a few dozen entries), so backtracking is
 * plain recursion whose depth is bounded by the pattern, not the subject. */

typedef struct goal {
    uint8_t kind; /* GOAL_PAIR, GOAL_PLACE */
    term_id p, t;
    uint32_t next;        /* PLACE: index of the next single argument of p */
    unsigned char *used;  /* PLACE: flags over t's arguments */
} goal;

enum { GOAL_PAIR, GOAL_PLACE };

typedef struct matcher {
    rule_match *m;
    const rule *r;
    const term_store *ps;
    const term_store *s;
} matcher;

void rule_match_init(rule_match *m, term_store *s)
{
    memset(m, 0, sizeof *m);
    m->s = s;
}

void rule_match_clear(rule_match *m)
{
    free(m->seq);
    memset(m, 0, sizeof *m);
}

static void seq_push(rule_match *m, term_id t)
{
    VEC_RESERVE(m->seq, m->cap_seq, m->n_seq + 1);
    m->seq[m->n_seq++] = t;
}

/* The sequence variable among p's arguments (its slot), or -1. */
static int seq_slot_of(const matcher *mt, term_id p)
{
    uint32_t k = term_nargs(mt->ps, p);
    for (uint32_t j = 0; j < k; j++) {
        term_id a = term_arg(mt->ps, p, j);
        if (term_op_of(mt->ps, a) != OP_SYM) continue;
        int slot = var_slot(mt->r, a);
        if (mt->r->var_seq[slot]) return slot;
    }
    return -1;
}

/* The i-th argument of p that is not a sequence variable. */
static term_id single_arg(const matcher *mt, term_id p, uint32_t i, int seq)
{
    uint32_t k = term_nargs(mt->ps, p);
    for (uint32_t j = 0; j < k; j++) {
        term_id a = term_arg(mt->ps, p, j);
        if (seq >= 0 && a == mt->r->var_term[seq]) continue;
        if (i-- == 0) return a;
    }
    return TERM_NONE;
}

/* A cheap necessary condition for p to match t now. */
static int could_match(const matcher *mt, term_id p, term_id t)
{
    term_op pop = term_op_of(mt->ps, p);
    if (pop == OP_SYM) {
        term_id bound = mt->m->var[var_slot(mt->r, p)];
        return !bound || bound == t;
    }
    if (pop == OP_NUM) return term_op_of(mt->s, t) == OP_NUM && fmpq_equal(term_value(mt->ps, p), term_value(mt->s, t));
    return term_op_of(mt->s, t) == pop;
}

static int match_goals(matcher *mt, const goal *goals, size_t n);

static int push_and_match(matcher *mt, const goal *goals, size_t n, const goal *extra, size_t k)
{
    if (n + k > RULE_MAX_GOALS) {
        fprintf(stderr, "hmp: rule '%s': matcher goal stack overflow\n", mt->r->def->name);
        abort();
    }
    goal g[RULE_MAX_GOALS];
    memcpy(g, goals, n * sizeof *g);
    memcpy(g + n, extra, k * sizeof *g);
    return match_goals(mt, g, n + k);
}

static int match_pair(matcher *mt, const goal *goals, size_t n, term_id p, term_id t)
{
    const term_store *ps = mt->ps, *s = mt->s;
    rule_match *m = mt->m;
    term_op pop = term_op_of(ps, p);
    if (pop == OP_SYM) {
        int slot = var_slot(mt->r, p);
        if (m->var[slot]) return m->var[slot] == t && match_goals(mt, goals, n);
        m->var[slot] = t;
        if (match_goals(mt, goals, n)) return 1;
        m->var[slot] = TERM_NONE;
        return 0;
    }
    if (pop == OP_NUM)
        return term_op_of(s, t) == OP_NUM && fmpq_equal(term_value(ps, p), term_value(s, t)) && match_goals(mt, goals, n);
    if (term_op_of(s, t) != pop) return 0;
    uint32_t kp = term_nargs(ps, p), kt = term_nargs(s, t);
    if (is_ac(pop)) {
        int seq = seq_slot_of(mt, p);
        uint32_t singles = kp - (seq >= 0);
        if (seq < 0 ? kt != singles : kt < singles) return 0;
        unsigned char *used = mem_calloc(kt ? kt : 1, 1);
        goal place = { .kind = GOAL_PLACE, .p = p, .t = t, .next = 0, .used = used };
        int ok = push_and_match(mt, goals, n, &place, 1);
        free(used);
        return ok;
    }
    if (kp != kt) return 0;
    goal extra[RULE_MAX_PATTERN_NODES];
    for (uint32_t j = 0; j < kp; j++) /* the first argument on top: matched first */
        extra[kp - 1 - j] = (goal){ .kind = GOAL_PAIR, .p = term_arg(ps, p, j), .t = term_arg(s, t, j) };
    return push_and_match(mt, goals, n, extra, kp);
}

static int match_place(matcher *mt, const goal *goals, size_t n, const goal *g)
{
    const term_store *s = mt->s;
    rule_match *m = mt->m;
    int seq = seq_slot_of(mt, g->p);
    uint32_t singles = term_nargs(mt->ps, g->p) - (seq >= 0), kt = term_nargs(s, g->t);
    if (g->next == singles) {
        if (seq < 0) return match_goals(mt, goals, n);
        size_t mark = m->n_seq;
        for (uint32_t j = 0; j < kt; j++)
            if (!g->used[j]) seq_push(m, term_arg(s, g->t, j));
        m->seq_off[seq] = (uint32_t)mark;
        m->seq_len[seq] = (uint32_t)(m->n_seq - mark);
        if (match_goals(mt, goals, n)) return 1;
        m->n_seq = mark;
        m->seq_len[seq] = 0;
        return 0;
    }
    term_id p = single_arg(mt, g->p, g->next, seq);
    for (uint32_t j = 0; j < kt; j++) {
        term_id t = term_arg(s, g->t, j);
        if (g->used[j] || !could_match(mt, p, t)) continue;
        g->used[j] = 1;
        goal extra[2] = {
            { .kind = GOAL_PLACE, .p = g->p, .t = g->t, .next = g->next + 1, .used = g->used },
            { .kind = GOAL_PAIR, .p = p, .t = t },
        };
        if (push_and_match(mt, goals, n, extra, 2)) return 1;
        g->used[j] = 0;
    }
    return 0;
}

static int match_goals(matcher *mt, const goal *goals, size_t n)
{
    if (n == 0) return mt->r->def->guard ? mt->r->def->guard(mt->m) : 1;
    goal g = goals[n - 1];
    if (g.kind == GOAL_PAIR) return match_pair(mt, goals, n - 1, g.p, g.t);
    return match_place(mt, goals, n - 1, &g);
}

int rule_match_term(rule_match *m, const rule *r, term_id t)
{
    matcher mt = { .m = m, .r = r, .ps = &r->set->patterns, .s = m->s };
    m->r = r;
    m->n_seq = 0;
    for (uint32_t i = 0; i < RULE_MAX_VARS; i++) {
        m->var[i] = TERM_NONE;
        m->seq_off[i] = m->seq_len[i] = 0;
    }
    if (term_op_of(m->s, t) != r->op) return 0;
    goal g = { .kind = GOAL_PAIR, .p = r->pattern, .t = t };
    return match_goals(&mt, &g, 1);
}

/* The template p with the bindings of m, built in m->s. Recursion bounded by
 * the template's size. */
static term_id instantiate(rule_match *m, term_id p)
{
    const rule *r = m->r;
    const term_store *ps = &r->set->patterns;
    term_op op = term_op_of(ps, p);
    if (op == OP_SYM) return m->var[var_slot(r, p)];
    if (op == OP_NUM) return term_num(m->s, term_value(ps, p));
    uint32_t k = term_nargs(ps, p);
    vec_u32 args = { 0 };
    for (uint32_t j = 0; j < k; j++) {
        term_id a = term_arg(ps, p, j);
        int slot = term_op_of(ps, a) == OP_SYM ? var_slot(r, a) : -1;
        if (slot >= 0 && r->var_seq[slot]) {
            for (uint32_t i = 0; i < m->seq_len[slot]; i++) vec_u32_push(&args, m->seq[m->seq_off[slot] + i]);
        } else {
            vec_u32_push(&args, instantiate(m, a));
        }
    }
    term_id out = term_make(m->s, op, args.v, args.n);
    free(args.v);
    return out;
}

term_id rule_result(rule_match *m, term_id t)
{
    if (m->r->result) return instantiate(m, m->r->result);
    return m->r->def->build(m, t);
}

term_id rule_try(rule_match *m, const rule *r, term_id t)
{
    if (!rule_match_term(m, r, t)) return TERM_NONE;
    term_id u = rule_result(m, t);
    return u == t ? TERM_NONE : u;
}

static int slot_named(const rule_match *m, const char *name)
{
    const rule *r = m->r;
    for (uint32_t i = 0; i < r->n_vars; i++)
        if (strcmp(term_sym_name(&r->set->patterns, r->var_term[i]), name) == 0) return (int)i;
    return -1;
}

term_id rule_var(const rule_match *m, const char *name)
{
    int slot = slot_named(m, name);
    return slot >= 0 && !m->r->var_seq[slot] ? m->var[slot] : TERM_NONE;
}

size_t rule_seq(const term_id **args, const rule_match *m, const char *name)
{
    int slot = slot_named(m, name);
    if (slot < 0 || !m->r->var_seq[slot]) { *args = NULL; return 0; }
    *args = m->seq + m->seq_off[slot];
    return m->seq_len[slot];
}

/* ---- facts ---- */

int rule_is_even_integer(const term_store *s, term_id t)
{
    if (!term_is_integer(s, t)) return 0;
    return fmpz_is_even(fmpq_numref(term_value(s, t)));
}

int rule_is_denominator(const term_store *s, term_id t)
{
    if (term_op_of(s, t) != OP_POW) return 0;
    term_id b = term_arg(s, t, 0), e = term_arg(s, t, 1);
    return term_op_of(s, b) != OP_NUM && term_op_of(s, e) == OP_NUM && fmpq_sgn(term_value(s, e)) < 0;
}

static int positive_at(const term_store *s, term_id t, int depth);

/* t >= 0 wherever it is defined. */
static int nonneg_at(const term_store *s, term_id t, int depth)
{
    if (depth > RULE_FACT_DEPTH) return 0;
    uint32_t n = term_nargs(s, t);
    switch (term_op_of(s, t)) {
    case OP_NUM: return fmpq_sgn(term_value(s, t)) >= 0;
    case OP_EXP: case OP_ABS: return 1;
    case OP_TANH: return nonneg_at(s, term_arg(s, t, 0), depth + 1); /* tanh is odd and increasing */
    case OP_POW: {
        term_id e = term_arg(s, t, 1);
        if (term_op_of(s, e) != OP_NUM) return 1; /* x^y = exp(y*log(x)), x > 0 */
        const fmpq *ev = term_value(s, e);
        if (!fmpz_is_one(fmpq_denref(ev))) return 1; /* a root of x >= 0 */
        return fmpz_is_even(fmpq_numref(ev)) || nonneg_at(s, term_arg(s, t, 0), depth + 1);
    }
    case OP_ADD: case OP_MUL: case OP_MIN:
        for (uint32_t i = 0; i < n; i++)
            if (!nonneg_at(s, term_arg(s, t, i), depth + 1)) return 0;
        return 1;
    case OP_MAX:
        for (uint32_t i = 0; i < n; i++)
            if (nonneg_at(s, term_arg(s, t, i), depth + 1)) return 1;
        return 0;
    default: return 0;
    }
}

/* t > 0 wherever it is defined. */
static int positive_at(const term_store *s, term_id t, int depth)
{
    if (depth > RULE_FACT_DEPTH) return 0;
    uint32_t n = term_nargs(s, t);
    switch (term_op_of(s, t)) {
    case OP_NUM: return fmpq_sgn(term_value(s, t)) > 0;
    case OP_EXP: return 1;
    case OP_ABS: case OP_TANH: return positive_at(s, term_arg(s, t, 0), depth + 1);
    case OP_POW: {
        term_id e = term_arg(s, t, 1);
        if (term_op_of(s, e) != OP_NUM) return 1;
        if (positive_at(s, term_arg(s, t, 0), depth + 1)) return 1;
        /* x^(-p/q), q > 1, needs x > 0; x^(-2k) needs x != 0: both > 0 */
        const fmpq *ev = term_value(s, e);
        return fmpq_sgn(ev) < 0 && (!fmpz_is_one(fmpq_denref(ev)) || fmpz_is_even(fmpq_numref(ev)));
    }
    case OP_MUL: case OP_MIN:
        for (uint32_t i = 0; i < n; i++)
            if (!positive_at(s, term_arg(s, t, i), depth + 1)) return 0;
        return 1;
    case OP_ADD: {
        int some = 0;
        for (uint32_t i = 0; i < n; i++) {
            term_id a = term_arg(s, t, i);
            if (!nonneg_at(s, a, depth + 1)) return 0;
            if (!some && positive_at(s, a, depth + 1)) some = 1;
        }
        return some;
    }
    case OP_MAX:
        for (uint32_t i = 0; i < n; i++)
            if (positive_at(s, term_arg(s, t, i), depth + 1)) return 1;
        return 0;
    default: return 0;
    }
}

int rule_nonneg(const term_store *s, term_id t) { return nonneg_at(s, t, 0); }
int rule_positive(const term_store *s, term_id t) { return positive_at(s, t, 0); }

/* ---- measures ----
 * Each is a dynamic program over the nodes reachable from t, in increasing
 * id (arguments first), so shared nodes are computed once while the value is
 * that of the tree; values are exact (fmpz). */

typedef void (*node_measure)(fmpz_t out, const term_store *s, term_id t, const fmpz *val);

static void measure_dp(fmpz_t out, const term_store *s, term_id t, node_measure f)
{
    unsigned char *mark = mem_calloc((size_t)t + 1, 1);
    fmpz *val = mem_calloc((size_t)t + 1, sizeof *val); /* zeroed fmpz are valid zeros */
    term_mark_reachable(mark, s, &t, 1);
    for (term_id u = 1; u <= t; u++)
        if (mark[u]) f(val + u, s, u, val);
    fmpz_set(out, val + t);
    for (term_id u = 1; u <= t; u++) fmpz_clear(val + u);
    free(val);
    free(mark);
}

static void ops_node(fmpz_t out, const term_store *s, term_id t, const fmpz *val)
{
    uint32_t n = term_nargs(s, t);
    term_op op = term_op_of(s, t);
    fmpz_zero(out);
    switch (op) {
    case OP_NUM: case OP_NINF: return; /* constants are free */
    case OP_SYM: fmpz_one(out); return;
    case OP_POW: /* 2 W(b) + W(e) + 1 */
        fmpz_mul_ui(out, val + term_arg(s, t, 0), 2);
        fmpz_add(out, out, val + term_arg(s, t, 1));
        fmpz_add_ui(out, out, 1);
        return;
    case OP_MUL: { /* numeric coefficients cost nothing */
        uint32_t k = 0;
        for (uint32_t i = 0; i < n; i++) {
            term_id a = term_arg(s, t, i);
            if (term_op_of(s, a) == OP_NUM) continue;
            fmpz_add(out, out, val + a);
            k++;
        }
        if (k > 1) fmpz_add_ui(out, out, k - 1);
        return;
    }
    case OP_ADD: case OP_MAX: case OP_MIN:
        for (uint32_t i = 0; i < n; i++) fmpz_add(out, out, val + term_arg(s, t, i));
        fmpz_add_ui(out, out, n - 1);
        return;
    case OP_LSE: /* n - 1 additions and a log, the exps not counted: below
                    log(exp(a) + exp(b)) (2n), above a sum (n - 1) */
        for (uint32_t i = 0; i < n; i++) fmpz_add(out, out, val + term_arg(s, t, i));
        fmpz_add_ui(out, out, n);
        return;
    default: /* exp, log, abs, tanh */
        fmpz_add_ui(out, val + term_arg(s, t, 0), 1);
        return;
    }
}

static void poly_node(fmpz_t out, const term_store *s, term_id t, const fmpz *val)
{
    uint32_t n = term_nargs(s, t);
    term_op op = term_op_of(s, t);
    switch (op) {
    case OP_NUM: case OP_SYM: case OP_NINF: fmpz_set_ui(out, 2); return;
    case OP_ADD: case OP_MAX: case OP_MIN: case OP_LSE:
        fmpz_set_ui(out, n - 1);
        for (uint32_t i = 0; i < n; i++) fmpz_add(out, out, val + term_arg(s, t, i));
        return;
    case OP_MUL: /* a numeric coefficient (never 1) counts 2 */
        fmpz_one(out);
        for (uint32_t i = 0; i < n; i++) {
            term_id a = term_arg(s, t, i);
            if (term_op_of(s, a) != OP_NUM) fmpz_mul(out, out, val + a);
            else fmpz_mul_ui(out, out, 2);
        }
        return;
    case OP_POW: {
        term_id b = term_arg(s, t, 0), e = term_arg(s, t, 1);
        if (term_op_of(s, e) == OP_NUM) { /* E(b)^ceil(|e|) */
            fmpz_t c;
            fmpz_init(c);
            const fmpq *ev = term_value(s, e);
            if (fmpq_sgn(ev) > 0) {
                fmpz_cdiv_q(c, fmpq_numref(ev), fmpq_denref(ev));
            } else { /* ceil(-e) = -floor(e) */
                fmpz_fdiv_q(c, fmpq_numref(ev), fmpq_denref(ev));
                fmpz_neg(c, c);
            }
            fmpz_pow_ui(out, val + b, fmpz_get_ui(c));
            fmpz_clear(c);
        } else {
            fmpz_add(out, val + b, val + e);
            fmpz_add_ui(out, out, 2);
        }
        return;
    }
    case OP_LOG: fmpz_mul(out, val + term_arg(s, t, 0), val + term_arg(s, t, 0)); return;
    default: fmpz_add_ui(out, val + term_arg(s, t, 0), 2); return;
    }
}

static int has_denominator(const term_store *s, term_id t)
{
    if (rule_is_denominator(s, t)) return 1;
    if (term_op_of(s, t) != OP_MUL) return 0;
    uint32_t n = term_nargs(s, t);
    for (uint32_t i = 0; i < n; i++)
        if (rule_is_denominator(s, term_arg(s, t, i))) return 1;
    return 0;
}

static void fractions_node(fmpz_t out, const term_store *s, term_id t, const fmpz *val)
{
    uint32_t n = term_nargs(s, t);
    fmpz_zero(out);
    int redex = 0;
    for (uint32_t i = 0; i < n; i++) {
        term_id a = term_arg(s, t, i);
        fmpz_add(out, out, val + a);
        if (term_op_of(s, t) == OP_ADD && has_denominator(s, a)) redex = 1;
    }
    if (redex) fmpz_add_ui(out, out, 1);
}

void rule_measure_ops(fmpz_t out, const term_store *s, term_id t) { measure_dp(out, s, t, ops_node); }
void rule_measure_poly(fmpz_t out, const term_store *s, term_id t) { measure_dp(out, s, t, poly_node); }
void rule_measure_fractions(fmpz_t out, const term_store *s, term_id t) { measure_dp(out, s, t, fractions_node); }

/* rules: rewrite rules as data: a name, a pattern in HMP syntax, a guard, and
 * a result template or a builder; named rule sets, each with the measure its
 * rules decrease. Matching is modulo associativity/commutativity of + and *. */
#ifndef HMP_RULES_H
#define HMP_RULES_H

#include <stddef.h>
#include <stdint.h>
#include <flint/fmpz.h>

#include "core/term.h"

/* Pattern variables (docs/REWRITE.md): every name in a pattern is a variable.
 * Sums, products, max, min and lse are matched modulo AC.
 * A name starting with a lower-case letter (x, a, k) matches one term; the
 * same name twice matches the same term twice. A name starting with an
 * upper-case letter (R, REST) is a sequence variable: written directly inside
 * a sum, a product, max, min or lse (at most one per such node), it matches the
 * arguments left over, zero or more. Numbers match themselves. A sum or a
 * product in a pattern matches a sum or a product (never a single term), its
 * other arguments in any order. Patterns and templates are canonicalised like
 * any term (x*x is x^2), so tables write them in canonical shape. */
#define RULE_MAX_VARS 8

typedef struct rule rule;
typedef struct rule_set rule_set;

/* The bindings of one match, in the subject's store s. */
typedef struct rule_match {
    term_store *s;
    const rule *r;
    term_id var[RULE_MAX_VARS];       /* by slot; TERM_NONE: unbound */
    uint32_t seq_off[RULE_MAX_VARS];  /* sequence variables: a span of seq */
    uint32_t seq_len[RULE_MAX_VARS];
    term_id *seq;
    size_t n_seq, cap_seq;
} rule_match;

/* A condition on the bindings (read with rule_var): 1 to let the rule fire. */
typedef int (*rule_guard)(const rule_match *m);
/* Builds the result of a rule that needs code, from t (the matched term) and
 * the bindings, in m->s; TERM_NONE when it does not apply after all. */
typedef term_id (*rule_builder)(const rule_match *m, term_id t);
/* A measure: a natural number, exact. */
typedef void (*rule_measure)(fmpz_t out, const term_store *s, term_id t);

typedef struct rule_def {
    const char *name;     /* lower-case words joined by '-': "pow-product" */
    const char *pattern;  /* HMP text with pattern variables */
    const char *result;   /* template over the pattern's variables, or NULL: build */
    rule_guard guard;     /* NULL: none */
    rule_builder build;   /* used when result is NULL */
    const char *doc;      /* one line: the identity and its side condition */
} rule_def;

typedef struct rule_set_def {
    const char *name;     /* "algebra" */
    const char *doc;      /* one line */
    const rule_def *rules;
    size_t n_rules;
    rule_measure measure; /* every firing of a rule of the set decreases it; NULL
                             for the passes of rewrite/expsum.c, never run by
                             an engine, whose steps still name rules */
    const char *measure_doc;
    const char *undoes;   /* a set whose rules this one reverses (never run both), or NULL */
} rule_set_def;

struct rule {
    const rule_def *def;
    const rule_set *set;
    term_id pattern, result;          /* in set->patterns; result NONE: builder */
    term_op op;                       /* the pattern's root operator */
    uint32_t n_vars;
    term_id var_term[RULE_MAX_VARS];  /* SYM term of each slot in set->patterns */
    uint8_t var_seq[RULE_MAX_VARS];   /* 1: a sequence variable */
};

/* A compiled set: its patterns and templates parsed once into a store of its
 * own. */
struct rule_set {
    const rule_set_def *def;
    term_store patterns;
    rule *rules;
    size_t n_rules;
};

/* Parses the patterns and templates of def. A malformed table is a bug in the
 * program (it aborts naming the rule), never an input error. */
void rule_set_init(rule_set *rs, const rule_set_def *def);
void rule_set_clear(rule_set *rs);

/* ---- the sets this program knows, by name ---- */
extern const rule_set_def rule_set_algebra;  /* sound identities, run by default */
extern const rule_set_def rule_set_expand;   /* distribute, powers of sums */
extern const rule_set_def rule_set_together; /* sums of fractions over one denominator */
extern const rule_set_def rule_set_factor;   /* collect common factors */
extern const rule_set_def rule_set_expsum;   /* exp laws, softmax, log-sum-exp (rewrite/expsum.c) */
extern const rule_set_def rule_set_stable;   /* the max-shifted form of lse (undoes expsum) */

size_t rule_set_count(void);
const rule_set_def *rule_set_def_at(size_t i);
/* The set called name (len bytes), or NULL. */
const rule_set_def *rule_set_find(const char *name, size_t len);
/* 1 when one of a, b undoes the other. */
int rule_sets_conflict(const rule_set_def *a, const rule_set_def *b);

/* ---- matching ---- */
void rule_match_init(rule_match *m, term_store *s);
void rule_match_clear(rule_match *m);
/* 1 when r's pattern matches t at its root and the guard holds; the bindings
 * are then in m. Deterministic: the first match in argument order. */
int rule_match_term(rule_match *m, const rule *r, term_id t);
/* The rewritten term for the match in m (template or builder); TERM_NONE when
 * the builder declines. */
term_id rule_result(rule_match *m, term_id t);
/* Match and result in one: the term r rewrites t to, or TERM_NONE (no match,
 * the builder declines, or the result is t itself). */
term_id rule_try(rule_match *m, const rule *r, term_id t);

/* The term bound to the single variable name (TERM_NONE if r has none). */
term_id rule_var(const rule_match *m, const char *name);
/* The arguments bound to the sequence variable name: their count, *args set. */
size_t rule_seq(const term_id **args, const rule_match *m, const char *name);

/* ---- facts guards use; 1 = certainly, 0 = not known ----
 * Read wherever t is defined, with the evaluator's meaning of powers:
 * x^(p/q), q > 1, needs x >= 0 and x^y with y not a number needs x > 0. */
int rule_nonneg(const term_store *s, term_id t);
int rule_positive(const term_store *s, term_id t);
int rule_is_even_integer(const term_store *s, term_id t);
/* A factor b^e with e a negative rational and b not a number (a denominator). */
int rule_is_denominator(const term_store *s, term_id t);

/* ---- measures (docs/REWRITE.md), over t written out as a tree ---- */
/* Operation count: +, *, calls and powers each 1, numeric coefficients free,
 * a power counting its base twice, lse of n arguments n. Decreased by
 * algebra, factor and expsum. */
void rule_measure_ops(fmpz_t out, const term_store *s, term_id t);
/* Polynomial weight: leaves 2, sums add (+1 per +), products multiply,
 * integer powers raise. Decreased by expand. */
void rule_measure_poly(fmpz_t out, const term_store *s, term_id t);
/* Sums (two or more terms) with a term that has a denominator. Decreased by
 * together. */
void rule_measure_fractions(fmpz_t out, const term_store *s, term_id t);

#endif

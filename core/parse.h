/* parse: the HMP language, version 1 (docs/LANGUAGE.md). Text -> a script:
 * relations `name = expr` over names, and directives such as `output`. */
#ifndef HMP_PARSE_H
#define HMP_PARSE_H

#include "core/diag.h"
#include "core/term.h"

/* Parser limits; past them a clear error, never a crash. */
#define PARSE_MAX_DEPTH 10000        /* nesting of parentheses, calls, unary ops */
#define PARSE_MAX_NUMBER_DIGITS 1000000
#define PARSE_MAX_EXPONENT 1000000   /* |e| in 1.5e-3 */

typedef struct relation {
    term_id name;   /* SYM term of the defined name */
    term_id rhs;    /* right-hand side as written, over names (SYM terms) */
    src_pos name_pos, rhs_pos;
} relation;

typedef enum directive_kind {
    DIRECTIVE_OUTPUT /* output NAME, NAME, ... */
} directive_kind;

typedef struct directive {
    directive_kind kind;
    src_pos pos;        /* of the keyword */
    term_id *args;      /* OUTPUT: SYM terms */
    src_pos *arg_pos;
    size_t n_args;
} directive;

typedef struct script {
    const source *src;
    relation *rels;
    size_t n_rels, cap_rels;
    directive *dirs;
    size_t n_dirs, cap_dirs;
} script;

void script_init(script *sc);
void script_clear(script *sc);

/* Parses a whole script from src (which must outlive sc) into sc, building
 * terms in s. Errors go to d; parsing recovers at the next statement, so one
 * call reports several errors. Returns 0 when no error was found. */
int parse_script(script *sc, term_store *s, diag_list *d, const source *src);

/* Parses one expression (the whole text, surrounding blanks allowed). 0 and
 * *out set on success; nonzero with errors in d otherwise. */
int parse_expr(term_id *out, term_store *s, diag_list *d, const source *src);

/* Canonical spelling of a name: bracket index forms are normalised
 * (x[1][2] and x[ 1 , 2 ] both become x[1,2]); other names are unchanged. */

#endif

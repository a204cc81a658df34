/* print: terms as infix text (parses back to the same id), LaTeX, and
 * Graphviz DOT of a DAG with shared nodes drawn once. */
#ifndef HMP_PRINT_H
#define HMP_PRINT_H

#include "core/strbuf.h"
#include "core/term.h"

/* Infix with minimal parentheses; parse_expr of the text gives t again. */
void print_infix(strbuf *out, const term_store *s, term_id t);
/* LaTeX math (no surrounding $). Index names become subscripts. */
void print_latex(strbuf *out, const term_store *s, term_id t);
/* A digraph of every node reachable from roots, each drawn once; labels[i]
 * (may be NULL) names root i. */
void print_dot(strbuf *out, const term_store *s, const term_id *roots, const char *const *labels, size_t n);

#endif

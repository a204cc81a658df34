/* recognise: matrix recognition. Indexed names are grouped into families
 * (arrays); each family's operation is proposed from one entry and verified
 * on every entry by hash-consed id. The result is a matrix program. */
#ifndef HMP_RECOGNISE_H
#define HMP_RECOGNISE_H

#include "core/strbuf.h"
#include "core/system.h"
#include "core/term.h"
#include "program/mat.h"

/* Recognises the relations of y (as written, over names) into p, which
 * must be freshly initialised on y->store. Deterministic: the same relations
 * in any order give the same program. Returns 0. */
int recog_program(mat_program *p, const sys *y);

/* The term the program gives the entry at cell of family f (an operation's
 * output, or the name of an input), TERM_NONE when it has none. */
term_id recog_predict(mat_program *p, uint32_t f, size_t cell);
/* The scalar relations the program generates, as an HMP script in a
 * canonical order: literal inputs, then each operation's entries
 * (row-major), then the relations left scalar, then `output` directives. */
void recog_regen(strbuf *out, mat_program *p);

#endif

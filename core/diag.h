/* diag: source text and diagnostics. Every message a user sees about their
 * input goes through here: FILE:LINE:COL: error: MESSAGE, the line, a caret. */
#ifndef HMP_DIAG_H
#define HMP_DIAG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A whole input held in memory. text[len] == '\0' (text may hold NULs). */
typedef struct source {
    char *name; /* file name as given, "<stdin>" for standard input */
    char *text;
    size_t len;
} source;

/* A position: byte offset, 1-based line and 1-based byte column. */
typedef struct src_pos {
    size_t offset;
    uint32_t line, col;
} src_pos;

/* Reads path ("-" = standard input). 0 on success; on failure, -1 and a
 * message in err (size errlen). */
int source_read_file(source *src, const char *path, char *err, size_t errlen);
/* Copies len bytes of text; name is copied too. */
void source_from_string(source *src, const char *name, const char *text, size_t len);
void source_clear(source *src);
/* Position of a byte offset (0 <= offset <= len), counting lines. */
src_pos source_pos(const source *src, size_t offset);

typedef enum diag_level { DIAG_ERROR, DIAG_WARNING, DIAG_NOTE } diag_level;

typedef struct diag {
    diag_level level;
    const source *src; /* NULL: no position (message only) */
    src_pos pos;
    char *msg;
} diag;

typedef struct diag_list {
    diag *items;
    size_t n, cap;
    size_t n_errors;
    size_t max_errors; /* stop recording errors past this (default 50) */
} diag_list;

void diag_init(diag_list *d);
void diag_clear(diag_list *d);
void diag_add(diag_list *d, diag_level level, const source *src, src_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
void diag_error(diag_list *d, const source *src, src_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void diag_note(diag_list *d, const source *src, src_pos pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* True when the error limit was reached (callers may stop early). */
int diag_full(const diag_list *d);
/* Prints every diagnostic: "FILE:LINE:COL: error: MSG", the source line (long
 * lines shown as a window around the column, unprintable bytes as '?'), and a
 * caret under the column. */
void diag_print(FILE *out, const diag_list *d);

#endif

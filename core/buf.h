/* buf: a growable byte buffer for building output text. */
#ifndef HMP_BUF_H
#define HMP_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct strbuf {
    char *data; /* always NUL-terminated once anything was written */
    size_t len, cap;
} strbuf;

void sb_init(strbuf *b);
void sb_clear(strbuf *b);
void sb_reset(strbuf *b); /* len = 0, keeps memory */
void sb_putc(strbuf *b, char c);
void sb_puts(strbuf *b, const char *s);
void sb_putn(strbuf *b, const char *s, size_t n);
void sb_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_vprintf(strbuf *b, const char *fmt, va_list ap);
/* s as a JSON string literal, with quotes. */
void sb_json_string(strbuf *b, const char *s);
const char *sb_str(strbuf *b); /* "" when empty */

#endif

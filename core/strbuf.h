/* strbuf: a growable byte buffer for building output text. */
#ifndef HMP_STRBUF_H
#define HMP_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct strbuf {
    char *data; /* always NUL-terminated once anything was written */
    size_t len, cap;
} strbuf;

void strbuf_init(strbuf *b);
void strbuf_clear(strbuf *b);
void strbuf_reset(strbuf *b); /* len = 0, keeps memory */
void strbuf_putc(strbuf *b, char c);
void strbuf_puts(strbuf *b, const char *s);
void strbuf_putn(strbuf *b, const char *s, size_t n);
void strbuf_printf(strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_vprintf(strbuf *b, const char *fmt, va_list ap);
/* s as a JSON string literal, with quotes. */
void strbuf_json_string(strbuf *b, const char *s);
const char *strbuf_str(strbuf *b); /* "" when empty */
/* The text, owned by the caller (free it); b is left empty. */
char *strbuf_take(strbuf *b);

#endif

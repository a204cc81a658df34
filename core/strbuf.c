/* strbuf: a growable byte buffer for building output text. */
#include "core/strbuf.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void strbuf_reserve(strbuf *b, size_t extra)
{
    if (b->len + extra + 1 <= b->cap) return;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra + 1) cap = cap * 2;
    char *p = realloc(b->data, cap);
    if (!p) mem_fail();
    b->data = p;
    b->cap = cap;
}

void strbuf_init(strbuf *b) { b->data = NULL; b->len = b->cap = 0; }
void strbuf_clear(strbuf *b) { free(b->data); strbuf_init(b); }
void strbuf_reset(strbuf *b) { b->len = 0; if (b->data) b->data[0] = '\0'; }

void strbuf_putn(strbuf *b, const char *s, size_t n)
{
    strbuf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void strbuf_putc(strbuf *b, char c) { strbuf_putn(b, &c, 1); }
void strbuf_puts(strbuf *b, const char *s) { strbuf_putn(b, s, strlen(s)); }

void strbuf_vprintf(strbuf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return;
    strbuf_reserve(b, (size_t)n);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
}

void strbuf_printf(strbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    strbuf_vprintf(b, fmt, ap);
    va_end(ap);
}

void strbuf_json_string(strbuf *b, const char *s)
{
    strbuf_putc(b, '"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"': strbuf_puts(b, "\\\""); break;
        case '\\': strbuf_puts(b, "\\\\"); break;
        case '\n': strbuf_puts(b, "\\n"); break;
        case '\t': strbuf_puts(b, "\\t"); break;
        case '\r': strbuf_puts(b, "\\r"); break;
        default:
            if (*p < 0x20) strbuf_printf(b, "\\u%04x", *p);
            else strbuf_putc(b, (char)*p);
        }
    }
    strbuf_putc(b, '"');
}

const char *strbuf_str(strbuf *b) { return b->data ? b->data : ""; }

char *strbuf_take(strbuf *b)
{
    char *p = b->data ? b->data : mem_strdup("");
    strbuf_init(b);
    return p;
}

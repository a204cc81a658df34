/* diag: source text and diagnostics, printed as FILE:LINE:COL: error: MSG
 * with the source line and a caret under the column. */
#include "core/diag.h"
#include "core/mem.h"
#include "core/vec.h"

#include <errno.h>
#include <stdint.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"

int source_read_file(source *src, const char *path, char *err, size_t errlen)
{
    memset(src, 0, sizeof *src);
    int is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 1 << 16, len = 0;
    struct stat st; /* a regular file: read it into one block of its size */
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0 &&
        (uint64_t)st.st_size < ((uint64_t)1 << 40))
        cap = (size_t)st.st_size + 2;
    char *text = mem_realloc(NULL, cap);
    mem_populate(text, cap);
    for (;;) {
        if (len + 1 >= cap) {
            if (cap > ((size_t)1 << 40)) {
                snprintf(err, errlen, "%s: file too large", path);
                free(text);
                if (!is_stdin) fclose(f);
                return -1;
            }
            cap *= 2;
            text = mem_realloc(text, cap);
        }
        size_t got = fread(text + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    if (!is_stdin) fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: read error", path);
        free(text);
        return -1;
    }
    text[len] = '\0';
    src->name = mem_strdup(is_stdin ? "<stdin>" : path);
    src->text = text;
    src->len = len;
    return 0;
}

void source_from_string(source *src, const char *name, const char *text, size_t len)
{
    src->name = mem_strdup(name);
    src->text = mem_realloc(NULL, len + 1);
    memcpy(src->text, text, len);
    src->text[len] = '\0';
    src->len = len;
}

void source_clear(source *src)
{
    free(src->name);
    free(src->text);
    memset(src, 0, sizeof *src);
}

src_pos source_pos(const source *src, size_t offset)
{
    src_pos p = { offset, 1, 1 };
    size_t line_start = 0;
    if (offset > src->len) offset = src->len;
    for (size_t i = 0; i < offset; i++)
        if (src->text[i] == '\n') { p.line++; line_start = i + 1; }
    p.col = (uint32_t)(offset - line_start + 1);
    return p;
}

void diag_init(diag_list *d)
{
    memset(d, 0, sizeof *d);
    d->max_errors = 50;
}

void diag_clear(diag_list *d)
{
    for (size_t i = 0; i < d->n; i++) free(d->items[i].msg);
    free(d->items);
    diag_init(d);
}

int diag_full(const diag_list *d) { return d->n_errors >= d->max_errors; }

static void diag_vadd(diag_list *d, diag_level level, const source *src, src_pos pos, const char *fmt, va_list ap)
{
    if (level == DIAG_ERROR) {
        if (d->n_errors >= d->max_errors) { d->n_errors++; return; }
        d->n_errors++;
    } else if (d->n_errors > d->max_errors) {
        return;
    }
    VEC_RESERVE(d->items, d->cap, d->n + 1);
    strbuf b;
    strbuf_init(&b);
    strbuf_vprintf(&b, fmt, ap);
    diag *g = &d->items[d->n++];
    g->level = level;
    g->src = src;
    g->pos = pos;
    g->msg = b.data ? b.data : mem_strdup("");
}

void diag_add(diag_list *d, diag_level level, const source *src, src_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(d, level, src, pos, fmt, ap);
    va_end(ap);
}

void diag_error(diag_list *d, const source *src, src_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(d, DIAG_ERROR, src, pos, fmt, ap);
    va_end(ap);
}

void diag_note(diag_list *d, const source *src, src_pos pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_vadd(d, DIAG_NOTE, src, pos, fmt, ap);
    va_end(ap);
}

/* Window of a long line shown around the column (bytes). */
#define LINE_WINDOW 100

static void print_source_line(FILE *out, const source *src, src_pos pos)
{
    size_t off = pos.offset > src->len ? src->len : pos.offset;
    size_t start = off - (pos.col - 1);
    size_t end = off;
    while (end < src->len && src->text[end] != '\n') end++;
    size_t from = start, to = end;
    int cut_left = 0, cut_right = 0;
    if (off - start > LINE_WINDOW / 2) { from = off - LINE_WINDOW / 2; cut_left = 1; }
    if (to - from > LINE_WINDOW) { to = from + LINE_WINDOW; cut_right = 1; }
    strbuf line, caret;
    strbuf_init(&line);
    strbuf_init(&caret);
    strbuf_puts(&line, "  ");
    strbuf_puts(&caret, "  ");
    if (cut_left) { strbuf_puts(&line, "..."); strbuf_puts(&caret, "   "); }
    for (size_t i = from; i < to; i++) {
        unsigned char c = (unsigned char)src->text[i];
        int shown = 1;
        if (c == '\t') strbuf_putc(&line, '\t');
        else if (c >= 0x20 && c < 0x7f) strbuf_putc(&line, (char)c);
        else if (c >= 0xc0 && c < 0xf8 && i + 1 < to && ((unsigned char)src->text[i + 1] & 0xc0) == 0x80) {
            /* a UTF-8 sequence: copy it whole, one column */
            size_t k = i + 1;
            while (k < to && ((unsigned char)src->text[k] & 0xc0) == 0x80 && k - i < 4) k++;
            if (i < off && k > off) off = i; /* caret on the sequence's first byte */
            strbuf_putn(&line, src->text + i, k - i);
            if (i < off) strbuf_putc(&caret, ' ');
            i = k - 1;
            continue;
        } else strbuf_putc(&line, '?');
        if (i < off && shown) strbuf_putc(&caret, c == '\t' ? '\t' : ' ');
    }
    if (cut_right) strbuf_puts(&line, "...");
    strbuf_putc(&caret, '^');
    fprintf(out, "%s\n%s\n", strbuf_str(&line), strbuf_str(&caret));
    strbuf_clear(&line);
    strbuf_clear(&caret);
}

void diag_print(FILE *out, const diag_list *d)
{
    static const char *level_name[] = { "error", "warning", "note" };
    for (size_t i = 0; i < d->n; i++) {
        const diag *g = &d->items[i];
        if (g->src) {
            fprintf(out, "%s:%u:%u: %s: %s\n", g->src->name, g->pos.line, g->pos.col, level_name[g->level], g->msg);
            print_source_line(out, g->src, g->pos);
        } else {
            fprintf(out, "hmp: %s: %s\n", level_name[g->level], g->msg);
        }
    }
    if (d->n_errors > d->max_errors)
        fprintf(out, "hmp: %zu more errors not shown\n", d->n_errors - d->max_errors);
}

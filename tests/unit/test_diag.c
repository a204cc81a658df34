/* Tests of core/diag (positions, the printed form of errors) and core/buf. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/diag.h"

/* Prints d to a string. */
static char *printed(const diag_list *d)
{
    FILE *f = tmpfile();
    diag_print(f, d);
    long len = ftell(f);
    rewind(f);
    char *text = malloc((size_t)len + 1);
    size_t got = fread(text, 1, (size_t)len, f);
    text[got] = '\0';
    fclose(f);
    return text;
}

Test(diag, positions)
{
    source src;
    const char *t = "a = 1\nbb = 2\n\nc";
    source_from_string(&src, "f.hmp", t, strlen(t));
    src_pos p = source_pos(&src, 0);
    cr_assert_eq(p.line, 1); cr_assert_eq(p.col, 1);
    p = source_pos(&src, 4);
    cr_assert_eq(p.line, 1); cr_assert_eq(p.col, 5);
    p = source_pos(&src, 6); /* 'b' */
    cr_assert_eq(p.line, 2); cr_assert_eq(p.col, 1);
    p = source_pos(&src, 14); /* 'c' */
    cr_assert_eq(p.line, 4); cr_assert_eq(p.col, 1);
    p = source_pos(&src, src.len); /* end of input */
    cr_assert_eq(p.line, 4); cr_assert_eq(p.col, 2);
    source_clear(&src);
}

Test(diag, error_with_caret)
{
    source src;
    const char *t = "x = 1\ny = (2 + @)\n";
    source_from_string(&src, "f.hmp", t, strlen(t));
    diag_list d;
    diag_init(&d);
    diag_error(&d, &src, source_pos(&src, 14), "unexpected character '%c'", '@');
    diag_note(&d, &src, source_pos(&src, 0), "see %s", "here");
    cr_assert_eq(d.n_errors, 1);
    char *out = printed(&d);
    cr_assert_str_eq(out, "f.hmp:2:9: error: unexpected character '@'\n"
                          "  y = (2 + @)\n"
                          "          ^\n"
                          "f.hmp:1:1: note: see here\n"
                          "  x = 1\n"
                          "  ^\n");
    free(out);
    diag_clear(&d);
    source_clear(&src);
}

Test(diag, odd_bytes_and_tabs)
{
    source src;
    const char t[] = "a\t= \xff\x00 \xc3\xa9 b";
    source_from_string(&src, "f.hmp", t, sizeof t - 1);
    diag_list d;
    diag_init(&d);
    diag_error(&d, &src, source_pos(&src, 10), "here"); /* the b */
    char *out = printed(&d);
    /* unprintable bytes shown as '?', the tab kept so the caret aligns, the
     * two-byte character under one column */
    cr_assert_str_eq(out, "f.hmp:1:11: error: here\n"
                          "  a\t= ?? \xc3\xa9 b\n"
                          "   \t       ^\n");
    free(out);
    diag_clear(&d);
    source_clear(&src);
}

Test(diag, long_line_window)
{
    size_t n = 1000000;
    char *t = malloc(n + 1);
    memset(t, 'a', n);
    t[n] = '\0';
    t[500000] = '@';
    source src;
    source_from_string(&src, "big.hmp", t, n);
    diag_list d;
    diag_init(&d);
    diag_error(&d, &src, source_pos(&src, 500000), "unexpected character '@'");
    char *out = printed(&d);
    cr_assert(strncmp(out, "big.hmp:1:500001: error:", 24) == 0);
    cr_assert_lt(strlen(out), 400, "a long line is shown as a window");
    const char *line = strchr(out, '\n') + 1;
    const char *caret = strchr(line, '\n') + 1;
    const char *at = strchr(line, '@');
    cr_assert_not_null(at);
    cr_assert_eq(strchr(caret, '^') - caret, at - line, "caret under the '@'");
    free(out);
    diag_clear(&d);
    source_clear(&src);
    free(t);
}

Test(diag, error_limit)
{
    source src;
    source_from_string(&src, "f", "x", 1);
    diag_list d;
    diag_init(&d);
    for (int i = 0; i < 80; i++) diag_error(&d, &src, source_pos(&src, 0), "e%d", i);
    cr_assert(diag_full(&d));
    cr_assert_eq(d.n, 50);
    char *out = printed(&d);
    cr_assert_not_null(strstr(out, "30 more errors not shown"));
    free(out);
    diag_clear(&d);
    source_clear(&src);
}

Test(diag, read_missing_file)
{
    source src;
    char err[256];
    cr_assert_eq(source_read_file(&src, "/nonexistent/dir/f.hmp", err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "/nonexistent/dir/f.hmp: cannot open"));
}

Test(buf, printf_and_json)
{
    strbuf b;
    strbuf_init(&b);
    cr_assert_str_eq(strbuf_str(&b), "");
    for (int i = 0; i < 1000; i++) strbuf_printf(&b, "%d,", i);
    cr_assert_eq(b.len, 10 * 2 + 90 * 3 + 900 * 4);
    strbuf_reset(&b);
    strbuf_json_string(&b, "a\"b\\c\n\x01");
    cr_assert_str_eq(strbuf_str(&b), "\"a\\\"b\\\\c\\n\\u0001\"");
    strbuf_clear(&b);
}

/* Tests of frontends/report and of what hmp verify writes with --report and
 * reads with --mask: the SVG documents parsed back (cells, binning by max,
 * colours, histogram counts), well-formed XML, deterministic bytes, the
 * files and their errors, report.json against --json, per-head masks. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/strbuf.h"
#include "frontends/cli.h"
#include "io/report.h"
#include "io/tensor.h"
#include "tests/lib/testlib.h"

#define MAGENTA "#ff00ff"

/* ---- fixtures ---- */

/* A report of count x n_q x d_v entries with zeroed errors. */
static void make_report(verify_report *r, size_t entries, double bound)
{
    memset(r, 0, sizeof *r);
    r->entries = entries;
    r->bound = bound;
    r->pass = 1;
    r->ulp_err = calloc(entries ? entries : 1, sizeof *r->ulp_err);
    r->err_scaled = calloc(entries ? entries : 1, sizeof *r->err_scaled);
    r->truth_bits = calloc(entries ? entries : 1, sizeof *r->truth_bits);
}

static double uniform(test_rng *g) { return (double)(test_rand(g) >> 11) * 0x1p-53; }

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    size_t cap = 1 << 12, n = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (n == cap) buf = realloc(buf, (cap *= 2) + 1);
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static char *file_text(FILE *f)
{
    fflush(f);
    long n = ftell(f);
    cr_assert_geq(n, 0);
    char *buf = malloc((size_t)n + 1);
    rewind(f);
    cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    return buf;
}

static void make_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/hmp-report-XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp failed");
}

static void remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

/* ---- reading the SVG back ---- */

/* The value of attribute name in the tag that starts at tag; 0 if absent. */
static int attr(const char *tag, const char *name, char *out, size_t cap)
{
    const char *end = strchr(tag, '>');
    char key[64];
    snprintf(key, sizeof key, " %s=\"", name);
    const char *at = strstr(tag, key);
    if (!at || (end && at > end)) return 0;
    at += strlen(key);
    const char *q = strchr(at, '"');
    cr_assert(q, "unterminated attribute %s", name);
    size_t n = (size_t)(q - at) < cap - 1 ? (size_t)(q - at) : cap - 1;
    memcpy(out, at, n);
    out[n] = '\0';
    return 1;
}

static double attr_num(const char *tag, const char *name)
{
    char v[64];
    cr_assert(attr(tag, name, v, sizeof v), "no attribute %s in %.80s", name, tag);
    char *e;
    double x = strtod(v, &e);
    cr_assert(*e == '\0' && e != v, "attribute %s=\"%s\" is not a number", name, v);
    return x;
}

static size_t attr_size(const char *tag, const char *name)
{
    double x = attr_num(tag, name);
    cr_assert(x >= 0 && x == floor(x), "attribute %s is %g", name, x);
    return (size_t)x;
}

/* A well-formedness check: one root <svg> with the SVG namespace, every tag
 * closed in order, attributes quoted, only the five XML entities. */
static void check_xml(const char *s)
{
    const char *prolog = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" ";
    cr_assert(strncmp(s, prolog, strlen(prolog)) == 0, "prolog: %.120s", s);
    char stack[64][32];
    int depth = 0, roots = 0;
    const char *p = strchr(s, '\n') + 1;
    while (*p) {
        if (*p == '<') {
            cr_assert(p[1] != '!' && p[1] != '?', "comment or processing instruction");
            int closing = p[1] == '/';
            const char *n = p + 1 + closing;
            size_t len = 0;
            while ((n[len] >= 'a' && n[len] <= 'z') || (n[len] >= 'A' && n[len] <= 'Z') || n[len] == '-') len++;
            cr_assert(len > 0 && len < 32, "bad tag name at %.40s", p);
            if (closing) {
                cr_assert_gt(depth, 0, "close without open at %.40s", p);
                cr_assert(strlen(stack[depth - 1]) == len && strncmp(stack[depth - 1], n, len) == 0,
                          "</%.*s> closes <%s>", (int)len, n, stack[depth - 1]);
                cr_assert_eq(n[len], '>');
                depth--;
                p = n + len + 1;
                continue;
            }
            cr_assert(depth > 0 || roots == 0, "a second root element");
            if (depth == 0) {
                cr_assert(len == 3 && strncmp(n, "svg", 3) == 0);
                roots++;
            }
            const char *q = n + len;
            for (;;) {
                while (*q == ' ' || *q == '\n') q++;
                if (*q == '/' || *q == '>') break;
                size_t an = 0;
                while (q[an] && q[an] != '=' && q[an] != ' ' && q[an] != '>') an++;
                cr_assert(an > 0 && q[an] == '=' && q[an + 1] == '"', "bad attribute at %.40s", q);
                q += an + 2;
                while (*q && *q != '"') {
                    cr_assert(*q != '<', "'<' in an attribute value");
                    if (*q == '&')
                        cr_assert(strncmp(q, "&amp;", 5) == 0 || strncmp(q, "&lt;", 4) == 0 ||
                                  strncmp(q, "&gt;", 4) == 0 || strncmp(q, "&quot;", 6) == 0 ||
                                  strncmp(q, "&apos;", 6) == 0,
                                  "bad entity at %.20s", q);
                    q++;
                }
                cr_assert_eq(*q, '"');
                q++;
            }
            if (*q == '/') {
                cr_assert_eq(q[1], '>');
                p = q + 2;
            } else {
                cr_assert_lt(depth, 64);
                memcpy(stack[depth], n, len);
                stack[depth][len] = '\0';
                depth++;
                p = q + 1;
            }
        } else {
            if (depth == 0) cr_assert(*p == '\n' || *p == ' ', "text outside the root: %.20s", p);
            cr_assert(*p != '>', "a bare '>' in text at %.20s", p);
            if (*p == '&')
                cr_assert(strncmp(p, "&amp;", 5) == 0 || strncmp(p, "&lt;", 4) == 0 || strncmp(p, "&gt;", 4) == 0 ||
                              strncmp(p, "&quot;", 6) == 0 || strncmp(p, "&apos;", 6) == 0,
                          "bad entity at %.20s", p);
            p++;
        }
    }
    cr_assert_eq(depth, 0, "%d elements left open", depth);
    cr_assert_eq(roots, 1);
    /* standalone: size and viewBox on the root, text in sans-serif */
    char w[32], h[32], vb[64], ff[32];
    cr_assert(attr(strstr(s, "<svg "), "width", w, sizeof w) && attr(strstr(s, "<svg "), "height", h, sizeof h));
    cr_assert(attr(strstr(s, "<svg "), "viewBox", vb, sizeof vb));
    char want[128];
    snprintf(want, sizeof want, "0 0 %s %s", w, h);
    cr_assert_str_eq(vb, want);
    cr_assert(attr(strstr(s, "<svg "), "font-family", ff, sizeof ff));
    cr_assert_str_eq(ff, "sans-serif");
}

/* The heatmap's cells, one colour per cell (runs expanded); every cell is
 * covered exactly once. */
typedef struct grid {
    size_t rows, cols, row_bin, col_bin, rects;
    char (*colour)[8];
} grid;

static void read_grid(grid *g, const char *svg)
{
    const char *at = strstr(svg, "<g id=\"cells\"");
    cr_assert(at, "no cells");
    g->rows = attr_size(at, "data-rows");
    g->cols = attr_size(at, "data-cols");
    g->row_bin = attr_size(at, "data-row-bin");
    g->col_bin = attr_size(at, "data-col-bin");
    g->rects = 0;
    g->colour = calloc(g->rows * g->cols + 1, sizeof *g->colour);
    const char *end = strstr(at, "</g>");
    for (const char *p = strstr(at, "<rect "); p && p < end; p = strstr(p + 1, "<rect ")) {
        size_t x = attr_size(p, "x"), y = attr_size(p, "y"), w = attr_size(p, "width");
        cr_assert_eq(attr_size(p, "height"), 1);
        cr_assert(y < g->rows && x + w <= g->cols && w >= 1, "rect %zu %zu %zu outside", x, y, w);
        char fill[16];
        cr_assert(attr(p, "fill", fill, sizeof fill) && strlen(fill) == 7 && fill[0] == '#');
        for (size_t k = x; k < x + w; k++) {
            cr_assert_eq(g->colour[y * g->cols + k][0], '\0', "cell %zu,%zu covered twice", y, k);
            memcpy(g->colour[y * g->cols + k], fill, 8);
        }
        g->rects++;
    }
    for (size_t k = 0; k < g->rows * g->cols; k++) cr_assert_neq(g->colour[k][0], '\0', "cell %zu not covered", k);
}

static const char *cell(const grid *g, size_t y, size_t x) { return g->colour[y * g->cols + x]; }

/* Counts occurrences of needle in the element that starts at s. */
static size_t count_in_group(const char *s, const char *needle)
{
    const char *end = strstr(s, "</g>");
    size_t n = 0;
    for (const char *p = strstr(s, needle); p && p < end; p = strstr(p + 1, needle)) n++;
    return n;
}

/* ---- the heatmap ---- */

/* 2000 x 64: rows binned by 4 (ceil(2000 / 512)), columns not; one planted
 * entry over the bound makes exactly its bin magenta. */
Test(report, heatmap_planted_entry_is_magenta)
{
    test_rng g = {11};
    size_t n_q = 2000, d_v = 64, entries = n_q * d_v;
    verify_report r;
    make_report(&r, entries, 1.5);
    for (size_t e = 0; e < entries; e++) r.err_scaled[e] = 0.002 + 0.3 * uniform(&g);
    size_t row = 1234, col = 17;
    r.err_scaled[row * d_v + col] = 1.5000001;
    r.over_bound = 1;
    r.pass = 0;
    report_input in = {.r = &r, .count = 1, .n_q = n_q, .d_v = d_v, .title = "dir/o.npy"};
    strbuf b;
    strbuf_init(&b);
    report_heatmap_svg(&b, &in);
    check_xml(strbuf_str(&b));
    grid gr;
    read_grid(&gr, strbuf_str(&b));
    size_t rb = (n_q + 511) / 512;
    cr_assert_eq(rb, 4);
    cr_assert_eq(gr.row_bin, rb);
    cr_assert_eq(gr.col_bin, 1);
    cr_assert_eq(gr.rows, (n_q + rb - 1) / rb);
    cr_assert_eq(gr.cols, d_v);
    size_t magenta = 0;
    for (size_t y = 0; y < gr.rows; y++)
        for (size_t x = 0; x < gr.cols; x++)
            if (strcmp(cell(&gr, y, x), MAGENTA) == 0) {
                magenta++;
                cr_assert(y == row / rb && x == col, "magenta at %zu,%zu", y, x);
            }
    cr_assert_eq(magenta, 1);
    /* runs of equal colour are merged: fewer rects than cells is possible, never more */
    cr_assert_leq(gr.rects, gr.rows * gr.cols);
    /* title: the file name, the verdict */
    cr_assert(strstr(strbuf_str(&b), "<title>err_scaled of o.npy: FAIL</title>"));
    free(gr.colour);

    /* exactly the bound is within it; NaN and infinity are not */
    r.err_scaled[row * d_v + col] = 1.5;
    r.err_scaled[7 * d_v + 63] = NAN;
    r.err_scaled[1999 * d_v + 0] = INFINITY;
    strbuf_reset(&b);
    report_heatmap_svg(&b, &in);
    read_grid(&gr, strbuf_str(&b));
    cr_assert_str_neq(cell(&gr, row / rb, col), MAGENTA);
    cr_assert_str_eq(cell(&gr, 7 / rb, 63), MAGENTA);
    cr_assert_str_eq(cell(&gr, 1999 / rb, 0), MAGENTA);
    magenta = 0;
    for (size_t k = 0; k < gr.rows * gr.cols; k++) magenta += strcmp(gr.colour[k], MAGENTA) == 0;
    cr_assert_eq(magenta, 2);
    free(gr.colour);

    /* given verdicts win over err_scaled (--tol) */
    unsigned char *over = calloc(entries, 1);
    over[500 * d_v + 5] = 1;
    in.over = over;
    strbuf_reset(&b);
    report_heatmap_svg(&b, &in);
    read_grid(&gr, strbuf_str(&b));
    cr_assert_str_eq(cell(&gr, 500 / rb, 5), MAGENTA);
    free(gr.colour);
    free(over);
    strbuf_clear(&b);
    verify_report_clear(&r);
}

/* A cell shows the max of its bin: one large entry among small ones gives
 * the colour of a bin of large entries, not of their mean. */
Test(report, heatmap_bin_shows_max)
{
    size_t n_q = 2000, d_v = 64, entries = n_q * d_v;
    verify_report r;
    make_report(&r, entries, 1.2);
    for (size_t e = 0; e < entries; e++) r.err_scaled[e] = 0.001;
    /* rows 0..3 of column 0: one 1.0; rows 4..7: all 1.0; rows 8..11: none */
    r.err_scaled[2 * d_v] = 1.0;
    for (size_t i = 4; i < 8; i++) r.err_scaled[i * d_v] = 1.0;
    /* a bin whose mean is 1.0 / 4 + 0.00075 ~ 0.25 */
    for (size_t i = 12; i < 16; i++) r.err_scaled[i * d_v] = 0.25;
    report_input in = {.r = &r, .count = 1, .n_q = n_q, .d_v = d_v, .title = "o.npy"};
    strbuf b;
    strbuf_init(&b);
    report_heatmap_svg(&b, &in);
    grid gr;
    read_grid(&gr, strbuf_str(&b));
    cr_assert_eq(gr.row_bin, 4);
    cr_assert_str_eq(cell(&gr, 0, 0), cell(&gr, 1, 0));
    cr_assert_str_neq(cell(&gr, 0, 0), cell(&gr, 2, 0));
    cr_assert_str_eq(cell(&gr, 2, 0), cell(&gr, 0, 1));
    cr_assert_str_neq(cell(&gr, 0, 0), cell(&gr, 3, 0), "the mean would look like this");
    cr_assert_str_neq(cell(&gr, 0, 0), MAGENTA);
    /* a uniform field is one rect per row */
    size_t rects = gr.rects;
    cr_assert_leq(rects, gr.rows + 3 * 2, "%zu rects", rects);
    free(gr.colour);
    strbuf_clear(&b);
    verify_report_clear(&r);
}

/* Binning both ways, problems stacked with labels and separators, and small
 * outputs with one cell per entry. */
Test(report, heatmap_shapes)
{
    static const struct {
        size_t count, n_q, d_v, heads;
        int lead;
    } cases[] = {
        {1, 3, 1100, 0, 0}, {3, 5, 4, 3, 1},  {6, 100, 70, 3, 2},   {1, 1, 1, 0, 0},
        {6, 10, 8, 3, 2},   {2, 0, 8, 2, 1},  {1000, 2, 2, 1000, 1}, {1, 513, 513, 0, 0},
    };
    test_rng g = {12};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        size_t rows = cases[c].count * cases[c].n_q, cols = cases[c].d_v, entries = rows * cols;
        verify_report r;
        make_report(&r, entries, 1.1);
        for (size_t e = 0; e < entries; e++) r.err_scaled[e] = uniform(&g);
        report_input in = {.r = &r,
                           .count = cases[c].count,
                           .n_q = cases[c].n_q,
                           .d_v = cols,
                           .lead_dims = cases[c].lead,
                           .heads = cases[c].heads,
                           .title = "out.safetensors:o"};
        strbuf b;
        strbuf_init(&b);
        report_heatmap_svg(&b, &in);
        const char *s = strbuf_str(&b);
        check_xml(s);
        if (!entries) {
            cr_assert(strstr(s, "no entries"));
            cr_assert_null(strstr(s, "id=\"cells\""));
        } else {
            grid gr;
            read_grid(&gr, s);
            size_t rb = (rows + 511) / 512, cb = (cols + 511) / 512;
            cr_assert_eq(gr.row_bin, rb, "case %zu", c);
            cr_assert_eq(gr.col_bin, cb, "case %zu", c);
            cr_assert_eq(gr.rows, (rows + rb - 1) / rb, "case %zu", c);
            cr_assert_eq(gr.cols, (cols + cb - 1) / cb, "case %zu", c);
            cr_assert_leq(gr.rows, 512);
            cr_assert_leq(gr.cols, 512);
            free(gr.colour);
        }
        if (cases[c].count > 1 && entries) {
            const char *labels = strstr(s, "<g id=\"problem-labels\"");
            cr_assert(labels, "case %zu", c);
            cr_assert(strstr(labels, cases[c].lead == 2 ? ">b0 h0<" : ">h0<"));
            if (cases[c].count * cases[c].n_q <= 512) /* every problem labelled, one line between each two */
            {
                cr_assert(strstr(labels, cases[c].lead == 2 ? ">b1 h2<" : ">h2<"), "case %zu", c);
                const char *sep = strstr(s, "<g id=\"problems\"");
                cr_assert_eq(count_in_group(sep, "<line "), 2 * (cases[c].count - 1));
                cr_assert_eq(count_in_group(labels, "<text "), cases[c].count);
            }
        } else
            cr_assert_null(strstr(s, "problem-labels"));
        strbuf_clear(&b);
        verify_report_clear(&r);
    }
}

/* The legend: a tick marked for the bound, and decades on the bar. */
Test(report, heatmap_legend)
{
    verify_report r;
    make_report(&r, 4, 1.029);
    r.err_scaled[0] = 0.5;
    r.err_scaled[1] = 0.01;
    r.err_scaled[2] = 0;
    r.err_scaled[3] = 1e-6;
    report_input in = {.r = &r, .count = 1, .n_q = 2, .d_v = 2, .title = "a<b&\"c'\x01\xff.npy"};
    strbuf b;
    strbuf_init(&b);
    report_heatmap_svg(&b, &in);
    const char *s = strbuf_str(&b);
    check_xml(s);
    cr_assert(strstr(s, "id=\"bound-tick\""));
    cr_assert(strstr(s, ">bound 1.029</text>"));
    cr_assert(strstr(s, ">0.001</text>") && strstr(s, ">0.01</text>") && strstr(s, ">0.1</text>"));
    cr_assert(strstr(s, "a&lt;b&amp;&quot;c&apos;??.npy"), "the title escaped");
    /* the levels of the bar: REPORT_LEVELS rects, distinct colours, none magenta */
    const char *legend = strstr(s, "<g id=\"legend\">");
    cr_assert(legend);
    grid gr;
    read_grid(&gr, s);
    /* the largest value has the colour near the top of the bar, zero the bottom one */
    char colours[REPORT_LEVELS][8];
    const char *p = legend;
    for (int l = 0; l < REPORT_LEVELS; l++) {
        p = strstr(p + 1, "<rect ");
        cr_assert(attr(p, "fill", colours[l], sizeof colours[l]));
        cr_assert_str_neq(colours[l], MAGENTA);
    }
    cr_assert_str_eq(cell(&gr, 1, 0), colours[0], "0 is the bottom colour");
    cr_assert_str_eq(cell(&gr, 1, 1), colours[0], "1e-6 is below the scale");
    int top = -1;
    for (int l = 0; l < REPORT_LEVELS; l++)
        if (strcmp(cell(&gr, 0, 0), colours[l]) == 0) top = l;
    cr_assert_gt(top, REPORT_LEVELS / 2, "0.5 is high on a scale to 1.029: level %d", top);
    free(gr.colour);
    strbuf_clear(&b);
    verify_report_clear(&r);
}

/* ---- the histogram ---- */

typedef struct bar {
    char kind[16];
    double lo, hi;
    size_t count;
    double x, width;
} bar;

static size_t read_bars(bar *out, size_t max, const char *svg)
{
    size_t n = 0;
    for (const char *p = strstr(svg, "<rect class=\"bar\""); p; p = strstr(p + 1, "<rect class=\"bar\"")) {
        cr_assert_lt(n, max);
        bar *b = &out[n++];
        cr_assert(attr(p, "data-bin", b->kind, sizeof b->kind));
        b->count = attr_size(p, "data-count");
        b->x = attr_num(p, "x");
        b->width = attr_num(p, "width");
        b->lo = b->hi = NAN;
        if (strcmp(b->kind, "range") == 0) {
            b->lo = attr_num(p, "data-lo");
            char hi[64];
            cr_assert(attr(p, "data-hi", hi, sizeof hi));
            b->hi = strcmp(hi, "inf") == 0 ? INFINITY : attr_num(p, "data-hi");
        }
    }
    return n;
}

Test(report, histogram_counts)
{
    test_rng g = {13};
    int iters = 20 * test_multiplier();
    for (int it = 0; it < iters; it++) {
        size_t entries = 1 + (size_t)test_randn(&g, 3000);
        verify_report r;
        make_report(&r, entries, 1.0);
        for (size_t e = 0; e < entries; e++) {
            int kind = test_randn(&g, 10);
            double x;
            if (kind == 0) x = 0;
            else if (kind == 1) x = test_randn(&g, 2) ? NAN : INFINITY;
            else if (kind == 2) x = ldexp(1, test_randn(&g, 80) - 40); /* exact powers: bin edges */
            else if (kind == 3 && it % 3 == 0) x = ldexp(uniform(&g) + 0.5, test_randn(&g, 200) - 100);
            else x = uniform(&g) * (it % 2 ? 0.5 : 8);
            r.ulp_err[e] = x;
        }
        report_input in = {.r = &r, .count = 1, .n_q = entries, .d_v = 1, .title = "o.npy"};
        strbuf b;
        strbuf_init(&b);
        report_histogram_svg(&b, &in);
        check_xml(strbuf_str(&b));
        static bar bars[200];
        size_t n = read_bars(bars, 200, strbuf_str(&b));
        cr_assert_geq(n, 3);
        cr_assert_str_eq(bars[0].kind, "zero");
        cr_assert_str_eq(bars[n - 1].kind, "nonfinite");
        size_t total = 0;
        for (size_t k = 0; k < n; k++) {
            size_t want = 0;
            for (size_t e = 0; e < entries; e++) {
                double x = r.ulp_err[e];
                if (k == 0) want += x == 0;
                else if (k == n - 1) want += !isfinite(x);
                else want += isfinite(x) && x > bars[k].lo && x <= bars[k].hi;
            }
            cr_assert_eq(bars[k].count, want, "iteration %d, bar %zu (%s, %g, %g]", it, k, bars[k].kind, bars[k].lo,
                         bars[k].hi);
            total += bars[k].count;
            if (k > 1 && k < n - 1) {
                cr_assert_eq(bars[k].lo, bars[k - 1].hi, "contiguous bins");
                cr_assert(bars[k].hi == INFINITY || bars[k].hi == 2 * bars[k].lo, "a power of 2 per bin");
            }
            if (k > 0) cr_assert_gt(bars[k].x, bars[k - 1].x);
        }
        cr_assert_eq(total, entries);
        cr_assert_eq(bars[1].lo, 0, "the lowest bin takes everything below");
        cr_assert_eq(bars[n - 2].hi, INFINITY, "the highest bin takes everything above");
        /* the 0.5 ulp line lies between the bins (.., 0.5] and (0.5, ..] */
        size_t half = 0;
        for (size_t k = 1; k + 1 < n; k++)
            if (bars[k].lo == 0.5) half = k;
        cr_assert_gt(half, 1);
        const char *line = strstr(strbuf_str(&b), "id=\"half-ulp\"");
        cr_assert(line);
        double xl = attr_num(line - 6, "x1");
        cr_assert(xl >= bars[half - 1].x + bars[half - 1].width && xl <= bars[half].x, "line at %g", xl);
        strbuf_clear(&b);
        verify_report_clear(&r);
    }
}

/* ---- determinism ---- */

Test(report, same_input_same_bytes)
{
    strbuf out[2][2];
    for (int run = 0; run < 2; run++) {
        test_rng g = {14};
        size_t count = 4, n_q = 300, d_v = 40, entries = count * n_q * d_v;
        verify_report r;
        make_report(&r, entries, 1.03);
        for (size_t e = 0; e < entries; e++) {
            r.err_scaled[e] = uniform(&g) * (test_randn(&g, 1000) ? 1 : 10);
            r.ulp_err[e] = uniform(&g) * 0.6;
        }
        r.err_scaled[5] = NAN;
        report_input in = {.r = &r, .count = count, .n_q = n_q, .d_v = d_v, .lead_dims = 2, .heads = 2,
                           .title = "o.npy"};
        strbuf_init(&out[run][0]);
        strbuf_init(&out[run][1]);
        report_heatmap_svg(&out[run][0], &in);
        report_histogram_svg(&out[run][1], &in);
        verify_report_clear(&r);
    }
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(out[0][k].len, out[1][k].len);
        cr_assert(memcmp(out[0][k].data, out[1][k].data, out[0][k].len) == 0);
        check_xml(strbuf_str(&out[0][k]));
        strbuf_clear(&out[0][k]);
        strbuf_clear(&out[1][k]);
    }
}

/* ---- files ---- */

Test(report, write_files_and_errors)
{
    char dir[64], path[256], err[512];
    make_dir(dir, sizeof dir);
    verify_report r;
    make_report(&r, 6, 1.0);
    for (size_t e = 0; e < 6; e++) r.err_scaled[e] = r.ulp_err[e] = 0.1 * (double)e;
    report_input in = {.r = &r, .count = 1, .n_q = 2, .d_v = 3, .title = "o.npy"};

    /* missing parents are made */
    snprintf(path, sizeof path, "%s/a/b/c", dir);
    cr_assert_eq(report_write(path, "{\"x\": 1}\n", &in, err, sizeof err), 0, "%s", err);
    char file[320];
    snprintf(file, sizeof file, "%s/report.json", path);
    char *text = slurp(file, NULL);
    cr_assert_str_eq(text, "{\"x\": 1}\n");
    free(text);
    strbuf b;
    strbuf_init(&b);
    report_heatmap_svg(&b, &in);
    snprintf(file, sizeof file, "%s/heatmap.svg", path);
    text = slurp(file, NULL);
    cr_assert_str_eq(text, strbuf_str(&b));
    free(text);
    strbuf_reset(&b);
    report_histogram_svg(&b, &in);
    snprintf(file, sizeof file, "%s/histogram.svg", path);
    text = slurp(file, NULL);
    cr_assert_str_eq(text, strbuf_str(&b));
    free(text);
    strbuf_clear(&b);

    /* an existing directory is reused, the files replaced (a trailing slash too) */
    snprintf(path, sizeof path, "%s/a/b/c/", dir);
    cr_assert_eq(report_write(path, "{}\n", &in, err, sizeof err), 0, "%s", err);
    snprintf(file, sizeof file, "%s/a/b/c/report.json", dir);
    text = slurp(file, NULL);
    cr_assert_str_eq(text, "{}\n");
    free(text);

    /* a file in the way */
    snprintf(path, sizeof path, "%s/a/b/c/report.json", dir);
    cr_assert_eq(report_write(path, "{}\n", &in, err, sizeof err), -1);
    char want[400];
    snprintf(want, sizeof want, "cannot create the report directory '%s': Not a directory", path);
    cr_assert_str_eq(err, want);
    snprintf(path, sizeof path, "%s/a/b/c/report.json/sub", dir);
    cr_assert_eq(report_write(path, "{}\n", &in, err, sizeof err), -1);
    cr_assert(strstr(err, "cannot create the report directory") && strstr(err, "Not a directory"), "%s", err);
    cr_assert_eq(report_write("", "{}\n", &in, err, sizeof err), -1);
    cr_assert(strstr(err, "empty name"), "%s", err);

    /* a file that cannot be written: a directory by its name, a full device */
    snprintf(path, sizeof path, "%s/d", dir);
    snprintf(file, sizeof file, "%s/d/heatmap.svg", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    cr_assert_eq(mkdir(file, 0777), 0);
    cr_assert_eq(report_write(path, "{}\n", &in, err, sizeof err), -1);
    snprintf(want, sizeof want, "cannot write '%s': Is a directory", file);
    cr_assert_str_eq(err, want);
    if (access("/dev/full", W_OK) == 0) {
        snprintf(path, sizeof path, "%s/e", dir);
        snprintf(file, sizeof file, "%s/e/histogram.svg", dir);
        cr_assert_eq(mkdir(path, 0777), 0);
        cr_assert_eq(symlink("/dev/full", file), 0);
        cr_assert_eq(report_write(path, "{}\n", &in, err, sizeof err), -1);
        snprintf(want, sizeof want, "cannot write '%s': No space left on device", file);
        cr_assert_str_eq(err, want);
    }
    verify_report_clear(&r);
    remove_dir(dir);
}

/* ---- hmp verify --report and --mask ---- */

/* Attention of one problem in double precision: a reference good to far
 * below an ulp of f32. mask NULL or n_q x n_k (1 = attend). */
static void attention(double *o, const double *q, const double *k, const double *v, const unsigned char *mask,
                      size_t n, size_t d)
{
    double *s = malloc(n * sizeof *s), sc = 1 / sqrt((double)d);
    for (size_t i = 0; i < n; i++) {
        double m = -INFINITY;
        for (size_t j = 0; j < n; j++) {
            s[j] = -INFINITY;
            if (mask && !mask[i * n + j]) continue;
            double t = 0;
            for (size_t c = 0; c < d; c++) t += q[i * d + c] * k[j * d + c];
            s[j] = t * sc;
            if (s[j] > m) m = s[j];
        }
        for (size_t c = 0; c < d; c++) {
            double num = 0, den = 0;
            for (size_t j = 0; j < n; j++) {
                if (s[j] == -INFINITY) continue;
                double p = exp(s[j] - m);
                num += p * v[j * d + c];
                den += p;
            }
            o[i * d + c] = den > 0 ? (double)(float)(num / den) : 0;
        }
    }
    free(s);
}

static void put_tensor(const char *dir, const char *name, const double *data, int ndim, const size_t *shape,
                       fp_format f, int boolean)
{
    tensor t;
    tensor_init(&t);
    t.dtype = f;
    t.boolean = boolean;
    t.ndim = ndim;
    t.count = 1;
    for (int a = 0; a < ndim; a++) t.count *= (t.shape[a] = shape[a]);
    t.data = (double *)data;
    char path[256], err[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cr_assert_eq(tensor_write_npy(path, &t, err, sizeof err), 0, "%s", err);
}

/* Runs hmp verify with the arguments (a NULL-terminated list; .npy files
 * and the directory after --report are in dir); stdout and stderr returned. */
static int run_verify(const char *dir, char **out_text, char **err_text, ...)
{
    char *argv[32], buf[32][256];
    int argc = 0;
    argv[argc++] = "verify";
    va_list ap;
    va_start(ap, err_text);
    for (const char *a; (a = va_arg(ap, const char *)) != NULL; argc++) {
        size_t len = strlen(a);
        if ((len > 4 && strcmp(a + len - 4, ".npy") == 0) || strcmp(argv[argc - 1], "--report") == 0)
            snprintf(buf[argc], sizeof buf[argc], "%s/%s", dir, a);
        else snprintf(buf[argc], sizeof buf[argc], "%s", a);
        argv[argc] = buf[argc];
    }
    va_end(ap);
    FILE *out = tmpfile(), *err = tmpfile();
    int rc = cli_verify(argc, argv, out, err);
    char *o = file_text(out), *e = file_text(err);
    fclose(out);
    fclose(err);
    if (out_text) *out_text = o;
    else free(o);
    if (err_text) *err_text = e;
    else free(e);
    return rc;
}

static void random_inputs(double *x, size_t n, test_rng *g)
{
    for (size_t i = 0; i < n; i++) x[i] = (double)(float)(2 * uniform(g) - 1);
}

Test(report, cli_report_json_is_json_output)
{
    char dir[64];
    make_dir(dir, sizeof dir);
    test_rng g = {15};
    size_t h = 2, n = 24, d = 8, shape[3] = {h, n, d};
    double *q = malloc(h * n * d * sizeof *q), *k = malloc(h * n * d * sizeof *k), *v = malloc(h * n * d * sizeof *v),
           *o = malloc(h * n * d * sizeof *o);
    random_inputs(q, h * n * d, &g);
    random_inputs(k, h * n * d, &g);
    random_inputs(v, h * n * d, &g);
    for (size_t b = 0; b < h; b++) attention(o + b * n * d, q + b * n * d, k + b * n * d, v + b * n * d, NULL, n, d);
    o[37] = o[37] * (1 + 0x1p-20); /* a few ulps off: fails --tol 1 */
    put_tensor(dir, "q.npy", q, 3, shape, FP_F32, 0);
    put_tensor(dir, "k.npy", k, 3, shape, FP_F32, 0);
    put_tensor(dir, "v.npy", v, 3, shape, FP_F32, 0);
    put_tensor(dir, "o.npy", o, 3, shape, FP_F32, 0);
    for (int tol = 0; tol < 2; tol++) {
        char *json, *text, *both, *err;
        const char *t1 = tol ? "--tol" : "--causal", *t2 = tol ? "1" : NULL;
        int want = 1; /* --causal: the output was not computed causally; --tol 1: entry 37 */
        cr_assert_eq(run_verify(dir, &json, NULL, "--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--out", "o.npy",
                                "--json", t1, t2, NULL),
                     want);
        cr_assert_eq(run_verify(dir, &text, &err, "--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--out", "o.npy",
                                "--report", "rep", t1, t2, NULL),
                     want, "%s", err);
        cr_assert_str_eq(err, "");
        char path[256];
        snprintf(path, sizeof path, "%s/rep/report.json", dir);
        char *file = slurp(path, NULL);
        cr_assert_str_eq(file, json, "report.json differs from --json");
        cr_assert(strstr(text, "FAIL\n") && !strstr(text, "{"), "stdout keeps the summary: %s", text);
        cr_assert_eq(run_verify(dir, &both, NULL, "--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--out", "o.npy",
                                "--json", "--report", "rep", t1, t2, NULL),
                     want);
        cr_assert_str_eq(both, json);
        snprintf(path, sizeof path, "%s/rep/heatmap.svg", dir);
        char *svg = slurp(path, NULL);
        check_xml(svg);
        cr_assert(strstr(svg, "<title>err_scaled of o.npy: FAIL</title>"));
        grid gr;
        read_grid(&gr, svg);
        cr_assert_eq(gr.rows, h * n);
        cr_assert_eq(gr.cols, d);
        if (tol) /* entry 37 (row 4, column 5) is over --tol 1 */
            cr_assert_str_eq(cell(&gr, 4, 5), MAGENTA);
        free(gr.colour);
        snprintf(path, sizeof path, "%s/rep/histogram.svg", dir);
        char *hist = slurp(path, NULL);
        check_xml(hist);
        static bar bars[200];
        size_t nb = read_bars(bars, 200, hist), total = 0;
        for (size_t i = 0; i < nb; i++) total += bars[i].count;
        cr_assert_eq(total, h * n * d);
        free(svg);
        free(hist);
        free(file);
        free(json);
        free(text);
        free(both);
        free(err);
    }
    /* the report cannot be written: exit 1 and a message */
    char *err;
    cr_assert_eq(run_verify(dir, NULL, &err, "--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--out", "o.npy",
                            "--report", "q.npy", NULL),
                 CLI_EXIT_IO);
    char want[300];
    snprintf(want, sizeof want, "hmp verify: error: cannot create the report directory '%s/q.npy': Not a directory\n",
             dir);
    cr_assert_str_eq(err, want);
    free(err);
    cr_assert_eq(run_verify(dir, NULL, &err, "--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--out", "o.npy",
                            "--report", NULL),
                 CLI_EXIT_INPUT);
    cr_assert(strstr(err, "missing DIR after '--report'"), "%s", err);
    free(err);
    free(q);
    free(k);
    free(v);
    free(o);
    remove_dir(dir);
}

/* Per-head masks: heads 0 and 1 see different keys. The output computed
 * with the right mask of each head passes; with the masks swapped, or one
 * mask for both, a head fails. Masks as bool, float and additive arrays;
 * (batch, heads, ...) and broadcasts for 4-D inputs. */
Test(report, cli_per_head_masks)
{
    char dir[64];
    make_dir(dir, sizeof dir);
    test_rng g = {16};
    size_t B = 2, H = 2, n = 12, d = 4, per = n * d, total = B * H * per;
    double *q = malloc(total * sizeof *q), *k = malloc(total * sizeof *k), *v = malloc(total * sizeof *v),
           *o = malloc(total * sizeof *o);
    random_inputs(q, total, &g);
    random_inputs(k, total, &g);
    random_inputs(v, total, &g);
    /* masks: head 0 random (every row sees key 0), head 1 causal; batch 1 of
     * the per-problem masks: the transpose pattern */
    unsigned char m[2][2][144];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            m[0][0][i * n + j] = j == 0 || test_randn(&g, 3) != 0;
            m[0][1][i * n + j] = j <= i;
            m[1][0][i * n + j] = j >= i;
            m[1][1][i * n + j] = (i + j) % 2 == 0;
        }
    double fm[2][2][144], add[2][144];
    for (size_t x = 0; x < 144; x++)
        for (int b = 0; b < 2; b++) {
            for (int hh = 0; hh < 2; hh++) fm[b][hh][x] = m[b][hh][x];
            add[b][x] = m[0][b][x] ? 0 : -INFINITY;
        }
    size_t s3[3] = {H, n, d}, s4[4] = {B, H, n, d}, m2[2] = {n, n}, m3[3] = {H, n, n}, m4[4] = {B, H, n, n},
           m4b[4] = {B, 1, n, n}, m3bad[3] = {3, n, n}, m4one[4] = {1, 1, n, n};

    /* 3-D: (heads, n, d) with a (heads, n, n) mask */
    for (size_t hh = 0; hh < H; hh++) attention(o + hh * per, q + hh * per, k + hh * per, v + hh * per, m[0][hh], n, d);
    put_tensor(dir, "q.npy", q, 3, s3, FP_F32, 0);
    put_tensor(dir, "k.npy", k, 3, s3, FP_F32, 0);
    put_tensor(dir, "v.npy", v, 3, s3, FP_F32, 0);
    put_tensor(dir, "o.npy", o, 3, s3, FP_F32, 0);
    double swapped[2][144];
    memcpy(swapped[0], fm[0][1], sizeof swapped[0]);
    memcpy(swapped[1], fm[0][0], sizeof swapped[1]);
    put_tensor(dir, "mask.npy", &fm[0][0][0], 3, m3, FP_F64, 1);
    put_tensor(dir, "maskf.npy", &fm[0][0][0], 3, m3, FP_F32, 0);
    put_tensor(dir, "maskadd.npy", &add[0][0], 3, m3, FP_F32, 0);
    put_tensor(dir, "swapped.npy", &swapped[0][0], 3, m3, FP_F64, 1);
    put_tensor(dir, "head1.npy", fm[0][1], 2, m2, FP_F64, 1);
    put_tensor(dir, "three.npy", &fm[0][0][0], 3, m3bad, FP_F64, 1);
    char *out, *err;
#define VERIFY(...) run_verify(dir, &out, &err, "--q", "q.npy", "--k", "k.npy", "--v", "v.npy", "--out", "o.npy", __VA_ARGS__, NULL)
    cr_assert_eq(VERIFY("--mask", "mask.npy", "--tol", "1"), 0, "%s%s", out, err);
    free(out), free(err);
    cr_assert_eq(VERIFY("--mask", "maskf.npy"), 0, "%s%s", out, err);
    free(out), free(err);
    cr_assert_eq(VERIFY("--mask", "maskadd.npy"), 0, "%s%s", out, err);
    free(out), free(err);
    cr_assert_eq(VERIFY("--mask", "swapped.npy", "--json"), 1, "%s%s", out, err);
    cr_assert(strstr(out, "\"pass\": false"));
    free(out), free(err);
    /* one mask for both heads: head 0 is wrong, head 1 right */
    cr_assert_eq(VERIFY("--mask", "head1.npy", "--json"), 1);
    cr_assert(strstr(out, "\"index\": [0, "), "%s", out);
    cr_assert_null(strstr(out, "\"index\": [1, "), "%s", out);
    free(out), free(err);
    cr_assert_eq(VERIFY("--causal"), 1);
    free(out), free(err);
    /* a mask of the wrong shape */
    cr_assert_eq(VERIFY("--mask", "three.npy"), CLI_EXIT_INPUT);
    char want[512];
    snprintf(want, sizeof want,
             "hmp verify: error: %s/three.npy: the mask is (3, 12, 12); expected (n_q, n_k) = (12, 12) or (heads, n_q, "
             "n_k) = (2, 12, 12); a leading 1 broadcasts, and n_q = 1 gives every query the same row\n",
             dir);
    cr_assert_str_eq(err, want);
    free(out), free(err);

    /* 4-D: (batch, heads, n, d); masks per head (broadcast over batch), per problem, per batch */
    put_tensor(dir, "q.npy", q, 4, s4, FP_F32, 0);
    put_tensor(dir, "k.npy", k, 4, s4, FP_F32, 0);
    put_tensor(dir, "v.npy", v, 4, s4, FP_F32, 0);
    for (size_t p = 0; p < B * H; p++)
        attention(o + p * per, q + p * per, k + p * per, v + p * per, m[0][p % H], n, d);
    put_tensor(dir, "o.npy", o, 4, s4, FP_F32, 0);
    cr_assert_eq(VERIFY("--mask", "mask.npy"), 0, "%s%s", out, err);
    free(out), free(err);
    cr_assert_eq(VERIFY("--mask", "swapped.npy"), 1);
    free(out), free(err);
    for (size_t p = 0; p < B * H; p++)
        attention(o + p * per, q + p * per, k + p * per, v + p * per, m[p / H][p % H], n, d);
    put_tensor(dir, "o.npy", o, 4, s4, FP_F32, 0);
    put_tensor(dir, "mask4.npy", &fm[0][0][0], 4, m4, FP_F64, 1);
    cr_assert_eq(VERIFY("--mask", "mask4.npy"), 0, "%s%s", out, err);
    free(out), free(err);
    cr_assert_eq(VERIFY("--mask", "mask.npy"), 1, "batch 1 has other masks");
    free(out), free(err);
    /* (batch, 1, n, n): one mask per batch, every head */
    double perbatch[2][144];
    memcpy(perbatch[0], fm[0][1], sizeof perbatch[0]);
    memcpy(perbatch[1], fm[1][0], sizeof perbatch[1]);
    for (size_t p = 0; p < B * H; p++)
        attention(o + p * per, q + p * per, k + p * per, v + p * per, p / H ? m[1][0] : m[0][1], n, d);
    put_tensor(dir, "o.npy", o, 4, s4, FP_F32, 0);
    put_tensor(dir, "maskb.npy", &perbatch[0][0], 4, m4b, FP_F64, 1);
    cr_assert_eq(VERIFY("--mask", "maskb.npy"), 0, "%s%s", out, err);
    free(out), free(err);
    /* (1, 1, n, n): shared */
    for (size_t p = 0; p < B * H; p++) attention(o + p * per, q + p * per, k + p * per, v + p * per, m[0][1], n, d);
    put_tensor(dir, "o.npy", o, 4, s4, FP_F32, 0);
    put_tensor(dir, "mask11.npy", fm[0][1], 4, m4one, FP_F64, 1);
    cr_assert_eq(VERIFY("--mask", "mask11.npy"), 0, "%s%s", out, err);
    free(out), free(err);
    cr_assert_eq(VERIFY("--mask", "head1.npy"), 0, "%s%s", out, err);
    free(out), free(err);
    cr_assert_eq(VERIFY("--causal"), 0, "%s%s", out, err);
    free(out), free(err);
    cr_assert_eq(VERIFY("--mask", "three.npy"), CLI_EXIT_INPUT);
    cr_assert(strstr(err, "expected (n_q, n_k) = (12, 12), (heads, n_q, n_k) = (2, 12, 12) or (batch, heads, n_q, "
                          "n_k) = (2, 2, 12, 12); a leading 1 broadcasts"),
              "%s", err);
    free(out), free(err);
#undef VERIFY
    free(q);
    free(k);
    free(v);
    free(o);
    remove_dir(dir);
}

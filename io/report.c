/* report: the files of `hmp verify --report DIR`: report.json as --json
 * prints it, and a heatmap and a histogram as SVG documents any browser
 * shows. Numbers are printed in fixed formats: equal reports, equal bytes. */
#include "io/report.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/mem.h"

#define MAGENTA "#ff00ff"
#define FRAME "#444444"

int report_entry_bad(const report_input *in, size_t e)
{
    double v = in->r->err_scaled[e];
    if (!isfinite(v)) return 1;
    return in->over ? in->over[e] != 0 : v > in->r->bound;
}

/* ---- text ---- */

/* The length of the UTF-8 sequence at p (1 to 4), 0 when it is not one. */
static size_t utf8_len(const unsigned char *p)
{
    unsigned c = p[0];
    size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    for (size_t k = 1; k < n; k++)
        if ((p[k] & 0xc0) != 0x80) return 0;
    if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f) || (c == 0xf0 && p[1] < 0x90) ||
        (c == 0xf4 && p[1] > 0x8f))
        return 0; /* overlong, a surrogate, or past U+10FFFF */
    return n;
}

/* s as XML character data: markup escaped, control characters and bytes
 * that are not UTF-8 shown as '?'. */
static void put_text(strbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t n = 1;
        if (c == '&') strbuf_puts(b, "&amp;");
        else if (c == '<') strbuf_puts(b, "&lt;");
        else if (c == '>') strbuf_puts(b, "&gt;");
        else if (c == '"') strbuf_puts(b, "&quot;");
        else if (c == '\'') strbuf_puts(b, "&apos;");
        else if (c < 0x20 || c == 0x7f) strbuf_putc(b, '?');
        else if (c < 0x80) strbuf_putc(b, (char)c);
        else if ((n = utf8_len(p)) != 0) strbuf_putn(b, (const char *)p, n);
        else {
            strbuf_putc(b, '?');
            n = 1;
        }
        p += n;
    }
}

/* The file name of a path (what follows its last '/'). */
static const char *base_name(const char *path)
{
    if (!path || !*path) return "output";
    const char *slash = strrchr(path, '/');
    return slash && slash[1] ? slash + 1 : path;
}

/* 10^k as a label: 0.001 ... 1000, else 1e-5, 1e6. */
static void put_decade(strbuf *b, int k)
{
    if (k >= 0 && k <= 3) strbuf_printf(b, "%d", k == 0 ? 1 : k == 1 ? 10 : k == 2 ? 100 : 1000);
    else if (k < 0 && k >= -3) strbuf_printf(b, "0.%0*d", -k, 1);
    else strbuf_printf(b, "1e%d", k);
}

/* 2^e with the exponent raised. */
static void put_power2(strbuf *b, int e)
{
    strbuf_printf(b, "2<tspan dy=\"-6\" font-size=\"9\">%d</tspan>", e);
}

static void svg_open(strbuf *b, int width, int height, const char *label)
{
    strbuf_printf(b,
              "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
              "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
              "font-family=\"sans-serif\" font-size=\"11\">\n",
              width, height, width, height);
    strbuf_puts(b, "<title>");
    put_text(b, label);
    strbuf_puts(b, "</title>\n");
    strbuf_printf(b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", width, height);
}

/* A tick step of 1, 2 or 5 times a power of ten giving at most max_ticks
 * ticks over [0, n). */
static size_t nice_step(size_t n, size_t max_ticks)
{
    for (size_t s = 1;; s *= 10) {
        static const size_t m[] = {1, 2, 5};
        for (int i = 0; i < 3; i++)
            if (n <= m[i] * s * max_ticks) return m[i] * s;
        if (s > SIZE_MAX / 100) return SIZE_MAX;
    }
}

/* ---- the heatmap ---- */

/* A sequential scale (viridis, sampled at tenths), interpolated in integers
 * so that the colours are the same everywhere. */
static void level_colour(char out[8], int level)
{
    static const unsigned char anchor[10][3] = {
        {68, 1, 84},    {72, 40, 120},  {62, 73, 137},  {49, 104, 142}, {38, 130, 142},
        {31, 158, 137}, {53, 183, 121}, {110, 206, 88}, {181, 222, 43}, {253, 231, 37},
    };
    if (level >= REPORT_LEVELS) {
        snprintf(out, 8, "%s", MAGENTA);
        return;
    }
    int pos = level * 9 * 256 / (REPORT_LEVELS - 1), seg = pos / 256, frac = pos % 256;
    if (seg >= 9) {
        seg = 8;
        frac = 256;
    }
    int c[3];
    for (int k = 0; k < 3; k++) c[k] = anchor[seg][k] + (anchor[seg + 1][k] - anchor[seg][k]) * frac / 256;
    snprintf(out, 8, "#%02x%02x%02x", (unsigned)c[0], (unsigned)c[1], (unsigned)c[2]);
}

/* err_scaled from lo to hi on a log scale. */
typedef struct colour_scale {
    double lo, hi, span; /* span = log(hi / lo) */
} colour_scale;

/* hi: the bound, or the largest err_scaled shown in colour if larger; lo:
 * 1e-3, or the decade below the smallest positive value when that is
 * larger, and at least a decade below the bound and hi. */
static void colour_scale_init(colour_scale *s, const report_input *in, size_t entries)
{
    double hi = in->r->bound, minpos = INFINITY;
    for (size_t e = 0; e < entries; e++) {
        double v = in->r->err_scaled[e];
        if (report_entry_bad(in, e)) continue;
        if (v > hi) hi = v;
        if (v > 0 && v < minpos) minpos = v;
    }
    if (!(hi > 0) || !isfinite(hi)) hi = 1;
    double lo = 1e-3;
    if (isfinite(minpos) && minpos > lo) lo = pow(10, floor(log10(minpos)));
    if (lo > hi / 10) lo = hi / 10;
    if (in->r->bound > 0 && lo > in->r->bound / 10) lo = in->r->bound / 10;
    s->lo = lo;
    s->hi = hi;
    s->span = log(hi / lo);
}

static int scale_level(const colour_scale *s, double v)
{
    if (!(v > s->lo)) return 0;
    if (v >= s->hi) return REPORT_LEVELS - 1;
    int l = (int)(log(v / s->lo) / s->span * REPORT_LEVELS);
    return l < 0 ? 0 : l >= REPORT_LEVELS ? REPORT_LEVELS - 1 : l;
}

/* The height of v on a bar of height h drawn upwards from the low end. */
static double scale_height(const colour_scale *s, double v, double h) { return log(v / s->lo) / s->span * h; }

static void problem_label(strbuf *b, const report_input *in, size_t p)
{
    if (in->lead_dims >= 2 && in->heads) strbuf_printf(b, "b%zu h%zu", p / in->heads, p % in->heads);
    else if (in->lead_dims == 1) strbuf_printf(b, "h%zu", p);
    else strbuf_printf(b, "problem %zu", p);
}

enum { HM_LEFT = 92, HM_TOP = 84, HM_BOTTOM = 56, HM_LEGEND = 28, HM_LEGEND_W = 140, HM_BAR = 256 };

void report_heatmap_svg(strbuf *out, const report_input *in)
{
    const verify_report *r = in->r;
    size_t rows = in->count * in->n_q, cols = in->d_v, entries = rows * cols;
    size_t rb = rows ? (rows + REPORT_MAX_CELLS - 1) / REPORT_MAX_CELLS : 1;
    size_t cb = cols ? (cols + REPORT_MAX_CELLS - 1) / REPORT_MAX_CELLS : 1;
    size_t gr = (rows + rb - 1) / rb, gc = (cols + cb - 1) / cb;
    int cw = gc ? (int)(REPORT_MAX_CELLS / gc) : 24, ch = gr ? (int)(REPORT_MAX_CELLS / gr) : 24;
    if (cw > 24) cw = 24;
    if (ch > 24) ch = 24;
    if (cw < 1) cw = 1;
    if (ch < 1) ch = 1;
    int pw = entries ? (int)gc * cw : 240, ph = entries ? (int)gr * ch : 120;
    int x0 = HM_LEFT, y0 = HM_TOP, lx = x0 + pw + HM_LEGEND;
    int width = lx + HM_LEGEND_W, body = ph > HM_BAR + 84 ? ph : HM_BAR + 84;
    if (width < 600) width = 600;
    int height = y0 + body + HM_BOTTOM;

    strbuf t;
    strbuf_init(&t);
    const char *name = base_name(in->title);
    strbuf_printf(&t, "err_scaled of %s: %s", name, r->pass ? "PASS" : "FAIL");
    svg_open(out, width, height, strbuf_str(&t));
    strbuf_puts(out, "<text x=\"12\" y=\"22\" font-size=\"15\" font-weight=\"bold\">");
    put_text(out, strbuf_str(&t));
    strbuf_puts(out, "</text>\n");
    strbuf_printf(out,
              "<text x=\"12\" y=\"40\">%zu entries, %zu over %s %.4g, %zu nonfinite; max err_scaled %.4g, "
              "median %.4g</text>\n",
              r->entries, r->over_bound, in->tol ? "--tol" : "the bound", r->bound, r->nonfinite, r->max_err_scaled,
              r->median_err_scaled);
    strbuf_puts(out, "<text x=\"12\" y=\"54\" fill=\"#555555\">err_scaled = |o - x| / (u sum_j a_ij |v_jc|); ");
    if (rb == 1 && cb == 1) strbuf_puts(out, "one cell per entry</text>\n");
    else strbuf_printf(out, "each cell the largest of a bin of %zu x %zu entries</text>\n", rb, cb);
    strbuf_clear(&t);

    colour_scale s;
    colour_scale_init(&s, in, entries);
    if (!entries) {
        strbuf_printf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">no entries</text>\n", x0 + pw / 2, y0 + ph / 2);
    } else {
        /* each cell: the largest err_scaled of its bin, and whether any entry failed */
        double *cmax = mem_realloc(NULL, gr * gc * sizeof *cmax);
        unsigned char *bad = mem_calloc(gr * gc, 1);
        for (size_t k = 0; k < gr * gc; k++) cmax[k] = 0;
        for (size_t g = 0; g < rows; g++)
            for (size_t c = 0; c < cols; c++) {
                size_t e = g * cols + c, k = (g / rb) * gc + c / cb;
                double v = r->err_scaled[e];
                if (report_entry_bad(in, e)) bad[k] = 1;
                else if (v > cmax[k]) cmax[k] = v;
            }
        strbuf_printf(out,
                  "<g id=\"cells\" data-rows=\"%zu\" data-cols=\"%zu\" data-row-bin=\"%zu\" data-col-bin=\"%zu\" "
                  "transform=\"translate(%d,%d) scale(%d,%d)\" shape-rendering=\"crispEdges\">\n",
                  gr, gc, rb, cb, x0, y0, cw, ch);
        for (size_t y = 0; y < gr; y++) {
            size_t x = 0;
            while (x < gc) { /* one rect per run of equal colour */
                size_t k = y * gc + x;
                int level = bad[k] ? REPORT_LEVELS : scale_level(&s, cmax[k]);
                size_t end = x + 1;
                while (end < gc) {
                    size_t k2 = y * gc + end;
                    if ((bad[k2] ? REPORT_LEVELS : scale_level(&s, cmax[k2])) != level) break;
                    end++;
                }
                char col[8];
                level_colour(col, level);
                strbuf_printf(out, "<rect x=\"%zu\" y=\"%zu\" width=\"%zu\" height=\"1\" fill=\"%s\"/>\n", x, y, end - x,
                          col);
                x = end;
            }
        }
        strbuf_puts(out, "</g>\n");
        free(cmax);
        free(bad);

        /* problems: separators and labels, or row ticks for one problem */
        double prob_px = (double)in->n_q / (double)rb * ch;
        if (in->count > 1) {
            size_t every = (size_t)ceil(14.0 / (prob_px > 0 ? prob_px : 1e-9));
            if (every < 1) every = 1;
            /* a white line across, a dark tick outside the frame */
            strbuf_puts(out, "<g id=\"problems\" stroke=\"#ffffff\" stroke-width=\"1.5\">\n");
            for (size_t p = 1; p < in->count; p++)
                if (prob_px >= 3 || p % every == 0) {
                    double y = y0 + (double)(p * in->n_q) / (double)rb * ch;
                    strbuf_printf(out, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\"/>", x0, y, x0 + pw, y);
                    strbuf_printf(out, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"%s\"/>\n", x0 - 8, y, x0,
                              y, FRAME);
                }
            strbuf_puts(out, "</g>\n<g id=\"problem-labels\" text-anchor=\"end\">\n");
            for (size_t p = 0; p < in->count; p += every) {
                strbuf_printf(out, "<text x=\"%d\" y=\"%.2f\">", x0 - 6,
                          y0 + ((double)(p * in->n_q) + in->n_q / 2.0) / (double)rb * ch + 4);
                problem_label(out, in, p);
                strbuf_puts(out, "</text>\n");
            }
            strbuf_puts(out, "</g>\n");
        } else {
            size_t step = nice_step(rows, 8);
            strbuf_puts(out, "<g id=\"row-ticks\" text-anchor=\"end\">\n");
            for (size_t g = 0; g < rows; g += step) {
                double y = y0 + ((double)g + 0.5) / (double)rb * ch;
                strbuf_printf(out, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"%s\"/>", x0 - 4, y, x0, y,
                          FRAME);
                strbuf_printf(out, "<text x=\"%d\" y=\"%.2f\">%zu</text>\n", x0 - 6, y + 4, g);
                if (step > SIZE_MAX - g) break;
            }
            strbuf_puts(out, "</g>\n");
        }
        size_t step = nice_step(cols, 8);
        strbuf_puts(out, "<g id=\"column-ticks\" text-anchor=\"middle\">\n");
        for (size_t c = 0; c < cols; c += step) {
            double x = x0 + ((double)c + 0.5) / (double)cb * cw;
            strbuf_printf(out, "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" stroke=\"%s\"/>", x, y0 + ph, x,
                      y0 + ph + 4, FRAME);
            strbuf_printf(out, "<text x=\"%.2f\" y=\"%d\">%zu</text>\n", x, y0 + ph + 16, c);
            if (step > SIZE_MAX - c) break;
        }
        strbuf_puts(out, "</g>\n");
    }
    strbuf_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" stroke=\"%s\"/>\n", x0, y0, pw,
              ph, FRAME);
    strbuf_printf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">column</text>\n", x0 + pw / 2, y0 + ph + 34);
    strbuf_printf(out, "<text transform=\"translate(%d,%d) rotate(-90)\" text-anchor=\"middle\">%s</text>\n", 16,
              y0 + ph / 2, in->count > 1 ? "row (problems stacked)" : "row");

    /* the legend: the colour bar, decades, the bound, magenta */
    strbuf_printf(out, "<g id=\"legend\">\n<text x=\"%d\" y=\"%d\">err_scaled</text>\n", lx, y0 - 14);
    double lh = (double)HM_BAR / REPORT_LEVELS;
    for (int l = 0; l < REPORT_LEVELS; l++) {
        char col[8];
        level_colour(col, l);
        strbuf_printf(out, "<rect x=\"%d\" y=\"%.2f\" width=\"16\" height=\"%.2f\" fill=\"%s\"/>\n", lx,
                  y0 + HM_BAR - (l + 1) * lh, lh, col);
    }
    strbuf_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"16\" height=\"%d\" fill=\"none\" stroke=\"%s\"/>\n", lx, y0,
              HM_BAR, FRAME);
    double yb = y0 + HM_BAR - scale_height(&s, r->bound > s.lo ? r->bound : s.lo, HM_BAR);
    int kmin = (int)ceil(log10(s.lo) - 1e-9), kmax = (int)floor(log10(s.hi) + 1e-9);
    for (int k = kmin; k <= kmax; k++) {
        double y = y0 + HM_BAR - scale_height(&s, pow(10, k), HM_BAR);
        strbuf_printf(out, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"%s\"/>", lx + 16, y, lx + 20, y,
                  FRAME);
        if (fabs(y - yb) >= 10) {
            strbuf_printf(out, "<text x=\"%d\" y=\"%.2f\">", lx + 23, y + 4);
            put_decade(out, k);
            strbuf_puts(out, "</text>");
        }
        strbuf_putc(out, '\n');
    }
    strbuf_printf(out,
              "<line id=\"bound-tick\" x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"#000000\" "
              "stroke-width=\"2\"/>\n",
              lx - 5, yb, lx + 22, yb);
    strbuf_printf(out, "<text x=\"%d\" y=\"%.2f\" font-weight=\"bold\">%s %.4g</text>\n", lx + 23, yb + 4,
              in->tol ? "--tol" : "bound", r->bound);
    int my = y0 + HM_BAR + 16;
    strbuf_printf(out, "<rect x=\"%d\" y=\"%d\" width=\"16\" height=\"16\" fill=\"%s\"/>\n", lx, my, MAGENTA);
    strbuf_printf(out, "<text x=\"%d\" y=\"%d\">%s</text>\n", lx + 22, my + 8, in->tol ? "over --tol," : "over the bound,");
    strbuf_printf(out, "<text x=\"%d\" y=\"%d\">nonfinite or</text>\n", lx + 22, my + 21);
    strbuf_printf(out, "<text x=\"%d\" y=\"%d\">undecided</text>\n", lx + 22, my + 34);
    strbuf_puts(out, "</g>\n</svg>\n");
}

/* ---- the histogram ---- */

/* The bin of x > 0, finite: e with 2^e < x <= 2^(e+1), exactly (frexp
 * gives x = m 2^k with 1/2 <= m < 1). */
static int power_bin(double x)
{
    int k;
    double m = frexp(x, &k);
    return m == 0.5 ? k - 2 : k - 1;
}

enum { HI_LOW = -30, HI_HIGH = 62 };
enum { HG_LEFT = 80, HG_TOP = 64, HG_W = 640, HG_H = 300, HG_WIDTH = 760, HG_HEIGHT = 440 };

void report_histogram_svg(strbuf *out, const report_input *in)
{
    const verify_report *r = in->r;
    size_t entries = in->count * in->n_q * in->d_v;
    /* the range of bins: at least (2^-3, 2^-2] to (1, 2], clamped */
    int emin = 0, emax = 0, any = 0;
    for (size_t e = 0; e < entries; e++) {
        double x = r->ulp_err[e];
        if (!(x > 0) || !isfinite(x)) continue;
        int b = power_bin(x);
        if (!any || b < emin) emin = b;
        if (!any || b > emax) emax = b;
        any = 1;
    }
    int elo = any && emin < -3 ? emin : -3, ehi = any && emax > 0 ? emax : 0;
    if (elo < HI_LOW) elo = HI_LOW;
    if (ehi > HI_HIGH) ehi = HI_HIGH;
    size_t nr = (size_t)(ehi - elo + 1), zero = 0, nonfinite = 0, maxcount = 0;
    size_t *counts = mem_calloc(nr, sizeof *counts);
    for (size_t e = 0; e < entries; e++) {
        double x = r->ulp_err[e];
        if (x == 0) zero++;
        else if (!isfinite(x)) nonfinite++;
        else {
            int b = power_bin(x);
            b = b < elo ? elo : b > ehi ? ehi : b;
            counts[b - elo]++;
        }
    }
    maxcount = zero > nonfinite ? zero : nonfinite;
    for (size_t i = 0; i < nr; i++)
        if (counts[i] > maxcount) maxcount = counts[i];
    int decades = 1;
    for (size_t p = 10; p < maxcount && decades < 19; p *= 10) decades++;

    strbuf t;
    strbuf_init(&t);
    strbuf_printf(&t, "ulp_err of %s: %s", base_name(in->title), r->pass ? "PASS" : "FAIL");
    svg_open(out, HG_WIDTH, HG_HEIGHT, strbuf_str(&t));
    strbuf_puts(out, "<text x=\"12\" y=\"22\" font-size=\"15\" font-weight=\"bold\">");
    put_text(out, strbuf_str(&t));
    strbuf_puts(out, "</text>\n");
    strbuf_clear(&t);
    strbuf_printf(out,
              "<text x=\"12\" y=\"40\">%zu entries, %zu correctly rounded (%.2f%%); max ulp_err %.4g, median "
              "%.4g</text>\n",
              r->entries, r->correctly_rounded, r->entries ? 100.0 * r->correctly_rounded / r->entries : 100.0,
              r->max_ulp_err, r->median_ulp_err);

    int x0 = HG_LEFT, y0 = HG_TOP, yb = HG_TOP + HG_H;
    size_t slots = nr + 2;
    double sw = (double)HG_W / (double)slots;
    /* y: log10 of the count, from 10^-0.3 (so that one entry shows) to 10^decades */
    double ylog = decades + 0.3;
    strbuf_puts(out, "<g id=\"y-axis\" text-anchor=\"end\">\n");
    for (int j = 0; j <= decades; j++) {
        double y = yb - (j + 0.3) / ylog * HG_H;
        strbuf_printf(out, "<line x1=\"%d\" y1=\"%.2f\" x2=\"%d\" y2=\"%.2f\" stroke=\"#dddddd\"/>", x0, y, x0 + HG_W, y);
        strbuf_printf(out, "<text x=\"%d\" y=\"%.2f\">", x0 - 6, y + 4);
        put_decade(out, j);
        strbuf_puts(out, "</text>\n");
    }
    strbuf_puts(out, "</g>\n<g id=\"bars\">\n");
    for (size_t s = 0; s < slots; s++) {
        size_t c = s == 0 ? zero : s == slots - 1 ? nonfinite : counts[s - 1];
        double h = c ? (log10((double)c) + 0.3) / ylog * HG_H : 0;
        double x = x0 + s * sw + (sw > 4 ? 1 : 0), w = sw > 4 ? sw - 2 : sw;
        int e = elo + (int)s - 1;
        const char *fill = s == slots - 1 ? MAGENTA : (s == 0 || e < -1) ? "#21918c" : "#e07b39";
        if (s == 0)
            strbuf_puts(out, "<rect class=\"bar\" data-bin=\"zero\"");
        else if (s == slots - 1)
            strbuf_puts(out, "<rect class=\"bar\" data-bin=\"nonfinite\"");
        else {
            strbuf_puts(out, "<rect class=\"bar\" data-bin=\"range\" data-lo=\"");
            if (e == elo) strbuf_puts(out, "0");
            else strbuf_printf(out, "%.17g", ldexp(1, e));
            strbuf_puts(out, "\" data-hi=\"");
            if (e == ehi) strbuf_puts(out, "inf");
            else strbuf_printf(out, "%.17g", ldexp(1, e + 1));
            strbuf_putc(out, '"');
        }
        strbuf_printf(out, " data-count=\"%zu\" x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\"><title>",
                  c, x, yb - h, w, h, fill);
        if (s == 0) strbuf_puts(out, "ulp_err = 0");
        else if (s == slots - 1) strbuf_puts(out, "ulp_err inf or NaN");
        else if (e == elo) strbuf_printf(out, "0 &lt; ulp_err &lt;= 2^%d", e + 1);
        else if (e == ehi) strbuf_printf(out, "ulp_err &gt; 2^%d", e);
        else strbuf_printf(out, "2^%d &lt; ulp_err &lt;= 2^%d", e, e + 1);
        strbuf_printf(out, ": %zu</title></rect>\n", c);
    }
    strbuf_puts(out, "</g>\n");
    free(counts);

    /* x: the two special bins, then the edges 2^e between range bins */
    strbuf_puts(out, "<g id=\"x-axis\" text-anchor=\"middle\">\n");
    strbuf_printf(out, "<text x=\"%.2f\" y=\"%d\">0</text>\n", x0 + sw / 2, yb + 16);
    strbuf_printf(out, "<text x=\"%.2f\" y=\"%d\">inf/NaN</text>\n", x0 + (slots - 0.5) * sw, yb + 30);
    int every = 1;
    while ((double)every * sw < 34) every = every == 1 ? 2 : every == 2 ? 4 : every == 4 ? 5 : every * 2;
    for (size_t s = 2; s <= nr; s++) {
        int e = elo + (int)s - 1; /* the left edge of slot s is 2^e */
        double x = x0 + s * sw;
        strbuf_printf(out, "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" stroke=\"%s\"/>", x, yb, x, yb + 4, FRAME);
        if (e % every == 0) {
            strbuf_printf(out, "<text x=\"%.2f\" y=\"%d\">", x, yb + 18);
            put_power2(out, e);
            strbuf_puts(out, "</text>");
        }
        strbuf_putc(out, '\n');
    }
    strbuf_puts(out, "</g>\n");
    strbuf_printf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\"/>\n", x0, yb, x0 + HG_W, yb, FRAME);
    strbuf_printf(out, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\"/>\n", x0, y0, x0, yb, FRAME);
    strbuf_printf(out, "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" stroke=\"%s\" stroke-dasharray=\"2,2\"/>\n",
              x0 + sw, y0, x0 + sw, yb, FRAME);
    strbuf_printf(out, "<line x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" stroke=\"%s\" stroke-dasharray=\"2,2\"/>\n",
              x0 + (slots - 1) * sw, y0, x0 + (slots - 1) * sw, yb, FRAME);

    /* 0.5 ulp: the left edge of the bin (2^-1, 1] */
    double xh = x0 + (double)(-elo) * sw;
    int left = xh - x0 > x0 + HG_W - xh;
    strbuf_printf(out,
              "<line id=\"half-ulp\" x1=\"%.2f\" y1=\"%d\" x2=\"%.2f\" y2=\"%d\" stroke=\"#d62728\" "
              "stroke-width=\"1.5\" stroke-dasharray=\"6,3\"/>\n",
              xh, y0 - 6, xh, yb);
    strbuf_printf(out, "<text x=\"%.2f\" y=\"%d\" text-anchor=\"%s\" fill=\"#d62728\">0.5 ulp (correct rounding)</text>\n",
              left ? xh - 4 : xh + 4, y0 + 6, left ? "end" : "start");

    strbuf_printf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">ulp_err = |o - x| / ulp(x), log scale</text>\n",
              x0 + HG_W / 2, yb + 52);
    strbuf_printf(out,
              "<text transform=\"translate(%d,%d) rotate(-90)\" text-anchor=\"middle\">entries (log "
              "scale)</text>\n</svg>\n",
              22, y0 + HG_H / 2);
}

/* ---- files ---- */

static int report_fail(char *err, size_t errlen, const char *what, const char *path, int code)
{
    if (err && errlen) snprintf(err, errlen, "%s '%s': %s", what, path, strerror(code));
    return -1;
}

/* mkdir -p: every missing component of dir, then dir must be a directory. */
static int make_dirs(const char *dir, char *err, size_t errlen)
{
    if (!*dir) {
        if (err && errlen) snprintf(err, errlen, "the report directory has an empty name");
        return -1;
    }
    char *path = mem_strdup(dir);
    for (char *p = path + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        if (mkdir(path, 0777) != 0 && errno != EEXIST) {
            int code = errno;
            report_fail(err, errlen, "cannot create the report directory", path, code);
            free(path);
            return -1;
        }
        *p = saved;
        if (!saved) break;
    }
    free(path);
    struct stat st;
    if (stat(dir, &st) != 0) return report_fail(err, errlen, "cannot create the report directory", dir, errno);
    if (!S_ISDIR(st.st_mode)) return report_fail(err, errlen, "cannot create the report directory", dir, ENOTDIR);
    return 0;
}

static int write_file(const char *dir, const char *name, const char *data, size_t len, char *err, size_t errlen)
{
    strbuf path;
    strbuf_init(&path);
    strbuf_printf(&path, "%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/", name);
    int rc = 0;
    FILE *f = fopen(strbuf_str(&path), "wb");
    if (!f) rc = report_fail(err, errlen, "cannot write", strbuf_str(&path), errno);
    else {
        int bad = fwrite(data, 1, len, f) != len, code = errno;
        if (fclose(f) != 0 && !bad) {
            bad = 1;
            code = errno;
        }
        if (bad) rc = report_fail(err, errlen, "cannot write", strbuf_str(&path), code ? code : EIO);
    }
    strbuf_clear(&path);
    return rc;
}

int report_write(const char *dir, const char *json, const report_input *in, char *err, size_t errlen)
{
    if (make_dirs(dir, err, errlen)) return -1;
    if (write_file(dir, "report.json", json, strlen(json), err, errlen)) return -1;
    strbuf b;
    strbuf_init(&b);
    report_heatmap_svg(&b, in);
    int rc = write_file(dir, "heatmap.svg", strbuf_str(&b), b.len, err, errlen);
    strbuf_reset(&b);
    if (!rc) {
        report_histogram_svg(&b, in);
        rc = write_file(dir, "histogram.svg", strbuf_str(&b), b.len, err, errlen);
    }
    strbuf_clear(&b);
    return rc;
}

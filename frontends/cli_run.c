/* cli_run: `hmp run FILE`: parse a script, build its system, print each
 * output (its canonical right-hand side, or inlined) and statistics of the
 * DAG, as text or JSON. Output is built in memory, written only on success. */
#include "frontends/cli.h"
#include "core/mem.h"

#include <stdlib.h>
#include <string.h>
#include <flint/fmpz.h>

#include "core/strbuf.h"
#include "core/diag.h"
#include "core/parse.h"
#include "core/print.h"
#include "core/system.h"
#include "core/term.h"
#include "frontends/input.h"

/* Free symbols named in the text statistics line (the JSON lists them all). */
#define RUN_FREE_SHOWN 8

typedef struct run_options {
    const char *path;
    int json, inline_terms;
} run_options;

static const char run_usage[] = "usage: hmp run FILE|- [--json] [--inline]\n";

void cli_run_help(FILE *out)
{
    fputs(run_usage, out);
    fputs("\n"
          "Parses the HMP script FILE (\"-\" reads standard input), builds its system of\n"
          "relations and prints each output as NAME = its right-hand side in canonical\n"
          "form (arguments of sums and products sorted, like terms collected), then\n"
          "statistics:\n"
          "  relations     relations in the script\n"
          "  free symbols  names used but never defined (inputs left symbolic), with\n"
          "                the first few names\n"
          "  outputs       the names of `output` directives, or else every relation\n"
          "                that no other relation uses\n"
          "  dag nodes     distinct nodes of the outputs with every relation inlined\n"
          "                (each distinct subexpression counted once)\n"
          "  tree nodes    nodes of the same terms written out as trees with nothing\n"
          "                shared (exact; it can be astronomically large)\n"
          "  store nodes   every node the term store holds\n"
          "On an error (syntax, a name defined twice, a dependency cycle, an output\n"
          "that names nothing) each message is printed as FILE:LINE:COL with the line\n"
          "and a caret, and nothing is printed on standard output.\n"
          "\n"
          "options:\n"
          "  --json      one JSON object: relations, free_symbols, outputs, dag_nodes,\n"
          "              tree_nodes (a string of digits when above 2^53), store_nodes,\n"
          "              terms (output name -> infix text of its right-hand side)\n"
          "  --inline    print each output with every relation inlined, a term over\n"
          "              the free symbols only. Warning: an inlined term written out\n"
          "              has about `tree nodes` nodes and can be far larger than the\n"
          "              script (for a long chain of relations, exponentially so)\n"
          "  -h, --help  this help\n"
          "\n"
          "exit status: 0 success, 1 output could not be written, 2 bad input or usage\n",
          out);
}

static int run_usage_error(FILE *err, const char *msg, const char *arg)
{
    return cli_usage_error(err, "run", run_usage, msg, arg);
}

/* The total size of the roots written out as trees: tree(t) = 1 + the sum of
 * tree(a) over t's arguments, computed once per marked node in increasing id
 * order (arguments have smaller ids). A value is released once its last
 * parent (or root use) has read it, so long chains stay in linear memory. */
static void tree_size(fmpz_t total, const term_store *s, const unsigned char *mark,
                      const term_id *roots, size_t n_roots)
{
    uint32_t count = term_count(s);
    uint32_t *uses = calloc((size_t)count + 1, sizeof *uses);
    fmpz *tree = calloc((size_t)count + 1, sizeof *tree); /* all zero: valid fmpz */
    if (!uses || !tree) mem_fail();
    for (term_id t = 1; t <= count; t++) {
        if (!mark[t]) continue;
        uint32_t k = term_nargs(s, t);
        for (uint32_t j = 0; j < k; j++) uses[term_arg(s, t, j)]++;
    }
    for (size_t r = 0; r < n_roots; r++) uses[roots[r]]++;
    for (term_id t = 1; t <= count; t++) {
        if (!mark[t]) continue;
        fmpz_one(tree + t);
        uint32_t k = term_nargs(s, t);
        for (uint32_t j = 0; j < k; j++) {
            term_id a = term_arg(s, t, j);
            fmpz_add(tree + t, tree + t, tree + a);
            if (--uses[a] == 0) fmpz_zero(tree + a);
        }
    }
    fmpz_zero(total);
    for (size_t r = 0; r < n_roots; r++) fmpz_add(total, total, tree + roots[r]);
    for (term_id t = 1; t <= count; t++) fmpz_clear(tree + t);
    free(tree);
    free(uses);
}

static void put_tree_json(strbuf *b, const fmpz_t v)
{
    char *digits = fmpz_get_str(NULL, 10, v);
    fmpz_t limit;
    fmpz_init(limit);
    fmpz_set_ui(limit, UINT64_C(1) << 53);
    if (fmpz_cmp(v, limit) <= 0) strbuf_puts(b, digits);
    else strbuf_json_string(b, digits);
    fmpz_clear(limit);
    flint_free(digits);
}

/* Text or JSON for a built system: outputs, terms, statistics. */
static void run_report(strbuf *b, sys *y, const run_options *opt)
{
    term_store *s = y->store;
    const script *sc = y->scr;
    size_t n = y->n_outputs;
    term_id *shown = malloc((n ? n : 1) * sizeof *shown);
    term_id *roots = malloc((n ? n : 1) * sizeof *roots);
    if (!shown || !roots) mem_fail();
    for (size_t k = 0; k < n; k++) {
        int32_t r = sys_relation_of(y, y->outputs[k]);
        HMP_INVARIANT(r >= 0, "run", "an output without a relation");
        roots[k] = sys_inline_relation(y, (size_t)r);
        shown[k] = opt->inline_terms ? roots[k] : sc->rels[r].rhs;
    }
    /* every term is built: the counts below are final */
    uint32_t count = term_count(s);
    unsigned char *mark = calloc((size_t)count + 1, 1);
    if (!mark) mem_fail();
    size_t dag = term_mark_reachable(mark, s, roots, n);
    fmpz_t tree;
    fmpz_init(tree);
    tree_size(tree, s, mark, roots, n);
    free(mark);

    strbuf term_text;
    strbuf_init(&term_text);
    if (opt->json) {
        strbuf_printf(b, "{\n  \"relations\": %zu,\n  \"free_symbols\": [", sc->n_rels);
        for (size_t k = 0; k < y->n_free; k++) {
            if (k) strbuf_puts(b, ", ");
            strbuf_json_string(b, term_sym_name(s, y->free_syms[k]));
        }
        strbuf_puts(b, "],\n  \"outputs\": [");
        for (size_t k = 0; k < n; k++) {
            if (k) strbuf_puts(b, ", ");
            strbuf_json_string(b, term_sym_name(s, y->outputs[k]));
        }
        strbuf_printf(b, "],\n  \"dag_nodes\": %zu,\n  \"tree_nodes\": ", dag);
        put_tree_json(b, tree);
        strbuf_printf(b, ",\n  \"store_nodes\": %u,\n  \"terms\": {", count);
        for (size_t k = 0; k < n; k++) {
            strbuf_puts(b, k ? ",\n    " : "\n    ");
            strbuf_json_string(b, term_sym_name(s, y->outputs[k]));
            strbuf_puts(b, ": ");
            strbuf_reset(&term_text);
            print_infix(&term_text, s, shown[k]);
            strbuf_json_string(b, strbuf_str(&term_text));
        }
        strbuf_puts(b, n ? "\n  }\n}\n" : "}\n}\n");
    } else {
        for (size_t k = 0; k < n; k++) {
            strbuf_puts(b, term_sym_name(s, y->outputs[k]));
            strbuf_puts(b, " = ");
            print_infix(b, s, shown[k]);
            strbuf_putc(b, '\n');
        }
        if (n) strbuf_putc(b, '\n');
        strbuf_printf(b, "relations:    %zu\n", sc->n_rels);
        strbuf_printf(b, "free symbols: %zu", y->n_free);
        for (size_t k = 0; k < y->n_free && k < RUN_FREE_SHOWN; k++) {
            strbuf_puts(b, k ? ", " : " (");
            strbuf_puts(b, term_sym_name(s, y->free_syms[k]));
        }
        if (y->n_free > RUN_FREE_SHOWN) strbuf_puts(b, ", ...");
        strbuf_puts(b, y->n_free ? ")\n" : "\n");
        strbuf_printf(b, "outputs:      %zu\n", n);
        strbuf_printf(b, "dag nodes:    %zu\n", dag);
        char *digits = fmpz_get_str(NULL, 10, tree);
        strbuf_printf(b, "tree nodes:   %s\n", digits);
        flint_free(digits);
        strbuf_printf(b, "store nodes:  %u\n", count);
    }
    strbuf_clear(&term_text);
    fmpz_clear(tree);
    free(shown);
    free(roots);
}

int cli_run(int argc, char **argv, FILE *out, FILE *err)
{
    run_options opt = { 0 };
    int options_done = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0) options_done = 1;
            else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { cli_run_help(out); return CLI_EXIT_OK; }
            else if (strcmp(a, "--json") == 0) opt.json = 1;
            else if (strcmp(a, "--inline") == 0) opt.inline_terms = 1;
            else return run_usage_error(err, "unknown option", a);
        } else if (opt.path) {
            return run_usage_error(err, "more than one FILE:", a);
        } else {
            opt.path = a;
        }
    }
    if (!opt.path) return run_usage_error(err, "missing FILE (\"-\" reads standard input)", NULL);

    input in;
    int status = input_load(&in, opt.path, err);
    if (status == 0) {
        strbuf b;
        strbuf_init(&b);
        run_report(&b, &in.system, &opt);
        status = cli_write(out, err, &b);
        strbuf_clear(&b);
    }
    input_clear(&in);
    return status;
}

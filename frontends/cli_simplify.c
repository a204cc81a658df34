/* cli_simplify: `hmp simplify FILE`: every relation (or every output, inlined)
 * rewritten by the chosen rule sets to a fixpoint, the softmax rows found,
 * optionally the stable form and the derivation, step by step, as text or JSON. */
#include "frontends/cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/strbuf.h"
#include "core/mem.h"
#include "core/print.h"
#include "frontends/input.h"
#include "rewrite/engine.h"
#include "rewrite/expsum.h"
#include "rewrite/rules.h"

static const char simplify_usage[] =
    "usage: hmp simplify FILE|- [--steps] [--json] [--stable] [--expand] [--together]\n"
    "                           [--rules SET,...] [--inline] [--max-steps N] [--list]\n";

typedef struct simplify_options {
    const char *path;
    int steps, json, inline_terms, list, stable;
    const rule_set_def *sets[EXPSUM_MAX_SETS];
    size_t n_sets;
    size_t max_steps;
} simplify_options;

void cli_simplify_help(FILE *out)
{
    fputs(simplify_usage, out);
    fputs("\n"
          "Rewrites every relation of the HMP script FILE (\"-\" reads standard input)\n"
          "with named rule sets, innermost subexpressions first, until no rule applies,\n"
          "and prints NAME = RESULT for each, in script order. Every rule is an\n"
          "identity: the result equals the input wherever the input is defined. A\n"
          "subexpression shared by several relations is rewritten once.\n"
          "\n"
          "rule sets (docs/REWRITE.md lists every rule and its side conditions):\n"
          "  algebra   sound identities of powers, abs, exp and log (default):\n"
          "            x^a*x^b = x^(a+b), sqrt(x^2) = abs(x), log(exp(x)) = x,\n"
          "            exp(log(x)) = x when x > 0 is known, ...\n"
          "  expsum    exp laws and softmax (default, after algebra):\n"
          "            exp(a)*exp(b) = exp(a+b), exp(a)^k = exp(k*a),\n"
          "            log(exp(a) + exp(b)) = lse(a, b), a softmax entry\n"
          "            exp(s1)/(exp(s1) + exp(s2)) = exp(s1 - lse(s1, s2)) with one\n"
          "            lse per row, lse(a + c, b + c) = c + lse(a, b); then, over the\n"
          "            whole script: rows whose scores are all -inf give 0 entries\n"
          "            (a note says so), -inf scores leave their rows, and\n"
          "            exp(b + 1), exp(b + 2) become exp(1)*exp(b), exp(2)*exp(b)\n"
          "  expand    multiply out products and integer powers of sums (--expand);\n"
          "            denominators stay whole; log(x*y) = log(x) + log(y) when\n"
          "            x > 0 and y > 0 are known\n"
          "  together  a sum of fractions over one common denominator (--together)\n"
          "  factor    pull a factor shared by terms of a sum out of them (not with\n"
          "            expand, which undoes it)\n"
          "  stable    lse(s) = m + log(sum exp(s - m)), m = max(s), and\n"
          "            exp(x - log(y)) = exp(x)/y for y > 0 (--stable; undoes expsum)\n"
          "\n"
          "options:\n"
          "  --steps         print the derivation first: one line per rule firing,\n"
          "                  N. RELATION: RULE: BEFORE -> AFTER (a firing rewrites every\n"
          "                  occurrence of BEFORE), then the relations\n"
          "  --json          one JSON object: \"rules\" (the sets), \"stable\", \"steps\" (a\n"
          "                  list of {\"relation\", \"rule\", \"before\", \"after\"}),\n"
          "                  \"relations\" (NAME: RESULT), \"softmax_entries\" (relations\n"
          "                  that are one entry of a softmax row), \"softmax_rows\"\n"
          "                  (distinct rows: shared denominators), \"masked_rows\" (rows\n"
          "                  whose scores are all -inf: {\"row\", \"relations\"}) and\n"
          "                  \"complete\" (false past the step cap)\n"
          "  --stable        then rewrite with the set stable alone: every softmax\n"
          "                  entry as exp(s_j - m)/sum_k exp(s_k - m), m = max_k s_k,\n"
          "                  every lse(s) as m + log(sum exp(s - m)): no exp overflows\n"
          "  --expand        add the set expand\n"
          "  --together      add the set together\n"
          "  --rules SET,... the sets to use instead of algebra,expsum, in this order\n"
          "  --inline        rewrite the outputs with every relation inlined: terms over\n"
          "                  the free symbols (can be far larger than the script)\n"
          "  --max-steps N   stop after N rule firings (default 1000000): the result is\n"
          "                  then equal to the input but may simplify further, and a\n"
          "                  warning says so\n"
          "  --list          print every rule set and rule, then exit\n"
          "  -h, --help      this help\n"
          "\n"
          "exit status: 0 success, 1 output could not be written, 2 bad input or usage\n",
          out);
}

static int simplify_usage_error(FILE *err, const char *msg, const char *arg)
{
    return cli_usage_error(err, "simplify", simplify_usage, msg, arg);
}

/* Adds the set named [name, name + len) once; usage errors as statuses. */
static int add_set(simplify_options *opt, const char *name, size_t len, FILE *err)
{
    const rule_set_def *def = rule_set_find(name, len);
    if (!def) {
        char buf[128];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < 100 ? len : 100), name);
        return simplify_usage_error(err, "unknown rule set (algebra, expand, together, factor, expsum, stable):", buf);
    }
    for (size_t i = 0; i < opt->n_sets; i++) {
        if (opt->sets[i] == def) return 0;
        if (rule_sets_conflict(opt->sets[i], def)) {
            fprintf(err, "hmp simplify: the rule sets '%s' and '%s' undo each other; use one of them\n",
                    opt->sets[i]->name, def->name);
            return CLI_EXIT_INPUT;
        }
    }
    if (opt->n_sets == sizeof opt->sets / sizeof opt->sets[0]) return simplify_usage_error(err, "too many rule sets", NULL);
    opt->sets[opt->n_sets++] = def;
    return 0;
}

static int add_set_list(simplify_options *opt, const char *list, FILE *err)
{
    if (!*list) return simplify_usage_error(err, "--rules needs SET,... (algebra, expand, together, factor, expsum, stable)", NULL);
    for (const char *p = list;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        int st = add_set(opt, p, len, err);
        if (st) return st;
        if (!comma) return 0;
        p = comma + 1;
    }
}

static void list_rules(strbuf *b)
{
    for (size_t i = 0; i < rule_set_count(); i++) {
        const rule_set_def *def = rule_set_def_at(i);
        strbuf_printf(b, "%s: %s\n", def->name, def->doc);
        strbuf_printf(b, "  measure: %s\n", def->measure_doc);
        for (size_t j = 0; j < def->n_rules; j++) {
            const rule_def *r = &def->rules[j];
            strbuf_printf(b, "  %-18s %s -> %s\n", r->name, r->pattern, r->result ? r->result : "(computed)");
            strbuf_printf(b, "  %-18s %s\n", "", r->doc);
        }
        if (def->n_rules == 0) strbuf_puts(b, "  (no rules)\n");
    }
}

/* The name of the relation or output a step was found in. */
static const char *where_name(const input *in, const simplify_options *opt, uint32_t where)
{
    if (where == RW_NOWHERE) return "";
    term_id name = opt->inline_terms ? in->system.outputs[where] : in->scr.rels[where].name;
    return term_sym_name(&in->store, name);
}

/* The scores of a row, "s1, s2, ...". */
static void print_row(strbuf *b, const term_store *s, term_id row)
{
    uint32_t n = term_nargs(s, row);
    for (uint32_t i = 0; i < n; i++) {
        if (i) strbuf_puts(b, ", ");
        print_infix(b, s, term_arg(s, row, i));
    }
}

static void report_json(strbuf *b, const input *in, const simplify_options *opt, const expsum_simplifier *x,
                        const term_id *names, const term_id *results, size_t n)
{
    const term_store *s = &in->store;
    const expsum_report *r = &x->report;
    strbuf text;
    strbuf_init(&text);
    strbuf_puts(b, "{\n  \"rules\": [");
    for (size_t i = 0; i < opt->n_sets; i++) {
        if (i) strbuf_puts(b, ", ");
        strbuf_json_string(b, opt->sets[i]->name);
    }
    strbuf_printf(b, "],\n  \"stable\": %s,\n  \"steps\": [", opt->stable ? "true" : "false");
    for (size_t i = 0; i < x->n_steps; i++) {
        const rw_step *st = &x->steps[i];
        strbuf_puts(b, i ? ",\n    " : "\n    ");
        strbuf_puts(b, "{\"relation\": ");
        strbuf_json_string(b, where_name(in, opt, st->where));
        strbuf_puts(b, ", \"rule\": ");
        strbuf_json_string(b, st->rule->def->name);
        strbuf_puts(b, ", \"before\": ");
        strbuf_reset(&text);
        print_infix(&text, s, st->before);
        strbuf_json_string(b, strbuf_str(&text));
        strbuf_puts(b, ", \"after\": ");
        strbuf_reset(&text);
        print_infix(&text, s, st->after);
        strbuf_json_string(b, strbuf_str(&text));
        strbuf_putc(b, '}');
    }
    strbuf_puts(b, x->n_steps ? "\n  ],\n  \"relations\": {" : "],\n  \"relations\": {");
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(b, i ? ",\n    " : "\n    ");
        strbuf_json_string(b, term_sym_name(s, names[i]));
        strbuf_puts(b, ": ");
        strbuf_reset(&text);
        print_infix(&text, s, results[i]);
        strbuf_json_string(b, strbuf_str(&text));
    }
    strbuf_printf(b, "%s},\n  \"softmax_entries\": %zu,\n  \"softmax_rows\": %zu,\n  \"masked_rows\": [", n ? "\n  " : "",
              r->softmax_entries, r->softmax_rows);
    for (size_t i = 0; i < r->n_masked; i++) {
        const expsum_masked_row *m = &r->masked[i];
        strbuf_puts(b, i ? ",\n    {\"row\": [" : "\n    {\"row\": [");
        uint32_t k = term_nargs(s, m->row);
        for (uint32_t j = 0; j < k; j++) {
            if (j) strbuf_puts(b, ", ");
            strbuf_reset(&text);
            print_infix(&text, s, term_arg(s, m->row, j));
            strbuf_json_string(b, strbuf_str(&text));
        }
        strbuf_puts(b, "], \"relations\": [");
        for (size_t j = 0; j < m->n_where; j++) {
            if (j) strbuf_puts(b, ", ");
            strbuf_json_string(b, where_name(in, opt, m->where[j]));
        }
        strbuf_puts(b, "]}");
    }
    strbuf_printf(b, "%s],\n  \"complete\": %s\n}\n", r->n_masked ? "\n  " : "", x->capped ? "false" : "true");
    strbuf_clear(&text);
}

static void report(strbuf *b, const input *in, const simplify_options *opt, const expsum_simplifier *x,
                   const term_id *names, const term_id *results, size_t n)
{
    const term_store *s = &in->store;
    if (opt->json) {
        report_json(b, in, opt, x, names, results, n);
        return;
    }
    if (opt->steps) {
        for (size_t i = 0; i < x->n_steps; i++) {
            strbuf_printf(b, "%zu. %s: ", i + 1, where_name(in, opt, x->steps[i].where));
            rw_print_step(b, s, &x->steps[i]);
            strbuf_putc(b, '\n');
        }
        if (x->n_steps == 0) strbuf_puts(b, "(no rule applies)\n");
        strbuf_putc(b, '\n');
    }
    for (size_t i = 0; i < n; i++) {
        strbuf_puts(b, term_sym_name(s, names[i]));
        strbuf_puts(b, " = ");
        print_infix(b, s, results[i]);
        strbuf_putc(b, '\n');
    }
}

/* The masked rows, one note each on err. */
static void report_masked(FILE *err, const input *in, const expsum_simplifier *x)
{
    strbuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < x->report.n_masked; i++) {
        strbuf_reset(&b);
        print_row(&b, &in->store, x->report.masked[i].row);
        fprintf(err, "hmp simplify: note: row (%s) is fully masked (every score -inf): its entries are 0, as in "
                     "PyTorch's safe softmax\n", strbuf_str(&b));
    }
    strbuf_clear(&b);
}

static int parse_options(simplify_options *opt, int argc, char **argv, FILE *out, FILE *err, int *done)
{
    int options_done = 0, expand = 0, together = 0, rules_given = 0;
    opt->max_steps = RW_DEFAULT_MAX_STEPS;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int st = 0;
        if (!options_done && a[0] == '-' && a[1] != '\0') {
            if (strcmp(a, "--") == 0) options_done = 1;
            else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) { cli_simplify_help(out); *done = 1; return 0; }
            else if (strcmp(a, "--steps") == 0) opt->steps = 1;
            else if (strcmp(a, "--json") == 0) opt->json = 1;
            else if (strcmp(a, "--stable") == 0) opt->stable = 1;
            else if (strcmp(a, "--inline") == 0) opt->inline_terms = 1;
            else if (strcmp(a, "--expand") == 0) expand = 1;
            else if (strcmp(a, "--together") == 0) together = 1;
            else if (strcmp(a, "--list") == 0) opt->list = 1;
            else if (strcmp(a, "--rules") == 0) {
                if (i + 1 >= argc) return simplify_usage_error(err, "--rules needs SET,... (algebra, expand, together, factor, expsum, stable)", NULL);
                st = add_set_list(opt, argv[++i], err);
                rules_given = 1;
            } else if (strcmp(a, "--max-steps") == 0) {
                char *end;
                errno = 0;
                const char *v = i + 1 < argc ? argv[++i] : "";
                long long x = strtoll(v, &end, 10);
                if (errno || end == v || *end || x < 0 || x > 4000000000LL)
                    return simplify_usage_error(err, "--max-steps needs a number from 0 to 4000000000, got", v);
                opt->max_steps = (size_t)x;
            } else {
                return simplify_usage_error(err, "unknown option", a);
            }
        } else if (opt->path) {
            return simplify_usage_error(err, "more than one FILE:", a);
        } else {
            opt->path = a;
        }
        if (st) return st;
    }
    if (opt->list) return 0;
    if (!rules_given) {
        int st = add_set(opt, "algebra", 7, err);
        if (!st) st = add_set(opt, "expsum", 6, err);
        if (st) return st;
    }
    if (expand) { int st = add_set(opt, "expand", 6, err); if (st) return st; }
    if (together) { int st = add_set(opt, "together", 8, err); if (st) return st; }
    if (!opt->path) return simplify_usage_error(err, "missing FILE (\"-\" reads standard input)", NULL);
    return 0;
}

int cli_simplify(int argc, char **argv, FILE *out, FILE *err)
{
    simplify_options opt;
    memset(&opt, 0, sizeof opt);
    int done = 0;
    int status = parse_options(&opt, argc, argv, out, err, &done);
    if (status || done) return status;
    if (opt.list) {
        strbuf b;
        strbuf_init(&b);
        list_rules(&b);
        status = cli_write(out, err, &b);
        strbuf_clear(&b);
        return status;
    }

    input in;
    status = input_load(&in, opt.path, err);
    if (status == 0) {
        expsum_options xo;
        expsum_options_init(&xo);
        memcpy(xo.sets, opt.sets, opt.n_sets * sizeof *opt.sets);
        xo.n_sets = opt.n_sets;
        xo.stable = opt.stable;
        /* bottom-up and memoised, unless the steps are asked for: then step
         * by step, as the trace replays (about steps x size: docs/REWRITE.md) */
        xo.trace = opt.steps || opt.json;
        xo.max_steps = opt.max_steps;
        expsum_simplifier x;
        expsum_simplifier_init(&x, &in.store, &xo);
        size_t n = opt.inline_terms ? in.system.n_outputs : in.scr.n_rels;
        term_id *names = mem_realloc(NULL, (n ? n : 1) * sizeof *names);
        term_id *results = mem_realloc(NULL, (n ? n : 1) * sizeof *results);
        for (size_t i = 0; i < n; i++) {
            if (opt.inline_terms) {
                names[i] = in.system.outputs[i];
                results[i] = sys_inline_relation(&in.system, (size_t)sys_relation_of(&in.system, names[i]));
            } else {
                names[i] = in.scr.rels[i].name;
                results[i] = in.scr.rels[i].rhs;
            }
        }
        expsum_run(&x, results, n, &in.system);
        strbuf b;
        strbuf_init(&b);
        report(&b, &in, &opt, &x, names, results, n);
        status = cli_write(out, err, &b);
        strbuf_clear(&b);
        if (status == 0) report_masked(err, &in, &x);
        if (status == 0 && x.capped)
            fprintf(err, "hmp simplify: warning: stopped after %zu step%s (--max-steps %zu); the result equals "
                         "the input but may simplify further\n",
                    x.fired, x.fired == 1 ? "" : "s", opt.max_steps);
        free(names);
        free(results);
        expsum_simplifier_clear(&x);
    }
    input_clear(&in);
    return status;
}

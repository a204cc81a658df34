/* Ingest benchmark: parse + hash-cons + dependency order + inlining into one
 * DAG, on generated attention blocks. Prints nodes/s, bytes/node, peak RSS. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/parse.h"
#include "core/system.h"
#include "core/term.h"
#include "io/gen.h"
#include "tests/lib/benchlib.h"
#include "tests/lib/scriptload.h"

static int bench(uint32_t n, uint32_t d, int symbolic, int reps)
{
    gen_options opt;
    gen_options_init(&opt);
    opt.n = n;
    opt.d = d;
    opt.symbolic = symbolic;
    source src;
    if (bench_source(&src, &opt) != 0) return 1;
    size_t bytes = src.len;
    double best = 1e30, best_parse = 0, best_sys = 0, best_inline = 0;
    uint32_t nodes = 0;
    size_t mem = 0, dag = 0, rels = 0;
    for (int r = 0; r < reps; r++) {
        test_script L;
        double t0 = bench_now();
        int bad = test_script_load_source(&L, &src, bench_now) != TEST_SCRIPT_OK;
        double t2 = t0 + L.parse_s + L.system_s;
        sys *y = &L.y;
        term_id *roots = malloc((y->n_outputs + 1) * sizeof *roots);
        for (size_t i = 0; !bad && i < y->n_outputs; i++)
            roots[i] = sys_inline_relation(y, (size_t)sys_relation_of(y, y->outputs[i]));
        double t3 = bench_now();
        if (bad) return 1;
        if (t3 - t0 < best) {
            best = t3 - t0;
            best_parse = L.parse_s;
            best_sys = L.system_s;
            best_inline = t3 - t2;
        }
        nodes = term_count(&L.s);
        mem = term_memory(&L.s);
        rels = L.sc.n_rels;
        unsigned char *mark = calloc(term_count(&L.s) + 1, 1);
        dag = term_mark_reachable(mark, &L.s, roots, y->n_outputs);
        free(mark);
        free(roots);
        test_script_clear(&L);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("attention %u %u%s: %.1f MB text, %zu relations, %u store nodes, %zu output DAG nodes\n", n, d,
           symbolic ? " --symbolic" : "", bytes / 1e6, rels, nodes, dag);
    printf("  ingest %.3f s (parse %.3f, system %.3f, inline %.3f): %.2f M nodes/s, %.1f MB/s\n", best, best_parse,
           best_sys, best_inline, nodes / best / 1e6, bytes / best / 1e6);
    printf("  store %.1f bytes/node (nodes, pool, table), peak RSS %.0f MB\n", (double)mem / nodes,
           ru.ru_maxrss / 1024.0);
    source_clear(&src);
    return 0;
}

int main(int argc, char **argv)
{
    int reps = argc > 1 ? atoi(argv[1]) : 3;
    if (reps < 1) reps = 1;
    int bad = 0;
    bad |= bench(64, 64, 0, reps);
    bad |= bench(64, 64, 1, reps);
    bad |= bench(256, 64, 0, 1);
    return bad;
}

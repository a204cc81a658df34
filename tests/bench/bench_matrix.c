/* Matrix recognition benchmark: `hmp gen attention N D --scale` (with
 * values, as the command writes it) parsed, then recognised (families,
 * proposals, every entry verified), timed apart from parsing: best of 3,
 * wall and CPU time (the machine may be shared). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"
#include "core/system.h"
#include "rewrite/recognise.h"
#include "tests/lib/benchlib.h"
#include "tests/lib/scriptload.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int bench(uint32_t n, uint32_t d, uint32_t heads, int causal, int reps)
{
    gen_options opt;
    gen_options_init(&opt);
    opt.n = n;
    opt.d = d;
    opt.heads = heads;
    opt.causal = causal;
    opt.scale = 1;
    source src;
    if (bench_source(&src, &opt) != 0) return 1;
    double best = 1e30, ingest = 0, cpu = 0;
    size_t ops = 0, left = 0, rels = 0, nodes = 0, added = 0;
    for (int r = 0; r < reps; r++) {
        test_script L;
        double t0 = bench_now();
        int bad = test_script_load_source(&L, &src, NULL) != TEST_SCRIPT_OK;
        double t1 = bench_now();
        if (bad) return 1;
        size_t before = term_count(&L.s);
        mat_program p;
        double c1 = cpu_now();
        t1 = bench_now();
        mat_program_init(&p, &L.s);
        recog_program(&p, &L.y);
        double t2 = bench_now(), c2 = cpu_now();
        if (t2 - t1 < best) {
            best = t2 - t1;
            cpu = c2 - c1;
            ingest = t1 - t0;
        }
        ops = p.n_ops;
        left = p.n_scalar;
        rels = L.sc.n_rels;
        nodes = before;
        added = term_count(&L.s) - before;
        mat_program_clear(&p);
        test_script_clear(&L);
    }
    source_clear(&src);
    printf("n %4u d %3u heads %u%s: %zu relations, %zu nodes; parse+system %.3f s; recognise %.3f s "
           "(cpu %.3f s, %.0f relations/s), %zu ops, %zu scalar, %zu nodes added\n",
           n, d, heads, causal ? " causal" : "", rels, nodes, ingest, best, cpu, rels / best, ops, left, added);
    return ops == 6 && left == 0 ? 0 : 1;
}

int main(void)
{
    int bad = 0;
    bad |= bench(64, 64, 1, 0, 3);
    bad |= bench(128, 64, 1, 0, 3);
    bad |= bench(128, 64, 1, 1, 3);
    bad |= bench(64, 32, 8, 0, 3);
    return bad;
}

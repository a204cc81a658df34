/* CSE benchmark: `hmp gen attention N 64 --symbolic` for N = 32, 64, 128,
 * the straight-line program built from the inlined outputs, timed apart
 * from parsing and inlining (CPU time, best of 3); nodes/s over the DAG of
 * the outputs. Then SymPy's cse on the same outputs when /usr/bin/python3
 * has sympy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"
#include "core/system.h"
#include "rewrite/cse.h"
#include "tests/lib/benchlib.h"
#include "tests/lib/scriptload.h"

/* CPU time of the process: the machine may be shared, wall time varies. */
static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int bench(uint32_t n, uint32_t d, int reps, int restructure)
{
    gen_options opt;
    gen_options_init(&opt);
    opt.n = n;
    opt.d = d;
    opt.symbolic = 1;
    source src;
    if (bench_source(&src, &opt) != 0) return 1;
    double best = 1e30, ingest = 0, wall = 0;
    size_t dag = 0;
    cse_program keep;
    memset(&keep, 0, sizeof keep);
    char before[64] = "";
    for (int r = 0; r < reps; r++) {
        test_script L;
        double t0 = bench_now();
        int bad = test_script_load_source(&L, &src, NULL) != TEST_SCRIPT_OK;
        sys *y = &L.y;
        term_id *roots = malloc((y->n_outputs + 1) * sizeof *roots);
        for (size_t i = 0; !bad && i < y->n_outputs; i++)
            roots[i] = sys_inline_relation(y, (size_t)sys_relation_of(y, y->outputs[i]));
        double t1 = bench_now();
        if (bad) return 1;
        unsigned char *mark = calloc(term_count(&L.s) + 1, 1);
        dag = term_mark_reachable(mark, &L.s, roots, y->n_outputs);
        free(mark);
        free(roots);
        cse_options o;
        cse_options_init(&o);
        o.restructure = restructure;
        cse_program p;
        double t2 = bench_now(), c2 = cpu_now();
        if (cse_build(&p, y, &o) != 0) return 1;
        double t3 = bench_now(), c3 = cpu_now();
        if (c3 - c2 < best) {
            best = c3 - c2;
            wall = t3 - t2;
            ingest = t1 - t0;
        }
        char *str = fmpz_get_str(NULL, 10, p.ops_before);
        snprintf(before, sizeof before, "%s", str);
        flint_free(str);
        keep.ops_dag = p.ops_dag;
        keep.ops_after = p.ops_after;
        keep.n_temps = p.n_temps;
        keep.restructured = p.restructured;
        cse_program_clear(&p);
        test_script_clear(&L);
    }
    printf("attention %u %u --symbolic%s: %zu DAG nodes, cse cpu %.3f s (wall %.3f s, %.2f M nodes/s), ingest %.3f s; "
           "ops_before %s, ops_dag %llu, ops_after %llu%s, %zu temporaries\n",
           n, d, restructure ? "" : " (--no-restructure)", dag, best, wall, dag / best * 1e-6, ingest, before,
           (unsigned long long)keep.ops_dag, (unsigned long long)keep.ops_after,
           keep.restructured ? " (bilinear kept)" : "", keep.n_temps);
    fflush(stdout);
    source_clear(&src);
    return 0;
}

/* SymPy's cse on the outputs of the same script, built by substituting the
 * relations in order (shared subtrees stay shared objects). Skipped with a
 * message when sympy is not installed. */
static int bench_sympy(uint32_t n, uint32_t d)
{
    const char *py = "/usr/bin/python3";
    FILE *f = fopen(py, "r");
    if (!f) py = "python3";
    else fclose(f);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s -c 'import sympy' > /dev/null 2>&1", py);
    if (system(cmd) != 0) {
        printf("sympy: not installed for %s, comparison skipped (apt-get install python3-sympy)\n", py);
        return 0;
    }
    gen_options opt;
    gen_options_init(&opt);
    opt.n = n;
    opt.d = d;
    opt.symbolic = 1;
    char path[] = "/tmp/hmp-bench-cse-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 1;
    FILE *out = fdopen(fd, "w");
    if (!out || gen_attention(out, &opt) != 0) return 1;
    fclose(out);
    snprintf(cmd, sizeof cmd, "%s - %s <<'PY'\n%s\nPY\n", py, path,
             "import sys, time, sympy\n"
             "env, outs = {}, []\n"
             "for line in open(sys.argv[1]):\n"
             "    line = line.split('#')[0].strip()\n"
             "    if not line: continue\n"
             "    if line.startswith('output'):\n"
             "        outs += [x.strip() for x in line[6:].split(',')]\n"
             "        continue\n"
             "    name, rhs = [x.strip() for x in line.split('=', 1)]\n"
             "    env[name] = sympy.sympify(rhs.replace('^', '**'), locals=env)\n"
             "exprs = [env[o] for o in outs]\n"
             "t = time.time()\n"
             "repl, red = sympy.cse(exprs)\n"
             "dt = time.time() - t\n"
             "ops = sum(sympy.count_ops(e) for _, e in repl) + sum(sympy.count_ops(e) for e in red)\n"
             "print('sympy %s cse: %.3f s, %d temporaries, count_ops %d' % (sympy.__version__, dt, len(repl), ops))\n");
    fflush(stdout);
    int rc = system(cmd);
    remove(path);
    return rc != 0;
}

int main(int argc, char **argv)
{
    int bad = 0;
    for (int r = 1; r >= 0; r--) {
        bad |= bench(32, 64, 3, r);
        bad |= bench(64, 64, 3, r);
        bad |= bench(128, 64, 3, r);
    }
    /* the comparison with SymPy, at the size it finishes in (see docs/CSE.md) */
    uint32_t sn = argc > 1 ? (uint32_t)atoi(argv[1]) : 8;
    if (sn) {
        bad |= bench(sn, sn, 3, 1);
        bad |= bench_sympy(sn, sn);
    }
    return bad;
}

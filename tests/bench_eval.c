/* Evaluation benchmark: every output of generated attention blocks to 30
 * certified digits (and to f32), timed apart from parsing and inlining. */
#include <stdio.h>
#include <stdlib.h>

#include "core/eval/eval.h"
#include "core/parse.h"
#include "core/system.h"
#include "frontends/gen.h"
#include "tests/benchlib.h"

static int bench(uint32_t n, uint32_t d, int scale, slong digits, int use_format)
{
    gen_options opt;
    gen_options_init(&opt);
    opt.n = n;
    opt.d = d;
    opt.scale = scale;
    source src;
    if (bench_source(&src, &opt) != 0) return 1;
    term_store s;
    script sc;
    diag_list dl;
    sys y;
    term_store_init(&s);
    script_init(&sc);
    diag_init(&dl);
    double t0 = bench_now();
    int bad = parse_script(&sc, &s, &dl, &src) || sys_build(&y, &s, &sc, &dl);
    for (size_t i = 0; !bad && i < y.n_outputs; i++) sys_inline_relation(&y, (size_t)sys_relation_of(&y, y.outputs[i]));
    double t1 = bench_now();
    eval_request req;
    eval_request_init(&req);
    req.digits = digits;
    req.use_format = use_format;
    req.format = FP_F32;
    eval_result res;
    if (bad || eval_outputs(&res, &y, &req, &dl) != 0) {
        diag_print(stderr, &dl);
        return 1;
    }
    double t2 = bench_now();
    size_t exact = 0;
    for (size_t i = 0; i < res.n; i++) exact += res.v[i].prec == 0;
    printf("attention %u %u%s, %zu outputs to %ld digits%s: eval %.3f s (%.1f us/output), ingest %.3f s, "
           "total %.3f s; last precision %ld bits, %zu exact\n",
           n, d, scale ? " --scale" : "", res.n, (long)digits, use_format ? " and f32" : "", t2 - t1,
           (t2 - t1) / res.n * 1e6, t1 - t0, t2 - t0, (long)res.max_prec_used, exact);
    eval_result_clear(&res);
    sys_clear(&y);
    script_clear(&sc);
    diag_clear(&dl);
    term_store_clear(&s);
    source_clear(&src);
    return 0;
}

int main(void)
{
    int bad = 0;
    bad |= bench(64, 64, 0, 30, 0);
    bad |= bench(64, 64, 0, 30, 1);
    bad |= bench(64, 48, 1, 30, 0);
    bad |= bench(16, 16, 0, 1000, 0);
    return bad;
}

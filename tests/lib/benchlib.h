/* benchlib: what the benchmarks share: a monotonic clock and generated
 * attention scripts as sources (the generator's buffer handed over, not
 * copied: the largest script is half a gigabyte). */
#ifndef HMP_BENCHLIB_H
#define HMP_BENCHLIB_H

#include <time.h>

#include "core/diag.h"
#include "core/mem.h"
#include "io/gen.h"

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The script of opt as a source (freed with source_clear). 0 on success. */
static inline int bench_source(source *src, const gen_options *opt)
{
    strbuf text;
    strbuf_init(&text);
    if (gen_attention_sb(&text, opt) != 0) { strbuf_clear(&text); return -1; }
    src->name = mem_strdup("bench.hmp");
    src->text = text.data ? text.data : mem_strdup("");
    src->len = text.len;
    return 0;
}

#endif

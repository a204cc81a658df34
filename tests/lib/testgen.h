/* testgen: generated attention scripts (io/gen, `hmp gen attention`) for the
 * suites and benchmarks: options from flags, the text as one string. */
#ifndef HMP_TESTGEN_H
#define HMP_TESTGEN_H

#include <stdint.h>

#include "core/strbuf.h"
#include "io/gen.h"

enum {
    TEST_GEN_SYMBOLIC = 1, /* --symbolic */
    TEST_GEN_SCALE = 2,    /* --scale */
    TEST_GEN_CAUSAL = 4,   /* --causal */
    TEST_GEN_COMPACT = 8   /* --compact */
};

/* `hmp gen attention N D --heads H --seed SEED` with the TEST_GEN_ flags. */
static inline gen_options test_gen_options(uint32_t n, uint32_t d, uint32_t heads, unsigned flags, uint64_t seed)
{
    gen_options o;
    gen_options_init(&o);
    o.n = n;
    o.d = d;
    o.heads = heads;
    o.seed = seed;
    o.symbolic = (flags & TEST_GEN_SYMBOLIC) != 0;
    o.scale = (flags & TEST_GEN_SCALE) != 0;
    o.causal = (flags & TEST_GEN_CAUSAL) != 0;
    o.compact = (flags & TEST_GEN_COMPACT) != 0;
    return o;
}

/* The script of opt (free it), or NULL when opt is invalid. */
static inline char *test_gen_text(const gen_options *opt)
{
    strbuf b;
    strbuf_init(&b);
    if (gen_attention_sb(&b, opt) != 0) {
        strbuf_clear(&b);
        return NULL;
    }
    return strbuf_take(&b);
}

/* The same from the options of test_gen_options. */
static inline char *test_gen_attention(uint32_t n, uint32_t d, uint32_t heads, unsigned flags, uint64_t seed)
{
    gen_options o = test_gen_options(n, d, heads, flags, seed);
    return test_gen_text(&o);
}

#endif

/* testlib: what every suite shares: the iteration multiplier of random tests
 * (HMP_TEST_MULTIPLIER, default 1) and a seeded generator (splitmix64). */
#ifndef HMP_TESTLIB_H
#define HMP_TESTLIB_H

#include <stdint.h>
#include <stdlib.h>

static inline int test_multiplier(void)
{
    const char *m = getenv("HMP_TEST_MULTIPLIER");
    int k = m ? atoi(m) : 1;
    return k < 1 ? 1 : k;
}

typedef struct test_rng {
    uint64_t state;
} test_rng;

static inline uint64_t test_rand(test_rng *r)
{
    uint64_t z = (r->state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n >= 1. */
static inline int test_randn(test_rng *r, int n) { return (int)(test_rand(r) % (uint64_t)n); }

#endif

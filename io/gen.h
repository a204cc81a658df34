/* gen: HMP scripts of attention blocks, written fully expanded (one scalar
 * relation per entry), deterministic for given options. Used by `hmp gen`,
 * the tests and the benchmarks. */
#ifndef HMP_GEN_H
#define HMP_GEN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/strbuf.h"

/* Limits on the sizes gen accepts (past them: a usage error). */
#define GEN_MAX_DIM 1000000u   /* N and D */
#define GEN_MAX_HEADS 10000u

typedef struct gen_options {
    uint32_t n;        /* tokens (rows of x), >= 1 */
    uint32_t d;        /* features (columns of x), >= 1 */
    uint32_t heads;    /* >= 1; > 1 puts the head first in every index but x's */
    uint64_t seed;     /* seed of the input values (splitmix64) */
    int symbolic;      /* x and the weights stay free symbols */
    int scale;         /* scores divided by sqrt(D) */
    int causal;        /* token i attends to tokens t <= i only */
    int compact;       /* the seed's names (x1_2, Wq12, s12): N, D <= 9, one head */
} gen_options;

/* Defaults: n = d = heads = 1, seed 1, every flag off. */
void gen_options_init(gen_options *opt);

/* 0 when opt is valid; otherwise -1 and a message (no trailing newline) in
 * err, of size errlen. */
int gen_check(const gen_options *opt, char *err, size_t errlen);

/* Denominator of the weights for D features: round(4 * D^(3/4)), at least 1. */
uint32_t gen_weight_den(uint32_t d);

/* The script of one attention block. gen_attention writes to out in large
 * chunks and returns 0, or -1 when opt is invalid (nothing written) or a
 * write failed. gen_attention_sb appends to out; -1 when opt is invalid. */
int gen_attention(FILE *out, const gen_options *opt);
int gen_attention_sb(strbuf *out, const gen_options *opt);

/* Number of relations gen_attention writes for opt (opt valid). */
uint64_t gen_relation_count(const gen_options *opt);

#endif

/* convention: when a verify run fails on many entries, the usual mistakes
 * of convention tried on one failing problem (causal on or off, the other
 * alignment, the scale, K and V swapped, the grouped-query mapping), so the
 * report can say which one would explain the failure. */
#ifndef HMP_CONVENTION_H
#define HMP_CONVENTION_H

#include <stddef.h>

#include "attention/verify.h"

typedef enum convention_fix {
    CONVENTION_CAUSAL_ON,        /* the output is causal (bottom-right) */
    CONVENTION_CAUSAL_TOP_LEFT,  /* causal, aligned top-left */
    CONVENTION_CAUSAL_OFF,       /* the output is not causal */
    CONVENTION_ALIGN_OTHER,      /* causal, aligned the other way */
    CONVENTION_SCALE_ONE,        /* scores not scaled */
    CONVENTION_SCALE_AUTO,       /* scores scaled by 1/sqrt(d) */
    CONVENTION_KV_SWAPPED,       /* K and V given the other way round */
    CONVENTION_GQA_TILED,        /* query head h reads KV head h % kv_heads */
    CONVENTION_LAYOUT_OTHER,     /* heads and positions swapped: the other layout */
    CONVENTION_COUNT_
} convention_fix;

/* A run worth diagnosing: more than 1% of the entries fail. */
int convention_worth_trying(const verify_report *r);

/* Tries each fix that applies to p on the problem of r's first failing
 * entry (its index in *problem): sets fixes[f] to 1 when that problem
 * passes with fix f, and returns how many do. Each try verifies one
 * problem (heads x batch times less work than the run). The other layout
 * is tried when the arrays read with heads and positions swapped are a
 * problem too (n_q = n_k, no mask): its first head of the same batch. */
size_t convention_diagnose(unsigned char fixes[CONVENTION_COUNT_], size_t *problem, const verify_problem *p,
                           const verify_report *r);

#endif

/* vec: the one growable array. vec_u32 holds 32-bit values (term ids and
 * the like); VEC_RESERVE and VEC_PUSH grow any other array kept as a
 * pointer, a length and a capacity. Running out of memory ends the program. */
#ifndef HMP_VEC_H
#define HMP_VEC_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/mem.h"

/* The capacity to grow cap to so that it holds need elements of elem bytes:
 * doubled from 16 up; a size that overflows ends the program. */
static inline size_t vec_capacity(size_t cap, size_t need, size_t elem)
{
    size_t c = cap ? cap : 16;
    while (c < need) {
        if (c > SIZE_MAX / 2) mem_fail();
        c *= 2;
    }
    if (c > SIZE_MAX / elem) mem_fail();
    return c;
}

/* Makes room for need elements in a (capacity cap, any integer type). */
#define VEC_RESERVE(a, cap, need)                                                      \
    do {                                                                               \
        if ((size_t)(need) > (size_t)(cap)) {                                          \
            size_t vec_c_ = vec_capacity((size_t)(cap), (size_t)(need), sizeof *(a));  \
            (a) = mem_realloc((a), vec_c_ * sizeof *(a));                              \
            (cap) = vec_c_;                                                            \
        }                                                                              \
    } while (0)

/* Appends x to a (length n, capacity cap). */
#define VEC_PUSH(a, n, cap, x)                     \
    do {                                           \
        VEC_RESERVE(a, cap, (size_t)(n) + 1);      \
        (a)[(n)++] = (x);                          \
    } while (0)

typedef struct vec_u32 {
    uint32_t *v;
    size_t n, cap;
} vec_u32;

static inline void vec_u32_init(vec_u32 *a) { a->v = NULL; a->n = a->cap = 0; }
static inline void vec_u32_clear(vec_u32 *a) { free(a->v); vec_u32_init(a); }
static inline void vec_u32_push(vec_u32 *a, uint32_t x) { VEC_PUSH(a->v, a->n, a->cap, x); }

#endif

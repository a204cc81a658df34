/* mem: allocation that never returns NULL (running out of memory ends the
 * program with a message), the one invariant check, and the hash mixer. */
#ifndef HMP_MEM_H
#define HMP_MEM_H

#include <stddef.h>
#include <stdint.h>

void *mem_realloc(void *p, size_t n);          /* n == 0 allowed */
void *mem_calloc(size_t n, size_t size);       /* zeroed */
char *mem_strdup(const char *s);
/* Asks the kernel to back [p, p + n) with memory now, in one call, instead
 * of one page fault per page on first touch (costly on virtual machines).
 * A hint: blocks under 1 MiB and kernels without MADV_POPULATE_WRITE are left
 * as they are. */
void mem_populate(void *p, size_t n);
/* Ends the program: "hmp: out of memory". */
void mem_fail(void) __attribute__((noreturn));
/* Ends the program: "hmp: MODULE: internal error: WHAT" (a broken
 * invariant, a bug; never what input can cause). */
void mem_invariant_failed(const char *module, const char *what) __attribute__((noreturn));
/* The one assertion: ends the program when ok is false, in every build
 * (NDEBUG does not remove it). */
#define HMP_INVARIANT(ok, module, what) ((ok) ? (void)0 : mem_invariant_failed((module), (what)))

/* A 64-bit finaliser (MurmurHash3's fmix64): every input bit affects every
 * output bit. */
static inline uint64_t mem_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

#endif

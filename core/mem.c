/* mem: allocation that never returns NULL. */
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void mem_fail(void)
{
    fputs("hmp: out of memory\n", stderr);
    abort();
}

void mem_invariant_failed(const char *module, const char *what)
{
    fprintf(stderr, "hmp: %s: internal error: %s\n", module, what);
    abort();
}

void *mem_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) mem_fail();
    return q;
}

void *mem_calloc(size_t n, size_t size)
{
    void *q = calloc(n ? n : 1, size ? size : 1);
    if (!q) mem_fail();
    return q;
}

char *mem_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = mem_realloc(NULL, n);
    memcpy(p, s, n);
    return p;
}

void mem_populate(void *p, size_t n)
{
#ifdef MADV_POPULATE_WRITE
    long size = sysconf(_SC_PAGESIZE);
    if (n < ((size_t)1 << 20) || size <= 0) return;
    uintptr_t page = (uintptr_t)size, a = ((uintptr_t)p + page - 1) & ~(page - 1), b = ((uintptr_t)p + n) & ~(page - 1);
    if (b > a) (void)madvise((void *)a, b - a, MADV_POPULATE_WRITE); /* a kernel without it says EINVAL: no matter */
#else
    (void)p;
    (void)n;
#endif
}

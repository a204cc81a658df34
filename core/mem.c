/* mem: allocation that never returns NULL. */
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void mem_fail(void)
{
    fputs("hmp: out of memory\n", stderr);
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

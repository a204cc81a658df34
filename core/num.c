/* num: exact rationals (FLINT fmpq) interned by value: one value, one id. */
#include "core/num.h"
#include "core/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fmpz_hash64(const fmpz_t z)
{
    if (!COEFF_IS_MPZ(*z)) return mem_mix64((uint64_t)*z);
    mpz_srcptr m = COEFF_TO_PTR(*z);
    size_t n = mpz_size(m);
    uint64_t h = mem_mix64(0x9e3779b97f4a7c15ULL ^ (uint64_t)mpz_sgn(m) ^ n);
    for (size_t i = 0; i < n; i++) h = mem_mix64(h ^ (uint64_t)mpz_getlimbn(m, (mp_size_t)i));
    return h;
}

uint32_t num_hash(const fmpq_t q)
{
    return (uint32_t)mem_mix64(fmpz_hash64(fmpq_numref(q)) * 31 + fmpz_hash64(fmpq_denref(q)));
}

static void table_insert(num_store *ns, uint32_t id)
{
    uint32_t i = ns->hashes[id] & ns->table_mask;
    while (ns->table[i]) i = (i + 1) & ns->table_mask;
    ns->table[i] = id + 1;
}

static void table_grow(num_store *ns)
{
    uint32_t cap = (ns->table_mask + 1) * 2;
    free(ns->table);
    ns->table = calloc(cap, sizeof *ns->table);
    if (!ns->table) mem_fail();
    ns->table_mask = cap - 1;
    for (uint32_t id = 0; id < ns->count; id++) table_insert(ns, id);
}

void num_store_init(num_store *ns)
{
    memset(ns, 0, sizeof *ns);
    ns->table_mask = 63;
    ns->table = calloc(64, sizeof *ns->table);
    if (!ns->table) mem_fail();
    num_intern_si(ns, 0, 1);
    num_intern_si(ns, 1, 1);
    num_intern_si(ns, -1, 1);
}

void num_store_clear(num_store *ns)
{
    for (uint32_t i = 0; i < ns->count; i++) fmpq_clear(ns->values + i);
    free(ns->values);
    free(ns->hashes);
    free(ns->table);
    memset(ns, 0, sizeof *ns);
}

/* q must be canonical. */
static num_id intern_canonical(num_store *ns, const fmpq_t q)
{
    uint32_t h = num_hash(q);
    uint32_t i = h & ns->table_mask;
    for (uint32_t e; (e = ns->table[i]) != 0; i = (i + 1) & ns->table_mask)
        if (ns->hashes[e - 1] == h && fmpq_equal(ns->values + e - 1, q)) return e - 1;
    if (ns->count == UINT32_MAX - 1) { fputs("hmp: too many distinct numbers\n", stderr); abort(); }
    if (ns->count == ns->cap) {
        ns->cap = ns->cap ? ns->cap + ns->cap / 2 : 64;
        ns->values = mem_realloc(ns->values, ns->cap * sizeof *ns->values);
        ns->hashes = mem_realloc(ns->hashes, ns->cap * sizeof *ns->hashes);
    }
    uint32_t id = ns->count++;
    fmpq_init(ns->values + id);
    fmpq_set(ns->values + id, q);
    ns->hashes[id] = h;
    if ((uint64_t)ns->count * 4 > (uint64_t)(ns->table_mask + 1) * 3) table_grow(ns);
    else table_insert(ns, id);
    return id;
}

num_id num_intern(num_store *ns, const fmpq_t q)
{
    if (fmpz_is_one(fmpq_denref(q)) || fmpq_is_canonical(q)) return intern_canonical(ns, q);
    fmpq_t c;
    fmpq_init(c);
    fmpq_set(c, q);
    fmpq_canonicalise(c);
    num_id id = intern_canonical(ns, c);
    fmpq_clear(c);
    return id;
}

num_id num_intern_si(num_store *ns, slong p, slong q)
{
    fmpq_t c;
    fmpq_init(c);
    fmpz_set_si(fmpq_numref(c), p);
    fmpz_set_si(fmpq_denref(c), q);
    fmpq_canonicalise(c);
    num_id id = intern_canonical(ns, c);
    fmpq_clear(c);
    return id;
}

uint32_t num_count(const num_store *ns) { return ns->count; }

size_t num_memory(const num_store *ns)
{
    size_t bytes = (size_t)ns->cap * (sizeof(fmpq) + sizeof(uint32_t)) + (size_t)(ns->table_mask + 1) * 4;
    for (uint32_t i = 0; i < ns->count; i++) {
        const fmpq *v = ns->values + i;
        if (COEFF_IS_MPZ(*fmpq_numref(v)))
            bytes += sizeof(__mpz_struct) + mpz_size(COEFF_TO_PTR(*fmpq_numref(v))) * sizeof(mp_limb_t);
        if (COEFF_IS_MPZ(*fmpq_denref(v)))
            bytes += sizeof(__mpz_struct) + mpz_size(COEFF_TO_PTR(*fmpq_denref(v))) * sizeof(mp_limb_t);
    }
    return bytes;
}

int num_is_integer(const num_store *ns, num_id id) { return fmpz_is_one(fmpq_denref(ns->values + id)); }

/* num: exact rational numbers (FLINT fmpq) interned by value, so that one
 * value has one num_id: 0.25, 1/4 and 2/8 are the same number. */
#ifndef HMP_NUM_H
#define HMP_NUM_H

#include <stddef.h>
#include <stdint.h>
#include <flint/fmpq.h>

typedef uint32_t num_id;

/* Ids fixed in every store. */
#define NUM_ZERO ((num_id)0)
#define NUM_ONE ((num_id)1)
#define NUM_MINUS_ONE ((num_id)2)

typedef struct num_store {
    fmpq *values;       /* values[id], canonical (reduced, den > 0) */
    uint32_t *hashes;   /* hashes[id] */
    uint32_t count, cap;
    uint32_t *table;    /* open addressing, id + 1, 0 = empty */
    uint32_t table_mask;
} num_store;

void num_store_init(num_store *ns);
void num_store_clear(num_store *ns);

/* Interns q (any fmpq, reduced or not is fine as long as den != 0). */
num_id num_intern(num_store *ns, const fmpq_t q);
/* Interns p/q, q != 0. */
num_id num_intern_si(num_store *ns, slong p, slong q);

/* The value of id. The pointer is valid until the next num_intern. */
static inline const fmpq *num_value(const num_store *ns, num_id id) { return ns->values + id; }
uint32_t num_count(const num_store *ns);
/* Bytes held by the store (values, their limbs, hashes, table). */
size_t num_memory(const num_store *ns);

int num_is_integer(const num_store *ns, num_id id);
/* Hash of a value; equal values hash equal. */
uint32_t num_hash(const fmpq_t q);

#endif

/* Tests of core/num: rationals interned by value. */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "core/num.h"
#include "tests/lib/testlib.h"

Test(num, fixed_ids)
{
    num_store ns;
    num_store_init(&ns);
    cr_assert_eq(num_intern_si(&ns, 0, 5), NUM_ZERO);
    cr_assert_eq(num_intern_si(&ns, 7, 7), NUM_ONE);
    cr_assert_eq(num_intern_si(&ns, 3, -3), NUM_MINUS_ONE);
    cr_assert(fmpq_is_zero(num_value(&ns, NUM_ZERO)));
    cr_assert(fmpq_is_one(num_value(&ns, NUM_ONE)));
    num_store_clear(&ns);
}

Test(num, equal_values_one_id)
{
    num_store ns;
    num_store_init(&ns);
    num_id a = num_intern_si(&ns, 1, 4), b = num_intern_si(&ns, 2, 8), c = num_intern_si(&ns, -25, -100);
    cr_assert_eq(a, b);
    cr_assert_eq(a, c);
    fmpq_t q;
    fmpq_init(q);
    fmpz_set_si(fmpq_numref(q), 250);
    fmpz_set_si(fmpq_denref(q), 1000); /* not canonical on purpose */
    cr_assert_eq(num_intern(&ns, q), a);
    cr_assert_eq(fmpz_get_si(fmpq_numref(num_value(&ns, a))), 1);
    cr_assert_eq(fmpz_get_si(fmpq_denref(num_value(&ns, a))), 4);
    cr_assert_neq(num_intern_si(&ns, -1, 4), a);
    cr_assert(!num_is_integer(&ns, a));
    cr_assert(num_is_integer(&ns, num_intern_si(&ns, 8, 2)));
    fmpq_clear(q);
    num_store_clear(&ns);
}

Test(num, big_values)
{
    num_store ns;
    num_store_init(&ns);
    fmpq_t q, r;
    fmpq_init(q);
    fmpq_init(r);
    fmpz_set_ui(fmpq_numref(q), 10); fmpz_pow_ui(fmpq_numref(q), fmpq_numref(q), 1000);
    fmpz_set_ui(fmpq_denref(q), 3);
    fmpz_set_ui(fmpq_numref(r), 10); fmpz_pow_ui(fmpq_numref(r), fmpq_numref(r), 1000);
    fmpz_mul_ui(fmpq_numref(r), fmpq_numref(r), 7);
    fmpz_set_ui(fmpq_denref(r), 21);
    fmpq_canonicalise(r);
    num_id a = num_intern(&ns, q), b = num_intern(&ns, r);
    cr_assert_eq(a, b);
    fmpz_add_ui(fmpq_numref(r), fmpq_numref(r), 1);
    cr_assert_neq(num_intern(&ns, r), a);
    cr_assert(num_memory(&ns) > 800); /* the limbs of 10^1000 are counted */
    fmpq_clear(q);
    fmpq_clear(r);
    num_store_clear(&ns);
}

/* Random rationals: id equality <=> value equality, across table growth. */
Test(num, property_interning)
{
    num_store ns;
    num_store_init(&ns);
    srand(12345);
    int n = 20000 * test_multiplier();
    slong *p = malloc(n * sizeof *p), *q = malloc(n * sizeof *q);
    num_id *ids = malloc(n * sizeof *ids);
    for (int i = 0; i < n; i++) {
        p[i] = rand() % 201 - 100;
        q[i] = rand() % 50 + 1;
        slong k = rand() % 5 + 1; /* same value, other representation */
        ids[i] = num_intern_si(&ns, p[i] * k, q[i] * k);
    }
    for (int t = 0; t < 20000; t++) {
        int i = rand() % n, j = rand() % n;
        int equal = p[i] * q[j] == p[j] * q[i];
        cr_assert_eq(ids[i] == ids[j], equal, "%ld/%ld vs %ld/%ld", p[i], q[i], p[j], q[j]);
    }
    /* every distinct value once: at most 201*50 values */
    cr_assert_leq(num_count(&ns), 201 * 50 + 3);
    free(p);
    free(q);
    free(ids);
    num_store_clear(&ns);
}

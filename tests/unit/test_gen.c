/* Tests of gen: generated attention scripts parse and build cleanly, have
 * exactly the relations, outputs and free symbols the sizes call for, are
 * deterministic, use the seed's names in compact form, and compute what
 * attention computes (scores checked against fmpq arithmetic). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <flint/fmpq.h>

#include "core/diag.h"
#include "core/parse.h"
#include "core/system.h"
#include "core/term.h"
#include "io/gen.h"
#include "tests/lib/testgen.h"
#include "tests/lib/testlib.h"
#include "tests/lib/scriptload.h"

typedef struct built {
    test_script t;
    test_script_status status;
} built;

/* The script of o, parsed and built (the status kept, not asserted). */
static void build(built *b, const gen_options *o)
{
    char *text = test_gen_text(o);
    cr_assert(text != NULL);
    b->status = test_script_try_load(&b->t, "gen.hmp", text, strlen(text));
    free(text);
}

static void built_clear(built *b) { test_script_clear(&b->t); }

/* Relations by formula: inputs N*D and weights 3*H*D^2 (none when symbolic),
 * q, k, v: 3*H*N*D; s and a: H*N^2 each (H*N(N+1)/2 when causal); o: H*N*D. */
static size_t expected_relations(const gen_options *o)
{
    size_t n = o->n, d = o->d, h = o->heads;
    size_t pairs = o->causal ? n * (n + 1) / 2 : n * n;
    size_t inputs = o->symbolic ? 0 : n * d + 3 * h * d * d;
    return inputs + 3 * h * n * d + 2 * h * pairs + h * n * d;
}

/* The name of entry (i, j) of a family as the generator spells it. */
static void entry_name(char *out, size_t size, const gen_options *o, const char *fam, uint32_t h, uint32_t i,
                       uint32_t j)
{
    if (o->compact) {
        int glue = fam[0] == 'W' || strcmp(fam, "s") == 0 || strcmp(fam, "a") == 0;
        snprintf(out, size, glue ? "%s%u%u" : "%s%u_%u", fam, i, j);
    } else if (o->heads > 1 && strcmp(fam, "x") != 0) {
        snprintf(out, size, "%s_%u_%u_%u", fam, h, i, j);
    } else {
        snprintf(out, size, "%s_%u_%u", fam, i, j);
    }
}

static term_id entry_sym(built *b, const gen_options *o, const char *fam, uint32_t h, uint32_t i, uint32_t j)
{
    char name[64];
    entry_name(name, sizeof name, o, fam, h, i, j);
    return term_sym_cstr(&b->t.s, name);
}

/* The inlined value of a defined entry (a relation must define it). */
static term_id entry_value(built *b, const gen_options *o, const char *fam, uint32_t h, uint32_t i, uint32_t j)
{
    int32_t r = sys_relation_of(&b->t.y, entry_sym(b, o, fam, h, i, j));
    cr_assert_geq(r, 0, "no relation for %s entry (%u, %u, %u)", fam, h, i, j);
    return sys_inline_relation(&b->t.y, (size_t)r);
}

static const gen_options *combos(size_t *n)
{
    static gen_options list[12];
    size_t k = 0;
    list[k++] = test_gen_options(1, 1, 1, 0, 1);
    list[k++] = test_gen_options(3, 2, 1, 0, 1);
    list[k++] = test_gen_options(3, 2, 1, TEST_GEN_COMPACT, 7);
    list[k++] = test_gen_options(3, 2, 1, TEST_GEN_SCALE | TEST_GEN_CAUSAL | TEST_GEN_COMPACT, 7);
    list[k++] = test_gen_options(4, 3, 1, TEST_GEN_SCALE, 2);
    list[k++] = test_gen_options(5, 2, 1, TEST_GEN_CAUSAL, 3);
    list[k++] = test_gen_options(2, 3, 3, 0, 4);
    list[k++] = test_gen_options(4, 2, 2, TEST_GEN_SCALE | TEST_GEN_CAUSAL, 5);
    list[k++] = test_gen_options(3, 4, 1, TEST_GEN_SYMBOLIC, 1);
    list[k++] = test_gen_options(4, 3, 2, TEST_GEN_SYMBOLIC | TEST_GEN_SCALE | TEST_GEN_CAUSAL, 1);
    list[k++] = test_gen_options(9, 9, 1, TEST_GEN_SCALE | TEST_GEN_CAUSAL | TEST_GEN_COMPACT, 9);
    list[k++] = test_gen_options(12, 10, 1, 0, 11);
    *n = k;
    return list;
}

Test(gen, parses_and_builds_without_errors)
{
    size_t n;
    const gen_options *list = combos(&n);
    for (size_t k = 0; k < n; k++) {
        built b;
        build(&b, &list[k]);
        cr_assert_neq(b.status, TEST_SCRIPT_PARSE_ERROR, "combo %zu does not parse", k);
        cr_assert_eq(b.status, TEST_SCRIPT_OK, "combo %zu does not build", k);
        cr_assert_eq(b.t.d.n, 0, "combo %zu: %zu diagnostics", k, b.t.d.n);
        built_clear(&b);
    }
}

Test(gen, relation_counts_are_exact)
{
    size_t n;
    const gen_options *list = combos(&n);
    for (size_t k = 0; k < n; k++) {
        built b;
        build(&b, &list[k]);
        size_t want = expected_relations(&list[k]);
        cr_assert_eq(b.t.sc.n_rels, want, "combo %zu: %zu relations, expected %zu", k, b.t.sc.n_rels, want);
        cr_assert_eq(gen_relation_count(&list[k]), want, "combo %zu: gen_relation_count", k);
        built_clear(&b);
    }
    /* a few by hand: 3 x 2: 6 + 12 + 18 + 9 + 9 + 6 = 60 */
    gen_options o = test_gen_options(3, 2, 1, 0, 1);
    cr_assert_eq(gen_relation_count(&o), 60);
    o.causal = 1; /* s and a: 6 each */
    cr_assert_eq(gen_relation_count(&o), 54);
    o.heads = 2; /* 6 + 24 + 36 + 24 + 12 */
    cr_assert_eq(gen_relation_count(&o), 102);
    o.symbolic = 1;
    cr_assert_eq(gen_relation_count(&o), 72);
}

Test(gen, outputs_are_the_o_entries_in_order)
{
    size_t n;
    const gen_options *list = combos(&n);
    for (size_t k = 0; k < n; k++) {
        const gen_options *o = &list[k];
        built b;
        build(&b, o);
        cr_assert_eq(b.t.y.n_outputs, (size_t)o->heads * o->n * o->d, "combo %zu", k);
        size_t at = 0;
        for (uint32_t h = 1; h <= o->heads; h++)
            for (uint32_t i = 1; i <= o->n; i++)
                for (uint32_t j = 1; j <= o->d; j++) {
                    char name[64];
                    entry_name(name, sizeof name, o, "o", h, i, j);
                    cr_assert_str_eq(term_sym_name(&b.t.s, b.t.y.outputs[at]), name, "combo %zu output %zu", k, at);
                    at++;
                }
        built_clear(&b);
    }
}

Test(gen, free_symbols_only_when_symbolic)
{
    size_t n;
    const gen_options *list = combos(&n);
    for (size_t k = 0; k < n; k++) {
        const gen_options *o = &list[k];
        built b;
        build(&b, o);
        if (!o->symbolic) {
            cr_assert_eq(b.t.y.n_free, 0, "combo %zu", k);
        } else {
            cr_assert_eq(b.t.y.n_free, (size_t)o->n * o->d + 3u * o->heads * o->d * o->d, "combo %zu", k);
            for (size_t f = 0; f < b.t.y.n_free; f++) {
                const char *name = term_sym_name(&b.t.s, b.t.y.free_syms[f]);
                cr_assert(name[0] == 'x' || name[0] == 'W', "free symbol %s", name);
            }
        }
        built_clear(&b);
    }
}

static void generate(strbuf *out, const gen_options *o)
{
    strbuf_init(out);
    cr_assert_eq(gen_attention_sb(out, o), 0);
}

Test(gen, deterministic_for_a_seed)
{
    int rounds = 5 * test_multiplier();
    for (int r = 0; r < rounds; r++) {
        uint64_t seed = (uint64_t)r * UINT64_C(0x9e3779b97f4a7c15) + 1;
        unsigned flags = (r % 3 == 0 ? TEST_GEN_SCALE : 0) | (r % 2 == 0 ? TEST_GEN_CAUSAL : 0);
        gen_options o = test_gen_options(2 + (uint32_t)r % 4, 1 + (uint32_t)r % 5, 1 + (uint32_t)r % 2, flags, seed);
        strbuf a, b, c;
        generate(&a, &o);
        generate(&b, &o);
        cr_assert_eq(a.len, b.len);
        cr_assert(memcmp(a.data, b.data, a.len) == 0, "same seed, different bytes");
        o.seed = seed + 1;
        generate(&c, &o);
        const char *body_a = strstr(strbuf_str(&a), "\nx_1_1 = ");
        const char *body_c = strstr(strbuf_str(&c), "\nx_1_1 = ");
        cr_assert(body_a && body_c);
        cr_assert(strcmp(body_a, body_c) != 0, "seeds %llu and %llu give the same values",
                  (unsigned long long)seed, (unsigned long long)seed + 1);
        strbuf_clear(&a);
        strbuf_clear(&b);
        strbuf_clear(&c);
    }
    /* the chunked FILE path writes the same bytes as the buffer path */
    gen_options o = test_gen_options(40, 12, 2, TEST_GEN_SCALE | TEST_GEN_CAUSAL, 99);
    strbuf a;
    generate(&a, &o);
    FILE *f = tmpfile();
    cr_assert(f != NULL);
    cr_assert_eq(gen_attention(f, &o), 0);
    long size = ftell(f);
    cr_assert_eq((size_t)size, a.len);
    rewind(f);
    char *got = malloc(a.len);
    cr_assert_eq(fread(got, 1, a.len, f), a.len);
    cr_assert(memcmp(got, a.data, a.len) == 0);
    free(got);
    fclose(f);
    strbuf_clear(&a);
}

Test(gen, header_states_the_effective_options)
{
    strbuf a;
    gen_options o = test_gen_options(4, 3, 2, TEST_GEN_SCALE | TEST_GEN_CAUSAL, 42);
    generate(&a, &o);
    cr_assert(strncmp(strbuf_str(&a), "# generated by: hmp gen attention 4 3 --seed 42 --scale --causal --heads 2\n",
                      75) == 0, "%.80s", strbuf_str(&a));
    strbuf_clear(&a);
    o = test_gen_options(3, 2, 1, TEST_GEN_SYMBOLIC | TEST_GEN_COMPACT, 5);
    generate(&a, &o);
    cr_assert(strncmp(strbuf_str(&a), "# generated by: hmp gen attention 3 2 --symbolic --compact\n", 59) == 0);
    strbuf_clear(&a);
}

Test(gen, compact_names_match_the_seed_example)
{
    strbuf a;
    gen_options o = test_gen_options(3, 2, 1, TEST_GEN_COMPACT, 1);
    generate(&a, &o);
    const char *t = strbuf_str(&a);
    cr_assert(strstr(t, "\nq1_1 = Wq11*x1_1 + Wq12*x1_2\n"));
    cr_assert(strstr(t, "\ns12 = q1_1*k2_1 + q1_2*k2_2\n"));
    cr_assert(strstr(t, "\na12 = exp(s12) / (exp(s11) + exp(s12) + exp(s13))\n"));
    cr_assert(strstr(t, "\no1_1 = a11*v1_1 + a12*v2_1 + a13*v3_1\n"));
    cr_assert(strstr(t, "\nk2_1 = Wk11*x2_1 + Wk12*x2_2\n"));
    cr_assert(strstr(t, "\nv3_2 = Wv21*x3_1 + Wv22*x3_2\n"));
    cr_assert(strstr(t, "\nWv22 = "));
    strbuf_clear(&a);
}

Test(gen, underscore_forms_causal_scale_heads)
{
    strbuf a;
    gen_options o = test_gen_options(3, 2, 1, TEST_GEN_SCALE | TEST_GEN_CAUSAL, 1);
    generate(&a, &o);
    const char *t = strbuf_str(&a);
    cr_assert(strstr(t, "\ns_2_1 = (q_2_1*k_1_1 + q_2_2*k_1_2) / sqrt(2)\n"));
    cr_assert(strstr(t, "\na_1_1 = exp(s_1_1) / exp(s_1_1)\n"));
    cr_assert(strstr(t, "\na_2_1 = exp(s_2_1) / (exp(s_2_1) + exp(s_2_2))\n"));
    cr_assert(strstr(t, "\no_2_2 = a_2_1*v_1_2 + a_2_2*v_2_2\n"));
    cr_assert(strstr(t, "\no_3_1 = a_3_1*v_1_1 + a_3_2*v_2_1 + a_3_3*v_3_1\n"));
    cr_assert_null(strstr(t, "\ns_1_2 ="));
    cr_assert_null(strstr(t, "\na_2_3 ="));
    strbuf_clear(&a);

    o = test_gen_options(2, 2, 2, 0, 1);
    generate(&a, &o);
    t = strbuf_str(&a);
    cr_assert(strstr(t, "\nq_2_1_1 = Wq_2_1_1*x_1_1 + Wq_2_1_2*x_1_2\n"));
    cr_assert(strstr(t, "\ns_2_1_2 = q_2_1_1*k_2_2_1 + q_2_1_2*k_2_2_2\n"));
    cr_assert(strstr(t, "\na_1_2_1 = exp(s_1_2_1) / (exp(s_1_2_1) + exp(s_1_2_2))\n"));
    cr_assert(strstr(t, "\no_2_1_2 = a_2_1_1*v_2_1_2 + a_2_1_2*v_2_2_2\n"));
    strbuf_clear(&a);
}

Test(gen, invalid_options_are_rejected)
{
    char err[256];
    gen_options o = test_gen_options(3, 2, 1, 0, 1);
    cr_assert_eq(gen_check(&o, err, sizeof err), 0);
    o.n = 0;
    cr_assert_eq(gen_check(&o, err, sizeof err), -1);
    o = test_gen_options(3, 0, 1, 0, 1);
    cr_assert_eq(gen_check(&o, err, sizeof err), -1);
    o = test_gen_options(3, 2, 0, 0, 1);
    cr_assert_eq(gen_check(&o, err, sizeof err), -1);
    o = test_gen_options(10, 2, 1, TEST_GEN_COMPACT, 1);
    cr_assert_eq(gen_check(&o, err, sizeof err), -1);
    cr_assert(strstr(err, "--compact") != NULL, "%s", err);
    o = test_gen_options(9, 10, 1, TEST_GEN_COMPACT, 1);
    cr_assert_eq(gen_check(&o, err, sizeof err), -1);
    o = test_gen_options(2, 2, 2, TEST_GEN_COMPACT, 1);
    cr_assert_eq(gen_check(&o, err, sizeof err), -1);
    strbuf a;
    strbuf_init(&a);
    cr_assert_eq(gen_attention_sb(&a, &o), -1);
    cr_assert_eq(a.len, 0);
    strbuf_clear(&a);
}

Test(gen, weight_denominator)
{
    /* round(4 * D^(3/4)): 4, 6.73, 19.03, 90.51, 256 */
    cr_assert_eq(gen_weight_den(1), 4);
    cr_assert_eq(gen_weight_den(2), 7);
    cr_assert_eq(gen_weight_den(8), 19);
    cr_assert_eq(gen_weight_den(64), 91);
    cr_assert_eq(gen_weight_den(256), 256);
}

static int small_integer(const fmpz_t m, slong bound)
{
    return fmpz_cmp_si(m, -bound) >= 0 && fmpz_cmp_si(m, bound) <= 0;
}

/* x = m/2 with |m| <= 4; weights = m/den with |m| <= 9; and every score
 * equals q_i . k_j computed here with fmpq from those values, q_i_j =
 * sum_c Wq_j_c * x_i_c (Q = X*Wq^T), for each head with its own weights. */
static void check_values_and_scores(const gen_options *o)
{
    built b;
    build(&b, o);
    cr_assert_eq(b.status, TEST_SCRIPT_OK);
    uint32_t n = o->n, d = o->d, heads = o->heads;
    fmpq *x = _fmpq_vec_init((slong)n * d);
    fmpq *w = _fmpq_vec_init((slong)3 * d * d);
    fmpq *proj = _fmpq_vec_init((slong)2 * n * d); /* q then k */
    fmpq_t v, t;
    fmpq_init(v);
    fmpq_init(t);
    uint32_t den = gen_weight_den(d);
    for (uint32_t i = 1; i <= n; i++)
        for (uint32_t j = 1; j <= d; j++) {
            term_id e = entry_value(&b, o, "x", 1, i, j);
            cr_assert_eq(term_op_of(&b.t.s, e), OP_NUM);
            fmpq_set(x + (i - 1) * d + (j - 1), term_value(&b.t.s, e));
            fmpq_mul_si(v, x + (i - 1) * d + (j - 1), 2);
            cr_assert(fmpz_is_one(fmpq_denref(v)) && small_integer(fmpq_numref(v), 4));
        }
    static const char *const wname[3] = { "Wq", "Wk", "Wv" };
    for (uint32_t h = 1; h <= heads; h++) {
        for (int m = 0; m < 3; m++)
            for (uint32_t j = 1; j <= d; j++)
                for (uint32_t c = 1; c <= d; c++) {
                    term_id e = entry_value(&b, o, wname[m], h, j, c);
                    cr_assert_eq(term_op_of(&b.t.s, e), OP_NUM);
                    fmpq *dst = w + (size_t)m * d * d + (j - 1) * d + (c - 1);
                    fmpq_set(dst, term_value(&b.t.s, e));
                    fmpq_mul_ui(v, dst, den);
                    cr_assert(fmpz_is_one(fmpq_denref(v)) && small_integer(fmpq_numref(v), 9));
                }
        for (int m = 0; m < 2; m++)
            for (uint32_t i = 0; i < n; i++)
                for (uint32_t j = 0; j < d; j++) {
                    fmpq *dst = proj + (size_t)m * n * d + i * d + j;
                    fmpq_zero(dst);
                    for (uint32_t c = 0; c < d; c++) {
                        fmpq_mul(t, w + (size_t)m * d * d + j * d + c, x + i * d + c);
                        fmpq_add(dst, dst, t);
                    }
                }
        for (uint32_t i = 1; i <= n; i++) {
            uint32_t last = o->causal ? i : n;
            for (uint32_t j = 1; j <= last; j++) {
                fmpq_zero(v);
                for (uint32_t c = 0; c < d; c++) {
                    fmpq_mul(t, proj + (i - 1) * d + c, proj + (size_t)n * d + (j - 1) * d + c);
                    fmpq_add(v, v, t);
                }
                term_id e = entry_value(&b, o, "s", h, i, j);
                cr_assert_eq(term_op_of(&b.t.s, e), OP_NUM, "s(%u, %u, %u) is not a number", h, i, j);
                cr_assert(fmpq_equal(v, term_value(&b.t.s, e)), "s(%u, %u, %u) differs", h, i, j);
            }
        }
    }
    fmpq_clear(v);
    fmpq_clear(t);
    _fmpq_vec_clear(x, (slong)n * d);
    _fmpq_vec_clear(w, (slong)3 * d * d);
    _fmpq_vec_clear(proj, (slong)2 * n * d);
    built_clear(&b);
}

Test(gen, values_and_scores_are_attention)
{
    check_values_and_scores(&(gen_options){ .n = 3, .d = 2, .heads = 1, .seed = 1 });
    check_values_and_scores(&(gen_options){ .n = 3, .d = 2, .heads = 1, .seed = 1, .compact = 1 });
    check_values_and_scores(&(gen_options){ .n = 5, .d = 3, .heads = 2, .seed = 8, .causal = 1 });
    int rounds = 3 * test_multiplier();
    for (int r = 0; r < rounds; r++)
        check_values_and_scores(&(gen_options){ .n = 2 + (uint32_t)r % 5, .d = 1 + (uint32_t)(r * 7) % 6,
                                                .heads = 1 + (uint32_t)r % 3, .seed = 1000 + (uint64_t)r,
                                                .causal = r % 2 });
}

/* Mean |s_i_j| of the unscaled scores, exactly: must lie in [1/2, 20]. */
static void check_spread(uint32_t n, uint32_t d, uint64_t seed)
{
    gen_options o = test_gen_options(n, d, 1, 0, seed);
    built b;
    build(&b, &o);
    cr_assert_eq(b.status, TEST_SCRIPT_OK);
    fmpq_t sum, a;
    fmpq_init(sum);
    fmpq_init(a);
    for (uint32_t i = 1; i <= n; i++)
        for (uint32_t j = 1; j <= n; j++) {
            term_id e = entry_value(&b, &o, "s", 1, i, j);
            cr_assert_eq(term_op_of(&b.t.s, e), OP_NUM);
            fmpq_abs(a, term_value(&b.t.s, e));
            fmpq_add(sum, sum, a);
        }
    fmpz_t count;
    fmpz_init_set_ui(count, (ulong)n * n);
    fmpq_div_fmpz(sum, sum, count);
    fmpz_clear(count);
    double mean = fmpq_get_d(sum);
    cr_assert(fmpq_cmp_si(sum, 20) <= 0, "D = %u: mean |s| = %g, scores too large", d, mean);
    fmpq_set_si(a, 1, 2);
    cr_assert(fmpq_cmp(sum, a) >= 0, "D = %u: mean |s| = %g, scores too small", d, mean);
    fmpq_clear(sum);
    fmpq_clear(a);
    built_clear(&b);
}

Test(gen, unscaled_scores_are_of_order_one_to_ten)
{
    check_spread(8, 8, 1);
    check_spread(12, 8, 2);
    check_spread(8, 2, 3);
    check_spread(6, 64, 4);
    int rounds = 2 * test_multiplier();
    for (int r = 0; r < rounds; r++) check_spread(8, 8, 100 + (uint64_t)r);
}

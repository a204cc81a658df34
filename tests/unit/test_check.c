/* Tests of core/check: generated attention blocks (scaled, causal, two
 * heads) pass their kernel's bound for every compute and storage format and
 * both kernels; the inputs and scale it finds equal those computed
 * independently (inlined relations, MPFR); a planted wrong output entry
 * fails and is the one reported; scripts that are not attention are errors. */
#include <criterion/criterion.h>
#include <math.h>
#include <mpfr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention/check.h"
#include "core/parse.h"
#include "core/system.h"
#include "io/gen.h"
#include "tests/lib/testgen.h"
#include "tests/lib/testlib.h"
#include "tests/lib/testscript.h"

typedef test_script loaded;

/* text without its `output` directives (every line that starts with it). */
static char *without_outputs(const char *text)
{
    char *out = malloc(strlen(text) + 1), *w = out;
    for (const char *line = text; *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) + 1 : strlen(line);
        if (strncmp(line, "output ", 7) != 0) { memcpy(w, line, len); w += len; }
        line += len;
    }
    *w = '\0';
    return out;
}

/* The value of the relation named name, inlined: a number. */
static void inlined_value(fmpq_t out, loaded *L, const char *name)
{
    term_id t = term_sym_cstr(&L->s, name);
    int32_t rel = sys_relation_of(&L->y, t);
    cr_assert(rel >= 0, "%s is not defined", name);
    term_id v = sys_inline_relation(&L->y, (size_t)rel);
    cr_assert_eq(term_op_of(&L->s, v), OP_NUM, "%s is not a number", name);
    fmpq_set(out, term_value(&L->s, v));
}

/* Q, K and V as check found them equal the inlined relations q_h_i_c
 * (k_h_j_c, v_h_j_c), written by gen with indices from 1. */
static void assert_inputs(loaded *L, const check_problem *cp)
{
    fmpq_t x;
    fmpq_init(x);
    char name[64];
    const char *base[3] = { "q", "k", "v" };
    const fmpq *val[3] = { cp->q, cp->k, cp->v };
    size_t rows[3] = { cp->n_q, cp->n_k, cp->n_k }, cols[3] = { cp->d, cp->d, cp->d_v };
    for (int w = 0; w < 3; w++)
        for (size_t h = 0; h < cp->heads; h++)
            for (size_t i = 0; i < rows[w]; i++)
                for (size_t c = 0; c < cols[w]; c++) {
                    if (cp->heads > 1) snprintf(name, sizeof name, "%s_%zu_%zu_%zu", base[w], h + 1, i + 1, c + 1);
                    else snprintf(name, sizeof name, "%s_%zu_%zu", base[w], i + 1, c + 1);
                    inlined_value(x, L, name);
                    cr_assert(fmpq_equal(x, val[w] + (h * rows[w] + i) * cols[w] + c), "%s differs", name);
                }
    fmpq_clear(x);
}

/* 1/sqrt(d) correctly rounded to double, by MPFR. */
static double rsqrt_rounded(unsigned long d)
{
    mpfr_t x;
    mpfr_init2(x, 53);
    mpfr_set_ui(x, d, MPFR_RNDN);
    mpfr_rec_sqrt(x, x, MPFR_RNDN);
    double r = mpfr_get_d(x, MPFR_RNDN);
    mpfr_clear(x);
    return r;
}

static const fp_format storages[4] = { FP_F64, FP_F32, FP_F16, FP_BF16 };

/* Every kernel, compute and storage format on the script passes. */
static void check_all_pass(check_problem *cp)
{
    size_t tiles[3] = { 1, 2, 64 };
    for (int kern = 0; kern < 4; kern++)
        for (int cf = 0; cf < 2; cf++)
            for (int sf = 0; sf < 4; sf++) {
                check_options o;
                check_options_init(&o);
                o.kind = kern == 0 ? ATTN_NAIVE : ATTN_FLASH;
                o.tile = kern == 0 ? 64 : tiles[kern - 1];
                o.compute = cf ? FP_F32 : FP_F64;
                o.storage = storages[sf];
                check_report r;
                char err[256];
                cr_assert_eq(check_run(&r, cp, &o, err, sizeof err), 0, "%s", err);
                cr_assert_eq(r.entries, cp->heads * cp->n_q * cp->d_v);
                cr_assert_eq(r.vr.entries, r.entries);
                cr_assert(r.vr.pass, "kernel %d compute %d storage %d: %zu over the bound (max err_scaled %g, bound %g)",
                          kern, cf, sf, r.vr.over_bound, r.vr.max_err_scaled, r.vr.bound);
                cr_assert_eq(r.vr.over_bound, 0);
                cr_assert(r.have_script);
                cr_assert(isfinite(r.script_max_ulp_err) && r.script_max_ulp_err >= r.script_median_ulp_err);
                /* the stored inputs are the exact ones rounded once */
                for (size_t t = 0; t < cp->heads * cp->n_q * cp->d; t++)
                    cr_assert_eq(cp->q_st[t], fp_bits_to_double(fp_round_fmpq(cp->q + t, o.storage), o.storage));
                check_report_clear(&r);
            }
}

Test(check, generated_blocks_pass)
{
    struct { uint32_t n, d, heads; int scale, causal; } cases[] = {
        { 3, 4, 1, 1, 0 }, { 4, 3, 1, 1, 1 }, { 3, 4, 2, 1, 1 }, { 5, 2, 2, 0, 0 }, { 2, 5, 2, 1, 0 },
    };
    int m = test_multiplier();
    test_rng rng = { 0x5eedc0deULL };
    size_t n_cases = sizeof cases / sizeof cases[0];
    for (size_t it = 0; it < n_cases + 3 * (size_t)m; it++) {
        uint32_t n, d, heads;
        int scale, causal;
        if (it < n_cases) {
            n = cases[it].n; d = cases[it].d; heads = cases[it].heads; scale = cases[it].scale; causal = cases[it].causal;
        } else {
            n = 2 + (uint32_t)test_randn(&rng, 5); /* n = 1: gen's softmax folds to 1 */
            d = 1 + (uint32_t)test_randn(&rng, 5);
            heads = 1 + (uint32_t)test_randn(&rng, 2);
            scale = test_randn(&rng, 2);
            causal = test_randn(&rng, 2);
        }
        char *text = test_gen_attention(n, d, heads, (scale ? TEST_GEN_SCALE : 0) | (causal ? TEST_GEN_CAUSAL : 0), 1 + it);
        loaded L;
        test_script_load(&L, text);
        check_problem cp;
        char err[256];
        cr_assert_eq(check_prepare(&cp, &L.y, err, sizeof err), 0, "%s\n%s", err, text);
        cr_assert_eq(cp.heads, heads);
        cr_assert_eq(cp.n_q, n);
        cr_assert_eq(cp.n_k, n);
        cr_assert_eq(cp.d, d);
        cr_assert_eq(cp.d_v, d);
        if (causal && n > 1) cr_assert(cp.masked);
        if (!causal) cr_assert(!cp.masked);
        cr_assert_eq(cp.scale, scale ? rsqrt_rounded(d) : 1.0, "scale %.17g for d %u", cp.scale, d);
        assert_inputs(&L, &cp);
        check_all_pass(&cp);
        check_problem_clear(&cp);
        test_script_clear(&L);
        free(text);
    }
}

/* With one tile the flash kernel is the naive one, bit for bit
 * (docs/KERNELS.md); with tile 1 it differs somewhere on a longer block. */
Test(check, flash_one_tile_is_naive)
{
    char *text = test_gen_attention(6, 3, 2, TEST_GEN_SCALE, 7);
    loaded L;
    test_script_load(&L, text);
    check_problem cp;
    char err[256];
    cr_assert_eq(check_prepare(&cp, &L.y, err, sizeof err), 0, "%s", err);
    for (int cf = 0; cf < 2; cf++) {
        check_options o;
        check_options_init(&o);
        o.compute = cf ? FP_F32 : FP_F64;
        o.storage = o.compute;
        cr_assert_eq(check_store(&cp, o.storage, err, sizeof err), 0);
        size_t n = cp.heads * cp.n_q * cp.d_v;
        double *naive = calloc(n, sizeof *naive), *flash = calloc(n, sizeof *flash);
        cr_assert_eq(check_kernel(naive, &cp, &o), 0);
        o.kind = ATTN_FLASH;
        o.tile = 6;
        cr_assert_eq(check_kernel(flash, &cp, &o), 0);
        cr_assert_eq(memcmp(naive, flash, n * sizeof *naive), 0);
        free(naive);
        free(flash);
    }
    check_problem_clear(&cp);
    test_script_clear(&L);
    free(text);
}


Test(check, planted_error_is_reported)
{
    char *text = test_gen_attention(4, 3, 2, TEST_GEN_SCALE | TEST_GEN_CAUSAL, 11);
    loaded L;
    test_script_load(&L, text);
    check_problem cp;
    char err[256];
    cr_assert_eq(check_prepare(&cp, &L.y, err, sizeof err), 0, "%s", err);
    test_rng rng = { 42 };
    int m = test_multiplier();
    for (int it = 0; it < 8 * m; it++) {
        check_options o;
        check_options_init(&o);
        o.kind = it % 2 ? ATTN_FLASH : ATTN_NAIVE;
        o.tile = 2;
        o.compute = (it / 2) % 2 ? FP_F32 : FP_F64;
        o.storage = storages[(it / 4) % 4];
        cr_assert_eq(check_store(&cp, o.storage, err, sizeof err), 0);
        size_t n = cp.heads * cp.n_q * cp.d_v;
        double *out = calloc(n, sizeof *out);
        cr_assert_eq(check_kernel(out, &cp, &o), 0);
        /* unchanged, it passes */
        check_report r;
        cr_assert_eq(check_outputs(&r, &cp, out, &o, err, sizeof err), 0, "%s", err);
        cr_assert(r.vr.pass);
        double bound = r.vr.bound;
        check_report_clear(&r);
        /* one entry 100 ulps off fails, and is the worst entry */
        /* one entry moved by 64 * bound * u * max_j |v_jc| (at least the bound
         * times u W, as W <= max_j |v_jc|, and 32 ulps, as |o| <= max_j |v_jc|)
         * fails, and is the worst entry */
        size_t bad = (size_t)test_randn(&rng, (int)n);
        size_t h = bad / (cp.n_q * cp.d_v), c = bad % cp.d_v;
        double maxv = 0;
        for (size_t j = 0; j < cp.n_k; j++) maxv = fmax(maxv, fabs(cp.v_st[(h * cp.n_k + j) * cp.d_v + c]));
        double delta = maxv > 0 ? 64 * bound * ldexp(maxv, -fp_info(o.storage)->prec) : 0.5;
        double before = out[bad];
        out[bad] = fp_bits_to_double(fp_round_double(out[bad] + delta, o.storage), o.storage);
        cr_assert(out[bad] - before >= delta / 2);
        cr_assert_eq(check_outputs(&r, &cp, out, &o, err, sizeof err), 0, "%s", err);
        cr_assert(!r.vr.pass);
        cr_assert_eq(r.vr.over_bound, 1);
        cr_assert(r.vr.over[bad]);
        cr_assert_eq(r.vr.worst[0].index, bad);
        cr_assert_eq(r.vr.worst[0].value, out[bad]);
        cr_assert(r.vr.worst[0].ulp_err > 16, "%g", r.vr.worst[0].ulp_err);
        strbuf b;
        strbuf_init(&b);
        check_print(&b, &cp, &r, &o);
        char name[96];
        snprintf(name, sizeof name, "o_%zu_%zu_%zu  value", bad / (cp.n_q * cp.d_v) + 1, bad / cp.d_v % cp.n_q + 1,
                 bad % cp.d_v + 1);
        cr_assert(strstr(strbuf_str(&b), name), "%s not in\n%s", name, strbuf_str(&b));
        cr_assert(strstr(strbuf_str(&b), "OVER"));
        cr_assert(strstr(strbuf_str(&b), "\nFAIL\n"));
        strbuf_clear(&b);
        strbuf_init(&b);
        check_print_json(&b, &cp, &r, &o);
        cr_assert(strstr(strbuf_str(&b), "\"pass\": false"));
        cr_assert(strstr(strbuf_str(&b), "\"over\": true"));
        strbuf_clear(&b);
        check_report_clear(&r);
        free(out);
    }
    check_problem_clear(&cp);
    test_script_clear(&L);
    free(text);
}

/* 2 queries, 3 keys, d = 2, a scale of 3 outside the product; q_1_1 =
 * 1 + 2^-11 + 2^-60 rounds to 1 + 2^-10 in f16, but to 1 through a double
 * first (1 + 2^-11, a tie, to even). */
static const char hand_script[] =
    "q_1_1 = 1153484454560268289/1152921504606846976\n"
    "q_1_2 = 1/3\nq_2_1 = -1/2\nq_2_2 = 2/7\n"
    "k_1_1 = 1\nk_1_2 = 1/5\nk_2_1 = -1\nk_2_2 = 3/4\nk_3_1 = 1/8\nk_3_2 = 1\n"
    "v_1_1 = 1/3\nv_1_2 = 1\nv_2_1 = -2\nv_2_2 = 1/10\nv_3_1 = 5/4\nv_3_2 = %s\n"
    "s_1_1 = 3*(q_1_1*k_1_1 + q_1_2*k_1_2)\ns_1_2 = 3*(q_1_1*k_2_1 + q_1_2*k_2_2)\ns_1_3 = 3*(q_1_1*k_3_1 + q_1_2*k_3_2)\n"
    "s_2_1 = 3*(q_2_1*k_1_1 + q_2_2*k_1_2)\ns_2_2 = 3*(q_2_1*k_2_1 + q_2_2*k_2_2)\ns_2_3 = 3*(q_2_1*k_3_1 + q_2_2*k_3_2)\n"
    "a_1_1 = exp(s_1_1) / (exp(s_1_1) + exp(s_1_2) + exp(s_1_3))\n"
    "a_1_2 = exp(s_1_2) / (exp(s_1_1) + exp(s_1_2) + exp(s_1_3))\n"
    "a_1_3 = exp(s_1_3) / (exp(s_1_1) + exp(s_1_2) + exp(s_1_3))\n"
    "a_2_1 = exp(s_2_1) / (exp(s_2_1) + exp(s_2_2) + exp(s_2_3))\n"
    "a_2_2 = exp(s_2_2) / (exp(s_2_1) + exp(s_2_2) + exp(s_2_3))\n"
    "a_2_3 = exp(s_2_3) / (exp(s_2_1) + exp(s_2_2) + exp(s_2_3))\n"
    "o_1_1 = a_1_1*v_1_1 + a_1_2*v_2_1 + a_1_3*v_3_1\no_1_2 = a_1_1*v_1_2 + a_1_2*v_2_2 + a_1_3*v_3_2\n"
    "o_2_1 = a_2_1*v_1_1 + a_2_2*v_2_1 + a_2_3*v_3_1\no_2_2 = a_2_1*v_1_2 + a_2_2*v_2_2 + a_2_3*v_3_2\n";

Test(check, rounds_each_input_once)
{
    char text[4096];
    snprintf(text, sizeof text, hand_script, "-1/7");
    loaded L;
    test_script_load(&L, text);
    check_problem cp;
    char err[256];
    cr_assert_eq(check_prepare(&cp, &L.y, err, sizeof err), 0, "%s", err);
    cr_assert_eq(cp.heads, 1);
    cr_assert_eq(cp.n_q, 2);
    cr_assert_eq(cp.n_k, 3);
    cr_assert_eq(cp.d, 2);
    cr_assert_eq(cp.d_v, 2);
    cr_assert(!cp.masked);
    cr_assert_eq(cp.scale, 3.0);
    cr_assert_eq(check_store(&cp, FP_F16, err, sizeof err), 0);
    cr_assert_eq(cp.q_st[0], 1 + 0x1p-10);
    cr_assert_eq(fp_bits_to_double(fp_round_double(1 + 0x1p-11, FP_F16), FP_F16), 1.0); /* the double rounding */
    cr_assert_eq(cp.q_st[1], 0x1.554p-2);  /* 1/3 in f16 */
    cr_assert_eq(cp.k_st[5], 1.0);         /* k_3_2 */
    cr_assert_eq(cp.v_st[4], 1.25);        /* v_3_1 */
    cr_assert_eq(check_store(&cp, FP_F64, err, sizeof err), 0);
    cr_assert_eq(cp.q_st[1], 1.0 / 3.0);
    cr_assert_eq(cp.v_st[5], -1.0 / 7.0);
    check_all_pass(&cp);
    check_problem_clear(&cp);
    test_script_clear(&L);
}

Test(check, overflow_in_storage)
{
    char text[4096];
    snprintf(text, sizeof text, hand_script, "100000");
    loaded L;
    test_script_load(&L, text);
    check_problem cp;
    char err[256];
    cr_assert_eq(check_prepare(&cp, &L.y, err, sizeof err), 0, "%s", err);
    cr_assert_eq(check_store(&cp, FP_F16, err, sizeof err), -1);
    cr_assert(strstr(err, "V entry 5 overflows f16"), "%s", err);
    cr_assert_eq(check_store(&cp, FP_BF16, err, sizeof err), 0);
    check_options o;
    check_options_init(&o);
    double out[4];
    cr_assert_eq(check_kernel(out, &cp, &o), -1); /* stored in bf16, not f64 */
    check_problem_clear(&cp);
    test_script_clear(&L);
}

static void expect_error(const char *text, const char *what)
{
    loaded L;
    test_script_load(&L, text);
    check_problem cp;
    char err[512];
    int rc = check_prepare(&cp, &L.y, err, sizeof err);
    cr_assert_eq(rc, -1, "accepted:\n%s", text);
    cr_assert(strstr(err, what), "'%s' not in '%s'", what, err);
    check_problem_clear(&cp);
    test_script_clear(&L);
}

Test(check, not_attention)
{
    expect_error("a = 1\nb = a + 2\n", "2 relations left scalar");
    expect_error("x1 = 1\nx2 = 2\ny1 = exp(x1)\ny2 = exp(x2)\n", "computed by map, not a product");
    /* free symbols */
    char *symbolic = test_gen_attention(2, 2, 1, TEST_GEN_SYMBOLIC, 1);
    expect_error(symbolic, "free symbols");
    free(symbolic);
    /* the outputs are the softmax, or two families */
    char *gen = test_gen_attention(2, 2, 1, 0, 3), *text = without_outputs(gen);
    free(gen);
    size_t len = strlen(text);
    char *more = malloc(len + 64);
    snprintf(more, len + 64, "%soutput a_1_1, a_2_2\n", text);
    expect_error(more, "family A, computed by softmax_rows");
    snprintf(more, len + 64, "%soutput a_1_1, o_1_1\n", text);
    expect_error(more, "more than one family");
    snprintf(more, len + 64, "%soutput q_1_1\n", text);
    expect_error(more, "Q = X * Wq with X computed by a literal, not A = softmax_rows(S)");
    free(more);
    free(text);
    /* O = S * V with no softmax */
    expect_error("s_1_1 = 1\ns_1_2 = 2\ns_2_1 = 3\ns_2_2 = 4\nv_1_1 = 1\nv_1_2 = 0\nv_2_1 = 0\nv_2_2 = 1\n"
                 "o_1_1 = s_1_1*v_1_1 + s_1_2*v_2_1\no_1_2 = s_1_1*v_1_2 + s_1_2*v_2_2\n"
                 "o_2_1 = s_2_1*v_1_1 + s_2_2*v_2_1\no_2_2 = s_2_1*v_1_2 + s_2_2*v_2_2\n",
                 "S computed by a literal, not A = softmax_rows(S)");
}

Test(check, options_defaults)
{
    check_options o;
    check_options_init(&o);
    cr_assert_eq(o.kind, ATTN_NAIVE);
    cr_assert_eq(o.tile, 64);
    cr_assert_eq(o.compute, FP_F64);
    cr_assert_eq(o.storage, FP_F64);
    cr_assert_eq(o.tol, 0);
}

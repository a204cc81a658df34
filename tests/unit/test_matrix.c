/* Tests of rewrite/matrix: the seed block in every index form and line
 * order, scaled, causal, multi-head, bias, -inf masks, heads concatenated,
 * partial systems and near misses, compact names, and the round trip
 * random matrix program -> scalar relations -> recognised -> same program. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/parse.h"
#include "core/print.h"
#include "core/system.h"
#include "io/gen.h"
#include "rewrite/recognise.h"
#include "tests/lib/testgen.h"
#include "tests/lib/testlib.h"
#include "tests/lib/testscript.h"

typedef struct loaded {
    test_script t;
    mat_program p;
} loaded;

/* Parses text and recognises it. */
static void load(loaded *L, const char *text)
{
    test_script_load(&L->t, text);
    mat_program_init(&L->p, &L->t.s);
    cr_assert_eq(recog_program(&L->p, &L->t.y), 0);
}

static void unload(loaded *L)
{
    mat_program_clear(&L->p);
    test_script_clear(&L->t);
}

/* The operation lines of the printed program ("K = X * Wk^T\n..."). */
static char *op_lines(loaded *L)
{
    strbuf b, o;
    strbuf_init(&b);
    strbuf_init(&o);
    mat_print(&b, &L->p);
    const char *t = strbuf_str(&b);
    while (*t) {
        const char *e = strchr(t, '\n');
        size_t n = e ? (size_t)(e - t) + 1 : strlen(t);
        if (t[0] != '#') strbuf_putn(&o, t, n);
        t += n;
    }
    char *r = strdup(strbuf_str(&o));
    strbuf_clear(&b);
    strbuf_clear(&o);
    return r;
}

static const char seed_ops[] = "K = X * Wk^T\nQ = X * Wq^T\nV = X * Wv^T\nS = Q * K^T\nA = softmax_rows(S)\nO = A * V\n";

static void assert_seed(const char *text)
{
    loaded L;
    load(&L, text);
    char *ops = op_lines(&L);
    cr_assert_str_eq(ops, seed_ops, "%s\nfrom:\n%s", ops, text);
    cr_assert_eq(L.p.n_ops, 6);
    cr_assert_eq(L.p.n_scalar, 0);
    free(ops);
    unload(&L);
}

/* ---- rewriting scripts: index forms and line orders ---- */

typedef enum name_style { STYLE_AS_IS, STYLE_UNDERSCORE, STYLE_BRACKETS, STYLE_COMMA, STYLE_ZERO } name_style;

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }

/* Rewrites the seed's names x1_2 and Wq12 (single digits) into style. */
static char *restyle(const char *text, name_style style)
{
    strbuf b;
    strbuf_init(&b);
    for (const char *t = text; *t;) {
        if (*t == '#') { /* comments as they are */
            const char *e = strchr(t, '\n');
            size_t n = e ? (size_t)(e - t) + 1 : strlen(t);
            strbuf_putn(&b, t, n);
            t += n;
            continue;
        }
        if (!is_alpha(*t) || (t > text && (is_alpha(t[-1]) || is_digit(t[-1]) || t[-1] == '_'))) {
            strbuf_putc(&b, *t++);
            continue;
        }
        const char *e = t;
        while (is_alpha(*e)) e++;
        int i = -1, j = -1;
        const char *end = e;
        if (is_digit(e[0]) && e[1] == '_' && is_digit(e[2]) && !is_digit(e[3])) { i = e[0] - '0'; j = e[2] - '0'; end = e + 3; }
        else if (is_digit(e[0]) && is_digit(e[1]) && !is_digit(e[2]) && e[2] != '_') { i = e[0] - '0'; j = e[1] - '0'; end = e + 2; }
        if (i < 0 || style == STYLE_AS_IS) {
            strbuf_putn(&b, t, (size_t)(end - t));
            t = end;
            continue;
        }
        strbuf_putn(&b, t, (size_t)(e - t));
        switch (style) {
        case STYLE_UNDERSCORE: strbuf_printf(&b, "_%d_%d", i, j); break;
        case STYLE_BRACKETS: strbuf_printf(&b, "[%d][%d]", i, j); break;
        case STYLE_COMMA: strbuf_printf(&b, "[%d, %d]", i, j); break;
        case STYLE_ZERO: strbuf_printf(&b, "_%d_%d", i - 1, j - 1); break;
        default: break;
        }
        t = end;
    }
    char *r = strdup(strbuf_str(&b));
    strbuf_clear(&b);
    return r;
}

/* The relation lines of text in a random order (comments dropped). */
static char *shuffle_lines(const char *text, test_rng *rng)
{
    char *copy = strdup(text);
    char **lines = NULL;
    size_t n = 0;
    for (char *l = strtok(copy, "\n"); l; l = strtok(NULL, "\n")) {
        if (l[0] == '#' || l[0] == '\0') continue;
        lines = realloc(lines, (n + 1) * sizeof *lines);
        lines[n++] = l;
    }
    for (size_t i = n; i > 1; i--) {
        size_t k = (size_t)test_randn(rng, (int)i);
        char *x = lines[i - 1];
        lines[i - 1] = lines[k];
        lines[k] = x;
    }
    strbuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < n; i++) strbuf_printf(&b, "%s\n", lines[i]);
    char *r = strdup(strbuf_str(&b));
    strbuf_clear(&b);
    free(lines);
    free(copy);
    return r;
}

static char *read_seed(void)
{
    FILE *f = fopen("examples/transformer_block.hmp", "rb");
    if (!f) f = fopen("../examples/transformer_block.hmp", "rb");
    cr_assert(f, "examples/transformer_block.hmp not found (run from the repository root)");
    strbuf b;
    strbuf_init(&b);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) strbuf_putn(&b, buf, n);
    fclose(f);
    char *r = strdup(strbuf_str(&b));
    strbuf_clear(&b);
    return r;
}

Test(matrix, seed_block_six_operations)
{
    char *seed = read_seed();
    loaded L;
    load(&L, seed);
    char *ops = op_lines(&L);
    cr_assert_str_eq(ops, seed_ops);
    cr_assert_eq(L.p.n_scalar, 0);
    cr_assert_eq(L.p.n_literal, 18);
    cr_assert_eq(L.p.n_covered, 42);
    /* the operations as data: Q = X * Wq^T */
    const mat_op *q = NULL;
    for (size_t k = 0; k < L.p.n_ops; k++)
        if (strcmp(L.p.mats[L.p.ops[k].out].name, "Q") == 0) q = &L.p.ops[k];
    cr_assert(q);
    cr_assert_eq(q->code, MAT_OP_MATMUL);
    cr_assert_str_eq(L.p.mats[q->arg[0]].name, "X");
    cr_assert_str_eq(L.p.mats[q->arg[1]].name, "Wq");
    cr_assert_eq(q->view[0], MAT_VIEW_PLAIN);
    cr_assert_eq(q->view[1], MAT_VIEW_T);
    cr_assert_eq(q->scalar, TERM_NONE);
    /* families: X 3x2 literal from 1, Wq compact 2x2 */
    for (size_t i = 0; i < L.p.n_mats; i++) {
        const mat_family *f = &L.p.mats[i];
        if (strcmp(f->name, "X") == 0) {
            cr_assert_eq(f->kind, MAT_KIND_LITERAL);
            cr_assert_eq(f->form, MAT_FORM_GLUED);
            cr_assert_eq(f->rows, 3);
            cr_assert_eq(f->cols, 2);
            cr_assert_eq(f->index_base, 1);
        }
        if (strcmp(f->name, "Wq") == 0) cr_assert_eq(f->form, MAT_FORM_COMPACT);
        if (strcmp(f->name, "A") == 0) cr_assert_eq(f->kind, MAT_KIND_OP);
    }
    free(ops);
    unload(&L);
    free(seed);
}

Test(matrix, seed_block_in_every_index_form_and_line_order)
{
    char *seed = read_seed();
    test_rng rng = { 20260501 };
    int rounds = 5 * test_multiplier();
    name_style styles[] = { STYLE_AS_IS, STYLE_UNDERSCORE, STYLE_BRACKETS, STYLE_COMMA, STYLE_ZERO };
    for (size_t s = 0; s < sizeof styles / sizeof styles[0]; s++) {
        char *styled = restyle(seed, styles[s]);
        assert_seed(styled);
        for (int r = 0; r < rounds; r++) {
            char *shuffled = shuffle_lines(styled, &rng);
            assert_seed(shuffled);
            free(shuffled);
        }
        free(styled);
    }
    free(seed);
}

Test(matrix, zero_based_indices_are_detected)
{
    char *seed = read_seed();
    char *z = restyle(seed, STYLE_ZERO);
    loaded L;
    load(&L, z);
    cr_assert_eq(L.p.n_ops, 6);
    for (size_t i = 0; i < L.p.n_mats; i++) cr_assert_eq(L.p.mats[i].index_base, 0, "%s", L.p.mats[i].name);
    unload(&L);
    free(z);
    free(seed);
}

Test(matrix, regen_parses_back_to_the_same_terms_in_any_line_order)
{
    char *seed = read_seed();
    test_rng rng = { 99 };
    char *first = NULL;
    for (int round = 0; round < 4; round++) {
        char *text = round == 0 ? strdup(seed) : shuffle_lines(seed, &rng);
        loaded L;
        load(&L, text);
        strbuf b;
        strbuf_init(&b);
        recog_regen(&b, &L.p);
        if (!first) first = strdup(strbuf_str(&b));
        else cr_assert_str_eq(strbuf_str(&b), first, "regen depends on the order of the lines");
        /* parsed into the same store: every relation has the same term */
        source src;
        source_from_string(&src, "regen.hmp", b.data, b.len);
        script sc;
        script_init(&sc);
        diag_list d;
        diag_init(&d);
        cr_assert_eq(parse_script(&sc, &L.t.s, &d, &src), 0);
        cr_assert_eq(sc.n_rels, L.t.sc.n_rels);
        for (size_t i = 0; i < sc.n_rels; i++) {
            int32_t k = sys_relation_of(&L.t.y, sc.rels[i].name);
            cr_assert(k >= 0);
            cr_assert_eq(sc.rels[i].rhs, L.t.sc.rels[k].rhs, "%s differs", term_sym_name(&L.t.s, sc.rels[i].name));
        }
        script_clear(&sc);
        diag_clear(&d);
        source_clear(&src);
        strbuf_clear(&b);
        unload(&L);
        free(text);
    }
    free(first);
    free(seed);
}

/* ---- generated blocks ---- */

Test(matrix, generated_blocks_scaled_causal_multi_head)
{
    struct {
        uint32_t n, d, heads;
        int scale, causal, compact, symbolic;
        const char *ops;
    } cases[] = {
        { 3, 2, 1, 0, 0, 1, 0, seed_ops },
        { 4, 3, 1, 0, 0, 0, 1, seed_ops },
        { 3, 4, 1, 1, 0, 0, 0, "K = X * Wk^T\nQ = X * Wq^T\nV = X * Wv^T\nS = Q * K^T / 2\nA = softmax_rows(S)\nO = A * V\n" },
        { 4, 3, 1, 1, 1, 0, 0,
          "K = X * Wk^T\nQ = X * Wq^T\nV = X * Wv^T\nS = Q * K^T / sqrt(3)\nA = masked_softmax_rows(S)\nO = A * V\n" },
        { 3, 2, 2, 0, 0, 0, 0,
          "K[h] = X * Wk[h]^T\nQ[h] = X * Wq[h]^T\nV[h] = X * Wv[h]^T\nS[h] = Q[h] * K[h]^T\nA[h] = softmax_rows(S[h])\nO[h] = A[h] * V[h]\n" },
        { 4, 2, 3, 1, 1, 0, 1,
          "K[h] = X * Wk[h]^T\nQ[h] = X * Wq[h]^T\nV[h] = X * Wv[h]^T\nS[h] = Q[h] * K[h]^T / sqrt(2)\nA[h] = masked_softmax_rows(S[h])\nO[h] = A[h] * V[h]\n" },
        { 12, 5, 1, 0, 1, 0, 0, "K = X * Wk^T\nQ = X * Wq^T\nV = X * Wv^T\nS = Q * K^T\nA = masked_softmax_rows(S)\nO = A * V\n" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        unsigned flags = (cases[i].symbolic ? TEST_GEN_SYMBOLIC : 0) | (cases[i].scale ? TEST_GEN_SCALE : 0) |
                         (cases[i].causal ? TEST_GEN_CAUSAL : 0) | (cases[i].compact ? TEST_GEN_COMPACT : 0);
        char *text = test_gen_attention(cases[i].n, cases[i].d, cases[i].heads, flags, 1);
        loaded L;
        load(&L, text);
        char *ops = op_lines(&L);
        cr_assert_str_eq(ops, cases[i].ops, "case %zu:\n%s", i, ops);
        cr_assert_eq(L.p.n_scalar, 0, "case %zu", i);
        cr_assert_eq(L.p.n_covered + L.p.n_literal, L.t.sc.n_rels);
        free(ops);
        unload(&L);
        free(text);
    }
}

Test(matrix, scale_is_one_over_sqrt_d_exactly)
{
    char *text = test_gen_attention(3, 2, 1, TEST_GEN_SYMBOLIC | TEST_GEN_SCALE, 1);
    loaded L;
    load(&L, text);
    const mat_op *s = NULL;
    for (size_t k = 0; k < L.p.n_ops; k++)
        if (strcmp(L.p.mats[L.p.ops[k].out].name, "S") == 0) s = &L.p.ops[k];
    cr_assert(s && s->code == MAT_OP_MATMUL);
    term_id want = term_pow(&L.t.s, term_num_si(&L.t.s, 2, 1), term_num_si(&L.t.s, -1, 2));
    cr_assert_eq(s->scalar, want);
    cr_assert_eq(s->scale_each, 0);
    unload(&L);
    free(text);
}

/* ---- other shapes of operations ---- */

static const char bias_text[] =
    "q1_1 = Wq11*x1_1 + Wq12*x1_2 + b1\n"
    "q1_2 = Wq21*x1_1 + Wq22*x1_2 + b2\n"
    "q2_1 = Wq11*x2_1 + Wq12*x2_2 + b1\n"
    "q2_2 = Wq21*x2_1 + Wq22*x2_2 + b2\n"
    "q3_1 = Wq11*x3_1 + Wq12*x3_2 + b1\n"
    "q3_2 = Wq21*x3_1 + Wq22*x3_2 + b2\n"
    "c1_1 = x1_1 + d1\nc1_2 = x1_2 + d1\nc2_1 = x2_1 + d2\nc2_2 = x2_2 + d2\nc3_1 = x3_1 + d3\nc3_2 = x3_2 + d3\n";

Test(matrix, bias_rows_and_columns)
{
    loaded L;
    load(&L, bias_text);
    char *ops = op_lines(&L);
    cr_assert_str_eq(ops, "C = X + col(D)\nT1 = X * Wq^T\nQ = T1 + row(B)\n");
    cr_assert_eq(L.p.n_scalar, 0);
    free(ops);
    unload(&L);
}

Test(matrix, elementwise_operations_transpose_and_maps)
{
    const char *text =
        "a1_1 = x1_1 - y1_1\na1_2 = x1_2 - y1_2\na2_1 = x2_1 - y2_1\na2_2 = x2_2 - y2_2\n"
        "b1_1 = x1_1*y1_1\nb1_2 = x1_2*y2_1\nb2_1 = x2_1*y1_2\nb2_2 = x2_2*y2_2\n"
        "c1_1 = -3*x1_1\nc1_2 = -3*x1_2\nc2_1 = -3*x2_1\nc2_2 = -3*x2_2\n"
        "d1_1 = x1_1\nd1_2 = x2_1\nd2_1 = x1_2\nd2_2 = x2_2\n"
        "e1_1 = tanh(x1_1)\ne1_2 = tanh(x1_2)\ne2_1 = tanh(x2_1)\ne2_2 = tanh(x2_2)\n"
        "f1_1 = x1_1^2\nf1_2 = x1_2^2\nf2_1 = x2_1^2\nf2_2 = x2_2^2\n"
        "g1_1 = x1_1 + 1/2\ng1_2 = x1_2 + 1/2\ng2_1 = x2_1 + 1/2\ng2_2 = x2_2 + 1/2\n";
    loaded L;
    load(&L, text);
    char *ops = op_lines(&L);
    cr_assert_str_eq(ops, "A = X - Y\nB = X .* Y^T\nC = (-3) * X\nD = X^T\nE = tanh(X)\nF = X .^ 2\nG = X + 1/2\n",
                     "%s", ops);
    cr_assert_eq(L.p.n_scalar, 0);
    free(ops);
    unload(&L);
}

Test(matrix, softmax_in_three_forms_and_chained)
{
    const char *text =
        "a11 = exp(s11 - lse(s11, s12))\na12 = exp(s12 - lse(s11, s12))\n"
        "a21 = exp(s21 - lse(s21, s22))\na22 = exp(s22 - lse(s21, s22))\n"
        "b11 = exp(s11) / (exp(s11) + exp(s12))\nb12 = exp(s12) / (exp(s11) + exp(s12))\n"
        "b21 = exp(s21) / (exp(s21) + exp(s22))\nb22 = exp(s22) / (exp(s21) + exp(s22))\n"
        "c11 = exp(2*s11) / (exp(2*s11) + exp(2*s12))\nc12 = exp(2*s12) / (exp(2*s11) + exp(2*s12))\n"
        "c21 = exp(2*s21) / (exp(2*s21) + exp(2*s22))\nc22 = exp(2*s22) / (exp(2*s21) + exp(2*s22))\n"
        "m11 = 1\nm21 = exp(s21 - lse(s21, s22))\nm22 = exp(s22 - lse(s21, s22))\n"
        "n11 = exp(s11 - max(s11, s12)) / (exp(s11 - max(s11, s12)) + exp(s12 - max(s11, s12)))\n"
        "n12 = exp(s12 - max(s11, s12)) / (exp(s11 - max(s11, s12)) + exp(s12 - max(s11, s12)))\n"
        "n21 = exp(s21 - max(s21, s22)) / (exp(s21 - max(s21, s22)) + exp(s22 - max(s21, s22)))\n"
        "n22 = exp(s22 - max(s21, s22)) / (exp(s21 - max(s21, s22)) + exp(s22 - max(s21, s22)))\n";
    loaded L;
    load(&L, text);
    char *ops = op_lines(&L);
    cr_assert_str_eq(ops, "A = softmax_rows(S)\nB = softmax_rows(S)\nT1 = 2 * S\nC = softmax_rows(T1)\nM = masked_softmax_rows(S)\n"
                          "N = softmax_rows(S)\n",
                     "%s", ops);
    for (size_t k = 0; k < L.p.n_ops; k++) {
        const char *out = L.p.mats[L.p.ops[k].out].name;
        if (!strcmp(out, "A") || !strcmp(out, "M")) cr_assert_eq(L.p.ops[k].lse, 1);
        if (!strcmp(out, "B")) cr_assert(L.p.ops[k].lse == 0 && L.p.ops[k].stable == 0);
        if (!strcmp(out, "N")) cr_assert(L.p.ops[k].lse == 0 && L.p.ops[k].stable == 1);
    }
    cr_assert_eq(L.p.n_scalar, 0);
    free(ops);
    unload(&L);
}

Test(matrix, neginf_mask_and_folded_neginf)
{
    const char *text =
        "s_1_1 = q_1_1*k_1_1 + q_1_2*k_1_2\ns_1_2 = -inf\n"
        "s_2_1 = q_2_1*k_1_1 + q_2_2*k_1_2\ns_2_2 = q_2_1*k_2_1 + q_2_2*k_2_2\n"
        "a_1_1 = exp(s_1_1) / (exp(s_1_1) + exp(s_1_2))\na_1_2 = exp(s_1_2) / (exp(s_1_1) + exp(s_1_2))\n"
        "a_2_1 = exp(s_2_1) / (exp(s_2_1) + exp(s_2_2))\na_2_2 = exp(s_2_2) / (exp(s_2_1) + exp(s_2_2))\n"
        "b_1_1 = exp(s_1_1) / (exp(s_1_1) + exp(-inf))\n"
        "b_2_1 = exp(s_2_1) / (exp(s_2_1) + exp(s_2_2))\nb_2_2 = exp(s_2_2) / (exp(s_2_1) + exp(s_2_2))\n";
    loaded L;
    load(&L, text);
    char *ops = op_lines(&L);
    cr_assert_str_eq(ops, "S = Q * K^T   # -inf above the diagonal\nA = softmax_rows(S)\nB = masked_softmax_rows(S)\n", "%s", ops);
    cr_assert_eq(L.p.n_scalar, 0);
    free(ops);
    unload(&L);
}

Test(matrix, heads_concatenated)
{
    char *text = test_gen_attention(2, 2, 2, TEST_GEN_SYMBOLIC, 1);
    strbuf b;
    strbuf_init(&b);
    strbuf_puts(&b, text);
    for (int i = 1; i <= 2; i++)
        for (int j = 1; j <= 4; j++) strbuf_printf(&b, "c_%d_%d = o_%d_%d_%d\n", i, j, (j - 1) / 2 + 1, i, (j - 1) % 2 + 1);
    loaded L;
    load(&L, b.data);
    char *ops = op_lines(&L);
    cr_assert(strstr(ops, "C = concat_heads(O[h])\n"), "%s", ops);
    cr_assert_eq(L.p.n_ops, 7);
    cr_assert_eq(L.p.n_scalar, 0);
    free(ops);
    unload(&L);
    strbuf_clear(&b);
    free(text);
}

Test(matrix, matrix_vector_products)
{
    const char *text = "y_0 = A_0_0*x_0 + A_0_1*x_1 + A_0_2*x_2\ny_1 = A_1_0*x_0 + A_1_1*x_1 + A_1_2*x_2\n"
                       "z_0 = A_0_0*x_0 + A_1_0*x_1\nz_1 = A_0_1*x_0 + A_1_1*x_1\nz_2 = A_0_2*x_0 + A_1_2*x_1\n";
    loaded L;
    load(&L, text);
    char *ops = op_lines(&L);
    /* z reads x as a vector of length 2 (x_0, x_1) and y as one of length 3:
     * the same family cannot be both; y's reading wins, z stays scalar */
    cr_assert(strstr(ops, "Y = A * X\n"), "%s", ops);
    free(ops);
    unload(&L);
}

/* ---- partial systems and near misses ---- */

static char *replace_line(const char *text, const char *prefix, const char *line)
{
    strbuf b;
    strbuf_init(&b);
    int done = 0;
    for (const char *t = text; *t;) {
        const char *e = strchr(t, '\n');
        size_t n = e ? (size_t)(e - t) + 1 : strlen(t);
        if (!done && strncmp(t, prefix, strlen(prefix)) == 0) {
            strbuf_printf(&b, "%s\n", line);
            done = 1;
        } else {
            strbuf_putn(&b, t, n);
        }
        t += n;
    }
    cr_assert(done, "no line starts with %s", prefix);
    char *r = strdup(strbuf_str(&b));
    strbuf_clear(&b);
    return r;
}

/* The relation names left scalar, comma separated. */
static char *scalar_names(loaded *L)
{
    strbuf b;
    strbuf_init(&b);
    for (size_t i = 0; i < L->p.n_scalar; i++)
        strbuf_printf(&b, "%s%s", i ? "," : "", term_sym_name(&L->t.s, L->t.sc.rels[L->p.scalar[i].rel].name));
    char *r = strdup(strbuf_str(&b));
    strbuf_clear(&b);
    return r;
}

Test(matrix, hand_edited_relation_stays_scalar_and_is_reported)
{
    char *seed = read_seed();
    struct {
        const char *prefix, *line;
        mat_reason reason;
    } edits[] = {
        { "o2_1 =", "o2_1 = a21*v1_1 + a22*v2_1 + a23*v3_2", MAT_REASON_MISMATCH },     /* wrong index */
        { "s12 =", "s12 = q1_1*k2_1 + q1_2*k2_2 + 1", MAT_REASON_MISMATCH },             /* extra term */
        { "q3_2 =", "q3_2 = Wq21*x3_1", MAT_REASON_MISMATCH },                           /* missing term */
        { "a22 =", "a22 = exp(s22) / (exp(s21) + exp(s22))", MAT_REASON_MISMATCH },      /* short row */
        { "k1_1 =", "k1_1 = 2*(Wk11*x1_1 + Wk12*x1_2)", MAT_REASON_MISMATCH },           /* scaled */
        { "v3_1 =", "v3_1 = 7", MAT_REASON_MISMATCH },                                   /* a number */
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char *text = replace_line(seed, edits[i].prefix, edits[i].line);
        loaded L;
        load(&L, text);
        char *names = scalar_names(&L);
        char want[16];
        snprintf(want, sizeof want, "%.*s", (int)(strchr(edits[i].prefix, ' ') - edits[i].prefix), edits[i].prefix);
        cr_assert_str_eq(names, want, "edit %zu: scalar %s", i, names);
        cr_assert_eq(L.p.scalar[0].reason, edits[i].reason);
        cr_assert_eq(L.p.n_ops, 6, "edit %zu", i);
        /* the operation lists its exception */
        const mat_family *f = &L.p.mats[L.p.scalar[0].mat];
        cr_assert_eq(f->n_except, 1);
        cr_assert_str_eq(mat_entry_name(&L.p, (uint32_t)L.p.scalar[0].mat, f->except[0]), want);
        free(names);
        unload(&L);
        free(text);
    }
    free(seed);
}

Test(matrix, near_misses_are_rejected)
{
    /* S = Q * K^T in two entries, something else in the other two: no proposal */
    const char *text = "s11 = q1_1*k1_1 + q1_2*k1_2\ns12 = q1_1*k2_1 + q1_2*k2_2\n"
                       "s21 = q2_1*k1_1 + q2_2*k2_1\ns22 = q2_1*k2_2 + q2_2*k1_2\n";
    loaded L;
    load(&L, text);
    cr_assert_eq(L.p.n_ops, 0);
    cr_assert_eq(L.p.n_scalar, 4);
    for (size_t i = 0; i < 4; i++) cr_assert_eq(L.p.scalar[i].reason, MAT_REASON_NO_OP);
    unload(&L);
    /* a softmax whose denominators leave out a different term in each row */
    const char *t2 = "a11 = exp(s11) / (exp(s11) + exp(s12))\na12 = exp(s12) / (exp(s11) + exp(s13))\n"
                     "a21 = exp(s21) / (exp(s22) + exp(s23))\na22 = exp(s22) / (exp(s21) + exp(s23))\n";
    load(&L, t2);
    cr_assert_eq(L.p.n_ops, 0);
    unload(&L);
    /* a matrix product summing one index short in every entry */
    const char *t3 = "c1_1 = a1_1*b1_1 + a1_2*b2_1\nc1_2 = a1_1*b1_2 + a1_2*b2_2\n"
                     "c2_1 = a2_1*b1_1 + a2_2*b2_1\nc2_2 = a2_1*b1_2 + a2_2*b2_2\n"
                     "a1_3 = 1\na2_3 = 1\nb3_1 = 1\nb3_2 = 1\n";
    load(&L, t3);
    cr_assert_eq(L.p.n_ops, 0, "a product over 2 of 3 columns was accepted");
    unload(&L);
}

Test(matrix, literal_with_one_entry_not_constant)
{
    loaded L;
    load(&L, "x1_1 = 1\nx1_2 = 2\nx2_1 = 3\nx2_2 = x1_1 + 1\nx3_1 = 5\nx3_2 = 6\n"
             "y1_1 = 2*x1_1\ny1_2 = 2*x1_2\ny2_1 = 2*x2_1\ny2_2 = 2*x2_2\ny3_1 = 2*x3_1\ny3_2 = 2*x3_2\n");
    char *ops = op_lines(&L);
    cr_assert_str_eq(ops, "Y = 2 * X\n");
    cr_assert_eq(L.p.n_literal, 5);
    cr_assert_eq(L.p.n_covered, 6);
    cr_assert_eq(L.p.n_scalar, 1);
    cr_assert_eq(L.p.scalar[0].reason, MAT_REASON_NOT_CONSTANT);
    cr_assert_str_eq(term_sym_name(&L.t.s, L.t.sc.rels[L.p.scalar[0].rel].name), "x2_2");
    strbuf b;
    strbuf_init(&b);
    mat_print_json(&b, &L.p);
    cr_assert(strstr(b.data, "\"kind\": \"literal\", \"entries\": 6, \"defined\": 6, \"gaps\": 0, \"pattern\": \"full\", "
                             "\"except\": [\"x2_2\"]"), "%s", b.data);
    strbuf_clear(&b);
    free(ops);
    unload(&L);
}

Test(matrix, json_fields_of_operations)
{
    char *seed = read_seed();
    char *text = replace_line(seed, "s12 =", "s12 = q1_1*k2_1 + q1_2*k2_2 + 1");
    strbuf b;
    strbuf_init(&b);
    strbuf_puts(&b, text);
    strbuf_puts(&b, "t1_1 = s11/sqrt(5)\nt1_2 = s12/sqrt(5)\nt2_1 = s21/sqrt(5)\nt2_2 = s22/sqrt(5)\n");
    loaded L;
    load(&L, b.data);
    strbuf j;
    strbuf_init(&j);
    mat_print_json(&j, &L.p);
    cr_assert(strstr(j.data, "{\"out\": \"S\", \"op\": \"matmul\", \"args\": [\"Q\", \"K\"], \"transpose\": [false, true], "
                             "\"shape\": [3, 3], \"inner\": 2, \"except\": [\"s12\"]}"), "%s", j.data);
    cr_assert(strstr(j.data, "{\"out\": \"A\", \"op\": \"softmax_rows\", \"args\": [\"S\"], \"transpose\": [false], "
                             "\"shape\": [3, 3], \"form\": \"plain\"}"), "%s", j.data);
    cr_assert(strstr(j.data, "\"scalar_left\": 5,"), "%s", j.data);
    cr_assert(strstr(j.data, "{\"name\": \"s12\", \"line\": 73, \"family\": \"S\", \"reason\": \"differs from the operation of its family\"}"),
              "%s", j.data);
    /* T is a 2 x 2 block of S: no operation reads it (shapes differ) */
    cr_assert(strstr(j.data, "\"T\": {\"base\": \"t\", \"form\": \"t{i}_{j}\", \"rank\": 2, \"shape\": [2, 2], "
                             "\"index_base\": 1, \"kind\": \"scalar\""), "%s", j.data);
    strbuf_clear(&j);
    strbuf_clear(&b);
    unload(&L);
    free(text);
    free(seed);
}

Test(matrix, no_families_gives_an_empty_program)
{
    loaded L;
    load(&L, "a = 1\nb = a + x\nc = b * b\n");
    cr_assert_eq(L.p.n_ops, 0);
    cr_assert_eq(L.p.n_scalar, 3);
    for (size_t i = 0; i < 3; i++) cr_assert_eq(L.p.scalar[i].reason, MAT_REASON_NO_INDEX);
    strbuf b;
    strbuf_init(&b);
    mat_print_json(&b, &L.p);
    cr_assert(strstr(b.data, "\"ops\": []"));
    cr_assert(strstr(b.data, "\"scalar_left\": 3"));
    strbuf_clear(&b);
    unload(&L);
}

/* ---- compact names ---- */

Test(matrix, compact_names_with_several_digits)
{
    /* W is 11 x 2: W111 can only be (11, 1), W112 (11, 2), W101 (10, 1) */
    strbuf b;
    strbuf_init(&b);
    for (int i = 1; i <= 11; i++)
        for (int j = 1; j <= 2; j++) strbuf_printf(&b, "W%d%d = %d\n", i, j, i * 10 + j);
    for (int i = 1; i <= 11; i++) strbuf_printf(&b, "y%d = W%d1*x1 + W%d2*x2\n", i, i, i);
    loaded L;
    load(&L, b.data);
    char *ops = op_lines(&L);
    cr_assert_str_eq(ops, "Y = W * X\n");
    for (size_t i = 0; i < L.p.n_mats; i++)
        if (!strcmp(L.p.mats[i].name, "W")) {
            cr_assert_eq(L.p.mats[i].rows, 11);
            cr_assert_eq(L.p.mats[i].cols, 2);
        }
    cr_assert_eq(L.p.n_ambiguous, 0);
    free(ops);
    unload(&L);
    strbuf_clear(&b);
    /* a lower triangle of 11 rows: a111 is (11, 1), never (1, 11) */
    strbuf_init(&b);
    for (int i = 1; i <= 11; i++)
        for (int j = 1; j <= i; j++) strbuf_printf(&b, "a%d%d = %d\n", i, j, j);
    load(&L, b.data);
    cr_assert_eq(L.p.n_ambiguous, 0);
    cr_assert_eq(L.p.mats[0].pattern, MAT_PATTERN_LOWER);
    unload(&L);
    strbuf_clear(&b);
    /* an 11 x 11 grid: w111 is (1, 11) or (11, 1), both free: reported */
    strbuf_init(&b);
    for (int i = 1; i <= 11; i++)
        for (int j = 1; j <= 11; j++)
            if (!(i == 11 && j == 1)) strbuf_printf(&b, "w%d%d = %d\n", i, j, i + j);
    load(&L, b.data);
    cr_assert_eq(L.p.n_ambiguous, 1);
    cr_assert_str_eq(L.p.ambiguous[0], "w111");
    cr_assert_eq(L.p.n_scalar, 1);
    cr_assert_eq(L.p.scalar[0].reason, MAT_REASON_AMBIGUOUS);
    cr_assert_eq(L.p.n_literal, 119);
    unload(&L);
    strbuf_clear(&b);
}

Test(matrix, printing_is_deterministic)
{
    char *text = test_gen_attention(3, 2, 1, TEST_GEN_SCALE | TEST_GEN_CAUSAL, 1);
    strbuf a[2], j[2];
    for (int r = 0; r < 2; r++) {
        loaded L;
        load(&L, text);
        strbuf_init(&a[r]);
        strbuf_init(&j[r]);
        mat_print(&a[r], &L.p);
        mat_print_json(&j[r], &L.p);
        unload(&L);
    }
    cr_assert_str_eq(a[0].data, a[1].data);
    cr_assert_str_eq(j[0].data, j[1].data);
    cr_assert(strstr(j[0].data, "{\"out\": \"Q\", \"op\": \"matmul\", \"args\": [\"X\", \"Wq\"], \"transpose\": [false, true]"),
              "%s", j[0].data);
    for (int r = 0; r < 2; r++) {
        strbuf_clear(&a[r]);
        strbuf_clear(&j[r]);
    }
    free(text);
}

/* ---- round trip: random programs ---- */

typedef struct rprog {
    term_store s;
    mat_program p;
} rprog;

/* A random program over free inputs in every form (program/mat_randtest). */
static void random_program(rprog *R, flint_rand_t state)
{
    term_store_init(&R->s);
    mat_program_init(&R->p, &R->s);
    mat_randtest_options opt;
    mat_randtest_options_init(&opt);
    mat_randtest(&R->p, state, &opt);
}

static const mat_family *by_base(const mat_program *p, const char *base)
{
    for (size_t i = 0; i < p->n_mats; i++)
        if (p->mats[i].base && !strcmp(p->mats[i].base, base)) return &p->mats[i];
    return NULL;
}

static void infix(char *out, size_t n, const term_store *s, term_id t)
{
    strbuf b;
    strbuf_init(&b);
    if (t != TERM_NONE) print_infix(&b, s, t);
    snprintf(out, n, "%s", strbuf_str(&b));
    strbuf_clear(&b);
}

/* op (of p) and op2 (of q) compute the same: same code, arguments (in any
 * order for + and .*), views, factor and form. */
static int same_op(const mat_program *p, const mat_op *a, const mat_program *q, const mat_op *b)
{
    if (a->code != b->code || a->n_args != b->n_args || a->lse != b->lse || a->stable != b->stable || a->fn != b->fn ||
        a->scale_each != b->scale_each)
        return 0;
    char x[128], y[128];
    infix(x, sizeof x, p->store, a->scalar);
    infix(y, sizeof y, q->store, b->scalar);
    if (strcmp(x, y)) return 0;
    int direct = 1, swapped = a->n_args == 2 && (a->code == MAT_OP_ADD || a->code == MAT_OP_MUL);
    for (uint32_t i = 0; i < a->n_args; i++) {
        direct &= !strcmp(p->mats[a->arg[i]].base, q->mats[b->arg[i]].base) && a->view[i] == b->view[i];
        if (swapped) swapped &= !strcmp(p->mats[a->arg[i]].base, q->mats[b->arg[1 - i]].base) && a->view[i] == b->view[1 - i];
    }
    return direct || swapped;
}

Test(matrix, round_trip_of_random_programs)
{
    flint_rand_t state;
    flint_randinit(state);
    flint_randseed(state, 4242, 1);
    int count = 250 * test_multiplier();
    size_t total_ops = 0;
    for (int it = 0; it < count; it++) {
        rprog R;
        random_program(&R, state);
        strbuf text, shown;
        strbuf_init(&text);
        strbuf_init(&shown);
        recog_regen(&text, &R.p);
        mat_print(&shown, &R.p);
        loaded L;
        load(&L, strbuf_str(&text));
        cr_assert_eq(L.p.n_scalar, 0, "program %d:\n%s\nrelations:\n%s", it, shown.data, text.data);
        cr_assert_eq(L.p.n_ops, R.p.n_ops, "program %d:\n%s\nrelations:\n%s", it, shown.data, text.data);
        for (size_t k = 0; k < R.p.n_ops; k++) {
            const mat_op *a = &R.p.ops[k];
            const mat_family *f = &R.p.mats[a->out];
            const mat_family *g = by_base(&L.p, f->base);
            cr_assert(g, "program %d: no family %s", it, f->base);
            cr_assert_eq(g->kind, MAT_KIND_OP, "program %d: %s not computed", it, f->base);
            cr_assert(g->rank == f->rank && g->rows == f->rows && g->cols == f->cols && g->batch == f->batch &&
                      g->index_base == f->index_base && g->form == f->form);
            strbuf got;
            strbuf_init(&got);
            mat_print(&got, &L.p);
            cr_assert(same_op(&R.p, a, &L.p, &L.p.ops[g->op]), "program %d: %s differs\n%s\nrecognised:\n%s\nrelations:\n%s",
                      it, f->base, shown.data, got.data, text.data);
            strbuf_clear(&got);
        }
        total_ops += R.p.n_ops;
        unload(&L);
        strbuf_clear(&text);
        strbuf_clear(&shown);
        mat_program_clear(&R.p);
        term_store_clear(&R.s);
    }
    flint_randclear(state);
    cr_assert(total_ops >= (size_t)count, "the programs are too small: %zu operations", total_ops);
}

Test(matrix, predicted_entries_are_the_constructed_terms)
{
    term_store s;
    term_store_init(&s);
    mat_program p;
    mat_program_init(&p, &s);
    uint32_t d23[2] = { 2, 3 }, d32[2] = { 3, 2 }, d22[2] = { 2, 2 };
    uint32_t a = mat_add_family(&p, "a", MAT_FORM_UNDERSCORE, 2, d23, 1, MAT_PATTERN_FULL);
    uint32_t b = mat_add_family(&p, "b", MAT_FORM_BRACKET, 2, d32, 0, MAT_PATTERN_FULL);
    uint32_t c = mat_add_family(&p, "c", MAT_FORM_COMPACT, 2, d22, 1, MAT_PATTERN_FULL);
    mat_op op;
    mat_op_init(&op, MAT_OP_MATMUL, c);
    op.n_args = 2;
    op.arg[0] = a;
    op.arg[1] = b;
    cr_assert_eq(mat_add_op(&p, &op), 0);
    cr_assert_str_eq(mat_entry_name(&p, a, 5), "a_2_3");
    cr_assert_str_eq(mat_entry_name(&p, b, 5), "b[2,1]");
    cr_assert_str_eq(mat_entry_name(&p, c, 1), "c12");
    /* c12 = a_1_1*b[0,1] + a_1_2*b[1,1] + a_1_3*b[2,1] */
    term_id t[3];
    for (int k = 0; k < 3; k++) {
        char x[32], y[32];
        snprintf(x, sizeof x, "a_1_%d", k + 1);
        snprintf(y, sizeof y, "b[%d,1]", k);
        t[k] = term_mul2(&s, term_sym_cstr(&s, x), term_sym_cstr(&s, y));
    }
    cr_assert_eq(recog_predict(&p, c, 1), term_add(&s, t, 3));
    /* shapes that do not fit are refused */
    mat_op_init(&op, MAT_OP_MATMUL, c);
    op.n_args = 2;
    op.arg[0] = a;
    op.arg[1] = a;
    cr_assert_eq(mat_add_op(&p, &op), -1);
    mat_program_clear(&p);
    term_store_clear(&s);
}

/* check: the attention of a script (O = A * V, A = softmax_rows(S),
 * S = c * Q * K^T, per head) run through a reference kernel on its inputs
 * rounded to a storage format, and the output certified by attention/verify. */
#include "attention/check.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/ball.h"
#include "eval/mateval.h"
#include "core/mem.h"
#include "core/print.h"
#include "attention/summary.h"

void check_options_init(check_options *o)
{
    memset(o, 0, sizeof *o);
    o->kind = ATTN_NAIVE;
    o->tile = 64;
    o->compute = FP_F64;
    o->storage = FP_F64;
}

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* ---- finding the attention ---- */

/* What computes family f, in words, for messages. */
static const char *op_name_of(const mat_program *p, uint32_t f)
{
    const mat_family *g = &p->mats[f];
    if (g->kind == MAT_KIND_LITERAL) return "a literal";
    if (g->kind == MAT_KIND_INPUT) return "an input";
    if ((g->kind != MAT_KIND_OP && g->kind != MAT_KIND_TEMP) || g->op < 0) return "no operation";
    return mat_opcode_name(p->ops[g->op].code);
}

/* The operation computing family f, or NULL. */
static const mat_op *op_of(const mat_program *p, uint32_t f)
{
    const mat_family *g = &p->mats[f];
    if ((g->kind != MAT_KIND_OP && g->kind != MAT_KIND_TEMP) || g->op < 0) return NULL;
    return &p->ops[g->op];
}

/* The exact inputs of family f read through view as heads matrices of
 * rows x cols (transposed when transpose) into out. */
static int read_exact(fmpq *out, check_problem *cp, uint32_t f, mat_view view, size_t rows, size_t cols,
                      int transpose, const char *role, char *err, size_t errlen)
{
    const mat_family *g = &cp->prog.mats[f];
    fmpq_t x;
    fmpq_init(x);
    int status = 0;
    for (size_t b = 0; b < cp->heads && !status; b++)
        for (size_t r = 0; r < rows && !status; r++)
            for (size_t c = 0; c < cols && !status; c++) {
                size_t cell = transpose ? mat_view_cell(g, view, (uint32_t)b, (uint32_t)c, (uint32_t)r)
                                         : mat_view_cell(g, view, (uint32_t)b, (uint32_t)r, (uint32_t)c);
                const char *name = mat_entry_name(&cp->prog, f, cell);
                if (!mateval_entry_present(&cp->ev, f, cell))
                    status = fail(err, errlen, "%s (family %s) has no entry %s", role, g->name, name ? name : "at a gap");
                else if (!mateval_entry_rational(x, &cp->ev, f, cell))
                    status = fail(err, errlen, "%s (family %s) is not rational: %s is not a number", role, g->name,
                                  name ? name : "an entry");
                else fmpq_set(out + (b * rows + r) * cols + c, x);
            }
    fmpq_clear(x);
    return status;
}

/* The double nearest the product of the constant terms t[0..n-1] of
 * m->shadow (TERM_NONE is 1), ties to even. */
static int scale_double(double *out, mateval *m, const term_id *t, size_t n)
{
    const term_store *s = &m->shadow;
    int all_rational = 1;
    for (size_t i = 0; i < n; i++) if (t[i] != TERM_NONE && term_op_of(s, t[i]) != OP_NUM) all_rational = 0;
    if (all_rational) {
        fmpq_t q;
        fmpq_init(q);
        fmpq_one(q);
        for (size_t i = 0; i < n; i++) if (t[i] != TERM_NONE) fmpq_mul(q, q, term_value(s, t[i]));
        *out = fp_bits_to_double(fp_round_fmpq(q, FP_F64), FP_F64);
        fmpq_clear(q);
        return 0;
    }
    arb_t x;
    arb_init(x);
    int status = -1;
    for (slong prec = 64; prec <= 16384 && status < 0; prec *= 2) {
        arb_one(x);
        int ok = 1;
        for (size_t i = 0; i < n && ok; i++) {
            if (t[i] == TERM_NONE) continue;
            const arb_struct *v;
            term_id where;
            if (ball_eval(&v, &where, &m->bc, t[i], prec) != BALL_OK) ok = 0;
            else arb_mul(x, x, v, prec);
        }
        if (!ok) break;
        uint64_t bits;
        if (fp_round_ball(&bits, x, FP_F64)) {
            *out = fp_bits_to_double(bits, FP_F64);
            status = isfinite(*out) ? 0 : -1;
            break;
        }
    }
    arb_clear(x);
    return status;
}

/* The relations left scalar and the free symbols, in words. */
static int uncovered(check_problem *cp, const sys *y, char *err, size_t errlen)
{
    const term_store *s = y->store;
    if (y->n_free > 0)
        return fail(err, errlen, "the script has %zu free symbol%s (%s%s): check needs numbers", y->n_free,
                    y->n_free == 1 ? "" : "s", term_sym_name(s, y->free_syms[0]), y->n_free > 1 ? ", ..." : "");
    if (cp->prog.n_scalar > 0) {
        const mat_scalar *x = &cp->prog.scalar[0];
        return fail(err, errlen, "%zu relation%s left scalar by matrix recognition (first: %s, %s)", cp->prog.n_scalar,
                    cp->prog.n_scalar == 1 ? "" : "s", term_sym_name(s, y->scr->rels[x->rel].name),
                    mat_reason_text(x->reason));
    }
    return 0;
}

/* The structure O = A * V, A = softmax_rows(S), S = c * Q * K^T from the
 * family of the outputs; op_scale[] receives the operations whose factors
 * make c. */
static int find_attention(check_problem *cp, const mat_op **op_s, const mat_op **op_mm, char *err, size_t errlen)
{
    const mat_program *p = &cp->prog;
    const mateval *m = &cp->ev;
    uint32_t o = m->out_fam[0];
    for (size_t i = 1; i < m->n_out; i++)
        if (m->out_fam[i] != o)
            return fail(err, errlen, "the outputs are entries of more than one family (%s and %s); check needs the "
                        "outputs to be one attention output", p->mats[o].name, p->mats[m->out_fam[i]].name);
    const mat_op *mo = op_of(p, o);
    if (!mo || mo->code != MAT_OP_MATMUL)
        return fail(err, errlen, "the outputs are family %s, computed by %s, not a product O = A * V with "
                    "A = softmax_rows(S)", p->mats[o].name, op_name_of(p, o));
    uint32_t a = mo->arg[0], v = mo->arg[1];
    const mat_op *ma = op_of(p, a);
    if (!ma || (ma->code != MAT_OP_SOFTMAX_ROWS && ma->code != MAT_OP_MASKED_SOFTMAX_ROWS) ||
        mo->view[0] != MAT_VIEW_PLAIN)
        return fail(err, errlen, "the outputs are %s = %s * %s with %s computed by %s, not A = softmax_rows(S)",
                    p->mats[o].name, p->mats[a].name, p->mats[v].name, p->mats[a].name, op_name_of(p, a));
    if (mo->scalar != TERM_NONE)
        return fail(err, errlen, "the outputs are %s = c * %s * %s with a factor c: not an attention output",
                    p->mats[o].name, p->mats[a].name, p->mats[v].name);
    if (mo->view[1] != MAT_VIEW_PLAIN && mo->view[1] != MAT_VIEW_T)
        return fail(err, errlen, "the values %s are read as a broadcast vector", p->mats[v].name);
    uint32_t sf = ma->arg[0];
    if (ma->view[0] != MAT_VIEW_PLAIN)
        return fail(err, errlen, "%s is the softmax of a view of %s, not of the scores themselves", p->mats[a].name,
                    p->mats[sf].name);
    const mat_op *ms = op_of(p, sf), *mm = ms;
    if (ms && ms->code == MAT_OP_SCALE) mm = ms->view[0] == MAT_VIEW_PLAIN ? op_of(p, ms->arg[0]) : NULL;
    if (!mm || mm->code != MAT_OP_MATMUL || mm->view[0] == MAT_VIEW_ROW || mm->view[0] == MAT_VIEW_COL ||
        mm->view[1] == MAT_VIEW_ROW || mm->view[1] == MAT_VIEW_COL)
        return fail(err, errlen, "the scores %s of %s = softmax_rows(%s) are computed by %s, not S = c * Q * K^T",
                    p->mats[sf].name, p->mats[a].name, p->mats[sf].name, op_name_of(p, sf));
    *op_s = ms;
    *op_mm = mm;
    cp->fam_o = o;
    cp->fam_a = a;
    cp->fam_v = v;
    cp->fam_s = sf;
    cp->fam_q = mm->arg[0];
    cp->fam_k = mm->arg[1];
    cp->masked = ma->code == MAT_OP_MASKED_SOFTMAX_ROWS;
    const mat_family *fo = &p->mats[o];
    uint32_t rows, cols, inner, nk;
    cp->heads = fo->batch;
    cp->n_q = fo->rows;
    cp->d_v = fo->cols;
    mat_arg_shape(p, mo, 0, &rows, &nk);
    cp->n_k = nk;
    mat_arg_shape(p, mm, 0, &rows, &inner);
    cp->d = inner;
    mat_arg_shape(p, mm, 1, &inner, &cols);
    if (rows != cp->n_q || cols != cp->n_k || inner != cp->d)
        return fail(err, errlen, "the scores %s do not have the shape of %s", p->mats[sf].name, p->mats[a].name);
    return 0;
}

int check_prepare(check_problem *cp, const sys *y, char *err, size_t errlen)
{
    memset(cp, 0, sizeof *cp);
    mat_program_init(&cp->prog, y->store);
    recog_program(&cp->prog, y);
    if (uncovered(cp, y, err, errlen) != 0) return -1;
    if (y->n_outputs == 0) return fail(err, errlen, "the script has no outputs");
    cp->ev_ready = 1;
    if (mateval_init(&cp->ev, &cp->prog, y) != MATEVAL_OK)
        return fail(err, errlen, "the matrix program does not compute the outputs: %s", cp->ev.why);
    const mat_op *op_s = NULL, *op_mm = NULL;
    if (find_attention(cp, &op_s, &op_mm, err, errlen) != 0) return -1;
    if (mateval_exact(&cp->ev) != MATEVAL_OK)
        return fail(err, errlen, "the exact stages of the matrix program failed (hmp eval says why)");
    size_t nq = cp->heads * cp->n_q * cp->d, nk = cp->heads * cp->n_k * cp->d, nv = cp->heads * cp->n_k * cp->d_v;
    cp->q = _fmpq_vec_init((slong)(nq ? nq : 1));
    cp->k = _fmpq_vec_init((slong)(nk ? nk : 1));
    cp->v = _fmpq_vec_init((slong)(nv ? nv : 1));
    /* q (n_q x d) is argument 0 as the product reads it, k (n_k x d) the
     * transpose of argument 1 (d x n_k), v (n_k x d_v) argument 1 of O */
    if (read_exact(cp->q, cp, cp->fam_q, (mat_view)op_mm->view[0], cp->n_q, cp->d, 0, "Q", err, errlen) != 0 ||
        read_exact(cp->k, cp, cp->fam_k, (mat_view)op_mm->view[1], cp->n_k, cp->d, 1, "K", err, errlen) != 0 ||
        read_exact(cp->v, cp, cp->fam_v, (mat_view)cp->prog.ops[cp->prog.mats[cp->fam_o].op].view[1], cp->n_k,
                   cp->d_v, 0, "V", err, errlen) != 0)
        return -1;
    /* the scale: the factor of the product, times that of a scale op on it */
    term_id factors[2] = { cp->ev.scalar[op_mm - cp->prog.ops], TERM_NONE };
    if (op_s != op_mm) factors[1] = cp->ev.scalar[op_s - cp->prog.ops];
    cp->scale_term = factors[1] == TERM_NONE ? factors[0]
                     : factors[0] == TERM_NONE ? factors[1] : term_mul2(&cp->ev.shadow, factors[0], factors[1]);
    if (scale_double(&cp->scale, &cp->ev, factors, 2) != 0)
        return fail(err, errlen, "the scale of the scores %s has no finite double value", cp->prog.mats[cp->fam_s].name);
    if (cp->masked && cp->n_q != cp->n_k)
        return fail(err, errlen, "%s is a masked softmax of %zu x %zu scores: the causal mask needs as many queries as keys",
                    cp->prog.mats[cp->fam_a].name, cp->n_q, cp->n_k);
    return 0;
}

void check_problem_clear(check_problem *cp)
{
    size_t nq = cp->heads * cp->n_q * cp->d, nk = cp->heads * cp->n_k * cp->d, nv = cp->heads * cp->n_k * cp->d_v;
    if (cp->q) _fmpq_vec_clear(cp->q, (slong)(nq ? nq : 1));
    if (cp->k) _fmpq_vec_clear(cp->k, (slong)(nk ? nk : 1));
    if (cp->v) _fmpq_vec_clear(cp->v, (slong)(nv ? nv : 1));
    free(cp->q_st);
    free(cp->k_st);
    free(cp->v_st);
    if (cp->ev_ready) mateval_clear(&cp->ev);
    mat_program_clear(&cp->prog);
    memset(cp, 0, sizeof *cp);
}

/* ---- the kernel ---- */

static int store_one(double *out, const fmpq *x, size_t n, fp_format f, const char *role, char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        out[i] = fp_bits_to_double(fp_round_fmpq(x + i, f), f);
        if (!isfinite(out[i]))
            return fail(err, errlen, "%s entry %zu overflows %s", role, i, fp_info(f)->name);
    }
    return 0;
}

int check_store(check_problem *cp, fp_format f, char *err, size_t errlen)
{
    size_t nq = cp->heads * cp->n_q * cp->d, nk = cp->heads * cp->n_k * cp->d, nv = cp->heads * cp->n_k * cp->d_v;
    cp->q_st = mem_realloc(cp->q_st, (nq ? nq : 1) * sizeof *cp->q_st);
    cp->k_st = mem_realloc(cp->k_st, (nk ? nk : 1) * sizeof *cp->k_st);
    cp->v_st = mem_realloc(cp->v_st, (nv ? nv : 1) * sizeof *cp->v_st);
    cp->stored = 0;
    if (store_one(cp->q_st, cp->q, nq, f, "Q", err, errlen) != 0 || store_one(cp->k_st, cp->k, nk, f, "K", err, errlen) != 0 ||
        store_one(cp->v_st, cp->v, nv, f, "V", err, errlen) != 0)
        return -1;
    cp->stored_format = f;
    cp->stored = 1;
    return 0;
}

static void params_of(attn_params *ap, const check_problem *cp, const check_options *o)
{
    memset(ap, 0, sizeof *ap);
    ap->n_q = cp->n_q;
    ap->n_k = cp->n_k;
    ap->d = cp->d;
    ap->d_v = cp->d_v;
    ap->scale = cp->scale;
    ap->causal = cp->masked;
    ap->kind = o->kind;
    ap->tile = o->tile;
    ap->compute = o->compute;
    ap->storage = o->storage;
}

int check_kernel(double *out, const check_problem *cp, const check_options *o)
{
    if (!cp->stored || cp->stored_format != o->storage) return -1;
    attn_params ap;
    params_of(&ap, cp, o);
    for (size_t b = 0; b < cp->heads; b++)
        if (attn_run(out + b * cp->n_q * cp->d_v, cp->q_st + b * cp->n_q * cp->d, cp->k_st + b * cp->n_k * cp->d,
                     cp->v_st + b * cp->n_k * cp->d_v, &ap) != 0)
            return -1;
    return 0;
}

/* ---- checking ---- */

void check_report_clear(check_report *r)
{
    verify_report_clear(&r->vr);
    free(r->out);
    memset(r, 0, sizeof *r);
}

/* q = x exactly (x finite): x = m * 2^(e - 53) with m an integer. */
static int cmp_double(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

/* |o - x| / ulp(x) in format f, ulp(x) = 2^(e-p+1), e = floor(log2 |x|)
 * clamped at the smallest normal exponent (docs/VERIFY.md), from the ball
 * x; its radius, in ulps, to rad. */
static double ulp_error(double *rad, double o, const arb_t x, fp_format f, slong prec)
{
    const fp_format_info *fi = fp_info(f);
    slong emin = 2 - (WORD(1) << (fi->exp_bits - 1)); /* 1 - bias */
    slong e = emin;
    if (!arf_is_zero(arb_midref(x)) && arf_is_finite(arb_midref(x))) {
        fmpz_t ex;
        fmpz_init(ex);
        fmpz_set(ex, ARF_EXPREF(arb_midref(x)));
        slong top = fmpz_get_si(ex) - 1; /* mid = 0.1b... * 2^exp */
        fmpz_clear(ex);
        if (top > e) e = top;
    }
    arb_t t;
    arb_init(t);
    arb_set_d(t, o);
    arb_sub(t, t, x, prec);
    arb_abs(t, t);
    arb_mul_2exp_si(t, t, -(e - fi->prec + 1));
    double v = arf_get_d(arb_midref(t), ARF_RND_NEAR);
    *rad = mag_get_d(arb_radref(t));
    arb_clear(t);
    return v;
}

/* The informational block: out against the script's outputs. */
static void script_error(check_report *r, check_problem *cp, const double *out, fp_format f)
{
    size_t n = r->entries;
    double *err = mem_calloc(n ? n : 1, sizeof *err);
    arb_t x;
    arb_init(x);
    fmpq_t q;
    fmpq_init(q);
    int all_rational = 1;
    for (size_t cell = 0; cell < n && all_rational; cell++)
        all_rational = mateval_entry_rational(q, &cp->ev, cp->fam_o, cell);
    for (slong prec = 128; prec <= 4096; prec *= 2) {
        if (!all_rational && mateval_balls(&cp->ev, prec) != MATEVAL_OK) break;
        int tight = 1, have = 1;
        for (size_t cell = 0; cell < n && have; cell++) {
            const arb_struct *e;
            if (mateval_entry_rational(q, &cp->ev, cp->fam_o, cell)) arb_set_fmpq(x, q, prec);
            else if ((e = mateval_entry_ball(&cp->ev, cp->fam_o, cell)) != NULL) arb_set(x, e);
            else have = 0;
            if (!have) break;
            double rad;
            err[cell] = ulp_error(&rad, out[cell], x, f, prec);
            if (!(rad <= 0x1p-30)) tight = 0;
        }
        if (!have) break;
        r->have_script = 1;
        if (tight) break;
    }
    if (r->have_script) {
        r->script_max_ulp_err = 0;
        r->script_max_index = 0;
        for (size_t t = 0; t < n; t++) {
            if (isnan(err[t])) err[t] = INFINITY;
            if (err[t] > r->script_max_ulp_err) { r->script_max_ulp_err = err[t]; r->script_max_index = t; }
        }
        qsort(err, n, sizeof *err, cmp_double);
        r->script_median_ulp_err = n == 0 ? 0 : n % 2 ? err[n / 2] : 0.5 * (err[n / 2 - 1] + err[n / 2]);
    }
    fmpq_clear(q);
    arb_clear(x);
    free(err);
}

int check_outputs(check_report *r, check_problem *cp, const double *out, const check_options *o, char *err,
                  size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (!cp->stored || cp->stored_format != o->storage) return fail(err, errlen, "the inputs are not stored in %s", fp_info(o->storage)->name);
    r->entries = cp->heads * cp->n_q * cp->d_v;
    r->out = mem_realloc(NULL, (r->entries ? r->entries : 1) * sizeof *r->out);
    if (r->entries) memcpy(r->out, out, r->entries * sizeof *r->out);
    verify_problem vp;
    verify_problem_init(&vp);
    vp.count = cp->heads;
    vp.n_q = cp->n_q;
    vp.n_k = cp->n_k;
    vp.d = cp->d;
    vp.d_v = cp->d_v;
    vp.q = cp->q_st;
    vp.k = cp->k_st;
    vp.v = cp->v_st;
    vp.o = r->out;
    vp.causal = cp->masked;
    vp.scale_auto = 0;
    fp_double_to_fmpq(vp.scale, cp->scale); /* the kernel's scale, exactly */
    vp.out_format = o->storage;
    vp.compute = o->compute;
    vp.bound_naive = o->kind == ATTN_NAIVE;
    vp.bound_tile = o->kind == ATTN_FLASH ? o->tile : 0;
    vp.tol = o->tol;
    int status = verify_run(&r->vr, &vp, NULL, NULL, err, errlen);
    verify_problem_clear(&vp);
    if (status != 0) return -1;
    script_error(r, cp, r->out, o->storage);
    return 0;
}

int check_run(check_report *r, check_problem *cp, const check_options *o, char *err, size_t errlen)
{
    memset(r, 0, sizeof *r);
    if (check_store(cp, o->storage, err, errlen) != 0) return -1;
    size_t n = cp->heads * cp->n_q * cp->d_v;
    double *out = mem_calloc(n ? n : 1, sizeof *out);
    int status = check_kernel(out, cp, o);
    if (status != 0) fail(err, errlen, "invalid kernel parameters");
    else status = check_outputs(r, cp, out, o, err, errlen);
    free(out);
    return status;
}

/* ---- printing ---- */

static const char *kernel_name(attn_kind k) { return k == ATTN_FLASH ? "flash" : "naive"; }

/* (batch, row, column) of a cell of f, cells row-major. */
static void cell_pos(const mat_family *f, size_t cell, uint32_t *b, uint32_t *r, uint32_t *c)
{
    *c = (uint32_t)(cell % f->cols);
    cell /= f->cols;
    *r = (uint32_t)(cell % f->rows);
    *b = (uint32_t)(cell / f->rows);
}

/* [h,i,c] (rank-3 outputs) or [i,c], and the entry's name. */
static void put_index(strbuf *b, size_t cell, int json, const void *ctx)
{
    const check_problem *cp = ctx;
    const mat_family *g = &cp->prog.mats[cp->fam_o];
    uint32_t h, i, c;
    cell_pos(g, cell, &h, &i, &c);
    if (g->rank == 3) strbuf_printf(b, json ? "[%u, %u, %u]" : "[%u,%u,%u]", h, i, c);
    else strbuf_printf(b, json ? "[%u, %u]" : "[%u,%u]", i, c);
    const char *name = mat_entry_name(&cp->prog, cp->fam_o, cell);
    if (json) strbuf_printf(b, ", \"name\": \"%s\"", name ? name : "");
    else if (name) strbuf_printf(b, " %s", name);
}

static void put_attention(strbuf *b, const check_problem *cp)
{
    const mat_family *m = cp->prog.mats;
    strbuf_printf(b, "%s = %s * %s, %s = %s(%s), %s = c * %s * %s^T", m[cp->fam_o].name, m[cp->fam_a].name,
              m[cp->fam_v].name, m[cp->fam_a].name, cp->masked ? "masked_softmax_rows" : "softmax_rows",
              m[cp->fam_s].name, m[cp->fam_s].name, m[cp->fam_q].name, m[cp->fam_k].name);
}

static void put_scale(strbuf *b, const check_problem *cp)
{
    if (cp->scale_term == TERM_NONE) strbuf_puts(b, "1");
    else print_infix(b, &cp->ev.shadow, cp->scale_term);
}

static const char script_note[] =
    "informational: the kernel's output against the script's exact outputs (exact inputs and scale); "
    "includes rounding the inputs to the storage format; no a-priori bound";

/* Entries named [h,i,c] and by the script, marked when over the bound. */
static summary_style style_of(const check_problem *cp, const check_options *o)
{
    summary_style s = { .put_index = put_index, .ctx = cp, .tol = o->tol > 0, .mark_over = 1 };
    return s;
}

void check_print(strbuf *b, check_problem *cp, const check_report *r, const check_options *o)
{
    const verify_report *v = &r->vr;
    summary_style style = style_of(cp, o);
    const char *st = fp_info(o->storage)->name, *co = fp_info(o->compute)->name;
    strbuf_puts(b, "attention          ");
    put_attention(b, cp);
    strbuf_printf(b, "\n                   %zu head%s, %zu queries, %zu keys, d %zu, d_v %zu%s\n", cp->heads,
              cp->heads == 1 ? "" : "s", cp->n_q, cp->n_k, cp->d, cp->d_v, cp->masked ? ", causal" : "");
    strbuf_puts(b, "scale              c = ");
    put_scale(b, cp);
    strbuf_printf(b, ", as a double %.17g\n", cp->scale);
    if (o->kind == ATTN_FLASH) strbuf_printf(b, "kernel             flash, tile %zu, %s compute, %s storage\n", o->tile, co, st);
    else strbuf_printf(b, "kernel             naive, %s compute, %s storage\n", co, st);
    summary_text(b, v, "against the exact attention of the stored inputs", &style);
    if (r->have_script) {
        strbuf_printf(b, "script outputs     ulp_err max %.4g (at ", r->script_max_ulp_err);
        put_index(b, r->script_max_index, 0, cp);
        strbuf_printf(b, "), median %.4g\n                   (%s)\n", r->script_median_ulp_err,
                  "informational: against the exact outputs of the script; includes\n"
                  "                   rounding the inputs to the storage format; no bound claimed");
    } else {
        strbuf_puts(b, "script outputs     not available (the balls of the outputs failed)\n");
    }
    summary_verdict(b, v);
}

void check_print_json(strbuf *b, check_problem *cp, const check_report *r, const check_options *o)
{
    const verify_report *v = &r->vr;
    summary_style style = style_of(cp, o);
    strbuf_printf(b, "{\n  \"kernel\": \"%s\",\n  \"compute\": \"%s\",\n  \"storage\": \"%s\",\n  \"tile\": ",
              kernel_name(o->kind), fp_info(o->compute)->name, fp_info(o->storage)->name);
    if (o->kind == ATTN_FLASH) strbuf_printf(b, "%zu", o->tile);
    else strbuf_puts(b, "null");
    strbuf_printf(b, ",\n  \"heads\": %zu,\n  \"n_q\": %zu,\n  \"n_k\": %zu,\n  \"d\": %zu,\n  \"d_v\": %zu,\n  \"causal\": %s,\n",
              cp->heads, cp->n_q, cp->n_k, cp->d, cp->d_v, cp->masked ? "true" : "false");
    strbuf_puts(b, "  \"scale\": \"");
    put_scale(b, cp);
    strbuf_puts(b, "\",\n  \"scale_double\": ");
    summary_json_num(b, cp->scale);
    strbuf_printf(b, ",\n  \"entries\": %zu,\n  \"format\": \"%s\",\n", v->entries, fp_info(o->storage)->name);
    summary_json(b, v, &style);
    strbuf_puts(b, ",\n  \"script\": ");
    if (r->have_script) {
        strbuf_puts(b, "{\"max_ulp_err\": "); summary_json_err(b, r->script_max_ulp_err);
        strbuf_puts(b, ", \"median_ulp_err\": "); summary_json_err(b, r->script_median_ulp_err);
        strbuf_puts(b, ", \"max_index\": ");
        put_index(b, r->script_max_index, 1, cp);
        strbuf_printf(b, ", \"note\": \"%s\"}", script_note);
    } else {
        strbuf_puts(b, "null");
    }
    summary_json_end(b, v);
}

/* recognise_lift: readings. One entry of a family (the representative) is
 * read as a matrix expression at its indices: which index of each name is
 * the row, the column, the head or a summed index; where the entry allows
 * several, all are kept as candidates. */
#include "rewrite/recognise_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/vec.h"

#define LIFT_MAX_DEPTH 32       /* nesting of a representative entry read as matrices */
#define LIFT_MAX_NODES 256      /* nodes of one reading */

typedef struct lift_mark {
    size_t node, kid, cand;
} lift_mark;

static lift_mark mark(const recog_lifter *L) { return (lift_mark){ L->n_node, L->n_kid, L->n_cand }; }
static void rollback(recog_lifter *L, lift_mark m)
{
    L->n_node = m.node;
    L->n_kid = m.kid;
    L->n_cand = m.cand;
}

static int64_t new_node(recog_lifter *L, recog_lnode_kind kind)
{
    if (L->n_node >= LIFT_MAX_NODES) return -1;
    VEC_RESERVE(L->node, L->cap_node, L->n_node + 1);
    recog_lnode *x = &L->node[L->n_node];
    memset(x, 0, sizeof *x);
    x->kind = (uint8_t)kind;
    x->cand = (uint32_t)L->n_cand;
    return (int64_t)L->n_node++;
}

static void add_cand(recog_lifter *L, uint32_t nd, const recog_lcand *cd)
{
    VEC_RESERVE(L->cand, L->cap_cand, L->n_cand + 1);
    L->cand[L->n_cand++] = *cd;
    L->node[nd].n_cand++;
}

/* Appends children ks[0..n) to kid[] as one run; sets node nd's span. */
static void set_kids(recog_lifter *L, uint32_t nd, const int64_t *ks, size_t n)
{
    if (L->cap_kid - L->n_kid < n) {
        L->cap_kid = 2 * L->cap_kid + n + 16;
        L->kid = mem_realloc(L->kid, L->cap_kid * sizeof *L->kid);
    }
    L->node[nd].first = (uint32_t)L->n_kid;
    L->node[nd].n = (uint32_t)n;
    for (size_t i = 0; i < n; i++) L->kid[L->n_kid++] = (uint32_t)ks[i];
}

/* ---- references: a name of a family at the representative ---- */

typedef struct ref_at {
    uint32_t fam;
    uint32_t rank;
    uint32_t pos[MAT_MAX_RANK]; /* position along each index, from 0 */
} ref_at;

/* 1 when t is the name of a family entry; sets *ra. */
static int ref_of(recog_lifter *L, term_id t, ref_at *ra)
{
    term_store *s = L->c->s;
    if (term_op_of(s, t) != OP_SYM) return 0;
    uint32_t v = term_sym_of(s, t);
    if (v >= L->c->n_syms || L->c->sym_fam[v] < 0) return 0;
    const mat_family *g = &L->c->p->mats[L->c->sym_fam[v]];
    ra->fam = (uint32_t)L->c->sym_fam[v];
    ra->rank = g->rank;
    size_t cell = L->c->sym_cell[v];
    for (uint32_t k = g->rank; k-- > 0;) {
        ra->pos[k] = (uint32_t)(cell % g->dim[k]);
        cell /= g->dim[k];
    }
    return 1;
}

/* Variables an index at position pos may be: the row, the column, a summed index. */
static size_t axis_options(const recog_lifter *L, uint32_t pos, int sumk, uint8_t *opt)
{
    size_t n = 0;
    if (L->var[V_I] == (int64_t)pos) opt[n++] = V_I;
    if (L->var[V_J] == (int64_t)pos) opt[n++] = V_J;
    if (sumk) opt[n++] = V_K;
    return n;
}

/* Every map of ra's indices to variables: the head index (rank 3) must be
 * the family's head; with sumk exactly one index is the summed one (its
 * position in *kpos per map), otherwise none. Returns how many (<= cap). */
static size_t ref_maps(const recog_lifter *L, const ref_at *ra, int sumk, uint8_t (*maps)[MAT_MAX_RANK], uint32_t *kpos, size_t cap)
{
    uint8_t opt[MAT_MAX_RANK][3];
    size_t nopt[MAT_MAX_RANK];
    uint32_t first = 0;
    if (ra->rank == 3) {
        if (L->rank != 3 || L->var[V_B] != (int64_t)ra->pos[0]) return 0;
        opt[0][0] = V_B;
        nopt[0] = 1;
        first = 1;
    }
    for (uint32_t k = first; k < ra->rank; k++) {
        nopt[k] = axis_options(L, ra->pos[k], sumk, opt[k]);
        if (nopt[k] == 0) return 0;
    }
    size_t n = 0;
    size_t idx[MAT_MAX_RANK] = { 0 };
    for (;;) {
        uint8_t m[MAT_MAX_RANK] = { 0 };
        int nk = 0, ni = 0, nj = 0;
        uint32_t kp = 0;
        for (uint32_t k = 0; k < ra->rank; k++) {
            m[k] = opt[k][idx[k]];
            if (m[k] == V_K) { nk++; kp = ra->pos[k]; }
            ni += m[k] == V_I;
            nj += m[k] == V_J;
        }
        if (ni <= 1 && nj <= 1 && nk == (sumk ? 1 : 0) && n < cap) {
            memcpy(maps[n], m, sizeof m);
            if (kpos) kpos[n] = kp;
            n++;
        }
        /* the last index turns fastest: (I, J) before (J, I) */
        uint32_t k = ra->rank;
        while (k > 0 && ++idx[k - 1] == nopt[k - 1]) idx[--k] = 0;
        if (k == 0) break;
    }
    return n;
}

static int64_t lift(recog_lifter *L, term_id t);

/* 1 when t is the number v (FLINT's comparison takes no const). */
static int num_equals(const term_store *s, term_id t, slong v)
{
    return term_op_of(s, t) == OP_NUM && fmpq_equal_si((fmpq *)term_value(s, t), v);
}

static int64_t lift_ref(recog_lifter *L, const ref_at *ra)
{
    uint8_t maps[27][MAT_MAX_RANK];
    size_t n = ref_maps(L, ra, 0, maps, NULL, 27);
    if (n == 0) return -1;
    int64_t nd = new_node(L, LN_REF);
    if (nd < 0) return -1;
    L->node[nd].fam[0] = ra->fam;
    for (size_t i = 0; i < n; i++) {
        recog_lcand cd;
        memset(&cd, 0, sizeof cd);
        memcpy(cd.map[0], maps[i], sizeof maps[i]);
        add_cand(L, (uint32_t)nd, &cd);
    }
    return nd;
}

/* out[i, h*D + j] = A[h, i, j]: a name of a rank-3 family in a matrix. */
static int64_t lift_concat(recog_lifter *L, const ref_at *ra)
{
    const mat_family *f = &L->c->p->mats[L->f];
    const mat_family *g = &L->c->p->mats[ra->fam];
    if (L->rank != 2 || ra->rank != 3 || f->rows != g->rows || f->cols != (uint64_t)g->batch * g->cols) return -1;
    if (L->var[V_I] != (int64_t)ra->pos[1] || L->var[V_J] != (int64_t)ra->pos[0] * g->cols + ra->pos[2]) return -1;
    int64_t nd = new_node(L, LN_CONCAT);
    if (nd < 0) return -1;
    L->node[nd].fam[0] = ra->fam;
    return nd;
}

/* A constant: a term that mentions no family. */
static int64_t lift_const(recog_lifter *L, term_id t)
{
    int64_t nd = new_node(L, LN_CONST);
    if (nd >= 0) L->node[nd].t = t;
    return nd;
}

/* The factors of a product t = coeff * base, with names of families (x^2
 * counted twice) apart from constants and from anything else. */
typedef struct product {
    num_id coeff;
    term_id konst;       /* product of the constant factors (1 when none) */
    ref_at ref[2];
    term_id ref_t[2];
    size_t n_ref, n_other;
} product;

static void read_product(recog_lifter *L, term_id t, product *pr)
{
    term_store *s = L->c->s;
    term_id base;
    memset(pr, 0, sizeof *pr);
    term_split_coeff(&pr->coeff, &base, s, t);
    size_t n = term_op_of(s, base) == OP_MUL ? term_nargs(s, base) : 1;
    term_id *fs = mem_realloc(NULL, n * sizeof *fs);
    if (term_op_of(s, base) == OP_MUL) memcpy(fs, term_args(s, base), n * sizeof *fs);
    else fs[0] = base;
    term_id *consts = mem_realloc(NULL, n * sizeof *consts);
    size_t nc = 0;
    for (size_t i = 0; i < n; i++) {
        term_id x = fs[i];
        ref_at ra;
        if (!recog_mentions(L->c, x)) { consts[nc++] = x; continue; }
        if (ref_of(L, x, &ra)) {
            if (pr->n_ref < 2) { pr->ref[pr->n_ref] = ra; pr->ref_t[pr->n_ref] = x; }
            pr->n_ref++;
            continue;
        }
        if (term_op_of(s, x) == OP_POW) {
            term_id b = term_arg(s, x, 0), e = term_arg(s, x, 1);
            if (num_equals(s, e, 2) && ref_of(L, b, &ra)) {
                for (int k = 0; k < 2; k++) {
                    if (pr->n_ref < 2) { pr->ref[pr->n_ref] = ra; pr->ref_t[pr->n_ref] = b; }
                    pr->n_ref++;
                }
                continue;
            }
        }
        pr->n_other++;
    }
    pr->konst = term_mul(s, consts, nc);
    free(consts);
    free(fs);
}

/* sum_k c * A[..k..] * B[..k..]: the maps of both names come from one
 * product of the sum (the one whose indices least often equal the row or
 * column: there the summed index shows), the summed positions equal. */
static int64_t lift_sumk(recog_lifter *L, const product *pr)
{
    uint8_t m0[27][MAT_MAX_RANK], m1[27][MAT_MAX_RANK];
    uint32_t k0[27], k1[27];
    size_t n0 = ref_maps(L, &pr->ref[0], 1, m0, k0, 27);
    size_t n1 = ref_maps(L, &pr->ref[1], 1, m1, k1, 27);
    int64_t nd = new_node(L, LN_SUMK);
    if (nd < 0) return -1;
    term_store *s = L->c->s;
    L->node[nd].t = term_mul2(s, term_num_id(s, pr->coeff), pr->konst);
    L->node[nd].fam[0] = pr->ref[0].fam;
    L->node[nd].fam[1] = pr->ref[1].fam;
    for (size_t a = 0; a < n0; a++)
        for (size_t b = 0; b < n1; b++) {
            if (k0[a] != k1[b]) continue;
            recog_lcand cd;
            memset(&cd, 0, sizeof cd);
            memcpy(cd.map[0], m0[a], sizeof m0[a]);
            memcpy(cd.map[1], m1[b], sizeof m1[b]);
            add_cand(L, (uint32_t)nd, &cd);
        }
    return L->node[nd].n_cand ? nd : -1;
}

/* Number of indices of pr's names that are neither the row nor the column. */
static int free_positions(const recog_lifter *L, const product *pr)
{
    int n = 0;
    for (size_t r = 0; r < 2; r++)
        for (uint32_t k = pr->ref[r].rank == 3 ? 1 : 0; k < pr->ref[r].rank; k++)
            n += L->var[V_I] != (int64_t)pr->ref[r].pos[k] && L->var[V_J] != (int64_t)pr->ref[r].pos[k];
    return n;
}

static int64_t new_ew(recog_lifter *L, term_op op, const int64_t *ks, size_t n)
{
    int64_t nd = new_node(L, LN_EW);
    if (nd < 0) return -1;
    L->node[nd].op = (uint8_t)op;
    set_kids(L, (uint32_t)nd, ks, n);
    return nd;
}

/* A product of two names read elementwise: c .* A .* B. */
static int64_t lift_hadamard(recog_lifter *L, const product *pr)
{
    term_store *s = L->c->s;
    int64_t ks[3];
    size_t n = 0;
    term_id c = term_mul2(s, term_num_id(s, pr->coeff), pr->konst);
    if (c != s->one) {
        ks[n] = lift_const(L, c);
        if (ks[n++] < 0) return -1;
    }
    for (int r = 0; r < 2; r++) {
        ks[n] = lift_ref(L, &pr->ref[r]);
        if (ks[n++] < 0) return -1;
    }
    return new_ew(L, OP_MUL, ks, n);
}

static int64_t new_alt(recog_lifter *L, const int64_t *ks, size_t n)
{
    int64_t nd = new_node(L, LN_ALT);
    if (nd < 0) return -1;
    set_kids(L, (uint32_t)nd, ks, n);
    recog_lcand cd;
    memset(&cd, 0, sizeof cd);
    for (size_t i = 0; i < n; i++) add_cand(L, (uint32_t)nd, &cd);
    return nd;
}

typedef struct summand {
    product pr;
    term_id t;
    int two_refs;
} summand;

static int summand_key_cmp(const summand *a, const summand *b)
{
    if (a->pr.coeff != b->pr.coeff) return a->pr.coeff < b->pr.coeff ? -1 : 1;
    if (a->pr.konst != b->pr.konst) return a->pr.konst < b->pr.konst ? -1 : 1;
    uint32_t a0 = a->pr.ref[0].fam, a1 = a->pr.ref[1].fam, b0 = b->pr.ref[0].fam, b1 = b->pr.ref[1].fam;
    if (a0 > a1) { uint32_t x = a0; a0 = a1; a1 = x; }
    if (b0 > b1) { uint32_t x = b0; b0 = b1; b1 = x; }
    if (a0 != b0) return a0 < b0 ? -1 : 1;
    if (a1 != b1) return a1 < b1 ? -1 : 1;
    return 0;
}

static int summand_cmp(const void *x, const void *y)
{
    const summand *a = x, *b = y;
    if (a->two_refs != b->two_refs) return a->two_refs ? -1 : 1;
    if (a->two_refs) {
        int k = summand_key_cmp(a, b);
        if (k) return k;
    }
    return (a->t > b->t) - (a->t < b->t);
}

/* A sum (or the one term args[0]): products of two names that share their
 * coefficient, constants and families form one matrix product; a lone one
 * is read elementwise, else as a product over one summed index; the other
 * terms are read elementwise. */
static int64_t lift_sum(recog_lifter *L, const term_id *args_in, size_t n)
{
    term_id *args = mem_realloc(NULL, n * sizeof *args);
    memcpy(args, args_in, n * sizeof *args);
    summand *sm = mem_realloc(NULL, n * sizeof *sm);
    int64_t *ks = mem_realloc(NULL, n * sizeof *ks);
    size_t nk = 0;
    int64_t result = -1;
    for (size_t i = 0; i < n; i++) {
        sm[i].t = args[i];
        read_product(L, args[i], &sm[i].pr);
        sm[i].two_refs = sm[i].pr.n_ref == 2 && sm[i].pr.n_other == 0;
    }
    qsort(sm, n, sizeof *sm, summand_cmp);
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        if (!sm[i].two_refs) {
            ks[nk] = lift(L, sm[i].t);
            if (ks[nk++] < 0) goto done;
            i = j;
            continue;
        }
        while (j < n && sm[j].two_refs && summand_key_cmp(&sm[i], &sm[j]) == 0) j++;
        if (j == i + 1) {
            /* one product: a product over an index of extent 1, or elementwise */
            int64_t alt[2];
            size_t na = 0;
            lift_mark m = mark(L);
            alt[na] = lift_sumk(L, &sm[i].pr);
            if (alt[na] >= 0) na++;
            else rollback(L, m);
            m = mark(L);
            alt[na] = lift_hadamard(L, &sm[i].pr);
            if (alt[na] >= 0) na++;
            else rollback(L, m);
            ks[nk] = na == 1 ? alt[0] : na == 2 ? new_alt(L, alt, 2) : -1;
        } else {
            size_t best = i;
            int most = -1;
            for (size_t k = i; k < j; k++) {
                int fp = free_positions(L, &sm[k].pr);
                if (fp > most) { most = fp; best = k; }
            }
            ks[nk] = lift_sumk(L, &sm[best].pr);
        }
        if (ks[nk++] < 0) goto done;
        i = j;
    }
    result = nk == 1 ? ks[0] : new_ew(L, OP_ADD, ks, nk);
done:
    free(args);
    free(sm);
    free(ks);
    return result;
}

/* Softmax node over the reading of u, for a row of m terms: full (m = the
 * number of columns) or masked (m = row + 1), or both when they agree. */
static int64_t lift_softmax(recog_lifter *L, term_id u, uint32_t m, int form)
{
    const mat_family *f = &L->c->p->mats[L->f];
    if (L->rank < 2) return -1;
    int full = m == f->cols;
    int masked = (int64_t)m == L->var[V_I] + 1 && m <= f->cols;
    if (!full && !masked) return -1;
    int64_t child = lift(L, u);
    if (child < 0) return -1;
    int64_t nd = new_node(L, LN_SOFTMAX);
    if (nd < 0) return -1;
    L->node[nd].form = (uint8_t)form;
    set_kids(L, (uint32_t)nd, &child, 1);
    recog_lcand cd;
    memset(&cd, 0, sizeof cd);
    if (full) add_cand(L, (uint32_t)nd, &cd);
    cd.masked = 1;
    if (masked) add_cand(L, (uint32_t)nd, &cd);
    return nd;
}

/* The index of the one argument -1 * OP(...) of the sum w (OP: lse or max),
 * or -1; *inner is that OP term. */
static int64_t minus_arg(const term_store *s, term_id w, term_op op, term_id *inner)
{
    if (term_op_of(s, w) != OP_ADD) return -1;
    int64_t at = -1;
    for (uint32_t i = 0; i < term_nargs(s, w); i++) {
        term_id a = term_arg(s, w, i);
        if (term_op_of(s, a) == OP_MUL && term_nargs(s, a) == 2 && term_op_of(s, term_arg(s, a, 1)) == op &&
            num_equals(s, term_arg(s, a, 0), -1)) {
            if (at >= 0) return -1;
            at = i;
            *inner = term_arg(s, a, 1);
        }
    }
    return at;
}

/* w without its argument at (a sum of the others). */
static term_id sum_without(term_store *s, term_id w, int64_t at)
{
    uint32_t n = term_nargs(s, w);
    term_id *rest = mem_realloc(NULL, n * sizeof *rest);
    memcpy(rest, term_args(s, w), n * sizeof *rest);
    rest[at] = rest[n - 1];
    term_id u = term_add(s, rest, n - 1);
    free(rest);
    return u;
}

/* exp(u) * (exp(u_1) + ... + exp(u_m))^-1, as scripts write a softmax
 * entry, or exp(u - M) * (exp(u_1 - M) + ...)^-1 with M = max(u_1, ...),
 * the stable form. */
static int64_t try_softmax_plain(recog_lifter *L, term_id t)
{
    term_store *s = L->c->s;
    if (term_nargs(s, t) != 2) return -1;
    for (int k = 0; k < 2; k++) {
        term_id e = term_arg(s, t, (uint32_t)k), d = term_arg(s, t, (uint32_t)(1 - k));
        if (term_op_of(s, e) != OP_EXP || term_op_of(s, d) != OP_POW) continue;
        term_id sum = term_arg(s, d, 0), ex = term_arg(s, d, 1);
        if (!num_equals(s, ex, -1) || term_op_of(s, sum) != OP_ADD)
            continue;
        uint32_t m = term_nargs(s, sum);
        int all_exp = 1;
        for (uint32_t i = 0; i < m && all_exp; i++) all_exp = term_op_of(s, term_arg(s, sum, i)) == OP_EXP;
        if (!all_exp) continue;
        term_id w = term_arg(s, e, 0), mx = TERM_NONE;
        int64_t at = minus_arg(s, w, OP_MAX, &mx);
        if (at >= 0) return lift_softmax(L, sum_without(s, w, at), m, 2);
        return lift_softmax(L, w, m, 0);
    }
    return -1;
}

/* exp(u - lse(u_1, ..., u_m)), the form `hmp simplify` gives a softmax entry. */
static int64_t try_softmax_lse(recog_lifter *L, term_id t)
{
    term_store *s = L->c->s;
    term_id w = term_arg(s, t, 0), lse = TERM_NONE;
    int64_t at = minus_arg(s, w, OP_LSE, &lse);
    if (at < 0) return -1;
    uint32_t m = term_nargs(s, lse);
    return lift_softmax(L, sum_without(s, w, at), m, 1);
}

/* A product read elementwise: constants into one factor, the rest read one
 * by one; failing that, a single product of a matrix product (inner
 * dimension 1). */
static int64_t lift_mul(recog_lifter *L, term_id t)
{
    term_store *s = L->c->s;
    lift_mark m0 = mark(L);
    int64_t nd = try_softmax_plain(L, t);
    if (nd >= 0) return nd;
    rollback(L, m0);
    uint32_t n = term_nargs(s, t);
    term_id *fs = mem_realloc(NULL, n * sizeof *fs);
    memcpy(fs, term_args(s, t), n * sizeof *fs);
    term_id *consts = mem_realloc(NULL, n * sizeof *consts);
    int64_t *ks = mem_realloc(NULL, (n + 1) * sizeof *ks);
    size_t nc = 0, nk = 0;
    int ok = 1;
    for (uint32_t i = 0; i < n && ok; i++) {
        if (!recog_mentions(L->c, fs[i])) consts[nc++] = fs[i];
    }
    term_id c = term_mul(s, consts, nc);
    if (c != s->one) ks[nk++] = lift_const(L, c);
    for (uint32_t i = 0; i < n && ok; i++) {
        if (!recog_mentions(L->c, fs[i])) continue;
        ks[nk] = lift(L, fs[i]);
        ok = ks[nk++] >= 0;
    }
    if (ok) nd = nk == 1 ? ks[0] : new_ew(L, OP_MUL, ks, nk);
    else nd = -1;
    product pr;
    read_product(L, t, &pr);
    if (pr.n_ref == 2 && pr.n_other == 0) {
        /* c * A[..] * B[..]: a product over an index of extent 1 comes first */
        int64_t alt[2];
        if (nd < 0) rollback(L, m0);
        lift_mark m = mark(L);
        alt[0] = lift_sumk(L, &pr);
        if (alt[0] < 0) rollback(L, m);
        else if (nd >= 0) alt[1] = nd, nd = new_alt(L, alt, 2);
        else nd = alt[0];
    } else if (nd < 0) {
        rollback(L, m0);
    }
    free(fs);
    free(consts);
    free(ks);
    return nd;
}

/* Reads t (a term at the representative) as a matrix expression: the node,
 * or -1 when t has no such reading. */
static int64_t lift(recog_lifter *L, term_id t)
{
    term_store *s = L->c->s;
    if (!recog_mentions(L->c, t)) return lift_const(L, t);
    if (L->depth >= LIFT_MAX_DEPTH) return -1;
    L->depth++;
    int64_t nd = -1;
    ref_at ra;
    term_op op = term_op_of(s, t);
    switch (op) {
    case OP_SYM:
        if (ref_of(L, t, &ra)) nd = ra.rank == 3 && L->rank == 2 ? lift_concat(L, &ra) : lift_ref(L, &ra);
        break;
    case OP_ADD: {
        uint32_t n = term_nargs(s, t);
        term_id *args = mem_realloc(NULL, n * sizeof *args);
        memcpy(args, term_args(s, t), n * sizeof *args);
        nd = lift_sum(L, args, n);
        free(args);
        break;
    }
    case OP_MUL:
        nd = lift_mul(L, t);
        break;
    case OP_EXP: {
        lift_mark m = mark(L);
        nd = try_softmax_lse(L, t);
        if (nd >= 0) break;
        rollback(L, m);
    }
        /* fall through */
    case OP_LOG: case OP_TANH: case OP_ABS: {
        int64_t k = lift(L, term_arg(s, t, 0));
        nd = k < 0 ? -1 : new_ew(L, op, &k, 1);
        break;
    }
    case OP_POW: {
        term_id b = term_arg(s, t, 0), e = term_arg(s, t, 1);
        if (recog_mentions(L->c, e)) break;
        int64_t ks[2];
        ks[0] = lift(L, b);
        if (ks[0] < 0) break;
        ks[1] = lift_const(L, e);
        if (ks[1] < 0) break;
        nd = new_ew(L, OP_POW, ks, 2);
        break;
    }
    default:
        break;
    }
    L->depth--;
    return nd;
}

void recog_lifter_init(recog_lifter *L, recog_ctx *c, uint32_t f, size_t cell)
{
    memset(L, 0, sizeof *L);
    L->c = c;
    L->f = f;
    const mat_family *m = &c->p->mats[f];
    L->rank = m->rank;
    uint32_t b, r, col;
    mat_cell_pos(m, cell, &b, &r, &col);
    L->var[V_NONE] = L->var[V_K] = -1;
    L->var[V_B] = m->rank == 3 ? (int64_t)b : -1;
    L->var[V_I] = r;
    L->var[V_J] = m->rank >= 2 ? (int64_t)col : -1;
}

void recog_lifter_clear(recog_lifter *L)
{
    free(L->node);
    free(L->kid);
    free(L->cand);
}

int64_t recog_read(recog_lifter *L, term_id t) { return lift(L, t); }

/* recognise_build: a reading becomes a chain of operations (operands sorted by
 * names, temporaries T1, T2, ...); each choice of the reading is verified
 * on every entry and the one with the fewest exceptions is kept. */
#include "rewrite/recognise_impl.h"

#include <stdlib.h>
#include <string.h>

#include "core/mem.h"
#include "core/print.h"

#define LIFT_MAX_COMBOS 256     /* readings tried per representative */
#define LIFT_MAX_VERIFIED 8     /* readings accepted per family before the best is kept */
#define LIFT_SAMPLE 8           /* entries checked before a full verification */

/* ---- a reading as a chain of operations ---- */

typedef struct operand {
    int is_scalar;
    term_id scalar;
    uint32_t mat;
    uint8_t view;
} operand;

/* The view of a name read with map: -1 when no operation reads it so. */
static int ref_view(const recog_lifter *L, uint32_t fam, const uint8_t *map)
{
    const mat_family *g = &L->c->p->mats[fam];
    if (g->rank == 1) {
        if (map[0] == V_I) return L->rank == 1 ? MAT_VIEW_PLAIN : MAT_VIEW_COL;
        if (map[0] == V_J) return MAT_VIEW_ROW;
        return -1;
    }
    const uint8_t *m = g->rank == 3 ? map + 1 : map;
    if (m[0] == V_I && m[1] == V_J) return MAT_VIEW_PLAIN;
    if (m[0] == V_J && m[1] == V_I) return MAT_VIEW_T;
    return -1;
}

/* Sort key of a node: what it reads, by names, never by ids. */
static void node_key(strbuf *b, const recog_lifter *L, uint32_t nd)
{
    const recog_lnode *x = &L->node[nd];
    const recog_lcand *cd = x->n_cand ? &L->cand[x->cand + x->choice] : NULL;
    const mat_program *p = L->c->p;
    switch ((recog_lnode_kind)x->kind) {
    case LN_CONST:
        strbuf_puts(b, "0");
        print_infix(b, L->c->s, x->t);
        break;
    case LN_REF: {
        int v = ref_view(L, x->fam[0], cd->map[0]);
        strbuf_printf(b, "%c%s/%d", v == MAT_VIEW_ROW || v == MAT_VIEW_COL ? '2' : '1', p->mats[x->fam[0]].name, v);
        break;
    }
    case LN_SUMK:
        /* the families with their index maps, in name order, and the factor */
        strbuf_puts(b, "1m(");
        for (int k = 0; k < 2; k++) {
            int r = strcmp(p->mats[x->fam[0]].name, p->mats[x->fam[1]].name) > 0 ? 1 - k : k;
            strbuf_printf(b, "%s%s:%u%u%u", k ? "," : "", p->mats[x->fam[r]].name, cd->map[r][0], cd->map[r][1], cd->map[r][2]);
        }
        strbuf_putc(b, ';');
        print_infix(b, L->c->s, x->t);
        strbuf_putc(b, ')');
        break;
    case LN_CONCAT:
        strbuf_printf(b, "1c(%s)", p->mats[x->fam[0]].name);
        break;
    case LN_ALT:
        node_key(b, L, L->kid[x->first + x->choice]);
        break;
    case LN_SOFTMAX: case LN_EW:
        if (x->kind == LN_SOFTMAX) strbuf_printf(b, "1s%u%u(", x->form, cd->masked);
        else strbuf_printf(b, "1e%s(", term_op_name((term_op)x->op));
        for (uint32_t i = 0; i < x->n; i++) {
            if (i) strbuf_putc(b, ',');
            node_key(b, L, L->kid[x->first + i]);
        }
        strbuf_putc(b, ')');
        break;
    }
}

typedef struct keyed {
    char *key;
    uint32_t nd;
    int negated;  /* a child -1 * X of a sum: X, subtracted */
} keyed;

static int keyed_cmp(const void *x, const void *y)
{
    const keyed *a = x, *b = y;
    if (a->negated != b->negated) return a->negated - b->negated;
    int k = strcmp(a->key, b->key);
    if (k) return k;
    return (a->nd > b->nd) - (a->nd < b->nd);
}

static int build_node(recog_lifter *L, uint32_t nd, operand *out);

/* Appends op (out: a new temporary); 0, or -1 when the shapes do not fit. */
static int build_op(recog_lifter *L, mat_op *op, operand *out)
{
    mat_program *p = L->c->p;
    op->out = mat_push_temp(p, L->f);
    if (mat_op_check(p, op) != 0) return -1;
    uint32_t k = mat_push_op(p, op);
    p->mats[op->out].op = (int32_t)k;
    out->is_scalar = 0;
    out->mat = op->out;
    out->view = MAT_VIEW_PLAIN;
    return 0;
}

static int build_binary(recog_lifter *L, mat_opcode code, const operand *a, const operand *b, operand *out)
{
    mat_op op;
    mat_op_init(&op, code, 0);
    op.n_args = 2;
    op.arg[0] = a->mat;
    op.view[0] = a->view;
    op.arg[1] = b->mat;
    op.view[1] = b->view;
    if (code == MAT_OP_ADD && b->view == MAT_VIEW_ROW && a->view != MAT_VIEW_ROW && a->view != MAT_VIEW_COL)
        op.code = MAT_OP_ADD_ROW;
    if (code == MAT_OP_ADD && b->view == MAT_VIEW_COL && a->view != MAT_VIEW_ROW && a->view != MAT_VIEW_COL)
        op.code = MAT_OP_ADD_COL;
    return build_op(L, &op, out);
}

static int build_unary(recog_lifter *L, mat_opcode code, const operand *a, term_id scalar, uint8_t fn, operand *out)
{
    if (a->is_scalar) return -1;
    mat_op op;
    mat_op_init(&op, code, 0);
    op.n_args = 1;
    op.arg[0] = a->mat;
    op.view[0] = a->view;
    op.scalar = scalar;
    op.fn = fn;
    return build_op(L, &op, out);
}

/* Children of an elementwise node, sorted by key; constants folded into
 * *konst with fold (term_add or term_mul). */
static size_t sorted_children(recog_lifter *L, uint32_t nd, keyed *ks, term_id *konst, int sum)
{
    term_store *s = L->c->s;
    const recog_lnode x = L->node[nd];
    size_t n = 0;
    strbuf b;
    strbuf_init(&b);
    for (uint32_t i = 0; i < x.n; i++) {
        uint32_t k = L->kid[x.first + i];
        const recog_lnode *y = &L->node[k];
        if (y->kind == LN_CONST) {
            *konst = sum ? term_add2(s, *konst, y->t) : term_mul2(s, *konst, y->t);
            continue;
        }
        int negated = 0;
        if (sum && y->kind == LN_EW && y->op == OP_MUL && y->n == 2) {
            const recog_lnode *c0 = &L->node[L->kid[y->first]];
            if (c0->kind == LN_CONST && c0->t == s->minus_one) {
                negated = 1;
                k = L->kid[y->first + 1];
            }
        }
        strbuf_reset(&b);
        node_key(&b, L, k);
        ks[n].key = mem_strdup(b.data);
        ks[n].nd = k;
        ks[n].negated = negated;
        n++;
    }
    strbuf_clear(&b);
    qsort(ks, n, sizeof *ks, keyed_cmp);
    return n;
}

static int build_sum(recog_lifter *L, uint32_t nd, operand *out)
{
    term_store *s = L->c->s;
    keyed *ks = mem_realloc(NULL, (L->node[nd].n + 1) * sizeof *ks);
    term_id konst = s->zero;
    size_t n = sorted_children(L, nd, ks, &konst, 1);
    int rc = 0;
    operand acc;
    memset(&acc, 0, sizeof acc);
    if (n == 0 || ks[0].negated) {
        rc = -1; /* a sum of negated matrices only: not read */
    } else {
        rc = build_node(L, ks[0].nd, &acc);
        for (size_t i = 1; i < n && rc == 0; i++) {
            operand x;
            rc = build_node(L, ks[i].nd, &x);
            if (rc == 0 && x.is_scalar) rc = -1;
            if (rc == 0) rc = build_binary(L, ks[i].negated ? MAT_OP_SUB : MAT_OP_ADD, &acc, &x, &acc);
        }
        if (rc == 0 && konst != s->zero) rc = build_unary(L, MAT_OP_ADD_SCALAR, &acc, konst, 0, &acc);
    }
    for (size_t i = 0; i < n; i++) free(ks[i].key);
    free(ks);
    *out = acc;
    return rc;
}

static int build_product(recog_lifter *L, uint32_t nd, operand *out)
{
    term_store *s = L->c->s;
    mat_program *p = L->c->p;
    keyed *ks = mem_realloc(NULL, (L->node[nd].n + 1) * sizeof *ks);
    term_id konst = s->one;
    size_t n = sorted_children(L, nd, ks, &konst, 0);
    int rc = n == 0 ? -1 : 0;
    operand acc;
    memset(&acc, 0, sizeof acc);
    if (rc == 0) rc = build_node(L, ks[0].nd, &acc);
    for (size_t i = 1; i < n && rc == 0; i++) {
        operand x;
        rc = build_node(L, ks[i].nd, &x);
        if (rc == 0) rc = build_binary(L, MAT_OP_MUL, &acc, &x, &acc);
    }
    if (rc == 0 && konst != s->one) {
        mat_family *a = &p->mats[acc.mat];
        mat_op *last = a->kind == MAT_KIND_TEMP ? &p->ops[a->op] : NULL;
        if (last && last->code == MAT_OP_MATMUL && last->scalar == TERM_NONE && acc.view == MAT_VIEW_PLAIN) {
            last->scalar = konst; /* c * (A * B): the factor outside the sum */
            last->scale_each = 0;
        } else {
            rc = build_unary(L, MAT_OP_SCALE, &acc, konst, 0, &acc);
        }
    }
    for (size_t i = 0; i < n; i++) free(ks[i].key);
    free(ks);
    *out = acc;
    return rc;
}

static int build_node(recog_lifter *L, uint32_t nd, operand *out)
{
    const recog_lnode x = L->node[nd];
    const recog_lcand *cd = x.n_cand ? &L->cand[x.cand + x.choice] : NULL;
    memset(out, 0, sizeof *out);
    switch ((recog_lnode_kind)x.kind) {
    case LN_CONST:
        out->is_scalar = 1;
        out->scalar = x.t;
        return 0;
    case LN_REF: {
        int v = ref_view(L, x.fam[0], cd->map[0]);
        if (v < 0) return -1;
        out->mat = x.fam[0];
        out->view = (uint8_t)v;
        return 0;
    }
    case LN_SUMK: {
        /* the left factor carries the row, the right one the column */
        int left = -1;
        for (int r = 0; r < 2 && left < 0; r++)
            for (uint32_t k = 0; k < MAT_MAX_RANK; k++)
                if (cd->map[r][k] == V_I) left = r;
        if (left < 0) return -1;
        int right = 1 - left;
        const mat_family *a = &L->c->p->mats[x.fam[left]], *b = &L->c->p->mats[x.fam[right]];
        const uint8_t *ma = cd->map[left] + (a->rank == 3 ? 1 : 0), *mb = cd->map[right] + (b->rank == 3 ? 1 : 0);
        mat_op op;
        mat_op_init(&op, MAT_OP_MATMUL, 0);
        op.n_args = 2;
        op.arg[0] = x.fam[left];
        op.arg[1] = x.fam[right];
        if (a->rank == 1) return -1;
        if (ma[0] == V_I && ma[1] == V_K) op.view[0] = MAT_VIEW_PLAIN;
        else if (ma[0] == V_K && ma[1] == V_I) op.view[0] = MAT_VIEW_T;
        else return -1;
        if (b->rank == 1) {
            if (L->rank != 1 || mb[0] != V_K) return -1;
            op.view[1] = MAT_VIEW_PLAIN;
        } else if (mb[0] == V_K && mb[1] == V_J) {
            op.view[1] = MAT_VIEW_PLAIN;
        } else if (mb[0] == V_J && mb[1] == V_K) {
            op.view[1] = MAT_VIEW_T;
        } else {
            return -1;
        }
        if (x.t != L->c->s->one) {
            op.scalar = x.t;
            op.scale_each = 1;
        }
        return build_op(L, &op, out);
    }
    case LN_CONCAT: {
        mat_op op;
        mat_op_init(&op, MAT_OP_CONCAT_HEADS, 0);
        op.n_args = 1;
        op.arg[0] = x.fam[0];
        return build_op(L, &op, out);
    }
    case LN_SOFTMAX: {
        operand a;
        if (build_node(L, L->kid[x.first], &a) != 0 || a.is_scalar) return -1;
        mat_op op;
        mat_op_init(&op, cd->masked ? MAT_OP_MASKED_SOFTMAX_ROWS : MAT_OP_SOFTMAX_ROWS, 0);
        op.n_args = 1;
        op.arg[0] = a.mat;
        op.view[0] = a.view;
        op.lse = x.form == 1;
        op.stable = x.form == 2;
        return build_op(L, &op, out);
    }
    case LN_ALT:
        return build_node(L, L->kid[x.first + x.choice], out);
    case LN_EW:
        break;
    }
    switch ((term_op)x.op) {
    case OP_ADD: return build_sum(L, nd, out);
    case OP_MUL: return build_product(L, nd, out);
    case OP_POW: {
        operand a, e;
        if (build_node(L, L->kid[x.first], &a) != 0 || build_node(L, L->kid[x.first + 1], &e) != 0 || !e.is_scalar) return -1;
        return build_unary(L, MAT_OP_MAP, &a, e.scalar, OP_POW, out);
    }
    default: {
        operand a;
        if (build_node(L, L->kid[x.first], &a) != 0) return -1;
        return build_unary(L, MAT_OP_MAP, &a, TERM_NONE, x.op, out);
    }
    }
}

/* ---- verification ---- */

typedef struct saved {
    size_t n_ops, n_mats;
    uint32_t next_temp;
} saved;

static void restore(mat_program *p, saved sv)
{
    for (size_t i = sv.n_mats; i < p->n_mats; i++) free(p->mats[i].name);
    p->n_mats = sv.n_mats;
    p->n_ops = sv.n_ops;
    p->next_temp = sv.next_temp;
}

/* Emits the chain of the current choices with family f as its output;
 * 0, or -1 when it does not fit (the program is then restored). */
static int build_chain(recog_lifter *L, uint32_t root, saved sv)
{
    mat_program *p = L->c->p;
    mat_family *f = &p->mats[L->f];
    operand r;
    if (build_node(L, root, &r) != 0 || r.is_scalar) {
        restore(p, sv);
        return -1;
    }
    if (p->mats[r.mat].kind == MAT_KIND_TEMP && r.view == MAT_VIEW_PLAIN && p->n_ops > sv.n_ops &&
        p->ops[p->n_ops - 1].out == r.mat && r.mat == p->n_mats - 1) {
        /* the last operation writes the family itself */
        p->ops[p->n_ops - 1].out = L->f;
        free(p->mats[r.mat].name);
        p->n_mats--;
        p->next_temp--;
    } else if (p->mats[r.mat].kind != MAT_KIND_TEMP && (r.view == MAT_VIEW_PLAIN || r.view == MAT_VIEW_T)) {
        mat_op op;
        mat_op_init(&op, r.view == MAT_VIEW_T ? MAT_OP_TRANSPOSE : MAT_OP_COPY, L->f);
        op.n_args = 1;
        op.arg[0] = r.mat;
        op.view[0] = r.view;
        if (mat_op_check(p, &op) != 0) {
            restore(p, sv);
            return -1;
        }
        mat_push_op(p, &op);
    } else {
        restore(p, sv);
        return -1;
    }
    f = &p->mats[L->f];
    f->op = (int32_t)(p->n_ops - 1);
    return 0;
}

static term_id rhs_of(const recog_lifter *L, size_t cell)
{
    const mat_family *f = &L->c->p->mats[L->f];
    return L->c->scr->rels[f->rel[cell]].rhs;
}

/* Cells the operation must produce: present, not a claimed -inf. */
static int checked_cell(const mat_family *f, size_t cell)
{
    if (f->entry[cell] == TERM_NONE) return 0;
    if (f->neginf_upper) {
        uint32_t b, r, c;
        mat_cell_pos(f, cell, &b, &r, &c);
        if (c > r) return 0;
    }
    return 1;
}

static int cell_ok(recog_lifter *L, size_t cell)
{
    mat_family *f = &L->c->p->mats[L->f];
    if (f->rel[cell] < 0) return 0; /* a free name in a computed family */
    uint32_t b, r, c;
    mat_cell_pos(f, cell, &b, &r, &c);
    return recog_match_op(L->c->p, (uint32_t)f->op, b, r, c, rhs_of(L, cell));
}

/* Checks every cell; at most `allowed` may differ. Returns how many differ
 * (with commit: kept as the family's exceptions), or -1 past allowed. */
static int64_t verify(recog_lifter *L, size_t n_checked, size_t allowed, int commit)
{
    mat_family *f = &L->c->p->mats[L->f];
    /* a sample first: a wrong reading fails on most entries */
    size_t step = n_checked / LIFT_SAMPLE + 1, seen = 0, bad = 0, tried = 0;
    for (size_t cell = 0; cell < f->n_cells && tried < LIFT_SAMPLE && !commit; cell++) {
        if (!checked_cell(f, cell)) continue;
        if (seen++ % step != 0) continue;
        tried++;
        if (!cell_ok(L, cell)) bad++;
        f = &L->c->p->mats[L->f];
    }
    if (bad > allowed || 2 * bad > tried) return -1;
    uint32_t *except = NULL;
    size_t n_except = 0;
    for (size_t cell = 0; cell < f->n_cells; cell++) {
        if (!checked_cell(f, cell) || cell_ok(L, cell)) continue;
        if (n_except == allowed) {
            free(except);
            return -1;
        }
        if (commit && (n_except & (n_except + 1)) == 0) /* n_except + 1 a power of 2: grow */
            except = mem_realloc(except, 2 * (n_except + 1) * sizeof *except);
        if (commit) except[n_except] = (uint32_t)cell;
        n_except++;
        f = &L->c->p->mats[L->f];
    }
    f = &L->c->p->mats[L->f];
    if (commit) {
        free(f->except);
        f->except = except;
        f->n_except = n_except;
    }
    return (int64_t)n_except;
}

/* Emits the current choices' chain and checks it on the representative and
 * then on every cell. Returns the number of exceptions, or -1 (the program
 * restored). With commit the chain stays when accepted. */
static int64_t try_choice(recog_lifter *L, uint32_t root, size_t rep, size_t n_checked, size_t allowed, int commit)
{
    mat_program *p = L->c->p;
    saved sv = { p->n_ops, p->n_mats, p->next_temp };
    if (build_chain(L, root, sv) != 0) return -1;
    mat_family *f = &p->mats[L->f];
    f->kind = MAT_KIND_OP;
    uint32_t b, r, c;
    mat_cell_pos(f, rep, &b, &r, &c);
    int64_t e = recog_match_op(p, (uint32_t)f->op, b, r, c, rhs_of(L, rep)) ? verify(L, n_checked, allowed, commit) : -1;
    if (e < 0 || !commit) {
        f = &p->mats[L->f];
        f->kind = MAT_KIND_SCALAR;
        f->op = -1;
        restore(p, sv);
    }
    return e;
}

/* Tries the combinations of choices of the reading rooted at root, keeping
 * the one with the fewest exceptions (the first exact one ends the search);
 * 0 when one was accepted (its chain stays in the program). */
static int try_readings(recog_lifter *L, uint32_t root, size_t rep, size_t n_checked, int *budget)
{
    uint32_t *choice_nodes = mem_realloc(NULL, (L->n_node + 1) * sizeof *choice_nodes);
    uint32_t *best = mem_realloc(NULL, (L->n_node + 1) * sizeof *best);
    size_t nch = 0;
    uint64_t combos = 1;
    for (size_t i = 0; i < L->n_node && combos <= LIFT_MAX_COMBOS; i++) {
        L->node[i].choice = 0;
        if (L->node[i].n_cand > 1) {
            choice_nodes[nch++] = (uint32_t)i;
            combos *= L->node[i].n_cand;
        }
    }
    size_t allowed = recog_allowed_exceptions(n_checked);
    int64_t best_e = -1;
    while (combos <= LIFT_MAX_COMBOS && *budget > 0) {
        int64_t e = try_choice(L, root, rep, n_checked, best_e > 0 ? (size_t)best_e - 1 : allowed, 0);
        if (e >= 0) {
            (*budget)--;
            best_e = e;
            for (size_t k = 0; k < nch; k++) best[k] = L->node[choice_nodes[k]].choice;
            if (e == 0) break;
        }
        size_t k = 0;
        while (k < nch && ++L->node[choice_nodes[k]].choice == L->node[choice_nodes[k]].n_cand)
            L->node[choice_nodes[k++]].choice = 0;
        if (k == nch) break;
    }
    int rc = -1;
    if (best_e >= 0) {
        for (size_t k = 0; k < nch; k++) L->node[choice_nodes[k]].choice = best[k];
        rc = try_choice(L, root, rep, n_checked, (size_t)best_e, 1) >= 0 ? 0 : -1;
    }
    free(choice_nodes);
    free(best);
    return rc;
}

/* -inf literals on every entry above the diagonal and nowhere else: a mask
 * the operation claims (S = Q*K^T with -inf above the diagonal). */
static int detect_neginf_upper(recog_ctx *c, mat_family *f)
{
    if (f->rank < 2) return 0;
    size_t upper = 0;
    for (size_t cell = 0; cell < f->n_cells; cell++) {
        if (f->entry[cell] == TERM_NONE) continue;
        uint32_t b, r, col;
        mat_cell_pos(f, cell, &b, &r, &col);
        int ninf = f->rel[cell] >= 0 && c->scr->rels[f->rel[cell]].rhs == c->s->neg_inf;
        if ((col > r) != ninf) return 0;
        upper += ninf;
    }
    return upper > 0;
}

/* How few coincidences a cell's indices allow: row != column (2), neither
 * is 0 (1); a vector's entry: not 0 (1). */
static int rep_score(const mat_family *f, size_t cell)
{
    uint32_t b, r, col;
    mat_cell_pos(f, cell, &b, &r, &col);
    return f->rank == 1 ? 2 + (r != 0) : 2 * (r != col) + (r != 0 && col != 0);
}

size_t recog_representatives(recog_ctx *c, uint32_t fi, size_t *cells)
{
    const mat_family *f = &c->p->mats[fi];
    size_t *el = NULL, n_el = 0, n_best = 0;
    int best = -1;
    for (size_t cell = 0; cell < f->n_cells; cell++) {
        if (f->rel[cell] < 0 || !recog_mentions(c, c->scr->rels[f->rel[cell]].rhs)) continue;
        if ((n_el & (n_el + 1)) == 0) el = mem_realloc(el, 2 * (n_el + 1) * sizeof *el);
        el[n_el++] = cell;
        int score = rep_score(f, cell);
        if (score > best) { best = score; n_best = 0; }
        if (score == best) n_best++;
    }
    /* the middle, last and first of the best cells, then of all: three
     * distinct cells, so that one edited entry cannot hide the family */
    size_t n = 0;
    for (int pass = 0; pass < 2 && n < 3; pass++) {
        size_t total = pass == 0 ? n_best : n_el;
        size_t want[3] = { total / 2, total ? total - 1 : 0, 0 };
        for (int w = 0; w < 3 && n < 3 && total; w++) {
            size_t k = 0, cell = 0;
            for (size_t i = 0; i < n_el; i++) {
                if (pass == 0 && rep_score(f, el[i]) != best) continue;
                if (k++ == want[w]) { cell = el[i]; break; }
            }
            int dup = 0;
            for (size_t i = 0; i < n; i++) dup |= cells[i] == cell;
            if (!dup) cells[n++] = cell;
        }
    }
    free(el);
    return n;
}

void recog_lift_family(recog_ctx *c, uint32_t fi)
{
    mat_family *f = &c->p->mats[fi];
    f->neginf_upper = detect_neginf_upper(c, f);
    size_t n_checked = 0;
    for (size_t cell = 0; cell < f->n_cells; cell++) n_checked += checked_cell(f, cell);
    size_t reps[3];
    size_t n_reps = recog_representatives(c, fi, reps);
    int budget = LIFT_MAX_VERIFIED;
    for (size_t i = 0; i < n_reps; i++) {
        recog_lifter L;
        recog_lifter_init(&L, c, fi, reps[i]);
        int64_t root = recog_read(&L, c->scr->rels[c->p->mats[fi].rel[reps[i]]].rhs);
        int ok = root >= 0 && try_readings(&L, (uint32_t)root, reps[i], n_checked, &budget) == 0;
        recog_lifter_clear(&L);
        if (ok) return;
    }
    f = &c->p->mats[fi];
    f->neginf_upper = 0;
    f->kind = MAT_KIND_SCALAR;
    f->op = -1;
}

/* Distinct families named in t (iterative, each node once). */
size_t recog_family_deps(recog_ctx *c, uint32_t fi, uint32_t *deps, size_t cap)
{
    size_t reps[3];
    if (recog_representatives(c, fi, reps) == 0) return 0;
    term_store *s = c->s;
    term_id root = c->scr->rels[c->p->mats[fi].rel[reps[0]]].rhs;
    size_t n = 0, top = 0, cap_stack = 64, n_seen = 0, cap_seen = 64;
    term_id *stack = mem_realloc(NULL, cap_stack * sizeof *stack);
    term_id *seen = mem_calloc(cap_seen, sizeof *seen); /* open addressing, 0 = empty */
    stack[top++] = root;
    while (top > 0) {
        term_id t = stack[--top];
        if (!recog_mentions(c, t)) continue;
        size_t h = (size_t)mem_mix64(t) & (cap_seen - 1);
        while (seen[h] != 0 && seen[h] != t) h = (h + 1) & (cap_seen - 1);
        if (seen[h] == t) continue;
        seen[h] = t;
        if (2 * ++n_seen > cap_seen) {
            size_t old = cap_seen;
            term_id *o = seen;
            cap_seen *= 2;
            seen = mem_calloc(cap_seen, sizeof *seen);
            for (size_t i = 0; i < old; i++) {
                if (!o[i]) continue;
                size_t g = (size_t)mem_mix64(o[i]) & (cap_seen - 1);
                while (seen[g] != 0) g = (g + 1) & (cap_seen - 1);
                seen[g] = o[i];
            }
            free(o);
        }
        if (term_op_of(s, t) == OP_SYM) {
            uint32_t g = (uint32_t)c->sym_fam[term_sym_of(s, t)];
            int dup = 0;
            for (size_t i = 0; i < n; i++) dup |= deps[i] == g;
            if (!dup && n < cap) deps[n++] = g;
            continue;
        }
        uint32_t k = term_nargs(s, t);
        if (cap_stack - top < k) {
            cap_stack = 2 * cap_stack + k;
            stack = mem_realloc(stack, cap_stack * sizeof *stack);
        }
        for (uint32_t i = 0; i < k; i++) stack[top++] = term_arg(s, t, i);
    }
    free(stack);
    free(seen);
    return n;
}

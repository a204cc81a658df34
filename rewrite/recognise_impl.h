/* recognise_impl: what the files of matrix recognition share: the recognition
 * context, cell arithmetic, the predictor and the lifter. Not a public API. */
#ifndef HMP_RECOGNISE_IMPL_H
#define HMP_RECOGNISE_IMPL_H

#include "rewrite/recognise.h"

/* Recognition state around a program being built from a system. */
typedef struct recog_ctx {
    mat_program *p;
    term_store *s;
    const sys *y;
    const script *scr;
    uint32_t n_syms;
    int32_t *sym_fam;     /* per symbol: its family, or -1 */
    uint32_t *sym_cell;   /* per symbol in a family: its cell */
    uint8_t *sym_reason;  /* per symbol in no family: a mat_reason */
    uint8_t *mentions;    /* per term: 1 when it mentions an entry of a family */
    size_t n_mentions;    /* terms 1 .. n_mentions - 1 are known */
    uint32_t n_families;  /* mats[0 .. n_families) are the families */
} recog_ctx;

/* Sentinel of the predictor: an entry that does not exist. */
#define RECOG_NO_TERM TERM_NONE

/* recognise.c */
/* Exceptions a family of n checked entries may have: max(1, n/8), none
 * below 3 entries. */
size_t recog_allowed_exceptions(size_t n);
/* recognise_family.c: groups the symbols of c->s into families (mats[0 ..
 * n_families), sorted by base), sets the sym_ tables. */
void recog_families_build(recog_ctx *c);
/* recognise_predict.c */
/* The term of entry (b, r, c) of op's output; RECOG_NO_TERM when an entry it
 * needs does not exist. */
term_id recog_predict_op(mat_program *p, uint32_t op, uint32_t b, uint32_t r, uint32_t c);
/* 1 when want is the term of entry (b, r, c) of op's output (what
 * recog_predict_op gives), decided without building terms where the
 * canonical forms allow. */
int recog_match_op(mat_program *p, uint32_t op, uint32_t b, uint32_t r, uint32_t c, term_id want);

/* ---- readings: one entry read as a matrix expression (recognise_lift.c) ---- */

/* Index variables of a reading: head, row, column, summed index. */
enum { V_NONE, V_B, V_I, V_J, V_K };

typedef enum recog_lnode_kind { LN_CONST, LN_REF, LN_EW, LN_SUMK, LN_SOFTMAX, LN_CONCAT, LN_ALT } recog_lnode_kind;

/* A node of a reading. LN_EW applies a term op elementwise to its children;
 * LN_SUMK is sum_k t * A[..k..] * B[..k..]; LN_ALT is one of its children.
 * Choices (which variable each index is, a masked or full softmax row, an
 * alternative) are candidates, one chosen. */
typedef struct recog_lnode {
    uint8_t kind;
    uint8_t op;          /* LN_EW: term_op */
    uint8_t form;        /* LN_SOFTMAX: 0 plain, 1 exp(a - lse(row)), 2 stable (max) */
    term_id t;           /* LN_CONST: the constant; LN_SUMK: factor of each product (1: none) */
    uint32_t fam[2];     /* LN_REF, LN_CONCAT: fam[0]; LN_SUMK: the two factors' families */
    uint32_t first, n;   /* LN_EW, LN_SOFTMAX, LN_ALT: children in kid[] */
    uint32_t cand, n_cand, choice;
} recog_lnode;

typedef struct recog_lcand {
    uint8_t map[2][MAT_MAX_RANK]; /* LN_REF: map[0]; LN_SUMK: one per factor */
    uint8_t masked;               /* LN_SOFTMAX */
} recog_lcand;

typedef struct recog_lifter {
    recog_ctx *c;
    uint32_t f;
    uint32_t rank;            /* of the family */
    int64_t var[5];           /* position of each variable at the representative; -1: none */
    recog_lnode *node;
    size_t n_node, cap_node;
    uint32_t *kid;
    size_t n_kid, cap_kid;
    recog_lcand *cand;
    size_t n_cand, cap_cand;
    int depth;
} recog_lifter;

/* A reader of family f at cell (the representative). */
void recog_lifter_init(recog_lifter *L, recog_ctx *c, uint32_t f, size_t cell);
void recog_lifter_clear(recog_lifter *L);
/* Reads t (a term at the representative) as a matrix expression: the root
 * node, or -1 when t has no such reading. */
int64_t recog_read(recog_lifter *L, term_id t);
/* 1 when t mentions an entry of a family. */
int recog_mentions(recog_ctx *c, term_id t);

/* ---- proposals verified (recognise_build.c) ---- */

/* Proposes operations for family f from its entries and keeps the best one
 * verified (appending its chain to p->ops); f stays MAT_KIND_SCALAR when
 * none is. */
void recog_lift_family(recog_ctx *c, uint32_t f);
/* Families whose entries the representative entry of f mentions, appended
 * to deps (at most cap, distinct); returns how many. */
size_t recog_family_deps(recog_ctx *c, uint32_t f, uint32_t *deps, size_t cap);
/* The representative cells of f (up to 3): entries defined by relations
 * that mention families, chosen with distinct row and column. */
size_t recog_representatives(recog_ctx *c, uint32_t f, size_t *cells);

#endif

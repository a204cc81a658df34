/* mat: the matrix program as data: families of indexed entries (inputs,
 * literals, computed), the operations that compute them, the relations left
 * scalar; built by recognition (rewrite/recognise) or by hand, printed here. */
#ifndef HMP_MAT_H
#define HMP_MAT_H

#include <stddef.h>
#include <stdint.h>
#include <flint/flint.h>

#include "core/strbuf.h"
#include "core/system.h"
#include "core/term.h"

#define MAT_MAX_RANK 3

/* How a family writes its indices (docs/MATRIX.md). */
typedef enum mat_form {
    MAT_FORM_COMPACT,    /* Wq12: digits glued to the base, one per index */
    MAT_FORM_GLUED,      /* x1_2: the first index glued, the others after '_' */
    MAT_FORM_UNDERSCORE, /* x_1_2 */
    MAT_FORM_BRACKET     /* x[1,2] */
} mat_form;

typedef enum mat_kind {
    MAT_KIND_INPUT,   /* no relation defines an entry: free symbols */
    MAT_KIND_LITERAL, /* the defined entries are constants: a matrix literal (those
                         that are not, at most 1 in 8, are its exceptions) */
    MAT_KIND_OP,      /* computed by the operation ops[op] */
    MAT_KIND_SCALAR,  /* entries use other families, but no operation verified */
    MAT_KIND_TEMP     /* an unnamed intermediate of a chain of operations */
} mat_kind;

/* Which entries a family has (positions counted from 0 in its matrix view). */
typedef enum mat_pattern {
    MAT_PATTERN_FULL,  /* every entry */
    MAT_PATTERN_LOWER, /* column <= row only (causal) */
    MAT_PATTERN_SPARSE /* other gaps */
} mat_pattern;

/* A family, or a temporary of a chain. Matrix view: rank 1 is a column
 * vector (n x 1), rank 2 a matrix, rank 3 a batch of matrices (the first
 * index: the head). Cells are row-major over (batch, rows, cols). */
typedef struct mat_family {
    char *name;          /* in the program: "X", "Wq", "T1" */
    char *base;          /* as written: "x", "Wq" (NULL for a temporary) */
    mat_form form;
    uint32_t rank;       /* 1 .. MAT_MAX_RANK */
    uint32_t index_base; /* 0 or 1: the first index as written */
    uint32_t dim[MAT_MAX_RANK];
    uint32_t batch, rows, cols;
    size_t n_cells;
    term_id *entry;      /* per cell: the SYM term of its name, or TERM_NONE (a gap) */
    int32_t *rel;        /* per cell: the relation defining it, or -1 */
    size_t n_present, n_defined;
    mat_pattern pattern;
    mat_kind kind;
    int32_t op;          /* MAT_KIND_OP and MAT_KIND_TEMP: the operation computing it */
    int neginf_upper;    /* entries above the diagonal are -inf literals, claimed by op */
    uint32_t *except;    /* cells whose relation differs from the operation (or is not a
                            constant, in a literal): left scalar, in increasing order */
    size_t n_except;
} mat_family;

typedef enum mat_opcode {
    MAT_OP_MATMUL,          /* out = scale * A * B (each possibly transposed) */
    MAT_OP_SCALE,           /* out = c * A */
    MAT_OP_ADD,             /* out = A + B, elementwise */
    MAT_OP_SUB,             /* out = A - B */
    MAT_OP_MUL,             /* out = A .* B (Hadamard) */
    MAT_OP_ADD_ROW,         /* out = A + b, the vector b added to every row (bias) */
    MAT_OP_ADD_COL,         /* out = A + b, b added to every column */
    MAT_OP_ADD_SCALAR,      /* out = A + c */
    MAT_OP_SOFTMAX_ROWS,    /* out[i,j] = exp(A[i,j]) / sum_k exp(A[i,k]) */
    MAT_OP_MASKED_SOFTMAX_ROWS, /* the sum over k <= i; out[i,j] = 0 for j > i */
    MAT_OP_TRANSPOSE,       /* out = A^T */
    MAT_OP_COPY,            /* out = A */
    MAT_OP_MAP,             /* out = f(A) elementwise: exp, log, tanh, abs; pow: A .^ c */
    MAT_OP_CONCAT_HEADS,    /* out[i, h*D + j] = A[h, i, j] (positions from 0) */
    MAT_OP_COUNT_
} mat_opcode;

/* How an operation reads an argument. */
typedef enum mat_view {
    MAT_VIEW_PLAIN,
    MAT_VIEW_T,   /* transposed */
    MAT_VIEW_ROW, /* a vector used as every row: A[i,j] = v[j] */
    MAT_VIEW_COL  /* a vector used as every column: A[i,j] = v[i] */
} mat_view;

typedef struct mat_op {
    mat_opcode code;
    uint32_t out;          /* index in mats */
    uint32_t n_args;
    uint32_t arg[2];
    uint8_t view[2];       /* mat_view per argument */
    term_id scalar;        /* matmul and scale: the factor; add_scalar: the constant;
                              map pow: the exponent; TERM_NONE: none (a factor 1) */
    uint8_t scale_each;    /* matmul: the entries carry the factor in every product */
    uint8_t lse;           /* softmax: the entries are written exp(a - lse(row)) */
    uint8_t stable;        /* softmax: written exp(a - m) / sum_k exp(a_k - m),
                              m = max(row) (`hmp simplify --stable`) */
    uint8_t fn;            /* map: OP_EXP, OP_LOG, OP_TANH, OP_ABS or OP_POW */
    /* scratch of the predictor (row sums of a softmax) */
    uint32_t cache_b, cache_r;
    term_id cache_t, cache_m;
} mat_op;

/* Why a relation stayed scalar. */
typedef enum mat_reason {
    MAT_REASON_NO_INDEX,    /* its name has no index form */
    MAT_REASON_UNSUPPORTED, /* more than MAT_MAX_RANK indices, or too sparse a family */
    MAT_REASON_AMBIGUOUS,   /* a compact name that decodes in more than one way */
    MAT_REASON_NO_OP,       /* no operation verified for its family */
    MAT_REASON_MISMATCH,    /* its entry differs from the operation of its family */
    MAT_REASON_NOT_CONSTANT /* not a constant, in a family of constants (a literal) */
} mat_reason;

typedef struct mat_scalar {
    uint32_t rel;          /* relation index in the script */
    mat_reason reason;
    int32_t mat;           /* its family, or -1 */
} mat_scalar;

typedef struct mat_program {
    term_store *store;
    const script *scr;     /* NULL for a program built by hand */
    mat_family *mats;      /* families in name order, then temporaries */
    size_t n_mats, cap_mats;
    mat_op *ops;           /* in evaluation order */
    size_t n_ops, cap_ops;
    mat_scalar *scalar;    /* relations left scalar, in script order */
    size_t n_scalar, cap_scalar;
    char **ambiguous;      /* compact names that decode in more than one way */
    size_t n_ambiguous;
    size_t n_relations, n_literal, n_covered; /* relations; entries of literals; of ops */
    uint32_t next_temp;    /* temporaries are named temp_prefix<n> */
    char temp_prefix[8];   /* "T"; "tmp" when the script has names T<n>; "Tmp" when it
                              also has tmp<n> */
} mat_program;

void mat_program_init(mat_program *p, term_store *s);
void mat_program_clear(mat_program *p);

/* ---- cells ---- */

/* Cell of entry (b, r, c) of f: row-major over (batch, rows, cols). */
static inline size_t mat_cell(const mat_family *f, uint32_t b, uint32_t r, uint32_t c)
{
    return ((size_t)b * f->rows + r) * f->cols + c;
}

/* The inverse of mat_cell. */
static inline void mat_cell_pos(const mat_family *f, size_t cell, uint32_t *b, uint32_t *r, uint32_t *c)
{
    *c = (uint32_t)(cell % f->cols);
    cell /= f->cols;
    *r = (uint32_t)(cell % f->rows);
    *b = (uint32_t)(cell / f->rows);
}

/* Position (r, c) at batch b of f read through view (a transposed f, a
 * vector used as every row or column), as f's own batch, row and column in
 * *fb, *fr, *fc; a family of rank below 3 has one batch, used for every b.
 * 1 when that position lies in f, else 0. */
static inline int mat_view_pos(const mat_family *f, mat_view view, uint32_t b, uint32_t r, uint32_t c, uint32_t *fb,
                               uint32_t *fr, uint32_t *fc)
{
    *fb = f->rank == 3 ? b : 0;
    *fr = r;
    *fc = c;
    switch (view) {
    case MAT_VIEW_PLAIN: break;
    case MAT_VIEW_T: *fr = c; *fc = r; break;
    case MAT_VIEW_ROW: *fr = c; *fc = 0; break;
    case MAT_VIEW_COL: *fr = r; *fc = 0; break;
    }
    return *fb < f->batch && *fr < f->rows && *fc < f->cols;
}

/* The cell of that position; SIZE_MAX when it lies outside f. */
static inline size_t mat_view_cell(const mat_family *f, mat_view view, uint32_t b, uint32_t r, uint32_t c)
{
    uint32_t fb, fr, fc;
    return mat_view_pos(f, view, b, r, c, &fb, &fr, &fc) ? mat_cell(f, fb, fr, fc) : SIZE_MAX;
}

/* 1 when cell is one of f's exceptions (f->except is sorted). */
int mat_is_exception(const mat_family *f, size_t cell);
/* Name of a cell in a family's form. */
void mat_format_name(strbuf *out, const mat_family *f, size_t cell);

/* ---- building (recognition and programs built by hand) ---- */

uint32_t mat_push_family(mat_program *p);
uint32_t mat_push_op(mat_program *p, const mat_op *op);
/* A temporary of family f's shape, named T<n>. */
uint32_t mat_push_temp(mat_program *p, uint32_t f);
/* Sets rows, cols, batch and n_cells from rank and dim. */
void mat_set_shape(mat_family *f);
/* 0 when op's arguments fit its output; -1 otherwise. */
int mat_op_check(const mat_program *p, const mat_op *op);

/* ---- programs built by hand (tests, generators) ---- */

/* Adds an input family (free symbols) named base in form, with the given
 * rank and extents, indices from index_base (0 or 1), its entries those of
 * pattern (MAT_PATTERN_LOWER: column <= row). Entry names are interned in
 * p->store. Compact form needs every index below 10. Returns its index. */
uint32_t mat_add_family(mat_program *p, const char *base, mat_form form, uint32_t rank,
                        const uint32_t *dim, uint32_t index_base, mat_pattern pattern);
/* Appends op; out becomes MAT_KIND_OP computed by it. Arguments must be
 * families added before. 0 on success; -1 when the shapes do not fit. */
int mat_add_op(mat_program *p, const mat_op *op);
/* An op with every field cleared (scalar TERM_NONE). */
void mat_op_init(mat_op *op, mat_opcode code, uint32_t out);

/* ---- using a program ---- */

/* The name of the entry at cell (e.g. "x1_2"); NULL for a temporary. The
 * pointer is valid until the next call that interns a name. */
const char *mat_entry_name(const mat_program *p, uint32_t f, size_t cell);

/* Rows and columns of argument i of op as op reads it (after its view: a
 * transposed argument's columns are the rows; a broadcast vector has the
 * output's rows or columns); for matmul, the columns of argument 0 are the
 * summed extent. */
void mat_arg_shape(const mat_program *p, const mat_op *op, uint32_t i, uint32_t *rows, uint32_t *cols);

const char *mat_opcode_name(mat_opcode code);   /* "matmul", "softmax_rows", ... */
const char *mat_reason_text(mat_reason r);
/* The index pattern of a family, e.g. "x{i}_{j}", "Wq{i}{j}", "q_{h}_{i}_{j}". */
void mat_family_form(strbuf *out, const mat_family *f);

/* The program as text: families, inputs, one line per operation
 * (`Q = X * Wq^T`), the relations left scalar. */
void mat_print(strbuf *out, const mat_program *p);
/* One operation as a line of that text, without the newline:
 * "Q = X * Wq^T", "A[h] = softmax_rows(S[h])". */
void mat_print_op(strbuf *out, const mat_program *p, const mat_op *op);
/* One JSON object: ops, scalar_left, families, inputs, scalar, ambiguous. */
void mat_print_json(strbuf *out, const mat_program *p);

/* ---- random programs for property tests (program/mat_randtest.c) ---- */

typedef struct mat_randtest_options {
    uint32_t min_inputs, max_inputs; /* input families (free symbols) */
    uint32_t max_ops;                /* operations aimed for: 1 .. max_ops */
    uint32_t min_dim, max_dim;       /* extents of the inputs */
    int shared_sizes;   /* every input extent one of two sizes drawn per program */
    int any_form;       /* families in random forms and index bases; else x_1_2 from 1 */
    int same_operands;  /* A + A, A .* A allowed (recognition reads them as other ops) */
} mat_randtest_options;

/* Defaults: 2 .. 4 inputs, 1 .. 5 operations, extents 2 .. 4, any form. */
void mat_randtest_options_init(mat_randtest_options *opt);
/* Appends to p (empty, by hand) random input families and operations of
 * every code that fit them (matmul with transposed views, vectors and
 * heads, elementwise, bias rows and columns, scaling, softmax rows plain,
 * lse, stable and masked, transpose, copy, maps, heads side by side), each
 * output a new family; at most 16 families. The same state gives the same
 * program. */
void mat_randtest(mat_program *p, flint_rand_t state, const mat_randtest_options *opt);

#endif

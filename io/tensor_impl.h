/* tensor_impl: what the files of tensor share (functions prefixed tn_):
 * messages, element types, filling a tensor from file bytes, writing values.
 * Not a public API. */
#ifndef HMP_TENSOR_IMPL_H
#define HMP_TENSOR_IMPL_H

#include <stdio.h>

#include "io/tensor.h"

#define NPY_MAGIC "\x93NUMPY"
#define NPY_MAGIC_LEN 6

/* Where a message goes, and the file (or label) it names. */
typedef struct tensor_err {
    char *buf;
    size_t len;
    const char *label;
} tensor_err;

/* Writes "LABEL: " and the message to e; returns -1. */
int tn_fail(const tensor_err *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes from a file shown in a message: printable ASCII as is, the rest as
 * \xNN, at most about 60 characters; returns out. */
const char *tn_shown(char *out, size_t cap, const void *s, size_t n);
/* The same for a string of which only the first stored bytes were kept. */
const char *tn_shown_part(char *out, size_t cap, const char *s, size_t stored, size_t n);
/* A shape as Python writes a tuple: "(2, 3)", "(4,)", "()". */
void tn_shape_text(char *out, size_t cap, const size_t *shape, int ndim);

/* The element types of files: the four formats, 1-byte 0/1 values (bool,
 * or uint8 holding only 0 and 1), and wider integers holding only 0 and 1
 * (int64 masks), read for masks as booleans. */
#define ELEM_BOOL ((int)FP_FORMAT_COUNT)
enum { ELEM_I8 = ELEM_BOOL + 1, ELEM_I16, ELEM_I32, ELEM_I64, ELEM_U16, ELEM_U32, ELEM_U64 };

/* 1 for the element types read as booleans. */
static inline int tn_is_boolean_kind(int kind) { return kind >= ELEM_BOOL && kind <= ELEM_U64; }

static inline int tn_is_digit(int c) { return c >= '0' && c <= '9'; }

/* The bytes of one value of element type kind. */
size_t tn_dtype_size(int kind);
/* The bytes of one value of t as stored. */
size_t tn_elem_size(const tensor *t);
/* The element count of a shape; -1 when the product overflows size_t. */
int tn_shape_count(size_t *count, const size_t *shape, int ndim);
/* Replaces t's contents by count little-endian values of element type kind
 * at data. A 1-byte value other than 0 and 1 is an error (what names the
 * dtype in the message); t is then unchanged. */
int tn_fill(tensor *t, int kind, int ndim, const size_t *shape, size_t count, const unsigned char *data,
            const tensor_err *e, const char *what);

/* Checks that t can be written (what names it in messages): 0 or -1. */
int tn_check(const tensor *t, const tensor_err *e, const char *what);
/* Writes the values of t, each rounded to its dtype, little-endian. */
void tn_write_values(FILE *f, const tensor *t);
/* fopen(path, "wb"), or NULL with a message. */
FILE *tn_create_file(const char *path, const tensor_err *e);
/* Closes f; on a write error removes path (a regular file) and fails. */
int tn_close_file(FILE *f, const char *path, const tensor_err *e);

#endif

/* tensor: arrays in the files other tools write, .npy (1.0, 2.0, 3.0) and
 * safetensors, every value exactly a double (booleans 0 and 1). Readers
 * validate everything and fail with a message, never a crash. */
#ifndef HMP_TENSOR_H
#define HMP_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/fpfmt.h"

#define TENSOR_MAX_DIMS 8

typedef struct tensor {
    fp_format dtype;            /* as stored in the file (FP_F64 when boolean) */
    int boolean;                /* stored as 1-byte 0/1 values: bool or uint8 */
    int ndim;
    size_t shape[TENSOR_MAX_DIMS];
    size_t count;               /* product of shape (1 for ndim 0) */
    double *data;               /* count values, C (row-major) order, exact */
} tensor;

void tensor_init(tensor *t);
void tensor_clear(tensor *t);

/* How a 2-byte unsigned or void dtype ('<u2', '|V2') is read: as bf16 when
 * the user says so (--dtype bf16); otherwise such files are refused.
 * 1-byte arrays (.npy '|b1' and '|u1', safetensors BOOL and U8) are read
 * when allow_bool is set (masks), as 0 and 1 (any other value is an error);
 * otherwise they are refused. */
typedef struct tensor_read_options {
    int u2_as_bf16;
    int allow_bool;
} tensor_read_options;

/* Reads path: a .npy file, or a safetensors file when name is not NULL (the
 * tensor of that name) or the path ends in ".safetensors" (then name must
 * be given unless the file holds exactly one tensor). 0 on success; -1 and a
 * message "PATH: ..." in err otherwise. */
int tensor_read(tensor *t, const char *path, const char *name, const tensor_read_options *opt, char *err, size_t errlen);
/* Same from memory (what tests and fuzzers use); label names it in messages. */
int tensor_read_npy_mem(tensor *t, const unsigned char *buf, size_t len, const tensor_read_options *opt,
                        const char *label, char *err, size_t errlen);
int tensor_read_safetensors_mem(tensor *t, const unsigned char *buf, size_t len, const char *name,
                                const tensor_read_options *opt, const char *label, char *err, size_t errlen);

/* Writes t as .npy (format 1.0, '<f8' '<f4' '<f2', bf16 as '<u2', boolean
 * as '|b1'), each value rounded to dtype (round to nearest even; values are
 * normally exact); a boolean tensor must hold 0 and 1 only. 0 on success,
 * -1 and a message in err. */
int tensor_write_npy(const char *path, const tensor *t, char *err, size_t errlen);
/* Writes named tensors as one safetensors file (F64/F32/F16/BF16, BOOL). */
int tensor_write_safetensors(const char *path, const tensor *const *ts, const char *const *names, size_t n,
                             char *err, size_t errlen);

/* The index (in C order, as "i,j,k") of the first NaN or infinity, written
 * to where; 0 when every value is finite. */
int tensor_first_nonfinite(const tensor *t, char *where, size_t len);

#endif

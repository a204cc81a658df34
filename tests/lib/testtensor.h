/* testtensor: what the tensor suites (test_tensor*.c) share: reference
 * decoding, random tensors, files and directories, numpy as a reference
 * (records), and .npy and safetensors files built byte by byte. */
#ifndef HMP_TESTTENSOR_H
#define HMP_TESTTENSOR_H

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/tensor.h"
#include "tests/lib/testfpfmt.h"
#include "tests/lib/testlib.h"

/* ---- references and fixtures ---- */

/* The value of a pattern of format f (testfpfmt.h's bit-level reference). */
static inline double ref_decode_format(uint64_t bits, fp_format f)
{
    static const int w_of[] = {11, 8, 5, 8}, t_of[] = {52, 23, 10, 7};
    if (f == FP_F64) {
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    return ref_decode(bits, w_of[f], t_of[f]);
}

static inline int width_of(fp_format f) { return f == FP_F64 ? 8 : f == FP_F32 ? 4 : 2; }

/* A random pattern of the format that is not a NaN; one in eight is a
 * special one (zeros, infinities, the smallest subnormal, the largest). */
static inline uint64_t random_bits(test_rng *r, fp_format f)
{
    int bits = 8 * width_of(f);
    uint64_t mask = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1, sign = UINT64_C(1) << (bits - 1);
    uint64_t inf = f == FP_F64 ? 0x7ff0000000000000 : f == FP_F32 ? 0x7f800000 : f == FP_F16 ? 0x7c00 : 0x7f80;
    if (test_randn(r, 8) == 0) {
        uint64_t specials[] = {0, inf, 1, inf - 1};
        return specials[test_randn(r, 4)] | (test_randn(r, 2) ? sign : 0);
    }
    for (;;) {
        uint64_t b = test_rand(r) & mask;
        if ((b & ~sign) <= inf) return b;
    }
}

static inline size_t product(const size_t *shape, int ndim)
{
    size_t c = 1;
    for (int i = 0; i < ndim; i++) c *= shape[i];
    return c;
}

/* t gets the given shape and random exact values; their patterns in bits. */
static inline void make_tensor(tensor *t, fp_format f, int ndim, const size_t *shape, uint64_t **bits, test_rng *r)
{
    tensor_init(t);
    t->dtype = f;
    t->ndim = ndim;
    for (int i = 0; i < ndim; i++) t->shape[i] = shape[i];
    t->count = product(shape, ndim);
    t->data = malloc((t->count ? t->count : 1) * sizeof(double));
    *bits = malloc((t->count ? t->count : 1) * sizeof(uint64_t));
    for (size_t i = 0; i < t->count; i++) {
        (*bits)[i] = random_bits(r, f);
        t->data[i] = ref_decode_format((*bits)[i], f);
    }
}

static inline void same_value(double got, double want, const char *what, size_t i)
{
    if (isnan(want))
        cr_assert(isnan(got), "%s[%zu]: got %a, want NaN", what, i);
    else
        cr_assert(memcmp(&got, &want, sizeof got) == 0, "%s[%zu]: got %a, want %a", what, i, got, want);
}

static inline void same_tensor(const tensor *got, const tensor *want, const char *what)
{
    cr_assert_eq(got->dtype, want->dtype, "%s: dtype", what);
    cr_assert_eq(got->ndim, want->ndim, "%s: ndim", what);
    for (int i = 0; i < want->ndim; i++) cr_assert_eq(got->shape[i], want->shape[i], "%s: shape[%d]", what, i);
    cr_assert_eq(got->count, want->count, "%s: count", what);
    for (size_t i = 0; i < want->count; i++) same_value(got->data[i], want->data[i], what, i);
}

static inline unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert(f, "cannot open %s", path);
    size_t cap = 1 << 12, n = 0;
    unsigned char *buf = malloc(cap);
    for (;;) {
        if (n == cap) buf = realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n, f);
        if (got == 0) break;
        n += got;
    }
    fclose(f);
    *len = n;
    return buf;
}

static inline void spill(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot create %s", path);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static inline void make_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/hmp-tensor-XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp failed");
}

static inline void remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static inline uint64_t le(const unsigned char *p, int w)
{
    uint64_t v = 0;
    for (int k = 0; k < w; k++) v |= (uint64_t)p[k] << (8 * k);
    return v;
}

static const int n_shapes = 8;
static const int shape_ndim[] = {0, 1, 2, 3, 4, 2, 2, 1};
static const size_t shapes[][4] = {{0}, {5}, {3, 4}, {2, 3, 4}, {1, 2, 3, 4}, {0, 3}, {4, 0}, {5000}};

/* A Python with numpy: $HMP_PYTHON, Debian's /usr/bin/python3, then python3
 * on the PATH. Skips the test when there is no Python at all, fails when
 * Python is there without numpy. */
static inline const char *numpy_python(void)
{
    static const char *fixed[] = {"/usr/bin/python3", "python3"};
    const char *cands[3];
    int n = 0, any = 0;
    if (getenv("HMP_PYTHON")) cands[n++] = getenv("HMP_PYTHON");
    for (int i = 0; i < 2; i++) cands[n++] = fixed[i];
    for (int i = 0; i < n; i++) {
        char cmd[512];
        snprintf(cmd, sizeof cmd, "'%s' -c 'import numpy' >/dev/null 2>&1", cands[i]);
        if (system(cmd) == 0) return cands[i];
        snprintf(cmd, sizeof cmd, "'%s' -c 'pass' >/dev/null 2>&1", cands[i]);
        if (system(cmd) == 0) any = 1;
    }
    if (!any) cr_skip_test("python3 is not installed: the numpy interoperability tests need it");
    cr_assert_fail("python3 is installed but numpy is not: install python3-numpy (make deps)");
    return NULL;
}

static inline void run_python(const char *py, const char *dir, const char *script, const char *args)
{
    char path[128], cmd[4096];
    snprintf(path, sizeof path, "%s/script.py", dir);
    spill(path, script, strlen(script));
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' script.py %s > py.log 2>&1", dir, py, args);
    if (system(cmd) != 0) {
        snprintf(path, sizeof path, "%s/py.log", dir);
        size_t len;
        unsigned char *log = slurp(path, &len);
        cr_assert_fail("python failed:\n%.*s", (int)len, log);
    }
}

/* Records "NAME NDIM D0 D1 ... COUNT" then a line of COUNT values in
 * float.hex() form, as the scripts below write them. */
typedef struct record {
    char name[128];
    int ndim;
    size_t shape[TENSOR_MAX_DIMS], count;
    double *v;
} record;

static inline size_t read_records(const char *path, record *out, size_t max)
{
    FILE *f = fopen(path, "r");
    cr_assert(f, "cannot open %s", path);
    char *line = NULL;
    size_t cap = 0, n = 0;
    while (n < max && getline(&line, &cap, f) > 0) {
        record *rc = &out[n++];
        char *save, *tok = strtok_r(line, " \n", &save);
        cr_assert(tok);
        snprintf(rc->name, sizeof rc->name, "%s", tok);
        rc->ndim = atoi(strtok_r(NULL, " \n", &save));
        for (int i = 0; i < rc->ndim; i++) rc->shape[i] = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
        rc->count = strtoull(strtok_r(NULL, " \n", &save), NULL, 10);
        cr_assert(getline(&line, &cap, f) > 0);
        rc->v = malloc((rc->count ? rc->count : 1) * sizeof(double));
        char *p = line;
        for (size_t i = 0; i < rc->count; i++) {
            char *e;
            rc->v[i] = strtod(p, &e);
            cr_assert(e != p, "%s: value %zu", rc->name, i);
            p = e;
        }
    }
    free(line);
    fclose(f);
    return n;
}

static inline void check_record(const tensor *t, const record *rc)
{
    cr_assert_eq(t->ndim, rc->ndim, "%s", rc->name);
    for (int i = 0; i < rc->ndim; i++) cr_assert_eq(t->shape[i], rc->shape[i], "%s", rc->name);
    cr_assert_eq(t->count, rc->count, "%s", rc->name);
    for (size_t i = 0; i < rc->count; i++) same_value(t->data[i], rc->v[i], rc->name, i);
}

/* A .npy file: preamble of the version, the header as given, then data. */
static inline size_t npy_bytes(unsigned char *out, int major, const char *header, size_t data_len)
{
    size_t h = strlen(header), pre = major == 1 ? 10 : 12;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    for (size_t k = 0; k < pre - 8; k++) out[8 + k] = (unsigned char)(h >> (8 * k));
    memcpy(out + pre, header, h);
    for (size_t i = 0; i < data_len; i++) out[pre + h + i] = (unsigned char)(i * 7 + 1);
    return pre + h + data_len;
}

/* Reads a copy of exactly len bytes (so that overreads are seen) and
 * returns the status; the message is checked to name the label. */
static inline int read_npy(tensor *t, const unsigned char *buf, size_t len, const tensor_read_options *opt, char *err,
                    size_t errlen)
{
    unsigned char *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    err[0] = '\0';
    int r = tensor_read_npy_mem(t, copy, len, opt, "in.npy", err, errlen);
    free(copy);
    if (r)
        cr_assert(strncmp(err, "in.npy: ", 8) == 0 && strlen(err) > 8, "%s", err);
    else
        cr_assert_eq(err[0], '\0');
    return r;
}

static inline int read_st(tensor *t, const unsigned char *buf, size_t len, const char *name, const tensor_read_options *opt,
                   char *err, size_t errlen)
{
    unsigned char *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    err[0] = '\0';
    int r = tensor_read_safetensors_mem(t, copy, len, name, opt, "in.st", err, errlen);
    free(copy);
    if (r)
        cr_assert(strncmp(err, "in.st: ", 7) == 0 && strlen(err) > 7, "%s", err);
    else
        cr_assert_eq(err[0], '\0');
    return r;
}

/* A safetensors file: the header as given (padded with spaces to 8), then data. */
static inline size_t st_bytes(unsigned char *out, const char *header, size_t data_len)
{
    size_t h = strlen(header), padded = (h + 7) / 8 * 8;
    for (int k = 0; k < 8; k++) out[k] = (unsigned char)((uint64_t)padded >> (8 * k));
    memcpy(out + 8, header, h);
    memset(out + 8 + h, ' ', padded - h);
    for (size_t i = 0; i < data_len; i++) out[8 + padded + i] = (unsigned char)(i * 5 + 3);
    return 8 + padded + data_len;
}

#endif

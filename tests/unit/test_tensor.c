/* Tests of frontends/tensor: round trips through .npy and safetensors for
 * every dtype, files written and read by numpy itself, boolean (mask)
 * arrays, malformed files and their messages, and a seeded fuzz of both
 * readers. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/tensor.h"
#include "tests/lib/testlib.h"

/* ---- references and fixtures ---- */

/* The value of a pattern with w exponent bits and t fraction bits:
 * (-1)^s * 1.F * 2^(E-bias), or 0.F * 2^(1-bias) when E = 0. */
static double ref_decode(uint64_t bits, fp_format f)
{
    static const int w_of[] = {11, 8, 5, 8}, t_of[] = {52, 23, 10, 7};
    int w = w_of[f], t = t_of[f], bias = (1 << (w - 1)) - 1;
    if (f == FP_F64) {
        double d;
        memcpy(&d, &bits, sizeof d);
        return d;
    }
    uint64_t e = (bits >> t) & ((UINT64_C(1) << w) - 1), frac = bits & ((UINT64_C(1) << t) - 1);
    double v;
    if (e == (UINT64_C(1) << w) - 1)
        v = frac ? NAN : INFINITY;
    else if (e == 0)
        v = ldexp(ldexp((double)frac, -t), 1 - bias);
    else
        v = ldexp(1.0 + ldexp((double)frac, -t), (int)e - bias);
    return (bits >> (w + t)) & 1 ? -v : v;
}

static int width_of(fp_format f) { return f == FP_F64 ? 8 : f == FP_F32 ? 4 : 2; }

/* A random pattern of the format that is not a NaN; one in eight is a
 * special one (zeros, infinities, the smallest subnormal, the largest). */
static uint64_t random_bits(test_rng *r, fp_format f)
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

static size_t product(const size_t *shape, int ndim)
{
    size_t c = 1;
    for (int i = 0; i < ndim; i++) c *= shape[i];
    return c;
}

/* t gets the given shape and random exact values; their patterns in bits. */
static void make_tensor(tensor *t, fp_format f, int ndim, const size_t *shape, uint64_t **bits, test_rng *r)
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
        t->data[i] = ref_decode((*bits)[i], f);
    }
}

static void same_value(double got, double want, const char *what, size_t i)
{
    if (isnan(want))
        cr_assert(isnan(got), "%s[%zu]: got %a, want NaN", what, i);
    else
        cr_assert(memcmp(&got, &want, sizeof got) == 0, "%s[%zu]: got %a, want %a", what, i, got, want);
}

static void same_tensor(const tensor *got, const tensor *want, const char *what)
{
    cr_assert_eq(got->dtype, want->dtype, "%s: dtype", what);
    cr_assert_eq(got->ndim, want->ndim, "%s: ndim", what);
    for (int i = 0; i < want->ndim; i++) cr_assert_eq(got->shape[i], want->shape[i], "%s: shape[%d]", what, i);
    cr_assert_eq(got->count, want->count, "%s: count", what);
    for (size_t i = 0; i < want->count; i++) same_value(got->data[i], want->data[i], what, i);
}

static unsigned char *slurp(const char *path, size_t *len)
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

static void spill(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    cr_assert(f, "cannot create %s", path);
    cr_assert_eq(fwrite(buf, 1, len, f), len);
    cr_assert_eq(fclose(f), 0);
}

static void make_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/hmp-tensor-XXXXXX");
    cr_assert(mkdtemp(dir), "mkdtemp failed");
}

static void remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

static uint64_t le(const unsigned char *p, int w)
{
    uint64_t v = 0;
    for (int k = 0; k < w; k++) v |= (uint64_t)p[k] << (8 * k);
    return v;
}

static const int n_shapes = 8;
static const int shape_ndim[] = {0, 1, 2, 3, 4, 2, 2, 1};
static const size_t shapes[][4] = {{0}, {5}, {3, 4}, {2, 3, 4}, {1, 2, 3, 4}, {0, 3}, {4, 0}, {5000}};

/* ---- round trips ---- */

Test(tensor, npy_round_trip)
{
    char dir[64], path[128], err[512];
    make_dir(dir, sizeof dir);
    test_rng r = {1};
    static const char *descr[] = {"<f8", "<f4", "<f2", "<u2"};
    tensor_read_options bf = {.u2_as_bf16 = 1};
    for (int f = 0; f < FP_FORMAT_COUNT; f++)
        for (int s = 0; s < n_shapes; s++) {
            tensor t, back;
            uint64_t *bits;
            make_tensor(&t, (fp_format)f, shape_ndim[s], shapes[s], &bits, &r);
            snprintf(path, sizeof path, "%s/t%d_%d.npy", dir, f, s);
            cr_assert_eq(tensor_write_npy(path, &t, err, sizeof err), 0, "%s", err);

            /* the bytes: magic, version 1.0, header padded to 64, data little-endian */
            size_t len;
            unsigned char *buf = slurp(path, &len);
            cr_assert(len >= 10 && memcmp(buf, "\x93NUMPY\x01\x00", 8) == 0);
            size_t hlen = buf[8] | (size_t)buf[9] << 8, w = (size_t)width_of((fp_format)f);
            cr_assert_eq((10 + hlen) % 64, 0);
            cr_assert_eq(buf[10 + hlen - 1], '\n');
            char want[160], dims[100] = "";
            for (int i = 0; i < shape_ndim[s]; i++)
                snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%s%zu", i ? ", " : "", shapes[s][i]);
            snprintf(want, sizeof want, "{'descr': '%s', 'fortran_order': False, 'shape': (%s%s), }", descr[f], dims,
                     shape_ndim[s] == 1 ? "," : "");
            cr_assert(memcmp(buf + 10, want, strlen(want)) == 0, "header %.*s", (int)hlen, buf + 10);
            for (size_t i = 10 + strlen(want); i < 10 + hlen - 1; i++) cr_assert_eq(buf[i], ' ');
            cr_assert_eq(len, 10 + hlen + t.count * w);
            for (size_t i = 0; i < t.count; i++)
                cr_assert_eq(le(buf + 10 + hlen + i * w, (int)w), bits[i], "value %zu", i);
            free(buf);

            tensor_init(&back);
            cr_assert_eq(tensor_read(&back, path, NULL, f == FP_BF16 ? &bf : NULL, err, sizeof err), 0, "%s", err);
            same_tensor(&back, &t, path);
            /* a second read replaces the contents */
            cr_assert_eq(tensor_read(&back, path, NULL, &bf, err, sizeof err), 0, "%s", err);
            same_tensor(&back, &t, path);
            tensor_clear(&back);
            tensor_clear(&t);
            free(bits);
        }
    remove_dir(dir);
}

Test(tensor, npy_header_as_numpy_writes_it)
{
    char dir[64], path[128], err[256];
    make_dir(dir, sizeof dir);
    tensor t;
    tensor_init(&t);
    t.dtype = FP_F32;
    t.ndim = 2;
    t.shape[0] = 3;
    t.shape[1] = 4;
    t.count = 12;
    t.data = calloc(12, sizeof(double));
    snprintf(path, sizeof path, "%s/a.npy", dir);
    cr_assert_eq(tensor_write_npy(path, &t, err, sizeof err), 0, "%s", err);
    size_t len;
    unsigned char *buf = slurp(path, &len);
    /* 59 characters of dict, 20 spaces of room to grow, 38 to align, '\n' */
    char want[256];
    snprintf(want, sizeof want,
             "\x93NUMPY\x01%c\x76%c{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }%58s\n", 0, 0, "");
    cr_assert_eq(len, 128 + 48);
    cr_assert(memcmp(buf, want, 128) == 0, "%.*s", 128, buf);
    free(buf);
    tensor_clear(&t);
    remove_dir(dir);
}

Test(tensor, safetensors_round_trip)
{
    char dir[64], path[128], err[512];
    make_dir(dir, sizeof dir);
    test_rng r = {2};
    static const char *dtypes[] = {"F64", "F32", "F16", "BF16"};
    tensor ts[FP_FORMAT_COUNT * 8];
    const tensor *tp[FP_FORMAT_COUNT * 8];
    uint64_t *bits[FP_FORMAT_COUNT * 8];
    char names[FP_FORMAT_COUNT * 8][40];
    const char *np[FP_FORMAT_COUNT * 8];
    int n = 0;
    for (int f = 0; f < FP_FORMAT_COUNT; f++)
        for (int s = 0; s < n_shapes; s++, n++) {
            make_tensor(&ts[n], (fp_format)f, shape_ndim[s], shapes[s], &bits[n], &r);
            tp[n] = &ts[n];
            /* names given out of order; "z.n" sorts after "a.n" */
            snprintf(names[n], sizeof names[n], "%c.%d.%s", n % 2 ? 'a' : 'z', n, dtypes[f]);
            np[n] = names[n];
        }
    snprintf(path, sizeof path, "%s/all.safetensors", dir);
    cr_assert_eq(tensor_write_safetensors(path, tp, np, (size_t)n, err, sizeof err), 0, "%s", err);

    size_t len;
    unsigned char *buf = slurp(path, &len);
    uint64_t hsize = le(buf, 8);
    cr_assert_eq(hsize % 8, 0);
    cr_assert_leq(8 + hsize, len);
    char *header = strndup((char *)buf + 8, hsize);
    for (int i = 0; i < n; i++) {
        char entry[200], dims[100] = "";
        for (int k = 0; k < ts[i].ndim; k++)
            snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%s%zu", k ? "," : "", ts[i].shape[k]);
        snprintf(entry, sizeof entry, "\"%.39s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[", names[i],
                 dtypes[ts[i].dtype], dims);
        const char *at = strstr(header, entry);
        cr_assert(at, "%s not in %s", entry, header);
        unsigned long long b, e;
        cr_assert_eq(sscanf(at + strlen(entry), "%llu,%llu]", &b, &e), 2);
        size_t w = (size_t)width_of(ts[i].dtype);
        cr_assert_eq(e - b, ts[i].count * w);
        for (size_t k = 0; k < ts[i].count; k++) cr_assert_eq(le(buf + 8 + hsize + b + k * w, (int)w), bits[i][k]);
    }
    cr_assert(strstr(header, "\"a.1.F64\"") < strstr(header, "\"a.11.F32\""));
    cr_assert(strstr(header, "\"a.31.BF16\"") < strstr(header, "\"z.0.F64\""));
    free(header);
    free(buf);

    tensor_read_options bf = {.u2_as_bf16 = 1};
    for (int i = 0; i < n; i++) {
        tensor back;
        tensor_init(&back);
        cr_assert_eq(tensor_read(&back, path, names[i], &bf, err, sizeof err), 0, "%s", err);
        same_tensor(&back, &ts[i], names[i]);
        tensor_clear(&back);
        /* BF16 is its own dtype in safetensors: no option needed */
        tensor_init(&back);
        cr_assert_eq(tensor_read(&back, path, names[i], NULL, err, sizeof err), 0, "%s", err);
        tensor_clear(&back);
    }
    for (int i = 0; i < n; i++) {
        tensor_clear(&ts[i]);
        free(bits[i]);
    }
    remove_dir(dir);
}

/* Writing rounds to nearest, ties to even, with overflow to infinity. */
Test(tensor, write_rounds_to_nearest_even)
{
    static const struct {
        fp_format f;
        double x;
        uint64_t bits;
    } cases[] = {
        {FP_F16, 1 + 0x1p-11, 0x3c00},
        {FP_F16, 1 + 0x3p-11, 0x3c02},
        {FP_F16, -(1 + 0x3p-11), 0xbc02},
        {FP_F16, 1 + 0x1.0001p-11, 0x3c01},
        {FP_F16, 65519, 0x7bff},
        {FP_F16, 65520, 0x7c00},
        {FP_F16, 0x1p-25, 0x0000},
        {FP_F16, 0x3p-25, 0x0002},
        {FP_F16, 0.1, 0x2e66},
        {FP_BF16, 1 + 0x1p-8, 0x3f80},
        {FP_BF16, 1 + 0x3p-8, 0x3f82},
        {FP_BF16, 0.1, 0x3dcd},
        {FP_BF16, 0x1.ffp127, 0x7f80},
        {FP_F32, 1 + 0x1p-24, 0x3f800000},
        {FP_F32, 1 + 0x3p-24, 0x3f800002},
        {FP_F32, 0.1, 0x3dcccccd},
        {FP_F32, 0x1p-150, 0},
        {FP_F32, 0x1.8p-150, 1},
        {FP_F64, 0.1, 0x3fb999999999999a},
    };
    size_t n = sizeof cases / sizeof cases[0];
    char dir[64], path[128], err[256];
    make_dir(dir, sizeof dir);
    tensor_read_options bf = {.u2_as_bf16 = 1};
    for (int kind = 0; kind < 2; kind++)
        for (size_t i = 0; i < n; i++) {
            tensor t, back;
            size_t shape[1] = {3};
            tensor_init(&t);
            t.dtype = cases[i].f;
            t.ndim = 1;
            t.shape[0] = 3;
            t.count = product(shape, 1);
            t.data = malloc(3 * sizeof(double));
            t.data[0] = cases[i].x;
            t.data[1] = NAN;
            t.data[2] = -cases[i].x;
            snprintf(path, sizeof path, kind ? "%s/r.safetensors" : "%s/r.npy", dir);
            const tensor *tp = &t;
            const char *name = "x";
            if (kind)
                cr_assert_eq(tensor_write_safetensors(path, &tp, &name, 1, err, sizeof err), 0, "%s", err);
            else
                cr_assert_eq(tensor_write_npy(path, &t, err, sizeof err), 0, "%s", err);
            size_t len;
            unsigned char *buf = slurp(path, &len);
            int w = width_of(cases[i].f);
            uint64_t sign = UINT64_C(1) << (8 * w - 1);
            cr_assert_eq(le(buf + len - 3 * (size_t)w, w), cases[i].bits, "case %zu: %a", i, cases[i].x);
            cr_assert_eq(le(buf + len - (size_t)w, w), cases[i].bits ^ sign, "case %zu", i);
            cr_assert(isnan(ref_decode(le(buf + len - 2 * (size_t)w, w), cases[i].f)));
            free(buf);
            tensor_init(&back);
            cr_assert_eq(tensor_read(&back, path, NULL, &bf, err, sizeof err), 0, "%s", err);
            same_value(back.data[0], ref_decode(cases[i].bits, cases[i].f), path, 0);
            cr_assert(isnan(back.data[1]));
            same_value(back.data[2], -ref_decode(cases[i].bits, cases[i].f), path, 2);
            tensor_clear(&back);
            tensor_clear(&t);
        }
    remove_dir(dir);
}

Test(tensor, writers_refuse_bad_tensors)
{
    char dir[64], path[128], err[256];
    make_dir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/w.npy", dir);
    double v[6] = {0};
    tensor t;
    tensor_init(&t);
    t.ndim = 2;
    t.shape[0] = 2;
    t.shape[1] = 3;
    t.count = 5;
    t.data = v;
    cr_assert_eq(tensor_write_npy(path, &t, err, sizeof err), -1);
    cr_assert(strstr(err, "disagree"), "%s", err);
    t.count = 6;
    t.ndim = 9;
    cr_assert_eq(tensor_write_npy(path, &t, err, sizeof err), -1);
    t.ndim = 2;
    const tensor *tp[2] = {&t, &t};
    const char *names[2] = {"a", "a"};
    cr_assert_eq(tensor_write_safetensors(path, tp, names, 2, err, sizeof err), -1);
    cr_assert(strstr(err, "'a' appears twice"), "%s", err);
    names[1] = "__metadata__";
    cr_assert_eq(tensor_write_safetensors(path, tp, names, 2, err, sizeof err), -1);
    cr_assert(strstr(err, "__metadata__"), "%s", err);
    names[1] = NULL;
    cr_assert_eq(tensor_write_safetensors(path, tp, names, 2, err, sizeof err), -1);
    snprintf(path, sizeof path, "%s/no/such/dir.npy", dir);
    cr_assert_eq(tensor_write_npy(path, &t, err, sizeof err), -1);
    cr_assert(strstr(err, "cannot create"), "%s", err);
    cr_assert(strncmp(err, path, strlen(path)) == 0, "%s", err);
    /* a full device: the error is reported and the device left alone */
    struct stat st;
    if (stat("/dev/full", &st) == 0 && access("/dev/full", W_OK) == 0) {
        cr_assert_eq(tensor_write_npy("/dev/full", &t, err, sizeof err), -1);
        cr_assert(strstr(err, "/dev/full: write error"), "%s", err);
        cr_assert_eq(tensor_write_safetensors("/dev/full", tp, names, 1, err, sizeof err), -1);
        cr_assert(strstr(err, "/dev/full: write error"), "%s", err);
        cr_assert_eq(stat("/dev/full", &st), 0);
        cr_assert(S_ISCHR(st.st_mode));
    }
    /* a file with no tensors is valid */
    snprintf(path, sizeof path, "%s/none.safetensors", dir);
    cr_assert_eq(tensor_write_safetensors(path, NULL, NULL, 0, err, sizeof err), 0, "%s", err);
    tensor back;
    tensor_init(&back);
    cr_assert_eq(tensor_read(&back, path, NULL, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "holds no tensors"), "%s", err);
    remove_dir(dir);
}

/* ---- files numpy writes, and numpy reading ours ---- */

/* A Python with numpy: $HMP_PYTHON, Debian's /usr/bin/python3, then python3
 * on the PATH. Skips the test when there is no Python at all, fails when
 * Python is there without numpy. */
static const char *numpy_python(void)
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

static void run_python(const char *py, const char *dir, const char *script, const char *args)
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

static size_t read_records(const char *path, record *out, size_t max)
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

static void check_record(const tensor *t, const record *rc)
{
    cr_assert_eq(t->ndim, rc->ndim, "%s", rc->name);
    for (int i = 0; i < rc->ndim; i++) cr_assert_eq(t->shape[i], rc->shape[i], "%s", rc->name);
    cr_assert_eq(t->count, rc->count, "%s", rc->name);
    for (size_t i = 0; i < rc->count; i++) same_value(t->data[i], rc->v[i], rc->name, i);
}

static const char numpy_writes[] =
    "import numpy as np\n"
    "rng = np.random.default_rng(20240501)\n"
    "out = open('values.txt', 'w')\n"
    "def rec(name, a, vals=None):\n"
    "    v = np.ascontiguousarray(a if vals is None else vals).reshape(-1)\n"
    "    out.write('%s %d %s %d\\n' % (name, a.ndim, ' '.join(str(d) for d in a.shape), v.size))\n"
    "    out.write(' '.join(float(x).hex() for x in v) + '\\n')\n"
    "def sample(shape, dt):\n"
    "    a = np.asarray(rng.standard_normal(shape) * 10.0 ** rng.integers(-3, 4, size=shape)).astype(dt)\n"
    "    if a.size >= 5:\n"
    "        f = a.reshape(-1)\n"
    "        f[0] = np.inf; f[1] = -0.0; f[2] = -np.inf; f[4] = np.nan\n"
    "    return a\n"
    "shapes = [(), (5,), (3, 4), (2, 3, 4), (1, 2, 3, 4), (0, 3), (2, 1, 1, 1, 1, 1, 1, 3)]\n"
    "for ver in [(1, 0), (2, 0), (3, 0)]:\n"
    "    for dt in ['f8', 'f4', 'f2']:\n"
    "        for k, s in enumerate(shapes):\n"
    "            a = sample(s, '<' + dt)\n"
    "            name = 'v%d_%s_%d.npy' % (ver[0], dt, k)\n"
    "            with open(name, 'wb') as f:\n"
    "                np.lib.format.write_array(f, a, version=ver)\n"
    "            rec(name, a)\n"
    "a = sample((3, 4), '<f4'); np.save('save_f4.npy', a); rec('save_f4.npy', a)\n"
    "a = rng.standard_normal(100000).astype('<f2'); np.save('big_f2.npy', a); rec('big_f2.npy', a)\n"
    "a = np.arange(24.0).reshape(4, 6)[:, ::2]; np.save('strided.npy', a); rec('strided.npy', a)\n"
    "x = (rng.standard_normal((4, 5)) * 100).astype('<f4')\n"
    "u = x.view(np.uint32)\n"
    "b = ((u + 0x7fff + ((u >> 16) & 1)) >> 16).astype('<u2')\n"
    "np.save('bf16.npy', b); rec('bf16.npy', b, (b.astype(np.uint32) << np.uint32(16)).view(np.float32))\n"
    "np.save('v2.npy', b.view('V2')); rec('v2.npy', b, (b.astype(np.uint32) << np.uint32(16)).view(np.float32))\n"
    "np.save('be_f4.npy', sample((3,), '>f4'))\n"
    "np.save('fortran.npy', np.asfortranarray(np.arange(12.0).reshape(3, 4)))\n"
    "np.save('transposed.npy', np.arange(12.0).reshape(3, 4).T)\n"
    "np.save('i4.npy', np.arange(6, dtype='<i4'))\n"
    "np.save('c16.npy', np.zeros(3, dtype=complex))\n"
    "np.save('b1.npy', np.zeros(3, dtype=bool))\n"
    "np.save('obj.npy', np.array([1, 'a', None], dtype=object), allow_pickle=True)\n"
    "np.save('rec.npy', np.zeros(3, dtype=[('x', '<f4'), ('y', '<i4')]))\n"
    "np.save('dim9.npy', np.zeros((1,) * 9))\n";

Test(tensor, reads_what_numpy_writes)
{
    const char *py = numpy_python();
    char dir[64], path[256], err[512];
    make_dir(dir, sizeof dir);
    run_python(py, dir, numpy_writes, "");
    static record recs[200];
    snprintf(path, sizeof path, "%s/values.txt", dir);
    size_t n = read_records(path, recs, 200);
    cr_assert_eq(n, 3 * 3 * 7 + 5);
    tensor_read_options bf = {.u2_as_bf16 = 1};
    for (size_t i = 0; i < n; i++) {
        tensor t;
        tensor_init(&t);
        snprintf(path, sizeof path, "%s/%.127s", dir, recs[i].name);
        int is_bf16 = strcmp(recs[i].name, "bf16.npy") == 0 || strcmp(recs[i].name, "v2.npy") == 0;
        cr_assert_eq(tensor_read(&t, path, NULL, is_bf16 ? &bf : NULL, err, sizeof err), 0, "%s", err);
        check_record(&t, &recs[i]);
        fp_format want = is_bf16                                                                  ? FP_BF16
                         : strstr(recs[i].name, "f8") || strcmp(recs[i].name, "strided.npy") == 0 ? FP_F64
                         : strstr(recs[i].name, "f4")                                             ? FP_F32
                                                                                                  : FP_F16;
        cr_assert_eq(t.dtype, want, "%s", recs[i].name);
        tensor_clear(&t);
        free(recs[i].v);
    }
    static const struct {
        const char *file, *message;
    } refused[] = {
        {"be_f4.npy", "dtype '>f4' is big-endian"},
        {"fortran.npy", "Fortran order is not supported; write it with np.ascontiguousarray"},
        {"transposed.npy", "Fortran order"},
        {"i4.npy", "dtype '<i4' is not supported"},
        {"c16.npy", "dtype '<c16' is not supported"},
        {"b1.npy", "dtype '|b1' is not supported"},
        {"obj.npy", "object arrays (dtype '|O')"},
        {"rec.npy", "structured dtypes"},
        {"bf16.npy", "dtype '<u2' holds 2-byte integers: give --dtype bf16 if this is bfloat16"},
        {"v2.npy", "dtype '|V2' holds 2-byte raw values: give --dtype bf16 if this is bfloat16"},
        {"dim9.npy", "9 dimensions"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        tensor t;
        tensor_init(&t);
        snprintf(path, sizeof path, "%s/%s", dir, refused[i].file);
        cr_assert_eq(tensor_read(&t, path, NULL, NULL, err, sizeof err), -1, "%s", refused[i].file);
        cr_assert(strstr(err, refused[i].message), "%s: %s", refused[i].file, err);
        cr_assert(strncmp(err, path, strlen(path)) == 0 && strncmp(err + strlen(path), ": ", 2) == 0, "%s", err);
        tensor_clear(&t);
    }
    remove_dir(dir);
}

static const char numpy_reads[] =
    "import sys, json, struct, numpy as np\n"
    "out = open('loaded.txt', 'w')\n"
    "def rec(name, a, vals):\n"
    "    v = np.ascontiguousarray(vals).reshape(-1)\n"
    "    out.write('%s %d %s %d\\n' % (name, a.ndim, ' '.join(str(d) for d in a.shape), v.size))\n"
    "    out.write(' '.join(float(x).hex() for x in v) + '\\n')\n"
    "def widen(a):\n"
    "    return (a.astype(np.uint32) << np.uint32(16)).reshape(-1).view(np.float32) if a.dtype == np.uint16 else a\n"
    "for name in sys.argv[1:]:\n"
    "    if name.endswith('.npy'):\n"
    "        a = np.load(name)\n"
    "        rec(name, a, widen(a))\n"
    "        np.save('np_' + name, a)\n"
    "        continue\n"
    "    raw = open(name, 'rb').read()\n"
    "    n = struct.unpack('<Q', raw[:8])[0]\n"
    "    assert (8 + n) % 8 == 0\n"
    "    meta = json.loads(raw[8:8 + n].decode('utf-8'))\n"
    "    assert list(meta) == sorted(meta)\n"
    "    types = {'F64': '<f8', 'F32': '<f4', 'F16': '<f2', 'BF16': '<u2'}\n"
    "    for k, info in meta.items():\n"
    "        b, e = info['data_offsets']\n"
    "        a = np.frombuffer(raw[8 + n + b:8 + n + e], dtype=types[info['dtype']]).reshape(info['shape'])\n"
    "        rec(k, a, widen(a))\n";

Test(tensor, numpy_reads_what_we_write)
{
    const char *py = numpy_python();
    char dir[64], path[256], err[512], args[2048] = "";
    make_dir(dir, sizeof dir);
    test_rng r = {3};
    tensor ts[FP_FORMAT_COUNT * 8];
    const tensor *tp[FP_FORMAT_COUNT * 8];
    uint64_t *bits[FP_FORMAT_COUNT * 8];
    char names[FP_FORMAT_COUNT * 8][40];
    const char *np[FP_FORMAT_COUNT * 8];
    int n = 0;
    for (int f = 0; f < FP_FORMAT_COUNT; f++)
        for (int s = 0; s < n_shapes; s++, n++) {
            make_tensor(&ts[n], (fp_format)f, shape_ndim[s], shapes[s], &bits[n], &r);
            tp[n] = &ts[n];
            snprintf(names[n], sizeof names[n], "ours_%d_%d.npy", f, s);
            np[n] = names[n];
            snprintf(path, sizeof path, "%s/%.39s", dir, names[n]);
            cr_assert_eq(tensor_write_npy(path, &ts[n], err, sizeof err), 0, "%s", err);
            snprintf(args + strlen(args), sizeof args - strlen(args), "%s ", names[n]);
        }
    snprintf(path, sizeof path, "%s/ours.safetensors", dir);
    cr_assert_eq(tensor_write_safetensors(path, tp, np, (size_t)n, err, sizeof err), 0, "%s", err);
    snprintf(args + strlen(args), sizeof args - strlen(args), "ours.safetensors");
    run_python(py, dir, numpy_reads, args);

    static record recs[100];
    snprintf(path, sizeof path, "%s/loaded.txt", dir);
    size_t m = read_records(path, recs, 100);
    cr_assert_eq(m, 2 * (size_t)n);
    int seen[FP_FORMAT_COUNT * 8] = {0};
    for (size_t i = 0; i < m; i++) {
        int k = 0;
        while (k < n && strcmp(names[k], recs[i].name) != 0) k++;
        cr_assert_lt(k, n, "%s", recs[i].name);
        seen[k]++;
        check_record(&ts[k], &recs[i]);
        free(recs[i].v);
    }
    for (int k = 0; k < n; k++) {
        cr_assert_eq(seen[k], 2, "%s", names[k]);
        /* np.save of what np.load read gives the same bytes */
        size_t la, lb;
        snprintf(path, sizeof path, "%s/%.39s", dir, names[k]);
        unsigned char *a = slurp(path, &la);
        snprintf(path, sizeof path, "%s/np_%.39s", dir, names[k]);
        unsigned char *b = slurp(path, &lb);
        cr_assert(la == lb && memcmp(a, b, la) == 0, "%s differs from numpy's own file", names[k]);
        free(a);
        free(b);
        tensor_clear(&ts[k]);
        free(bits[k]);
    }
    remove_dir(dir);
}

/* ---- malformed input ---- */

/* A .npy file: preamble of the version, the header as given, then data. */
static size_t npy_bytes(unsigned char *out, int major, const char *header, size_t data_len)
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
static int read_npy(tensor *t, const unsigned char *buf, size_t len, const tensor_read_options *opt, char *err,
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

static int read_st(tensor *t, const unsigned char *buf, size_t len, const char *name, const tensor_read_options *opt,
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

Test(tensor, npy_malformed)
{
    static const struct {
        int major;
        const char *header;
        long data; /* bytes of data; -1: the raw header only */
        const char *message;
    } cases[] = {
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 47,
         "data too short: shape (3, 4) of '<f4' needs 48 bytes, the file holds 47"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }", 52, "4 trailing bytes"},
        {1, "[1, 2]", 0, "not a dict"},
        {1, "", 0, "not a dict"},
        {1, "{'descr': '<f4', 'fortran_order': False}", 0, "no 'shape'"},
        {1, "{'shape': (), 'fortran_order': False}", 0, "no 'descr'"},
        {1, "{'descr': '<f4', 'shape': ()}", 0, "no 'fortran_order'"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'foo': 1}", 0, "unexpected key 'foo'"},
        {1, "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}", 0, "'descr' appears twice"},
        {1, "{'descr': '<i8', 'fortran_order': False, 'shape': ()}", 8, "dtype '<i8' is not supported"},
        {1, "{'descr': '>f8', 'fortran_order': False, 'shape': ()}", 8, "dtype '>f8' is big-endian"},
        {1, "{'descr': '|f2', 'fortran_order': False, 'shape': ()}", 2, "dtype '|f2' is not supported"},
        {1, "{'descr': '<f4\\x01', 'fortran_order': False, 'shape': ()}", 4, "backslash in a string"},
        {1, "{'descr': '<f4\x01', 'fortran_order': False, 'shape': ()}", 4, "dtype '<f4\\x01' is not supported"},
        {1, "{'descr': 3, 'fortran_order': False, 'shape': ()}", 0, "'descr' in the .npy header is not a string"},
        {1,
         "{'descr': '<f4abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'fortran_order': False, "
         "'shape': ()}",
         0, "dtype '<f4abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH...' is not supported"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'a_very_long_key_that_goes_on_and_on': 1}", 0,
         "unexpected key 'a_very_long_key_that_goes_on_an...'"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), 'a\x01': 1}", 0, "unexpected key 'a\\x01'"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), '\x93': 1}", 0, "unexpected key '\\x93'"},
        {1, "{'descr': [('x', '<f4')], 'fortran_order': False, 'shape': ()}", 0, "structured dtypes"},
        {1, "{'descr': '<u2', 'fortran_order': False, 'shape': ()}", 2, "give --dtype bf16 if this is bfloat16"},
        {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2)}", 16, "Fortran order is not supported"},
        {1, "{'descr': '<f4', 'fortran_order': 1, 'shape': ()}", 4, "not True or False"},
        {1, "{'descr': '<f4', 'fortran_order': Falsey, 'shape': ()}", 4, "not True or False"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3)}", 0, "negative dimension"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3.0,)}", 0, "other than integers"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 'a')}", 0, "other than integers"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (5)}", 20, "not a tuple: (5) needs a comma"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': [5]}", 20, "not a tuple"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (,)}", 0, "other than integers"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776)}", 0,
         "shape (1099511627776, 1099511627776) has too many elements"},
        {1, "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,)}", 0, "too many elements"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,)}", 0, "dimension too large"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1)}", 4,
         "9 dimensions: at most 8"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (05,)}", 20, "leading zero"},
        {3, "{'descr': '<f4', 'fortran_order': False, 'shape': (5L,)}", 20, "other than integers"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': ()} x", 4, "unexpected text after the .npy header dict"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': ()", 4, "expected ',' or '}'"},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (),", 4, "not closed"},
        {1, "{'descr': '<f4", 4, "unterminated string"},
        {1, "{'descr' '<f4', 'fortran_order': False, 'shape': ()}", 4, "expected ':'"},
        {1, "{descr: '<f4', 'fortran_order': False, 'shape': ()}", 4, "bad key"},
        {1, "{'descr': '<f4',, 'fortran_order': False, 'shape': ()}", 4, "bad key"},
    };
    unsigned char buf[512];
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor t;
        tensor_init(&t);
        size_t len = npy_bytes(buf, cases[i].major, cases[i].header, (size_t)cases[i].data);
        cr_assert_eq(read_npy(&t, buf, len, NULL, err, sizeof err), -1, "case %zu accepted", i);
        cr_assert(strstr(err, cases[i].message), "case %zu: %s", i, err);
        cr_assert_eq(t.data, NULL);
    }

    /* the preamble */
    static const struct {
        const char *bytes;
        size_t len;
        const char *message;
    } raw[] = {
        {"", 0, "empty file"},
        {"\x93NUM", 4, "truncated .npy file (4 bytes)"},
        {"\x93NUMPY\x01", 7, "truncated"},
        {"\x93NUMPY\x01\x00\x10", 9, "truncated"},
        {"\x93NUMPY\x02\x00\x10\x00\x00", 11, "truncated"},
        {"NUMPY\x01\x00\x00\x00", 9, "not a .npy file"},
        {"\x93numpy\x01\x00\x00\x00", 10, "not a .npy file"},
        {"\x93NUMPY\x04\x00\x00\x00", 10, "unsupported .npy format version 4.0"},
        {"\x93NUMPY\x01\x01\x00\x00", 10, "unsupported .npy format version 1.1"},
        {"\x93NUMPY\x00\x00\x00\x00", 10, "version 0.0"},
        {"\x93NUMPY\x01\x00\xc8\x00{'descr'", 18,
         "the .npy header length 200 runs past the end of the file (18 bytes)"},
        {"\x93NUMPY\x02\x00\x00\x00\x00\x80{}", 14, "the .npy header length 2147483648 runs past the end"},
        {"\x93NUMPY\x03\x00\xff\xff\xff\xff{}", 14, "runs past the end"},
        {"\x93NUMPY\x01\x00\x00\x00", 10, "not a dict"},
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        tensor t;
        tensor_init(&t);
        cr_assert_eq(read_npy(&t, (const unsigned char *)raw[i].bytes, raw[i].len, NULL, err, sizeof err), -1);
        cr_assert(strstr(err, raw[i].message), "raw case %zu: %s", i, err);
    }
    /* a message is cut to the room given, and no room is fine */
    cr_assert_eq(tensor_read_npy_mem(&(tensor){0}, (const unsigned char *)"x", 1, NULL, "in.npy", err, 5), -1);
    cr_assert_str_eq(err, "in.n");
    cr_assert_eq(tensor_read_npy_mem(&(tensor){0}, (const unsigned char *)"x", 1, NULL, "in.npy", NULL, 0), -1);
}

/* What numpy and other writers may put in a header, all accepted. */
Test(tensor, npy_header_variants)
{
    static const struct {
        int major;
        const char *header;
        int ndim;
        size_t shape[3];
    } cases[] = {
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }        \n", 2, {3, 4}},
        {1, "{\"shape\": (3, 4), \"descr\": \"<f4\", \"fortran_order\": False}", 2, {3, 4}},
        {2, "{'fortran_order':False,'shape':(3,4,),'descr':'<f4'}\n", 2, {3, 4}},
        {3, "{ 'descr' : '=f4' ,\n 'fortran_order' : False , 'shape' : ( 12 , ) }", 1, {12}},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }", 2, {3, 4}},
        {1, "{'descr': '<f4', 'fortran_order': True, 'shape': (12,), }", -1, {0}}, /* refused all the same */
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 0, 3), }", 3, {2, 0, 3}},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0,), }", 1, {0}},
        {1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", 0, {0}},
    };
    unsigned char buf[512];
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor t;
        tensor_init(&t);
        size_t count = cases[i].ndim < 0 ? 12 : product(cases[i].shape, cases[i].ndim);
        size_t len = npy_bytes(buf, cases[i].major, cases[i].header, 4 * count);
        int r = read_npy(&t, buf, len, NULL, err, sizeof err);
        if (cases[i].ndim < 0) {
            cr_assert_eq(r, -1);
            continue;
        }
        cr_assert_eq(r, 0, "case %zu: %s", i, err);
        cr_assert_eq(t.dtype, FP_F32);
        cr_assert_eq(t.ndim, cases[i].ndim);
        for (int k = 0; k < t.ndim; k++) cr_assert_eq(t.shape[k], cases[i].shape[k]);
        cr_assert_eq(t.count, count);
        /* the data bytes (i*7+1): value k is the f32 of bytes 28k+1, 28k+8, 28k+15, 28k+22 */
        for (size_t k = 0; k < count; k++) {
            uint32_t b = 0;
            for (int j = 0; j < 4; j++) b |= (uint32_t)(unsigned char)((4 * k + (size_t)j) * 7 + 1) << (8 * j);
            float want;
            memcpy(&want, &b, 4);
            same_value(t.data[k], want, "variant", k);
        }
        tensor_clear(&t);
    }

    /* bf16 as '<u2', '|V2', '<V2' with the option */
    tensor_read_options bf = {.u2_as_bf16 = 1};
    const char *bf_headers[] = {"{'descr': '<u2', 'fortran_order': False, 'shape': (4,), }",
                                "{'descr': '|V2', 'fortran_order': False, 'shape': (4,), }",
                                "{'descr': '<V2', 'fortran_order': False, 'shape': (4,), }"};
    for (int i = 0; i < 3; i++) {
        tensor t;
        tensor_init(&t);
        size_t len = npy_bytes(buf, 1, bf_headers[i], 8);
        cr_assert_eq(read_npy(&t, buf, len, &bf, err, sizeof err), 0, "%s", err);
        cr_assert_eq(t.dtype, FP_BF16);
        for (size_t k = 0; k < 4; k++)
            same_value(t.data[k],
                       ref_decode((uint64_t)((2 * k) * 7 + 1) | (uint64_t)((2 * k + 1) * 7 + 1) << 8, FP_BF16), "bf16",
                       k);
        tensor_clear(&t);
        cr_assert_eq(read_npy(&t, buf, len, NULL, err, sizeof err), -1);
        cr_assert(strstr(err, "give --dtype bf16 if this is bfloat16"), "%s", err);
    }
}

/* A safetensors file: the header as given (padded with spaces to 8), then data. */
static size_t st_bytes(unsigned char *out, const char *header, size_t data_len)
{
    size_t h = strlen(header), padded = (h + 7) / 8 * 8;
    for (int k = 0; k < 8; k++) out[k] = (unsigned char)((uint64_t)padded >> (8 * k));
    memcpy(out + 8, header, h);
    memset(out + 8 + h, ' ', padded - h);
    for (size_t i = 0; i < data_len; i++) out[8 + padded + i] = (unsigned char)(i * 5 + 3);
    return 8 + padded + data_len;
}

Test(tensor, safetensors_malformed)
{
    static const struct {
        const char *header;
        size_t data;
        const char *name, *message;
    } cases[] = {
        {"{", 0, NULL, "bad JSON in the safetensors header at byte 16: expected a string"},
        {"[]", 0, NULL, "not a JSON object"},
        {"", 0, NULL, "not a JSON object"},
        {"{} x", 0, NULL, "unexpected text after the header object"},
        {"{\"a\":}", 0, NULL, "a tensor's entry is not an object"},
        {"{\"a\" {}}", 0, NULL, "expected ':'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]} \"b\":1}", 4, NULL, "expected ',' or '}'"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},}", 4, NULL, "expected a string"},
        {"{\"a\\q\":{}}", 0, NULL, "bad escape"},
        {"{\"a\\u12\":{}}", 0, NULL, "bad escape"},
        {"{\"a\\udc00\":{}}", 0, NULL, "unpaired surrogate"},
        {"{\"a\\ud800x\":{}}", 0, NULL, "unpaired surrogate"},
        {"{\"a\tb\":{}}", 0, NULL, "control character"},
        {"{\"a", 0, NULL, "unterminated string"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 3, NULL,
         "data_offsets [0, 4] of tensor 'a' lie outside the data (3 bytes)"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,0]}}", 8, NULL, "lie outside the data"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[18446744073709551615,18446744073709551615]}}", 8,
         NULL, "lie outside the data"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}}", 24, NULL,
         "data_offsets [0, 20] of tensor 'a' hold 20 bytes, but shape (2, 3) of F32 needs 24"},
        {"{\"a\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, NULL,
         "tensor 'a' has dtype \"I8\", which is not supported"},
        {"{\"a\":{\"dtype\":\"U16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, NULL,
         "give --dtype bf16 if this is bfloat16"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "b",
         "no tensor named 'b' (the file holds 'a')"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_"
         "offsets\":[0,4]}}",
         4, NULL, "the file holds 2 tensors ('a', 'b'): give the name of one"},
        {"{\"__metadata__\":{\"format\":\"pt\"}}", 0, NULL, "the file holds no tensors"},
        {"{}", 0, "a", "no tensor named 'a' (the file holds none)"},
        {"{\"a\":{\"shape\":[],\"data_offsets\":[0,4]}}", 4, NULL, "tensor 'a' has no \"dtype\""},
        {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, NULL, "tensor 'a' has no \"shape\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[]}}", 4, NULL, "tensor 'a' has no \"data_offsets\""},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4,8]}}", 8, NULL, "do not hold two integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, NULL, "given twice"},
        {"{\"a\":{\"dtype\":32,\"shape\":[],\"data_offsets\":[0,4]}}", 4, NULL, "expected a string"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,4]}}", 4, NULL,
         "negative number where a size is expected"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2.0],\"data_offsets\":[0,8]}}", 8, NULL, "expected an integer"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[02],\"data_offsets\":[0,8]}}", 8, NULL, "leading zero"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999],\"data_offsets\":[0,8]}}", 8, NULL,
         "integer too large"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8, NULL, "expected an array of integers"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4294967296],\"data_offsets\":[0,8]}}", 8, NULL,
         "tensor 'a' of shape (4294967296, 4294967296, 4294967296) has too many elements"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, NULL,
         "9 dimensions: at most 8"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_"
         "offsets\":[0,4]}}",
         4, "a", "tensor name 'a' appears twice"},
        {"{\"__metadata__\":{\"x\":[1,2,{\"y\":tru}]}}", 0, NULL, "expected a value"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[],\"data_"
         "offsets\":[0,4]},"
         "\"c\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"d\":{\"dtype\":\"F32\",\"shape\":[],\"data_"
         "offsets\":[0,4]},"
         "\"e\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"f\":{\"dtype\":\"F32\",\"shape\":[],\"data_"
         "offsets\":[0,4]},"
         "\"g\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},\"i\":{\"dtype\":\"F32\",\"shape\":[],\"data_"
         "offsets\":[0,4]},"
         "\"h\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}",
         4, NULL,
         "the file holds 9 tensors ('a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', ... (9 in all)): give the name of one"},
        {"{\"\\u20AC\\u0001\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}}", 4, "x",
         "(the file holds '\\xe2\\x82\\xac\\x01')"},
        {"{\"__metadata__\":{\"x\":-}}", 0, NULL, "bad number"},
        {"{\"__metadata__\":{\"x\":1.}}", 0, NULL, "bad number"},
        {"{\"__metadata__\":{\"x\":1e}}", 0, NULL, "bad number"},
        {"{\"__metadata__\":{\"x\":[1 2]}}", 0, NULL, "expected ',' or ']'"},
        {"{\"__metadata__\":{\"x\" 1}}", 0, NULL, "expected ':'"},
        {"{\"__metadata__\":{\"x\":1,}}", 0, NULL, "expected a string"},
    };
    unsigned char buf[1024];
    char err[512];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tensor t;
        tensor_init(&t);
        size_t len = st_bytes(buf, cases[i].header, cases[i].data);
        cr_assert_eq(read_st(&t, buf, len, cases[i].name, NULL, err, sizeof err), -1, "case %zu accepted", i);
        cr_assert(strstr(err, cases[i].message), "case %zu: %s", i, err);
        cr_assert_eq(t.data, NULL);
    }
    static const struct {
        const char *bytes;
        size_t len;
        const char *message;
    } raw[] = {
        {"", 0, "empty file"},
        {"\x02\x00\x00\x00\x00", 5, "too short for a safetensors file (5 bytes)"},
        {"\x00\x00\x00\x00\x00\x00\x00\x80{}", 10,
         "the safetensors header size 9223372036854775808 runs past the end of the file (10 bytes)"},
        {"\xff\xff\xff\xff\xff\xff\xff\xff{}", 10, "runs past the end"},
        {"\x03\x00\x00\x00\x00\x00\x00\x00{}", 10, "runs past the end"},
        {"\x00\x00\x00\x00\x00\x00\x00\x00{}", 10, "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof raw / sizeof raw[0]; i++) {
        tensor t;
        tensor_init(&t);
        cr_assert_eq(read_st(&t, (const unsigned char *)raw[i].bytes, raw[i].len, NULL, NULL, err, sizeof err), -1);
        cr_assert(strstr(err, raw[i].message), "raw case %zu: %s", i, err);
    }
    /* metadata nested 64 deep is skipped, 65 deep is refused */
    for (int depth = 64; depth <= 65; depth++) {
        char header[200] = "{\"__metadata__\":";
        size_t k = strlen(header);
        for (int i = 0; i < depth; i++) header[k++] = '[';
        for (int i = 0; i < depth; i++) header[k++] = ']';
        header[k++] = '}';
        header[k] = '\0';
        tensor t;
        tensor_init(&t);
        size_t len = st_bytes(buf, header, 0);
        cr_assert_eq(read_st(&t, buf, len, NULL, NULL, err, sizeof err), -1);
        cr_assert(strstr(err, depth == 64 ? "holds no tensors" : "nested too deeply"), "%d: %s", depth, err);
    }
}

Test(tensor, safetensors_accepted)
{
    unsigned char buf[1024];
    char err[512];
    tensor t;
    /* metadata and unknown members are skipped; escapes decode to UTF-8 */
    size_t len = st_bytes(buf,
                          "{\"__metadata__\":{\"format\":\"pt\",\"n\":[1,-2.5e+3,true,false,null,{}]},"
                          "\"w\\u00e9\\ud83d\\ude00\\\"\\\\\\/\\n\":{\"data_offsets\":[4,12],\"dtype\":\"F16\","
                          "\"extra\":{\"k\":[]},\"shape\":[2,2]},"
                          "\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
                          16);
    tensor_init(&t);
    cr_assert_eq(read_st(&t, buf, len, "w\xc3\xa9\xf0\x9f\x98\x80\"\\/\n", NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.dtype, FP_F16);
    cr_assert_eq(t.ndim, 2);
    cr_assert_eq(t.count, 4);
    size_t data = len - 16;
    for (size_t k = 0; k < 4; k++)
        same_value(t.data[k], ref_decode(buf[data + 4 + 2 * k] | (uint64_t)buf[data + 5 + 2 * k] << 8, FP_F16), "w", k);
    /* b's dtype is refused only when b is asked for */
    cr_assert_eq(read_st(&t, buf, len, "b", NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "tensor 'b' has dtype \"I64\""), "%s", err);
    cr_assert_eq(t.count, 4); /* unchanged on failure */
    tensor_clear(&t);

    /* U16 read as bf16 when asked; one tensor needs no name; 0-d and empty tensors */
    tensor_read_options bf = {.u2_as_bf16 = 1};
    len = st_bytes(buf, "{\"u\":{\"dtype\":\"U16\",\"shape\":[3],\"data_offsets\":[2,8]}}", 8);
    cr_assert_eq(read_st(&t, buf, len, NULL, &bf, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.dtype, FP_BF16);
    same_value(t.data[2], ref_decode(buf[len - 2] | (uint64_t)buf[len - 1] << 8, FP_BF16), "u", 2);
    len = st_bytes(buf,
                   "{\"s\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[0,8]},"
                   "\"e\":{\"dtype\":\"F64\",\"shape\":[3,0],\"data_offsets\":[8,8]}}",
                   8);
    cr_assert_eq(read_st(&t, buf, len, "s", NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.ndim, 0);
    cr_assert_eq(t.count, 1);
    cr_assert_eq(read_st(&t, buf, len, "e", NULL, err, sizeof err), 0, "%s", err);
    cr_assert_eq(t.ndim, 2);
    cr_assert_eq(t.count, 0);
    tensor_clear(&t);
}

Test(tensor, read_dispatch)
{
    char dir[64], path[128], err[512];
    make_dir(dir, sizeof dir);
    tensor t, back;
    tensor_init(&t);
    t.dtype = FP_F32;
    t.ndim = 1;
    t.shape[0] = 2;
    t.count = 2;
    t.data = malloc(2 * sizeof(double));
    t.data[0] = 1.5;
    t.data[1] = -2;
    const tensor *tp = &t;
    const char *name = "only";
    /* .safetensors: the single tensor without a name */
    snprintf(path, sizeof path, "%s/a.safetensors", dir);
    cr_assert_eq(tensor_write_safetensors(path, &tp, &name, 1, err, sizeof err), 0, "%s", err);
    tensor_init(&back);
    cr_assert_eq(tensor_read(&back, path, NULL, NULL, err, sizeof err), 0, "%s", err);
    same_tensor(&back, &t, path);
    tensor_clear(&back);
    /* safetensors content under another name is recognised */
    char other[128];
    snprintf(other, sizeof other, "%s/a.bin", dir);
    cr_assert_eq(rename(path, other), 0);
    cr_assert_eq(tensor_read(&back, other, NULL, NULL, err, sizeof err), 0, "%s", err);
    same_tensor(&back, &t, other);
    tensor_clear(&back);
    cr_assert_eq(tensor_read(&back, other, "nope", NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "no tensor named 'nope' (the file holds 'only')"), "%s", err);
    /* a .npy file and a name, or a .npy file named .safetensors */
    snprintf(path, sizeof path, "%s/a.npy", dir);
    cr_assert_eq(tensor_write_npy(path, &t, err, sizeof err), 0, "%s", err);
    cr_assert_eq(tensor_read(&back, path, "only", NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "a .npy file holds one unnamed array, not a tensor named 'only'"), "%s", err);
    snprintf(other, sizeof other, "%s/b.safetensors", dir);
    cr_assert_eq(rename(path, other), 0);
    cr_assert_eq(tensor_read(&back, other, NULL, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "the safetensors header size"), "%s", err);
    cr_assert_eq(rename(other, path), 0);
    cr_assert_eq(tensor_read(&back, path, NULL, NULL, err, sizeof err), 0, "%s", err);
    tensor_clear(&back);
    /* neither */
    snprintf(path, sizeof path, "%s/x.dat", dir);
    spill(path, "hello, world\n", 13);
    cr_assert_eq(tensor_read(&back, path, NULL, NULL, err, sizeof err), -1);
    char want[200];
    snprintf(want, sizeof want, "%s: not a .npy or safetensors file", path);
    cr_assert_str_eq(err, want);
    spill(path, "", 0);
    cr_assert_eq(tensor_read(&back, path, NULL, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "empty file"), "%s", err);
    spill(path, "\x93NU", 3);
    cr_assert_eq(tensor_read(&back, path, NULL, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "truncated .npy file"), "%s", err);
    snprintf(path, sizeof path, "%s/missing.npy", dir);
    cr_assert_eq(tensor_read(&back, path, NULL, NULL, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s: cannot open: No such file or directory", path);
    cr_assert_str_eq(err, want);
    cr_assert_eq(tensor_read(&back, dir, NULL, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "is a directory"), "%s", err);
    cr_assert_eq(back.data, NULL);
    tensor_clear(&t);
    remove_dir(dir);
}

/* ---- boolean arrays (masks) ---- */

static const char numpy_bools[] =
    "import json, struct, numpy as np\n"
    "rng = np.random.default_rng(99)\n"
    "out = open('values.txt', 'w')\n"
    "def rec(name, a):\n"
    "    v = np.ascontiguousarray(a).reshape(-1)\n"
    "    out.write('%s %d %s %d\\n' % (name, a.ndim, ' '.join(str(d) for d in a.shape), v.size))\n"
    "    out.write(' '.join(float(x).hex() for x in v) + '\\n')\n"
    "for k, s in enumerate([(5, 7), (3, 4, 4), (2, 3, 4, 4), (0, 3), ()]):\n"
    "    a = rng.random(s) < 0.5\n"
    "    np.save('b%d.npy' % k, a); rec('b%d.npy' % k, a)\n"
    "a = np.tril(np.ones((6, 6), dtype=bool)); np.save('tril.npy', a); rec('tril.npy', a)\n"
    "a = (rng.random((4, 5)) < 0.5).astype(np.uint8); np.save('u1.npy', a); rec('u1.npy', a)\n"
    "np.save('u1_bad.npy', np.array([[0, 1], [1, 7]], dtype=np.uint8))\n"
    "np.save('b1_bad.npy', np.array([0, 1, 2, 1], dtype=np.uint8).view(bool).reshape(2, 2))\n"
    "np.save('i1.npy', np.zeros(3, dtype=np.int8))\n"
    "def st(name, tensors):\n"
    "    meta, data = {}, b''\n"
    "    for k, (dt, a) in tensors.items():\n"
    "        raw = np.ascontiguousarray(a).tobytes()\n"
    "        meta[k] = {'dtype': dt, 'shape': list(a.shape), 'data_offsets': [len(data), len(data) + len(raw)]}\n"
    "        data += raw\n"
    "    h = json.dumps(meta).encode()\n"
    "    h += b' ' * (-len(h) % 8)\n"
    "    open(name, 'wb').write(struct.pack('<Q', len(h)) + h + data)\n"
    "m = rng.random((2, 3, 3)) < 0.5\n"
    "u = (rng.random((3, 2)) < 0.5).astype(np.uint8)\n"
    "st('masks.safetensors', {'m': ('BOOL', m), 'u': ('U8', u), 'bad': ('U8', np.array([1, 3], np.uint8)),\n"
    "                         'f': ('F32', np.ones(2, np.float32))})\n"
    "rec('m', m); rec('u', u)\n";

Test(tensor, bool_masks_from_numpy)
{
    const char *py = numpy_python();
    char dir[64], path[256], err[512];
    make_dir(dir, sizeof dir);
    run_python(py, dir, numpy_bools, "");
    static record recs[20];
    snprintf(path, sizeof path, "%s/values.txt", dir);
    size_t n = read_records(path, recs, 20);
    cr_assert_eq(n, 9);
    tensor_read_options masks = {.allow_bool = 1};
    for (size_t i = 0; i < n; i++) {
        tensor t;
        tensor_init(&t);
        int st = strstr(recs[i].name, ".npy") == NULL;
        snprintf(path, sizeof path, "%s/%.127s", dir, st ? "masks.safetensors" : recs[i].name);
        cr_assert_eq(tensor_read(&t, path, st ? recs[i].name : NULL, &masks, err, sizeof err), 0, "%s", err);
        check_record(&t, &recs[i]);
        cr_assert(t.boolean, "%s", recs[i].name);
        for (size_t k = 0; k < t.count; k++) cr_assert(t.data[k] == 0 || t.data[k] == 1);
        /* without the option: refused as before */
        cr_assert_eq(tensor_read(&t, path, st ? recs[i].name : NULL, NULL, err, sizeof err), -1, "%s", recs[i].name);
        cr_assert(strstr(err, "is not supported"), "%s", err);
        tensor_clear(&t);
        free(recs[i].v);
    }
    static const struct {
        const char *file, *name, *message;
    } refused[] = {
        {"u1_bad.npy", NULL, "value 7 at [1,1] of a '|u1' array: a mask holds only 0 and 1"},
        {"b1_bad.npy", NULL, "value 2 at [1,0] of a '|b1' array: a mask holds only 0 and 1"},
        {"i1.npy", NULL, "dtype '|i1' is not supported"},
        {"masks.safetensors", "bad", "value 3 at [1] of tensor 'bad' (U8): a mask holds only 0 and 1"},
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        tensor t;
        tensor_init(&t);
        snprintf(path, sizeof path, "%s/%s", dir, refused[i].file);
        cr_assert_eq(tensor_read(&t, path, refused[i].name, &masks, err, sizeof err), -1, "%s", refused[i].file);
        cr_assert(strstr(err, refused[i].message), "%s: %s", refused[i].file, err);
        cr_assert_null(t.data);
    }
    /* a float tensor of a file with masks is read as before, not boolean */
    tensor t;
    tensor_init(&t);
    snprintf(path, sizeof path, "%s/masks.safetensors", dir);
    cr_assert_eq(tensor_read(&t, path, "f", &masks, err, sizeof err), 0, "%s", err);
    cr_assert(!t.boolean && t.dtype == FP_F32 && t.count == 2 && t.data[1] == 1);
    tensor_clear(&t);
    remove_dir(dir);
}

/* Boolean tensors written as '|b1' and BOOL, read back, and read by numpy. */
Test(tensor, bool_round_trip)
{
    char dir[64], path[256], err[512];
    make_dir(dir, sizeof dir);
    test_rng r = {8};
    tensor_read_options masks = {.allow_bool = 1};
    for (int s = 0; s < n_shapes; s++) {
        tensor t, back;
        tensor_init(&t);
        t.boolean = 1;
        t.ndim = shape_ndim[s];
        for (int i = 0; i < t.ndim; i++) t.shape[i] = shapes[s][i];
        t.count = product(shapes[s], t.ndim);
        t.data = malloc((t.count ? t.count : 1) * sizeof(double));
        for (size_t i = 0; i < t.count; i++) t.data[i] = test_randn(&r, 2);
        const tensor *tp = &t;
        const char *name = "mask";
        for (int kind = 0; kind < 2; kind++) {
            snprintf(path, sizeof path, kind ? "%s/m%d.safetensors" : "%s/m%d.npy", dir, s);
            if (kind)
                cr_assert_eq(tensor_write_safetensors(path, &tp, &name, 1, err, sizeof err), 0, "%s", err);
            else
                cr_assert_eq(tensor_write_npy(path, &t, err, sizeof err), 0, "%s", err);
            size_t len;
            unsigned char *buf = slurp(path, &len);
            const char *want = kind ? "\"dtype\":\"BOOL\"" : "'descr': '|b1'";
            int found = 0;
            for (size_t i = 0; i + strlen(want) <= len && !found; i++) found = memcmp(buf + i, want, strlen(want)) == 0;
            cr_assert(found, "%s has no %s", path, want);
            for (size_t i = 0; i < t.count; i++) cr_assert_eq(buf[len - t.count + i], t.data[i], "%s %zu", path, i);
            free(buf);
            tensor_init(&back);
            cr_assert_eq(tensor_read(&back, path, NULL, &masks, err, sizeof err), 0, "%s", err);
            cr_assert(back.boolean);
            cr_assert_eq(back.ndim, t.ndim);
            cr_assert_eq(back.count, t.count);
            for (size_t i = 0; i < t.count; i++) cr_assert_eq(back.data[i], t.data[i]);
            tensor_clear(&back);
        }
        if (t.count) { /* only 0 and 1 are written */
            t.data[t.count - 1] = 0.5;
            cr_assert_eq(tensor_write_npy(path, &t, err, sizeof err), -1);
            cr_assert(strstr(err, "is boolean but holds 0.5 at ["), "%s", err);
        }
        tensor_clear(&t);
    }
    remove_dir(dir);
}

/* Boolean files from bytes: values, sizes and options checked. */
Test(tensor, bool_malformed)
{
    unsigned char buf[512];
    char err[512];
    tensor t;
    tensor_init(&t);
    tensor_read_options masks = {.allow_bool = 1};
    static const char *descrs[] = {"|b1", "<b1", "=b1", "|u1"};
    for (int i = 0; i < 4; i++) {
        char header[128];
        snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (2, 3), }", descrs[i]);
        size_t len = npy_bytes(buf, 1, header, 6);
        for (int k = 0; k < 6; k++) buf[len - 6 + k] = (unsigned char)(k % 2);
        cr_assert_eq(read_npy(&t, buf, len, &masks, err, sizeof err), 0, "%s: %s", descrs[i], err);
        cr_assert(t.boolean && t.count == 6 && t.data[3] == 1 && t.data[4] == 0);
        cr_assert_eq(read_npy(&t, buf, len, NULL, err, sizeof err), -1);
        cr_assert(strstr(err, "is not supported"), "%s", err);
        buf[len - 1] = 0xff;
        cr_assert_eq(read_npy(&t, buf, len, &masks, err, sizeof err), -1);
        cr_assert(strstr(err, "value 255 at [1,2]"), "%s", err);
        cr_assert_eq(read_npy(&t, buf, len - 1, &masks, err, sizeof err), -1);
        cr_assert(strstr(err, "data too short: shape (2, 3)"), "%s", err);
        cr_assert_eq(t.count, 6, "unchanged on failure");
    }
    /* wider or other 1-byte types stay refused */
    static const char *other[] = {"|b2", "|i1", ">b1", "|u2"};
    for (int i = 0; i < 4; i++) {
        char header[128];
        snprintf(header, sizeof header, "{'descr': '%s', 'fortran_order': False, 'shape': (2,), }", other[i]);
        size_t len = npy_bytes(buf, 1, header, 4);
        cr_assert_eq(read_npy(&t, buf, len, &masks, err, sizeof err), -1, "%s", other[i]);
    }
    size_t len = st_bytes(buf, "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[2,2],\"data_offsets\":[0,4]}}", 4);
    memcpy(buf + len - 4, "\0\1\1\0", 4);
    cr_assert_eq(read_st(&t, buf, len, NULL, &masks, err, sizeof err), 0, "%s", err);
    cr_assert(t.boolean && t.data[1] == 1 && t.data[3] == 0);
    buf[len - 2] = 2;
    cr_assert_eq(read_st(&t, buf, len, NULL, &masks, err, sizeof err), -1);
    cr_assert(strstr(err, "value 2 at [1,0] of tensor 'm' (BOOL)"), "%s", err);
    len = st_bytes(buf, "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[2,2],\"data_offsets\":[0,3]}}", 4);
    cr_assert_eq(read_st(&t, buf, len, NULL, &masks, err, sizeof err), -1);
    cr_assert(strstr(err, "hold 3 bytes, but shape (2, 2) of BOOL needs 4"), "%s", err);
    len = st_bytes(buf, "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
    cr_assert_eq(read_st(&t, buf, len, NULL, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "tensor 'm' has dtype \"BOOL\", which is not supported"), "%s", err);
    len = st_bytes(buf, "{\"m\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
    cr_assert_eq(read_st(&t, buf, len, NULL, &masks, err, sizeof err), -1);
    cr_assert(strstr(err, "has dtype \"I8\""), "%s", err);
    tensor_clear(&t);
}

/* Every proper prefix of a valid file is refused. */
Test(tensor, truncations_refused)
{
    char dir[64], path[128], err[512];
    make_dir(dir, sizeof dir);
    test_rng r = {4};
    tensor t;
    uint64_t *bits;
    size_t shape[2] = {3, 5};
    make_tensor(&t, FP_F32, 2, shape, &bits, &r);
    const tensor *tp = &t;
    const char *name = "t";
    for (int kind = 0; kind < 2; kind++) {
        snprintf(path, sizeof path, "%s/t%d", dir, kind);
        if (kind)
            cr_assert_eq(tensor_write_safetensors(path, &tp, &name, 1, err, sizeof err), 0, "%s", err);
        else
            cr_assert_eq(tensor_write_npy(path, &t, err, sizeof err), 0, "%s", err);
        size_t len;
        unsigned char *buf = slurp(path, &len);
        tensor back;
        tensor_init(&back);
        for (size_t k = 0; k <= len; k++) {
            int rc = kind ? read_st(&back, buf, k, NULL, NULL, err, sizeof err)
                          : read_npy(&back, buf, k, NULL, err, sizeof err);
            cr_assert_eq(rc, k == len ? 0 : -1, "length %zu of %zu", k, len);
        }
        same_tensor(&back, &t, path);
        tensor_clear(&back);
        free(buf);
    }
    tensor_clear(&t);
    free(bits);
    remove_dir(dir);
}

/* ---- fuzz ---- */

static const unsigned char interesting[] = {0,   0xff, 0x80, 0x7f, '(',  ')', ',', '-', '0', '9', '{', '}',
                                            '[', ']',  '"',  '\'', '\\', ':', ' ', 'L', 'u', 'e', '.'};

static size_t mutate(unsigned char *buf, size_t len, size_t cap, test_rng *r)
{
    int rounds = 1 + test_randn(r, 3);
    for (int i = 0; i < rounds; i++) {
        size_t at = len ? (size_t)test_randn(r, (int)len) : 0;
        switch (test_randn(r, 7)) {
        case 0: /* flip a bit */
            if (len) buf[at] ^= (unsigned char)(1u << test_randn(r, 8));
            break;
        case 1: /* a random byte */
            if (len) buf[at] = (unsigned char)test_rand(r);
            break;
        case 2: /* a byte that means something to a parser */
            if (len) buf[at] = interesting[test_randn(r, (int)sizeof interesting)];
            break;
        case 3: /* truncate */
            len = at;
            break;
        case 4: { /* insert bytes */
            size_t n = 1 + (size_t)test_randn(r, 8);
            if (len + n > cap) break;
            memmove(buf + at + n, buf + at, len - at);
            for (size_t k = 0; k < n; k++)
                buf[at + k] = test_randn(r, 2) ? interesting[test_randn(r, (int)sizeof interesting)]
                                               : (unsigned char)test_rand(r);
            len += n;
            break;
        }
        case 5: { /* delete bytes */
            size_t n = 1 + (size_t)test_randn(r, 8);
            if (at + n > len) n = len - at;
            memmove(buf + at, buf + at + n, len - at - n);
            len -= n;
            break;
        }
        default: /* a size field: the .npy header length or the safetensors header size */
            if (len > 12) {
                int k = 8 + test_randn(r, 4);
                buf[k] =
                    test_randn(r, 2) ? (unsigned char)test_rand(r) : (unsigned char)(buf[k] + test_randn(r, 5) - 2);
            }
        }
    }
    return len;
}

Test(tensor, fuzz_readers)
{
    char dir[64], path[128], err[512];
    make_dir(dir, sizeof dir);
    test_rng r = {5};
    /* the seeds: files of every dtype, both formats */
    unsigned char *seeds[10];
    size_t seed_len[10];
    int n_seeds = 0;
    static const char *names[] = {"alpha", "b\xc3\xa9ta", "g"};
    for (int f = 0; f < FP_FORMAT_COUNT; f++) {
        tensor t[3];
        const tensor *tp[3];
        uint64_t *bits[3];
        size_t shape[3] = {2, 1 + (size_t)f, 3};
        for (int i = 0; i < 3; i++) {
            make_tensor(&t[i], (fp_format)f, i + 1, shape, &bits[i], &r);
            tp[i] = &t[i];
        }
        snprintf(path, sizeof path, "%s/s%d.npy", dir, f);
        cr_assert_eq(tensor_write_npy(path, &t[2], err, sizeof err), 0, "%s", err);
        seeds[n_seeds] = slurp(path, &seed_len[n_seeds]);
        n_seeds++;
        snprintf(path, sizeof path, "%s/s%d.safetensors", dir, f);
        cr_assert_eq(tensor_write_safetensors(path, tp, names, 3, err, sizeof err), 0, "%s", err);
        seeds[n_seeds] = slurp(path, &seed_len[n_seeds]);
        n_seeds++;
        for (int i = 0; i < 3; i++) {
            tensor_clear(&t[i]);
            free(bits[i]);
        }
    }
    /* boolean seeds, both formats */
    {
        tensor m;
        tensor_init(&m);
        m.boolean = 1;
        m.ndim = 2;
        m.shape[0] = 3;
        m.shape[1] = 4;
        m.count = 12;
        m.data = malloc(12 * sizeof(double));
        for (int i = 0; i < 12; i++) m.data[i] = i % 3 == 0;
        const tensor *mp = &m;
        snprintf(path, sizeof path, "%s/mask.npy", dir);
        cr_assert_eq(tensor_write_npy(path, &m, err, sizeof err), 0, "%s", err);
        seeds[n_seeds] = slurp(path, &seed_len[n_seeds]);
        n_seeds++;
        snprintf(path, sizeof path, "%s/mask.safetensors", dir);
        cr_assert_eq(tensor_write_safetensors(path, &mp, names, 1, err, sizeof err), 0, "%s", err);
        seeds[n_seeds] = slurp(path, &seed_len[n_seeds]);
        n_seeds++;
        tensor_clear(&m);
    }
    /* one .npy seed in format 2.0 with a hand-written header */
    {
        unsigned char *b = malloc(256);
        size_t len = npy_bytes(b, 2, "{\"shape\": (2, 2,), \"fortran_order\": False, \"descr\": \"<f2\"}\n", 8);
        free(seeds[0]);
        seeds[0] = b;
        seed_len[0] = len;
    }
    int iters = 20000 * test_multiplier(), ok = 0, refused = 0;
    enum { CAP = 4096 };
    unsigned char *work = malloc(CAP);
    for (int it = 0; it < iters; it++) {
        int s = test_randn(&r, n_seeds);
        memcpy(work, seeds[s], seed_len[s]);
        size_t len = mutate(work, seed_len[s], CAP, &r);
        tensor_read_options opt = {.u2_as_bf16 = test_randn(&r, 2), .allow_bool = test_randn(&r, 2)};
        const char *name = test_randn(&r, 4) ? names[test_randn(&r, 3)] : NULL;
        tensor t;
        tensor_init(&t);
        /* mostly the reader of the seed's format, sometimes the other */
        int as_npy = (s % 2 == 0) != (test_randn(&r, 10) == 0);
        int rc = as_npy ? read_npy(&t, work, len, &opt, err, sizeof err)
                        : read_st(&t, work, len, name, &opt, err, sizeof err);
        cr_assert(rc == 0 || rc == -1);
        if (rc == 0) {
            ok++;
            cr_assert(t.ndim >= 0 && t.ndim <= TENSOR_MAX_DIMS);
            cr_assert(!t.boolean || opt.allow_bool);
            for (size_t k = 0; t.boolean && k < t.count; k++) cr_assert(t.data[k] == 0 || t.data[k] == 1);
            cr_assert_eq(t.count, product(t.shape, t.ndim));
            uint64_t sum = 0;
            for (size_t k = 0; k < t.count; k++) {
                uint64_t b;
                memcpy(&b, &t.data[k], sizeof b);
                sum += b;
            }
            (void)sum;
        } else {
            refused++;
            cr_assert_eq(t.data, NULL);
        }
        tensor_clear(&t);
    }
    /* both outcomes are common: the mutations reach the data and the headers */
    cr_assert_gt(ok, iters / 50, "%d accepted of %d", ok, iters);
    cr_assert_gt(refused, iters / 4, "%d refused of %d", refused, iters);
    free(work);
    for (int i = 0; i < n_seeds; i++) free(seeds[i]);
    remove_dir(dir);
}

/* ---- non-finite values ---- */

Test(tensor, first_nonfinite)
{
    char where[64];
    double v[24];
    tensor t;
    tensor_init(&t);
    t.ndim = 3;
    t.shape[0] = 2;
    t.shape[1] = 3;
    t.shape[2] = 4;
    t.count = 24;
    t.data = v;
    for (int i = 0; i < 24; i++) v[i] = i - 11.5;
    strcpy(where, "junk");
    cr_assert_eq(tensor_first_nonfinite(&t, where, sizeof where), 0);
    cr_assert_str_eq(where, "");
    test_rng r = {6};
    for (int it = 0; it < 200; it++) {
        int a = test_randn(&r, 24), b = test_randn(&r, 24), first = a < b ? a : b;
        double bad[] = {NAN, INFINITY, -INFINITY, -NAN};
        v[a] = bad[test_randn(&r, 4)];
        v[b] = bad[test_randn(&r, 4)];
        char want[32];
        snprintf(want, sizeof want, "%d,%d,%d", first / 12, first / 4 % 3, first % 4);
        cr_assert_eq(tensor_first_nonfinite(&t, where, sizeof where), 1);
        cr_assert_str_eq(where, want);
        v[a] = v[b] = 0.5;
    }
    /* a short buffer gets a cut string */
    v[23] = INFINITY;
    cr_assert_eq(tensor_first_nonfinite(&t, where, 3), 1);
    cr_assert_str_eq(where, "1,");
    cr_assert_eq(tensor_first_nonfinite(&t, NULL, 0), 1);
    /* 0-d and 1-d */
    t.ndim = 0;
    t.count = 1;
    v[0] = NAN;
    cr_assert_eq(tensor_first_nonfinite(&t, where, sizeof where), 1);
    cr_assert_str_eq(where, "");
    t.ndim = 1;
    t.shape[0] = 24;
    t.count = 24;
    v[0] = 0;
    cr_assert_eq(tensor_first_nonfinite(&t, where, sizeof where), 1);
    cr_assert_str_eq(where, "23");
    /* an empty tensor */
    t.shape[0] = 0;
    t.count = 0;
    cr_assert_eq(tensor_first_nonfinite(&t, where, sizeof where), 0);
}

/* Tests of io/tensor: round trips through .npy and safetensors for every
 * dtype, the writers' rounding and refusals, the first non-finite value.
 * (numpy interop: test_tensor_numpy; malformed input: test_tensor_malformed) */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/tensor.h"
#include "tests/lib/testlib.h"
#include "tests/lib/testtensor.h"

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
            cr_assert(isnan(ref_decode_format(le(buf + len - 2 * (size_t)w, w), cases[i].f)));
            free(buf);
            tensor_init(&back);
            cr_assert_eq(tensor_read(&back, path, NULL, &bf, err, sizeof err), 0, "%s", err);
            same_value(back.data[0], ref_decode_format(cases[i].bits, cases[i].f), path, 0);
            cr_assert(isnan(back.data[1]));
            same_value(back.data[2], -ref_decode_format(cases[i].bits, cases[i].f), path, 2);
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

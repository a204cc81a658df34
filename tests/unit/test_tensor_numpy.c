/* Tests of io/tensor against numpy: files numpy writes read here and ours
 * read by numpy, boolean (mask) arrays from numpy, round trips and
 * malformed boolean files. */
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

/* ---- files numpy writes, and numpy reading ours ---- */

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
    "np.save('i8_bad.npy', np.array([0, 1, -1], dtype=np.int64))\n"
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
    "rec('m', m); rec('u', u)\n"
    "a = (rng.random((3, 4)) < 0.5).astype(np.int64); np.save('i8.npy', a); rec('i8.npy', a)\n"
    "a = (rng.random((2, 1, 1, 5)) < 0.5).astype(np.int32); np.save('i4.npy', a); rec('i4.npy', a)\n";

Test(tensor, bool_masks_from_numpy)
{
    const char *py = numpy_python();
    char dir[64], path[256], err[512];
    make_dir(dir, sizeof dir);
    run_python(py, dir, numpy_bools, "");
    static record recs[20];
    snprintf(path, sizeof path, "%s/values.txt", dir);
    size_t n = read_records(path, recs, 20);
    cr_assert_eq(n, 11);
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
        {"i8_bad.npy", NULL, "value -1 at [2] of a '<i8' array: a mask holds only 0 and 1"},
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
    /* other types stay refused: wider booleans, big-endian, complex */
    static const char *other[] = {"|b2", ">b1", ">i8", "<c8"};
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
    len = st_bytes(buf, "{\"m\":{\"dtype\":\"F8_E5M2\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2);
    cr_assert_eq(read_st(&t, buf, len, NULL, &masks, err, sizeof err), -1);
    cr_assert(strstr(err, "has dtype \"F8_E5M2\""), "%s", err);
    tensor_clear(&t);
}

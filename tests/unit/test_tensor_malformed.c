/* Tests of io/tensor on bad input: malformed .npy and safetensors files and
 * their messages, header variants, dispatch, truncations, and a seeded fuzz
 * of both readers. */
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

/* ---- malformed input ---- */

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
                       ref_decode_format((uint64_t)((2 * k) * 7 + 1) | (uint64_t)((2 * k + 1) * 7 + 1) << 8, FP_BF16), "bf16",
                       k);
        tensor_clear(&t);
        cr_assert_eq(read_npy(&t, buf, len, NULL, err, sizeof err), -1);
        cr_assert(strstr(err, "give --dtype bf16 if this is bfloat16"), "%s", err);
    }
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
        same_value(t.data[k], ref_decode_format(buf[data + 4 + 2 * k] | (uint64_t)buf[data + 5 + 2 * k] << 8, FP_F16), "w", k);
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
    same_value(t.data[2], ref_decode_format(buf[len - 2] | (uint64_t)buf[len - 1] << 8, FP_BF16), "u", 2);
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

/* Integer masks of every width, in .npy and safetensors: 0/1 values read
 * as booleans (little-endian, upper bytes zero); any other value (2, 256,
 * -1) refused naming its index and value; integers refused outside masks. */
Test(tensor, integer_masks)
{
    static const struct { const char *npy, *st; int w, sign; } types[] = {
        { "'|i1'", "I8", 1, 1 }, { "'<i2'", "I16", 2, 1 }, { "'<i4'", "I32", 4, 1 }, { "'<i8'", "I64", 8, 1 },
        { "'<u2'", "U16", 2, 0 }, { "'<u4'", "U32", 4, 0 }, { "'<u8'", "U64", 8, 0 },
    };
    tensor_read_options mask = { .allow_bool = 1 }, plain = { 0 };
    char err[256], header[160];
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        int w = types[ti].w;
        for (int bad = 0; bad < 3; bad++) {
            unsigned char npy[512], st[512], data[8 * 4] = { 0 };
            data[0 * w] = 1; data[2 * w] = 1; /* values 1, 0, 1, 0 */
            if (bad == 1) data[3 * w] = 2;
            if (bad == 2 && w > 1) data[3 * w + 1] = 1; /* 256 */
            if (bad == 2 && w == 1) data[3 * w] = 0xff;  /* -1 */
            snprintf(header, sizeof header, "{'descr': %s, 'fortran_order': False, 'shape': (4,), }", types[ti].npy);
            size_t n = npy_bytes(npy, 1, header, 0);
            memcpy(npy + n, data, 4 * (size_t)w);
            n += 4 * (size_t)w;
            tensor t;
            tensor_init(&t);
            int rc = read_npy(&t, npy, n, &mask, err, sizeof err);
            if (!bad) {
                cr_assert_eq(rc, 0, "%s: %s", types[ti].npy, err);
                cr_assert(t.boolean);
                cr_assert(t.data[0] == 1 && t.data[1] == 0 && t.data[2] == 1 && t.data[3] == 0, "%s", types[ti].npy);
            } else {
                cr_assert_neq(rc, 0, "%s: value %d accepted", types[ti].npy, bad);
                cr_assert(strstr(err, "[3]") && strstr(err, bad == 1 ? "value 2 " : w == 1 ? "value -1 " : "value 256 "), "%s", err);
            }
            cr_assert_neq(read_npy(&t, npy, n, &plain, err, sizeof err), 0, "%s read outside a mask", types[ti].npy);
            snprintf(header, sizeof header, "{\"m\":{\"dtype\":\"%s\",\"shape\":[4],\"data_offsets\":[0,%d]}}", types[ti].st, 4 * w);
            size_t sn = st_bytes(st, header, 0);
            memcpy(st + sn, data, 4 * (size_t)w);
            sn += 4 * (size_t)w;
            rc = read_st(&t, st, sn, "m", &mask, err, sizeof err);
            cr_assert_eq(rc != 0, bad != 0, "%s: %s", types[ti].st, err);
            if (!bad) cr_assert(t.data[0] == 1 && t.data[1] == 0 && t.data[2] == 1 && t.data[3] == 0);
            tensor_clear(&t);
        }
    }
}

/* Tests of core/fpfmt: printing the bits and values of each format, and
 * rounding into N decimal digits (known digit strings, random rationals and
 * balls, near ties, ten thousand digits); exact doubles as rationals. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "core/fpfmt.h"
#include "tests/lib/testfpfmt.h"
#include "tests/lib/testlib.h"

/* ---- printing ---- */

Test(fpfmt, print_bits)
{
    strbuf b;
    strbuf_init(&b);
    fp_print_bits(&b, 0x3c00, FP_F16);
    cr_assert_str_eq(strbuf_str(&b), "0x3c00");
    strbuf_reset(&b);
    fp_print_bits(&b, 1, FP_BF16);
    cr_assert_str_eq(strbuf_str(&b), "0x0001");
    strbuf_reset(&b);
    fp_print_bits(&b, 0x3f800000, FP_F32);
    cr_assert_str_eq(strbuf_str(&b), "0x3f800000");
    strbuf_reset(&b);
    fp_print_bits(&b, UINT64_C(0x3ff0000000000000), FP_F64);
    cr_assert_str_eq(strbuf_str(&b), "0x3ff0000000000000");
    strbuf_reset(&b);
    fp_print_bits(&b, UINT64_C(0xfff8000000000000), FP_F64);
    cr_assert_str_eq(strbuf_str(&b), "0xfff8000000000000");
    strbuf_reset(&b);
    fp_print_bits(&b, 0, FP_F64);
    cr_assert_str_eq(strbuf_str(&b), "0x0000000000000000");
    strbuf_clear(&b);
}

Test(fpfmt, print_value_known)
{
    strbuf b;
    strbuf_init(&b);
    static const struct {
        uint64_t bits;
        fp_format f;
        const char *text;
    } cases[] = {
        {0x3c00, FP_F16, "1"},
        {0xbc00, FP_F16, "-1"},
        {0x7bff, FP_F16, "65500"}, /* 65504: 65500 is within 16 */
        {0x7bfe, FP_F16, "65470"},
        {0x0001, FP_F16, "6e-08"},
        {0x3555, FP_F16, "0.3333"},
        {0x3c01, FP_F16, "1.001"},
        {0x2e66, FP_F16, "0.1"},
        {0x7c00, FP_F16, "inf"},
        {0xfc00, FP_F16, "-inf"},
        {0x7e00, FP_F16, "nan"},
        {0x7c01, FP_F16, "nan"},
        {0x0000, FP_F16, "0"},
        {0x8000, FP_F16, "-0"},
        {0x3f80, FP_BF16, "1"},
        {0x4049, FP_BF16, "3.14"},
        {0x7f7f, FP_BF16, "3.39e+38"},
        {0x3dcd, FP_BF16, "0.1"},
        {0x3dcc, FP_BF16, "0.0996"},
        {0x3dcccccd, FP_F32, "0.1"},
        {0x7f7fffff, FP_F32, "3.4028235e+38"},
        {0x00000001, FP_F32, "1e-45"},
        {UINT64_C(0x3fb999999999999a), FP_F64, "0.1"},
        {UINT64_C(0x3fd5555555555555), FP_F64, "0.3333333333333333"},
        {UINT64_C(0x4202a05f20000000), FP_F64, "1e+10"},
        {UINT64_C(0x4059000000000000), FP_F64, "100"},
        {UINT64_C(0x40c3880000000000), FP_F64, "10000"},
        {UINT64_C(0x40f86a0000000000), FP_F64, "1e+05"},
        {UINT64_C(0x4340000000000000), FP_F64, "9007199254740992"},
        {UINT64_C(0x7fefffffffffffff), FP_F64, "1.7976931348623157e+308"},
        {UINT64_C(0x0000000000000001), FP_F64, "5e-324"},
        {UINT64_C(0x405edd2f1a9fbe77), FP_F64, "123.456"},
        {UINT64_C(0xbeb0c6f7a0b5ed8d), FP_F64, "-1e-06"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        cr_assert_str_eq(value_of(&b, cases[i].bits, cases[i].f), cases[i].text, "case %zu", i);
    cr_assert_str_eq(value_of(&b, double_bits(1e21), FP_F64), "1e+21");
    cr_assert_str_eq(value_of(&b, double_bits(123456789012.0), FP_F64), "123456789012");
    cr_assert_str_eq(value_of(&b, double_bits(0.000125), FP_F64), "0.000125");
    strbuf_clear(&b);
}

/* The printed value reads back exactly as the same bits, with no more
 * digits than the format needs, and (f64, f32) no more than the shortest
 * "%.Ng" that strtod / strtof read back, both correctly rounded in glibc. */
static void check_print_value(test_rng *rng, fp_format f, uint64_t bits, strbuf *b, fmpq_t q)
{
    static const int max_digits[FP_FORMAT_COUNT] = {17, 9, 5, 4};
    char sig[64];
    slong e10;
    const char *s = value_of(b, bits, f);
    (void)rng;
    cr_assert_eq(parse_decimal(q, sig, sizeof sig, &e10, s), 0, "%s", s);
    cr_assert_eq(fp_round_fmpq(q, f), bits, "%s", s);
    size_t len = strlen(sig);
    while (len > 1 && sig[len - 1] == '0') len--;
    cr_assert((int)len <= max_digits[f], "%s", s);
    if (f == FP_F64 || f == FP_F32) {
        double v = fp_bits_to_double(bits, f);
        char text[64];
        int n = 1;
        for (;; n++) {
            snprintf(text, sizeof text, "%.*g", n, v);
            if (f == FP_F64 ? strtod(text, NULL) == v : strtof(text, NULL) == (float)v) break;
        }
        cr_assert((int)len <= n, "%s vs %s", s, text);
    }
}

Test(fpfmt, print_value_round_trip)
{
    strbuf b;
    strbuf_init(&b);
    fmpq_t q;
    fmpq_init(q);
    test_rng rng = {0x9e1};
    for (uint64_t bits = 0; bits < 65536; bits++) {
        for (int f = FP_F16; f <= FP_BF16; f++) {
            double v = fp_bits_to_double(bits, (fp_format)f);
            if (!isfinite(v) || v == 0) continue;
            check_print_value(&rng, (fp_format)f, bits, &b, q);
        }
    }
    for (int i = 0; i < 10000 * test_multiplier(); i++) {
        uint64_t u = test_rand(&rng);
        if (test_randn(&rng, 4) == 0) u &= UINT64_C(0x800fffffffffffff); /* subnormals */
        double v = fp_bits_to_double(u, FP_F64);
        if (isfinite(v) && v != 0) check_print_value(&rng, FP_F64, u, &b, q);
        u &= 0xffffffffu;
        v = fp_bits_to_double(u, FP_F32);
        if (isfinite(v) && v != 0) check_print_value(&rng, FP_F32, u, &b, q);
    }
    fmpq_clear(q);
    strbuf_clear(&b);
}

/* ---- decimal digits ---- */

Test(fpfmt, decimal_known)
{
    strbuf b;
    strbuf_init(&b);
    fmpq_t q;
    fmpq_init(q);
    static const struct {
        slong num;
        ulong den;
        slong digits;
        const char *text;
    } cases[] = {
        {1, 3, 30, "0.333333333333333333333333333333"},
        {2, 3, 30, "0.666666666666666666666666666667"},
        {-2, 3, 3, "-0.667"},
        {1, 8, 2, "0.12"},
        {1, 8, 1, "0.1"},
        {3, 8, 2, "0.38"},
        {1, 4, 1, "0.2"},
        {3, 4, 1, "0.8"},
        {35, 100, 1, "0.4"},
        {45, 100, 1, "0.4"},
        {3, 2, 1, "2"},
        {5, 2, 1, "2"},
        {-5, 2, 1, "-2"},
        {1999, 200, 3, "10.0"}, /* 9.995: carry */
        {9995, 1, 3, "10000"},
        {-99995, 1, 4, "-100000"},
        {9995, 1, 2, "10000"},
        {199999, 2, 5, "100000"}, /* 99999.5: tie, odd, carry */
        {123456789, 1, 3, "123000000"},
        {2469, 2, 4, "1234"}, /* 1234.5 */
        {2471, 2, 4, "1236"}, /* 1235.5 */
        {1, 7, 5, "0.14286"},
        {1, 1, 1, "1"},
        {1, 1, 4, "1.000"},
        {10, 1, 1, "10"},
        {10, 1, 2, "10"},
        {12345, 1, 3, "12300"},
        {1, 1000000, 2, "0.0000010"},
        {1, 10000000, 2, "1.0e-07"},
        {-99, 100000000, 1, "-0.000001"}, /* carry into the plain range */
        {-99, 1000000000, 1, "-1e-07"},
        {0, 1, 5, "0"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fmpq_set_si(q, cases[i].num, cases[i].den);
        cr_assert_str_eq(decimal_of(&b, q, cases[i].digits), cases[i].text, "case %zu", i);
    }
    q_set_pow10(q, 25);
    cr_assert_str_eq(decimal_of(&b, q, 3), "1.00e+25");
    q_set_pow10(q, 21);
    cr_assert_str_eq(decimal_of(&b, q, 3), "1.00e+21");
    q_set_pow10(q, 20);
    cr_assert_str_eq(decimal_of(&b, q, 3), "100000000000000000000");
    q_set_pow10(q, 100);
    cr_assert_str_eq(decimal_of(&b, q, 1), "1e+100");
    q_set_pow10(q, -100);
    fmpq_mul_si(q, q, -7);
    cr_assert_str_eq(decimal_of(&b, q, 2), "-7.0e-100");
    fmpq_set_si(q, 1, 1);
    fmpq_div_2exp(q, q, 1074);
    cr_assert_str_eq(decimal_of(&b, q, 5), "4.9407e-324");
    fmpq_clear(q);
    strbuf_clear(&b);
}

/* A random rational: random numerator and denominator of up to 128 bits,
 * times 10^k; or an exact tie (t + 1/2) * 10^k, t of `digits` digits. */
static void random_rational(fmpq_t q, test_rng *rng, slong digits, int *tie)
{
    fmpz_t t;
    fmpz_init(t);
    *tie = test_randn(rng, 4) == 0;
    if (*tie) {
        fmpz_t r;
        fmpz_init(r);
        fmpz_set_ui(t, 10);
        fmpz_pow_ui(t, t, (ulong)(digits - 1));
        fmpz_set_ui(r, test_rand(rng));
        fmpz_mul_2exp(r, r, 64);
        fmpz_add_ui(r, r, test_rand(rng));
        fmpz_mul_ui(fmpq_numref(q), t, 9);
        fmpz_mod(r, r, fmpq_numref(q));
        fmpz_add(t, t, r); /* t in [10^(N-1), 10^N) */
        fmpz_mul_2exp(fmpq_numref(q), t, 1);
        fmpz_add_ui(fmpq_numref(q), fmpq_numref(q), 1);
        fmpz_set_ui(fmpq_denref(q), 2);
        fmpz_clear(r);
    } else {
        for (int part = 0; part < 2; part++) {
            fmpz *z = part ? fmpq_denref(q) : fmpq_numref(q);
            fmpz_set_ui(z, test_rand(rng));
            int limbs = test_randn(rng, 2);
            for (int i = 0; i < limbs; i++) {
                fmpz_mul_2exp(z, z, 64);
                fmpz_add_ui(z, z, test_rand(rng));
            }
            fmpz_fdiv_q_2exp(z, z, (ulong)test_randn(rng, 64));
            if (fmpz_is_zero(z)) fmpz_one(z);
        }
    }
    fmpq_canonicalise(q);
    fmpq_t p;
    fmpq_init(p);
    q_set_pow10(p, test_randn(rng, 61) - 30);
    fmpq_mul(q, q, p);
    if (test_randn(rng, 2)) fmpq_neg(q, q);
    fmpq_clear(p);
    fmpz_clear(t);
}

/* s is q rounded to `digits` significant digits: exactly that many digits
 * (then only padding zeros before the point), within half a unit of the
 * last one, even on a tie; plain layout iff the exponent is in [-6, 21). */
static void check_decimal(const char *s, const fmpq_t q, slong digits, int tie)
{
    char sig[128];
    slong e10;
    fmpq_t v, d;
    fmpq_init(v);
    fmpq_init(d);
    cr_assert_eq(parse_decimal(v, sig, sizeof sig, &e10, s), 0, "%s", s);
    slong len = (slong)strlen(sig);
    cr_assert(len >= digits && sig[0] != '0', "%s", s);
    for (slong i = digits; i < len; i++) cr_assert_eq(sig[i], '0', "%s", s);
    cr_assert(len == digits || (!strchr(s, '.') && !strchr(s, 'e')), "%s", s);
    slong lead = e10 + len - 1, unit = lead - digits + 1;
    cr_assert_eq(strchr(s, 'e') == NULL, lead >= -6 && lead < 21, "%s", s);
    cr_assert_eq(fmpq_sgn(v), fmpq_sgn(q), "%s", s);
    /* d = 2 |q - v| / 10^unit <= 1 */
    fmpq_sub(d, q, v);
    fmpq_abs(d, d);
    fmpq_mul_2exp(d, d, 1);
    fmpq_t p;
    fmpq_init(p);
    q_set_pow10(p, -unit);
    fmpq_mul(d, d, p);
    int c = fmpq_cmp_si(d, 1);
    cr_assert(c <= 0, "%s", s);
    if (c == 0) cr_assert((sig[digits - 1] - '0') % 2 == 0, "%s: tie to odd", s);
    else if (tie) { /* only when t = 99...9 carried to 10^N */
        cr_assert_eq(sig[0], '1', "%s: missed a tie", s);
        for (slong i = 1; i < len; i++) cr_assert_eq(sig[i], '0', "%s: missed a tie", s);
    }
    fmpq_clear(p);
    fmpq_clear(v);
    fmpq_clear(d);
}

Test(fpfmt, decimal_random)
{
    strbuf b;
    strbuf_init(&b);
    fmpq_t q;
    fmpq_init(q);
    test_rng rng = {0xdec};
    int n = 20000 * test_multiplier();
    for (int i = 0; i < n; i++) {
        slong digits = 1 + test_randn(&rng, 40);
        int tie;
        random_rational(q, &rng, digits, &tie);
        check_decimal(decimal_of(&b, q, digits), q, digits, tie);
    }
    fmpq_clear(q);
    strbuf_clear(&b);
}

Test(fpfmt, decimal_ball_random)
{
    strbuf b, c;
    strbuf_init(&b);
    strbuf_init(&c);
    fmpq_t q;
    fmpq_init(q);
    arb_t x;
    arb_init(x);
    test_rng rng = {0xba1d};
    int n = 5000 * test_multiplier(), decided = 0, tight = 0;
    for (int i = 0; i < n; i++) {
        slong digits = 1 + test_randn(&rng, 40);
        int tie;
        random_rational(q, &rng, digits, &tie);
        slong prec = test_randn(&rng, 2) ? 4 * digits + 200 : 2 * digits + test_randn(&rng, 60);
        arb_set_fmpq(x, q, prec);
        strbuf_reset(&b);
        decimal_of(&c, q, digits);
        int ok = fp_decimal_ball(&b, x, digits);
        if (ok) cr_assert_str_eq(strbuf_str(&b), strbuf_str(&c));
        else cr_assert_eq(b.len, 0);
        /* a non-dyadic tie is never decided by a ball; other values are,
         * once the ball is tight */
        if (tie && !mag_is_zero(arb_radref(x))) cr_assert(!ok, "%s", strbuf_str(&c));
        if (!tie && prec >= 4 * digits + 200) {
            tight++;
            decided += ok;
        }
    }
    cr_assert(decided >= tight - tight / 100, "%d of %d", decided, tight);
    arb_clear(x);
    fmpq_clear(q);
    strbuf_clear(&b);
    strbuf_clear(&c);
}

/* x = 1.2345 + sign * 10^-40: the ball decides 4 digits only once its
 * radius is below 10^-40, and then on the right side of the tie 1.2345. */
Test(fpfmt, decimal_ball_near_tie)
{
    strbuf b;
    strbuf_init(&b);
    fmpq_t q, t;
    fmpq_init(q);
    fmpq_init(t);
    arb_t x;
    arb_init(x);
    for (int sign = -1; sign <= 1; sign += 2) {
        fmpq_set_si(q, 12345, 10000);
        q_set_pow10(t, -40);
        if (sign < 0) fmpq_neg(t, t);
        fmpq_add(q, q, t);
        arb_set_fmpq(x, q, 100); /* radius about 2^-100 > 10^-40 */
        strbuf_reset(&b);
        cr_assert(!fp_decimal_ball(&b, x, 4));
        arb_set_fmpq(x, q, 200);
        cr_assert(fp_decimal_ball(&b, x, 4));
        cr_assert_str_eq(strbuf_str(&b), sign > 0 ? "1.235" : "1.234");
        strbuf_reset(&b);
        cr_assert(fp_decimal_ball(&b, x, 5)); /* 5 digits are far from a tie */
        cr_assert_str_eq(strbuf_str(&b), "1.2345");
    }
    /* the exact tie: a ball around it never decides, an exact one does */
    fmpq_set_si(q, 12345, 10000);
    arb_set_fmpq(x, q, 10000);
    strbuf_reset(&b);
    cr_assert(!fp_decimal_ball(&b, x, 4));
    arb_set_d(x, 0.125); /* exact: 0.125 to 2 digits is a tie, to even */
    cr_assert(fp_decimal_ball(&b, x, 2));
    cr_assert_str_eq(strbuf_str(&b), "0.12");
    /* a tie as an endpoint: [1/8 - 2^-60, 1/8] all rounds to 0.12, the
     * tie 1/8 included; [1/8, 1/8 + 2^-60] does not */
    arf_set_ui_2exp_si(arb_midref(x), (UWORD(1) << 58) - 1, -61);
    mag_set_ui_2exp_si(arb_radref(x), 1, -61);
    strbuf_reset(&b);
    cr_assert(fp_decimal_ball(&b, x, 2));
    cr_assert_str_eq(strbuf_str(&b), "0.12");
    arf_set_ui_2exp_si(arb_midref(x), (UWORD(1) << 58) + 1, -61);
    strbuf_reset(&b);
    cr_assert(!fp_decimal_ball(&b, x, 2));
    /* 1 +- 2^-300 to 40 digits: the endpoints need many more bits than 1 */
    ball_2exp(x, 1, 0, -300);
    strbuf_reset(&b);
    cr_assert(fp_decimal_ball(&b, x, 40));
    cr_assert_str_eq(strbuf_str(&b), "1.000000000000000000000000000000000000000");
    ball_2exp(x, 1, 0, -100);
    strbuf_reset(&b);
    cr_assert(!fp_decimal_ball(&b, x, 40));
    /* across a power of ten: [9.99996, 10.00001] is 10.00 throughout */
    fmpq_set_si(q, 999996, 100000);
    arb_set_fmpq(x, q, 100);
    fmpq_set_si(q, 1000001, 100000);
    arb_t y;
    arb_init(y);
    arb_set_fmpq(y, q, 100);
    arb_union(x, x, y, 100);
    strbuf_reset(&b);
    cr_assert(fp_decimal_ball(&b, x, 4));
    cr_assert_str_eq(strbuf_str(&b), "10.00");
    strbuf_reset(&b);
    cr_assert(!fp_decimal_ball(&b, x, 6));
    /* signs, zero, infinity */
    arb_neg(x, x);
    strbuf_reset(&b);
    cr_assert(fp_decimal_ball(&b, x, 3));
    cr_assert_str_eq(strbuf_str(&b), "-10.0");
    arb_zero(x);
    strbuf_reset(&b);
    cr_assert(fp_decimal_ball(&b, x, 3));
    cr_assert_str_eq(strbuf_str(&b), "0");
    ball_2exp(x, 1, -200, -150);
    strbuf_reset(&b);
    cr_assert(!fp_decimal_ball(&b, x, 3));
    arb_indeterminate(x);
    cr_assert(!fp_decimal_ball(&b, x, 3));
    arb_neg_inf(x);
    cr_assert(!fp_decimal_ball(&b, x, 3));
    cr_assert_eq(b.len, 0);
    arb_clear(y);
    arb_clear(x);
    fmpq_clear(q);
    fmpq_clear(t);
    strbuf_clear(&b);
}

/* 10,000 digits of 1/7 = 0.(142857): digit 10,001 is 5 followed by 7..., so
 * the last digit 8 rounds up to 9. */
Test(fpfmt, decimal_ten_thousand_digits)
{
    strbuf b;
    strbuf_init(&b);
    fmpq_t q;
    fmpq_init(q);
    fmpq_set_si(q, 1, 7);
    const slong n = 10000;
    char *want = malloc((size_t)n + 3);
    memcpy(want, "0.", 2);
    for (slong i = 0; i < n; i++) want[2 + i] = "142857"[i % 6];
    cr_assert_eq(want[2 + n - 1], '8');
    want[2 + n - 1] = '9';
    want[2 + n] = 0;
    cr_assert_str_eq(decimal_of(&b, q, n), want);
    arb_t x;
    arb_init(x);
    arb_set_fmpq(x, q, 4 * n);
    strbuf_reset(&b);
    cr_assert(fp_decimal_ball(&b, x, n));
    cr_assert_str_eq(strbuf_str(&b), want);
    arb_set_fmpq(x, q, 3 * n); /* 2^-30000 > 10^-9100: wider than a last unit */
    strbuf_reset(&b);
    cr_assert(!fp_decimal_ball(&b, x, n));
    /* 10,000 digits of 2/3 * 10^-50: scientific layout */
    fmpq_set_si(q, 2, 3);
    fmpq_t p;
    fmpq_init(p);
    q_set_pow10(p, -50);
    fmpq_mul(q, q, p);
    const char *s = decimal_of(&b, q, n);
    cr_assert_eq(strlen(s), (size_t)n + 1 + 4);
    cr_assert(strncmp(s, "6.666", 5) == 0);
    cr_assert_str_eq(s + n - 1, "67e-51");
    fmpq_clear(p);
    arb_clear(x);
    free(want);
    fmpq_clear(q);
    strbuf_clear(&b);
}

Test(fpfmt, double_to_fmpq_is_exact)
{
    fmpq_t q, w;
    fmpq_init(q);
    fmpq_init(w);
    fp_double_to_fmpq(q, 0.1); /* 0.1 is 3602879701896397 / 2^55 */
    fmpq_set_str(w, "3602879701896397/36028797018963968", 10);
    cr_assert(fmpq_equal(q, w));
    fp_double_to_fmpq(q, -0.0);
    cr_assert(fmpq_is_zero(q));
    fp_double_to_fmpq(q, -0x1p-1074); /* the smallest subnormal */
    fmpq_set_si(w, -1, 1);
    fmpq_div_2exp(w, w, 1074);
    cr_assert(fmpq_equal(q, w));
    fp_double_to_fmpq(q, 0x1.fffffffffffffp1023); /* the largest double: (2^53 - 1) 2^971 */
    fmpz_set_ui(fmpq_numref(w), 1);
    fmpz_mul_2exp(fmpq_numref(w), fmpq_numref(w), 53);
    fmpz_sub_ui(fmpq_numref(w), fmpq_numref(w), 1);
    fmpz_mul_2exp(fmpq_numref(w), fmpq_numref(w), 971);
    fmpz_one(fmpq_denref(w));
    cr_assert(fmpq_equal(q, w));
    /* round trip through the rounding to f64 for random doubles */
    test_rng r = { 71 };
    for (int i = 0; i < 1000 * test_multiplier(); i++) {
        uint64_t bits = test_rand(&r);
        if (i % 2) bits &= ~((uint64_t)0x7ff << 52); /* half of them subnormal */
        double x;
        memcpy(&x, &bits, sizeof x);
        if (!isfinite(x)) continue;
        fp_double_to_fmpq(q, x);
        cr_assert_eq(fp_round_fmpq(q, FP_F64), bits, "%a", x);
    }
    fmpq_clear(q);
    fmpq_clear(w);
}

/* Tests of core/fpfmt: rounding into f64, f32, f16, bf16 from doubles,
 * exact rationals, arf values and balls, against references written here
 * (tests/lib/testfpfmt.h). Printing and decimals: test_fpfmt_decimal. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "core/fpfmt.h"
#include "tests/lib/testfpfmt.h"
#include "tests/lib/testlib.h"

/* ---- formats ---- */

Test(fpfmt, format_table)
{
    static const struct {
        const char *name;
        int prec, bits, exp_bits;
        long emin, emax;
    } want[FP_FORMAT_COUNT] = {
        [FP_F64] = {"f64", 53, 64, 11, -1073, 1024},
        [FP_F32] = {"f32", 24, 32, 8, -148, 128},
        [FP_F16] = {"f16", 11, 16, 5, -23, 16},
        [FP_BF16] = {"bf16", 8, 16, 8, -132, 128},
    };
    for (int f = 0; f < FP_FORMAT_COUNT; f++) {
        const fp_format_info *fi = fp_info((fp_format)f);
        cr_assert_str_eq(fi->name, want[f].name);
        cr_assert_eq(fi->prec, want[f].prec);
        cr_assert_eq(fi->bits, want[f].bits);
        cr_assert_eq(fi->exp_bits, want[f].exp_bits);
        cr_assert_eq(fi->emin, want[f].emin);
        cr_assert_eq(fi->emax, want[f].emax);
        /* the ranges against the values they encode: smallest subnormal
         * 2^(emin-1), largest finite (1-2^-p)*2^emax */
        uint64_t inf = ((UINT64_C(1) << fi->exp_bits) - 1) << (fi->prec - 1);
        cr_assert_eq(fp_bits_to_double(1, (fp_format)f), ldexp(1, (int)fi->emin - 1));
        cr_assert_eq(fp_bits_to_double(inf - 1, (fp_format)f), ldexp(1 - ldexp(1, -fi->prec), (int)fi->emax));
    }
    cr_assert_eq(fp_bits_to_double(0x7bff, FP_F16), 65504.0);
    cr_assert_eq(fp_bits_to_double(0x0001, FP_F16), ldexp(1, -24));
    cr_assert_eq(fp_bits_to_double(0x0001, FP_BF16), ldexp(1, -133));
    cr_assert_eq(fp_bits_to_double(0x0080, FP_BF16), ldexp(1, -126));
    cr_assert_eq(fp_bits_to_double(0x7f7f, FP_BF16), (double)FLT_MAX - ldexp(1, 127 - 7) + ldexp(1, 127 - 23));

    static const struct {
        const char *name;
        fp_format f;
    } names[] = {{"f64", FP_F64},     {"float64", FP_F64}, {"double", FP_F64},  {"f32", FP_F32},
                 {"float32", FP_F32}, {"float", FP_F32},   {"f16", FP_F16},     {"float16", FP_F16},
                 {"half", FP_F16},    {"bf16", FP_BF16},   {"bfloat16", FP_BF16}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        fp_format f = FP_FORMAT_COUNT;
        cr_assert_eq(fp_format_from_name(&f, names[i].name), 0, "%s", names[i].name);
        cr_assert_eq(f, names[i].f);
    }
    fp_format f = FP_F32;
    cr_assert_eq(fp_format_from_name(&f, "f8"), -1);
    cr_assert_eq(fp_format_from_name(&f, "F16"), -1);
    cr_assert_eq(fp_format_from_name(&f, ""), -1);
    cr_assert_eq(f, FP_F32);
}

/* Every 16-bit pattern: the decoder against ref_decode, and rounding the
 * value back gives the pattern (NaN: the quiet NaN of its sign). */
static void check_all_patterns(fp_format f, int w, int t, uint64_t qnan)
{
    for (uint64_t b = 0; b < 65536; b++) {
        double v = fp_bits_to_double(b, f), r = ref_decode(b, w, t);
        uint64_t sign = b & 0x8000;
        if (isnan(r)) {
            cr_assert(isnan(v), "%#llx", (unsigned long long)b);
            cr_assert_eq(!!signbit(v), sign != 0);
            cr_assert_eq(fp_round_double(v, f), sign | qnan, "%#llx", (unsigned long long)b);
            continue;
        }
        cr_assert_eq(double_bits(v), double_bits(r), "%#llx: %a vs %a", (unsigned long long)b, v, r);
        cr_assert_eq(fp_round_double(v, f), b, "%#llx", (unsigned long long)b);
        cr_assert_eq(ref_round(v, t + 1, w), b, "%#llx", (unsigned long long)b);
    }
}

Test(fpfmt, f16_every_pattern) { check_all_patterns(FP_F16, 5, 10, 0x7e00); }
Test(fpfmt, bf16_every_pattern) { check_all_patterns(FP_BF16, 8, 7, 0x7fc0); }

Test(fpfmt, f32_f64_patterns)
{
    test_rng rng = {0xf32};
    int n = 100000 * test_multiplier();
    for (int i = 0; i < n; i++) {
        uint32_t b32 = (uint32_t)test_rand(&rng);
        float x;
        memcpy(&x, &b32, sizeof x);
        double v = fp_bits_to_double(b32, FP_F32);
        if (isnan(x)) {
            cr_assert(isnan(v));
            cr_assert_eq(fp_round_double(v, FP_F32), (b32 & 0x80000000u) | 0x7fc00000u);
            continue;
        }
        cr_assert_eq(double_bits(v), double_bits((double)x));
        cr_assert_eq(fp_round_double(v, FP_F32), b32);
        uint64_t b64 = test_rand(&rng);
        double y;
        memcpy(&y, &b64, sizeof y);
        if (isnan(y)) continue;
        cr_assert_eq(double_bits(fp_bits_to_double(b64, FP_F64)), b64);
        cr_assert_eq(fp_round_double(y, FP_F64), b64);
    }
    cr_assert_eq(fp_round_double(NAN, FP_F64), UINT64_C(0x7ff8000000000000));
    cr_assert_eq(fp_round_double(-NAN, FP_F64), UINT64_C(0xfff8000000000000));
    cr_assert_eq(fp_round_double(NAN, FP_F32), 0x7fc00000u);
    cr_assert_eq(fp_round_double(-NAN, FP_BF16), 0xffc0u);
    cr_assert_eq(fp_round_double(-0.0, FP_F16), 0x8000u);
    cr_assert_eq(fp_round_double(-INFINITY, FP_F32), 0xff800000u);
}

/* ---- rounding doubles: f16 and bf16 against ref_round, f32 against the cast ---- */

/* A finite value of the format f (p bits, emax) just below its neighbour
 * above, and that neighbour (2^emax above the largest finite value). */
static void random_neighbours(double *a, double *b, test_rng *rng, fp_format f)
{
    const fp_format_info *fi = fp_info(f);
    uint64_t inf = ((UINT64_C(1) << fi->exp_bits) - 1) << (fi->prec - 1);
    uint64_t k = test_rand(rng) % inf;
    *a = fp_bits_to_double(k, f);
    *b = k + 1 == inf ? ldexp(1, (int)fi->emax) : fp_bits_to_double(k + 1, f);
}

/* Values where rounding to f is delicate: midpoints of neighbours (exact
 * ties), the doubles next to them, the neighbours themselves, the range of
 * f's exponents with random significands, subnormals, and raw bits. */
static double random_test_double(test_rng *rng, fp_format f)
{
    const fp_format_info *fi = fp_info(f);
    double a, b, x;
    int kind = test_randn(rng, 8);
    switch (kind) {
    case 0: {
        uint64_t u = test_rand(rng);
        memcpy(&x, &u, sizeof x);
        break;
    }
    case 1:
    case 2: { /* f's exponent range and a little beyond, any significand */
        int span = (int)(fi->emax - fi->emin) + 8 + fi->prec;
        int e = (int)fi->emin - fi->prec - 4 + test_randn(rng, span);
        x = ldexp(1 + ldexp((double)(test_rand(rng) >> 12), -52), e);
        break;
    }
    case 3: /* exact midpoint */
        random_neighbours(&a, &b, rng, f);
        x = a + (b - a) / 2;
        break;
    case 4: /* just off a midpoint */
        random_neighbours(&a, &b, rng, f);
        x = nextafter(a + (b - a) / 2, test_randn(rng, 2) ? INFINITY : 0);
        break;
    case 5: /* a value of f, or next to one */
        random_neighbours(&a, &b, rng, f);
        x = test_randn(rng, 3) == 0 ? a : nextafter(a, test_randn(rng, 2) ? INFINITY : 0);
        break;
    case 6: /* below the smallest normal, down to under the smallest subnormal */
        x = ldexp((double)(test_rand(rng) >> 11), (int)fi->emin - 1 - 53 - 2 + test_randn(rng, fi->prec + 3));
        break;
    default: /* near the overflow threshold (1-2^-(p+1))*2^emax */
        x = ldexp(1 - ldexp(1, -fi->prec - 1), (int)fi->emax);
        for (int steps = test_randn(rng, 4); steps > 0; steps--) x = nextafter(x, INFINITY);
        for (int steps = test_randn(rng, 4); steps > 0; steps--) x = nextafter(x, 0);
        break;
    }
    return test_randn(rng, 2) ? -x : x;
}

static void check_random_doubles(uint64_t seed, int count)
{
    test_rng rng = {seed};
    static const fp_format formats[] = {FP_F16, FP_BF16, FP_F32};
    for (int i = 0; i < count; i++) {
        fp_format g = formats[test_randn(&rng, 3)];
        double x = random_test_double(&rng, g);
        if (isnan(x)) continue;
        cr_assert_eq(fp_round_double(x, FP_F16), ref_round(x, 11, 5), "%a", x);
        cr_assert_eq(fp_round_double(x, FP_BF16), ref_round(x, 8, 8), "%a", x);
        cr_assert_eq(fp_round_double(x, FP_F32), float_bits((float)x), "%a", x);
        cr_assert_eq(ref_round(x, 24, 8), float_bits((float)x), "%a", x); /* the reference itself */
    }
}

/* 4 x 250,000 doubles (times HMP_TEST_MULTIPLIER), each rounded to three formats. */
Test(fpfmt, random_doubles_0) { check_random_doubles(1, 250000 * test_multiplier()); }
Test(fpfmt, random_doubles_1) { check_random_doubles(2, 250000 * test_multiplier()); }
Test(fpfmt, random_doubles_2) { check_random_doubles(3, 250000 * test_multiplier()); }
Test(fpfmt, random_doubles_3) { check_random_doubles(4, 250000 * test_multiplier()); }

Test(fpfmt, rounding_boundaries)
{
    /* f16: overflow threshold 65520 = 65504 + 16 is a tie, to even = infinity */
    cr_assert_eq(fp_round_double(65520.0, FP_F16), 0x7c00);
    cr_assert_eq(fp_round_double(-65520.0, FP_F16), 0xfc00);
    cr_assert_eq(fp_round_double(nextafter(65520.0, 0), FP_F16), 0x7bff);
    cr_assert_eq(fp_round_double(65519.99, FP_F16), 0x7bff);
    cr_assert_eq(fp_round_double(1e300, FP_F16), 0x7c00);
    /* ties to even */
    cr_assert_eq(fp_round_double(1 + ldexp(1, -11), FP_F16), 0x3c00);
    cr_assert_eq(fp_round_double(1 + 3 * ldexp(1, -11), FP_F16), 0x3c02);
    cr_assert_eq(fp_round_double(nextafter(1 + ldexp(1, -11), 2), FP_F16), 0x3c01);
    cr_assert_eq(fp_round_double(1 + ldexp(1, -8), FP_BF16), 0x3f80);
    cr_assert_eq(fp_round_double(1 + 3 * ldexp(1, -8), FP_BF16), 0x3f82);
    /* subnormals: half of the smallest goes to 0 (even), 3/2 of it to 2 */
    cr_assert_eq(fp_round_double(ldexp(1, -25), FP_F16), 0x0000);
    cr_assert_eq(fp_round_double(-ldexp(1, -25), FP_F16), 0x8000);
    cr_assert_eq(fp_round_double(nextafter(ldexp(1, -25), 1), FP_F16), 0x0001);
    cr_assert_eq(fp_round_double(3 * ldexp(1, -25), FP_F16), 0x0002);
    cr_assert_eq(fp_round_double(ldexp(1, -24), FP_F16), 0x0001);
    cr_assert_eq(fp_round_double(ldexp(1023.5, -24), FP_F16), 0x0400); /* up to the smallest normal */
    cr_assert_eq(fp_round_double(ldexp(1, -134), FP_BF16), 0x0000);
    cr_assert_eq(fp_round_double(ldexp(3, -134), FP_BF16), 0x0002);
    cr_assert_eq(fp_round_double(DBL_TRUE_MIN, FP_F32), 0);
    /* bf16: overflow threshold (1-2^-9)*2^128 */
    double t = ldexp(1 - ldexp(1, -9), 128);
    cr_assert_eq(fp_round_double(t, FP_BF16), 0x7f80);
    cr_assert_eq(fp_round_double(nextafter(t, 0), FP_BF16), 0x7f7f);
    cr_assert_eq(fp_round_double((double)FLT_MAX, FP_BF16), 0x7f80);
    cr_assert_eq(fp_round_double(1.0 / 3, FP_F16), 0x3555);
    cr_assert_eq(fp_round_double(0.1, FP_F16), 0x2e66);
    cr_assert_eq(fp_round_double(1.0 / 3, FP_BF16), 0x3eab);
    cr_assert_eq(fp_round_double(0.1, FP_BF16), 0x3dcd);
}

/* ---- exact rationals ---- */

static uint64_t round_q_si(slong num, ulong den, fp_format f)
{
    fmpq_t q;
    fmpq_init(q);
    fmpq_set_si(q, num, den);
    uint64_t b = fp_round_fmpq(q, f);
    fmpq_clear(q);
    return b;
}

/* (1 + sign * k * 2^-j) * 2^s, exactly */
static uint64_t round_q_dyadic(slong k, ulong j, slong s, fp_format f)
{
    fmpq_t q, t;
    fmpq_init(q);
    fmpq_init(t);
    fmpq_set_si(t, k, 1);
    fmpq_div_2exp(t, t, j);
    fmpq_one(q);
    fmpq_add(q, q, t);
    if (s >= 0)
        fmpq_mul_2exp(q, q, (ulong)s);
    else
        fmpq_div_2exp(q, q, (ulong)-s);
    uint64_t b = fp_round_fmpq(q, f);
    fmpq_clear(q);
    fmpq_clear(t);
    return b;
}

Test(fpfmt, rationals_known)
{
    cr_assert_eq(round_q_si(1, 3, FP_F64), UINT64_C(0x3fd5555555555555));
    cr_assert_eq(round_q_si(2, 3, FP_F64), UINT64_C(0x3fe5555555555555));
    cr_assert_eq(round_q_si(1, 10, FP_F64), UINT64_C(0x3fb999999999999a));
    cr_assert_eq(round_q_si(-1, 10, FP_F64), UINT64_C(0xbfb999999999999a));
    cr_assert_eq(round_q_si(1, 3, FP_F32), 0x3eaaaaab);
    cr_assert_eq(round_q_si(1, 10, FP_F32), 0x3dcccccd);
    cr_assert_eq(round_q_si(1, 3, FP_F16), 0x3555);
    cr_assert_eq(round_q_si(2, 3, FP_F16), 0x3955);
    cr_assert_eq(round_q_si(1, 3, FP_BF16), 0x3eab);
    cr_assert_eq(round_q_si(0, 1, FP_F16), 0);
    /* ties: 1 + 2^-53 to 1 (even), 1 + 3*2^-53 to 1 + 2^-51 */
    cr_assert_eq(round_q_dyadic(1, 53, 0, FP_F64), UINT64_C(0x3ff0000000000000));
    cr_assert_eq(round_q_dyadic(3, 53, 0, FP_F64), UINT64_C(0x3ff0000000000002));
    cr_assert_eq(round_q_dyadic(-1, 54, 0, FP_F64), UINT64_C(0x3ff0000000000000)); /* 1 - 2^-54 */
    cr_assert_eq(round_q_dyadic(-3, 54, 0, FP_F64), UINT64_C(0x3feffffffffffffe));
    /* just past a tie, far below the last place: no double rounding */
    fmpq_t q, t;
    fmpq_init(q);
    fmpq_init(t);
    fmpq_set_si(q, 1, 1);
    fmpq_set_si(t, 1, 1);
    fmpq_div_2exp(t, t, 53);
    fmpq_add(q, q, t);
    fmpq_set_si(t, 1, 1);
    fmpq_div_2exp(t, t, 300);
    fmpq_add(q, q, t);
    cr_assert_eq(fp_round_fmpq(q, FP_F64), UINT64_C(0x3ff0000000000001));
    fmpq_sub(q, q, t);
    fmpq_sub(q, q, t);
    cr_assert_eq(fp_round_fmpq(q, FP_F64), UINT64_C(0x3ff0000000000000));
    /* f16 1 + 2^-11 + 2^-60 rounds up, although it is 1 + 2^-11 at 53 bits */
    cr_assert_eq(round_q_dyadic(1, 11, 0, FP_F16), 0x3c00);
    fmpq_set_si(q, 1, 1);
    fmpq_set_si(t, (slong)1 << 49 | 1, 1);
    fmpq_div_2exp(t, t, 60);
    fmpq_add(q, q, t);
    cr_assert_eq(fp_round_fmpq(q, FP_F16), 0x3c01);
    /* subnormals, zero, infinity */
    cr_assert_eq(round_q_dyadic(0, 0, -1075, FP_F64), 0); /* 2^-1075: tie to 0 */
    cr_assert_eq(round_q_dyadic(0, 0, -1074, FP_F64), 1);
    cr_assert_eq(round_q_dyadic(1, 1, -1074, FP_F64), 2); /* 3*2^-1075: tie to 2 */
    cr_assert_eq(round_q_dyadic(1, 200, -1075, FP_F64), 1);
    cr_assert_eq(round_q_dyadic(0, 0, -2000, FP_F64), 0);
    cr_assert_eq(round_q_dyadic(-1, 60, -1022, FP_F64), UINT64_C(0x0010000000000000)); /* into the normals */
    cr_assert_eq(round_q_si(-1, 3, FP_F64) >> 63, 1);
    cr_assert_eq(round_q_dyadic(-1, 54, 1024, FP_F64), UINT64_C(0x7ff0000000000000)); /* the threshold */
    cr_assert_eq(round_q_dyadic(-1, 53, 1024, FP_F64), UINT64_C(0x7fefffffffffffff));
    cr_assert_eq(round_q_dyadic(-1, 12, 16, FP_F16), 0x7c00); /* 65520 */
    cr_assert_eq(round_q_dyadic(-1, 11, 16, FP_F16), 0x7bff);
    cr_assert_eq(round_q_dyadic(0, 0, -25, FP_F16), 0);
    cr_assert_eq(round_q_dyadic(1, 100, -25, FP_F16), 1);
    fmpz_set_ui(fmpq_numref(q), 10);
    fmpz_pow_ui(fmpq_numref(q), fmpq_numref(q), 400);
    fmpz_set_ui(fmpq_denref(q), 3);
    cr_assert_eq(fp_round_fmpq(q, FP_F64), UINT64_C(0x7ff0000000000000));
    fmpq_neg(q, q);
    cr_assert_eq(fp_round_fmpq(q, FP_F64), UINT64_C(0xfff0000000000000));
    fmpq_inv(q, q);
    cr_assert_eq(fp_round_fmpq(q, FP_F64), UINT64_C(0x8000000000000000));
    cr_assert_eq(fp_round_fmpq(q, FP_BF16), 0x8000);
    fmpq_clear(q);
    fmpq_clear(t);
}

/* Rationals that are doubles round as the doubles do; a/b with b < 2^26
 * rounds as the correctly rounded double a/b does, since a/b is then either
 * that double or farther from every midpoint of f16, bf16, f32 (denominator
 * 2^(p+1-E)) than the double's error 2^(E-53): 1/(b*2^(p+1-E)) > 2^(E-53)
 * when b < 2^(52-p). */
Test(fpfmt, rationals_random)
{
    test_rng rng = {0x9a7};
    fmpq_t q;
    fmpq_init(q);
    int n = 100000 * test_multiplier();
    for (int i = 0; i < n; i++) {
        fp_format f = (fp_format)test_randn(&rng, FP_FORMAT_COUNT);
        double x = random_test_double(&rng, f == FP_F64 ? FP_F32 : f);
        if (!isfinite(x)) continue;
        if (x == 0) x = 0; /* a rational zero has no sign */
        q_from_double(q, x);
        for (int g = 0; g < FP_FORMAT_COUNT; g++)
            cr_assert_eq(fp_round_fmpq(q, (fp_format)g), fp_round_double(x, (fp_format)g), "%a", x);

        slong a = (slong)(test_rand(&rng) >> 11) - (WORD(1) << 52);
        ulong b = 1 + (test_rand(&rng) >> 38);
        int s = test_randn(&rng, 360) - 200;
        double y = ldexp((double)a / (double)b, s);
        if (y == 0 || !isfinite(y) || fabs(y) < DBL_MIN) continue;
        fmpq_set_si(q, a, b);
        if (s >= 0)
            fmpq_mul_2exp(q, q, (ulong)s);
        else
            fmpq_div_2exp(q, q, (ulong)-s);
        cr_assert_eq(fp_round_fmpq(q, FP_F16), ref_round(y, 11, 5), "%ld/%lu*2^%d", (long)a, (unsigned long)b, s);
        cr_assert_eq(fp_round_fmpq(q, FP_BF16), ref_round(y, 8, 8), "%ld/%lu*2^%d", (long)a, (unsigned long)b, s);
        cr_assert_eq(fp_round_fmpq(q, FP_F32), float_bits((float)y), "%ld/%lu*2^%d", (long)a, (unsigned long)b, s);
    }
    fmpq_clear(q);
}

Test(fpfmt, arf_values)
{
    arf_t x;
    arf_init(x);
    test_rng rng = {0xa2f};
    for (int i = 0; i < 20000 * test_multiplier(); i++) {
        double v = random_test_double(&rng, (fp_format)test_randn(&rng, FP_FORMAT_COUNT));
        if (isnan(v)) continue;
        arf_set_d(x, v);
        for (int g = 0; g < FP_FORMAT_COUNT; g++) {
            uint64_t want = fp_round_double(v, (fp_format)g);
            if (v == 0) want = 0; /* arf has no -0 */
            cr_assert_eq(fp_round_arf(x, (fp_format)g), want, "%a", v);
        }
    }
    arf_nan(x);
    cr_assert_eq(fp_round_arf(x, FP_F16), 0x7e00);
    arf_neg_inf(x);
    cr_assert_eq(fp_round_arf(x, FP_F32), 0xff800000u);
    /* exponents far outside every format */
    arf_one(x);
    arf_mul_2exp_si(x, x, 1000000);
    cr_assert_eq(fp_round_arf(x, FP_F64), UINT64_C(0x7ff0000000000000));
    arf_neg(x, x);
    arf_mul_2exp_si(x, x, -3000000);
    cr_assert_eq(fp_round_arf(x, FP_F64), UINT64_C(0x8000000000000000));
    /* half of the smallest subnormal (a tie, to 0), and just above it */
    arf_one(x);
    arf_mul_2exp_si(x, x, -25);
    cr_assert_eq(fp_round_arf(x, FP_F16), 0);
    arf_neg(x, x);
    cr_assert_eq(fp_round_arf(x, FP_F16), 0x8000);
    arf_set_ui_2exp_si(x, (UWORD(1) << 60) + 1, -85);
    cr_assert_eq(fp_round_arf(x, FP_F16), 1);
    /* 1 + 2^-11 + 2^-500 (a 500-bit significand) to f16: above the tie */
    arf_t t;
    arf_init(t);
    arf_one(x);
    arf_set_ui_2exp_si(t, 1, -11);
    arf_add(x, x, t, ARF_PREC_EXACT, ARF_RND_DOWN);
    arf_set_ui_2exp_si(t, 1, -500);
    arf_add(x, x, t, ARF_PREC_EXACT, ARF_RND_DOWN);
    cr_assert_eq(fp_round_arf(x, FP_F16), 0x3c01);
    arf_sub(x, x, t, ARF_PREC_EXACT, ARF_RND_DOWN);
    arf_sub(x, x, t, ARF_PREC_EXACT, ARF_RND_DOWN);
    cr_assert_eq(fp_round_arf(x, FP_F16), 0x3c00);
    arf_clear(t);
    arf_clear(x);
}

Test(fpfmt, mpfr_state_restored)
{
    mpfr_exp_t emin = mpfr_get_emin(), emax = mpfr_get_emax();
    mpfr_clear_flags();
    cr_assert_eq(round_q_si(1, 3, FP_F16), 0x3555);
    cr_assert_eq(fp_round_double(1e300, FP_F16), 0x7c00);
    cr_assert_eq(fp_round_double(1e-300, FP_BF16), 0);
    cr_assert_eq(mpfr_get_emin(), emin);
    cr_assert_eq(mpfr_get_emax(), emax);
    cr_assert(!mpfr_overflow_p() && !mpfr_underflow_p() && !mpfr_inexflag_p());
}

/* ---- balls ---- */

Test(fpfmt, balls_binary)
{
    arb_t x;
    arb_init(x);
    uint64_t b = 0;
    /* radius 0 decides, also exactly on a tie */
    ball_2exp(x, (1 << 11) + 1, -11, WORD_MIN);
    cr_assert(fp_round_ball(&b, x, FP_F16));
    cr_assert_eq(b, 0x3c00);
    /* a ball around that tie does not */
    ball_2exp(x, (1 << 11) + 1, -11, -40);
    cr_assert(!fp_round_ball(&b, x, FP_F16));
    /* off the tie by more than the radius, it does */
    ball_2exp(x, (1 << 20) + (1 << 9) + 1, -20, -40);
    cr_assert(fp_round_ball(&b, x, FP_F16));
    cr_assert_eq(b, 0x3c01);
    ball_2exp(x, (1 << 20) + (1 << 9) - 1, -20, -40);
    cr_assert(fp_round_ball(&b, x, FP_F16));
    cr_assert_eq(b, 0x3c00);
    ball_2exp(x, (1 << 20) + (1 << 9) - 1, -20, -18);
    cr_assert(!fp_round_ball(&b, x, FP_F16));
    /* a short midpoint with a tiny radius: the endpoints need many bits */
    ball_2exp(x, 1, 0, -200);
    cr_assert(fp_round_ball(&b, x, FP_F64));
    cr_assert_eq(b, UINT64_C(0x3ff0000000000000));
    ball_2exp(x, -1, 0, -200);
    cr_assert(fp_round_ball(&b, x, FP_F16));
    cr_assert_eq(b, 0xbc00);
    /* 1/3: tight balls decide, loose ones do not */
    fmpq_t q;
    fmpq_init(q);
    fmpq_set_si(q, 1, 3);
    arb_set_fmpq(x, q, 200);
    cr_assert(fp_round_ball(&b, x, FP_F64));
    cr_assert_eq(b, UINT64_C(0x3fd5555555555555));
    arb_set_fmpq(x, q, 20);
    cr_assert(!fp_round_ball(&b, x, FP_F64));
    cr_assert(fp_round_ball(&b, x, FP_F16));
    cr_assert_eq(b, 0x3555);
    /* zero: exactly, above it, around it */
    arb_zero(x);
    cr_assert(fp_round_ball(&b, x, FP_F32));
    cr_assert_eq(b, 0);
    ball_2exp(x, 1, -201, -201); /* [0, 2^-200] */
    cr_assert(fp_round_ball(&b, x, FP_F32));
    cr_assert_eq(b, 0);
    ball_2exp(x, -1, -201, -201); /* [-2^-200, 0]: -0 or +0 */
    cr_assert(!fp_round_ball(&b, x, FP_F32));
    ball_2exp(x, 0, 0, -200);
    cr_assert(!fp_round_ball(&b, x, FP_F32));
    ball_2exp(x, 1, -101, -101); /* [0, 2^-100]: 2^-100 is a normal f32 */
    cr_assert(!fp_round_ball(&b, x, FP_F32));
    /* beyond the overflow threshold, certainly */
    ball_2exp(x, -3, 200, 190);
    cr_assert(fp_round_ball(&b, x, FP_F16));
    cr_assert_eq(b, 0xfc00);
    /* not finite */
    arb_indeterminate(x);
    cr_assert(!fp_round_ball(&b, x, FP_F64));
    arb_pos_inf(x);
    cr_assert(!fp_round_ball(&b, x, FP_F64));
    ball_2exp(x, 1, 0, 0);
    mag_inf(arb_radref(x));
    cr_assert(!fp_round_ball(&b, x, FP_F64));
    /* random rationals: balls of 300 bits almost always decide, and agree */
    test_rng rng = {0xba11};
    int n = 5000 * test_multiplier(), decided = 0, total = 0;
    for (int i = 0; i < n; i++) {
        fmpz_set_si(fmpq_numref(q), (slong)(test_rand(&rng) >> 1) * (test_randn(&rng, 2) ? 1 : -1));
        fmpz_set_ui(fmpq_denref(q), 1 + (test_rand(&rng) >> 1));
        fmpq_canonicalise(q);
        if (fmpq_is_zero(q)) continue;
        if (test_randn(&rng, 2)) fmpq_div_2exp(q, q, (ulong)test_randn(&rng, 160));
        arb_set_fmpq(x, q, 300);
        for (int g = 0; g < FP_FORMAT_COUNT; g++) {
            total++;
            if (fp_round_ball(&b, x, (fp_format)g)) {
                decided++;
                cr_assert_eq(b, fp_round_fmpq(q, (fp_format)g));
            }
        }
    }
    cr_assert(decided >= total - total / 100, "%d of %d", decided, total);
    fmpq_clear(q);
    arb_clear(x);
}

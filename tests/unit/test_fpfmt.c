/* Tests of core/eval/fpfmt: rounding into f64, f32, f16, bf16 and into N
 * decimal digits, against references written here: a bit-level rounding of
 * doubles, the C cast to float, exact rationals and known digit strings. */
#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "core/fpfmt.h"
#include "tests/lib/testlib.h"

/* ---- references ---- */

/* The value of a pattern with w exponent bits and t fraction bits, read as
 * (-1)^s * 1.F * 2^(E-bias), or 0.F * 2^(1-bias) when E = 0. */
static double ref_decode(uint64_t bits, int w, int t)
{
    int bias = (1 << (w - 1)) - 1;
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

/* A double rounded to nearest, ties to even, to a format with p significand
 * bits and w exponent bits, on the double's bits: normalise the 53-bit
 * significand, drop 53-p bits (more when the result is subnormal) rounding
 * on the dropped bits, then carry a rounded-up significand into the
 * exponent; an exponent field of all ones is infinity. */
static uint64_t ref_round(double x, int p, int w)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    uint64_t sign = (u >> 63) << (w + p - 1), expmax = (UINT64_C(1) << w) - 1;
    int e = (int)((u >> 52) & 0x7ff);
    uint64_t m = u & ((UINT64_C(1) << 52) - 1);
    if (e == 0x7ff) return sign | expmax << (p - 1) | (m ? UINT64_C(1) << (p - 2) : 0);
    if (e == 0 && m == 0) return sign;
    if (e == 0) { /* subnormal double: normalise */
        e = 1;
        while (!(m >> 52)) {
            m <<= 1;
            e--;
        }
    } else
        m |= UINT64_C(1) << 52;
    int be = e - 1023 + (int)(expmax >> 1); /* x = 1.m * 2^(be - bias) */
    int shift = 53 - p;
    if (be < 1) { /* subnormal result: exponent field 0, fewer bits */
        shift += 1 - be;
        be = 0;
    }
    uint64_t r;
    if (shift >= 54)
        r = 0; /* below half of the smallest subnormal */
    else if (shift == 0)
        r = m;
    else {
        r = m >> shift;
        uint64_t rest = m & ((UINT64_C(1) << shift) - 1), half = UINT64_C(1) << (shift - 1);
        if (rest > half || (rest == half && (r & 1))) r++;
    }
    if (be == 0) {
        if (r >> (p - 1)) be = 1; /* rounded up to the smallest normal */
    } else if (r >> p) {
        r >>= 1;
        be++;
    }
    if ((uint64_t)be >= expmax) return sign | expmax << (p - 1);
    return sign | (uint64_t)be << (p - 1) | (r & ((UINT64_C(1) << (p - 1)) - 1));
}

static uint64_t double_bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static uint64_t float_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* q = x exactly (x finite): x = f*2^e with f*2^53 an integer. */
static void q_from_double(fmpq_t q, double x)
{
    int e;
    double f = frexp(x, &e);
    fmpz_set_si(fmpq_numref(q), (slong)ldexp(f, 53));
    fmpz_one(fmpq_denref(q));
    e -= 53;
    if (e >= 0)
        fmpz_mul_2exp(fmpq_numref(q), fmpq_numref(q), (ulong)e);
    else
        fmpz_mul_2exp(fmpq_denref(q), fmpq_denref(q), (ulong)-e);
    fmpq_canonicalise(q);
}

static void q_set_pow10(fmpq_t q, slong k)
{
    fmpz_t p;
    fmpz_init_set_ui(p, 10);
    fmpz_pow_ui(p, p, (ulong)(k < 0 ? -k : k));
    fmpq_one(q);
    if (k >= 0)
        fmpz_set(fmpq_numref(q), p);
    else
        fmpz_set(fmpq_denref(q), p);
    fmpz_clear(p);
}

/* A decimal as printed ("-0.0012", "1.50e+25", "123000"), parsed exactly.
 * *sig gets the digits without leading zeros, *e10 the power of ten of the
 * last digit written. 0 on success. */
static int parse_decimal(fmpq_t q, char *sig, size_t sig_cap, slong *e10, const char *s)
{
    int negative = *s == '-';
    if (negative) s++;
    size_t n = 0;
    slong frac_digits = 0, exp = 0;
    int seen_point = 0, any = 0;
    fmpz_zero(fmpq_numref(q));
    for (; *s && *s != 'e'; s++) {
        if (*s == '.') {
            if (seen_point) return -1;
            seen_point = 1;
            continue;
        }
        if (*s < '0' || *s > '9') return -1;
        any = 1;
        fmpz_mul_ui(fmpq_numref(q), fmpq_numref(q), 10);
        fmpz_add_ui(fmpq_numref(q), fmpq_numref(q), (ulong)(*s - '0'));
        if (seen_point) frac_digits++;
        if (n > 0 || *s != '0') {
            if (n + 1 >= sig_cap) return -1;
            sig[n++] = *s;
        }
    }
    sig[n] = 0;
    if (!any) return -1;
    if (*s == 'e') {
        s++;
        if (*s != '+' && *s != '-') return -1;
        int neg_exp = *s++ == '-';
        if (!s[0] || !s[1]) return -1; /* at least two digits */
        for (; *s; s++) {
            if (*s < '0' || *s > '9') return -1;
            exp = exp * 10 + (*s - '0');
        }
        if (neg_exp) exp = -exp;
    }
    *e10 = exp - frac_digits;
    fmpq_t p;
    fmpq_init(p);
    q_set_pow10(p, *e10);
    fmpz_one(fmpq_denref(q));
    fmpq_mul(q, q, p);
    if (negative) fmpq_neg(q, q);
    fmpq_clear(p);
    return 0;
}

static const char *decimal_of(strbuf *b, const fmpq_t q, slong digits)
{
    strbuf_reset(b);
    fp_decimal_fmpq(b, q, digits);
    return strbuf_str(b);
}

static const char *value_of(strbuf *b, uint64_t bits, fp_format f)
{
    strbuf_reset(b);
    fp_print_value(b, bits, f);
    return strbuf_str(b);
}

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

static void ball_2exp(arb_t x, slong mid_num, slong mid_exp, slong rad_exp)
{
    arb_set_si(x, mid_num);
    arb_mul_2exp_si(x, x, mid_exp);
    if (rad_exp != WORD_MIN) mag_set_ui_2exp_si(arb_radref(x), 1, rad_exp);
}

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

/* testfpfmt: the references of the fpfmt suites (test_fpfmt*.c): a
 * bit-level decoding and rounding of doubles, exact rationals of doubles and
 * powers of ten, decimal strings parsed exactly. */
#ifndef HMP_TESTFPFMT_H
#define HMP_TESTFPFMT_H

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <string.h>

#include "core/fpfmt.h"
#include "tests/lib/testlib.h"

/* ---- references ---- */

/* The value of a pattern with w exponent bits and t fraction bits, read as
 * (-1)^s * 1.F * 2^(E-bias), or 0.F * 2^(1-bias) when E = 0. */
static inline double ref_decode(uint64_t bits, int w, int t)
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
static inline uint64_t ref_round(double x, int p, int w)
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

static inline uint64_t double_bits(double x)
{
    uint64_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

static inline uint64_t float_bits(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

/* q = x exactly (x finite): x = f*2^e with f*2^53 an integer. */
static inline void q_from_double(fmpq_t q, double x)
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

static inline void q_set_pow10(fmpq_t q, slong k)
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
static inline int parse_decimal(fmpq_t q, char *sig, size_t sig_cap, slong *e10, const char *s)
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

static inline const char *decimal_of(strbuf *b, const fmpq_t q, slong digits)
{
    strbuf_reset(b);
    fp_decimal_fmpq(b, q, digits);
    return strbuf_str(b);
}

static inline const char *value_of(strbuf *b, uint64_t bits, fp_format f)
{
    strbuf_reset(b);
    fp_print_value(b, bits, f);
    return strbuf_str(b);
}

/* The ball mid_num * 2^mid_exp with radius 2^rad_exp (exact: WORD_MIN). */
static inline void ball_2exp(arb_t x, slong mid_num, slong mid_exp, slong rad_exp)
{
    arb_set_si(x, mid_num);
    arb_mul_2exp_si(x, x, mid_exp);
    if (rad_exp != WORD_MIN) mag_set_ui_2exp_si(arb_radref(x), 1, rad_exp);
}

#endif

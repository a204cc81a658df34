/* fpfmt: correct rounding into f64, f32, f16 (IEEE 754 binary16) and bf16
 * (bfloat16), and into N significant decimal digits, of exact values and of
 * Arb balls. Always round to nearest, ties to even (IEEE 754-2019 §4.3.1). */
#include "core/fpfmt.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* MPFR writes x = m*2^e with 1/2 <= m < 1. A format with p significand bits
 * and exponent bias b has largest finite value (1-2^-p)*2^(b+1), so emax =
 * b+1, and smallest subnormal 2^(2-b-p) = 1/2*2^(3-b-p), so emin = 3-b-p
 * (IEEE 754-2019 §3.6 Table 3.5; bfloat16 has binary32's exponent, p = 8). */
static const fp_format_info fp_formats[FP_FORMAT_COUNT] = {
    [FP_F64] = {"f64", 53, 64, 11, -1073, 1024},
    [FP_F32] = {"f32", 24, 32, 8, -148, 128},
    [FP_F16] = {"f16", 11, 16, 5, -23, 16},
    [FP_BF16] = {"bf16", 8, 16, 8, -132, 128},
};


const fp_format_info *fp_info(fp_format f)
{
    if ((unsigned)f >= FP_FORMAT_COUNT) abort();
    return &fp_formats[f];
}

int fp_format_from_name(fp_format *f, const char *name)
{
    static const struct {
        const char *name;
        fp_format format;
    } names[] = {
        {"f64", FP_F64},   {"float64", FP_F64}, {"double", FP_F64}, {"fp64", FP_F64},
        {"f32", FP_F32},   {"float32", FP_F32}, {"float", FP_F32},  {"fp32", FP_F32},
        {"single", FP_F32}, {"f16", FP_F16},    {"float16", FP_F16}, {"half", FP_F16},
        {"fp16", FP_F16},  {"bf16", FP_BF16},   {"bfloat16", FP_BF16},
    };
    static const char *const prefixes[] = { "torch.", "numpy.", "np." };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0) {
            name += strlen(prefixes[i]);
            break;
        }
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(name, names[i].name) == 0) {
            *f = names[i].format;
            return 0;
        }
    return -1;
}

/* ---- bit patterns (IEEE 754-2019 §3.4: sign, biased exponent, fraction) ---- */

static uint64_t format_mask(const fp_format_info *fi)
{
    return fi->bits == 64 ? UINT64_MAX : (UINT64_C(1) << fi->bits) - 1;
}

static uint64_t sign_bit(const fp_format_info *fi) { return UINT64_C(1) << (fi->bits - 1); }

static uint64_t inf_bits(const fp_format_info *fi)
{
    return ((UINT64_C(1) << fi->exp_bits) - 1) << (fi->prec - 1);
}

/* Quiet NaN: the leading fraction bit set (§6.2.1). */
static uint64_t qnan_bits(const fp_format_info *fi)
{
    return inf_bits(fi) | UINT64_C(1) << (fi->prec - 2);
}

/* A finite nonzero pattern is M*2^u, M < 2^p an integer: with biased
 * exponent E and fraction F, M = F, u = emin-1 when E = 0 (subnormal), else
 * M = 2^(p-1)+F, u = emin-1+E-1. Bits above the format's width are ignored. */
static void decode_fields(uint64_t *m, long *u, uint64_t bits, const fp_format_info *fi)
{
    uint64_t frac = bits & ((UINT64_C(1) << (fi->prec - 1)) - 1);
    uint64_t biased = (bits >> (fi->prec - 1)) & ((UINT64_C(1) << fi->exp_bits) - 1);
    if (biased == 0) {
        *m = frac;
        *u = fi->emin - 1;
    } else {
        *m = frac | UINT64_C(1) << (fi->prec - 1);
        *u = fi->emin - 1 + (long)biased - 1;
    }
}

double fp_bits_to_double(uint64_t bits, fp_format f)
{
    const fp_format_info *fi = fp_info(f);
    bits &= format_mask(fi);
    int negative = (bits & sign_bit(fi)) != 0;
    uint64_t magnitude = bits & ~sign_bit(fi);
    double v;
    if (magnitude > inf_bits(fi))
        v = NAN;
    else if (magnitude == inf_bits(fi))
        v = INFINITY;
    else {
        uint64_t m;
        long u;
        decode_fields(&m, &u, magnitude, fi);
        v = ldexp((double)m, (int)u); /* exact: m < 2^53 and every value is a double */
    }
    return negative ? -v : v;
}

/* The pattern of v, which must be a value of the format. With q = emin-1,
 * v = M*2^u where u = max(exponent(v) - p, q) and M < 2^p; the pattern is
 * (u-q)*2^(p-1) + M: for a normal number the hidden bit of M adds the 1 of
 * the biased exponent u-q+1, for a subnormal u = q and M < 2^(p-1). */
static uint64_t encode_value(double v, const fp_format_info *fi)
{
    uint64_t sign = signbit(v) ? sign_bit(fi) : 0;
    double a = fabs(v);
    if (isinf(a)) return sign | inf_bits(fi);
    if (a == 0) return sign;
    int e;
    frexp(a, &e);
    long q = fi->emin - 1, u = e - fi->prec > q ? e - fi->prec : q;
    double m = ldexp(a, (int)-u);
    if (m != floor(m) || m >= ldexp(1, fi->prec)) abort(); /* not a value of the format */
    return sign | (((uint64_t)(u - q) << (fi->prec - 1)) + (uint64_t)m);
}

/* ---- rounding with MPFR in the format's exponent range ---- */

/* The exponent range and the exception flags are MPFR's global (per-thread)
 * state: set for one rounding, then put back as they were. */
typedef struct fp_mpfr_state {
    mpfr_exp_t emin, emax;
    mpfr_flags_t flags;
} fp_mpfr_state;

static void range_enter(fp_mpfr_state *s, const fp_format_info *fi)
{
    s->emin = mpfr_get_emin();
    s->emax = mpfr_get_emax();
    s->flags = mpfr_flags_save();
    if (mpfr_set_emin(fi->emin) != 0 || mpfr_set_emax(fi->emax) != 0) abort();
}

static void range_leave(const fp_mpfr_state *s)
{
    if (mpfr_set_emin(s->emin) != 0 || mpfr_set_emax(s->emax) != 0) abort();
    mpfr_flags_restore(s->flags, MPFR_FLAGS_ALL);
}

/* Rounding to p bits in [emin, emax] gives ternary t (overflow to infinity
 * and underflow as in IEEE 754 for round to nearest); mpfr_subnormalize then
 * rounds to the subnormal grid using t, so there is no double rounding (MPFR
 * manual, "Exception Related Functions", mpfr_subnormalize). The result is a
 * value of the format, hence a double, returned exactly. */
static double round_rational(const mpq_t q, const fp_format_info *fi)
{
    fp_mpfr_state s;
    mpfr_t y;
    mpfr_init2(y, fi->prec);
    range_enter(&s, fi);
    int t = mpfr_set_q(y, q, MPFR_RNDN);
    mpfr_subnormalize(y, t, MPFR_RNDN);
    double v = mpfr_get_d(y, MPFR_RNDN);
    range_leave(&s);
    mpfr_clear(y);
    return v;
}

/* Same for x exact with exponent in [emin, emax] (inputs of MPFR functions
 * must lie in the current exponent range). */
static double round_binary(const mpfr_t x, const fp_format_info *fi)
{
    fp_mpfr_state s;
    mpfr_t y;
    mpfr_init2(y, fi->prec);
    range_enter(&s, fi);
    int t = mpfr_set(y, x, MPFR_RNDN);
    mpfr_subnormalize(y, t, MPFR_RNDN);
    double v = mpfr_get_d(y, MPFR_RNDN);
    range_leave(&s);
    mpfr_clear(y);
    return v;
}

/* x exact, any precision and exponent of the default range. Exponents
 * outside [emin, emax] are settled here: |x| >= 2^emax is above the
 * overflow threshold (1-2^-(p+1))*2^emax; |x| < 2^(emin-1), the smallest
 * subnormal, rounds to 0 below half of it and up to it above half; the tie
 * goes to 0, which is even. */
static uint64_t round_exact_mpfr(const mpfr_t x, const fp_format_info *fi)
{
    uint64_t sign = mpfr_signbit(x) ? sign_bit(fi) : 0;
    if (mpfr_nan_p(x)) return sign | qnan_bits(fi);
    if (mpfr_inf_p(x)) return sign | inf_bits(fi);
    if (mpfr_zero_p(x)) return sign;
    mpfr_exp_t e = mpfr_get_exp(x);
    if (e > fi->emax) return sign | inf_bits(fi);
    if (e < fi->emin - 1) return sign;
    if (e == fi->emin - 1) /* 2^(emin-2) <= |x| < 2^(emin-1) */
        return mpfr_cmp_si_2exp(x, sign ? -1 : 1, fi->emin - 2) == 0 ? sign : sign | 1;
    return encode_value(round_binary(x, fi), fi);
}

uint64_t fp_round_fmpq(const fmpq_t q, fp_format f)
{
    const fp_format_info *fi = fp_info(f);
    if (fmpq_is_zero(q)) return 0;
    mpq_t m;
    mpq_init(m);
    fmpq_get_mpq(m, q);
    double v = round_rational(m, fi);
    mpq_clear(m);
    return encode_value(v, fi);
}

uint64_t fp_round_arf(const arf_t x, fp_format f)
{
    const fp_format_info *fi = fp_info(f);
    if (arf_is_nan(x)) return qnan_bits(fi);
    if (arf_is_pos_inf(x)) return inf_bits(fi);
    if (arf_is_neg_inf(x)) return sign_bit(fi) | inf_bits(fi);
    if (arf_is_zero(x)) return 0;
    uint64_t sign = arf_sgn(x) < 0 ? sign_bit(fi) : 0;
    /* ARF_EXP follows MPFR's convention; screen it before converting, as
     * arf exponents are unbounded. */
    if (fmpz_cmp_si(ARF_EXPREF(x), fi->emax) > 0) return sign | inf_bits(fi);
    if (fmpz_cmp_si(ARF_EXPREF(x), fi->emin - 1) < 0) return sign;
    mpfr_t t;
    slong bits = arf_bits(x);
    mpfr_init2(t, bits < MPFR_PREC_MIN ? MPFR_PREC_MIN : bits);
    arf_get_mpfr(t, x, MPFR_RNDN); /* exact: enough bits, exponent in range */
    uint64_t r = round_exact_mpfr(t, fi);
    mpfr_clear(t);
    return r;
}

uint64_t fp_round_double(double x, fp_format f)
{
    const fp_format_info *fi = fp_info(f);
    if (isnan(x)) return (signbit(x) ? sign_bit(fi) : 0) | qnan_bits(fi);
    mpfr_t t;
    mpfr_init2(t, 53);
    mpfr_set_d(t, x, MPFR_RNDN); /* exact */
    uint64_t r = round_exact_mpfr(t, fi);
    mpfr_clear(t);
    return r;
}

/* The endpoints are taken rounded outwards with more bits than the midpoint
 * and the format, so [lo, hi] contains the ball; rounding is monotonic, so
 * equal results at lo and hi hold for every point between. */
int fp_round_ball(uint64_t *bits, const arb_t x, fp_format f)
{
    const fp_format_info *fi = fp_info(f);
    if (!arb_is_finite(x)) return 0;
    slong prec = arb_bits(x) + fi->prec + 64;
    arf_t lo, hi;
    arf_init(lo);
    arf_init(hi);
    arb_get_lbound_arf(lo, x, prec);
    arb_get_ubound_arf(hi, x, prec);
    uint64_t a = fp_round_arf(lo, f), b = fp_round_arf(hi, f);
    arf_clear(lo);
    arf_clear(hi);
    if (a != b) return 0;
    *bits = a;
    return 1;
}

void fp_print_bits(strbuf *out, uint64_t bits, fp_format f)
{
    const fp_format_info *fi = fp_info(f);
    strbuf_printf(out, "0x%0*" PRIx64, fi->bits / 4, bits & format_mask(fi));
}

/* ---- decimal ---- */

static void power_of_ten(fmpz_t p, slong k)
{
    fmpz_set_ui(p, 10);
    fmpz_pow_ui(p, p, (ulong)k);
}

/* sign(n/d - 10^k), d > 0. */
static int cmp_pow10(const fmpz_t n, const fmpz_t d, slong k)
{
    fmpz_t p;
    fmpz_init(p);
    power_of_ten(p, k >= 0 ? k : -k);
    int c;
    if (k >= 0) {
        fmpz_mul(p, p, d);
        c = fmpz_cmp(n, p);
    } else {
        fmpz_mul(p, p, n);
        c = fmpz_cmp(p, d);
    }
    fmpz_clear(p);
    return c;
}

/* floor(log10(n/d)) for n, d > 0. From 2^(bn-1) <= n < 2^bn,
 * |log2(n/d) - (bn-bd)| < 1, so the estimate is at most one off either way;
 * exact comparisons with powers of ten settle it. */
static slong decimal_exponent(const fmpz_t n, const fmpz_t d)
{
    double diff = (double)((slong)fmpz_bits(n) - (slong)fmpz_bits(d));
    slong e = (slong)floor(diff * 0.30102999566398119521);
    while (cmp_pow10(n, d, e) < 0) e--;
    while (cmp_pow10(n, d, e + 1) >= 0) e++;
    return e;
}

/* num/den = n/d * 10^k, d > 0. */
static void scale_pow10(fmpz_t num, fmpz_t den, const fmpz_t n, const fmpz_t d, slong k)
{
    fmpz_t p;
    fmpz_init(p);
    power_of_ten(p, k >= 0 ? k : -k);
    if (k >= 0) {
        fmpz_mul(num, n, p);
        fmpz_set(den, d);
    } else {
        fmpz_set(num, n);
        fmpz_mul(den, d, p);
    }
    fmpz_clear(p);
}

/* n/d > 0 rounded to `digits` significant digits: m * 10^(e-digits+1) with
 * 10^(digits-1) <= m < 10^digits and e = floor(log10) of the result. m is
 * n/d * 10^(digits-1-e0), e0 = floor(log10(n/d)), rounded to nearest, ties
 * to even; when that reaches 10^digits the value was within half a unit of
 * 10^(e0+1), which is then the rounding at exponent e0+1 too (no new tie). */
static void decimal_round(fmpz_t m, slong *e, const fmpz_t n, const fmpz_t d, slong digits)
{
    fmpz_t num, den, r;
    fmpz_init(num);
    fmpz_init(den);
    fmpz_init(r);
    *e = decimal_exponent(n, d);
    scale_pow10(num, den, n, d, digits - 1 - *e);
    fmpz_fdiv_qr(m, r, num, den);
    fmpz_mul_2exp(r, r, 1);
    int c = fmpz_cmp(r, den);
    if (c > 0 || (c == 0 && fmpz_is_odd(m))) fmpz_add_ui(m, m, 1);
    power_of_ten(r, digits);
    if (fmpz_equal(m, r)) {
        fmpz_divexact_ui(m, m, 10);
        (*e)++;
    }
    fmpz_clear(num);
    fmpz_clear(den);
    fmpz_clear(r);
}

/* Layouts of the digits ds[0..len), ds[0] != '0', worth 0.ds * 10^(e+1). */
static size_t plain_length(slong len, slong e)
{
    if (e < 0) return (size_t)(len + 1 - e); /* "0." + (-e-1) zeros + digits */
    if (e + 1 >= len) return (size_t)(e + 1);
    return (size_t)(len + 1);
}

static void write_plain(strbuf *out, const char *ds, slong len, slong e)
{
    if (e < 0) {
        strbuf_puts(out, "0.");
        for (slong i = 0; i < -e - 1; i++) strbuf_putc(out, '0');
        strbuf_putn(out, ds, (size_t)len);
    } else if (e + 1 >= len) {
        strbuf_putn(out, ds, (size_t)len);
        for (slong i = len; i < e + 1; i++) strbuf_putc(out, '0');
    } else {
        strbuf_putn(out, ds, (size_t)(e + 1));
        strbuf_putc(out, '.');
        strbuf_putn(out, ds + e + 1, (size_t)(len - e - 1));
    }
}

static size_t scientific_length(slong len, slong e)
{
    size_t exp_digits = 0;
    for (ulong a = (ulong)(e < 0 ? -e : e); a; a /= 10) exp_digits++;
    return (size_t)(len > 1 ? len + 1 : 1) + 2 + (exp_digits < 2 ? 2 : exp_digits);
}

/* d.ddde+XX, the exponent with a sign and at least two digits, as printf. */
static void write_scientific(strbuf *out, const char *ds, slong len, slong e)
{
    strbuf_putc(out, ds[0]);
    if (len > 1) {
        strbuf_putc(out, '.');
        strbuf_putn(out, ds + 1, (size_t)(len - 1));
    }
    strbuf_printf(out, "e%c%02" PRIu64, e < 0 ? '-' : '+', (uint64_t)(e < 0 ? -e : e));
}

/* The N-digit layout of fp_decimal_*: plain for e in [-6, 21). */
static void write_decimal(strbuf *out, int negative, const fmpz_t m, slong e)
{
    char *ds = fmpz_get_str(NULL, 10, m);
    slong len = (slong)strlen(ds);
    if (negative) strbuf_putc(out, '-');
    if (e >= -6 && e < 21)
        write_plain(out, ds, len, e);
    else
        write_scientific(out, ds, len, e);
    flint_free(ds);
}

void fp_decimal_fmpq(strbuf *out, const fmpq_t q, slong digits)
{
    if (digits < 1) digits = 1;
    if (fmpq_is_zero(q)) {
        strbuf_putc(out, '0');
        return;
    }
    fmpz_t n, m;
    fmpz_init(n);
    fmpz_init(m);
    fmpz_abs(n, fmpq_numref(q));
    slong e;
    decimal_round(m, &e, n, fmpq_denref(q), digits);
    write_decimal(out, fmpq_sgn(q) < 0, m, e);
    fmpz_clear(n);
    fmpz_clear(m);
}

static int exponent_within(const arf_t x, slong limit)
{
    return fmpz_cmp_si(ARF_EXPREF(x), limit) <= 0 && fmpz_cmp_si(ARF_EXPREF(x), -limit) >= 0;
}

/* The endpoints, rounded outwards with 4*digits+64 bits more than the
 * midpoint (10^-digits > 2^-(4*digits)), contain the ball, and are rounded
 * exactly as rationals. Rounding to N digits is monotonic (nearest point of
 * a discrete set), so equal results at both ends hold for every point
 * between; a ball with an exact tie inside has ends rounding apart. */
int fp_decimal_ball(strbuf *out, const arb_t x, slong digits)
{
    if (digits < 1) digits = 1;
    if (!arb_is_finite(x)) return 0;
    if (arb_is_zero(x)) {
        strbuf_putc(out, '0');
        return 1;
    }
    if (arb_contains_zero(x)) return 0;
    slong prec = arb_bits(x) + 4 * digits + 64;
    arf_t lo, hi;
    arf_init(lo);
    arf_init(hi);
    arb_get_lbound_arf(lo, x, prec);
    arb_get_ubound_arf(hi, x, prec);
    int decided = 0;
    if (exponent_within(lo, FP_DECIMAL_EXP_LIMIT) && exponent_within(hi, FP_DECIMAL_EXP_LIMIT)) {
        fmpq_t a, b;
        fmpz_t ma, mb;
        slong ea, eb;
        fmpq_init(a);
        fmpq_init(b);
        fmpz_init(ma);
        fmpz_init(mb);
        arf_get_fmpq(a, lo);
        arf_get_fmpq(b, hi);
        fmpq_abs(a, a);
        fmpq_abs(b, b);
        decimal_round(ma, &ea, fmpq_numref(a), fmpq_denref(a), digits);
        decimal_round(mb, &eb, fmpq_numref(b), fmpq_denref(b), digits);
        decided = ea == eb && fmpz_equal(ma, mb);
        if (decided) write_decimal(out, arf_sgn(lo) < 0, ma, ea);
        fmpq_clear(a);
        fmpq_clear(b);
        fmpz_clear(ma);
        fmpz_clear(mb);
    }
    arf_clear(lo);
    arf_clear(hi);
    return decided;
}

/* ---- shortest decimal of a format value ---- */

/* Whether sign * c * 10^k rounds to `bits`. */
static int reads_back(const fmpz_t c, slong k, int negative, uint64_t bits, fp_format f)
{
    fmpq_t v;
    fmpz_t one;
    fmpq_init(v);
    fmpz_init_set_ui(one, 1);
    scale_pow10(fmpq_numref(v), fmpq_denref(v), c, one, k);
    fmpz_clear(one);
    if (negative) fmpz_neg(fmpq_numref(v), fmpq_numref(v));
    fmpq_canonicalise(v);
    int ok = fp_round_fmpq(v, f) == bits;
    fmpq_clear(v);
    return ok;
}

/* The set of decimals that round to the value is an interval around it; if
 * it holds an n-digit decimal it holds the n-digit decimal just below or
 * just above the value (10^e and 10^(e+1) are on that grid), so trying those
 * two for n = 1, 2, ... finds the shortest, the nearer one of two. The
 * layout is the shorter of plain and d.ddde+XX (plain on a tie). */
void fp_print_value(strbuf *out, uint64_t bits, fp_format f)
{
    const fp_format_info *fi = fp_info(f);
    bits &= format_mask(fi);
    int negative = (bits & sign_bit(fi)) != 0;
    uint64_t magnitude = bits & ~sign_bit(fi);
    if (magnitude > inf_bits(fi)) {
        strbuf_puts(out, "nan");
        return;
    }
    if (negative) strbuf_putc(out, '-');
    if (magnitude == inf_bits(fi)) {
        strbuf_puts(out, "inf");
        return;
    }
    if (magnitude == 0) {
        strbuf_putc(out, '0');
        return;
    }
    uint64_t sig;
    long u;
    decode_fields(&sig, &u, magnitude, fi);
    fmpz_t n, d, num, den, lo, r, best;
    fmpz_init(n);
    fmpz_init(d);
    fmpz_init(num);
    fmpz_init(den);
    fmpz_init(lo);
    fmpz_init(r);
    fmpz_init(best);
    fmpz_set_ui(n, sig);
    fmpz_one(d);
    if (u >= 0)
        fmpz_mul_2exp(n, n, (ulong)u);
    else
        fmpz_mul_2exp(d, d, (ulong)-u);
    slong e = decimal_exponent(n, d), k = 0;
    for (slong digits = 1;; digits++) {
        k = e - digits + 1;
        scale_pow10(num, den, n, d, -k);
        fmpz_fdiv_qr(lo, r, num, den);
        int lo_ok = reads_back(lo, k, negative, bits, f), hi_ok = 0;
        if (!fmpz_is_zero(r)) {
            fmpz_add_ui(best, lo, 1);
            hi_ok = reads_back(best, k, negative, bits, f);
        }
        if (lo_ok && hi_ok) { /* the nearer; on a tie the even one */
            fmpz_mul_2exp(r, r, 1);
            int c = fmpz_cmp(r, den);
            if (c < 0 || (c == 0 && fmpz_is_even(lo))) fmpz_set(best, lo);
            break;
        }
        if (lo_ok) fmpz_set(best, lo);
        if (lo_ok || hi_ok) break;
    }
    while (fmpz_divisible_si(best, 10)) {
        fmpz_divexact_ui(best, best, 10);
        k++;
    }
    char *ds = fmpz_get_str(NULL, 10, best);
    slong len = (slong)strlen(ds), lead = k + len - 1;
    if (plain_length(len, lead) <= scientific_length(len, lead))
        write_plain(out, ds, len, lead);
    else
        write_scientific(out, ds, len, lead);
    flint_free(ds);
    fmpz_clear(n);
    fmpz_clear(d);
    fmpz_clear(num);
    fmpz_clear(den);
    fmpz_clear(lo);
    fmpz_clear(r);
    fmpz_clear(best);
}

void fp_double_to_fmpq(fmpq_t q, double x)
{
    arf_t a;
    arf_init(a);
    arf_set_d(a, x);
    arf_get_fmpq(q, a);
    arf_clear(a);
}

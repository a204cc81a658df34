/* fpfmt: the floating-point formats hmp rounds to (f64, f32, f16, bf16) and
 * correct rounding into them and into N decimal digits: of exact rationals,
 * exactly; of Arb balls, when the ball decides it. */
#ifndef HMP_FPFMT_H
#define HMP_FPFMT_H

#include <stdint.h>
#include <flint/fmpq.h>
#include <mpfr.h>

#include "core/arbcompat.h"
#include "core/strbuf.h"

typedef enum fp_format { FP_F64, FP_F32, FP_F16, FP_BF16, FP_FORMAT_COUNT } fp_format;

typedef struct fp_format_info {
    const char *name;  /* "f64", "f32", "f16", "bf16" */
    int prec;          /* significand bits: 53, 24, 11, 8 */
    int bits;          /* storage bits: 64, 32, 16, 16 */
    int exp_bits;      /* 11, 8, 5, 8 */
    mpfr_exp_t emin;   /* MPFR convention (x = m*2^e, 1/2 <= m < 1), subnormals included */
    mpfr_exp_t emax;
} fp_format_info;

const fp_format_info *fp_info(fp_format f);
/* "f64"/"fp64"/"float64"/"double", "f32"/"fp32"/"float32"/"float"/"single",
 * "f16"/"fp16"/"float16"/"half", "bf16"/"bfloat16", also with the prefix
 * "torch.", "np." or "numpy." as those libraries print them. 0 on success,
 * -1 for an unknown name. */
int fp_format_from_name(fp_format *f, const char *name);

/* The exact value of a bit pattern (every f16, bf16, f32 value is a double;
 * infinities and NaN too). */
double fp_bits_to_double(uint64_t bits, fp_format f);
/* Round to nearest, ties to even, with IEEE 754 subnormals and overflow to
 * infinity: of an exact rational, of an exact binary number, of a double. */
uint64_t fp_round_fmpq(const fmpq_t q, fp_format f);
uint64_t fp_round_arf(const arf_t x, fp_format f);
uint64_t fp_round_double(double x, fp_format f); /* NaN gives a quiet NaN */
/* q = x exactly (x finite: every double is a rational). */
void fp_double_to_fmpq(fmpq_t q, double x);
/* Correct rounding of the real number inside the ball x: 1 and *bits when
 * every point of x rounds to the same value, 0 otherwise (ask for a tighter
 * ball). Rounding is monotonic, so rounding both endpoints decides it. */
int fp_round_ball(uint64_t *bits, const arb_t x, fp_format f);
/* Bits as hex with all digits of the format: "0x3c00", "0x3ff0000000000000". */
void fp_print_bits(strbuf *out, uint64_t bits, fp_format f);
/* The shortest decimal that reads back as the same value of the format
 * ("0.1", "1e+10", "inf", "-0", "nan"). */
void fp_print_value(strbuf *out, uint64_t bits, fp_format f);

/* Balls whose endpoints have a binary exponent beyond +-this are never decided
 * in decimal (about 10^+-5,000,000): the exact arithmetic would need numbers
 * of that many bits. */
#define FP_DECIMAL_EXP_LIMIT (WORD(1) << 24)

/* Decimal, N significant digits (N >= 1), round to nearest, ties to even.
 * Written as a plain decimal when the exponent is in [-6, 21), else as
 * d.ddd...e+XX; trailing zeros kept (they are certain digits); zero is "0". */
void fp_decimal_fmpq(strbuf *out, const fmpq_t q, slong digits);
/* 1 and the digits when every point of x has the same N-digit rounding, 0
 * otherwise. A ball around an exact tie never decides (use the exact value). */
int fp_decimal_ball(strbuf *out, const arb_t x, slong digits);

#endif

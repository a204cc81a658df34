/* attn: the reference kernels of attn.h (naive softmax attention and
 * the FlashAttention-2 forward pass) in f64 or f32 arithmetic, and their
 * a-priori error factor (docs/KERNELS.md). */
#include "attention/attn.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/mem.h"

/* Every operation of the kernels must be rounded to its format, once: no
 * multiply-add contracted into an FMA (gcc's default for gnu11 is
 * -ffp-contract=fast), no intermediate kept in a wider format. The tests check
 * the results bit for bit against an operation-by-operation emulation. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "attention kernels need float and double evaluated in their own format (x86: -mfpmath=sse)"
#endif

/* ---- parameters ---- */

static int mul_overflows(size_t a, size_t b) { return a != 0 && b > SIZE_MAX / a; }

/* p valid for attn_run; the array pointers are checked there. */
static int params_valid(const attn_params *p)
{
    if (!p) return 0;
    if (p->compute != FP_F64 && p->compute != FP_F32) return 0;
    if ((unsigned)p->storage >= (unsigned)FP_FORMAT_COUNT) return 0;
    if (p->kind != ATTN_NAIVE && p->kind != ATTN_FLASH) return 0;
    if (p->kind == ATTN_FLASH && p->tile == 0) return 0;
    if (p->probs_rounded && (unsigned)p->probs >= (unsigned)FP_FORMAT_COUNT) return 0;
    if (p->n_q > SIZE_MAX - p->n_k) return 0; /* the causal test adds them */
    if (mul_overflows(p->n_q, p->d) || mul_overflows(p->n_k, p->d) || mul_overflows(p->n_k, p->d_v) ||
        mul_overflows(p->n_q, p->d_v) || mul_overflows(p->n_q, p->n_k))
        return 0;
    return 1;
}

static int visible(const attn_params *p, size_t i, size_t j)
{
    return attn_key_visible(i, j, p->n_q, p->n_k, p->causal, p->mask);
}

/* x rounded to nearest even in format f, as a double. */
static double round_to(double x, fp_format f) { return fp_bits_to_double(fp_round_double(x, f), f); }

/* ---- the kernels, once for double and once for float ----
 * real is the compute type and EXP its exponential. Scores of keys a row does
 * not see are -inf and add nothing. A NaN score makes the row NaN. */

#define ATTN_KERNELS(real, EXP, sfx)                                                               \
                                                                                                   \
    /* s[j] = fl(fl(q_i . k_j) * scale), the dot product summed from c = 0 up. */                  \
    static void scores_##sfx(real *s, const real *qi, const real *k, real scale, size_t i,         \
                             const attn_params *p)                                                 \
    {                                                                                              \
        for (size_t j = 0; j < p->n_k; j++) {                                                      \
            if (!visible(p, i, j)) {                                                               \
                s[j] = -INFINITY;                                                                  \
                continue;                                                                          \
            }                                                                                      \
            const real *kj = k + j * p->d;                                                         \
            real dot = 0;                                                                          \
            for (size_t c = 0; c < p->d; c++) dot += qi[c] * kj[c];                                \
            s[j] = dot * scale;                                                                    \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    /* The largest of s[lo..hi), -inf when every key is masked, NaN when one is NaN. */            \
    static real max_score_##sfx(const real *s, size_t lo, size_t hi)                               \
    {                                                                                              \
        real m = -INFINITY;                                                                        \
        for (size_t j = lo; j < hi; j++) {                                                         \
            if (s[j] != s[j]) return s[j];                                                         \
            if (s[j] > m) m = s[j];                                                                \
        }                                                                                          \
        return m;                                                                                  \
    }                                                                                              \
                                                                                                   \
    /* o = sum_j p_j v_j / sum_j p_j with p_j = exp(s_j - m), m = max_j s_j,                       \
     * both sums from j = 0 up. */                                                                 \
    static void naive_row_##sfx(real *o, const real *s, const real *v, const attn_params *p)       \
    {                                                                                              \
        size_t nk = p->n_k, dv = p->d_v;                                                           \
        real m = max_score_##sfx(s, 0, nk);                                                        \
        for (size_t c = 0; c < dv; c++) o[c] = 0;                                                  \
        if (m == -INFINITY) return; /* every key masked */                                         \
        real l = 0;                                                                                \
        for (size_t j = 0; j < nk; j++) {                                                          \
            if (s[j] == -INFINITY) continue;                                                       \
            real pj = EXP(s[j] - m);                                                               \
            l += pj;                                                                               \
            real pv = p->probs_rounded ? (real)round_to((double)pj, p->probs) : pj;                 \
            for (size_t c = 0; c < dv; c++) o[c] += pv * v[j * dv + c];                            \
        }                                                                                          \
        for (size_t c = 0; c < dv; c++) o[c] = o[c] / l;                                           \
    }                                                                                              \
                                                                                                   \
    /* The online softmax of FlashAttention-2 (Dao 2023, Algorithm 1) for one                      \
     * query: per tile of keys, m_new = max(m, tile max); what was summed against                  \
     * m is rescaled by exp(m - m_new), then the tile's sums against m_new are                     \
     * added: l = l*rescale + sum p_j, acc = acc*rescale + sum p_j v_j. At the                     \
     * end o = acc / l. acc and tile_acc are d_v scratch. */                                       \
    static void flash_row_##sfx(real *o, const real *s, const real *v, real *acc, real *tile_acc,  \
                                const attn_params *p)                                              \
    {                                                                                              \
        size_t nk = p->n_k, dv = p->d_v;                                                           \
        real m = -INFINITY, l = 0;                                                                 \
        for (size_t c = 0; c < dv; c++) acc[c] = 0;                                                \
        for (size_t lo = 0; lo < nk; lo += p->tile) {                                              \
            size_t hi = nk - lo < p->tile ? nk : lo + p->tile;                                     \
            real m_tile = max_score_##sfx(s, lo, hi);                                              \
            if (m_tile == -INFINITY) continue; /* every key of the tile masked */                  \
            real m_new = m >= m_tile ? m : m_tile;                                                 \
            /* Before the first tile nothing was summed: rescale 0, not                            \
             * exp(-inf - -inf) = NaN. */                                                          \
            real rescale = m == -INFINITY ? 0 : EXP(m - m_new);                                    \
            real tile_sum = 0;                                                                     \
            for (size_t c = 0; c < dv; c++) tile_acc[c] = 0;                                       \
            for (size_t j = lo; j < hi; j++) {                                                     \
                if (s[j] == -INFINITY) continue;                                                   \
                real pj = EXP(s[j] - m_new);                                                       \
                tile_sum += pj;                                                                    \
                real pv = p->probs_rounded ? (real)round_to((double)pj, p->probs) : pj;             \
                for (size_t c = 0; c < dv; c++) tile_acc[c] += pv * v[j * dv + c];                 \
            }                                                                                      \
            l = l * rescale + tile_sum;                                                            \
            for (size_t c = 0; c < dv; c++) acc[c] = acc[c] * rescale + tile_acc[c];               \
            m = m_new;                                                                             \
        }                                                                                          \
        for (size_t c = 0; c < dv; c++) o[c] = m == -INFINITY ? 0 : acc[c] / l;                    \
    }                                                                                              \
                                                                                                   \
    /* attn_run with p valid and the arrays present: the inputs rounded to the                     \
     * storage format and converted to real, row by row. */                                        \
    static void run_##sfx(double *out, const double *q, const double *k, const double *v,          \
                          const attn_params *p)                                                    \
    {                                                                                              \
        size_t nq = p->n_q, nk = p->n_k, d = p->d, dv = p->d_v;                                    \
        real *qs = mem_calloc(nq * d, sizeof(real)), *ks = mem_calloc(nk * d, sizeof(real));       \
        real *vs = mem_calloc(nk * dv, sizeof(real)), *s = mem_calloc(nk, sizeof(real));           \
        real *o = mem_calloc(3 * dv, sizeof(real)), *acc = o + dv, *tile_acc = o + 2 * dv;         \
        for (size_t x = 0; x < nq * d; x++) qs[x] = (real)round_to(q[x], p->storage);              \
        for (size_t x = 0; x < nk * d; x++) ks[x] = (real)round_to(k[x], p->storage);              \
        for (size_t x = 0; x < nk * dv; x++) vs[x] = (real)round_to(v[x], p->storage);             \
        real scale = (real)p->scale;                                                               \
        for (size_t i = 0; i < nq; i++) {                                                          \
            scores_##sfx(s, qs + i * d, ks, scale, i, p);                                          \
            if (p->kind == ATTN_NAIVE)                                                             \
                naive_row_##sfx(o, s, vs, p);                                                      \
            else                                                                                   \
                flash_row_##sfx(o, s, vs, acc, tile_acc, p);                                       \
            for (size_t c = 0; c < dv; c++) out[i * dv + c] = round_to((double)o[c], p->storage);  \
        }                                                                                          \
        free(qs);                                                                                  \
        free(ks);                                                                                  \
        free(vs);                                                                                  \
        free(s);                                                                                   \
        free(o);                                                                                   \
    }

ATTN_KERNELS(double, exp, f64)
ATTN_KERNELS(float, expf, f32)

int attn_run(double *out, const double *q, const double *k, const double *v, const attn_params *p)
{
    if (!params_valid(p)) return -1;
    /* an array may be NULL only when it has no entries */
    if ((!out && p->n_q * p->d_v != 0) || (!q && p->n_q * p->d != 0) || (!k && p->n_k * p->d != 0) ||
        (!v && p->n_k * p->d_v != 0))
        return -1;
    if (p->n_q == 0 || p->d_v == 0) return 0;
    if (p->compute == FP_F64)
        run_f64(out, q, k, v, p);
    else
        run_f32(out, q, k, v, p);
    return 0;
}

/* ---- the a-priori bound (docs/KERNELS.md, "Error bound") ---- */

/* gamma_n = n u / (1 - n u) (Higham, Accuracy and Stability of Numerical
 * Algorithms, 2nd ed., eq. 3.8); callers keep n u < 1/2. */
static double gamma_n(double n, double u) { return n * u / (1 - n * u); }

double attn_error_factor(const attn_params *p, double score_error)
{
    if (!params_valid(p) || !(score_error >= 0)) return INFINITY;
    if (p->n_k == 0) return 0; /* every row is fully masked: exactly 0 */
    int pc = fp_info(p->compute)->prec, ps = fp_info(p->storage)->prec;
    double uc = ldexp(1.0, -pc), us = ldexp(1.0, -ps);
    double ue = 2 * uc;                 /* exp and expf: at most 1 ulp of error */
    double eta = ldexp(1.0, (int)fp_info(p->compute)->emin - 1); /* smallest subnormal */
    double conv = ps > pc ? 1 : 0;      /* f64 inputs converted to float */
    double d = (double)p->d, nk = (double)p->n_k;
    /* roundings in a score: d in the dot product, the product with the scale,
     * in float the scale's conversion, from f64 storage q's and k's too */
    double n_score = d + 1 + (p->compute == FP_F32 ? 1 : 0) + 2 * conv;
    /* K levels of exp; numerator and denominator roundings of a key of the
     * first tile (of b keys), which is rescaled K-1 times */
    double K = 1, b = nk;
    if (p->kind == ATTN_FLASH) {
        size_t tiles = p->n_k / p->tile + (p->n_k % p->tile != 0);
        K = (double)tiles;
        b = p->tile < p->n_k ? (double)p->tile : nk;
    }
    double n_num = b + 2 * K - 2 + conv, n_den = b + 2 * K - 3;
    double n_max = fmax(fmax(n_score, n_num), d + 1);
    if (2 * n_max * uc >= 1) return INFINITY;
    /* M = max_j |q_i|.|k_j| |scale| from score_error = gamma_{d+1} M; every
     * exp argument is off by at most tau: the score's error gamma_{n_score} M
     * plus the rounded subtractions s_j - m and the rescales' m_old - m_new,
     * u_c (m - s_j) <= 2 u_c max_j |s_j| in all; eta covers products that
     * underflow in the dot products. */
    double M = score_error / gamma_n(d + 1, uc), g = gamma_n(n_score, uc);
    double tau = g * M + 2 * uc * (1 + g) * M + (d + 2) * eta;
    /* o/x - 1 for weights off by a factor in [e^-tau, e^tau](1 +- u_e)^K and
     * sums off by (1 + theta_n), |theta_n| <= gamma_n: at most exp(C) - 1. */
    double C = 2 * tau + K * (log1p(ue) - log1p(-ue)) - log1p(-gamma_n(n_num, uc)) - log1p(-uc) -
               log1p(-gamma_n(n_den, uc));
    /* P rounded before the product with V: each weight of the numerator off
     * by one more factor 1 + e, |e| <= u_p (within the normal range of the
     * probs format; below it the verifier adds an absolute allowance). */
    if (p->probs_rounded) C -= log1p(-ldexp(1.0, -fp_info(p->probs)->prec));
    double E = (1 + us) * expm1(C);
    /* Each step above errs by a few ulps, and expm1 amplifies C's relative
     * error by at most 1 + C (< 710 where E is finite): 2^-36 covers both. */
    return E * (1 + 0x1p-36);
}

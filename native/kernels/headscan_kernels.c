/*
 * headscan's CPU kernels for the fused full-vocabulary reductions (docs/science.md §4/§5), called through FFM.
 *
 * hs_reduce_rows: for each row i of a score tile S (rows x cols, leading dimension ld, row-major floats) and
 * its reference column diag[i], computes
 *   max_out[i]     = max_j S[i, j]
 *   sumexp_out[i]  = sum_j exp(S[i, j] - max_out[i])      (so log-sum-exp = max + log(sumexp))
 *   greater_out[i] = #{j : S[i, j] > S[i, diag[i]]}       (0-based strict rank, §4 and positive OV rank)
 *   less_out[i]    = #{j : S[i, j] < S[i, diag[i]]}       (negative OV rank, §5)
 * Two passes over each row (the row stays in L2 between them); both vectorise. exp uses Cody-Waite range
 * reduction and a degree-7 polynomial (relative error ~1e-7); partial sums are float within blocks of 1024
 * and double across blocks. This file is compiled twice (build.sh): the reductions (HS_PART_REDUCE) with
 * -ffinite-math-only, since callers guarantee finite scores (headscan checks the factors before evaluating a tile);
 * the row kernels (HS_PART_ROWS: GELU, LayerNorm/centring steps) without it, since with --allow-nonfinite they see
 * NaN and Inf from the weights and must propagate them as IEEE 754 says. GCC's target_clones builds an AVX2+FMA version and a baseline one; the loader
 * picks at run time.
 */
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <math.h>
#include <float.h>
#include "headscan_kernels.h"

#define HS_BLOCK 1024

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define HS_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define HS_CLONES
#endif

/* p * 2^k for an integral k in [-126, 127], by exponent arithmetic. */
static inline float hs_scale2(float p, float k) {
    int32_t bits = ((int32_t) k + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

static inline float hs_exp_nonpositive(float x) {
    const float log2e = 1.4426950408889634f, ln2_hi = 0.693145751953125f, ln2_lo = 1.42860682030941723212e-6f;
    x = x < -87.0f ? -87.0f : x;
    float k = __builtin_rintf(x * log2e);
    float r = (x - k * ln2_hi) - k * ln2_lo;
    float p = 1.9841270e-4f;
    p = p * r + 1.3888889e-3f;
    p = p * r + 8.3333333e-3f;
    p = p * r + 4.1666667e-2f;
    p = p * r + 1.6666667e-1f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    return hs_scale2(p, k);
}

#ifdef HS_PART_REDUCE
HS_CLONES
static void hs_row(const float *restrict row, int64_t cols, float ref, float *max_out, double *sum_out, int64_t *greater_out, int64_t *less_out) {
    /* eight independent lanes: the compiler maps them onto one SIMD register without reassociating */
    float mv[8];
    int32_t gv[8] = {0}, lv[8] = {0};
    for (int k = 0; k < 8; k++) mv[k] = -FLT_MAX;
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
        for (int k = 0; k < 8; k++) {
            float x = row[j + k];
            mv[k] = x > mv[k] ? x : mv[k];
            gv[k] += x > ref;
            lv[k] += x < ref;
        }
    }
    float m = -FLT_MAX;
    int64_t greater = 0, less = 0;
    for (int k = 0; k < 8; k++) {
        m = mv[k] > m ? mv[k] : m;
        greater += gv[k];
        less += lv[k];
    }
    for (; j < cols; j++) {
        float x = row[j];
        m = x > m ? x : m;
        greater += x > ref;
        less += x < ref;
    }
    double sum = 0.0;
    for (int64_t b = 0; b < cols; b += HS_BLOCK) {
        int64_t end = b + HS_BLOCK < cols ? b + HS_BLOCK : cols;
        float sv[8] = {0};
        int64_t i = b;
        for (; i + 8 <= end; i += 8) {
            for (int k = 0; k < 8; k++) sv[k] += hs_exp_nonpositive(row[i + k] - m);
        }
        double s = 0.0;
        for (int k = 0; k < 8; k++) s += sv[k];
        for (; i < end; i++) s += hs_exp_nonpositive(row[i] - m);
        sum += s;
    }
    *max_out = m;
    *sum_out = sum;
    *greater_out = greater;
    *less_out = less;
}

/** Returns 0 on success, -1 on a bad argument (nothing written). */
int hs_reduce_rows(const float *s, int64_t rows, int64_t cols, int64_t ld, const int64_t *diag,
                   float *max_out, double *sumexp_out, int64_t *greater_out, int64_t *less_out) {
    if (rows < 0 || cols <= 0 || ld < cols) return -1;
    for (int64_t i = 0; i < rows; i++) {
        if (diag[i] < 0 || diag[i] >= cols) return -1;
    }
    for (int64_t i = 0; i < rows; i++) {
        const float *row = s + i * ld;
        hs_row(row, cols, row[diag[i]], max_out + i, sumexp_out + i, greater_out + i, less_out + i);
    }
    return 0;
}

/* 2^t for t <= 127 (below -126 it returns 2^-126 times the polynomial: callers only add such terms). Degree-5
 * polynomial for 2^f on [-1/2, 1/2], fitted for relative error (7.5e-8 in exact arithmetic). */
static inline float hs_exp2(float t) {
    t = t < -126.0f ? -126.0f : t;
    float k = __builtin_rintf(t);
    float f = t - k;
    float p = 0.0013276467f;
    p = p * f + 0.0096755410f;
    p = p * f + 0.0555071346f;
    p = p * f + 0.2402212024f;
    p = p * f + 0.6931469440f;
    p = p * f + 1.0000001192f;
    return hs_scale2(p, k);
}

/* One pass over a row block against its reference value: sum_j exp(x_j - ref) (float within the block, which
 * stays below 2^100 * cols because larger exponents are caught), and the strict counts. Returns the largest
 * x_j - ref so the caller can see when the direct sum could overflow. */
HS_CLONES
static float hs_row_ref(const float *restrict row, int64_t cols, float ref, double *sum_out, int64_t *greater_out, int64_t *less_out) {
    const float log2e = 1.4426950408889634f;
    float sv[8] = {0}, mv[8];
    int32_t gv[8] = {0}, lv[8] = {0};
    for (int k = 0; k < 8; k++) mv[k] = -FLT_MAX;
    int64_t j = 0;
    for (; j + 8 <= cols; j += 8) {
        for (int k = 0; k < 8; k++) {
            float d = row[j + k] - ref;
            gv[k] += d > 0;
            lv[k] += d < 0;
            mv[k] = d > mv[k] ? d : mv[k];
            float t = d * log2e;
            t = t > 127.0f ? 127.0f : t;
            sv[k] += hs_exp2(t);
        }
    }
    double sum = 0;
    float md = -FLT_MAX;
    int64_t greater = 0, less = 0;
    for (int k = 0; k < 8; k++) {
        sum += sv[k];
        greater += gv[k];
        less += lv[k];
        md = mv[k] > md ? mv[k] : md;
    }
    for (; j < cols; j++) {
        float d = row[j] - ref;
        greater += d > 0;
        less += d < 0;
        md = d > md ? d : md;
        float t = d * log2e;
        sum += hs_exp2(t > 127.0f ? 127.0f : t);
    }
    *sum_out = sum;
    *greater_out = greater;
    *less_out = less;
    return md;
}

/*
 * hs_reduce_block: the full-vocabulary reduction of one column block of a row tile, added into running per-row
 * results (the pass goes through the keys in cache-sized blocks, each reduced right after its GEMM while it is
 * still in cache). Each row's reference value ref[i] = S[t, t] is given (the caller reduces the block holding the
 * diagonal first and reads it there). Adds, per row,
 *   sumexp_io[i]  += sum_j exp(S[i, j] - ref[i])       (so softmax(S[t, .])[t] = 1 / the total)
 *   greater_io[i] += #{j : S[i, j] > ref[i]}           less_io[i] += #{j : S[i, j] < ref[i]}
 * One pass per row; where some S[i, j] - ref[i] exceeds 69 (a float sum could overflow), that row block is summed
 * again relative to its maximum and rescaled in double.
 */
int hs_reduce_block(const float *s, int64_t rows, int64_t cols, int64_t ld, const float *ref,
                    double *sumexp_io, int64_t *greater_io, int64_t *less_io) {
    if (rows < 0 || cols <= 0 || ld < cols) return -1;
    for (int64_t i = 0; i < rows; i++) {
        const float *row = s + i * ld;
        double sum;
        int64_t g, l;
        float md = hs_row_ref(row, cols, ref[i], &sum, &g, &l);
        if (md > 69.0f) {
            float m;
            int64_t g2, l2;
            hs_row(row, cols, ref[i], &m, &sum, &g2, &l2);
            sum *= exp((double) m - ref[i]);
        }
        sumexp_io[i] += sum;
        greater_io[i] += g;
        less_io[i] += l;
    }
    return 0;
}

#endif /* HS_PART_REDUCE */

#ifdef HS_PART_ROWS
/** gelu_new(x + bias) in place over a rows x cols tile (docs/science.md §0: the tanh form), tanh via exp. */
HS_CLONES
static void hs_gelu_row(float *restrict row, const float *restrict bias, int64_t cols) {
    const float c = 0.7978845608028654f;
    for (int64_t j = 0; j < cols; j++) {
        float x = row[j] + bias[j];
        float y = c * (x + 0.044715f * x * x * x);
        /* tanh(y) = sign(y) * (1 - e) / (1 + e), e = exp(-2|y|) <= 1: stable for any y */
        float a = y < 0 ? -y : y;
        float e = hs_exp_nonpositive(-2.0f * a);
        float t = (1.0f - e) / (1.0f + e);
        t = y < 0 ? -t : t;
        row[j] = 0.5f * x * (1.0f + t);
    }
}

int hs_bias_gelu_new(float *x, int64_t rows, int64_t cols, int64_t ld, const float *bias) {
    if (rows < 0 || cols <= 0 || ld < cols) return -1;
    for (int64_t i = 0; i < rows; i++) hs_gelu_row(x + i * ld, bias, cols);
    return 0;
}

/*
 * hs_rows_affine: the row-wise steps of docs/science.md §0-§2 (centring, lnpre, LayerNorm weights, biases,
 * residual adds) in one pass per row. For r in [0, rows), with x_r = x[index ? index[r] : r] (leading dimension ldx):
 *   v = x_r * pre_scale + pre_bias                  (each vector optional: NULL skips it)
 *   norm 1: v = v - mean(v)        norm 2: v = lnpre(v) = cd(v) / sqrt(mean(cd(v)^2) + 1e-5)
 *   norm 3: v = rms(v) = v / sqrt(mean(v^2) + 1e-5)   (RMSNorm: nothing centred)
 *   v = v * scale + bias                            (optional)
 *   y[r] = v + add[r]                               (add optional, leading dimension ldadd)
 * Means and the sum of squares accumulate in double (eight partial sums); the mean is applied as a float, as
 * in the Java version. x, add and y may be the same memory (row r is read before it is written). x may be
 * unaligned (a mapped safetensors file). Returns 0, or -1 on a bad argument (nothing written).
 */
typedef float hs_ufloat __attribute__((aligned(1), may_alias));

HS_CLONES
static void hs_affine_row(const hs_ufloat *restrict x, int64_t cols, const float *pre_scale, const float *pre_bias, int32_t norm,
                          const float *scale, const float *bias, const float *add, float *restrict v, float *y) {
    for (int64_t j = 0; j < cols; j++) {
        float t = x[j];
        if (pre_scale) t *= pre_scale[j];
        if (pre_bias) t += pre_bias[j];
        v[j] = t;
    }
    if (norm == 1 || norm == 2) {   /* centre */
        double sv[8] = {0};
        int64_t j = 0;
        for (; j + 8 <= cols; j += 8) {
            for (int k = 0; k < 8; k++) sv[k] += v[j + k];
        }
        double s = 0;
        for (int k = 0; k < 8; k++) s += sv[k];
        for (; j < cols; j++) s += v[j];
        float m = (float) (s / (double) cols);
        for (j = 0; j < cols; j++) v[j] -= m;
    }
    if (norm == 2 || norm == 3) {   /* divide by the root mean square (of the centred values for lnpre) */
        double qv[8] = {0};
        int64_t j = 0;
        for (; j + 8 <= cols; j += 8) {
            for (int k = 0; k < 8; k++) qv[k] += (double) v[j + k] * v[j + k];
        }
        double q = 0;
        for (int k = 0; k < 8; k++) q += qv[k];
        for (; j < cols; j++) q += (double) v[j] * v[j];
        float inv = (float) (1.0 / sqrt(q / (double) cols + 1e-5));
        for (j = 0; j < cols; j++) v[j] *= inv;
    }
    for (int64_t j = 0; j < cols; j++) {
        float t = v[j];
        if (scale) t *= scale[j];
        if (bias) t += bias[j];
        if (add) t += add[j];
        y[j] = t;
    }
}

int hs_rows_affine(const float *x, int64_t ldx, const int64_t *index, int64_t rows, int64_t cols,
                   const float *pre_scale, const float *pre_bias, int32_t norm, const float *scale, const float *bias,
                   const float *add, int64_t ldadd, float *y, int64_t ldy) {
    if (rows < 0 || cols <= 0 || ldx < cols || ldy < cols || (add && ldadd < cols) || norm < 0 || norm > 3) return -1;
    if (index) {
        for (int64_t r = 0; r < rows; r++) {
            if (index[r] < 0) return -1;
        }
    }
    float *v = malloc((size_t) cols * sizeof(float));
    if (!v) return -1;
    for (int64_t r = 0; r < rows; r++) {
        const hs_ufloat *xr = (const hs_ufloat *) (x + (index ? index[r] : r) * ldx);
        hs_affine_row(xr, cols, pre_scale, pre_bias, norm, scale, bias, add ? add + r * ldadd : NULL, v, y + r * ldy);
    }
    free(v);
    return 0;
}

/*
 * hs_gated: the gated MLP's product (SwiGLU, GeGLU), in place: g[r][j] = act(g[r][j]) * u[r][j] for r in [0, rows),
 * j in [0, cols). act: 0 tanh GELU (gelu_new), 1 erf GELU, 2 ReLU, 3 SiLU x / (1 + exp(-x)); computed in double.
 * Returns 0, or -1 on a bad argument (nothing written).
 */
static double hs_act(int32_t act, double x) {
    switch (act) {
        case 0: return 0.5 * x * (1.0 + tanh(0.7978845608028654 * (x + 0.044715 * x * x * x)));
        case 1: return 0.5 * x * (1.0 + erf(x * 0.7071067811865476));
        case 2: return x > 0 ? x : 0;
        default: return x / (1.0 + exp(-x));
    }
}

int hs_gated(float *g, int64_t ldg, const float *u, int64_t ldu, int64_t rows, int64_t cols, int32_t act) {
    if (rows < 0 || cols <= 0 || ldg < cols || ldu < cols || act < 0 || act > 3) return -1;
    for (int64_t r = 0; r < rows; r++) {
        float *gr = g + r * ldg;
        const float *ur = u + r * ldu;
        for (int64_t j = 0; j < cols; j++) gr[j] = (float) (hs_act(act, gr[j]) * ur[j]);
    }
    return 0;
}

/*
 * hs_softcap: attention-logit soft-capping in place, x = cap * tanh(x / cap) (docs/science.md §9, Gemma-2), rows of
 * cols values with leading dimension ld; tanh in double. Returns 0, or -1 on a bad argument.
 */
int hs_softcap(float *x, int64_t rows, int64_t cols, int64_t ld, float cap) {
    if (rows < 0 || cols <= 0 || ld < cols || !(cap > 0)) return -1;
    double c = cap;
    for (int64_t r = 0; r < rows; r++) {
        float *xr = x + r * ld;
        for (int64_t j = 0; j < cols; j++) xr[j] = (float) (c * tanh(xr[j] / c));
    }
    return 0;
}

/** Version of this kernel library's interface, checked by the loader. */
int hs_kernels_version(void) {
    return 5;
}
#endif /* HS_PART_ROWS */

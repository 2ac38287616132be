/*
 * headscan's CUDA kernels. First the full-vocabulary reduction (docs/science.md §4/§5) on a device tile of scores,
 * the GPU twin of hs_reduce_block in native/kernels/headscan_kernels.c.
 *
 * hs_reduce_tile: S is a rows x cols row-major tile (leading dimension ld floats) of query rows t0 .. t0+rows-1
 * against keys c0 .. c0+cols-1; row i's reference entry is S[i, diag0 + i] (its diagonal, diag0 = t0 - c0).
 * For every row it writes
 *   sum_out[i]     = sum_j exp(S[i, j] - S[i, diag0 + i])   (softmax probability of the diagonal = 1 / sum)
 *   greater_out[i] = #{j : S[i, j] > S[i, diag0 + i]}      less_out[i] = #{j : S[i, j] < S[i, diag0 + i]}
 * One thread block per row. Each thread keeps a running maximum and a sum relative to it (rescaled when the
 * maximum grows, so nothing overflows), the block merges the pairs in shared memory, and the sum is moved to
 * the reference in double at the end. Launch with blockDim.x = HS_THREADS.
 */
#define HS_THREADS 256

extern "C" __global__ void hs_reduce_tile(const float *__restrict__ s, long long rows, long long cols, long long ld,
                                          long long diag0, double *__restrict__ sum_out,
                                          long long *__restrict__ greater_out, long long *__restrict__ less_out) {
    __shared__ float sm[HS_THREADS];
    __shared__ float ss[HS_THREADS];
    __shared__ long long sg[HS_THREADS];
    __shared__ long long sl[HS_THREADS];
    long long row = blockIdx.x;
    if (row >= rows) return;
    const float *r = s + row * ld;
    float ref = r[diag0 + row];
    float m = -3.402823466e38f, sum = 0.0f;
    long long g = 0, l = 0;
    for (long long j = threadIdx.x; j < cols; j += blockDim.x) {
        float x = r[j];
        g += x > ref;
        l += x < ref;
        if (x > m) {
            sum = sum * expf(m - x) + 1.0f;
            m = x;
        } else {
            sum += expf(x - m);
        }
    }
    int t = threadIdx.x;
    sm[t] = m;
    ss[t] = sum;
    sg[t] = g;
    sl[t] = l;
    __syncthreads();
    for (int half = blockDim.x / 2; half > 0; half >>= 1) {
        if (t < half) {
            float m1 = sm[t], m2 = sm[t + half];
            float top = m1 > m2 ? m1 : m2;
            ss[t] = ss[t] * expf(m1 - top) + ss[t + half] * expf(m2 - top);
            sm[t] = top;
            sg[t] += sg[t + half];
            sl[t] += sl[t + half];
        }
        __syncthreads();
    }
    if (t == 0) {
        sum_out[row] = (double) ss[0] * exp((double) sm[0] - (double) ref);
        greater_out[row] = sg[0];
        less_out[row] = sl[0];
    }
}

/*
 * The fused full-vocabulary kernel (docs/science.md §4/§5): S = scale · A·Bᵀ for factors A, B [V, r] (r <= 64) is
 * formed tile by tile in registers and reduced at once; S is never written to memory.
 *
 * hs_fused_diag: ref[i] = S[t0 + i, t0 + i] for i < rows, computed with exactly the arithmetic of hs_fused_rows
 * (one __fmaf_rn per k in increasing k from 0, then one __fmul_rn by scale), so that the entry the tile computes for
 * s = t compares equal to ref: the diagonal never counts against itself.
 *
 * hs_fused_rows: one block of 16 x 16 threads takes 64 query rows t0 + 64·blockIdx.x ...; A's 64 rows stay in shared
 * memory while B streams through in tiles of 64 keys. Both are stored transposed ([k][row], rows padded to 68 floats),
 * so that thread (tx, ty), which holds the 4 x 4 block S[4·ty + i, 4·tx + j], reads its 4 query rows and its 4 keys at
 * step k as two float4s (2 shared-memory loads per 16 FMAs; the first version's [row][k] layout took 8, and was 10%
 * slower on the H200). It adds, per row, exp(S − ref) (in double where S − ref > 80, which float could not hold) and
 * the strict counts; the 16 threads of a row group then combine by warp shuffles. Outputs, per row i < rows:
 * sum_out[i] = Σ_s exp(S[t, s] − S[t, t]) (the diagonal's 1 included), greater_out[i], less_out[i].
 * Launch: grid (ceil(rows / 64)), block (16, 16).
 */
#define HS_FT 64
#define HS_FR 64

__device__ __forceinline__ float hs_dot_scaled(const float *a, const float *b, int r, float scale) {
    float acc = 0.0f;
    for (int k = 0; k < r; k++) acc = __fmaf_rn(a[k], b[k], acc);
    return __fmul_rn(acc, scale);
}

extern "C" __global__ void hs_fused_diag(const float *__restrict__ a, long long lda, const float *__restrict__ b, long long ldb,
                                         int r, float scale, long long t0, long long rows, float *__restrict__ ref) {
    long long i = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= rows) return;
    long long t = t0 + i;
    ref[i] = hs_dot_scaled(a + t * lda, b + t * ldb, r, scale);
}

#define HS_FT_LD (HS_FT + 4)   /* a multiple of 4 floats: every float4 read is aligned */

extern "C" __global__ void hs_fused_rows(const float *__restrict__ a, long long lda, const float *__restrict__ b, long long ldb,
                                         long long v, int r, float scale, long long t0, long long rows,
                                         const float *__restrict__ ref, double *__restrict__ sum_out,
                                         long long *__restrict__ greater_out, long long *__restrict__ less_out) {
    __shared__ __align__(16) float at[HS_FR * HS_FT_LD];
    __shared__ __align__(16) float bt[HS_FR * HS_FT_LD];
    const int tx = threadIdx.x, ty = threadIdx.y, tid = ty * 16 + tx;
    const long long row0 = (long long) blockIdx.x * HS_FT;

    for (int e = tid; e < HS_FT * HS_FR; e += 256) {
        int i = e / HS_FR, k = e % HS_FR;   /* consecutive threads: consecutive k of one row (coalesced reads) */
        long long row = row0 + i;
        at[k * HS_FT_LD + i] = (row < rows && k < r) ? a[(t0 + row) * lda + k] : 0.0f;
    }
    float myref[4];
    double sum[4];
    long long gt[4], lt[4];
    for (int i = 0; i < 4; i++) {
        long long row = row0 + 4 * ty + i;
        myref[i] = row < rows ? ref[row] : 0.0f;
        sum[i] = 0.0;
        gt[i] = 0;
        lt[i] = 0;
    }

    for (long long s0 = 0; s0 < v; s0 += HS_FT) {
        __syncthreads();   /* at is written; the previous tile's keys are no longer read */
        for (int e = tid; e < HS_FT * HS_FR; e += 256) {
            int j = e / HS_FR, k = e % HS_FR;
            long long s = s0 + j;
            bt[k * HS_FT_LD + j] = (s < v && k < r) ? b[s * ldb + k] : 0.0f;
        }
        __syncthreads();
        float acc[4][4];
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) acc[i][j] = 0.0f;
        for (int k = 0; k < r; k++) {
            float4 ai = *reinterpret_cast<const float4 *>(&at[k * HS_FT_LD + 4 * ty]);
            float4 bj = *reinterpret_cast<const float4 *>(&bt[k * HS_FT_LD + 4 * tx]);
            float av[4] = {ai.x, ai.y, ai.z, ai.w}, bv[4] = {bj.x, bj.y, bj.z, bj.w};
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) acc[i][j] = __fmaf_rn(av[i], bv[j], acc[i][j]);
        }
        for (int i = 0; i < 4; i++) {
            float part = 0.0f;
            for (int j = 0; j < 4; j++) {
                if (s0 + 4 * tx + j >= v) continue;
                float x = __fmul_rn(acc[i][j], scale);
                gt[i] += x > myref[i];
                lt[i] += x < myref[i];
                float d = x - myref[i];
                if (d > 80.0f) sum[i] += exp((double) x - (double) myref[i]);
                else part += expf(d);
            }
            sum[i] += part;
        }
    }

    for (int i = 0; i < 4; i++) {
        for (int off = 8; off > 0; off >>= 1) {   /* the 16 threads of a row group are 16 consecutive lanes of one warp */
            sum[i] += __shfl_xor_sync(0xffffffffu, sum[i], off, 16);
            gt[i] += __shfl_xor_sync(0xffffffffu, gt[i], off, 16);
            lt[i] += __shfl_xor_sync(0xffffffffu, lt[i], off, 16);
        }
        long long row = row0 + 4 * ty + i;
        if (tx == 0 && row < rows) {
            sum_out[row] = sum[i];
            greater_out[row] = gt[i];
            less_out[row] = lt[i];
        }
    }
}

/*
 * hs_fold_rows: out[i, j] = g[i] · w[i, j] for a row-major d x r weight w (leading dimension ldw) into a dense d x r
 * out: a LayerNorm weight folded into the weight that follows it, (x ⊙ g) @ w = x @ (diag(g) · w), on the device.
 * g may be null (then out is w, densely copied). Launch: 1-D, one thread per element.
 */
extern "C" __global__ void hs_fold_rows(const float *__restrict__ w, long long ldw, const float *__restrict__ g, long long d, long long r,
                                        float *__restrict__ out) {
    long long e = (long long) blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= d * r) return;
    long long i = e / r, j = e % r;
    float x = w[i * ldw + j];
    out[e] = g ? __fmul_rn(x, g[i]) : x;
}

/*
 * The row steps of W_EE and U on the device (docs/science.md §0-§2), the twins of hs_rows_affine and hs_bias_gelu_new
 * in native/kernels/headscan_kernels.c, so that a workspace on the GPU (io.headscan.compute.Workspace) computes them
 * where its tensors live.
 *
 * hs_rows_affine_dev: for r in [0, rows), x_r = x[index ? index[r] : r] (leading dimension ldx):
 *   v = x_r * pre_scale + pre_bias;  norm 1: v -= mean(v);  norm 2: v = (v - mean(v)) / sqrt(mean((v - mean)^2) + 1e-5)
 *   norm 3: v = v / sqrt(mean(v^2) + 1e-5)   (RMSNorm)
 *   y[r] = v * scale + bias + add[r]           (every vector optional: NULL skips it)
 * One block of HS_ROW_THREADS threads per row (grid-strided over rows). Mean and sum of squares accumulate in double
 * (per thread, then a tree in shared memory); the mean is applied as a float, as on the CPU. x, add and y may be the
 * same memory row for row: every element is read and written by the same thread.
 */
#define HS_ROW_THREADS 256

__device__ static float hs_pre(const float *xr, const float *pre_scale, const float *pre_bias, long long j) {
    float t = xr[j];
    if (pre_scale) t *= pre_scale[j];
    if (pre_bias) t += pre_bias[j];
    return t;
}

__device__ static double hs_block_sum(double v, double *red) {
    int t = threadIdx.x;
    red[t] = v;
    __syncthreads();
    for (int half = HS_ROW_THREADS / 2; half > 0; half >>= 1) {
        if (t < half) red[t] += red[t + half];
        __syncthreads();
    }
    double s = red[0];
    __syncthreads();   /* red is reused by the next sum */
    return s;
}

extern "C" __global__ void hs_rows_affine_dev(const float *x, long long ldx, const long long *__restrict__ index, long long rows,
                                              long long cols, const float *__restrict__ pre_scale, const float *__restrict__ pre_bias,
                                              int norm, const float *__restrict__ scale, const float *__restrict__ bias,
                                              const float *add, long long ldadd, float *y, long long ldy) {
    __shared__ double red[HS_ROW_THREADS];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const float *xr = x + (index ? index[r] : r) * ldx;
        float m = 0.0f, inv = 1.0f;
        if (norm == 3) {
            double q = 0.0;
            for (long long j = threadIdx.x; j < cols; j += HS_ROW_THREADS) {
                float c = hs_pre(xr, pre_scale, pre_bias, j);
                q += (double) c * c;
            }
            inv = (float) (1.0 / sqrt(hs_block_sum(q, red) / (double) cols + 1e-5));
        } else if (norm != 0) {
            double s = 0.0;
            for (long long j = threadIdx.x; j < cols; j += HS_ROW_THREADS) s += hs_pre(xr, pre_scale, pre_bias, j);
            m = (float) (hs_block_sum(s, red) / (double) cols);
            if (norm == 2) {
                double q = 0.0;
                for (long long j = threadIdx.x; j < cols; j += HS_ROW_THREADS) {
                    float c = hs_pre(xr, pre_scale, pre_bias, j) - m;
                    q += (double) c * c;
                }
                inv = (float) (1.0 / sqrt(hs_block_sum(q, red) / (double) cols + 1e-5));
            }
        }
        for (long long j = threadIdx.x; j < cols; j += HS_ROW_THREADS) {
            float t = hs_pre(xr, pre_scale, pre_bias, j);
            if (norm == 1 || norm == 2) t -= m;
            if (norm >= 2) t *= inv;
            if (scale) t *= scale[j];
            if (bias) t += bias[j];
            if (add) t += add[r * ldadd + j];
            y[r * ldy + j] = t;
        }
    }
}

/* hs_bias_gelu_dev: h = gelu_new(h + bias) in place over a rows x cols tile (leading dimension ld); the tanh form of
 * §0. Launch: 1-D, grid-strided over the elements. */
extern "C" __global__ void hs_bias_gelu_dev(float *h, long long rows, long long cols, long long ld, const float *__restrict__ bias) {
    long long n = rows * cols;
    for (long long e = (long long) blockIdx.x * blockDim.x + threadIdx.x; e < n; e += (long long) gridDim.x * blockDim.x) {
        long long i = e / cols, j = e % cols;
        float v = h[i * ld + j] + bias[j];
        h[i * ld + j] = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));
    }
}

/*
 * hs_fused_rows_tf32: the fused full-vocabulary kernel on TF32 tensor cores (for --tf32; compute capability 8.0 or
 * newer: on older GPUs, and in the compute_75 PTX, its body is empty and the Java side never launches it). Same
 * outputs as hs_fused_rows, with TF32 products (10-bit mantissas: scores move by about 1e-3 relative, like cuBLAS in
 * TF32) accumulated in FP32.
 *
 * One block of 4 warps takes 64 query rows (t0 + 64·blockIdx.x ..., t0 a multiple of 64) and walks the keys in tiles
 * of 64, starting with the tile of its own rows and wrapping around. Each warp computes a 32 x 32 quarter of the
 * 64 x 64 tile of S as 2 x 2 wmma fragments (m16n16k8), the block stores the tile in shared memory over the keys it
 * no longer needs, and each of the 128 threads reduces 32 entries of one row. The diagonal: the first tile is the
 * block's own, so S[t, t] is read from the very tile that is reduced against it (ref = that entry · scale); later
 * tiles are reduced against it. Launch: grid (ceil(rows / 64)), block (128). Shared memory: 34 KB.
 */
#include <mma.h>

#define HS_TC 64
#define HS_TC_LD (HS_TC + 4)   /* padded rows: a multiple of 4 floats, as wmma wants, and fewer bank conflicts */

extern "C" __global__ void hs_fused_rows_tf32(const float *__restrict__ a, long long lda, const float *__restrict__ b, long long ldb,
                                              long long v, int r, float scale, long long t0, long long rows,
                                              double *__restrict__ sum_out, long long *__restrict__ greater_out,
                                              long long *__restrict__ less_out) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
    using namespace nvcuda;
    /* wmma loads and stores need 256-bit aligned pointers: the arrays are aligned so, and every fragment starts at a
       row that is a multiple of 16 (16 · 68 floats = 4352 bytes) and a column that is a multiple of 8 */
    __shared__ __align__(32) float as[HS_TC * HS_TC_LD];
    __shared__ __align__(32) float bs[HS_TC * HS_TC_LD];   /* keys of the tile, then the tile of S itself */
    const int tid = threadIdx.x, warp = tid >> 5;
    const int wr = (warp >> 1) * 32, wc = (warp & 1) * 32;   /* this warp's quarter of the tile */
    const long long row0 = (long long) blockIdx.x * HS_TC;
    const int my = tid >> 1, half = (tid & 1) * 32;          /* the row and the 32 columns this thread reduces */

    for (int e = tid; e < HS_TC * HS_TC; e += blockDim.x) {
        int i = e / HS_TC, k = e % HS_TC;
        long long row = row0 + i;
        as[i * HS_TC_LD + k] = (row < rows && k < r) ? wmma::__float_to_tf32(a[(t0 + row) * lda + k]) : 0.0f;
    }
    const long long tiles = (v + HS_TC - 1) / HS_TC, first = (t0 + row0) / HS_TC;
    float ref = 0.0f;
    double sum = 0.0;
    long long gt = 0, lt = 0;
    for (long long n = 0; n < tiles; n++) {
        const long long s0 = ((first + n) % tiles) * HS_TC;
        __syncthreads();   /* as is written; the previous tile of S has been reduced */
        for (int e = tid; e < HS_TC * HS_TC; e += blockDim.x) {
            int j = e / HS_TC, k = e % HS_TC;
            long long s = s0 + j;
            bs[j * HS_TC_LD + k] = (s < v && k < r) ? wmma::__float_to_tf32(b[s * ldb + k]) : 0.0f;
        }
        __syncthreads();
        wmma::fragment<wmma::accumulator, 16, 16, 8, float> c[2][2];
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++) wmma::fill_fragment(c[i][j], 0.0f);
        for (int k = 0; k < HS_TC; k += 8) {
            wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[2];
            wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::col_major> fb[2];
            for (int i = 0; i < 2; i++) wmma::load_matrix_sync(fa[i], as + (wr + 16 * i) * HS_TC_LD + k, HS_TC_LD);
            for (int j = 0; j < 2; j++) wmma::load_matrix_sync(fb[j], bs + (wc + 16 * j) * HS_TC_LD + k, HS_TC_LD);
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) wmma::mma_sync(c[i][j], fa[i], fb[j], c[i][j]);
        }
        __syncthreads();   /* every warp is done with the keys: the tile of S goes over them */
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 2; j++)
                wmma::store_matrix_sync(bs + (wr + 16 * i) * HS_TC_LD + wc + 16 * j, c[i][j], HS_TC_LD, wmma::mem_row_major);
        __syncthreads();
        if (n == 0) ref = __fmul_rn(bs[my * HS_TC_LD + my], scale);   /* the block's own tile: its diagonal */
        float part = 0.0f;
        for (int jj = 0; jj < 32; jj++) {
            int j = half + jj;
            if (s0 + j >= v) break;
            float x = __fmul_rn(bs[my * HS_TC_LD + j], scale);
            gt += x > ref;
            lt += x < ref;
            float d = x - ref;
            if (d > 80.0f) sum += exp((double) x - (double) ref);
            else part += expf(d);
        }
        sum += part;
    }
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);   /* the two threads of a row are neighbouring lanes */
    gt += __shfl_xor_sync(0xffffffffu, gt, 1);
    lt += __shfl_xor_sync(0xffffffffu, lt, 1);
    long long row = row0 + my;
    if (half == 0 && row < rows) {
        sum_out[row] = sum;
        greater_out[row] = gt;
        less_out[row] = lt;
    }
#endif
}

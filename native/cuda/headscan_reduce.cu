/*
 * headscan's CUDA kernel: the fused full-vocabulary reduction (docs/science.md §4/§5) on a device tile of scores,
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

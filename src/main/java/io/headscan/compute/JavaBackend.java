package io.headscan.compute;

import io.headscan.format.SafetensorsFile;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ForkJoinPool;
import java.util.stream.IntStream;

/**
 * Pure-Java reference backend: no native code at all. Columns of op(B) are packed in blocks into a
 * small heap buffer (bounded, so it runs under a 64 MB heap), rows of op(A) likewise, and each
 * output is a dot product with four partial sums. Rows are split across a private fork-join pool.
 */
public final class JavaBackend extends AbstractBackend {

    /** Upper bound on floats packed at once for a block of op(B) columns. */
    private static final int PACK_BUDGET_FLOATS = 1 << 20;

    private volatile int threads;
    private volatile ForkJoinPool pool;

    public JavaBackend(int threads) {
        setThreads(threads);
    }

    @Override
    public String name() {
        return "java";
    }

    @Override
    public String describe() {
        return "pure Java (" + Runtime.version() + "), " + threads + " thread" + (threads == 1 ? "" : "s");
    }

    @Override
    public int threads() {
        return threads;
    }

    @Override
    public synchronized void setThreads(int threads) {
        int t = threads <= 0 ? Runtime.getRuntime().availableProcessors() : threads;
        if (pool != null && t == this.threads) return;   // the pool it has already fits
        if (pool != null) pool.shutdown();
        this.threads = t;
        this.pool = new ForkJoinPool(t);
    }

    @Override
    protected void sgemmChecked(Transpose transA, Transpose transB, int m, int n, int k,
                                float alpha, MemorySegment a, long aOffset, int lda,
                                MemorySegment b, long bOffset, int ldb,
                                float beta, MemorySegment c, long cOffset, int ldc) {
        var f = SafetensorsFile.F32_LE;
        int nb = (int) Math.max(1, Math.min(256, PACK_BUDGET_FLOATS / Math.max(1, k)));
        float[] packedB = new float[Math.max(1, k) * Math.min(nb, n)];
        for (int j0 = 0; j0 < n; j0 += nb) {
            int cols = Math.min(nb, n - j0);
            // packedB[jj*k + p] = op(B)[p, j0 + jj]
            for (int jj = 0; jj < cols; jj++) {
                int j = j0 + jj;
                for (int p = 0; p < k; p++) {
                    long idx = transB.on() ? bOffset + (long) j * ldb + p : bOffset + (long) p * ldb + j;
                    packedB[jj * k + p] = b.getAtIndex(f, idx);
                }
            }
            final int jStart = j0;
            if (threads == 1 || (long) m * cols * k < 32_768 || !shared(a, b, c)) {
                float[] row = new float[k];
                for (int i = 0; i < m; i++) {
                    computeRow(i, row, k, cols, transA, a, aOffset, lda, packedB, alpha, beta, c, cOffset, ldc, jStart);
                }
            } else {
                pool.submit(() -> IntStream.range(0, m).parallel().forEach(i -> computeRow(i, new float[k], k, cols, transA,
                        a, aOffset, lda, packedB, alpha, beta, c, cOffset, ldc, jStart))).join();
            }
        }
    }

    /** A thread that never runs: a segment it may access is not confined to the caller. */
    private static final Thread OTHER = Thread.ofPlatform().unstarted(() -> {});

    /** Confined segments can only be used from the calling thread: then the work is not split. */
    private static boolean shared(MemorySegment... segments) {
        for (MemorySegment s : segments) {
            if (!s.isAccessibleBy(OTHER)) return false;
        }
        return true;
    }

    /** Row i of C for the packed block of columns: packs row i of op(A), then one dot product per column. */
    private static void computeRow(int i, float[] row, int k, int cols, Transpose transA, MemorySegment a, long aOffset, int lda,
                                   float[] packedB, float alpha, float beta, MemorySegment c, long cOffset, int ldc, int jStart) {
        var f = SafetensorsFile.F32_LE;
        for (int p = 0; p < k; p++) {
            long idx = transA.on() ? aOffset + (long) p * lda + i : aOffset + (long) i * lda + p;
            row[p] = a.getAtIndex(f, idx);
        }
        for (int jj = 0; jj < cols; jj++) {
            float dot = dot(row, packedB, jj * k, k);
            long ci = cOffset + (long) i * ldc + jStart + jj;
            float v = alpha * dot;
            if (beta != 0f) v += beta * c.getAtIndex(f, ci);
            c.setAtIndex(f, ci, v);
        }
    }

    private static float dot(float[] x, float[] y, int yOff, int k) {
        float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int p = 0;
        for (; p + 3 < k; p += 4) {
            s0 += x[p] * y[yOff + p];
            s1 += x[p + 1] * y[yOff + p + 1];
            s2 += x[p + 2] * y[yOff + p + 2];
            s3 += x[p + 3] * y[yOff + p + 3];
        }
        for (; p < k; p++) s0 += x[p] * y[yOff + p];
        return (s0 + s1) + (s2 + s3);
    }

    @Override
    public synchronized void close() {
        if (pool != null) pool.shutdown();
    }
}

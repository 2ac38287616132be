package io.headscan.compute;

import java.lang.foreign.MemorySegment;

/**
 * Argument checking shared by every backend, BLAS-style: each public call validates sizes,
 * leading dimensions and the extent of every operand inside its segment, naming the argument that is
 * wrong, and only then calls the kernel. A bad call never reaches native code.
 */
public abstract class AbstractBackend implements Backend {

    @Override
    public final void sgemm(Transpose transA, Transpose transB, int m, int n, int k,
                            float alpha, MemorySegment a, long aOffset, int lda,
                            MemorySegment b, long bOffset, int ldb,
                            float beta, MemorySegment c, long cOffset, int ldc) {
        checkArguments(transA, transB, m, n, k, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
        if (m == 0 || n == 0) return;
        sgemmChecked(transA, transB, m, n, k, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
    }

    /** Every check of {@link #sgemm}: sizes, leading dimensions, each operand inside its segment, C writable. */
    protected static void checkArguments(Transpose transA, Transpose transB, int m, int n, int k,
                                         MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                                         MemorySegment c, long cOffset, int ldc) {
        if (m < 0) throw new IllegalArgumentException("sgemm: m = " + m + " < 0");
        if (n < 0) throw new IllegalArgumentException("sgemm: n = " + n + " < 0");
        if (k < 0) throw new IllegalArgumentException("sgemm: k = " + k + " < 0");
        // Stored shapes (row-major): A is m×k or k×m, B is k×n or n×k.
        int aRows = transA.on() ? k : m, aCols = transA.on() ? m : k;
        int bRows = transB.on() ? n : k, bCols = transB.on() ? k : n;
        checkOperand("A", a, aOffset, aRows, aCols, lda);
        checkOperand("B", b, bOffset, bRows, bCols, ldb);
        checkOperand("C", c, cOffset, m, n, ldc);
        if (c.isReadOnly() && m > 0 && n > 0) throw new IllegalArgumentException("sgemm: C is read-only");
    }

    private static void checkOperand(String name, MemorySegment s, long offset, int rows, int cols, int ld) {
        if (ld < Math.max(1, cols)) {
            throw new IllegalArgumentException("sgemm: ld" + name.toLowerCase() + " = " + ld + " < max(1, " + cols + ")");
        }
        if (offset < 0) throw new IllegalArgumentException("sgemm: offset of " + name + " = " + offset + " < 0");
        if (rows == 0 || cols == 0) return;
        long lastIndex = offset + (long) (rows - 1) * ld + cols - 1;
        if ((lastIndex + 1) * Float.BYTES > s.byteSize()) {
            throw new IllegalArgumentException("sgemm: " + name + " (" + rows + "x" + cols + ", ld " + ld + ", offset " + offset
                    + ") runs past its segment of " + s.byteSize() + " bytes");
        }
    }

    /** The kernel, called with validated arguments and m, n > 0. */
    protected abstract void sgemmChecked(Transpose transA, Transpose transB, int m, int n, int k,
                                         float alpha, MemorySegment a, long aOffset, int lda,
                                         MemorySegment b, long bOffset, int ldb,
                                         float beta, MemorySegment c, long cOffset, int ldc);
}

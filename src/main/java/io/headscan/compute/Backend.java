package io.headscan.compute;

import io.headscan.model.Matrix;
import java.lang.foreign.MemorySegment;

/**
 * The small set of dense linear algebra that the science needs, on {@link MemorySegment}s so that
 * mapped weights go to native code without copies.
 *
 * <p>All matrices are row-major (CBLAS {@code CblasRowMajor} convention): op(A) is m×k, op(B) is k×n,
 * C is m×n, {@code C = alpha·op(A)·op(B) + beta·C}. Offsets and leading dimensions are in floats.
 * Implementations validate every argument (naming it) before touching memory.
 */
public interface Backend extends AutoCloseable {

    /** Short name: "openblas", "java", "cublas". */
    String name();

    /** One line: library, version, path, core type, threads. */
    String describe();

    /**
     * After a failure: whether this backend can no longer compute at all (a GPU whose context holds a sticky fault: an
     * illegal address, a trap), and why. Empty for a backend that a failed call leaves usable, as every CPU backend.
     * A sweep stops on it rather than recording the same fault against every checkpoint after it.
     */
    default java.util.Optional<String> fault() {
        return java.util.Optional.empty();
    }

    /** Threads this backend uses for one call. */
    int threads();

    void setThreads(int threads);

    /** Single-precision GEMM on raw segments (float offsets, leading dimensions in floats). */
    void sgemm(Transpose transA, Transpose transB, int m, int n, int k,
               float alpha, MemorySegment a, long aOffset, int lda,
               MemorySegment b, long bOffset, int ldb,
               float beta, MemorySegment c, long cOffset, int ldc);

    /**
     * {@code batch} independent GEMMs whose operands sit at fixed strides (in floats) from each other:
     * {@code C_i = alpha·op(A_i)·op(B_i) + beta·C_i} with A_i at aOffset + i·strideA, and so on. Used for all
     * heads of a layer at once (their Q and K blocks are d_h apart in one row). The default loops over
     * {@link #sgemm} (OpenBLAS's own batch call crashed in 0.3.31; see OpenBlasBackend).
     */
    default void sgemmStridedBatched(Transpose transA, Transpose transB, int m, int n, int k,
                                     float alpha, MemorySegment a, long aOffset, int lda, long strideA,
                                     MemorySegment b, long bOffset, int ldb, long strideB,
                                     float beta, MemorySegment c, long cOffset, int ldc, long strideC, int batch) {
        for (int i = 0; i < batch; i++) {
            sgemm(transA, transB, m, n, k, alpha, a, aOffset + i * strideA, lda, b, bOffset + i * strideB, ldb,
                    beta, c, cOffset + i * strideC, ldc);
        }
    }

    /** {@code C = alpha·op(A)·op(B) + beta·C} on matrix views; sizes are taken from the views. */
    default void gemm(float alpha, Matrix a, Transpose ta, Matrix b, Transpose tb, float beta, Matrix c) {
        int m = ta.on() ? a.cols() : a.rows();
        int k = ta.on() ? a.rows() : a.cols();
        int kb = tb.on() ? b.cols() : b.rows();
        int n = tb.on() ? b.rows() : b.cols();
        if (k != kb) throw new IllegalArgumentException("inner dimensions differ: op(A) is " + m + "x" + k + ", op(B) is " + kb + "x" + n);
        if (c.rows() != m || c.cols() != n) {
            throw new IllegalArgumentException("C is " + c.rows() + "x" + c.cols() + ", expected " + m + "x" + n);
        }
        sgemm(ta, tb, m, n, k, alpha, a.segment(), a.offset(), a.ld(), b.segment(), b.offset(), b.ld(),
                beta, c.segment(), c.offset(), c.ld());
    }

    /**
     * A new {@link Workspace}: tensors that live where this backend computes (host memory for the CPU backends, device
     * memory for cuBLAS), freed when it closes. Close it before the backend.
     */
    default Workspace workspace() {
        return Workspace.onHost(this);
    }

    /**
     * Runs one small product so that the library's one-off costs (its threads, its packing buffers, the first call's
     * linking) are paid now, off the critical path, by a thread that would otherwise wait: the CLI calls it where it
     * loads the backend in the background. Results are discarded.
     */
    default void warmUp() {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            Matrix a = Matrix.allocate(arena, 256, 256);
            gemm(1f, a, Transpose.NO, a, Transpose.NO, 0f, Matrix.allocate(arena, 256, 256));
        }
    }

    /**
     * Says that this host memory will not change until {@link #release}: a backend that computes elsewhere (a GPU)
     * then keeps one copy of it there for every call that reads it, instead of copying it per call. Mapped weights
     * (read-only segments) are treated so without asking. CPU backends use host memory in place: nothing to do.
     */
    default void retain(MemorySegment s) {}

    /** Ends {@link #retain}: the backend's copy is freed (the host memory may change or go away after this). */
    default void release(MemorySegment s) {}

    /**
     * Row steps that ran on the host although this backend computes elsewhere (no device kernel for them yet), in the
     * order first seen: what {@code --profile} reports as "where each step ran". Empty for CPU backends.
     */
    default java.util.List<String> hostSteps() {
        return java.util.List.of();
    }

    /** Bytes this backend has moved between host and device memory so far (none for CPU backends). */
    default Transfers transfers() {
        return Transfers.NONE;
    }

    /** Bytes copied host → device and device → host. */
    record Transfers(long toDevice, long toHost) {
        public static final Transfers NONE = new Transfers(0, 0);

        public Transfers minus(Transfers earlier) {
            return new Transfers(toDevice - earlier.toDevice, toHost - earlier.toHost);
        }

        public Transfers plus(Transfers more) {
            return new Transfers(toDevice + more.toDevice, toHost + more.toHost);
        }

        /** "host→device 12.3 MB, device→host 4.5 MB". */
        public String describe() {
            return String.format(java.util.Locale.ROOT, "host→device %.1f MB, device→host %.1f MB", toDevice / 1e6, toHost / 1e6);
        }
    }

    @Override
    void close();
}

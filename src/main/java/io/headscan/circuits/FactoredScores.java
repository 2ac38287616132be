package io.headscan.circuits;

import io.headscan.Progress;
import io.headscan.compute.Backend;
import io.headscan.compute.FusedReduction;
import io.headscan.compute.Transpose;
import io.headscan.compute.kernels.RowReducer;
import io.headscan.model.Matrix;
import java.lang.foreign.Arena;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.IntStream;

/**
 * A V×V matrix kept factored, {@code S = scale · A·Bᵀ} with A, B of shape [V, r] (r = d_h), evaluated in
 * row tiles through the backend and reduced at once by a fused row kernel ({@link RowReducer}: C through
 * FFM, or Java): the V×V matrix never exists (style: TransformerLens' FactoredMatrix). Per row t it yields
 * the softmax probability of the diagonal entry S[t, t] over the whole row and the counts of entries
 * strictly above and below it. Off-heap memory: per core, one block of {@code ROW_TILE × COLUMN_BLOCK} floats (128 × 2048:
 * 1 MiB), reused across heads ({@link Buffers}).
 */
final class FactoredScores {

    /** Query rows per unit of work, and key columns per GEMM + reduction step (ROW_TILE must divide COLUMN_BLOCK). */
    static final int ROW_TILE = tuning("headscan.rows", 128),
            COLUMN_BLOCK = Math.max(1, tuning("headscan.block", 2048) / ROW_TILE) * ROW_TILE;

    /** A tuning property (for the benchmarks): a positive integer, or a clear error naming it. */
    private static int tuning(String name, int fallback) {
        String v = System.getProperty(name);
        if (v == null) return fallback;
        try {
            int x = Integer.parseInt(v.strip());
            if (x >= 1) return x;
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new IllegalArgumentException("-D" + name + "=" + v + ": must be a positive integer");
    }

    /** Per-row results for all V rows. */
    record RowResults(double[] diagProb, int[] greater, int[] less) {}

    /** Nanoseconds spent in the GEMMs and in the reductions (for --profile and the benchmarks). */
    static final class Timing {
        final AtomicLong gemmNanos = new AtomicLong();
        final AtomicLong reduceNanos = new AtomicLong();
        final AtomicLong factorNanos = new AtomicLong();

        double factorMs() {
            return factorNanos.get() / 1e6;
        }

        double gemmMs() {
            return gemmNanos.get() / 1e6;
        }

        double reduceMs() {
            return reduceNanos.get() / 1e6;
        }

        /** Bytes between host and device, per phase (zero on CPU backends). */
        private io.headscan.compute.Backend.Transfers factorBytes = io.headscan.compute.Backend.Transfers.NONE,
                scoreBytes = io.headscan.compute.Backend.Transfers.NONE;

        synchronized void addFactorBytes(io.headscan.compute.Backend.Transfers t) {
            factorBytes = factorBytes.plus(t);
        }

        synchronized void addScoreBytes(io.headscan.compute.Backend.Transfers t) {
            scoreBytes = scoreBytes.plus(t);
        }

        synchronized io.headscan.compute.Backend.Transfers[] bytes() {
            return new io.headscan.compute.Backend.Transfers[] {factorBytes, scoreBytes};
        }
    }

    private FactoredScores() {}

    /** The row kernels assume finite scores; NaN or ±Inf in the weights is reported here instead. */
    private static void requireFinite(Matrix m, String what) {
        float[] row = new float[m.cols()];
        for (int r = 0; r < m.rows(); r++) {
            io.headscan.circuits.Rows.read(m, r, row);
            for (float x : row) {
                if (!Float.isFinite(x)) {
                    throw new IllegalArgumentException("non-finite value " + x + " in the " + what + " of this head (row " + r
                            + "): the checkpoint holds NaN or Inf weights (see inspect --stats)");
                }
            }
        }
    }

    /** Reusable off-heap buffers for the factors and one block per worker (so consecutive heads do not allocate and fault them in again). */
    static final class Buffers implements AutoCloseable {
        private final Arena arena = Arena.ofShared();
        private Matrix a, b;
        private final java.util.Map<Integer, Matrix> blocks = new java.util.concurrent.ConcurrentHashMap<>();

        Matrix factor(boolean first, int rows, int cols) {
            Matrix m = first ? a : b;
            if (m == null || m.rows() != rows || m.cols() != cols) {
                m = Matrix.allocate(arena, rows, cols);
                if (first) a = m; else b = m;
            }
            return m;
        }

        /** Worker w's block buffer, at least rows × cols. */
        Matrix block(int w, int rows, int cols) {
            return blocks.compute(w, (k, m) -> m != null && m.rows() >= rows && m.cols() >= cols ? m : Matrix.allocate(arena, rows, cols));
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    /**
     * Whether {@code backend} forms the factors and reduces them where it computes ({@link FusedReduction#reduceFactored}),
     * so that the caller should hand it the inputs rather than the factors.
     */
    /** The reduction that runs: the backend's own (a GPU kernel, with why) or the host row reducer's name. */
    static String kernel(Backend backend, io.headscan.compute.kernels.RowReducer reducer) {
        if (!(backend instanceof FusedReduction f)) return reducer.name();
        return f.fusedReductionAvailable() ? "device: " + f.reductionPath() : reducer.name() + " on the host; the device's: " + f.reductionPath();
    }

    static boolean factorsOnDevice(Backend backend) {
        return backend instanceof FusedReduction f && f.factoredReductionAvailable();
    }

    /** The reduction of S = scale · (x1 · diag(g1) · op(w1)) · (x2 · diag(g2) · op(w2))ᵀ, factors formed on the device. */
    static RowResults reduceFactored(Backend backend, io.headscan.compute.Tensor x1, Matrix g1, Matrix w1, io.headscan.compute.Transpose t1,
                                     io.headscan.compute.Tensor x2, Matrix g2,
                                     Matrix w2, io.headscan.compute.Transpose t2, float scale, Progress progress, Timing timing) {
        int v = x1.rows();
        double[] sum = new double[v];
        long[] gr = new long[v], le = new long[v];
        long t = System.nanoTime();
        Backend.Transfers before = backend.transfers();
        FusedReduction f = (FusedReduction) backend;
        FusedReduction.FactorPhase factors = f.reduceFactored(x1, g1, w1, t1, x2, g2, w2, t2, scale, sum, gr, le, progress::advance);
        long rest = System.nanoTime() - t - factors.nanos();
        timing.factorNanos.addAndGet(factors.nanos());
        // the device's reduction: the fused kernel alone, or cuBLAS tiles of S and the kernel that reduces them
        (f.reductionPath().startsWith("fused") ? timing.reduceNanos : timing.gemmNanos).addAndGet(rest);
        timing.addFactorBytes(factors.bytes());
        timing.addScoreBytes(backend.transfers().minus(before).minus(factors.bytes()));
        return fromSums(sum, gr, le);
    }

    private static RowResults fromSums(double[] sum, long[] gr, long[] le) {
        int v = sum.length;
        double[] diag = new double[v];
        int[] greater = new int[v], less = new int[v];
        for (int i = 0; i < v; i++) {
            diag[i] = 1 / sum[i];
            greater[i] = (int) gr[i];
            less[i] = (int) le[i];
        }
        return new RowResults(diag, greater, less);
    }

    static RowResults reduce(Backend backend, Matrix a, Matrix b, float scale, Progress progress, RowReducer reducer, Timing timing) {
        try (Buffers buffers = new Buffers()) {
            return reduce(backend, a, b, scale, progress, reducer, timing, buffers);
        }
    }

    /**
     * Rows of {@code ROW_TILE} queries go to the workers (one per core, one BLAS thread each). A worker computes its
     * rows' scores against {@code COLUMN_BLOCK} keys at a time into its own buffer (128 × 2048 floats = 1 MiB: it
     * stays in the core's cache) and reduces them right away, merging into running per-row results. The block
     * holding the diagonal goes first, giving each row its reference value S[t, t].
     */
    static RowResults reduce(Backend backend, Matrix a, Matrix b, float scale, Progress progress, RowReducer reducer, Timing timing, Buffers buffers) {
        return reduce(backend, a, b, scale, 0f, progress, reducer, timing, buffers);
    }

    /**
     * As above with attention-logit soft-capping (cap > 0: S ↦ cap·tanh(S / cap), docs/science.md §9): the softmax is
     * over the capped scores, the ranks are counted on the scores before capping: tanh is strictly increasing, so the order
     * is the same in exact arithmetic, but in float a capped score saturates and would tie scores that differ; counted
     * before capping they stay apart. Capped layers reduce on the host: the fused device kernels do not cap.
     */
    static RowResults reduce(Backend backend, Matrix a, Matrix b, float scale, float cap, Progress progress, RowReducer reducer, Timing timing,
                             Buffers buffers) {
        int v = a.rows();
        if (b.rows() != v || a.cols() != b.cols()) throw new IllegalArgumentException("factors must both be [V, r]");
        requireFinite(a, "first factor");
        requireFinite(b, "second factor");
        double[] diag = new double[v];
        int[] greater = new int[v], less = new int[v];
        if (cap == 0 && backend instanceof io.headscan.compute.FusedReduction f && f.fusedReductionAvailable()) {
            double[] sum = new double[v];
            long[] gr = new long[v], le = new long[v];
            long t = System.nanoTime();
            f.reduceScores(a, b, scale, sum, gr, le, progress::advance);
            if (timing != null) timing.gemmNanos.addAndGet(System.nanoTime() - t);   // GEMM and reduction overlap on the device
            return fromSums(sum, gr, le);
        }
        int rowTile = Math.min(ROW_TILE, v), block = Math.min(COLUMN_BLOCK, v);
        int workers = Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), (v + rowTile - 1) / rowTile));
        java.util.concurrent.atomic.AtomicInteger next = new java.util.concurrent.atomic.AtomicInteger();
        int blasThreads = backend.threads();
        backend.setThreads(1);
        try {
            IntStream.range(0, workers).parallel().forEach(w -> {
                Matrix buf = buffers.block(w, rowTile, block);
                float[] ref = new float[rowTile], capRef = cap > 0 ? new float[rowTile] : null;
                double[] sum = new double[rowTile], unused = cap > 0 ? new double[rowTile] : null;
                long[] unusedCounts = cap > 0 ? new long[rowTile] : null;
                long[] gr = new long[rowTile], le = new long[rowTile];
                long gemmNanos = 0, reduceNanos = 0;
                for (int t0; (t0 = next.getAndAdd(rowTile)) < v; ) {
                    int n = Math.min(rowTile, v - t0);
                    java.util.Arrays.fill(sum, 0);
                    java.util.Arrays.fill(gr, 0);
                    java.util.Arrays.fill(le, 0);
                    // the block holding columns t0 .. t0+n-1 first (rowTile divides block, so it holds them all)
                    int firstBlock = t0 / block * block;
                    for (int c = 0, c0 = firstBlock; c0 < v; c++, c0 = c == 1 ? 0 : c0 + block) {
                        if (c > 0 && c0 == firstBlock) continue;
                        int m = Math.min(block, v - c0);
                        Matrix s = new Matrix(buf.segment(), buf.offset(), n, m, buf.ld());
                        long g0 = System.nanoTime();
                        backend.gemm(scale, a.rows(t0, n), Transpose.NO, b.rows(c0, m), Transpose.YES, 0f, s);
                        long g1 = System.nanoTime();
                        if (c == 0) for (int i = 0; i < n; i++) ref[i] = s.get(i, t0 + i - c0);
                        if (cap > 0) {
                            // counts on the scores as they are, the softmax sum on the capped ones
                            reducer.reduceBlock(s.segment(), s.offset(), n, m, s.ld(), ref, unused, gr, le);
                            io.headscan.compute.kernels.Elementwise.softcap(s, cap);
                            if (c == 0) for (int i = 0; i < n; i++) capRef[i] = s.get(i, t0 + i - c0);
                            reducer.reduceBlock(s.segment(), s.offset(), n, m, s.ld(), capRef, sum, unusedCounts, unusedCounts);
                        } else {
                            reducer.reduceBlock(s.segment(), s.offset(), n, m, s.ld(), ref, sum, gr, le);
                        }
                        gemmNanos += g1 - g0;
                        reduceNanos += System.nanoTime() - g1;
                    }
                    for (int i = 0; i < n; i++) {
                        diag[t0 + i] = 1 / sum[i];   // softmax(S[t, .])[t] = 1 / sum_s exp(S[t, s] - S[t, t])
                        greater[t0 + i] = (int) gr[i];
                        less[t0 + i] = (int) le[i];
                    }
                    progress.advance(n);
                }
                if (timing != null) {   // per worker; reported as wall-clock shares
                    timing.gemmNanos.addAndGet(gemmNanos / workers);
                    timing.reduceNanos.addAndGet(reduceNanos / workers);
                }
            });
        } finally {
            backend.setThreads(blasThreads);
        }
        return new RowResults(diag, greater, less);
    }
}

package io.headscan.circuits;

import io.headscan.Progress;
import io.headscan.compute.Backend;
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
 * strictly above and below it. Off-heap memory: one tile, {@code tile × V × 4} bytes (256 rows: 51 MB for GPT-2).
 */
final class FactoredScores {

    static final int DEFAULT_TILE = Integer.getInteger("headscan.tile", 256);

    /** Per-row results for all V rows. */
    record Rows(double[] diagProb, int[] greater, int[] less) {}

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

    /** Reusable off-heap buffers for the factors and one tile (so consecutive heads do not allocate and fault in 77 MB each). */
    static final class Buffers implements AutoCloseable {
        private final Arena arena = Arena.ofShared();
        private Matrix a, b, tile;

        Matrix factor(boolean first, int rows, int cols) {
            Matrix m = first ? a : b;
            if (m == null || m.rows() != rows || m.cols() != cols) {
                m = Matrix.allocate(arena, rows, cols);
                if (first) a = m; else b = m;
            }
            return m;
        }

        Matrix tile(int rows, int cols) {
            if (tile == null || tile.rows() < rows || tile.cols() != cols) tile = Matrix.allocate(arena, rows, cols);
            return tile;
        }

        @Override
        public void close() {
            arena.close();
        }
    }

    static Rows reduce(Backend backend, Matrix a, Matrix b, float scale, Progress progress, RowReducer reducer, Timing timing) {
        try (Buffers buffers = new Buffers()) {
            return reduce(backend, a, b, scale, progress, reducer, timing, buffers);
        }
    }

    static Rows reduce(Backend backend, Matrix a, Matrix b, float scale, Progress progress, RowReducer reducer, Timing timing, Buffers buffers) {
        int v = a.rows();
        if (b.rows() != v || a.cols() != b.cols()) throw new IllegalArgumentException("factors must both be [V, r]");
        requireFinite(a, "first factor");
        requireFinite(b, "second factor");
        double[] diag = new double[v];
        int[] greater = new int[v], less = new int[v];
        int tile = Math.min(DEFAULT_TILE, v);
        int workers = Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), tile / 16));
        Matrix s = buffers.tile(tile, v);
        for (int t0 = 0; t0 < v; t0 += tile) {
            int n = Math.min(tile, v - t0);
            Matrix st = s.rows(0, n);
            long g0 = System.nanoTime();
            backend.gemm(scale, a.rows(t0, n), Transpose.NO, b, Transpose.YES, 0f, st);
            long g1 = System.nanoTime();
            final int base = t0;
            IntStream.range(0, workers).parallel().forEach(w -> {
                int from = n * w / workers, to = n * (w + 1) / workers;
                int rows = to - from;
                if (rows == 0) return;
                long[] dcol = new long[rows];
                for (int i = 0; i < rows; i++) dcol[i] = base + from + i;
                float[] max = new float[rows];
                double[] sum = new double[rows];
                long[] gr = new long[rows], le = new long[rows];
                reducer.reduce(st.segment(), st.offset() + (long) from * st.ld(), rows, v, st.ld(), dcol, max, sum, gr, le);
                for (int i = 0; i < rows; i++) {
                    int t = base + from + i;
                    float ref = st.get(from + i, t);
                    diag[t] = Math.exp(ref - max[i]) / sum[i];
                    greater[t] = (int) gr[i];
                    less[t] = (int) le[i];
                }
            });
            long g2 = System.nanoTime();
            if (timing != null) {
                timing.gemmNanos.addAndGet(g1 - g0);
                timing.reduceNanos.addAndGet(g2 - g1);
            }
            progress.advance(n);
        }
        return new Rows(diag, greater, less);
    }
}

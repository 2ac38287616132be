package io.headscan.circuits;

import io.headscan.Progress;
import io.headscan.compute.Backend;
import io.headscan.compute.Transpose;
import io.headscan.model.Matrix;
import java.lang.foreign.Arena;
import java.util.stream.IntStream;

/**
 * A V×V matrix kept factored, {@code S = scale · A·Bᵀ} with A, B of shape [V, r] (r = d_h), evaluated in
 * row tiles through the backend and reduced immediately, row by row: the V×V matrix never exists
 * (style: TransformerLens' FactoredMatrix). Per row t it yields the softmax probability of the diagonal
 * entry S[t, t] over the whole row and the counts of entries strictly above and below it.
 * Off-heap memory: one tile, {@code tile × V × 4} bytes (default 128 rows: 25.7 MB for GPT-2).
 */
final class FactoredScores {

    static final int DEFAULT_TILE = 128;

    /** Per-row results for all V rows. */
    record Rows(double[] diagProb, int[] greater, int[] less) {}

    private FactoredScores() {}

    static Rows reduce(Backend backend, Matrix a, Matrix b, float scale, Progress progress) {
        int v = a.rows();
        if (b.rows() != v || a.cols() != b.cols()) throw new IllegalArgumentException("factors must both be [V, r]");
        double[] diag = new double[v];
        int[] greater = new int[v], less = new int[v];
        int tile = Math.min(DEFAULT_TILE, v);
        try (Arena arena = Arena.ofShared()) {
            Matrix s = Matrix.dense(arena.allocate((long) tile * v * 4, 64), tile, v);
            for (int t0 = 0; t0 < v; t0 += tile) {
                int n = Math.min(tile, v - t0);
                Matrix st = s.rows(0, n);
                backend.gemm(scale, a.rows(t0, n), Transpose.NO, b, Transpose.YES, 0f, st);
                final int base = t0;
                IntStream.range(0, n).parallel().forEach(i -> {
                    float[] row = new float[v];
                    io.headscan.circuits.Rows.read(st, i, row);
                    float ref = row[base + i];
                    SoftmaxRow.Reduction r = SoftmaxRow.reduce(row, v, ref);
                    diag[base + i] = Math.exp(ref - r.logSumExp());
                    greater[base + i] = r.greater();
                    less[base + i] = r.less();
                });
                progress.advance(n);
            }
        }
        return new Rows(diag, greater, less);
    }
}

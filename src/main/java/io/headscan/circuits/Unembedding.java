package io.headscan.circuits;

import io.headscan.model.Gpt2Layout;
import io.headscan.model.Gpt2Model;
import io.headscan.model.Matrix;
import io.headscan.compute.Backend;
import io.headscan.compute.Transpose;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.stream.IntStream;

/**
 * The TL-processed unembedding U (science-spec §1), the query side of every score:
 * {@code U = gf[:, None] * E.T}, then centred over d per column (fold_ln), then the mean over the
 * vocabulary is removed per row (center_unembed, which does change bias-free query scores).
 * U is never materialised: the vocabulary mean is computed once (one pass over E) and columns are
 * produced on demand, as rows {@code U[:, t]ᵀ}.
 */
public final class Unembedding {

    private final Matrix e;
    private final float[] gf;
    private final float[] vocabMean;
    private final int d;

    /**
     * The vocabulary mean comes from one GEMV-shaped GEMM over E: mean over V of
     * gf ⊙ E[t] − mean_i(gf ⊙ E[t]) = gf ⊙ colmean(E) − mean_i(gf ⊙ colmean(E)).
     */
    public Unembedding(Gpt2Model model, Backend backend) {
        this.e = model.wte();
        this.gf = model.vector(Gpt2Layout.LNF_WEIGHT);
        this.d = model.dims().dModel();
        this.vocabMean = meanWithBackend(backend, model.dims().vocab());
    }

    private float[] meanWithBackend(Backend backend, int v) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment ones = arena.allocate((long) v * 4, 64);
            ones.fill((byte) 0);
            float inv = 1f / v;
            for (long t = 0; t < v; t++) ones.setAtIndex(ValueLayout.JAVA_FLOAT, t, inv);
            Matrix col = Matrix.dense(arena.allocate((long) d * 4, 64), 1, d);
            backend.gemm(1f, Matrix.dense(ones, 1, v), Transpose.NO, e, Transpose.NO, 0f, col);
            float[] m = col.toArray();
            double s = 0;
            for (int i = 0; i < d; i++) {
                m[i] *= gf[i];
                s += m[i];
            }
            float mean = (float) (s / d);
            for (int i = 0; i < d; i++) m[i] -= mean;
            return m;
        }
    }

    /** gf ⊙ E[t], centred over d. */
    private void weightedCentered(int t, float[] out) {
        Rows.read(e, t, out);
        for (int i = 0; i < d; i++) out[i] *= gf[i];
        Rows.center(out, d);
    }

    /** U[:, t] as a row of length d. */
    public void column(int t, float[] out) {
        weightedCentered(t, out);
        for (int i = 0; i < d; i++) out[i] -= vocabMean[i];
    }

    /** Rows a of {@code out} [n, d] become U[:, tokens[a]]ᵀ. */
    public void columns(int[] tokens, Matrix out) {
        IntStream.range(0, tokens.length).parallel().forEach(a -> {
            float[] row = new float[d];
            column(tokens[a], row);
            Rows.write(out, a, row);
        });
    }

    /** Rows of {@code out} [n, d] become U[:, t0 + a]ᵀ for a in [0, n). */
    public void columns(int t0, Matrix out) {
        IntStream.range(0, out.rows()).parallel().forEach(a -> {
            float[] row = new float[d];
            column(t0 + a, row);
            Rows.write(out, a, row);
        });
    }

    /** The per-row vocabulary mean removed by center_unembed. */
    public float[] vocabMean() {
        return vocabMean.clone();
    }
}

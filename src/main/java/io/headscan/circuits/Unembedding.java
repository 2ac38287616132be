package io.headscan.circuits;

import io.headscan.model.Gpt2Layout;
import io.headscan.model.Gpt2Model;
import io.headscan.model.Matrix;
import io.headscan.compute.Backend;
import io.headscan.compute.kernels.RowAffine;

/**
 * The TL-processed unembedding U (docs/science.md §1), the query side of every score:
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
     * The vocabulary mean: mean over V of gf ⊙ E[t] − mean_i(gf ⊙ E[t]) = gf ⊙ colmean(E) − mean_i(gf ⊙ colmean(E)),
     * with colmean(E) from {@link VocabMean} (one GEMV-shaped GEMM over E, remembered per checkpoint file).
     */
    public Unembedding(Gpt2Model model, Backend backend) {
        this.e = model.wte();
        this.gf = model.vector(Gpt2Layout.LNF_WEIGHT);
        this.d = model.dims().dModel();
        float[] m = VocabMean.of(model, backend);
        double s = 0;
        for (int i = 0; i < d; i++) {
            m[i] *= gf[i];
            s += m[i];
        }
        float mean = (float) (s / d);
        for (int i = 0; i < d; i++) m[i] -= mean;
        this.vocabMean = m;
    }

    /** U[:, t] as a row of length d (the same row step as {@link #columns}, for one token). */
    public void column(int t, float[] out) {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            Matrix row = Matrix.dense(arena.allocate((long) d * Float.BYTES, 64), 1, d);
            affine(null).apply(e, new int[] {t}, null, row);
            java.lang.foreign.MemorySegment.copy(row.segment(), java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, out, 0, d);
        }
    }

    /** Rows a of {@code out} [n, d] become U[:, tokens[a]]ᵀ. */
    public void columns(int[] tokens, Matrix out) {
        affine(null).apply(e, tokens, null, out);
    }

    /** Rows of {@code out} [n, d] become U[:, t0 + a]ᵀ for a in [0, n). */
    public void columns(int t0, Matrix out) {
        columns(t0, null, out);
    }

    /** Rows of {@code out} [n, d] become U[:, t0 + a]ᵀ ⊙ g (a LayerNorm weight; null: none) for a in [0, n). */
    public void columns(int t0, float[] g, Matrix out) {
        affine(g).apply(e.rows(t0, out.rows()), null, out);
    }

    /** The row step that turns E[t] into U[:, t]ᵀ (for a workspace that builds U where it computes). */
    RowAffine step() {
        return affine(null);
    }

    /** x ↦ (cd(gf ⊙ x) − vocabMean) ⊙ g, written as one row step: cd(gf ⊙ x) ⊙ g − vocabMean ⊙ g. */
    private RowAffine affine(float[] g) {
        float[] bias = new float[d];
        for (int i = 0; i < d; i++) bias[i] = -(g == null ? vocabMean[i] : vocabMean[i] * g[i]);
        return new RowAffine(gf, null, RowAffine.Norm.CENTER, g, bias);
    }

    /** The per-row vocabulary mean removed by center_unembed. */
    public float[] vocabMean() {
        return vocabMean.clone();
    }
}

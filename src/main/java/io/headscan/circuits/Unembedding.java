package io.headscan.circuits;

import io.headscan.model.Model;
import io.headscan.model.Matrix;
import io.headscan.compute.Backend;
import io.headscan.compute.kernels.RowAffine;

/**
 * The TL-processed unembedding U (docs/science.md §1, §9), the query side of every score:
 * {@code U = gf[:, None] * E.T}, then centred over d per column (fold_ln; LayerNorm families only: RMSNorm is not
 * invariant to a shift), then the mean over the vocabulary is removed per row (center_unembed, which does change
 * bias-free query scores; skipped where the final logits are soft-capped).
 * U is never materialised: the vocabulary mean is computed once (one pass over E) and columns are
 * produced on demand, as rows {@code U[:, t]ᵀ}.
 */
public final class Unembedding {

    private final Model model;
    private Matrix e;   // the whole table, widened if need be: only when a caller needs all of it
    private final float[] gf;
    private final float[] vocabMean;
    private final int d;
    private final boolean centred;

    /**
     * The vocabulary mean: mean over V of gf ⊙ E[t] − mean_i(gf ⊙ E[t]) = gf ⊙ colmean(E) − mean_i(gf ⊙ colmean(E)),
     * with colmean(E) from {@link VocabMean} (one pass over E in double, remembered per checkpoint file).
     */
    public Unembedding(Model model) {
        this.model = model;
        this.gf = model.finalNormWeight();
        this.d = model.dims().dModel();
        this.centred = model.centredWriting();
        if (!model.centredUnembed()) {
            this.vocabMean = new float[d];
            return;
        }
        float[] m = VocabMean.of(model);
        double s = 0;
        for (int i = 0; i < d; i++) {
            m[i] *= gf[i];
            s += m[i];
        }
        float mean = centred ? (float) (s / d) : 0f;
        for (int i = 0; i < d; i++) m[i] -= mean;
        this.vocabMean = m;
    }

    /** U[:, t] as a row of length d (the same row step as {@link #columns}, for one token). */
    public void column(int t, float[] out) {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofConfined()) {
            Matrix row = Matrix.dense(arena.allocate((long) d * Float.BYTES, 64), 1, d);
            columns(new int[] {t}, row);
            java.lang.foreign.MemorySegment.copy(row.segment(), java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, out, 0, d);
        }
    }

    /** Rows a of {@code out} [n, d] become U[:, tokens[a]]ᵀ. */
    public void columns(int[] tokens, Matrix out) {
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {   // row kernels may split across threads
            Model.TokenRows rows = model.tokenRows(Model.Role.UNEMBED, tokens, arena);
            affine(null).apply(rows.matrix(), rows.index(), null, out);
        }
    }

    /** Rows of {@code out} [n, d] become U[:, t0 + a]ᵀ for a in [0, n). */
    public void columns(int t0, Matrix out) {
        columns(t0, null, out);
    }

    /** Rows of {@code out} [n, d] become U[:, t0 + a]ᵀ ⊙ g (a LayerNorm weight; null: none) for a in [0, n). */
    public void columns(int t0, float[] g, Matrix out) {
        // the table in place at once, or (F16/BF16) a chunk of rows widened at a time, never the whole table beside U
        boolean inPlace = inPlace();
        int chunk = inPlace ? Math.max(1, out.rows()) : (int) Math.max(1, Math.min(out.rows(), (16L << 20) / (4L * d)));
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {   // row kernels may split across threads
            Matrix buffer = inPlace ? null : Matrix.allocate(arena, chunk, d);
            for (int a = 0; a < out.rows(); a += chunk) {
                int n = Math.min(chunk, out.rows() - a);
                affine(g).apply(tableRows(t0 + a, n, buffer), null, out.rows(a, n));
            }
        }
    }

    /** Whether the unembedding is read in place (F32, or already widened whole). */
    private boolean inPlace() {
        return e != null || model.tableInPlace(Model.Role.UNEMBED);
    }

    /** Rows t0 .. t0 + n − 1 of the unembedding in F32: the table itself ({@code buffer} null), or widened into {@code buffer}. */
    private Matrix tableRows(int t0, int n, Matrix buffer) {
        if (buffer == null) return table().rows(t0, n);
        Matrix rows = buffer.rows(0, n);
        model.rowsInto(Model.Role.UNEMBED, t0, rows);
        return rows;
    }

    private synchronized Matrix table() {
        if (e == null) e = model.unembedding();
        return e;
    }

    /** Rows of E per GEMM in {@link #logits}: bounds the host buffer whatever the vocabulary. */
    private static final int LOGIT_TILE = 8192;

    /**
     * Logits of every token for each row of {@code x} [m, d], without forming U: {@code consumer} receives, tile by
     * tile, {@code out[i, c] = U[:, t0 + i] · x[c]}. With U[:, t] = cd(gf ⊙ E[t]) − μ (μ the vocabulary mean),
     * {@code U[:, t] · x = E[t] · (gf ⊙ (x − mean(x))) − μ · x} (RMSNorm families: x itself, not centred): one GEMM
     * over E itself (the mapped tensor, which a GPU
     * keeps on the device) against a [d, m] matrix, instead of building U's rows on the host.
     */
    public void logits(Backend backend, Matrix x, TileConsumer consumer) {
        // the table in place, or (F16/BF16) a tile of its rows widened at a time into one buffer
        boolean inPlace = inPlace();
        int m = x.rows(), v = model.dims().vocab();
        if (x.cols() != d) throw new IllegalArgumentException("x has " + x.cols() + " columns, expected d = " + d);
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {   // rows are widened across the cores
            Matrix w = Matrix.allocate(arena, d, m);
            float[] shift = new float[m];
            float[] row = new float[d];
            for (int c = 0; c < m; c++) {
                Rows.read(x, c, row);
                double mean = 0, mu = 0;
                for (int i = 0; i < d; i++) mean += row[i];
                mean = centred ? mean / d : 0;
                for (int i = 0; i < d; i++) {
                    w.set(i, c, (float) (gf[i] * (row[i] - mean)));
                    mu += (double) vocabMean[i] * row[i];
                }
                shift[c] = (float) -mu;
            }
            int tile = (int) Math.max(1, Math.min(Math.min(LOGIT_TILE, v), (32L << 20) / (4L * d)));   // at most 32 MiB of rows
            Matrix out = Matrix.allocate(arena, tile, m);
            Matrix buffer = inPlace ? null : Matrix.allocate(arena, tile, d);
            for (int t0 = 0; t0 < v; t0 += tile) {
                int n = Math.min(tile, v - t0);
                Matrix o = out.rows(0, n);
                backend.gemm(1f, tableRows(t0, n, buffer), io.headscan.compute.Transpose.NO, w, io.headscan.compute.Transpose.NO, 0f, o);
                for (int i = 0; i < n; i++) for (int c = 0; c < m; c++) o.set(i, c, o.get(i, c) + shift[c]);
                consumer.accept(t0, o);
            }
        }
    }

    /** Receives rows t0 .. t0 + tile.rows() − 1 of the logits (the tile is reused: read it before returning). */
    @FunctionalInterface
    public interface TileConsumer {
        void accept(int t0, Matrix tile);
    }

    /** The row step that turns E[t] into U[:, t]ᵀ (for a workspace that builds U where it computes). */
    RowAffine step() {
        return affine(null);
    }

    /** x ↦ (cd(gf ⊙ x) − vocabMean) ⊙ g, written as one row step: cd(gf ⊙ x) ⊙ g − vocabMean ⊙ g. */
    private RowAffine affine(float[] g) {
        float[] bias = new float[d];
        for (int i = 0; i < d; i++) bias[i] = -(g == null ? vocabMean[i] : vocabMean[i] * g[i]);
        return new RowAffine(gf, null, centred ? RowAffine.Norm.CENTER : RowAffine.Norm.NONE, g, bias);
    }

    /** The per-row vocabulary mean removed by center_unembed. */
    public float[] vocabMean() {
        return vocabMean.clone();
    }
}

package io.headscan.circuits;

import io.headscan.Progress;
import io.headscan.compute.Backend;
import io.headscan.compute.Tensor;
import io.headscan.compute.Transpose;
import io.headscan.compute.Workspace;
import io.headscan.model.Gpt2Layout;
import io.headscan.model.Gpt2Model;
import io.headscan.model.Matrix;
import io.headscan.compute.kernels.RowAffine;
import io.headscan.compute.kernels.RowAffine.Norm;
import java.util.stream.IntStream;

/**
 * The effective embedding W_EE (docs/science.md §2), the key side of every score. All variants drop
 * W_pos and every attention bias; layer-0 attention, when present, attends only to the token itself
 * (identity pattern), all heads summed:
 * <pre>
 *   x_t = lnpre(E[t]);  a_t = cd((x_t * g1_0) @ Wv_0 @ Wo_0);  r_t = cd(E[t]) + a_t
 *   mlp(r) = cd(gelu_new((lnpre(r) * g2_0 + b2_0) @ Wfc_0 + bfc_0) @ Wpr_0 + bpr_0)
 *   hackathon: mlp(r_t)    full: r_t + mlp(r_t)    noattn: cd(E[t]) + mlp(cd(E[t]))
 * </pre>
 * Rows are computed in tiles, every step in a {@link Workspace} of the backend: on the CPU the products go to BLAS
 * straight from the mapping (Wv_0 is the strided V third of c_attn, used in place) and the row-wise
 * LayerNorm/centring/GELU steps to the C row kernels; on a GPU the weights cross once and the steps are CUDA kernels,
 * only finished rows come back. Memory is bounded by the tile: about {@code tile × (3d + d_mlp) × 4} bytes (1024 rows
 * on the CPU, 8192 on a GPU).
 */
public final class EffectiveEmbedding {

    /** Rows per tile in host memory (a GPU workspace takes more). */
    public static final int DEFAULT_TILE = Workspace.HOST_TILE_ROWS;

    private final Gpt2Model model;
    private final Backend backend;
    private final Variant variant;
    private final int d;
    private final int dMlp;
    private final float[] g1, g2, b2, bfc, bpr;

    public EffectiveEmbedding(Gpt2Model model, Backend backend, Variant variant) {
        this.model = model;
        this.backend = backend;
        this.variant = variant;
        this.d = model.dims().dModel();
        this.dMlp = model.dims().dMlp();
        this.g1 = model.vector(Gpt2Layout.ln1Weight(0));
        this.g2 = model.vector(Gpt2Layout.ln2Weight(0));
        this.b2 = model.vector(Gpt2Layout.ln2Bias(0));
        this.bfc = model.vector(Gpt2Layout.fcBias(0));
        this.bpr = model.vector(Gpt2Layout.mlpProjBias(0));
    }

    private final java.util.concurrent.atomic.AtomicLong gemmNanos = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong gemmFlops = new java.util.concurrent.atomic.AtomicLong();

    /** Time and floating-point operations spent in the GEMMs so far (for --profile and the benchmarks). */
    public double gemmMs() {
        return gemmNanos.get() / 1e6;
    }

    public double gemmGflop() {
        return gemmFlops.get() / 1e9;
    }

    private void gemm(Workspace ws, Tensor a, Tensor b, Tensor c) {
        long t = System.nanoTime();
        ws.gemm(1f, a, Transpose.NO, b, Transpose.NO, 0f, c);
        gemmNanos.addAndGet(System.nanoTime() - t);
        gemmFlops.addAndGet(2L * a.rows() * a.cols() * b.cols());
    }

    public Variant variant() {
        return variant;
    }

    /** Rows a of {@code out} [tokens.length, d] become W_EE[tokens[a]], computed in a workspace of the backend. */
    public void compute(int[] tokens, Matrix out, Progress progress) {
        try (Workspace ws = backend.workspace()) {
            compute(ws, tokens, out, progress);
        }
    }

    /**
     * As {@link #compute(int[], Matrix, Progress)} in the caller's workspace: the layer-0 weights and E are loaded there
     * once (on a GPU they cross once; on the CPU they are the mapping itself), every step runs there, and only the
     * finished rows come back to {@code out}.
     */
    public void compute(Workspace ws, int[] tokens, Matrix out, Progress progress) {
        if (out.rows() != tokens.length || out.cols() != d) {
            throw new IllegalArgumentException("output is " + out.rows() + "x" + out.cols() + ", expected " + tokens.length + "x" + d);
        }
        if (tokens.length == 0) return;
        int tile = Math.min(ws.preferredTileRows(), tokens.length);
        Weights w = new Weights(ws);
        Tensor x = ws.allocate(tile, d), v = ws.allocate(tile, d), r = ws.allocate(tile, d), h = ws.allocate(tile, dMlp);
        Tensor outTile = ws.onHost() ? null : ws.allocate(tile, d);
        for (int t0 = 0; t0 < tokens.length; t0 += tile) {
            int n = Math.min(tile, tokens.length - t0);
            Matrix dst = out.rows(t0, n);
            Tensor o = outTile == null ? ws.target(dst) : outTile.rows(0, n);
            tileRows(ws, w, java.util.Arrays.copyOfRange(tokens, t0, t0 + n), x.rows(0, n), v.rows(0, n), r.rows(0, n), h.rows(0, n), o);
            ws.store(o, dst);
            progress.advance(n);
        }
    }

    /** All V rows, in order: W_EE for the whole vocabulary (for {@code embed}). */
    public void computeAll(Matrix out, Progress progress) {
        int[] all = IntStream.range(0, model.dims().vocab()).toArray();
        compute(all, out, progress);
    }

    /** The checkpoint tensors W_EE reads, as tensors of one workspace (Wv_0 is the strided V third of c_attn, in place). */
    private final class Weights {
        final Tensor e, wv, wo, wfc, wpr;

        Weights(Workspace ws) {
            e = ws.load(model.wte());
            wv = variant == Variant.NOATTN ? null : ws.load(model.qkvThird(0, 2));
            wo = variant == Variant.NOATTN ? null : ws.load(model.attnProj(0));
            wfc = ws.load(model.matrix(Gpt2Layout.fcWeight(0)));
            wpr = ws.load(model.matrix(Gpt2Layout.mlpProjWeight(0)));
        }
    }

    private static final RowAffine CENTER = RowAffine.normed(Norm.CENTER, null, null);

    private void tileRows(Workspace ws, Weights w, int[] rows, Tensor x, Tensor v, Tensor r, Tensor h, Tensor out) {
        // r <- cd(E[t]) ; x <- lnpre(E[t]) * g1_0
        ws.rows(CENTER, w.e, rows, null, r);
        if (variant != Variant.NOATTN) {
            ws.rows(RowAffine.normed(Norm.LNPRE, g1, null), w.e, rows, null, x);
            gemm(ws, x, w.wv, v);   // all heads' values
            gemm(ws, v, w.wo, x);   // @ Wo_0, heads summed
            ws.rows(CENTER, x, null, r, r);   // r <- cd(attention) + r
        }
        // x <- lnpre(r) * g2 + b2
        ws.rows(RowAffine.normed(Norm.LNPRE, g2, b2), r, null, null, x);
        gemm(ws, x, w.wfc, h);
        ws.biasGelu(h, bfc);
        gemm(ws, h, w.wpr, x);
        // out <- cd(x + bpr), plus the residual r except in the hackathon variant
        ws.rows(new RowAffine(null, bpr, Norm.CENTER, null, null), x, null, variant == Variant.HACKATHON ? null : r, out);
    }
}

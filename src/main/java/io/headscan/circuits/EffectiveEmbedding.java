package io.headscan.circuits;

import io.headscan.Progress;
import io.headscan.compute.Backend;
import io.headscan.compute.Transpose;
import io.headscan.model.Gpt2Layout;
import io.headscan.model.Gpt2Model;
import io.headscan.model.Matrix;
import io.headscan.compute.kernels.RowAffine;
import io.headscan.compute.kernels.RowAffine.Norm;
import java.lang.foreign.Arena;
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
 * Rows are computed in tiles: the matrix products go to the backend (Wv_0 is the strided V third of
 * c_attn, used in place), the row-wise LayerNorm/centring/GELU steps in the C row kernels ({@code RowAffine},
 * {@code NativeKernels}; Java versions where C is unavailable). Off-heap memory is bounded by
 * the tile: about {@code tile × (3d + d_mlp) × 4} bytes.
 */
public final class EffectiveEmbedding {

    public static final int DEFAULT_TILE = 1024;

    private final Gpt2Model model;
    private final Backend backend;
    private final Variant variant;
    private final int d;
    private final int dMlp;
    private final float[] g1, g2, b2, bfc, bpr;
    /** The C GELU when the native kernels load (and are not switched off with -Dheadscan.kernels=java). */
    private final io.headscan.compute.kernels.NativeKernels nativeKernels = io.headscan.compute.kernels.NativeKernels.preferred().orElse(null);

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

    private void gemm(Matrix a, Matrix b, Matrix c) {
        long t = System.nanoTime();
        backend.gemm(1f, a, Transpose.NO, b, Transpose.NO, 0f, c);
        gemmNanos.addAndGet(System.nanoTime() - t);
        gemmFlops.addAndGet(2L * a.rows() * a.cols() * b.cols());
    }

    public Variant variant() {
        return variant;
    }

    /** Rows a of {@code out} [tokens.length, d] become W_EE[tokens[a]]. */
    public void compute(int[] tokens, Matrix out, Progress progress) {
        if (out.rows() != tokens.length || out.cols() != d) {
            throw new IllegalArgumentException("output is " + out.rows() + "x" + out.cols() + ", expected " + tokens.length + "x" + d);
        }
        int tile = Math.min(DEFAULT_TILE, Math.max(1, tokens.length));
        try (Arena arena = Arena.ofShared()) {
            Matrix x = Matrix.allocate(arena, tile, d);
            Matrix v = Matrix.allocate(arena, tile, d);
            Matrix r = Matrix.allocate(arena, tile, d);
            Matrix h = Matrix.allocate(arena, tile, dMlp);
            for (int t0 = 0; t0 < tokens.length; t0 += tile) {
                int n = Math.min(tile, tokens.length - t0);
                tileRows(tokens, t0, n, x.rows(0, n), v.rows(0, n), r.rows(0, n), h.rows(0, n), out.rows(t0, n));
                progress.advance(n);
            }
        }
    }

    /** All V rows, in order: W_EE for the whole vocabulary (for {@code embed}). */
    public void computeAll(Matrix out, Progress progress) {
        int[] all = IntStream.range(0, model.dims().vocab()).toArray();
        compute(all, out, progress);
    }

    private void tileRows(int[] tokens, int t0, int n, Matrix x, Matrix v, Matrix r, Matrix h, Matrix out) {
        Matrix e = model.wte();
        int[] rows = java.util.Arrays.copyOfRange(tokens, t0, t0 + n);
        // r <- cd(E[t]) ; x <- lnpre(E[t]) * g1_0
        RowAffine.normed(Norm.CENTER, null, null).apply(e, rows, null, r);
        if (variant != Variant.NOATTN) {
            RowAffine.normed(Norm.LNPRE, g1, null).apply(e, rows, null, x);
            gemm(x, model.qkvThird(0, 2), v);   // all heads' values
            gemm(v, model.attnProj(0), x);      // @ Wo_0, heads summed
            RowAffine.normed(Norm.CENTER, null, null).apply(x, r, r);   // r <- cd(attention) + r
        }
        // x <- lnpre(r) * g2 + b2
        RowAffine.normed(Norm.LNPRE, g2, b2).apply(r, null, x);
        gemm(x, model.matrix(Gpt2Layout.fcWeight(0)), h);
        if (nativeKernels != null) {
            int workers = Math.max(1, Math.min(Runtime.getRuntime().availableProcessors(), n / 8));
            IntStream.range(0, workers).parallel().forEach(w -> {
                int from = n * w / workers, to = n * (w + 1) / workers;
                nativeKernels.biasGeluNew(h.segment(), h.offset() + (long) from * h.ld(), to - from, dMlp, h.ld(), bfc);
            });
        } else {
            IntStream.range(0, n).parallel().forEach(a -> {
                float[] row = new float[dMlp];
                Rows.read(h, a, row);
                for (int k = 0; k < dMlp; k++) row[k] = Rows.geluNew(row[k] + bfc[k]);
                Rows.write(h, a, row);
            });
        }
        gemm(h, model.matrix(Gpt2Layout.mlpProjWeight(0)), x);
        // out <- cd(x + bpr), plus the residual r except in the hackathon variant
        new RowAffine(null, bpr, Norm.CENTER, null, null).apply(x, variant == Variant.HACKATHON ? null : r, out);
    }
}

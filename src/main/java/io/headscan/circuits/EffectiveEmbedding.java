package io.headscan.circuits;

import io.headscan.Progress;
import io.headscan.compute.Backend;
import io.headscan.compute.Tensor;
import io.headscan.compute.Transpose;
import io.headscan.compute.Workspace;
import io.headscan.model.Weight;
import io.headscan.model.Model;
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

    private final Model model;
    private final Backend backend;
    private final Variant variant;
    private final int d;
    private final int dMlp;
    private final float[] g1, g2, b2, bfc, bpr, postAttention, postMlp;
    private final double eps;
    private final boolean parallel;
    private final io.headscan.model.Activation activation;
    /** LNPRE (LayerNorm families) or RMS. */
    private final Norm norm;
    /** What writing to the residual does: CENTER in LayerNorm families (center_writing_weights), else nothing. */
    private final RowAffine write;
    /** Gemma's sqrt(d) on the embedding (1 elsewhere). */
    private final float embedScale;

    public EffectiveEmbedding(Model model, Backend backend, Variant variant) {
        this.model = model;
        this.backend = backend;
        this.variant = variant;
        this.d = model.dims().dModel();
        this.dMlp = model.dims().dMlp();
        this.g1 = model.preAttentionNormWeight(0);
        this.g2 = model.preMlpNormWeight(0);
        this.b2 = model.preMlpNormBias(0);
        this.bfc = model.mlpInBias(0);
        this.bpr = model.mlpOutBias(0);
        this.eps = model.eps();
        this.parallel = model.parallel();
        this.activation = model.activation();
        this.postAttention = model.postAttentionNormWeight(0);
        this.postMlp = model.postMlpNormWeight(0);
        this.norm = model.centredWriting() ? Norm.LNPRE : Norm.RMS;
        this.embedScale = model.embeddingScale();
        float[] pre = null;
        if (embedScale != 1f) {
            pre = new float[d];
            java.util.Arrays.fill(pre, embedScale);
        }
        this.write = RowAffine.normed(model.centredWriting() ? Norm.CENTER : Norm.NONE, null, null);
        this.embedWrite = new RowAffine(pre, null, write.norm(), null, null);
    }

    /** The residual's input from E: write(E[t] · embedScale). */
    private final RowAffine embedWrite;

    private final java.util.concurrent.atomic.AtomicLong gemmNanos = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong gemmFlops = new java.util.concurrent.atomic.AtomicLong();

    /** Time and floating-point operations spent in the GEMMs so far (for --profile and the benchmarks). */
    public double gemmMs() {
        return gemmNanos.get() / 1e6;
    }

    public double gemmGflop() {
        return gemmFlops.get() / 1e9;
    }

    private void gemm(Workspace ws, Tensor a, Transpose ta, Tensor b, Transpose tb, float beta, Tensor c) {
        long t = System.nanoTime();
        ws.gemm(1f, a, ta, b, tb, beta, c);
        gemmNanos.addAndGet(System.nanoTime() - t);
        gemmFlops.addAndGet(2L * c.rows() * c.cols() * (ta.on() ? a.rows() : a.cols()));
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
        // E's rows for these tokens: the table in place, or (F16/BF16) a widened copy of just them, a chunk of rows at
        // a time, so that the whole vocabulary never holds a widened E
        int chunk = model.tableInPlace(Model.Role.EMBED) ? tokens.length : Math.max(1, (int) Math.min(tokens.length, WIDENED_ROWS_BYTES / (4L * d)));
        for (int c0 = 0; c0 < tokens.length; c0 += chunk) {
            int n = Math.min(chunk, tokens.length - c0);
            try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {   // row kernels may split across threads
                int[] part = n == tokens.length ? tokens : java.util.Arrays.copyOfRange(tokens, c0, c0 + n);
                Model.TokenRows e = model.tokenRows(Model.Role.EMBED, part, arena);
                compute(ws, e, n == tokens.length ? out : out.rows(c0, n), progress);
            }
        }
    }

    /** Bytes of widened embedding rows held at once when E is F16/BF16. */
    private static final long WIDENED_ROWS_BYTES = 64L << 20;

    private void compute(Workspace ws, Model.TokenRows e, Matrix out, Progress progress) {
        int[] tokens = e.index();
        int tile = Math.min(ws.preferredTileRows(), tokens.length);
        Weights w = new Weights(ws, e.matrix());
        Tensor x = ws.allocate(tile, d), v = ws.allocate(tile, Math.max(1, w.valueColumns())), r = ws.allocate(tile, d), h = ws.allocate(tile, dMlp);
        Tensor hg = w.gate == null ? null : ws.allocate(tile, dMlp);
        Tensor outTile = ws.onHost() ? null : ws.allocate(tile, d);
        for (int t0 = 0; t0 < tokens.length; t0 += tile) {
            int n = Math.min(tile, tokens.length - t0);
            Matrix dst = out.rows(t0, n);
            Tensor o = outTile == null ? ws.target(dst) : outTile.rows(0, n);
            tileRows(ws, w, java.util.Arrays.copyOfRange(tokens, t0, t0 + n), x.rows(0, n), v.rows(0, n), r.rows(0, n), h.rows(0, n),
                    hg == null ? null : hg.rows(0, n), o);
            ws.store(o, dst);
            progress.advance(n);
        }
    }

    /** All V rows, in order: W_EE for the whole vocabulary (for {@code embed}). */
    public void computeAll(Matrix out, Progress progress) {
        int[] all = IntStream.range(0, model.dims().vocab()).toArray();
        compute(all, out, progress);
    }

    /** The checkpoint tensors W_EE reads, as tensors of one workspace (on the CPU: the mapping itself, views in place). */
    private final class Weights {
        final Tensor e, wv, wo, wfc, wpr, wgate;
        final Model.HeadColumns v;
        final Weight o, in, out, gate;

        Weights(Workspace ws, Matrix embedding) {
            e = ws.load(embedding);
            v = variant == Variant.NOATTN ? null : model.columns(0, Model.Kind.V);
            o = variant == Variant.NOATTN ? null : model.out(0);
            wv = v == null ? null : ws.load(v.weight().stored());
            wo = o == null ? null : ws.load(o.stored());
            in = model.mlpIn(0);
            out = model.mlpOut(0);
            wfc = ws.load(in.stored());
            wpr = ws.load(out.stored());
            gate = model.mlpGate(0);
            wgate = gate == null ? null : ws.load(gate.stored());
        }

        /** Columns of x @ W_V (all heads' values, and for a fused layout the rest of the projection). */
        int valueColumns() {
            return v == null ? 0 : v.weight().cols();
        }
    }

    private void tileRows(Workspace ws, Weights w, int[] rows, Tensor x, Tensor v, Tensor r, Tensor h, Tensor hg, Tensor out) {
        // r <- the residual's input: E[t] (Gemma: × sqrt(d)), centred over d in LayerNorm families
        ws.rows(embedWrite, w.e, rows, null, r);
        if (variant != Variant.NOATTN) {
            // x <- norm1(input) * g1_0 ; v <- x @ W_V (every key/value head's values)
            ws.rows(RowAffine.normalize(norm, eps, d, embedScale, g1, null), w.e, rows, null, x);
            int dh = model.dims().dHead(), heads = model.dims().heads();
            boolean vt = w.v.weight().transposed();
            if (!model.dims().grouped() && w.v.packed(dh) && w.v.base() == 0 && v.cols() == model.dims().qWidth()) {
                gemm(ws, x, Transpose.NO, w.wv, Transpose.of(vt), 0f, v);
                gemm(ws, v, Transpose.NO, w.wo, Transpose.of(w.o.transposed()), 0f, x);   // @ W_O, heads summed
            } else {
                // heads apart in the projection (GPT-NeoX's query_key_value, by head), or shared (grouped-query
                // attention): each key/value head's values alone (its block of W_V: stored rows when transposed, else
                // columns), packed in v, then each query head's through its rows of W_O, summed
                int kvHeads = model.dims().kvHeads();
                for (int j = 0; j < kvHeads; j++) {
                    int c0 = w.v.base() + j * w.v.stride();
                    Tensor wvh = vt ? w.wv.block(c0, 0, dh, w.wv.cols()) : w.wv.block(0, c0, w.wv.rows(), dh);
                    gemm(ws, x, Transpose.NO, wvh, Transpose.of(vt), 0f, v.block(0, j * dh, v.rows(), dh));
                }
                for (int j = 0; j < heads; j++) {
                    Tensor vh = v.block(0, model.dims().kvHead(j) * dh, v.rows(), dh);
                    Tensor oh = w.o.transposed() ? w.wo.block(0, j * dh, d, dh) : w.wo.block(j * dh, 0, dh, d);
                    gemm(ws, vh, Transpose.NO, oh, Transpose.of(w.o.transposed()), j == 0 ? 0f : 1f, x);
                }
            }
            // Gemma-2: the attention output goes through post_attention_layernorm before the residual add
            if (postAttention != null) ws.rows(RowAffine.normalize(norm, eps, d, 1f, postAttention, null), x, null, null, x);
            ws.rows(write, x, null, r, r);   // r <- write(attention) + r
        }
        // x <- norm2(input) * g2 + b2: the MLP reads the residual after attention, or in a parallel block its input
        if (parallel) ws.rows(RowAffine.normalize(norm, eps, d, embedScale, g2, b2), w.e, rows, null, x);
        else ws.rows(RowAffine.normalize(norm, eps, d, 1f, g2, b2), r, null, null, x);
        gemm(ws, x, Transpose.NO, w.wfc, Transpose.of(w.in.transposed()), 0f, h);
        Tensor act = h;
        if (w.gate != null) {   // gated: act(x @ W_gate) ⊙ (x @ W_up)
            gemm(ws, x, Transpose.NO, w.wgate, Transpose.of(w.gate.transposed()), 0f, hg);
            ws.gated(hg, h, activation);
            act = hg;
        } else {
            ws.biasActivation(h, bfc, activation);
        }
        gemm(ws, act, Transpose.NO, w.wpr, Transpose.of(w.out.transposed()), 0f, x);
        // Gemma-2: the MLP output goes through post_feedforward_layernorm
        if (postMlp != null) ws.rows(RowAffine.normalize(norm, eps, d, 1f, postMlp, null), x, null, null, x);
        // out <- write(x + bpr), plus the residual r except in the hackathon variant
        ws.rows(new RowAffine(null, bpr, write.norm(), null, null), x, null, variant == Variant.HACKATHON ? null : r, out);
    }
}

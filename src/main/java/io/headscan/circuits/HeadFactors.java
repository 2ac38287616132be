package io.headscan.circuits;

import io.headscan.compute.Backend;
import io.headscan.compute.Transpose;
import io.headscan.model.Gpt2Layout;
import io.headscan.model.Gpt2Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;
import java.lang.foreign.Arena;
import io.headscan.compute.kernels.RowAffine;

/**
 * Full-vocabulary [V, d_h] factors of heads: {@code X @ W} where X is U (queries, §1) or W_EE (keys and
 * OV sources, §2), optionally scaled by the layer's ln_1 weight, and W a [d, d_h] view (W_Q, W_K, W_V) or
 * W_Oᵀ. The scaled inputs [V, d] are built once per layer and reused by all its heads, so a head costs
 * two skinny GEMMs. Off-heap: two [V, d] buffers (2 × 154 MB for GPT-2), freed on close.
 */
final class HeadFactors implements AutoCloseable {

    private final Gpt2Model model;
    private final Backend backend;
    private final Unembedding unembedding;
    private final Arena arena = Arena.ofShared();
    private Matrix uBuffer, weeBuffer;
    private int uLayer = Integer.MIN_VALUE, weeLayer = Integer.MIN_VALUE;
    private Matrix weeSource;

    /** The layer key meaning "not scaled". */
    static final int UNSCALED = -1;

    HeadFactors(Gpt2Model model, Backend backend, Unembedding unembedding) {
        this.model = model;
        this.backend = backend;
        this.unembedding = unembedding;
    }

    private Matrix buffer() {
        int v = model.dims().vocab(), d = model.dims().dModel();
        return Matrix.allocate(arena, v, d);
    }

    /** Uᵀ [V, d], scaled by layer's g1 unless layer is {@link #UNSCALED}. */
    private Matrix scaledU(int layer) {
        if (uBuffer == null) uBuffer = buffer();
        if (uLayer != layer) {
            unembedding.columns(0, layer == UNSCALED ? null : g1(layer), uBuffer);
            uLayer = layer;
        }
        return uBuffer;
    }

    /** W_EE [V, d] scaled by the layer's g1. */
    private Matrix scaledWee(Matrix wee, int layer) {
        if (weeBuffer == null) weeBuffer = buffer();
        if (weeLayer != layer || weeSource != wee) {
            RowAffine.scaled(g1(layer)).apply(wee, null, weeBuffer);
            weeLayer = layer;
            weeSource = wee;
        }
        return weeBuffer;
    }

    /** out [V, d_h] = (U[:, t]ᵀ * g1_l) @ op(w) for every token t; layer {@link #UNSCALED}: no g1. */
    void fromUnembedding(int layer, Matrix w, Transpose tw, Matrix out) {
        backend.gemm(1f, scaledU(layer), Transpose.NO, w, tw, 0f, out);
    }

    /** out [V, d_h] = (W_EE[t] * g1_l) @ w for every token t. */
    void fromEffectiveEmbedding(Matrix wee, int layer, Matrix w, Matrix out) {
        backend.gemm(1f, scaledWee(wee, layer), Transpose.NO, w, Transpose.NO, 0f, out);
    }

    float[] g1(int layer) {
        return model.vector(Gpt2Layout.ln1Weight(layer));
    }

    float[] g1(HeadId h) {
        return g1(h.layer());
    }

    @Override
    public void close() {
        arena.close();
    }
}

package io.headscan.circuits;

import io.headscan.compute.Backend;
import io.headscan.compute.Tensor;
import io.headscan.compute.Transpose;
import io.headscan.compute.Workspace;
import io.headscan.model.Weight;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;
import java.lang.foreign.Arena;

/**
 * Full-vocabulary [V, d_h] factors of heads: {@code X @ W} where X is U (queries, §1) or W_EE (keys and OV sources,
 * §2), optionally with the layer's ln_1 weight g1, and W a [d, d_h] view (W_Q, W_K, W_V) or W_Oᵀ.
 *
 * <p>g1 is folded into the small weight, as TransformerLens' fold_ln does: {@code (X ⊙ g1) @ W = X @ (diag(g1) · W)}.
 * Scaling [d, d_h] = 49 K floats per head replaces rescaling a [V, d] input (38.6 M floats) per layer, and the inputs
 * stay as they are: U is built once for all layers, W_EE is used in place. A head costs two skinny GEMMs.
 * Off-heap: one [V, d] buffer for U (154 MB for GPT-2) and one [d, d_h] folded weight, freed on close.
 */
final class HeadFactors implements AutoCloseable {

    private final Model model;
    private final Backend backend;
    private final Unembedding unembedding;
    private final Arena arena = Arena.ofShared();
    private Matrix uBuffer;
    private final Matrix[] folded = new Matrix[2];
    /** Where the backend computes, for backends that form factors themselves (a GPU): U is built and W_EE loaded there. */
    private Workspace workspace;
    private Tensor uTensor;

    /** The layer key meaning "no ln_1 weight". */
    static final int UNSCALED = -1;

    HeadFactors(Model model, Backend backend, Unembedding unembedding) {
        this.model = model;
        this.backend = backend;
        this.unembedding = unembedding;
    }

    /** Uᵀ [V, d] (no ln_1 weight), built on first use and retained by the backend. */
    Matrix u() {
        if (uBuffer == null) {
            int v = model.dims().vocab(), d = model.dims().dModel();
            uBuffer = Matrix.allocate(arena, v, d);
            unembedding.columns(0, null, uBuffer);
            backend.retain(uBuffer.segment());   // the same for every head: a GPU keeps one copy
        }
        return uBuffer;
    }

    private Workspace workspace() {
        if (workspace == null) workspace = backend.workspace();
        return workspace;
    }

    /**
     * Uᵀ [V, d] as a tensor of the backend's workspace, built there on first use from E (on a GPU: E crosses once, the
     * row step is a CUDA kernel, and U never exists in host memory).
     */
    Tensor uInWorkspace() {
        if (uTensor == null) {
            Workspace ws = workspace();
            int v = model.dims().vocab(), d = model.dims().dModel();
            uTensor = ws.allocate(v, d);
            ws.rows(unembedding.step(), ws.load(model.unembedding()), null, null, uTensor);
        }
        return uTensor;
    }

    /** A host matrix (W_EE) as a tensor of the backend's workspace: one copy per run on a GPU, the matrix itself on a CPU. */
    Tensor inWorkspace(Matrix m) {
        return workspace().load(m);
    }

    /** diag(g1_layer) · w for a [d, k] weight w (in either storage), dense, in buffer {@code slot} (reused). */
    private Matrix fold(int layer, Weight w, int slot) {
        Matrix f = folded[slot];
        if (f == null || f.rows() != w.rows() || f.cols() != w.cols()) f = folded[slot] = Matrix.allocate(arena, w.rows(), w.cols());
        float[] g = g1(layer);
        float[] row = new float[w.cols()];
        for (int i = 0; i < w.rows(); i++) {
            if (w.transposed()) {
                for (int j = 0; j < row.length; j++) row[j] = w.get(i, j);
            } else {
                Rows.read(w.stored(), i, row);
            }
            for (int j = 0; j < row.length; j++) row[j] *= g[i];
            Rows.write(f, i, row);
        }
        return f;
    }

    /** out [V, d_h] = (U[:, t]ᵀ * g1_l) @ op(w) for every token t; layer {@link #UNSCALED}: no g1 (then any op). */
    void fromUnembedding(int layer, Weight w, Transpose tw, Matrix out) {
        if (layer == UNSCALED) {
            backend.gemm(1f, u(), Transpose.NO, w.stored(), Transpose.of(w.transposed()).then(tw), 0f, out);
        } else {
            if (tw != Transpose.NO) throw new IllegalArgumentException("g1 is folded into an untransposed [d, d_h] weight");
            backend.gemm(1f, u(), Transpose.NO, fold(layer, w, 0), Transpose.NO, 0f, out);
        }
    }

    /** out [V, d_h] = (W_EE[t] * g1_l) @ w for every token t. */
    void fromEffectiveEmbedding(Matrix wee, int layer, Weight w, Matrix out) {
        backend.gemm(1f, wee, Transpose.NO, fold(layer, w, 1), Transpose.NO, 0f, out);
    }

    /**
     * A weight and the norm weight folded into it, as a backend that forms factors itself takes them ({@link
     * io.headscan.compute.FusedReduction#reduceFactored}): a weight stored [in, out] goes as it is, with g1 beside it
     * (the mapping crosses once per run); a Linear's [out, in] block is folded here into a small dense [d, d_h]
     * ({@code slot} 0 or 1, for the two factors of one call), with no g1. {@code layer} {@link #UNSCALED}: no g1 at all,
     * the weight used as {@code op(w)}.
     */
    DeviceOperand deviceOperand(int layer, Weight w, Transpose tw, int slot) {
        if (layer == UNSCALED) return new DeviceOperand(null, w.stored(), Transpose.of(w.transposed()).then(tw));
        if (tw != Transpose.NO) throw new IllegalArgumentException("g1 is folded into an untransposed [d, d_h] weight");
        if (!w.transposed()) return new DeviceOperand(g1Matrix(layer), w.stored(), Transpose.NO);
        return new DeviceOperand(null, fold(layer, w, slot), Transpose.NO);
    }

    /** The operands of one factor for {@link io.headscan.compute.FusedReduction#reduceFactored}. */
    record DeviceOperand(Matrix g, Matrix w, Transpose t) {}

    /** The layer's pre-attention norm weight as a 1 × d view of the checkpoint (for backends that fold it in themselves). */
    Matrix g1Matrix(int layer) {
        return model.preAttentionNormWeightMatrix(layer);
    }

    float[] g1(int layer) {
        return model.preAttentionNormWeight(layer);
    }

    float[] g1(HeadId h) {
        return g1(h.layer());
    }

    @Override
    public void close() {
        if (uBuffer != null) backend.release(uBuffer.segment());
        if (workspace != null) workspace.close();
        arena.close();
    }
}

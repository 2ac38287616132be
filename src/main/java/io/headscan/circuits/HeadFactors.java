package io.headscan.circuits;

import io.headscan.compute.Backend;
import io.headscan.compute.Transpose;
import io.headscan.model.Gpt2Layout;
import io.headscan.model.Gpt2Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;
import java.lang.foreign.Arena;

/**
 * Full-vocabulary [V, d_h] factors of one head, built in row tiles: {@code X @ W} where X is either U
 * (queries, §1) or W_EE (keys and OV sources, §2), scaled by the layer's ln_1 weight, and W a [d, d_h]
 * view (W_Q, W_K, W_V), or W_Oᵀ for the OV output side.
 */
final class HeadFactors {

    private static final int TILE = 1024;

    private final Gpt2Model model;
    private final Backend backend;
    private final Unembedding unembedding;

    HeadFactors(Gpt2Model model, Backend backend, Unembedding unembedding) {
        this.model = model;
        this.backend = backend;
        this.unembedding = unembedding;
    }

    /** out [V, d_h] = (U[:, t]ᵀ * g1) @ w for every token t (g1 null: no scaling). */
    void fromUnembedding(float[] g1, Matrix w, Transpose tw, Matrix out, Arena arena) {
        int v = model.dims().vocab(), d = model.dims().dModel();
        Matrix x = Matrix.dense(arena.allocate((long) TILE * d * 4, 64), TILE, d);
        for (int t0 = 0; t0 < v; t0 += TILE) {
            int n = Math.min(TILE, v - t0);
            Matrix xt = x.rows(0, n);
            unembedding.columns(t0, xt);
            if (g1 != null) PredictionAttention.scaleColumns(xt, g1, xt);
            backend.gemm(1f, xt, Transpose.NO, w, tw, 0f, out.rows(t0, n));
        }
    }

    /** out [V, d_h] = (W_EE[t] * g1) @ w for every token t. */
    void fromEffectiveEmbedding(Matrix wee, float[] g1, Matrix w, Matrix out, Arena arena) {
        int v = model.dims().vocab(), d = model.dims().dModel();
        Matrix x = Matrix.dense(arena.allocate((long) TILE * d * 4, 64), TILE, d);
        for (int t0 = 0; t0 < v; t0 += TILE) {
            int n = Math.min(TILE, v - t0);
            Matrix xt = x.rows(0, n);
            PredictionAttention.scaleColumns(wee.rows(t0, n), g1, xt);
            backend.gemm(1f, xt, Transpose.NO, w, Transpose.NO, 0f, out.rows(t0, n));
        }
    }

    float[] g1(HeadId h) {
        return model.vector(Gpt2Layout.ln1Weight(h.layer()));
    }
}

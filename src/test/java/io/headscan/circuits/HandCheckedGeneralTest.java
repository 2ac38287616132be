package io.headscan.circuits;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.Progress;
import io.headscan.compute.JavaBackend;
import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.compute.Backend;
import io.headscan.model.Dims;
import io.headscan.model.Gpt2Layout;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A hand-sized case that identity weights cannot be: one layer, one head, d = 3 (so centred vectors are not all
 * parallel), V = 4, with distinct W_Q, W_K, W_V, W_O, ln_1 and ln_f weights that are not 1, a vocabulary whose mean is
 * not 0, and non-zero biases everywhere the definitions drop them (c_attn, c_proj, ln_1). MLP0 has zero weights and
 * biases, so mlp(r) = 0 and W_EE is, by hand: noattn cd(E[t]); full cd(E[t]) + cd((lnpre(E[t]) * g1) @ W_V @ W_O).
 *
 * <p>The expected numbers are worked out below step by step with plain arithmetic. Each common mistake (Q and K swapped,
 * V's columns read as K, ln_1 weight left out, a bias kept, ln_f not folded, center_unembed skipped) is computed too and
 * shown to move the result far beyond the tolerance (5e-4 against 2e-6), so this test fails for every one of them. (A key
 * bias alone would not: q_t · b_K is the same for every key of a row and cancels in the softmax; the query bias does not.)
 */
class HandCheckedGeneralTest {

    static final double[][] E = {{1.0, -0.5, 2.0}, {0.3, 1.2, -0.7}, {-1.1, 0.4, 0.9}, {0.8, 0.8, -1.5}};
    static final double[] GF = {1.5, 0.7, 1.1}, BF = {0.3, -0.2, 0.1}, G1 = {0.9, 1.4, 0.6}, B1 = {0.5, -0.5, 0.25};
    static final double[][] WQ = {{0.6, -0.2, 0.1}, {0.3, 0.8, -0.4}, {-0.5, 0.2, 0.7}};
    static final double[][] WK = {{0.2, 0.9, -0.3}, {-0.6, 0.1, 0.5}, {0.4, -0.3, 0.8}};
    static final double[][] WV = {{-0.3, 0.5, 0.2}, {0.7, -0.1, 0.4}, {0.1, 0.6, -0.8}};
    static final double[][] WO = {{0.5, 0.1, -0.2}, {-0.4, 0.6, 0.3}, {0.2, -0.3, 0.9}};
    static final double[] C_ATTN_BIAS = {1.4, -1.3, 1.2, 0.1, 0.5, -0.6, 0.3, 0.3, -0.1};

    @TempDir
    static Path dir;
    static Model model;
    static List<Backend> backends;

    @BeforeAll
    static void build() throws IOException {
        Dims dims = new Dims(4, 3, 1, 1, 2, 2);
        float[] wqkv = new float[3 * 9];
        for (int i = 0; i < 3; i++) {
            for (int j = 0; j < 3; j++) {
                wqkv[i * 9 + j] = (float) WQ[i][j];
                wqkv[i * 9 + 3 + j] = (float) WK[i][j];
                wqkv[i * 9 + 6 + j] = (float) WV[i][j];
            }
        }
        Map<String, float[]> values = new java.util.HashMap<>();
        values.put(Gpt2Layout.WTE, flat(E));
        values.put(Gpt2Layout.ln1Weight(0), f(G1));
        values.put(Gpt2Layout.ln1Bias(0), f(B1));
        values.put(Gpt2Layout.ln2Weight(0), new float[] {1.3f, 0.8f, 1.1f});
        values.put(Gpt2Layout.ln2Bias(0), new float[] {0.2f, 0.1f, -0.3f});
        values.put(Gpt2Layout.LNF_WEIGHT, f(GF));
        values.put(Gpt2Layout.LNF_BIAS, f(BF));
        values.put(Gpt2Layout.cAttnWeight(0), wqkv);
        values.put(Gpt2Layout.cAttnBias(0), f(C_ATTN_BIAS));
        values.put(Gpt2Layout.attnProjWeight(0), flat(WO));
        values.put(Gpt2Layout.attnProjBias(0), new float[] {0.7f, -0.7f, 0.2f});
        io.headscan.testing.HandModel.write(dir, dims, values);
        model = Model.open(dir);
        backends = List.of(new JavaBackend(1), OpenBlasBackend.open(Optional.empty(), 1));
    }

    @AfterAll
    static void close() {
        model.close();
    }

    private static float[] f(double[] x) {
        float[] o = new float[x.length];
        for (int i = 0; i < x.length; i++) o[i] = (float) x[i];
        return o;
    }

    private static float[] flat(double[][] m) {
        float[] o = new float[m.length * m[0].length];
        for (int i = 0; i < m.length; i++) for (int j = 0; j < m[0].length; j++) o[i * m[0].length + j] = (float) m[i][j];
        return o;
    }

    // ---- the arithmetic, written out ----

    static double[] cd(double[] x) {
        double m = (x[0] + x[1] + x[2]) / 3;
        return new double[] {x[0] - m, x[1] - m, x[2] - m};
    }

    static double[] lnpre(double[] x) {
        double[] c = cd(x);
        double s = Math.sqrt((c[0] * c[0] + c[1] * c[1] + c[2] * c[2]) / 3 + 1e-5);
        return new double[] {c[0] / s, c[1] / s, c[2] / s};
    }

    static double[] times(double[] x, double[][] w) {
        double[] o = new double[3];
        for (int j = 0; j < 3; j++) o[j] = x[0] * w[0][j] + x[1] * w[1][j] + x[2] * w[2][j];
        return o;
    }

    static double[] mul(double[] x, double[] g) {
        return new double[] {x[0] * g[0], x[1] * g[1], x[2] * g[2]};
    }

    static double[] add(double[] x, double[] y) {
        return new double[] {x[0] + y[0], x[1] + y[1], x[2] + y[2]};
    }

    static double dot(double[] a, double[] b) {
        return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    }

    /** The mistakes a test must be able to catch. */
    enum Mistake { NONE, SWAP_QK, K_FROM_V_COLUMNS, NO_LN1_WEIGHT, KEEP_QK_BIAS, KEEP_LN1_BIAS, NO_LNF_FOLD, NO_CENTER_UNEMBED }

    /** U[:, t]: gf folded into E, centred over d, then centred over the vocabulary. */
    static double[][] u(Mistake m) {
        double[][] u = new double[4][];
        for (int t = 0; t < 4; t++) u[t] = cd(m == Mistake.NO_LNF_FOLD ? E[t] : mul(E[t], GF));
        if (m != Mistake.NO_CENTER_UNEMBED) {
            double[] mean = new double[3];
            for (double[] r : u) for (int i = 0; i < 3; i++) mean[i] += r[i] / 4;
            for (int t = 0; t < 4; t++) u[t] = add(u[t], mul(mean, new double[] {-1, -1, -1}));
        }
        return u;
    }

    static double[] wee(int t, boolean full) {
        double[] r = cd(E[t]);
        if (full) r = add(r, cd(times(times(mul(lnpre(E[t]), G1), WV), WO)));
        return r;
    }

    /** S[t, s] for the whole vocabulary (which is also the one bag {0, 1, 2, 3}). */
    static double[][] scores(boolean full, Mistake m) {
        double[][] u = u(m);
        double[] g1 = m == Mistake.NO_LN1_WEIGHT ? new double[] {1, 1, 1} : G1;
        double[][] wq = m == Mistake.SWAP_QK ? WK : WQ, wk = m == Mistake.SWAP_QK ? WQ : m == Mistake.K_FROM_V_COLUMNS ? WV : WK;
        double[][] s = new double[4][4];
        for (int t = 0; t < 4; t++) {
            double[] x = mul(u[t], g1);
            if (m == Mistake.KEEP_LN1_BIAS) x = add(x, B1);
            double[] q = times(x, wq);
            if (m == Mistake.KEEP_QK_BIAS) q = add(q, new double[] {C_ATTN_BIAS[0], C_ATTN_BIAS[1], C_ATTN_BIAS[2]});
            for (int j = 0; j < 4; j++) {
                double[] y = mul(wee(j, full), g1);
                if (m == Mistake.KEEP_LN1_BIAS) y = add(y, B1);
                double[] k = times(y, wk);
                if (m == Mistake.KEEP_QK_BIAS) k = add(k, new double[] {C_ATTN_BIAS[3], C_ATTN_BIAS[4], C_ATTN_BIAS[5]});
                s[t][j] = dot(q, k) / Math.sqrt(3);
            }
        }
        return s;
    }

    static double bagScore(double[][] s) {
        double total = 0;
        for (int t = 0; t < 4; t++) {
            double z = 0;
            for (double x : s[t]) z += Math.exp(x);
            total += Math.exp(s[t][t]) / z;
        }
        return total / 4;
    }

    // ---- the checks ----

    @Test
    void everyMistakeMovesTheHandComputedScore() {
        for (boolean full : new boolean[] {false, true}) {
            double right = bagScore(scores(full, Mistake.NONE));
            for (Mistake m : Mistake.values()) {
                if (m == Mistake.NONE) continue;
                double wrong = bagScore(scores(full, m));
                assertTrue(Math.abs(wrong - right) > 5e-4, m + (full ? " (full)" : " (noattn)") + " gives " + wrong + ", too close to " + right);
            }
        }
    }

    @Test
    void scoresAreTheHandComputedOnes() {
        for (Backend b : backends) {
            for (Variant v : new Variant[] {Variant.NOATTN, Variant.FULL}) {
                double expected = bagScore(scores(v == Variant.FULL, Mistake.NONE));
                double got = new PredictionAttention(model, b, v).score(List.of(new int[] {0, 1, 2, 3}), Progress.NONE).scores()[0][0];
                assertEquals(expected, got, 2e-6, b.name() + " " + v);
            }
        }
    }

    @Test
    void fullVocabularyAndOvAreTheHandComputedOnes() {
        for (Backend b : backends) {
            try (Arena arena = Arena.ofShared()) {
                Matrix wee = Matrix.dense(arena.allocate(4 * 3 * 4), 4, 3);
                new EffectiveEmbedding(model, b, Variant.FULL).computeAll(wee, Progress.NONE);
                for (int t = 0; t < 4; t++) for (int i = 0; i < 3; i++) assertEquals(wee(t, true)[i], wee.get(t, i), 1e-5, "W_EE[" + t + "][" + i + "]");
                double[][] s = scores(true, Mistake.NONE);
                int zeros = 0;
                for (int t = 0; t < 4; t++) {
                    int rank = 0;
                    for (int j = 0; j < 4; j++) if (s[t][j] > s[t][t]) rank++;
                    if (rank == 0) zeros++;
                }
                try (FullVocabQK qk = new FullVocabQK(model, b, wee)) {
                    FullVocabQK.HeadStats st = qk.head(new HeadId(0, 0), Progress.NONE);
                    assertEquals(bagScore(s), st.meanDiagProb(), 2e-6, b.name());
                    assertEquals(zeros / 4.0, st.ranks().fracRank0(), b.name());
                }
                // OV: M[s, j] = ((W_EE[s] * g1) @ W_V @ W_O) · U[:, j]; negative rank #{j : M[s, j] < M[s, s]}
                double[][] u = u(Mistake.NONE);
                double meanNeg = 0;
                for (int src = 0; src < 4; src++) {
                    double[] o = times(times(mul(wee(src, true), G1), WV), WO);
                    int below = 0;
                    for (int j = 0; j < 4; j++) if (dot(o, u[j]) < dot(o, u[src])) below++;
                    meanNeg += below / 4.0;
                }
                try (OvCircuit ov = new OvCircuit(model, b, wee)) {
                    assertEquals(meanNeg, ov.ranks(new HeadId(0, 0), Progress.NONE).negative().meanRank(), 1e-12, b.name());
                }
            }
        }
    }
}

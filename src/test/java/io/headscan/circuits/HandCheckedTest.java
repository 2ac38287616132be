package io.headscan.circuits;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.Progress;
import io.headscan.compute.JavaBackend;
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
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One layer, one head, d = 2, V = 4, with weights chosen so every quantity can be worked out by hand:
 * E = [[1,−1], [−1,1], [2,−2], [−2,2]] (rows already centred, vocabulary mean 0, so U[:, t] = E[t]);
 * ln weights 1, biases 0; W_Q = W_K = W_V = W_O = I; MLP0 weights 0 (so mlp(r) = 0).
 * Then W_EE(noattn)[t] = E[t], W_EE(hackathon) = 0, W_EE(full)[t] = E[t] + lnpre(E[t]),
 * and S[t, s] = E[t]·k_s / √2.
 */
class HandCheckedTest {

    @TempDir
    static Path dir;
    static Model model;
    static final float[][] E = {{1, -1}, {-1, 1}, {2, -2}, {-2, 2}};

    @BeforeAll
    static void build() throws IOException {
        Dims dims = new Dims(4, 2, 1, 1, 2, 2);
        Map<String, float[]> values = Map.of(
                Gpt2Layout.WTE, new float[] {1, -1, -1, 1, 2, -2, -2, 2},
                Gpt2Layout.ln1Weight(0), new float[] {1, 1},
                Gpt2Layout.ln2Weight(0), new float[] {1, 1},
                Gpt2Layout.LNF_WEIGHT, new float[] {1, 1},
                Gpt2Layout.cAttnWeight(0), new float[] {1, 0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 1},
                Gpt2Layout.attnProjWeight(0), new float[] {1, 0, 0, 1});
        io.headscan.testing.HandModel.write(dir, dims, values);
        model = Model.open(dir);
    }

    private static double dot(float[] a, double[] b) {
        return a[0] * b[0] + a[1] * b[1];
    }

    /** softmax over the bag {0,1,2,3} of S[t, ·] at t, keys k. */
    private static double diagProb(int t, double[][] k) {
        double z = 0;
        for (double[] ks : k) z += Math.exp(dot(E[t], ks) / Math.sqrt(2));
        return Math.exp(dot(E[t], k[t]) / Math.sqrt(2)) / z;
    }

    private static double[][] keys(String variant) {
        double[][] k = new double[4][2];
        for (int t = 0; t < 4; t++) {
            double norm = Math.sqrt((E[t][0] * E[t][0] + E[t][1] * E[t][1]) / 2 + 1e-5); // lnpre: population std, eps inside
            for (int i = 0; i < 2; i++) {
                k[t][i] = switch (variant) {
                    case "noattn" -> E[t][i];
                    case "hackathon" -> 0;
                    default -> E[t][i] + E[t][i] / norm;
                };
            }
        }
        return k;
    }

    private double score(Variant v) {
        int[] bag = {0, 1, 2, 3};
        return new PredictionAttention(model, new JavaBackend(1), v).score(List.of(bag), Progress.NONE).scores()[0][0];
    }

    @Test
    void noattnScoreIsTheHandComputedSoftmaxDiagonal() {
        double[][] k = keys("noattn");
        double expected = (diagProb(0, k) + diagProb(1, k) + diagProb(2, k) + diagProb(3, k)) / 4;
        // e.g. t = 0: e^{2/√2} / (e^{2/√2} + e^{−2/√2} + e^{4/√2} + e^{−4/√2}) = 0.19280...
        assertEquals(0.19280, diagProb(0, k), 1e-5);
        assertEquals(expected, score(Variant.NOATTN), 1e-6);
    }

    @Test
    void hackathonScoreIsUniformWhenMlp0OutputsNothing() {
        assertEquals(0.25, score(Variant.HACKATHON), 1e-7);
    }

    @Test
    void fullScoreAddsTheLayerZeroAttentionOutput() {
        double[][] k = keys("full");
        double expected = (diagProb(0, k) + diagProb(1, k) + diagProb(2, k) + diagProb(3, k)) / 4;
        assertEquals(expected, score(Variant.FULL), 1e-6);
    }

    @Test
    void fullVocabularyRanksAreTheHandCountedOnes() {
        try (Arena arena = Arena.ofShared()) {
            Matrix wee = Matrix.dense(arena.allocate(4 * 2 * 4), 4, 2);
            new EffectiveEmbedding(model, new JavaBackend(1), Variant.NOATTN).computeAll(wee, Progress.NONE);
            assertArrayEquals(new float[] {1, -1, -1, 1, 2, -2, -2, 2}, wee.toArray(), 1e-6f);
            FullVocabQK.HeadStats s = new FullVocabQK(model, new JavaBackend(1), wee).head(new HeadId(0, 0), Progress.NONE);
            // S ∝ E·Eᵀ: token 0's own score 2 is beaten by token 2's 4 (rank 1); token 1 likewise; tokens 2, 3 win (rank 0)
            assertEquals(0.5, s.ranks().fracRank0());
            assertEquals(1.0, s.ranks().fracRankLt10());
            assertEquals(0.0, s.ranks().medianRank(), "ranks 1, 1, 0, 0: the lower median");
            assertEquals(0.5, s.ranks().meanRank());
            double[][] k = keys("noattn");
            assertEquals((diagProb(0, k) + diagProb(1, k) + diagProb(2, k) + diagProb(3, k)) / 4, s.meanDiagProb(), 1e-6);

            // OV: o_s = E[s], M[s, j] = E[s]·E[j]; entries below the diagonal: 2, 2, 3, 3; above: 1, 1, 0, 0
            OvCircuit.HeadStats ov = new OvCircuit(model, new JavaBackend(1), wee).ranks(new HeadId(0, 0), Progress.NONE);
            assertEquals(0.0, ov.negative().fracRank0());
            assertEquals(2.0, ov.negative().medianRank(), "ranks 2, 2, 3, 3: the lower median");
            assertEquals(2.5, ov.negative().meanRank());
            assertEquals(0.5, ov.positive().fracRank0());
            assertEquals(0.5, ov.positive().meanRank());
        }
    }

    @Test
    void rankStatisticsUseTheLowerMedian() {
        RankStatistics r = RankStatistics.of(new int[] {0, 0, 3, 12});
        assertEquals(0.5, r.fracRank0());
        assertEquals(0.75, r.fracRankLt10());
        assertEquals(0.0, r.medianRank(), "sorted[(4 - 1) / 2], torch.median's convention (docs/science.md §4)");
        assertEquals(3.75, r.meanRank());
        assertEquals(3.0, RankStatistics.of(new int[] {5, 3, 0}).medianRank());
    }

    @Test
    void fastExpIsAccurate() {
        for (float x = -87f; x <= 0f; x += 0.0137f) {
            double exact = Math.exp(x);
            assertEquals(exact, io.headscan.compute.kernels.JavaRowReducer.exp(x), 2e-7 * exact, "exp(" + x + ")");
        }
        assertEquals(0.0, io.headscan.compute.kernels.JavaRowReducer.exp(-100f));
    }
}

package io.headscan.model;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.Progress;
import io.headscan.circuits.EffectiveEmbedding;
import io.headscan.circuits.FullVocabQK;
import io.headscan.circuits.OvCircuit;
import io.headscan.circuits.PredictionAttention;
import io.headscan.circuits.Unembedding;
import io.headscan.circuits.Variant;
import io.headscan.compute.JavaBackend;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Gemma-2's attention-logit soft-capping changes what it must and nothing else: {@code gemma2} and {@code gemma2-nocap}
 * hold the same tensors (the generating script asserts it) and differ only in {@code attn_logit_softcapping}. U, W_EE,
 * every rank and the OV circuit are the same; every Prediction-Attention score and full-vocabulary softmax is not.
 */
class SoftcapTest {

    static final Path ROOT = Path.of("src/test/resources/families");

    @Test
    void cappingMovesSoftmaxesOnly() {
        try (Model capped = Model.open(ROOT.resolve("gemma2")); Model plain = Model.open(ROOT.resolve("gemma2-nocap"));
             JavaBackend backend = new JavaBackend(2); Arena arena = Arena.ofShared()) {
            assertEquals(3.0, capped.attentionSoftcap());
            assertEquals(0.0, plain.attentionSoftcap());
            assertTrue(capped.definitionLine().orElseThrow().contains("soft-capped"), capped.definitionLine().toString());
            assertFalse(capped.centredUnembed(), "final_logit_softcapping: U not centred over the vocabulary");
            Dims d = capped.dims();
            float[] a = new float[d.dModel()], b = new float[d.dModel()];
            Unembedding uc = new Unembedding(capped), up = new Unembedding(plain);
            for (int t = 0; t < d.vocab(); t++) {
                uc.column(t, a);
                up.column(t, b);
                assertArrayEquals(b, a, "U[:, " + t + "]");
            }
            Matrix wc = Matrix.allocate(arena, d.vocab(), d.dModel()), wp = Matrix.allocate(arena, d.vocab(), d.dModel());
            new EffectiveEmbedding(capped, backend, Variant.FULL).computeAll(wc, Progress.NONE);
            new EffectiveEmbedding(plain, backend, Variant.FULL).computeAll(wp, Progress.NONE);
            assertArrayEquals(wp.toArray(), wc.toArray(), "W_EE");
            List<int[]> bags = List.of(new int[] {1, 5, 9, 17, 33, 40, 61, 90}, new int[] {2, 3, 4, 7, 11, 13, 19, 23});
            PredictionAttention.Result sc = new PredictionAttention(capped, backend, Variant.HACKATHON).score(bags, Progress.NONE);
            PredictionAttention.Result sp = new PredictionAttention(plain, backend, Variant.HACKATHON).score(bags, Progress.NONE);
            try (FullVocabQK qc = new FullVocabQK(capped, backend, wc); FullVocabQK qp = new FullVocabQK(plain, backend, wp);
                 OvCircuit oc = new OvCircuit(capped, backend, wc); OvCircuit op = new OvCircuit(plain, backend, wp)) {
                for (int l = 0; l < d.layers(); l++) {
                    for (int h = 0; h < d.heads(); h++) {
                        HeadId id = new HeadId(l, h);
                        assertNotEquals(sp.scores()[l][h], sc.scores()[l][h], 1e-6, "score of " + id);
                        FullVocabQK.HeadStats c = qc.head(id, Progress.NONE), p = qp.head(id, Progress.NONE);
                        assertNotEquals(p.meanDiagProb(), c.meanDiagProb(), 1e-6, "mean_diag_prob of " + id);
                        assertEquals(p.ranks(), c.ranks(), "QK ranks of " + id);
                        assertEquals(op.ranks(id, Progress.NONE), oc.ranks(id, Progress.NONE), "OV ranks of " + id);
                    }
                }
            }
        }
    }
}

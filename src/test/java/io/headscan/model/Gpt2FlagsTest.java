package io.headscan.model;

import static io.headscan.format.ConfigJsonException.Kind.*;
import static org.junit.jupiter.api.Assertions.*;

import io.headscan.Progress;
import io.headscan.circuits.EffectiveEmbedding;
import io.headscan.circuits.PredictionAttention;
import io.headscan.circuits.RankStatistics;
import io.headscan.circuits.Variant;
import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.format.ConfigJsonException;
import io.headscan.synth.SyntheticGpt2;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * GPT-2's configuration flags (docs/science.md §8) change the numbers as HF and TransformerLens do, and a value headscan
 * does not compute with is refused by name; model types it does not read are refused by name too.
 */
class Gpt2FlagsTest {

    static final Dims DIMS = new Dims(120, 32, 3, 4, 64, 8);

    @TempDir
    static Path shared;
    static Path weights;

    @TempDir
    Path dir;

    @BeforeAll
    static void model() throws IOException {
        new SyntheticGpt2(DIMS, 5, List.of(new HeadId(2, 1))).write(shared, 1);
        weights = shared.resolve("model.safetensors");
    }

    /** The synthetic weights with synth's config.json, these top-level entries (JSON text, comma-separated) set. */
    private Path with(String extra) throws IOException {
        Path m = Files.createTempDirectory(dir, "m");
        Files.copy(weights, m.resolve("model.safetensors"));
        var config = (com.fasterxml.jackson.databind.node.ObjectNode) io.headscan.Json.MAPPER.readTree(shared.resolve("config.json").toFile());
        if (!extra.isEmpty()) config.setAll((com.fasterxml.jackson.databind.node.ObjectNode) io.headscan.Json.MAPPER.readTree("{" + extra + "}"));
        Files.writeString(m.resolve("config.json"), config.toPrettyString());
        return m;
    }

    @Test
    void inverseLayerScalingDividesLayerLsLogitsByLPlusOneAndNothingElse() throws IOException {
        double plain = 1 / Math.sqrt(DIMS.dHead());
        int[] bag = {3, 17, 40, 41, 77, 99, 110, 5};
        try (Model a = Model.open(with("")); Model b = Model.open(with("\"scale_attn_by_inverse_layer_idx\": true"));
             OpenBlasBackend blas = OpenBlasBackend.open(Optional.empty(), 1)) {
            assertTrue(a.plainScale());
            assertFalse(b.plainScale());
            assertTrue(b.notes().stream().anyMatch(n -> n.contains("scale_attn_by_inverse_layer_idx")), b.notes().toString());
            for (int l = 0; l < DIMS.layers(); l++) {
                assertEquals(plain, a.attentionScale(l), 0);
                assertEquals(plain / (l + 1), b.attentionScale(l), 1e-15);
                HeadId h = new HeadId(l, 1);
                double[][] pa = new PredictionAttention(a, blas, Variant.HACKATHON).pattern(h, bag);
                double[][] pb = new PredictionAttention(b, blas, Variant.HACKATHON).pattern(h, bag);
                // softmax(S / (l+1)) from softmax(S): p_b ∝ p_a^(1/(l+1)); layer 0 is unchanged
                for (int t = 0; t < bag.length; t++) {
                    double z = 0;
                    for (double p : pa[t]) z += Math.pow(p, 1.0 / (l + 1));
                    for (int s = 0; s < bag.length; s++) {
                        assertEquals(Math.pow(pa[t][s], 1.0 / (l + 1)) / z, pb[t][s], 1e-6, "layer " + l + " P[" + t + ", " + s + "]");
                    }
                }
                if (l > 0) assertNotEquals(pa[0][0], pb[0][0], "the flag changes layer " + l);
            }
        }
    }

    @Test
    void scaleAttnWeightsFalseDropsTheSquareRoot() throws IOException {
        try (Model m = Model.open(with("\"scale_attn_weights\": false, \"scale_attn_by_inverse_layer_idx\": true"))) {
            for (int l = 0; l < DIMS.layers(); l++) assertEquals(1.0 / (l + 1), m.attentionScale(l), 1e-15);
        }
    }

    @Test
    void activationAndEpsilonAreHonoured() throws IOException {
        try (Model gelu = Model.open(with("")); Model relu = Model.open(with("\"activation_function\": \"relu\""));
             Model eps = Model.open(with("\"layer_norm_epsilon\": 0.5")); OpenBlasBackend blas = OpenBlasBackend.open(Optional.empty(), 1);
             Arena arena = Arena.ofConfined()) {
            assertEquals(Activation.RELU, relu.activation());
            assertEquals(0.5, eps.eps());
            int[] tokens = {0, 1, 2, 50};
            Matrix wa = Matrix.allocate(arena, tokens.length, DIMS.dModel()), wr = Matrix.allocate(arena, tokens.length, DIMS.dModel()),
                    we = Matrix.allocate(arena, tokens.length, DIMS.dModel());
            new EffectiveEmbedding(gelu, blas, Variant.HACKATHON).compute(tokens, wa, Progress.NONE);
            new EffectiveEmbedding(relu, blas, Variant.HACKATHON).compute(tokens, wr, Progress.NONE);
            new EffectiveEmbedding(eps, blas, Variant.HACKATHON).compute(tokens, we, Progress.NONE);
            assertNotEquals(wa.get(0, 0), wr.get(0, 0), "relu changes W_EE");
            assertNotEquals(wa.get(0, 0), we.get(0, 0), "eps changes W_EE");
        }
    }

    @Test
    void aLayerNormEpsilonFoldedIntoThePreScaleIsExact() {
        // lnpre_e(v) computed through the kernels' fixed 1e-5 and a pre-scale, against the definition in double
        float[] v = {0.3f, -1.2f, 2.5f, 0.01f, -0.4f, 0.9f};
        for (double e : new double[] {1e-5, 1e-6, 1e-3, 0.5}) {
            try (Arena arena = Arena.ofConfined()) {
                Matrix x = Matrix.allocate(arena, 1, v.length), y = Matrix.allocate(arena, 1, v.length);
                for (int i = 0; i < v.length; i++) x.set(0, i, v[i]);
                io.headscan.compute.kernels.RowAffine.layerNorm(e, v.length, 1f, null, null).apply(x, null, y);
                double m = 0, q = 0;
                for (float f : v) m += f;
                m /= v.length;
                for (float f : v) q += (f - m) * (f - m);
                double inv = 1 / Math.sqrt(q / v.length + e);
                for (int i = 0; i < v.length; i++) assertEquals((v[i] - m) * inv, y.get(0, i), 2e-6, "eps " + e + " element " + i);
            }
        }
    }

    @Test
    void valuesHeadscanDoesNotComputeWithAreRefusedByName() throws IOException {
        refused("\"activation_function\": \"gelu_10\"", "activation_function is gelu_10");
        refused("\"add_cross_attention\": true", "add_cross_attention is true");
        refused("\"tie_word_embeddings\": false", "tie_word_embeddings is false");
        refused("\"layer_norm_epsilon\": -1", "layer_norm_epsilon is -1");
        refused("\"scale_attn_by_inverse_layer_idx\": \"yes\"", "scale_attn_by_inverse_layer_idx is yes, not true or false");
    }

    @Test
    void modelTypesHeadscanDoesNotReadAreRefusedByName() throws IOException {
        ConfigJsonException e = refusedType("mixtral", "model_type is mixtral", "mixture-of-experts");
        assertEquals(UNSUPPORTED, e.kind());
        refusedType("bloom", "model_type is bloom", "ALiBi");
        refusedType("qwen3", "model_type is qwen3", "query/key norms");
        refusedType("olmo2", "model_type is olmo2", "query/key norms");
        refusedType("gemma3", "model_type is gemma3", "query/key norms");
        refusedType("mpt", "model_type is mpt", "ALiBi");
        refusedType("bert", "model_type is bert", "encoder");
        refusedType("frobnicator", "model_type is frobnicator", "gpt2, gpt_neox, gpt_neo, opt, gptj");
    }

    private ConfigJsonException refusedType(String type, String... phrases) throws IOException {
        Path m = with("");
        Files.writeString(m.resolve("config.json"), Files.readString(m.resolve("config.json")).replace("\"gpt2\"", "\"" + type + "\""));
        return check(m, phrases);
    }

    private void refused(String extra, String... phrases) throws IOException {
        check(with(extra), phrases);
    }

    private ConfigJsonException check(Path m, String... phrases) {
        ConfigJsonException e = assertThrows(ConfigJsonException.class, () -> Model.open(m).close());
        assertTrue(e.getMessage().startsWith(m.resolve("config.json") + ": "), "names the file: " + e.getMessage());
        for (String p : phrases) assertTrue(e.getMessage().contains(p), "'" + p + "' in: " + e.getMessage());
        return e;
    }

    @Test
    void theRankMedianIsTheLowerMedian() {
        assertEquals(1, RankStatistics.of(new int[] {0, 1, 2, 9}).medianRank(), "even count: sorted[(n - 1) / 2], not 1.5");
        assertEquals(2, RankStatistics.of(new int[] {5, 0, 2, 9, 1}).medianRank());
        assertEquals(0, RankStatistics.of(new int[] {0, 7}).medianRank());
    }
}

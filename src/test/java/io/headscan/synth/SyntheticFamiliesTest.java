package io.headscan.synth;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.Progress;
import io.headscan.circuits.Bags;
import io.headscan.circuits.EffectiveEmbedding;
import io.headscan.circuits.FullVocabQK;
import io.headscan.circuits.PredictionAttention;
import io.headscan.circuits.Unembedding;
import io.headscan.circuits.Variant;
import io.headscan.compute.Backend;
import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.format.DType;
import io.headscan.format.TensorInfo;
import io.headscan.model.Activation;
import io.headscan.model.Dims;
import io.headscan.model.Family;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;
import io.headscan.model.Model;
import io.headscan.model.Weight;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.DoubleUnaryOperator;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code synth --family}: each family's checkpoint is the GPT-2 writer's model in that family's layout (docs/science.md
 * §9.1), read back by the generic {@link Model} as the same canonical weights, with planted heads that the science finds
 * first whatever the family computes differently (parallel blocks, relu, no attention scale).
 */
class SyntheticFamiliesTest {

    static final Dims DIMS = new Dims(500, 64, 3, 4, 256, 32);
    static final List<HeadId> PLANT = List.of(new HeadId(1, 2), new HeadId(2, 0));
    static final long SEED = 5;

    @TempDir
    static Path shared;
    static Path source;
    static Backend blas;

    @BeforeAll
    static void setUp() throws Exception {
        source = shared.resolve("gpt2");
        new SyntheticGpt2(DIMS, SEED, PLANT).write(source, 2);
        blas = OpenBlasBackend.open(Optional.empty(), 2);
    }

    @AfterAll
    static void tearDown() {
        blas.close();
    }

    static Stream<Family> families() {
        return Stream.of(Family.GPT_NEOX, Family.GPT_NEO, Family.OPT, Family.GPTJ);
    }

    private static Path write(Family f, DType dtype, boolean pytorch) throws Exception {
        Path dir = shared.resolve(f.modelType() + "-" + dtype + (pytorch ? "-bin" : ""));
        if (!Files.exists(dir.resolve("config.json"))) {
            new SyntheticFamily(f, DIMS, SEED, PLANT).storedAs(dtype).asPyTorch(pytorch).write(dir, 2);
        }
        return dir;
    }

    @ParameterizedTest
    @MethodSource("families")
    void canonicalViewsAreTheGpt2SourceInTheFamilyLayout(Family f) throws Exception {
        Path dir = write(f, DType.F32, false);
        try (Model m = Model.open(dir); Model src = Model.open(source)) {
            assertSame(f, m.family());
            assertEquals(DIMS, m.dims());
            assertEquals(Model.HeadCountSource.CONFIG, m.headCountSource());
            assertTrue(m.zeroCopy());
            assertEquals(f.parallel(), m.parallel());
            assertEquals(SyntheticFamily.activation(f), m.activation());
            double scale = f == Family.GPT_NEO ? 1 : 0.25;
            for (int l = 0; l < DIMS.layers(); l++) assertEquals(scale, m.attentionScale(l), 0);

            assertArrayEquals(src.embedding().toArray(), m.embedding().toArray());
            assertArrayEquals(src.embedding().toArray(), m.unembedding().toArray(), "untied unembeddings are copies of wte");
            assertArrayEquals(src.finalNormWeight(), m.finalNormWeight());
            assertArrayEquals(src.finalNormBias(), m.finalNormBias());
            if (f == Family.GPTJ) assertArrayEquals(new float[DIMS.vocab()], m.unembeddingBias());
            else assertNull(m.unembeddingBias());

            double cQ = 0, cK = 0;
            for (int l = 0; l < DIMS.layers(); l++) {
                assertArrayEquals(src.preAttentionNormWeight(l), m.preAttentionNormWeight(l));
                // GPT-J has one norm per block: its MLP reads ln_1, and the source's ln_2 is not written
                int mlpNorm = f == Family.GPTJ ? l : -1;
                assertArrayEquals(mlpNorm >= 0 ? src.preAttentionNormWeight(l) : src.preMlpNormWeight(l), m.preMlpNormWeight(l));
                assertArrayEquals(mlpNorm >= 0 ? src.vector(src.name(Model.Role.LN1_BIAS, l)) : src.preMlpNormBias(l), m.preMlpNormBias(l));
                assertArrayEquals(src.mlpIn(l).toArray(), m.mlpIn(l).toArray());
                assertArrayEquals(src.mlpInBias(l), m.mlpInBias(l));
                assertArrayEquals(src.mlpOut(l).toArray(), m.mlpOut(l).toArray());
                assertArrayEquals(src.mlpOutBias(l), m.mlpOutBias(l));
                assertTrue(m.mlpIn(l).transposed() && m.out(l).transposed(), "Linear [out, in], used with the transpose flag");
                assertArrayEquals(src.out(l).toArray(), m.out(l).toArray());
                for (int h = 0; h < DIMS.heads(); h++) {
                    HeadId id = new HeadId(l, h);
                    assertArrayEquals(src.wv(id).toArray(), m.wv(id).toArray(), id + " W_V");
                    assertArrayEquals(src.wo(id).toArray(), m.wo(id).toArray(), id + " W_O");
                    if (!PLANT.contains(id)) {
                        assertArrayEquals(src.wq(id).toArray(), m.wq(id).toArray(), id + " W_Q");
                        assertArrayEquals(src.wk(id).toArray(), m.wk(id).toArray(), id + " W_K");
                    } else {
                        // planted: the source's up to one factor per head (calibrated for the family)
                        double q = factor(src.wq(id), m.wq(id)), k = factor(src.wk(id), m.wk(id));
                        assertEquals(f == Family.GPT_NEO ? 0.25 : 1, q / k, 1e-6, id + ": only GPT-Neo's W_Q carries 1/sqrt(d_head)");
                        cQ = q;
                        cK = k;
                    }
                }
            }
            // GPT-Neo computes W_EE as GPT-2 does: the same calibration, W_K unchanged
            if (f == Family.GPT_NEO) assertEquals(1, cK, 1e-6);
            assertTrue(cQ > 0 && cK > 0);
        }
    }

    /** c such that {@code family = c · source} element by element (to float rounding), asserted. */
    private static double factor(Weight source, Weight family) {
        float[] s = source.toArray(), t = family.toArray();
        int at = 0;
        for (int i = 1; i < s.length; i++) if (Math.abs(s[i]) > Math.abs(s[at])) at = i;
        double c = (double) t[at] / s[at];
        for (int i = 0; i < s.length; i++) assertEquals(c * s[i], t[i], 1e-5 * Math.abs(c * s[at]), "element " + i);
        return c;
    }

    /**
     * The planted heads keep the calibrated logit in every family: on the calibration tokens, the mean of
     * {@code scale · q_t · k_t} (docs/science.md §9, W_EE hackathon as the family computes it) is
     * {@link SyntheticGpt2#PLANT_DIAGONAL_LOGIT}. Fails for parallel families calibrated as GPT-2 (W_EE with layer-0
     * attention) and for GPT-Neo without the 1/sqrt(d_head) on W_Q.
     */
    @ParameterizedTest
    @MethodSource("families")
    void plantedHeadsKeepTheCalibratedDiagonalLogit(Family f) throws Exception {
        int[] tokens = new SyntheticGpt2(DIMS, SEED, PLANT).calibrationTokens();
        try (Model m = Model.open(write(f, DType.F32, false)); Arena arena = Arena.ofConfined()) {
            int d = DIMS.dModel(), dh = DIMS.dHead();
            Matrix wee = Matrix.allocate(arena, tokens.length, d);
            new EffectiveEmbedding(m, blas, Variant.HACKATHON).compute(tokens, wee, Progress.NONE);
            Unembedding u = new Unembedding(m);
            for (HeadId h : PLANT) {
                float[] g = m.preAttentionNormWeight(h.layer());
                Weight wq = m.wq(h), wk = m.wk(h);
                float[] ut = new float[d];
                double sum = 0;
                for (int i = 0; i < tokens.length; i++) {
                    u.column(tokens[i], ut);
                    for (int j = 0; j < dh; j++) {
                        double q = 0, k = 0;
                        for (int c = 0; c < d; c++) {
                            q += ut[c] * g[c] * wq.get(c, j);
                            k += wee.get(i, c) * g[c] * wk.get(c, j);
                        }
                        sum += q * k;
                    }
                }
                double logit = m.attentionScale(h.layer()) * sum / tokens.length;
                assertEquals(SyntheticGpt2.PLANT_DIAGONAL_LOGIT, logit, 0.02 * SyntheticGpt2.PLANT_DIAGONAL_LOGIT, f + " " + h);
            }
        }
    }

    /** Prediction-Attention score (random bags) and full-vocabulary mean_diag_prob rank the planted heads first. */
    @ParameterizedTest
    @MethodSource("families")
    void plantedHeadsRankFirstInScoreAndFullVocab(Family f) throws Exception {
        plantedFirst(write(f, DType.F32, false));
    }

    private static void plantedFirst(Path dir) {
        try (Model m = Model.open(dir); Arena arena = Arena.ofShared()) {
            List<HeadId> plant = PLANT.stream().sorted().toList();
            for (Variant v : Variant.values()) {
                PredictionAttention.Result r = new PredictionAttention(m, blas, v).score(Bags.random(DIMS.vocab(), 64, 4, 0, false), Progress.NONE);
                assertEquals(plant, r.ranking().subList(0, 2).stream().sorted().toList(), m.family().label() + " " + v + ": " + r.ranking());
                assertTrue(r.scores()[PLANT.get(1).layer()][PLANT.get(1).head()] > 0.5, "planted heads attend to the predicted token");
            }
            Matrix wee = Matrix.allocate(arena, DIMS.vocab(), DIMS.dModel());
            new EffectiveEmbedding(m, blas, Variant.FULL).computeAll(wee, Progress.NONE);
            try (FullVocabQK qk = new FullVocabQK(m, blas, wee)) {
                List<FullVocabQK.HeadStats> stats = Stream.iterate(0, i -> i + 1).limit(DIMS.headCount())
                        .map(i -> qk.head(new HeadId(i / DIMS.heads(), i % DIMS.heads()), Progress.NONE))
                        .sorted(Comparator.comparingDouble(s -> -s.meanDiagProb())).toList();
                assertEquals(plant, stats.subList(0, 2).stream().map(FullVocabQK.HeadStats::head).sorted().toList(), stats.toString());
                assertTrue(stats.get(1).meanDiagProb() > 20 * stats.get(2).meanDiagProb(), stats.toString());
                for (FullVocabQK.HeadStats s : stats.subList(0, 2)) {
                    assertEquals(0, s.ranks().medianRank(), stats.toString());
                    assertTrue(s.ranks().fracRankLt10() > 0.85, stats.toString());
                }
            }
        }
    }

    /**
     * {@code --dtype F16 --format pytorch}: a {@code pytorch_model.bin} with transformers' names (tied families carry
     * lm_head.weight as an alias, GPT-NeoX its old buffers, which the reader skips), whose weights are the F32
     * checkpoint's rounded to F16, with the planted heads still first.
     */
    @ParameterizedTest
    @MethodSource("families")
    void f16PyTorchBinHoldsTheSameWeightsRounded(Family f) throws Exception {
        Path bin = write(f, DType.F16, true);
        assertTrue(Files.exists(bin.resolve("pytorch_model.bin")) && !Files.exists(bin.resolve("model.safetensors")));
        try (Model m = Model.open(bin); Model full = Model.open(write(f, DType.F32, false))) {
            assertSame(f, m.family());
            assertEquals(DIMS, m.dims());
            Set<String> names = new TreeSet<>(), fullNames = new TreeSet<>();
            for (TensorInfo t : m.tensors()) {
                if (m.buffer(t)) continue;
                names.add(t.name());
                assertEquals(DType.F16, t.dtype(), t.name());
            }
            full.tensors().forEach(t -> fullNames.add(t.name()));
            if (f.tied()) {
                assertTrue(names.remove("lm_head.weight"), "the tied lm_head a .bin carries");
                assertEquals(m.parameterCount(), full.parameterCount(), "a tied lm_head counted once");
            }
            assertEquals(fullNames, names);
            long buffers = m.tensors().stream().filter(m::buffer).count();
            assertEquals(f == Family.GPT_NEOX ? 3 * DIMS.layers() : 0, buffers, "Pythia's bias, masked_bias and rotary_emb.inv_freq");
            DoubleUnaryOperator f16 = x -> Float.float16ToFloat(Float.floatToFloat16((float) x));
            for (String n : fullNames) {
                float[] a = full.vector(n), b = m.vector(n);
                for (int i = 0; i < a.length; i++) assertEquals((float) f16.applyAsDouble(a[i]), b[i], n + "[" + i + "]");
            }
        }
        plantedFirst(bin);
    }

    @Test
    void bf16SafetensorsRoundsTheSameWeights() throws Exception {
        try (Model m = Model.open(write(Family.OPT, DType.BF16, false)); Model full = Model.open(write(Family.OPT, DType.F32, false))) {
            for (TensorInfo t : full.tensors()) {
                float[] a = full.vector(t.name()), b = m.vector(t.name());
                for (int i = 0; i < a.length; i++) {
                    assertEquals(Float.intBitsToFloat((SyntheticGpt2.toBfloat16(a[i]) & 0xffff) << 16), b[i], t.name() + "[" + i + "]");
                }
            }
        }
    }

    @Test
    void configsCarryEachFamilysOwnKeys() throws Exception {
        var om = io.headscan.Json.MAPPER;
        var neox = om.readTree(write(Family.GPT_NEOX, DType.F32, false).resolve("config.json").toFile());
        assertEquals("gpt_neox", neox.get("model_type").asText());
        assertTrue(neox.get("use_parallel_residual").asBoolean());
        assertEquals(0.25, neox.get("rotary_pct").asDouble());
        assertFalse(neox.get("tie_word_embeddings").asBoolean());
        assertEquals("gelu", neox.get("hidden_act").asText());
        assertEquals(256, neox.get("intermediate_size").asInt());
        var opt = om.readTree(write(Family.OPT, DType.F32, false).resolve("config.json").toFile());
        assertTrue(opt.get("do_layer_norm_before").asBoolean());
        assertEquals(64, opt.get("word_embed_proj_dim").asInt());
        assertEquals(256, opt.get("ffn_dim").asInt());
        assertEquals("relu", opt.get("activation_function").asText());
        var gptj = om.readTree(write(Family.GPTJ, DType.F32, false).resolve("config.json").toFile());
        assertEquals(4, gptj.get("rotary_dim").asInt());
        assertTrue(gptj.get("n_inner").isNull(), "4 x d_model is null");
        assertFalse(gptj.get("tie_word_embeddings").asBoolean());
        var neo = om.readTree(write(Family.GPT_NEO, DType.F32, false).resolve("config.json").toFile());
        assertEquals("[[[\"global\",\"local\"],1],[[\"global\"],1]]", neo.get("attention_types").toString(), "expands to 3 layers");
        assertEquals("[\"global\",\"local\",\"global\"]", neo.get("attention_layers").toString());
        assertTrue(neo.get("intermediate_size").isNull());
        assertEquals(3, neo.get("num_layers").asInt());
        // OPT's position table has its two offset rows
        try (Model m = Model.open(write(Family.OPT, DType.F32, false)); Model src = Model.open(source)) {
            Matrix pos = m.matrix("model.decoder.embed_positions.weight");
            assertEquals(DIMS.nCtx() + 2, pos.rows());
            assertArrayEquals(src.matrix("wpe.weight").toArray(), pos.rows(2, DIMS.nCtx()).toArray());
        }
    }

    /** GPT-2 is the GPT-2 writer itself, byte for byte (whose bytes SyntheticGpt2Test pins). */
    @Test
    void gpt2IsTheGpt2Writer() throws Exception {
        Path dir = shared.resolve("gpt2-family");
        new SyntheticFamily(Family.GPT2, DIMS, SEED, PLANT).write(dir, 2);
        assertArrayEquals(Files.readAllBytes(source.resolve("model.safetensors")), Files.readAllBytes(dir.resolve("model.safetensors")));
        assertArrayEquals(Files.readAllBytes(source.resolve("config.json")), Files.readAllBytes(dir.resolve("config.json")));
    }

    @Test
    void sameSeedGivesSameBytesWhateverTheThreadCount() throws Exception {
        Path one = shared.resolve("threads-1"), four = shared.resolve("threads-4");
        new SyntheticFamily(Family.GPT_NEOX, DIMS, SEED, PLANT).storedAs(DType.F16).write(one, 1);
        new SyntheticFamily(Family.GPT_NEOX, DIMS, SEED, PLANT).storedAs(DType.F16).write(four, 4);
        assertArrayEquals(Files.readAllBytes(one.resolve("model.safetensors")), Files.readAllBytes(four.resolve("model.safetensors")));
        assertEquals(List.of("config.json", "model.safetensors"), List.of(one.toFile().list()).stream().sorted().toList(), "no staging file left");
    }

    @Test
    void onlyTheWrittenFamiliesAreAccepted() {
        assertEquals("gpt2, gpt_neox, gpt_neo, opt, gptj", SyntheticFamily.names());
        assertTrue(SyntheticFamily.byName("llama").isEmpty());
        assertSame(Activation.RELU, SyntheticFamily.activation(Family.OPT));
    }
}

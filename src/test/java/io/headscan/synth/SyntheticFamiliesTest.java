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
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
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
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * {@code synth --family}: each LayerNorm family's checkpoint is the GPT-2 writer's model in that family's layout
 * (docs/science.md §9.1), read back by the generic {@link Model} as the same canonical weights, with planted heads that
 * the science finds first whatever the family computes differently (parallel blocks, relu, no attention scale). The
 * Llama-like families are written directly ({@link SyntheticLlamaLike}): transformers' names, shapes and config keys,
 * read back with their dimensions, norm kind, gating and key/value heads, and planted heads found first whatever the
 * norm (RMS, 1 + w, parameter-free LayerNorm), the gate's activation, sqrt(d), the soft-caps and the grouping.
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

    static Stream<Family> llamaLike() {
        return Stream.of(Family.LLAMA, Family.MISTRAL, Family.QWEN2, Family.GEMMA, Family.GEMMA2, Family.OLMO);
    }

    static Stream<Family> allFamilies() {
        return Stream.concat(families(), llamaLike());
    }

    /** Each Llama-like family with 1, 2 and H = 4 key/value heads. */
    static Stream<Arguments> llamaLikeByKeyValueHeads() {
        return llamaLike().flatMap(f -> Stream.of(1, 2, 4).map(kv -> Arguments.of(f, kv)));
    }

    /** The Llama-like dimensions: DIMS's, with kv key/value heads (and d_mlp 3d, as a gated MLP's usually is). */
    static Dims rmsDims(int kv) {
        return new Dims(500, 64, 3, 4, 192, 32, kv, 16);
    }

    static Dims dimsOf(Family f) {
        return SyntheticFamily.groupedQuery(f) ? rmsDims(2) : DIMS;
    }

    private static Path write(Family f, DType dtype, boolean pytorch) throws Exception {
        return write(f, dimsOf(f), dtype, pytorch, PLANT);
    }

    private static Path write(Family f, Dims dims, DType dtype, boolean pytorch, List<HeadId> plant) throws Exception {
        Path dir = shared.resolve(f.modelType() + "-" + dtype + (pytorch ? "-bin" : "") + "-kv" + dims.kvHeads() + "-dh" + dims.dHead()
                + "-" + String.join("_", SyntheticGpt2.names(plant)));
        if (!Files.exists(dir.resolve("config.json"))) {
            new SyntheticFamily(f, dims, SEED, plant).storedAs(dtype).asPyTorch(pytorch).write(dir, 2);
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
    @MethodSource("allFamilies")
    void plantedHeadsKeepTheCalibratedDiagonalLogit(Family f) throws Exception {
        int[] tokens = new SyntheticFamily(f, dimsOf(f), SEED, PLANT).calibrationTokens();
        assertArrayEquals(new SyntheticGpt2(DIMS, SEED, PLANT).calibrationTokens(), tokens, "the same tokens in every family");
        try (Model m = Model.open(write(f, DType.F32, false)); Arena arena = Arena.ofConfined()) {
            int d = m.dims().dModel(), dh = m.dims().dHead();
            Matrix wee = Matrix.allocate(arena, tokens.length, d);
            new EffectiveEmbedding(m, blas, Variant.HACKATHON).compute(tokens, wee, Progress.NONE);
            Unembedding u = new Unembedding(m);
            for (HeadId h : PLANT) {
                float[] g = m.preAttentionNormWeight(h.layer());
                Weight wq = m.wq(h), wk = m.wk(h);
                float[] ut = new float[d];
                double sum = 0, cap = m.attentionSoftcap();
                for (int i = 0; i < tokens.length; i++) {
                    u.column(tokens[i], ut);
                    double qk = 0;
                    for (int j = 0; j < dh; j++) {
                        double q = 0, k = 0;
                        for (int c = 0; c < d; c++) {
                            q += ut[c] * g[c] * wq.get(c, j);
                            k += wee.get(i, c) * g[c] * wk.get(c, j);
                        }
                        qk += q * k;
                    }
                    double s = m.attentionScale(h.layer()) * qk;
                    sum += cap > 0 ? cap * Math.tanh(s / cap) : s;   // Gemma-2's soft-capped logit
                }
                double logit = sum / tokens.length;
                assertEquals(SyntheticGpt2.PLANT_DIAGONAL_LOGIT, logit, 0.02 * SyntheticGpt2.PLANT_DIAGONAL_LOGIT, f + " " + h);
            }
        }
    }

    /** Prediction-Attention score (random bags) and full-vocabulary mean_diag_prob rank the planted heads first. */
    @ParameterizedTest
    @MethodSource("families")
    void plantedHeadsRankFirstInScoreAndFullVocab(Family f) throws Exception {
        plantedFirst(write(f, DType.F32, false), PLANT);
    }

    /** The planted heads rank first in score (every variant) and in full-vocab mean_diag_prob, with their ranks at 0. */
    private static void plantedFirst(Path dir, List<HeadId> planted) {
        try (Model m = Model.open(dir); Arena arena = Arena.ofShared()) {
            Dims dims = m.dims();
            int n = planted.size();
            List<HeadId> plant = planted.stream().sorted().toList();
            String what = m.family().label() + " (" + dims.kvHeads() + " key/value heads)";
            for (Variant v : Variant.values()) {
                PredictionAttention.Result r = new PredictionAttention(m, blas, v).score(Bags.random(dims.vocab(), 64, 4, 0, false), Progress.NONE);
                assertEquals(plant, r.ranking().subList(0, n).stream().sorted().toList(), what + " " + v + ": " + r.ranking());
                for (HeadId h : plant) assertTrue(r.scores()[h.layer()][h.head()] > 0.5, what + " " + v + ": planted " + h + " attends to the predicted token");
            }
            Matrix wee = Matrix.allocate(arena, dims.vocab(), dims.dModel());
            new EffectiveEmbedding(m, blas, Variant.FULL).computeAll(wee, Progress.NONE);
            try (FullVocabQK qk = new FullVocabQK(m, blas, wee)) {
                List<FullVocabQK.HeadStats> stats = Stream.iterate(0, i -> i + 1).limit(dims.headCount())
                        .map(i -> qk.head(new HeadId(i / dims.heads(), i % dims.heads()), Progress.NONE))
                        .sorted(Comparator.comparingDouble(s -> -s.meanDiagProb())).toList();
                assertEquals(plant, stats.subList(0, n).stream().map(FullVocabQK.HeadStats::head).sorted().toList(), what + ": " + stats);
                assertTrue(stats.get(n - 1).meanDiagProb() > 20 * stats.get(n).meanDiagProb(), what + ": " + stats);
                for (FullVocabQK.HeadStats s : stats.subList(0, n)) {
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
    @MethodSource("allFamilies")
    void f16PyTorchBinHoldsTheSameWeightsRounded(Family f) throws Exception {
        Path bin = write(f, DType.F16, true);
        assertTrue(Files.exists(bin.resolve("pytorch_model.bin")) && !Files.exists(bin.resolve("model.safetensors")));
        try (Model m = Model.open(bin); Model full = Model.open(write(f, DType.F32, false))) {
            assertSame(f, m.family());
            assertEquals(dimsOf(f), m.dims());
            Set<String> names = new TreeSet<>(), fullNames = new TreeSet<>();
            for (TensorInfo t : m.tensors()) {
                if (m.buffer(t)) continue;
                names.add(t.name());
                assertEquals(DType.F16, t.dtype(), t.name());
            }
            full.tensors().forEach(t -> fullNames.add(t.name()));
            if (full.tied()) {
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
        plantedFirst(bin, PLANT);
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

    @ParameterizedTest
    @MethodSource("sameBytesFamilies")
    void sameSeedGivesSameBytesWhateverTheThreadCount(Family f) throws Exception {
        Path one = shared.resolve("threads-1-" + f.modelType()), four = shared.resolve("threads-4-" + f.modelType());
        new SyntheticFamily(f, dimsOf(f), SEED, PLANT).storedAs(DType.F16).write(one, 1);
        new SyntheticFamily(f, dimsOf(f), SEED, PLANT).storedAs(DType.F16).write(four, 4);
        assertArrayEquals(Files.readAllBytes(one.resolve("model.safetensors")), Files.readAllBytes(four.resolve("model.safetensors")));
        assertEquals(List.of("config.json", "model.safetensors"), List.of(one.toFile().list()).stream().sorted().toList(), "no staging file left");
    }

    static Stream<Family> sameBytesFamilies() {
        return Stream.of(Family.GPT_NEOX, Family.GEMMA2);
    }

    @Test
    void onlyTheWrittenFamiliesAreAccepted() {
        assertEquals("gpt2, gpt_neox, gpt_neo, opt, gptj, llama, mistral, qwen2, gemma, gemma2, olmo", SyntheticFamily.names());
        assertSame(Family.LLAMA, SyntheticFamily.byName("llama").orElseThrow());
        assertTrue(SyntheticFamily.byName("mixtral").isEmpty());
        assertSame(Activation.RELU, SyntheticFamily.activation(Family.OPT));
        assertEquals("llama, mistral, qwen2, gemma, gemma2, olmo", SyntheticFamily.groupedQueryNames());
        assertFalse(SyntheticFamily.groupedQuery(Family.GPTJ));
        var e = assertThrows(IllegalArgumentException.class, () -> new SyntheticFamily(Family.OPT, rmsDims(2), SEED, PLANT));
        assertTrue(e.getMessage().contains("OPT has no grouped-query attention"), e.getMessage());
        // transformers' Qwen2 and OLMo configs have no head_dim: their heads are d_model / heads wide
        Dims wide = new Dims(500, 64, 3, 4, 192, 32, 2, 32);
        e = assertThrows(IllegalArgumentException.class, () -> new SyntheticFamily(Family.QWEN2, wide, SEED, PLANT));
        assertTrue(e.getMessage().contains("no head_dim"), e.getMessage());
    }

    // ------------------------------------------------------------------------------------------------------------
    // The Llama-like families
    // ------------------------------------------------------------------------------------------------------------

    /** The tensors transformers' XxxForCausalLM.save_pretrained writes for rmsDims(kv), with their shapes. */
    private static Map<String, List<Long>> transformersTensors(Family f, Dims dims) {
        Map<String, List<Long>> out = new java.util.TreeMap<>();
        long d = dims.dModel(), q = dims.qWidth(), kv = dims.kvWidth(), dm = dims.dMlp(), v = dims.vocab();
        out.put("model.embed_tokens.weight", List.of(v, d));
        for (int l = 0; l < dims.layers(); l++) {
            String b = "model.layers." + l + ".";
            out.put(b + "self_attn.q_proj.weight", List.of(q, d));
            out.put(b + "self_attn.k_proj.weight", List.of(kv, d));
            out.put(b + "self_attn.v_proj.weight", List.of(kv, d));
            out.put(b + "self_attn.o_proj.weight", List.of(d, q));
            if (f == Family.QWEN2) {
                out.put(b + "self_attn.q_proj.bias", List.of(q));
                out.put(b + "self_attn.k_proj.bias", List.of(kv));
                out.put(b + "self_attn.v_proj.bias", List.of(kv));
            }
            out.put(b + "mlp.gate_proj.weight", List.of(dm, d));
            out.put(b + "mlp.up_proj.weight", List.of(dm, d));
            out.put(b + "mlp.down_proj.weight", List.of(d, dm));
            if (f == Family.OLMO) continue;   // LayerNorm without parameters: no norm tensors at all
            out.put(b + "input_layernorm.weight", List.of(d));
            out.put(b + "post_attention_layernorm.weight", List.of(d));
            if (f == Family.GEMMA2) {
                out.put(b + "pre_feedforward_layernorm.weight", List.of(d));
                out.put(b + "post_feedforward_layernorm.weight", List.of(d));
            }
        }
        if (f != Family.OLMO) out.put("model.norm.weight", List.of(d));
        if (f == Family.LLAMA || f == Family.MISTRAL || f == Family.OLMO) out.put("lm_head.weight", List.of(v, d));
        return out;
    }

    @ParameterizedTest
    @MethodSource("llamaLike")
    void llamaLikeCheckpointsAreReadWithTheirDimensionsNormsAndGating(Family f) throws Exception {
        for (DType dtype : List.of(DType.F32, DType.BF16)) {
            try (Model m = Model.open(write(f, dtype, false))) {
                assertSame(f, m.family());
                assertEquals(rmsDims(2), m.dims(), "key/value heads, d_head and d_mlp from config.json and the shapes");
                assertTrue(m.dims().grouped());
                assertSame(f.more().norm(), m.normKind());
                assertTrue(m.family().gated());
                assertSame(f == Family.GEMMA || f == Family.GEMMA2 ? Activation.GELU_TANH : Activation.SILU, m.activation());
                assertEquals(f != Family.LLAMA && f != Family.MISTRAL && f != Family.OLMO, m.tied(), "Gemma, Gemma-2 and Qwen2 are written tied");
                assertEquals(f == Family.LLAMA || f == Family.MISTRAL || f == Family.OLMO ? 1e-5 : 1e-6, m.eps());
                assertEquals(f == Family.GEMMA || f == Family.GEMMA2 ? (float) Math.sqrt(64) : 1f, m.embeddingScale());
                assertEquals(f == Family.GEMMA2 ? 50 : 0, m.attentionSoftcap());
                assertEquals(f != Family.GEMMA2, m.centredUnembed());
                assertEquals(f == Family.OLMO, m.centredWriting());
                for (int l = 0; l < 3; l++) assertEquals(0.25, m.attentionScale(l), 1e-12);
                Map<String, List<Long>> names = new java.util.TreeMap<>();
                for (TensorInfo t : m.tensors()) {
                    assertEquals(dtype, t.dtype(), t.name());
                    names.put(t.name(), java.util.Arrays.stream(t.shape()).boxed().toList());
                }
                assertEquals(transformersTensors(f, rmsDims(2)), names);
                // norms as they act are about 1 (Gemma stores w about 0), away from layer 0's calibrated Gemma-2 sandwich
                float[] g = m.preAttentionNormWeight(1);
                for (float x : g) assertEquals(1, x, 0.2);
            }
        }
    }

    /** Gemma's head_dim need not be d_model / heads (Gemma-7B: 16 × 256 = 4096 > 3072): q_proj is [H·d_head, d]. */
    @Test
    void gemmaWithHeadsWiderThanDModelOverHeads() throws Exception {
        Dims wide = new Dims(500, 64, 3, 4, 192, 32, 1, 32);
        Path dir = write(Family.GEMMA, wide, DType.F32, false, PLANT);
        try (Model m = Model.open(dir)) {
            assertEquals(wide, m.dims());
            assertEquals(transformersTensors(Family.GEMMA, wide).keySet(), m.tensors().stream().map(TensorInfo::name).collect(java.util.stream.Collectors.toSet()));
            assertArrayEquals(new long[] {128, 64}, m.file().info("model.layers.0.self_attn.q_proj.weight").shape());
            assertArrayEquals(new long[] {64, 128}, m.file().info("model.layers.0.self_attn.o_proj.weight").shape());
        }
        plantedFirst(dir, PLANT);
    }

    /** Planted heads first with 1, 2 and 4 key/value heads (1: every query head of the planted layers reads the planted K). */
    @ParameterizedTest
    @MethodSource("llamaLikeByKeyValueHeads")
    void llamaLikePlantedHeadsRankFirstWhateverTheKeyValueHeads(Family f, int kv) throws Exception {
        plantedFirst(write(f, rmsDims(kv), DType.F32, false, PLANT), PLANT);
    }

    /** BF16: the same F32 values rounded to nearest even, planted heads still first. */
    @ParameterizedTest
    @MethodSource("llamaLike")
    void llamaLikeBf16RoundsTheSameWeightsAndKeepsThePlantedHeadsFirst(Family f) throws Exception {
        Path bf16 = write(f, DType.BF16, false);
        try (Model m = Model.open(bf16); Model full = Model.open(write(f, DType.F32, false))) {
            for (TensorInfo t : full.tensors()) {
                float[] a = full.vector(t.name()), b = m.vector(t.name());
                for (int i = 0; i < a.length; i++) {
                    assertEquals(Float.intBitsToFloat((SyntheticGpt2.toBfloat16(a[i]) & 0xffff) << 16), b[i], t.name() + "[" + i + "]");
                }
            }
        }
        plantedFirst(bf16, PLANT);
    }

    /**
     * Planted heads on one key/value head share its K and V (and their R): two in layer 0, whose negative copying also
     * feeds W_EE, two in layer 1 on the same key/value head, one in layer 2.
     */
    @ParameterizedTest
    @MethodSource("sharingFamilies")
    void plantedHeadsSharingAKeyValueHeadAllRankFirst(Family f) throws Exception {
        List<HeadId> plant = List.of(new HeadId(0, 0), new HeadId(0, 1), new HeadId(1, 2), new HeadId(1, 3), new HeadId(2, 0));
        plantedFirst(write(f, rmsDims(2), DType.F32, false, plant), plant);
    }

    static Stream<Family> sharingFamilies() {
        return Stream.of(Family.LLAMA, Family.GEMMA2, Family.OLMO);
    }

    /**
     * Planting touches only what it must: against the same seed without planted heads, the planted query heads' q_proj
     * rows, their key/value heads' k_proj and v_proj rows and their o_proj columns differ; every other value is the same
     * (with one key/value head, the other query heads of the layer keep their own W_Q and W_O).
     */
    @ParameterizedTest
    @MethodSource("touchedKeyValueHeads")
    void plantingTouchesOnlyThePlantedRowsAndColumns(int kv) throws Exception {
        Dims dims = rmsDims(kv);
        try (Model m = Model.open(write(Family.LLAMA, dims, DType.F32, false, PLANT));
             Model none = Model.open(write(Family.LLAMA, dims, DType.F32, false, List.of()))) {
            int dh = dims.dHead();
            for (TensorInfo t : none.tensors()) {
                Matrix a = none.matrix(t.name()), b = m.matrix(t.name());
                String[] part = t.name().split("\\.");
                int layer = part.length > 3 && part[1].equals("layers") ? Integer.parseInt(part[2]) : -1;
                for (int r = 0; r < a.rows(); r++) {
                    for (int c = 0; c < a.cols(); c++) {
                        boolean touched = false;
                        for (HeadId h : PLANT) {
                            if (h.layer() != layer) continue;
                            int j = dims.kvHead(h.head());
                            touched |= t.name().endsWith("q_proj.weight") && r / dh == h.head();
                            touched |= (t.name().endsWith("k_proj.weight") || t.name().endsWith("v_proj.weight")) && r / dh == j;
                            touched |= t.name().endsWith("o_proj.weight") && c / dh == h.head();
                        }
                        if (touched) assertNotEquals(a.get(r, c), b.get(r, c), t.name() + "[" + r + "," + c + "]");
                        else assertEquals(a.get(r, c), b.get(r, c), t.name() + "[" + r + "," + c + "]");
                    }
                }
            }
        }
    }

    static Stream<Integer> touchedKeyValueHeads() {
        return Stream.of(1, 4);
    }

    /**
     * config.json has the keys transformers' config classes save (the fixtures under src/test/resources/families were
     * written by transformers 5, which names rope_parameters and dtype where version 4, and synth, write rope_theta and
     * torch_dtype), with the values that make headscan read the model back.
     */
    @ParameterizedTest
    @MethodSource("llamaLike")
    void configsCarryTheKeysTransformersWrites(Family f) throws Exception {
        var om = io.headscan.Json.MAPPER;
        var c = om.readTree(write(f, DType.F32, false).resolve("config.json").toFile());
        String fixture = f.modelType();
        var fx = om.readTree(Path.of("src/test/resources/families", fixture, "config.json").toFile());
        Set<String> extra = Set.of("rope_theta", "torch_dtype", "headscan_synth", "cache_implementation");
        List<String> unknown = new ArrayList<>();
        c.fieldNames().forEachRemaining(k -> {
            if (!fx.has(k) && !extra.contains(k)) unknown.add(k);
        });
        assertEquals(List.of(), unknown, "keys transformers' " + fx.get("architectures").get(0).asText() + " does not write");
        assertEquals(fx.get("architectures"), c.get("architectures"));
        assertEquals(f.modelType(), c.get("model_type").asText());
        assertEquals(2, c.get("num_key_value_heads").asInt());
        assertEquals(fx.has("head_dim"), c.has("head_dim"), "head_dim where the config class has it");
        assertEquals(fx.has("rms_norm_eps"), c.has("rms_norm_eps"));
        String actKey = f == Family.GEMMA2 ? "hidden_activation" : "hidden_act";
        assertEquals(fx.get(actKey).asText(), c.get(actKey).asText());
        assertEquals(192, c.get("intermediate_size").asInt());
        assertEquals(32, c.get("max_position_embeddings").asInt());
        if (f == Family.GEMMA2) {
            assertEquals(16, c.get("query_pre_attn_scalar").asInt());
            assertEquals(50.0, c.get("attn_logit_softcapping").asDouble());
            assertEquals(30.0, c.get("final_logit_softcapping").asDouble());
        }
        if (f == Family.OLMO) assertTrue(c.get("clip_qkv").isNull());
        if (f == Family.LLAMA) assertFalse(c.get("mlp_bias").asBoolean());
        assertEquals(2, c.get("headscan_synth").get("plant").asText().split(",").length);
    }
}

package io.headscan.model;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import io.headscan.Progress;
import io.headscan.circuits.EffectiveEmbedding;
import io.headscan.circuits.FullVocabQK;
import io.headscan.circuits.OvCircuit;
import io.headscan.circuits.PredictionAttention;
import io.headscan.circuits.RankStatistics;
import io.headscan.circuits.Unembedding;
import io.headscan.circuits.Variant;
import io.headscan.compute.Backend;
import io.headscan.compute.JavaBackend;
import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.testing.ParityFixture;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every family against an independent double-precision implementation of docs/science.md §9 (numpy, in
 * src/test/resources/families/make_families.py), on checkpoints written by {@code transformers} itself with every
 * parameter re-drawn: U, W_EE (all variants), Prediction-Attention scores, full-vocabulary QK statistics and OV
 * statistics, within 1e-5 and with identical ranks, on OpenBLAS and pure Java (and cuBLAS where there is a GPU). Each
 * fixture folder also holds the same weights as {@code pytorch_model.bin} (Pythia's with its old buffers), and some as
 * BF16 or shards: every form gives the same numbers.
 */
class FamilyFixturesTest {

    static final Path ROOT = Path.of("src/test/resources/families");
    static List<Backend> backends;

    @BeforeAll
    static void open() {
        backends = new ArrayList<>(List.of(OpenBlasBackend.open(Optional.empty(), 2), new JavaBackend(2)));
        if (ParityFixture.gpuPresent()) backends.add(io.headscan.compute.cuda.CublasBackend.open(Optional.empty(), false));
    }

    @AfterAll
    static void close() {
        for (Backend b : backends) b.close();
    }

    /** Every checkpoint form with an expected.json beside or above it, on every backend. */
    static Stream<Arguments> checkpoints() throws IOException {
        List<Arguments> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(ROOT)) {
            for (Path fixture : s.filter(Files::isDirectory).sorted().toList()) {
                List<Path> forms = new ArrayList<>(List.of(fixture));
                for (String sub : List.of("bin", "bf16", "sharded")) if (Files.isDirectory(fixture.resolve(sub))) forms.add(fixture.resolve(sub));
                for (Path form : forms) {
                    for (int b = 0; b < (ParityFixture.gpuPresent() ? 3 : 2); b++) out.add(Arguments.of(ROOT.relativize(form).toString(), b));
                }
            }
        }
        return out.stream();
    }

    static JsonNode expected(Path form) throws IOException {
        Path own = form.resolve("expected.json");
        return io.headscan.Json.MAPPER.readTree((Files.exists(own) ? own : form.getParent().resolve("expected.json")).toFile());
    }

    static void close(double want, double got, String what) {
        assertEquals(want, got, 1e-5 * Math.max(1, Math.abs(want)), what);
    }

    @ParameterizedTest(name = "{0} on backend {1}")
    @MethodSource("checkpoints")
    void matchesTheDoublePrecisionReference(String form, int backendIndex) throws IOException {
        Path dir = ROOT.resolve(form);
        JsonNode x = expected(dir);
        Backend backend = backends.get(backendIndex);
        try (Model m = Model.open(dir); Arena arena = Arena.ofShared()) {
            JsonNode dims = x.get("dims");
            Dims d = m.dims();
            assertEquals(x.get("model_type").asText(), m.family().modelType());
            assertEquals(List.of(dims.get("vocab").asInt(), dims.get("d_model").asInt(), dims.get("layers").asInt(), dims.get("heads").asInt(),
                    dims.get("d_mlp").asInt()), List.of(d.vocab(), d.dModel(), d.layers(), d.heads(), d.dMlp()), form + " dims");
            if (dims.has("kv_heads")) assertEquals(List.of(dims.get("kv_heads").asInt(), dims.get("d_head").asInt()), List.of(d.kvHeads(), d.dHead()), form + " kv heads, d_head");
            for (int l = 0; l < d.layers(); l++) close(x.get("scales").get(l).asDouble(), m.attentionScale(l), form + " scale of layer " + l);
            int v = d.vocab(), dm = d.dModel();

            // U
            Unembedding u = new Unembedding(m);
            float[] col = new float[dm];
            for (int t = 0; t < v; t++) {
                u.column(t, col);
                for (int i = 0; i < dm; i++) close(x.get("u").get(t).get(i).asDouble(), col[i], form + " U[" + i + ", " + t + "]");
            }
            // W_EE, every variant
            Matrix full = null;
            for (Variant var : Variant.values()) {
                Matrix w = Matrix.allocate(arena, v, dm);
                new EffectiveEmbedding(m, backend, var).computeAll(w, Progress.NONE);
                JsonNode want = x.get("wee").get(var.id());
                for (int t = 0; t < v; t++) {
                    for (int i = 0; i < dm; i++) close(want.get(t).get(i).asDouble(), w.get(t, i), form + " W_EE " + var.id() + "[" + t + ", " + i + "]");
                }
                if (var == Variant.FULL) full = w;
            }
            // Prediction-Attention scores (hackathon W_EE) over the reference's bags
            List<int[]> bags = new ArrayList<>();
            for (JsonNode b : x.get("bags")) bags.add(io.headscan.Json.MAPPER.convertValue(b, int[].class));
            PredictionAttention.Result r = new PredictionAttention(m, backend, Variant.HACKATHON).score(bags, Progress.NONE);
            // full-vocabulary QK and OV statistics (full W_EE)
            try (FullVocabQK qk = new FullVocabQK(m, backend, full); OvCircuit ov = new OvCircuit(m, backend, full)) {
                // b_U (the final norm's bias folded in, GPT-J's lm_head bias added, centred) and the IOI copy scores over
                // the reference's stand-in name tokens (they read b_U, W_EE noattn and the norm epsilon)
                float[] bu = ov.unembeddingBias();
                for (int t = 0; t < v; t++) close(x.get("bu").get(t).asDouble(), bu[t], form + " b_U[" + t + "]");
                int[] names = io.headscan.Json.MAPPER.convertValue(x.get("names"), int[].class);
                for (int l = 0; l < d.layers(); l++) {
                    for (int h = 0; h < d.heads(); h++) {
                        HeadId id = new HeadId(l, h);
                        String key = l + "." + h;
                        close(x.get("score").get(key).asDouble(), r.scores()[l][h], form + " score of " + key);
                        FullVocabQK.HeadStats s = qk.head(id, Progress.NONE);
                        JsonNode f = x.get("fullvocab").get(key);
                        close(f.get("mean_diag_prob").asDouble(), s.meanDiagProb(), form + " mean_diag_prob of " + key);
                        ranks(f, s.ranks(), form + " QK ranks of " + key);
                        OvCircuit.HeadStats o = ov.ranks(id, Progress.NONE);
                        ranks(x.get("ov").get(key).get("negative"), o.negative(), form + " OV negative ranks of " + key);
                        ranks(x.get("ov").get(key).get("positive"), o.positive(), form + " OV positive ranks of " + key);
                        OvCircuit.CopyScores cs = ov.copyScores(id, names);
                        JsonNode c = x.get("copy").get(key);
                        assertEquals(c.get("copy_score").asDouble(), cs.copyScore(), 1e-12, form + " copy score of " + key);
                        assertEquals(c.get("negative_copy_score").asDouble(), cs.negativeCopyScore(), 1e-12, form + " negative copy score of " + key);
                    }
                }
            }
        }
    }

    /** Identical ranks: the summaries of identical rank lists are equal (the mean to rounding of its sum). */
    static void ranks(JsonNode want, RankStatistics got, String what) {
        assertEquals(want.get("frac_rank0").asDouble(), got.fracRank0(), 1e-12, what + ": frac_rank0");
        assertEquals(want.get("frac_rank_lt10").asDouble(), got.fracRankLt10(), 1e-12, what + ": frac_rank_lt10");
        assertEquals(want.get("median_rank").asDouble(), got.medianRank(), 0, what + ": median_rank (lower median)");
        assertEquals(want.get("mean_rank").asDouble(), got.meanRank(), 1e-9, what + ": mean_rank");
    }
}

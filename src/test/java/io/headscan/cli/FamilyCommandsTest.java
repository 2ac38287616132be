package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import io.headscan.format.SafetensorsFile;
import io.headscan.format.TensorInfo;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * embed, fullvocab and ov through the CLI on every family's transformers-written fixture: the tables and JSON reports
 * carry the reference's numbers (src/test/resources/families, double precision) and name the family.
 */
class FamilyCommandsTest {

    static final Path FIXTURES = Path.of("src/test/resources/families");

    @TempDir
    Path dir;

    static void close(double want, double got, String what) {
        assertEquals(want, got, 1e-5 * Math.max(1, Math.abs(want)), what);
    }

    /** Exact ranks from an F32 table; from a BF16 table, within two tokens of the vocabulary. */
    private static double rankTolerance(String statistic, boolean halfTable, JsonNode x) {
        if (!halfTable) return 1e-9;
        double v = x.get("dims").get("vocab").asDouble();
        return statistic.startsWith("frac") ? 2 / v : 2;
    }

    @ParameterizedTest
    @ValueSource(strings = {"pythia", "neox-sequential", "gpt-neo", "opt", "gptj", "gpt2-flags", "gpt2-crfm",
            "llama", "llama/bf16", "mistral", "qwen2", "gemma", "gemma2", "gemma2-nocap", "olmo"})
    void everyCommandGivesTheReferenceNumbers(String fixture) throws IOException {
        Path model = FIXTURES.resolve(fixture);
        Path own = model.resolve("expected.json");
        JsonNode x = io.headscan.Json.MAPPER.readTree((Files.exists(own) ? own : model.getParent().resolve("expected.json")).toFile());
        for (String variant : new String[] {"hackathon", "full", "noattn"}) {
            Path out = dir.resolve(fixture.replace('/', '-') + "-" + variant + ".safetensors");
            CliRun e = CliRun.of("embed", model.toString(), "--wee", variant, "--out", out.toString());
            assertEquals(0, e.code(), e.err());
            try (SafetensorsFile f = SafetensorsFile.open(out)) {
                TensorInfo t = f.tensors().getFirst();
                JsonNode want = x.get("wee").get(variant);
                int v = want.size(), d = want.get(0).size();
                assertArrayEquals(new long[] {v, d}, t.shape());
                var seg = f.segment(t);
                // a BF16 checkpoint's table is stored in BF16: the F32 values rounded once (relative error <= 2^-9)
                boolean bf16 = t.dtype() == io.headscan.format.DType.BF16;
                assertEquals(fixture.endsWith("bf16"), bf16, t.dtype().toString());
                for (int r = 0; r < v; r++) {
                    for (int c = 0; c < d; c++) {
                        double w = want.get(r).get(c).asDouble();
                        double got = bf16 ? Float.intBitsToFloat((seg.getAtIndex(SafetensorsFile.I16_LE, (long) r * d + c) & 0xffff) << 16)
                                : seg.getAtIndex(SafetensorsFile.F32_LE, (long) r * d + c);
                        if (bf16) assertEquals(w, got, Math.abs(w) / 256 + 1e-5, fixture + " embed " + variant);
                        else close(w, got, fixture + " embed " + variant);
                    }
                }
            }
        }
        // a BF16 checkpoint's W_EE table is stored (and so read back) in BF16: near-tied ranks may move by a token or two
        boolean halfTable = fixture.endsWith("bf16");
        Path qkJson = dir.resolve(fixture.replace('/', '-') + "-qk.json"), ovJson = dir.resolve(fixture.replace('/', '-') + "-ov.json");
        CliRun q = CliRun.of("fullvocab", model.toString(), "--json", qkJson.toString());
        assertEquals(0, q.code(), q.err());
        CliRun o = CliRun.of("ov", model.toString(), "--json", ovJson.toString());
        assertEquals(0, o.code(), o.err());
        JsonNode qk = io.headscan.Json.MAPPER.readTree(qkJson.toFile()), ov = io.headscan.Json.MAPPER.readTree(ovJson.toFile());
        assertEquals(x.get("model_type").asText(), qk.get("model").get("family").asText());
        assertEquals(x.get("model_type").asText(), ov.get("model").get("family").asText());
        // the report says how the model computes: H_kv (and each head's kv head), the norm, the MLP, the scale, the cap
        JsonNode rm = qk.get("model");
        int kv = x.get("dims").has("kv_heads") ? x.get("dims").get("kv_heads").asInt() : x.get("dims").get("heads").asInt();
        assertEquals(kv, rm.get("kv_heads").asInt());
        boolean grouped = kv != x.get("dims").get("heads").asInt();
        assertEquals(grouped, rm.has("kv_head_of_head"), rm.toString());
        assertEquals(grouped, q.out().contains("  kv head"), "fullvocab names each head's kv head where they differ: " + q.out());
        assertEquals(grouped, o.out().contains(" (kv head "), "ov likewise: " + o.out());
        if (x.has("embed_scale")) assertEquals(x.get("embed_scale").asDouble(), rm.get("embedding_scale").asDouble(), 1e-6);
        if (x.has("softcap") && x.get("softcap").asDouble() > 0) assertEquals(x.get("softcap").asDouble(), rm.get("attention_softcap").asDouble(), 1e-12);
        String act = x.get("activation").asText().equals("gelu_pytorch_tanh") ? "gelu_new" : x.get("activation").asText();   // one function
        assertTrue(rm.get("mlp").asText().endsWith(act), rm.toString());
        assertTrue(rm.get("norm").asText().startsWith(fixture.startsWith("gemma") ? "RMSNorm with weight 1 + w"
                : fixture.startsWith("olmo") ? "LayerNorm without" : fixture.matches("llama.*|mistral|qwen2") ? "RMSNorm" : "LayerNorm"), rm.toString());
        x.get("fullvocab").properties().forEach(h -> {
            JsonNode got = qk.get("heads").get(h.getKey());
            if (halfTable) {
                double want = h.getValue().get("mean_diag_prob").asDouble();   // W_EE rounded to BF16 (2^-9): within 1% of the value
                assertEquals(want, got.get("mean_diag_prob").asDouble(), 1e-2 * Math.abs(want) + 1e-9, fixture + " " + h.getKey());
            } else {
                close(h.getValue().get("mean_diag_prob").asDouble(), got.get("mean_diag_prob").asDouble(), fixture + " " + h.getKey());
            }
            for (String k : new String[] {"frac_rank0", "frac_rank_lt10", "median_rank", "mean_rank"}) {
                assertEquals(h.getValue().get(k).asDouble(), got.get(k).asDouble(), rankTolerance(k, halfTable, x), fixture + " " + h.getKey() + " " + k);
            }
        });
        x.get("ov").properties().forEach(h -> {
            for (String side : new String[] {"negative", "positive"}) {
                JsonNode want = h.getValue().get(side), got = ov.get("heads").get(h.getKey()).get(side);
                for (String k : new String[] {"frac_rank0", "frac_rank_lt10", "median_rank", "mean_rank"}) {
                    assertEquals(want.get(k).asDouble(), got.get(k).asDouble(), rankTolerance(k, halfTable, x), fixture + " ov " + h.getKey() + " " + side + " " + k);
                }
            }
        });
        if (fixture.equals("gpt2-crfm")) {
            JsonNode scales = qk.get("model").get("attention_scale");
            assertEquals(x.get("scales").get(1).asDouble(), scales.get(1).asDouble(), 1e-15, "the report names each layer's scale");
        }
    }
}

package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import io.headscan.format.SafetensorsFile;
import io.headscan.format.TensorInfo;
import java.io.IOException;
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

    @ParameterizedTest
    @ValueSource(strings = {"pythia", "neox-sequential", "gpt-neo", "opt", "gptj", "gpt2-flags", "gpt2-crfm"})
    void everyCommandGivesTheReferenceNumbers(String fixture) throws IOException {
        Path model = FIXTURES.resolve(fixture);
        JsonNode x = io.headscan.Json.MAPPER.readTree(model.resolve("expected.json").toFile());
        for (String variant : new String[] {"hackathon", "full", "noattn"}) {
            Path out = dir.resolve(fixture + "-" + variant + ".safetensors");
            CliRun e = CliRun.of("embed", model.toString(), "--wee", variant, "--out", out.toString());
            assertEquals(0, e.code(), e.err());
            try (SafetensorsFile f = SafetensorsFile.open(out)) {
                TensorInfo t = f.tensors().getFirst();
                JsonNode want = x.get("wee").get(variant);
                int v = want.size(), d = want.get(0).size();
                assertArrayEquals(new long[] {v, d}, t.shape());
                var seg = f.segment(t);
                for (int r = 0; r < v; r++) {
                    for (int c = 0; c < d; c++) {
                        close(want.get(r).get(c).asDouble(), seg.getAtIndex(SafetensorsFile.F32_LE, (long) r * d + c), fixture + " embed " + variant);
                    }
                }
            }
        }
        Path qkJson = dir.resolve(fixture + "-qk.json"), ovJson = dir.resolve(fixture + "-ov.json");
        CliRun q = CliRun.of("fullvocab", model.toString(), "--json", qkJson.toString());
        assertEquals(0, q.code(), q.err());
        CliRun o = CliRun.of("ov", model.toString(), "--json", ovJson.toString());
        assertEquals(0, o.code(), o.err());
        JsonNode qk = io.headscan.Json.MAPPER.readTree(qkJson.toFile()), ov = io.headscan.Json.MAPPER.readTree(ovJson.toFile());
        assertEquals(x.get("model_type").asText(), qk.get("model").get("family").asText());
        assertEquals(x.get("model_type").asText(), ov.get("model").get("family").asText());
        x.get("fullvocab").properties().forEach(h -> {
            JsonNode got = qk.get("heads").get(h.getKey());
            close(h.getValue().get("mean_diag_prob").asDouble(), got.get("mean_diag_prob").asDouble(), fixture + " " + h.getKey());
            for (String k : new String[] {"frac_rank0", "frac_rank_lt10", "median_rank", "mean_rank"}) {
                assertEquals(h.getValue().get(k).asDouble(), got.get(k).asDouble(), 1e-9, fixture + " " + h.getKey() + " " + k);
            }
        });
        x.get("ov").properties().forEach(h -> {
            for (String side : new String[] {"negative", "positive"}) {
                JsonNode want = h.getValue().get(side), got = ov.get("heads").get(h.getKey()).get(side);
                for (String k : new String[] {"frac_rank0", "frac_rank_lt10", "median_rank", "mean_rank"}) {
                    assertEquals(want.get(k).asDouble(), got.get(k).asDouble(), 1e-9, fixture + " ov " + h.getKey() + " " + side + " " + k);
                }
            }
        });
        if (fixture.equals("gpt2-crfm")) {
            JsonNode scales = qk.get("model").get("attention_scale");
            assertEquals(x.get("scales").get(1).asDouble(), scales.get(1).asDouble(), 1e-15, "the report names each layer's scale");
        }
    }
}

package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * sweep on the RMSNorm, gated-MLP and grouped-query families: one sweep over the transformers-written fixtures (F32,
 * BF16 and sharded forms), each with its own fixed bags, gives the reference Prediction-Attention scores of the
 * double-precision implementation of the spec in expected.json.
 */
class FamilySweepTest {

    static final Path FIXTURES = Path.of("src/test/resources/families");

    @TempDir
    Path dir;

    @Test
    void everyPart2FamilySweepsToItsReferenceScores() throws Exception {
        for (String fixture : List.of("llama", "llama/bf16", "llama/sharded", "mistral", "qwen2", "gemma", "gemma2", "olmo")) {
            Path model = FIXTURES.resolve(fixture);
            Path own = model.resolve("expected.json");
            JsonNode x = io.headscan.Json.MAPPER.readTree((Files.exists(own) ? own : model.getParent().resolve("expected.json")).toFile());
            Path bags = dir.resolve(fixture.replace('/', '-') + "-bags.json");
            Files.writeString(bags, x.get("bags").toString());
            Path db = dir.resolve(fixture.replace('/', '-') + ".duckdb"), export = dir.resolve(fixture.replace('/', '-') + ".jsonl");
            CliRun r = CliRun.of("sweep", model.toString(), "--db", db.toString(), "--score", "--bags", bags.toString(), "--export", export.toString());
            assertEquals(0, r.code(), r.err());
            assertTrue((r.out() + r.err()).contains("1 computed, 0 skipped, 0 failed"), r.out() + r.err());
            Map<String, Double> got = new HashMap<>();
            for (String line : Files.readAllLines(export)) {
                JsonNode row = io.headscan.Json.MAPPER.readTree(line);
                if (row.get("metric").asText().equals("score")) got.put(row.get("layer").asInt() + "." + row.get("head").asInt(), row.get("value").asDouble());
            }
            assertEquals(x.get("score").size(), got.size(), fixture);
            // the BF16 form's reference is computed from its own (rounded) weights: the same tolerance
            x.get("score").properties().forEach(h -> assertEquals(h.getValue().asDouble(), got.get(h.getKey()), 1e-5, fixture + " " + h.getKey()));
        }
    }

    /**
     * sweep's full-vocabulary statistics equal those of the fullvocab command on the same checkpoint: the reference's on
     * an F32 fixture, and on a BF16 one the same numbers fullvocab gives from its BF16 W_EE cache (sweep rounds its
     * in-memory W_EE as the cache stores it).
     */
    @Test
    void sweepsFullVocabularyStatisticsAreFullvocabs() throws Exception {
        for (String fixture : List.of("gemma2", "llama/bf16")) {
            Path model = FIXTURES.resolve(fixture);
            String tag = fixture.replace('/', '-');
            Path export = dir.resolve(tag + "-fv.jsonl"), json = dir.resolve(tag + "-fv.json");
            CliRun r = CliRun.of("sweep", model.toString(), "--db", dir.resolve(tag + "-fv.duckdb").toString(), "--fullvocab", "all",
                    "--export", export.toString());
            assertEquals(0, r.code(), r.err());
            CliRun f = CliRun.of("fullvocab", model.toString(), "--json", json.toString());
            assertEquals(0, f.code(), f.err());
            JsonNode heads = io.headscan.Json.MAPPER.readTree(json.toFile()).get("heads");
            int compared = 0;
            for (String line : Files.readAllLines(export)) {
                JsonNode row = io.headscan.Json.MAPPER.readTree(line);
                if (!row.get("analysis").asText().equals("fullvocab")) continue;
                JsonNode want = heads.get(row.get("layer").asInt() + "." + row.get("head").asInt()).get(row.get("metric").asText());
                if (want == null) continue;
                assertEquals(want.asDouble(), row.get("value").asDouble(), 1e-6 * Math.max(1, Math.abs(want.asDouble())), fixture + " " + line);
                compared++;
            }
            assertTrue(compared >= 8 * 5, fixture + ": " + compared + " values compared");
        }
    }
}

package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headscan.testing.Fixtures;
import io.headscan.testing.ParityFixture;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every command on a {@code pytorch_model.bin} gives the numbers of the same weights as safetensors, on every backend:
 * a synthetic model written both ways ({@code synth --format}), and a tiny GPT-2 that real PyTorch saved (its
 * safetensors twin written by the same script).
 */
class PyTorchCliTest {

    @TempDir
    static Path shared;
    static Path st, bin;

    @TempDir
    Path dir;

    @BeforeAll
    static void synth() {
        st = shared.resolve("st");
        bin = shared.resolve("bin");
        for (var f : List.of(List.of(st.toString(), "safetensors"), List.of(bin.toString(), "pytorch"))) {
            CliRun r = CliRun.of("synth", "--out", f.get(0), "--layers", "3", "--heads", "4", "--d-model", "64", "--vocab", "700",
                    "--n-ctx", "8", "--plant", "2.1", "--seed", "5", "--format", f.get(1));
            assertEquals(0, r.code(), r.err());
        }
        assertTrue(Files.exists(bin.resolve("pytorch_model.bin")) && !Files.exists(bin.resolve("model.safetensors")));
    }

    static Stream<Arguments> commandsAndBackends() {
        return ParityFixture.backendNames().stream().flatMap(b -> Stream.of(
                Arguments.of("score", b, List.of("--bag-size", "16")),
                Arguments.of("score", b, List.of("--bag-size", "16", "--wee", "full")),
                Arguments.of("fullvocab", b, List.of("--heads", "2.1,0.3")),
                Arguments.of("ov", b, List.of("--heads", "2.1,1.0"))));
    }

    /** The report without what names the file or measures time. */
    private static JsonNode numbers(Path json) throws Exception {
        ObjectNode j = (ObjectNode) new ObjectMapper().readTree(json.toFile());
        j.remove(List.of("model", "timings_ms", "wee_file", "backend", "transfers_bytes", "kernel"));
        return j;
    }

    private JsonNode run(String command, Path model, String backend, List<String> extra, String tag) throws Exception {
        Path json = dir.resolve(tag + ".json");
        List<String> args = new java.util.ArrayList<>(List.of(command, model.toString(), "--backend", backend, "--json", json.toString()));
        args.addAll(extra);
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        return numbers(json);
    }

    @ParameterizedTest
    @MethodSource("commandsAndBackends")
    void scienceOnABinEqualsTheSameWeightsAsSafetensors(String command, String backend, List<String> extra) throws Exception {
        JsonNode a = run(command, st, backend, extra, "st");
        JsonNode b = run(command, bin.resolve("pytorch_model.bin"), backend, extra, "bin");
        assertEquals(a, b);
        JsonNode model = new ObjectMapper().readTree(dir.resolve("bin.json").toFile()).get("model");
        assertEquals("pytorch-zip", model.get("format").asText());
        assertEquals("F32, used in place", model.get("weights").asText(), "F32 tensors of a .bin are views of the mapping");
    }

    @Test
    void sweepStoresTheSameNumbersForBothFormats() throws Exception {
        Path db = dir.resolve("s.duckdb");
        CliRun r = CliRun.of("sweep", st.toString(), bin.toString(), "--score", "--weights", "--fullvocab", "2.1", "--ov", "2.1",
                "--bag-size", "16", "--db", db.toString());
        assertEquals(0, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("pytorch-zip, computed in"), r.out());
        try (var c = io.headscan.sweep.DuckDbSink.connect(db); var s = c.createStatement();
             // a .bin names its tensors as GPT2LMHeadModel does (transformer. prefix, and lm_head.weight on top)
             var rs = s.executeQuery("SELECT count(*), count(*) FILTER (WHERE a.value IS NOT DISTINCT FROM b.value) FROM "
                     + "(SELECT *, coalesce(tensor, '') AS t FROM scores WHERE spec = '" + st + "') a JOIN "
                     + "(SELECT *, coalesce(replace(tensor, 'transformer.', ''), '') AS t FROM scores WHERE spec = '" + bin + "') b "
                     + "USING (definition, layer, head, metric, t)")) {
            rs.next();
            assertTrue(rs.getLong(1) > 100, "rows compared: " + rs.getLong(1));
            assertEquals(rs.getLong(1), rs.getLong(2), "every number equal");
        }
        try (var c = io.headscan.sweep.DuckDbSink.connect(db); var s = c.createStatement();
             var rs = s.executeQuery("SELECT string_agg(format, ',' ORDER BY model_id) FROM models")) {
            rs.next();
            assertEquals("safetensors,pytorch-zip", rs.getString(1));
        }
    }

    @Test
    void embedWritesTheSameTable() throws Exception {
        for (Path m : List.of(st, bin)) {
            CliRun r = CliRun.of("embed", m.toString(), "--out", dir.resolve(m.getFileName() + ".safetensors").toString(), "--backend", "openblas");
            assertEquals(0, r.code(), r.err());
        }
        try (var a = io.headscan.format.SafetensorsFile.open(dir.resolve("st.safetensors"));
             var b = io.headscan.format.SafetensorsFile.open(dir.resolve("bin.safetensors"))) {
            assertEquals(-1, a.segment(a.tensors().getFirst()).mismatch(b.segment(b.tensors().getFirst())));
        }
    }

    @Test
    void realPyTorchTinyGpt2ScoresAsItsSafetensorsTwin() throws Exception {
        Path tiny = Fixtures.pytorch("tiny-gpt2");
        Path onlyBin = dir.resolve("tiny-bin");
        Files.createDirectories(onlyBin);
        Files.copy(tiny.resolve("pytorch_model.bin"), onlyBin.resolve("pytorch_model.bin"));
        Files.copy(tiny.resolve("config.json"), onlyBin.resolve("config.json"));
        for (String backend : ParityFixture.backendNames()) {
            JsonNode a = run("score", tiny.resolve("model.safetensors"), backend, List.of("--bag-size", "8", "--bag-count", "4"), "t-st");
            JsonNode b = run("score", onlyBin, backend, List.of("--bag-size", "8", "--bag-count", "4"), "t-bin");
            assertEquals(a, b, backend);
            JsonNode fa = run("fullvocab", tiny.resolve("model.safetensors"), backend, List.of(), "f-st");
            JsonNode fb = run("fullvocab", onlyBin, backend, List.of(), "f-bin");
            assertEquals(fa, fb, backend);
        }
    }

    @Test
    void inspectShowsTheFormatStoragesAndVerifies() throws Exception {
        CliRun r = CliRun.of("inspect", bin.toString(), "--stats", "--head", "2.1", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals("pytorch-zip", j.get("format").asText());
        assertEquals(j.get("tensor_count").asInt() - 1, j.get("storages").asInt(), "lm_head.weight shares wte's storage");
        assertTrue(j.get("tensors").get(0).has("stats"));
        assertEquals("2.1", j.get("head").get("head").asText());
        assertEquals(3, j.get("model").get("layers").asInt());
        CliRun text = CliRun.of("inspect", bin.toString());
        assertTrue(text.out().contains("format      pytorch-zip"), text.out());
        CliRun v = CliRun.of("inspect", bin.toString(), "--verify");
        assertEquals(0, v.code(), v.err());
        assertTrue(v.out().matches("(?s).*sha256      [0-9a-f]{64}.*"), v.out());
    }

    @Test
    void badBinFilesAreOneLineErrors() throws Exception {
        CliRun legacy = CliRun.of("score", Fixtures.pytorch("legacy.bin").toString());
        assertEquals(1, legacy.code());
        assertEquals(1, legacy.err().strip().lines().count(), legacy.err());
        assertTrue(legacy.err().contains("legacy PyTorch format"), legacy.err());
        CliRun evil = CliRun.of("inspect", Fixtures.pytorch("os-system.bin").toString());
        assertEquals(1, evil.code());
        assertTrue(evil.err().contains("forbidden pickle global") && evil.err().contains("posix.system"), evil.err());
        assertFalse(evil.err().contains("\tat "), "no stack trace without --debug");
        Path empty = dir.resolve("empty");
        Files.createDirectories(empty);
        CliRun none = CliRun.of("score", empty.toString());
        assertTrue(none.err().contains("looked for model.safetensors, model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json"), none.err());
    }
}

package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headscan.format.SafetensorsWriter;
import io.headscan.model.KnownCheckpoint;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

class CliTest {

    @TempDir
    static Path shared;
    static Path model;

    @TempDir
    Path dir;

    @BeforeAll
    static void synth() {
        model = shared.resolve("m");
        CliRun r = CliRun.of("synth", "--out", model.toString(), "--layers", "3", "--heads", "2", "--d-model", "32",
                "--vocab", "200", "--n-ctx", "16", "--plant", "2.1");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("planted 2.1"), r.out());
    }

    @Test
    void inspectJsonDescribesTheModelAndTensors() throws IOException {
        CliRun r = CliRun.of("inspect", model.toString(), "--stats", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode j = new ObjectMapper().readTree(r.out());
        assertEquals(3, j.get("model").get("layers").asInt());
        assertEquals(2, j.get("model").get("heads").asInt());
        assertEquals("config.json n_head", j.get("model").get("heads_source").asText());
        assertEquals(2 + 13 * 3 + 2, j.get("tensors").size());
        JsonNode wte = j.get("tensors").get(0);
        assertEquals("wte.weight", wte.get("name").asText());
        assertEquals(200 * 32 * 4, wte.get("bytes").asLong());
        assertEquals(0, wte.get("stats").get("nan").asLong());
        assertTrue(wte.get("stats").get("std").asDouble() > 0.05);
    }

    @Test
    void inspectHeadShowsStridedViews() {
        CliRun r = CliRun.of("inspect", model.toString(), "--head", "2.1");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("W_Q [32,16]"), r.out());
        assertTrue(r.out().contains("ld 96"), r.out());
        assertTrue(r.out().contains("view of h.2.attn.c_attn.weight"), r.out());
    }

    @Test
    void unknownHeadIsOneLineExitTwo() {
        CliRun r = CliRun.of("inspect", model.toString(), "--head", "3.0");
        assertEquals(2, r.code());
        assertEquals("", r.out(), "nothing printed before the error");
        assertTrue(r.oneLineError(), r.err());
        assertTrue(r.err().contains("unknown head 3.0"), r.err());
    }

    @Test
    void unknownTensorIsNamed() {
        CliRun r = CliRun.of("inspect", model.toString(), "--tensor", "nope");
        assertEquals(1, r.code());
        assertTrue(r.oneLineError(), r.err());
        assertTrue(r.err().contains("tensor not found (tensor 'nope')"), r.err());
    }

    @Test
    void inspectOneTensorHasStatistics() {
        CliRun r = CliRun.of("inspect", model.toString(), "--tensor", "ln_f.weight");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("ln_f.weight"), r.out());
        assertTrue(r.out().contains("std"), r.out());
    }

    static List<Map.Entry<String, String>> malformed() {
        return List.of(
                Map.entry("", "header too small"),
                Map.entry("{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", "unknown dtype (tensor 'a')"),
                Map.entry("{} x", "invalid JSON header"),
                Map.entry("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", "invalid shape (tensor 'a')"),
                Map.entry("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", "tensors not contiguous (tensor 'a')"),
                Map.entry("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", "tensor size mismatch (tensor 'a')"));
    }

    @ParameterizedTest
    @MethodSource("malformed")
    void malformedFilesGiveNamedOneLineErrorsAndExitOne(Map.Entry<String, String> c) throws IOException {
        Path p = dir.resolve("bad.safetensors");
        byte[] h = c.getKey().getBytes(StandardCharsets.UTF_8);
        if (h.length == 0) {
            Files.write(p, new byte[3]);
        } else {
            ByteBuffer b = ByteBuffer.allocate(8 + h.length + 8).order(ByteOrder.LITTLE_ENDIAN);
            b.putLong(h.length).put(h);
            Files.write(p, b.array());
        }
        CliRun r = CliRun.of("inspect", p.toString());
        assertEquals(1, r.code());
        assertTrue(r.oneLineError(), "one line, no stack trace: " + r.err());
        assertTrue(r.err().contains(p.toString()), r.err());
        assertTrue(r.err().contains(c.getValue()), r.err());
        CliRun debug = CliRun.of("inspect", p.toString(), "--debug");
        assertEquals(1, debug.code());
        assertTrue(debug.err().contains("\tat io.headscan"), "--debug prints the stack trace");
    }

    @Test
    void missingFileIsNamed() {
        CliRun r = CliRun.of("inspect", dir.resolve("none.safetensors").toString());
        assertEquals(1, r.code());
        assertTrue(r.oneLineError(), r.err());
        assertTrue(r.err().contains("no such file"), r.err());
    }

    @Test
    void notAGpt2FileIsStillInspectable() throws IOException {
        Path p = dir.resolve("plain.safetensors");
        new SafetensorsWriter().addF32("x", new long[] {2}, new float[] {1, 2}).write(p);
        CliRun r = CliRun.of("inspect", p.toString(), "--stats");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("not a checkpoint headscan computes on"), r.out());
        CliRun h = CliRun.of("inspect", p.toString(), "--head", "0.0");
        assertEquals(1, h.code());
        assertTrue(h.oneLineError(), h.err());
    }

    @Test
    void verifyReportsUnknownIdentityAndDigest() throws Exception {
        CliRun r = CliRun.of("inspect", model.toString(), "--verify", "--json");
        assertEquals(0, r.code(), r.err());
        JsonNode v = new ObjectMapper().readTree(r.out()).get("verify");
        assertEquals("unknown", v.get("status").asText());
        byte[] bytes = Files.readAllBytes(model.resolve("model.safetensors"));
        String expected = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256").digest(bytes));
        assertEquals(expected, v.get("sha256").asText());
    }

    /** A file with gpt2's exact size but other bytes must fail verification (sparse file: cheap on disk). */
    @Test
    void verifyRejectsAFileThatOnlyHasGpt2sSize() throws IOException {
        Path p = dir.resolve("fake.safetensors");
        SafetensorsWriter w = new SafetensorsWriter();
        long header = w.headerBytes().length; // placeholder, recomputed below
        long n = KnownCheckpoint.GPT2.bytes() - 8 - 128;
        String json = "{\"blob\":{\"dtype\":\"U8\",\"shape\":[" + n + "],\"data_offsets\":[0," + n + "]}}";
        byte[] h = String.format("%-128s", json).getBytes(StandardCharsets.US_ASCII);
        assertEquals(128, h.length, "header " + header);
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            ByteBuffer b = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(128);
            f.write(b.array());
            f.write(h);
            f.setLength(KnownCheckpoint.GPT2.bytes());
        }
        CliRun r = CliRun.of("inspect", p.toString(), "--verify");
        assertEquals(1, r.code());
        assertTrue(r.err().contains("verification failed"), r.err());
        assertTrue(r.out().contains("mismatch"), r.out());
    }

    @Test
    void backendsReportsOpenBlasWorking() {
        CliRun r = CliRun.of("backends");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("works: OpenBLAS 0.3.31, core "), r.out());
        assertTrue(r.out().contains("java      works"), r.out());
        // cuBLAS: works on a GPU machine, otherwise says why, and where the libraries were (or were not) found
        assertTrue(r.out().contains("cublas    works: cuBLAS") || r.out().contains("cublas    not available: "), r.out());
        assertTrue(r.out().contains("          runtime ") && r.out().contains("          cuBLAS  "), r.out());
    }

    @Test
    void backendsNamesABrokenLibrary() throws Exception {
        // in a fresh JVM: in this one another test may have loaded OpenBLAS already, which would be reported instead
        Path bogus = dir.resolve("libnotblas.so");
        Files.write(bogus, new byte[] {1, 2, 3});
        io.headscan.testing.ChildJvm c = io.headscan.testing.ChildJvm.start(dir.resolve("backends.log"), java.util.List.of(),
                java.util.Map.of(), "backends", "--openblas", bogus.toString());
        assertEquals(0, c.waitFor(2), c.output());
        assertTrue(c.output().contains("openblas  not available: cannot load " + bogus + ": not a shared library (no ELF header)"), c.output());
        assertFalse(c.output().contains("already loaded"), c.output());
        assertTrue(c.output().contains("java      works"), c.output());
    }

    @Test
    void badSynthDimensionsAreOneLine() {
        CliRun r = CliRun.of("synth", "--out", dir.toString(), "--d-model", "30", "--heads", "4");
        assertEquals(2, r.code());
        assertTrue(r.oneLineError(), r.err());
        assertTrue(r.err().contains("not divisible"), r.err());
    }

    @Test
    void unknownFlagIsAUsageError() {
        CliRun r = CliRun.of("inspect", model.toString(), "--nope");
        assertEquals(2, r.code());
        assertTrue(r.err().contains("Unknown option"), r.err());
    }

    @Test
    void helpListsEveryCommandAndEachCommandHasItsOwnHelp() {
        CliRun all = CliRun.of("--help");
        assertEquals(0, all.code());
        for (String c : List.of("score", "embed", "fullvocab", "ov", "download", "synth", "inspect", "backends")) {
            assertTrue(all.out().contains(c), c + " missing from:\n" + all.out());
            CliRun one = CliRun.of(c, "--help");
            assertEquals(0, one.code(), c);
            assertTrue(one.out().contains("Usage: headscan " + c), one.out());
        }
        CliRun viaHelp = CliRun.of("help", "score");
        assertEquals(0, viaHelp.code());
        assertTrue(viaHelp.out().contains("Usage: headscan score"), viaHelp.out());
        CliRun unknown = CliRun.of("scroe", model.toString());
        assertEquals(2, unknown.code());
        assertTrue(unknown.err().contains("scroe"), unknown.err());
    }

    @Test
    void cublasWithoutAGpuIsOneLineExitOne() {
        org.junit.jupiter.api.Assumptions.assumeFalse(io.headscan.testing.ParityFixture.gpuPresent(), "this machine has a GPU");
        CliRun r = CliRun.of("score", model.toString(), "--backend", "cublas");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.oneLineError(), r.err());
        assertTrue(r.err().contains("GPU") || r.err().contains("CUDA runtime not found"), r.err());
        assertTrue(r.err().contains("--backend auto or openblas runs on the CPU"), r.err());
    }

    @Test
    void helpSummariesAreWholeSentences() {
        CliRun all = CliRun.of("--help");
        String commands = all.out().substring(all.out().indexOf("Commands:"), all.out().indexOf("What each number means"));
        for (String summary : commands.replaceAll("\n {15}", " ").lines().skip(1).toList()) {   // wrapped lines joined
            if (!summary.isBlank()) assertTrue(summary.strip().endsWith("."), "cut summary: " + summary);
        }
        assertTrue(all.out().contains("Exit codes: 0 done, 1 error"), all.out());
        assertTrue(all.out().contains("docs/science.md"), all.out());
        assertTrue(CliRun.of("score", "--help").out().contains("centered, std_over_bags, rank"));
    }

    @Test
    void aTextFileIsNotASafetensorsFile() throws IOException {
        Path txt = dir.resolve("notes.safetensors");
        Files.writeString(txt, "Hello world, these are my notes about GPT-2.\n");
        CliRun r = CliRun.of("inspect", txt.toString());
        assertEquals(1, r.code());
        assertTrue(r.oneLineError(), r.err());
        assertTrue(r.err().contains("not a safetensors file (it starts with \"Hello world, these are m\""), r.err());
    }

    @Test
    void aBrokenConfigIsNamedWithoutParserInternals() throws IOException {
        Path m = dir.resolve("badconfig");
        Files.createDirectories(m);
        Files.copy(model.resolve("model.safetensors"), m.resolve("model.safetensors"));
        Files.writeString(m.resolve("config.json"), "{\"vocab_size\": 100,, \"n_head\": 2}");
        CliRun r = CliRun.of("score", m.toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.oneLineError(), r.err());
        assertTrue(r.err().contains("config.json: not valid JSON") && r.err().contains("line 1, column"), r.err());
        assertFalse(r.err().contains("Source:") || r.err().contains("REDACTED") || r.err().contains("StreamReadFeature"), r.err());
    }

    @Test
    void aConfigWithoutAHeadCountIsSaidToLackIt() throws IOException {
        Path m = dir.resolve("nohead");
        assertEquals(0, CliRun.of("synth", "--out", m.toString(), "--layers", "1", "--heads", "1", "--d-model", "64", "--vocab", "50",
                "--n-ctx", "4").code());
        Files.writeString(m.resolve("config.json"), "{\"n_layer\": 1, \"n_embd\": 64}");
        CliRun r = CliRun.of("score", m.toString(), "--bag-size", "8", "--top", "1");
        assertEquals(0, r.code(), r.err());
        assertEquals(1, r.err().lines().filter(l -> l.contains("config.json beside model.safetensors has no n_head: assuming d_head = 64")).count(), r.err());
        Files.writeString(m.resolve("config.json"), "{\"n_layer\": 3}");
        CliRun bad = CliRun.of("inspect", m.toString());
        assertEquals(1, bad.code(), bad.out() + bad.err());
        assertTrue(bad.oneLineError() && bad.err().contains("config.json: contradicts the weights: n_layer is 3, the weights' layer count is 1"), bad.err());
    }

    @Test
    void withoutConfigTheHeadCountIsAssumedOnceAndSaid() throws IOException {
        Path m = dir.resolve("noconfig");
        assertEquals(0, CliRun.of("synth", "--out", m.toString(), "--layers", "1", "--heads", "1", "--d-model", "64", "--vocab", "50",
                "--n-ctx", "4").code());
        Files.delete(m.resolve("config.json"));
        CliRun r = CliRun.of("score", m.toString(), "--bag-size", "8", "--top", "1");
        assertEquals(0, r.code(), r.err());
        assertEquals(1, r.err().lines().filter(l -> l.contains("no config.json beside model.safetensors: assuming d_head = 64")).count(), r.err());
        CliRun bad = CliRun.of("inspect", m.toString(), "--n-head", "7", "--head", "0.0");
        assertEquals(1, bad.code());
        assertTrue(bad.err().contains("--n-head") && !bad.err().contains("heads-per-layer"), bad.err());
        assertEquals("", bad.out(), "nothing printed before the error");
    }
}

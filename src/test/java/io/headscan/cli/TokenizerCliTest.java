package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headscan.testing.ChildJvm;
import io.headscan.testing.Gpt2TokenizerJsonWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * score --corpus, ov's IOI names and token texts with a model's own tokenizer.json (src/test/resources/tokenizers), as
 * a user runs them; the errors of a missing or broken one; and, in child JVMs, that DJL's classes load only for a
 * tokenizer.json that is not GPT-2's, and that its native library comes from the jar with no network and no ~/.djl.ai.
 */
class TokenizerCliTest {

    @TempDir
    static Path shared;
    static Path plain, bpe, gpt2Vocab, gpt2Json, fixtures;
    static JsonNode expected;

    @TempDir
    Path dir;

    @BeforeAll
    static void models() throws Exception {
        fixtures = Path.of(TokenizerCliTest.class.getResource("/tokenizers/expected.json").toURI()).getParent();
        expected = new ObjectMapper().readTree(fixtures.resolve("expected.json").toFile());
        plain = shared.resolve("plain");
        CliRun r = CliRun.of("synth", "--out", plain.toString(), "--layers", "2", "--heads", "2", "--d-model", "16", "--vocab", "1000",
                "--n-ctx", "8", "--seed", "3");
        assertEquals(0, r.code(), r.err());
        bpe = copy(plain, "bpe");
        Files.copy(fixtures.resolve("bpe/tokenizer.json"), bpe.resolve("tokenizer.json"));
        gpt2Vocab = shared.resolve("gpt2vocab");
        r = CliRun.of("synth", "--out", gpt2Vocab.toString(), "--layers", "1", "--heads", "1", "--d-model", "16", "--n-ctx", "4");
        assertEquals(0, r.code(), r.err());
        gpt2Json = copy(gpt2Vocab, "gpt2json");
        Gpt2TokenizerJsonWriter.write(gpt2Json.resolve("tokenizer.json"), Gpt2TokenizerJsonWriter.tree(true));
    }

    private static Path copy(Path model, String name) throws Exception {
        Path to = Files.createDirectories(shared.resolve(name));
        for (String f : List.of("model.safetensors", "config.json")) Files.copy(model.resolve(f), to.resolve(f));
        return to;
    }

    @Test
    void corpusBagsUseTheModelsTokenizerJson() throws Exception {
        Path json = dir.resolve("s.json");
        CliRun r = CliRun.of("score", bpe.toString(), "--corpus", fixtures.resolve("docs.jsonl").toString(), "--bag-size", "8", "--bag-count", "3",
                "--json", json.toString(), "--backend", "java");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("3 corpus bags of 8 tokens"), r.out());
        JsonNode bags = new ObjectMapper().readTree(json.toFile()).get("bags");
        assertEquals(expected.get("tokenizers").get("bpe").get("corpus_bags"), bags.get("ids"), "the ids Python's tokenizers library gave");
        assertTrue(bags.get("detail").asText().contains("tokenizer: tokenizer.json (BPE, Hugging Face tokenizers) in " + bpe.toAbsolutePath()),
                bags.get("detail").asText());
    }

    @Test
    void withoutATokenizerCorpusNamesTheFileItExpectedAndOtherBagsStillWork() throws Exception {
        CliRun c = CliRun.of("score", plain.toString(), "--corpus", fixtures.resolve("docs.jsonl").toString(), "--bag-size", "8", "--bag-count", "3");
        assertEquals(1, c.code());
        assertTrue(c.oneLineError(), c.err());
        assertEquals("headscan: " + plain.toAbsolutePath().resolve("tokenizer.json") + ": not found: --corpus needs the model's tokenizer, and a "
                + "1000-token vocabulary is not GPT-2's 50257 (put the model's tokenizer.json beside its weights)", c.err().strip());
        assertEquals("", c.out());
        CliRun random = CliRun.of("score", plain.toString(), "--bag-size", "8", "--top", "1");
        assertEquals(0, random.code(), random.err());
        Path bags = Files.writeString(dir.resolve("bags.json"), "[[1,2,3,4],[5,6,7,8]]");
        CliRun file = CliRun.of("score", plain.toString(), "--bags", bags.toString(), "--top", "1");
        assertEquals(0, file.code(), file.err());
        assertTrue(file.out().contains("2 file bags of 4 tokens"), file.out());
    }

    @Test
    void aBrokenTokenizerJsonIsOneLineNamingIt() throws Exception {
        String good = Files.readString(fixtures.resolve("bpe/tokenizer.json"));
        Map<String, String> cases = Map.of(
                good.substring(0, 1000), "not valid JSON: ",
                good.replace("\"type\": \"BPE\"", "\"type\": \"BPX\""), "refused by the Hugging Face tokenizers library: ");
        for (var c : cases.entrySet()) {
            Path m = copy(plain, "broken-" + c.getValue().length());
            Files.writeString(m.resolve("tokenizer.json"), c.getKey());
            for (List<String> args : List.of(List.of("score", m.toString(), "--corpus", fixtures.resolve("docs.jsonl").toString()),
                    List.of("ov", m.toString(), "--heads", "1.0"))) {
                CliRun r = CliRun.of(args.toArray(String[]::new));
                assertEquals(1, r.code(), r.err());
                assertTrue(r.oneLineError(), r.err());
                assertTrue(r.err().startsWith("headscan: " + m.toAbsolutePath().resolve("tokenizer.json") + ": " + c.getValue()), r.err());
                assertFalse(r.err().contains("\tat ") || r.err().contains("--debug"), "a named error, not a stack trace: " + r.err());
            }
        }
    }

    @Test
    void ovCountsTheIoiNamesOfTheModelsTokenizerAndShowsItsTokens() throws Exception {
        Path json = dir.resolve("ov.json");
        CliRun r = CliRun.of("ov", bpe.toString(), "--heads", "1.0", "--top", "3", "--json", json.toString(), "--backend", "java");
        assertEquals(0, r.code(), r.err());
        JsonNode root = new ObjectMapper().readTree(json.toFile());
        int names = root.get("names").size();
        assertTrue(names >= 30 && names < 82, "the names that are one token of this BPE: " + names);
        assertTrue(r.out().startsWith("tokenizer: tokenizer.json (BPE, Hugging Face tokenizers) in " + bpe.toAbsolutePath() + "; IOI names: "
                + names + " of 82 names are one token\n"), r.out());
        assertTrue(r.out().contains("  IOI names (" + names + " of 82): copy score "), r.out());
        JsonNode ioi = root.get("heads").get("1.0").get("ioi");
        assertEquals(names, ioi.get("names").asInt());
        assertEquals(82, ioi.get("names_listed").asInt());
        assertTrue(root.get("tokenizer").asText().startsWith("tokenizer.json (BPE"));
        // pushed tokens carry the tokenizer's own text for their id
        try (var t = io.headscan.tokenize.Tokenizers.openHuggingFace(bpe.resolve("tokenizer.json"))) {
            for (JsonNode p : root.get("heads").get("1.0").get("pushed").get("most")) assertEquals(t.decode(p.get("token").asInt()), p.get("text").asText());
        }

        CliRun none = CliRun.of("ov", plain.toString(), "--heads", "1.0", "--top", "3", "--json", json.toString(), "--backend", "java");
        assertEquals(0, none.code(), none.err());
        assertTrue(none.out().contains("IOI copy scores: skipped (no tokenizer: " + plain.toAbsolutePath().resolve("tokenizer.json") + " not found"), none.out());
        assertTrue(none.out().contains("pushed most:  #"), "ids without a tokenizer: " + none.out());
        JsonNode noneJson = new ObjectMapper().readTree(json.toFile());
        assertTrue(noneJson.get("tokenizer").isNull());
        assertEquals("no tokenizer: no tokenizer.json beside the weights, and a 1000-token vocabulary is not GPT-2's", noneJson.get("ioi_skipped").asText());

        Path list = Files.writeString(dir.resolve("names.txt"), "Mary\nJohn\n");
        CliRun named = CliRun.of("ov", plain.toString(), "--heads", "1.0", "--names", list.toString());
        assertEquals(1, named.code());
        assertTrue(named.oneLineError() && named.err().contains("tokenizer.json: not found: --names needs the model's tokenizer"), named.err());
    }

    /** sweep --corpus makes GPT-2 BPE bags once: a checkpoint with another tokenizer is refused by name, not scored on wrong ids. */
    @Test
    void sweepCorpusBagsAreRefusedForAnotherTokenizer() throws Exception {
        Path db = dir.resolve("s.duckdb");
        CliRun r = CliRun.of("sweep", gpt2Json.toString(), bpe.toString(), "--score", "--corpus", fixtures.resolve("docs.jsonl").toString(),
                "--bag-size", "8", "--bag-count", "2", "--db", db.toString());
        assertEquals(1, r.code(), r.out() + r.err());
        assertTrue(r.out().contains("sweep: 2 checkpoints: 1 computed, 0 skipped, 1 failed"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("[2/2] " + bpe) && l.contains("FAILED: ")
                && l.contains("sweep --corpus tokenizes the corpus once, with GPT-2's BPE, and this checkpoint's tokenizer is not GPT-2's ("
                        + bpe.toAbsolutePath().resolve("tokenizer.json") + ")")), r.out());
    }

    /** GPT-2 checkpoints, with GPT-2's tokenizer.json or none, never load DJL; another tokenizer.json loads it from the jar, offline. */
    @Test
    void djlLoadsOnlyForAnotherTokenizerAndOnlyFromTheJar() throws Exception {
        Path home = Files.createDirectories(dir.resolve("home")), cache = dir.resolve("cache");
        // any download would go through a proxy that refuses connections; DJL's own cache folder is left to its default,
        // ~/.djl.ai of Java's user.home, pointed at an empty folder here
        List<String> jvm = List.of("-Xlog:class+load=info", "-Duser.home=" + home, "-Dhttp.proxyHost=127.0.0.1", "-Dhttp.proxyPort=9", "-Dhttps.proxyHost=127.0.0.1",
                "-Dhttps.proxyPort=9");
        Map<String, String> env = Map.of("HOME", home.toString(), "HEADSCAN_CACHE", cache.toString(), "HF_HUB_OFFLINE", "1");
        List<String> unset = List.of("DJL_CACHE_DIR", "ENGINE_CACHE_DIR", "RUST_LIBRARY_PATH", "DJL_OFFLINE", "XDG_CACHE_HOME");
        for (Path m : List.of(gpt2Vocab, gpt2Json, bpe)) {
            Path log = dir.resolve(m.getFileName() + ".log");
            try (ChildJvm c = ChildJvm.start(log, jvm, env, unset, "score", m.toString(), "--corpus", fixtures.resolve("docs.jsonl").toString(),
                    "--bag-size", "8", "--bag-count", "2", "--top", "1")) {
                int code = c.waitFor(3);
                String out = c.output();
                assertEquals(0, code, out);
                boolean djl = out.lines().anyMatch(l -> l.contains("[class,load] ai.djl."));
                assertEquals(m == bpe, djl, m + ": DJL's classes loaded: " + djl);
                assertTrue(out.contains("[class,load] io.headscan.tokenize."), "the log shows class loading at all");
                assertFalse(out.contains("SLF4J("), "SLF4J's notices stay off stderr: " + out.lines().filter(l -> l.contains("SLF4J(")).toList());
            }
        }
        assertFalse(Files.exists(home.resolve(".djl.ai")), "DJL unpacked or downloaded nothing into its own cache");
        try (Stream<Path> s = Files.list(cache.resolve("native"))) {
            List<Path> unpacked = s.filter(p -> p.getFileName().toString().startsWith("tokenizers-")).toList();
            assertEquals(1, unpacked.size(), unpacked.toString());
            assertTrue(Files.size(unpacked.get(0).resolve("libtokenizers.so")) > 1_000_000);
            assertTrue(unpacked.get(0).getFileName().toString().endsWith("-linux-x86_64"));
        }
    }
}

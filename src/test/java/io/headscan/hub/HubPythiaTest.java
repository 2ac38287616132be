package io.headscan.hub;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.testing.ChildJvm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A Pythia training run on the Hub, as EleutherAI publishes one: a repository whose branches {@code stepN} each hold an
 * F16 {@code pytorch_model.bin} and {@code config.json} (no safetensors), listed by the refs API in name order, and
 * {@code main} (the last step again, under its own commit). Served by the fake Hub on loopback and fetched by the CLI in
 * child JVMs: the branches listed, ordered by step, thinned, pinned and downloaded once; TransformerLens's names; the
 * disk check. Sweeping the weights waits for the gpt_neox model layer (issue 22).
 */
class HubPythiaTest {

    static final String REPO = "EleutherAI/pythia-tiny";
    static final long[] STEPS = {0, 1, 2, 4, 1000};

    @TempDir
    Path home;
    FakeHub hub;
    final Map<Long, String> commits = new LinkedHashMap<>();
    final Map<Long, byte[]> bins = new HashMap<>();
    byte[] config;

    static String commit(long step) {
        return String.format("%040x", 0x9e7a0000L + step);
    }

    @BeforeEach
    void start() throws IOException {
        hub = new FakeHub();
        TinyPythia model = TinyPythia.DEFAULT;
        config = model.configBytes();
        for (long s : STEPS) {
            bins.put(s, model.bin(home.resolve("scratch"), 22 + s));
            commits.put(s, commit(s));
            hub.add(REPO, "step" + s, commit(s), "pytorch_model.bin", bins.get(s));
            hub.add(REPO, "step" + s, commit(s), "config.json", config);
        }
        // main is the last step's weights under a commit of its own
        hub.add(REPO, "main", commit(999_999), "pytorch_model.bin", bins.get(1000L));
        hub.add(REPO, "main", commit(999_999), "config.json", config);
    }

    @AfterEach
    void stop() {
        hub.close();
    }

    private ChildJvm child(Map<String, String> env, String... args) throws IOException {
        return hub.headscan(home, env, args);
    }

    private String run(int expectedCode, Map<String, String> env, String... args) throws Exception {
        ChildJvm c = child(env, args);
        int code = c.waitFor(3);
        assertEquals(expectedCode, code, c.output());
        return c.output();
    }

    private Path repoDir(String repo) {
        return home.resolve("hf/hub/models--" + repo.replace("/", "--"));
    }

    private long blobs(String repo) throws IOException {
        Path b = repoDir(repo).resolve("blobs");
        if (!Files.isDirectory(b)) return 0;
        try (Stream<Path> s = Files.list(b)) {
            return s.count();
        }
    }

    private List<Path> incomplete() throws IOException {
        Path hf = home.resolve("hf");
        if (!Files.exists(hf)) return List.of();
        try (Stream<Path> s = Files.walk(hf)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".incomplete")).toList();
        }
    }

    /** The steps whose weights the Hub was asked for (HEAD of pytorch_model.bin at a pinned commit), in order. */
    private List<Long> weightsAskedFor() {
        Map<String, Long> stepOf = new HashMap<>();
        commits.forEach((s, c) -> stepOf.put(c, s));
        List<Long> out = new ArrayList<>();
        for (FakeHub.Seen r : hub.requests) {
            if (!r.server().equals("hub") || !r.method().equals("HEAD") || !r.path().endsWith("/pytorch_model.bin")) continue;
            String rev = r.path().split("/")[4];
            out.add(stepOf.getOrDefault(rev, -1L));
        }
        return out;
    }

    private static List<String> lines(String out, String prefix) {
        return out.lines().filter(l -> l.startsWith(prefix)).toList();
    }

    @Test
    void downloadFetchesTheStepBranchesInStepOrderOnceAndARerunFetchesNothing() throws Exception {
        String out = run(0, Map.of(), "download", REPO, "--revisions", "step*");
        // the refs API lists step0, step1, step1000, step2, step4 (name order); the download goes by step
        List<String> progress = lines(out, "[");
        assertEquals(5, progress.size(), out);
        for (int i = 0; i < STEPS.length; i++) {
            assertTrue(progress.get(i).startsWith("[" + (i + 1) + "/5] " + REPO + "@step" + STEPS[i] + " (" + STEPS[i] + "): pytorch_model.bin, config.json: "),
                    progress.get(i));
            assertTrue(progress.get(i).endsWith("bytes downloaded and verified, commit " + commit(STEPS[i])), progress.get(i));
        }
        assertEquals(List.of(0L, 1L, 2L, 4L, 1000L), weightsAskedFor(), "fetched in step order, each at the commit it was listed with");
        long total = bins.values().stream().mapToLong(b -> b.length).sum() + config.length;   // config.json: one blob for all
        assertTrue(out.contains(String.format(java.util.Locale.ROOT, "5 revisions of %s: 5 downloaded (%,d bytes), 0 already cached", REPO, total)), out);
        assertEquals(0, hub.requests.stream().filter(r -> r.path().contains("/main/") || r.path().contains(commit(999_999))).count(),
                "step* does not match main");
        assertEquals(2, hub.requests.stream().filter(r -> r.method().equals("HEAD") && r.path().endsWith("/" + commit(4) + "/model.safetensors")
                || r.method().equals("HEAD") && r.path().endsWith("/" + commit(4) + "/model.safetensors.index.json")).count(),
                "safetensors looked for first, then pytorch_model.bin (a step branch has only that)");
        for (long s : STEPS) {
            Path snap = repoDir(REPO).resolve("snapshots").resolve(commit(s));
            assertArrayEquals(bins.get(s), Files.readAllBytes(snap.resolve("pytorch_model.bin")), "step" + s);
            assertArrayEquals(config, Files.readAllBytes(snap.resolve("config.json")));
            assertEquals(commit(s), Files.readString(repoDir(REPO).resolve("refs").resolve("step" + s)).strip(), "the cache records the branch");
        }
        assertEquals(List.of(), incomplete());

        // the same command again: one listing of the refs, no file asked for
        hub.requests.clear();
        String again = run(0, Map.of(), "download", REPO, "--revisions", "step*");
        assertEquals(5, lines(again, "[").stream().filter(l -> l.contains(": already cached, commit ")).count(), again);
        assertTrue(again.contains("5 revisions of " + REPO + ": 0 downloaded (0 bytes), 5 already cached"), again);
        assertEquals(List.of("/api/models/" + REPO + "/refs"), hub.requests.stream().map(FakeHub.Seen::path).toList());

        // thinned as sweep thins: steps 1 to 1000 are step1, step2, step4, step1000; every second of them
        hub.requests.clear();
        String thin = run(0, Map.of(), "download", REPO, "--revisions", "step*", "--steps", "1-1000", "--every", "2");
        assertEquals(List.of("[1/2] " + REPO + "@step1 (1): already cached, commit " + commit(1), "[2/2] " + REPO + "@step4 (4): already cached, commit " + commit(4)),
                lines(thin, "["), thin);

        // offline: the branches come from the cache's refs, and nothing goes over the network
        hub.requests.clear();
        String offline = run(0, Map.of("HF_HUB_OFFLINE", "1"), "download", REPO, "--revisions", "step*");
        assertEquals(5, lines(offline, "[").size(), offline);
        assertTrue(lines(offline, "[").getFirst().startsWith("[1/5] " + REPO + "@step0 (0): already cached"), offline);
        assertTrue(hub.requests.isEmpty(), "offline: zero HTTP calls");
    }

    @Test
    void aTransformerLensNameListsAndFetchesItsEleutherAiRepository() throws Exception {
        String real = "EleutherAI/pythia-70m";
        for (long s : new long[] {0, 512}) {
            hub.add(real, "step" + s, commit(70_000 + s), "pytorch_model.bin", bins.get(s == 0 ? 0L : 4L));
            hub.add(real, "step" + s, commit(70_000 + s), "config.json", config);
        }
        String out = run(0, Map.of(), "download", "Pythia-70M", "--revisions", "step*");
        assertEquals(List.of("Pythia-70M@step0 (0)", "Pythia-70M@step512 (512)"),
                lines(out, "[").stream().map(l -> l.substring(l.indexOf(' ') + 1, l.indexOf(':'))).toList(), out);
        assertTrue(hub.requests.stream().anyMatch(r -> r.path().equals("/api/models/" + real + "/refs")), hub.requests.toString());
        assertTrue(hub.requests.stream().filter(r -> r.server().equals("hub") && !r.path().startsWith("/api/")).allMatch(r -> r.path().startsWith("/" + real + "/resolve/")),
                hub.requests.toString());
        assertArrayEquals(bins.get(4L), Files.readAllBytes(repoDir(real).resolve("snapshots").resolve(commit(70_512)).resolve("pytorch_model.bin")));
        assertFalse(Files.exists(home.resolve("hf/hub/models--Pythia-70M")), "cached under the repository's own name");

        String single = run(0, Map.of(), "download", "pythia-70m", "--revision", "step0");
        assertTrue(single.contains("pythia-70m pytorch_model.bin: ") && single.contains("already cached"), single);
    }

    /** A command on a Hub id of another family fetches its tokenizer.json with the weights (GPT-2's BPE is built in). */
    @Test
    void aModelsOwnTokenizerComesWithItsWeights() throws Exception {
        byte[] tok = Files.readAllBytes(Path.of("src/test/resources/tokenizers/bpe/tokenizer.json"));
        hub.add(REPO, "main", commit(999_999), "tokenizer.json", tok);
        String out = run(0, Map.of(), "download", REPO);   // the download command itself
        Path snap = repoDir(REPO).resolve("snapshots").resolve(commit(999_999));
        assertArrayEquals(tok, Files.readAllBytes(snap.resolve("tokenizer.json")), out);
        // a command given an id not cached yet, at a revision without one: a note, and the command goes on
        String step = run(0, Map.of(), "inspect", REPO, "--revision", "step4");
        assertTrue(step.contains("no tokenizer.json for " + REPO), step);
        assertFalse(Files.exists(repoDir(REPO).resolve("snapshots").resolve(commit(4)).resolve("tokenizer.json")));
    }

    @Test
    void theDiskCheckRefusesAPythiaBranchThatWouldNotFit() throws Exception {
        String out = run(1, Map.of("HEADSCAN_MIN_FREE_DISK", Long.toString(Long.MAX_VALUE / 2)), "download", REPO, "--revisions", "step*");
        assertTrue(out.contains("not enough disk space for " + REPO + "/pytorch_model.bin: needs " + bins.get(0L).length + " bytes"), out);
        assertEquals(1, out.lines().filter(l -> l.contains("not enough disk space")).count(), "one line: " + out);
        assertFalse(out.contains("\tat "), "no stack trace without --debug: " + out);
        assertEquals(0, hub.count("cdn", "GET"), "refused before any byte was fetched");
        assertEquals(List.of(), incomplete());
    }

    @Test
    void revisionsOptionsAreCheckedByName() throws Exception {
        String both = run(2, Map.of(), "download", REPO, "--revision", "step0", "--revisions", "step*");
        assertTrue(both.contains("--revision names one revision and --revisions lists several"), both);
        String steps = run(2, Map.of(), "download", REPO, "--steps", "0-10");
        assertTrue(steps.contains("--steps and --every thin a series listed with --revisions"), steps);
        String range = run(2, Map.of(), "download", REPO, "--revisions", "step*", "--steps", "9-1");
        assertTrue(range.contains("--steps 9-1: expected A-B"), range);
        String none = run(1, Map.of(), "download", REPO, "--revisions", "checkpoint-*");
        assertTrue(none.contains(REPO + " has no branch or tag matching checkpoint-*"), none);
        assertEquals(0, hub.count("hub", "HEAD"), "nothing fetched");
    }

    /**
     * The sweep's disk budget holds for Pythia's F16 .bin-only branches: the free-space check refuses each branch before
     * a byte is fetched (the full sweep below shows each download removed once its checkpoint is stored).
     */
    @Test
    void aSweepOverThePythiaRunKeepsItsDiskBudget() throws Exception {
        Path refused = home.resolve("refused.duckdb");
        String out = run(1, Map.of("HEADSCAN_MIN_FREE_DISK", Long.toString(Long.MAX_VALUE / 2)), "sweep", REPO, "--revisions", "step*",
                "--score", "--bag-size", "16", "--db", refused.toString());
        List<String> failed = lines(out, "[");
        assertEquals(5, failed.size(), out);
        for (int i = 0; i < STEPS.length; i++) {
            assertTrue(failed.get(i).startsWith("[" + (i + 1) + "/5] " + REPO + "@step" + STEPS[i] + " (" + STEPS[i] + "): FAILED: not enough disk space for "
                    + REPO + "/pytorch_model.bin"), failed.get(i));
        }
        assertEquals(5, count(refused, "SELECT count(*) FROM errors WHERE message LIKE 'not enough disk space%'"));
        assertEquals(0, hub.count("cdn", "GET"), "refused before any byte was fetched");
    }

    /**
     * The whole run swept: every step branch computed in step order, each download removed once its rows are stored, and
     * a rerun that fetches nothing: the model layer reads gpt_neox checkpoints (config.json's {@code model_type: gpt_neox}
     * and its sizes, the fused query_key_value rows ordered (head, {q, k, v}, d_h), the untied {@code embed_out}, F16
     * tensors) and skips the buffers old files carry.
     */
    @Test
    void sweepComputesEveryStepInOrderAndKeepsTheDiskOfOneCheckpoint() throws Exception {
        Path db = home.resolve("pythia.duckdb");
        String[] args = {"sweep", REPO, "--revisions", "step*", "--score", "--bag-size", "16", "--weights", "--db", db.toString()};
        String out = run(0, Map.of(), args);
        TinyPythia m = TinyPythia.DEFAULT;
        assertEquals(List.of("step0", "step1", "step2", "step4", "step1000"), strings(db, "SELECT revision FROM models ORDER BY step"), out);
        assertEquals(commits.values().stream().toList(), strings(db, "SELECT commit_sha FROM models ORDER BY step"));
        assertEquals(List.of("0", "1", "2", "4", "1000"), strings(db, "SELECT label FROM models ORDER BY step"));
        assertEquals(List.of("pytorch-zip"), strings(db, "SELECT DISTINCT format FROM models"));
        assertEquals(List.of("gpt_neox"), strings(db, "SELECT DISTINCT family FROM models"));
        assertEquals(5, count(db, "SELECT count(*) FROM models WHERE lower(architecture) LIKE '%neox%'"), "the architecture the model layer names");
        assertEquals(List.of(m.layers() + " " + m.heads() + " " + m.dModel() + " " + m.vocab()),
                strings(db, "SELECT DISTINCT layers || ' ' || heads || ' ' || d_model || ' ' || vocab FROM models"));
        assertEquals(5, count(db, "SELECT count(*) FROM models WHERE source LIKE 'hf:" + REPO + "@%'"));
        for (int i = 0; i < STEPS.length; i++) assertTrue(out.contains("[" + (i + 1) + "/5] " + REPO + "@step" + STEPS[i] + " (" + STEPS[i] + "): "), out);
        assertTrue(out.contains("5 computed, 0 skipped, 0 failed"), out);
        long heads = (long) m.layers() * m.heads();
        assertEquals(5 * heads * 4, count(db, "SELECT count(*) FROM results WHERE analysis = 'score'"), "score, centered, std_over_bags, rank per head");
        assertEquals(0, count(db, "SELECT count(*) FROM results WHERE analysis = 'score' AND (value IS NULL OR isnan(value))"));
        assertEquals(5 * heads, count(db, "SELECT count(*) FROM results WHERE metric = 'rank'"));
        assertEquals(0, count(db, "SELECT count(*) FROM results WHERE tensor LIKE '%attention.bias' OR tensor LIKE '%masked_bias' OR tensor LIKE '%inv_freq'"),
                "buffers are not weights");
        assertEquals(0, blobs(REPO), "each download removed once its checkpoint was stored");
        assertTrue(hub.requests.stream().noneMatch(r -> r.path().endsWith("/tokenizer.json")), "a sweep fetches no tokenizer");
        try (Stream<Path> s = Files.list(repoDir(REPO).resolve("snapshots"))) {
            assertEquals(List.of(), s.toList());
        }
        assertEquals(List.of(), incomplete());

        hub.requests.clear();
        String again = run(0, Map.of(), args);
        assertTrue(again.contains("0 computed, 5 skipped"), again);
        assertEquals(0, hub.count("hub", "HEAD") + hub.count("cdn", "GET"), hub.requests.toString());
    }

    private static long count(Path db, String sql) throws Exception {
        return HubSweepTest.count(db, sql);
    }

    private static List<String> strings(Path db, String sql) throws Exception {
        return HubSweepTest.strings(db, sql);
    }
}

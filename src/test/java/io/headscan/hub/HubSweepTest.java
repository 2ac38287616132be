package io.headscan.hub;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.format.SafetensorsFile;
import io.headscan.format.TensorInfo;
import io.headscan.model.Dims;
import io.headscan.model.HeadId;
import io.headscan.synth.SyntheticGpt2;
import io.headscan.testing.ChildJvm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A training run on the Hub, as the Stanford CRFM runs are published (one repository, a branch {@code checkpoint-N} per
 * step, only {@code pytorch_model.bin}), swept through the fake Hub on loopback in child JVMs: branches listed, ordered,
 * thinned and pinned; the fallback from safetensors to {@code .bin} and to shards; downloads removed after use unless
 * kept; the disk check; a kill mid-download and mid-compute; offline reruns from the cache's refs.
 */
class HubSweepTest {

    static final Dims DIMS = new Dims(400, 32, 2, 4, 64, 8);
    static final String REPO = "stanford-crfm/alias-gpt2-small-x21";
    static final int[] STEPS = {0, 10, 20, 100, 150, 2000};
    static final int ROWS = 2 * 4 * 4;   // heads x metrics of one score definition

    @TempDir
    Path home;
    FakeHub hub;
    final Map<Integer, String> commits = new java.util.HashMap<>();
    final Map<Integer, byte[]> bins = new java.util.HashMap<>();
    byte[] config;

    static String commit(int i) {
        return String.format("%040x", 0xc0ffee00L + i);
    }

    /** A synthetic checkpoint saved as GPT2LMHeadModel.state_dict() is: pytorch_model.bin only. */
    static byte[] bin(Path dir, long seed, HeadId plant) throws IOException {
        new SyntheticGpt2(DIMS, seed, List.of(plant)).asPyTorch(true).write(dir, 2);
        return Files.readAllBytes(dir.resolve("pytorch_model.bin"));
    }

    @BeforeEach
    void start() throws IOException {
        hub = new FakeHub();
        for (int k = 0; k < STEPS.length; k++) {
            Path d = home.resolve("src").resolve("c" + k);
            bins.put(k, bin(d, k, new HeadId(1, k % 4)));
            config = Files.readAllBytes(d.resolve("config.json"));
            commits.put(k, commit(k));
            hub.add(REPO, "checkpoint-" + STEPS[k], commit(k), "pytorch_model.bin", bins.get(k));
            hub.add(REPO, "checkpoint-" + STEPS[k], commit(k), "config.json", config);
        }
        hub.add(REPO, "main", commit(1000), "config.json", config);   // a revision without weights
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

    static long count(Path db, String sql) throws Exception {
        try (Connection c = io.headscan.sweep.DuckDbSink.connect(db); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    static List<String> strings(Path db, String sql) throws Exception {
        List<String> out = new ArrayList<>();
        try (Connection c = io.headscan.sweep.DuckDbSink.connect(db); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            while (rs.next()) out.add(rs.getString(1));
        }
        return out;
    }

    private List<Path> cacheFiles(String suffix) throws IOException {
        Path hf = home.resolve("hf");
        if (!Files.exists(hf)) return List.of();
        try (Stream<Path> s = Files.walk(hf)) {
            return s.filter(p -> p.getFileName().toString().endsWith(suffix)).toList();
        }
    }

    private Path repoDir() {
        return home.resolve("hf/hub/models--stanford-crfm--alias-gpt2-small-x21");
    }

    private long blobs() throws IOException {
        Path b = repoDir().resolve("blobs");
        if (!Files.isDirectory(b)) return 0;
        try (Stream<Path> s = Files.list(b)) {
            return s.count();
        }
    }

    @Test
    void branchesAreListedOrderedThinnedPinnedAndRemovedAfterUse() throws Exception {
        Path db = home.resolve("s.duckdb");
        String out = run(0, Map.of(), "sweep", "stanford-gpt2-small-a", "--revisions", "checkpoint-*", "--steps", "10-2000", "--every", "2",
                "--score", "--bag-size", "16", "--db", db.toString());
        // steps 10, 20, 100, 150, 2000 in step order (not as strings: 10 < 100 < 150 < 20 < 2000), every second
        assertEquals(List.of("checkpoint-10", "checkpoint-100", "checkpoint-2000"),
                strings(db, "SELECT revision FROM models ORDER BY step"), out);
        assertEquals(List.of(commit(1), commit(3), commit(5)), strings(db, "SELECT commit_sha FROM models ORDER BY step"));
        assertEquals(List.of("pytorch-zip"), strings(db, "SELECT DISTINCT format FROM models"), "the fallback to pytorch_model.bin");
        assertEquals(3, count(db, "SELECT count(*) FROM models WHERE source LIKE 'hf:stanford-crfm/alias-gpt2-small-x21@%'"),
                "the TransformerLens name resolves to the CRFM repository");
        assertTrue(out.contains("[1/3] stanford-gpt2-small-a@checkpoint-10 (10): custom GPT-2 layout, 2x4") && out.contains("downloaded in"), out);
        assertTrue(out.matches("(?s).*sweep: 3 checkpoints: 3 computed, 0 skipped, 0 failed in .* bytes downloaded \\(removed after use\\).*"), out);
        assertEquals(1, count(db, "SELECT count(*) FROM scores WHERE step = 100 AND metric = 'rank' AND value = 1 AND layer = 1 AND head = 3"),
                "each checkpoint's own planted head ranks first");
        assertEquals(0, blobs(), "what the sweep downloaded is gone from the cache");
        assertEquals(List.of(), cacheFiles(".incomplete"));
        try (Stream<Path> s = Files.list(repoDir().resolve("snapshots"))) {
            assertEquals(List.of(), s.toList(), "no snapshot left, whole or half");
        }

        // rerun: pinned, done, nothing downloaded (not even a HEAD)
        hub.requests.clear();
        String again = run(0, Map.of(), "sweep", "stanford-gpt2-small-a", "--revisions", "checkpoint-*", "--steps", "10-2000", "--every", "2",
                "--score", "--bag-size", "16", "--db", db.toString());
        assertTrue(again.contains("3 skipped"), again);
        assertEquals(0, hub.count("hub", "HEAD") + hub.count("cdn", "GET"), hub.requests.toString());

        // a branch moves: that checkpoint is a new one (another commit), the others are still done
        Path moved = home.resolve("src").resolve("moved");
        byte[] other = bin(moved, 77, new HeadId(0, 0));
        hub.add(REPO, "checkpoint-100", commit(99), "pytorch_model.bin", other);
        hub.add(REPO, "checkpoint-100", commit(99), "config.json", config);
        String third = run(0, Map.of(), "sweep", "stanford-gpt2-small-a", "--revisions", "checkpoint-*", "--steps", "10-2000", "--every", "2",
                "--score", "--bag-size", "16", "--db", db.toString());
        assertTrue(third.contains("1 computed, 2 skipped"), third);
        assertEquals(List.of(commit(3), commit(99)), strings(db, "SELECT commit_sha FROM models WHERE revision = 'checkpoint-100' ORDER BY model_id"),
                "the move is visible in the models table");
    }

    @Test
    void keepDownloadsKeepsThemAndWhatWasCachedBeforeIsNeverTouched() throws Exception {
        // checkpoint-0 is in the cache before the sweep (a plain download)
        run(0, Map.of(), "download", REPO, "--revision", "checkpoint-0");
        Path snap0 = repoDir().resolve("snapshots").resolve(commit(0));
        assertTrue(Files.isRegularFile(snap0.resolve("pytorch_model.bin")));
        Path db = home.resolve("k.duckdb");
        run(0, Map.of(), "sweep", REPO, "--revisions", "checkpoint-0,checkpoint-1?", "--score", "--bag-size", "16", "--db", db.toString());
        assertTrue(Files.isRegularFile(snap0.resolve("pytorch_model.bin")), "cached before the sweep: kept");
        assertFalse(Files.exists(repoDir().resolve("snapshots").resolve(commit(1))), "downloaded by the sweep: removed");
        assertEquals(2, blobs(), "checkpoint-0's weights and config.json");
        Path db2 = home.resolve("k2.duckdb");
        run(0, Map.of(), "sweep", REPO, "--revisions", "checkpoint-1?", "--keep-downloads", "--score", "--bag-size", "16", "--db", db2.toString());
        assertTrue(Files.isRegularFile(repoDir().resolve("snapshots").resolve(commit(1)).resolve("pytorch_model.bin")));
        assertArrayEquals(bins.get(1), Files.readAllBytes(repoDir().resolve("snapshots").resolve(commit(1)).resolve("pytorch_model.bin")));

        // offline: the branches come from the cache's refs; checkpoint-0 and checkpoint-10 are cached
        Path db3 = home.resolve("k3.duckdb");
        hub.requests.clear();
        String off = run(0, Map.of("HF_HUB_OFFLINE", "1"), "sweep", REPO, "--revisions", "checkpoint-*", "--score", "--bag-size", "16",
                "--db", db3.toString());
        assertEquals(List.of("checkpoint-0", "checkpoint-10"), strings(db3, "SELECT revision FROM models ORDER BY step"), off);
        assertTrue(hub.requests.isEmpty(), "offline: zero HTTP calls");
    }

    @Test
    void shardedAndSafetensorsRevisionsAreFetchedInTheirForm() throws Exception {
        // one revision with sharded safetensors, one with model.safetensors beside a pytorch_model.bin (safetensors wins)
        Path whole = home.resolve("src").resolve("whole");
        new SyntheticGpt2(DIMS, 9, List.of(new HeadId(1, 2))).write(whole, 2);
        Map<String, byte[]> shardFiles = new java.util.LinkedHashMap<>();
        StringBuilder map = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        try (SafetensorsFile f = SafetensorsFile.open(whole.resolve("model.safetensors"))) {
            List<TensorInfo> ts = f.tensors();
            for (int s = 0; s < 2; s++) {
                String name = "model-0000" + (s + 1) + "-of-00002.safetensors";
                var w = new io.headscan.format.SafetensorsWriter();
                for (TensorInfo t : s == 0 ? ts.subList(0, ts.size() / 2) : ts.subList(ts.size() / 2, ts.size())) {
                    w.add(t.name(), t.dtype(), t.shape(), seg -> seg.copyFrom(f.segment(t)));
                    map.append('"').append(t.name()).append("\": \"").append(name).append("\",");
                }
                Path p = home.resolve(name);
                w.write(p);
                shardFiles.put(name, Files.readAllBytes(p));
            }
        }
        map.setLength(map.length() - 1);
        map.append("}}");
        String sharded = commit(50);
        hub.add(REPO, "sharded", sharded, "model.safetensors.index.json", map.toString().getBytes());
        shardFiles.forEach((n, b) -> hub.add(REPO, "sharded", sharded, n, b));
        hub.add(REPO, "sharded", sharded, "config.json", config);
        String both = commit(51);
        hub.add(REPO, "both", both, "model.safetensors", Files.readAllBytes(whole.resolve("model.safetensors")));
        hub.add(REPO, "both", both, "pytorch_model.bin", bins.get(0));
        hub.add(REPO, "both", both, "config.json", config);
        Path db = home.resolve("f.duckdb");
        String out = run(0, Map.of(), "sweep", REPO + "@sharded", REPO + "@both", "--score", "--bag-size", "16", "--db", db.toString());
        assertEquals(List.of("sharded-safetensors", "safetensors"), strings(db, "SELECT format FROM models ORDER BY model_id"), out);
        assertEquals(0, hub.requests.stream().filter(r -> r.path().endsWith("/both/pytorch_model.bin")).count(), "safetensors is looked for first");
        String dl = run(0, Map.of(), "download", REPO, "--revision", "sharded");
        assertTrue(dl.contains("model.safetensors.index.json") && dl.contains("model-00002-of-00002.safetensors") && dl.contains("config.json"), dl);
        String none = run(1, Map.of(), "download", REPO, "--revision", "main");
        assertTrue(none.contains("at revision main has no weights headscan reads: looked for model.safetensors, model.safetensors.index.json, "
                + "pytorch_model.bin, pytorch_model.bin.index.json"), none);
    }

    @Test
    void theDiskCheckRefusesADownloadThatWouldNotFit() throws Exception {
        Path db = home.resolve("d.duckdb");
        String out = run(1, Map.of("HEADSCAN_MIN_FREE_DISK", Long.toString(Long.MAX_VALUE / 2)), "sweep", REPO, "--revisions", "checkpoint-0",
                "--score", "--bag-size", "16", "--db", db.toString());
        assertTrue(out.contains("FAILED: not enough disk space for " + REPO + "/pytorch_model.bin"), out);
        assertEquals(1, count(db, "SELECT count(*) FROM errors WHERE message LIKE 'not enough disk space%'"));
        assertEquals(0, hub.count("cdn", "GET"), "refused before any byte was fetched");
    }

    @Test
    void aKillMidDownloadAndMidComputeThenARerunLeaveNoPartialsOrDuplicates() throws Exception {
        Path db = home.resolve("x.duckdb");
        String[] args = {"sweep", REPO, "--revisions", "checkpoint-*", "--score", "--bag-size", "16", "--db", db.toString()};
        hub.stallAfterBytes = 50_000;   // the first transfer hangs part-way: kill the sweep there
        try (ChildJvm c = child(Map.of(), args)) {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (cacheFiles(".incomplete").isEmpty() || Files.size(cacheFiles(".incomplete").getFirst()) < 50_000) {
                assertTrue(c.process().isAlive(), c.output());
                assertTrue(System.nanoTime() < deadline, c.output());
                Thread.sleep(20);
            }
            c.signal("KILL");
            c.waitFor(1);
        }
        assertEquals(1, cacheFiles(".incomplete").size(), "a kill leaves the partial download, which the next run resumes");
        hub.stallAfterBytes = -1;
        hub.bytesPerSecond = 400_000;   // slow enough to kill the rerun while it computes one and downloads the next
        try (ChildJvm c = child(Map.of(), args)) {
            long deadline = System.nanoTime() + 120_000_000_000L;
            while (!c.output().contains("[2/6]")) {
                assertTrue(c.process().isAlive(), c.output());
                assertTrue(System.nanoTime() < deadline, c.output());
                Thread.sleep(10);
            }
            c.signal("KILL");
            c.waitFor(1);
        }
        assertTrue(hub.requests.stream().anyMatch(r -> r.range() != null && r.range().startsWith("bytes=")), "the second run resumed with Range");
        long done = count(db, "SELECT count(*) FROM models");
        assertTrue(done >= 2 && done < 6, done + " checkpoints before the second kill");
        hub.bytesPerSecond = 0;
        String last = run(0, Map.of(), args);
        assertTrue(last.contains(done + " skipped"), last);
        assertEquals(6, count(db, "SELECT count(*) FROM models"));
        assertEquals(6L * ROWS, count(db, "SELECT count(*) FROM results"), "every checkpoint once");
        assertEquals(List.of(), cacheFiles(".incomplete"), "no partial download left");
        assertEquals(0, blobs(), "and nothing the sweeps downloaded");
        try (Stream<Path> s = Files.list(repoDir().resolve("snapshots"))) {
            assertEquals(List.of(), s.toList(), "no snapshot left, whole or half");
        }
    }

    @Test
    void anInterruptMidDownloadRemovesThePartialFile() throws Exception {
        boolean intIgnored = ChildJvm.ignored(2);
        String signal = intIgnored ? "TERM" : "INT";
        hub.stallAfterBytes = 50_000;
        Path db = home.resolve("i.duckdb");
        try (ChildJvm c = child(Map.of(), "sweep", REPO, "--revisions", "checkpoint-0", "--score", "--bag-size", "16", "--db", db.toString())) {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (cacheFiles(".incomplete").isEmpty() || Files.size(cacheFiles(".incomplete").getFirst()) < 50_000) {
                assertTrue(c.process().isAlive(), c.output());
                assertTrue(System.nanoTime() < deadline, c.output());
                Thread.sleep(20);
            }
            c.signal(signal);
            assertEquals(intIgnored ? 143 : 130, c.waitFor(1), c.output());
        }
        assertEquals(List.of(), cacheFiles(".incomplete"), "a sweep's partial download goes with the interrupt");
        assertEquals(0, count(db, "SELECT count(*) FROM models"));
    }

    @Test
    void revisionsNeedAHubIdAndAMatch() throws Exception {
        String local = run(2, Map.of(), "sweep", home.toString(), "--revisions", "checkpoint-*", "--score");
        assertTrue(local.contains("--revisions lists a Hub repository's branches"), local);
        String none = run(1, Map.of(), "sweep", REPO, "--revisions", "step-*", "--score", "--db", home.resolve("n.duckdb").toString());
        assertTrue(none.contains("has no branch or tag matching step-*"), none);
        String steps = run(2, Map.of(), "sweep", REPO, "--steps", "5-1", "--score");
        assertTrue(steps.contains("--steps and --every thin a series listed with --revisions"), steps);
    }
}

package io.headscan.hub;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.model.Dims;
import io.headscan.model.HeadId;
import io.headscan.synth.SyntheticGpt2;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import io.headscan.testing.ChildJvm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Models by name, end to end, in child JVMs (so the environment variables are real): `download` and
 * `score gpt2` against the fake Hub on loopback, two processes downloading at once, and offline mode.
 */
class HubCliTest {

    @TempDir
    Path home;
    FakeHub hub;
    byte[] weights;

    @BeforeEach
    void start() throws IOException {
        Path m = home.resolve("synth");
        new SyntheticGpt2(new Dims(50257, 64, 2, 2, 128, 8), 1, List.of(new HeadId(1, 0))).write(m, 2);
        weights = Files.readAllBytes(m.resolve("model.safetensors"));
        hub = new FakeHub();
        hub.add("openai-community/gpt2", "main", FakeHub.COMMIT, "model.safetensors", weights);
        hub.add("openai-community/gpt2", "main", FakeHub.COMMIT, "config.json", Files.readAllBytes(m.resolve("config.json")));
    }

    @AfterEach
    void stop() {
        hub.close();
    }

    record Result(int code, String out) {}

    private ChildJvm start(Map<String, String> env, String... args) throws IOException {
        Map<String, String> e = new java.util.HashMap<>();
        e.put("HF_HOME", home.resolve("hf").toString());
        e.put("HF_ENDPOINT", hub.endpoint().toString());
        e.put("HEADSCAN_CACHE", home.resolve("headscan-cache").toString());
        e.putAll(env);
        List<String> remove = List.of("HF_HUB_OFFLINE", "HF_TOKEN");
        ChildJvm c = ChildJvm.start(Files.createTempFile(home, "child", ".log"), List.of("-Xmx256m"), e, remove, args);
        return c;
    }

    private static Result finish(ChildJvm c) throws Exception {
        int code = c.waitFor(3);
        return new Result(code, c.output());
    }

    private List<Path> files(String suffix) throws IOException {
        try (Stream<Path> s = Files.walk(home.resolve("hf"))) {
            return s.filter(p -> p.getFileName().toString().endsWith(suffix)).toList();
        }
    }

    @Test
    void scoreGpt2DownloadsOnFirstUseThenWorksOffline() throws Exception {
        Result r = finish(start(Map.of(), "score", "gpt2", "--top", "3"));
        assertEquals(0, r.code(), r.out());
        assertTrue(r.out().contains("downloaded gpt2 model.safetensors"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.matches("\\s+1\\s+1\\.0\\s.*")), "the planted head ranks first: " + r.out());
        long calls = hub.requests.size();
        Result offline = finish(start(Map.of("HF_HUB_OFFLINE", "1"), "inspect", "gpt2"));
        assertEquals(0, offline.code(), offline.out());
        assertTrue(offline.out().contains("2 layers x 2 heads (config.json n_head)"), offline.out());
        assertEquals(calls, hub.requests.size(), "offline: zero HTTP calls");
        // sweep resolves hub ids the same way (here from the cache, offline), with a revision
        Path db = home.resolve("hub.duckdb");
        Result sweep = finish(start(Map.of("HF_HUB_OFFLINE", "1"), "sweep", "gpt2@main", "openai-community/gpt2", "--score", "--bag-size", "16",
                "--db", db.toString()));
        assertEquals(0, sweep.code(), sweep.out());
        assertTrue(sweep.out().contains("[1/2] gpt2: ") && sweep.out().contains("[2/2] openai-community/gpt2: "), sweep.out());
        // one checkpoint under two names: the legacy id and the canonical one are the same repository and commit
        assertTrue(sweep.out().contains("1 computed, 1 skipped"), sweep.out());
        assertTrue(sweep.out().contains("[2/2] openai-community/gpt2: already in hub.duckdb, skipped"), sweep.out());
        assertEquals(calls, hub.requests.size(), "offline: zero HTTP calls");
    }

    @Test
    void offlineWithoutCacheSaysWhatToDo() throws Exception {
        Result r = finish(start(Map.of("HF_HUB_OFFLINE", "1"), "score", "gpt2"));
        assertEquals(1, r.code());
        assertTrue(r.out().contains("HF_HUB_OFFLINE is set") && r.out().contains("copy its weights and config.json"), r.out());
        assertEquals(1, r.out().strip().lines().count(), r.out());
        assertTrue(hub.requests.isEmpty());
    }

    @Test
    void networkDownWithoutCacheSaysWhatToDo() throws Exception {
        hub.close();
        Result r = finish(start(Map.of(), "score", "gpt2"));
        assertEquals(1, r.code());
        assertTrue(r.out().contains("cannot reach") && r.out().contains("copy its weights (with config.json)"), r.out());
    }

    @Test
    void twoProcessesDownloadingTheSameFileLeaveOneBlob() throws Exception {
        hub.cdnDelayMillis = 500;
        ChildJvm a = start(Map.of(), "download", "gpt2");
        ChildJvm b = start(Map.of(), "download", "gpt2");
        Result ra = finish(a), rb = finish(b);
        assertEquals(0, ra.code(), ra.out());
        assertEquals(0, rb.code(), rb.out());
        assertEquals(1, hub.count("cdn", "GET"), "the flock makes the second process wait and reuse the blob");
        assertTrue(files(".incomplete").isEmpty());
        Path blobs = home.resolve("hf/hub/models--openai-community--gpt2/blobs");
        try (Stream<Path> s = Files.list(blobs)) {
            assertEquals(2, s.count(), "one blob for the weights, one for config.json");
        }
        assertArrayEquals(weights, Files.readAllBytes(blobs.resolve(FakeHub.sha256(weights))));
        assertTrue(Files.exists(home.resolve("hf/hub/.locks/models--openai-community--gpt2").resolve(FakeHub.sha256(weights) + ".lock")));
    }

    @Test
    void downloadErrorsAreOneLine() throws Exception {
        Result r = finish(start(Map.of(), "download", "nobody/nothing"));
        assertEquals(1, r.code());
        assertTrue(r.out().startsWith("headscan: no model repository 'nobody/nothing'"), r.out());
        Result rev = finish(start(Map.of(), "download", "gpt2", "--revision", "v7"));
        assertEquals(1, rev.code());
        assertTrue(rev.out().contains("no revision 'v7'"), rev.out());
    }
}

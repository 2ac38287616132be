package io.headscan.hub;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.testing.ChildJvm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hub ids of the part-2 families, against a real HTTP server on loopback: a sharded Llama (index and seven shards
 * written by transformers) is fetched and scored by its id, and OLMo's step branches are downloaded in step order.
 */
class HubFamiliesTest {

    static final Path FAMILIES = Path.of("src/test/resources/families");

    @TempDir
    Path home;
    FakeHub hub;

    @BeforeEach
    void start() throws IOException {
        hub = new FakeHub();
    }

    @AfterEach
    void stop() {
        hub.close();
    }

    private String run(String... args) throws Exception {
        ChildJvm c = hub.headscan(home, Map.of(), args);
        int code = c.waitFor(3);
        assertEquals(0, code, c.output());
        return c.output();
    }

    private void addFolder(String repo, String revision, String commit, Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            for (Path p : s.filter(Files::isRegularFile).filter(p -> !p.getFileName().toString().equals("expected.json")).toList()) {
                hub.add(repo, revision, commit, p.getFileName().toString(), Files.readAllBytes(p));
            }
        }
    }

    @Test
    void aShardedLlamaIsFetchedAndScoredByItsId() throws Exception {
        String repo = "tiny-org/llama-sharded";
        addFolder(repo, "main", "a".repeat(40), FAMILIES.resolve("llama/sharded"));
        String out = run("score", repo, "--bag-size", "8", "--bag-count", "2");
        assertTrue(out.contains("kv head"), "the grouped-query column: " + out);
        Path snap = home.resolve("hf/hub/models--tiny-org--llama-sharded/snapshots/" + "a".repeat(40));
        for (int i = 1; i <= 7; i++) assertTrue(Files.exists(snap.resolve(String.format("model-%05d-of-00007.safetensors", i))), out);
        assertTrue(Files.exists(snap.resolve("model.safetensors.index.json")));
        // the same numbers as the local folder
        String local = run("score", FAMILIES.resolve("llama/sharded").toString(), "--bag-size", "8", "--bag-count", "2");
        assertEquals(table(local), table(out));
    }

    private static List<String> table(String out) {
        return out.lines().filter(l -> l.matches("\\s+\\d+\\s+\\d+\\.\\d+\\s.*")).toList();
    }

    @Test
    void olmoStepBranchesDownloadInStepOrder() throws Exception {
        String repo = "allenai/OLMo-tiny-hf";
        long[] steps = {20000, 1000, 330000, 0};
        for (long s : steps) addFolder(repo, "step" + s + "-tokens" + (s * 4) + "B", String.format("%040x", 0xa1000L + s), FAMILIES.resolve("olmo"));
        String out = run("download", repo, "--revisions", "step*");
        List<String> order = out.lines().filter(l -> l.startsWith("[")).map(l -> l.substring(l.indexOf(' ') + 1, l.indexOf(':'))).toList();
        assertEquals(List.of(repo + "@step0-tokens0B (0)", repo + "@step1000-tokens4000B (1000)", repo + "@step20000-tokens80000B (20000)",
                repo + "@step330000-tokens1320000B (330000)"), order, out);
    }
}

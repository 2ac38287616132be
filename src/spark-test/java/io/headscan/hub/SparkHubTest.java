package io.headscan.hub;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.model.Dims;
import io.headscan.model.HeadId;
import io.headscan.synth.SyntheticGpt2;
import io.headscan.testing.ChildJvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Hub checkpoints on Spark: the branches listed and pinned on the driver, each revision resolved by the executor that
 * computes it, against the fake Hub on loopback, into that executor's Hugging Face cache, and removed from it after use;
 * a rerun of the pinned series fetches nothing.
 */
class SparkHubTest {

    static final Dims DIMS = new Dims(400, 32, 2, 4, 64, 8);
    static final String REPO = "stanford-crfm/alias-gpt2-small-x21";

    @TempDir
    Path home;

    @Test
    void hubRevisionsAreResolvedOnTheExecutorsPinnedAndCleanedUp() throws Exception {
        try (FakeHub hub = new FakeHub()) {
            for (int k = 0; k < 4; k++) {
                Path d = home.resolve("src").resolve("c" + k);
                new SyntheticGpt2(DIMS, k, List.of(new HeadId(1, k))).asPyTorch(true).write(d, 2);
                String commit = String.format("%040x", 0xabc00L + k);
                hub.add(REPO, "checkpoint-" + (k * 10), commit, "pytorch_model.bin", Files.readAllBytes(d.resolve("pytorch_model.bin")));
                hub.add(REPO, "checkpoint-" + (k * 10), commit, "config.json", Files.readAllBytes(d.resolve("config.json")));
            }
            Path out = home.resolve("ds");
            Map<String, String> env = new java.util.HashMap<>(Map.of("HF_HOME", home.resolve("hf").toString(), "HF_ENDPOINT", hub.endpoint().toString(),
                    "SPARK_LOCAL_IP", "127.0.0.1", "SPARK_LOCAL_HOSTNAME", "localhost"));
            String[] args = {"sweep", "stanford-gpt2-small-a", "--revisions", "checkpoint-*", "--score", "--bag-size", "16", "--spark", "local[2]",
                    "--out", out.toString()};
            ChildJvm c = ChildJvm.start(Files.createTempFile(home, "s", ".log"), io.headscan.spark.SparkAccess.jvm(), env, List.of("HF_HUB_OFFLINE", "HF_TOKEN"), args);
            assertEquals(0, c.waitFor(4), c.output());
            assertTrue(c.output().contains("] stanford-gpt2-small-a@checkpoint-0 (0): ") && c.output().contains("pytorch-zip, on executor driver@")
                    && c.output().contains("downloaded in"), c.output());
            List<String> commits = new ArrayList<>();
            try (Connection db = io.headscan.sweep.ParquetDataset.open(out); Statement s = db.createStatement();
                 ResultSet rs = s.executeQuery("SELECT commit_sha FROM models ORDER BY step")) {
                while (rs.next()) commits.add(rs.getString(1));
            }
            assertEquals(List.of(String.format("%040x", 0xabc00L), String.format("%040x", 0xabc01L), String.format("%040x", 0xabc02L),
                    String.format("%040x", 0xabc03L)), commits, "each revision pinned to its commit");
            try (Stream<Path> s = Files.walk(home.resolve("hf"))) {
                assertEquals(List.of(), s.filter(p -> p.toString().contains("/blobs/") && Files.isRegularFile(p)).toList(), "downloads removed after use");
            }
            hub.requests.clear();
            ChildJvm again = ChildJvm.start(Files.createTempFile(home, "s", ".log"), io.headscan.spark.SparkAccess.jvm(), env,
                    List.of("HF_HUB_OFFLINE", "HF_TOKEN"), args);
            assertEquals(0, again.waitFor(4), again.output());
            assertTrue(again.output().contains("0 computed, 4 skipped"), again.output());
            assertEquals(0, hub.count("hub", "HEAD") + hub.count("cdn", "GET"), "a pinned series already committed fetches nothing");
        }
    }

    /**
     * A download that fails on the executor (every transfer of its first task attempt cut by the CDN, more times than the
     * downloader retries by itself) is a failure of the task, not of the checkpoint: Spark runs the task again (local
     * mode with retries) and the second attempt, whose transfer goes through, computes it. A revision that does not
     * exist is the checkpoint's own failure: recorded by its first attempt, not retried.
     */
    @Test
    void aCutTransferIsRetriedByASecondTaskAndAMissingRevisionIsNot() throws Exception {
        try (FakeHub hub = new FakeHub()) {
            Path d = home.resolve("src");
            new SyntheticGpt2(DIMS, 5, List.of(new HeadId(1, 2))).asPyTorch(true).write(d, 2);
            String commit = String.format("%040x", 0xdef01L);
            hub.add(REPO, "checkpoint-10", commit, "pytorch_model.bin", Files.readAllBytes(d.resolve("pytorch_model.bin")));
            hub.add(REPO, "checkpoint-10", commit, "config.json", Files.readAllBytes(d.resolve("config.json")));
            hub.cutAfterBytes = 0;
            hub.cutsLeft.set(5);   // the downloader's own attempts (HubDownloader.MAX_ATTEMPTS): all of the first task's
            Path out = home.resolve("ds");
            Map<String, String> env = new java.util.HashMap<>(Map.of("HF_HOME", home.resolve("hf").toString(), "HF_ENDPOINT", hub.endpoint().toString(),
                    "SPARK_LOCAL_IP", "127.0.0.1", "SPARK_LOCAL_HOSTNAME", "localhost"));
            ChildJvm c = ChildJvm.start(Files.createTempFile(home, "s", ".log"), io.headscan.spark.SparkAccess.jvm(), env, List.of("HF_HUB_OFFLINE", "HF_TOKEN"),
                    "sweep", REPO + "@checkpoint-10", REPO + "@checkpoint-99", "--score", "--bag-size", "16", "--spark", "local[2]", "--out", out.toString());
            assertEquals(1, c.waitFor(4), "one checkpoint failed: " + c.output());
            assertTrue(c.output().contains("1 computed, 0 skipped, 1 failed"), c.output());
            assertEquals(6, hub.count("cdn", "GET"), "five transfers cut (the first attempt's), then one whole (the second's)");
            try (Connection db = io.headscan.sweep.ParquetDataset.open(out); Statement s = db.createStatement()) {
                try (ResultSet rs = s.executeQuery("SELECT task_attempt, commit_sha FROM models")) {
                    assertTrue(rs.next());
                    assertEquals(1, rs.getInt(1), "computed by the task's second attempt");
                    assertEquals(commit, rs.getString(2));
                    assertFalse(rs.next());
                }
                try (ResultSet rs = s.executeQuery("SELECT task_attempt, message FROM errors")) {
                    assertTrue(rs.next());
                    assertEquals(0, rs.getInt(1), "the missing revision is recorded by the first attempt, not retried: " + rs.getString(2));
                    assertTrue(rs.getString(2).contains("checkpoint-99"), rs.getString(2));
                    assertFalse(rs.next());
                }
            }
        }
    }
}

package io.headscan.spark;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.model.Dims;
import io.headscan.model.HeadId;
import io.headscan.synth.SyntheticGpt2;
import io.headscan.testing.ChildJvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A driver killed in the middle of committing a checkpoint (docs/spark.md, "Results"): the driver JVM is stopped at a
 * chosen change to the dataset's checkpoint tables ({@link PausingFileSystem}) and killed with SIGKILL there. The
 * checkpoint is named twice (its folder and its weights file: one source, one content, one model id), so that a driver
 * that has committed it is asked to commit it again.
 */
class SparkCommitTest {

    static final Dims DIMS = new Dims(400, 32, 3, 4, 64, 8);
    static final int ROWS = 3 * 4 * 4;   // heads x the score's metrics, one definition

    @TempDir
    Path dir;
    Path checkpoint;

    @BeforeEach
    void checkpoint() throws Exception {
        checkpoint = dir.resolve("run/checkpoint-1");
        new SyntheticGpt2(DIMS, 7, List.of(new HeadId(2, 1))).write(checkpoint, 2);
    }

    /** The sweep of the checkpoint under its two names into {@code out}, through {@link PausingFileSystem}. */
    private String[] sweep(Path out) {
        return new String[] {"sweep", checkpoint.toString(), checkpoint.resolve("model.safetensors").toString(), "--score", "--bag-size", "16",
                "--spark", "local[2]", "--out", out.toString(), "--conf", "spark.hadoop.fs.file.impl=" + PausingFileSystem.class.getName(),
                "--conf", "spark.hadoop.fs.file.impl.disable.cache=true", "--conf", "spark.ui.enabled=false"};   // no web UI: a second less per run
    }

    /**
     * Runs the sweep pausing at {@code at}; kills it there and returns what it was doing, or returns null when it ran to
     * the end without pausing (then it must have exited 0, with {@code expected} in its summary).
     */
    private String killAt(String at, Path out, String expected) throws Exception {
        Path marker = dir.resolve("paused-" + out.getFileName() + "-" + at);
        try (ChildJvm driver = SparkRun.start(Files.createTempFile(dir, "driver", ".log"),
                List.of("-Dheadscan.test.pauseAt=" + at, "-Dheadscan.test.pauseMarker=" + marker), Map.of(), sweep(out))) {
            long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(3);
            while (!Files.exists(marker) && driver.process().isAlive()) {
                assertTrue(System.nanoTime() < deadline, "neither paused nor finished: " + driver.output());
                Thread.sleep(20);
            }
            if (!Files.exists(marker)) {
                assertEquals(0, driver.waitFor(1), driver.output());
                assertTrue(driver.output().contains(expected), expected + ": " + driver.output());
                return null;
            }
            driver.process().destroyForcibly().waitFor(30, TimeUnit.SECONDS);   // SIGKILL: no shutdown hook, no finally block runs
            return Files.readString(marker);
        }
    }

    /**
     * The moment a driver that replaced committed files lost them: the second commit of a checkpoint committed moments
     * before deleted its results file to put the new one in its place, so a kill there left the done file without
     * results, and the next run skipped the checkpoint. Now no committed file is ever deleted (a second commit of the
     * same model id in one run is skipped): the kill has no moment to happen at, and the run commits the checkpoint once.
     */
    @Test
    void aDriverKilledWhereReplacingACommittedFileLostItLosesNothing() throws Exception {
        Path out = dir.resolve("ds");
        String point = killAt("delete-committed", out, "1 computed, 1 skipped");
        if (point != null) {
            assertEquals(SparkRun.count(out, "SELECT count(DISTINCT model_id) FROM done") * ROWS, SparkRun.count(out, "SELECT count(*) FROM results"),
                    "killed after " + point + ": a committed checkpoint must keep its results");
            fail("a committed file was deleted: " + point);
        }
        assertOnce(out);
    }

    /**
     * A kill after each change a commit makes, from its first file to its done file, in turn, each rerun being the next
     * run that is killed: after every kill the dataset holds the checkpoint wholly or not at all (the files of an
     * unfinished write are never read), a rerun commits it again only while it is not committed, and the run that finds
     * it committed computes nothing; in the end it is there exactly once.
     */
    @Test
    void aDriverKilledAtEachPointOfACommitLeavesTheCheckpointWhollyOrNotAtAll() throws Exception {
        Path out = dir.resolve("ds");
        List<String> points = new ArrayList<>();
        boolean committed = false;
        for (int k = 1; ; k++) {
            assertTrue(k <= 40, "a commit of one checkpoint that changes the dataset more than 40 times: " + points);
            String point = killAt(Integer.toString(k), out, committed ? "0 computed, 2 skipped" : "1 computed, 1 skipped");
            if (point == null) break;
            assertFalse(committed, "a run after the checkpoint was committed changed the dataset again: " + point);
            points.add(point);
            committed = SparkRun.count(out, "SELECT count(DISTINCT model_id) FROM done") == 1;
            long models = SparkRun.count(out, "SELECT count(*) FROM models"), results = SparkRun.count(out, "SELECT count(*) FROM results");
            assertEquals(committed ? List.of(1L, (long) ROWS) : List.of(0L, 0L), List.of(models, results),
                    "killed after " + point + ": " + (committed ? "committed, so every row is there" : "not committed, so no row is visible"));
        }
        assertTrue(committed, "the last kill was after the done file was in place: " + points);
        assertOnce(out);
        // the kills covered the whole commit: each table's file created and renamed into place, the done file last
        for (String table : List.of("results", "models", "done")) {
            assertTrue(points.stream().anyMatch(p -> p.contains(" create ") && p.contains("/" + table + "/")), table + " created: " + points);
            assertTrue(points.stream().anyMatch(p -> p.contains(" rename ") && p.contains("/" + table + "/")), table + " renamed: " + points);
        }
        assertTrue(points.getLast().contains(" rename ") && points.getLast().contains("/done/"), "the done file is the last change: " + points);
    }

    /** The checkpoint is in the dataset once: one models row, its results once, no key twice among the current scores. */
    private static void assertOnce(Path out) throws Exception {
        assertEquals(1, SparkRun.count(out, "SELECT count(*) FROM models"));
        assertEquals(1, SparkRun.count(out, "SELECT count(*) FROM done"));
        assertEquals(ROWS, SparkRun.count(out, "SELECT count(*) FROM results"));
        assertEquals(ROWS, SparkRun.count(out, "SELECT count(*) FROM scores"));
        assertEquals(0, SparkRun.count(out, "SELECT count(*) FROM (SELECT definition, layer, head, metric FROM scores GROUP BY ALL HAVING count(*) > 1)"));
    }
}

package io.headscan.cli;

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
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** `headscan sweep` as a user runs it: its lines, exit codes, exports, and a sweep killed half-way and run again. */
class SweepCliTest {

    @TempDir
    Path dir;

    private Path series(int n, Dims dims) throws Exception {
        Path run = dir.resolve("run");
        for (int i = 1; i <= n; i++) {
            new SyntheticGpt2(dims, i, List.of(new HeadId(dims.layers() - 1, i % dims.heads()))).write(run.resolve("step_" + (10 * i)), 2);
        }
        return run;
    }

    private static long count(Path db, String sql) throws Exception {
        try (Connection c = io.headscan.sweep.DuckDbSink.connect(db); Statement s = c.createStatement();
             ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void aSweepPrintsALinePerCheckpointExportsAndExitsOneWhenAMemberFails() throws Exception {
        Path run = series(3, new Dims(300, 32, 2, 4, 64, 8));
        Files.writeString(run.resolve("step_25.safetensors"), "junk");
        Path db = dir.resolve("s.duckdb"), csv = dir.resolve("s.csv");
        CliRun r = CliRun.of("sweep", run + "/step_*", "--score", "--bag-size", "16", "--db", db.toString(), "--export", csv.toString());
        assertEquals(1, r.code(), r.out() + r.err());
        List<String> lines = r.out().lines().toList();
        assertTrue(lines.get(0).startsWith("[1/4] " + run + "/step_10 (10): custom GPT-2 layout, 2x4, F32:"), r.out());
        assertTrue(lines.get(2).startsWith("[3/4] " + run + "/step_25.safetensors (25): FAILED: "), r.out());
        assertTrue(r.out().contains("sweep: 4 checkpoints: 3 computed, 0 skipped, 1 failed"), r.out());
        assertEquals(3 * 8 * 4 + 1, Files.readAllLines(csv).size(), "3 checkpoints x 8 heads x 4 metrics, and the header");
        assertEquals(1, count(db, "SELECT count(*) FROM errors"));

        Path png = dir.resolve("series.png");
        CliRun again = CliRun.of("sweep", run + "/step_1*", run + "/step_2*", run + "/step_3*", "--score", "--bag-size", "16", "--db", db.toString(),
                "--plot", png.toString());
        assertEquals(1, again.code(), "the broken member still fails");
        assertTrue(again.out().contains("3 skipped") && again.out().contains("plot written to " + png), again.out());
        assertTrue(javax.imageio.ImageIO.read(png.toFile()).getWidth() > 1000, "a series plot of the three labelled checkpoints");

        // not a series (no steps, other shapes): one heatmap per checkpoint, side by side
        Path a = dir.resolve("fam").resolve("small"), b = dir.resolve("fam").resolve("deep");
        new SyntheticGpt2(new Dims(300, 24, 2, 6, 48, 8), 1, List.of(new HeadId(1, 5))).write(a, 2);
        new SyntheticGpt2(new Dims(300, 32, 5, 8, 64, 8), 2, List.of(new HeadId(4, 7))).write(b, 2);
        Path svg = dir.resolve("family.svg");
        CliRun fam = CliRun.of("sweep", a.toString(), b.toString(), "--score", "--bag-size", "16", "--db", dir.resolve("f.duckdb").toString(),
                "--plot", svg.toString());
        assertEquals(0, fam.code(), fam.out() + fam.err());
        String doc = Files.readString(svg);
        assertTrue(doc.contains("2 layers x 6 heads") && doc.contains("5 layers x 8 heads") && doc.contains(">small<") && doc.contains(">deep<"), doc);
    }

    @Test
    void badOptionsAreUsageErrorsBeforeAnyWork() {
        assertEquals(2, CliRun.of("sweep", "--score").code());
        assertEquals(2, CliRun.of("sweep", dir.toString()).code(), "no analysis");
        CliRun glob = CliRun.of("sweep", dir + "/nothing-*", "--score");
        assertEquals(2, glob.code());
        assertTrue(glob.err().contains("matches no file or folder"), glob.err());
        CliRun seeds = CliRun.of("sweep", dir.toString(), "--score", "--seeds", "3-1");
        assertEquals(2, seeds.code());
        assertTrue(seeds.err().contains("--seeds 3-1"), seeds.err());
        CliRun export = CliRun.of("sweep", dir.toString(), "--score", "--export", dir.resolve("x.xlsx").toString());
        assertEquals(2, export.code());
        assertTrue(export.err().contains("--export"), export.err());
    }

    /**
     * SIGKILL in the middle of a sweep (no chance to clean up): only whole checkpoints are in the database, and the
     * same command run again completes the rest without duplicating anything. Both runs under a 64 MB heap.
     */
    @Test
    void aKilledSweepLeavesWholeCheckpointsAndTheRerunCompletesIt() throws Exception {
        Dims dims = new Dims(2000, 128, 6, 4, 256, 8);
        Path run = series(8, dims);
        Path db = dir.resolve("k.duckdb");
        String[] args = {"sweep", run + "/step_*", "--score", "--weights", "--wee", "hackathon,full", "--seeds", "0-2", "--db", db.toString()};
        Path tmp = Files.createDirectories(dir.resolve("tmp"));   // the child's java.io.tmpdir: the kill must leave nothing there
        Map<String, String> env = Map.of();
        try (ChildJvm c = ChildJvm.start(dir.resolve("first.log"), List.of("-Xmx64m", "-Djava.io.tmpdir=" + tmp), env, args)) {
            long deadline = System.nanoTime() + 120_000_000_000L;
            while (!c.output().contains("[2/8]")) {   // two checkpoints done: kill it while it computes the third
                assertTrue(c.process().isAlive(), c.output());
                assertTrue(System.nanoTime() < deadline, c.output());
                Thread.sleep(10);
            }
            c.signal("KILL");
            c.waitFor(1);
        }
        try (var left = Files.list(tmp)) {
            assertEquals(List.of(), left.toList(), "nothing left in the temporary folder (DuckDB's library is loaded in place, not extracted)");
        }
        long perCheckpoint = 6 * 4 * 4 * 2 * 3;   // heads x metrics x variants x seeds
        long done = count(db, "SELECT count(DISTINCT model_id) FROM results WHERE analysis = 'score'");
        assertTrue(done >= 2 && done < 8, done + " checkpoints done before the kill");
        assertEquals(done * perCheckpoint, count(db, "SELECT count(*) FROM results WHERE analysis = 'score'"), "only whole checkpoints");
        ChildJvm second = ChildJvm.start(dir.resolve("second.log"), List.of("-Xmx64m"), env, args);
        assertEquals(0, second.waitFor(3), second.output());
        assertTrue(second.output().contains(done + " skipped"), second.output());
        assertEquals(8 * perCheckpoint, count(db, "SELECT count(*) FROM results WHERE analysis = 'score'"), "all eight, none twice");
        assertEquals(8, count(db, "SELECT count(DISTINCT spec) FROM models"));
        assertEquals(0, count(db, "SELECT count(*) FROM (SELECT spec, definition FROM done JOIN models USING (model_id) GROUP BY ALL HAVING count(*) > 1)"));
    }
}

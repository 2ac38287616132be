package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.model.Dims;
import io.headscan.model.HeadId;
import io.headscan.synth.SyntheticGpt2;
import io.headscan.testing.ChildJvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Checkpoint identity and the atomicity of a checkpoint's rows, through the CLI: one current value per (checkpoint,
 * definition, head, metric) whatever happens to the files, Ctrl-C and SIGTERM mid-sweep, and a definition added later.
 * (A SIGKILL or an Error at each point of a checkpoint's transaction: io.headscan.sweep.CheckpointAtomicityTest.)
 */
class SweepIdentityTest {

    static final Dims DIMS = new Dims(300, 32, 3, 4, 64, 8);
    static final int PER_DEFINITION = 3 * 4 * 4;   // heads x metrics of one score definition

    @TempDir
    Path dir;

    private static long count(Path db, String sql) throws Exception {
        try (Connection c = io.headscan.sweep.DuckDbSink.connect(db); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    private static void sweep(Path db, String... models) {
        List<String> args = new java.util.ArrayList<>(List.of("sweep"));
        args.addAll(List.of(models));
        args.addAll(List.of("--score", "--bag-size", "16", "--db", db.toString()));
        CliRun r = CliRun.of(args.toArray(String[]::new));
        assertEquals(0, r.code(), r.out() + r.err());
    }

    /** No (checkpoint, definition, head, metric) twice in what a user reads. */
    private void oneCurrentValuePerKey(Path db, Path csv) throws Exception {
        assertEquals(0, count(db, "SELECT count(*) FROM (SELECT spec, commit_sha, definition, layer, head, tensor, metric FROM scores "
                + "GROUP BY ALL HAVING count(*) > 1)"));
        CliRun export = CliRun.of("sweep", "--db", db.toString(), "--export", csv.toString(), "--score", "--bag-size", "16",
                dir.resolve("m").toString());
        assertEquals(0, export.code(), export.err());
        List<String> lines = Files.readAllLines(csv);
        assertEquals(lines.size(), lines.stream().distinct().count());
        java.util.Set<String> keys = new java.util.HashSet<>();
        for (String l : lines.subList(1, lines.size())) {
            String[] f = l.split(",", -1);
            // spec, revision, commit, label, step, analysis, definition, variant, seed, layer, head, tensor, metric, value
            assertTrue(keys.add(f[0] + "|" + f[6] + "|" + f[9] + "|" + f[10] + "|" + f[11] + "|" + f[12]), "duplicated key in the export: " + l);
        }
    }

    @Test
    void aRewrittenCheckpointSupersedesItsOldRows() throws Exception {
        Path m = dir.resolve("m"), db = dir.resolve("s.duckdb");
        new SyntheticGpt2(DIMS, 1, List.of(new HeadId(2, 1))).write(m, 2);
        sweep(db, m.toString());
        Path weights = m.resolve("model.safetensors");
        FileTime before = Files.getLastModifiedTime(weights);
        // rewritten in place with other weights, its modification time set back: the sampled bytes still tell
        byte[] other;
        Path scratch = dir.resolve("other");
        new SyntheticGpt2(DIMS, 2, List.of(new HeadId(2, 3))).write(scratch, 2);
        other = Files.readAllBytes(scratch.resolve("model.safetensors"));
        Files.write(weights, other);
        Files.setLastModifiedTime(weights, before);
        sweep(db, m.toString());
        assertEquals(2, count(db, "SELECT count(*) FROM models"));
        assertEquals(1, count(db, "SELECT count(*) FROM models WHERE current"));
        assertEquals(1, count(db, "SELECT count(*) FROM models WHERE NOT current AND superseded_by IS NOT NULL"));
        assertEquals(PER_DEFINITION, count(db, "SELECT count(*) FROM scores"));
        assertEquals(2 * PER_DEFINITION, count(db, "SELECT count(*) FROM results_history"), "history stays queryable");
        assertEquals(1, count(db, "SELECT count(*) FROM scores WHERE metric = 'rank' AND value = 1 AND layer = 2 AND head = 3"),
                "the current rows are the new weights' (planted 2.3)");
        oneCurrentValuePerKey(db, dir.resolve("a.csv"));
    }

    @Test
    void aliasesAndRenamesAreOneCheckpoint() throws Exception {
        Path m = dir.resolve("m"), db = dir.resolve("s.duckdb");
        new SyntheticGpt2(DIMS, 1, List.of()).write(m, 2);
        Path link = dir.resolve("link");
        Files.createSymbolicLink(link, m);
        sweep(db, m.toString(), dir + "/./m", link.toString());
        assertEquals(1, count(db, "SELECT count(*) FROM models"), "three names of one checkpoint");
        Path moved = dir.resolve("moved");
        Files.move(m, moved);
        CliRun r = CliRun.of("sweep", moved.toString(), "--score", "--bag-size", "16", "--db", db.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("1 skipped"), "renamed, the same bytes: " + r.out());
        assertEquals(PER_DEFINITION, count(db, "SELECT count(*) FROM scores"));
        CliRun rev = CliRun.of("sweep", moved.toString(), "--score", "--bag-size", "16", "--db", db.toString(), "--revision", "v2");
        assertTrue(rev.out().contains("1 skipped"), "--revision does not apply to a local path: " + rev.out());
        assertEquals(0, count(db, "SELECT count(*) FROM models WHERE revision IS NOT NULL"));
    }

    @Test
    void aNewSeedComputesOnlyTheNewDefinition() throws Exception {
        Path m = dir.resolve("m"), db = dir.resolve("s.duckdb");
        new SyntheticGpt2(DIMS, 1, List.of()).write(m, 2);
        sweep(db, m.toString());
        CliRun r = CliRun.of("sweep", m.toString(), "--score", "--bag-size", "16", "--seeds", "0,1", "--db", db.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("1 computed"), r.out());
        assertEquals(2, count(db, "SELECT count(*) FROM done"));
        assertEquals(1, count(db, "SELECT count(*) FROM done JOIN models USING (model_id) WHERE model_id = (SELECT max(model_id) FROM models)"),
                "the second run stored only seed 1");
        assertEquals(2 * PER_DEFINITION, count(db, "SELECT count(*) FROM scores"));
        assertEquals(PER_DEFINITION, count(db, "SELECT count(*) FROM scores WHERE definition LIKE '%seed=1 %'"));
        assertEquals(2, count(db, "SELECT count(*) FROM models WHERE current"), "both rows are current: same content, other definitions");
    }

    @Test
    void ctrlCAndSigtermMidSweepLeaveWholeCheckpoints() throws Exception {
        Dims big = new Dims(3000, 128, 6, 4, 256, 8);
        Path run = dir.resolve("run");
        for (int i = 1; i <= 6; i++) new SyntheticGpt2(big, i, List.of()).write(run.resolve("step_" + i), 2);
        boolean intIgnored = ChildJvm.ignored(2);
        for (String signal : intIgnored ? List.of("TERM") : List.of("INT", "TERM")) {
            Path db = dir.resolve(signal + ".duckdb");
            String[] args = {"sweep", run + "/step_*", "--score", "--wee", "hackathon,full", "--seeds", "0-3", "--db", db.toString()};
            try (ChildJvm c = ChildJvm.start(dir.resolve(signal + ".log"), List.of(), Map.of(), args)) {
                long deadline = System.nanoTime() + 120_000_000_000L;
                while (!c.output().contains("[1/6]")) {
                    assertTrue(c.process().isAlive(), c.output());
                    assertTrue(System.nanoTime() < deadline, c.output());
                    Thread.sleep(10);
                }
                c.signal(signal);
                assertEquals(signal.equals("INT") ? 130 : 143, c.waitFor(2), c.output());
            }
            long models = count(db, "SELECT count(*) FROM models");
            assertTrue(models >= 1 && models < 6, models + " checkpoints committed");
            assertEquals(models * 6 * 4 * 4 * 2 * 4, count(db, "SELECT count(*) FROM results"), "only whole checkpoints (" + signal + ")");
            CliRun again = CliRun.of(args);
            assertEquals(0, again.code(), again.err());
            assertTrue(again.out().contains(models + " skipped"), again.out());
            assertEquals(6L * 6 * 4 * 4 * 2 * 4, count(db, "SELECT count(*) FROM results"));
        }
    }
}

package io.headscan.sweep;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.Progress;
import io.headscan.circuits.Variant;
import io.headscan.cli.CliRunAccess;
import io.headscan.compute.Backend;
import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.model.Dims;
import io.headscan.model.HeadId;
import io.headscan.synth.SyntheticGpt2;
import io.headscan.testing.Breakpoint;
import io.headscan.testing.ChildJvm;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.AbstractList;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.function.Supplier;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * A checkpoint's rows in the sweep's DuckDB file are committed together or not at all, whatever stops the sweep between
 * its first row and its commit: a SIGKILL of the real CLI (a child JVM held at that point by the debugging agent), or
 * an Error thrown there in-process by the test (through the rows it hands the sink, or a wrapper around its real DuckDB
 * connection). After each, the store holds the checkpoint wholly or not at all, and a rerun computes it exactly once.
 * And one bad checkpoint, whatever it throws, fails alone.
 */
class CheckpointAtomicityTest {

    static final Dims DIMS = new Dims(300, 32, 3, 4, 64, 8);
    /** Score rows of one checkpoint, one variant and one seed: 3 x 4 heads, 4 metrics each. */
    static final int SCORE_ROWS = 3 * 4 * 4;

    @TempDir
    Path dir;
    @TempDir
    static Path shared;

    static Backend backend;
    /** Three checkpoints, run/checkpoint-{1,2,3}, read by every test; the second is the one a test breaks. */
    static Path run;
    static List<Checkpoint> checkpoints;
    /** Rows of one checkpoint for {@link #TWO} (its score rows and its weight statistics), as a clean sweep stores them. */
    static long rowsEach;

    @BeforeAll
    static void open() throws Exception {
        backend = OpenBlasBackend.open(Optional.empty(), 2);
        run = shared.resolve("run");
        for (int i = 1; i <= 3; i++) new SyntheticGpt2(DIMS, i, List.of(new HeadId(2, i))).write(run.resolve("checkpoint-" + i), 2);
        checkpoints = Checkpoints.expand(List.of(run + "/checkpoint-*"), Optional.empty(), Optional.empty());
        Path clean = shared.resolve("clean.duckdb");
        try (DuckDbSink sink = DuckDbSink.open(clean)) {
            sweep(sink, checkpoints.subList(0, 1), new Seen());
        }
        rowsEach = count(clean, "SELECT count(*) FROM results");
        assertTrue(rowsEach > SCORE_ROWS, rowsEach + " rows");
    }

    @AfterAll
    static void close() {
        backend.close();
    }

    /** The moments between a checkpoint's first row and its commit. */
    enum Point {
        /** its models row is in, no result yet */
        AFTER_MODELS_ROW,
        /** about half its result rows are in */
        AFTER_SOME_RESULTS,
        /** every result row is in, its done rows not yet */
        BEFORE_DONE,
        /** its done rows are in, the commit not yet made */
        BEFORE_COMMIT
    }

    private static long count(Path db, String sql) throws Exception {
        try (Connection c = DuckDbSink.connect(db); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    /**
     * The store holds whole checkpoints only: each models row with {@code rowsEach} results and {@code doneEach} done
     * rows, nothing that belongs to no models row, and no (checkpoint, definition, head or tensor, metric) twice.
     */
    private static void onlyWholeCheckpoints(Path db, long models, long rowsEach, long doneEach) throws Exception {
        assertEquals(models, count(db, "SELECT count(*) FROM models"));
        assertEquals(0, count(db, "SELECT count(*) FROM results WHERE model_id NOT IN (SELECT model_id FROM models)"), "results of no checkpoint");
        assertEquals(0, count(db, "SELECT count(*) FROM done WHERE model_id NOT IN (SELECT model_id FROM models)"), "done rows of no checkpoint");
        assertEquals(0, count(db, "SELECT count(*) FROM models m WHERE (SELECT count(*) FROM results r WHERE r.model_id = m.model_id) <> " + rowsEach),
                "a checkpoint with some of its results");
        assertEquals(0, count(db, "SELECT count(*) FROM models m WHERE (SELECT count(*) FROM done d WHERE d.model_id = m.model_id) <> " + doneEach),
                "a checkpoint with some of its done rows");
        assertEquals(0, count(db, "SELECT count(*) FROM (SELECT spec, definition, layer, head, tensor, metric FROM scores GROUP BY ALL HAVING count(*) > 1)"));
    }

    // ---- SIGKILL of the real CLI at each point ----

    /** Where the child is held: the method entered at that point, and on which call (the second checkpoint's). */
    private static Object[] stop(Point p) {
        return switch (p) {
            case AFTER_MODELS_ROW -> new Object[] {"io.headscan.sweep.DuckDbSink", "insertResults", 2};
            // DuckDB's appender ends each row: the first checkpoint's rows, then half the second's
            case AFTER_SOME_RESULTS -> new Object[] {"org.duckdb.DuckDBAppender", "endRow", SCORE_ROWS + SCORE_ROWS / 2};
            case BEFORE_DONE -> new Object[] {"io.headscan.sweep.DuckDbSink", "insertDone", 2};
            case BEFORE_COMMIT -> new Object[] {"org.duckdb.DuckDBConnection", "commit", 2};
        };
    }

    @ParameterizedTest
    @EnumSource(Point.class)
    void aKillAtEachPointOfACheckpointLeavesItWhollyOrNotAtAllAndARerunComputesItOnce(Point point) throws Exception {
        Path db = dir.resolve("kill.duckdb");
        String[] args = {"sweep", run + "/checkpoint-*", "--score", "--bag-size", "16", "--db", db.toString()};
        Object[] at = stop(point);
        try (Breakpoint b = Breakpoint.reach(dir.resolve("child.log"), (String) at[0], (String) at[1], (int) at[2], args)) {
            assertTrue(b.child().output().contains("[1/3]"), "the first checkpoint was committed before: " + b.child().output());
            assertEquals(137, b.kill(), b.child().output());
        }
        onlyWholeCheckpoints(db, 1, SCORE_ROWS, 1);
        assertEquals(1, count(db, "SELECT count(*) FROM models WHERE spec LIKE '%checkpoint-1'"), "the checkpoint before the kill is whole");
        var again = CliRunAccess.run(args);
        assertEquals(0, again.code(), again.out() + again.err());
        assertTrue(again.out().contains("2 computed, 1 skipped, 0 failed"), again.out());
        onlyWholeCheckpoints(db, 3, SCORE_ROWS, 1);
        assertEquals(1, count(db, "SELECT count(*) FROM models WHERE spec LIKE '%checkpoint-2'"), "the killed checkpoint, once");
    }

    // ---- an Error thrown in-process at each point ----

    enum Thrown {
        OUT_OF_MEMORY(() -> new OutOfMemoryError("Java heap space"), "ran out of memory"),
        STACK_OVERFLOW(StackOverflowError::new, "ran out of stack");

        final Supplier<Error> error;
        final String says;

        Thrown(Supplier<Error> error, String says) {
            this.error = error;
            this.says = says;
        }
    }

    /** The sweep's rows go through here to a real DuckDbSink; for one checkpoint, an Error is raised at one point. */
    static final class Faults {
        final String spec;
        final Point point;
        final Supplier<? extends Throwable> error;
        boolean failRollback;
        volatile boolean armed;

        Faults(String spec, Point point, Supplier<? extends Throwable> error) {
            this.spec = spec;
            this.point = point;
            this.error = error;
        }

        /** The real connection, raising the error where the sink prepares its done rows, or commits. */
        Connection around(Connection real) {
            return (Connection) Proxy.newProxyInstance(CheckpointAtomicityTest.class.getClassLoader(), new Class<?>[] {Connection.class}, (proxy, m, a) -> {
                if (armed && point == Point.BEFORE_DONE && m.getName().equals("prepareStatement") && ((String) a[0]).startsWith("INSERT INTO done")) {
                    throw error.get();
                }
                if (armed && point == Point.BEFORE_COMMIT && m.getName().equals("commit")) throw error.get();
                if (armed && failRollback && m.getName().equals("rollback")) throw new OutOfMemoryError("during the rollback");
                try {
                    return m.invoke(real, a);
                } catch (InvocationTargetException e) {
                    throw e.getCause();
                }
            });
        }

        /** The rows of a checkpoint, raising the error when row {@code at} is read. */
        List<ResultRow> rows(List<ResultRow> rows, int at) {
            return new AbstractList<>() {
                @Override
                public ResultRow get(int i) {
                    if (i == at) {
                        Throwable t = error.get();
                        if (t instanceof Error e) throw e;
                        throw (RuntimeException) t;
                    }
                    return rows.get(i);
                }

                @Override
                public int size() {
                    return rows.size();
                }
            };
        }

        ResultSink sink(DuckDbSink inner) {
            return new ResultSink() {
                @Override
                public void begin(String options, String version, String backend, String machine) throws Exception {
                    inner.begin(options, version, backend, machine);
                }

                @Override
                public boolean isDone(ModelInfo model, String definition) throws Exception {
                    return inner.isDone(model, definition);
                }

                @Override
                public void write(ModelInfo model, List<String> definitions, List<ResultRow> rows) throws Exception {
                    boolean target = model.spec().equals(spec);
                    List<ResultRow> given = !target ? rows : switch (point) {
                        case AFTER_MODELS_ROW -> Faults.this.rows(rows, 0);
                        case AFTER_SOME_RESULTS -> Faults.this.rows(rows, rows.size() / 2);
                        default -> rows;
                    };
                    armed = target;
                    try {
                        inner.write(model, definitions, given);
                    } finally {
                        armed = false;
                    }
                }

                @Override
                public void error(String spec, String revision, String message) throws Exception {
                    inner.error(spec, revision, message);
                }

                @Override
                public void close() throws Exception {
                    inner.close();
                }
            };
        }
    }

    record Seen(List<String> done, List<String> failed) implements Sweep.Listener {
        Seen() {
            this(new ArrayList<>(), new ArrayList<>());
        }

        @Override
        public void done(Checkpoint c, ModelInfo info, boolean skipped, List<HeadId> top, double fetchSeconds, double seconds) {
            done.add(c.label() + (skipped ? " skipped" : ""));
        }

        @Override
        public void failed(Checkpoint c, String message) {
            failed.add(c.label() + ": " + message);
        }
    }

    /** Score (one variant, one seed) and weights: two definitions, so two done rows, per checkpoint. */
    static final Analyses TWO = new Analyses(true, List.of(Variant.HACKATHON), List.of(0L), 16, 4, false, true, false);

    private static Sweep.Summary sweep(ResultSink sink, List<Checkpoint> cs, Seen seen) throws Exception {
        sink.begin("test", "test", backend.describe(), "test");
        return new Sweep(backend, TWO, sink, c -> Sweep.Fetched.local(Path.of(c.spec())), seen, false).run(cs, Progress.NONE);
    }

    @ParameterizedTest
    @EnumSource(Point.class)
    void anOutOfMemoryErrorAtEachPointRollsTheCheckpointBackAndTheSweepGoesOn(Point point) throws Exception {
        anErrorAtEachPoint(point, Thrown.OUT_OF_MEMORY);
    }

    @ParameterizedTest
    @EnumSource(Point.class)
    void aStackOverflowErrorAtEachPointRollsTheCheckpointBackAndTheSweepGoesOn(Point point) throws Exception {
        anErrorAtEachPoint(point, Thrown.STACK_OVERFLOW);
    }

    private void anErrorAtEachPoint(Point point, Thrown thrown) throws Exception {
        Path db = dir.resolve("error.duckdb");
        List<Checkpoint> cs = checkpoints;
        Faults faults = new Faults(cs.get(1).spec(), point, thrown.error);
        Seen seen = new Seen();
        Sweep.Summary s;
        try (ResultSink sink = faults.sink(DuckDbSink.open(faults.around(DuckDbSink.connect(db))))) {
            s = sweep(sink, cs, seen);
        }
        assertEquals(0, count(db, "SELECT count(*) FROM models WHERE spec LIKE '%checkpoint-2'"), "a checkpoint reported failed has no rows");
        onlyWholeCheckpoints(db, 2, rowsEach, 2);
        assertEquals(List.of("1", "3"), seen.done(), "the sweep went on after the Error");
        assertEquals(2, s.computed(), s.toString());
        assertEquals(1, s.failed(), s.toString());
        assertEquals(1, seen.failed().size());
        assertTrue(seen.failed().getFirst().startsWith("2: " + thrown.says), seen.failed().toString());
        assertEquals(1, count(db, "SELECT count(*) FROM errors WHERE spec LIKE '%checkpoint-2' AND message LIKE '" + thrown.says + "%'"));

        Seen again = new Seen();
        try (DuckDbSink sink = DuckDbSink.open(db)) {
            s = sweep(sink, cs, again);
        }
        assertEquals(List.of("1 skipped", "2", "3 skipped"), again.done(), "the rerun computes the failed checkpoint, and only it");
        onlyWholeCheckpoints(db, 3, rowsEach, 2);
    }

    @Test
    void aRollbackThatFailsTooClosesTheConnectionInsteadOfCommitting() throws Exception {
        Path db = dir.resolve("rollback.duckdb");
        List<Checkpoint> cs = checkpoints;
        Faults faults = new Faults(cs.get(1).spec(), Point.AFTER_SOME_RESULTS, Thrown.OUT_OF_MEMORY.error);
        faults.failRollback = true;
        try (ResultSink sink = faults.sink(DuckDbSink.open(faults.around(DuckDbSink.connect(db))))) {
            // the checkpoint's error cannot be recorded on a closed connection: that ends the sweep, saying why
            Exception e = assertThrows(java.sql.SQLException.class, () -> sweep(sink, cs, new Seen()));
            assertTrue(e.getMessage().contains("closed after a failed rollback"), e.getMessage());
        }
        onlyWholeCheckpoints(db, 1, rowsEach, 2);
        assertEquals(1, count(db, "SELECT count(*) FROM models WHERE spec LIKE '%checkpoint-1'"));
    }

    @Test
    void anInternalErrorEndsTheSweepWithTheCheckpointRolledBack() throws Exception {
        Path db = dir.resolve("internal.duckdb");
        List<Checkpoint> cs = checkpoints;
        Faults faults = new Faults(cs.get(1).spec(), Point.AFTER_SOME_RESULTS, () -> new InternalError("the JVM is broken"));
        Seen seen = new Seen();
        try (ResultSink sink = faults.sink(DuckDbSink.open(faults.around(DuckDbSink.connect(db))))) {
            InternalError e = assertThrows(InternalError.class, () -> sweep(sink, cs, seen));
            assertEquals("the JVM is broken", e.getMessage());
        }
        assertEquals(List.of("1"), seen.done(), "nothing is computed after it");
        onlyWholeCheckpoints(db, 1, rowsEach, 2);
        Seen again = new Seen();
        try (DuckDbSink sink = DuckDbSink.open(db)) {
            sweep(sink, cs, again);
        }
        assertEquals(List.of("1 skipped", "2", "3"), again.done());
        onlyWholeCheckpoints(db, 3, rowsEach, 2);
    }

    // ---- one bad checkpoint among good ones, through the CLI ----

    @Test
    void aShardIndexThatNamesItselfFailsAloneAndTheSweepGoesOn() throws Exception {
        Path series = dir.resolve("series"), db = dir.resolve("index.duckdb");
        for (int i : new int[] {1, 2, 4, 5}) new SyntheticGpt2(DIMS, i, List.of()).write(series.resolve("checkpoint-" + i), 2);
        Path bad = series.resolve("checkpoint-3");
        Files.createDirectories(bad);
        Files.copy(series.resolve("checkpoint-1/config.json"), bad.resolve("config.json"));
        // every tensor "in" the index itself: opened as a shard, it is the index again
        Files.writeString(bad.resolve("model.safetensors.index.json"),
                "{\"metadata\": {}, \"weight_map\": {\"wte.weight\": \"model.safetensors.index.json\"}}");
        String[] args = {"sweep", series + "/checkpoint-*", "--score", "--bag-size", "16", "--db", db.toString()};
        try (ChildJvm c = ChildJvm.start(dir.resolve("index.log"), List.of(), Map.of(), args)) {
            assertEquals(1, c.waitFor(3), "some checkpoint failed: " + c.output());
            String out = c.output();
            List<String> failed = out.lines().filter(l -> l.contains("FAILED")).toList();
            assertEquals(1, failed.size(), out);
            assertTrue(failed.getFirst().startsWith("[3/5] " + bad + " (3): FAILED: "), out);
            assertTrue(out.contains("sweep: 5 checkpoints: 4 computed, 0 skipped, 1 failed"), out);
            assertFalse(out.contains("\tat ") || out.contains("Exception in thread") || out.contains("internal error"), "no stack trace: " + out);
        }
        assertEquals(4, count(db, "SELECT count(*) FROM models"));
        assertEquals(1, count(db, "SELECT count(*) FROM errors WHERE spec LIKE '%checkpoint-3'"));
    }
}

package io.headscan.sweep;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.Progress;
import io.headscan.circuits.Bags;
import io.headscan.circuits.PredictionAttention;
import io.headscan.circuits.Variant;
import io.headscan.compute.Backend;
import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.format.DType;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.synth.SyntheticGpt2;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The sweep as a library: a series of real synthetic checkpoints into a real DuckDB file. */
class SweepTest {

    static final Dims DIMS = new Dims(500, 32, 3, 4, 64, 8);

    @TempDir
    static Path dir;
    static Backend backend;

    @BeforeAll
    static void open() {
        backend = OpenBlasBackend.open(Optional.empty(), 2);
    }

    @AfterAll
    static void close() {
        backend.close();
    }

    /** run/checkpoint-{100,200,300}: each with a different planted head, 2.1, 2.2, 2.3. */
    static Path series(String name) throws Exception {
        Path run = dir.resolve(name);
        for (int i = 1; i <= 3; i++) {
            new SyntheticGpt2(DIMS, 40 + i, List.of(new HeadId(2, i))).write(run.resolve("checkpoint-" + (100 * i)), 2);
        }
        return run;
    }

    static final Analyses SCORE = new Analyses(true, List.of(Variant.HACKATHON, Variant.NOATTN), List.of(0L, 1L), 16, 4, false, true, false);

    record Seen(List<String> done, List<String> failed) implements Sweep.Listener {
        Seen() {
            this(new ArrayList<>(), new ArrayList<>());
        }

        @Override
        public void done(Checkpoint c, ModelInfo info, boolean skipped, List<HeadId> top, double fetchSeconds, double seconds) {
            done.add(c.label() + (skipped ? " skipped" : " " + top.getFirst()));
        }

        @Override
        public void failed(Checkpoint c, String message) {
            failed.add(c.spec() + ": " + message);
        }
    }

    private static Sweep sweep(DuckDbSink sink, Sweep.Listener l, boolean failFast) throws Exception {
        sink.begin("test", "test", backend.describe(), "test");
        return new Sweep(backend, SCORE, sink, c -> Sweep.Fetched.local(Path.of(c.spec())), l, failFast);
    }

    private static long count(DuckDbSink sink, String sql) throws Exception {
        try (Statement s = sink.connection().createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }

    @Test
    void aSeriesIsLabelledOrderedAndItsPlantedHeadsComeFirst() throws Exception {
        Path run = series("series");
        List<Checkpoint> cs = Checkpoints.expand(List.of(run + "/checkpoint-*"), Optional.empty(), Optional.empty());
        assertEquals(List.of("100", "200", "300"), cs.stream().map(Checkpoint::label).toList());
        try (DuckDbSink sink = DuckDbSink.open(dir.resolve("series.duckdb"))) {
            Seen seen = new Seen();
            Sweep.Summary s = sweep(sink, seen, false).run(cs, Progress.NONE);
            assertEquals(3, s.computed());
            assertEquals(List.of("100 2.1", "200 2.2", "300 2.3"), seen.done());
            // the planted head is rank 1 of every checkpoint, for every variant and seed, in the database too
            assertEquals(3 * 2 * 2, count(sink, "SELECT count(*) FROM scores WHERE metric = 'rank' AND value = 1 AND layer = 2 AND head = step / 100"));
            // and the numbers are those of a plain score run on the same bags
            try (Model m = Model.open(run.resolve("checkpoint-200"))) {
                var want = new PredictionAttention(m, backend, Variant.NOATTN).score(Bags.random(500, 16, 4, 1, false), Progress.NONE);
                try (Statement st = sink.connection().createStatement();
                     ResultSet rs = st.executeQuery("SELECT layer, head, value FROM scores WHERE step = 200 AND metric = 'score' AND variant = 'noattn' AND seed = 1")) {
                    int n = 0;
                    while (rs.next()) {
                        assertEquals(want.scores()[rs.getInt(1)][rs.getInt(2)], rs.getDouble(3), 1e-12);
                        n++;
                    }
                    assertEquals(12, n);
                }
            }
            // per-head norms and per-tensor statistics
            assertEquals(3 * 12 * 4, count(sink, "SELECT count(*) FROM results WHERE analysis = 'weights' AND metric LIKE 'frobenius%'"));
            assertTrue(count(sink, "SELECT count(*) FROM results WHERE tensor = 'wte.weight' AND metric = 'std'") == 3);
        }
    }

    @Test
    void aRerunSkipsWhatIsDoneAndComputesOnlyNewDefinitions() throws Exception {
        Path run = series("rerun");
        List<Checkpoint> cs = Checkpoints.expand(List.of(run + "/checkpoint-*"), Optional.empty(), Optional.empty());
        try (DuckDbSink sink = DuckDbSink.open(dir.resolve("rerun.duckdb"))) {
            sweep(sink, new Seen(), false).run(cs, Progress.NONE);
            long rows = count(sink, "SELECT count(*) FROM results");
            Seen again = new Seen();
            Sweep.Summary s = sweep(sink, again, false).run(cs, Progress.NONE);
            assertEquals(3, s.skipped());
            assertEquals(rows, count(sink, "SELECT count(*) FROM results"), "nothing duplicated");
            // a rewritten checkpoint (same path, new contents) is computed again
            new SyntheticGpt2(DIMS, 99, List.of(new HeadId(1, 1))).write(run.resolve("checkpoint-200"), 2);
            Seen third = new Seen();
            assertEquals(1, sweep(sink, third, false).run(cs, Progress.NONE).computed());
            assertEquals(List.of("100 skipped", "200 1.1", "300 skipped"), third.done());
        }
    }

    @Test
    void aBrokenMemberIsRecordedAndTheRestAreScored() throws Exception {
        Path run = series("broken");
        Files.writeString(run.resolve("checkpoint-150.safetensors"), "this is not a checkpoint");
        Path nan = run.resolve("checkpoint-250");
        new SyntheticGpt2(DIMS, 7, List.of()).write(nan, 2);
        io.headscan.testing.Corrupt.set(nan.resolve("model.safetensors"), "wte.weight", 3, 3, Float.NaN);
        List<Checkpoint> cs = Checkpoints.expand(List.of(run + "/checkpoint-*"), Optional.empty(), Optional.empty());
        assertEquals(5, cs.size());
        try (DuckDbSink sink = DuckDbSink.open(dir.resolve("broken.duckdb"))) {
            Seen seen = new Seen();
            Sweep.Summary s = sweep(sink, seen, false).run(cs, Progress.NONE);
            assertEquals(3, s.computed());
            assertEquals(2, s.failed());
            assertTrue(seen.failed().get(0).contains("not a safetensors file"), seen.failed().toString());
            assertTrue(seen.failed().get(1).contains("non-finite weights: wte.weight (1 NaN)"), seen.failed().toString());
            assertEquals(2, count(sink, "SELECT count(*) FROM errors"));
            assertEquals(3, count(sink, "SELECT count(DISTINCT model_id) FROM results"));
        }
        try (DuckDbSink sink = DuckDbSink.open(dir.resolve("failfast.duckdb"))) {
            Sweep.Summary s = sweep(sink, new Seen(), true).run(cs, Progress.NONE);
            assertEquals(1, s.computed(), "checkpoint-100, then checkpoint-150 fails and the sweep stops: " + s);
            assertEquals(1, s.failed());
        }
    }

    @Test
    void failFastEndsTheSweepWhileTheNextFetchIsStillQueued() throws Exception {
        Path run = series("queued");
        Files.writeString(run.resolve("checkpoint-50.safetensors"), "this is not a checkpoint");
        List<Checkpoint> cs = Checkpoints.expand(List.of(run + "/checkpoint-*"), Optional.empty(), Optional.empty());
        assertEquals("50", cs.getFirst().label());
        // checkpoint-100's fetch holds the fetch thread until the sweep ends (shutting the thread down interrupts it), so
        // checkpoint-200's is still queued when checkpoint-50 fails: ending must not wait for a fetch that never starts
        java.util.concurrent.atomic.AtomicInteger released = new java.util.concurrent.atomic.AtomicInteger();
        Sweep.Fetcher fetcher = c -> {
            if (c.label().equals("100")) new java.util.concurrent.CountDownLatch(1).await();
            return new Sweep.Fetched(Path.of(c.spec()), null, null, 0, 0, released::incrementAndGet);
        };
        try (DuckDbSink sink = DuckDbSink.open(dir.resolve("queued.duckdb"))) {
            sink.begin("test", "test", backend.describe(), "test");
            Sweep sweep = new Sweep(backend, SCORE, sink, fetcher, new Seen(), true).prefetch(2);
            // a guard only: the sweep ends as soon as checkpoint-50 has failed, or never
            Sweep.Summary s = assertTimeoutPreemptively(java.time.Duration.ofMinutes(2), () -> sweep.run(cs, Progress.NONE));
            assertEquals(1, s.failed());
            assertEquals(0, s.computed());
            assertEquals(1, released.get(), "checkpoint-50's files were released; the interrupted and the cancelled fetch had none");
        }
    }

    @Test
    void theGpt2FamilyShapesAreSweptWithTheirHeadCounts() throws Exception {
        // medium 24 x 16, large 36 x 20, xl 48 x 25, distilgpt2 6 x 12; d_head 4 and a small vocabulary keep them small
        int[][] shapes = {{24, 16}, {36, 20}, {48, 25}, {6, 12}};
        List<String> specs = new ArrayList<>();
        for (int[] s : shapes) {
            Path p = dir.resolve("family").resolve(s[0] + "x" + s[1]);
            new SyntheticGpt2(new Dims(200, 4 * s[1], s[0], s[1], 8 * s[1], 8), 3, List.of(new HeadId(s[0] - 1, s[1] - 1))).write(p, 2);
            specs.add(p.toString());
        }
        List<Checkpoint> cs = Checkpoints.expand(specs, Optional.empty(), Optional.empty());
        try (DuckDbSink sink = DuckDbSink.open(dir.resolve("family.duckdb"))) {
            Seen seen = new Seen();
            sink.begin("test", "test", backend.describe(), "test");
            Analyses one = new Analyses(true, List.of(Variant.HACKATHON), List.of(0L), 16, 4, false, false, false);
            assertEquals(4, new Sweep(backend, one, sink, c -> Sweep.Fetched.local(Path.of(c.spec())), seen, false).run(cs, Progress.NONE).computed());
            for (int[] s : shapes) {
                assertEquals((long) s[0] * s[1], count(sink, "SELECT count(*) FROM scores WHERE metric = 'score' AND spec LIKE '%/" + s[0] + "x" + s[1] + "'"));
                assertEquals(1, count(sink, "SELECT count(*) FROM scores WHERE metric = 'rank' AND value = 1 AND layer = " + (s[0] - 1)
                        + " AND head = " + (s[1] - 1) + " AND spec LIKE '%/" + s[0] + "x" + s[1] + "'"), "the planted head first in " + s[0] + "x" + s[1]);
            }
        }
    }

    @Test
    void halfPrecisionCheckpointsScoreAsTheirF32Originals() throws Exception {
        List<String> specs = new ArrayList<>();
        for (DType t : new DType[] {DType.F32, DType.F16, DType.BF16}) {
            Path p = dir.resolve("dtypes").resolve(t.name());
            new SyntheticGpt2(DIMS, 5, List.of(new HeadId(1, 2))).storedAs(t).write(p, 2);
            specs.add(p.toString());
        }
        try (DuckDbSink sink = DuckDbSink.open(dir.resolve("dtypes.duckdb"))) {
            sink.begin("test", "test", backend.describe(), "test");
            Analyses one = new Analyses(true, List.of(Variant.FULL), List.of(0L), 16, 4, false, false, false);
            new Sweep(backend, one, sink, c -> Sweep.Fetched.local(Path.of(c.spec())), new Seen(), false).run(Checkpoints.expand(specs, Optional.empty(), Optional.empty()), Progress.NONE);
            assertEquals(2, count(sink, "SELECT count(*) FROM models WHERE dtypes LIKE '%widened to F32%'"), "F16 and BF16 say so");
            // per head: |F16 − F32| within F16's rounding (~1e-3 relative), BF16's within ~1e-2; the planted head first in all
            for (String t : new String[] {"F16", "BF16"}) {
                double tol = t.equals("F16") ? 2e-3 : 2e-2;
                assertEquals(0, count(sink, "SELECT count(*) FROM scores a JOIN scores b USING (layer, head, metric) WHERE a.metric = 'score' "
                        + "AND a.spec LIKE '%/F32' AND b.spec LIKE '%/" + t + "' AND abs(a.value - b.value) > " + tol + " * (abs(a.value) + 0.01)"), t);
                assertEquals(1, count(sink, "SELECT count(*) FROM scores WHERE spec LIKE '%/" + t + "' AND metric = 'rank' AND value = 1 AND layer = 1 AND head = 2"));
            }
        }
    }

    @Test
    void theLongTableExportsToParquetCsvAndJsonLines() throws Exception {
        Path run = series("export");
        try (DuckDbSink sink = DuckDbSink.open(dir.resolve("export.duckdb"))) {
            sweep(sink, new Seen(), false).run(Checkpoints.expand(List.of(run + "/checkpoint-*"), Optional.empty(), Optional.empty()), Progress.NONE);
            long rows = count(sink, "SELECT count(*) FROM results");
            Path parquet = dir.resolve("out.parquet"), csv = dir.resolve("out.csv"), jsonl = dir.resolve("out.jsonl");
            sink.export(parquet);
            sink.export(csv);
            sink.export(jsonl);
            assertEquals(rows, count(sink, "SELECT count(*) FROM read_parquet('" + parquet + "')"));
            assertEquals(3 * 2 * 2 * 12, count(sink, "SELECT count(*) FROM read_parquet('" + parquet + "') WHERE metric = 'score'"));
            List<String> lines = Files.readAllLines(csv);
            assertEquals("spec,revision,commit_sha,label,step,analysis,definition,variant,seed,layer,head,tensor,metric,value", lines.getFirst());
            assertEquals(rows + 1, lines.size());
            assertEquals(rows, Files.readAllLines(jsonl).size());
            assertTrue(Files.readAllLines(jsonl).getFirst().startsWith("{\"spec\":"));
            try (var s = Files.list(dir)) {
                assertTrue(s.noneMatch(p -> p.getFileName().toString().contains(".tmp-")), "no temporaries left");
            }
        }
    }

    @Test
    void fullVocabularyAndOvStatisticsPerHeadAreResumedHeadByHead() throws Exception {
        Path run = series("fullvocab");
        List<Checkpoint> cs = Checkpoints.expand(List.of(run + "/checkpoint-*"), Optional.empty(), Optional.empty());
        try (DuckDbSink sink = DuckDbSink.open(dir.resolve("fullvocab.duckdb"))) {
            sink.begin("test", "test", backend.describe(), "test");
            Analyses one = new Analyses(false, List.of(), List.of(), 16, 4, false, false, false, "2.1", "2.1", Variant.FULL);
            assertEquals(3, new Sweep(backend, one, sink, c -> Sweep.Fetched.local(Path.of(c.spec())), new Seen(), false).run(cs, Progress.NONE).computed());
            // the same numbers as a direct computation, and the planted head of checkpoint-100 (2.1) is found
            try (Model m = Model.open(run.resolve("checkpoint-100"));
                 java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
                var wee = io.headscan.model.Matrix.dense(arena.allocate(500L * 32 * 4), 500, 32);
                new io.headscan.circuits.EffectiveEmbedding(m, backend, Variant.FULL).computeAll(wee, Progress.NONE);
                try (var qk = new io.headscan.circuits.FullVocabQK(m, backend, wee)) {
                    double want = qk.head(new HeadId(2, 1), Progress.NONE).meanDiagProb();
                    try (Statement st = sink.connection().createStatement();
                         ResultSet rs = st.executeQuery("SELECT value FROM scores WHERE step = 100 AND metric = 'mean_diag_prob' AND layer = 2 AND head = 1")) {
                        assertTrue(rs.next());
                        assertEquals(want, rs.getDouble(1), 1e-12);
                        assertTrue(want > 25.0 / 500, "the planted head attends to its own token far above 1/V: " + want);
                    }
                }
            }
            assertEquals(3, count(sink, "SELECT count(*) FROM scores WHERE analysis = 'ov' AND metric = 'negative_frac_rank0'"));
            // asking for one more head later computes only that head
            Analyses two = new Analyses(false, List.of(), List.of(), 16, 4, false, false, false, "2.1,0.0", "2.1", Variant.FULL);
            new Sweep(backend, two, sink, c -> Sweep.Fetched.local(Path.of(c.spec())), new Seen(), false).run(cs, Progress.NONE);
            assertEquals(3, count(sink, "SELECT count(*) FROM scores WHERE metric = 'mean_diag_prob' AND layer = 0 AND head = 0"));
            assertEquals(3, count(sink, "SELECT count(*) FROM scores WHERE metric = 'mean_diag_prob' AND layer = 2 AND head = 1"), "not twice");
        }
    }

    @Test
    void fixedBagsAreScoredForEveryCheckpointAndNamedInTheDefinition() throws Exception {
        Path run = series("fixed");
        List<int[]> given = List.of(new int[] {1, 5, 9, 13, 17, 21, 25, 29}, new int[] {100, 200, 300, 400, 450, 460, 470, 480});
        Analyses.FixedBags fixed = new Analyses.FixedBags("file mine.json", given);
        Analyses a = new Analyses(true, List.of(Variant.HACKATHON), List.of(0L, 1L, 2L), 16, 4, false, false, false, null, null, Variant.FULL, fixed);
        assertEquals(1, a.keys(DIMS).size(), "seeds do not apply to fixed bags");
        try (DuckDbSink sink = DuckDbSink.open(dir.resolve("fixed.duckdb"))) {
            sink.begin("test", "test", backend.describe(), "test");
            new Sweep(backend, a, sink, c -> Sweep.Fetched.local(Path.of(c.spec())), new Seen(), false)
                    .run(Checkpoints.expand(List.of(run + "/checkpoint-*"), Optional.empty(), Optional.empty()), Progress.NONE);
            assertEquals(3 * 12, count(sink, "SELECT count(*) FROM scores WHERE metric = 'score' AND seed IS NULL AND definition LIKE '%bags=file mine.json crc=%'"));
            try (Model m = Model.open(run.resolve("checkpoint-300"));
                 Statement st = sink.connection().createStatement();
                 ResultSet rs = st.executeQuery("SELECT value FROM scores WHERE step = 300 AND metric = 'score' AND layer = 2 AND head = 3")) {
                assertTrue(rs.next());
                assertEquals(new PredictionAttention(m, backend, Variant.HACKATHON).score(given, Progress.NONE).scores()[2][3], rs.getDouble(1), 1e-12);
            }
        }
        assertNotEquals(fixed.digest(), new Analyses.FixedBags("file mine.json", List.of(given.get(1), given.get(0))).digest(), "another order, other bags");
    }

    @Test
    void rowsAppendedInATransactionThatRollsBackAreGone() throws Exception {
        try (DuckDbSink sink = DuckDbSink.open(dir.resolve("rollback.duckdb"))) {
            assertTrue(sink.usesAppender(), "DuckDB's appender is reached");
            List<ResultRow> rows = List.of(new ResultRow("score", "d", "hackathon", 0L, 1, 2, null, "score", 0.5),
                    new ResultRow("weights", "w", null, null, -1, -1, "wte.weight", "nan", Double.NaN));
            var c = sink.connection();
            c.setAutoCommit(false);
            sink.insertResults(77, rows);
            c.rollback();
            assertEquals(0, count(sink, "SELECT count(*) FROM results WHERE model_id = 77"), "the appender writes inside the transaction");
            sink.insertResults(78, rows);
            c.commit();
            c.setAutoCommit(true);
            assertEquals(2, count(sink, "SELECT count(*) FROM results WHERE model_id = 78"));
            assertEquals(1, count(sink, "SELECT count(*) FROM results WHERE model_id = 78 AND value IS NULL AND seed IS NULL AND tensor = 'wte.weight'"));
        }
    }
}

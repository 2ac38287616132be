package io.headscan.spark;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.model.Dims;
import io.headscan.model.HeadId;
import io.headscan.synth.SyntheticGpt2;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The sweep on Spark in local mode ({@code local[2]}), as a user runs it: the same numbers as the single-process sweep
 * for every analysis, reruns that skip what is committed, a seed added later computed alone, and --export/--plot on
 * the dataset.
 */
class SparkLocalTest {

    static final Dims DIMS = new Dims(400, 32, 3, 4, 64, 8);

    @TempDir
    static Path dir;
    static Path run;

    @BeforeAll
    static void series() throws Exception {
        run = dir.resolve("run");
        for (int i = 1; i <= 4; i++) {
            new SyntheticGpt2(DIMS, 60 + i, List.of(new HeadId(2, i % 4))).asPyTorch(i % 2 == 0).write(run.resolve("checkpoint-" + (100 * i)), 2);
        }
    }

    private static final String[] ANALYSES = {"--score", "--wee", "hackathon,full", "--seeds", "0,1", "--bag-size", "16", "--weights",
            "--fullvocab", "2.1,0.2", "--ov", "2.1"};

    /**
     * The same checkpoint, analyses, backend and thread count give the same bits: each task of {@code local[2]} has one
     * core (spark.task.cpus=1), so OpenBLAS computes with one thread there, and the single process with
     * {@code --threads 1} gives every number bit for bit. With another thread count OpenBLAS splits its larger products
     * among threads differently, which changes how some float32 sums round (docs/sweep.md, "Reproducibility"): here
     * only what full-vocabulary W_EE feeds (fullvocab, ov) may move, within float32 rounding; the score's products and
     * the weights' statistics stay exact.
     */
    @Test
    void localModeGivesTheSingleProcessNumbers() throws Exception {
        Path db = dir.resolve("local.duckdb"), all = dir.resolve("all-cores.duckdb"), out = dir.resolve("ds");
        var one = io.headscan.cli.CliRunAccess.run(concat(new String[] {"sweep", run + "/checkpoint-*", "--db", db.toString(), "--threads", "1"}, ANALYSES));
        assertEquals(0, one.code(), one.out());
        var cores = io.headscan.cli.CliRunAccess.run(concat(new String[] {"sweep", run + "/checkpoint-*", "--db", all.toString()}, ANALYSES));
        assertEquals(0, cores.code(), cores.out());
        SparkRun.Result spark = SparkRun.run(dir, Map.of(), concat(new String[] {"sweep", run + "/checkpoint-*", "--spark", "local[2]", "--out", out.toString()}, ANALYSES));
        assertEquals(0, spark.code(), spark.out());
        assertTrue(spark.out().contains("] " + run + "/checkpoint-100 (100): custom GPT-2 layout, 3x4") && spark.out().contains("on executor driver@"),
                spark.out());
        assertTrue(spark.out().contains("sweep: 4 checkpoints: 4 computed, 0 skipped, 0 failed"), spark.out());
        try (Connection c = io.headscan.sweep.ParquetDataset.open(out); Statement s = c.createStatement()) {
            // every number of the dataset equals the one-thread DuckDB file's, key by key, bit for bit
            s.execute("ATTACH '" + db + "' AS local (READ_ONLY)");
            try (ResultSet rs = s.executeQuery("SELECT count(*), count(*) FILTER (WHERE a.value IS NOT DISTINCT FROM b.value), "
                    + "(SELECT count(*) FROM local.scores), (SELECT count(DISTINCT analysis) FROM scores) FROM scores a "
                    + "JOIN local.scores b ON a.spec = b.spec AND a.definition = b.definition AND a.layer = b.layer AND a.head = b.head "
                    + "AND a.tensor IS NOT DISTINCT FROM b.tensor AND a.metric = b.metric")) {
                rs.next();
                assertTrue(rs.getLong(1) > 1000, rs.getLong(1) + " rows");
                assertEquals(rs.getLong(3), rs.getLong(1), "every row of the single-process sweep has its twin");
                assertEquals(rs.getLong(1), rs.getLong(2), "and the same value, bit for bit");
                assertEquals(4, rs.getLong(4), "score, weights, fullvocab, ov");
            }
            // against all cores: exact but for float32 rounding in what full-vocabulary W_EE feeds
            s.execute("ATTACH '" + all + "' AS cores (READ_ONLY)");
            int compared = 0;
            try (ResultSet rs = s.executeQuery("SELECT a.analysis, a.metric, a.value, b.value, a.spec || ' ' || a.definition || ' ' || a.layer || '.' || a.head "
                    + "|| ' ' || coalesce(a.tensor, '') || ' ' || a.metric FROM scores a JOIN cores.scores b ON a.spec = b.spec AND a.definition = b.definition "
                    + "AND a.layer = b.layer AND a.head = b.head AND a.tensor IS NOT DISTINCT FROM b.tensor AND a.metric = b.metric")) {
                while (rs.next()) {
                    compared++;
                    String analysis = rs.getString(1), metric = rs.getString(2), key = rs.getString(5);
                    double x = rs.getDouble(3), y = rs.getDouble(4);
                    if (analysis.equals("score") || analysis.equals("weights")) {
                        assertEquals(Double.doubleToLongBits(y), Double.doubleToLongBits(x), "exact: " + key);
                    } else {
                        assertTrue(Math.abs(x - y) <= tolerance(metric, y), key + ": " + x + " (one thread) against " + y + " (all cores)");
                    }
                }
            }
            assertEquals(SparkRun.count(out, "SELECT count(*) FROM scores"), compared, "every key compared");
        }
        assertEquals(4, SparkRun.count(out, "SELECT count(*) FROM models"));
        assertEquals(2, SparkRun.count(out, "SELECT count(*) FROM models WHERE format = 'pytorch-zip'"));

        // a rerun skips all; a seed added later is computed alone; --export and --plot read the dataset
        SparkRun.Result again = SparkRun.run(dir, Map.of(), concat(new String[] {"sweep", run + "/checkpoint-*", "--spark", "local[2]", "--out", out.toString()}, ANALYSES));
        assertEquals(0, again.code(), again.out());
        assertTrue(again.out().contains("0 computed, 4 skipped"), again.out());
        Path csv = dir.resolve("x.csv"), png = dir.resolve("x.png");
        SparkRun.Result seed = SparkRun.run(dir, Map.of(), "sweep", run + "/checkpoint-*", "--spark", "local[2]", "--out", out.toString(),
                "--score", "--seeds", "2", "--bag-size", "16", "--export", csv.toString(), "--plot", png.toString());
        assertEquals(0, seed.code(), seed.out());
        assertTrue(seed.out().contains("4 computed, 0 skipped") && seed.out().contains("exported to " + csv) && seed.out().contains("plot written to"), seed.out());
        assertEquals(4, SparkRun.count(out, "SELECT count(*) FROM done WHERE definition LIKE 'score wee=hackathon seed=2 %'"));
        assertEquals(4 * 12 * 4, SparkRun.count(out, "SELECT count(*) FROM results WHERE definition LIKE 'score wee=hackathon seed=2 %'"),
                "only the new definition's rows were added");
        assertEquals(0, SparkRun.count(out, "SELECT count(*) FROM (SELECT spec, definition, layer, head, tensor, metric FROM scores GROUP BY ALL HAVING count(*) > 1)"));
        assertTrue(Files.readAllLines(csv).size() > 4 * 12 * 4 * 9);
        assertNotNull(javax.imageio.ImageIO.read(png.toFile()));
    }

    /** A Hadoop URI (here file:, the same code path as s3a: and hdfs:) is copied to the executor's local disk first. */
    @Test
    void aHadoopUriIsCopiedToLocalDiskAndKeepsItsIdentity() throws Exception {
        Path out = dir.resolve("uri-ds");
        String uri = run.resolve("checkpoint-200").toUri().toString();   // file:///.../checkpoint-200/ (a .bin and its config.json)
        SparkRun.Result r = SparkRun.run(dir, Map.of(), "sweep", uri, "--score", "--bag-size", "16", "--spark", "local[1]", "--out", out.toString());
        assertEquals(0, r.code(), r.out());
        assertTrue(r.out().contains("1 computed"), r.out());
        assertEquals(1, SparkRun.count(out, "SELECT count(*) FROM models WHERE source LIKE 'uri:file:%/checkpoint-200' AND content_id LIKE 'remote:%'"),
                "identified by the URI and what the file system says of its files, not by the local copy");
        assertEquals(1, SparkRun.count(out, "SELECT count(*) FROM models WHERE format = 'pytorch-zip' AND heads = 4"));
        try (var s = java.nio.file.Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            assertTrue(s.noneMatch(p -> p.getFileName().toString().startsWith("headscan-checkpoint-") && java.nio.file.Files.isDirectory(p.resolve("checkpoint-200"))),
                    "the local copy is removed after use");
        }
        SparkRun.Result again = SparkRun.run(dir, Map.of(), "sweep", uri, "--score", "--bag-size", "16", "--spark", "local[1]", "--out", out.toString());
        assertTrue(again.out().contains("0 computed, 1 skipped"), again.out());
    }

    @Test
    void usageErrorsBeforeAnySparkStarts() throws Exception {
        var noOut = io.headscan.cli.CliRunAccess.run("sweep", run.toString(), "--score", "--spark", "local[2]");
        assertEquals(2, noOut.code());
        assertTrue(noOut.err().contains("--spark writes its results to a dataset: give --out DIR"), noOut.err());
        var outAlone = io.headscan.cli.CliRunAccess.run("sweep", run.toString(), "--score", "--out", dir.resolve("z").toString());
        assertEquals(2, outAlone.code());
        assertTrue(outAlone.err().contains("--out goes with --spark"), outAlone.err());
    }

    /**
     * How far a number fed by full-vocabulary W_EE may move with the thread count. W_EE's products differ by a few float32
     * roundings (2^-24 relative each) per element; mean_diag_prob, an average of softmax probabilities of scores made
     * from them, moves by about as much (measured: 3e-8 relative here, 1e-9 on GPT-2 Small size), so 1e-5 relative is a
     * wide bound that a wrong computation would still break. A rank moves only where two scores agree to within such
     * rounding: a fraction of rows may change by a row or two (2/V), a mean or median rank by a few positions.
     */
    private static double tolerance(String metric, double reference) {
        if (metric.endsWith("mean_diag_prob")) return 1e-5 * Math.abs(reference);
        if (metric.contains("frac_")) return 2.0 / DIMS.vocab();
        return 2.0;   // median_rank, mean_rank
    }

    static String[] concat(String[] a, String[] b) {
        String[] out = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}

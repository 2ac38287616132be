package io.headscan.sweep;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.stream.Stream;

/**
 * A distributed sweep's results (docs/spark.md): a folder with one sub-folder per table of the sweep's DuckDB file
 * ({@code runs/}, {@code models/}, {@code done/}, {@code results/}, {@code errors/}), each holding Parquet files, one per
 * checkpoint (or run, or failure). A checkpoint is committed when its {@code done/} file exists: it is written last,
 * after its results and models files, each under a temporary name and renamed into place, and every file name is the
 * checkpoint's model id, a hash of its identity and definitions, so a retried task writes the same names again.
 *
 * <p>{@link #attach} makes the same views as a DuckDB sweep file over such a folder ({@code models}, {@code done},
 * {@code results}, {@code errors}, {@code runs}, {@code scores}, {@code results_history}): only committed checkpoints,
 * and {@code current} as there (of one source, the rows of its newest content).
 */
public final class ParquetDataset {

    public static final List<String> TABLES = List.of("runs", "models", "done", "results", "errors");

    private ParquetDataset() {}

    /** Whether {@code dir} holds a dataset (any of its table folders). */
    public static boolean looksLikeOne(Path dir) {
        return TABLES.stream().anyMatch(t -> Files.isDirectory(dir.resolve(t)));
    }

    /** Creates the views over a dataset folder on a DuckDB connection (an in-memory one will do). */
    public static void attach(Connection db, Path dir) throws SQLException, IOException {
        try (Statement s = db.createStatement()) {
            for (String t : TABLES) {
                String from = hasFiles(dir.resolve(t)) ? "read_parquet('" + glob(dir.resolve(t)) + "', union_by_name = true)" : null;
                String empty = switch (t) {
                    case "runs" -> "SELECT NULL::BIGINT AS run_id, NULL::TIMESTAMP AS started, NULL::VARCHAR AS options, NULL::VARCHAR AS version, "
                            + "NULL::VARCHAR AS backend, NULL::VARCHAR AS machine WHERE false";
                    case "errors" -> "SELECT NULL::BIGINT AS run_id, NULL::VARCHAR AS spec, NULL::VARCHAR AS revision, NULL::VARCHAR AS message, "
                            + "NULL::TIMESTAMP AS failed_at, NULL::VARCHAR AS executor WHERE false";
                    case "done" -> "SELECT NULL::BIGINT AS model_id, NULL::VARCHAR AS definition WHERE false";
                    case "results" -> "SELECT NULL::BIGINT AS model_id, NULL::VARCHAR AS analysis, NULL::VARCHAR AS definition, NULL::VARCHAR AS variant, "
                            + "NULL::BIGINT AS seed, NULL::INTEGER AS layer, NULL::INTEGER AS head, NULL::VARCHAR AS tensor, NULL::VARCHAR AS metric, "
                            + "NULL::DOUBLE AS value WHERE false";
                    default -> "SELECT NULL::BIGINT AS model_id, NULL::BIGINT AS run_id, NULL::VARCHAR AS spec, NULL::VARCHAR AS revision, "
                            + "NULL::VARCHAR AS path, NULL::BIGINT AS size_bytes, NULL::VARCHAR AS file_key, NULL::VARCHAR AS sha256, NULL::VARCHAR AS label, "
                            + "NULL::BIGINT AS step, NULL::VARCHAR AS architecture, NULL::INTEGER AS layers, NULL::INTEGER AS heads, NULL::INTEGER AS d_model, "
                            + "NULL::INTEGER AS vocab, NULL::VARCHAR AS dtypes, NULL::TIMESTAMP AS computed, NULL::VARCHAR AS source, "
                            + "NULL::VARCHAR AS commit_sha, NULL::VARCHAR AS content_id, NULL::VARCHAR AS format, NULL::BOOLEAN AS current, "
                            + "NULL::BIGINT AS superseded_by, NULL::VARCHAR AS executor, NULL::DOUBLE AS fetch_seconds, NULL::DOUBLE AS compute_seconds WHERE false";
                };
                s.execute("CREATE OR REPLACE VIEW raw_" + t + " AS " + (from != null ? "SELECT * FROM " + from : empty));
            }
            s.execute("CREATE OR REPLACE VIEW done AS SELECT * FROM raw_done");
            s.execute("CREATE OR REPLACE VIEW models AS SELECT * EXCLUDE (current), "
                    + "content_id = arg_max(content_id, computed) OVER (PARTITION BY source) AS current "
                    + "FROM raw_models WHERE model_id IN (SELECT model_id FROM raw_done)");
            s.execute("CREATE OR REPLACE VIEW results AS SELECT * FROM raw_results WHERE model_id IN (SELECT model_id FROM raw_done)");
            s.execute("CREATE OR REPLACE VIEW runs AS SELECT * FROM raw_runs");
            s.execute("CREATE OR REPLACE VIEW errors AS SELECT * FROM raw_errors");
            s.execute("CREATE OR REPLACE VIEW scores AS SELECT m.spec, m.revision, m.commit_sha, m.label, m.step, m.architecture, r.* "
                    + "FROM results r JOIN models m USING (model_id) WHERE m.current");
            s.execute("CREATE OR REPLACE VIEW results_history AS SELECT m.spec, m.revision, m.commit_sha, m.label, m.step, m.source, m.content_id, "
                    + "m.current, m.computed, r.* FROM results r JOIN models m USING (model_id)");
        }
    }

    private static boolean hasFiles(Path d) throws IOException {
        if (!Files.isDirectory(d)) return false;
        try (Stream<Path> s = Files.list(d)) {
            return s.anyMatch(p -> p.getFileName().toString().endsWith(".parquet"));
        }
    }

    private static String glob(Path d) {
        return d.toAbsolutePath().resolve("*.parquet").toString().replace("'", "''");
    }

    /** A DuckDB connection in memory with the dataset's views (for exports, plots and tests). */
    public static Connection open(Path dir) throws SQLException, IOException {
        Connection c = DuckDb.connect(null);
        try {
            attach(c, dir);
            return c;
        } catch (SQLException | IOException | RuntimeException e) {
            c.close();
            throw e;
        }
    }
}

package io.headscan.sweep;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * A distributed sweep's results (docs/spark.md): a folder with one sub-folder per table of the sweep's DuckDB file
 * ({@code runs/}, {@code models/}, {@code done/}, {@code results/}, {@code errors/}), each holding Parquet files.
 *
 * <p>How a checkpoint is committed, and so how every reader must read: each commit is one <em>write</em> with an id of
 * its own ({@code write_id}, which sorts in commit order), and writes {@code results/ID-WRITE.parquet},
 * {@code models/ID-WRITE.parquet} and then {@code done/ID-WRITE.parquet} (ID: the checkpoint's model id, a hash of its
 * identity and definitions; every file under a temporary name first, renamed into place, never over another). The
 * {@code done} file commits the write it names: results and models rows count only when their {@code write_id} is
 * the one named by the newest done file of their model id, so files of a write that never got its done file (a driver
 * that died half-way) are ignored, and nothing committed is ever deleted or replaced. Files from before write ids
 * (named ID.parquet, without the column) count as a write that sorts before every other.
 *
 * <p>{@link #attach} reads a snapshot: it lists {@code done/} first, then takes only the {@code results/} and
 * {@code models/} files of the writes those done files name. Files are only ever added, and a write's results and
 * models are in place before its done file, so a commit that lands while the folders are listed is either wholly in
 * the snapshot or not at all; and files no done file names (a write in flight, or one a crash cut short, perhaps
 * unreadable) are never opened.
 *
 * <p>{@link #attach} makes the same views as a DuckDB sweep file over such a folder ({@code models}, {@code done},
 * {@code results}, {@code errors}, {@code runs}, {@code scores}, {@code results_history}): committed rows only, with
 * {@code current} and {@code superseded_by} from {@link Supersession}, the rule the DuckDB file uses.
 */
public final class ParquetDataset {

    public static final List<String> TABLES = List.of("runs", "models", "done", "results", "errors");

    /** Every column of each table, with its DuckDB type: a column that no file of a table has yet is NULL in its view. */
    static final Map<String, Map<String, String>> COLUMNS = Map.of(
            "runs", columns("run_id BIGINT, started TIMESTAMP WITH TIME ZONE, options VARCHAR, version VARCHAR, backend VARCHAR, machine VARCHAR"),
            "errors", columns("run_id BIGINT, spec VARCHAR, revision VARCHAR, message VARCHAR, failed_at TIMESTAMP WITH TIME ZONE, executor VARCHAR, "
                    + "gpu INTEGER, task_attempt INTEGER"),
            "done", columns("model_id BIGINT, definition VARCHAR, write_id VARCHAR"),
            "results", columns("model_id BIGINT, analysis VARCHAR, definition VARCHAR, variant VARCHAR, seed BIGINT, layer INTEGER, head INTEGER, "
                    + "tensor VARCHAR, metric VARCHAR, value DOUBLE, write_id VARCHAR"),
            "models", columns("model_id BIGINT, run_id BIGINT, spec VARCHAR, revision VARCHAR, path VARCHAR, size_bytes BIGINT, file_key VARCHAR, "
                    + "sha256 VARCHAR, label VARCHAR, step BIGINT, architecture VARCHAR, layers INTEGER, heads INTEGER, d_model INTEGER, vocab INTEGER, "
                    + "dtypes VARCHAR, computed TIMESTAMP WITH TIME ZONE, source VARCHAR, commit_sha VARCHAR, content_id VARCHAR, format VARCHAR, "
                    + "current BOOLEAN, superseded_by BIGINT, executor VARCHAR, gpu INTEGER, task_attempt INTEGER, fetch_seconds DOUBLE, "
                    + "compute_seconds DOUBLE, write_id VARCHAR, family VARCHAR"));

    private static Map<String, String> columns(String spec) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String c : spec.split(",\\s*")) {
            int sp = c.indexOf(' ');
            m.put(c.substring(0, sp), c.substring(sp + 1));
        }
        return m;
    }

    /** A write's key: its id, or the empty string for files from before write ids (they sort first). */
    private static final String WRITE_KEY = "coalesce(write_id, '')";

    private ParquetDataset() {}

    /** Whether {@code dir} holds a dataset (any of its table folders). */
    public static boolean looksLikeOne(Path dir) {
        return TABLES.stream().anyMatch(t -> Files.isDirectory(dir.resolve(t)));
    }

    /** Creates the views over a dataset folder on a DuckDB connection (an in-memory one will do). */
    public static void attach(Connection db, Path dir) throws SQLException, IOException {
        try (Statement s = db.createStatement()) {
            List<Path> done = parquetFiles(dir.resolve("done"));   // first: every write it names is whole by now
            Set<String> committed = new HashSet<>();
            for (Path f : done) committed.add(f.getFileName().toString());
            for (String t : TABLES) {
                List<Path> files = t.equals("done") ? done : parquetFiles(dir.resolve(t));
                if (t.equals("results") || t.equals("models")) files = files.stream().filter(f -> committed.contains(f.getFileName().toString())).toList();
                s.execute("CREATE OR REPLACE VIEW raw_" + t + " AS " + raw(s, t, files));
            }
            // the write each model id's newest done file names: the one that counts
            s.execute("CREATE OR REPLACE VIEW commits AS SELECT model_id, max(" + WRITE_KEY + ") AS write_key FROM raw_done GROUP BY model_id");
            s.execute("CREATE OR REPLACE VIEW done AS SELECT d.model_id, d.definition FROM raw_done d "
                    + "JOIN commits c ON d.model_id = c.model_id AND coalesce(d.write_id, '') = c.write_key");
            s.execute("CREATE OR REPLACE VIEW committed_models AS SELECT m.* EXCLUDE (current, superseded_by, write_id), c.write_key FROM raw_models m "
                    + "JOIN commits c ON m.model_id = c.model_id AND coalesce(m.write_id, '') = c.write_key");
            s.execute("CREATE OR REPLACE VIEW models AS SELECT m.* EXCLUDE (write_key), "
                    + Supersession.currentSql("committed_models", "m", Supersession.BY_WRITE_ORDER) + " AS current, "
                    + Supersession.supersededBySql("committed_models", "m", Supersession.BY_WRITE_ORDER) + " AS superseded_by "
                    + "FROM committed_models m");
            s.execute("CREATE OR REPLACE VIEW results AS SELECT r.* EXCLUDE (write_id) FROM raw_results r "
                    + "JOIN commits c ON r.model_id = c.model_id AND coalesce(r.write_id, '') = c.write_key");
            s.execute("CREATE OR REPLACE VIEW runs AS SELECT * FROM raw_runs");
            s.execute("CREATE OR REPLACE VIEW errors AS SELECT * FROM raw_errors");
            s.execute("CREATE OR REPLACE VIEW scores AS SELECT m.spec, m.revision, m.commit_sha, m.label, m.step, m.architecture, m.family, r.* "
                    + "FROM results r JOIN models m USING (model_id) WHERE m.current");
            s.execute("CREATE OR REPLACE VIEW results_history AS SELECT m.spec, m.revision, m.commit_sha, m.label, m.step, m.source, m.content_id, "
                    + "m.current, m.superseded_by, m.computed, r.* FROM results r JOIN models m USING (model_id)");
        }
    }

    /** A table's files as one relation with every column of {@link #COLUMNS} (NULL where no file has it), or none. */
    private static String raw(Statement s, String table, List<Path> files) throws SQLException {
        Map<String, String> want = COLUMNS.get(table);
        if (files.isEmpty()) {
            StringBuilder empty = new StringBuilder("SELECT ");
            want.forEach((c, type) -> empty.append(empty.length() > 7 ? ", " : "").append("NULL::").append(type).append(" AS ").append(c));
            return empty.append(" WHERE false").toString();
        }
        StringBuilder list = new StringBuilder("[");
        for (Path f : files) list.append(list.length() > 1 ? ", " : "").append('\'').append(f.toAbsolutePath().toString().replace("'", "''")).append('\'');
        String from = "read_parquet(" + list.append(']') + ", union_by_name = true)";
        Set<String> have = new HashSet<>();
        try (ResultSet rs = s.executeQuery("DESCRIBE SELECT * FROM " + from)) {
            while (rs.next()) have.add(rs.getString(1));
        }
        StringBuilder missing = new StringBuilder();
        want.forEach((c, type) -> {
            if (!have.contains(c)) missing.append(", NULL::").append(type).append(" AS ").append(c);
        });
        return "SELECT *" + missing + " FROM " + from;
    }

    /** The folder's Parquet files in name order (temporary files, whose names start with a dot, left out); none without it. */
    private static List<Path> parquetFiles(Path d) throws IOException {
        if (!Files.isDirectory(d)) return List.of();
        try (Stream<Path> s = Files.list(d)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".parquet") && !p.getFileName().toString().startsWith(".")).sorted().toList();
        }
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

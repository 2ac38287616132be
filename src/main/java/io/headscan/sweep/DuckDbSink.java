package io.headscan.sweep;

import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Types;
import java.util.List;
import java.util.Locale;

/**
 * A sweep's results in one DuckDB database file. Tables:
 * <ul>
 *   <li>{@code runs}: one row per sweep run (options, headscan version, backend, machine, start time);</li>
 *   <li>{@code models}: one row per checkpoint computed in a run (what was named, revision, path, size, SHA-256 where
 *       known, label and step, architecture, dimensions, dtypes), with its identity ({@code source}, {@code commit_sha},
 *       {@code content_id}), {@code format}, and whether its numbers are {@code current} (false once a rerun on changed
 *       content superseded them: {@code superseded_by});</li>
 *   <li>{@code done}: which definitions each of those rows completed (what a rerun checks to skip work);</li>
 *   <li>{@code results}: the numbers in long form (model_id, analysis, definition, variant, seed, layer, head, tensor,
 *       metric, value); NULL values for heads that non-finite weights reach;</li>
 *   <li>{@code errors}: checkpoints that failed, with the one-line message;</li>
 *   <li>view {@code scores}: the current results joined with their model's spec, revision, commit, label and step: one
 *       value per (checkpoint, definition, head or tensor, metric); view {@code results_history}: every result ever
 *       stored, superseded ones included.</li>
 * </ul>
 * A checkpoint's rows go in one transaction, rolled back on any failure, an Error included: after an interruption or a
 * crash only whole checkpoints are there.
 */
public final class DuckDbSink implements ResultSink {

    private final Connection db;
    private final Appender appender;
    private long runId = -1;
    /** Why this sink can no longer be used (a rollback failed and its connection was closed); null while it can. */
    private volatile String lost;

    private DuckDbSink(Connection db) {
        this.db = db;
        this.appender = Appender.of(db);
    }

    /**
     * DuckDB's appender for the results table, reached by reflection (the driver is loaded by its own class loader): it
     * writes rows straight into the table, within the connection's transaction, about 50 times faster than SQL. Null
     * when this driver has none (then rows go in as VALUES lists).
     */
    private record Appender(Connection db, java.lang.invoke.MethodHandle create, java.lang.invoke.MethodHandle begin,
                            java.lang.invoke.MethodHandle end, java.lang.invoke.MethodHandle appendLong, java.lang.invoke.MethodHandle appendInt,
                            java.lang.invoke.MethodHandle appendDouble, java.lang.invoke.MethodHandle appendString,
                            java.lang.invoke.MethodHandle appendNull, java.lang.invoke.MethodHandle close) {

        static Appender of(Connection given) {
            try {
                var l = java.lang.invoke.MethodHandles.publicLookup();
                // the driver's own connection, also when the caller's is a wrapper around it (a pool's, a test's)
                Class<?> duck = Class.forName("org.duckdb.DuckDBConnection", false, DuckDb.driverClass().getClassLoader());
                Connection db = duck.isInstance(given) ? given : given.isWrapperFor(duck) ? (Connection) given.unwrap(duck) : null;
                if (db == null) return null;
                Class<?> c = db.getClass();
                java.lang.invoke.MethodHandle create = l.findVirtual(c, "createAppender",
                        java.lang.invoke.MethodType.methodType(Class.forName("org.duckdb.DuckDBAppender", false, c.getClassLoader()), String.class, String.class));
                Class<?> a = create.type().returnType();
                java.util.function.BiFunction<String, Class<?>, java.lang.invoke.MethodHandle> m = (name, arg) -> {
                    try {
                        return arg == null ? l.findVirtual(a, name, java.lang.invoke.MethodType.methodType(a))
                                : l.findVirtual(a, name, java.lang.invoke.MethodType.methodType(a, arg));
                    } catch (ReflectiveOperationException e) {
                        throw new IllegalStateException(e);
                    }
                };
                return new Appender(db, create, m.apply("beginRow", null), m.apply("endRow", null), m.apply("append", long.class),
                        m.apply("append", int.class), m.apply("append", double.class), m.apply("append", String.class), m.apply("appendNull", null),
                        l.findVirtual(a, "close", java.lang.invoke.MethodType.methodType(void.class)));
            } catch (ReflectiveOperationException | SQLException | RuntimeException | LinkageError e) {
                return null;
            }
        }

        void append(long modelId, List<ResultRow> rows) throws SQLException {
            try {
                Object app = create.invoke(db, "main", "results");
                try {
                    for (ResultRow r : rows) {
                        begin.invoke(app);
                        appendLong.invoke(app, modelId);
                        string(app, r.analysis());
                        string(app, r.definition());
                        string(app, r.variant());
                        if (r.seed() == null) appendNull.invoke(app);
                        else appendLong.invoke(app, (long) r.seed());
                        appendInt.invoke(app, r.layer());
                        appendInt.invoke(app, r.head());
                        string(app, r.tensor());
                        string(app, r.metric());
                        if (Double.isFinite(r.value())) appendDouble.invoke(app, r.value());
                        else appendNull.invoke(app);
                        end.invoke(app);
                    }
                } finally {
                    close.invoke(app);   // flushes into the table, inside the connection's transaction
                }
            } catch (SQLException | RuntimeException | Error e) {
                throw e;
            } catch (Throwable t) {
                throw new SQLException(t);
            }
        }

        private void string(Object app, String s) throws Throwable {
            if (s == null) appendNull.invoke(app);
            else appendString.invoke(app, s);
        }
    }

    /**
     * A plain JDBC connection to a sweep's database file, for reading it from Java (DuckDB's driver is loaded as the
     * sweep loads it: from the class path, or from beside headscan's jar). The caller closes it.
     */
    public static java.sql.Connection connect(Path file) throws SQLException {
        return DuckDb.connect(file);
    }

    /** Opens (or creates) the database file and its tables. */
    public static DuckDbSink open(Path file) throws SQLException {
        return open(DuckDb.connect(file));
    }

    /**
     * A sink on a DuckDB connection the caller opened (a database in memory, one with others attached, a wrapper
     * around DuckDB's own connection): its tables are created where missing. The sink owns the connection from then on
     * and closes it, also when this fails.
     */
    public static DuckDbSink open(Connection c) throws SQLException {
        try (Statement s = c.createStatement()) {
            s.execute("CREATE SEQUENCE IF NOT EXISTS run_ids START 1");
            s.execute("CREATE SEQUENCE IF NOT EXISTS model_ids START 1");
            s.execute("CREATE TABLE IF NOT EXISTS runs (run_id BIGINT PRIMARY KEY, started TIMESTAMP, options VARCHAR, version VARCHAR, "
                    + "backend VARCHAR, machine VARCHAR)");
            s.execute("CREATE TABLE IF NOT EXISTS models (model_id BIGINT PRIMARY KEY, run_id BIGINT, spec VARCHAR, revision VARCHAR, "
                    + "path VARCHAR, size_bytes BIGINT, file_key VARCHAR, sha256 VARCHAR, label VARCHAR, step BIGINT, architecture VARCHAR, "
                    + "layers INTEGER, heads INTEGER, d_model INTEGER, vocab INTEGER, dtypes VARCHAR, computed TIMESTAMP, "
                    + "source VARCHAR, commit_sha VARCHAR, content_id VARCHAR, format VARCHAR, current BOOLEAN, superseded_by BIGINT)");
            migrate(s);
            s.execute("CREATE TABLE IF NOT EXISTS done (model_id BIGINT, definition VARCHAR)");
            s.execute("CREATE TABLE IF NOT EXISTS results (model_id BIGINT, analysis VARCHAR, definition VARCHAR, variant VARCHAR, seed BIGINT, "
                    + "layer INTEGER, head INTEGER, tensor VARCHAR, metric VARCHAR, value DOUBLE)");
            s.execute("CREATE TABLE IF NOT EXISTS errors (run_id BIGINT, spec VARCHAR, revision VARCHAR, message VARCHAR, failed_at TIMESTAMP)");
            s.execute("CREATE OR REPLACE VIEW scores AS SELECT m.spec, m.revision, m.commit_sha, m.label, m.step, m.architecture, m.family, r.* "
                    + "FROM results r JOIN models m USING (model_id) WHERE m.current");
            s.execute("CREATE OR REPLACE VIEW results_history AS SELECT m.spec, m.revision, m.commit_sha, m.label, m.step, m.source, m.content_id, "
                    + "m.current, m.superseded_by, m.computed, r.* FROM results r JOIN models m USING (model_id)");
        } catch (Throwable e) {
            try {
                c.close();
            } catch (Throwable closing) {
                e.addSuppressed(closing);
            }
            throw e;
        }
        return new DuckDbSink(c);
    }

    /**
     * Databases written before checkpoints had an identity: the columns are added, each old row's source is its path and
     * its content its size and modification time, and which rows are current is decided by {@link Supersession} (older
     * versions of a rewritten file were mixed in before; they become history).
     */
    private static void migrate(Statement s) throws SQLException {
        for (String col : List.of("source VARCHAR", "commit_sha VARCHAR", "content_id VARCHAR", "format VARCHAR", "current BOOLEAN", "superseded_by BIGINT", "family VARCHAR")) {
            s.execute("ALTER TABLE models ADD COLUMN IF NOT EXISTS " + col);
        }
        s.execute("UPDATE models SET source = 'legacy:' || coalesce(spec, '') || '@' || coalesce(revision, ''), content_id = 'legacy:' || coalesce(file_key, '') "
                + "WHERE source IS NULL");
        s.execute(Supersession.updateSql("models", "current IS NULL", Supersession.BY_MODEL_ID));
    }

    /** The open connection (for exports and for tests). */
    public Connection connection() {
        return db;
    }

    @Override
    public void begin(String options, String version, String backend, String machine) throws SQLException {
        usable();
        try (Statement s = db.createStatement(); ResultSet rs = s.executeQuery("SELECT nextval('run_ids')")) {
            rs.next();
            runId = rs.getLong(1);
        }
        try (PreparedStatement p = db.prepareStatement("INSERT INTO runs VALUES (?, now(), ?, ?, ?, ?)")) {
            p.setLong(1, runId);
            p.setString(2, options);
            p.setString(3, version);
            p.setString(4, backend);
            p.setString(5, machine);
            p.executeUpdate();
        }
    }

    @Override
    public boolean isDone(ModelInfo m, String definition) throws SQLException {
        usable();
        // by content: the same bytes reached under another name (a renamed file, a second spelling of a repository) are done
        try (PreparedStatement p = db.prepareStatement("SELECT 1 FROM done d JOIN models m USING (model_id) WHERE m.content_id = ? "
                + "AND m.current AND d.definition = ? LIMIT 1")) {
            p.setString(1, m.contentId());
            p.setString(2, definition);
            try (ResultSet rs = p.executeQuery()) {
                return rs.next();
            }
        }
    }

    @Override
    public java.util.Optional<int[]> storedShape(String source, String contentId) throws SQLException {
        usable();
        try (PreparedStatement p = db.prepareStatement("SELECT layers, heads, d_model, vocab FROM models WHERE source = ? AND content_id = ? AND current "
                + "ORDER BY model_id DESC LIMIT 1")) {
            p.setString(1, source);
            p.setString(2, contentId);
            try (ResultSet rs = p.executeQuery()) {
                return rs.next() ? java.util.Optional.of(new int[] {rs.getInt(1), rs.getInt(2), rs.getInt(3), rs.getInt(4)}) : java.util.Optional.empty();
            }
        }
    }

    /**
     * One transaction: the models row (superseding other content of the same source), the results, and last the done
     * rows a rerun checks, committed together or not at all. Whatever stops it before the commit, an exception or an
     * Error (out of memory, a stack overflow), rolls it back; auto-commit comes back only once nothing is pending,
     * since turning it on with a transaction open would commit that transaction, half a checkpoint included.
     */
    @Override
    public void write(ModelInfo m, List<String> definitions, List<ResultRow> rows) throws SQLException {
        if (runId < 0) throw new IllegalStateException("begin() first");
        usable();
        db.setAutoCommit(false);
        try {
            long modelId;
            try (Statement s = db.createStatement(); ResultSet rs = s.executeQuery("SELECT nextval('model_ids')")) {
                rs.next();
                modelId = rs.getLong(1);
            }
            try (PreparedStatement p = db.prepareStatement("INSERT INTO models VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, now(), ?, ?, ?, ?, true, NULL, ?)")) {
                p.setLong(1, modelId);
                p.setLong(2, runId);
                p.setString(3, m.spec());
                p.setString(4, m.revision());
                p.setString(5, m.path());
                p.setLong(6, m.sizeBytes());
                p.setString(7, m.fileKey());
                p.setString(8, m.sha256());
                p.setString(9, m.label());
                if (m.step() == null) p.setNull(10, Types.BIGINT);
                else p.setLong(10, m.step());
                p.setString(11, m.architecture());
                p.setInt(12, m.layers());
                p.setInt(13, m.heads());
                p.setInt(14, m.dModel());
                p.setInt(15, m.vocab());
                p.setString(16, m.dtypes());
                p.setString(17, m.source());
                p.setString(18, m.commit());
                p.setString(19, m.contentId());
                p.setString(20, m.format());
                p.setString(21, m.family());
                p.executeUpdate();
            }
            // the source's rows as the one rule has them now (older content stops being current and names this row)
            try (PreparedStatement p = db.prepareStatement(Supersession.updateSql("models", "source = ?", Supersession.BY_MODEL_ID))) {
                p.setString(1, m.source());
                p.executeUpdate();
            }
            insertResults(modelId, rows);
            insertDone(modelId, definitions);
            db.commit();
        } catch (Throwable t) {
            abandon(t);
            throw t;
        }
        db.setAutoCommit(true);   // committed: nothing is pending
    }

    /** The done rows of a checkpoint's definitions, in the connection's current transaction. */
    private void insertDone(long modelId, List<String> definitions) throws SQLException {
        try (PreparedStatement p = db.prepareStatement("INSERT INTO done VALUES (?, ?)")) {
            for (String d : definitions) {
                p.setLong(1, modelId);
                p.setString(2, d);
                p.addBatch();
            }
            p.executeBatch();
        }
    }

    /**
     * Rolls back the transaction that {@code cause} interrupted. When the rollback fails too, the connection is closed
     * instead (DuckDB discards an open transaction with its connection), never committed, and this sink refuses any
     * further call: what the failed rollback left pending must not reach the file.
     */
    private void abandon(Throwable cause) {
        try {
            db.rollback();
            db.setAutoCommit(true);   // nothing is pending after a rollback
        } catch (Throwable rollback) {
            cause.addSuppressed(rollback);
            lost = "the connection to the database was closed after a failed rollback (" + Sweep.oneLine(rollback) + ")";
            try {
                db.close();
            } catch (Throwable closing) {
                cause.addSuppressed(closing);
            }
        }
    }

    /** Throws once a failed rollback has closed the connection. */
    private void usable() throws SQLException {
        if (lost != null) throw new SQLException(lost);
    }

    /** The rows of one checkpoint into {@code results}, in the connection's current transaction. */
    void insertResults(long modelId, List<ResultRow> rows) throws SQLException {
        if (appender != null) {
            // the driver begins a transaction lazily, at the next statement: one first, so the appender writes inside it
            try (Statement st = db.createStatement()) {
                st.execute("SELECT 1");
            }
            appender.append(modelId, rows);
        } else try (Statement st = db.createStatement()) {
            // many rows per statement: DuckDB's JDBC batches run row by row (about 0.5 ms a row), a VALUES list is parsed once
            StringBuilder sql = new StringBuilder();
            for (int i = 0; i < rows.size(); i++) {
                if (sql.isEmpty()) sql.append("INSERT INTO results VALUES ");
                else sql.append(',');
                ResultRow r = rows.get(i);
                sql.append('(').append(modelId).append(',').append(literal(r.analysis())).append(',').append(literal(r.definition())).append(',')
                        .append(literal(r.variant())).append(',').append(r.seed() == null ? "NULL" : r.seed().toString()).append(',')
                        .append(r.layer()).append(',').append(r.head()).append(',').append(literal(r.tensor())).append(',')
                        .append(literal(r.metric())).append(',').append(Double.isFinite(r.value()) ? Double.toString(r.value()) + "::DOUBLE" : "NULL")
                        .append(')');
                if ((i + 1) % 2000 == 0 || i == rows.size() - 1) {
                    st.execute(sql.toString());
                    sql.setLength(0);
                }
            }
        }
    }

    /** Whether rows go in through DuckDB's appender (else as VALUES lists). */
    boolean usesAppender() {
        return appender != null;
    }

    /** A SQL string literal (quotes doubled), or NULL. */
    private static String literal(String s) {
        return s == null ? "NULL" : "'" + s.replace("'", "''") + "'";
    }

    @Override
    public void error(String spec, String revision, String message) throws SQLException {
        usable();
        try (PreparedStatement p = db.prepareStatement("INSERT INTO errors VALUES (?, ?, ?, ?, now())")) {
            p.setLong(1, runId);
            p.setString(2, spec);
            p.setString(3, revision);
            p.setString(4, message);
            p.executeUpdate();
        }
    }

    /**
     * Writes the long table (every result with its model's spec, revision, label and step) to {@code file}: Parquet,
     * CSV (with a header) or JSON lines, by its extension. Written under a temporary name and renamed into place.
     */
    public void export(Path file) throws Exception {
        export(db, file);
    }

    /** {@link #export(Path)} from any connection with a {@code scores} view (a sweep file, or a dataset's views). */
    public static void export(Connection db, Path file) throws Exception {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        String format = name.endsWith(".parquet") ? "(FORMAT parquet)" : name.endsWith(".csv") ? "(FORMAT csv, HEADER)"
                : name.endsWith(".jsonl") ? "(FORMAT json)" : null;
        if (format == null) throw new IllegalArgumentException(file + ": export files end in .parquet, .csv or .jsonl");
        Path tmp = io.headscan.AtomicFiles.tempName(file);
        try {
            try (Statement s = db.createStatement()) {
                s.execute("COPY (SELECT spec, revision, commit_sha, label, step, analysis, definition, variant, seed, layer, head, tensor, metric, value "
                        + "FROM scores ORDER BY step NULLS LAST, spec, analysis, definition, layer, head, tensor, metric) TO '"
                        + tmp.toAbsolutePath().toString().replace("'", "''") + "' " + format);
            }
            io.headscan.AtomicFiles.move(tmp, file);
        } finally {
            io.headscan.AtomicFiles.discard(tmp);
        }
    }

    @Override
    public void close() throws SQLException {
        db.close();
    }
}

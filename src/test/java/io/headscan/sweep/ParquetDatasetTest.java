package io.headscan.sweep;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * How a dataset's views read its writes (ParquetDataset's layout; docs/spark.md, "Results"): rows count only when the
 * newest done file of their model id names their write, a write without a done file is never read, and files from
 * before write ids read as the oldest write. The files are made by DuckDB's Parquet writer, as a reader sees any.
 */
class ParquetDatasetTest {

    @TempDir
    Path ds;

    private void write(Connection c, String table, String name, String select) throws Exception {
        Files.createDirectories(ds.resolve(table));
        try (Statement s = c.createStatement()) {
            s.execute("COPY (" + select + ") TO '" + ds.resolve(table).resolve(name + ".parquet") + "' (FORMAT parquet)");
        }
    }

    /** One checkpoint's write: a models row, one result of {@code value}, and (when {@code done}) its done row. */
    private void commit(Connection c, long id, String write, String content, int second, double value, boolean done) throws Exception {
        String w = write == null ? "" : ", '" + write + "' AS write_id";
        String name = write == null ? Long.toString(id) : id + "-" + write;
        write(c, "models", name, "SELECT " + id + "::BIGINT AS model_id, 'm' AS spec, 'file:/m' AS source, '" + content + "' AS content_id, "
                + "TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL (" + second + ") SECOND AS computed, true AS current" + w);
        write(c, "results", name, "SELECT " + id + "::BIGINT AS model_id, 'score' AS analysis, 'd' AS definition, 1 AS layer, 0 AS head, "
                + "'score' AS metric, " + value + "::DOUBLE AS value" + w);
        if (done) write(c, "done", name, "SELECT " + id + "::BIGINT AS model_id, 'd' AS definition" + w);
    }

    @Test
    void onlyTheWriteTheNewestDoneFileNamesIsRead() throws Exception {
        try (Connection c = DuckDb.connect(null)) {
            commit(c, 7, null, "sha256:a", 0, 1.0, true);                     // from before write ids
            commit(c, 7, "0000000000000000001-000001", "sha256:a", 1, 2.0, true);
            commit(c, 7, "0000000000000000002-000001", "sha256:a", 2, 3.0, false);   // a driver died before its done file
            commit(c, 8, "0000000000000000002-000002", "sha256:b", 3, 4.0, false);   // another checkpoint, never committed
        }
        try (Connection v = ParquetDataset.open(ds)) {
            assertEquals(List.of("2.0"), strings(v, "SELECT value FROM scores"), "the newest committed write of model 7 alone");
            assertEquals(List.of("7"), strings(v, "SELECT model_id FROM models"));
            assertEquals(List.of("7 d"), strings(v, "SELECT model_id || ' ' || definition FROM done"));
            assertEquals(List.of("true"), strings(v, "SELECT current FROM models"), "current as the rule says, not as a file says");
            assertEquals(List.of("1"), strings(v, "SELECT count(*) FROM models WHERE executor IS NULL AND task_attempt IS NULL"),
                    "columns no file has are there, NULL");
        }
    }

    /**
     * Files no done file names are never opened: a write a crash cut short (here a results file of garbage, as an
     * unsynced file can be after a power cut) does not make every reader fail. And the views are a snapshot: a commit
     * landing after they were made does not appear half (its results without its done file, or the reverse).
     */
    @Test
    void filesNoDoneFileNamesAreNeverReadAndTheViewsAreASnapshot() throws Exception {
        try (Connection c = DuckDb.connect(null)) {
            commit(c, 7, "0000000000000000001-000001", "sha256:a", 1, 2.0, true);
        }
        Files.write(ds.resolve("results").resolve("8-0000000000000000002-000002.parquet"), new byte[] {'P', 'A', 'R', '1', 0, 0});
        Files.write(ds.resolve("models").resolve("8-0000000000000000002-000002.parquet"), new byte[0]);
        try (Connection v = ParquetDataset.open(ds)) {
            assertEquals(List.of("2.0"), strings(v, "SELECT value FROM scores"));
            try (Connection c = DuckDb.connect(null)) {   // a commit lands while a reader holds the views
                Files.delete(ds.resolve("results").resolve("8-0000000000000000002-000002.parquet"));
                Files.delete(ds.resolve("models").resolve("8-0000000000000000002-000002.parquet"));
                commit(c, 8, "0000000000000000002-000002", "sha256:b", 2, 5.0, true);
            }
            assertEquals(List.of("2.0"), strings(v, "SELECT value FROM results"), "the snapshot the views were made of");
            assertEquals(List.of("1"), strings(v, "SELECT count(*) FROM done"));
        }
        try (Connection v = ParquetDataset.open(ds)) {
            assertEquals(List.of("2.0", "5.0"), strings(v, "SELECT value FROM results ORDER BY value"), "the next reader sees the commit whole");
        }
    }

    @Test
    void aDatasetFromBeforeWriteIdsReadsAsBefore() throws Exception {
        try (Connection c = DuckDb.connect(null)) {
            commit(c, 7, null, "sha256:a", 0, 1.0, true);
            commit(c, 9, null, "sha256:b", 1, 5.0, false);
        }
        try (Connection v = ParquetDataset.open(ds)) {
            assertEquals(List.of("1.0"), strings(v, "SELECT value FROM scores"));
            assertEquals(List.of("1"), strings(v, "SELECT count(*) FROM results_history"));
        }
    }

    private static List<String> strings(Connection c, String sql) throws Exception {
        List<String> out = new ArrayList<>();
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            while (rs.next()) out.add(rs.getString(1));
        }
        return out;
    }
}

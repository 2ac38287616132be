package io.headscan.sweep;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The one rule for which rows are current ({@link Supersession}): its SQL and its Java form agree on any history, and the
 * sweep's DuckDB file and a Spark dataset, which both take it from there, agree on the same history.
 */
class SupersessionTest {

    /** A stored row: its source and content (small alphabets, so that they collide), and its place in the write order. */
    record Row(String source, String content, String writeKey, long computed) {}

    @Provide
    Arbitrary<List<Row>> histories() {
        Arbitrary<Row> row = Combinators.combine(Arbitraries.of("s1", "s2", "s3"), Arbitraries.of("A", "B", "C"), Arbitraries.of("", "1-1", "1-2", "2-1"),
                Arbitraries.longs().between(0, 6)).as(Row::new);   // few distinct values: ties in the first order columns are common
        return row.list().ofMinSize(1).ofMaxSize(12);
    }

    static Connection c;

    @BeforeContainer
    static void connect() throws Exception {
        c = DuckDb.connect(null);
    }

    @AfterContainer
    static void disconnect() throws Exception {
        c.close();
    }

    @Property(tries = 200)
    void theSqlAndTheJavaFormAgree(@ForAll("histories") List<Row> history) throws Exception {
        try (Statement s = c.createStatement()) {
            s.execute("CREATE OR REPLACE TABLE m (model_id BIGINT, source VARCHAR, content_id VARCHAR, write_key VARCHAR, computed BIGINT)");
            List<Supersession.Stored<Key>> stored = new ArrayList<>();
            try (PreparedStatement p = c.prepareStatement("INSERT INTO m VALUES (?, ?, ?, ?, ?)")) {
                for (int i = 0; i < history.size(); i++) {
                    Row r = history.get(i);
                    p.setLong(1, i);
                    p.setString(2, r.source());
                    p.setString(3, r.content());
                    p.setString(4, r.writeKey());
                    p.setLong(5, r.computed());
                    p.executeUpdate();
                    stored.add(new Supersession.Stored<>(i, r.source(), r.content(), new Key(r.writeKey(), r.computed(), i)));
                }
            }
            Set<Long> java = Supersession.current(stored);
            Set<Long> sql = new HashSet<>();
            Map<Long, Long> supersededBy = new HashMap<>();
            try (ResultSet rs = s.executeQuery("SELECT model_id, " + Supersession.currentSql("m", "o", Supersession.BY_WRITE_ORDER) + ", "
                    + Supersession.supersededBySql("m", "o", Supersession.BY_WRITE_ORDER) + " FROM m o")) {
                while (rs.next()) {
                    if (rs.getBoolean(2)) sql.add(rs.getLong(1));
                    long by = rs.getLong(3);
                    if (!rs.wasNull()) supersededBy.put(rs.getLong(1), by);
                }
            }
            assertEquals(java, sql, "current rows of " + history);
            for (int i = 0; i < history.size(); i++) {
                Row r = history.get(i);
                Long by = supersededBy.get((long) i);
                assertEquals(by == null, sql.contains((long) i), "superseded_by is set exactly when a row is not current: " + history);
                if (by == null) continue;
                Row n = history.get((int) (long) by);
                assertEquals(r.source(), n.source());
                assertNotEquals(r.content(), n.content());
                assertTrue(new Key(n.writeKey(), n.computed(), by).compareTo(new Key(r.writeKey(), r.computed(), i)) > 0, "superseded by a later row: " + history);
                for (int j = 0; j < history.size(); j++) {   // and by the first such row
                    Row o = history.get(j);
                    if (o.source().equals(r.source()) && !o.content().equals(r.content()) && new Key(o.writeKey(), o.computed(), j).compareTo(new Key(r.writeKey(), r.computed(), i)) > 0) {
                        assertTrue(new Key(o.writeKey(), o.computed(), j).compareTo(new Key(n.writeKey(), n.computed(), by)) >= 0, "the first later row of other content: " + history);
                    }
                }
            }
        }
    }

    /** (write_key, computed, model_id), as Supersession.BY_WRITE_ORDER orders rows. */
    record Key(String writeKey, long computed, long modelId) implements Comparable<Key> {
        @Override
        public int compareTo(Key o) {
            int c = writeKey.compareTo(o.writeKey);
            if (c == 0) c = Long.compare(computed, o.computed);
            return c != 0 ? c : Long.compare(modelId, o.modelId);
        }
    }

    @Test
    void aSourceWhoseContentComesBackHasOneCurrentRowInBothStores(@TempDir Path dir) throws Exception {
        // one source: content A, then B, then A again (the same definition each time)
        String definition = "score wee=hackathon seed=0 bags=random 8x16 v1";
        List<String> contents = List.of("sha256:aaaa", "sha256:bbbb", "sha256:aaaa");
        Path db = dir.resolve("s.duckdb");
        try (DuckDbSink sink = DuckDbSink.open(db)) {
            sink.begin("test", "test", "java", "test");
            for (String content : contents) sink.write(model(content), List.of(definition), List.of(row(definition, content.equals("sha256:aaaa") ? 1 : 2)));
        }
        // the same history as a Spark dataset commits it: a model id per (source, content, definitions), one write each
        Path ds = dir.resolve("ds");
        for (String t : List.of("models", "done", "results")) Files.createDirectories(ds.resolve(t));
        try (Connection c = DuckDb.connect(null); Statement s = c.createStatement()) {
            for (int w = 0; w < contents.size(); w++) {
                String content = contents.get(w);
                long id = content.hashCode() & Long.MAX_VALUE;
                String write = String.format("%019d-%06d", 1, w + 1), name = id + "-" + write;
                // every column a dataset's files have (docs/spark.md), as the driver writes them
                s.execute("COPY (SELECT " + id + "::BIGINT AS model_id, 1::BIGINT AS run_id, 'm' AS spec, NULL::VARCHAR AS revision, '/m' AS path, "
                        + "1::BIGINT AS size_bytes, 'k' AS file_key, NULL::VARCHAR AS sha256, 'm' AS label, NULL::BIGINT AS step, 'gpt2' AS architecture, "
                        + "2 AS layers, 4 AS heads, 32 AS d_model, 400 AS vocab, 'F32:10' AS dtypes, "
                        + "TIMESTAMPTZ '2026-01-01 00:00:00+00' + INTERVAL (" + w + ") SECOND AS computed, 'file:/m' AS source, NULL::VARCHAR AS commit_sha, '"
                        + content + "' AS content_id, 'safetensors' AS format, NULL::BOOLEAN AS current, NULL::BIGINT AS superseded_by, "
                        + "'executor driver@localhost' AS executor, 0.0::DOUBLE AS fetch_seconds, 0.1::DOUBLE AS compute_seconds, '" + write
                        + "' AS write_id) TO '" + ds.resolve("models/" + name + ".parquet") + "' (FORMAT parquet)");
                s.execute("COPY (SELECT " + id + "::BIGINT AS model_id, 'score' AS analysis, '" + definition + "' AS definition, 'hackathon' AS variant, "
                        + "0::BIGINT AS seed, 1 AS layer, 0 AS head, NULL::VARCHAR AS tensor, 'score' AS metric, " + (content.equals("sha256:aaaa") ? 1 : 2)
                        + "::DOUBLE AS value, '" + write + "' AS write_id) TO '" + ds.resolve("results/" + name + ".parquet") + "' (FORMAT parquet)");
                s.execute("COPY (SELECT " + id + "::BIGINT AS model_id, '" + definition + "' AS definition, '" + write + "' AS write_id) TO '"
                        + ds.resolve("done/" + name + ".parquet") + "' (FORMAT parquet)");
            }
        }
        try (Connection file = DuckDbSink.connect(db); Connection views = ParquetDataset.open(ds)) {
            for (Connection c : List.of(file, views)) {
                assertEquals(List.of("sha256:aaaa"), strings(c, "SELECT content_id FROM models WHERE current"), "one current row: the newest");
                assertEquals(List.of("1.0"), strings(c, "SELECT value FROM scores"), "one current value, the newest content's");
                assertEquals(1, strings(c, "SELECT superseded_by FROM models WHERE content_id = 'sha256:bbbb' AND superseded_by IS NOT NULL").size(),
                        "B names the row that superseded it");
            }
        }
    }

    private static ModelInfo model(String content) {
        return new ModelInfo("m", null, "/m/model.safetensors", 1, "k", null, "m", null, "gpt2", 2, 4, 32, 400, "F32:10", "file:/m", null, content,
                "safetensors", "gpt2");
    }

    private static ResultRow row(String definition, double value) {
        return new ResultRow("score", definition, "hackathon", 0L, 1, 0, null, "score", value);
    }

    private static List<String> strings(Connection c, String sql) throws Exception {
        List<String> out = new ArrayList<>();
        try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            while (rs.next()) out.add(rs.getString(1));
        }
        return out;
    }
}

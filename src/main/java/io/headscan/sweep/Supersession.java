package io.headscan.sweep;

import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;

/**
 * The one rule that decides which rows of {@code models} are current (docs/sweep.md, "Identity"): a row is current
 * until a row of the same {@code source} with other content is stored after it; that first later row is the one that
 * superseded it ({@code superseded_by}). Rows of one source and one content stay current together (the same bytes
 * computed for other definitions), and content that comes back after other content is new rows, never the old ones
 * revived.
 *
 * <p>"After" is each store's own write order: a sweep's DuckDB file orders by {@code model_id} (a sequence), a Spark
 * dataset by its writes' ids ({@link #BY_WRITE_ORDER}: never by a clock that another machine may set differently). DuckDbSink stores the rule's
 * answer in its {@code current} and {@code superseded_by} columns when it writes a checkpoint; ParquetDataset's views
 * compute it on reading; the Spark driver, which reads a dataset through Hadoop's file system API without SQL, applies
 * {@link #current} — the same rule, checked against the SQL by SupersessionTest.
 */
public final class Supersession {

    private Supersession() {}

    /** The DuckDB file's write order. */
    public static final List<String> BY_MODEL_ID = List.of("model_id");

    /**
     * A Spark dataset's write order: the write id (a run id larger than every earlier run's, then the write's number in
     * its run; '' for files from before write ids), then, for those older files, the commit time; model ids are hashes.
     */
    public static final List<String> BY_WRITE_ORDER = List.of("write_key", "computed", "model_id");

    /**
     * SQL for "row {@code row} of {@code table} is current": a boolean expression, {@code row} being the alias (or table
     * name) of the row it is evaluated for, {@code order} the write order's columns.
     */
    public static String currentSql(String table, String row, List<String> order) {
        return "NOT EXISTS (SELECT 1 " + laterOtherContent(table, row, order) + ")";
    }

    /** SQL for the model_id of the row that superseded row {@code row} of {@code table} (NULL while it is current). */
    public static String supersededBySql(String table, String row, List<String> order) {
        StringBuilder by = new StringBuilder();
        for (String c : order) by.append(by.isEmpty() ? "" : ", ").append("n.").append(c);
        return "(SELECT n.model_id " + laterOtherContent(table, row, order) + " ORDER BY " + by + " LIMIT 1)";
    }

    /** FROM/WHERE for the rows of the same source, with other content, written after {@code row}. */
    private static String laterOtherContent(String table, String row, List<String> order) {
        if (order.isEmpty()) throw new IllegalArgumentException("a write order needs at least one column");
        // (n.a, n.b) > (row.a, row.b), spelled out: a > a' OR (a = a' AND b > b')
        StringBuilder after = new StringBuilder();
        for (int i = order.size() - 1; i >= 0; i--) {
            String c = order.get(i);
            String gt = "n." + c + " > " + row + "." + c;
            after = new StringBuilder(after.isEmpty() ? gt : gt + " OR (n." + c + " = " + row + "." + c + " AND (" + after + "))");
        }
        return "FROM " + table + " n WHERE n.source = " + row + ".source AND n.content_id IS DISTINCT FROM " + row + ".content_id AND ("
                + after + ")";
    }

    /**
     * Recomputes the stored {@code current} and {@code superseded_by} of a table's rows with the rule ({@code where}: a
     * condition on the table's columns that picks the rows to update, e.g. {@code source = ?}).
     */
    public static String updateSql(String table, String where, List<String> order) {
        return "UPDATE " + table + " SET current = " + currentSql(table, table, order) + ", superseded_by = "
                + supersededBySql(table, table, order) + " WHERE " + where;
    }

    /** A stored row as the rule sees it: its model id, identity, and place in the write order. */
    public record Stored<K extends Comparable<K>>(long modelId, String source, String contentId, K order) {}

    /**
     * The rule in Java, for a reader without SQL: of {@code rows}, the model ids that are current. A row is current when
     * no row of its source with other content is later in the write order, i.e. when the latest row of any other content
     * of that source is not after it.
     */
    public static <K extends Comparable<K>> Set<Long> current(Collection<Stored<K>> rows) {
        Map<String, Map<String, K>> latest = new HashMap<>();   // source -> content -> its latest place in the write order
        for (Stored<K> r : rows) {
            if (r.source() == null) continue;
            latest.computeIfAbsent(r.source(), s -> new HashMap<>()).merge(r.contentId(), r.order(), (a, b) -> a.compareTo(b) >= 0 ? a : b);
        }
        Set<Long> current = new HashSet<>();
        for (Stored<K> r : rows) {
            boolean superseded = false;
            if (r.source() != null) {   // as SQL's NULL = NULL: a row without a source has no "same source"
                for (var e : latest.get(r.source()).entrySet()) {
                    if (!Objects.equals(e.getKey(), r.contentId()) && e.getValue().compareTo(r.order()) > 0) {
                        superseded = true;
                        break;
                    }
                }
            }
            if (!superseded) current.add(r.modelId());
        }
        return current;
    }
}

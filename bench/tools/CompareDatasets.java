import io.headscan.sweep.ParquetDataset;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;

/**
 * For each Spark dataset: how many of the single-process sweep's rows it has, how many hold the same value, and the
 * largest absolute difference. Usage: java -cp headscan.jar:target/lib/duckdb CompareDatasets.java SWEEP.duckdb DIR...
 */
public class CompareDatasets {
    public static void main(String[] args) throws Exception {
        for (int i = 1; i < args.length; i++) {
            try (Connection c = ParquetDataset.open(Path.of(args[i])); Statement s = c.createStatement()) {
                s.execute("ATTACH '" + args[0].replace("'", "''") + "' AS single (READ_ONLY)");
                try (ResultSet rs = s.executeQuery("SELECT (SELECT count(*) FROM single.scores), count(*), "
                        + "count(*) FILTER (WHERE a.value IS NOT DISTINCT FROM b.value), max(abs(a.value - b.value)) FROM scores a JOIN single.scores b "
                        + "ON a.spec = b.spec AND a.definition = b.definition AND a.layer = b.layer AND a.head = b.head "
                        + "AND a.tensor IS NOT DISTINCT FROM b.tensor AND a.metric = b.metric")) {
                    rs.next();
                    System.out.printf("%s: %d of the single process's %d rows matched by key, %d with the same value, largest difference %s%n",
                            Path.of(args[i]).getFileName(), rs.getLong(2), rs.getLong(1), rs.getLong(3), rs.getObject(4));
                }
                // steady state: checkpoints committed per second between the first commit and the last (start-up left out)
                try (ResultSet rs = s.executeQuery("SELECT count(*), epoch(max(computed)) - epoch(min(computed)) FROM models")) {
                    rs.next();
                    long n = rs.getLong(1);
                    double span = rs.getDouble(2);
                    System.out.printf("%s: steady throughput %.3f checkpoints/s (%d commits over %.2f s)%n", Path.of(args[i]).getFileName(),
                            n > 1 && span > 0 ? (n - 1) / span : Double.NaN, n, span);
                }
            }
        }
    }
}

package io.headscan.spark;

import io.headscan.testing.ChildJvm;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.ResultSet;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Helpers of the Spark tests: a sweep on Spark in a child JVM (this test class path: Spark's jars are on it), reading a dataset. */
final class SparkRun {

    /** What the launcher gives a Spark driver on JDK 25. */
    static final List<String> JVM = List.of("-Xmx1g", ChildJvm.FULL_CLASS_PATH, "--sun-misc-unsafe-memory-access=allow", "-XX:+IgnoreUnrecognizedVMOptions",
            "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.lang.invoke=ALL-UNNAMED",
            "--add-opens=java.base/java.io=ALL-UNNAMED", "--add-opens=java.base/java.net=ALL-UNNAMED", "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED", "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED", "--add-opens=java.base/sun.nio.cs=ALL-UNNAMED",
            "--add-opens=java.base/sun.security.action=ALL-UNNAMED", "--add-opens=java.base/sun.util.calendar=ALL-UNNAMED");

    /** Loopback only: tests may talk to 127.0.0.0/8 alone. */
    static final Map<String, String> ENV = Map.of("SPARK_LOCAL_IP", "127.0.0.1", "SPARK_LOCAL_HOSTNAME", "localhost");

    private SparkRun() {}

    static ChildJvm start(Path log, Map<String, String> env, String... args) throws IOException {
        return start(log, List.of(), env, args);
    }

    /** As above with these JVM options (system properties) added. */
    static ChildJvm start(Path log, List<String> options, Map<String, String> env, String... args) throws IOException {
        Map<String, String> e = new java.util.HashMap<>(ENV);
        e.putAll(env);
        List<String> jvm = new ArrayList<>(JVM);
        jvm.addAll(options);
        return ChildJvm.start(log, jvm, e, args);
    }

    /** Runs it to the end; returns its exit code and output. */
    static Result run(Path dir, Map<String, String> env, String... args) throws Exception {
        ChildJvm c = start(Files.createTempFile(dir, "spark", ".log"), env, args);
        int code = c.waitFor(4);
        return new Result(code, c.output());
    }

    record Result(int code, String out) {}

    static List<String> args(String... a) {
        return new ArrayList<>(List.of(a));
    }

    static long count(Path dataset, String sql) throws Exception {
        try (Connection c = io.headscan.sweep.ParquetDataset.open(dataset); Statement s = c.createStatement(); ResultSet rs = s.executeQuery(sql)) {
            rs.next();
            return rs.getLong(1);
        }
    }
}

package io.headscan.spark;

import java.util.List;

/** {@link SparkRun}'s JVM options for Spark tests in other packages. */
public final class SparkAccess {

    private SparkAccess() {}

    public static List<String> jvm() {
        return SparkRun.JVM;
    }
}

package io.headscan.spark;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Path;
import org.apache.hadoop.conf.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A run's id comes after every run the dataset holds, whatever the clock of the machine that writes it says. */
class RunOrderTest {

    @TempDir
    Path dir;

    @Test
    void aDatasetRemembersItsLastRunSoThatALaterRunSortsAfterIt() throws Exception {
        Configuration conf = new Configuration();
        conf.set("fs.file.impl.disable.cache", "true");
        Dataset d = new Dataset(dir.resolve("ds").toString(), conf);
        assertEquals(-1, d.lastRunId());
        long future = 9_000_000_000_000_000_000L;   // written by a machine whose clock ran far ahead
        d.run(42, "sweep a", "v", "java", "m");
        d.run(future, "sweep b", "v", "java", "m");
        assertEquals(future, d.lastRunId());
        assertTrue(SparkDriver.nextRunId(d) > future, "the next run's writes sort after the ahead-of-time run's");
    }
}

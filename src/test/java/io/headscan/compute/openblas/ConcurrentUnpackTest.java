package io.headscan.compute.openblas;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.testing.ChildJvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Several processes unpacking the bundled OpenBLAS into one fresh cache at once (executors of a Spark job starting on one
 * node): one wins the rename, the others use its folder; none fails.
 */
class ConcurrentUnpackTest {

    @TempDir
    Path dir;

    @Test
    void processesRacingToUnpackAllSucceed() throws Exception {
        Path cache = dir.resolve("cache");
        List<ChildJvm> children = new ArrayList<>();
        for (int i = 0; i < 4; i++) {
            children.add(ChildJvm.start(dir.resolve("c" + i + ".log"), List.of(), Map.of("HEADSCAN_CACHE", cache.toString()), "backends"));
        }
        for (ChildJvm c : children) {
            assertEquals(0, c.waitFor(2), c.output());
            assertTrue(c.output().contains("OpenBLAS 0.3.31"), c.output());
            assertFalse(c.output().contains("cannot unpack"), c.output());
        }
        Path native_ = cache.resolve("native");
        try (var s = Files.list(native_)) {
            List<String> names = s.map(p -> p.getFileName().toString()).toList();
            assertTrue(names.contains("openblas-0.3.31-1.5.13-linux-x86_64"), names.toString());
            assertTrue(names.stream().noneMatch(n -> n.contains(".tmp-")), "no temporaries left: " + names);
        }
    }
}

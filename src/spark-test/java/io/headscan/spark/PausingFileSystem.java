package io.headscan.spark;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.hadoop.fs.FSDataOutputStream;
import org.apache.hadoop.fs.LocalFileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.fs.permission.FsPermission;
import org.apache.hadoop.util.Progressable;

/**
 * The local file system as a driver under test sees it ({@code spark.hadoop.fs.file.impl}): it counts the calls that
 * change a dataset's checkpoint tables (create, rename, delete of a file in {@code results/}, {@code models/} or
 * {@code done/}) and, at call number {@code -Dheadscan.test.pauseAt} (or, with {@code delete-committed}, at the first
 * delete of a file that is in place), makes the call and then stops that thread for good, having written what it did
 * to the file {@code -Dheadscan.test.pauseMarker}. The test, seeing the marker, kills the
 * JVM: a crash at exactly that point of a commit, with nothing in the driver's own code to arrange it.
 */
public class PausingFileSystem extends LocalFileSystem {

    private static final Set<String> TABLES = Set.of("results", "models", "done");
    private static final AtomicInteger calls = new AtomicInteger();

    @Override
    public FSDataOutputStream create(Path f, FsPermission permission, boolean overwrite, int bufferSize, short replication, long blockSize,
                                     Progressable progress) throws IOException {
        FSDataOutputStream out = super.create(f, permission, overwrite, bufferSize, replication, blockSize, progress);
        seen(f, "create " + f);
        return out;
    }

    @Override
    public boolean rename(Path src, Path dst) throws IOException {
        boolean done = super.rename(src, dst);
        seen(dst, "rename " + src + " to " + dst);
        return done;
    }

    @Override
    public boolean delete(Path f, boolean recursive) throws IOException {
        boolean done = super.delete(f, recursive);
        seen(f, "delete " + f);
        return done;
    }

    private static void seen(Path p, String what) {
        if (p.getParent() == null || !TABLES.contains(p.getParent().getName())) return;
        int n = calls.incrementAndGet();
        String at = System.getProperty("headscan.test.pauseAt", "");
        // a number: that call; "delete-committed": the first delete of a file in place (not a temporary one)
        boolean pause = at.equals("delete-committed") ? what.startsWith("delete ") && !p.getName().startsWith(".") && p.getName().endsWith(".parquet")
                : at.equals(Integer.toString(n));
        if (!pause) return;
        try {
            java.nio.file.Path marker = java.nio.file.Path.of(System.getProperty("headscan.test.pauseMarker"));
            java.nio.file.Path tmp = marker.resolveSibling(marker.getFileName() + ".tmp");
            Files.writeString(tmp, n + ": " + what, StandardCharsets.UTF_8);
            Files.move(tmp, marker, StandardCopyOption.ATOMIC_MOVE);
            Thread.sleep(Long.MAX_VALUE);   // until the test kills this JVM
        } catch (IOException | InterruptedException e) {
            throw new IllegalStateException(e);
        }
    }
}

package io.headscan;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Nothing headscan writes is ever half-written where a reader would find it: files are written next to
 * their target under a temporary name and renamed over it in one step.
 *
 * <p>Temporaries are named {@code .<target>.tmp-<pid>-<random>}: the process that writes one is part of its name, so a
 * later run can tell the leftovers of a process that died (killed, or the machine lost power) from the work of one that
 * is still running, and removes them ({@link #removeStale}). While a process runs, every temporary it has open is
 * remembered, so that an interrupt can remove them all ({@link #abandonAll}). Files are created with the permissions the
 * umask allows, like every other tool's ({@code -rw-r--r--} under the usual 022), never {@code -rw-------}.
 */
public final class AtomicFiles {

    private static final long PID = ProcessHandle.current().pid();
    private static final Pattern TEMPORARY = Pattern.compile("\\..+\\.tmp-(\\d+)-[0-9a-f]+");
    private static final Object LOCK = new Object();
    private static final Set<Path> IN_FLIGHT = new LinkedHashSet<>();
    private static boolean abandoned;

    private AtomicFiles() {}

    /** Renames {@code from} over {@code to}, atomically where the file system can; {@code from} is no longer a temporary. */
    public static void move(Path from, Path to) throws IOException {
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
        forget(from);
    }

    /**
     * An unused temporary name beside {@code target} (its folder created if needed), remembered as this process's;
     * the caller creates the file, folder or link there. Stale temporaries of dead processes in that folder are removed first.
     */
    public static Path tempName(Path target) throws IOException {
        Path dir = target.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        removeStale(dir);
        String prefix = "." + target.getFileName() + ".tmp-" + PID + "-";
        synchronized (LOCK) {
            if (abandoned) throw new IOException("interrupted: not starting to write " + target);
            while (true) {
                Path p = dir.resolve(prefix + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1));
                if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS) && IN_FLIGHT.add(p)) return p;
            }
        }
    }

    /** A new, empty temporary file beside {@code target} (its folder created if needed), mode 0666 less the umask. */
    public static Path tempBeside(Path target) throws IOException {
        while (true) {
            Path tmp = tempName(target);
            try {
                return Files.createFile(tmp);
            } catch (FileAlreadyExistsException e) {
                forget(tmp);   // another process took the name in between: draw another
            } catch (IOException | RuntimeException e) {
                forget(tmp);
                throw e;
            }
        }
    }

    /** Deletes a temporary (a file or a folder tree) if it is still there, and forgets it. */
    public static void discard(Path tmp) throws IOException {
        try {
            deleteTree(tmp);
        } finally {
            forget(tmp);
        }
    }

    /**
     * Remembers a file this process is writing under a name of its own choosing (a download's {@code .incomplete} part),
     * so that an interrupt removes it like a temporary; {@link #untrack} once it is complete or kept on purpose.
     */
    public static void track(Path file) {
        synchronized (LOCK) {
            IN_FLIGHT.add(file);
        }
    }

    public static void untrack(Path file) {
        forget(file);
    }

    private static void forget(Path tmp) {
        synchronized (LOCK) {
            IN_FLIGHT.remove(tmp);
        }
    }

    /**
     * Deletes every temporary this process still has (an interrupt: what was being written will never be finished) and
     * refuses to start new ones. Returns what was removed.
     */
    public static List<Path> abandonAll() {
        List<Path> open;
        synchronized (LOCK) {
            abandoned = true;
            open = new ArrayList<>(IN_FLIGHT);
            IN_FLIGHT.clear();
        }
        List<Path> removed = new ArrayList<>();
        for (Path p : open) {
            try {
                if (Files.exists(p, LinkOption.NOFOLLOW_LINKS)) {
                    deleteTree(p);
                    removed.add(p);
                }
            } catch (IOException e) {
                // best effort: a later run removes it as the leftover of a dead process
            }
        }
        return removed;
    }

    /** Removes, in {@code dir}, the temporaries of processes that are no longer running. Returns how many. */
    public static int removeStale(Path dir) {
        int n = 0;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir, ".*.tmp-*")) {
            for (Path p : ds) {
                Matcher m = TEMPORARY.matcher(p.getFileName().toString());
                if (!m.matches()) continue;
                long pid;
                try {
                    pid = Long.parseLong(m.group(1));
                } catch (NumberFormatException e) {
                    continue;
                }
                if (pid == PID || ProcessHandle.of(pid).isPresent()) continue;
                try {
                    deleteTree(p);
                    n++;
                } catch (IOException e) {
                    // not ours to fight over (permissions): leave it
                }
            }
        } catch (IOException | RuntimeException e) {
            // a folder that cannot be listed has nothing we could remove
        }
        return n;
    }

    /** {@link #removeStale} in {@code root} and each folder directly below it (headscan's cache layout). */
    public static int removeStaleUnder(Path root) {
        if (!Files.isDirectory(root)) return 0;
        int n = removeStale(root);
        try (Stream<Path> s = Files.list(root)) {
            for (Path p : s.filter(Files::isDirectory).toList()) n += removeStale(p);
        } catch (IOException | RuntimeException e) {
            // same
        }
        return n;
    }

    /**
     * Checks, before any long work, that {@code target} can be written: its folder exists and this process can create
     * files there (a probe file is created and removed), and it is not a folder. Errors name the user's path and flag.
     */
    public static void checkWritable(Path target, String flag) throws IOException {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        String what = (flag == null ? "" : flag + " ") + target;
        if (Files.isDirectory(abs)) throw new IOException(what + ": is a folder, not a file");
        if (dir == null || !Files.isDirectory(dir)) throw new IOException(what + ": folder " + (dir == null ? "/" : dir) + " does not exist");
        if (Files.exists(abs) && !Files.isWritable(abs)) throw new IOException(what + ": the file exists and is not writable");
        Path probe;
        try {
            probe = tempBeside(abs);
        } catch (IOException e) {
            throw new IOException(what + ": cannot create files in " + dir + " (" + reason(e) + ")");
        }
        discard(probe);
    }

    private static String reason(IOException e) {
        if (e instanceof java.nio.file.AccessDeniedException) return "permission denied";
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) return f.getReason();
        return String.valueOf(e.getMessage());
    }

    /** Writes text (UTF-8) to a temporary file beside {@code target}, then renames it over the target. */
    public static void writeString(Path target, String text) throws IOException {
        replace(target, tmp -> Files.writeString(tmp, text, StandardCharsets.UTF_8));
    }

    /** Writes bytes to a temporary file beside {@code target}, then renames it over the target. */
    public static void write(Path target, byte[] bytes) throws IOException {
        replace(target, tmp -> Files.write(tmp, bytes));
    }

    /** Copies {@code source} to a temporary file beside {@code target}, then renames it over the target. */
    public static void copy(Path source, Path target) throws IOException {
        replace(target, tmp -> Files.copy(source, tmp, StandardCopyOption.REPLACE_EXISTING));
    }

    /** What fills a temporary file. */
    public interface Fill {
        void into(Path tmp) throws IOException;
    }

    /** Fills a temporary file beside {@code target}, then renames it over the target; on any failure the temporary goes. */
    public static void replace(Path target, Fill fill) throws IOException {
        Path tmp = tempBeside(target);
        try {
            fill.into(tmp);
            move(tmp, target);
        } finally {
            discard(tmp);
        }
    }

    private static void deleteTree(Path p) throws IOException {
        if (!Files.exists(p, LinkOption.NOFOLLOW_LINKS)) return;
        if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS)) {
            try (Stream<Path> s = Files.walk(p)) {
                for (Path q : s.sorted(Comparator.reverseOrder()).toList()) Files.deleteIfExists(q);
            }
        } else {
            Files.deleteIfExists(p);
        }
    }

    /**
     * Unpacks class-path resources ({@code resourceDir + name} for each of {@code names}) into {@code dir} once: into a
     * temporary folder beside it, marked {@code .complete} with {@code version}, then renamed onto {@code dir} in one
     * step. Another process unpacking the same folder at the same time is no error (its rename or ours wins, whole); a
     * {@code dir} left without the mark is named, to be deleted. Returns {@code dir}.
     */
    public static Path unpackOnce(Path dir, ClassLoader cl, String resourceDir, List<String> names, String version) throws IOException {
        if (Files.isRegularFile(dir.resolve(".complete"))) return dir;
        Files.createDirectories(dir.getParent());
        Path tmp = tempName(dir);
        Files.createDirectories(tmp);
        try {
            for (String name : names) {
                try (java.io.InputStream in = cl.getResourceAsStream(resourceDir + name)) {
                    if (in == null) throw new IOException(resourceDir + name + " is not on the class path");
                    Files.copy(in, tmp.resolve(name));
                }
            }
            Files.writeString(tmp.resolve(".complete"), version + "\n");
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
                discard(tmp);   // moved: forget the name
            } catch (java.nio.file.FileSystemException e) {
                // another process won the race (rename(2) fails with ENOTEMPTY, which Java reports as a plain
                // FileSystemException as often as a DirectoryNotEmptyException), or left an incomplete folder behind
                if (!Files.isRegularFile(dir.resolve(".complete"))) {
                    if (Files.exists(dir)) throw new IOException(dir + " exists but is incomplete; delete it and retry", e);
                    throw e;
                }
            }
        } finally {
            discard(tmp);
        }
        return dir;
    }
}

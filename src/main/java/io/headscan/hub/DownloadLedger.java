package io.headscan.hub;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What a sweep downloaded into the Hugging Face cache, so that it can remove exactly that once a checkpoint is done and
 * nothing else: a snapshot link is removed only if this sweep created it, a blob only if this sweep fetched its bytes
 * and no checkpoint still in flight uses it. A file that was in the cache before the sweep is never touched.
 *
 * <p>A snapshot folder holding only this sweep's files is first renamed to a temporary name beside it and then
 * deleted, so a kill half-way never leaves a half-removed snapshot (the next run removes the temporary as the leftover
 * of a dead process).
 */
public final class DownloadLedger {

    private final Map<Path, Integer> inUse = new HashMap<>();
    private final Set<Path> fetched = new HashSet<>();

    /** Takes note of a checkpoint's downloads (call when it is resolved). */
    public synchronized void hold(List<HubDownloader.Download> downloads) {
        for (HubDownloader.Download d : downloads) {
            Path blob = blob(d);
            inUse.merge(blob, 1, Integer::sum);
            if (d.blobFetched()) fetched.add(blob);
        }
    }

    /** The blob a download's snapshot link points to. */
    private static Path blob(HubDownloader.Download d) {
        Path repoDir = d.file().getParent().getParent().getParent();
        return repoDir.resolve("blobs").resolve(d.etag());
    }

    /**
     * A checkpoint is done: forgets its downloads and, unless {@code keep}, removes the links it created and the blobs
     * this sweep fetched that nothing in flight still uses. Returns the bytes removed.
     */
    public synchronized long release(List<HubDownloader.Download> downloads, boolean keep) throws IOException {
        long freed = 0;
        Map<Path, List<HubDownloader.Download>> bySnapshot = new HashMap<>();
        for (HubDownloader.Download d : downloads) {
            if (!d.alreadyCached()) bySnapshot.computeIfAbsent(d.file().getParent(), k -> new java.util.ArrayList<>()).add(d);
        }
        if (!keep) {
            for (var e : bySnapshot.entrySet()) removeLinks(e.getKey(), e.getValue());
        }
        for (HubDownloader.Download d : downloads) {
            Path blob = blob(d);
            int left = inUse.merge(blob, -1, Integer::sum);
            if (left <= 0) {
                inUse.remove(blob);
                // a blob this sweep fetched, or one a sweep (this one, or another process) left to its last user
                if (!keep && deleteUnlinked(blob, fetched.remove(blob))) freed += d.size();
            }
        }
        return freed;
    }

    /**
     * Deletes a blob that a sweep fetched, unless a snapshot still links to it. Revisions share blobs (every Pythia
     * step branch has the same config.json), and a checkpoint being fetched ahead, here or by another executor, may
     * have linked to this one. Under the blob's lock, which the downloader holds while it decides to reuse a blob and
     * links to it, either that link is seen, or the blob is gone before the downloader looks and it fetches its own.
     * A blob still linked is marked as a sweep's ({@link #sweepOwned}): whoever releases the last link removes it,
     * whatever its ledger. A blob neither fetched by this sweep nor so marked (the user's cache) is never touched.
     *
     * @param fetchedHere whether this ledger fetched the blob's bytes
     */
    private static boolean deleteUnlinked(Path blob, boolean fetchedHere) throws IOException {
        Path lockFile = lockFile(blob);
        Path mark = sweepOwned(blob);
        if (!fetchedHere && !Files.exists(mark)) return false;
        try (HubFileLock lock = HubFileLock.acquire(lockFile, java.time.Duration.ofSeconds(30))) {
            if (!fetchedHere && !Files.exists(mark)) return false;
            if (linked(blob.getParent().getParent().resolve("snapshots"), blob)) {
                if (fetchedHere) Files.writeString(mark, "fetched by a headscan sweep: removed when no snapshot links to it\n");
                return false;
            }
            boolean deleted = Files.deleteIfExists(blob);
            Files.deleteIfExists(mark);
            return deleted;
        } catch (IOException e) {
            return false;   // a lock not had in time, or no locking here: the blob stays (a cache entry, not a partial file)
        }
    }

    /** The blob's lock file, as {@link HubDownloader} names it. */
    static Path lockFile(Path blob) {
        Path repoDir = blob.getParent().getParent();
        return repoDir.getParent().resolve(".locks").resolve(repoDir.getFileName()).resolve(blob.getFileName() + ".lock");
    }

    /** Beside the lock: a sweep fetched this blob and left it to the last snapshot linking to it. */
    static Path sweepOwned(Path blob) {
        Path lock = lockFile(blob);
        return lock.resolveSibling(blob.getFileName() + ".sweep-owned");
    }

    /**
     * Whether a snapshot links to {@code blob}. Snapshots being removed right now (by another executor: renamed to a
     * dot-named temporary, then deleted) do not count, nor does one that vanishes while it is read.
     */
    private static boolean linked(Path snapshots, Path blob) throws IOException {
        Path target = blob.toAbsolutePath().normalize();
        List<Path> folders = new java.util.ArrayList<>();
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(snapshots)) {
            for (Path p : ds) if (!p.getFileName().toString().startsWith(".")) folders.add(p);
        } catch (java.nio.file.NoSuchFileException e) {
            return false;
        }
        for (Path folder : folders) {
            try (java.util.stream.Stream<Path> s = Files.walk(folder, 3)) {
                boolean hit = s.filter(Files::isSymbolicLink).anyMatch(p -> {
                    try {
                        return p.getParent().resolve(Files.readSymbolicLink(p)).toAbsolutePath().normalize().equals(target);
                    } catch (IOException e) {
                        return false;   // gone meanwhile
                    }
                });
                if (hit) return true;
            } catch (java.nio.file.NoSuchFileException | java.io.UncheckedIOException e) {
                // this snapshot was removed while it was read: it links to nothing any more
            }
        }
        return false;
    }

    private static void removeLinks(Path snapshot, List<HubDownloader.Download> ours) throws IOException {
        Set<Path> names = new HashSet<>();
        for (HubDownloader.Download d : ours) names.add(d.file().getFileName());
        boolean onlyOurs = true;
        try (DirectoryStream<Path> ds = Files.newDirectoryStream(snapshot)) {
            for (Path p : ds) if (!names.contains(p.getFileName())) onlyOurs = false;
        }
        if (onlyOurs) {
            Path tmp = io.headscan.AtomicFiles.tempName(snapshot);
            Files.move(snapshot, tmp);   // one rename: the snapshot is there whole, or gone
            io.headscan.AtomicFiles.discard(tmp);
            return;
        }
        for (HubDownloader.Download d : ours) Files.deleteIfExists(d.file());
    }

    /** Removes the temporaries a killed sweep left in a repository's snapshots folder. */
    public static void removeStale(Path repoDir) {
        Path snapshots = repoDir.resolve("snapshots");
        if (Files.isDirectory(snapshots, LinkOption.NOFOLLOW_LINKS)) io.headscan.AtomicFiles.removeStale(snapshots);
    }
}

package io.headscan.hub;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * Reads the Hugging Face cache exactly where huggingface_hub writes it:
 * {@code models--{org}--{name}/refs/{revision}} holds a commit, {@code snapshots/{commit}/{file}} is the
 * file (a relative symlink to {@code ../../blobs/{etag}}, or a real file where symlinks are disabled).
 * Partial downloads ({@code *.incomplete}) are never returned.
 */
public final class HfCache {

    static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");

    private final Path root;

    public HfCache(Path root) {
        this.root = root;
    }

    public Path root() {
        return root;
    }

    /** A cached file of a revision (branch, tag or commit), if complete. */
    public Optional<Path> find(RepoId repo, String revision, String file) {
        for (String name : repo.cacheNames()) {
            Path dir = root.resolve(name);
            if (!Files.isDirectory(dir)) continue;
            Optional<String> commit = commitOf(dir, revision);
            if (commit.isEmpty()) continue;
            Path p = dir.resolve("snapshots").resolve(commit.get()).resolve(file);
            if (Files.isRegularFile(p) && !p.toString().endsWith(".incomplete")) return Optional.of(p); // follows symlinks
        }
        return Optional.empty();
    }

    /** The snapshot folder of a revision and its commit, if the cache knows the revision. */
    public Optional<Path> snapshot(RepoId repo, String revision) {
        for (String name : repo.cacheNames()) {
            Path dir = root.resolve(name);
            if (!Files.isDirectory(dir)) continue;
            Optional<String> commit = commitOf(dir, revision);
            if (commit.isEmpty()) continue;
            Path snap = dir.resolve("snapshots").resolve(commit.get());
            if (Files.isDirectory(snap)) return Optional.of(snap);
        }
        return Optional.empty();
    }

    /** Branches and tags the cache has recorded for a repository ({@code refs/}), with their commits. */
    public java.util.Map<String, String> refs(RepoId repo) {
        java.util.Map<String, String> out = new java.util.TreeMap<>();
        for (String name : repo.cacheNames()) {
            Path refs = root.resolve(name).resolve("refs");
            if (!Files.isDirectory(refs)) continue;
            try (var s = Files.walk(refs, 4)) {
                for (Path p : s.filter(Files::isRegularFile).toList()) {
                    String rev = refs.relativize(p).toString();
                    if (rev.startsWith(".") || rev.contains(".tmp-")) continue;
                    commitOf(root.resolve(name), rev).ifPresent(c -> out.putIfAbsent(rev, c));
                }
            } catch (IOException e) {
                // an unreadable refs folder lists nothing
            }
        }
        return out;
    }

    /** The commit a revision points to in one repository folder. */
    static Optional<String> commitOf(Path repoDir, String revision) {
        if (COMMIT.matcher(revision).matches()) return Optional.of(revision);
        Path ref = repoDir.resolve("refs").resolve(revision);
        try {
            if (!ref.normalize().startsWith(repoDir.resolve("refs").normalize()) || !Files.isRegularFile(ref)) return Optional.empty();
            String c = Files.readString(ref).strip();
            return COMMIT.matcher(c).matches() ? Optional.of(c) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    /** The folder this cache uses for a repository (the canonical name). */
    public Path repoDir(RepoId repo) {
        return root.resolve(RepoId.folder(repo.canonical()));
    }
}

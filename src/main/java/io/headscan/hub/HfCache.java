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

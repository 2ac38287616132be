package io.headscan.hub;

import static io.headscan.hub.HubException.Kind.*;

import io.headscan.Progress;
import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.ThreadLocalRandom;
import java.util.function.Consumer;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Downloads one file of a Hub repository into the Hugging Face cache layout (docs/formats.md §5):
 * HEAD without following absolute redirects (the 302 to the CDN carries X-Repo-Commit, X-Linked-Etag and
 * X-Linked-Size; relative redirects of renamed repositories are followed), then GET of the CDN location
 * without the token, resumed with {@code Range} after a cut, hashed while streaming into
 * {@code blobs/{etag}.{random}.incomplete}; size AND hash are checked (SHA-256 for LFS files, the git blob
 * SHA-1 for small git-stored files) before the atomic move to {@code blobs/{etag}}, the relative
 * {@code snapshots/{commit}/{file}} link and {@code refs/{revision}}. The blob's lock file is held with
 * flock, like huggingface_hub's.
 */
public final class HubDownloader {

    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    private static final Pattern SHA1 = Pattern.compile("[0-9a-f]{40}");
    private static final int MAX_ATTEMPTS = 5;
    private static final int MAX_RELATIVE_REDIRECTS = 5;

    /** What the Hub says about a file. */
    public record FileMetadata(String commit, String etag, long size, URI location) {}

    /**
     * A file in the cache: {@code alreadyCached} when its snapshot link was there before, {@code blobFetched} when this
     * call downloaded its bytes (rather than finding the blob already there, for another revision or a killed run).
     */
    public record Download(Path file, String commit, String etag, long size, boolean alreadyCached, boolean blobFetched) {}

    private final HubEnvironment env;
    private final HfCache cache;
    private final HttpClient http;
    private final Progress progress;
    private final Consumer<String> notes;
    private final Duration lockTimeout;
    private boolean transientPartials;

    /**
     * Partial files of this downloader's transfers are removed by an interrupt (a sweep's downloads are transient: it
     * removes them after use anyway); by default they are kept so that the next run resumes them.
     */
    public HubDownloader transientPartials(boolean on) {
        this.transientPartials = on;
        return this;
    }

    public HubDownloader(HubEnvironment env, Progress progress, Consumer<String> notes) {
        this(env, progress, notes, Duration.ofMinutes(30));
    }

    HubDownloader(HubEnvironment env, Progress progress, Consumer<String> notes, Duration lockTimeout) {
        this.env = env;
        this.cache = new HfCache(env.cacheRoot());
        this.http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NEVER).connectTimeout(Duration.ofSeconds(15))
                .version(HttpClient.Version.HTTP_1_1).build();
        this.progress = progress;
        this.notes = notes;
        this.lockTimeout = lockTimeout;
    }

    /** Downloads (or finds) {@code file} of {@code repo} at {@code revision}. */
    public Download download(RepoId repo, String revision, String file) {
        if (env.offline()) {
            throw new HubException(OFFLINE_NOT_CACHED, "HF_HUB_OFFLINE is set: no network access to download " + repo + "/" + file);
        }
        FileMetadata meta = metadata(repo, revision, file);
        Path repoDir = cache.repoDir(repo);
        Path pointer = repoDir.resolve("snapshots").resolve(meta.commit()).resolve(file);
        Path blob = repoDir.resolve("blobs").resolve(meta.etag());
        try {
            if (Files.isRegularFile(pointer) && Files.size(pointer) == meta.size()) {
                writeRef(repoDir, revision, meta.commit());
                return new Download(pointer, meta.commit(), meta.etag(), meta.size(), true, false);
            }
            Path lockFile = env.cacheRoot().resolve(".locks").resolve(RepoId.folder(repo.canonical())).resolve(meta.etag() + ".lock");
            boolean fetched = false;
            try (HubFileLock lock = HubFileLock.acquire(lockFile, lockTimeout)) {
                if (!(Files.isRegularFile(blob) && Files.size(blob) == meta.size())) {
                    fetchBlob(repo, file, meta, blob);
                    fetched = true;
                    Files.deleteIfExists(DownloadLedger.sweepOwned(blob));   // fresh bytes: no sweep's to remove
                }
                link(pointer, blob);
                writeRef(repoDir, revision, meta.commit());
            }
            return new Download(pointer, meta.commit(), meta.etag(), meta.size(), false, fetched);
        } catch (IOException e) {
            throw ioFailure(e, repo + "/" + file);
        }
    }

    private static HubException ioFailure(IOException e, String what) {
        String m = String.valueOf(e.getMessage());
        if (m.contains("No space left") || m.contains("Disk quota")) {
            return new HubException(DISK_FULL, "disk full while writing " + what + ": " + m, e);
        }
        return new HubException(IO, "I/O error while downloading " + what + ": " + m, e);
    }

    /**
     * A file's path in a URL: each '/'-separated part percent-encoded, so that a name from a shard index can add no query,
     * fragment or path of its own (shard names are also checked to be plain file names before they get here).
     */
    static String pathSegments(String file) {
        StringBuilder b = new StringBuilder();
        for (String part : file.split("/", -1)) {
            if (!b.isEmpty()) b.append('/');
            b.append(URLEncoder.encode(part, StandardCharsets.UTF_8).replace("+", "%20"));
        }
        return b.toString();
    }

    /** HEAD, following relative redirects only. */
    public FileMetadata metadata(RepoId repo, String revision, String file) {
        URI url = URI.create(env.endpoint() + "/" + repo.canonical() + "/resolve/" + URLEncoder.encode(revision, StandardCharsets.UTF_8)
                .replace("+", "%20") + "/" + pathSegments(file));
        for (int hop = 0; hop <= MAX_RELATIVE_REDIRECTS; hop++) {
            HttpRequest.Builder rb = HttpRequest.newBuilder(url).method("HEAD", HttpRequest.BodyPublishers.noBody())
                    .header("Accept-Encoding", "identity").header("User-Agent", "headscan").timeout(Duration.ofSeconds(30));
            authorize(rb, url);
            HttpResponse<Void> r = send(rb.build(), HttpResponse.BodyHandlers.discarding(), repo, file);
            int status = r.statusCode();
            String errorCode = r.headers().firstValue("X-Error-Code").orElse("");
            if (status >= 400 || !errorCode.isEmpty()) throw statusError(status, errorCode, repo, revision, file, r.headers().firstValue("X-Error-Message"));
            URI location = url;
            if (status >= 300) {
                URI from = url;
                String loc = r.headers().firstValue("Location").orElseThrow(() -> new HubException(BAD_RESPONSE, "redirect without Location from " + from));
                URI target = url.resolve(loc);
                if (!isAbsolute(loc)) {
                    url = target; // renamed repository: follow, metadata comes from the final answer
                    continue;
                }
                location = target;
            }
            String commit = r.headers().firstValue("X-Repo-Commit").orElse(null);
            String etag = r.headers().firstValue("X-Linked-Etag").or(() -> r.headers().firstValue("ETag")).map(HubDownloader::unquote).orElse(null);
            String size = r.headers().firstValue("X-Linked-Size").or(() -> status < 300 ? r.headers().firstValue("Content-Length") : Optional.empty()).orElse(null);
            if (commit == null || etag == null || size == null) {
                throw new HubException(BAD_RESPONSE, "the Hub's answer for " + repo + "/" + file + " lacks "
                        + (commit == null ? "X-Repo-Commit " : "") + (etag == null ? "X-Linked-Etag/ETag " : "") + (size == null ? "X-Linked-Size" : "")
                        + " (is HF_ENDPOINT=" + env.endpoint() + " a Hugging Face Hub?)");
            }
            if (!HfCache.COMMIT.matcher(commit).matches() || !(SHA256.matcher(etag).matches() || SHA1.matcher(etag).matches())) {
                throw new HubException(BAD_RESPONSE, "unexpected commit '" + commit + "' or etag '" + etag + "' for " + repo + "/" + file);
            }
            try {
                return new FileMetadata(commit, etag, Long.parseLong(size.strip()), location);
            } catch (NumberFormatException e) {
                throw new HubException(BAD_RESPONSE, "bad size '" + size + "' for " + repo + "/" + file);
            }
        }
        throw new HubException(BAD_RESPONSE, "too many redirects for " + repo + "/" + file);
    }

    private static boolean isAbsolute(String loc) {
        String l = loc.toLowerCase(Locale.ROOT);
        return l.startsWith("http://") || l.startsWith("https://");
    }

    private static String unquote(String etag) {
        String e = etag.strip();
        if (e.startsWith("W/")) e = e.substring(2);
        if (e.startsWith("\"") && e.endsWith("\"") && e.length() >= 2) e = e.substring(1, e.length() - 1);
        return e.toLowerCase(Locale.ROOT);
    }

    private HubException statusError(int status, String code, RepoId repo, String revision, String file, Optional<String> message) {
        String hint = message.map(m -> " (" + m + ")").orElse("");
        return switch (code) {
            case "EntryNotFound" -> new HubException(ENTRY_NOT_FOUND, repo + " has no file " + file + " at revision " + revision + hint);
            case "RevisionNotFound" -> new HubException(REVISION_NOT_FOUND, repo + " has no revision '" + revision + "'" + hint);
            case "RepoNotFound" -> new HubException(REPO_NOT_FOUND, "no model repository '" + repo.canonical() + "' on " + env.endpoint()
                    + (env.token().isEmpty() ? " (if it is private, set HF_TOKEN)" : "") + hint);
            case "GatedRepo" -> new HubException(GATED, repo + " is gated: accept its conditions on the Hub and set HF_TOKEN" + hint);
            default -> switch (status) {
                case 401 -> new HubException(UNAUTHORIZED, repo + " needs authentication (HTTP 401): "
                        + (env.token().isEmpty() ? "set HF_TOKEN or log in with huggingface-cli" : "the token in HF_TOKEN was refused") + hint);
                case 403 -> new HubException(GATED, "access to " + repo + " is restricted (HTTP 403): accept its conditions on the Hub and set HF_TOKEN" + hint);
                case 404 -> new HubException(ENTRY_NOT_FOUND, repo + "/" + file + " at revision " + revision + " was not found (HTTP 404)" + hint);
                default -> new HubException(BAD_RESPONSE, "HTTP " + status + " for " + repo + "/" + file + hint);
            };
        };
    }

    /** The token goes only to the Hub endpoint's own origin, never to a CDN. */
    private void authorize(HttpRequest.Builder rb, URI url) {
        if (env.token().isPresent() && sameOrigin(url, env.endpoint())) rb.header("Authorization", "Bearer " + env.token().get());
    }

    static boolean sameOrigin(URI a, URI b) {
        return a.getScheme().equalsIgnoreCase(b.getScheme()) && a.getHost() != null && a.getHost().equalsIgnoreCase(b.getHost())
                && port(a) == port(b);
    }

    private static int port(URI u) {
        return u.getPort() >= 0 ? u.getPort() : u.getScheme().equalsIgnoreCase("https") ? 443 : 80;
    }

    private <T> HttpResponse<T> send(HttpRequest req, HttpResponse.BodyHandler<T> handler, RepoId repo, String file) {
        try {
            return http.send(req, handler);
        } catch (ConnectException | HttpTimeoutException | java.nio.channels.UnresolvedAddressException e) {
            throw new HubException(NETWORK, "cannot reach " + env.endpoint() + " (" + e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()) + ")", e);
        } catch (IOException e) {
            throw new HubException(NETWORK, "network error talking to " + req.uri().getHost() + " for " + repo + "/" + file + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new HubException(NETWORK, "interrupted while downloading " + repo + "/" + file, e);
        }
    }

    /** Streams the blob into a partial file (resuming one left by an earlier attempt), checks it, moves it into place. */
    private void fetchBlob(RepoId repo, String file, FileMetadata meta, Path blob) throws IOException {
        Path blobs = blob.getParent();
        Files.createDirectories(blobs);
        Path partial = existingPartial(blobs, meta.etag())
                .orElse(blobs.resolve(meta.etag() + "." + Long.toHexString(ThreadLocalRandom.current().nextLong() >>> 1) + ".incomplete"));
        long have = Files.exists(partial) ? Files.size(partial) : 0;
        long usable = Files.getFileStore(blobs).getUsableSpace();
        long reserve = env.minFreeBytes();
        if (usable - reserve < meta.size() - have) {
            throw new HubException(DISK_FULL, "not enough disk space for " + repo + "/" + file + ": needs " + (meta.size() - have)
                    + " bytes, " + usable + " free in " + blobs + (reserve > 0 ? " of which HEADSCAN_MIN_FREE_DISK keeps " + reserve : ""));
        }
        if (transientPartials) io.headscan.AtomicFiles.track(partial);
        boolean lfs = SHA256.matcher(meta.etag()).matches();
        // the hash is computed while streaming; a resumed download first hashes the bytes it already has
        MessageDigest digest = newDigest(lfs, meta.size());
        if (have > 0) hashFile(partial, digest);
        progress.start(file, meta.size(), "B");
        progress.advance(have);
        try {
            for (int attempt = 1; ; attempt++) {
                try {
                    long done = transfer(repo, file, meta, partial, digest, lfs);
                    if (done == meta.size()) break;
                    throw new IOException("stream ended at " + done + " of " + meta.size() + " bytes");
                } catch (HubException e) {
                    throw e;
                } catch (IOException e) {
                    if (e.getMessage() != null && (e.getMessage().contains("No space left") || e.getMessage().contains("Disk quota"))) throw e;
                    if (attempt >= MAX_ATTEMPTS) {
                        throw new HubException(NETWORK, "download of " + repo + "/" + file + " failed " + attempt + " times, last: " + e.getMessage()
                                + "; the partial file is kept and the next run resumes it", e);
                    }
                    notes.accept("connection to " + meta.location().getHost() + " lost at " + Files.size(partial) + " of " + meta.size()
                            + " bytes (" + e.getMessage() + "); resuming, attempt " + (attempt + 1) + " of " + MAX_ATTEMPTS);
                }
            }
        } finally {
            progress.done();
        }
        long size = Files.size(partial);
        if (size != meta.size()) {
            Files.deleteIfExists(partial);
            throw new HubException(SIZE_MISMATCH, repo + "/" + file + ": got " + size + " bytes, the Hub announced " + meta.size());
        }
        String hash = HexFormat.of().formatHex(digest.digest());
        if (!hash.equals(meta.etag())) {
            Files.deleteIfExists(partial);
            throw new HubException(HASH_MISMATCH, repo + "/" + file + ": content hash " + hash + " does not match the Hub's "
                    + (lfs ? "sha256 " : "git sha1 ") + meta.etag() + " (corrupted in transit; nothing was kept)");
        }
        try (FileChannel ch = FileChannel.open(partial, StandardOpenOption.WRITE)) {
            ch.force(true);
        }
        move(partial, blob);
        io.headscan.AtomicFiles.untrack(partial);
    }

    /** One GET: resumes with Range when the partial file has bytes; returns the partial file's size after it. */
    private long transfer(RepoId repo, String file, FileMetadata meta, Path partial, MessageDigest digest, boolean lfs) throws IOException {
        long have = Files.exists(partial) ? Files.size(partial) : 0;
        if (have > meta.size()) {
            Files.delete(partial);
            have = 0;
        }
        if (have == meta.size()) return have;
        HttpRequest.Builder rb = HttpRequest.newBuilder(meta.location()).GET().header("Accept-Encoding", "identity")
                .header("User-Agent", "headscan").timeout(Duration.ofMinutes(2));
        authorize(rb, meta.location());
        if (have > 0) rb.header("Range", "bytes=" + have + "-");
        HttpResponse<InputStream> r = send(rb.build(), HttpResponse.BodyHandlers.ofInputStream(), repo, file);
        int status = r.statusCode();
        try (InputStream in = r.body()) {
            if (status == 416 && have > 0) return have;
            if (status != 200 && status != 206) {
                throw statusError(status, r.headers().firstValue("X-Error-Code").orElse(""), repo, "?", file, Optional.empty());
            }
            String expectedRange = "bytes " + have + "-";
            boolean append = status == 206 && have > 0 && r.headers().firstValue("Content-Range").map(cr -> cr.startsWith(expectedRange)).orElse(false);
            if (!append && have > 0) {
                notes.accept("the server ignored the Range request; restarting " + file + " from byte 0");
                digest.reset();   // the bytes hashed so far are thrown away with the file
                if (!lfs) digest.update(gitPrefix(meta.size()));
            }
            try (FileChannel out = FileChannel.open(partial, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                    append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
                long written = append ? have : 0;
                byte[] buf = new byte[1 << 20];
                int n;
                while ((n = in.read(buf)) > 0) {
                    if (written + n > meta.size()) {
                        throw new HubException(SIZE_MISMATCH, repo + "/" + file + ": the server sent more than the announced " + meta.size() + " bytes");
                    }
                    ByteBuffer bb = ByteBuffer.wrap(buf, 0, n);
                    while (bb.hasRemaining()) out.write(bb);
                    digest.update(buf, 0, n);
                    written += n;
                    progress.advance(n);
                }
                long received = written - (append ? have : 0);
                long declared = r.headers().firstValueAsLong("Content-Length").orElse(-1);
                if (written != meta.size() && declared >= 0 && received == declared) {
                    // the server finished its answer normally: the file is not the size the Hub announced
                    throw new HubException(SIZE_MISMATCH, repo + "/" + file + ": the server sent " + written + " bytes, the Hub announced "
                            + meta.size() + " (nothing was kept)");
                }
                return written;
            }
        } catch (HubException e) {
            Files.deleteIfExists(partial);
            throw e;
        }
    }

    private static Optional<Path> existingPartial(Path blobs, String etag) throws IOException {
        try (Stream<Path> s = Files.list(blobs)) {
            return s.filter(p -> {
                String n = p.getFileName().toString();
                return n.startsWith(etag + ".") && n.endsWith(".incomplete");
            }).max(Comparator.comparingLong(p -> p.toFile().length()));
        }
    }

    private static byte[] gitPrefix(long size) {
        return ("blob " + size + "\0").getBytes(StandardCharsets.US_ASCII);
    }

    /** SHA-256 for LFS files; git's blob SHA-1 (with its "blob {size}\0" prefix already fed) for git-stored files. */
    private static MessageDigest newDigest(boolean lfs, long size) {
        try {
            MessageDigest md = MessageDigest.getInstance(lfs ? "SHA-256" : "SHA-1");
            if (!lfs) md.update(gitPrefix(size));
            return md;
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void hashFile(Path file, MessageDigest md) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            ByteBuffer buf = ByteBuffer.allocate(1 << 20);
            while (ch.read(buf) > 0) {
                buf.flip();
                md.update(buf);
                buf.clear();
            }
        }
    }

    /** snapshots/{commit}/{file} → relative link to ../../blobs/{etag} (a copy where links are not supported). */
    private static void link(Path pointer, Path blob) throws IOException {
        Files.createDirectories(pointer.getParent());
        if (Files.isRegularFile(pointer) && Files.size(pointer) == Files.size(blob)) return;
        Path target = pointer.getParent().relativize(blob);
        Path tmp = io.headscan.AtomicFiles.tempName(pointer);
        try {
            Files.createSymbolicLink(tmp, target);
        } catch (UnsupportedOperationException | FileSystemException e) {
            Files.copy(blob, tmp, StandardCopyOption.REPLACE_EXISTING);
        }
        move(tmp, pointer);
    }

    /** Records in the cache that {@code revision} (a branch or tag) points to {@code commit}, as huggingface_hub does. */
    public void recordRef(RepoId repo, String revision, String commit) {
        try {
            writeRef(cache.repoDir(repo), revision, commit);
        } catch (IOException e) {
            throw ioFailure(e, repo + " refs/" + revision);
        }
    }

    private static void writeRef(Path repoDir, String revision, String commit) throws IOException {
        if (revision.equals(commit)) return;
        Path ref = repoDir.resolve("refs").resolve(revision);
        if (!ref.normalize().startsWith(repoDir.resolve("refs").normalize())) return;
        if (Files.isRegularFile(ref) && Files.readString(ref).strip().equals(commit)) return;
        Files.createDirectories(ref.getParent());
        io.headscan.AtomicFiles.writeString(ref, commit);
    }

    private static void move(Path from, Path to) throws IOException {
        io.headscan.AtomicFiles.move(from, to);
    }
}

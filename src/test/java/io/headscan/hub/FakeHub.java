package io.headscan.hub;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A real HTTP server on loopback that speaks the Hub's resolve protocol, plus a second server standing in
 * for the CDN (a different host name and port), with fault injection. Tests point HF_ENDPOINT at it.
 */
final class FakeHub implements AutoCloseable {

    /** A request as the servers saw it. */
    record Seen(String server, String method, String path, String authorization, String range) {}

    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";

    final HttpServer hub;
    final HttpServer cdn;
    final List<Seen> requests = new CopyOnWriteArrayList<>();
    /** repo → revision → commit */
    final Map<String, Map<String, String>> revisions = new ConcurrentHashMap<>();
    /** commit + "/" + file → content */
    final Map<String, byte[]> files = new ConcurrentHashMap<>();
    /** repo → where it moved (answered with a relative 307) */
    final Map<String, String> moved = new ConcurrentHashMap<>();

    // fault injection
    volatile int cutAfterBytes = -1;           // close the CDN stream after this many bytes ...
    final AtomicInteger cutsLeft = new AtomicInteger(); // ... this many times
    volatile boolean ignoreRange;
    volatile boolean wrongSize;                // announce one byte more than served
    volatile boolean wrongBytes;               // serve corrupted bytes of the right size
    volatile boolean gated;                    // 401 GatedRepo
    volatile boolean unauthorized;             // plain 401
    volatile long cdnDelayMillis;              // slow CDN (for concurrency tests)
    volatile long bytesPerSecond;              // CDN bandwidth limit per transfer (0: none)
    volatile long stallAfterBytes = -1;        // CDN stops sending (but keeps the connection) after this many bytes

    FakeHub() throws IOException {
        InetAddress lo = InetAddress.getLoopbackAddress();
        hub = HttpServer.create(new InetSocketAddress(lo, 0), 0);
        cdn = HttpServer.create(new InetSocketAddress(lo, 0), 0);
        hub.createContext("/", this::hub);
        cdn.createContext("/", this::cdn);
        hub.setExecutor(Executors.newCachedThreadPool());
        cdn.setExecutor(Executors.newCachedThreadPool());
        hub.start();
        cdn.start();
    }

    /** The Hub endpoint (host 127.0.0.1); the CDN is reached as "localhost" on another port. */
    URI endpoint() {
        return URI.create("http://127.0.0.1:" + hub.getAddress().getPort());
    }

    void add(String repo, String revision, String commit, String file, byte[] content) {
        revisions.computeIfAbsent(repo, r -> new ConcurrentHashMap<>()).put(revision, commit);
        revisions.get(repo).put(commit, commit);
        files.put(commit + "/" + file, content);
    }

    static boolean lfs(String file) {
        return file.endsWith(".safetensors") || file.endsWith(".bin");
    }

    static String sha256(byte[] b) {
        return hex("SHA-256", b);
    }

    static String gitSha1(byte[] b) {
        byte[] header = ("blob " + b.length + "\0").getBytes(StandardCharsets.US_ASCII);
        byte[] all = new byte[header.length + b.length];
        System.arraycopy(header, 0, all, 0, header.length);
        System.arraycopy(b, 0, all, header.length, b.length);
        return hex("SHA-1", all);
    }

    private static String hex(String alg, byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance(alg).digest(b));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    long count(String server, String method) {
        return requests.stream().filter(r -> r.server().equals(server) && r.method().equals(method)).count();
    }

    private void record(String server, HttpExchange ex) {
        requests.add(new Seen(server, ex.getRequestMethod(), ex.getRequestURI().getPath(),
                ex.getRequestHeaders().getFirst("Authorization"), ex.getRequestHeaders().getFirst("Range")));
    }

    private static void send(HttpExchange ex, int code, byte[] body) throws IOException {
        boolean head = ex.getRequestMethod().equals("HEAD");
        ex.sendResponseHeaders(code, head || body.length == 0 ? -1 : body.length);
        if (!head && body.length > 0) {
            try (OutputStream os = ex.getResponseBody()) {
                os.write(body);
            }
        }
        ex.close();
    }

    /** A branch (or tag) of a repository moved to another commit (the files of that commit added with {@link #add}). */
    void move(String repo, String revision, String commit) {
        revisions.get(repo).put(revision, commit);
    }

    /** GET /api/models/{org}/{name}/refs: the branches (and tags named v*) as huggingface_hub's list_repo_refs reads them. */
    private void refs(HttpExchange ex, String repo) throws IOException {
        Map<String, String> revs = revisions.get(repo);
        if (revs == null) {
            send(ex, 404, "{\"error\":\"Repository not found\"}".getBytes(StandardCharsets.UTF_8));
            return;
        }
        StringBuilder branches = new StringBuilder(), tags = new StringBuilder();
        for (var e : new java.util.TreeMap<>(revs).entrySet()) {
            if (e.getKey().matches("[0-9a-f]{40}")) continue;
            StringBuilder b = e.getKey().startsWith("v") ? tags : branches;
            if (!b.isEmpty()) b.append(',');
            b.append("{\"name\":\"").append(e.getKey()).append("\",\"ref\":\"refs/").append(b == tags ? "tags/" : "heads/").append(e.getKey())
                    .append("\",\"targetCommit\":\"").append(e.getValue()).append("\"}");
        }
        ex.getResponseHeaders().add("Content-Type", "application/json");
        send(ex, 200, ("{\"branches\":[" + branches + "],\"converts\":[],\"tags\":[" + tags + "]}").getBytes(StandardCharsets.UTF_8));
    }

    private void hub(HttpExchange ex) throws IOException {
        record("hub", ex);
        String path = ex.getRequestURI().getPath();
        if (path.startsWith("/api/models/") && path.endsWith("/refs")) {
            refs(ex, path.substring("/api/models/".length(), path.length() - "/refs".length()));
            return;
        }
        // /{org}/{name}/resolve/{rev}/{file}
        String[] p = ex.getRequestURI().getPath().split("/", 6);
        if (p.length < 6 || !p[3].equals("resolve")) {
            send(ex, 404, new byte[0]);
            return;
        }
        String repo = p[1] + "/" + p[2], rev = p[4], file = p[5];
        var h = ex.getResponseHeaders();
        if (moved.containsKey(repo)) {
            h.add("Location", "/" + moved.get(repo) + "/resolve/" + rev + "/" + file);
            send(ex, 307, new byte[0]);
            return;
        }
        if (gated) {
            h.add("X-Error-Code", "GatedRepo");
            h.add("X-Error-Message", "Access to model " + repo + " is restricted.");
            send(ex, 401, new byte[0]);
            return;
        }
        if (unauthorized) {
            send(ex, 401, new byte[0]);
            return;
        }
        Map<String, String> revs = revisions.get(repo);
        if (revs == null) {
            h.add("X-Error-Code", "RepoNotFound");
            send(ex, 401, new byte[0]);
            return;
        }
        String commit = revs.get(rev);
        if (commit == null) {
            h.add("X-Error-Code", "RevisionNotFound");
            send(ex, 404, new byte[0]);
            return;
        }
        byte[] content = files.get(commit + "/" + file);
        if (content == null) {
            h.add("X-Error-Code", "EntryNotFound");
            send(ex, 404, new byte[0]);
            return;
        }
        h.add("X-Repo-Commit", commit);
        if (lfs(file)) {
            String sha = sha256(content);
            h.add("X-Linked-Etag", "\"" + sha + "\"");
            h.add("X-Linked-Size", Long.toString(content.length + (wrongSize ? 1 : 0)));
            h.add("ETag", "\"" + gitSha1(new byte[] {1}) + "\"");
            h.add("Location", "http://localhost:" + cdn.getAddress().getPort() + "/blob/" + sha + "?signature=abc");
            send(ex, 302, "Found. Redirecting".getBytes(StandardCharsets.US_ASCII));
        } else {
            h.add("ETag", "\"" + gitSha1(content) + "\"");
            if (ex.getRequestMethod().equals("HEAD")) h.add("X-Linked-Size", Integer.toString(content.length));
            send(ex, 200, content);
        }
    }

    private void cdn(HttpExchange ex) throws IOException {
        record("cdn", ex);
        String path = ex.getRequestURI().getPath();
        String sha = path.substring(path.lastIndexOf('/') + 1);
        byte[] content = files.values().stream().filter(b -> sha256(b).equals(sha)).findFirst().orElse(null);
        if (content == null) {
            send(ex, 404, new byte[0]);
            return;
        }
        if (wrongBytes) {
            content = content.clone();
            content[content.length / 2] ^= 1;
        }
        if (cdnDelayMillis > 0) {
            try {
                Thread.sleep(cdnDelayMillis);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        int from = 0;
        String range = ex.getRequestHeaders().getFirst("Range");
        if (range != null && !ignoreRange && range.startsWith("bytes=")) {
            from = Integer.parseInt(range.substring(6, range.indexOf('-')));
            ex.getResponseHeaders().add("Content-Range", "bytes " + from + "-" + (content.length - 1) + "/" + content.length);
        }
        int code = from > 0 ? 206 : 200;
        int length = content.length - from;
        ex.sendResponseHeaders(code, length);
        OutputStream os = ex.getResponseBody();
        if (cutAfterBytes >= 0 && cutsLeft.getAndDecrement() > 0) {
            os.write(content, from, Math.min(cutAfterBytes, length));
            os.flush();
            ex.getHttpContext().getServer(); // keep reference
            // drop the connection with the body incomplete
            try {
                ex.close();
            } catch (RuntimeException ignored) {
                // the server complains about the short body; that is the point
            }
            return;
        }
        if (stallAfterBytes >= 0) {   // a transfer that hangs half-way (killed by the test)
            os.write(content, from, (int) Math.min(stallAfterBytes, length));
            os.flush();
            try {
                Thread.sleep(600_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            ex.close();
            return;
        }
        long rate = bytesPerSecond;
        if (rate > 0) {   // throttled: chunks of 64 KiB paced to the rate
            long t0 = System.nanoTime();
            int sent = 0;
            while (sent < length) {
                int n = Math.min(64 << 10, length - sent);
                os.write(content, from + sent, n);
                sent += n;
                long due = t0 + (long) (sent * 1e9 / rate);
                long wait = due - System.nanoTime();
                if (wait > 0) {
                    try {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000));
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                        break;
                    }
                }
            }
        } else {
            os.write(content, from, length);
        }
        os.close();
        ex.close();
    }

    @Override
    public void close() {
        hub.stop(0);
        cdn.stop(0);
    }

    /**
     * headscan in a child JVM (-Xmx256m) against this hub, with its Hugging Face cache and headscan cache under
     * {@code home}, no token and not offline, plus {@code env}.
     */
    io.headscan.testing.ChildJvm headscan(java.nio.file.Path home, Map<String, String> env, String... args) throws IOException {
        Map<String, String> e = new java.util.HashMap<>();
        e.put("HF_HOME", home.resolve("hf").toString());
        e.put("HF_ENDPOINT", endpoint().toString());
        e.put("HEADSCAN_CACHE", home.resolve("headscan-cache").toString());
        e.putAll(env);
        return io.headscan.testing.ChildJvm.start(java.nio.file.Files.createTempFile(home, "child", ".log"), List.of("-Xmx256m"), e,
                List.of("HF_HUB_OFFLINE", "HF_TOKEN"), args);
    }
}

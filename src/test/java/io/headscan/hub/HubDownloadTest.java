package io.headscan.hub;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.Progress;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The download protocol against a real HTTP server on loopback (docs/formats.md §5). */
class HubDownloadTest {

    static final String REPO = "openai-community/gpt2";
    static final byte[] WEIGHTS = new byte[2_500_000];
    static final byte[] CONFIG = "{\"n_head\": 12, \"n_layer\": 12}\n".getBytes();

    static {
        new Random(1).nextBytes(WEIGHTS);
    }

    @TempDir
    Path home;
    FakeHub hub;
    List<String> notes = new CopyOnWriteArrayList<>();

    @BeforeEach
    void start() throws IOException {
        hub = new FakeHub();
        hub.add(REPO, "main", FakeHub.COMMIT, "model.safetensors", WEIGHTS);
        hub.add(REPO, "main", FakeHub.COMMIT, "config.json", CONFIG);
    }

    @AfterEach
    void stop() {
        hub.close();
    }

    HubEnvironment env(String... extra) {
        Map<String, String> m = new java.util.HashMap<>(Map.of("HF_HOME", home.toString(), "HF_ENDPOINT", hub.endpoint().toString()));
        for (int i = 0; i + 1 < extra.length; i += 2) m.put(extra[i], extra[i + 1]);
        return HubEnvironment.of(m);
    }

    HubDownloader downloader(HubEnvironment env) {
        return new HubDownloader(env, Progress.NONE, notes::add);
    }

    Path repoDir() {
        return home.resolve("hub").resolve("models--openai-community--gpt2");
    }

    List<Path> incomplete() throws IOException {
        try (Stream<Path> s = Files.walk(home)) {
            return s.filter(p -> p.toString().endsWith(".incomplete")).toList();
        }
    }

    @Test
    void downloadsThroughTheCdnIntoTheHfCacheLayout() throws IOException {
        HubDownloader.Download d = downloader(env()).download(new RepoId("gpt2"), "main", "model.safetensors");
        String sha = FakeHub.sha256(WEIGHTS);
        assertEquals(sha, d.etag());
        assertEquals(FakeHub.COMMIT, d.commit());
        Path pointer = repoDir().resolve("snapshots").resolve(FakeHub.COMMIT).resolve("model.safetensors");
        assertTrue(Files.isSymbolicLink(pointer), "snapshot entry is a link");
        assertEquals(Path.of("../../blobs/" + sha), Files.readSymbolicLink(pointer), "relative link, as huggingface_hub makes");
        assertArrayEquals(WEIGHTS, Files.readAllBytes(pointer));
        assertEquals(FakeHub.COMMIT, Files.readString(repoDir().resolve("refs/main")));
        assertTrue(incomplete().isEmpty());
        assertEquals(1, hub.count("cdn", "GET"));
        // the cache written by us is read back by the same layout rules
        assertEquals(pointer, new HfCache(home.resolve("hub")).find(new RepoId("gpt2"), "main", "model.safetensors").orElseThrow());
        // a second call finds it and downloads nothing
        HubDownloader.Download again = downloader(env()).download(new RepoId("gpt2"), "main", "model.safetensors");
        assertTrue(again.alreadyCached());
        assertEquals(1, hub.count("cdn", "GET"));
    }

    @Test
    void fileNamesArePercentEncodedSoTheyAddNoQueryOrFragment() throws IOException {
        // shard names from an index are checked to be plain before they get here; the URL is still built safely
        String odd = "shard 1#2?x=%41.bin";
        hub.add(REPO, "main", FakeHub.COMMIT, odd, WEIGHTS);
        HubDownloader.Download d = downloader(env()).download(new RepoId(REPO), "main", odd);
        assertArrayEquals(WEIGHTS, Files.readAllBytes(d.file()));
        assertEquals(odd, d.file().getFileName().toString());
        assertEquals("shard%201%232%3Fx%3D%2541.bin", HubDownloader.pathSegments(odd));
        assertEquals("sub/model-00001-of-00002.safetensors", HubDownloader.pathSegments("sub/model-00001-of-00002.safetensors"));
    }

    @Test
    void gitStoredConfigIsCheckedAgainstItsGitSha1() throws IOException {
        HubDownloader.Download d = downloader(env()).download(new RepoId(REPO), "main", "config.json");
        assertEquals(FakeHub.gitSha1(CONFIG), d.etag());
        assertArrayEquals(CONFIG, Files.readAllBytes(d.file()));
        assertEquals(0, hub.count("cdn", "GET"), "small files come from the Hub itself");
    }

    @Test
    void tokenGoesToTheHubButNeverToTheCdn() throws IOException {
        downloader(env("HF_TOKEN", "hf_secret")).download(new RepoId(REPO), "main", "model.safetensors");
        assertTrue(hub.requests.stream().filter(r -> r.server().equals("hub")).allMatch(r -> "Bearer hf_secret".equals(r.authorization())));
        assertTrue(hub.requests.stream().filter(r -> r.server().equals("cdn")).allMatch(r -> r.authorization() == null));
        assertTrue(hub.count("cdn", "GET") > 0);
    }

    @Test
    void tokenIsReadFromHfHomeTokenFile() throws IOException {
        Files.writeString(home.resolve("token"), "hf_fromfile\n");
        assertEquals("hf_fromfile", env().token().orElseThrow());
    }

    @Test
    void resumesAfterTheConnectionIsCutMidStream() throws IOException {
        hub.cutAfterBytes = 1_000_000;
        hub.cutsLeft.set(2);
        HubDownloader.Download d = downloader(env()).download(new RepoId(REPO), "main", "model.safetensors");
        assertArrayEquals(WEIGHTS, Files.readAllBytes(d.file()));
        List<FakeHub.Seen> gets = hub.requests.stream().filter(r -> r.server().equals("cdn")).toList();
        assertEquals(3, gets.size(), gets.toString());
        assertNull(gets.get(0).range());
        assertTrue(gets.get(1).range().startsWith("bytes="), "second attempt resumes with Range");
        assertNotEquals("bytes=0-", gets.get(1).range());
        assertTrue(notes.stream().anyMatch(n -> n.contains("resuming")), notes.toString());
        assertTrue(incomplete().isEmpty());
    }

    @Test
    void aServerIgnoringRangeMakesUsStartOver() throws IOException {
        hub.cutAfterBytes = 700_000;
        hub.cutsLeft.set(1);
        hub.ignoreRange = true;
        HubDownloader.Download d = downloader(env()).download(new RepoId(REPO), "main", "model.safetensors");
        assertArrayEquals(WEIGHTS, Files.readAllBytes(d.file()));
        assertTrue(notes.stream().anyMatch(n -> n.contains("ignored the Range request")), notes.toString());
    }

    @Test
    void wrongSizeIsRejectedAndNothingIsKept() throws IOException {
        hub.wrongSize = true;
        HubException e = assertThrows(HubException.class, () -> downloader(env()).download(new RepoId(REPO), "main", "model.safetensors"));
        assertEquals(HubException.Kind.SIZE_MISMATCH, e.kind(), e.getMessage());
        assertTrue(incomplete().isEmpty());
        assertFalse(Files.exists(repoDir().resolve("blobs").resolve(FakeHub.sha256(WEIGHTS))));
        assertFalse(Files.exists(repoDir().resolve("snapshots")));
    }

    @Test
    void rightSizeWrongBytesIsAHashMismatch() throws IOException {
        hub.wrongBytes = true;
        HubException e = assertThrows(HubException.class, () -> downloader(env()).download(new RepoId(REPO), "main", "model.safetensors"));
        assertEquals(HubException.Kind.HASH_MISMATCH, e.kind(), e.getMessage());
        assertTrue(e.getMessage().contains("does not match"), e.getMessage());
        assertTrue(incomplete().isEmpty(), "the corrupt partial file is deleted");
        assertFalse(Files.exists(repoDir().resolve("blobs").resolve(FakeHub.sha256(WEIGHTS))));
    }

    @Test
    void missingEntryRevisionAndRepoAreDistinct() {
        HubDownloader d = downloader(env());
        assertEquals(HubException.Kind.ENTRY_NOT_FOUND,
                assertThrows(HubException.class, () -> d.download(new RepoId(REPO), "main", "pytorch_model.bin")).kind());
        HubException rev = assertThrows(HubException.class, () -> d.download(new RepoId(REPO), "v9", "model.safetensors"));
        assertEquals(HubException.Kind.REVISION_NOT_FOUND, rev.kind());
        assertTrue(rev.getMessage().contains("no revision 'v9'"), rev.getMessage());
        assertEquals(HubException.Kind.REPO_NOT_FOUND,
                assertThrows(HubException.class, () -> d.download(new RepoId("nobody/nothing"), "main", "model.safetensors")).kind());
    }

    @Test
    void gatedAndUnauthorisedAreDistinct() {
        hub.gated = true;
        HubException g = assertThrows(HubException.class, () -> downloader(env()).download(new RepoId(REPO), "main", "model.safetensors"));
        assertEquals(HubException.Kind.GATED, g.kind());
        assertTrue(g.getMessage().contains("HF_TOKEN"), g.getMessage());
        hub.gated = false;
        hub.unauthorized = true;
        HubException u = assertThrows(HubException.class, () -> downloader(env()).download(new RepoId(REPO), "main", "model.safetensors"));
        assertEquals(HubException.Kind.UNAUTHORIZED, u.kind());
    }

    @Test
    void relativeRedirectOfARenamedRepositoryIsFollowed() throws IOException {
        hub.moved.put("old-org/model", REPO);
        HubDownloader.Download d = downloader(env()).download(new RepoId("old-org/model"), "main", "model.safetensors");
        assertArrayEquals(WEIGHTS, Files.readAllBytes(d.file()));
    }

    @Test
    void networkDownIsANamedError() throws IOException {
        hub.close();
        HubException e = assertThrows(HubException.class, () -> downloader(env()).download(new RepoId(REPO), "main", "model.safetensors"));
        assertEquals(HubException.Kind.NETWORK, e.kind());
        assertTrue(e.getMessage().contains("cannot reach"), e.getMessage());
    }

    @Test
    void concurrentDownloadsInThreadsShareOneBlob() throws Exception {
        hub.cdnDelayMillis = 300;
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<HubDownloader.Download>> fs = new ArrayList<>();
            for (int i = 0; i < 4; i++) fs.add(pool.submit(() -> downloader(env()).download(new RepoId(REPO), "main", "model.safetensors")));
            for (Future<HubDownloader.Download> f : fs) assertArrayEquals(WEIGHTS, Files.readAllBytes(f.get().file()));
        } finally {
            pool.shutdown();
        }
        assertEquals(1, hub.count("cdn", "GET"), "the lock lets one thread download; the others find the blob");
        try (Stream<Path> s = Files.list(repoDir().resolve("blobs"))) {
            assertEquals(1, s.count());
        }
        assertTrue(incomplete().isEmpty());
    }

    @Test
    void offlineModeMakesNoHttpCalls() {
        HubEnvironment offline = env("HF_HUB_OFFLINE", "1");
        assertTrue(offline.offline());
        HubException e = assertThrows(HubException.class,
                () -> new ModelResolver(offline, Progress.NONE, notes::add).resolve("gpt2", "main"));
        assertEquals(HubException.Kind.OFFLINE_NOT_CACHED, e.kind());
        assertTrue(e.getMessage().contains("headscan download gpt2"), e.getMessage());
        assertTrue(hub.requests.isEmpty(), "no request at all: " + hub.requests);
        assertTrue(env("TRANSFORMERS_OFFLINE", "yes").offline());
        assertFalse(env("HF_HUB_OFFLINE", "0").offline());
    }

    @Test
    void resolverDownloadsWeightsAndConfigThenUsesTheCache() {
        ModelResolver r = new ModelResolver(env(), Progress.NONE, notes::add);
        ModelResolver.Resolved first = r.resolve("gpt2", "main");
        assertTrue(Files.isRegularFile(first.path().resolve("model.safetensors")));
        assertTrue(Files.isRegularFile(first.path().resolve("config.json")));
        long calls = hub.requests.size();
        ModelResolver.Resolved second = r.resolve("openai-community/gpt2", "main");
        assertEquals(first.path(), second.path());
        assertEquals(calls, hub.requests.size(), "a cached model needs no network");
        // and it is found offline too
        assertEquals(first.path(), new ModelResolver(env("HF_HUB_OFFLINE", "1"), Progress.NONE, notes::add).resolve("gpt2", "main").path());
    }

    @Test
    void resolverExplainsWhatToDoWhenTheNetworkIsDown() {
        hub.close();
        HubException e = assertThrows(HubException.class, () -> new ModelResolver(env(), Progress.NONE, notes::add).resolve("gpt2", "main"));
        assertEquals(HubException.Kind.NETWORK, e.kind());
        assertTrue(e.getMessage().contains("copy its weights (with config.json)"), e.getMessage());
    }

    @Test
    void pathsWinAndNonIdsAreNamed() throws IOException {
        Path local = home.resolve("gpt2");
        Files.createDirectories(local);
        ModelResolver r = new ModelResolver(env(), Progress.NONE, notes::add);
        assertEquals(local, r.resolve(local.toString(), "main").path());
        HubException e = assertThrows(HubException.class, () -> r.resolve("/no/such/model.safetensors", "main"));
        assertEquals(HubException.Kind.NOT_A_MODEL, e.kind());
        assertTrue(hub.requests.isEmpty());
    }
}

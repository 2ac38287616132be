package io.headscan.hub;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading caches written by Python's huggingface_hub: its environment variables and its symlinked tree. */
class HfCacheTest {

    @TempDir
    Path dir;

    static final String COMMIT = "607a30d783dfa663caf39e06633721c8d4cfcd7e";
    static final String SHA = "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707";

    /** models--{name}/{blobs, refs/main, snapshots/{commit}/model.safetensors -> ../../blobs/{sha}} */
    private Path pythonStyleTree(Path hubRoot, String folder) throws IOException {
        Path repo = hubRoot.resolve(folder);
        Files.createDirectories(repo.resolve("blobs"));
        Files.createDirectories(repo.resolve("refs"));
        Files.createDirectories(repo.resolve("snapshots").resolve(COMMIT));
        Files.writeString(repo.resolve("blobs").resolve(SHA), "weights");
        Files.writeString(repo.resolve("blobs").resolve(SHA + ".incomplete"), "partial");
        Files.writeString(repo.resolve("refs/main"), COMMIT);
        Files.createSymbolicLink(repo.resolve("snapshots").resolve(COMMIT).resolve("model.safetensors"), Path.of("../../blobs/" + SHA));
        return repo;
    }

    @Test
    void cacheRootFollowsHuggingfaceHubPrecedence() {
        assertEquals(Path.of("/a"), HubEnvironment.of(Map.of("HF_HUB_CACHE", "/a", "HUGGINGFACE_HUB_CACHE", "/b", "HF_HOME", "/c")).cacheRoot());
        assertEquals(Path.of("/b"), HubEnvironment.of(Map.of("HUGGINGFACE_HUB_CACHE", "/b", "HF_HOME", "/c")).cacheRoot());
        assertEquals(Path.of("/c/hub"), HubEnvironment.of(Map.of("HF_HOME", "/c", "XDG_CACHE_HOME", "/x")).cacheRoot());
        assertEquals(Path.of("/x/huggingface/hub"), HubEnvironment.of(Map.of("XDG_CACHE_HOME", "/x")).cacheRoot());
        assertEquals(Path.of(System.getProperty("user.home"), ".cache/huggingface/hub"), HubEnvironment.of(Map.of()).cacheRoot());
        // $HOME, as huggingface_hub (Python's expanduser) reads it, not the password database's home
        assertEquals(Path.of("/home/other/.cache/huggingface/hub"), HubEnvironment.of(Map.of("HOME", "/home/other")).cacheRoot());
        assertEquals(Path.of("/home/other/.cache/headscan"), io.headscan.CacheFolder.root(Map.of("HOME", "/home/other")));
        assertEquals(Path.of("/x/headscan"), io.headscan.CacheFolder.root(Map.of("HOME", "/home/other", "XDG_CACHE_HOME", "/x")));
        assertEquals(Path.of("/own"), io.headscan.CacheFolder.root(Map.of("HOME", "/home/other", "HEADSCAN_CACHE", "/own")));
        assertEquals("https://huggingface.co", HubEnvironment.of(Map.of()).endpoint().toString());
        assertEquals("http://127.0.0.1:9", HubEnvironment.of(Map.of("HF_ENDPOINT", "http://127.0.0.1:9/")).endpoint().toString());
    }

    @Test
    void pythonStyleSymlinkedTreeIsResolvedUnderEitherName() throws IOException {
        Path hub = dir.resolve("hub");
        pythonStyleTree(hub, "models--gpt2");
        HfCache c = new HfCache(hub);
        Path found = c.find(new RepoId("gpt2"), "main", "model.safetensors").orElseThrow();
        assertEquals("weights", Files.readString(found));
        assertEquals(SHA, found.toRealPath().getFileName().toString());
        assertTrue(c.find(new RepoId("openai-community/gpt2"), "main", "model.safetensors").isPresent(), "legacy folder found for the new id");
        assertTrue(c.find(new RepoId("gpt2"), COMMIT, "model.safetensors").isPresent(), "a commit works as revision");
        assertTrue(c.find(new RepoId("gpt2"), "v2", "model.safetensors").isEmpty());
        assertTrue(c.find(new RepoId("gpt2"), "main", "config.json").isEmpty());
    }

    @Test
    void newOrganisationFolderIsFoundForTheLegacyId() throws IOException {
        Path hub = dir.resolve("hub");
        pythonStyleTree(hub, "models--openai-community--gpt2");
        assertTrue(new HfCache(hub).find(new RepoId("gpt2"), "main", "model.safetensors").isPresent());
    }

    @Test
    void danglingLinksAndPartialFilesAreNotModels() throws IOException {
        Path hub = dir.resolve("hub");
        Path repo = pythonStyleTree(hub, "models--gpt2");
        Files.delete(repo.resolve("blobs").resolve(SHA)); // only the .incomplete remains
        assertTrue(new HfCache(hub).find(new RepoId("gpt2"), "main", "model.safetensors").isEmpty());
    }

    @Test
    void repoIdsAreValidatedAndMapped() {
        assertEquals("openai-community/gpt2", new RepoId("gpt2").canonical());
        assertEquals("distilbert/distilgpt2", new RepoId("distilgpt2").canonical());
        assertEquals(java.util.List.of("models--openai-community--gpt2", "models--gpt2"), new RepoId("openai-community/gpt2").cacheNames());
        assertEquals(java.util.List.of("models--org--name"), new RepoId("org/name").cacheNames());
        assertFalse(RepoId.looksLikeId("/tmp/m"));
        assertFalse(RepoId.looksLikeId("./m"));
        assertFalse(RepoId.looksLikeId("a/b/c"));
        assertThrows(IllegalArgumentException.class, () -> new RepoId("a/../b"));
    }
}

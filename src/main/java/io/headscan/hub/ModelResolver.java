package io.headscan.hub;

import io.headscan.Progress;
import io.headscan.model.KnownCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Turns a MODEL argument into a local folder or file. A path that exists wins. Otherwise a hub id
 * ("gpt2", "openai-community/gpt2", "org/name") is looked up in the Hugging Face cache (both spellings of
 * moved repositories), and downloaded into it when missing — unless offline, or the network is down, in
 * which case the message says exactly what to do.
 */
public final class ModelResolver {

    public static final String WEIGHTS = "model.safetensors";
    public static final String CONFIG = "config.json";

    /** Where a model was found. */
    public record Resolved(Path path, Optional<RepoId> repo, String how) {}

    private final HubEnvironment env;
    private final Progress progress;
    private final Consumer<String> notes;

    public ModelResolver(HubEnvironment env, Progress progress, Consumer<String> notes) {
        this.env = env;
        this.progress = progress;
        this.notes = notes;
    }

    public Resolved resolve(String model, String revision) {
        Path asPath = Path.of(model);
        if (Files.exists(asPath)) return new Resolved(asPath, Optional.empty(), "path");
        if (!RepoId.looksLikeId(model)) {
            throw new HubException(HubException.Kind.NOT_A_MODEL, model + ": no such file or folder (and not a Hugging Face model id)");
        }
        RepoId repo = new RepoId(model);
        HfCache cache = new HfCache(env.cacheRoot());
        Optional<Path> cached = cache.find(repo, revision, WEIGHTS);
        if (cached.isPresent()) {
            if (cache.find(repo, revision, CONFIG).isEmpty() && !env.offline()) fetchConfig(repo, revision);
            checkKnownIdentity(repo, cached.get());
            return new Resolved(cached.get().getParent(), Optional.of(repo), "Hugging Face cache " + cached.get().getParent());
        }
        if (env.offline()) {
            throw new HubException(HubException.Kind.OFFLINE_NOT_CACHED, repo + " (revision " + revision + ") is not in the Hugging Face cache at "
                    + env.cacheRoot() + " and HF_HUB_OFFLINE is set: run 'headscan download " + repo + "' where the Hub is reachable, "
                    + "or copy its model.safetensors and config.json into a folder and pass that folder");
        }
        HubDownloader d = new HubDownloader(env, progress, notes);
        try {
            HubDownloader.Download w = d.download(repo, revision, WEIGHTS);
            fetchConfig(repo, revision);
            notes.accept("downloaded " + repo + " " + WEIGHTS + " (" + w.size() + " bytes, commit " + w.commit() + ") into " + env.cacheRoot());
            checkKnownIdentity(repo, w.file());
            return new Resolved(w.file().getParent(), Optional.of(repo), "downloaded into " + w.file().getParent());
        } catch (HubException e) {
            if (e.kind() == HubException.Kind.NETWORK) {
                throw new HubException(HubException.Kind.NETWORK, e.getMessage() + "; " + repo + " is not in the Hugging Face cache at "
                        + env.cacheRoot() + ": copy a model.safetensors (with its config.json) to this machine and pass its path", e);
            }
            throw e;
        }
    }

    private void fetchConfig(RepoId repo, String revision) {
        try {
            new HubDownloader(env, Progress.NONE, notes).download(repo, revision, CONFIG);
        } catch (HubException e) {
            notes.accept("no config.json for " + repo + " (" + e.getMessage() + "); the head count falls back to d_model / 64");
        }
    }

    /** gpt2's model.safetensors is a blob named by its sha256 (docs/science.md §7). */
    private void checkKnownIdentity(RepoId repo, Path weights) {
        if (!repo.isGpt2Small()) return;
        try {
            Path real = weights.toRealPath();
            String blob = real.getFileName().toString();
            if (blob.matches("[0-9a-f]{64}") && !blob.equals(KnownCheckpoint.GPT2.sha256())) {
                notes.accept("warning: " + repo + " " + WEIGHTS + " is blob " + blob + ", not the known gpt2 file (sha256 "
                        + KnownCheckpoint.GPT2.sha256() + "); results will not match published numbers");
            }
        } catch (java.io.IOException e) {
            notes.accept("warning: cannot read " + weights + ": " + e.getMessage());
        }
    }
}

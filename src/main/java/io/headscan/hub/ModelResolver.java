package io.headscan.hub;

import io.headscan.Progress;
import io.headscan.format.ShardedCheckpoint;
import io.headscan.model.Model;
import io.headscan.model.KnownCheckpoint;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.function.Consumer;

/**
 * Turns a MODEL argument into a local folder or file. A path that exists wins. Otherwise a hub id
 * ("gpt2", "openai-community/gpt2", "org/name") is looked up in the Hugging Face cache (both spellings of
 * moved repositories), and downloaded into it when missing — unless offline, or the network is down, in
 * which case the message says exactly what to do.
 *
 * <p>A revision's weights are whichever of {@link Model#WEIGHTS_FILES} it has, looked for in that order (as
 * transformers does): {@code model.safetensors}, the sharded safetensors index and its shards, {@code pytorch_model.bin},
 * or its index and shards; {@code config.json} comes with them.
 */
public final class ModelResolver {

    public static final String WEIGHTS = "model.safetensors";
    public static final String CONFIG = "config.json";
    /** A model's own tokenizer (corpus bags, IOI names, token texts), fetched beside the weights of a model that is not GPT-2. */
    public static final String TOKENIZER = "tokenizer.json";

    /**
     * Where a model was found: the folder (or file) to open; for a hub id its repository, the commit it resolved to, and
     * every cache file this resolution downloaded or found (weights and config).
     */
    public record Resolved(Path path, Optional<RepoId> repo, String how, String commit, List<HubDownloader.Download> downloads) {

        /** Bytes this resolution actually transferred. */
        public long bytesFetched() {
            return downloads.stream().filter(HubDownloader.Download::blobFetched).mapToLong(HubDownloader.Download::size).sum();
        }
    }

    private final HubEnvironment env;
    private final Progress progress;
    private final Consumer<String> notes;
    private boolean transientDownloads;

    /** Partial downloads are removed by an interrupt instead of kept for resuming (a sweep's; see HubDownloader). */
    public ModelResolver transientDownloads(boolean on) {
        this.transientDownloads = on;
        return this;
    }

    public ModelResolver(HubEnvironment env, Progress progress, Consumer<String> notes) {
        this.env = env;
        this.progress = progress;
        this.notes = notes;
    }

    public HubEnvironment environment() {
        return env;
    }

    public Resolved resolve(String model, String revision) {
        return resolve(model, revision, null);
    }

    /**
     * As {@link #resolve(String, String)}; with {@code pinnedCommit}, the files are those of that commit (a branch
     * listed earlier may have moved since), and the cache records that {@code revision} pointed there.
     */
    public Resolved resolve(String model, String revision, String pinnedCommit) {
        Path asPath = Path.of(model);
        if (Files.exists(asPath)) return new Resolved(asPath, Optional.empty(), "path", null, List.of());
        if (!RepoId.looksLikeId(model)) {
            throw new HubException(HubException.Kind.NOT_A_MODEL, model + ": no such file or folder (and not a Hugging Face model id)");
        }
        RepoId repo = new RepoId(model);
        Resolved r = resolveHub(repo, revision, pinnedCommit);
        if (r.bytesFetched() > 0) {
            HubDownloader.Download first = r.downloads().getFirst();
            notes.accept("downloaded " + repo + " " + first.file().getFileName() + (r.downloads().size() > 2 ? " (+" + (r.downloads().size() - 2) + " files)" : "")
                    + " (" + r.bytesFetched() + " bytes, commit " + first.commit() + ") into " + env.cacheRoot());
        }
        return r;
    }

    /**
     * A Hub revision's weights and config.json, from the Hugging Face cache or downloaded into it (never a local path,
     * whatever folders the working directory has). With {@code pinnedCommit}, the files are those of that commit, and
     * the cache records that {@code revision} pointed there.
     */
    public Resolved resolveHub(RepoId repo, String revision, String pinnedCommit) {
        String rev = pinnedCommit != null ? pinnedCommit : revision;
        HfCache cache = new HfCache(env.cacheRoot());
        Optional<Path> snapshot = cache.snapshot(repo, rev).filter(s -> weightsIn(s).isPresent());
        if (snapshot.isPresent()) {
            Path snap = snapshot.get();
            if (!Files.isRegularFile(snap.resolve(CONFIG)) && !env.offline()) fetchConfig(repo, rev);
            checkKnownIdentity(repo, weightsIn(snap).get());
            if (pinnedCommit != null && !env.offline() && !revision.equals(pinnedCommit)) {
                new HubDownloader(env, Progress.NONE, notes).recordRef(repo, revision, pinnedCommit);
            }
            return new Resolved(snap, Optional.of(repo), "Hugging Face cache " + snap, snap.getFileName().toString(), List.of());
        }
        if (env.offline()) {
            throw new HubException(HubException.Kind.OFFLINE_NOT_CACHED, repo + " (revision " + revision + ") is not in the Hugging Face cache at "
                    + env.cacheRoot() + " and HF_HUB_OFFLINE is set: run 'headscan download " + repo + "' where the Hub is reachable, "
                    + "or copy its weights and config.json into a folder and pass that folder");
        }
        try {
            List<HubDownloader.Download> got = downloadAll(repo, rev);
            HubDownloader.Download first = got.getFirst();
            if (pinnedCommit != null && !revision.equals(pinnedCommit)) new HubDownloader(env, Progress.NONE, notes).recordRef(repo, revision, first.commit());
            checkKnownIdentity(repo, first.file());
            Path snap = first.file().getParent();
            return new Resolved(snap, Optional.of(repo), "downloaded into " + snap, first.commit(), got);
        } catch (HubException e) {
            if (e.kind() == HubException.Kind.NETWORK) {
                throw new HubException(HubException.Kind.NETWORK, e.getMessage() + "; " + repo + " is not in the Hugging Face cache at "
                        + env.cacheRoot() + ": copy its weights (with config.json) to this machine and pass their folder", e);
            }
            throw e;
        }
    }

    /** The weights file a snapshot folder holds completely (an index only with all its shards), in the order looked for. */
    public static Optional<Path> weightsIn(Path snapshot) {
        for (String name : Model.WEIGHTS_FILES) {
            Path p = snapshot.resolve(name);
            if (!Files.isRegularFile(p)) continue;
            if (!name.endsWith(".index.json")) return Optional.of(p);
            try {
                var map = ShardedCheckpoint.readWeightMap(p, null);
                if (new LinkedHashSet<>(map.values()).stream().allMatch(s -> Files.isRegularFile(snapshot.resolve(s)))) return Optional.of(p);
            } catch (RuntimeException e) {
                // a damaged index: look on, and the download fetches it again
            }
        }
        return Optional.empty();
    }

    /**
     * Downloads (or finds) a revision's weights, whichever form it has, and its config.json; the weights file (or index)
     * comes first. A revision with none of the forms is one error naming what was looked for.
     */
    public List<HubDownloader.Download> downloadAll(RepoId repo, String revision) {
        HubDownloader d = new HubDownloader(env, progress, notes).transientPartials(transientDownloads);
        List<HubDownloader.Download> out = new ArrayList<>();
        for (String name : Model.WEIGHTS_FILES) {
            HubDownloader.Download w;
            try {
                w = d.download(repo, revision, name);
            } catch (HubException e) {
                if (e.kind() == HubException.Kind.ENTRY_NOT_FOUND) continue;
                throw e;
            }
            out.add(w);
            if (name.endsWith(".index.json")) {
                var map = ShardedCheckpoint.readWeightMap(w.file(), null);
                for (String shard : new LinkedHashSet<>(map.values())) out.add(d.download(repo, revision, shard));
            }
            try {
                out.add(new HubDownloader(env, Progress.NONE, notes).transientPartials(transientDownloads).download(repo, w.commit(), CONFIG));
            } catch (HubException e) {
                if (e.kind() != HubException.Kind.ENTRY_NOT_FOUND) throw e;
                notes.accept("no config.json for " + repo + " (" + e.getMessage() + "); GPT-2's head count falls back to d_model / 64, other families need one");
            }
            fetchTokenizer(repo, w.commit(), w.file().getParent());
            return out;
        }
        throw new HubException(HubException.Kind.ENTRY_NOT_FOUND, repo + " at revision " + revision + " has no weights headscan reads: looked for "
                + String.join(", ", Model.WEIGHTS_FILES));
    }

    /**
     * tokenizer.json beside a snapshot whose config names a family other than GPT-2 (whose BPE is built in), for the
     * commands that tokenize text; best effort: without it, those commands say what is missing. Fetched with a download
     * only (a cached snapshot is used as it is, so a rerun makes no call); sweeps (transient downloads) never fetch
     * it: a sweep tokenizes its corpus once, with GPT-2's BPE.
     */
    private void fetchTokenizer(RepoId repo, String revision, Path snapshot) {
        if (transientDownloads || Files.isRegularFile(snapshot.resolve(TOKENIZER))) return;
        Optional<String> type;
        try {
            type = io.headscan.model.ModelConfig.read(snapshot.resolve(CONFIG)).flatMap(c -> c.string(List.of("model_type")));
        } catch (RuntimeException e) {
            return;   // opening the model names the broken config
        }
        if (type.isEmpty() || type.get().equals("gpt2")) return;
        try {
            new HubDownloader(env, Progress.NONE, notes).download(repo, revision, TOKENIZER);
        } catch (HubException e) {
            notes.accept("no tokenizer.json for " + repo + " (" + e.getMessage() + "): corpus bags and IOI names need one");
        }
    }

    private void fetchConfig(RepoId repo, String revision) {
        try {
            new HubDownloader(env, Progress.NONE, notes).download(repo, revision, CONFIG);
        } catch (HubException e) {
            notes.accept("no config.json for " + repo + " (" + e.getMessage() + "); GPT-2's head count falls back to d_model / 64, other families need one");
        }
    }

    /** gpt2's model.safetensors is a blob named by its sha256 (docs/science.md §7). */
    private void checkKnownIdentity(RepoId repo, Path weights) {
        if (!repo.isGpt2Small() || !weights.getFileName().toString().equals(WEIGHTS)) return;
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

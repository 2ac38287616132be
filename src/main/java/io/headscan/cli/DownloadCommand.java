package io.headscan.cli;

import io.headscan.hub.HfCache;
import io.headscan.hub.HubDownloader;
import io.headscan.hub.HubEnvironment;
import io.headscan.hub.HubException;
import io.headscan.hub.HubRefs;
import io.headscan.hub.ModelResolver;
import io.headscan.hub.RepoId;
import io.headscan.sweep.Checkpoint;
import io.headscan.sweep.Checkpoints;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "download", mixinStandardHelpOptions = true,
        header = "Download a model into the Hugging Face cache.",
        description = "The same layout huggingface_hub uses, so Python tools share it. Fetches whichever weights the revision has "
                + "(model.safetensors, sharded safetensors, pytorch_model.bin or its shards) and config.json. Resumes, checks size and sha256. "
                + "With --revisions, the matching branches and tags of a training run, in step order (a later sweep --revisions finds them "
                + "in the cache, offline too). Environment: HF_ENDPOINT, HF_TOKEN, HF_HOME / HF_HUB_CACHE, HF_HUB_OFFLINE.")
final class DownloadCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "ID", description = "Model id: gpt2, openai-community/gpt2, gpt2-medium, distilgpt2, "
            + "TransformerLens's names (stanford-gpt2-small-a, pythia-160m, gpt-neo-125M, opt-125m …), org/name.")
    String id;

    @Option(names = "--revision", paramLabel = "REV", description = "Branch, tag or commit (default: main).")
    String revision;

    @Option(names = "--revisions", paramLabel = "GLOB", split = ",",
            description = "Every branch and tag whose name matches (step*, checkpoint-*; several separated by commas), in step order, each pinned "
                    + "to the commit it points to when listed; what is cached already is not fetched again.")
    List<String> revisionGlobs;

    @Option(names = "--steps", paramLabel = "A-B", description = "With --revisions: only steps A to B (A-, -B also).")
    String steps;

    @Option(names = "--every", defaultValue = "1", paramLabel = "K", description = "With --revisions: every K-th matching revision (default: ${DEFAULT-VALUE}).")
    int every;

    @Override
    public Integer call() {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        HubEnvironment env = HubEnvironment.fromEnvironment();
        RepoId repo;
        try {
            repo = new RepoId(id);
        } catch (IllegalArgumentException e) {
            throw new HubException(HubException.Kind.NOT_A_MODEL, e.getMessage());
        }
        if (revisionGlobs != null && revision != null) throw new UsageException("--revision names one revision and --revisions lists several: give one of them");
        if (revisionGlobs == null && (steps != null || every != 1)) throw new UsageException("--steps and --every thin a series listed with --revisions");
        if (revisionGlobs != null) return series(repo, env, out, err);
        String revision = this.revision == null ? "main" : this.revision;
        if (env.offline()) {
            var cached = new HfCache(env.cacheRoot()).snapshot(repo, revision).filter(p -> ModelResolver.weightsIn(p).isPresent());
            if (cached.isPresent()) {
                out.println("HF_HUB_OFFLINE is set; " + repo + " is already cached: " + cached.get());
                return 0;
            }
            throw new HubException(HubException.Kind.OFFLINE_NOT_CACHED, "HF_HUB_OFFLINE is set and " + repo + " is not cached at " + env.cacheRoot());
        }
        ModelResolver resolver = new ModelResolver(env, new TerminalProgress(System.err), s -> {
            err.println(s);
            err.flush();
        });
        List<HubDownloader.Download> got = resolver.downloadAll(repo, revision);
        for (HubDownloader.Download r : got) {
            out.printf(Locale.ROOT, "%s %s: %,d bytes, commit %s, %s%n", repo, r.file().getFileName(), r.size(), r.commit(),
                    r.alreadyCached() ? "already cached" : "downloaded and verified (" + (r.etag().length() == 64 ? "sha256" : "git sha1") + " " + r.etag() + ")");
        }
        out.println("cached at " + got.getFirst().file().getParent());
        out.flush();
        return 0;
    }

    /** The revisions --revisions lists, thinned by --steps and --every, each fetched at its pinned commit unless cached. */
    private int series(RepoId repo, HubEnvironment env, PrintWriter out, PrintWriter err) {
        long[] range;
        List<Checkpoint> listed;
        try {
            range = steps == null ? new long[] {Long.MIN_VALUE, Long.MAX_VALUE} : Checkpoints.stepRange(steps);
            listed = Checkpoints.revisions(id, HubRefs.list(env, repo), revisionGlobs, range[0], range[1], every, Optional.empty());
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        if (listed.isEmpty()) {
            throw new HubException(HubException.Kind.REVISION_NOT_FOUND, repo.canonical() + " has no branch or tag matching " + String.join(",", revisionGlobs)
                    + (steps == null ? "" : " with steps " + steps) + (env.offline() ? " in the Hugging Face cache's refs" : ""));
        }
        ModelResolver resolver = new ModelResolver(env, new TerminalProgress(System.err), s -> {
            err.println(s);
            err.flush();
        });
        long bytes = 0;
        int fetched = 0;
        for (int i = 0; i < listed.size(); i++) {
            Checkpoint c = listed.get(i);
            ModelResolver.Resolved r = resolver.resolveHub(repo, c.revision(), c.commit());
            String what = r.bytesFetched() > 0
                    ? String.format(Locale.ROOT, "%s: %,d bytes downloaded and verified", r.downloads().stream()
                            .map(d -> d.file().getFileName().toString()).collect(Collectors.joining(", ")), r.bytesFetched())
                    : "already cached";
            out.printf(Locale.ROOT, "[%d/%d] %s@%s%s: %s, commit %s%n", i + 1, listed.size(), repo, c.revision(),
                    c.step().isPresent() ? " (" + c.step().getAsLong() + ")" : "", what, r.commit());
            out.flush();
            bytes += r.bytesFetched();
            if (r.bytesFetched() > 0) fetched++;
        }
        out.printf(Locale.ROOT, "%d revision%s of %s: %d downloaded (%,d bytes), %d already cached, in %s%n", listed.size(), listed.size() == 1 ? "" : "s",
                repo.canonical(), fetched, bytes, listed.size() - fetched, env.cacheRoot());
        out.flush();
        return 0;
    }
}

package io.headscan.cli;

import io.headscan.hub.HfCache;
import io.headscan.hub.HubDownloader;
import io.headscan.hub.HubEnvironment;
import io.headscan.hub.HubException;
import io.headscan.hub.ModelResolver;
import io.headscan.hub.RepoId;
import java.io.PrintWriter;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "download", mixinStandardHelpOptions = true,
        header = "Download a model into the Hugging Face cache.",
        description = "The same layout huggingface_hub uses, so Python tools share it. Fetches whichever weights the revision has "
                + "(model.safetensors, sharded safetensors, pytorch_model.bin or its shards) and config.json. Resumes, checks size and sha256. "
                + "Environment: HF_ENDPOINT, HF_TOKEN, HF_HOME / HF_HUB_CACHE, HF_HUB_OFFLINE.")
final class DownloadCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Parameters(index = "0", paramLabel = "ID", description = "Model id: gpt2, openai-community/gpt2, gpt2-medium, distilgpt2, org/name.")
    String id;

    @Option(names = "--revision", defaultValue = "main", paramLabel = "REV", description = "Branch, tag or commit (default: ${DEFAULT-VALUE}).")
    String revision;

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
}

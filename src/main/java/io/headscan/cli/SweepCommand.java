package io.headscan.cli;

import io.headscan.circuits.Variant;
import io.headscan.compute.Backends;
import io.headscan.hub.HubEnvironment;
import io.headscan.hub.ModelResolver;
import io.headscan.model.HeadId;
import io.headscan.sweep.Analyses;
import io.headscan.sweep.Checkpoint;
import io.headscan.sweep.Checkpoints;
import io.headscan.sweep.DuckDbSink;
import io.headscan.sweep.ModelInfo;
import io.headscan.sweep.Sweep;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

@Command(name = "sweep", mixinStandardHelpOptions = true, sortOptions = false,
        header = "Score many checkpoints in one process into a DuckDB database.",
        description = "Checkpoints are paths, globs (runs/*/checkpoint-*), Hugging Face ids (gpt2, gpt2-medium@main) or the lines of "
                + "--models-from. Each checkpoint's rows are written in one transaction; running the same sweep again skips what is "
                + "done. A checkpoint that fails is recorded in the errors table and the sweep goes on (exit code 1 at the end).")
final class SweepCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Parameters(paramLabel = "MODEL", arity = "0..*", description = "Checkpoints: paths, globs, Hugging Face ids with an optional @revision.")
    List<String> models = new ArrayList<>();

    @Option(names = "--models-from", paramLabel = "FILE", description = "More checkpoints, one per line (# comments allowed).")
    Path modelsFrom;

    @Option(names = "--label-from", paramLabel = "REGEX",
            description = "Label of a checkpoint: the first group of this regex on its name (default: a step in the name, "
                    + "checkpoint-1200, step_1200, global_step1200).")
    String labelFrom;

    @Option(names = "--score", description = "The Prediction-Attention score of every head (docs/science.md §3).")
    boolean score;

    @Option(names = "--wee", defaultValue = "hackathon", paramLabel = "LIST", split = ",",
            description = "W_EE variants for --score, comma-separated (default: ${DEFAULT-VALUE}).")
    List<String> wee;

    @Option(names = "--seeds", defaultValue = "0", paramLabel = "LIST", description = "Bag seeds for --score: 0-9, or 0,3,7 (default: ${DEFAULT-VALUE}).")
    String seeds;

    @Option(names = "--bag-size", defaultValue = "128", paramLabel = "N", description = "Tokens per bag (default: ${DEFAULT-VALUE}).")
    int bagSize;

    @Option(names = "--bag-count", defaultValue = "8", paramLabel = "N", description = "Bags per seed (default: ${DEFAULT-VALUE}).")
    int bagCount;

    @Option(names = "--with-replacement", description = "Draw bags with replacement, as the original code did.")
    boolean withReplacement;

    @Option(names = "--bags", paramLabel = "FILE", description = "Fixed bags for --score instead of random ones: a JSON array of arrays of "
            + "token ids, or a score --json report (the same bags for every checkpoint; --seeds then does not apply).")
    Path bagsFile;

    @Option(names = "--corpus", paramLabel = "PATH", description = "Fixed bags for --score from a corpus, as score --corpus: one bag per "
            + "document, its first --bag-size distinct GPT-2 tokens, --bag-count documents.")
    Path corpus;

    @Option(names = "--weights", description = "Per-tensor statistics and per-head Frobenius norms of W_Q, W_K, W_V, W_O.")
    boolean weights;

    @Option(names = "--fullvocab", paramLabel = "all|L.H,...", description = "Full-vocabulary QK statistics of these heads (docs/science.md §4).")
    String fullvocab;

    @Option(names = "--ov", paramLabel = "all|L.H,...", description = "OV copying statistics of these heads (docs/science.md §5).")
    String ov;

    @Option(names = "--fullvocab-wee", defaultValue = "full", paramLabel = "hackathon|full|noattn",
            description = "W_EE variant for --fullvocab and --ov (default: ${DEFAULT-VALUE}).")
    String fullWee;

    @Option(names = "--db", defaultValue = "sweep.duckdb", paramLabel = "FILE", description = "The results database (default: ${DEFAULT-VALUE}).")
    Path db;

    @Option(names = "--export", paramLabel = "FILE", description = "Also write the long results table as .parquet, .csv or .jsonl.")
    Path export;

    @Option(names = "--plot", paramLabel = "FILE",
            description = "A figure of the scores (.png or .svg): for a series (every checkpoint labelled with a step, same shape) the top "
                    + "heads' score against the step; otherwise one heatmap per checkpoint, side by side.")
    Path plot;

    @Option(names = "--plot-top", defaultValue = "6", paramLabel = "K", description = "Heads drawn in a series plot (default: ${DEFAULT-VALUE}).")
    int plotTop;

    @Option(names = "--fail-fast", description = "Stop at the first checkpoint that fails.")
    boolean failFast;

    @Option(names = "--revision", defaultValue = "main", paramLabel = "REV",
            description = "Hub revision for ids without @REV (default: ${DEFAULT-VALUE}); never applies to local paths.")
    String revision;

    @Option(names = "--revisions", paramLabel = "GLOB", split = ",",
            description = "Sweep the branches and tags of each MODEL (a Hub id) whose names match, in step order, each pinned to the commit "
                    + "it points to now: e.g. 'checkpoint-*' for the Stanford CRFM runs. Offline, the cache's refs are listed.")
    List<String> revisionGlobs;

    @Option(names = "--steps", paramLabel = "A-B", description = "With --revisions: only steps A to B (A-, -B also).")
    String steps;

    @Option(names = "--every", defaultValue = "1", paramLabel = "K", description = "With --revisions: every K-th matching revision (default: ${DEFAULT-VALUE}).")
    int every;

    @Option(names = "--prefetch", defaultValue = "1", paramLabel = "N",
            description = "Checkpoints downloaded ahead while one is computed (default: ${DEFAULT-VALUE}); disk use stays within N + 1 checkpoints.")
    int prefetch;

    @Option(names = "--keep-downloads", description = "Keep in the Hugging Face cache what the sweep downloaded (by default a checkpoint's "
            + "downloads are removed once its rows are committed; files cached before the sweep are never touched).")
    boolean keepDownloads;

    @Option(names = "--spark", paramLabel = "MASTER",
            description = "Run the sweep on Apache Spark with this CLI as the driver: local[N], spark://HOST:PORT, yarn or k8s://URL "
                    + "(docs/spark.md); results go to --out. Spark's jars are fetched once, the first time this is used.")
    String sparkMaster;

    @Option(names = "--out", paramLabel = "DIR", description = "With --spark: the results dataset (a folder, NFS, hdfs:// or s3a://): "
            + "Parquet files of the tables of a sweep database, each checkpoint committed on its own.")
    String sparkOut;

    @Option(names = "--conf", paramLabel = "KEY=VALUE", description = "With --spark: a Spark setting (repeatable), e.g. --conf spark.executor.memory=4g.")
    List<String> sparkConf = new ArrayList<>();

    @Mixin
    NonFiniteOption nonFinite;

    @Mixin
    BackendOptions backendOptions;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        if (models.isEmpty() && modelsFrom == null) throw new UsageException("sweep: name at least one MODEL (or --models-from FILE)");
        List<Variant> variants = new ArrayList<>();
        for (String w : wee) variants.add(ModelOptions.variant(w));
        Analyses analyses;
        try {
            if (bagsFile != null && corpus != null) throw new UsageException("--bags and --corpus: give one");
            Analyses.FixedBags fixed = null;
            if (bagsFile != null) {
                fixed = new Analyses.FixedBags("file " + bagsFile.getFileName(), io.headscan.circuits.Bags.fromFile(bagsFile, Integer.MAX_VALUE, withReplacement));
            } else if (corpus != null) {
                fixed = new Analyses.FixedBags("corpus " + corpus.getFileName() + " " + bagCount + "x" + bagSize,
                        io.headscan.circuits.Bags.fromCorpus(corpus, io.headscan.tokenize.Gpt2Tokenizer.INSTANCE, Integer.MAX_VALUE, bagSize, bagCount));
            }
            analyses = new Analyses(score, variants, seeds(seeds), bagSize, bagCount, withReplacement, weights, nonFinite.allow, fullvocab, ov,
                    ModelOptions.variant(fullWee), fixed);
        } catch (IllegalArgumentException e) {
            throw new UsageException("sweep: " + e.getMessage());
        }
        Optional<Pattern> label;
        try {
            label = Optional.ofNullable(labelFrom).map(Pattern::compile);
        } catch (PatternSyntaxException e) {
            throw new UsageException("--label-from: " + e.getDescription());
        }
        Outputs.check(export, "--export", ".parquet", ".csv", ".jsonl");
        Outputs.check(plot, "--plot", ".png", ".svg");
        if (plot != null && !score) throw new UsageException("--plot draws scores: add --score");
        ModelOptions.atLeast(plotTop, 1, "--plot-top");
        if (sparkMaster == null) Outputs.check(db, "--db", ".duckdb", ".db");
        else if (sparkOut == null) throw new UsageException("--spark writes its results to a dataset: give --out DIR");
        if (sparkOut != null && sparkMaster == null) throw new UsageException("--out goes with --spark (a local sweep writes --db FILE)");
        List<Checkpoint> checkpoints;
        try {
            checkpoints = Checkpoints.expand(models, Optional.ofNullable(modelsFrom), label);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        checkpoints = checkpoints.stream().map(c -> c.revision().equals("main") && !revision.equals("main") && !Sweep.isLocal(c)
                ? new Checkpoint(c.spec(), revision, c.label(), c.step()) : c).toList();
        HubEnvironment env = HubEnvironment.fromEnvironment();
        if (revisionGlobs != null) checkpoints = revisions(checkpoints, env, label);
        else if (steps != null || every != 1) throw new UsageException("--steps and --every thin a series listed with --revisions");
        ModelOptions.atLeast(prefetch, 0, "--prefetch");

        if (sparkMaster != null) return onSpark(checkpoints, analyses, out, err);

        ModelOptions.PendingBackend pending = ModelOptions.backendLater(backendOptions,
                score ? Backends.Workload.SMALL : Backends.Workload.LARGE);
        TerminalProgress progress = new TerminalProgress(System.err);
        ModelResolver resolver = new ModelResolver(env, io.headscan.Progress.NONE, s -> progress.above(() -> {
            err.println(s);
            err.flush();
        })).transientDownloads(true);
        int total = checkpoints.size();
        int[] index = {0};
        Sweep.Listener listener = new Sweep.Listener() {
            @Override
            public void done(Checkpoint c, ModelInfo info, boolean skipped, List<HeadId> top, double fetchSeconds, double seconds) {
                int i = ++index[0];
                progress.above(() -> {
                    out.println(line(i, total, c, info, skipped, top, null, fetchSeconds, seconds, db.getFileName().toString()));
                    out.flush();
                });
            }

            @Override
            public void failed(Checkpoint c, String message) {
                int i = ++index[0];
                progress.above(() -> {
                    out.printf(Locale.ROOT, "[%d/%d] %s%s: FAILED: %s%n", i, total, c.display(), c.label() == null ? "" : " (" + c.label() + ")", message);
                    out.flush();
                });
            }
        };
        Backends.Selection sel = pending.await(err, backendOptions.profile);
        try (var backend = sel.backend(); DuckDbSink sink = DuckDbSink.open(db)) {
            sink.begin(String.join(" ", spec.commandLine().getParseResult().originalArgs()), version(), backend.describe(), machine());
            Analyses computed = backendOptions.tf32 && backend.name().equals("cublas") ? analyses.withNumerics(" tf32") : analyses;
            Sweep sweep = new Sweep(backend, computed, sink, new io.headscan.sweep.HubFetcher(resolver, keepDownloads), listener, failFast).prefetch(prefetch);
            Sweep.Summary s = sweep.run(checkpoints, progress);
            long rows;
            try (var st = sink.connection().createStatement(); var rs = st.executeQuery("SELECT count(*) FROM results")) {
                rs.next();
                rows = rs.getLong(1);
            }
            out.printf(Locale.ROOT, "sweep: %d checkpoint%s: %d computed, %d skipped, %d failed in %.1f s; %,d result rows in %s%s%n", total,
                    total == 1 ? "" : "s", s.computed(), s.skipped(), s.failed(), s.seconds(), rows, db,
                    s.bytesFetched() > 0 ? String.format(Locale.ROOT, "; %,d bytes downloaded%s", s.bytesFetched(),
                            keepDownloads ? " (kept in the cache)" : " (removed after use)") : "");
            if (export != null) {
                sink.export(export);
                out.println("exported to " + export);
            }
            if (plot != null && SweepPlot.draw(sink.connection(), checkpoints, computed.scoreKey(variants.getFirst(), analyses.seeds().getFirst()),
                    plotTop, plot)) {
                out.println("plot written to " + plot);
            }
            out.flush();
            return s.failed() > 0 ? 1 : 0;
        }
    }

    /** One checkpoint's line: what it is, where it ran (a Spark executor), how long it took to fetch and to compute. */
    static String line(int i, int total, Checkpoint c, ModelInfo info, boolean skipped, List<HeadId> top, String executor, double fetchSeconds,
                       double seconds, String store) {
        String what = skipped ? "already in " + store + ", skipped"
                : String.format(Locale.ROOT, "%s, %dx%d, %s%s, %s%scomputed in %.2f s%s", info.architecture(), info.layers(), info.heads(),
                info.dtypes(), info.format().equals("safetensors") ? "" : " " + info.format(), executor == null ? "" : "on " + executor + ", ",
                fetchSeconds > 0 ? String.format(Locale.ROOT, "downloaded in %.2f s, ", fetchSeconds) : "", seconds,
                top.isEmpty() ? "" : "; top heads " + String.join(", ", top.stream().map(HeadId::toString).toList()));
        return String.format(Locale.ROOT, "[%d/%d] %s%s: %s", i, total, c.display(), c.label() == null ? "" : " (" + c.label() + ")", what);
    }

    /** The sweep on a cluster scheduler (Apache Spark), this process its driver; --export and --plot read the dataset. */
    private int onSpark(List<Checkpoint> checkpoints, Analyses analyses, PrintWriter out, PrintWriter err) throws Exception {
        io.headscan.sweep.DistributedSweep driver = io.headscan.sweep.DistributedSweep.find().orElseThrow(() -> new UsageException(
                "--spark: the Spark part of headscan is not on the class path: run it through ./headscan (which builds it and adds Spark's jars) "
                        + "or with spark-submit --class io.headscan.spark.SparkSweep"));
        java.util.Map<String, String> settings = new java.util.LinkedHashMap<>();
        for (String kv : sparkConf) {
            int eq = kv.indexOf('=');
            if (eq <= 0) throw new UsageException("--conf " + kv + ": expected KEY=VALUE");
            settings.put(kv.substring(0, eq).strip(), kv.substring(eq + 1).strip());
        }
        String master = sparkMaster.equals(io.headscan.sweep.DistributedSweep.FROM_CONFIGURATION) ? null : sparkMaster;
        var job = new io.headscan.sweep.DistributedSweep.Job(checkpoints, analyses, master, sparkOut,
                String.join(" ", spec.commandLine().getParseResult().originalArgs()), backendOptions.backend, backendOptions.tf32, keepDownloads, settings);
        TerminalProgress progress = new TerminalProgress(System.err);
        int total = checkpoints.size();
        int[] index = {0};
        Sweep.Summary s = driver.run(job, new io.headscan.sweep.DistributedSweep.Listener() {
            @Override
            public void done(Checkpoint c, ModelInfo info, boolean skipped, List<HeadId> top, String executor, double fetch, double compute) {
                int i = ++index[0];
                progress.above(() -> {
                    out.println(line(i, total, c, info, skipped, top, executor, fetch, compute, sparkOut));
                    out.flush();
                });
            }

            @Override
            public void failed(Checkpoint c, String executor, String message) {
                int i = ++index[0];
                progress.above(() -> {
                    out.printf(Locale.ROOT, "[%d/%d] %s%s: FAILED%s: %s%n", i, total, c.display(), c.label() == null ? "" : " (" + c.label() + ")",
                            executor == null ? "" : " on " + executor, message);
                    out.flush();
                });
            }

            @Override
            public void note(String text) {
                progress.above(() -> {
                    err.println(text);
                    err.flush();
                });
            }
        }, progress);
        out.printf(Locale.ROOT, "sweep: %d checkpoint%s: %d computed, %d skipped, %d failed in %.1f s on Spark; results in %s%s%n", total,
                total == 1 ? "" : "s", s.computed(), s.skipped(), s.failed(), s.seconds(), sparkOut,
                s.bytesFetched() > 0 ? String.format(Locale.ROOT, "; %,d bytes downloaded on the executors", s.bytesFetched()) : "");
        if (export != null || plot != null) {
            Path local = Path.of(sparkOut.startsWith("file:") ? java.net.URI.create(sparkOut).getPath() : sparkOut);
            if (sparkOut.contains("://") && !sparkOut.startsWith("file:")) {
                err.println("headscan: --export and --plot read a local dataset; copy " + sparkOut + " here and run sweep --out DIR --export/--plot on it");
            } else {
                try (var c = io.headscan.sweep.ParquetDataset.open(local)) {
                    if (export != null) {
                        DuckDbSink.export(c, export);
                        out.println("exported to " + export);
                    }
                    if (plot != null && SweepPlot.draw(c, checkpoints, analyses.scoreKey(analyses.variants().getFirst(), analyses.seeds().getFirst()),
                            plotTop, plot)) {
                        out.println("plot written to " + plot);
                    }
                }
            }
        }
        out.flush();
        return s.failed() > 0 ? 1 : 0;
    }

    /** Each MODEL's branches and tags matching --revisions, thinned by --steps and --every, pinned to their commits. */
    private List<Checkpoint> revisions(List<Checkpoint> named, HubEnvironment env, Optional<Pattern> label) {
        long[] range = steps == null ? new long[] {Long.MIN_VALUE, Long.MAX_VALUE} : stepRange(steps);
        List<Checkpoint> out = new ArrayList<>();
        for (Checkpoint c : named) {
            if (Sweep.isLocal(c)) throw new UsageException("--revisions lists a Hub repository's branches; " + c.spec() + " is a local path");
            io.headscan.hub.RepoId repo = new io.headscan.hub.RepoId(c.spec());
            List<io.headscan.hub.HubRefs.Ref> refs = io.headscan.hub.HubRefs.list(env, repo);
            List<Checkpoint> matched;
            try {
                matched = Checkpoints.revisions(c.spec(), refs, revisionGlobs, range[0], range[1], every, label);
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
            if (matched.isEmpty()) {
                throw new io.headscan.hub.HubException(io.headscan.hub.HubException.Kind.REVISION_NOT_FOUND, repo.canonical() + " has no branch or tag matching "
                        + String.join(",", revisionGlobs) + (steps == null ? "" : " with steps " + steps) + " (" + refs.size() + " refs listed"
                        + (env.offline() ? " from the cache" : "") + ")");
            }
            out.addAll(matched);
        }
        return out;
    }

    private static long[] stepRange(String spec) {
        try {
            return Checkpoints.stepRange(spec);
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    /** "0-9", "0,3,7", "1-3,8". */
    static List<Long> seeds(String spec) {
        List<Long> out = new ArrayList<>();
        try {
            for (String part : spec.split(",")) {
                String p = part.strip();
                int dash = p.indexOf('-', 1);
                if (dash > 0) {
                    long a = Long.parseLong(p.substring(0, dash)), b = Long.parseLong(p.substring(dash + 1));
                    if (b < a || b - a > 10_000) throw new NumberFormatException();
                    for (long s = a; s <= b; s++) out.add(s);
                } else {
                    out.add(Long.parseLong(p));
                }
            }
        } catch (NumberFormatException e) {
            throw new UsageException("--seeds " + spec + ": expected numbers and ranges such as 0-9 or 0,3,7");
        }
        return out.stream().distinct().toList();
    }

    private static String version() {
        String v = Main.class.getPackage().getImplementationVersion();
        return "headscan " + (v == null ? "(development build)" : v) + ", Java " + Runtime.version();
    }

    private static String machine() {
        String cpu = "";
        try {
            cpu = Files.readAllLines(Path.of("/proc/cpuinfo")).stream().filter(l -> l.startsWith("model name")).findFirst()
                    .map(l -> l.substring(l.indexOf(':') + 1).strip() + ", ").orElse("");
        } catch (java.io.IOException | RuntimeException e) {
            // not Linux
        }
        return cpu + Runtime.getRuntime().availableProcessors() + " cores, " + System.getProperty("os.name") + " " + System.getProperty("os.arch");
    }
}

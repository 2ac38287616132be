package io.headscan.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headscan.CacheFolder;
import io.headscan.circuits.Bags;
import io.headscan.circuits.CheckpointIdentity;
import io.headscan.circuits.PredictionAttention;
import io.headscan.circuits.Variant;
import io.headscan.compute.Backends;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.report.Figures;
import io.headscan.tokenize.Tokenizer;
import io.headscan.tokenize.Tokenizers;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "score", mixinStandardHelpOptions = true, sortOptions = false,
        header = "Prediction-Attention score of every head (docs/science.md §3).",
        description = "How much a head, queried with a token's unembedding, attends to that token's effective embedding among a "
                + "bag of tokens; the mean over bags, ranked, on stdout.")
final class ScoreCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    static final class BagSource {
        @Option(names = "--random", description = "Random bags (the default): --bag-count bags of --bag-size token ids from [0, V).")
        boolean random;

        @Option(names = "--bags", paramLabel = "FILE", description = "Bags from a JSON array of arrays of token ids, or from a score --json report (its bags.ids), to repeat a run.")
        Path file;

        @Option(names = "--corpus", paramLabel = "PATH",
                description = "One bag per document of a .txt file, a folder of them, or .jsonl with a \"text\" field: its first --bag-size distinct tokens "
                        + "of the model's tokenizer (its tokenizer.json, else GPT-2's BPE for a 50257-token vocabulary).")
        Path corpus;
    }

    @ArgGroup(exclusive = true, multiplicity = "0..1")
    BagSource source = new BagSource();

    @Option(names = "--bag-size", defaultValue = "128", paramLabel = "N", description = "Tokens per bag (default: ${DEFAULT-VALUE}).")
    int bagSize;

    @Option(names = "--bag-count", defaultValue = "8", paramLabel = "N", description = "Number of bags (default: ${DEFAULT-VALUE}).")
    int bagCount;

    @Option(names = "--seed", defaultValue = "0", paramLabel = "N", description = "Seed of the random bags (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--with-replacement", description = "Draw random bags with replacement, as the original code did.")
    boolean withReplacement;

    @Option(names = "--wee", defaultValue = "hackathon", paramLabel = "hackathon|full|noattn",
            description = "Effective-embedding variant (default: ${DEFAULT-VALUE}, the writeup's).")
    String wee;

    @Mixin
    BackendOptions backendOptions;

    @Mixin
    NonFiniteOption nonFinite;

    @Option(names = "--top", defaultValue = "20", paramLabel = "N", description = "Rows of the ranked table (0: all heads; default: ${DEFAULT-VALUE}).")
    int top;

    @Option(names = "--json", paramLabel = "FILE", description = "Write scores, ranking, definition, bags, model, backend and timings as JSON.")
    Path json;

    @Option(names = "--csv", paramLabel = "FILE", description = "Write one row per head: layer, head, score, centered, std_over_bags, rank.")
    Path csv;

    @Option(names = "--heatmap", paramLabel = "FILE", description = "Layer x head heatmap of the mean-subtracted scores (.png or .svg).")
    Path heatmap;

    @Option(names = "--attention-plot", paramLabel = "L.H=FILE",
            description = "Query x key softmax matrix of head L.H on the first bag (.png or .svg); repeatable.")
    List<String> attentionPlots = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        long start = System.nanoTime();
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Variant variant = ModelOptions.variant(wee);
        ModelOptions.atLeast(bagSize, 1, "--bag-size");
        ModelOptions.atLeast(bagCount, 1, "--bag-count");
        ModelOptions.atLeast(top, 0, "--top");
        Map<HeadId, Path> plots = new LinkedHashMap<>();
        for (String p : attentionPlots) {
            int eq = p.indexOf('=');
            if (eq <= 0 || eq == p.length() - 1) throw new UsageException("--attention-plot takes L.H=FILE, got '" + p + "'");
            HeadId h;
            try {
                h = HeadId.parse(p.substring(0, eq));
            } catch (IllegalArgumentException e) {
                throw new UsageException("--attention-plot " + p + ": " + e.getMessage());
            }
            plots.put(h, Path.of(p.substring(eq + 1)));
        }
        Outputs.check(json, "--json", ".json");
        Outputs.check(csv, "--csv", ".csv");
        Outputs.check(heatmap, "--heatmap", ".png", ".svg");
        for (Path p : plots.values()) Outputs.check(p, "--attention-plot", ".png", ".svg");
        ModelOptions.PendingBackend pending = ModelOptions.backendLater(backendOptions, io.headscan.compute.Backends.Workload.SMALL);
        try (Model m = model.open(err)) {
            long opened = System.nanoTime();
            PredictionAttention.prefetch(m);
            Dims dims = m.dims();
            for (HeadId h : plots.keySet()) ModelOptions.heads("--attention-plot", h.toString(), dims);
            java.util.Set<HeadId> marked = nonFinite.check(m, io.headscan.circuits.NonFinite.Circuit.QK, variant, err);
            long checked = System.nanoTime();
            List<int[]> bags;
            Bags.Source src;
            if (source.file != null) {
                bags = Bags.fromFile(source.file, dims.vocab(), withReplacement);
                src = new Bags.Source("file", source.file.toString(), bags.size(), bags.get(0).length, null, false);
            } else if (source.corpus != null) {
                try (Tokenizer t = Tokenizers.require(m.path(), dims.vocab(), "--corpus")) {
                    bags = Bags.fromCorpus(source.corpus, t, dims.vocab(), bagSize, bagCount);
                    src = new Bags.Source("corpus", source.corpus + ", tokenizer: " + t.describe(), bags.size(), bagSize, null, false);
                }
            } else {
                try {
                    bags = Bags.random(dims.vocab(), bagSize, bagCount, seed, withReplacement);
                } catch (IllegalArgumentException e) {
                    throw new UsageException(e.getMessage());
                }
                src = new Bags.Source("random", withReplacement ? "uniform over [0, V), with replacement" : "uniform over [0, V), without replacement",
                        bagCount, bagSize, seed, withReplacement);
            }
            List<String> labels = null;   // the attention plots' token labels, in the model's own tokenizer (none without one)
            if (!plots.isEmpty()) {
                try (Tokenizer t = Tokenizers.forCheckpoint(m.path(), dims.vocab()).orElse(null)) {
                    if (t != null) labels = java.util.Arrays.stream(bags.get(0)).mapToObj(id -> {
                        String text = t.decode(id);
                        return text.isEmpty() ? "#" + id : text;
                    }).toList();
                }
            }
            long bagged = System.nanoTime();
            Backends.Selection selection = pending.await(err, backendOptions.profile);
            try (var backend = selection.backend()) {
                long loaded = System.nanoTime();
                PredictionAttention pa = new PredictionAttention(m, backend, variant, marked.isEmpty());
                PredictionAttention.Result r = pa.score(bags, new TerminalProgress(System.err));
                java.util.Set<HeadId> unreliable = r.unreliable(marked);
                double[][] centered = r.centered(marked);
                List<HeadId> ranking = r.ranking(marked);
                m.definitionLine().ifPresent(out::println);   // not through Reports: its JSON mapper costs start-up
                printTable(out, r, centered, ranking, src, unreliable, m.dims());
                Map<String, Double> timings = new LinkedHashMap<>();
                timings.put("open_model", (opened - start) / 1e6);
                timings.put("nonfinite_check", (checked - opened) / 1e6);
                timings.put("bags", (bagged - checked) / 1e6);
                timings.put("load_backend", (loaded - bagged) / 1e6);
                timings.putAll(r.timingsMs());
                if (heatmap != null) {
                    long t = System.nanoTime();
                    Figures.heatmap(heatmap, centered, "Prediction-Attention score − mean over heads (" + variant.id() + ", "
                            + src.count() + " " + src.kind() + " bags of " + src.size() + ")", "score − mean", true);
                    timings.put("heatmap", (System.nanoTime() - t) / 1e6);
                    err.println("heatmap written to " + heatmap);
                }
                for (var e : plots.entrySet()) {
                    double[][] p = pa.pattern(e.getKey(), bags.get(0));
                    Figures.attention(e.getValue(), p, labels, "Head " + e.getKey() + ": softmax attention, U queries × W_EE keys (bag 0)");
                    err.println("attention plot of " + e.getKey() + " written to " + e.getValue());
                }
                timings.put("total", (System.nanoTime() - start) / 1e6);
                if (backendOptions.profile) {
                    StringBuilder sb = new StringBuilder("profile:");
                    timings.forEach((k, v) -> sb.append(String.format(Locale.ROOT, " %s %.1f ms;", k, v)));
                    err.println(sb);
                    err.println("profile: transfers: " + backend.transfers().describe());
                    backendOptions.profileFooter(err, m, backend);
                }
                if (json != null) Reports.writeJson(json, json(m, CheckpointIdentity.known(m.path(), CacheFolder.root()).orElse(null), r, centered, ranking, src, bags, backend.describe(), timings));
                if (csv != null) Reports.write(csv, csv(r, centered, ranking));
            }
        }
        out.flush();
        return 0;
    }

    private void printTable(PrintWriter out, PredictionAttention.Result r, double[][] centered, List<HeadId> ranking, Bags.Source src,
                            java.util.Set<HeadId> unreliable, io.headscan.model.Dims dims) {
        out.printf(Locale.ROOT, "Prediction-Attention score, W_EE %s, %d %s bag%s of %d tokens; uniform baseline 1/%d = %.5f%n",
                r.variant().id(), src.count(), src.kind(), src.count() == 1 ? "" : "s", src.size(), src.size(), r.uniformBaseline());
        boolean kv = dims.grouped();   // grouped-query attention: name the key/value head each query head reads
        out.printf(Locale.ROOT, "%5s  %-6s  %9s  %9s  %8s  %8s%s%n", "rank", "head", "score", "centered", "std/bag", "x uniform", kv ? "  kv head" : "");
        int n = top <= 0 ? ranking.size() : Math.min(top, ranking.size());
        for (int i = 0; i < n; i++) {
            HeadId h = ranking.get(i);
            double s = r.scores()[h.layer()][h.head()];
            if (unreliable.contains(h)) {
                out.printf(Locale.ROOT, "%5s  %-6s  %9s  %9s  %8s  %8s  non-finite weights%n", "-", h, fmt(s), "-", "-", "-");
                continue;
            }
            out.printf(Locale.ROOT, "%5d  %-6s  %9.5f  %+9.5f  %8.5f  %8.2f%s%n", i + 1, h, s, centered[h.layer()][h.head()],
                    r.perBagStd()[h.layer()][h.head()], s / r.uniformBaseline(), kv ? "  " + h.layer() + ".kv" + dims.kvHead(h.head()) : "");
        }
        if (n < ranking.size()) out.printf(Locale.ROOT, "(%d more heads; --top 0 lists all)%n", ranking.size() - n);
        if (!unreliable.isEmpty()) {
            out.printf(Locale.ROOT, "%d head%s marked (non-finite weights reach them): ranked last, left out of the mean that centres the others%n",
                    unreliable.size(), unreliable.size() == 1 ? "" : "s");
        }
    }

    private static String fmt(double x) {
        return Double.isFinite(x) ? String.format(Locale.ROOT, "%9.5f", x) : Double.toString(x);
    }

    private ObjectNode json(Model m, String sha, PredictionAttention.Result r, double[][] centered, List<HeadId> ranking,
                            Bags.Source src, List<int[]> bagIds, String backend, Map<String, Double> timings) {
        ObjectNode root = Reports.JSON.createObjectNode();
        root.put("metric", "prediction_attention");
        root.set("scores", Reports.matrix(r.scores()));
        root.set("scores_centered", Reports.matrix(centered));
        root.set("scores_std_over_bags", Reports.matrix(r.perBagStd()));
        ArrayNode rank = root.putArray("ranking");
        for (HeadId h : ranking) {
            ObjectNode o = rank.addObject().put("head", h.toString());
            Reports.number(o, "score", r.scores()[h.layer()][h.head()]);
            Reports.number(o, "centered", centered[h.layer()][h.head()]);
            if (!Double.isFinite(centered[h.layer()][h.head()])) o.put("nonfinite_weights", true);
        }
        root.put("uniform_baseline", r.uniformBaseline());
        ObjectNode def = root.putObject("definition");
        def.put("spec", "docs/science.md §3 (Prediction-Attention score)");
        def.put("variant", r.variant().id());
        def.put("variant_definition", r.variant().definition());
        def.put("query", "U[:, t] * g1_l: TL-processed unembedding (ln_f weight folded, centred over d_model and over the vocabulary)");
        def.put("key", "W_EE[s] * g1_l");
        def.put("scale", "1/sqrt(d_head)");
        def.put("biases", "none: no b_Q, b_K, attention or ln_1 biases; ln_1 weight applied on both sides");
        def.put("score", "mean over bags of mean over t in bag of softmax_s(S[t, s])[t]");
        ObjectNode b = root.putObject("bags");
        b.put("source", src.kind());
        b.put("detail", src.detail());
        b.put("count", src.count());
        b.put("size", src.size());
        if (src.seed() != null) b.put("seed", src.seed());
        else b.putNull("seed");
        b.put("with_replacement", src.withReplacement());
        ArrayNode ids = b.putArray("ids");
        for (int[] bag : bagIds) {
            ArrayNode a = ids.addArray();
            for (int t : bag) a.add(t);
        }
        root.set("model", Reports.model(m, sha));
        root.put("backend", backend);
        root.set("timings_ms", Reports.timings(timings));
        return root;
    }

    /** A number for CSV; non-finite values are left empty (what pandas and R read as missing). */
    private static String csvNumber(double x) {
        return Double.isFinite(x) ? String.format(Locale.ROOT, "%.8g", x) : "";
    }

    private String csv(PredictionAttention.Result r, double[][] centered, List<HeadId> ranking) {
        StringBuilder sb = new StringBuilder("layer,head,score,centered,std_over_bags,rank\n");
        for (int i = 0; i < ranking.size(); i++) {
            HeadId h = ranking.get(i);
            boolean ok = Double.isFinite(centered[h.layer()][h.head()]);
            sb.append(String.format(Locale.ROOT, "%d,%d,%s,%s,%s,%s%n", h.layer(), h.head(), csvNumber(r.scores()[h.layer()][h.head()]),
                    csvNumber(centered[h.layer()][h.head()]), csvNumber(r.perBagStd()[h.layer()][h.head()]), ok ? Integer.toString(i + 1) : ""));
        }
        return sb.toString();
    }
}

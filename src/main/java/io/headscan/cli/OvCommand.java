package io.headscan.cli;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headscan.CacheFolder;
import io.headscan.circuits.CheckpointIdentity;
import io.headscan.circuits.EmbeddingTable;
import io.headscan.circuits.IoiNames;
import io.headscan.circuits.OvCircuit;
import io.headscan.circuits.Variant;
import io.headscan.compute.Backends;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.tokenize.Tokenizer;
import io.headscan.tokenize.Tokenizers;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "ov", mixinStandardHelpOptions = true, sortOptions = false,
        header = "OV copying statistics of each head (docs/science.md §5).",
        description = "Negative and positive copying ranks over the full vocabulary, the tokens a head pushes most and least, and the "
                + "IOI copy and negative copy scores.")
final class OvCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Option(names = "--heads", defaultValue = "all", paramLabel = "all|L.H,...", description = "Heads, e.g. 10.7,11.10 (default: ${DEFAULT-VALUE}).")
    String heads;

    @Option(names = "--wee", defaultValue = "full", paramLabel = "hackathon|full|noattn",
            description = "Variant for the rank statistics (default: ${DEFAULT-VALUE}; copy scores always use noattn).")
    String wee;

    @Option(names = "--token", paramLabel = "ID", description = "Source token for the pushed-token lists (default: average over all sources).")
    Integer token;

    @Option(names = "--top", defaultValue = "10", paramLabel = "N", description = "Tokens listed as pushed most / least (default: ${DEFAULT-VALUE}).")
    int top;

    @Option(names = "--names", paramLabel = "FILE", description = "Names for the IOI copy scores, one per line (default: a built-in list of common names); "
            + "those that are one token of the model's tokenizer are used.")
    Path names;

    @Option(names = "--json", paramLabel = "FILE", description = "Write heads -> \"L.H\" -> negative, positive, pushed, copy scores as JSON.")
    Path json;

    @Mixin
    BackendOptions backendOptions;

    @Mixin
    NonFiniteOption nonFinite;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Variant variant = ModelOptions.variant(wee);
        ModelOptions.atLeast(top, 0, "--top");
        Outputs.check(json, "--json", ".json");
        long t0 = System.nanoTime();
        ModelOptions.PendingBackend pending = ModelOptions.backendLater(backendOptions);
        try (Model m = model.open(err)) {
            List<HeadId> list = ModelOptions.heads("--heads", heads, m.dims());
            java.util.Set<HeadId> marked = nonFinite.check(m, io.headscan.circuits.NonFinite.Circuit.OV, variant, err);
            int v = m.dims().vocab();
            if (token != null && (token < 0 || token >= v)) throw new UsageException("--token " + token + " is outside the vocabulary [0, " + v + ")");
            // the model's tokenizer (io.headscan.tokenize.Tokenizers): token texts and the IOI names; without one, ids only
            try (Tokenizer tokenizer = names != null ? Tokenizers.require(m.path(), v, "--names") : Tokenizers.forCheckpoint(m.path(), v).orElse(null)) {
                IoiNames.Found found = tokenizer == null ? null : names != null ? IoiNames.fromFile(names, tokenizer, v) : IoiNames.defaults(tokenizer, v);
                Map<String, Integer> nameTokens = found == null ? Map.of() : found.tokens();
                // why the IOI copy scores are skipped: on stdout with the file expected, in the JSON without paths (as the
                // report's other fields: two copies of one checkpoint give the same numbers)
                String ioiSkipped = tokenizer == null ? "no tokenizer: " + Tokenizers.expectedFile(m.path()) + " not found, and a " + v
                        + "-token vocabulary is not GPT-2's" : nameTokens.isEmpty() ? found.describe() + " of " + tokenizer.describe() : null;
                String ioiSkippedJson = tokenizer == null ? "no tokenizer: no tokenizer.json beside the weights, and a " + v
                        + "-token vocabulary is not GPT-2's" : nameTokens.isEmpty() ? found.describe() : null;
                int[] nameIds = nameTokens.values().stream().mapToInt(Integer::intValue).toArray();
                if (tokenizer != null) out.printf(Locale.ROOT, "tokenizer: %s; IOI names: %s%n", tokenizer.describe(), found.describe());
                else out.printf(Locale.ROOT, "tokenizer: none (%s)%n", ioiSkipped);
                Backends.Selection sel = pending.await(err, backendOptions.profile);
                try (var backend = sel.backend();
                     EmbeddingTable table = EmbeddingTable.obtain(m, variant, backend, CacheFolder.root(), new TerminalProgress(System.err), err::println);
                     OvCircuit ov = new OvCircuit(m, backend, table.matrix())) {
                    TerminalProgress progress = new TerminalProgress(System.err);
                    progress.start("ov", (long) list.size() * v, "rows");
                    ObjectNode root = Reports.JSON.createObjectNode();
                    ObjectNode hs = root.putObject("heads");
                    m.definitionLine().ifPresent(out::println);   // not through Reports: its JSON mapper costs start-up
                    for (HeadId h : list) {
                        if (marked.contains(h)) {   // its logits would be NaN: nothing to compute
                            hs.putObject(h.toString()).put("nonfinite_weights", true);
                            progress.advance(v);
                            progress.above(() -> {
                                out.printf(Locale.ROOT, "head %s%n  skipped: non-finite weights reach this head%n", h);
                                out.flush();
                            });
                            continue;
                        }
                        OvCircuit.HeadStats s = ov.ranks(h, progress);
                        List<List<OvCircuit.Pushed>> pushed = ov.pushed(h, token == null ? -1 : token, top);
                        OvCircuit.CopyScores cs = nameIds.length > 0 ? ov.copyScores(h, nameIds) : null;
                        ObjectNode n = hs.putObject(h.toString());
                        n.set("negative", Reports.ranks(s.negative()));
                        n.set("positive", Reports.ranks(s.positive()));
                        ObjectNode p = n.putObject("pushed");
                        p.put("source", token == null ? "average over all source tokens" : "token " + show(tokenizer, token));
                        p.set("most", pushedJson(pushed.get(0), tokenizer));
                        p.set("least", pushedJson(pushed.get(1), tokenizer));
                        if (cs != null) {
                            n.putObject("ioi").put("names", cs.names()).put("names_listed", found.listed()).put("copy_score", cs.copyScore())
                                    .put("negative_copy_score", cs.negativeCopyScore());
                        } else {
                            n.putNull("ioi");
                        }
                        progress.above(() -> {
                            print(out, h, s, pushed, cs, found, ioiSkipped, tokenizer, m.dims());
                            out.flush();
                        });
                    }
                    progress.done();
                    double[] ph = ov.phaseMs();
                    double totalMs = (System.nanoTime() - t0) / 1e6;
                    if (backendOptions.profile) {
                        err.printf(Locale.ROOT, "profile: total %.0f ms; logit GEMMs %.0f ms; fused reductions (%s kernel) %.0f ms; factors %.0f ms; "
                                + "the rest %.0f ms%n", totalMs, ph[0], ov.kernel(), ph[1], ph[2], totalMs - ph[0] - ph[1] - ph[2]);
                        var bytes = ov.phaseBytes();
                        err.println("profile: transfers: factors " + bytes[0].describe() + "; logits " + bytes[1].describe()
                                + "; whole run " + backend.transfers().describe());
                        backendOptions.profileFooter(err, m, backend);
                    }
                    root.put("variant", variant.id());
                    root.put("definition", "docs/science.md §5: M[s, j] = ((W_EE[s] * g1) @ Wv @ Wo) · U[:, j]; negative rank #{j : M[s, j] < M[s, s]}, "
                            + "positive rank #{j : M[s, j] > M[s, s]}; IOI copy scores: top 5 of lnpre(±o_s) @ U + b_U, W_EE noattn");
                    root.putArray("names").addAll(nameTokens.keySet().stream().map(Reports.JSON.getNodeFactory()::textNode).toList());
                    if (tokenizer != null) root.put("tokenizer", tokenizer.describe());
                    else root.putNull("tokenizer");
                    if (ioiSkippedJson != null) root.put("ioi_skipped", ioiSkippedJson);
                    root.set("model", Reports.model(m, CheckpointIdentity.known(m.path(), CacheFolder.root()).orElse(null)));
                    root.put("backend", backend.describe());
                    root.putObject("timings_ms").put("total", totalMs).put("logit_gemm", ph[0]).put("fused_reduction", ph[1]).put("factors", ph[2]);
                    root.set("transfers_bytes", Reports.transfers(ov.phaseBytes(), backend.transfers()));
                    if (json != null) Reports.writeJson(json, root);
                }
            }
        }
        out.flush();
        return 0;
    }

    private static String quote(String s) {
        return "'" + s.replace("\n", "\\n") + "'";
    }

    /** A token as the model's tokenizer writes it ('text'), or #id where there is no tokenizer or it has no text for the id. */
    static String show(Tokenizer t, int id) {
        String text = t == null ? "" : t.decode(id);
        return text.isEmpty() ? "#" + id : quote(text);
    }

    private static ArrayNode pushedJson(List<OvCircuit.Pushed> list, Tokenizer t) {
        ArrayNode a = Reports.JSON.createArrayNode();
        for (OvCircuit.Pushed p : list) {
            ObjectNode o = a.addObject().put("token", p.token()).put("logit", p.logit());
            if (t != null) o.put("text", t.decode(p.token()));
        }
        return a;
    }

    private static void print(PrintWriter out, HeadId h, OvCircuit.HeadStats s, List<List<OvCircuit.Pushed>> pushed, OvCircuit.CopyScores cs,
                              IoiNames.Found found, String ioiSkipped, Tokenizer t, io.headscan.model.Dims dims) {
        out.printf(Locale.ROOT, "head %s%s%n", h, dims.grouped() ? " (kv head " + dims.kvHead(h.head()) + ")" : "");
        out.printf(Locale.ROOT, "  negative copying: rank0 %.2f%%  rank<10 %.2f%%  median %.1f  mean %.2f%n", 100 * s.negative().fracRank0(),
                100 * s.negative().fracRankLt10(), s.negative().medianRank(), s.negative().meanRank());
        out.printf(Locale.ROOT, "  positive copying: rank0 %.2f%%  rank<10 %.2f%%  median %.1f  mean %.2f%n", 100 * s.positive().fracRank0(),
                100 * s.positive().fracRankLt10(), s.positive().medianRank(), s.positive().meanRank());
        if (cs != null) {
            out.printf(Locale.ROOT, "  IOI names (%d of %d): copy score %.1f%%, negative copy score %.1f%%%n", cs.names(), found.listed(),
                    100 * cs.copyScore(), 100 * cs.negativeCopyScore());
        } else {
            out.printf(Locale.ROOT, "  IOI copy scores: skipped (%s)%n", ioiSkipped);
        }
        out.printf(Locale.ROOT, "  pushed most:  %s%n", describe(pushed.get(0), t));
        out.printf(Locale.ROOT, "  pushed least: %s%n", describe(pushed.get(1), t));
    }

    private static String describe(List<OvCircuit.Pushed> list, Tokenizer t) {
        StringBuilder sb = new StringBuilder();
        for (OvCircuit.Pushed p : list) {
            if (!sb.isEmpty()) sb.append(", ");
            sb.append(show(t, p.token())).append(String.format(Locale.ROOT, " %+.3f", p.logit()));
        }
        return sb.toString();
    }
}

package io.headscan.cli;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headscan.CacheFolder;
import io.headscan.circuits.CheckpointIdentity;
import io.headscan.circuits.EmbeddingTable;
import io.headscan.circuits.FullVocabQK;
import io.headscan.circuits.Variant;
import io.headscan.compute.Backends;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "fullvocab", mixinStandardHelpOptions = true, sortOptions = false,
        header = "Full-vocabulary QK statistics of each head (docs/science.md §4).",
        description = "Every query token against all V keys, per head: mean_diag_prob (the full-vocabulary Prediction-Attention "
                + "score) and the rank of each token's own key.")
final class FullVocabCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Option(names = "--heads", defaultValue = "all", paramLabel = "all|L.H,...", description = "Heads (default: ${DEFAULT-VALUE}).")
    String heads;

    @Option(names = "--wee", defaultValue = "full", paramLabel = "hackathon|full|noattn", description = "Variant (default: ${DEFAULT-VALUE}).")
    String wee;

    @Option(names = "--json", paramLabel = "FILE", description = "Write heads -> \"L.H\" -> statistics as JSON.")
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
        Outputs.check(json, "--json", ".json");
        long t0 = System.nanoTime();
        ModelOptions.PendingBackend pending = ModelOptions.backendLater(backendOptions);
        try (Model m = model.open(err)) {
            List<HeadId> list = ModelOptions.heads("--heads", heads, m.dims());
            java.util.Set<HeadId> marked = nonFinite.check(m, io.headscan.circuits.NonFinite.Circuit.QK, variant, err);
            Backends.Selection sel = pending.await(err, backendOptions.profile);
            try (var backend = sel.backend();
                 EmbeddingTable table = EmbeddingTable.obtain(m, variant, backend, CacheFolder.root(), new TerminalProgress(System.err), err::println);
                 FullVocabQK qk = new FullVocabQK(m, backend, table.matrix())) {
                TerminalProgress progress = new TerminalProgress(System.err);
                progress.start("fullvocab", (long) list.size() * m.dims().vocab(), "rows");
                ObjectNode root = Reports.JSON.createObjectNode();
                ObjectNode hs = root.putObject("heads");
                progress.above(() -> {
                    m.definitionLine().ifPresent(out::println);   // not through Reports: its JSON mapper costs start-up
                    out.printf(Locale.ROOT, "Full-vocabulary QK statistics, W_EE %s, %d queries x %d keys per head%n", variant.id(),
                            m.dims().vocab(), m.dims().vocab());
                    out.printf(Locale.ROOT, "%-6s  %14s  %10s  %14s  %11s  %10s%s%n", "head", "mean_diag_prob", "frac_rank0", "frac_rank_lt10",
                            "median_rank", "mean_rank", m.dims().grouped() ? "  kv head" : "");
                    out.flush();
                });
                for (HeadId h : list) {
                    if (marked.contains(h)) {   // its scores would be NaN: nothing to compute
                        hs.putObject(h.toString()).put("nonfinite_weights", true).putNull("mean_diag_prob");
                        progress.advance(m.dims().vocab());
                        progress.above(() -> {
                            out.printf(Locale.ROOT, "%-6s  %14s  (skipped: non-finite weights reach this head)%n", h, "-");
                            out.flush();
                        });
                        continue;
                    }
                    FullVocabQK.HeadStats s = qk.head(h, progress);
                    ObjectNode n = Reports.ranks(s.ranks());
                    n.put("mean_diag_prob", s.meanDiagProb());
                    hs.set(h.toString(), n);
                    progress.above(() -> {
                        out.printf(Locale.ROOT, "%-6s  %14.6f  %9.2f%%  %13.2f%%  %11.1f  %10.2f%s%n", h, s.meanDiagProb(), 100 * s.ranks().fracRank0(),
                                100 * s.ranks().fracRankLt10(), s.ranks().medianRank(), s.ranks().meanRank(),
                                m.dims().grouped() ? String.format(Locale.ROOT, "  %7d", m.dims().kvHead(h.head())) : "");
                        out.flush();
                    });
                }
                progress.done();
                double[] ph = qk.phaseMs();
                double totalMs = (System.nanoTime() - t0) / 1e6;
                if (backendOptions.profile) {
                    err.printf(Locale.ROOT, "profile: total %.0f ms; score GEMMs %.0f ms; fused reductions (%s kernel) %.0f ms; "
                            + "Q/K factors %.0f ms; W_EE, start-up and the rest %.0f ms; total / GEMM = %.2f%n", totalMs, ph[0], qk.kernel(), ph[1],
                            ph[2], totalMs - ph[0] - ph[1] - ph[2], totalMs / Math.max(1e-9, ph[0] > 0 ? ph[0] : ph[1]));   // a device's fused path has no score GEMMs
                    if (!table.fromCache()) {
                        double[] g = EmbeddingTable.lastGemm;   // W_EE was computed in this run: its GEMMs count as this run's
                        err.printf(Locale.ROOT, "profile: W_EE computed here: its GEMMs %.0f ms for %.1f GFLOP; total / (score + W_EE GEMMs) = %.2f%n",
                                g[0], g[1], totalMs / Math.max(1e-9, (ph[0] > 0 ? ph[0] : ph[1]) + g[0]));
                    }
                    var bytes = qk.phaseBytes();
                    err.println("profile: transfers: Q/K factors " + bytes[0].describe() + "; scores " + bytes[1].describe()
                            + "; whole run " + backend.transfers().describe());
                    backendOptions.profileFooter(err, m, backend);
                }
                root.put("variant", variant.id());
                root.put("definition", "docs/science.md §4: S[t, s] = ((U[:, t] * g1) @ Wq) · ((W_EE[s] * g1) @ Wk) / sqrt(d_head); "
                        + "rank_t = #{s : S[t, s] > S[t, t]}");
                root.set("model", Reports.model(m, CheckpointIdentity.known(m.path(), CacheFolder.root()).orElse(null)));
                root.put("backend", backend.describe());
                root.put("wee_file", table.path().toString());
                root.putObject("timings_ms").put("total", totalMs).put("score_gemm", ph[0]).put("fused_reduction", ph[1]).put("factors", ph[2]);
                root.set("transfers_bytes", Reports.transfers(qk.phaseBytes(), backend.transfers()));
                root.put("kernel", qk.kernel());
                if (json != null) Reports.writeJson(json, root);
            }
        }
        out.flush();
        return 0;
    }
}

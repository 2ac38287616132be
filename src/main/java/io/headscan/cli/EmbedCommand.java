package io.headscan.cli;

import io.headscan.CacheFolder;
import io.headscan.circuits.EmbeddingTable;
import io.headscan.circuits.Variant;
import io.headscan.compute.Backends;
import io.headscan.model.Model;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "embed", mixinStandardHelpOptions = true, sortOptions = false,
        header = "W_EE of the whole vocabulary, cached (docs/science.md §2).",
        description = "Writes tensor W_EE [V, d] F32 with metadata (variant, source checkpoint sha256, data checksum) into the cache, "
                + "where fullvocab and ov reuse it, and optionally to --out.")
final class EmbedCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Mixin
    ModelOptions model;

    @Option(names = "--wee", defaultValue = "full", paramLabel = "hackathon|full|noattn", description = "Variant (default: ${DEFAULT-VALUE}).")
    String wee;

    @Option(names = "--out", paramLabel = "FILE.safetensors", description = "Also write the table here (default: only the cache).")
    Path out;

    @Mixin
    BackendOptions backendOptions;

    @Mixin
    NonFiniteOption nonFinite;

    @Override
    public Integer call() throws Exception {
        PrintWriter o = spec.commandLine().getOut();
        PrintWriter err = spec.commandLine().getErr();
        Variant variant = ModelOptions.variant(wee);
        Outputs.check(out, "--out", ".safetensors");
        long t0 = System.nanoTime();
        ModelOptions.PendingBackend pending = ModelOptions.backendLater(backendOptions);
        try (Model m = model.open(err)) {
            nonFinite.check(m, io.headscan.circuits.NonFinite.Circuit.EMBED, variant, err);
            Backends.Selection sel = pending.await(err, backendOptions.profile);
            try (var backend = sel.backend();
                 EmbeddingTable table = EmbeddingTable.obtain(m, variant, backend, CacheFolder.root(), new TerminalProgress(System.err), err::println)) {
                Path written = table.path();
                if (out != null) {
                    io.headscan.AtomicFiles.copy(table.path(), out);
                    written = out;
                }
                var md = table.metadata();
                o.printf(Locale.ROOT, "W_EE %s [%d, %d] %s -> %s%n", variant.id(), m.dims().vocab(), m.dims().dModel(), table.storedType(), written);
                o.printf(Locale.ROOT, "variant: %s%nsource sha256: %s%ndata crc32c: %s%n%s in %.1f s%n", variant.definition(),
                        md.get("headscan.source_sha256"), md.get("headscan.data_crc32c"),
                        table.fromCache() ? "reused from the cache" : "computed", (System.nanoTime() - t0) / 1e9);
                if (backendOptions.profile && !table.fromCache()) {
                    double[] g = EmbeddingTable.lastGemm;
                    err.printf(Locale.ROOT, "profile: total %.0f ms; GEMMs %.0f ms for %.1f GFLOP = %.1f GFLOP/s; the rest %.0f ms%n",
                            (System.nanoTime() - t0) / 1e6, g[0], g[1], g[1] / (g[0] / 1e3), (System.nanoTime() - t0) / 1e6 - g[0]);
                    backendOptions.profileFooter(err, m, backend);
                }
            }
        }
        o.flush();
        return 0;
    }
}

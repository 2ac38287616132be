package io.headscan.cli;

import io.headscan.model.Dims;
import io.headscan.model.Family;
import io.headscan.model.HeadId;
import io.headscan.synth.SyntheticFamily;
import io.headscan.synth.SyntheticGpt2;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

@Command(name = "synth", mixinStandardHelpOptions = true,
        header = "Write a synthetic checkpoint in the exact layout of a model family (GPT-2 by default).",
        description = "Writes model.safetensors (or, with --format pytorch, pytorch_model.bin) and config.json; the defaults give GPT-2 Small's shape. --plant builds heads that "
                + "attend to the token being predicted (and copy-suppress it), so the Prediction-Attention score must rank them first. --family writes the same "
                + "model in another family's tensor names, layouts and config (gpt_neox, gpt_neo, opt, gptj), calibrated so that the planted heads keep their logit; "
                + "or a Llama-like model in that family's layout (llama, mistral, qwen2, gemma, gemma2, olmo: RMSNorm or parameter-free norms, gated MLP, "
                + "--kv-heads for grouped-query attention), written tensor by tensor without a staging copy (a Llama-2-7B-size BF16 fits a small heap).")
final class SynthCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @Option(names = "--family", defaultValue = "gpt2", paramLabel = "NAME",
            description = "Model family, by config.json model_type: gpt2, gpt_neox, gpt_neo, opt, gptj, llama, mistral, qwen2, gemma, gemma2 "
                    + "or olmo (default: ${DEFAULT-VALUE}).")
    String family;

    @Option(names = "--kv-heads", paramLabel = "N",
            description = "Key/value heads per layer (grouped-query attention; llama, mistral, qwen2, gemma, gemma2, olmo): a divisor of --heads "
                    + "(default: as many as --heads).")
    Integer kvHeads;

    @Option(names = "--out", required = true, paramLabel = "DIR", description = "Output folder (created if needed).")
    Path out;

    @Option(names = "--layers", defaultValue = "12", description = "Layers (default: ${DEFAULT-VALUE}).")
    int layers;

    @Option(names = "--heads", defaultValue = "12", description = "Heads per layer (default: ${DEFAULT-VALUE}).")
    int heads;

    @Option(names = "--d-model", defaultValue = "768", description = "Residual width (default: ${DEFAULT-VALUE}).")
    int dModel;

    @Option(names = "--d-mlp", defaultValue = "-1", description = "MLP width (default: 4 x d-model).")
    int dMlp;

    @Option(names = "--vocab", defaultValue = "50257", description = "Vocabulary size (default: ${DEFAULT-VALUE}).")
    int vocab;

    @Option(names = "--n-ctx", defaultValue = "1024", description = "Context length (default: ${DEFAULT-VALUE}).")
    int nCtx;

    @Option(names = "--seed", defaultValue = "0", description = "Random seed; same seed, same bytes (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--plant", paramLabel = "L.H[,L.H...]", description = "Heads to plant, e.g. 10.7,11.10.")
    String plant;

    @Option(names = "--dtype", defaultValue = "F32", paramLabel = "F32|F16|BF16",
            description = "Storage type of the weights (default: ${DEFAULT-VALUE}); F16 and BF16 are rounded from the same F32 values.")
    String dtype;

    @Option(names = "--format", defaultValue = "safetensors", paramLabel = "safetensors|pytorch",
            description = "File format (default: ${DEFAULT-VALUE}); pytorch writes pytorch_model.bin as torch.save does, "
                    + "with the names transformers saves (GPT-2: transformer. names and lm_head.weight tied to wte).")
    String format;

    @Option(names = "--threads", paramLabel = "N", description = "Writer threads, 1 to the number of cores (default: all cores).")
    Integer threads;

    @Override
    public Integer call() throws Exception {
        Family fam = SyntheticFamily.byName(family)
                .orElseThrow(() -> new UsageException("--family " + family + ": synth writes " + SyntheticFamily.names()));
        int mlp = dMlp < 0 ? 4 * dModel : dMlp;
        int kv = kvHeads == null ? heads : kvHeads;
        if (kv != heads && !SyntheticFamily.groupedQuery(fam)) {
            throw new UsageException("--kv-heads " + kv + ": " + fam.label() + " has no grouped-query attention (synth writes it for "
                    + SyntheticFamily.groupedQueryNames() + ")");
        }
        if (kv <= 0 || heads <= 0 || heads % kv != 0) throw new UsageException("--kv-heads " + kv + " does not divide --heads " + heads);
        Dims dims;
        try {
            dims = new Dims(vocab, dModel, layers, heads, mlp, nCtx);
            if (kv != heads) dims = new Dims(vocab, dModel, layers, heads, mlp, nCtx, kv, dims.dHead());
        } catch (IllegalArgumentException e) {
            throw new UsageException("synth: " + e.getMessage());
        }
        if (SyntheticFamily.groupedQuery(fam) && nCtx <= 0) throw new UsageException("--n-ctx " + nCtx + ": " + fam.label() + " needs a context length");
        List<HeadId> plants = plant == null || plant.isBlank() ? List.of() : ModelOptions.heads("--plant", plant, dims);
        int writers = BackendOptions.threadCount(threads, "--threads");
        long t0 = System.nanoTime();
        io.headscan.format.DType stored;
        try {
            stored = io.headscan.format.DType.valueOf(dtype.toUpperCase(Locale.ROOT));
            if (stored != io.headscan.format.DType.F32 && stored != io.headscan.format.DType.F16 && stored != io.headscan.format.DType.BF16) {
                throw new IllegalArgumentException();
            }
        } catch (IllegalArgumentException e) {
            throw new UsageException("--dtype " + dtype + ": choose F32, F16 or BF16");
        }
        if (!format.equals("safetensors") && !format.equals("pytorch")) throw new UsageException("--format " + format + ": choose safetensors or pytorch");
        try {
            checkSpace(dims, fam, stored, format.equals("pytorch"));
        } catch (ArithmeticException e) {
            throw new UsageException("synth: a checkpoint of these dimensions would be larger than any file system holds");
        }
        SyntheticFamily synth = new SyntheticFamily(fam, dims, seed, plants).storedAs(stored).asPyTorch(format.equals("pytorch"));
        SyntheticGpt2.Result r = synth.write(out, writers <= 0 ? Runtime.getRuntime().availableProcessors() : writers);
        double secs = (System.nanoTime() - t0) / 1e9;
        var o = spec.commandLine().getOut();
        o.printf(Locale.ROOT, "wrote %s (%,d bytes, %d tensors, %,d parameters) and %s in %.1f s%n",
                r.weights(), r.bytes(), r.tensors(), r.parameters(), r.config().getFileName(), secs);
        o.printf(Locale.ROOT, "layout: %s%d layers x %d heads%s, d_model %d, d_mlp %d, vocab %d, n_ctx %d, seed %d%s%n",
                fam == Family.GPT2 ? "" : fam.label() + ", ", layers, heads,
                dims.grouped() ? " (" + dims.kvHeads() + " key/value heads)" : "", dModel, mlp, vocab, nCtx, seed,
                synth.planted().isEmpty() ? "" : ", planted " + String.join(",", SyntheticGpt2.names(synth.planted())));
        o.flush();
        return 0;
    }

    /**
     * Refuses, in one line, a checkpoint that would not fit where it goes (a 7B one is 13.5 GB in BF16): an upper bound of
     * its size (every tensor a family may have; twice over for --format pytorch, written through a safetensors file
     * first; GPT-2's F32 staging file for the re-laid-out LayerNorm families) against the free space of --out's file
     * system, with 64 MB to spare.
     */
    private void checkSpace(Dims dims, Family fam, io.headscan.format.DType stored, boolean pytorch) throws java.io.IOException {
        long d = dims.dModel(), q = dims.qWidth(), kv = dims.kvWidth(), m = dims.dMlp();
        long perLayer = Math.addExact(Math.addExact(Math.multiplyExact(d, 2 * q + 2 * kv + 3 * q), Math.multiplyExact(3 * d, m)), 8 * d + 2 * m);
        long params = Math.addExact(Math.addExact(Math.multiplyExact(2L * dims.vocab(), d), Math.multiplyExact(perLayer, dims.layers())),
                Math.multiplyExact((long) dims.nCtx() + 2, d));
        long bytes = Math.multiplyExact(params, stored.bytes());
        if (pytorch) bytes = Math.multiplyExact(bytes, 2);
        if (fam != Family.GPT2 && !SyntheticFamily.groupedQuery(fam)) bytes = Math.addExact(bytes, Math.multiplyExact(params, 4));
        java.nio.file.Path at = out.toAbsolutePath();
        while (at != null && !java.nio.file.Files.exists(at)) at = at.getParent();
        if (at == null) return;
        long free = java.nio.file.Files.getFileStore(at).getUsableSpace();
        if (free - (64L << 20) < bytes) {
            throw new java.io.IOException(String.format(Locale.ROOT, "--out %s: about %.1f GB needed, %.1f GB free there", out, bytes / 1e9, free / 1e9));
        }
    }
}

package io.headscan.cli;

import io.headscan.compute.Backends;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.hub.HubEnvironment;
import io.headscan.hub.ModelResolver;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** MODEL and the options to open it, shared by the science commands. */
final class ModelOptions {

    @Parameters(index = "0", paramLabel = "MODEL",
            description = "A .safetensors file, a folder holding model.safetensors (and config.json), or a Hugging Face id "
                    + "(gpt2, openai-community/gpt2, org/name): found in the HF cache, else downloaded.")
    String model;

    @Option(names = "--revision", defaultValue = "main", paramLabel = "REV", description = "Hub revision for a model id (default: ${DEFAULT-VALUE}).")
    String revision;

    @Option(names = "--n-head", paramLabel = "N", description = "Heads per layer when there is no config.json (GPT-2's default: d_model / 64; other families need it).")
    Integer nHead;

    /** The local path of MODEL (resolving hub ids); notes go to {@code err}. */
    Path resolve(PrintWriter err) {
        ModelResolver r = new ModelResolver(HubEnvironment.fromEnvironment(), new TerminalProgress(System.err), s -> {
            err.println(s);
            err.flush();
        });
        return r.resolve(model, revision).path();
    }

    Model open(PrintWriter err) {
        if (nHead != null && nHead < 1) throw new UsageException("--n-head " + nHead + ": must be at least 1");
        Model m = Model.open(resolve(err), nHead == null ? OptionalInt.empty() : OptionalInt.of(nHead));
        if (!m.zeroCopy()) {
            java.util.TreeSet<String> types = new java.util.TreeSet<>();
            for (var t : m.tensors()) if (t.dtype() != io.headscan.format.DType.F32) types.add(t.dtype().name());
            err.println("note: " + String.join("/", types) + " weights: widened to F32 off-heap a layer at a time as the computation reaches it");
            err.flush();
        }
        if (m.headCountSource() == Model.HeadCountSource.DEFAULT_D_HEAD_64) {
            String why = m.config().isPresent() ? "config.json beside " + m.path().getFileName() + " has no n_head"
                    : "no config.json beside " + m.path().getFileName();
            err.println("note: " + why + ": assuming d_head = 64, so " + m.dims().heads() + " heads per layer (pass --n-head N if that is wrong)");
            err.flush();
        }
        return m;
    }

    /** The W_EE variant named by --wee (a usage error otherwise). */
    static io.headscan.circuits.Variant variant(String wee) {
        try {
            return io.headscan.circuits.Variant.parse(wee);
        } catch (IllegalArgumentException e) {
            throw new UsageException("--wee: " + e.getMessage());
        }
    }

    /** A count given with {@code flag} that must be at least {@code min}. */
    static int atLeast(int value, int min, String flag) {
        if (value < min) throw new UsageException(flag + " " + value + ": must be at least " + min);
        return value;
    }

    /** "all" or a list such as 10.7,11.10 given with {@code flag}, checked against the model (a usage error otherwise). */
    static List<HeadId> heads(String flag, String spec, Dims dims) {
        try {
            return HeadId.select(spec, dims);
        } catch (IllegalArgumentException e) {
            throw new UsageException(flag + " " + spec + ": " + e.getMessage());
        }
    }

    /**
     * Starts loading the backend (and the C kernels) on another thread, so that it overlaps opening the model:
     * each takes about 0.1 s of a one-second {@code score}. {@link PendingBackend#await} prints the account of the
     * choice, so messages keep their order.
     */
    static PendingBackend backendLater(BackendOptions o) {
        return backendLater(o, Backends.Workload.LARGE);
    }

    /** As {@link #backendLater(BackendOptions)}, for a workload that {@code auto} weighs. */
    static PendingBackend backendLater(BackendOptions o, Backends.Workload workload) {
        o.check();
        var task = new java.util.concurrent.FutureTask<>(() -> {
            io.headscan.compute.kernels.NativeKernels.preferred().ifPresent(io.headscan.compute.kernels.NativeKernels::warmUp);
            Backends.Selection s = Backends.open(o.kind(), o.options(), workload);
            s.backend().warmUp();
            return s;
        });
        Thread.ofPlatform().daemon().name("headscan-backend-loader").start(task);
        return new PendingBackend(task);
    }

    /** A backend being loaded. */
    record PendingBackend(java.util.concurrent.Future<Backends.Selection> task) {

        /** The loaded backend (its errors rethrown as they were), with its account printed on {@code err}: whole when {@code full}. */
        Backends.Selection await(PrintWriter err, boolean full) {
            Backends.Selection s;
            try {
                s = task.get();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted while loading the backend", e);
            } catch (java.util.concurrent.ExecutionException e) {
                if (e.getCause() instanceof RuntimeException r) throw r;
                if (e.getCause() instanceof Error r) throw r;
                throw new IllegalStateException(e.getCause());
            }
            err.println(full ? s.explanation() : s.brief());
            if (full) err.println("row kernels: " + io.headscan.compute.kernels.RowReducer.describeChoice());
            else if (io.headscan.compute.kernels.RowReducer.fellBack()) err.println("warning: row kernels: " + io.headscan.compute.kernels.RowReducer.describeChoice());
            err.flush();
            return s;
        }
    }
}

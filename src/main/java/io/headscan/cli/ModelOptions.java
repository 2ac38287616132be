package io.headscan.cli;

import io.headscan.compute.Backends;
import io.headscan.model.Gpt2Dims;
import io.headscan.model.Gpt2Model;
import io.headscan.model.HeadId;
import io.headscan.hub.HubEnvironment;
import io.headscan.hub.ModelResolver;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
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

    @Option(names = "--n-head", paramLabel = "N", description = "Heads per layer when there is no config.json (default: d_model / 64).")
    Integer nHead;

    /** The local path of MODEL (resolving hub ids); notes go to {@code err}. */
    Path resolve(PrintWriter err) {
        ModelResolver r = new ModelResolver(HubEnvironment.fromEnvironment(), new TerminalProgress(System.err), s -> {
            err.println(s);
            err.flush();
        });
        return r.resolve(model, revision).path();
    }

    Gpt2Model open(PrintWriter err) {
        return Gpt2Model.open(resolve(err), nHead == null ? OptionalInt.empty() : OptionalInt.of(nHead));
    }

    /** "all" or a list such as 10.7,11.10, checked against the model. */
    static List<HeadId> heads(String spec, Gpt2Dims dims) {
        List<HeadId> out = new ArrayList<>();
        if (spec.trim().equalsIgnoreCase("all")) {
            for (int l = 0; l < dims.layers(); l++) for (int h = 0; h < dims.heads(); h++) out.add(new HeadId(l, h));
            return out;
        }
        for (HeadId h : HeadId.parseList(spec)) out.add(h.checkIn(dims));
        return out;
    }

    /**
     * Starts loading the backend (and the C kernels) on another thread, so that it overlaps opening the model:
     * each takes about 0.1 s of a one-second {@code score}. {@link PendingBackend#await} prints the account of the
     * choice, so messages keep their order.
     */
    static PendingBackend backendLater(BackendOptions o) {
        var task = new java.util.concurrent.FutureTask<>(() -> {
            io.headscan.compute.kernels.NativeKernels.preferred().ifPresent(io.headscan.compute.kernels.NativeKernels::warmUp);
            return Backends.open(o.kind(), o.options());
        });
        Thread.ofPlatform().daemon().name("headscan-backend-loader").start(task);
        return new PendingBackend(task);
    }

    /** A backend being loaded. */
    record PendingBackend(java.util.concurrent.Future<Backends.Selection> task) {

        /** The loaded backend (its errors rethrown as they were), with its account printed on {@code err}. */
        Backends.Selection await(PrintWriter err) {
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
            err.println(s.explanation());
            err.flush();
            return s;
        }
    }
}

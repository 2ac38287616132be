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

    /** Opens the backend and prints the one-line account of the choice on stderr. */
    static Backends.Selection backend(BackendOptions o, PrintWriter err) {
        Backends.Selection s = Backends.open(o.kind(), o.options());
        err.println(s.explanation());
        err.flush();
        return s;
    }
}

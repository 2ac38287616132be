package io.headscan.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headscan.Progress;
import io.headscan.format.DType;
import io.headscan.format.MappedCheckpoint;
import io.headscan.format.PyTorchZipFile;
import io.headscan.format.SafetensorsFile;
import io.headscan.format.TensorInfo;
import io.headscan.inspect.FileDigest;
import io.headscan.inspect.TensorStatistics;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.model.KnownCheckpoint;
import io.headscan.model.Matrix;
import io.headscan.model.ModelException;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

@Command(name = "inspect", mixinStandardHelpOptions = true,
        header = "Describe a checkpoint without loading it.",
        description = "Summary, tensor table, statistics, one head's weights, all read from the mapped file. "
                + "MODEL is a .safetensors file, a pytorch_model.bin, a shard index (*.index.json), a folder holding one of them, "
                + "or a Hugging Face id.")
final class InspectCommand implements Callable<Integer> {

    @Spec
    CommandSpec spec;

    @picocli.CommandLine.Mixin
    ModelOptions modelOptions;

    @Option(names = "--stats", description = "Min, max, mean, std, L2, NaN/Inf counts per tensor (computed on the mapping).")
    boolean stats;

    @Option(names = "--tensor", paramLabel = "NAME", description = "Only this tensor (with statistics).")
    String tensor;

    @Option(names = "--head", paramLabel = "L.H", description = "Summary of one head's W_Q, W_K, W_V (views into c_attn) and W_O.")
    String head;

    @Option(names = "--json", description = "Print JSON instead of text.")
    boolean json;

    @Option(names = "--verify", description = "SHA-256 of the file, checked against the known gpt2 identity when the size matches.")
    boolean verify;

    private final ObjectMapper mapper = Reports.JSON;

    @Override
    public Integer call() throws Exception {
        PrintWriter out = spec.commandLine().getOut();
        Path weights = Model.resolveWeights(modelOptions.resolve(spec.commandLine().getErr()));
        Integer nHead = modelOptions.nHead;
        Progress progress = new TerminalProgress(System.err);
        // one mapping: the GPT-2 view's own file when it is a GPT-2 checkpoint, else the plain safetensors file
        Model gpt2 = null;
        String notGpt2 = null;
        MappedCheckpoint opened;
        try {
            gpt2 = Model.open(weights, nHead == null ? OptionalInt.empty() : OptionalInt.of(nHead));
            opened = gpt2.file();
        } catch (ModelException e) {
            notGpt2 = e.getMessage();
            opened = MappedCheckpoint.open(weights);
        }
        try (MappedCheckpoint file = opened) {
            try {
                HeadId headId = null;
                if (head != null) {   // checked before anything is printed or computed
                    if (gpt2 == null) throw new ModelException(weights, "--head needs a checkpoint of a family headscan reads: " + notGpt2);
                    headId = ModelOptions.heads("--head", head, gpt2.dims()).getFirst();
                }
                ObjectNode root = Reports.JSON.createObjectNode();
                List<TensorInfo> selected = file.tensors();
                if (tensor != null) {
                    String name = tensor;
                    if (!file.has(name) && gpt2 != null && file.has(gpt2.prefix() + name)) name = gpt2.prefix() + name;
                    selected = List.of(file.info(name));
                }
                boolean withStats = stats || tensor != null;
                Map<String, TensorStatistics> st = withStats ? statistics(file, selected, progress) : Map.of();
                String digest = verify ? FileDigest.sha256(file, progress) : null;

                summary(root, file, gpt2, notGpt2);
                ArrayNode ts = root.putArray("tensors");
                for (TensorInfo t : selected) ts.add(tensorJson(file, t, st.get(t.name())));
                if (headId != null) root.set("head", headJson(gpt2, headId));
                int code = 0;
                if (verify) code = verification(root, file, digest);
                if (json) {
                    out.println(mapper.writeValueAsString(root));
                } else {
                    printText(out, root, true);
                }
                out.flush();
                return code;
            } finally {
                if (gpt2 != null) gpt2.close();
            }
        }
    }

    private Map<String, TensorStatistics> statistics(MappedCheckpoint file, List<TensorInfo> tensors, Progress progress) {
        long total = tensors.stream().filter(t -> TensorStatistics.applies(t.dtype())).mapToLong(TensorInfo::byteSize).sum();
        progress.start("stats", total, "B");
        Map<String, TensorStatistics> out = new LinkedHashMap<>();
        for (TensorInfo t : tensors) {
            if (TensorStatistics.applies(t.dtype())) out.put(t.name(), TensorStatistics.of(file, t, progress));
        }
        progress.done();
        return out;
    }

    private void summary(ObjectNode root, MappedCheckpoint file, Model gpt2, String notGpt2) {
        root.put("file", file.path().toString());
        root.put("format", file.format().label());
        root.put("file_size", file.fileSize());
        if (file.files().size() > 1 || !file.files().getFirst().equals(file.path())) {
            ArrayNode shards = root.putArray("shards");
            for (Path p : file.files()) shards.add(p.toString());
        }
        if (file instanceof SafetensorsFile st) {
            root.put("header_length", st.headerLength());
            root.put("data_start", st.dataStart());
            root.put("data_start_aligned_4", st.dataStart() % 4 == 0);
        }
        if (file instanceof PyTorchZipFile pt) root.put("storages", pt.storageCount());
        root.put("aligned_4", file.tensors().stream().allMatch(t -> file.fileOffset(t) % 4 == 0));
        ObjectNode md = root.putObject("metadata");
        file.metadata().forEach(md::put);
        Map<DType, long[]> mix = new EnumMap<>(DType.class);
        for (TensorInfo t : file.tensors()) {
            long[] a = mix.computeIfAbsent(t.dtype(), k -> new long[2]);
            a[0]++;
            a[1] += t.byteSize();
        }
        ObjectNode dt = root.putObject("dtypes");
        mix.forEach((k, v) -> dt.putObject(k.name()).put("tensors", v[0]).put("bytes", v[1]));
        root.put("tensor_count", file.tensors().size());
        if (gpt2 == null) {
            root.putNull("model");
            root.put("model_error", notGpt2);
            return;
        }
        Dims d = gpt2.dims();
        ObjectNode m = root.putObject("model");
        m.put("family", gpt2.family().modelType());
        m.put("family_label", gpt2.family().label());
        m.put("architecture", d.architectureName(gpt2.family()));
        m.put("layers", d.layers());
        m.put("heads", d.heads());
        m.put("heads_source", gpt2.headsSource());
        m.put("d_model", d.dModel());
        m.put("d_head", d.dHead());
        m.put("d_mlp", d.dMlp());
        m.put("vocab", d.vocab());
        m.put("n_ctx", d.nCtx());
        m.put("parameters", gpt2.parameterCount());
        final Model model = gpt2;
        m.put("mask_buffers", file.tensors().stream().filter(model::buffer).count());
        m.put("block", gpt2.parallel() ? "parallel (the MLP reads the block's input)" : "sequential");
        m.put("mlp", (gpt2.family().gated() ? "gated: down(" + gpt2.activation().configName() + "(gate(x)) * up(x))" : "Linear, " + gpt2.activation().configName()));
        m.put("norm", gpt2.normKind().label() + ", eps " + gpt2.eps());
        m.put("kv_heads", d.kvHeads());
        m.put("attention", d.grouped() ? "grouped-query: " + d.heads() + " query heads / " + d.kvHeads() + " key/value heads (head h reads kv head h / "
                + d.heads() / d.kvHeads() + ")" : "multi-head: " + d.heads() + " heads");
        if (gpt2.embeddingScale() != 1f) m.put("embedding_scale", gpt2.embeddingScale());
        if (gpt2.attentionSoftcap() > 0) m.put("attention_softcap", gpt2.attentionSoftcap());
        m.put("unembedding", gpt2.tied() ? "tied to the embedding" : gpt2.name(Model.Role.UNEMBED, 0)
                + (gpt2.family().unembedBias() != null ? " (with bias)" : ""));
        m.put("positions", gpt2.rotary() ? "rotary: relative offset 0" : "learned, left out (docs/science.md §2)");
        ArrayNode scales = m.putArray("attention_scale");
        for (int l = 0; l < d.layers(); l++) scales.add(gpt2.attentionScale(l));
        ArrayNode notes = m.putArray("notes");
        gpt2.notes().forEach(notes::add);
        m.put("name_prefix", gpt2.prefix());
        m.put("zero_copy", gpt2.zeroCopy());
    }

    /** One scale when every layer has it, else each layer's. */
    private static String scaleText(com.fasterxml.jackson.databind.JsonNode scales) {
        List<String> all = new ArrayList<>();
        for (var s : scales) all.add(String.format(Locale.ROOT, "%.6g", s.asDouble()));
        if (all.stream().distinct().count() == 1) return all.getFirst() + " in every layer";
        StringBuilder b = new StringBuilder("per layer:");
        for (int l = 0; l < all.size(); l++) b.append(' ').append(l).append('=').append(all.get(l));
        return b.toString();
    }

    private ObjectNode tensorJson(MappedCheckpoint file, TensorInfo t, TensorStatistics s) {
        ObjectNode n = mapper.createObjectNode();
        n.put("name", t.name());
        n.put("dtype", t.dtype().name());
        ArrayNode shape = n.putArray("shape");
        for (long x : t.shape()) shape.add(x);
        n.put("offset", file.fileOffset(t));
        if (file.files().size() > 1) n.put("shard", file.fileOf(t).getFileName().toString());
        n.put("bytes", t.byteSize());
        if (s != null) n.set("stats", statsJson(s));
        return n;
    }

    private ObjectNode statsJson(TensorStatistics s) {
        ObjectNode n = mapper.createObjectNode();
        n.put("count", s.count());
        n.put("min", s.min());
        n.put("max", s.max());
        n.put("mean", s.mean());
        n.put("std", s.std());
        n.put("l2", s.l2());
        n.put("nan", s.nanCount());
        n.put("inf", s.infCount());
        return n;
    }

    private ObjectNode headJson(Model m, HeadId h) {
        ObjectNode n = mapper.createObjectNode();
        n.put("head", h.toString());
        record Part(String name, String tensor, io.headscan.model.Weight w) {}
        List<Part> parts = new ArrayList<>();
        int l = h.layer();
        parts.add(new Part("W_Q", m.name(Model.Role.Q, l), m.wq(h)));
        parts.add(new Part("W_K", m.name(Model.Role.K, l), m.wk(h)));
        parts.add(new Part("W_V", m.name(Model.Role.V, l), m.wv(h)));
        parts.add(new Part("W_O", m.name(Model.Role.O, l), m.wo(h)));
        for (Part p : parts) {
            ObjectNode o = n.putObject(p.name());
            Matrix view = p.w().stored();
            o.put("tensor", p.tensor());
            o.putArray("shape").add(p.w().rows()).add(p.w().cols());
            o.put("transposed", p.w().transposed());   // a Linear [out, in] block, handed to BLAS with its transpose flag
            o.put("ld", view.ld());
            o.put("first_element", view.offset());
            o.put("strided", !view.contiguous());
            o.set("stats", statsJson(TensorStatistics.of(view)));
        }
        return n;
    }

    private int verification(ObjectNode root, MappedCheckpoint file, String digest) {
        ObjectNode v = root.putObject("verify");
        v.put("sha256", digest);
        Optional<KnownCheckpoint> known = KnownCheckpoint.bySize(file.fileSize());
        if (known.isEmpty()) {
            v.put("status", "unknown");
            v.put("message", "no known identity for a file of " + file.fileSize() + " bytes");
            return 0;
        }
        KnownCheckpoint k = known.get();
        v.put("expected", k.id() + " " + k.file());
        if (k.sha256().equals(digest)) {
            v.put("status", "verified");
            v.put("message", "matches " + k.id() + " " + k.file() + " (sha256 " + k.sha256() + ")");
            return 0;
        }
        v.put("status", "mismatch");
        v.put("message", "has the size of " + k.id() + " " + k.file() + " but sha256 " + digest + ", expected " + k.sha256());
        spec.commandLine().getErr().println("headscan: " + file.path() + ": verification failed: " + v.get("message").asText());
        return 1;
    }

    private void printText(PrintWriter out, ObjectNode r, boolean table) {
        out.printf(Locale.ROOT, "file        %s%n", r.get("file").asText());
        out.printf(Locale.ROOT, "format      %s%s%n", r.get("format").asText(), r.has("shards") ? " (" + r.get("shards").size() + " shards)" : "");
        if (r.has("header_length")) {
            out.printf(Locale.ROOT, "size        %,d bytes (header %,d bytes, data from byte %,d%s)%n", r.get("file_size").asLong(),
                    r.get("header_length").asLong(), r.get("data_start").asLong(), r.get("data_start_aligned_4").asBoolean() ? "" : ", not 4-byte aligned");
        } else {
            out.printf(Locale.ROOT, "size        %,d bytes%s%s%n", r.get("file_size").asLong(),
                    r.has("storages") ? String.format(Locale.ROOT, " (%d storages)", r.get("storages").asInt()) : "",
                    r.get("aligned_4").asBoolean() ? "" : ", some tensors not 4-byte aligned");
        }
        if (r.has("shards")) for (var sh : r.get("shards")) out.printf(Locale.ROOT, "shard       %s%n", sh.asText());
        out.printf(Locale.ROOT, "metadata    %s%n", r.get("metadata").toString());
        StringBuilder mix = new StringBuilder();
        r.get("dtypes").properties().forEach(e -> mix.append(mix.isEmpty() ? "" : ", ").append(e.getKey()).append(": ")
                .append(e.getValue().get("tensors").asLong()).append(" tensors, ")
                .append(String.format(Locale.ROOT, "%,d", e.getValue().get("bytes").asLong())).append(" bytes"));
        out.printf(Locale.ROOT, "dtypes      %s%n", mix.isEmpty() ? "(no tensors)" : mix);
        var m = r.get("model");
        if (m == null || m.isNull()) {
            out.printf(Locale.ROOT, "model       not a checkpoint headscan computes on (%s)%n", r.get("model_error").asText());
        } else {
            out.printf(Locale.ROOT, "model       %s, %s: %d layers x %d heads (%s), d_model %d, d_head %d, d_mlp %d, vocab %d, n_ctx %d%n",
                    m.get("family").asText(), m.get("architecture").asText(), m.get("layers").asInt(), m.get("heads").asInt(), m.get("heads_source").asText(),
                    m.get("d_model").asInt(), m.get("d_head").asInt(), m.get("d_mlp").asInt(), m.get("vocab").asInt(), m.get("n_ctx").asInt());
            out.printf(Locale.ROOT, "parameters  %,d (+ %d mask buffers)%s%n", m.get("parameters").asLong(), m.get("mask_buffers").asLong(),
                    m.get("zero_copy").asBoolean() ? "; weights used in place (F32, zero-copy)" : "; F16/BF16 weights are widened to F32 off-heap a layer at a time");
            out.printf(Locale.ROOT, "block       %s; MLP %s; %s; unembedding %s%n", m.get("block").asText(), m.get("mlp").asText(),
                    m.get("norm").asText(), m.get("unembedding").asText());
            out.printf(Locale.ROOT, "positions   %s%n", m.get("positions").asText());
            out.printf(Locale.ROOT, "attention   scale %s%s; %s%n", scaleText(m.get("attention_scale")),
                    m.get("notes").isEmpty() ? "" : " (" + String.join("; ", m.get("notes").valueStream().map(x -> x.asText()).toList()) + ")",
                    m.get("attention").asText());
        }
        if (table) {
            out.println();
            boolean withStats = r.get("tensors").size() > 0 && r.get("tensors").get(0).has("stats");
            out.printf(Locale.ROOT, "%-34s %-5s %-22s %13s %12s", "tensor", "dtype", "shape", "offset", "bytes");
            if (withStats) out.printf(Locale.ROOT, " %11s %11s %11s %11s %11s %5s %5s", "min", "max", "mean", "std", "l2", "nan", "inf");
            out.println();
            for (var t : r.get("tensors")) {
                out.printf(Locale.ROOT, "%-34s %-5s %-22s %,13d %,12d", io.headscan.format.Printable.name(t.get("name").asText()), t.get("dtype").asText(),
                        t.get("shape").toString(), t.get("offset").asLong(), t.get("bytes").asLong());
                if (t.has("stats")) {
                    var s = t.get("stats");
                    out.printf(Locale.ROOT, " %11.4g %11.4g %11.4g %11.4g %11.4g %5d %5d", s.get("min").asDouble(), s.get("max").asDouble(),
                            s.get("mean").asDouble(), s.get("std").asDouble(), s.get("l2").asDouble(), s.get("nan").asLong(), s.get("inf").asLong());
                }
                out.println();
            }
        }
        if (r.has("head")) {
            var h = r.get("head");
            out.println();
            out.printf(Locale.ROOT, "head %s%n", h.get("head").asText());
            for (String p : List.of("W_Q", "W_K", "W_V", "W_O")) {
                var o = h.get(p);
                var s = o.get("stats");
                out.printf(Locale.ROOT, "  %s %-10s view of %s (ld %d, first element %d%s): mean %.4g std %.4g min %.4g max %.4g frobenius %.4g%n",
                        p, o.get("shape").toString(), o.get("tensor").asText(), o.get("ld").asInt(), o.get("first_element").asLong(),
                        o.get("strided").asBoolean() ? ", strided" : "", s.get("mean").asDouble(), s.get("std").asDouble(),
                        s.get("min").asDouble(), s.get("max").asDouble(), s.get("l2").asDouble());
            }
        }
        if (r.has("verify")) {
            var v = r.get("verify");
            out.printf(Locale.ROOT, "%nsha256      %s%nverify      %s: %s%n", v.get("sha256").asText(), v.get("status").asText(), v.get("message").asText());
        }
    }
}

package io.headscan.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headscan.circuits.RankStatistics;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Map;

/** JSON and CSV output files, written atomically (temp file + rename). */
final class Reports {

    static final ObjectMapper JSON = io.headscan.Json.MAPPER;

    private Reports() {}

    static void write(Path out, String text) throws IOException {
        io.headscan.AtomicFiles.writeString(out, text);
    }

    static void writeJson(Path out, ObjectNode root) throws IOException {
        write(out, JSON.writeValueAsString(root) + "\n");
    }

    static ObjectNode model(Model m, String sha256) {
        Dims d = m.dims();
        ObjectNode n = JSON.createObjectNode();
        n.put("path", m.path().toString());
        n.put("format", m.file().format().label());
        if (m.file().files().size() > 1) n.put("shards", m.file().files().size());
        n.put("family", m.family().modelType());
        n.put("architecture", d.architectureName(m.family()));
        n.put("layers", d.layers());
        n.put("heads", d.heads());
        n.put("heads_source", m.headsSource());
        n.put("d_model", d.dModel());
        n.put("d_head", d.dHead());
        n.put("kv_heads", d.kvHeads());
        if (d.grouped()) {
            var kv = n.putArray("kv_head_of_head");   // query head h reads key/value head h / (H / H_kv)
            for (int h = 0; h < d.heads(); h++) kv.add(d.kvHead(h));
        }
        n.put("norm", m.normKind().label());
        n.put("mlp", (m.family().gated() ? "gated, " : "") + m.activation().configName());
        n.put("embedding_scale", m.embeddingScale());
        if (m.attentionSoftcap() > 0) n.put("attention_softcap", m.attentionSoftcap());
        n.put("tied_unembedding", m.tied());
        n.put("d_mlp", d.dMlp());
        n.put("vocab", d.vocab());
        n.put("weights", m.zeroCopy() ? "F32, used in place" : "widened to F32 off-heap, a layer at a time");
        if (m.rotary()) n.put("positions", "rotary: relative offset 0");
        if (!m.plainScale() || !m.notes().isEmpty()) {
            var scales = n.putArray("attention_scale");
            for (int l = 0; l < d.layers(); l++) scales.add(m.attentionScale(l));
            var notes = n.putArray("notes");
            m.notes().forEach(notes::add);
        }
        if (sha256 != null) n.put("sha256", sha256);
        else n.putNull("sha256");
        return n;
    }

    /**
     * One line on what this model's definition adds to GPT-2's (its family and block, rotary positions, attention
     * scales other than 1/sqrt(d_head)), or empty for a plain GPT-2: every report says how it computed.
     */
    static ObjectNode ranks(RankStatistics r) {
        ObjectNode n = JSON.createObjectNode();
        number(n, "frac_rank0", r.fracRank0());
        number(n, "frac_rank_lt10", r.fracRankLt10());
        number(n, "median_rank", r.medianRank());
        number(n, "mean_rank", r.meanRank());
        return n;
    }

    /** A matrix of numbers; NaN and ±Inf become null (JSON has no such numbers: "NaN" strings break every reader). */
    static ArrayNode matrix(double[][] m) {
        ArrayNode a = JSON.createArrayNode();
        for (double[] row : m) {
            ArrayNode r = a.addArray();
            for (double v : row) {
                if (Double.isFinite(v)) r.add(v);
                else r.addNull();
            }
        }
        return a;
    }

    /** {@code o.key = x}, or null when x is NaN or infinite. */
    static ObjectNode number(ObjectNode o, String key, double x) {
        if (Double.isFinite(x)) o.put(key, x);
        else o.putNull(key);
        return o;
    }

    /** Bytes between host and device: per phase ({factors, scores}) and for the whole run; all zero on CPU backends. */
    static ObjectNode transfers(io.headscan.compute.Backend.Transfers[] phases, io.headscan.compute.Backend.Transfers total) {
        ObjectNode n = JSON.createObjectNode();
        String[] names = {"factors", "scores"};
        for (int i = 0; i < phases.length; i++) n.putObject(names[i]).put("to_device", phases[i].toDevice()).put("to_host", phases[i].toHost());
        n.putObject("total").put("to_device", total.toDevice()).put("to_host", total.toHost());
        return n;
    }

    static ObjectNode timings(Map<String, Double> t) {
        ObjectNode n = JSON.createObjectNode();
        t.forEach((k, v) -> n.put(k, Math.round(v * 1000) / 1000.0));
        return n;
    }
}

package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headscan.format.SafetensorsFile;
import io.headscan.format.SafetensorsWriter;
import io.headscan.format.TensorInfo;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Function;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Damaged checkpoints of the new layouts, written from the transformers fixtures: a family's tensor missing or of the
 * wrong shape, a config that contradicts the shapes, a flag headscan does not compute with. Each is one line naming the
 * file and what is wrong, exit 1, no stack trace.
 */
class FamilyHostileTest {

    static final Path FIXTURES = Path.of("src/test/resources/families");

    @TempDir
    Path dir;

    /** A copy of a fixture with its config edited and its tensors passed through {@code tensors} (null: dropped). */
    private Path variant(String fixture, String configEdit, Function<TensorInfo, long[]> reshape) throws IOException {
        Path out = Files.createTempDirectory(dir, fixture);
        ObjectNode cfg = (ObjectNode) io.headscan.Json.MAPPER.readTree(FIXTURES.resolve(fixture).resolve("config.json").toFile());
        if (configEdit != null) cfg.setAll((ObjectNode) io.headscan.Json.MAPPER.readTree("{" + configEdit + "}"));
        Files.writeString(out.resolve("config.json"), cfg.toPrettyString());
        try (SafetensorsFile f = SafetensorsFile.open(FIXTURES.resolve(fixture).resolve("model.safetensors"))) {
            SafetensorsWriter w = new SafetensorsWriter();
            for (TensorInfo t : f.tensors()) {
                long[] shape = reshape == null ? t.shape() : reshape.apply(t);
                if (shape == null) continue;
                MemorySegment src = f.segment(t);
                w.add(t.name(), t.dtype(), shape, seg -> MemorySegment.copy(src, 0, seg, 0, src.byteSize()));
            }
            w.write(out.resolve("model.safetensors"));
        }
        return out;
    }

    private static void refused(Path model, String... phrases) {
        CliRun r = CliRun.of("score", model.toString(), "--bag-count", "2", "--bag-size", "8");
        assertEquals(1, r.code(), r.out() + r.err());
        String line = r.err().strip();
        assertEquals(1, line.lines().count(), "one line: " + r.err());
        assertFalse(line.contains("Exception") || line.contains("\tat "), line);
        for (String p : phrases) assertTrue(line.contains(p), "'" + p + "' in: " + line);
    }

    @Test
    void aMissingFamilyTensorIsNamed() throws IOException {
        Path m = variant("pythia", null, t -> t.name().equals("gpt_neox.layers.1.attention.query_key_value.weight") ? null : t.shape());
        refused(m, "model.safetensors", "not a GPT-NeoX checkpoint: missing tensor gpt_neox.layers.1.attention.query_key_value.weight");
        Path j = variant("gptj", null, t -> t.name().equals("lm_head.bias") ? null : t.shape());
        refused(j, "not a GPT-J checkpoint: missing tensor lm_head.bias");
    }

    @Test
    void aTensorOfTheWrongShapeIsNamed() throws IOException {
        // the fused QKV stored [in, out] as GPT-2's Conv1D would be, not Linear's [out, in]
        Path m = variant("pythia", null, t -> t.name().endsWith("layers.0.attention.query_key_value.weight") ? new long[] {32, 96} : t.shape());
        refused(m, "tensor gpt_neox.layers.0.attention.query_key_value.weight has shape [32, 96], expected [96, 32]");
        Path o = variant("opt", null, t -> t.name().endsWith("layers.1.fc1.weight") ? new long[] {32, 64} : t.shape());
        refused(o, "model.decoder.layers.1.fc1.weight has shape [32, 64], expected [64, 32]");
    }

    @Test
    void aConfigThatContradictsTheShapesIsNamed() throws IOException {
        refused(variant("pythia", "\"hidden_size\": 64", null), "config.json", "hidden_size is 64, the weights' d_model");
        refused(variant("gpt-neo", "\"num_heads\": 5", null), "config.json", "num_heads is 5, which does not divide the weights' d_model 32");
        refused(variant("opt", "\"ffn_dim\": 100", null), "config.json", "ffn_dim is 100");
    }

    @Test
    void flagsHeadscanDoesNotComputeWithAreRefusedByName() throws IOException {
        refused(variant("opt", "\"do_layer_norm_before\": false", null), "config.json", "do_layer_norm_before is false");
        refused(variant("opt", "\"word_embed_proj_dim\": 16", null), "config.json", "word_embed_proj_dim is 16", "project_in/out");
        refused(variant("pythia", "\"hidden_act\": \"gelu_10\"", null), "config.json", "hidden_act is gelu_10");
        refused(variant("pythia", "\"tie_word_embeddings\": true", null), "config.json", "tie_word_embeddings is true");
        refused(variant("pythia", "\"model_type\": \"mixtral\"", null), "config.json", "model_type is mixtral");
        refused(variant("llama", "\"mlp_bias\": true", null), "config.json", "mlp_bias is true");
        refused(variant("gemma", "\"tie_word_embeddings\": false", null), "config.json", "tie_word_embeddings is false");
        refused(variant("llama", "\"num_key_value_heads\": 3", null), "config.json", "num_key_value_heads is 3");
        refused(variant("gemma2", "\"query_pre_attn_scalar\": null", null), "config.json", "query_pre_attn_scalar");
    }

    @Test
    void aLayerWithATensorMissingIsNamedNotTakenForTheModelsEnd() throws IOException {
        // layer 1's first norm gone, the rest of layer 1 there: the missing tensor is named (not "1 layer, config says 2")
        Path m = variant("pythia", null, t -> t.name().equals("gpt_neox.layers.1.input_layernorm.weight") ? null : t.shape());
        refused(m, "not a GPT-NeoX checkpoint: missing tensor gpt_neox.layers.1.input_layernorm.weight");
    }

    @Test
    void withoutAConfigOnlyGpt2GetsADefaultHeadCount() throws IOException {
        Path m = variant("pythia", null, null);
        Files.delete(m.resolve("config.json"));
        refused(m, "model.safetensors", "cannot infer the head count of a GPT-NeoX checkpoint: no config.json");
        CliRun withHeads = CliRun.of("score", m.toString(), "--n-head", "4", "--bag-count", "2", "--bag-size", "8");
        assertEquals(0, withHeads.code(), withHeads.err());
    }

    /** opt-350m's config: post-LN, and a hidden size that is not the embedding's width; refused by its flag, not by a shape. */
    @Test
    void anOpt350mStyleConfigIsRefusedByItsFlag() throws IOException {
        refused(variant("opt", "\"do_layer_norm_before\": false, \"hidden_size\": 64, \"word_embed_proj_dim\": 32", null),
                "config.json", "do_layer_norm_before is false");
    }

    /** The larger OPT checkpoints on the Hub were saved from the base model: their tensors are decoder.*, not model.decoder.*. */
    @Test
    void optTensorsWithoutTheModelPrefixAreRead() throws IOException {
        Path out = Files.createTempDirectory(dir, "opt-decoder");
        Files.copy(FIXTURES.resolve("opt").resolve("config.json"), out.resolve("config.json"));
        try (SafetensorsFile f = SafetensorsFile.open(FIXTURES.resolve("opt").resolve("model.safetensors"))) {
            SafetensorsWriter w = new SafetensorsWriter();
            for (TensorInfo t : f.tensors()) {
                MemorySegment src = f.segment(t);
                String name = t.name().startsWith("model.decoder.") ? t.name().substring("model.".length()) : t.name();
                w.add(name, t.dtype(), t.shape(), seg -> MemorySegment.copy(src, 0, seg, 0, src.byteSize()));
            }
            w.write(out.resolve("model.safetensors"));
        }
        String[] args = {"--bag-count", "3", "--bag-size", "8", "--top", "20"};
        CliRun original = CliRun.of(concat("score", FIXTURES.resolve("opt").toString(), args));
        CliRun renamed = CliRun.of(concat("score", out.toString(), args));
        assertEquals(0, renamed.code(), renamed.err());
        assertTrue(renamed.out().contains("model: OPT"), renamed.out());
        assertEquals(ranked(original.out()), ranked(renamed.out()));
        assertFalse(ranked(renamed.out()).isEmpty(), renamed.out());
    }

    private static String[] concat(String cmd, String model, String... rest) {
        String[] all = new String[rest.length + 2];
        all[0] = cmd;
        all[1] = model;
        System.arraycopy(rest, 0, all, 2, rest.length);
        return all;
    }

    private static java.util.List<String> ranked(String out) {
        return out.lines().filter(l -> l.matches("\\s+\\d+\\s+\\d+\\.\\d+\\s.*")).toList();
    }

    @Test
    void everyFamilyScoresThroughTheCli() {
        for (String f : new String[] {"gpt2", "pythia", "neox-sequential", "gpt-neo", "opt", "gptj"}) {
            CliRun r = CliRun.of("score", FIXTURES.resolve(f).toString(), "--bag-count", "2", "--bag-size", "8", "--top", "3");
            assertEquals(0, r.code(), f + ": " + r.err());
            assertTrue(r.out().contains("Prediction-Attention score"), r.out());
            if (!f.equals("gpt2")) assertTrue(r.out().contains("model: "), f + " names its family: " + r.out());
            if (f.equals("pythia") || f.equals("gptj")) assertTrue(r.out().contains("rotary: relative offset 0"), r.out());
            CliRun i = CliRun.of("inspect", FIXTURES.resolve(f).toString());
            assertEquals(0, i.code(), i.err());
            assertTrue(i.out().contains("attention   scale"), i.out());
        }
        CliRun crfm = CliRun.of("inspect", FIXTURES.resolve("gpt2-crfm").toString());
        assertTrue(crfm.out().contains("per layer: 0=0.353553 1=0.176777"), crfm.out());
    }

    /** Llama, Mistral, Qwen2 and Gemma share tensor names and compute differently: without a config, none is guessed. */
    @Test
    void aLlamaLayoutWithoutAConfigIsRefusedNotGuessed() throws IOException {
        for (String fixture : new String[] {"llama", "gemma"}) {
            Path m = variant(fixture, null, null);
            Files.delete(m.resolve("config.json"));
            CliRun r = CliRun.of("score", m.toString(), "--n-head", "4", "--bag-count", "2", "--bag-size", "8");
            assertEquals(1, r.code(), r.err());
            assertTrue(r.err().contains("a Llama-layout checkpoint without config.json") && r.err().contains("put its config.json beside"), r.err());
        }
    }

    /** transformers lets head_dim and num_key_value_heads be null, meaning d_model / heads and the head count. */
    @Test
    void nullHeadDimAndKeyValueHeadsMeanTheirDefaults() throws IOException {
        Path m = variant("mistral", "\"head_dim\": null, \"num_key_value_heads\": null", null);   // 4 heads of 8, no grouping
        CliRun ok = CliRun.of("inspect", m.toString());
        assertEquals(0, ok.code(), ok.err());
        // the llama fixture's k_proj has 2 kv heads: null means 4, which its shape contradicts
        refused(variant("llama", "\"num_key_value_heads\": null", null), "k_proj.weight has shape [16, 32], expected [32, 32]");
    }

    @Test
    void softCapsOutsideTheFloatRangeAreRefusedByName() throws IOException {
        refused(variant("gemma2", "\"attn_logit_softcapping\": 1e300", null), "config.json", "attn_logit_softcapping", "outside the range of a float32");
        refused(variant("gemma2", "\"final_logit_softcapping\": 1e-300", null), "config.json", "final_logit_softcapping", "outside the range of a float32");
    }
}

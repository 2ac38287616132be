package io.headscan.model;

import static io.headscan.format.ConfigJsonException.Kind.*;
import static org.junit.jupiter.api.Assertions.*;

import io.headscan.format.CheckpointFormatException;
import io.headscan.format.ConfigJsonException;
import io.headscan.synth.SyntheticGpt2;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalInt;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * config.json beside a checkpoint: a present one that cannot be read, or whose dimensions contradict the weights, is a
 * named {@link ConfigJsonException}, never treated as absent (which would guess the head count and compute on).
 */
class ConfigJsonTest {

    /** 2 layers x 2 heads, d_model 16, d_mlp 64 (= 4 x 16), vocab 64, 8 positions. */
    static final Dims DIMS = new Dims(64, 16, 2, 2, 64, 8);

    @TempDir
    static Path shared;
    static Path weights;

    @TempDir
    Path dir;

    @BeforeAll
    static void model() throws IOException {
        new SyntheticGpt2(DIMS, 3, List.of()).write(shared, 1);
        weights = shared.resolve("model.safetensors");
    }

    /** A folder holding the weights and this config.json. */
    private Path with(String config) throws IOException {
        Path m = Files.createTempDirectory(dir, "m");
        Files.copy(weights, m.resolve("model.safetensors"));
        Files.writeString(m.resolve("config.json"), config);
        return m;
    }

    private ConfigJsonException refused(String config, ConfigJsonException.Kind kind, String... phrases) throws IOException {
        Path m = with(config);
        ConfigJsonException e = assertThrows(ConfigJsonException.class, () -> Model.open(m).close());
        assertEquals(kind, e.kind(), e.getMessage());
        assertEquals(CheckpointFormatException.Container.CONFIG_JSON, e.container());
        assertTrue(e.getMessage().startsWith(m.resolve("config.json") + ": "), "names the file: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n") || e.getMessage().contains("StreamReadConstraints"), e.getMessage());
        for (String p : phrases) assertTrue(e.getMessage().contains(p), "'" + p + "' in: " + e.getMessage());
        return e;
    }

    @Test
    void aConfigThatIsNotOneJsonObjectIsRefusedNotTakenAsAbsent() throws IOException {
        refused("", INVALID_JSON, "the file is empty");
        refused("[2]", INVALID_JSON, "it holds an array, not a JSON object");
        refused("\"n_head\"", INVALID_JSON, "it holds a string");
        refused("null", INVALID_JSON, "it holds null");
        refused("n_head = 2", INVALID_JSON, "Unrecognized token");
        // what follows n_head is read too: a reader that stops at the key it wants accepts any garbage after it
        refused("{\"n_head\": 2} trailing words", INVALID_JSON, "line 1");
        refused("{\"n_head\": 2}{\"n_head\": 4}", INVALID_JSON, "content after the JSON object");
        refused("{\"n_head\": 2, \"x\": [1, 2", INVALID_JSON);
        refused("{\"n_head\": 2, \"n_head\": 4}", INVALID_JSON, "Duplicate field 'n_head'");
        Path m = dir.resolve("bad-utf8");
        Files.createDirectories(m);
        Files.copy(weights, m.resolve("model.safetensors"));
        Files.write(m.resolve("config.json"), new byte[] {'{', '"', 'a', '"', ':', '"', (byte) 0xc3, '"', '}'});
        assertThrows(ConfigJsonException.class, () -> Model.open(m).close());
    }

    @Test
    void deepNestingIsRefusedAnywhereWithoutExhaustingTheStack() throws IOException {
        String deep = "[".repeat(10_000) + "]".repeat(10_000);
        refused("{\"n_head\": 2, \"x\": " + deep + "}", INVALID_JSON, "nested deeper than 64 levels");
        refused("{\"x\": " + deep + ", \"n_head\": 2}", INVALID_JSON, "nested deeper than 64 levels");
        refused("{\"x\": " + "{\"y\": ".repeat(10_000) + "1" + "}".repeat(10_000) + "}", INVALID_JSON, "nested deeper than 64 levels");
        Path ok = with("{\"n_head\": 2, \"task_specific_params\": {\"text-generation\": {\"do_sample\": true, \"max_length\": 50}}}");
        try (Model g = Model.open(ok)) {
            assertEquals(2, g.dims().heads(), "GPT-2's own nesting reads");
        }
    }

    @Test
    void valuesOfTheWrongTypeAreNamed() throws IOException {
        refused("{\"n_head\": \"2\"}", INVALID_VALUE, "n_head is 2, not a positive integer");
        refused("{\"n_head\": 2.0}", INVALID_VALUE, "n_head is 2.0");
        refused("{\"n_head\": 0}", INVALID_VALUE, "n_head is 0");
        refused("{\"n_head\": -2}", INVALID_VALUE, "n_head is -2");
        refused("{\"n_head\": 99999999999}", INVALID_VALUE, "n_head is 99999999999");
        refused("{\"n_head\": [2]}", INVALID_VALUE, "n_head is an array");
        refused("{\"n_embd\": null, \"n_head\": 2}", INVALID_VALUE, "n_embd is null");
        refused("{\"n_head\": 2, \"num_attention_heads\": 4}", INVALID_VALUE, "n_head 2 and num_attention_heads 4 disagree");
    }

    @Test
    void dimensionsThatContradictTheWeightsAreNamed() throws IOException {
        refused("{\"n_head\": 2, \"n_layer\": 12}", CONTRADICTS_WEIGHTS, "n_layer is 12, the weights' layer count is 2");
        refused("{\"n_head\": 2, \"n_embd\": 768}", CONTRADICTS_WEIGHTS, "n_embd is 768, the weights' d_model (wte.weight) is 16");
        refused("{\"n_head\": 2, \"vocab_size\": 50257}", CONTRADICTS_WEIGHTS, "vocab_size is 50257, the weights' vocabulary size (wte.weight) is 64");
        refused("{\"n_head\": 2, \"n_positions\": 1024}", CONTRADICTS_WEIGHTS, "n_positions is 1024, the weights' position count (wpe.weight) is 8");
        refused("{\"n_head\": 2, \"n_inner\": 3072}", CONTRADICTS_WEIGHTS, "n_inner is 3072, the weights' d_mlp (h.0.mlp.c_fc.weight) is 64");
        refused("{\"n_head\": 3}", CONTRADICTS_WEIGHTS, "n_head is 3, which does not divide the weights' d_model 16");
        refused("{\"num_attention_heads\": 2, \"num_hidden_layers\": 3}", CONTRADICTS_WEIGHTS, "num_hidden_layers is 3");
        refused("{\"n_head\": 2, \"hidden_size\": 32}", CONTRADICTS_WEIGHTS, "hidden_size is 32");
        // every dimension agreeing, under either name, with n_inner null meaning 4 x n_embd
        Path ok = with("{\"model_type\": \"gpt2\", \"num_attention_heads\": 4, \"n_embd\": 16, \"n_layer\": 2, \"n_positions\": 8, "
                + "\"max_position_embeddings\": 8, \"vocab_size\": 64, \"n_inner\": null, \"activation_function\": \"gelu_new\"}");
        try (Model g = Model.open(ok)) {
            assertEquals(4, g.dims().heads());
            assertEquals(Model.HeadCountSource.CONFIG, g.headCountSource());
        }
    }

    @Test
    void aConfigWithoutAHeadCountFallsBackAndSaysSoAndAFlagMayNotContradictIt() throws IOException {
        Path none = with("{\"n_layer\": 2}");
        ModelException guess = assertThrows(ModelException.class, () -> Model.open(none, OptionalInt.empty()).close());
        assertTrue(guess.getMessage().contains("config.json has no n_head and d_model 16 is not a multiple of 64"), guess.getMessage());
        try (Model g = Model.open(none, OptionalInt.of(4))) {
            assertEquals(4, g.dims().heads());
            assertEquals(Model.HeadCountSource.OVERRIDE, g.headCountSource());
        }
        Path two = with("{\"n_head\": 2}");
        ModelException e = assertThrows(ModelException.class, () -> Model.open(two, OptionalInt.of(4)).close());
        assertTrue(e.getMessage().contains("n_head 2 contradicts --n-head 4"), e.getMessage());
        try (Model g = Model.open(two, OptionalInt.of(2))) {
            assertEquals(2, g.dims().heads());
        }
    }

    @Test
    void aConfigThatCannotBeReadIsNamed() throws IOException {
        refused("{\"n_head\": 2, \"x\": \"" + "a".repeat(4 << 20) + "\"}", TOO_LARGE, "more than 4 MiB");
        Path link = dir.resolve("dangling");
        Files.createDirectories(link);
        Files.copy(weights, link.resolve("model.safetensors"));
        Files.createSymbolicLink(link.resolve("config.json"), dir.resolve("no-such-blob"));
        ConfigJsonException e = assertThrows(ConfigJsonException.class, () -> Model.open(link).close());
        assertEquals(IO, e.kind(), e.getMessage());
        Path folder = dir.resolve("folder");
        Files.createDirectories(folder.resolve("config.json"));
        Files.copy(weights, folder.resolve("model.safetensors"));
        e = assertThrows(ConfigJsonException.class, () -> Model.open(folder).close());
        assertEquals(IO, e.kind(), e.getMessage());
    }
}

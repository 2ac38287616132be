package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import io.headscan.testing.ChildJvm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code synth --family} as a user runs it: the checkpoint it writes is one that inspect and score read. */
class SynthFamilyCliTest {

    @TempDir
    Path dir;

    @Test
    void gptNeoxSynthThenInspectAndScore() throws Exception {
        Path m = dir.resolve("pythia");
        CliRun synth = CliRun.of("synth", "--family", "gpt_neox", "--out", m.toString(), "--layers", "3", "--heads", "4",
                "--d-model", "64", "--vocab", "500", "--n-ctx", "32", "--plant", "1.2,2.0", "--format", "pytorch", "--dtype", "F16");
        assertEquals(0, synth.code(), synth.err());
        assertTrue(synth.out().contains("layout: GPT-NeoX, 3 layers x 4 heads") && synth.out().contains("planted 1.2,2.0"), synth.out());
        assertTrue(Files.exists(m.resolve("pytorch_model.bin")), "no model.safetensors staging file left either: " + List.of(m.toFile().list()));
        assertEquals(List.of("config.json", "pytorch_model.bin"), List.of(m.toFile().list()).stream().sorted().toList());

        CliRun inspect = CliRun.of("inspect", m.toString());
        assertEquals(0, inspect.code(), inspect.err());
        assertTrue(inspect.out().contains("model       gpt_neox, custom GPT-NeoX layout: 3 layers x 4 heads (config.json num_attention_heads)"), inspect.out());
        assertTrue(inspect.out().contains("block       parallel"), inspect.out());
        assertTrue(inspect.out().contains("positions   rotary: relative offset 0"), inspect.out());
        assertTrue(inspect.out().contains("attention   scale 0.250000 in every layer"), inspect.out());
        assertTrue(inspect.out().contains("gpt_neox.layers.2.attention.query_key_value.weight F16   [192,64]"), inspect.out());
        assertTrue(inspect.out().contains("gpt_neox.layers.0.attention.rotary_emb.inv_freq"), "Pythia's old buffers: " + inspect.out());

        CliRun score = CliRun.of("score", m.toString(), "--bag-size", "64", "--bag-count", "4");
        assertEquals(0, score.code(), score.err());
        List<String> ranked = score.out().lines().filter(l -> l.matches("\\s+\\d+\\s+\\d+\\.\\d+\\s.*")).toList();
        assertEquals(12, ranked.size(), score.out());
        assertEquals(List.of("1.2", "2.0"), ranked.subList(0, 2).stream().map(l -> l.strip().split("\\s+")[1]).sorted().toList(), score.out());
    }

    /** A grouped-query Llama (BF16, 2 key/value heads for 4 query heads): inspect reads it back, score finds the planted heads. */
    @Test
    void llamaWithKeyValueHeadsSynthThenInspectAndScore() throws Exception {
        Path m = dir.resolve("llama");
        CliRun synth = CliRun.of("synth", "--family", "llama", "--out", m.toString(), "--layers", "3", "--heads", "4", "--kv-heads", "2",
                "--d-model", "64", "--d-mlp", "192", "--vocab", "500", "--n-ctx", "32", "--plant", "0.3,1.2", "--dtype", "BF16");
        assertEquals(0, synth.code(), synth.err());
        assertTrue(synth.out().contains("layout: Llama, 3 layers x 4 heads (2 key/value heads), d_model 64, d_mlp 192")
                && synth.out().contains("planted 0.3,1.2"), synth.out());
        assertEquals(List.of("config.json", "model.safetensors"), List.of(m.toFile().list()).stream().sorted().toList());

        CliRun inspect = CliRun.of("inspect", m.toString());
        assertEquals(0, inspect.code(), inspect.err());
        assertTrue(inspect.out().contains("model       llama, custom Llama layout: 3 layers x 4 heads (config.json num_attention_heads), d_model 64, d_head 16, d_mlp 192"), inspect.out());
        assertTrue(inspect.out().contains("MLP gated: down(silu(gate(x)) * up(x)); RMSNorm"), inspect.out());
        assertTrue(inspect.out().contains("grouped-query: 4 query heads / 2 key/value heads"), inspect.out());
        assertTrue(inspect.out().contains("model.layers.2.self_attn.k_proj.weight BF16  [32,64]"), inspect.out());

        CliRun score = CliRun.of("score", m.toString(), "--bag-size", "64", "--bag-count", "4");
        assertEquals(0, score.code(), score.err());
        List<String> ranked = score.out().lines().filter(l -> l.matches("\\s+\\d+\\s+\\d+\\.\\d+\\s.*")).toList();
        assertEquals(12, ranked.size(), score.out());
        assertEquals(List.of("0.3", "1.2"), ranked.subList(0, 2).stream().map(l -> l.strip().split("\\s+")[1]).sorted().toList(), score.out());
    }

    /**
     * The Llama-like writer streams every tensor into its mapping: a child JVM capped at 32 MB writes a 44M-parameter
     * BF16 Gemma-2 (a 32,000-token vocabulary, 87 MB) and the tensors' sizes add up.
     */
    @Test
    void llamaLikeSynthUnder32MegabyteHeap() throws Exception {
        Path m = dir.resolve("gemma2");
        ChildJvm c = ChildJvm.start(dir.resolve("child.log"), List.of("-Xmx32m"), Map.of(), "synth", "--family", "gemma2", "--out", m.toString(),
                "--layers", "4", "--heads", "8", "--kv-heads", "2", "--d-model", "512", "--d-mlp", "1376", "--vocab", "32000", "--n-ctx", "8192",
                "--dtype", "BF16", "--plant", "3.5");
        assertEquals(0, c.waitFor(5), c.output());
        // embed 32000 x 512; per layer q/o 512 x 512, k/v 128 x 512, gate/up/down 1376 x 512, four norms of 512; the final norm
        long params = 32000L * 512 + 4 * (2 * 512 * 512 + 2 * 128 * 512 + 3 * 1376 * 512 + 4 * 512) + 512;
        assertTrue(c.output().contains(String.format(java.util.Locale.ROOT, "%,d parameters", params)), c.output());
        assertEquals(2 * params, Files.size(m.resolve("model.safetensors")) - 8 - headerLength(m.resolve("model.safetensors")));
    }

    private static long headerLength(Path file) throws Exception {
        try (var ch = java.nio.channels.FileChannel.open(file)) {
            var b = java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            ch.read(b, 0);
            return b.getLong(0);
        }
    }

    @Test
    void unknownFamilyIsOneLineNamingTheFamiliesSynthWrites() {
        CliRun r = CliRun.of("synth", "--family", "mixtral", "--out", dir.resolve("x").toString());
        assertEquals(2, r.code());
        assertEquals("", r.out());
        assertTrue(r.oneLineError(), r.err());
        assertTrue(r.err().contains("--family mixtral: synth writes gpt2, gpt_neox, gpt_neo, opt, gptj, llama, mistral, qwen2, gemma, gemma2, olmo"), r.err());
        assertFalse(Files.exists(dir.resolve("x")), "nothing written");
    }

    @Test
    void keyValueHeadsThatDoNotDivideTheHeadsOrAFamilyWithoutThemAreOneLine() {
        CliRun r = CliRun.of("synth", "--family", "mistral", "--heads", "4", "--kv-heads", "3", "--d-model", "64", "--out", dir.resolve("x").toString());
        assertEquals(2, r.code());
        assertTrue(r.oneLineError(), r.err());
        assertTrue(r.err().contains("--kv-heads 3 does not divide --heads 4"), r.err());
        r = CliRun.of("synth", "--family", "gptj", "--heads", "4", "--kv-heads", "2", "--d-model", "64", "--out", dir.resolve("x").toString());
        assertEquals(2, r.code());
        assertTrue(r.oneLineError(), r.err());
        assertTrue(r.err().contains("--kv-heads 2: GPT-J has no grouped-query attention (synth writes it for llama, mistral, qwen2, gemma, gemma2, olmo)"), r.err());
        assertFalse(Files.exists(dir.resolve("x")), "nothing written");
    }

    /** A checkpoint larger than the free space where it would go is refused in one line before anything is written. */
    @Test
    void aCheckpointThatWouldNotFitIsRefusedBeforeWriting() {
        CliRun r = CliRun.of("synth", "--family", "llama", "--layers", "4096", "--heads", "64", "--d-model", "65536", "--d-mlp", "262144",
                "--vocab", "1000000", "--out", dir.resolve("huge").toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.oneLineError(), r.err());
        assertTrue(r.err().contains("GB needed") && r.err().contains("GB free there"), r.err());
        assertFalse(Files.exists(dir.resolve("huge")), "nothing written");
    }
}

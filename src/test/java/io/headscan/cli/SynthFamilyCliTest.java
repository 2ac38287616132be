package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
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

    @Test
    void unknownFamilyIsOneLineNamingTheFamiliesSynthWrites() {
        CliRun r = CliRun.of("synth", "--family", "llama", "--out", dir.resolve("x").toString());
        assertEquals(2, r.code());
        assertEquals("", r.out());
        assertTrue(r.oneLineError(), r.err());
        assertTrue(r.err().contains("--family llama: synth writes gpt2, gpt_neox, gpt_neo, opt, gptj"), r.err());
        assertFalse(Files.exists(dir.resolve("x")), "nothing written");
    }
}

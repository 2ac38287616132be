package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import io.headscan.testing.ChildJvm;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Acceptance: a full GPT-2-Small-size checkpoint is written by synth and inspected with statistics in
 * a separate JVM whose heap is capped at 64 MB, so nothing copies weights onto the heap.
 */
class HeapCapTest {

    @TempDir
    Path dir;

    private String run(List<String> jvm, String... args) throws Exception {
        Path log = Files.createTempFile(dir, "child", ".log");
        // its own cache: every run computes W_EE under the heap cap instead of finding last run's
        ChildJvm c = ChildJvm.start(log, jvm, Map.of("HEADSCAN_CACHE", dir.resolve("cache").toString()), args);
        int code = c.waitFor(5);
        String out = c.output();
        assertEquals(0, code, out);
        return out;
    }

    @Test
    void gpt2SmallSizeSynthAndInspectStatsUnder64MegabyteHeap() throws Exception {
        Path m = dir.resolve("m");
        String synth = run(List.of(), "synth", "--out", m.toString(), "--plant", "10.7,11.10");
        assertTrue(synth.contains("124,439,808 parameters"), synth);
        assertTrue(Files.size(m.resolve("model.safetensors")) > 548_090_880L);
        String inspect = run(List.of("-Xmx64m"), "inspect", m.toString(), "--stats");
        assertTrue(inspect.contains("gpt2 (small): 12 layers x 12 heads"), inspect);
        assertTrue(inspect.contains("h.11.mlp.c_proj.bias"), inspect);
        // same data section as the real gpt2 file: 160 F32 tensors, 548,105,171 - 8 - 14,283 bytes
        assertTrue(inspect.contains("F32: 160 tensors, 548,090,880 bytes"), inspect);
        assertFalse(inspect.contains("OutOfMemoryError"), inspect);

        // the science commands at full size, same heap cap
        Path png = dir.resolve("h.png");
        String score = run(List.of("-Xmx64m"), "score", m.toString(), "--heatmap", png.toString());
        List<String> lines = score.lines().filter(l -> l.matches("\\s+\\d+\\s+\\d+\\.\\d+\\s.*")).toList();
        assertTrue(lines.get(0).contains("10.7") || lines.get(0).contains("11.10"), score);
        assertTrue(lines.get(1).contains("10.7") || lines.get(1).contains("11.10"), score);
        assertTrue(Files.size(png) > 10_000);
        // figures are drawn a strip at a time: they fit in a heap far smaller than the rest of score needs
        Path small = dir.resolve("small.png"), att = dir.resolve("att.png");
        run(List.of("-Xmx16m"), "score", m.toString(), "--top", "1", "--heatmap", small.toString(), "--attention-plot", "10.7=" + att);
        assertEquals(1576, javax.imageio.ImageIO.read(small.toFile()).getWidth());
        assertTrue(javax.imageio.ImageIO.read(att.toFile()).getWidth() > 2000, "128 labelled tokens");
        // and a run that does run out of heap says so in one line, with the advice
        Path log = dir.resolve("oom.log");
        ChildJvm oom = ChildJvm.start(log, List.of("-Xmx16m"), Map.of("HEADSCAN_CACHE", dir.resolve("cache").toString()),
                "score", m.toString(), "--bag-count", "100000", "--bag-size", "1024");
        assertEquals(1, oom.waitFor(5), oom.output());
        String last = oom.output().strip().lines().reduce((a, b) -> b).orElse("");
        assertTrue(last.startsWith("headscan: out of Java heap") && last.contains("HEADSCAN_JAVA_OPTS=-Xmx"), oom.output());
        assertFalse(oom.output().contains("\tat "), "no stack trace");
        embedFullvocabOvUnder64m(m, 50257);
    }

    /** embed (W_EE computed under the cap), then fullvocab and ov of head 10.7 reading it from the cache, each at -Xmx64m. */
    private void embedFullvocabOvUnder64m(Path m, int vocab) throws Exception {
        String embed = run(List.of("-Xmx64m"), "embed", m.toString(), "--wee", "full");
        assertTrue(embed.contains("W_EE full [" + vocab + ", 768]") && embed.contains("computed in"), embed);
        String fv = run(List.of("-Xmx64m"), "fullvocab", m.toString(), "--heads", "10.7");
        assertTrue(fv.contains("from cache"), fv);
        assertTrue(fv.lines().anyMatch(l -> l.startsWith("10.7 ")), fv);
        String ov = run(List.of("-Xmx64m"), "ov", m.toString(), "--heads", "10.7", "--top", "3");
        assertTrue(ov.contains("negative copying: rank0"), ov);
    }

    /**
     * synth --family streams the re-layout through mappings: a Pythia-160M-size GPT-NeoX checkpoint (its parameter count
     * exactly) is written by a child JVM capped at 64 MB, read back as pythia-160m, and scored by every science command,
     * each under the same cap.
     */
    @Test
    void pythia160mSizeSynthUnder64MegabyteHeap() throws Exception {
        Path m = dir.resolve("pythia");
        String synth = run(List.of("-Xmx64m"), "synth", "--family", "gpt_neox", "--out", m.toString(), "--layers", "12", "--heads", "12",
                "--d-model", "768", "--vocab", "50304", "--dtype", "F16", "--plant", "10.7,11.10");
        assertTrue(synth.contains("162,322,944 parameters"), synth);
        String inspect = run(List.of("-Xmx64m"), "inspect", m.toString());
        assertTrue(inspect.contains("gpt_neox, pythia-160m: 12 layers x 12 heads"), inspect);
        assertTrue(inspect.contains("F16: 148 tensors"), inspect);

        // every science command on it under the same cap: F16 tensors widened off-heap, W_EE computed and cached there
        String score = run(List.of("-Xmx64m"), "score", m.toString());
        List<String> ranked = score.lines().filter(l -> l.matches("\\s+\\d+\\s+\\d+\\.\\d+\\s.*")).toList();
        assertEquals(List.of("10.7", "11.10"), ranked.subList(0, 2).stream().map(l -> l.strip().split("\\s+")[1]).sorted().toList(), score);
        embedFullvocabOvUnder64m(m, 50304);
    }
}

package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Acceptance: a full GPT-2-Small-size checkpoint is written by synth and inspected with statistics in
 * a separate JVM whose heap is capped at 64 MB, so nothing copies weights onto the heap.
 */
class HeapCapTest {

    @TempDir
    Path dir;

    private static Process java(List<String> jvm, String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.addAll(jvm);
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Main.class.getName());
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectErrorStream(true).start();
    }

    private static String run(Process p) throws Exception {
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(5, TimeUnit.MINUTES));
        assertEquals(0, p.exitValue(), out);
        return out;
    }

    @Test
    void gpt2SmallSizeSynthAndInspectStatsUnder64MegabyteHeap() throws Exception {
        Path m = dir.resolve("m");
        String synth = run(java(List.of(), "synth", "--out", m.toString(), "--plant", "10.7,11.10"));
        assertTrue(synth.contains("124,439,808 parameters"), synth);
        assertTrue(Files.size(m.resolve("model.safetensors")) > 548_090_880L);
        String inspect = run(java(List.of("-Xmx64m"), "inspect", m.toString(), "--stats"));
        assertTrue(inspect.contains("gpt2 (small): 12 layers x 12 heads"), inspect);
        assertTrue(inspect.contains("h.11.mlp.c_proj.bias"), inspect);
        // same data section as the real gpt2 file: 160 F32 tensors, 548,105,171 - 8 - 14,283 bytes
        assertTrue(inspect.contains("F32: 160 tensors, 548,090,880 bytes"), inspect);
        assertFalse(inspect.contains("OutOfMemoryError"), inspect);

        // the science commands at full size, same heap cap
        Path png = dir.resolve("h.png");
        String score = run(java(List.of("-Xmx64m"), "score", m.toString(), "--heatmap", png.toString()));
        List<String> lines = score.lines().filter(l -> l.matches("\\s+\\d+\\s+\\d+\\.\\d+\\s.*")).toList();
        assertTrue(lines.get(0).contains("10.7") || lines.get(0).contains("11.10"), score);
        assertTrue(lines.get(1).contains("10.7") || lines.get(1).contains("11.10"), score);
        assertTrue(Files.size(png) > 10_000);
        String embed = run(java(List.of("-Xmx64m"), "embed", m.toString(), "--wee", "full"));
        assertTrue(embed.contains("W_EE full [50257, 768]"), embed);
        String fv = run(java(List.of("-Xmx64m"), "fullvocab", m.toString(), "--heads", "10.7"));
        assertTrue(fv.contains("from cache"), fv);
        assertTrue(fv.lines().anyMatch(l -> l.startsWith("10.7 ")), fv);
        String ov = run(java(List.of("-Xmx64m"), "ov", m.toString(), "--heads", "10.7", "--top", "3"));
        assertTrue(ov.contains("negative copying: rank0"), ov);
    }
}

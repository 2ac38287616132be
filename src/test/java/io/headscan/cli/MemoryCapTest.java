package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.testing.ChildJvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Bounded widening, end to end: every science command runs in a child JVM (-Xmx64m) on a BF16 Llama-layout checkpoint
 * (written by synth) whose attention weights, widened to F32 tensor by tensor for the model's life as headscan once did,
 * would add about 420 MB of off-heap memory (32 layers, each query, key, value and output projection 6.6 MB in F32),
 * under a cap headscan enforces (HEADSCAN_MEMORY_CAP_MB: a command whose anonymous memory peaks above it fails): 200 MB
 * above what score needs on the F32 checkpoint of the same model, which widens nothing.
 */
class MemoryCapTest {

    @TempDir
    Path dir;

    private static final Pattern PEAK = Pattern.compile("profile: memory: peak (\\d+) MiB anonymous");
    private static final Pattern WIDENED = Pattern.compile("peak ([\\d.]+) MiB of widened copies");

    private ChildJvm start(Map<String, String> env, List<String> args) throws Exception {
        Map<String, String> e = new java.util.HashMap<>(env);
        e.put("HEADSCAN_CACHE", dir.resolve("cache").toString());
        return ChildJvm.start(Files.createTempFile(dir, "child", ".log"), List.of("-Xmx64m"), e, args.toArray(String[]::new));
    }

    private String run(Map<String, String> env, List<String> args) throws Exception {
        ChildJvm c = start(env, args);
        assertEquals(0, c.waitFor(5), c.output());
        return c.output();
    }

    private static double group(Pattern p, String out) {
        Matcher m = p.matcher(out);
        assertTrue(m.find(), out);
        return Double.parseDouble(m.group(1));
    }

    private static List<String> with(List<String> head, Path model, List<String> tail) {
        List<String> a = new ArrayList<>(head);
        a.add(model.toString());
        a.addAll(tail);
        return a;
    }

    @Test
    void everyCommandStaysUnderACapThatPerTensorWideningWouldExceed() throws Exception {
        List<String> shape = List.of("--family", "llama", "--layers", "32", "--heads", "10", "--d-model", "1280", "--d-mlp", "256",
                "--vocab", "4096", "--n-ctx", "64", "--plant", "30.3");
        Path half = dir.resolve("bf16"), full = dir.resolve("f32");
        List<String> synth = new ArrayList<>(shape);
        synth.addAll(List.of("--dtype", "BF16"));
        run(Map.of(), with(List.of("synth", "--out"), half, synth));
        synth = new ArrayList<>(shape);
        synth.addAll(List.of("--dtype", "F32"));
        run(Map.of(), with(List.of("synth", "--out"), full, synth));

        String base = run(Map.of(), with(List.of("score"), full, List.of("--bag-count", "20", "--profile")));
        assertTrue(base.contains("weights: F32, used in place"), base);
        long cap = (long) group(PEAK, base) + 200;

        StringBuilder everyLayer = new StringBuilder();
        for (int l = 0; l < 32; l++) everyLayer.append(l == 0 ? "" : ",").append(l).append(".3");
        // one layer's attention (26.2 MB) and layer 0's MLP (3.9 MB) at most, never the embedding or the unembedding;
        // widened tensor by tensor for the model's life, score, fullvocab and ov would hold 420 MB
        double bound = 31;
        List<List<String>> commands = List.of(
                List.of("score", "--bag-count", "20"),
                List.of("embed", "--wee", "full"),
                List.of("fullvocab", "--heads", everyLayer.toString()),
                List.of("ov", "--heads", everyLayer.toString(), "--top", "1"));
        for (List<String> cmd : commands) {
            List<String> tail = new ArrayList<>(cmd.subList(1, cmd.size()));
            tail.add("--profile");
            String out = run(Map.of("HEADSCAN_MEMORY_CAP_MB", Long.toString(cap)), with(cmd.subList(0, 1), half, tail));
            double widened = group(WIDENED, out);
            assertTrue(widened <= bound, cmd.get(0) + ": widened copies peak at " + widened + " MiB\n" + out);
            if (cmd.get(0).equals("score")) {
                List<String> ranked = out.lines().filter(l -> l.matches("\\s+\\d+\\s+\\d+\\.\\d+\\s.*")).toList();
                assertEquals("30.3", ranked.get(0).strip().split("\\s+")[1], out);
            }
        }

        // the cap is enforced: the same score under a cap below what the JVM itself needs fails, saying so
        ChildJvm c = start(Map.of("HEADSCAN_MEMORY_CAP_MB", "8"), with(List.of("score"), half, List.of("--bag-count", "20")));
        assertEquals(1, c.waitFor(5), c.output());
        assertTrue(c.output().contains("headscan: memory cap exceeded: peak"), c.output());
    }
}

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
 * Bounded widening, end to end: every science command runs in a child JVM (-Xmx64m) on an F16 checkpoint whose
 * attention weights, widened to F32 tensor by tensor for the model's life as before, would add about 400 MB of off-heap
 * memory, under a cap that headscan enforces (HEADSCAN_MEMORY_CAP_MB: a command whose anonymous memory peaks above it
 * fails) set 200 MB above what the same command needs on the F32 checkpoint of the same model, which widens nothing.
 */
class MemoryCapTest {

    @TempDir
    Path dir;

    private static final Pattern PEAK = Pattern.compile("profile: memory: peak (\\d+) MiB anonymous");
    private static final Pattern WIDENED = Pattern.compile("peak ([\\d.]+) MiB of widened copies");

    private String run(Map<String, String> env, String... args) throws Exception {
        Path log = Files.createTempFile(dir, "child", ".log");
        Map<String, String> e = new java.util.HashMap<>(env);
        e.put("HEADSCAN_CACHE", dir.resolve("cache").toString());
        ChildJvm c = ChildJvm.start(log, List.of("-Xmx64m"), e, args);
        int code = c.waitFor(5);
        String out = c.output();
        assertEquals(0, code, out);
        return out;
    }

    private static double group(Pattern p, String out) {
        Matcher m = p.matcher(out);
        assertTrue(m.find(), out);
        return Double.parseDouble(m.group(1));
    }

    @Test
    void everyCommandStaysUnderACapThatPerTensorWideningWouldExceed() throws Exception {
        // 32 layers of d 1024: each layer's fused query_key_value is 12.6 MB in F32, 403 MB for all of them
        List<String> shape = List.of("--family", "gpt_neox", "--layers", "32", "--heads", "16", "--d-model", "1024", "--d-mlp", "256",
                "--vocab", "4096", "--n-ctx", "64", "--plant", "30.3");
        Path half = dir.resolve("f16"), full = dir.resolve("f32");
        List<String> a = new ArrayList<>(List.of("synth", "--out", half.toString(), "--dtype", "F16"));
        a.addAll(shape);
        run(Map.of(), a.toArray(String[]::new));
        a = new ArrayList<>(List.of("synth", "--out", full.toString(), "--dtype", "F32"));
        a.addAll(shape);
        run(Map.of(), a.toArray(String[]::new));

        StringBuilder everyLayer = new StringBuilder();
        for (int l = 0; l < 32; l++) everyLayer.append(l == 0 ? "" : ",").append(l).append(".3");
        List<List<String>> commands = List.of(
                List.of("score", "--bag-count", "20", "--profile"),
                List.of("embed", "--wee", "full", "--profile"),
                List.of("fullvocab", "--heads", everyLayer.toString(), "--profile"),
                List.of("ov", "--heads", everyLayer.toString(), "--top", "1", "--profile"));
        for (List<String> cmd : commands) {
            List<String> args = new ArrayList<>(cmd);
            args.add(1, full.toString());
            String base = run(Map.of(), args.toArray(String[]::new));
            double baseline = group(PEAK, base);
            assertTrue(base.contains("weights: F32, used in place"), base);

            long cap = (long) baseline + 200;
            args.set(1, half.toString());
            String out = run(Map.of("HEADSCAN_MEMORY_CAP_MB", Long.toString(cap)), args.toArray(String[]::new));
            double widened = group(WIDENED, out);
            // one layer (layer 0 for W_EE: 12.6 + 4.2 + 2.1 MB) and the unembedding (16.8 MB), not 32 layers' 403 MB
            assertTrue(widened < 40, cmd.get(0) + ": widened copies peak at " + widened + " MiB\n" + out);
            assertTrue(group(PEAK, out) <= cap, out);
            if (cmd.get(0).equals("score")) {
                List<String> ranked = out.lines().filter(l -> l.matches("\\s+\\d+\\s+\\d+\\.\\d+\\s.*")).toList();
                assertEquals("30.3", ranked.get(0).strip().split("\\s+")[1], out);
            }
        }

        // the cap is enforced: the same score under a cap below what the JVM itself needs fails, saying so
        Path log = Files.createTempFile(dir, "child", ".log");
        ChildJvm c = ChildJvm.start(log, List.of("-Xmx64m"), Map.of("HEADSCAN_CACHE", dir.resolve("cache").toString(), "HEADSCAN_MEMORY_CAP_MB", "8"),
                "score", half.toString(), "--bag-count", "20");
        assertEquals(1, c.waitFor(5), c.output());
        assertTrue(c.output().contains("headscan: memory cap exceeded: peak"), c.output());
    }
}

package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.testing.ChildJvm;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Ctrl-C and kill while headscan writes: nothing half-written stays behind, and leftovers of dead processes are cleaned. */
class InterruptTest {

    @TempDir
    Path dir;

    private static List<Path> temporaries(Path folder) throws Exception {
        if (!Files.isDirectory(folder)) return List.of();
        try (Stream<Path> s = Files.list(folder)) {
            return s.filter(p -> p.getFileName().toString().contains(".tmp-")).toList();
        }
    }

    /** Waits (bounded) until a temporary appears in {@code folder}: the child is then writing. */
    private static void awaitTemporary(ChildJvm c, Path folder) throws Exception {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (temporaries(folder).isEmpty()) {
            if (!c.process().isAlive()) fail("the child ended before it started writing: " + c.output());
            if (System.nanoTime() > deadline) fail("no temporary appeared in " + folder + ": " + c.output());
            Thread.sleep(20);
        }
    }

    @Test
    void ctrlCWhileWeeIsBuiltRemovesThePartialTable() throws Exception {
        Path m = dir.resolve("m"), cache = dir.resolve("cache");
        // GPT-2's vocabulary and width, one layer: W_EE [50257, 768] takes seconds to build
        ChildJvm synth = ChildJvm.start(dir.resolve("synth.log"), List.of(), Map.of(), "synth", "--out", m.toString(), "--layers", "1");
        assertEquals(0, synth.waitFor(3), synth.output());
        // Ctrl-C, unless this test runs with SIGINT ignored (a background job): then the same path through SIGTERM
        boolean intIgnored = ChildJvm.ignored(2);
        org.junit.jupiter.api.Assumptions.assumeFalse(intIgnored && ChildJvm.ignored(15), "SIGINT and SIGTERM both ignored here");
        try (ChildJvm c = ChildJvm.start(dir.resolve("fv.log"), List.of(), Map.of("HEADSCAN_CACHE", cache.toString()),
                "fullvocab", m.toString(), "--heads", "0.0", "--backend", "java")) {
            awaitTemporary(c, cache.resolve("wee"));
            c.signal(intIgnored ? "TERM" : "INT");
            assertEquals(intIgnored ? 143 : 130, c.waitFor(2), c.output());
            assertTrue(c.output().contains("headscan: interrupted; removed 1 partial file"), c.output());
        }
        assertEquals(List.of(), temporaries(cache.resolve("wee")));
        try (Stream<Path> s = Files.list(cache.resolve("wee"))) {
            assertEquals(0, s.count(), "no W_EE table either: it was never finished");
        }
    }

    @Test
    void killDuringSynthRemovesThePartialCheckpoint() throws Exception {
        Path out = dir.resolve("s");
        org.junit.jupiter.api.Assumptions.assumeFalse(ChildJvm.ignored(15), "SIGTERM ignored here");
        try (ChildJvm c = ChildJvm.start(dir.resolve("synth.log"), List.of(), Map.of("HEADSCAN_CACHE", dir.resolve("cache").toString()),
                "synth", "--out", out.toString(), "--threads", "1")) {
            awaitTemporary(c, out);
            c.signal("TERM");
            assertEquals(143, c.waitFor(2), c.output());
            assertTrue(c.output().contains("headscan: interrupted; removed 1 partial file (" + out), c.output());
        }
        assertEquals(List.of(), temporaries(out));
        assertFalse(Files.exists(out.resolve("model.safetensors")));
    }

    @Test
    void leftoversOfDeadProcessesAreRemovedOnStartAndLiveOnesKept() throws Exception {
        Process gone = new ProcessBuilder("true").start();
        assertTrue(gone.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
        long dead = gone.pid(), alive = ProcessHandle.current().pid();
        Path cache = dir.resolve("cache"), wee = cache.resolve("wee"), out = dir.resolve("s");
        Files.createDirectories(wee);
        Files.createDirectories(out);
        Path staleTable = Files.writeString(wee.resolve(".abc-full.safetensors.tmp-" + dead + "-1f2e"), "partial");
        Path liveTable = Files.writeString(wee.resolve(".abc-full.safetensors.tmp-" + alive + "-3c4d"), "being written");
        Path staleModel = Files.writeString(out.resolve(".model.safetensors.tmp-" + dead + "-5a6b"), "partial");
        ChildJvm c = ChildJvm.start(dir.resolve("synth.log"), List.of(), Map.of("HEADSCAN_CACHE", cache.toString()),
                "synth", "--out", out.toString(), "--layers", "1", "--heads", "1", "--d-model", "16", "--vocab", "10", "--n-ctx", "4");
        assertEquals(0, c.waitFor(2), c.output());
        assertFalse(Files.exists(staleTable), "the cache is swept on start");
        assertFalse(Files.exists(staleModel), "the output folder is swept before writing into it");
        assertTrue(Files.exists(liveTable), "a running process's temporary is left alone");
        assertEquals(0666 & ~umask(), mode(out.resolve("model.safetensors")), "the umask decides, as for every tool");
    }

    private static int mode(Path p) throws Exception {
        return (Integer) Files.getAttribute(p, "unix:mode") & 0777;
    }

    /** This process's umask, as the shell reports it (children inherit it). */
    private static int umask() throws Exception {
        Process p = new ProcessBuilder("sh", "-c", "umask").start();
        String s = new String(p.getInputStream().readAllBytes()).strip();
        assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
        return Integer.parseInt(s, 8);
    }
}

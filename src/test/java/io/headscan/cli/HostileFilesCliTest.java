package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.format.HostileCheckpoints;
import io.headscan.format.HostileCheckpoints.Case;
import io.headscan.testing.ChildJvm;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Acceptance for hostile and damaged checkpoints, as a user meets them: every command that opens a model, run in a
 * child JVM whose heap is capped at 32 MiB, ends with exit code 1 and one line that names the file, without a stack
 * trace and without advice to raise the heap. The files come from {@link HostileCheckpoints}; each is opened by one
 * command, the commands taken in turn, so that every command meets several kinds of damage and the suite stays fast.
 */
class HostileFilesCliTest {

    private static final List<String> COMMANDS = List.of("inspect", "score", "embed", "fullvocab", "ov");
    private static final List<String> HEAP = List.of("-Xmx32m");

    @TempDir
    static Path dir;
    static List<Case> cases;

    @BeforeAll
    static void write() throws Exception {
        cases = new ArrayList<>(HostileCheckpoints.write(dir.resolve("files")));
        // a file that ends before the size it reports, as one that shrinks while it is read does
        HostileCheckpoints.shortSpecialFile().ifPresent(f -> cases.add(new Case("file ending before its size", f, "file ended inside the 8-byte header length")));
    }

    /** The child's exit code and everything it printed (a child still running after 3 minutes is killed: a failure). */
    private record Run(int code, String out) {}

    private static Run run(String command, Path model, Path log) throws Exception {
        try (ChildJvm c = ChildJvm.start(log, HEAP, Map.of("HEADSCAN_CACHE", dir.resolve("cache").toString()), command, model.toString())) {
            int code;
            try {
                code = c.waitFor(3);
            } catch (AssertionError hung) {
                return new Run(-1, hung.getMessage());
            }
            return new Run(code, c.output());
        }
    }

    @Test
    void everyCommandRefusesEachHostileFileInOneLineUnderA32MegabyteHeap() throws Exception {
        List<String> failures = new ArrayList<>();
        for (int i = 0; i < cases.size(); i++) {
            Case c = cases.get(i);
            String command = COMMANDS.get(i % COMMANDS.size());
            Run r = run(command, c.model(), dir.resolve("child-" + i + ".log"));
            String out = r.out();
            List<String> lines = out.strip().lines().toList();
            String why = command + " on " + c + " (" + c.model() + "), exit code " + r.code() + ":\n" + out;
            if (r.code() != 1) failures.add("exit code not 1: " + why);
            else if (lines.size() != 1) failures.add("not one line: " + why);
            else if (!lines.getFirst().startsWith("headscan: " + c.model())) failures.add("does not start with the file: " + why);
            else if (!lines.getFirst().contains(c.phrase())) failures.add("'" + c.phrase() + "' missing: " + why);
            if (out.contains("\tat ") || out.contains("Exception in thread") || out.contains("raise it") || out.contains("internal error")) {
                failures.add("a trace, internal error or heap advice: " + why);
            }
        }
        assertTrue(failures.isEmpty(), String.join("\n\n", failures));
    }

    @Test
    void aSweepRecordsEachHostileFileAsFailedAndComputesTheRest() throws Exception {
        Path good = dir.resolve("files").resolve("good");
        List<String> args = new ArrayList<>(List.of("sweep"));
        for (Case c : cases) args.add(c.model().toString());
        args.add(good.toString());
        args.addAll(List.of("--score", "--bag-size", "8", "--db", dir.resolve("sweep.duckdb").toString()));
        Path log = dir.resolve("sweep.log");
        try (ChildJvm c = ChildJvm.start(log, HEAP, Map.of("HEADSCAN_CACHE", dir.resolve("cache").toString()), args.toArray(String[]::new))) {
            int code = c.waitFor(5);
            String out = c.output();
            assertEquals(1, code, "some checkpoints failed:\n" + out);
            assertFalse(out.contains("\tat ") || out.contains("Exception in thread"), out);
            for (Case k : cases) {
                assertTrue(out.lines().anyMatch(l -> l.contains("] " + k.model()) && l.contains("FAILED: ") && l.contains(k.phrase())), k + ":\n" + out);
            }
            assertTrue(out.contains(cases.size() + 1 + " checkpoints: 1 computed, 0 skipped, " + cases.size() + " failed"), out);
        }
    }
}

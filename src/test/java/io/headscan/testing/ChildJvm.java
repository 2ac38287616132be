package io.headscan.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * headscan's CLI in a separate JVM, as a user runs it. Its output goes to a file (never a pipe that could fill and
 * block it), every wait is bounded (a hung child is killed and the test fails instead of hanging CI), and it gets its
 * own cache folder unless the test names one.
 */
public final class ChildJvm implements AutoCloseable {

    private final Process process;
    private final Path log;

    private ChildJvm(Process process, Path log) {
        this.process = process;
        this.log = log;
    }

    /** Starts {@code headscan args} with these JVM options and environment additions; output (both streams) into {@code log}. */
    public static ChildJvm start(Path log, List<String> jvmOptions, Map<String, String> env, String... args) throws IOException {
        return start(log, jvmOptions, env, List.of(), args);
    }

    /** As above, first removing the variables named in {@code unset} from the child's environment (then {@code env} is added). */
    public static ChildJvm start(Path log, List<String> jvmOptions, Map<String, String> env, List<String> unset, String... args)
            throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add(ProcessHandle.current().info().command().orElse("java"));
        cmd.add("--enable-native-access=ALL-UNNAMED");
        cmd.addAll(jvmOptions);
        cmd.add("-cp");
        cmd.add(classPath(jvmOptions));
        cmd.add("io.headscan.cli.Main");
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile());
        String runCache = System.getProperty("headscan.cache");   // this test run's own cache (FreshCache), unless the test names one
        if (runCache != null) pb.environment().put("HEADSCAN_CACHE", runCache);
        unset.forEach(pb.environment()::remove);
        pb.environment().putAll(env);
        return new ChildJvm(pb.start(), log);
    }

    /** JVM option that asks for this test JVM's whole class path (Spark's jars included) instead of headscan's runtime. */
    public static final String FULL_CLASS_PATH = "-Dheadscan.test.fullClassPath=true";

    /**
     * headscan's classes and runtime jars (target/runtime-classpath.txt, written by the build), so that a child with a
     * tiny heap does not open jars it never uses; the whole test class path when asked for, or when the file is missing.
     */
    private static String classPath(List<String> jvmOptions) {
        String full = System.getProperty("java.class.path");
        if (jvmOptions.contains(FULL_CLASS_PATH)) return full;
        Path base = Path.of(System.getProperty("user.dir"));
        Path runtime = base.resolve("target/runtime-classpath.txt");
        try {
            if (!Files.isRegularFile(runtime)) return full;
            String deps = Files.readString(runtime).strip();
            return base.resolve("target/classes") + (deps.isEmpty() ? "" : java.io.File.pathSeparator + deps);
        } catch (IOException e) {
            return full;
        }
    }

    public Process process() {
        return process;
    }

    /** Waits at most {@code minutes}; a child still running then is killed and reported. Returns the exit code. */
    public int waitFor(long minutes) throws Exception {
        if (!process.waitFor(minutes, TimeUnit.MINUTES)) {
            process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
            throw new AssertionError("child JVM still running after " + minutes + " min, killed; its output:\n" + output());
        }
        return process.exitValue();
    }

    /** Everything the child printed so far. */
    public String output() throws IOException {
        return Files.readString(log, StandardCharsets.UTF_8);
    }

    /** Kills the child if it is still running (a test that failed half-way leaves nothing behind). */
    @Override
    public void close() {
        if (!process.isAlive()) return;
        try {
            process.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /**
     * Whether this process ignores signal {@code number} (its children inherit that: a JVM started with SIGINT ignored,
     * as background jobs of a non-interactive shell are, never sees Ctrl-C). Read from /proc/self/status.
     */
    public static boolean ignored(int number) throws IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("SigIgn:")) return (Long.parseUnsignedLong(line.substring(7).strip(), 16) >>> (number - 1) & 1) == 1;
        }
        return false;
    }

    /** Sends a signal (INT, TERM) to the child, as Ctrl-C or kill would. */
    public void signal(String name) throws Exception {
        Process kill = new ProcessBuilder("kill", "-" + name, Long.toString(process.pid())).inheritIO().start();
        if (!kill.waitFor(30, TimeUnit.SECONDS) || kill.exitValue() != 0) throw new AssertionError("kill -" + name + " failed");
    }
}

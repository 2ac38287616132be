package io.headscan.cli;

import io.headscan.compute.BackendException;
import io.headscan.format.CheckpointFormatException;
import io.headscan.format.SafetensorsException;
import io.headscan.format.SafetensorsFile;
import io.headscan.model.ModelException;
import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * The {@code headscan} command line. Thin: it parses flags, calls the library and prints.
 * Errors become one line on stderr and exit code 1 (usage errors: 2); {@code --debug} adds the stack trace.
 */
@Command(name = "headscan", mixinStandardHelpOptions = true, versionProvider = Main.Version.class,
        description = "Memory-mapped GPT-2 weights and bilinear attention scores for every head.",
        footer = {"", "What each number means: docs/science.md. 'headscan COMMAND --help' for a command's options.",
                "Exit codes: 0 done, 1 error (one line on stderr; --debug for the stack trace), 2 usage error, 130/143 interrupted."})
public final class Main {

    /**
     * The subcommands, in help order. Picocli builds a command's model by reflection, which costs about
     * 30 ms per command on a cold JVM; a run that names its subcommand builds only that one.
     */
    private static final java.util.Map<String, java.util.function.Supplier<Object>> SUBCOMMANDS = subcommands();

    private static java.util.Map<String, java.util.function.Supplier<Object>> subcommands() {
        var m = new java.util.LinkedHashMap<String, java.util.function.Supplier<Object>>();
        m.put("score", ScoreCommand::new);
        m.put("embed", EmbedCommand::new);
        m.put("fullvocab", FullVocabCommand::new);
        m.put("ov", OvCommand::new);
        m.put("sweep", SweepCommand::new);
        m.put("download", DownloadCommand::new);
        m.put("synth", SynthCommand::new);
        m.put("inspect", InspectCommand::new);
        m.put("backends", BackendsCommand::new);
        m.put("help", CommandLine.HelpCommand::new);
        return java.util.Collections.unmodifiableMap(m);
    }

    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT, description = "Print stack traces on errors.")
    static boolean debug;

    /** Set once the command has finished: a shutdown before that is an interrupt (SIGINT, SIGTERM, SIGHUP). */
    private static volatile boolean finished;

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        Runtime.getRuntime().addShutdownHook(new Thread(Main::onInterrupt, "headscan-interrupt"));
        preload(args);
        int code;
        try {
            code = run(args);
        } finally {
            finished = true;
        }
        System.exit(code);
    }

    /**
     * On an interrupt the JVM runs this hook and then exits with 128 + the signal (130 for Ctrl-C, 143 for SIGTERM):
     * whatever this process was writing is removed, since it will never be finished, and one line says so.
     */
    private static void onInterrupt() {
        if (finished) return;
        java.util.List<java.nio.file.Path> removed = io.headscan.AtomicFiles.abandonAll();
        String what = removed.isEmpty() ? "" : "; removed " + removed.size() + " partial file" + (removed.size() == 1 ? "" : "s") + " ("
                + removed.stream().map(java.nio.file.Path::toString).collect(java.util.stream.Collectors.joining(", ")) + ")";
        System.err.println((TerminalProgress.ACTIVE ? "\n" : "") + "headscan: interrupted" + what);
        System.err.flush();
    }

    private static final java.util.Set<String> COMPUTE_COMMANDS = java.util.Set.of("score", "embed", "fullvocab", "ov");

    /**
     * For the commands that compute, starts loading the bundled OpenBLAS and the C kernels on a background thread
     * while picocli builds its model of the command line (each takes about a tenth of a second on a cold JVM).
     * Then it asks the CUDA runtime for a GPU, as {@code --backend auto} will. Skipped when the arguments or
     * HEADSCAN_OPENBLAS name another OpenBLAS, or the Java backend is asked for (and the GPU probe when a CUDA folder
     * is named): the backend options, once parsed, then load exactly what they say.
     */
    static void preload(String[] args) {
        if (args.length == 0 || !COMPUTE_COMMANDS.contains(args[0]) || System.getenv("HEADSCAN_OPENBLAS") != null) return;
        // score's auto stays on the CPU (Backends.Workload.SMALL): no GPU probe for it unless a GPU is asked for
        boolean probe = !"0".equals(System.getenv("HEADSCAN_GPU")) && System.getenv("HEADSCAN_CUDA_LIB") == null
                && (!args[0].equals("score") || java.util.Arrays.asList(args).contains("cublas") || java.util.Arrays.asList(args).contains("--backend=cublas"));
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.startsWith("--openblas") || a.equals("--backend=java") || (a.equals("--backend") && i + 1 < args.length && args[i + 1].equals("java"))) return;
            if (a.startsWith("--cuda-lib")) probe = false;
        }
        boolean cudaProbe = probe;
        Thread.ofPlatform().daemon().name("headscan-preload").start(() -> {
            try {
                io.headscan.OffHeap.allocate(java.lang.foreign.Arena.global(), 0);   // links its mmap/madvise downcalls
                java.util.stream.IntStream.range(0, 64).parallel().sum();           // starts the common fork-join pool
                io.headscan.compute.kernels.NativeKernels.preferred().ifPresent(io.headscan.compute.kernels.NativeKernels::warmUp);
                io.headscan.compute.openblas.OpenBlasLibrary.load(java.util.Optional.empty());
                if (cudaProbe) {   // what auto will ask first: is there a GPU? (the answer is remembered)
                    io.headscan.compute.cuda.Cuda.loadRuntime(io.headscan.compute.cuda.CudaLibraries.fromEnvironment(java.util.Optional.empty()));
                    io.headscan.compute.cuda.Cuda.deviceCount();
                }
            } catch (RuntimeException | LinkageError e) {
                // the command loads the backend itself and reports any problem then
            }
        });
    }

    /** Runs the CLI and returns the exit code (tests call this). */
    public static int run(String... args) {
        return run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
    }

    /** Runs the CLI with the given streams and returns the exit code. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        debug = false;
        io.headscan.AtomicFiles.removeStaleUnder(io.headscan.CacheFolder.root());   // leftovers of killed runs
        long cap;
        try {
            cap = memoryCap(System.getenv("HEADSCAN_MEMORY_CAP_MB"));
        } catch (IllegalArgumentException e) {
            err.println("headscan: " + e.getMessage());
            return 2;
        }
        // --profile is an option of the computing commands (and sweep); their own lines come first, this one last
        boolean profile = java.util.Arrays.stream(args).anyMatch(a -> COMPUTE_COMMANDS.contains(a) || a.equals("sweep"))
                && java.util.Arrays.asList(args).contains("--profile");
        var watch = profile || cap > 0 ? io.headscan.MemoryUse.watch(10) : java.util.Optional.<io.headscan.MemoryUse.Watch>empty();
        if (cap > 0 && watch.isEmpty()) {
            err.println("headscan: HEADSCAN_MEMORY_CAP_MB is set, but this system does not report a process's memory (no RssAnon in /proc/self/status)");
            return 2;
        }
        try {
            int code = commandLine(out, err, args).execute(args);
            if (watch.isEmpty()) return code;
            long peak = watch.get().peakBytes();
            if (profile && code == 0) {
                err.printf(java.util.Locale.ROOT, "profile: memory: peak %.0f MiB anonymous (Java heap, the JVM, every off-heap buffer; not the "
                        + "mapped checkpoint), %.0f MiB at start, sampled every %d ms%n", peak / 1048576.0, watch.get().startBytes() / 1048576.0,
                        watch.get().periodMillis());
            }
            if (cap > 0 && peak > cap) {
                err.printf(java.util.Locale.ROOT, "headscan: memory cap exceeded: peak %.0f MiB anonymous memory > HEADSCAN_MEMORY_CAP_MB=%d%n",
                        peak / 1048576.0, cap >> 20);
                return code == 0 ? 1 : code;
            }
            return code;
        } catch (OutOfMemoryError | StackOverflowError e) {   // picocli hands on Errors: one line here too
            // (opening a checkpoint turns these into a named refusal of the file, a CheckpointFormatException: what
            // reaches here ran out while computing, where more heap is the answer)
            err.println("headscan: " + describe(e));
            if (debug) e.printStackTrace(err);
            else if (isUnexpected(e)) err.println("headscan: (run with --debug for the stack trace)");
            err.flush();
            return 1;
        } finally {
            watch.ifPresent(io.headscan.MemoryUse.Watch::close);
        }
    }

    /**
     * HEADSCAN_MEMORY_CAP_MB in bytes (0 when unset): a command whose anonymous memory ({@link io.headscan.MemoryUse})
     * peaks above it fails with one line saying so, after it has run (the memory tests set it).
     */
    static long memoryCap(String value) {
        if (value == null || value.isBlank()) return 0;
        try {
            long mb = Long.parseLong(value.strip());
            if (mb > 0 && mb < (1L << 40)) return mb << 20;
        } catch (NumberFormatException e) {
            // below
        }
        throw new IllegalArgumentException("HEADSCAN_MEMORY_CAP_MB=" + value + ": expected a positive number of MiB");
    }

    /** The command line for these arguments: all subcommands, or only the one named first (faster start-up). */
    static CommandLine commandLine(PrintWriter out, PrintWriter err, String... args) {
        CommandLine cl = new CommandLine(new Main());
        String first = args.length > 0 ? args[0] : null;
        if (first != null && !first.equals("help") && SUBCOMMANDS.containsKey(first)) {
            cl.addSubcommand(first, SUBCOMMANDS.get(first).get());
        } else {
            SUBCOMMANDS.forEach((name, make) -> cl.addSubcommand(name, make.get()));
        }
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            if (ex instanceof UsageException) {
                cmd.getErr().println("headscan: " + ex.getMessage());
                cmd.getErr().println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help' for more information.");
                cmd.getErr().flush();
                return 2;
            }
            cmd.getErr().println("headscan: " + describe(ex));
            if (debug) ex.printStackTrace(cmd.getErr());
            else if (isUnexpected(ex)) cmd.getErr().println("headscan: (run with --debug for the stack trace)");
            cmd.getErr().flush();
            return 1;
        });
        cl.setParameterExceptionHandler((ex, rest) -> {
            CommandLine cmd = ex.getCommandLine();
            cmd.getErr().println("headscan: " + ex.getMessage());
            cmd.getErr().println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help' for more information.");
            return 2;
        });
        return cl;
    }

    private static boolean isUnexpected(Throwable t) {
        return !(t instanceof OutOfMemoryError || t instanceof java.sql.SQLException || t instanceof CheckpointFormatException || t instanceof ModelException || t instanceof BackendException || t instanceof io.headscan.hub.HubException || t instanceof io.headscan.sweep.Sweep.BackendFault
                || t instanceof io.headscan.tokenize.TokenizerException || t instanceof IllegalArgumentException || t instanceof IOException || t instanceof UncheckedIOException);
    }

    /** One line naming the problem. */
    static String describe(Throwable t) {
        SafetensorsException mapped = SafetensorsFile.translate(t, null);
        if (mapped != null) return mapped.getMessage();
        if (t instanceof java.nio.file.NoSuchFileException e) return e.getFile() + ": no such file";
        if (t instanceof java.nio.file.AccessDeniedException e) return e.getFile() + ": permission denied";
        if (t instanceof UncheckedIOException e) return describe(e.getCause());
        if (t instanceof java.sql.SQLException e) return "database: " + String.valueOf(e.getMessage()).strip().replaceAll("\\s*\\n\\s*", " ");
        if (t instanceof IOException e) return e.getClass() == IOException.class ? e.getMessage() : "I/O error: " + e.getMessage();
        if (t instanceof OutOfMemoryError e) {
            return "out of Java heap (" + e.getMessage() + ", max heap " + Runtime.getRuntime().maxMemory() / (1 << 20) + " MiB); "
                    + "weights stay off the heap, but this run needs more: raise it, e.g. HEADSCAN_JAVA_OPTS=-Xmx256m";
        }
        if (isUnexpected(t)) return "internal error: " + oneLine(t.toString());
        String m = t.getMessage();
        return m == null ? t.toString() : oneLine(m);
    }

    /** A message on one line (a line break becomes a space; other unsafe characters escaped), bounded in length. */
    static String oneLine(String m) {
        return io.headscan.format.Printable.line(m.replace('\n', ' '));
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"headscan " + (v == null ? "(development build)" : v), "Java " + Runtime.version()};
        }
    }
}

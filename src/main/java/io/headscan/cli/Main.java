package io.headscan.cli;

import io.headscan.compute.BackendException;
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
        subcommands = {ScoreCommand.class, EmbedCommand.class, FullVocabCommand.class, OvCommand.class, DownloadCommand.class, SynthCommand.class,
                InspectCommand.class, BackendsCommand.class, CommandLine.HelpCommand.class})
public final class Main {

    @Option(names = "--debug", scope = CommandLine.ScopeType.INHERIT, description = "Print stack traces on errors.")
    static boolean debug;

    public static void main(String[] args) {
        System.setProperty("java.awt.headless", "true");
        System.exit(run(args));
    }

    /** Runs the CLI and returns the exit code (tests call this). */
    public static int run(String... args) {
        return run(new PrintWriter(System.out, true), new PrintWriter(System.err, true), args);
    }

    /** Runs the CLI with the given streams and returns the exit code. */
    public static int run(PrintWriter out, PrintWriter err, String... args) {
        debug = false;
        return commandLine(out, err).execute(args);
    }

    static CommandLine commandLine(PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(new Main());
        cl.setOut(out);
        cl.setErr(err);
        cl.setExecutionExceptionHandler((ex, cmd, parseResult) -> {
            cmd.getErr().println("headscan: " + describe(ex));
            if (debug) ex.printStackTrace(cmd.getErr());
            else if (isUnexpected(ex)) cmd.getErr().println("headscan: (run with --debug for the stack trace)");
            cmd.getErr().flush();
            return 1;
        });
        cl.setParameterExceptionHandler((ex, args) -> {
            CommandLine cmd = ex.getCommandLine();
            cmd.getErr().println("headscan: " + ex.getMessage());
            cmd.getErr().println("Try '" + cmd.getCommandSpec().qualifiedName() + " --help' for more information.");
            return 2;
        });
        return cl;
    }

    private static boolean isUnexpected(Throwable t) {
        return !(t instanceof SafetensorsException || t instanceof ModelException || t instanceof BackendException || t instanceof io.headscan.hub.HubException
                || t instanceof IllegalArgumentException || t instanceof IOException || t instanceof UncheckedIOException);
    }

    /** One line naming the problem. */
    static String describe(Throwable t) {
        SafetensorsException mapped = SafetensorsFile.translate(t, null);
        if (mapped != null) return mapped.getMessage();
        if (t instanceof java.nio.file.NoSuchFileException e) return e.getFile() + ": no such file";
        if (t instanceof java.nio.file.AccessDeniedException e) return e.getFile() + ": permission denied";
        if (t instanceof UncheckedIOException e) return describe(e.getCause());
        if (t instanceof IOException e) return "I/O error: " + e.getMessage();
        if (isUnexpected(t)) return "internal error: " + t;
        String m = t.getMessage();
        return m == null ? t.toString() : m.replace('\n', ' ');
    }

    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            String v = Main.class.getPackage().getImplementationVersion();
            return new String[] {"headscan " + (v == null ? "(development build)" : v), "Java " + Runtime.version()};
        }
    }
}

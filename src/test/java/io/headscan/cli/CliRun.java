package io.headscan.cli;

import java.io.PrintWriter;
import java.io.StringWriter;

/** Runs the CLI in-process and captures what it prints. */
record CliRun(int code, String out, String err) {

    static CliRun of(String... args) {
        StringWriter out = new StringWriter(), err = new StringWriter();
        int code = Main.run(new PrintWriter(out, true), new PrintWriter(err, true), args);
        return new CliRun(code, out.toString(), err.toString());
    }

    /** One line naming the problem (a usage error may add the "Try '... --help'" hint). */
    boolean oneLineError() {
        return err.strip().lines().filter(l -> !l.startsWith("Try '")).count() == 1 && err.startsWith("headscan: ");
    }
}

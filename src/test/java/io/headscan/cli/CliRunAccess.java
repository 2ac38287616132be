package io.headscan.cli;

/** {@link CliRun} for tests in other packages (the Spark tests). */
public final class CliRunAccess {

    private CliRunAccess() {}

    public record Result(int code, String out, String err) {}

    public static Result run(String... args) {
        CliRun r = CliRun.of(args);
        return new Result(r.code(), r.out(), r.err());
    }
}

package io.headscan;

/**
 * Progress of long work, reported by library code and drawn by the CLI (library code never prints).
 * Implementations must be thread-safe: workers report concurrently.
 */
public interface Progress {

    /** Starts a phase of {@code total} units (bytes, rows, heads...). */
    void start(String label, long total, String unit);

    /** Adds {@code delta} completed units. */
    void advance(long delta);

    /** Ends the current phase. */
    void done();

    Progress NONE = new Progress() {
        @Override
        public void start(String label, long total, String unit) {}

        @Override
        public void advance(long delta) {}

        @Override
        public void done() {}
    };
}

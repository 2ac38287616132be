package io.headscan;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.OptionalLong;

/**
 * The process's anonymous memory: what Linux reports as {@code RssAnon} in {@code /proc/self/status}, the resident pages
 * that are not backed by a file. That is the Java heap, the JVM's own memory and every off-heap buffer (widened weights,
 * workspaces, tables), and not the memory-mapped checkpoint, whose pages belong to the page cache. A {@link Watch}
 * samples it on a daemon thread and keeps the peak: sampled, so a spike shorter than the period can be missed, which
 * the buffers that matter here (they live for a layer or a command) are not.
 */
public final class MemoryUse {

    private static final Path STATUS = Path.of("/proc/self/status");

    private MemoryUse() {}

    /** Anonymous resident bytes now, or empty where {@code /proc/self/status} does not say (not Linux). */
    public static OptionalLong anonymousBytes() {
        try {
            for (String line : Files.readAllLines(STATUS)) {
                if (line.startsWith("RssAnon:")) {
                    String[] f = line.substring(8).trim().split("\\s+");
                    return OptionalLong.of(Math.multiplyExact(Long.parseLong(f[0]), 1024L));   // "kB"
                }
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or a kernel without the line: nothing to report
        }
        return OptionalLong.empty();
    }

    /** Starts sampling every {@code periodMillis}; empty where the memory cannot be read. */
    public static java.util.Optional<Watch> watch(long periodMillis) {
        OptionalLong first = anonymousBytes();
        if (first.isEmpty()) return java.util.Optional.empty();
        return java.util.Optional.of(new Watch(first.getAsLong(), periodMillis));
    }

    /** A sampler of the anonymous memory's peak; {@link #close} stops it after one last sample. */
    public static final class Watch implements AutoCloseable {
        private final long start;
        private final long periodMillis;
        private volatile long peak;
        private volatile boolean stopped;
        private final Thread thread;

        private Watch(long start, long periodMillis) {
            this.start = start;
            this.peak = start;
            this.periodMillis = periodMillis;
            this.thread = Thread.ofPlatform().daemon().name("headscan-memory").start(this::loop);
        }

        private void loop() {
            while (!stopped) {
                sample();
                try {
                    Thread.sleep(periodMillis);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }

        private void sample() {
            OptionalLong now = anonymousBytes();
            if (now.isPresent() && now.getAsLong() > peak) peak = now.getAsLong();
        }

        /** Anonymous bytes when the watch started. */
        public long startBytes() {
            return start;
        }

        /** The most anonymous bytes seen so far. */
        public long peakBytes() {
            sample();
            return peak;
        }

        /** How often it samples. */
        public long periodMillis() {
            return periodMillis;
        }

        @Override
        public void close() {
            sample();
            stopped = true;
            thread.interrupt();
        }
    }
}

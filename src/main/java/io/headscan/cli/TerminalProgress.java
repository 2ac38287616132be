package io.headscan.cli;

import io.headscan.Progress;
import java.io.PrintStream;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;

/**
 * A progress bar on stderr with rate and ETA, redrawn at most ten times a second. Drawn only when
 * stderr is a terminal (or {@code HEADSCAN_PROGRESS=1}), so logs and pipes stay clean.
 */
final class TerminalProgress implements Progress {

    /** Whether a bar may be on screen now (an interrupt message then starts on a new line). */
    static volatile boolean ACTIVE;

    private final PrintStream out;
    private final boolean enabled;
    private final AtomicLong done = new AtomicLong();
    private volatile String label = "";
    private volatile String unit = "";
    private volatile long total;
    private volatile long startNanos;
    private volatile long lastDraw;

    TerminalProgress(PrintStream out) {
        this.out = out;
        String env = System.getenv("HEADSCAN_PROGRESS");
        boolean tty = System.console() != null && System.console().isTerminal();
        this.enabled = env != null ? env.equals("1") : tty;
    }

    @Override
    public void start(String label, long total, String unit) {
        this.label = label;
        this.total = total;
        this.unit = unit;
        this.done.set(0);
        this.startNanos = System.nanoTime();
        this.lastDraw = 0;
        ACTIVE = enabled;
        draw(false);
    }

    @Override
    public void advance(long delta) {
        done.addAndGet(delta);
        long now = System.nanoTime();
        if (now - lastDraw > 100_000_000L) {
            lastDraw = now;
            draw(false);
        }
    }

    @Override
    public void done() {
        draw(true);
    }

    /** Prints through {@code print} (stdout) without mixing it into the bar: clears the bar line, prints, redraws. */
    synchronized void above(Runnable print) {
        if (enabled) {
            out.print("\r" + " ".repeat(110) + "\r");
            out.flush();
        }
        print.run();
        if (enabled && total > 0 && done.get() < total) draw(false);
    }

    private synchronized void draw(boolean last) {
        if (!enabled) return;
        long d = Math.min(done.get(), Math.max(total, 0));
        double frac = total > 0 ? (double) d / total : 1;
        int width = 30;
        int fill = (int) Math.round(frac * width);
        double secs = (System.nanoTime() - startNanos) / 1e9;
        double rate = secs > 0 ? d / secs : 0;
        String eta = rate > 0 && d < total ? formatSeconds((total - d) / rate) : last ? formatSeconds(secs) : "--";
        out.print(String.format(Locale.ROOT, "\r%-12s [%s%s] %5.1f%% %s/%s%s %s/s %s %s ",
                label, "#".repeat(fill), ".".repeat(width - fill), frac * 100,
                unit.equals("B") ? amount(d) : Long.toString(d), amount(total), "", amount((long) rate), last ? "in" : "ETA", eta));
        if (last) {
            out.println();
            ACTIVE = false;
        }
        out.flush();
    }

    private String amount(long v) {
        if (!unit.equals("B")) return v + (unit.isEmpty() ? "" : " " + unit);
        if (v >= 1L << 30) return String.format(Locale.ROOT, "%.2f GiB", v / (double) (1L << 30));
        if (v >= 1L << 20) return String.format(Locale.ROOT, "%.1f MiB", v / (double) (1L << 20));
        if (v >= 1L << 10) return String.format(Locale.ROOT, "%.1f KiB", v / 1024.0);
        return v + " B";
    }

    private static String formatSeconds(double s) {
        if (s < 60) return String.format(Locale.ROOT, "%.1fs", s);
        return String.format(Locale.ROOT, "%dm%02ds", (long) s / 60, (long) s % 60);
    }
}

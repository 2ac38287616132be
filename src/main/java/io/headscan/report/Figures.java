package io.headscan.report;

import java.awt.Color;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;

/**
 * Figures as PNG or SVG (chosen by the file extension), written atomically:
 * the layer × head heatmap of the writeup's Figure 3 and the query × key attention matrix of Figures 1–2.
 */
public final class Figures {

    private Figures() {}

    /**
     * A layer × head heatmap. With {@code diverging} the colour scale is blue–white–red centred at 0 and
     * symmetric; otherwise white to dark blue from the minimum to the maximum.
     */
    public static void heatmap(Path out, double[][] values, String title, String colourLabel, boolean diverging) throws IOException {
        int layers = values.length, heads = values[0].length;
        double cell = Math.max(22, Math.min(48, 560.0 / Math.max(layers, heads)));
        double left = 70, top = 56, gridW = heads * cell, gridH = layers * cell;
        int width = (int) Math.max(left + gridW + 120, 9.6 * title.length() + 40), height = (int) (top + gridH + 64);
        double lo, hi;
        double maxAbs = 0, min = Double.POSITIVE_INFINITY, max = Double.NEGATIVE_INFINITY;
        for (double[] row : values) {
            for (double v : row) {
                if (!Double.isFinite(v)) continue;   // marked heads (non-finite weights) are drawn grey, outside the scale
                maxAbs = Math.max(maxAbs, Math.abs(v));
                min = Math.min(min, v);
                max = Math.max(max, v);
            }
        }
        if (diverging) {
            lo = -maxAbs;
            hi = maxAbs;
        } else {
            lo = min;
            hi = max;
        }
        if (!(hi > lo)) {   // one value, or none finite
            lo = Double.isFinite(lo) ? lo : 0;
            hi = lo + 1e-12;
        }
        final double fLo = lo, fHi = hi;
        render(out, width, height, c -> {
            c.text(width / 2.0, 28, title, 15, Canvas.Anchor.MIDDLE, 0, Color.BLACK, true);
            for (int l = 0; l < layers; l++) {
                for (int h = 0; h < heads; h++) {
                    double v = values[l][h];
                    Color col = colour(v, fLo, fHi, diverging);
                    c.rect(left + h * cell, top + l * cell, cell, cell, col, null);
                    if (cell >= 30) {
                        double lum = 0.299 * col.getRed() + 0.587 * col.getGreen() + 0.114 * col.getBlue();
                        c.text(left + h * cell + cell / 2, top + l * cell + cell / 2 + 4, label(v), cell >= 40 ? 10 : 8,
                                Canvas.Anchor.MIDDLE, 0, lum < 140 ? Color.WHITE : Color.BLACK, false);
                    }
                }
            }
            c.rect(left, top, gridW, gridH, null, Color.DARK_GRAY);
            for (int h = 0; h < heads; h++) {
                c.text(left + h * cell + cell / 2, top + gridH + 16, Integer.toString(h), 11, Canvas.Anchor.MIDDLE, 0, Color.BLACK, false);
            }
            for (int l = 0; l < layers; l++) {
                c.text(left - 8, top + l * cell + cell / 2 + 4, Integer.toString(l), 11, Canvas.Anchor.END, 0, Color.BLACK, false);
            }
            c.text(left + gridW / 2, top + gridH + 40, "Head", 13, Canvas.Anchor.MIDDLE, 0, Color.BLACK, false);
            c.text(left - 40, top + gridH / 2, "Layer", 13, Canvas.Anchor.MIDDLE, -90, Color.BLACK, false);
            colourBar(c, left + gridW + 24, top, 18, gridH, fLo, fHi, diverging, colourLabel);
        });
    }

    /** One curve of a line chart. */
    public record Line(String name, double[] x, double[] y) {}

    private static final Color[] PALETTE = {new Color(31, 119, 180), new Color(214, 39, 40), new Color(44, 160, 44), new Color(148, 103, 189),
            new Color(255, 127, 14), new Color(140, 86, 75), new Color(227, 119, 194), new Color(23, 190, 207)};

    /**
     * Curves against a shared x axis (a training step, say), logarithmic when {@code logX} (x must then be positive),
     * with a legend. Non-finite points are left out.
     */
    public static void lines(Path out, String title, String xLabel, String yLabel, boolean logX, List<Line> lines) throws IOException {
        double xlo = Double.POSITIVE_INFINITY, xhi = Double.NEGATIVE_INFINITY, ylo = Double.POSITIVE_INFINITY, yhi = Double.NEGATIVE_INFINITY;
        for (Line l : lines) {
            for (int i = 0; i < l.x().length; i++) {
                if (!Double.isFinite(l.y()[i]) || (logX && l.x()[i] <= 0)) continue;
                double x = logX ? Math.log10(l.x()[i]) : l.x()[i];
                xlo = Math.min(xlo, x);
                xhi = Math.max(xhi, x);
                ylo = Math.min(ylo, l.y()[i]);
                yhi = Math.max(yhi, l.y()[i]);
            }
        }
        if (!(xhi > xlo)) {
            xlo = Double.isFinite(xlo) ? xlo - 1 : 0;
            xhi = xlo + 2;
        }
        if (!(yhi > ylo)) {
            ylo = Double.isFinite(ylo) ? ylo - 0.5 : 0;
            yhi = ylo + 1;
        }
        double pad = (yhi - ylo) * 0.05;
        final double x0 = xlo, x1 = xhi, y0 = ylo - pad, y1 = yhi + pad;
        double left = 80, top = 56, plotW = 620, plotH = 380, legendW = 150;
        int width = (int) Math.max(left + plotW + legendW + 20, 9.6 * title.length() + 40), height = (int) (top + plotH + 70);
        render(out, width, height, c -> {
            c.text(width / 2.0, 28, title, 15, Canvas.Anchor.MIDDLE, 0, Color.BLACK, true);
            c.rect(left, top, plotW, plotH, null, Color.DARK_GRAY);
            for (int k = 0; k <= 4; k++) {   // y ticks and grid
                double v = y0 + (y1 - y0) * k / 4, yy = top + plotH - plotH * k / 4;
                c.line(left, yy, left + plotW, yy, new Color(230, 230, 230), 1);
                c.line(left - 4, yy, left, yy, Color.DARK_GRAY, 1);
                c.text(left - 7, yy + 4, label(v), 10, Canvas.Anchor.END, 0, Color.BLACK, false);
            }
            int ticks = logX ? (int) Math.max(1, Math.ceil(x1) - Math.floor(x0)) : 5;
            for (int k = 0; k <= ticks; k++) {   // x ticks: powers of ten on a log axis
                double v = logX ? Math.floor(x0) + k : x0 + (x1 - x0) * k / ticks;
                if (v < x0 - 1e-9 || v > x1 + 1e-9) continue;
                double xx = left + plotW * (v - x0) / (x1 - x0);
                c.line(xx, top + plotH, xx, top + plotH + 4, Color.DARK_GRAY, 1);
                String t = logX ? (v >= 0 && v < 7 ? String.valueOf((long) Math.pow(10, v)) : "1e" + (long) v) : label(v);
                c.text(xx, top + plotH + 17, t, 10, Canvas.Anchor.MIDDLE, 0, Color.BLACK, false);
                if (logX && ticks <= 3) {   // few decades: 2× and 5× ticks too, lighter and smaller
                    for (int mult : new int[] {2, 5}) {
                        double m = v + Math.log10(mult);
                        if (m < x0 - 1e-9 || m > x1 + 1e-9) continue;
                        double mx = left + plotW * (m - x0) / (x1 - x0);
                        c.line(mx, top + plotH, mx, top + plotH + 3, Color.GRAY, 1);
                        String mt = v >= 0 && v < 6 ? String.valueOf(mult * (long) Math.pow(10, v)) : mult + "e" + (long) v;
                        c.text(mx, top + plotH + 15, mt, 8, Canvas.Anchor.MIDDLE, 0, Color.GRAY, false);
                    }
                }
            }
            c.text(left + plotW / 2, top + plotH + 40, xLabel + (logX ? " (log scale)" : ""), 13, Canvas.Anchor.MIDDLE, 0, Color.BLACK, false);
            c.text(22, top + plotH / 2, yLabel, 13, Canvas.Anchor.MIDDLE, -90, Color.BLACK, false);
            for (int li = 0; li < lines.size(); li++) {
                Line l = lines.get(li);
                Color col = PALETTE[li % PALETTE.length];
                double px = Double.NaN, py = Double.NaN;
                for (int i = 0; i < l.x().length; i++) {
                    if (!Double.isFinite(l.y()[i]) || (logX && l.x()[i] <= 0)) continue;
                    double x = logX ? Math.log10(l.x()[i]) : l.x()[i];
                    double xx = left + plotW * (x - x0) / (x1 - x0), yy = top + plotH - plotH * (l.y()[i] - y0) / (y1 - y0);
                    if (!Double.isNaN(px)) c.line(px, py, xx, yy, col, 2);
                    c.rect(xx - 2.5, yy - 2.5, 5, 5, col, null);
                    px = xx;
                    py = yy;
                }
                double ly = top + 14 + 18 * li;
                c.line(left + plotW + 16, ly - 4, left + plotW + 40, ly - 4, col, 2);
                c.text(left + plotW + 46, ly, l.name(), 11, Canvas.Anchor.START, 0, Color.BLACK, false);
            }
        });
    }

    /**
     * Several layer × head heatmaps side by side (one per model of a family), on one diverging colour scale; each with
     * layer and head ticks, and its highest head outlined and named (L.H).
     */
    public static void heatmaps(Path out, String title, List<String> titles, List<double[][]> values, String colourLabel) throws IOException {
        double maxAbs = 1e-12;
        int maxLayers = 1;
        for (double[][] v : values) {
            maxLayers = Math.max(maxLayers, v.length);
            for (double[] row : v) for (double x : row) if (Double.isFinite(x)) maxAbs = Math.max(maxAbs, Math.abs(x));
        }
        double cell = Math.max(5, Math.min(18, 420.0 / maxLayers));
        double left = 64, top = 70, gap = 48;
        double[] widths = values.stream().mapToDouble(v -> Math.max(90, v[0].length * cell)).toArray();
        double gridsW = java.util.Arrays.stream(widths).sum() + gap * (values.size() - 1);
        double barH = Math.min(maxLayers * cell, 300);
        int width = (int) Math.max(left + gridsW + 110, 9.6 * title.length() + 40), height = (int) (top + maxLayers * cell + 74);
        final double lim = maxAbs;
        render(out, width, height, c -> {
            c.text(width / 2.0, 28, title, 15, Canvas.Anchor.MIDDLE, 0, Color.BLACK, true);
            double x = left;
            for (int m = 0; m < values.size(); m++) {
                double[][] v = values.get(m);
                c.text(x + v[0].length * cell / 2, top - 12, titles.get(m), 11, Canvas.Anchor.MIDDLE, 0, Color.BLACK, true);
                for (int l = 0; l < v.length; l++) {
                    for (int h = 0; h < v[l].length; h++) c.rect(x + h * cell, top + l * cell, cell, cell, colour(v[l][h], -lim, lim, true), null);
                }
                c.rect(x, top, v[0].length * cell, v.length * cell, null, Color.DARK_GRAY);
                int layerStep = Math.max(1, (v.length + 5) / 6), headStep = Math.max(1, (v[0].length + 5) / 6);
                for (int l = 0; l < v.length; l += layerStep) {
                    c.text(x - 4, top + l * cell + cell / 2 + 3, Integer.toString(l), 8, Canvas.Anchor.END, 0, Color.DARK_GRAY, false);
                }
                for (int h = 0; h < v[0].length; h += headStep) {
                    c.text(x + h * cell + cell / 2, top + v.length * cell + 11, Integer.toString(h), 8, Canvas.Anchor.MIDDLE, 0, Color.DARK_GRAY, false);
                }
                int[] best = argmax(v);
                if (best != null) {
                    double bx = x + best[1] * cell, by = top + best[0] * cell;
                    c.rect(bx - 1, by - 1, cell + 2, cell + 2, null, Color.BLACK);
                    boolean roomRight = best[1] < v[0].length / 2;
                    c.text(roomRight ? bx + cell + 3 : bx - 3, by + cell / 2 + 4, best[0] + "." + best[1], 10,
                            roomRight ? Canvas.Anchor.START : Canvas.Anchor.END, 0, Color.BLACK, true);
                }
                c.text(x + v[0].length * cell / 2, top + v.length * cell + 28, v.length + " layers x " + v[0].length + " heads (rows: layer)", 10,
                        Canvas.Anchor.MIDDLE, 0, Color.BLACK, false);
                x += widths[m] + gap;
            }
            colourBar(c, left + gridsW + 20, top, 14, barH, -lim, lim, true, colourLabel);
        });
    }

    /** {layer, head} of the largest finite value, or null when there is none. */
    private static int[] argmax(double[][] v) {
        int[] best = null;
        double max = Double.NEGATIVE_INFINITY;
        for (int l = 0; l < v.length; l++) {
            for (int h = 0; h < v[l].length; h++) {
                if (Double.isFinite(v[l][h]) && v[l][h] > max) {
                    max = v[l][h];
                    best = new int[] {l, h};
                }
            }
        }
        return best;
    }

    /**
     * The attention matrix P[query, key] of one head over one bag, with the tokens on both axes (up to 256 tokens: the
     * cells grow to fit a readable label; beyond that, or without tokens, positions only).
     */
    public static void attention(Path out, double[][] p, List<String> tokens, String title) throws IOException {
        int n = p.length;
        boolean labels = tokens != null && n <= 256;
        double cell = labels ? Math.max(9, Math.min(24, 600.0 / n)) : Math.max(4, Math.min(24, 600.0 / n));
        int font = (int) Math.min(9, cell - 1);
        double left = labels ? 110 : 60, top = 56, grid = n * cell;
        int width = (int) (left + grid + 120), height = (int) (top + grid + (labels ? 110 : 60));
        double max = 0;
        for (double[] row : p) for (double v : row) max = Math.max(max, v);
        final double hi = max > 0 ? max : 1;
        render(out, width, height, c -> {
            c.text(left + grid / 2, 28, title, 15, Canvas.Anchor.MIDDLE, 0, Color.BLACK, true);
            for (int t = 0; t < n; t++) {
                for (int s = 0; s < n; s++) c.rect(left + s * cell, top + t * cell, cell, cell, colour(p[t][s], 0, hi, false), null);
            }
            c.rect(left, top, grid, grid, null, Color.DARK_GRAY);
            if (labels) {
                for (int i = 0; i < n; i++) {
                    String tok = shortToken(tokens.get(i));
                    c.text(left - 6, top + i * cell + cell / 2 + font / 2.0, tok, font, Canvas.Anchor.END, 0, Color.BLACK, false);
                    c.text(left + i * cell + cell / 2 + font / 3.0, top + grid + 6, tok, font, Canvas.Anchor.END, -60, Color.BLACK, false);
                }
            }
            c.text(left + grid / 2, height - 14, "key token (effective embedding W_EE)", 13, Canvas.Anchor.MIDDLE, 0, Color.BLACK, false);
            c.text(18, top + grid / 2, "query token (unembedding U)", 13, Canvas.Anchor.MIDDLE, -90, Color.BLACK, false);
            colourBar(c, left + grid + 24, top, 18, grid, 0, hi, false, "attention probability");
        });
    }

    private static String shortToken(String s) {
        String t = s.replace("\n", "\\n").replace("\t", "\\t");
        return t.length() > 14 ? t.substring(0, 13) + "…" : "'" + t + "'";
    }

    private static void colourBar(Canvas c, double x, double y, double w, double h, double lo, double hi, boolean diverging, String label) {
        int steps = 100;
        for (int i = 0; i < steps; i++) {
            double v = hi - (hi - lo) * (i + 0.5) / steps;
            c.rect(x, y + h * i / steps, w, h / steps + 0.5, colour(v, lo, hi, diverging), null);
        }
        c.rect(x, y, w, h, null, Color.DARK_GRAY);
        for (int k = 0; k <= 4; k++) {
            double v = hi - (hi - lo) * k / 4;
            double yy = y + h * k / 4;
            c.line(x + w, yy, x + w + 4, yy, Color.DARK_GRAY, 1);
            c.text(x + w + 6, yy + 4, label(v), 10, Canvas.Anchor.START, 0, Color.BLACK, false);
        }
        c.text(x + w + 62, y + h / 2, label, 12, Canvas.Anchor.MIDDLE, -90, Color.BLACK, false);
    }

    static String label(double v) {
        if (!Double.isFinite(v)) return "n/a";
        double a = Math.abs(v);
        if (a != 0 && (a < 0.01 || a >= 1000)) return String.format(Locale.ROOT, "%.1e", v);
        return String.format(Locale.ROOT, a < 1 ? "%.3f" : "%.2f", v);
    }

    /** Blue–white–red (diverging, centred at 0) or white–blue (sequential). */
    static Color colour(double v, double lo, double hi, boolean diverging) {
        if (Double.isNaN(v)) return Color.LIGHT_GRAY;
        if (diverging) {
            double t = Math.max(-1, Math.min(1, v / Math.max(Math.abs(lo), Math.abs(hi))));
            return t >= 0 ? mix(Color.WHITE, new Color(178, 24, 43), t) : mix(Color.WHITE, new Color(33, 102, 172), -t);
        }
        double t = Math.max(0, Math.min(1, (v - lo) / (hi - lo)));
        return t < 0.5 ? mix(Color.WHITE, new Color(107, 174, 214), t * 2) : mix(new Color(107, 174, 214), new Color(8, 48, 107), (t - 0.5) * 2);
    }

    private static Color mix(Color a, Color b, double t) {
        return new Color((int) Math.round(a.getRed() + (b.getRed() - a.getRed()) * t),
                (int) Math.round(a.getGreen() + (b.getGreen() - a.getGreen()) * t),
                (int) Math.round(a.getBlue() + (b.getBlue() - a.getBlue()) * t));
    }

    private static void render(Path out, int width, int height, Consumer<Canvas> draw) throws IOException {
        String name = out.getFileName().toString().toLowerCase(Locale.ROOT);
        Path tmp = io.headscan.AtomicFiles.tempBeside(out);
        try {
            if (name.endsWith(".svg")) {
                SvgCanvas svg = new SvgCanvas(width, height);
                draw.accept(svg);
                Files.writeString(tmp, svg.document(), StandardCharsets.UTF_8);
            } else if (name.endsWith(".png")) {
                try (OutputStream os = new java.io.BufferedOutputStream(Files.newOutputStream(tmp), 1 << 16)) {
                    PngCanvas.write(os, width, height, 2, draw);
                }
            } else {
                throw new IllegalArgumentException(out + ": figure files must end in .png or .svg");
            }
            io.headscan.AtomicFiles.move(tmp, out);
        } finally {
            io.headscan.AtomicFiles.discard(tmp);
        }
    }
}

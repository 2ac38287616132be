package io.headscan.report;

import java.awt.Color;
import java.util.Locale;

/** Writes figures as standalone SVG text. */
final class SvgCanvas implements Canvas {

    private final StringBuilder sb = new StringBuilder();
    private final int width, height;

    SvgCanvas(int width, int height) {
        this.width = width;
        this.height = height;
    }

    private static String c(Color c) {
        return c == null ? "none" : String.format(Locale.ROOT, "#%02x%02x%02x", c.getRed(), c.getGreen(), c.getBlue());
    }

    @Override
    public void rect(double x, double y, double w, double h, Color fill, Color stroke) {
        sb.append(String.format(Locale.ROOT, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"%s\" stroke=\"%s\"/>%n",
                x, y, w, h, c(fill), c(stroke)));
    }

    @Override
    public void line(double x1, double y1, double x2, double y2, Color color, double width) {
        sb.append(String.format(Locale.ROOT, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" stroke-width=\"%.2f\"/>%n",
                x1, y1, x2, y2, c(color), width));
    }

    @Override
    public void text(double x, double y, String s, double size, Anchor anchor, double degrees, Color color, boolean bold) {
        String a = switch (anchor) { case START -> "start"; case MIDDLE -> "middle"; case END -> "end"; };
        sb.append(String.format(Locale.ROOT, "<text x=\"%.2f\" y=\"%.2f\" font-family=\"DejaVu Sans, Arial, sans-serif\" font-size=\"%.1f\" "
                + "text-anchor=\"%s\" fill=\"%s\"%s%s>%s</text>%n", x, y, size, a, c(color), bold ? " font-weight=\"bold\"" : "",
                degrees == 0 ? "" : String.format(Locale.ROOT, " transform=\"rotate(%.1f %.2f %.2f)\"", degrees, x, y), escape(s)));
    }

    private static String escape(String s) {
        StringBuilder out = new StringBuilder();
        for (char ch : s.toCharArray()) {
            switch (ch) {
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '&' -> out.append("&amp;");
                case '"' -> out.append("&quot;");
                default -> out.append(ch < 0x20 ? ' ' : ch);
            }
        }
        return out.toString();
    }

    String document() {
        return "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                + String.format(Locale.ROOT, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">%n",
                width, height, width, height)
                + String.format(Locale.ROOT, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>%n", width, height)
                + sb + "</svg>\n";
    }
}

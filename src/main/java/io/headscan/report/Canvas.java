package io.headscan.report;

import java.awt.Color;

/** The few drawing operations figures need, rendered to PNG (Java2D) or SVG by the implementations. */
interface Canvas {

    enum Anchor { START, MIDDLE, END }

    void rect(double x, double y, double w, double h, Color fill, Color stroke);

    void line(double x1, double y1, double x2, double y2, Color color, double width);

    /** Text with its baseline at y; rotated by {@code degrees} around (x, y). */
    void text(double x, double y, String s, double size, Anchor anchor, double degrees, Color color, boolean bold);
}

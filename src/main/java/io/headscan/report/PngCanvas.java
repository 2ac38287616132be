package io.headscan.report;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.AffineTransform;
import java.awt.geom.Line2D;
import java.awt.geom.Rectangle2D;
import java.awt.image.BufferedImage;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.util.function.Consumer;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;

/**
 * Draws figures with Java2D (at {@code scale}× for sharp text) into a PNG, a horizontal strip at a time: the drawing is
 * replayed for each strip of {@link #STRIP} pixel rows and each strip's scanlines go straight into the compressed stream,
 * so a figure needs a few hundred kilobytes of heap whatever its size (a whole 1500×1400 image would need 8 MB, more than
 * the rest of a {@code score} run).
 */
final class PngCanvas implements Canvas {

    static final int STRIP = 64;

    private final Graphics2D g;

    private PngCanvas(Graphics2D g) {
        this.g = g;
    }

    /** Renders {@code draw} onto a {@code width × height} canvas scaled by {@code scale} and writes it as PNG (8-bit RGB). */
    static void write(OutputStream out, int width, int height, double scale, Consumer<Canvas> draw) throws IOException {
        int w = (int) Math.round(width * scale), h = (int) Math.round(height * scale);
        DataOutputStream png = new DataOutputStream(out);
        png.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        byte[] ihdr = java.nio.ByteBuffer.allocate(13).putInt(w).putInt(h).put((byte) 8).put((byte) 2).put((byte) 0).put((byte) 0).put((byte) 0).array();
        chunk(png, "IHDR", ihdr, ihdr.length);
        BufferedImage strip = new BufferedImage(w, STRIP, BufferedImage.TYPE_INT_RGB);
        int[] pixels = new int[w];
        byte[] line = new byte[1 + 3 * w];   // filter byte 0 (none), then R G B
        ChunkStream idat = new ChunkStream(png);
        Deflater deflater = new Deflater(6);
        try (DeflaterOutputStream z = new DeflaterOutputStream(idat, deflater, 1 << 16)) {
            for (int y0 = 0; y0 < h; y0 += STRIP) {
                Graphics2D g = strip.createGraphics();
                try {
                    g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
                    g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
                    g.setRenderingHint(RenderingHints.KEY_FRACTIONALMETRICS, RenderingHints.VALUE_FRACTIONALMETRICS_ON);
                    g.setColor(Color.WHITE);
                    g.fillRect(0, 0, w, STRIP);
                    g.translate(0, -y0);
                    g.scale(scale, scale);
                    draw.accept(new PngCanvas(g));
                } finally {
                    g.dispose();
                }
                for (int y = 0; y < Math.min(STRIP, h - y0); y++) {
                    strip.getRGB(0, y, w, 1, pixels, 0, w);
                    for (int x = 0; x < w; x++) {
                        int p = pixels[x];
                        line[1 + 3 * x] = (byte) (p >> 16);
                        line[2 + 3 * x] = (byte) (p >> 8);
                        line[3 + 3 * x] = (byte) p;
                    }
                    z.write(line);
                }
            }
        } finally {
            deflater.end();
        }
        chunk(png, "IEND", new byte[0], 0);
        png.flush();
    }

    private static void chunk(DataOutputStream out, String type, byte[] data, int length) throws IOException {
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        out.writeInt(length);
        out.write(t);
        out.write(data, 0, length);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data, 0, length);
        out.writeInt((int) crc.getValue());
    }

    /** Cuts the compressed stream into IDAT chunks of up to 64 KiB. */
    private static final class ChunkStream extends OutputStream {
        private final DataOutputStream out;
        private final byte[] buf = new byte[1 << 16];
        private int n;

        ChunkStream(DataOutputStream out) {
            this.out = out;
        }

        @Override
        public void write(int b) throws IOException {
            if (n == buf.length) flushChunk();
            buf[n++] = (byte) b;
        }

        @Override
        public void write(byte[] b, int off, int len) throws IOException {
            while (len > 0) {
                if (n == buf.length) flushChunk();
                int k = Math.min(len, buf.length - n);
                System.arraycopy(b, off, buf, n, k);
                n += k;
                off += k;
                len -= k;
            }
        }

        private void flushChunk() throws IOException {
            if (n > 0) chunk(out, "IDAT", buf, n);
            n = 0;
        }

        @Override
        public void close() throws IOException {
            flushChunk();   // the PNG stream itself stays open for IEND
        }
    }

    @Override
    public void rect(double x, double y, double w, double h, Color fill, Color stroke) {
        Rectangle2D r = new Rectangle2D.Double(x, y, w, h);
        if (fill != null) {
            g.setColor(fill);
            g.fill(r);
        }
        if (stroke != null) {
            g.setColor(stroke);
            g.setStroke(new BasicStroke(1f));
            g.draw(r);
        }
    }

    @Override
    public void line(double x1, double y1, double x2, double y2, Color color, double width) {
        g.setColor(color);
        g.setStroke(new BasicStroke((float) width));
        g.draw(new Line2D.Double(x1, y1, x2, y2));
    }

    @Override
    public void text(double x, double y, String s, double size, Anchor anchor, double degrees, Color color, boolean bold) {
        Font f = new Font(Font.SANS_SERIF, bold ? Font.BOLD : Font.PLAIN, 1).deriveFont((float) size);
        g.setFont(f);
        g.setColor(color);
        double w = g.getFontMetrics().getStringBounds(s, g).getWidth();
        double dx = switch (anchor) { case START -> 0; case MIDDLE -> -w / 2; case END -> -w; };
        AffineTransform saved = g.getTransform();
        g.translate(x, y);
        if (degrees != 0) g.rotate(Math.toRadians(degrees));
        g.drawString(s, (float) dx, 0f);
        g.setTransform(saved);
    }
}

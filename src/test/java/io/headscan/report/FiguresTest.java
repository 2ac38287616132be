package io.headscan.report;

import static org.junit.jupiter.api.Assertions.*;

import java.awt.Color;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import javax.xml.parsers.DocumentBuilderFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FiguresTest {

    @TempDir
    Path dir;

    static final double[][] VALUES = {{-0.2, 0.0, 0.1}, {0.4, -0.1, 0.05}};

    @Test
    void heatmapPngIsAnImageWithTheDivergingScale() throws Exception {
        System.setProperty("java.awt.headless", "true");
        Path png = dir.resolve("h.png");
        Figures.heatmap(png, VALUES, "test", "score − mean", true);
        BufferedImage img = ImageIO.read(png.toFile());
        assertNotNull(img);
        assertTrue(img.getWidth() > 300 && img.getHeight() > 150);
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temp file left");
        }
    }

    @Test
    void heatmapSvgIsWellFormedAndLabelled() throws Exception {
        Path svg = dir.resolve("h.svg");
        Figures.heatmap(svg, VALUES, "Prediction-Attention <test>", "score − mean", true);
        var doc = DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(svg.toFile());
        assertEquals("svg", doc.getDocumentElement().getNodeName());
        String text = Files.readString(svg);
        assertTrue(text.contains(">Layer<") && text.contains(">Head<") && text.contains("&lt;test&gt;"));
    }

    /** Any L x H (a one-head model, more layers than heads and the reverse, Pythia-12b's 36 x 40): a readable image, labelled. */
    @Test
    void heatmapsOfAnyShape() throws Exception {
        System.setProperty("java.awt.headless", "true");
        int lastWidth = 0;
        for (int[] lh : new int[][] {{1, 1}, {6, 4}, {3, 8}, {36, 40}}) {
            double[][] v = new double[lh[0]][lh[1]];
            for (int l = 0; l < lh[0]; l++) for (int h = 0; h < lh[1]; h++) v[l][h] = Math.sin(l * 7 + h) / 4;
            Path png = dir.resolve("h" + lh[0] + "x" + lh[1] + ".png");
            Figures.heatmap(png, v, lh[0] + " x " + lh[1], "score", true);
            BufferedImage img = ImageIO.read(png.toFile());
            assertNotNull(img, png.toString());
            assertTrue(img.getWidth() >= lastWidth, "wider with more heads");
            lastWidth = img.getWidth();
            Path svg = dir.resolve("h" + lh[0] + "x" + lh[1] + ".svg");
            Figures.heatmap(svg, v, lh[0] + " x " + lh[1], "score", true);
            DocumentBuilderFactory.newInstance().newDocumentBuilder().parse(svg.toFile());
            String text = Files.readString(svg);
            // the larger of the last layer and the last head cannot come from the other axis's labels
            int last = Math.max(lh[0], lh[1]) - 1;
            assertTrue(text.contains(">" + last + "<"), "the last " + (lh[0] > lh[1] ? "layer" : "head") + " is labelled: " + lh[0] + " x " + lh[1]);
            assertTrue(text.contains(">Layer<") && text.contains(">Head<"), text);
        }
    }

    @Test
    void divergingColoursAreCentredAtZero() {
        assertEquals(Color.WHITE, Figures.colour(0, -1, 1, true));
        Color pos = Figures.colour(1, -1, 1, true), neg = Figures.colour(-1, -1, 1, true);
        assertTrue(pos.getRed() > pos.getBlue(), "positive is red");
        assertTrue(neg.getBlue() > neg.getRed(), "negative is blue");
    }

    @Test
    void attentionPlotWithTokenLabels() throws Exception {
        Path svg = dir.resolve("a.svg");
        Figures.attention(svg, new double[][] {{0.9, 0.1}, {0.3, 0.7}}, List.of(" Mary", " John"), "head 0.0");
        String text = Files.readString(svg);
        assertTrue(text.contains("' Mary'") && text.contains("query token"), text);
        Path png = dir.resolve("a.png");
        Figures.attention(png, new double[][] {{0.9, 0.1}, {0.3, 0.7}}, null, "head 0.0");
        assertNotNull(ImageIO.read(png.toFile()));
    }

    @Test
    void unknownExtensionIsRejected() {
        assertThrows(IllegalArgumentException.class, () -> Figures.heatmap(dir.resolve("h.jpg"), VALUES, "t", "c", true));
    }
}

package io.headscan.model;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** The MLP non-linearities, against published values and against each other. */
class ActivationTest {

    @Test
    void erfMatchesPublishedValues() {
        // erf to 16 digits (Abramowitz & Stegun table 7.1; any CAS gives the same)
        double[][] known = {{0.1, 0.1124629160182849}, {0.5, 0.5204998778130465}, {1, 0.8427007929497149},
                {1.5, 0.9661051464753108}, {2, 0.9953222650189527}, {3, 0.9999779095030014}, {4, 0.9999999845827421}};
        for (double[] k : known) {
            assertEquals(k[1], Activation.erf(k[0]), 2e-15, "erf(" + k[0] + ")");
            assertEquals(-k[1], Activation.erf(-k[0]), 2e-15, "erf(-" + k[0] + ")");
            assertEquals(k[1], Activation.erfSeries(k[0]), 2e-15, "series erf(" + k[0] + ")");
        }
        assertEquals(0.0, Activation.erf(0.0));
        assertEquals(1.0, Activation.erf(7.5));
        assertEquals(-1.0, Activation.erf(Double.NEGATIVE_INFINITY));
        assertTrue(Double.isNaN(Activation.erf(Double.NaN)));
    }

    @Test
    void tabulatedErfAgreesWithTheSeriesBetweenAndAtItsGridPoints() {
        // off-grid points, grid midpoints (|h| largest) and the table's end
        double worst = 0;
        for (int i = -70_000; i <= 70_000; i++) {
            double x = i * (6.2 / 70_000) + 1.3e-5;
            worst = Math.max(worst, Math.abs(Activation.erf(x) - Activation.erfSeries(x)));
        }
        for (int k = 0; k < 6 * 64; k++) {
            double x = (k + 0.5) / 64;
            worst = Math.max(worst, Math.abs(Activation.erf(x) - Activation.erfSeries(x)));
        }
        // the series itself loses ~1e-14 to cancellation just below 2.5; a wrong Taylor term would show at 1e-9 or more
        assertTrue(worst < 3e-14, "largest |erf − series| " + worst);
    }

    @Test
    void geluVariantsAtKnownPoints() {
        // exact GELU x·Φ(x): Φ(1) = 0.8413447460685429
        assertEquals(0.8413447460685429, Activation.GELU_ERF.apply(1.0), 1e-15);
        assertEquals(-0.15865525393145707, Activation.GELU_ERF.apply(-1.0), 1e-15);
        // the tanh form differs from the exact one by < 1e-3 at 1, and is GPT-2's
        assertEquals(0.8411919906082768, Activation.GELU_TANH.apply(1.0), 1e-15);
        assertEquals(0.0, Activation.RELU.apply(-2.0));
        assertEquals(2.0, Activation.RELU.apply(2.0));
    }
}

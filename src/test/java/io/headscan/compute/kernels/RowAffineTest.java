package io.headscan.compute.kernels;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.model.Matrix;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** The row step in C and in Java against a double-precision computation written from docs/science.md §0. */
class RowAffineTest {

    private static final int COLS = 77, LD = 83;

    @org.junit.jupiter.api.BeforeAll
    static void loadTheCKernels() {
        assertTrue(NativeKernels.load().isPresent(), "the build has a C compiler here: " + NativeKernels.loadError());
    }

    /** A rows × COLS matrix (leading dimension LD) at an unaligned address, as inside a mapped safetensors file. */
    private static Matrix matrix(Arena arena, int rows, Random rnd) {
        MemorySegment seg = arena.allocate((long) rows * LD * 4 + 8).asSlice(2);
        Matrix m = new Matrix(seg, 0, rows, COLS, LD);
        for (int r = 0; r < rows; r++) for (int c = 0; c < COLS; c++) m.set(r, c, (float) (rnd.nextGaussian() * 3 + 0.5));
        return m;
    }

    private static float[] vector(Random rnd) {
        float[] v = new float[COLS];
        for (int i = 0; i < COLS; i++) v[i] = (float) rnd.nextGaussian();
        return v;
    }

    private static double[] reference(RowAffine f, Matrix x, int row, Matrix add, int addRow) {
        double[] v = new double[COLS];
        for (int j = 0; j < COLS; j++) {
            v[j] = x.get(row, j);
            if (f.preScale() != null) v[j] *= f.preScale()[j];
            if (f.preBias() != null) v[j] += f.preBias()[j];
        }
        if (f.norm() != RowAffine.Norm.NONE) {
            double mean = 0;
            for (double a : v) mean += a / COLS;
            for (int j = 0; j < COLS; j++) v[j] -= mean;
            if (f.norm() == RowAffine.Norm.LNPRE) {
                double ms = 0;
                for (double a : v) ms += a * a / COLS;
                for (int j = 0; j < COLS; j++) v[j] /= Math.sqrt(ms + 1e-5);
            }
        }
        for (int j = 0; j < COLS; j++) {
            if (f.scale() != null) v[j] *= f.scale()[j];
            if (f.bias() != null) v[j] += f.bias()[j];
            if (add != null) v[j] += add.get(addRow, j);
        }
        return v;
    }

    @Test
    void everyStepInCAndJavaMatchesDoubleReference() {
        Random rnd = new Random(11);
        float[] ps = vector(rnd), pb = vector(rnd), g = vector(rnd), b = vector(rnd);
        RowAffine[] steps = {
            RowAffine.scaled(g),
            RowAffine.normed(RowAffine.Norm.CENTER, null, null),
            RowAffine.normed(RowAffine.Norm.LNPRE, g, b),
            new RowAffine(ps, pb, RowAffine.Norm.LNPRE, g, b),
            new RowAffine(ps, null, RowAffine.Norm.CENTER, null, b),
        };
        int[] index = {40, 3, 3, 0, 57, 12, 99, 1, 64, 8, 21, 33, 70, 5, 2, 18, 90, 44, 61, 7, 29, 80, 15, 50, 95, 36, 11, 74, 66, 23, 47, 88,
                       9, 31, 53, 77, 4, 58, 26, 13};
        try (Arena arena = Arena.ofShared()) {
            Matrix x = matrix(arena, 100, rnd), add = matrix(arena, index.length, rnd);
            for (RowAffine f : steps) {
                for (boolean inC : new boolean[] {true, false}) {
                    Matrix y = matrix(arena, index.length, rnd);
                    f.apply(x, index, add, y, inC);
                    for (int r = 0; r < index.length; r++) {
                        double[] want = reference(f, x, index[r], add, r);
                        for (int j = 0; j < COLS; j++) {
                            assertEquals(want[j], y.get(r, j), 2e-5 * (1 + Math.abs(want[j])), (inC ? "C" : "Java") + " " + f.norm() + " row " + r + " col " + j);
                        }
                    }
                    Matrix z = matrix(arena, 100, rnd);
                    f.apply(x, null, null, z, inC);
                    for (int r = 0; r < 100; r += 9) {
                        double[] want = reference(f, x, r, null, 0);
                        for (int j = 0; j < COLS; j++) assertEquals(want[j], z.get(r, j), 2e-5 * (1 + Math.abs(want[j])));
                    }
                }
            }
        }
    }

    @Test
    void inPlaceWithTheResidualInTheOutput() {
        Random rnd = new Random(5);
        try (Arena arena = Arena.ofShared()) {
            Matrix att = matrix(arena, 64, rnd);
            for (boolean inC : new boolean[] {true, false}) {
                Matrix r = matrix(arena, 64, new Random(9));
                Matrix before = matrix(arena, 64, new Random(9));
                RowAffine.normed(RowAffine.Norm.CENTER, null, null).apply(att, null, r, r, inC);   // r <- cd(att) + r
                for (int i = 0; i < 64; i++) {
                    double[] want = reference(RowAffine.normed(RowAffine.Norm.CENTER, null, null), att, i, before, i);
                    for (int j = 0; j < COLS; j++) assertEquals(want[j], r.get(i, j), 2e-5 * (1 + Math.abs(want[j])));
                }
            }
        }
    }

    @Test
    void confinedMemoryStaysOnTheCallingThread() {
        try (Arena arena = Arena.ofConfined()) {
            Matrix x = matrix(arena, 200, new Random(2)), y = matrix(arena, 200, new Random(3));
            for (boolean inC : new boolean[] {true, false}) {
                RowAffine.normed(RowAffine.Norm.LNPRE, null, null).apply(x, null, null, y, inC);
                double[] want = reference(RowAffine.normed(RowAffine.Norm.LNPRE, null, null), x, 199, null, 0);
                assertEquals(want[5], y.get(199, 5), 2e-5 * (1 + Math.abs(want[5])));
            }
        }
    }

    @Test
    void badArgumentsAreRefusedBeforeAnythingIsWritten() {
        try (Arena arena = Arena.ofShared()) {
            Random rnd = new Random(1);
            Matrix x = matrix(arena, 4, rnd), y = matrix(arena, 2, rnd);
            float before = y.get(0, 0);
            RowAffine f = RowAffine.normed(RowAffine.Norm.LNPRE, null, null);
            assertThrows(IndexOutOfBoundsException.class, () -> f.apply(x, new int[] {0, 4}, null, y));
            assertThrows(IllegalArgumentException.class, () -> RowAffine.scaled(new float[3]).apply(x, null, y));
            assertThrows(IllegalArgumentException.class, () -> f.apply(x, new int[] {1}, null, y));
            assertEquals(before, y.get(0, 0));
        }
    }
}

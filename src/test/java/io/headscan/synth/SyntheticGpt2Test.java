package io.headscan.synth;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.format.SafetensorsFile;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.reference.ReferenceScience;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class SyntheticGpt2Test {

    @TempDir
    Path dir;

    @Test
    void sameSeedGivesSameBytesWhateverTheThreadCount() throws IOException {
        Dims dims = new Dims(300, 32, 2, 2, 64, 8);
        new SyntheticGpt2(dims, 7, List.of(new HeadId(1, 1))).write(dir.resolve("a"), 1);
        new SyntheticGpt2(dims, 7, List.of(new HeadId(1, 1))).write(dir.resolve("b"), 4);
        new SyntheticGpt2(dims, 8, List.of(new HeadId(1, 1))).write(dir.resolve("c"), 2);
        byte[] a = Files.readAllBytes(dir.resolve("a/model.safetensors"));
        assertArrayEquals(a, Files.readAllBytes(dir.resolve("b/model.safetensors")));
        assertFalse(Arrays.equals(a, Files.readAllBytes(dir.resolve("c/model.safetensors"))));
    }

    /** These bytes were written by headscan before synth learned other families: the GPT-2 output must not move. */
    @Test
    void bytesAreThoseWrittenBeforeFamilies() throws Exception {
        new SyntheticGpt2(new Dims(700, 64, 4, 4, 256, 16), 9, List.of(new HeadId(0, 1), new HeadId(2, 3), new HeadId(3, 0))).write(dir, 2);
        java.security.MessageDigest sha = java.security.MessageDigest.getInstance("SHA-256");
        assertEquals("b85f7b57cd2ceba45e88b72819861282ec02e777236abe09a81080fd070f6b84",
                java.util.HexFormat.of().formatHex(sha.digest(Files.readAllBytes(dir.resolve("model.safetensors")))));
        assertEquals("e8dae0714cae14f73c0a4e38c29661f55db86d164bf7ac1b4cfad221c4204e22",
                java.util.HexFormat.of().formatHex(sha.digest(Files.readAllBytes(dir.resolve("config.json")))));
    }

    @Test
    void writesTheFullGpt2LayoutWithMaskBuffersAndConfig() throws IOException {
        Dims dims = new Dims(64, 24, 12, 2, 96, 16);
        new SyntheticGpt2(dims, 0, List.of()).write(dir, 2);
        try (Model m = Model.open(dir)) {
            assertEquals(160, m.tensors().size());
            assertEquals(dims, m.dims());
            assertEquals(Model.HeadCountSource.CONFIG, m.headCountSource());
            assertEquals("pt", m.file().metadata().get("format"));
            var mask = m.file().segment("h.3.attn.bias");
            assertEquals(1f, mask.getAtIndex(SafetensorsFile.F32_LE, 16 + 1)); // row 1, col 1
            assertEquals(0f, mask.getAtIndex(SafetensorsFile.F32_LE, 16 + 2)); // row 1, col 2: future
        }
        String config = Files.readString(dir.resolve("config.json"));
        assertTrue(config.contains("\"n_head\" : 2"), config);
        assertTrue(config.contains("gelu_new"), config);
    }

    @Test
    void weightScalesAreOfTheOrderOfRealGpt2() throws IOException {
        Dims dims = new Dims(2000, 64, 2, 2, 256, 16);
        new SyntheticGpt2(dims, 1, List.of()).write(dir, 2);
        try (Model m = Model.open(dir)) {
            float[] e = m.embedding().toArray();
            double ss = 0;
            for (float x : e) ss += x * x;
            assertEquals(SyntheticGpt2.WTE_STD, Math.sqrt(ss / e.length), 0.01);
            float[] ln = m.vector("ln_f.weight");
            for (float x : ln) assertTrue(x > 0.5 && x < 1.5);
        }
    }

    /**
     * The planted structure is what the Prediction-Attention score (docs/science.md §3) detects: with the
     * double-precision reference, planted heads rank first of all heads, in every variant.
     */
    @Test
    void plantedHeadsRankFirstByThePredictionAttentionScore() throws IOException {
        Dims dims = new Dims(512, 64, 12, 4, 256, 16);
        List<HeadId> plant = List.of(new HeadId(10, 3), new HeadId(11, 1));
        new SyntheticGpt2(dims, 11, plant).write(dir, 2);
        try (Model m = Model.open(dir)) {
            ReferenceScience ref = new ReferenceScience(m);
            Random rnd = new Random(0);
            int[][] bags = new int[3][];
            for (int b = 0; b < bags.length; b++) {
                List<Integer> ids = new ArrayList<>();
                for (int i = 0; i < dims.vocab(); i++) ids.add(i);
                java.util.Collections.shuffle(ids, rnd);
                bags[b] = ids.subList(0, 32).stream().mapToInt(Integer::intValue).toArray();
            }
            for (ReferenceScience.Variant v : ReferenceScience.Variant.values()) {
                List<double[]> scores = new ArrayList<>();
                for (int l = 0; l < dims.layers(); l++) {
                    for (int h = 0; h < dims.heads(); h++) {
                        double s = 0;
                        for (int[] bag : bags) s += ref.bagScore(new HeadId(l, h), bag, v);
                        scores.add(new double[] {l, h, s / bags.length});
                    }
                }
                scores.sort(Comparator.comparingDouble((double[] x) -> -x[2]));
                List<HeadId> top = List.of(new HeadId((int) scores.get(0)[0], (int) scores.get(0)[1]),
                        new HeadId((int) scores.get(1)[0], (int) scores.get(1)[1]));
                assertTrue(top.containsAll(plant), v + ": top two " + top + " scores " + scores.get(0)[2] + ", " + scores.get(1)[2]
                        + ", third " + scores.get(2)[2]);
                assertTrue(scores.get(1)[2] > 0.5, v + ": planted heads attend to the predicted token: " + scores.get(1)[2]);
                assertTrue(scores.get(2)[2] < 0.2, v + ": unplanted heads stay diffuse: " + scores.get(2)[2]);
            }
        }
    }
}

package io.headscan.circuits;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.Progress;
import io.headscan.compute.Backend;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;
import io.headscan.reference.ReferenceScience;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import io.headscan.testing.ParityFixture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The full-vocabulary paths against the double-precision reference at a vocabulary that crosses every tile and block
 * edge: 3 whole 1024-row W_EE tiles and a partial one, one whole 2048-key block and a partial one, 25 whole 128-row
 * query tiles and a partial one, and the OV / IOI tiles over the vocabulary. A row lost, doubled or shifted at an edge
 * changes these numbers.
 */
class TileEdgeParityTest {

    static final int V = 3 * 1024 + 128 + 37;   // 3237: a multiple of none of the tile sizes
    static final Dims DIMS = new Dims(V, 32, 2, 2, 64, 8);
    static final List<HeadId> HEADS = List.of(new HeadId(1, 1), new HeadId(0, 0));

    @TempDir
    static Path dir;
    static ParityFixture fixture;
    static Model model;
    static ReferenceScience ref;

    @BeforeAll
    static void setUp() throws IOException {
        fixture = ParityFixture.synth(dir, DIMS, 33, List.of(new HeadId(1, 1)));
        model = fixture.model();
        ref = fixture.ref();
    }

    @AfterAll
    static void tearDown() {
        fixture.close();
    }

    static Stream<String> backendNames() {
        return ParityFixture.backendNames().stream();
    }

    static Backend backend(String name) {
        return fixture.backend(name);
    }

    @Test
    void theVocabularyCrossesEveryEdge() {
        for (int tile : new int[] {EffectiveEmbedding.DEFAULT_TILE, FactoredScores.COLUMN_BLOCK, FactoredScores.ROW_TILE}) {
            assertTrue(V > tile && V % tile != 0, "V = " + V + " must cross tiles of " + tile);
        }
        assertTrue(V > 3 * EffectiveEmbedding.DEFAULT_TILE, "several whole W_EE tiles");
    }

    static Matrix wee(Arena arena, Backend b, Variant v) {
        Matrix m = Matrix.dense(arena.allocate((long) V * DIMS.dModel() * 4), V, DIMS.dModel());
        new EffectiveEmbedding(model, b, v).computeAll(m, Progress.NONE);
        return m;
    }

    @ParameterizedTest
    @MethodSource("backendNames")
    void effectiveEmbeddingRowsAtTileEdges(String backend) {
        try (Arena arena = Arena.ofShared()) {
            Matrix w = wee(arena, backend(backend), Variant.FULL);
            for (int t : new int[] {0, 1023, 1024, 2047, 2048, 3071, 3072, V - 2, V - 1}) {
                double[] expected = ref.wee(t, ReferenceScience.Variant.FULL);
                double norm = 0;
                for (double x : expected) norm += x * x;
                norm = Math.sqrt(norm);
                for (int i = 0; i < DIMS.dModel(); i++) assertEquals(expected[i], w.get(t, i), 2e-5 * norm + 1e-6, "token " + t + " dim " + i);
            }
        }
    }

    @ParameterizedTest
    @MethodSource("backendNames")
    void fullVocabularyStatisticsAcrossBlocks(String backend) {
        try (Arena arena = Arena.ofShared();
             FullVocabQK qk = new FullVocabQK(model, backend(backend), wee(arena, backend(backend), Variant.FULL))) {
            for (HeadId h : HEADS) {
                FullVocabQK.HeadStats got = qk.head(h, Progress.NONE);
                int[][] ranks = new int[1][];
                double mean = ref.fullVocab(h, ReferenceScience.Variant.FULL, ranks)[0];
                ReferenceScience.Ranks r = ReferenceScience.Ranks.of(ranks[0]);
                assertEquals(mean, got.meanDiagProb(), 2e-6, h + " mean_diag_prob");
                assertEquals(r.frac0(), got.ranks().fracRank0(), 2.0 / V, h + " frac_rank0");
                assertEquals(r.fracLt10(), got.ranks().fracRankLt10(), 2.0 / V, h + " frac_rank_lt10");
                assertEquals(r.median(), got.ranks().medianRank(), 1.0, h + " median");
                assertEquals(r.mean(), got.ranks().meanRank(), 0.05, h + " mean rank");
            }
        }
    }

    @ParameterizedTest
    @MethodSource("backendNames")
    void ovStatisticsAndCopyScoresAcrossTiles(String backend) {
        try (Arena arena = Arena.ofShared();
             OvCircuit ov = new OvCircuit(model, backend(backend), wee(arena, backend(backend), Variant.FULL))) {
            HeadId h = new HeadId(1, 1);
            OvCircuit.HeadStats got = ov.ranks(h, Progress.NONE);
            int[][] r = ref.ovRanks(h, ReferenceScience.Variant.FULL);
            ReferenceScience.Ranks neg = ReferenceScience.Ranks.of(r[0]), pos = ReferenceScience.Ranks.of(r[1]);
            assertEquals(neg.frac0(), got.negative().fracRank0(), 2.0 / V, "negative rank0");
            assertEquals(neg.mean(), got.negative().meanRank(), 0.05, "negative mean");
            assertEquals(pos.mean(), got.positive().meanRank(), 0.05, "positive mean");
            // names on both sides of the 1024-token logit tiles, and in the last, partial one
            int[] names = {3, 1023, 1024, 2047, 2048, 3100, V - 1};
            double[] expected = ref.copyScores(h, names);
            OvCircuit.CopyScores cs = ov.copyScores(h, names);
            assertEquals(expected[0], cs.copyScore(), 1e-9, "copy score");
            assertEquals(expected[1], cs.negativeCopyScore(), 1e-9, "negative copy score");
            // the token pushed most for a source in the last tile
            double[] m = ref.ovLogits(h, V - 1, ReferenceScience.Variant.FULL);
            int best = 0;
            for (int j = 1; j < m.length; j++) if (m[j] > m[best]) best = j;
            assertEquals(best, ov.pushed(h, V - 1, 1).get(0).get(0).token());
        }
    }
}

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
import java.util.stream.IntStream;
import java.util.stream.Stream;
import io.headscan.testing.ParityFixture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The fast path (float, BLAS, tiles) against {@link ReferenceScience} (double, written from the spec,
 * no shared code) on a small synthetic checkpoint, for every backend and variant.
 */
class ScienceParityTest {

    static final Dims DIMS = new Dims(300, 32, 3, 2, 80, 8);
    static final List<HeadId> HEADS = List.of(new HeadId(0, 1), new HeadId(2, 1), new HeadId(1, 0));

    @TempDir
    static Path dir;
    static ParityFixture fixture;
    static Model model;
    static ReferenceScience ref;

    @BeforeAll
    static void setUp() throws IOException {
        fixture = ParityFixture.synth(dir, DIMS, 21, List.of(new HeadId(2, 1)));
        model = fixture.model();
        ref = fixture.ref();
    }

    @AfterAll
    static void tearDown() {
        fixture.close();
    }

    static Stream<Arguments> backendsAndVariants() {
        return ParityFixture.backendNames().stream().flatMap(b -> Stream.of(Variant.values()).map(v -> Arguments.of(b, v)));
    }

    static Stream<String> backendNames() {
        return ParityFixture.backendNames().stream();
    }

    static Backend backend(String name) {
        return fixture.backend(name);
    }

    static ReferenceScience.Variant refVariant(Variant v) {
        return ReferenceScience.Variant.valueOf(v.name());
    }

    static Matrix wee(Arena arena, Backend b, Variant v) {
        Matrix m = Matrix.dense(arena.allocate((long) DIMS.vocab() * DIMS.dModel() * 4), DIMS.vocab(), DIMS.dModel());
        new EffectiveEmbedding(model, b, v).computeAll(m, Progress.NONE);
        return m;
    }

    @ParameterizedTest
    @MethodSource("backendsAndVariants")
    void effectiveEmbeddingMatchesReference(String backend, Variant v) {
        try (Arena arena = Arena.ofShared()) {
            Matrix w = wee(arena, backend(backend), v);
            for (int t : new int[] {0, 7, 150, 299}) {
                double[] expected = ref.wee(t, refVariant(v));
                double norm = 0;
                for (double x : expected) norm += x * x;
                norm = Math.sqrt(norm);
                for (int i = 0; i < DIMS.dModel(); i++) {
                    assertEquals(expected[i], w.get(t, i), 2e-5 * norm + 1e-6, v + " token " + t + " dim " + i);
                }
            }
        }
    }

    @ParameterizedTest
    @MethodSource("backendNames")
    void unembeddingMatchesReference(String backend) {
        Unembedding u = new Unembedding(model);
        float[] col = new float[DIMS.dModel()];
        for (int t : new int[] {0, 99, 299}) {
            u.column(t, col);
            for (int i = 0; i < DIMS.dModel(); i++) assertEquals(ref.u(i, t), col[i], 1e-5, "U[" + i + ", " + t + "]");
        }
    }

    @ParameterizedTest
    @MethodSource("backendsAndVariants")
    void predictionAttentionMatchesReference(String backend, Variant v) {
        List<int[]> bags = Bags.random(DIMS.vocab(), 16, 3, 5, false);
        PredictionAttention.Result r = new PredictionAttention(model, backend(backend), v).score(bags, Progress.NONE);
        for (int l = 0; l < DIMS.layers(); l++) {
            for (int h = 0; h < DIMS.heads(); h++) {
                double expected = 0;
                for (int[] bag : bags) expected += ref.bagScore(new HeadId(l, h), bag, refVariant(v));
                expected /= bags.size();
                assertEquals(expected, r.scores()[l][h], 2e-5, v + " head " + l + "." + h);
            }
        }
        assertEquals(new HeadId(2, 1), r.ranking().get(0), "the planted head ranks first");
    }

    @ParameterizedTest
    @MethodSource("backendNames")
    void attentionPatternRowsAreSoftmaxesOfTheReferenceScores(String backend) {
        int[] bag = {3, 50, 77, 120, 299};
        HeadId h = new HeadId(1, 1);
        double[][] p = new PredictionAttention(model, backend(backend), Variant.HACKATHON).pattern(h, bag);
        double[][] s = ref.scores(h, bag, bag, ReferenceScience.Variant.HACKATHON);
        for (int t = 0; t < bag.length; t++) {
            double z = 0;
            for (double x : s[t]) z += Math.exp(x);
            for (int j = 0; j < bag.length; j++) assertEquals(Math.exp(s[t][j]) / z, p[t][j], 1e-5);
        }
    }

    @ParameterizedTest
    @MethodSource("backendsAndVariants")
    void fullVocabularyStatisticsMatchReference(String backend, Variant v) {
        try (Arena arena = Arena.ofShared()) {
            FullVocabQK qk = new FullVocabQK(model, backend(backend), wee(arena, backend(backend), v));
            for (HeadId h : HEADS) {
                FullVocabQK.HeadStats got = qk.head(h, Progress.NONE);
                int[][] ranks = new int[1][];
                double mean = ref.fullVocab(h, refVariant(v), ranks)[0];
                ReferenceScience.Ranks r = ReferenceScience.Ranks.of(ranks[0]);
                assertEquals(mean, got.meanDiagProb(), 2e-6, v + " " + h + " mean_diag_prob");
                double oneToken = 1.0 / DIMS.vocab();
                assertEquals(r.frac0(), got.ranks().fracRank0(), oneToken, h + " frac_rank0");
                assertEquals(r.fracLt10(), got.ranks().fracRankLt10(), oneToken, h + " frac_rank_lt10");
                assertEquals(r.median(), got.ranks().medianRank(), 1.0, h + " median");
                assertEquals(r.mean(), got.ranks().meanRank(), 0.05, h + " mean rank");
            }
        }
    }

    @ParameterizedTest
    @MethodSource("backendNames")
    void ovRankStatisticsMatchReference(String backend) {
        try (Arena arena = Arena.ofShared()) {
            OvCircuit ov = new OvCircuit(model, backend(backend), wee(arena, backend(backend), Variant.FULL));
            for (HeadId h : HEADS) {
                OvCircuit.HeadStats got = ov.ranks(h, Progress.NONE);
                int[][] r = ref.ovRanks(h, ReferenceScience.Variant.FULL);
                ReferenceScience.Ranks neg = ReferenceScience.Ranks.of(r[0]), pos = ReferenceScience.Ranks.of(r[1]);
                double oneToken = 1.0 / DIMS.vocab();
                assertEquals(neg.frac0(), got.negative().fracRank0(), oneToken, h + " negative rank0");
                assertEquals(neg.fracLt10(), got.negative().fracRankLt10(), oneToken, h + " negative rank<10");
                assertEquals(neg.mean(), got.negative().meanRank(), 0.05, h + " negative mean");
                assertEquals(pos.median(), got.positive().medianRank(), 1.0, h + " positive median");
                assertEquals(pos.mean(), got.positive().meanRank(), 0.05, h + " positive mean");
            }
            // the planted head suppresses its own token far more often than an unplanted one
            assertTrue(ov.ranks(new HeadId(2, 1), Progress.NONE).negative().fracRank0()
                    > 10 * ov.ranks(new HeadId(1, 0), Progress.NONE).negative().fracRank0() + 0.3);
        }
    }

    @ParameterizedTest
    @MethodSource("backendNames")
    void pushedTokensAreTheReferenceExtremes(String backend) {
        try (Arena arena = Arena.ofShared()) {
            OvCircuit ov = new OvCircuit(model, backend(backend), wee(arena, backend(backend), Variant.FULL));
            HeadId h = new HeadId(1, 0);
            double[] m = ref.ovLogits(h, 42, ReferenceScience.Variant.FULL);
            Integer[] order = IntStream.range(0, m.length).boxed().sorted((a, b) -> Double.compare(m[b], m[a])).toArray(Integer[]::new);
            List<List<OvCircuit.Pushed>> pushed = ov.pushed(h, 42, 3);
            for (int i = 0; i < 3; i++) {
                assertEquals(order[i], pushed.get(0).get(i).token());
                assertEquals(m[order[i]], pushed.get(0).get(i).logit(), 1e-4);
                assertEquals(order[m.length - 1 - i], pushed.get(1).get(i).token());
            }
            // averaged over sources: the mean of the reference rows
            double[] avg = new double[m.length];
            for (int s = 0; s < DIMS.vocab(); s++) {
                double[] row = ref.ovLogits(h, s, ReferenceScience.Variant.FULL);
                for (int j = 0; j < avg.length; j++) avg[j] += row[j] / DIMS.vocab();
            }
            int best = 0;
            for (int j = 1; j < avg.length; j++) if (avg[j] > avg[best]) best = j;
            OvCircuit.Pushed top = ov.pushed(h, -1, 1).get(0).get(0);
            assertEquals(best, top.token());
            assertEquals(avg[best], top.logit(), 1e-4);
        }
    }

    @ParameterizedTest
    @MethodSource("backendNames")
    void copyScoresMatchReference(String backend) {
        try (Arena arena = Arena.ofShared()) {
            OvCircuit ov = new OvCircuit(model, backend(backend), wee(arena, backend(backend), Variant.FULL));
            int[] names = {5, 17, 42, 99, 123, 200, 250, 299};
            for (HeadId h : List.of(new HeadId(2, 1), new HeadId(0, 0))) {
                OvCircuit.CopyScores got = ov.copyScores(h, names);
                double[] expected = ref.copyScores(h, names);
                assertEquals(expected[0], got.copyScore(), 1e-9, h + " copy score");
                assertEquals(expected[1], got.negativeCopyScore(), 1e-9, h + " negative copy score");
            }
            assertTrue(ov.copyScores(new HeadId(2, 1), names).negativeCopyScore() >= 0.75, "the planted head negatively copies names");
        }
    }
}

package io.headscan.circuits;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.Progress;
import io.headscan.compute.Backend;
import io.headscan.compute.openblas.OpenBlasBackend;
import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.model.HeadId;
import io.headscan.model.Matrix;
import io.headscan.synth.SyntheticGpt2;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** synth --plant builds heads that the science must find: first in score, highest mean_diag_prob in fullvocab. */
class PlantedHeadsTest {

    @TempDir
    Path dir;

    @Test
    void plantedHeadsRankFirstInScoreAndFullVocab() throws Exception {
        Dims dims = new Dims(3000, 128, 12, 4, 512, 16);
        List<HeadId> plant = List.of(new HeadId(10, 3), new HeadId(11, 2));
        new SyntheticGpt2(dims, 3, plant).write(dir, 2);
        try (Model m = Model.open(dir); Backend b = OpenBlasBackend.open(Optional.empty(), 2); Arena arena = Arena.ofShared()) {
            for (Variant v : Variant.values()) {
                PredictionAttention.Result r = new PredictionAttention(m, b, v).score(Bags.random(dims.vocab(), 128, 4, 0, false), Progress.NONE);
                assertEquals(plant, r.ranking().subList(0, 2).stream().sorted().toList(), v + ": " + r.ranking().subList(0, 4));
            }
            Matrix wee = Matrix.dense(arena.allocate((long) dims.vocab() * dims.dModel() * 4), dims.vocab(), dims.dModel());
            new EffectiveEmbedding(m, b, Variant.FULL).computeAll(wee, Progress.NONE);
            FullVocabQK qk = new FullVocabQK(m, b, wee);
            List<FullVocabQK.HeadStats> stats = List.of(new HeadId(10, 3), new HeadId(11, 2), new HeadId(10, 0), new HeadId(11, 1),
                    new HeadId(0, 0), new HeadId(5, 2)).stream().map(h -> qk.head(h, Progress.NONE))
                    .sorted(Comparator.comparingDouble(s -> -s.meanDiagProb())).toList();
            assertEquals(plant, stats.subList(0, 2).stream().map(FullVocabQK.HeadStats::head).sorted().toList(), stats.toString());
            assertTrue(stats.get(1).meanDiagProb() > 100 * stats.get(2).meanDiagProb(), stats.toString());
            assertTrue(stats.get(1).ranks().fracRank0() > 0.8, stats.toString());
        }
    }
}

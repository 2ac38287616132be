package io.headscan.sweep;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.hub.HubRefs.Ref;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** Listing a training run's branches: matching, step order, thinning, pinning. */
class RevisionsTest {

    /** The 609 checkpoints of a Stanford CRFM run (TransformerLens' list), as the Hub lists them: sorted as strings. */
    static List<Ref> crfm() {
        List<Long> steps = new ArrayList<>();
        for (long s = 0; s < 100; s += 10) steps.add(s);
        for (long s = 100; s < 2000; s += 50) steps.add(s);
        for (long s = 2000; s < 20000; s += 100) steps.add(s);
        for (long s = 20000; s <= 400000; s += 1000) steps.add(s);
        List<Ref> refs = new ArrayList<>();
        for (long s : steps) refs.add(new Ref("checkpoint-" + s, String.format("%040x", s), false));
        refs.add(new Ref("main", "f".repeat(40), false));
        refs.sort(java.util.Comparator.comparing(Ref::name));
        return refs;
    }

    @Test
    void theCrfmSeriesInStepOrder() {
        List<Checkpoint> all = Checkpoints.revisions("stanford-gpt2-small-a", crfm(), List.of("checkpoint-*"), Long.MIN_VALUE, Long.MAX_VALUE, 1, Optional.empty());
        assertEquals(609, all.size());
        assertEquals("checkpoint-0", all.getFirst().revision());
        assertEquals("checkpoint-10", all.get(1).revision());
        assertEquals("checkpoint-400000", all.getLast().revision());
        for (int i = 1; i < all.size(); i++) assertTrue(all.get(i - 1).step().getAsLong() < all.get(i).step().getAsLong());
        assertEquals(String.format("%040x", 150), all.stream().filter(c -> c.revision().equals("checkpoint-150")).findFirst().orElseThrow().commit(),
                "pinned to the commit listed");
        List<Checkpoint> early = Checkpoints.revisions("r", crfm(), List.of("checkpoint-*"), 100, 2000, 5, Optional.empty());
        assertEquals(List.of(100L, 350L, 600L, 850L, 1100L, 1350L, 1600L, 1850L),
                early.stream().map(c -> c.step().getAsLong()).toList(), "steps 100-2000 (39 branches), every fifth");
        assertEquals(2, Checkpoints.revisions("r", crfm(), List.of("checkpoint-1?", "main"), Long.MIN_VALUE, Long.MAX_VALUE, 1, Optional.empty()).size(),
                "checkpoint-10 and main (main last: no step)");
    }

    @Test
    void stepRangesAndBadOptions() {
        assertArrayEquals(new long[] {0, 2000}, Checkpoints.stepRange("0-2000"));
        assertArrayEquals(new long[] {5000, Long.MAX_VALUE}, Checkpoints.stepRange("5000-"));
        assertArrayEquals(new long[] {Long.MIN_VALUE, 900}, Checkpoints.stepRange("-900"));
        assertArrayEquals(new long[] {7, 7}, Checkpoints.stepRange("7"));
        assertThrows(IllegalArgumentException.class, () -> Checkpoints.stepRange("9-1"));
        assertThrows(IllegalArgumentException.class, () -> Checkpoints.stepRange("a-b"));
        assertThrows(IllegalArgumentException.class, () -> Checkpoints.revisions("r", crfm(), List.of("x"), 0, 1, 0, Optional.empty()));
    }
}

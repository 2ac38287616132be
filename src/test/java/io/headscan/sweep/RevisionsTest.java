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

    /** The 154 steps of a Pythia model (TransformerLens' PYTHIA_CHECKPOINTS): 0, the powers of two to 512, 1000 to 143000 by 1000. */
    static List<Long> pythiaSteps() {
        List<Long> steps = new ArrayList<>(List.of(0L));
        for (long s = 1; s <= 512; s *= 2) steps.add(s);
        for (long s = 1000; s <= 143000; s += 1000) steps.add(s);
        return steps;
    }

    /** A Pythia repository's branches as the Hub lists them (sorted as strings: step1, step1000, step10000, step100000 …), and main. */
    static List<Ref> pythia(List<Long> steps) {
        List<Ref> refs = new ArrayList<>();
        for (long s : steps) refs.add(new Ref("step" + s, String.format("%040x", 0xa000000L + s), false));
        refs.add(new Ref("main", "e".repeat(40), false));
        refs.sort(java.util.Comparator.comparing(Ref::name));
        return refs;
    }

    private static List<Long> steps(List<Checkpoint> cs) {
        return cs.stream().map(c -> c.step().getAsLong()).toList();
    }

    @Test
    void thePythiaSeriesInStepOrder() {
        List<Long> expected = pythiaSteps();
        assertEquals(154, expected.size());
        List<Ref> refs = pythia(expected);
        assertEquals(List.of("main", "step0", "step1", "step1000", "step10000", "step100000", "step101000"),
                refs.subList(0, 7).stream().map(Ref::name).toList(), "the listing this has to reorder");
        List<Checkpoint> all = Checkpoints.revisions("pythia-160m", refs, List.of("step*"), Long.MIN_VALUE, Long.MAX_VALUE, 1, Optional.empty());
        assertEquals(expected, steps(all), "step0, step1, step2, step4 … step512, step1000 … step143000");
        assertEquals(List.of("step0", "step1", "step2", "step4", "step8", "step16", "step32", "step64", "step128", "step256", "step512", "step1000", "step2000"),
                all.subList(0, 13).stream().map(Checkpoint::revision).toList());
        assertEquals("step143000", all.getLast().revision());
        assertEquals(String.format("%040x", 0xa000000L + 512), all.get(10).commit(), "pinned to the commit listed");
        assertTrue(all.stream().allMatch(c -> c.spec().equals("pythia-160m") && c.label().equals(Long.toString(c.step().getAsLong()))));

        List<Checkpoint> withMain = Checkpoints.revisions("pythia-160m", refs, List.of("step*", "main"), Long.MIN_VALUE, Long.MAX_VALUE, 1, Optional.empty());
        assertEquals(155, withMain.size());
        assertEquals("main", withMain.getLast().revision(), "a branch without a step comes after the series");
        assertTrue(withMain.getLast().step().isEmpty());

        // a shuffled listing gives the same order
        List<Ref> shuffled = new ArrayList<>(refs);
        java.util.Collections.shuffle(shuffled, new java.util.Random(7));
        assertEquals(all, Checkpoints.revisions("pythia-160m", shuffled, List.of("step*"), Long.MIN_VALUE, Long.MAX_VALUE, 1, Optional.empty()));
    }

    @Test
    void pythiaStepsAndEveryThinAsForTheCrfmRuns() {
        List<Ref> refs = pythia(pythiaSteps());
        assertEquals(List.of(0L, 1L, 2L, 4L, 8L, 16L, 32L, 64L, 128L, 256L, 512L),
                steps(Checkpoints.revisions("r", refs, List.of("step*"), 0, 512, 1, Optional.empty())), "--steps 0-512: the log-spaced start");
        assertEquals(List.of(0L, 8L, 128L, 2000L),
                steps(Checkpoints.revisions("r", refs, List.of("step*"), 0, 2000, 4, Optional.empty())), "--steps 0-2000 --every 4: thinned after the range");
        assertEquals(List.of(1000L, 4000L, 7000L, 10000L),
                steps(Checkpoints.revisions("r", refs, List.of("step*"), 1000, 10000, 3, Optional.empty())));
        List<Checkpoint> tenth = Checkpoints.revisions("r", refs, List.of("step*"), Long.MIN_VALUE, Long.MAX_VALUE, 10, Optional.empty());
        assertEquals(16, tenth.size(), "154 checkpoints, every tenth");
        assertEquals(List.of(0L, 512L, 10000L, 20000L), steps(tenth).subList(0, 4));
        assertEquals(140000L, tenth.getLast().step().getAsLong());
        assertEquals(List.of(100000L, 143000L),
                steps(Checkpoints.revisions("r", refs, List.of("step*", "main"), 100000, Long.MAX_VALUE, 43, Optional.empty())),
                "--steps 100000-: main (no step) is left out once steps are bounded");
        assertEquals(List.of(143000L), steps(Checkpoints.revisions("r", refs, List.of("step143000"), Long.MIN_VALUE, Long.MAX_VALUE, 1, Optional.empty())));
        assertEquals(List.of(1L, 16L, 128L), steps(Checkpoints.revisions("r", refs, List.of("step1", "step1[0-9]*"), 0, 999, 1, Optional.empty())),
                "several patterns, one series");
    }

    @Test
    void pythiaV0RunsStartAtStep1000() {
        List<Long> v0 = new ArrayList<>();
        for (long s = 1000; s <= 143000; s += 1000) v0.add(s);
        List<Checkpoint> all = Checkpoints.revisions("pythia-160m-v0", pythia(v0), List.of("step*"), Long.MIN_VALUE, Long.MAX_VALUE, 1, Optional.empty());
        assertEquals(143, all.size());
        assertEquals(v0, steps(all));
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

    /**
     * OLMo's intermediate checkpoints are branches named stepN-tokensMB (OLMo-2: stage1-stepN-tokensMB): the step is the
     * number after "step", never the token count or the stage, and a branch whose number cannot be a step sorts last.
     */
    @Test
    void olmoBranchesInStepOrder() {
        List<Ref> refs = new ArrayList<>();
        long[] steps = {0, 1000, 20000, 3000, 443000, 500};
        for (long s : steps) refs.add(new Ref("step" + s + "-tokens" + (s * 4) + "B", String.format("%040x", 0xb000000L + s), false));
        for (long s : new long[] {2000, 10}) refs.add(new Ref("stage1-step" + s + "-tokens" + (s * 4 + 1) + "B", String.format("%040x", 0xc000000L + s), false));
        refs.add(new Ref("step99999999999999999999999-tokens1B", "d".repeat(40), false));   // no step a long can hold
        refs.add(new Ref("main", "e".repeat(40), false));
        refs.sort(java.util.Comparator.comparing(Ref::name));
        List<Checkpoint> olmo = Checkpoints.revisions("allenai/OLMo-1B-hf", refs, List.of("step*"), Long.MIN_VALUE, Long.MAX_VALUE, 1, Optional.empty());
        assertEquals(List.of("step0-tokens0B", "step500-tokens2000B", "step1000-tokens4000B", "step3000-tokens12000B", "step20000-tokens80000B",
                "step443000-tokens1772000B", "step99999999999999999999999-tokens1B"), olmo.stream().map(Checkpoint::revision).toList());
        List<Checkpoint> stage = Checkpoints.revisions("allenai/OLMo-2-1124-7B", refs, List.of("stage1-*"), 0, 5000, 1, Optional.empty());
        assertEquals(List.of(10L, 2000L), stage.stream().map(c -> c.step().getAsLong()).toList());
    }
}

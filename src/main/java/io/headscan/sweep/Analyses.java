package io.headscan.sweep;

import io.headscan.circuits.Variant;
import java.util.List;

/**
 * What a sweep computes for every checkpoint. {@code score}: the Prediction-Attention score (docs/science.md §3) for
 * each W_EE variant and each bag seed, over random bags of {@code bagCount × bagSize} tokens drawn once per vocabulary
 * size and seed; {@code weights}: per-tensor statistics and per-head Frobenius norms of W_Q, W_K, W_V, W_O. Each part has
 * a {@link #key definition key}: a checkpoint already done for the same key is skipped when a sweep is run again.
 */
public record Analyses(boolean score, List<Variant> variants, List<Long> seeds, int bagSize, int bagCount, boolean withReplacement,
                       boolean weights, boolean allowNonFinite) {

    public Analyses {
        variants = List.copyOf(variants);
        seeds = List.copyOf(seeds);
        if (!score && !weights) throw new IllegalArgumentException("nothing to compute: give --score and/or --weights");
        if (score && (variants.isEmpty() || seeds.isEmpty())) throw new IllegalArgumentException("--score needs at least one variant and one seed");
        if (bagSize < 1 || bagCount < 1) throw new IllegalArgumentException("bag size and count must be at least 1");
    }

    /** The definition of the score part for one variant and seed, as stored with its rows. */
    public String scoreKey(Variant v, long seed) {
        return "score wee=" + v.id() + " seed=" + seed + " bags=random " + bagCount + "x" + bagSize + (withReplacement ? " with-replacement" : "");
    }

    public static final String WEIGHTS_KEY = "weights v1";

    /** Every definition key this sweep produces per checkpoint. */
    public List<String> keys() {
        List<String> k = new java.util.ArrayList<>();
        if (score) for (Variant v : variants) for (long s : seeds) k.add(scoreKey(v, s));
        if (weights) k.add(WEIGHTS_KEY);
        return k;
    }
}

package io.headscan.sweep;

import io.headscan.circuits.Variant;
import io.headscan.model.Dims;
import io.headscan.model.HeadId;
import java.util.ArrayList;
import java.util.List;

/**
 * What a sweep computes for every checkpoint. {@code score}: the Prediction-Attention score (docs/science.md §3) for
 * each W_EE variant and each bag seed, over random bags of {@code bagCount × bagSize} tokens drawn once per vocabulary
 * size and seed; {@code weights}: per-tensor statistics and per-head Frobenius norms of W_Q, W_K, W_V, W_O;
 * {@code fullvocabHeads} / {@code ovHeads} ("all" or "10.7,11.10", null for none): the full-vocabulary QK statistics
 * (§4) and the OV copying statistics (§5) of those heads, with W_EE variant {@code fullVariant}. Each part has a
 * definition key: a checkpoint already done for the same key is skipped when a sweep is run again. A key carries the
 * version of the computation ({@link #VERSION}, raised whenever a change moves the numbers) and {@code numerics},
 * anything else that moves them (" tf32" when cuBLAS may use TF32 tensor cores), so rows of another computation are
 * never taken for this one's.
 */
public record Analyses(boolean score, List<Variant> variants, List<Long> seeds, int bagSize, int bagCount, boolean withReplacement,
                       boolean weights, boolean allowNonFinite, String fullvocabHeads, String ovHeads, Variant fullVariant, FixedBags fixedBags,
                       String numerics) implements java.io.Serializable {

    /** The version of the computations' code, part of every definition key. */
    public static final String VERSION = "v2";   // v2: per-layer attention scales (GPT-2 flags), lower rank medians
    /** fullvocab and ov: v3, W_EE of F16/BF16 checkpoints rounded to their precision, as the W_EE cache stores it. */
    public static final String FULL_VERSION = "v3";

    /** Every part, FP32 numerics. */
    public Analyses(boolean score, List<Variant> variants, List<Long> seeds, int bagSize, int bagCount, boolean withReplacement,
                    boolean weights, boolean allowNonFinite, String fullvocabHeads, String ovHeads, Variant fullVariant, FixedBags fixedBags) {
        this(score, variants, seeds, bagSize, bagCount, withReplacement, weights, allowNonFinite, fullvocabHeads, ovHeads, fullVariant, fixedBags, "");
    }

    /**
     * Bags given by the user instead of random ones (a bags file, or a corpus), the same for every checkpoint;
     * {@code what} names them ("file bags.json", "corpus owt.jsonl 100x10") and their CRC32 tells two sets apart.
     */
    public record FixedBags(String what, List<int[]> bags) implements java.io.Serializable {
        /** Whether the bags are a corpus's GPT-2 BPE ids (made once for the whole sweep), which only suit checkpoints with GPT-2's tokenizer. */
        public boolean gpt2Tokens() {
            return what.startsWith("corpus ");
        }

        public String digest() {
            java.util.zip.CRC32 crc = new java.util.zip.CRC32();
            for (int[] b : bags) {
                for (int t : b) crc.update(java.nio.ByteBuffer.allocate(4).putInt(t).array());
                crc.update(0xff);
            }
            return Long.toHexString(crc.getValue());
        }
    }

    public Analyses {
        variants = List.copyOf(variants);
        seeds = List.copyOf(seeds);
        if (!score && !weights && fullvocabHeads == null && ovHeads == null) {
            throw new IllegalArgumentException("nothing to compute: give --score, --weights, --fullvocab or --ov");
        }
        if (score && (variants.isEmpty() || seeds.isEmpty())) throw new IllegalArgumentException("--score needs at least one variant and one seed");
        if (bagSize < 1 || bagCount < 1) throw new IllegalArgumentException("bag size and count must be at least 1");
        if (fullvocabHeads != null) heads(fullvocabHeads, null);
        if (ovHeads != null) heads(ovHeads, null);
        numerics = numerics == null ? "" : numerics;
    }

    /** The same analyses computed with other numerics (e.g. " tf32"). */
    public Analyses withNumerics(String n) {
        return new Analyses(score, variants, seeds, bagSize, bagCount, withReplacement, weights, allowNonFinite, fullvocabHeads, ovHeads, fullVariant,
                fixedBags, n);
    }

    /** Score and weights only. */
    public Analyses(boolean score, List<Variant> variants, List<Long> seeds, int bagSize, int bagCount, boolean withReplacement,
                    boolean weights, boolean allowNonFinite) {
        this(score, variants, seeds, bagSize, bagCount, withReplacement, weights, allowNonFinite, null, null, Variant.FULL, null);
    }

    /** Random bags. */
    public Analyses(boolean score, List<Variant> variants, List<Long> seeds, int bagSize, int bagCount, boolean withReplacement,
                    boolean weights, boolean allowNonFinite, String fullvocabHeads, String ovHeads, Variant fullVariant) {
        this(score, variants, seeds, bagSize, bagCount, withReplacement, weights, allowNonFinite, fullvocabHeads, ovHeads, fullVariant, null);
    }

    /** The definition of the score part for one variant and seed, as stored with its rows. */
    public String scoreKey(Variant v, long seed) {
        if (fixedBags != null) return "score wee=" + v.id() + " bags=" + fixedBags.what() + " crc=" + fixedBags.digest() + " " + VERSION + numerics;
        return "score wee=" + v.id() + " seed=" + seed + " bags=random " + bagCount + "x" + bagSize + (withReplacement ? " with-replacement" : "")
                + " " + VERSION + numerics;
    }

    /** The seeds the score part runs: one pass (seed 0, not recorded) when the bags are fixed. */
    public List<Long> scoreSeeds() {
        return fixedBags != null ? List.of(0L) : seeds;
    }

    public static final String WEIGHTS_KEY = "weights v1";

    public String fullvocabKey(HeadId h) {
        return "fullvocab wee=" + fullVariant.id() + " head=" + h + " " + FULL_VERSION + numerics;
    }

    public String ovKey(HeadId h) {
        return "ov wee=" + fullVariant.id() + " head=" + h + " " + FULL_VERSION + numerics;
    }

    /** "all" or a list of heads; checked against {@code dims} when given (an unknown head: an error naming it). */
    public static List<HeadId> heads(String spec, Dims dims) {
        return HeadId.select(spec, dims);
    }

    /** Every definition key this sweep produces for a checkpoint of these dimensions. */
    public List<String> keys(Dims dims) {
        List<String> k = new ArrayList<>();
        if (score) for (Variant v : variants) for (long s : scoreSeeds()) k.add(scoreKey(v, s));
        if (weights) k.add(WEIGHTS_KEY);
        if (fullvocabHeads != null) for (HeadId h : heads(fullvocabHeads, dims)) k.add(fullvocabKey(h));
        if (ovHeads != null) for (HeadId h : heads(ovHeads, dims)) k.add(ovKey(h));
        return k;
    }
}

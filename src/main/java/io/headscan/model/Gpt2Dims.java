package io.headscan.model;

/**
 * Dimensions of a GPT-2-family checkpoint, read from tensor shapes (and the head count from
 * config.json, a flag, or d_head = 64; docs/science.md §0).
 */
public record Gpt2Dims(int vocab, int dModel, int layers, int heads, int dMlp, int nCtx) {

    public Gpt2Dims {
        if (vocab <= 0 || dModel <= 0 || layers <= 0 || heads <= 0 || dMlp <= 0 || nCtx <= 0) {
            throw new IllegalArgumentException("all dimensions must be positive: " + vocab + "," + dModel + "," + layers + "," + heads + "," + dMlp + "," + nCtx);
        }
        if (dModel % heads != 0) throw new IllegalArgumentException("d_model " + dModel + " is not divisible by " + heads + " heads");
    }

    public static final Gpt2Dims GPT2_SMALL = new Gpt2Dims(50257, 768, 12, 12, 3072, 1024);

    public int dHead() {
        return dModel / heads;
    }

    public int headCount() {
        return layers * heads;
    }

    /** Parameters, mask buffers excluded. */
    public long parameterCount() {
        long d = dModel;
        long perLayer = 2 * d            // ln_1
                + d * 3 * d + 3 * d      // c_attn
                + d * d + d              // attn.c_proj
                + 2 * d                  // ln_2
                + d * dMlp + dMlp        // c_fc
                + (long) dMlp * d + d;   // mlp.c_proj
        return (long) vocab * d + (long) nCtx * d + layers * perLayer + 2 * d;
    }

    /** A well-known name for these dimensions, or "custom". */
    public String architectureName() {
        if (vocab == 50257 && nCtx == 1024) {
            if (dModel == 768 && layers == 12) return "gpt2 (small)";
            if (dModel == 1024 && layers == 24) return "gpt2-medium";
            if (dModel == 1280 && layers == 36) return "gpt2-large";
            if (dModel == 1600 && layers == 48) return "gpt2-xl";
            if (dModel == 768 && layers == 6) return "distilgpt2";
        }
        return "custom GPT-2 layout";
    }
}

package io.headscan.model;

/**
 * Dimensions of a checkpoint, read from tensor shapes (and the head count from config.json, a flag, or d_head = 64;
 * docs/science.md §0). {@code nCtx} is the context length where the model has one (a position table, or the config's
 * maximum), else 0. {@code kvHeads} is the number of key/value heads (grouped-query attention: fewer than
 * {@code heads}, which it divides); {@code dHead} the width of one head, d_model / heads unless the config says
 * otherwise (Gemma: 256 whatever d_model).
 */
public record Dims(int vocab, int dModel, int layers, int heads, int dMlp, int nCtx, int kvHeads, int dHead) {

    public Dims {
        if (vocab <= 0 || dModel <= 0 || layers <= 0 || heads <= 0 || dMlp <= 0 || nCtx < 0 || kvHeads <= 0 || dHead <= 0) {
            throw new IllegalArgumentException("all dimensions must be positive: " + vocab + "," + dModel + "," + layers + "," + heads + "," + dMlp
                    + "," + nCtx + "," + kvHeads + "," + dHead);
        }
        if (heads % kvHeads != 0) throw new IllegalArgumentException(kvHeads + " key/value heads do not divide " + heads + " heads");
        if ((long) heads * dHead > Integer.MAX_VALUE) throw new IllegalArgumentException(heads + " heads of width " + dHead + " are too wide");
    }

    /** Multi-head attention with d_head = d_model / heads. */
    public Dims(int vocab, int dModel, int layers, int heads, int dMlp, int nCtx) {
        this(vocab, dModel, layers, heads, dMlp, nCtx, heads, checkedHeadWidth(dModel, heads));
    }

    private static int checkedHeadWidth(int dModel, int heads) {
        if (heads <= 0 || dModel % heads != 0) throw new IllegalArgumentException("d_model " + dModel + " is not divisible by " + heads + " heads");
        return dModel / heads;
    }

    public static final Dims GPT2_SMALL = new Dims(50257, 768, 12, 12, 3072, 1024);

    /** The key/value head that query head {@code head} reads: head / (heads / kvHeads) (docs/science.md §9). */
    public int kvHead(int head) {
        return head / (heads / kvHeads);
    }

    /** Whether some query heads share a key/value head. */
    public boolean grouped() {
        return kvHeads != heads;
    }

    /** Width of all query heads side by side: heads · d_head (d_model for most families). */
    public int qWidth() {
        return heads * dHead;
    }

    /** Width of all key/value heads side by side. */
    public int kvWidth() {
        return kvHeads * dHead;
    }

    public int headCount() {
        return layers * heads;
    }

    /** Parameters of a GPT-2 layout of these dimensions, mask buffers excluded (for {@code synth}). */
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

    /** A well-known name for these dimensions in this family, or "custom ... layout". */
    public String architectureName(Family family) {
        // Pythia's padded vocabularies: 50304 up to 2.8b, 50432 for 6.9b, 50688 for 12b
        if (family == Family.GPT_NEOX && (vocab == 50304 || vocab == 50432 || vocab == 50688)) {
            String size = switch (dModel + "x" + layers) {
                case "512x6" -> "70m"; case "768x12" -> "160m"; case "1024x24" -> "410m"; case "2048x16" -> "1b";
                case "2048x24" -> "1.4b"; case "2560x32" -> "2.8b"; case "4096x32" -> "6.9b"; case "5120x36" -> "12b";
                default -> null;
            };
            if (size != null) return "pythia-" + size;
        }
        if (family != Family.GPT2) return "custom " + family.label() + " layout";
        return architectureName();
    }

    /** A well-known GPT-2 name for these dimensions, or "custom". */
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

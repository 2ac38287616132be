package io.headscan.circuits;

import java.util.Locale;

/** The effective-embedding variants of docs/science.md §2. */
public enum Variant {
    /** MLP0's output only: the writeup's Prediction-Attention score (default for {@code score}). */
    HACKATHON("mlp(r_t): MLP0 output only (writeup's hackathon code)"),
    /** r + mlp(r): the paper code behind 84.70% / 95.72% (default for fullvocab and ov). */
    FULL("r_t + mlp(r_t): residual after MLP0 (copy-suppression paper code)"),
    /** cd(E) + mlp(cd(E)): attention ablated (the paper's prose definition). */
    NOATTN("cd(E_t) + mlp(cd(E_t)): layer-0 attention ablated (paper prose)");

    private final String definition;

    Variant(String definition) {
        this.definition = definition;
    }

    public String definition() {
        return definition;
    }

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    public static Variant parse(String s) {
        for (Variant v : values()) {
            if (v.id().equals(s.trim().toLowerCase(Locale.ROOT))) return v;
        }
        throw new IllegalArgumentException("unknown W_EE variant '" + s + "' (choose hackathon, full or noattn)");
    }

    @Override
    public String toString() {
        return id();
    }
}

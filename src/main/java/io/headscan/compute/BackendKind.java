package io.headscan.compute;

import java.util.Locale;

/** The {@code --backend} choices. */
public enum BackendKind {
    AUTO, CUBLAS, OPENBLAS, JAVA;

    public static BackendKind parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("unknown backend '" + s + "' (choose auto, cublas, openblas or java)");
        }
    }

    @Override
    public String toString() {
        return name().toLowerCase(Locale.ROOT);
    }
}

package io.headscan.format;

import java.util.Optional;

/**
 * Element types of the safetensors format, with their size in bits.
 * Names are exactly the upper-case spellings the format uses; anything else is an unknown dtype.
 */
public enum DType {
    BOOL(8), U8(8), I8(8), F8_E5M2(8), F8_E4M3(8), F8_E8M0(8),
    I16(16), U16(16), F16(16), BF16(16),
    I32(32), U32(32), F32(32),
    F64(64), I64(64), U64(64),
    /** Sub-byte types exist in the format; headscan recognises them only to reject them explicitly. */
    F4(4), F6_E2M3(6), F6_E3M2(6);

    private final int bits;

    DType(int bits) {
        this.bits = bits;
    }

    public int bits() {
        return bits;
    }

    /** Whether a tensor of this type can be addressed byte-wise (all but the sub-byte types). */
    public boolean byteSized() {
        return bits % 8 == 0;
    }

    public int bytes() {
        if (!byteSized()) throw new IllegalStateException(name() + " is a sub-byte type");
        return bits / 8;
    }

    /** Floating-point types headscan can read as float values. */
    public boolean readableAsFloat() {
        return this == F32 || this == F16 || this == BF16;
    }

    /** Case-sensitive lookup: "f32" is not a dtype. */
    public static Optional<DType> parse(String s) {
        for (DType t : values()) {
            if (t.name().equals(s)) return Optional.of(t);
        }
        return Optional.empty();
    }
}

package io.headscan.compute.cuda;

import java.lang.foreign.MemorySegment;

/**
 * A range of host memory and the lifetime it belongs to, as the key of its device copy. The scope is part of the key:
 * once a checkpoint's mapping is closed, the next one is often mapped at the very same address with the same size (a
 * sweep over checkpoints of one model), and an address alone would then find the previous checkpoint's weights.
 */
record HostRange(long address, long bytes, MemorySegment.Scope scope) {

    static HostRange of(MemorySegment s) {
        return new HostRange(s.address(), s.byteSize(), s.scope());
    }

    /** Whether the host memory still exists (a copy of memory that is gone can never be asked for again). */
    boolean alive() {
        return scope.isAlive();
    }

    /** Whether {@code s} lies inside this range of the same lifetime. */
    boolean contains(MemorySegment s) {
        return s.scope().equals(scope) && s.address() >= address && s.byteSize() <= bytes - (s.address() - address);
    }
}

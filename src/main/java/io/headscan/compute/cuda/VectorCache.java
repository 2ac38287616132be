package io.headscan.compute.cuda;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Device copies of small host vectors (LayerNorm weights, biases), one per array, at most {@code capacity} of them: a
 * caller that makes a new array per call must not grow device memory. Everything one launch needs is asked for in one
 * {@link #acquire} call, which makes room before it copies anything, and never frees a vector of the same request: a
 * launch never gets a pointer that was freed while its other vectors were being copied. Room is made by freeing
 * vectors of earlier launches, which have finished (every launch synchronises before it returns).
 */
final class VectorCache {

    /** Where the copies live: the device, for the cuBLAS workspace. */
    interface Memory {
        MemorySegment upload(float[] v);

        void free(MemorySegment p);
    }

    private final Memory memory;
    private final int capacity;
    private final Map<float[], MemorySegment> copies = new IdentityHashMap<>();

    VectorCache(Memory memory, int capacity) {
        if (capacity < 1) throw new IllegalArgumentException("capacity " + capacity);
        this.memory = memory;
        this.capacity = capacity;
    }

    /** The device copies of {@code vs}, in order ({@link MemorySegment#NULL} for a null array), all live at once. */
    MemorySegment[] acquire(float[]... vs) {
        Set<float[]> wanted = Collections.newSetFromMap(new IdentityHashMap<>());
        List<float[]> missing = new ArrayList<>();
        for (float[] v : vs) {
            if (v != null && wanted.add(v) && !copies.containsKey(v)) missing.add(v);
        }
        if (wanted.size() > capacity) throw new IllegalArgumentException(wanted.size() + " vectors in one launch; at most " + capacity);
        int excess = copies.size() + missing.size() - capacity;
        for (Iterator<Map.Entry<float[], MemorySegment>> it = copies.entrySet().iterator(); excess > 0 && it.hasNext(); ) {
            Map.Entry<float[], MemorySegment> e = it.next();
            if (wanted.contains(e.getKey())) continue;   // this launch uses it
            memory.free(e.getValue());
            it.remove();
            excess--;
        }
        for (float[] v : missing) copies.put(v, memory.upload(v));
        MemorySegment[] out = new MemorySegment[vs.length];
        for (int i = 0; i < vs.length; i++) out[i] = vs[i] == null ? MemorySegment.NULL : copies.get(vs[i]);
        return out;
    }

    int size() {
        return copies.size();
    }

    /** Frees every copy. */
    void clear() {
        for (MemorySegment p : copies.values()) memory.free(p);
        copies.clear();
    }
}

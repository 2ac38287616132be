package io.headscan.compute.cuda;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * The device workspace's cache of small vectors, over host memory standing in for the device (the cache only
 * allocates, copies and frees): a launch's vectors are all live when it gets them, however full the cache was.
 */
class VectorCacheTest {

    private static final class HostMemory implements VectorCache.Memory {
        final Arena arena = Arena.ofShared();
        final Set<Long> live = new HashSet<>();
        int uploads;

        @Override
        public MemorySegment upload(float[] v) {
            MemorySegment p = arena.allocateFrom(ValueLayout.JAVA_FLOAT, v);
            live.add(p.address());
            uploads++;
            return p;
        }

        @Override
        public void free(MemorySegment p) {
            assertTrue(live.remove(p.address()), "freed twice or never allocated");
        }
    }

    @Test
    void aFullCacheNeverFreesAVectorOfTheSameLaunch() {
        HostMemory mem = new HostMemory();
        VectorCache cache = new VectorCache(mem, 4);
        float[] a = {1}, b = {2}, c = {3}, d = {4};
        cache.acquire(a, b, c, d);   // full
        for (int round = 0; round < 50; round++) {
            float[] x = {10 + round}, y = {20 + round};
            // a and b are already there and wanted again; x and y are new: room must come from c and d (or the last round's)
            MemorySegment[] got = cache.acquire(a, x, null, y, b);
            assertEquals(MemorySegment.NULL, got[2]);
            for (int i : new int[] {0, 1, 3, 4}) {
                assertTrue(mem.live.contains(got[i].address()), "round " + round + ": vector " + i + " of this launch was freed");
            }
            assertEquals(x[0], got[1].get(ValueLayout.JAVA_FLOAT, 0));
            assertEquals(b[0], got[4].get(ValueLayout.JAVA_FLOAT, 0));
            assertTrue(cache.size() <= 4, "at most the capacity: " + cache.size());
            assertEquals(cache.size(), mem.live.size(), "nothing leaks");
        }
        int before = mem.uploads;
        cache.acquire(a, b);
        assertEquals(before, mem.uploads, "vectors in the cache are not copied again");
        cache.clear();
        assertTrue(mem.live.isEmpty());
    }

    @Test
    void aLaunchNeedingMoreThanTheCapacityIsRefused() {
        VectorCache cache = new VectorCache(new HostMemory(), 2);
        assertThrows(IllegalArgumentException.class, () -> cache.acquire(new float[1], new float[1], new float[1]));
    }
}

package io.headscan;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** Working buffers: zeroed, the size asked for, usable from any thread of a shared arena, freed with it. */
class OffHeapTest {

    @Test
    void largeAndSmallBuffersAreZeroedAndUsable() throws Exception {
        for (long bytes : new long[] {0, 100, (2L << 20) - 4, 2L << 20, (5L << 20) + 12}) {
            try (Arena arena = Arena.ofShared()) {
                MemorySegment s = OffHeap.allocate(arena, bytes);
                assertEquals(bytes, s.byteSize());
                assertEquals(0, s.address() % 64, "aligned");
                if (bytes >= 2L << 20 && System.getProperty("os.name").toLowerCase().contains("linux")) {
                    assertEquals(0, s.address() % (2L << 20), "huge-page aligned");
                }
                for (long i = 0; i + 4 <= bytes; i += 4093 * 4) assertEquals(0, s.get(ValueLayout.JAVA_INT, i));
                if (bytes >= 4) {
                    Thread t = Thread.ofPlatform().start(() -> s.set(ValueLayout.JAVA_INT, bytes - 4, 7));
                    t.join();
                    assertEquals(7, s.get(ValueLayout.JAVA_INT, bytes - 4));
                }
                MemorySegment escaped = s;
                arena.close();
                if (bytes > 0) assertThrows(IllegalStateException.class, () -> escaped.get(ValueLayout.JAVA_BYTE, 0), "freed with the arena");
            } catch (IllegalStateException alreadyClosed) {
                // closed above on purpose
            }
        }
        assertThrows(IllegalArgumentException.class, () -> OffHeap.allocate(Arena.global(), -1));
    }
}

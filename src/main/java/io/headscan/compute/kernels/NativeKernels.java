package io.headscan.compute.kernels;

import io.headscan.CacheFolder;
import io.headscan.bindings.kernels.headscan_kernels_h;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Optional;

/**
 * headscan's C kernels ({@code native/kernels/headscan_kernels.c}) through their jextract bindings: the fused
 * row reduction (as a {@link RowReducer}) and gelu_new with a bias.
 * The library ships inside the jar when the build had a C compiler; it is unpacked once into the cache,
 * under a name that includes its SHA-256 so an updated build never meets a stale copy.
 */
public final class NativeKernels implements RowReducer {

    private static final String RESOURCE = "io/headscan/native/linux-x86_64/libheadscan_kernels.so";
    private static Optional<NativeKernels> loaded;
    private static String loadError = "not tried";

    private NativeKernels() {}

    @Override
    public String name() {
        return "native";
    }

    public static synchronized Optional<NativeKernels> load() {
        if (loaded != null) return loaded;
        loaded = Optional.empty();
        try (InputStream in = NativeKernels.class.getClassLoader().getResourceAsStream(RESOURCE)) {
            if (in == null) {
                loadError = "the jar has no " + RESOURCE + " (built without a C compiler)";
                return loaded;
            }
            byte[] bytes = in.readAllBytes();
            String sha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes)).substring(0, 16);
            Path dir = CacheFolder.root().resolve("native");
            Path lib = dir.resolve("libheadscan_kernels-" + sha + ".so");
            if (!Files.isRegularFile(lib) || Files.size(lib) != bytes.length) {
                io.headscan.AtomicFiles.write(lib, bytes);
            }
            System.load(lib.toString());
            int v = headscan_kernels_h.hs_kernels_version();
            if (v != 5) {
                loadError = lib + " has interface version " + v + ", expected 5";
                return loaded;
            }
            loaded = Optional.of(new NativeKernels());
            loadError = null;
        } catch (IOException | UnsatisfiedLinkError | java.security.NoSuchAlgorithmException | RuntimeException e) {
            loadError = e.toString();
        }
        return loaded;
    }

    /**
     * Calls each kernel once on a tiny input, so that the first real call does not pay for linking its downcall
     * (tens of milliseconds on a cold JVM). Meant for a background thread at start-up.
     */
    public void warmUp() {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment x = arena.allocate(ValueLayout.JAVA_FLOAT, 8);
            new RowAffine(null, null, RowAffine.Norm.LNPRE, null, null).apply(io.headscan.model.Matrix.dense(x, 1, 8), null,
                    io.headscan.model.Matrix.dense(x, 1, 8));
            biasGeluNew(x, 0, 1, 8, 8, new float[8]);
            gated(x, 0, 8, x, 0, 8, 1, 8, 3);
            softcap(x, 0, 1, 8, 8, 1f);
            reduce(x, 0, 1, 8, 8, new long[1], new float[1], new double[1], new long[1], new long[1]);
            reduceBlock(x, 0, 1, 8, 8, new float[1], new double[1], new long[1], new long[1]);
        }
    }

    /** The native kernels unless -Dheadscan.kernels=java (or HEADSCAN_KERNELS=java) asks for the Java ones. */
    public static Optional<NativeKernels> preferred() {
        return RowReducer.best() instanceof NativeKernels n ? Optional.of(n) : Optional.empty();
    }

    /** Why the native kernels are not available (null when they are). */
    public static synchronized String loadError() {
        return loadError;
    }

    /** {@code g = act(g) ⊙ u} over rows × cols tiles (offsets and leading dimensions in floats); see hs_gated. */
    public void gated(MemorySegment g, long gOffset, int ldg, MemorySegment u, long uOffset, int ldu, int rows, int cols, int act) {
        if (rows == 0) return;
        if ((gOffset + (long) (rows - 1) * ldg + cols) * Float.BYTES > g.byteSize() || (uOffset + (long) (rows - 1) * ldu + cols) * Float.BYTES > u.byteSize()) {
            throw new IllegalArgumentException("tiles too small for " + rows + "x" + cols);
        }
        int rc = headscan_kernels_h.hs_gated(g.asSlice(gOffset * Float.BYTES), ldg, u.asSlice(uOffset * Float.BYTES), ldu, rows, cols, act);
        if (rc != 0) throw new IllegalStateException("hs_gated rejected its arguments");
    }

    /** {@code x = cap · tanh(x / cap)} over a rows × cols tile; see hs_softcap. */
    public void softcap(MemorySegment x, long offset, int rows, int cols, int ld, float cap) {
        if (rows == 0) return;
        if ((offset + (long) (rows - 1) * ld + cols) * Float.BYTES > x.byteSize()) throw new IllegalArgumentException("tile too small for " + rows + "x" + cols);
        int rc = headscan_kernels_h.hs_softcap(x.asSlice(offset * Float.BYTES), rows, cols, ld, cap);
        if (rc != 0) throw new IllegalStateException("hs_softcap rejected its arguments");
    }

    /** gelu_new(x + bias) in place on a tile of rows × cols floats (leading dimension ld), in C. */
    public void biasGeluNew(MemorySegment tile, long offset, int rows, int cols, int ld, float[] bias) {
        if (rows == 0) return;
        if ((offset + (long) (rows - 1) * ld + cols) * Float.BYTES > tile.byteSize() || bias.length < cols) {
            throw new IllegalArgumentException("tile or bias too small for " + rows + "x" + cols);
        }
        try (Arena arena = Arena.ofConfined()) {
            int rc = headscan_kernels_h.hs_bias_gelu_new(tile.asSlice(offset * Float.BYTES), rows, cols, ld,
                    arena.allocateFrom(ValueLayout.JAVA_FLOAT, bias));
            if (rc != 0) throw new IllegalStateException("hs_bias_gelu_new rejected its arguments");
        }
    }

    @Override
    public void reduceBlock(MemorySegment tile, long offset, int rows, int cols, int ld, float[] ref,
                            double[] sumExpRef, long[] greater, long[] less) {
        if (rows == 0) return;
        long lastFloat = offset + (long) (rows - 1) * ld + cols;
        if (lastFloat * Float.BYTES > tile.byteSize()) throw new IllegalArgumentException("tile too small for " + rows + "x" + cols + " (ld " + ld + ")");
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment r = arena.allocateFrom(ValueLayout.JAVA_FLOAT, java.util.Arrays.copyOf(ref, rows));
            MemorySegment se = arena.allocateFrom(ValueLayout.JAVA_DOUBLE, java.util.Arrays.copyOf(sumExpRef, rows));
            MemorySegment gr = arena.allocateFrom(ValueLayout.JAVA_LONG, java.util.Arrays.copyOf(greater, rows));
            MemorySegment le = arena.allocateFrom(ValueLayout.JAVA_LONG, java.util.Arrays.copyOf(less, rows));
            int rc = headscan_kernels_h.hs_reduce_block(tile.asSlice(offset * Float.BYTES), rows, cols, ld, r, se, gr, le);
            if (rc != 0) throw new IllegalStateException("hs_reduce_block rejected its arguments (" + rows + "x" + cols + ", ld " + ld + ")");
            MemorySegment.copy(se, ValueLayout.JAVA_DOUBLE, 0, sumExpRef, 0, rows);
            MemorySegment.copy(gr, ValueLayout.JAVA_LONG, 0, greater, 0, rows);
            MemorySegment.copy(le, ValueLayout.JAVA_LONG, 0, less, 0, rows);
        }
    }

    @Override
    public void reduce(MemorySegment tile, long offset, int rows, int cols, int ld, long[] diag,
                       float[] max, double[] sumExp, long[] greater, long[] less) {
        if (rows == 0) return;
        long lastFloat = offset + (long) (rows - 1) * ld + cols;
        if (lastFloat * Float.BYTES > tile.byteSize()) throw new IllegalArgumentException("tile too small for " + rows + "x" + cols + " (ld " + ld + ")");
        for (int i = 0; i < rows; i++) {
            if (diag[i] < 0 || diag[i] >= cols) throw new IllegalArgumentException("diagonal column " + diag[i] + " outside [0, " + cols + ")");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment d = arena.allocateFrom(ValueLayout.JAVA_LONG, diag);
            MemorySegment mx = arena.allocate(ValueLayout.JAVA_FLOAT, rows);
            MemorySegment se = arena.allocate(ValueLayout.JAVA_DOUBLE, rows);
            MemorySegment gr = arena.allocate(ValueLayout.JAVA_LONG, rows);
            MemorySegment le = arena.allocate(ValueLayout.JAVA_LONG, rows);
            int rc = headscan_kernels_h.hs_reduce_rows(tile.asSlice(offset * Float.BYTES), rows, cols, ld, d, mx, se, gr, le);
            if (rc != 0) throw new IllegalStateException("hs_reduce_rows rejected its arguments (" + rows + "x" + cols + ", ld " + ld + ")");
            MemorySegment.copy(mx, ValueLayout.JAVA_FLOAT, 0, max, 0, rows);
            MemorySegment.copy(se, ValueLayout.JAVA_DOUBLE, 0, sumExp, 0, rows);
            MemorySegment.copy(gr, ValueLayout.JAVA_LONG, 0, greater, 0, rows);
            MemorySegment.copy(le, ValueLayout.JAVA_LONG, 0, less, 0, rows);
        }
    }
}

package io.headscan.bench;

import io.headscan.compute.kernels.RowReducer;
import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The row reduction written with the JDK Vector API (incubator), as the C kernel's rival: the same two
 * passes (max and counts, then Σ exp(x − max) with the JDK's vectorised EXP). Lives in bench/ so that
 * headscan itself needs no incubator module; compare it with the C and Java kernels in RowKernels.
 */
public final class VectorRowReducer implements RowReducer {

    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;

    @Override
    public String name() {
        return "vector";
    }

    @Override
    public void reduce(MemorySegment tile, long offset, int rows, int cols, int ld, long[] diag,
                       float[] max, double[] sumExp, long[] greater, long[] less) {
        int upper = S.loopBound(cols);
        for (int i = 0; i < rows; i++) {
            long base = (offset + (long) i * ld) * 4;
            float ref = tile.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, base + diag[i] * 4);
            FloatVector vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            long g = 0, l = 0;
            int j = 0;
            for (; j < upper; j += S.length()) {
                FloatVector x = FloatVector.fromMemorySegment(S, tile, base + (long) j * 4, ByteOrder.LITTLE_ENDIAN);
                vmax = vmax.max(x);
                g += x.compare(VectorOperators.GT, ref).trueCount();
                l += x.compare(VectorOperators.LT, ref).trueCount();
            }
            float m = vmax.reduceLanes(VectorOperators.MAX);
            for (; j < cols; j++) {
                float x = tile.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, base + (long) j * 4);
                m = Math.max(m, x);
                if (x > ref) g++;
                if (x < ref) l++;
            }
            double sum = 0;
            FloatVector vm = FloatVector.broadcast(S, m);
            for (int b = 0; b < cols; b += 1024) {
                int end = Math.min(cols, b + 1024);
                FloatVector acc = FloatVector.zero(S);
                int k = b;
                for (; k + S.length() <= end; k += S.length()) {
                    FloatVector x = FloatVector.fromMemorySegment(S, tile, base + (long) k * 4, ByteOrder.LITTLE_ENDIAN);
                    acc = acc.add(x.sub(vm).lanewise(VectorOperators.EXP));
                }
                double s = acc.reduceLanes(VectorOperators.ADD);
                for (; k < end; k++) s += Math.exp(tile.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, base + (long) k * 4) - m);
                sum += s;
            }
            max[i] = m;
            sumExp[i] = sum;
            greater[i] = g;
            less[i] = l;
        }
    }

    /** The block reduction (what fullvocab runs): one pass, Σ exp(x − ref) with the JDK's vectorised EXP, and the counts. */
    @Override
    public void reduceBlock(MemorySegment tile, long offset, int rows, int cols, int ld, float[] ref,
                            double[] sumExpRef, long[] greater, long[] less) {
        int upper = S.loopBound(cols);
        for (int i = 0; i < rows; i++) {
            long base = (offset + (long) i * ld) * 4;
            FloatVector r = FloatVector.broadcast(S, ref[i]);
            FloatVector acc = FloatVector.zero(S);
            long g = 0, l = 0;
            int j = 0;
            for (; j < upper; j += S.length()) {
                FloatVector x = FloatVector.fromMemorySegment(S, tile, base + (long) j * 4, ByteOrder.LITTLE_ENDIAN);
                g += x.compare(VectorOperators.GT, r).trueCount();
                l += x.compare(VectorOperators.LT, r).trueCount();
                acc = acc.add(x.sub(r).lanewise(VectorOperators.EXP));
            }
            double sum = acc.reduceLanes(VectorOperators.ADD);
            for (; j < cols; j++) {
                float x = tile.get(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, base + (long) j * 4);
                if (x > ref[i]) g++;
                if (x < ref[i]) l++;
                sum += Math.exp((double) x - ref[i]);
            }
            sumExpRef[i] += sum;
            greater[i] += g;
            less[i] += l;
        }
    }
}

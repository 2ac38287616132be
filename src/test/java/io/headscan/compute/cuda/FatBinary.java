package io.headscan.compute.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The PTX texts inside the build's fat binary (built uncompressed by native/cuda/build.sh, so each PTX is plain
 * NUL-terminated text in the file), by target: "sm_80" → the compute_80 PTX.
 */
final class FatBinary {

    private FatBinary() {}

    static byte[] bytes() throws IOException {
        try (InputStream in = FatBinary.class.getClassLoader().getResourceAsStream(ReduceKernel.FATBIN)) {
            return in == null ? null : in.readAllBytes();
        }
    }

    static String buildPtx() throws IOException {
        try (InputStream in = FatBinary.class.getClassLoader().getResourceAsStream(ReduceKernel.PTX)) {
            return in == null ? null : new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
    }

    /** Every PTX text in {@code fat}, keyed by its .target (the first one of a target wins). */
    static Map<String, String> ptx(byte[] fat) {
        Map<String, String> out = new LinkedHashMap<>();
        String all = new String(fat, StandardCharsets.ISO_8859_1);
        for (int at = all.indexOf(".target "); at >= 0; at = all.indexOf(".target ", at + 1)) {
            int start = all.lastIndexOf('\0', at) + 1, end = all.indexOf('\0', at);
            if (end < 0) end = all.length();
            String text = all.substring(start, end);
            if (!text.contains(".version")) continue;
            String target = all.substring(at + 8, all.indexOf('\n', at)).strip();
            out.putIfAbsent(target, text);
        }
        return out;
    }

    /** The body of entry {@code name} in a PTX text: from its .entry line to the next .entry (or the end). */
    static String entry(String ptx, String name) {
        int at = ptx.indexOf(".entry " + name + "(");
        if (at < 0) return null;
        int next = ptx.indexOf(".entry ", at + 1);
        return ptx.substring(at, next < 0 ? ptx.length() : next);
    }
}

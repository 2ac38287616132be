package io.headscan.testing;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * GPT-2's tokenizer.json, as Hugging Face publishes it, rebuilt from r50k_base (jtokkit's copy of GPT-2's BPE ranks;
 * GPT-2's own files cannot be downloaded here): the vocabulary in GPT-2's byte-to-character alphabet, and merge
 * {@code i} the pair that makes the token of rank {@code 256 + i} (found as tiktoken's converters find it: the token's
 * bytes merged by rank, with only lower ranks allowed, end as exactly two parts). Written by hand, independently of
 * headscan's recognizer, as the tests' stand-in for the real file.
 */
public final class Gpt2TokenizerJsonWriter {

    private Gpt2TokenizerJsonWriter() {}

    private static final ObjectNode[] BUILT = new ObjectNode[2];

    /**
     * The tree of GPT-2's tokenizer.json (a copy of it: callers may change theirs); {@code pairs}: merges as [a, b] arrays
     * (tokenizers ≥ 0.20) or "a b" strings.
     */
    public static synchronized ObjectNode tree(boolean pairs) throws IOException {
        int k = pairs ? 1 : 0;
        if (BUILT[k] == null) BUILT[k] = build(pairs);
        return BUILT[k].deepCopy();
    }

    private static ObjectNode build(boolean pairs) throws IOException {
        List<byte[]> byRank = ranks();
        Map<String, Integer> rankOf = new HashMap<>();
        for (int r = 0; r < byRank.size(); r++) rankOf.put(new String(byRank.get(r), StandardCharsets.ISO_8859_1), r);
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        root.putArray("added_tokens").addObject().put("id", 50256).put("content", "<|endoftext|>").put("single_word", false)
                .put("lstrip", false).put("rstrip", false).put("normalized", true).put("special", true);
        root.putNull("normalizer");
        root.putObject("pre_tokenizer").put("type", "ByteLevel").put("add_prefix_space", false).put("trim_offsets", true).put("use_regex", true);
        root.putObject("post_processor").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", false).put("use_regex", true);
        root.putObject("decoder").put("type", "ByteLevel").put("add_prefix_space", true).put("trim_offsets", true).put("use_regex", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "BPE").putNull("dropout").putNull("unk_token").put("continuing_subword_prefix", "").put("end_of_word_suffix", "")
                .put("fuse_unk", false).put("byte_fallback", false).put("ignore_merges", false);
        ObjectNode vocab = model.putObject("vocab");
        for (int r = 0; r < byRank.size(); r++) vocab.put(text(byRank.get(r)), r);
        vocab.put("<|endoftext|>", 50256);
        ArrayNode merges = model.putArray("merges");
        for (int r = 256; r < byRank.size(); r++) {
            byte[][] ab = split(byRank.get(r), r, rankOf);
            if (pairs) merges.addArray().add(text(ab[0])).add(text(ab[1]));
            else merges.add(text(ab[0]) + " " + text(ab[1]));
        }
        return root;
    }

    /** Writes it to {@code file}. */
    public static Path write(Path file, ObjectNode tree) throws IOException {
        Files.writeString(file, new ObjectMapper().writeValueAsString(tree));
        return file;
    }

    /** The two parts whose merge makes the token of rank {@code r}. */
    private static byte[][] split(byte[] token, int r, Map<String, Integer> rankOf) {
        List<String> parts = new ArrayList<>();
        for (byte b : token) parts.add(new String(new byte[] {b}, StandardCharsets.ISO_8859_1));
        while (parts.size() > 2) {
            int best = -1, bestRank = Integer.MAX_VALUE;
            for (int i = 0; i + 1 < parts.size(); i++) {
                Integer k = rankOf.get(parts.get(i) + parts.get(i + 1));
                if (k != null && k < r && k < bestRank) {
                    best = i;
                    bestRank = k;
                }
            }
            if (best < 0) throw new IllegalStateException("rank " + r + " cannot be built from lower ranks");
            parts.set(best, parts.get(best) + parts.remove(best + 1));
        }
        if (parts.size() != 2) throw new IllegalStateException("rank " + r + " is a single byte");
        return new byte[][] {parts.get(0).getBytes(StandardCharsets.ISO_8859_1), parts.get(1).getBytes(StandardCharsets.ISO_8859_1)};
    }

    /** r50k_base's tokens by rank (0 to 50255). */
    private static List<byte[]> ranks() throws IOException {
        String resource = "com/knuddels/jtokkit/r50k_base.tiktoken";
        Map<Integer, byte[]> m = new HashMap<>();
        try (InputStream in = Gpt2TokenizerJsonWriter.class.getClassLoader().getResourceAsStream(resource)) {
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
            for (String line; (line = r.readLine()) != null; ) {
                String[] f = line.split(" ");
                if (f.length == 2) m.put(Integer.parseInt(f[1]), Base64.getDecoder().decode(f[0]));
            }
        }
        List<byte[]> out = new ArrayList<>();
        for (int i = 0; i < m.size(); i++) out.add(m.get(i));
        for (int i = 0; i < 256; i++) if (out.get(i).length != 1) throw new IllegalStateException("rank " + i + " is not a single byte");
        return out;
    }

    /** GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others for 256, 257, ... in byte order. */
    static String text(byte[] bytes) {
        StringBuilder sb = new StringBuilder();
        for (byte x : bytes) {
            int b = x & 0xFF;
            sb.append((char) (printable(b) ? b : 256 + rankAmongUnprintable(b)));
        }
        return sb.toString();
    }

    private static boolean printable(int b) {
        return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    }

    private static int rankAmongUnprintable(int b) {
        int n = 0;
        for (int i = 0; i < b; i++) if (!printable(i)) n++;
        return n;
    }
}

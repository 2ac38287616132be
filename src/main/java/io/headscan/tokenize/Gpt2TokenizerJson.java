package io.headscan.tokenize;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonToken;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.BitSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Whether a {@code tokenizer.json} is GPT-2's byte-level BPE, so that the built-in {@link Gpt2Tokenizer} gives exactly
 * the ids the Hugging Face tokenizers library would give for it (and its native library need not be loaded).
 *
 * <p>It is GPT-2's when: no normalizer; a ByteLevel pre-tokenizer without prefix space (GPT-2's regex); a ByteLevel
 * decoder; no post-processor other than ByteLevel (which moves offsets only); no truncation or padding; one added
 * token, {@code <|endoftext|>} as id 50256, matched as plain text; a BPE model without dropout, unknown token, subword
 * affixes, byte fallback or ignore_merges whose vocabulary is r50k_base's (all 50257 entries, id for id, read through
 * GPT-2's byte-to-character table) and whose merge {@code i} makes the token of id {@code 256 + i}, for all 50000
 * merges. The last condition is the one tiktoken's own loader checks to read GPT-2's vocab.bpe as ranks: under it,
 * merging by merge priority and merging by rank pick the same pairs. Anything else (a field it does not know
 * included) is not GPT-2's, and the file goes to the tokenizers library, which is right for every file: this check only
 * saves loading it.
 *
 * <p>The file is read as a stream (nothing but the answer kept), and reading stops at the first difference.
 */
public final class Gpt2TokenizerJson {

    private static final Set<String> TOP = Set.of("version", "truncation", "padding", "added_tokens", "normalizer", "pre_tokenizer",
            "post_processor", "decoder", "model");

    private Gpt2TokenizerJson() {}

    /**
     * Whether {@code file} is GPT-2's tokenizer. A file that cannot be read, or is not a JSON object, is a
     * {@link TokenizerException} naming it.
     */
    public static boolean isGpt2(Path file) {
        try (InputStream in = Files.newInputStream(file); JsonParser p = io.headscan.Json.MAPPER.getFactory().createParser(in)) {
            JsonToken first = p.nextToken();
            if (first == null) throw new TokenizerException(file, "empty file");
            if (first != JsonToken.START_OBJECT) throw new TokenizerException(file, "not a tokenizer.json: expected a JSON object");
            boolean model = false, preTokenizer = false, decoder = false, added = false;
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                JsonToken v = p.nextToken();
                if (!TOP.contains(key)) return false;
                switch (key) {
                    case "version" -> p.skipChildren();
                    case "truncation", "padding", "normalizer" -> {
                        if (v != JsonToken.VALUE_NULL) return false;
                    }
                    case "post_processor" -> {
                        if (v != JsonToken.VALUE_NULL && !byteLevel(p, false)) return false;
                    }
                    case "pre_tokenizer" -> {
                        if (v == JsonToken.VALUE_NULL || !byteLevel(p, true)) return false;
                        preTokenizer = true;
                    }
                    case "decoder" -> {
                        if (v == JsonToken.VALUE_NULL || !byteLevel(p, false)) return false;
                        decoder = true;
                    }
                    case "added_tokens" -> {
                        if (!addedTokens(p)) return false;
                        added = true;
                    }
                    case "model" -> {
                        if (!model(p)) return false;
                        model = true;
                    }
                    default -> throw new AssertionError(key);
                }
            }
            return model && preTokenizer && decoder && added;
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new TokenizerException(file, "not valid JSON: " + e.getOriginalMessage());
        } catch (java.nio.file.NoSuchFileException e) {
            throw new TokenizerException(file, "no such file");
        } catch (IOException e) {
            throw new TokenizerException(file, "cannot read: " + e.getMessage(), e);
        }
    }

    /** An object {type: ByteLevel, ...}; with {@code preTokenizer}, without prefix space and with GPT-2's regex. */
    private static boolean byteLevel(JsonParser p, boolean preTokenizer) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) return false;
        boolean typed = false;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String key = p.currentName();
            JsonToken v = p.nextToken();
            switch (key) {
                case "type" -> typed = v == JsonToken.VALUE_STRING && p.getText().equals("ByteLevel");
                case "add_prefix_space" -> {
                    if (preTokenizer && v != JsonToken.VALUE_FALSE) return false;
                }
                case "use_regex" -> {
                    if (preTokenizer && v != JsonToken.VALUE_TRUE) return false;
                }
                case "trim_offsets" -> p.skipChildren();
                default -> {
                    return false;
                }
            }
        }
        return typed;
    }

    /** Exactly one added token: {@code <|endoftext|>}, id 50256, matched wherever it occurs. */
    private static boolean addedTokens(JsonParser p) throws IOException {
        if (p.currentToken() != JsonToken.START_ARRAY) return false;
        int n = 0;
        while (p.nextToken() == JsonToken.START_OBJECT) {
            n++;
            Map<String, Object> t = new HashMap<>();
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                JsonToken v = p.nextToken();
                if (v.isStructStart()) return false;
                t.put(key, v == JsonToken.VALUE_NUMBER_INT ? (Object) p.getLongValue() : v.isBoolean() ? (Object) p.getBooleanValue() : p.getText());
            }
            if (!Long.valueOf(Gpt2Tokenizer.END_OF_TEXT).equals(t.get("id")) || !Gpt2Tokenizer.END_OF_TEXT_TEXT.equals(t.get("content"))) return false;
            for (String flag : new String[] {"single_word", "lstrip", "rstrip"}) if (!Boolean.FALSE.equals(t.getOrDefault(flag, Boolean.FALSE))) return false;
        }
        return p.currentToken() == JsonToken.END_ARRAY && n == 1;
    }

    private static boolean model(JsonParser p) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) return false;
        boolean bpe = false, vocab = false, merges = false;
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String key = p.currentName();
            JsonToken v = p.nextToken();
            switch (key) {
                case "type" -> bpe = v == JsonToken.VALUE_STRING && p.getText().equals("BPE");
                case "dropout", "unk_token" -> {
                    if (v != JsonToken.VALUE_NULL) return false;
                }
                case "continuing_subword_prefix", "end_of_word_suffix" -> {
                    if (v != JsonToken.VALUE_NULL && !(v == JsonToken.VALUE_STRING && p.getText().isEmpty())) return false;
                }
                case "fuse_unk", "byte_fallback", "ignore_merges" -> {
                    if (v != JsonToken.VALUE_FALSE) return false;
                }
                case "vocab" -> {
                    if (!vocab(p)) return false;
                    vocab = true;
                }
                case "merges" -> {
                    if (!merges(p)) return false;
                    merges = true;
                }
                default -> {
                    return false;
                }
            }
        }
        return bpe && vocab && merges;
    }

    /** All 50257 entries of r50k_base, id for id, each once. */
    private static boolean vocab(JsonParser p) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) return false;
        Map<String, Integer> ranks = Ranks.R50K;
        BitSet seen = new BitSet(Gpt2Tokenizer.VOCAB);
        while (p.nextToken() == JsonToken.FIELD_NAME) {
            String token = p.currentName();
            if (p.nextToken() != JsonToken.VALUE_NUMBER_INT) return false;
            long id = p.getLongValue();
            Integer want = token.equals(Gpt2Tokenizer.END_OF_TEXT_TEXT) ? Integer.valueOf(Gpt2Tokenizer.END_OF_TEXT) : rank(ranks, token);
            if (want == null || want != id || seen.get(want)) return false;
            seen.set(want);
        }
        return seen.cardinality() == Gpt2Tokenizer.VOCAB;
    }

    /** 50000 merges, merge {@code i} making the token of rank {@code 256 + i}; as "a b" strings or [a, b] pairs. */
    private static boolean merges(JsonParser p) throws IOException {
        if (p.currentToken() != JsonToken.START_ARRAY) return false;
        Map<String, Integer> ranks = Ranks.R50K;
        int i = 0;
        JsonToken t;
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            String a, b;
            if (t == JsonToken.VALUE_STRING) {
                String s = p.getText();
                int sp = s.indexOf(' ');
                if (sp <= 0 || sp != s.lastIndexOf(' ') || sp == s.length() - 1) return false;
                a = s.substring(0, sp);
                b = s.substring(sp + 1);
            } else if (t == JsonToken.START_ARRAY) {
                if (p.nextToken() != JsonToken.VALUE_STRING) return false;
                a = p.getText();
                if (p.nextToken() != JsonToken.VALUE_STRING) return false;
                b = p.getText();
                if (p.nextToken() != JsonToken.END_ARRAY) return false;
            } else {
                return false;
            }
            Integer r = rank(ranks, a + b);
            if (r == null || r != 256 + i) return false;
            i++;
        }
        return i == Gpt2Tokenizer.END_OF_TEXT - 256;
    }

    /** The r50k rank of a token written in GPT-2's byte-to-character alphabet; null when it has none. */
    private static Integer rank(Map<String, Integer> ranks, String token) {
        byte[] bytes = ByteLevel.bytes(token);
        return bytes == null ? null : ranks.get(new String(bytes, StandardCharsets.ISO_8859_1));
    }

    /** r50k_base's ranks (jtokkit's own table: base64 bytes and rank per line), keyed by the bytes as ISO-8859-1 text. */
    private static final class Ranks {
        static final Map<String, Integer> R50K = load();

        private static Map<String, Integer> load() {
            String resource = "com/knuddels/jtokkit/r50k_base.tiktoken";
            Map<String, Integer> m = new HashMap<>(2 * Gpt2Tokenizer.VOCAB);
            try (InputStream in = com.knuddels.jtokkit.Encodings.class.getClassLoader().getResourceAsStream(resource)) {
                if (in == null) throw new IllegalStateException(resource + " is not on the class path");
                BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.US_ASCII));
                Base64.Decoder d = Base64.getDecoder();
                for (String line; (line = r.readLine()) != null; ) {
                    int sp = line.indexOf(' ');
                    if (sp < 0) continue;
                    m.put(new String(d.decode(line.substring(0, sp)), StandardCharsets.ISO_8859_1), Integer.parseInt(line.substring(sp + 1).strip()));
                }
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            return m;
        }
    }

    /** GPT-2's table from bytes to printable characters (bytes_to_unicode), and back. */
    static final class ByteLevel {
        private static final char[] TO_CHAR = new char[256];
        private static final int[] TO_BYTE = new int[512];

        static {
            java.util.Arrays.fill(TO_BYTE, -1);
            int n = 0;
            for (int b = 0; b < 256; b++) {
                boolean printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
                char c = printable ? (char) b : (char) (256 + n++);
                TO_CHAR[b] = c;
                TO_BYTE[c] = b;
            }
        }

        private ByteLevel() {}

        /** The bytes a token's characters stand for; null when a character is outside the table. */
        static byte[] bytes(String token) {
            byte[] out = new byte[token.length()];
            for (int i = 0; i < out.length; i++) {
                char c = token.charAt(i);
                if (c >= TO_BYTE.length || TO_BYTE[c] < 0) return null;
                out[i] = (byte) TO_BYTE[c];
            }
            return out;
        }

        /** The characters that stand for {@code bytes}. */
        static String text(byte[] bytes) {
            StringBuilder sb = new StringBuilder(bytes.length);
            for (byte b : bytes) sb.append(TO_CHAR[b & 0xFF]);
            return sb.toString();
        }
    }
}

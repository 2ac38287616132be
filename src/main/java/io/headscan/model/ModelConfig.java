package io.headscan.model;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.core.exc.StreamConstraintsException;
import io.headscan.format.ConfigJsonException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The dimensions a checkpoint's {@code config.json} states (GPT2Config's names, and the generic names transformers maps
 * them from), read whole and strictly: one JSON object and nothing after it, no key twice, at most {@link #MAX_BYTES}
 * and {@link #MAX_DEPTH} levels of nesting. A config.json that is there but cannot be read is a named
 * {@link ConfigJsonException}, never taken as absent (its head count would then be guessed), and so is one whose
 * dimensions contradict the weights' shapes ({@link #check}). Keys headscan does not use are not read.
 */
final class ModelConfig {

    /** A GPT-2 config.json is about a kilobyte; one with long label maps a few hundred. */
    static final int MAX_BYTES = 4 << 20;
    /** GPT-2's config nests two levels (task_specific_params); deeper is not a model's configuration. */
    static final int MAX_DEPTH = 64;

    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH).build())
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    /** A dimension: its GPT2Config key and the generic key transformers reads it from too. */
    private record Key(String gpt2, String generic) {}

    private static final Key N_HEAD = new Key("n_head", "num_attention_heads");
    private static final Key N_EMBD = new Key("n_embd", "hidden_size");
    private static final Key N_LAYER = new Key("n_layer", "num_hidden_layers");
    private static final Key N_POSITIONS = new Key("n_positions", "max_position_embeddings");
    private static final Key VOCAB = new Key("vocab_size", null);
    private static final List<Key> KEYS = List.of(N_HEAD, N_EMBD, N_LAYER, N_POSITIONS, VOCAB);

    private final Path file;
    /** Integer values by their key as written; an n_inner of null is stored as -1. */
    private final Map<String, Integer> values;

    private ModelConfig(Path file, Map<String, Integer> values) {
        this.file = file;
        this.values = values;
    }

    /** The config.json at {@code file}, or empty when there is none (a link to a missing file is there, and unreadable). */
    static Optional<ModelConfig> read(Path file) {
        if (!Files.exists(file, LinkOption.NOFOLLOW_LINKS)) return Optional.empty();
        String special = io.headscan.format.RegularFile.problem(file);
        if (special != null) throw new ConfigJsonException(ConfigJsonException.Kind.IO, file, special, null);
        byte[] bytes;
        try (InputStream in = Files.newInputStream(file)) {
            bytes = in.readNBytes(MAX_BYTES + 1);   // ends at the end of the file, whatever size it had
        } catch (NoSuchFileException e) {
            throw new ConfigJsonException(ConfigJsonException.Kind.IO, file, "a link to a file that is not there", e);
        } catch (IOException e) {
            throw new ConfigJsonException(ConfigJsonException.Kind.IO, file, e.toString(), e);
        }
        if (bytes.length > MAX_BYTES) {
            throw new ConfigJsonException(ConfigJsonException.Kind.TOO_LARGE, file, "more than " + (MAX_BYTES >> 20) + " MiB; a model's configuration is a few KB");
        }
        Map<String, Integer> values = new LinkedHashMap<>();
        try (JsonParser p = JSON.createParser(bytes)) {
            JsonToken t = p.nextToken();
            if (t != JsonToken.START_OBJECT) throw invalidJson(file, t == null ? "the file is empty" : "it holds " + what(t) + ", not a JSON object", p);
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                JsonToken v = p.nextToken();
                if (isDimension(key) || key.equals("n_inner")) {
                    values.put(key, dimension(file, key, v, p));
                } else {
                    p.skipChildren();   // every level of it is still parsed, so depth and syntax are checked
                }
            }
            if (p.nextToken() != null) throw invalidJson(file, "content after the JSON object", p);
        } catch (StreamConstraintsException e) {
            throw new ConfigJsonException(ConfigJsonException.Kind.INVALID_JSON, file, "nested deeper than " + MAX_DEPTH
                    + " levels or longer than a configuration needs" + where(e), e);
        } catch (JsonProcessingException e) {
            throw new ConfigJsonException(ConfigJsonException.Kind.INVALID_JSON, file, e.getOriginalMessage().replace('\n', ' ') + where(e), e);
        } catch (IOException e) {
            throw new ConfigJsonException(ConfigJsonException.Kind.IO, file, e.toString(), e);
        }
        ModelConfig c = new ModelConfig(file, values);
        for (Key k : KEYS) c.value(k);   // a key and its generic name that disagree are refused even when unused
        return Optional.of(c);
    }

    private static boolean isDimension(String key) {
        for (Key k : KEYS) if (key.equals(k.gpt2()) || key.equals(k.generic())) return true;
        return false;
    }

    /** A dimension: a positive integer that fits an int (n_inner may also be null, stored as -1). */
    private static int dimension(Path file, String key, JsonToken v, JsonParser p) throws IOException {
        if (v == JsonToken.VALUE_NULL && key.equals("n_inner")) return -1;
        if (v != JsonToken.VALUE_NUMBER_INT || p.getNumberType() != JsonParser.NumberType.INT || p.getIntValue() < 1) {
            String shown = v.isScalarValue() ? p.getText() : what(v);
            if (!v.isScalarValue()) p.skipChildren();
            throw new ConfigJsonException(ConfigJsonException.Kind.INVALID_VALUE, file, key + " is " + (shown.length() > 40 ? shown.substring(0, 40) + "..." : shown)
                    + ", not a positive integer");
        }
        return p.getIntValue();
    }

    private static String what(JsonToken t) {
        return switch (t) {
            case START_ARRAY -> "an array";
            case START_OBJECT -> "an object";
            case VALUE_STRING -> "a string";
            case VALUE_NULL -> "null";
            case VALUE_TRUE, VALUE_FALSE -> "a boolean";
            default -> "a number";
        };
    }

    private static ConfigJsonException invalidJson(Path file, String why, JsonParser p) {
        var at = p.currentLocation();
        return new ConfigJsonException(ConfigJsonException.Kind.INVALID_JSON, file, why + " (line " + at.getLineNr() + ", column " + at.getColumnNr() + ")");
    }

    private static String where(JsonProcessingException e) {
        return e.getLocation() == null ? "" : " (line " + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + ")";
    }

    /** A dimension under either of its names; the two must agree when both are written. */
    private OptionalInt value(Key k) {
        Integer a = values.get(k.gpt2()), b = k.generic() == null ? null : values.get(k.generic());
        if (a != null && b != null && !a.equals(b)) {
            throw new ConfigJsonException(ConfigJsonException.Kind.INVALID_VALUE, file, k.gpt2() + " " + a + " and " + k.generic() + " " + b + " disagree");
        }
        return a != null ? OptionalInt.of(a) : b != null ? OptionalInt.of(b) : OptionalInt.empty();
    }

    /** n_head (or num_attention_heads), when written. */
    OptionalInt heads() {
        return value(N_HEAD);
    }

    /**
     * Refuses a config whose dimensions contradict the weights' shapes: n_embd, n_layer, n_positions, vocab_size and
     * n_inner (null meaning 4 x n_embd, as in GPT2Config), each when written, and n_head when it does not divide d_model.
     */
    void check(int vocab, int dModel, int layers, int dMlp, int nCtx) {
        agree(N_EMBD, dModel, "d_model (wte.weight)");
        agree(N_LAYER, layers, "layer count");
        agree(N_POSITIONS, nCtx, "position count (wpe.weight)");
        agree(VOCAB, vocab, "vocabulary size (wte.weight)");
        Integer inner = values.get("n_inner");
        if (inner != null) {
            int expected = inner == -1 ? 4 * dModel : inner;
            if (expected != dMlp) {
                throw contradiction("n_inner is " + (inner == -1 ? "null (4 x n_embd = " + expected + ")" : inner) + ", the weights' d_mlp (h.0.mlp.c_fc.weight) is " + dMlp);
            }
        }
        OptionalInt h = heads();
        if (h.isPresent() && dModel % h.getAsInt() != 0) throw contradiction(N_HEAD.gpt2() + " is " + h.getAsInt() + ", which does not divide the weights' d_model " + dModel);
    }

    private void agree(Key k, int actual, String what) {
        OptionalInt v = value(k);
        if (v.isPresent() && v.getAsInt() != actual) {
            throw contradiction((values.containsKey(k.gpt2()) ? k.gpt2() : k.generic()) + " is " + v.getAsInt() + ", the weights' " + what + " is " + actual);
        }
    }

    private ConfigJsonException contradiction(String why) {
        return new ConfigJsonException(ConfigJsonException.Kind.CONTRADICTS_WEIGHTS, file, why);
    }
}

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
import java.util.OptionalDouble;
import java.util.OptionalInt;

/**
 * A checkpoint's {@code config.json}, read whole and strictly: one JSON object and nothing after it, no key twice, at
 * most {@link #MAX_BYTES} and {@link #MAX_DEPTH} levels of nesting. Its top-level scalar values are kept (numbers,
 * strings, booleans, null); nested values are parsed (so depth and syntax are checked) and only their presence kept.
 * A config.json that is there but cannot be read is a named {@link ConfigJsonException}, never taken as absent (its
 * head count would then be guessed). Which keys matter, and what their values may be, is each {@link Family}'s to say:
 * the accessors here name the key in every error.
 */
public final class ModelConfig {

    /** A GPT-2 config.json is about a kilobyte; one with long label maps a few hundred. */
    static final int MAX_BYTES = 4 << 20;
    /** GPT-2's config nests two levels (task_specific_params); deeper is not a model's configuration. */
    static final int MAX_DEPTH = 64;

    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(MAX_DEPTH).build())
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    /** Stands for a JSON null, and for a nested object or array (whose content is not kept). */
    private static final Object NULL = new Object(), OBJECT = new Object(), ARRAY = new Object();

    private final Path file;
    private final Map<String, Object> values;

    private ModelConfig(Path file, Map<String, Object> values) {
        this.file = file;
        this.values = values;
    }

    /** A config from values already in memory (for {@code synth} and tests): numbers, strings, booleans. */
    public static ModelConfig of(Path file, Map<String, Object> values) {
        return new ModelConfig(file, new LinkedHashMap<>(values));
    }

    /** The config.json at {@code file}, or empty when there is none (a link to a missing file is there, and unreadable). */
    public static Optional<ModelConfig> read(Path file) {
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
        Map<String, Object> values = new LinkedHashMap<>();
        try (JsonParser p = JSON.createParser(bytes)) {
            JsonToken t = p.nextToken();
            if (t != JsonToken.START_OBJECT) throw invalidJson(file, t == null ? "the file is empty" : "it holds " + what(t) + ", not a JSON object", p);
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                JsonToken v = p.nextToken();
                values.put(key, scalar(v, p));
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
        return Optional.of(new ModelConfig(file, values));
    }

    /** A top-level value as kept: Long, Double, String, Boolean, NULL, OBJECT or ARRAY (whose children are parsed, not kept). */
    private static Object scalar(JsonToken v, JsonParser p) throws IOException {
        return switch (v) {
            case VALUE_NUMBER_INT -> p.getNumberType() == JsonParser.NumberType.BIG_INTEGER ? (Object) p.getDoubleValue() : (Object) p.getLongValue();
            case VALUE_NUMBER_FLOAT -> p.getDoubleValue();
            case VALUE_STRING -> p.getText();
            case VALUE_TRUE -> Boolean.TRUE;
            case VALUE_FALSE -> Boolean.FALSE;
            case VALUE_NULL -> NULL;
            default -> {
                p.skipChildren();   // every level of it is still parsed, so depth and syntax are checked
                yield v == JsonToken.START_ARRAY ? ARRAY : OBJECT;
            }
        };
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

    public Path file() {
        return file;
    }

    /** Whether the key is written (null included). */
    public boolean has(String key) {
        return values.containsKey(key);
    }

    /** Whether the key is written as null. */
    public boolean isNull(String key) {
        return values.get(key) == NULL;
    }

    /** The first of these keys that is written (not as null), or null. */
    private String firstWritten(List<String> keys) {
        for (String k : keys) if (values.containsKey(k) && values.get(k) != NULL) return k;
        return null;
    }

    /**
     * As {@link #dimension}, for a key transformers lets be null meaning "the default" (head_dim: d_model / heads;
     * num_key_value_heads: the head count): written as null, it is not set.
     */
    public OptionalInt optionalDimension(List<String> keys) {
        return keys.stream().allMatch(k -> !has(k) || isNull(k)) ? OptionalInt.empty() : dimension(keys.stream().filter(k -> !isNull(k)).toList());
    }

    /**
     * A dimension under any of its names (a family's own key and transformers' generic one): a positive integer that
     * fits an int. Two names that are both written must agree.
     */
    public OptionalInt dimension(List<String> keys) {
        Integer found = null;
        String foundKey = null;
        for (String k : keys) {
            Object v = values.get(k);
            if (v == null) continue;
            if (!(v instanceof Long n) || n < 1 || n > Integer.MAX_VALUE) throw invalid(k, v, "a positive integer");
            if (found != null && found != n.intValue()) {
                throw new ConfigJsonException(ConfigJsonException.Kind.INVALID_VALUE, file, foundKey + " " + found + " and " + k + " " + n + " disagree");
            }
            found = n.intValue();
            foundKey = k;
        }
        return found == null ? OptionalInt.empty() : OptionalInt.of(found);
    }

    /** A positive finite number (an epsilon, a scale), or empty when none of the keys is written. */
    public OptionalDouble positive(List<String> keys) {
        String k = firstWritten(keys);
        if (k == null) return OptionalDouble.empty();
        Object v = values.get(k);
        double d = v instanceof Long n ? n : v instanceof Double x ? x : Double.NaN;
        if (!(d > 0) || Double.isInfinite(d)) throw invalid(k, v, "a positive number");
        return OptionalDouble.of(d);
    }

    /** A boolean, or empty when not written (or null). */
    public Optional<Boolean> bool(String key) {
        Object v = values.get(key);
        if (v == null || v == NULL) return Optional.empty();
        if (!(v instanceof Boolean b)) throw invalid(key, v, "true or false");
        return Optional.of(b);
    }

    /** A string, or empty when none of the keys is written (or null). */
    public Optional<String> string(List<String> keys) {
        String k = firstWritten(keys);
        if (k == null) return Optional.empty();
        Object v = values.get(k);
        if (!(v instanceof String s)) throw invalid(k, v, "a string");
        return Optional.of(s);
    }

    /** The value as written, for messages ("null", "an object", a number or a string, bounded). */
    public String shown(String key) {
        return show(values.get(key));
    }

    private static String show(Object v) {
        if (v == null) return "absent";
        if (v == NULL) return "null";
        if (v == OBJECT) return "an object";
        if (v == ARRAY) return "an array";
        String s = String.valueOf(v);
        return io.headscan.format.Printable.line(s.length() > 40 ? s.substring(0, 40) + "..." : s);
    }

    private ConfigJsonException invalid(String key, Object v, String expected) {
        return new ConfigJsonException(ConfigJsonException.Kind.INVALID_VALUE, file, key + " is " + show(v) + ", not " + expected);
    }

    /** A value that headscan reads but does not compute with: refused by name. */
    public ConfigJsonException unsupported(String key, String why) {
        return new ConfigJsonException(ConfigJsonException.Kind.UNSUPPORTED, file, key + " is " + shown(key) + ": " + why);
    }

    /** A value that contradicts the weights. */
    public ConfigJsonException contradiction(String why) {
        return new ConfigJsonException(ConfigJsonException.Kind.CONTRADICTS_WEIGHTS, file, why);
    }
}

package io.headscan.format;

import static io.headscan.format.SafetensorsException.Kind.*;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The parsed and validated JSON header of a safetensors file.
 *
 * <p>Validation follows docs/formats.md §1: the JSON is read with Jackson's streaming parser
 * (so that duplicate keys, float offsets and huge integers are seen as written, not coerced), then the
 * tensors are sorted by offset and checked to tile the data section exactly.
 */
public final class SafetensorsHeader {

    /** Rule 2: the reference implementation's limit on the header length. */
    public static final long MAX_HEADER_LENGTH = 100_000_000L;

    public static final String METADATA_KEY = "__metadata__";

    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder()
                    .maxStringLength((int) MAX_HEADER_LENGTH)
                    .maxNestingDepth(16)
                    .build())
            .build();

    private final Map<String, String> metadata;
    private final List<TensorInfo> tensorsByOffset;
    private final Map<String, TensorInfo> byName;
    private final long dataLength;

    private SafetensorsHeader(Map<String, String> metadata, List<TensorInfo> tensorsByOffset) {
        this.metadata = metadata;
        this.tensorsByOffset = List.copyOf(tensorsByOffset);
        Map<String, TensorInfo> m = new LinkedHashMap<>();
        for (TensorInfo t : tensorsByOffset) m.put(t.name(), t);
        this.byName = Collections.unmodifiableMap(m);
        this.dataLength = tensorsByOffset.isEmpty() ? 0 : tensorsByOffset.get(tensorsByOffset.size() - 1).end();
    }

    /** Metadata ({@code __metadata__}); empty when absent or null. */
    public Map<String, String> metadata() {
        return metadata;
    }

    /** Tensors in order of their data offset. */
    public List<TensorInfo> tensors() {
        return tensorsByOffset;
    }

    public Map<String, TensorInfo> byName() {
        return byName;
    }

    /** Total bytes of the data section the header describes (the last tensor's end). */
    public long dataLength() {
        return dataLength;
    }

    /**
     * Parses and validates header bytes (the N bytes after the 8-byte length prefix).
     *
     * @param file used only in error messages
     */
    public static SafetensorsHeader parse(byte[] headerBytes, Path file) {
        String text;
        try {
            text = StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(headerBytes)).toString();
        } catch (CharacterCodingException e) {
            throw new SafetensorsException(INVALID_HEADER, file, null, "header is not valid UTF-8", e);
        }
        Map<String, String> metadata = new LinkedHashMap<>();
        List<TensorInfo> tensors = new ArrayList<>();
        try (JsonParser p = JSON.createParser(text)) {
            if (p.nextToken() != JsonToken.START_OBJECT) {
                throw new SafetensorsException(INVALID_JSON, file, null, "header must be one JSON object");
            }
            Set<String> seen = new HashSet<>();
            boolean metadataSeen = false;
            JsonToken tok;
            while ((tok = p.nextToken()) == JsonToken.FIELD_NAME) {
                String key = p.currentName();
                if (!seen.add(key)) {
                    throw new SafetensorsException(DUPLICATE_KEY, file, METADATA_KEY.equals(key) ? null : key,
                            "key '" + key + "' appears more than once");
                }
                p.nextToken();
                if (METADATA_KEY.equals(key)) {
                    if (metadataSeen) throw new SafetensorsException(DUPLICATE_KEY, file, null, "duplicate " + METADATA_KEY);
                    metadataSeen = true;
                    readMetadata(p, file, metadata);
                } else {
                    tensors.add(readTensor(p, key, file));
                }
            }
            if (tok != JsonToken.END_OBJECT) {
                throw new SafetensorsException(INVALID_JSON, file, null, "unexpected " + tok);
            }
            JsonToken trailing = p.nextToken();
            if (trailing != null) {
                throw new SafetensorsException(INVALID_JSON, file, null, "trailing content after the JSON object");
            }
        } catch (JsonProcessingException e) {
            throw new SafetensorsException(INVALID_JSON, file, null, e.getOriginalMessage(), e);
        } catch (IOException e) {
            throw new SafetensorsException(INVALID_JSON, file, null, e.getMessage(), e);
        }
        validateLayout(tensors, file);
        return new SafetensorsHeader(Collections.unmodifiableMap(metadata), tensors);
    }

    private static void readMetadata(JsonParser p, Path file, Map<String, String> out) throws IOException {
        JsonToken t = p.currentToken();
        if (t == JsonToken.VALUE_NULL) return;
        if (t != JsonToken.START_OBJECT) {
            throw new SafetensorsException(INVALID_METADATA, file, null, METADATA_KEY + " must be an object of strings or null");
        }
        while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
            String k = p.currentName();
            JsonToken v = p.nextToken();
            if (v != JsonToken.VALUE_STRING) {
                throw new SafetensorsException(INVALID_METADATA, file, null, "value of '" + k + "' is not a string");
            }
            if (out.put(k, p.getText()) != null) {
                throw new SafetensorsException(DUPLICATE_KEY, file, null, "metadata key '" + k + "' appears more than once");
            }
        }
    }

    private static TensorInfo readTensor(JsonParser p, String name, Path file) throws IOException {
        if (p.currentToken() != JsonToken.START_OBJECT) {
            throw new SafetensorsException(INVALID_JSON, file, name, "tensor entry must be an object");
        }
        String dtypeName = null;
        long[] shape = null;
        long[] offsets = null;
        Set<String> fields = new HashSet<>();
        JsonToken t;
        while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
            String field = p.currentName();
            if (!fields.add(field)) {
                throw new SafetensorsException(DUPLICATE_KEY, file, name, "field '" + field + "' appears more than once");
            }
            p.nextToken();
            switch (field) {
                case "dtype" -> {
                    if (p.currentToken() != JsonToken.VALUE_STRING) {
                        throw new SafetensorsException(UNKNOWN_DTYPE, file, name, "dtype must be a string");
                    }
                    dtypeName = p.getText();
                }
                case "shape" -> shape = readNonNegativeInts(p, file, name, INVALID_SHAPE, "shape");
                case "data_offsets" -> offsets = readNonNegativeInts(p, file, name, INVALID_OFFSETS, "data_offsets");
                default -> throw new SafetensorsException(UNKNOWN_FIELD, file, name, "unexpected field '" + field + "'");
            }
        }
        if (dtypeName == null) throw new SafetensorsException(MISSING_FIELD, file, name, "no 'dtype'");
        if (shape == null) throw new SafetensorsException(MISSING_FIELD, file, name, "no 'shape'");
        if (offsets == null) throw new SafetensorsException(MISSING_FIELD, file, name, "no 'data_offsets'");
        final String dn = dtypeName;
        DType dtype = DType.parse(dtypeName).orElseThrow(
                () -> new SafetensorsException(UNKNOWN_DTYPE, file, name, "'" + dn + "'"));
        if (!dtype.byteSized()) {
            throw new SafetensorsException(UNSUPPORTED_DTYPE, file, name, dtype + " is a sub-byte type, which headscan does not read");
        }
        if (offsets.length != 2) {
            throw new SafetensorsException(INVALID_OFFSETS, file, name, "expected [begin, end], got " + offsets.length + " values");
        }
        if (offsets[1] < offsets[0]) {
            throw new SafetensorsException(INVALID_OFFSETS, file, name, "end " + offsets[1] + " < begin " + offsets[0]);
        }
        long bytes;
        try {
            long n = 1;
            for (long s : shape) n = Math.multiplyExact(n, s);
            bytes = Math.multiplyExact(n, (long) dtype.bytes());
        } catch (ArithmeticException e) {
            throw new SafetensorsException(INVALID_SHAPE, file, name, "element count of " + java.util.Arrays.toString(shape) + " overflows");
        }
        if (offsets[1] - offsets[0] != bytes) {
            throw new SafetensorsException(SIZE_MISMATCH, file, name, "shape " + java.util.Arrays.toString(shape) + " of " + dtype
                    + " needs " + bytes + " bytes, data_offsets give " + (offsets[1] - offsets[0]));
        }
        return new TensorInfo(name, dtype, shape, offsets[0], offsets[1]);
    }

    private static long[] readNonNegativeInts(JsonParser p, Path file, String name, SafetensorsException.Kind kind, String what)
            throws IOException {
        if (p.currentToken() != JsonToken.START_ARRAY) {
            throw new SafetensorsException(kind, file, name, what + " must be an array of non-negative integers");
        }
        List<Long> values = new ArrayList<>();
        JsonToken t;
        while ((t = p.nextToken()) != JsonToken.END_ARRAY) {
            if (t != JsonToken.VALUE_NUMBER_INT) {
                throw new SafetensorsException(kind, file, name, what + " holds a non-integer: " + p.getText());
            }
            if (p.getNumberType() == JsonParser.NumberType.BIG_INTEGER) {
                BigInteger b = p.getBigIntegerValue();
                throw new SafetensorsException(kind, file, name, what + " value " + b + " is out of range");
            }
            long v = p.getLongValue();
            if (v < 0) throw new SafetensorsException(kind, file, name, what + " holds a negative value " + v);
            values.add(v);
        }
        long[] out = new long[values.size()];
        for (int i = 0; i < out.length; i++) out[i] = values.get(i);
        return out;
    }

    /** Rule 7: sorted by offset the tensors must tile [0, last end) with no gap and no overlap. */
    private static void validateLayout(List<TensorInfo> tensors, Path file) {
        tensors.sort(Comparator.comparingLong(TensorInfo::begin).thenComparingLong(TensorInfo::end));
        long expected = 0;
        for (TensorInfo t : tensors) {
            if (t.begin() != expected) {
                String what = t.begin() > expected ? "gap" : "overlap";
                throw new SafetensorsException(MISALIGNED_TENSOR, file, t.name(),
                        what + ": begins at " + t.begin() + " but the previous tensor ends at " + expected);
            }
            expected = t.end();
        }
    }
}

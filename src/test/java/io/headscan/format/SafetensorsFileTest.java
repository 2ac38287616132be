package io.headscan.format;

import static io.headscan.format.SafetensorsException.Kind.*;
import static org.junit.jupiter.api.Assertions.*;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** One test per rule and case of docs/formats.md §1 and §3. */
class SafetensorsFileTest {

    @TempDir
    Path dir;

    /** A file made of an explicit length prefix, header text and data bytes. */
    private Path raw(long n, byte[] header, int dataBytes) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8 + header.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(n).put(header);
        Path p = Files.createTempFile(dir, "t", ".safetensors");
        Files.write(p, b.array());
        return p;
    }

    private Path file(String json, int dataBytes) throws IOException {
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        return raw(h.length, h, dataBytes);
    }

    private SafetensorsException.Kind failure(Path p) {
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(p).close());
        assertTrue(e.getMessage().startsWith(p.toString() + ": "), "message names the file: " + e.getMessage());
        assertFalse(e.getMessage().contains("\n"), "one line");
        return e.kind();
    }

    private static String t(String name, String dtype, String shape, long begin, long end) {
        return "\"" + name + "\":{\"dtype\":\"" + dtype + "\",\"shape\":" + shape + ",\"data_offsets\":[" + begin + "," + end + "]}";
    }

    @Test
    void emptyFileIsHeaderTooSmall() throws IOException {
        Path p = dir.resolve("empty.safetensors");
        Files.write(p, new byte[0]);
        assertEquals(HEADER_TOO_SMALL, failure(p));
    }

    @Test
    void sevenBytesIsHeaderTooSmall() throws IOException {
        Path p = dir.resolve("seven.safetensors");
        Files.write(p, new byte[7]);
        assertEquals(HEADER_TOO_SMALL, failure(p));
    }

    @Test
    void lengthTwoToThe64MinusOneIsHeaderTooLarge() throws IOException {
        assertEquals(HEADER_TOO_LARGE, failure(raw(-1L, "{}".getBytes(), 0)));
    }

    @Test
    void lengthJustOverTheLimitIsHeaderTooLarge() throws IOException {
        assertEquals(HEADER_TOO_LARGE, failure(raw(100_000_001L, "{}".getBytes(), 0)));
    }

    @Test
    void lengthPastEndOfFileIsInvalidHeaderLength() throws IOException {
        assertEquals(INVALID_HEADER_LENGTH, failure(raw(1000, "{}".getBytes(), 0)));
    }

    @Test
    void nonUtf8HeaderIsInvalidHeader() throws IOException {
        byte[] h = {'{', (byte) 0xff, (byte) 0xfe, '}'};
        assertEquals(INVALID_HEADER, failure(raw(h.length, h, 0)));
    }

    @Test
    void arrayIsInvalidJson() throws IOException {
        assertEquals(INVALID_JSON, failure(file("[1,2]", 0)));
    }

    @Test
    void trailingTokenIsInvalidJson() throws IOException {
        assertEquals(INVALID_JSON, failure(file("{} x", 0)));
    }

    @Test
    void nulPaddingIsInvalidJson() throws IOException {
        assertEquals(INVALID_JSON, failure(file("{}\0\0\0\0\0\0", 0)));
    }

    @Test
    void truncatedJsonIsInvalidJson() throws IOException {
        assertEquals(INVALID_JSON, failure(file("{\"a\":", 0)));
    }

    @Test
    void f128IsUnknownDtype() throws IOException {
        assertEquals(UNKNOWN_DTYPE, failure(file("{" + t("a", "F128", "[1]", 0, 16) + "}", 16)));
    }

    @Test
    void lowerCaseDtypeIsUnknown() throws IOException {
        assertEquals(UNKNOWN_DTYPE, failure(file("{" + t("a", "f32", "[1]", 0, 4) + "}", 4)));
    }

    @Test
    void subByteDtypeIsRejectedExplicitly() throws IOException {
        assertEquals(UNSUPPORTED_DTYPE, failure(file("{" + t("a", "F4", "[2]", 0, 1) + "}", 1)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"[-1]", "[1.5]", "[2, 18446744073709551614]", "[2, 9223372036854775807]", "\"x\"", "[[1]]"})
    void badShapesAreInvalidShape(String shape) throws IOException {
        assertEquals(INVALID_SHAPE, failure(file("{" + t("a", "F32", shape, 0, 8) + "}", 8)));
    }

    @Test
    void threeOffsetsAreInvalidOffsets() throws IOException {
        assertEquals(INVALID_OFFSETS, failure(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8)));
    }

    @Test
    void floatOffsetsAreInvalidOffsets() throws IOException {
        assertEquals(INVALID_OFFSETS, failure(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0.0,4.0]}}", 4)));
    }

    @ParameterizedTest
    @ValueSource(strings = {"dtype", "shape", "data_offsets"})
    void missingFieldIsNamed(String field) throws IOException {
        String entry = "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}";
        String without = entry.replaceAll("\"" + field + "\":(\"F32\"|\\[[0-9,]*\\]),?", "").replace(",}", "}");
        SafetensorsException e = assertThrows(SafetensorsException.class, () -> SafetensorsFile.open(file("{\"a\":" + without + "}", 4)));
        assertEquals(MISSING_FIELD, e.kind());
        assertTrue(e.getMessage().contains(field), e.getMessage());
        assertEquals("a", e.tensor());
    }

    @Test
    void unknownFieldInTensorIsRejected() throws IOException {
        assertEquals(UNKNOWN_FIELD, failure(file("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}}", 4)));
    }

    @Test
    void nonStringMetadataValueIsInvalidMetadata() throws IOException {
        assertEquals(INVALID_METADATA, failure(file("{\"__metadata__\":{\"format\":1}}", 0)));
    }

    @Test
    void duplicateMetadataIsDuplicateKey() throws IOException {
        assertEquals(DUPLICATE_KEY, failure(file("{\"__metadata__\":{},\"__metadata__\":{}}", 0)));
    }

    @Test
    void duplicateTensorKeyIsDuplicateKey() throws IOException {
        SafetensorsException e = assertThrows(SafetensorsException.class,
                () -> SafetensorsFile.open(file("{" + t("a", "F32", "[1]", 0, 4) + "," + t("a", "F32", "[1]", 4, 8) + "}", 8)));
        assertEquals(DUPLICATE_KEY, e.kind());
        assertEquals("a", e.tensor());
    }

    @Test
    void tenTensorsAliasingOneRegionAreRejected() throws IOException {
        StringBuilder sb = new StringBuilder("{");
        for (int i = 0; i < 10; i++) sb.append(i == 0 ? "" : ",").append(t("t" + i, "F32", "[4]", 0, 16));
        assertEquals(MISALIGNED_TENSOR, failure(file(sb.append("}").toString(), 16)));
    }

    @Test
    void gapBetweenTensorsIsRejected() throws IOException {
        assertEquals(MISALIGNED_TENSOR, failure(file("{" + t("a", "F32", "[1]", 0, 4) + "," + t("b", "F32", "[1]", 8, 12) + "}", 12)));
    }

    @Test
    void overlapIsRejected() throws IOException {
        assertEquals(MISALIGNED_TENSOR, failure(file("{" + t("a", "F32", "[2]", 0, 8) + "," + t("b", "F32", "[1]", 4, 8) + "}", 8)));
    }

    @Test
    void firstTensorNotAtZeroIsRejected() throws IOException {
        assertEquals(MISALIGNED_TENSOR, failure(file("{" + t("a", "F32", "[1]", 4, 8) + "}", 8)));
    }

    @Test
    void endBeforeBeginIsInvalidOffsets() throws IOException {
        assertEquals(INVALID_OFFSETS, failure(file("{" + t("a", "F32", "[1]", 8, 4) + "}", 8)));
    }

    @Test
    void shapeOffsetMismatchIsSizeMismatch() throws IOException {
        assertEquals(SIZE_MISMATCH, failure(file("{" + t("a", "F32", "[3]", 0, 8) + "}", 8)));
    }

    @Test
    void threeTrailingBytesAreRejected() throws IOException {
        SafetensorsException e = assertThrows(SafetensorsException.class,
                () -> SafetensorsFile.open(file("{" + t("a", "F32", "[1]", 0, 4) + "}", 7)));
        assertEquals(FILE_SIZE_MISMATCH, e.kind());
        assertTrue(e.getMessage().contains("3 trailing bytes"), e.getMessage());
    }

    @Test
    void twoMissingBytesAreRejected() throws IOException {
        SafetensorsException e = assertThrows(SafetensorsException.class,
                () -> SafetensorsFile.open(file("{" + t("a", "F32", "[1]", 0, 4) + "}", 2)));
        assertEquals(FILE_SIZE_MISMATCH, e.kind());
        assertTrue(e.getMessage().contains("2 bytes missing"), e.getMessage());
    }

    @Test
    void offsetsNearTwoToThe40AreRejectedWithoutAllocating() throws IOException {
        long end = 1L << 40;
        assertEquals(FILE_SIZE_MISMATCH, failure(file("{" + t("a", "U8", "[" + end + "]", 0, end) + "}", 0)));
    }

    @Test
    void emptyHeaderWithNoDataIsAccepted() throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(file("{}", 0))) {
            assertTrue(f.tensors().isEmpty());
            assertTrue(f.metadata().isEmpty());
        }
    }

    @Test
    void nullMetadataIsAccepted() throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(file("{\"__metadata__\":null}", 0))) {
            assertTrue(f.metadata().isEmpty());
        }
    }

    @Test
    void scalarIsAccepted() throws IOException {
        Path p = file("{" + t("s", "F32", "[]", 0, 4) + "}", 0);
        byte[] all = Files.readAllBytes(p);
        byte[] with = java.util.Arrays.copyOf(all, all.length + 4);
        ByteBuffer.wrap(with, all.length, 4).order(ByteOrder.LITTLE_ENDIAN).putFloat(2.5f);
        Files.write(p, with);
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertEquals(0, f.info("s").rank());
            assertEquals(1, f.info("s").elementCount());
            assertEquals(2.5f, f.segment("s").get(SafetensorsFile.F32_LE, 0));
        }
    }

    @Test
    void zeroSizeTensorIsAccepted() throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(file("{" + t("z", "F32", "[2, 0]", 0, 0) + "," + t("a", "F32", "[1]", 0, 4) + "}", 4))) {
            assertEquals(0, f.info("z").elementCount());
            assertEquals(0, f.segment("z").byteSize());
        }
    }

    @Test
    void surroundingWhitespaceIsAccepted() throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(file("  \n{" + t("a", "F32", "[1]", 0, 4) + "}   \t ", 4))) {
            assertEquals(1, f.tensors().size());
        }
    }

    @Test
    void outOfOrderListingIsSortedByOffset() throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(file("{" + t("late", "F32", "[1]", 4, 8) + "," + t("early", "F32", "[1]", 0, 4) + "}", 8))) {
            assertEquals("early", f.tensors().get(0).name());
            assertEquals("late", f.tensors().get(1).name());
        }
    }

    @Test
    void unalignedDataStartIsReadLittleEndian() throws IOException {
        String json = "{" + t("a", "F32", "[2]", 0, 8) + "} "; // odd length: data starts unaligned
        byte[] h = json.getBytes(StandardCharsets.UTF_8);
        if ((8 + h.length) % 4 == 0) h = (json + " ").getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 8).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h).putFloat(1.25f).putFloat(-3.5f);
        Path p = dir.resolve("unaligned.safetensors");
        Files.write(p, b.array());
        try (SafetensorsFile f = SafetensorsFile.open(p)) {
            assertNotEquals(0, f.dataStart() % 4);
            assertEquals(1.25f, f.segment("a").getAtIndex(SafetensorsFile.F32_LE, 0));
            assertEquals(-3.5f, f.segment("a").getAtIndex(SafetensorsFile.F32_LE, 1));
        }
    }

    @Test
    void tensorNamedMetadataKeyCannotBeATensor() throws IOException {
        assertEquals(INVALID_METADATA, failure(file("{\"__metadata__\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4)));
    }

    @Test
    void unknownTensorLookupIsNamed() throws IOException {
        try (SafetensorsFile f = SafetensorsFile.open(file("{}", 0))) {
            SafetensorsException e = assertThrows(SafetensorsException.class, () -> f.info("nope"));
            assertEquals(TENSOR_NOT_FOUND, e.kind());
            assertEquals("nope", e.tensor());
        }
    }
}

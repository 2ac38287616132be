package io.headscan.format;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;

/**
 * A checkpoint split into shards by {@code transformers}: an index ({@code model.safetensors.index.json} or
 * {@code pytorch_model.bin.index.json}) whose {@code weight_map} names, for every tensor, the shard beside it that
 * holds it. Each shard is opened as the weights file it is ({@link MappedCheckpoint#openWeights}); the set reads as one.
 *
 * <p>The index is untrusted like any file (docs/formats.md §7). A shard name must be a plain file name of a weights file
 * ({@code .safetensors}, {@code .bin}, {@code .pt}, {@code .pth}) in the index's folder: never an index, so that no index
 * can lead to another (or to itself), and never a name with characters that mean something in a path or a URL. Every
 * tensor it maps must be in that shard. Each is named when it is not. Tensors a shard holds but the index does not map
 * are not part of the checkpoint.
 */
public final class ShardedCheckpoint implements MappedCheckpoint {

    /** An index is a few hundred bytes per tensor; it is read onto the heap whole. */
    static final long MAX_INDEX = 16L << 20;
    private static final List<String> WEIGHTS_EXTENSIONS = List.of(".safetensors", ".bin", ".pt", ".pth");
    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(8).build())
            .enable(com.fasterxml.jackson.core.StreamReadFeature.STRICT_DUPLICATE_DETECTION).build();

    private final Path index;
    private final Format format;
    private final List<MappedCheckpoint> shards;
    private final TensorIndex tensors;
    private final Map<TensorInfo, MappedCheckpoint> owner;
    private final Map<String, String> metadata;

    private ShardedCheckpoint(Path index, Format format, List<MappedCheckpoint> shards, List<TensorInfo> tensors,
                              Map<TensorInfo, MappedCheckpoint> owner, Map<String, String> metadata) {
        this.index = index;
        this.format = format;
        this.shards = List.copyOf(shards);
        this.tensors = TensorIndex.of(tensors, name -> new ShardIndexException(ShardIndexException.Kind.TENSOR_NOT_FOUND, index,
                "no tensor " + name + " in the checkpoint"));
        this.owner = owner;
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /**
     * The index's weight map, in its order: tensor name to shard file name, every shard name checked
     * ({@link #checkShardName}). A {@link ShardIndexException} (or {@link CheckpointRefusedException}) otherwise.
     */
    public static Map<String, String> readWeightMap(Path index, Map<String, String> metadataOut) {
        return CheckpointRefusedException.whileOpening(index, CheckpointFormatException.Container.SHARD_INDEX, () -> parseWeightMap(index, metadataOut));
    }

    private static Map<String, String> parseWeightMap(Path index, Map<String, String> metadataOut) {
        String special = RegularFile.problem(index);
        if (special != null) throw new ShardIndexException(ShardIndexException.Kind.IO, index, special);
        byte[] bytes;
        try (InputStream in = Files.newInputStream(index)) {
            bytes = in.readNBytes((int) MAX_INDEX + 1);   // ends at the end of the file, whatever size it had when opened
        } catch (NoSuchFileException e) {
            throw new ShardIndexException(ShardIndexException.Kind.IO, index, "no such file");
        } catch (IOException e) {
            throw new ShardIndexException(ShardIndexException.Kind.IO, index, e.toString(), e);
        }
        if (bytes.length > MAX_INDEX) throw bad(index, "the file is larger than " + (MAX_INDEX >> 20) + " MiB");
        Map<String, String> map = new LinkedHashMap<>();
        try (JsonParser p = JSON.createParser(bytes)) {
            if (p.nextToken() != JsonToken.START_OBJECT) throw bad(index, "not a JSON object");
            JsonToken t;
            while ((t = p.nextToken()) == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken v = p.nextToken();
                if (field.equals("weight_map")) {
                    if (v != JsonToken.START_OBJECT) throw bad(index, "weight_map is not an object");
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String tensor = p.currentName();
                        if (p.nextToken() != JsonToken.VALUE_STRING) throw bad(index, "weight_map entry '" + Printable.name(tensor) + "' is not a file name");
                        map.put(tensor, p.getText());
                    }
                } else if (field.equals("metadata") && v == JsonToken.START_OBJECT) {
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String k = p.currentName();
                        JsonToken mv = p.nextToken();
                        if (mv.isScalarValue() && metadataOut != null) metadataOut.put(k, p.getText());
                        else p.skipChildren();
                    }
                } else {
                    p.skipChildren();
                }
            }
            if (t != JsonToken.END_OBJECT || p.nextToken() != null) throw bad(index, "content after the JSON object");
        } catch (JsonProcessingException e) {
            throw bad(index, "not valid JSON: " + e.getOriginalMessage().replace('\n', ' '));
        } catch (IOException e) {
            throw new ShardIndexException(ShardIndexException.Kind.IO, index, e.toString(), e);
        }
        if (map.isEmpty()) throw bad(index, "no weight_map (or an empty one)");
        for (String shard : new LinkedHashSet<>(map.values())) checkShardName(index, shard);
        return map;
    }

    /**
     * A shard must be a plain file name beside the index, of a weights file: not the index itself, not another index,
     * and without a character that means something in a path or a URL (where the name goes when a shard is downloaded):
     * NUL and other control characters, '/', '\\', '?', '#', spaces, and no '..'.
     */
    static void checkShardName(Path index, String shard) {
        String shown = "'" + Printable.name(shard) + "'";
        if (shard.isEmpty()) throw new ShardIndexException(ShardIndexException.Kind.UNSAFE_SHARD_NAME, index, "a shard name is empty");
        for (int i = 0; i < shard.length(); ) {
            int c = shard.codePointAt(i);
            i += Character.charCount(c);
            String what = c == 0 ? "a NUL character" : c == '/' ? "a '/'" : c == '\\' ? "a '\\'" : c == '?' ? "a '?'" : c == '#' ? "a '#'"
                    : Character.isWhitespace(c) || Character.isSpaceChar(c) ? "a space" : Printable.unsafe(c) ? "a control character"
                    : Character.getType(c) == Character.SURROGATE ? "an unpaired surrogate" : null;
            if (what != null) {
                throw new ShardIndexException(ShardIndexException.Kind.UNSAFE_SHARD_NAME, index, "shard " + shown + " has " + what
                        + "; a shard must be a plain file name beside the index");
            }
        }
        if (shard.contains("..") || shard.equals(".")) {
            throw new ShardIndexException(ShardIndexException.Kind.UNSAFE_SHARD_NAME, index, "shard " + shown + " has '..'; a shard must be a plain file name beside the index");
        }
        if (shard.getBytes(StandardCharsets.UTF_8).length > 255) {
            throw new ShardIndexException(ShardIndexException.Kind.UNSAFE_SHARD_NAME, index, "shard name " + shown + " is longer than a file name can be");
        }
        String self = index.getFileName() == null ? "" : index.getFileName().toString();
        if (shard.equals(self)) throw new ShardIndexException(ShardIndexException.Kind.SELF_REFERENCE, index, "its weight_map names the index itself as a shard");
        if (shard.endsWith(".json")) {
            throw new ShardIndexException(ShardIndexException.Kind.NOT_A_WEIGHTS_FILE, index, "shard " + shown
                    + " is another index or JSON file; a shard must be a weights file, never an index");
        }
        if (WEIGHTS_EXTENSIONS.stream().noneMatch(shard::endsWith)) {
            throw new ShardIndexException(ShardIndexException.Kind.NOT_A_WEIGHTS_FILE, index, "shard " + shown + " is not named as a weights file ("
                    + String.join(", ", WEIGHTS_EXTENSIONS) + ")");
        }
    }


    /**
     * Opens the index and every shard it names. Every failure is a {@link CheckpointFormatException} naming the index
     * or the shard at fault.
     */
    public static ShardedCheckpoint open(Path index) {
        return CheckpointRefusedException.whileOpening(index, CheckpointFormatException.Container.SHARD_INDEX, () -> openShards(index));
    }

    private static ShardedCheckpoint openShards(Path index) {
        Map<String, String> md = new LinkedHashMap<>();
        Map<String, String> map = parseWeightMap(index, md);
        Path dir = index.toAbsolutePath().getParent();
        Map<String, MappedCheckpoint> opened = new LinkedHashMap<>();
        try {
            for (String shard : new LinkedHashSet<>(map.values())) {
                Path p = dir.resolve(shard);
                if (!Files.isRegularFile(p)) throw new ShardIndexException(ShardIndexException.Kind.MISSING_SHARD, index, "shard " + shard + " (named by the weight_map) is not in " + dir);
                if (sameFile(p, index)) throw new ShardIndexException(ShardIndexException.Kind.SELF_REFERENCE, index, "shard " + shard + " is the index itself");
                opened.put(shard, MappedCheckpoint.openWeights(p));
            }
            Format format = null;
            for (MappedCheckpoint c : opened.values()) {
                Format f = switch (c.format()) {
                    case SAFETENSORS -> Format.SHARDED_SAFETENSORS;
                    case PYTORCH_ZIP -> Format.SHARDED_PYTORCH_ZIP;
                    default -> throw new ShardIndexException(ShardIndexException.Kind.NOT_A_WEIGHTS_FILE, index, "shard " + c.path().getFileName() + " is itself sharded");
                };
                if (format != null && format != f) throw new ShardIndexException(ShardIndexException.Kind.MIXED_SHARDS, index, "shards mix safetensors and PyTorch files");
                format = f;
            }
            List<TensorInfo> tensors = new ArrayList<>();
            Map<TensorInfo, MappedCheckpoint> owner = new HashMap<>();
            for (var e : map.entrySet()) {
                MappedCheckpoint c = opened.get(e.getValue());
                if (!c.has(e.getKey())) {
                    throw new ShardIndexException(ShardIndexException.Kind.TENSOR_NOT_IN_SHARD, index, "tensor " + Printable.name(e.getKey()) + " is not in shard "
                            + e.getValue() + ", as the weight_map says");
                }
                TensorInfo t = c.info(e.getKey());
                tensors.add(t);
                owner.put(t, c);
            }
            md.put("shards", String.valueOf(opened.size()));
            return new ShardedCheckpoint(index, format, new ArrayList<>(opened.values()), tensors, owner, md);
        } catch (RuntimeException | Error e) {
            opened.values().forEach(MappedCheckpoint::close);
            throw e;
        }
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;   // opening it reports the problem
        }
    }

    private static ShardIndexException bad(Path index, String why) {
        return new ShardIndexException(ShardIndexException.Kind.INVALID_INDEX, index, why);
    }

    private MappedCheckpoint owner(TensorInfo t) {
        MappedCheckpoint c = owner.get(t);
        if (c == null) throw new ShardIndexException(ShardIndexException.Kind.TENSOR_NOT_FOUND, index, "tensor " + t.name() + " is not a tensor of this checkpoint");
        return c;
    }

    @Override
    public Format format() {
        return format;
    }

    @Override
    public Path path() {
        return index;
    }

    @Override
    public List<Path> files() {
        return shards.stream().map(MappedCheckpoint::path).toList();
    }

    @Override
    public long fileSize() {
        return shards.stream().mapToLong(MappedCheckpoint::fileSize).sum();
    }

    @Override
    public List<TensorInfo> tensors() {
        return tensors.inOrder();
    }

    @Override
    public boolean has(String name) {
        return tensors.has(name);
    }

    @Override
    public TensorInfo info(String name) {
        return tensors.info(name);
    }

    @Override
    public MemorySegment segment(TensorInfo t) {
        return owner(t).segment(t);
    }

    @Override
    public Path fileOf(TensorInfo t) {
        return owner(t).path();
    }

    @Override
    public long fileOffset(TensorInfo t) {
        return owner(t).fileOffset(t);
    }

    @Override
    public Map<String, String> metadata() {
        return metadata;
    }

    @Override
    public List<MemorySegment> mappings() {
        List<MemorySegment> out = new ArrayList<>();
        for (MappedCheckpoint c : shards) out.addAll(c.mappings());
        return out;
    }

    @Override
    public boolean isOpen() {
        return shards.stream().allMatch(MappedCheckpoint::isOpen);
    }

    @Override
    public void close() {
        shards.forEach(MappedCheckpoint::close);
    }
}

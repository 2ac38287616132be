package io.headscan.format;

import com.fasterxml.jackson.core.JsonFactory;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.core.JsonToken;
import com.fasterxml.jackson.core.StreamReadConstraints;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A checkpoint split into shards by {@code transformers}: an index ({@code model.safetensors.index.json} or
 * {@code pytorch_model.bin.index.json}) whose {@code weight_map} names, for every tensor, the shard beside it that
 * holds it. Each shard is opened as the checkpoint it is ({@link MappedCheckpoint#open}); the set reads as one.
 *
 * <p>The index is untrusted like any file: a shard name must be a plain file name in the index's folder, every tensor
 * it maps must be in that shard, and both are named when they are not. Tensors a shard holds but the index does not
 * map are not part of the checkpoint.
 */
public final class ShardedCheckpoint implements MappedCheckpoint {

    private static final long MAX_INDEX = 64L << 20;
    private static final JsonFactory JSON = JsonFactory.builder()
            .streamReadConstraints(StreamReadConstraints.builder().maxNestingDepth(8).build()).build();

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
        this.tensors = TensorIndex.of(index, tensors);
        this.owner = owner;
        this.metadata = Collections.unmodifiableMap(metadata);
    }

    /** The index's weight map, in its order: tensor name to shard file name. */
    public static Map<String, String> readWeightMap(Path index, Map<String, String> metadataOut) {
        byte[] bytes;
        try {
            if (Files.size(index) > MAX_INDEX) throw new SafetensorsException(SafetensorsException.Kind.INVALID_HEADER, index, null,
                    "index file is larger than " + (MAX_INDEX >> 20) + " MiB");
            bytes = Files.readAllBytes(index);
        } catch (NoSuchFileException e) {
            throw new SafetensorsException(SafetensorsException.Kind.IO, index, null, "no such file");
        } catch (IOException e) {
            throw new SafetensorsException(SafetensorsException.Kind.IO, index, null, e.toString(), e);
        }
        Map<String, String> map = new LinkedHashMap<>();
        try (JsonParser p = JSON.createParser(bytes)) {
            if (p.nextToken() != JsonToken.START_OBJECT) throw bad(index, "not a JSON object");
            while (p.nextToken() == JsonToken.FIELD_NAME) {
                String field = p.currentName();
                JsonToken v = p.nextToken();
                if (field.equals("weight_map")) {
                    if (v != JsonToken.START_OBJECT) throw bad(index, "weight_map is not an object");
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String tensor = p.currentName();
                        if (p.nextToken() != JsonToken.VALUE_STRING) throw bad(index, "weight_map entry '" + tensor + "' is not a file name");
                        if (map.put(tensor, p.getText()) != null) throw bad(index, "weight_map names tensor '" + tensor + "' twice");
                    }
                } else if (field.equals("metadata") && v == JsonToken.START_OBJECT) {
                    while (p.nextToken() == JsonToken.FIELD_NAME) {
                        String k = p.currentName();
                        JsonToken t = p.nextToken();
                        if (t.isScalarValue() && metadataOut != null) metadataOut.put(k, p.getText());
                        else p.skipChildren();
                    }
                } else {
                    p.skipChildren();
                }
            }
        } catch (JsonProcessingException e) {
            throw bad(index, "not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new SafetensorsException(SafetensorsException.Kind.IO, index, null, e.toString(), e);
        }
        if (map.isEmpty()) throw bad(index, "no weight_map (or an empty one)");
        for (String shard : map.values()) {
            if (shard.isEmpty() || shard.contains("/") || shard.contains("\\") || shard.equals(".") || shard.equals("..")) {
                throw bad(index, "shard '" + shard + "' is not a file name beside the index");
            }
        }
        return map;
    }

    public static ShardedCheckpoint open(Path index) {
        Map<String, String> md = new LinkedHashMap<>();
        Map<String, String> map = readWeightMap(index, md);
        Path dir = index.toAbsolutePath().getParent();
        Map<String, MappedCheckpoint> opened = new LinkedHashMap<>();
        try {
            for (String shard : new java.util.LinkedHashSet<>(map.values())) {
                Path p = dir.resolve(shard);
                if (!Files.isRegularFile(p)) throw bad(index, "shard " + shard + " (named by the weight_map) is not in " + dir);
                opened.put(shard, MappedCheckpoint.open(p));
            }
            Format format = null;
            for (MappedCheckpoint c : opened.values()) {
                Format f = switch (c.format()) {
                    case SAFETENSORS -> Format.SHARDED_SAFETENSORS;
                    case PYTORCH_ZIP -> Format.SHARDED_PYTORCH_ZIP;
                    default -> throw bad(index, "shard " + c.path().getFileName() + " is itself sharded");
                };
                if (format != null && format != f) throw bad(index, "shards mix safetensors and PyTorch files");
                format = f;
            }
            List<TensorInfo> tensors = new ArrayList<>();
            Map<TensorInfo, MappedCheckpoint> owner = new HashMap<>();
            for (var e : map.entrySet()) {
                MappedCheckpoint c = opened.get(e.getValue());
                if (!c.has(e.getKey())) throw bad(index, "tensor " + e.getKey() + " is not in shard " + e.getValue() + ", as the weight_map says");
                TensorInfo t = c.info(e.getKey());
                tensors.add(t);
                owner.put(t, c);
            }
            md.put("shards", String.valueOf(opened.size()));
            return new ShardedCheckpoint(index, format, new ArrayList<>(opened.values()), tensors, owner, md);
        } catch (RuntimeException e) {
            opened.values().forEach(MappedCheckpoint::close);
            throw e;
        }
    }

    private static SafetensorsException bad(Path index, String why) {
        return new SafetensorsException(SafetensorsException.Kind.INVALID_HEADER, index, null, "sharded checkpoint index: " + why);
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

    private MappedCheckpoint owner(TensorInfo t) {
        MappedCheckpoint c = owner.get(t);
        if (c == null) throw new SafetensorsException(SafetensorsException.Kind.TENSOR_NOT_FOUND, index, t.name(), "not a tensor of this checkpoint");
        return c;
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

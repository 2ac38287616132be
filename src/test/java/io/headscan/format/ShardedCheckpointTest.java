package io.headscan.format;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.model.Dims;
import io.headscan.model.Model;
import io.headscan.synth.SyntheticGpt2;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A checkpoint split into shards with an index, as transformers saves large models, read as one. */
class ShardedCheckpointTest {

    @TempDir
    Path dir;

    /** Splits a synthetic checkpoint into two shards (safetensors or PyTorch) with their index. */
    static Path shard(Path whole, Path out, boolean pytorch) throws IOException {
        Files.createDirectories(out);
        Map<String, String> weightMap = new LinkedHashMap<>();
        try (SafetensorsFile f = SafetensorsFile.open(whole.resolve("model.safetensors"))) {
            List<TensorInfo> ts = f.tensors();
            int half = ts.size() / 2;
            String ext = pytorch ? ".bin" : ".safetensors";
            String base = pytorch ? "pytorch_model" : "model";
            for (int s = 0; s < 2; s++) {
                String name = base + "-0000" + (s + 1) + "-of-00002" + ext;
                List<TensorInfo> part = s == 0 ? ts.subList(0, half) : ts.subList(half, ts.size());
                if (pytorch) {
                    PyTorchZipWriter w = new PyTorchZipWriter();
                    for (TensorInfo t : part) w.add(t.name(), t.dtype(), t.shape(), f.segment(t));
                    w.write(out.resolve(name));
                } else {
                    SafetensorsWriter w = new SafetensorsWriter();
                    for (TensorInfo t : part) w.add(t.name(), t.dtype(), t.shape(), seg -> seg.copyFrom(f.segment(t)));
                    w.write(out.resolve(name));
                }
                for (TensorInfo t : part) weightMap.put(t.name(), name);
            }
            StringBuilder json = new StringBuilder("{\"metadata\": {\"total_size\": " + (f.fileSize() - f.dataStart()) + "}, \"weight_map\": {");
            weightMap.forEach((k, v) -> json.append('"').append(k).append("\": \"").append(v).append("\","));
            json.setLength(json.length() - 1);
            json.append("}}");
            Path index = out.resolve((pytorch ? "pytorch_model.bin" : "model.safetensors") + ".index.json");
            Files.writeString(index, json);
            Files.copy(whole.resolve("config.json"), out.resolve("config.json"));
            return index;
        }
    }

    @Test
    void shardsReadAsOneCheckpointInBothFormats() throws IOException {
        Path whole = dir.resolve("whole");
        new SyntheticGpt2(new Dims(200, 32, 2, 2, 64, 8), 3, List.of()).write(whole, 2);
        for (boolean pytorch : new boolean[] {false, true}) {
            Path out = dir.resolve(pytorch ? "pt" : "st");
            Path index = shard(whole, out, pytorch);
            try (Model a = Model.open(whole); Model b = Model.open(out)) {
                assertEquals(index, b.path(), "the folder resolves to its index");
                assertEquals(pytorch ? MappedCheckpoint.Format.SHARDED_PYTORCH_ZIP : MappedCheckpoint.Format.SHARDED_SAFETENSORS, b.file().format());
                assertEquals(2, b.file().files().size());
                assertEquals(a.dims(), b.dims());
                assertEquals(a.tensors().size(), b.tensors().size());
                for (TensorInfo t : a.tensors()) {
                    assertEquals(-1, a.file().segment(t).mismatch(b.file().segment(b.file().info(t.name()))), t.name());
                }
                assertTrue(b.zeroCopy());
            }
        }
    }

    @Test
    void aChangedShardChangesTheCheckpointsIdentity() throws Exception {
        Path whole = dir.resolve("whole");
        new SyntheticGpt2(new Dims(100, 16, 1, 2, 32, 4), 1, List.of()).write(whole, 2);
        Path index = shard(whole, dir.resolve("s"), false);
        Path cache = dir.resolve("cache");
        String before;
        try (MappedCheckpoint c = MappedCheckpoint.open(index)) {
            before = io.headscan.circuits.CheckpointIdentity.sha256(c, cache, io.headscan.Progress.NONE);
            assertEquals(before, io.headscan.circuits.CheckpointIdentity.sha256(c, cache, io.headscan.Progress.NONE), "remembered");
        }
        Path second = dir.resolve("s").resolve("model-00002-of-00002.safetensors");
        byte[] b = Files.readAllBytes(second);
        b[b.length - 1] ^= 1;   // one byte of the last tensor; the index is untouched
        Files.write(second, b);
        try (MappedCheckpoint c = MappedCheckpoint.open(index)) {
            assertNotEquals(before, io.headscan.circuits.CheckpointIdentity.sha256(c, cache, io.headscan.Progress.NONE));
        }
    }

    @Test
    void damagedIndexesAreNamed() throws IOException {
        Path whole = dir.resolve("whole");
        new SyntheticGpt2(new Dims(100, 16, 1, 2, 32, 4), 1, List.of()).write(whole, 2);
        Path index = shard(whole, dir.resolve("s"), false);
        String good = Files.readString(index);
        Files.writeString(index, good.replace("model-00002-of-00002.safetensors", "../../etc/passwd"));
        var e = assertThrows(ShardIndexException.class, () -> MappedCheckpoint.open(index));
        assertEquals(ShardIndexException.Kind.UNSAFE_SHARD_NAME, e.kind());
        assertTrue(e.getMessage().contains("shard '../../etc/passwd' has a '/'"), e.getMessage());
        Files.writeString(index, good.replace("model-00002-of-00002.safetensors", "model-00009-of-00009.safetensors"));
        e = assertThrows(ShardIndexException.class, () -> MappedCheckpoint.open(index));
        assertTrue(e.getMessage().contains("shard model-00009-of-00009.safetensors (named by the weight_map) is not in"), e.getMessage());
        Files.writeString(index, good.replace("\"wte.weight\": \"model-00001-of-00002.safetensors\"", "\"wte.weight\": \"model-00002-of-00002.safetensors\""));
        e = assertThrows(ShardIndexException.class, () -> MappedCheckpoint.open(index));
        assertTrue(e.getMessage().contains("tensor wte.weight is not in shard model-00002-of-00002.safetensors"), e.getMessage());
        Files.writeString(index, "{\"metadata\": {}}");
        e = assertThrows(ShardIndexException.class, () -> MappedCheckpoint.open(index));
        assertTrue(e.getMessage().contains("no weight_map"), e.getMessage());
    }
}

package io.headscan.format;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headscan.synth.SyntheticGpt2;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Shard indexes that point at themselves, at each other, at files that are not weights, or use names with characters
 * that mean something in a path or a URL (jqwik). Opening one either reads the one real shard, when every name is that
 * shard's, or fails with the {@link ShardIndexException} that names the first bad name; never a StackOverflowError,
 * whatever cycle the indexes make.
 */
class ShardIndexPropertiesTest {

    static final List<String> INDEXES = List.of("model.safetensors.index.json", "pytorch_model.bin.index.json", "a.index.json", "b.safetensors.index.json");
    static final String SHARD = "model-00001-of-00001.safetensors";
    static final List<String> OTHERS = List.of("config.json", "missing-00002-of-00002.safetensors");
    /** Every non-ASCII character written as a JSON escape, so that even a lone surrogate reaches the reader. */
    static final ObjectMapper JSON = new ObjectMapper(com.fasterxml.jackson.core.JsonFactory.builder()
            .enable(com.fasterxml.jackson.core.json.JsonWriteFeature.ESCAPE_NON_ASCII).build());

    static Path dir, good;
    static List<String> tensorNames;

    @BeforeContainer
    static void model() throws IOException {
        dir = Files.createTempDirectory("shard-index-properties");
        good = dir.resolve("good");
        new SyntheticGpt2(HostileCheckpoints.DIMS, 1, List.of()).write(good, 1);
        try (SafetensorsFile f = SafetensorsFile.open(good.resolve("model.safetensors"))) {
            tensorNames = f.tensors().stream().map(TensorInfo::name).toList();
        }
    }

    @AfterContainer
    static void remove() throws IOException {
        try (var s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    /** Writes an index mapping the tensors, in order, to these shard names (cycling through them). */
    private static void index(Path folder, String name, List<String> shards) throws IOException {
        ObjectNode root = JSON.createObjectNode();
        root.putObject("metadata").put("total_size", 1);
        ObjectNode map = root.putObject("weight_map");
        for (int i = 0; i < tensorNames.size(); i++) map.put(tensorNames.get(i), shards.get(i % shards.size()));
        Files.writeString(folder.resolve(name), JSON.writeValueAsString(root));   // Jackson escapes every character JSON must
    }

    /** For each index (the first always there), the names its tensors map to: other indexes, itself, the shard, others. */
    @Provide
    Arbitrary<List<List<String>>> indexGraphs() {
        Arbitrary<String> target = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(4, Arbitraries.of(INDEXES)),
                net.jqwik.api.Tuple.of(5, Arbitraries.just(SHARD)),
                net.jqwik.api.Tuple.of(1, Arbitraries.of(OTHERS)));
        return target.list().ofMinSize(1).ofMaxSize(3).list().ofMinSize(1).ofMaxSize(INDEXES.size());
    }

    @Property(tries = 150)
    void indexesNamingIndexesThemselvesOrNonWeightsAreNamedNeverFollowed(@ForAll("indexGraphs") List<List<String>> graph) throws IOException {
        Path folder = Files.createTempDirectory(dir, "g");
        Files.copy(good.resolve("model.safetensors"), folder.resolve(SHARD));
        Files.copy(good.resolve("config.json"), folder.resolve("config.json"));
        for (int i = 0; i < graph.size(); i++) index(folder, INDEXES.get(i), graph.get(i));
        for (int i = 0; i < graph.size(); i++) {
            String self = INDEXES.get(i);
            Path index = folder.resolve(self);
            ShardIndexException.Kind expected = null;
            for (String name : new LinkedHashSet<>(graph.get(i))) {   // names are checked in weight_map order, before any is opened
                if (expected != null) break;
                if (name.equals(self)) expected = ShardIndexException.Kind.SELF_REFERENCE;
                else if (name.endsWith(".json")) expected = ShardIndexException.Kind.NOT_A_WEIGHTS_FILE;
            }
            if (expected == null && graph.get(i).stream().anyMatch(n -> n.startsWith("missing"))) expected = ShardIndexException.Kind.MISSING_SHARD;
            if (expected == null) {
                try (MappedCheckpoint c = MappedCheckpoint.open(index)) {
                    assertEquals(tensorNames.size(), c.tensors().size());
                    assertEquals(List.of(folder.resolve(SHARD).toAbsolutePath()), c.files().stream().map(Path::toAbsolutePath).toList());
                }
            } else {
                ShardIndexException e = assertThrows(ShardIndexException.class, () -> MappedCheckpoint.open(index).close(), graph.toString());
                assertEquals(expected, e.kind(), e.getMessage());
                assertTrue(e.getMessage().startsWith(index.toString()), e.getMessage());
                assertEquals(CheckpointFormatException.Container.SHARD_INDEX, e.container());
            }
        }
    }

    /** Characters a shard name may not hold, one of them put somewhere into a plausible name. */
    @Provide
    Arbitrary<String> unsafeNames() {
        Arbitrary<String> bad = Arbitraries.of("\0", "/", "\\", "?", "#", " ", "\t", "\n", "\r", "\u0007", "\u007f", "\u0085", "\u00a0",
                "\u2028", "\u202e", "\u200b", "\u3000", "\ufeff", "..", "\ud800");
        return Combinators.combine(Arbitraries.of("model-00001-of-00002.safetensors", "pytorch_model-00003-of-00009.bin", "w.pt"),
                Arbitraries.integers().between(0, 40), bad).as((name, at, c) -> {
                    int p = Math.min(at, name.length());
                    return name.substring(0, p) + c + name.substring(p);
                });
    }

    @Property(tries = 200)
    void namesWithUnsafeCharactersAreRefusedByName(@ForAll("unsafeNames") String shard) throws IOException {
        Path folder = Files.createTempDirectory(dir, "n");
        index(folder, "model.safetensors.index.json", List.of(shard));
        Path index = folder.resolve("model.safetensors.index.json");
        ShardIndexException e = assertThrows(ShardIndexException.class, () -> ShardedCheckpoint.readWeightMap(index, null), shard);
        assertEquals(ShardIndexException.Kind.UNSAFE_SHARD_NAME, e.kind(), e.getMessage());
        assertTrue(e.getMessage().startsWith(index + ": unsafe shard name: "), e.getMessage());
        assertTrue(e.getMessage().chars().noneMatch(c -> Character.isISOControl(c) || c == '\u2028' || c == '\u202e'),
                "the name is shown escaped, on one line: " + e.getMessage());
    }

    @Property(tries = 50)
    void plainWeightsFileNamesAreAccepted(@ForAll("plainNames") String shard) throws IOException {
        Path folder = Files.createTempDirectory(dir, "p");
        index(folder, "model.safetensors.index.json", List.of(shard));
        assertEquals(new LinkedHashSet<>(List.of(shard)), new LinkedHashSet<>(ShardedCheckpoint.readWeightMap(folder.resolve("model.safetensors.index.json"), null).values()));
    }

    @Provide
    Arbitrary<String> plainNames() {
        return Combinators.combine(Arbitraries.strings().withCharRange('a', 'z').withChars('-', '_', '.', 'é', 'Ж').ofMinLength(1).ofMaxLength(30)
                        .filter(s -> !s.contains("..") && !s.endsWith(".")),
                Arbitraries.of(".safetensors", ".bin", ".pt", ".pth")).as(String::concat);
    }
}

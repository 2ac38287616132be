package io.headscan.circuits;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headscan.tokenize.Tokenizer;
import io.headscan.tokenize.Tokenizers;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Corpus bags and IOI names with a model's own tokenizer.json (the fixtures of src/test/resources/tokenizers), against
 * what Hugging Face's Python tokenizers library gave for them.
 */
class ModelTokenizerBagsTest {

    static Path fixtures() throws Exception {
        return Path.of(ModelTokenizerBagsTest.class.getResource("/tokenizers/expected.json").toURI()).getParent();
    }

    @ParameterizedTest
    @ValueSource(strings = {"bpe", "wordpiece", "unigram"})
    void corpusBagsAreTheFirstDistinctIdsOfTheModelsTokenizer(String name) throws Exception {
        Path dir = fixtures();
        JsonNode e = new ObjectMapper().readTree(dir.resolve("expected.json").toFile());
        JsonNode want = e.get("tokenizers").get(name).get("corpus_bags");
        int size = e.get("bag_size").asInt();
        try (Tokenizer t = Tokenizers.forCheckpoint(dir.resolve(name), 1000).orElseThrow()) {
            List<int[]> bags = Bags.fromCorpus(dir.resolve("docs.jsonl"), t, 1000, size, want.size());
            assertEquals(want.size(), bags.size());
            for (int b = 0; b < bags.size(); b++) assertEquals(want.get(b).toString(), Arrays.toString(bags.get(b)).replace(" ", ""), "bag " + b);
            assertNotEquals(Arrays.toString(Bags.fromCorpus(dir.resolve("docs.jsonl"), io.headscan.tokenize.Gpt2Tokenizer.INSTANCE, 50257, size, 1).get(0)),
                    Arrays.toString(bags.get(0)), "not GPT-2's ids");
            String outside = assertThrows(IllegalArgumentException.class, () -> Bags.fromCorpus(dir.resolve("docs.jsonl"), t, 5, size, 1)).getMessage();
            assertTrue(outside.contains("gives token id") && outside.contains("outside the model's vocabulary [0, 5)"), outside);
        }
    }

    /**
     * The names kept are those whose token after "and " is one token, per the Python library's ids; for these byte-level
     * BPE and Metaspace tokenizers that is also the token of " " + name. The report counts them.
     */
    @ParameterizedTest
    @ValueSource(strings = {"bpe", "wordpiece", "unigram"})
    void ioiNamesAreThoseThatAreOneTokenOfTheModelsTokenizer(String name) throws Exception {
        Path dir = fixtures();
        JsonNode e = new ObjectMapper().readTree(dir.resolve("expected.json").toFile());
        List<String> listed = new ArrayList<>();
        e.get("names").forEach(n -> listed.add(n.asText()));
        assertEquals(IoiNames.DEFAULT, listed, "make_fixtures.py's names are IoiNames' list");
        assertEquals(IoiNames.BEFORE, e.get("before").asText());
        Map<String, int[]> ids = new LinkedHashMap<>();
        for (JsonNode c : e.get("tokenizers").get(name).get("cases")) {
            int[] a = new int[c.get("ids").size()];
            for (int i = 0; i < a.length; i++) a[i] = c.get("ids").get(i).asInt();
            ids.put(c.get("text").asText(), a);
        }
        int[] before = ids.get(IoiNames.BEFORE);
        Map<String, Integer> want = new LinkedHashMap<>();
        for (String n : listed) {
            int[] a = ids.get(IoiNames.BEFORE + " " + n);
            if (a.length == before.length + 1 && Arrays.equals(Arrays.copyOf(a, before.length), before)) want.put(n, a[before.length]);
        }
        try (Tokenizer t = Tokenizers.forCheckpoint(dir.resolve(name), 1000).orElseThrow()) {
            IoiNames.Found found = IoiNames.defaults(t, 1000);
            assertEquals(want, found.tokens());
            assertEquals(82, found.listed());
            assertTrue(found.tokens().size() >= 30 && found.tokens().size() < 82, "some names are one token, not all: " + found.tokens().size());
            assertEquals(found.tokens().size() + " of 82 names are one token", found.describe());
            assertTrue(found.tokenizer().startsWith("tokenizer.json (" + (name.equals("bpe") ? "BPE" : name.equals("unigram") ? "Unigram" : "WordPiece")), found.tokenizer());
            if (!name.equals("wordpiece")) {
                for (var n : want.entrySet()) assertArrayEquals(new int[] {n.getValue()}, ids.get(" " + n.getKey()), n.getKey());
            }
        }
    }
}

package io.headscan.circuits;

import static org.junit.jupiter.api.Assertions.*;

import io.headscan.tokenize.Gpt2Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BagsTest {

    @TempDir
    Path dir;

    private static final Gpt2Tokenizer GPT2 = Gpt2Tokenizer.INSTANCE;

    @Test
    void randomBagsAreSeededDistinctAndInRange() {
        List<int[]> a = Bags.random(1000, 128, 8, 0, false), b = Bags.random(1000, 128, 8, 0, false);
        for (int i = 0; i < 8; i++) {
            assertArrayEquals(a.get(i), b.get(i));
            assertEquals(128, Arrays.stream(a.get(i)).distinct().count(), "without replacement");
            assertTrue(Arrays.stream(a.get(i)).allMatch(t -> t >= 0 && t < 1000));
        }
        assertFalse(Arrays.equals(a.get(0), Bags.random(1000, 128, 8, 1, false).get(0)));
        assertEquals(200, Bags.random(200, 200, 1, 0, false).get(0).length, "a bag may hold the whole vocabulary");
        List<int[]> w = Bags.random(10, 50, 2, 0, true);
        assertTrue(Arrays.stream(w.get(0)).distinct().count() < 50, "with replacement repeats ids");
    }

    @Test
    void bagLargerThanVocabularyIsRejected() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Bags.random(100, 128, 8, 0, false));
        assertTrue(e.getMessage().contains("--bag-size 128 is larger than the vocabulary (100)"), e.getMessage());
    }

    @Test
    void bagsFileIsValidated() throws IOException {
        Path f = dir.resolve("bags.json");
        Files.writeString(f, "[[1, 2, 3], [4, 5, 6]]");
        assertEquals(2, Bags.fromFile(f, 10, false).size());
        Files.writeString(f, "[[1, 2, 10]]");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Bags.fromFile(f, 10, false)).getMessage()
                .contains("token id 10, outside the vocabulary [0, 10)"));
        Files.writeString(f, "[[]]");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Bags.fromFile(f, 10, false)).getMessage().contains("bag 0 is empty"));
        Files.writeString(f, "[[1, 2.5]]");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Bags.fromFile(f, 10, false)).getMessage().contains("not a token id"));
        Files.writeString(f, "{\"a\": 1}");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Bags.fromFile(f, 10, false)).getMessage().contains("not a headscan score report"));
        Files.writeString(f, "\"text\"");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Bags.fromFile(f, 10, false)).getMessage().contains("expected a JSON array"));
        Files.writeString(f, "[[1, 2, 1]]");
        String dup = assertThrows(IllegalArgumentException.class, () -> Bags.fromFile(f, 10, false)).getMessage();
        assertTrue(dup.contains("bag 0 holds token 1 twice (entries 0 and 2)"), dup);
        assertArrayEquals(new int[] {1, 2, 1}, Bags.fromFile(f, 10, true).get(0));
        // a score --json report is accepted as a bags file: its bags.ids, and its with_replacement flag
        Files.writeString(f, "{\"metric\": \"prediction_attention\", \"bags\": {\"with_replacement\": true, \"ids\": [[3, 4, 3], [5, 6, 7]]}}");
        List<int[]> fromReport = Bags.fromFile(f, 10, false);
        assertEquals(2, fromReport.size());
        assertArrayEquals(new int[] {5, 6, 7}, fromReport.get(1));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Bags.fromFile(dir.resolve("none.json"), 10, false)).getMessage().contains("not found"));
    }

    @Test
    void corpusBagsAreFirstDistinctTokensPerDocument() throws IOException {
        Path txt = dir.resolve("a.txt");
        Files.writeString(txt, "the cat the dog the cat sat");
        // " the" repeats; distinct in order of first appearance: the, cat, the(space), dog, sat ...
        int[] ids = GPT2.encode("the cat the dog the cat sat");
        int[] expected = Arrays.stream(ids).distinct().limit(4).toArray();
        assertArrayEquals(expected, Bags.fromCorpus(txt, GPT2, 50257, 4, 1).get(0));

        Path jsonl = dir.resolve("docs.jsonl");
        Files.writeString(jsonl, "{\"text\": \"one two three four five\"}\n{\"text\": \"short\"}\n{\"text\": \"alpha beta gamma delta epsilon\"}\n");
        List<int[]> bags = Bags.fromCorpus(jsonl, GPT2, 50257, 4, 2);
        assertEquals(2, bags.size(), "the short document is skipped");
        String fewer = assertThrows(IllegalArgumentException.class, () -> Bags.fromCorpus(jsonl, GPT2, 50257, 4, 10)).getMessage();
        assertTrue(fewer.contains("only 2 documents have 4 distinct tokens, fewer than --bag-count 10"), fewer);
        assertEquals(1, Bags.fromCorpus(jsonl, GPT2, 50257, 4, 1).size(), "only the first count documents");

        Path folder = dir.resolve("docs");
        Files.createDirectories(folder);
        Files.writeString(folder.resolve("b.txt"), "zeta eta theta iota kappa");
        Files.writeString(folder.resolve("a.txt"), "red green blue yellow");
        assertArrayEquals(Arrays.stream(GPT2.encode("red green blue yellow")).distinct().limit(3).toArray(),
                Bags.fromCorpus(folder, GPT2, 50257, 3, 2).get(0), "files in name order");

        assertTrue(assertThrows(IllegalArgumentException.class, () -> Bags.fromCorpus(dir.resolve("missing"), GPT2, 50257, 4, 1)).getMessage()
                .contains("corpus not found"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Bags.fromCorpus(txt, GPT2, 50257, 50, 1)).getMessage()
                .contains("only 0 documents have 50 distinct tokens"));
        Files.writeString(jsonl, "{\"txt\": \"x\"}\n");
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Bags.fromCorpus(jsonl, GPT2, 50257, 1, 1)).getMessage().contains("no \"text\" string"));
    }

    @Test
    void ioiNamesAreSingleTokensWithALeadingSpace() {
        var found = IoiNames.defaults(GPT2, 50257);
        var names = found.tokens();
        assertTrue(names.size() >= 60, "most common names are single tokens: " + names.size());
        assertEquals(IoiNames.DEFAULT.size(), found.listed());
        assertEquals(5335, names.get("Mary"));
        // for GPT-2 the token a name has after a word is exactly the token of " " + name (the spec's " Mary")
        names.forEach((n, id) -> assertArrayEquals(new int[] {id}, GPT2.encode(" " + n)));
        for (String n : IoiNames.DEFAULT) assertEquals(GPT2.encode(" " + n).length == 1, names.containsKey(n), n);
        assertFalse(IoiNames.singleTokens(List.of("Xylophonicus"), GPT2, 50257).tokens().containsKey("Xylophonicus"));
        assertTrue(IoiNames.singleTokens(List.of("Mary"), GPT2, 5335).tokens().isEmpty(), "a token outside the model's vocabulary does not count");
    }
}

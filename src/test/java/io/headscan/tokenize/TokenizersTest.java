package io.headscan.tokenize;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.headscan.testing.Gpt2TokenizerJsonWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The tokenizers a checkpoint can have, against what Hugging Face's Python tokenizers library gives
 * (src/test/resources/tokenizers: three tokenizers it trained and the ids it gave, make_fixtures.py), and GPT-2's
 * tokenizer.json against the built-in BPE.
 */
class TokenizersTest {

    static final Path FIXTURES = fixtures();
    static JsonNode expected;

    @TempDir
    Path dir;

    static Path fixtures() {
        try {
            return Path.of(TokenizersTest.class.getResource("/tokenizers/expected.json").toURI()).getParent();
        } catch (java.net.URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    @BeforeAll
    static void read() throws Exception {
        expected = new ObjectMapper().readTree(FIXTURES.resolve("expected.json").toFile());
    }

    /** Every test string of expected.json and a whole text: ids, and each id's text, exactly the Python library's. */
    @ParameterizedTest
    @ValueSource(strings = {"bpe", "wordpiece", "unigram"})
    void idsAndTextsAreThoseOfTheTokenizersLibrary(String name) throws Exception {
        JsonNode t = expected.get("tokenizers").get(name);
        try (Tokenizer tok = Tokenizers.forCheckpoint(FIXTURES.resolve(name), 100_000).orElseThrow()) {
            assertInstanceOf(HfTokenizer.class, tok, "not GPT-2's: read by the library");
            assertTrue(tok.describe().startsWith("tokenizer.json (" + t.get("model").asText() + ", Hugging Face tokenizers) in "), tok.describe());
            int n = 0;
            for (JsonNode c : t.get("cases")) {
                String text = c.get("text").asText();
                assertArrayEquals(ints(c.get("ids")), tok.encode(text), name + ": " + text);
                for (int i = 0; i < c.get("ids").size(); i++) {
                    assertEquals(c.get("decoded").get(i).asText(), tok.decode(c.get("ids").get(i).asInt()), name + ": token " + i + " of " + text);
                }
                n++;
            }
            assertTrue(n > 150, "cases read: " + n);
            assertEquals("", tok.decode(1_000_000), "an id the tokenizer does not have");
        }
    }

    /** The fixtures differ from one another and from GPT-2's BPE, so that matching them means something. */
    @Test
    void theFixturesAreThreeDifferentTokenizers() {
        List<String> seen = new ArrayList<>();
        for (String name : List.of("bpe", "wordpiece", "unigram")) {
            JsonNode c = expected.get("tokenizers").get(name).get("cases").get(0);
            assertEquals("Hello world", c.get("text").asText());
            seen.add(c.get("ids").toString());
        }
        seen.add(java.util.Arrays.toString(Gpt2Tokenizer.INSTANCE.encode("Hello world")).replace(" ", ""));
        assertEquals(seen.size(), seen.stream().distinct().count(), seen.toString());
    }

    @Test
    void gpt2BpeGivesKnownIds() {
        Gpt2Tokenizer g = Gpt2Tokenizer.INSTANCE;
        assertArrayEquals(new int[] {15496, 995}, g.encode("Hello world"));
        assertArrayEquals(new int[] {5335}, g.encode(" Mary"));
        assertArrayEquals(new int[] {1757}, g.encode(" John"));
        assertEquals(" Mary", g.decode(5335));
        assertEquals("<|endoftext|>", g.decode(50256));
        assertEquals("", g.decode(50257), "past the vocabulary");
        // <|endoftext|> in the text is the token, as the tokenizers library reads GPT-2's tokenizer.json
        assertArrayEquals(new int[] {50256}, g.encode("<|endoftext|>"));
        assertArrayEquals(new int[] {64, 50256, 50256, 65, 220, 50256}, g.encode("a<|endoftext|><|endoftext|>b <|endoftext|>"));
    }

    /** GPT-2's tokenizer.json is recognised (the built-in BPE, no native library), with merges in either format. */
    @ParameterizedTest
    @ValueSource(booleans = {true, false})
    void gpt2sTokenizerJsonIsTheBuiltInBpe(boolean pairs) throws Exception {
        Path folder = Files.createDirectories(dir.resolve("gpt2"));
        Gpt2TokenizerJsonWriter.write(folder.resolve("tokenizer.json"), Gpt2TokenizerJsonWriter.tree(pairs));
        assertTrue(Gpt2TokenizerJson.isGpt2(folder.resolve("tokenizer.json")));
        assertSame(Gpt2Tokenizer.INSTANCE, Tokenizers.forCheckpoint(folder.resolve("model.safetensors"), 50257).orElseThrow());
        assertSame(Gpt2Tokenizer.INSTANCE, Tokenizers.forCheckpoint(folder, 50257).orElseThrow());
    }

    /**
     * What makes the shortcut right: the tokenizers library, reading GPT-2's tokenizer.json, gives the built-in BPE's ids
     * for every test string and for whole texts (and the same texts for every id of them).
     */
    @Test
    void theLibraryReadingGpt2sFileAgreesWithTheBuiltInBpe() throws Exception {
        Path file = Gpt2TokenizerJsonWriter.write(dir.resolve("tokenizer.json"), Gpt2TokenizerJsonWriter.tree(true));
        List<String> texts = new ArrayList<>();
        for (JsonNode c : expected.get("tokenizers").get("bpe").get("cases")) texts.add(c.get("text").asText());
        texts.add(Files.readString(FIXTURES.resolve("train.txt")));
        texts.add(Files.readString(FIXTURES.resolve("make_fixtures.py")));
        texts.add("  leading spaces, trailing spaces   \n\n\n and   runs\t\t\tof whitespace 's 're 't 123456789 ½ ⅓");
        try (Tokenizer hf = Tokenizers.openHuggingFace(file)) {
            for (String t : texts) {
                int[] ids = Gpt2Tokenizer.INSTANCE.encode(t);
                assertArrayEquals(ids, hf.encode(t), t);
                for (int id : ids) assertEquals(Gpt2Tokenizer.INSTANCE.decode(id), hf.decode(id), "token " + id);
            }
        }
    }

    /** Any difference that can move an id or a token's text sends the file to the library. */
    @Test
    void aFileThatIsNotQuiteGpt2sGoesToTheLibrary() throws Exception {
        List<Consumer<ObjectNode>> changes = List.of(
                r -> ((ObjectNode) r.get("pre_tokenizer")).put("add_prefix_space", true),
                r -> r.putObject("normalizer").put("type", "Lowercase"),
                r -> r.putNull("decoder"),
                r -> r.putObject("truncation").put("max_length", 512),
                r -> ((ArrayNode) r.get("added_tokens")).addObject().put("id", 50257).put("content", "<|pad|>"),
                r -> ((ObjectNode) r.get("added_tokens").get(0)).put("lstrip", true),
                r -> ((ObjectNode) r.get("model")).put("byte_fallback", true),
                r -> ((ObjectNode) r.get("model")).put("dropout", 0.1),
                r -> ((ObjectNode) r.get("model")).put("something_new", 1),
                r -> r.put("something_new", 1),
                r -> ((ObjectNode) r.get("model").get("vocab")).put("Ġthe", 262 + 1),
                r -> ((ObjectNode) r.get("model").get("vocab")).remove("Ġthe"),
                r -> {
                    ArrayNode m = (ArrayNode) r.get("model").get("merges");
                    JsonNode first = m.get(0);
                    m.set(0, m.get(1));
                    m.set(1, first);
                },
                r -> ((ArrayNode) r.get("model").get("merges")).remove(49999));
        int i = 0;
        for (Consumer<ObjectNode> change : changes) {
            ObjectNode tree = Gpt2TokenizerJsonWriter.tree(true);
            change.accept(tree);
            Path file = Gpt2TokenizerJsonWriter.write(dir.resolve("t" + i + ".json"), tree);
            assertFalse(Gpt2TokenizerJson.isGpt2(file), "change " + i);
            i++;
        }
        // and it matters: with a prefix space, the library's ids are not the built-in BPE's
        ObjectNode tree = Gpt2TokenizerJsonWriter.tree(true);
        ((ObjectNode) tree.get("pre_tokenizer")).put("add_prefix_space", true);
        Path folder = Files.createDirectories(dir.resolve("prefix"));
        Gpt2TokenizerJsonWriter.write(folder.resolve("tokenizer.json"), tree);
        try (Tokenizer t = Tokenizers.forCheckpoint(folder, 50257).orElseThrow()) {
            assertInstanceOf(HfTokenizer.class, t);
            assertArrayEquals(new int[] {5335}, t.encode("Mary"), "' Mary' with the prefix space");
            assertArrayEquals(new int[] {24119}, Gpt2Tokenizer.INSTANCE.encode("Mary"));
        }
    }

    @Test
    void withoutATokenizerJsonOnlyGpt2sVocabularyHasOne() throws Exception {
        Path folder = Files.createDirectories(dir.resolve("m"));
        assertSame(Gpt2Tokenizer.INSTANCE, Tokenizers.forCheckpoint(folder.resolve("model.safetensors"), 50257).orElseThrow());
        assertTrue(Tokenizers.forCheckpoint(folder.resolve("model.safetensors"), 1000).isEmpty());
        TokenizerException e = assertThrows(TokenizerException.class, () -> Tokenizers.require(folder.resolve("model.safetensors"), 1000, "--corpus"));
        assertEquals(folder.toAbsolutePath().resolve("tokenizer.json") + ": not found: --corpus needs the model's tokenizer, and a 1000-token "
                + "vocabulary is not GPT-2's 50257 (put the model's tokenizer.json beside its weights)", e.getMessage());
    }

    /** A damaged or foreign tokenizer.json is one line naming it, whichever reader finds the fault. */
    @Test
    void aBrokenTokenizerJsonIsOneNamedLine() throws Exception {
        String bpe = Files.readString(FIXTURES.resolve("bpe/tokenizer.json"));
        record Case(String content, String says) {}
        List<Case> cases = List.of(
                new Case(bpe.substring(0, bpe.length() / 2), "not valid JSON"),
                new Case("[1, 2]", "not a tokenizer.json: expected a JSON object"),
                new Case("{\"model\": {\"type\": \"NoSuchModel\", \"vocab\": {}}}", "refused by the Hugging Face tokenizers library: "),
                new Case(bpe.replace("\"type\": \"ByteLevel\"", "\"type\": \"ByteLevelX\""), "refused by the Hugging Face tokenizers library: "),
                new Case("", "empty file"));
        int i = 0;
        for (Case c : cases) {
            Path folder = Files.createDirectories(dir.resolve("broken" + i++));
            Path file = Files.writeString(folder.resolve("tokenizer.json"), c.content());
            for (int vocab : new int[] {1000, 50257}) {
                TokenizerException e = assertThrows(TokenizerException.class, () -> Tokenizers.forCheckpoint(folder, vocab), c.says());
                assertTrue(e.getMessage().startsWith(file.toAbsolutePath() + ": " + c.says()), e.getMessage());
                assertFalse(e.getMessage().contains("\n"), e.getMessage());
            }
        }
        Path folder = Files.createDirectories(dir.resolve("dir").resolve("tokenizer.json")).getParent();
        assertTrue(assertThrows(TokenizerException.class, () -> Tokenizers.forCheckpoint(folder, 1000)).getMessage().endsWith("tokenizer.json: not a regular file"));
    }

    /** In a Hugging Face cache snapshot the weights and tokenizer.json are links into blobs/: the snapshot folder is where it is looked for. */
    @Test
    void aSnapshotsLinkedFilesAreFollowed() throws Exception {
        Path blobs = Files.createDirectories(dir.resolve("blobs")), snap = Files.createDirectories(dir.resolve("snapshots").resolve("abc"));
        Files.copy(FIXTURES.resolve("unigram/tokenizer.json"), blobs.resolve("1234"));
        Files.writeString(blobs.resolve("5678"), "weights");
        Files.createSymbolicLink(snap.resolve("tokenizer.json"), Path.of("../../blobs/1234"));
        Files.createSymbolicLink(snap.resolve("model.safetensors"), Path.of("../../blobs/5678"));
        try (Tokenizer t = Tokenizers.forCheckpoint(snap.resolve("model.safetensors"), 1000).orElseThrow()) {
            assertTrue(t.describe().startsWith("tokenizer.json (Unigram, Hugging Face tokenizers) in " + snap.toAbsolutePath()), t.describe());
            JsonNode c = expected.get("tokenizers").get("unigram").get("cases").get(0);
            assertArrayEquals(ints(c.get("ids")), t.encode(c.get("text").asText()));
        }
    }

    @Test
    void aClosedTokenizerRefusesToWork() {
        Tokenizer t = Tokenizers.openHuggingFace(FIXTURES.resolve("bpe/tokenizer.json"));
        t.close();
        t.close();
        assertThrows(IllegalStateException.class, () -> t.encode("x"));
    }

    static int[] ints(JsonNode a) {
        int[] out = new int[a.size()];
        for (int i = 0; i < out.length; i++) out[i] = a.get(i).asInt();
        return out;
    }
}

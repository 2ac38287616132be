package io.headscan.circuits;

import io.headscan.tokenize.Tokenizer;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Names for the IOI copy scores (docs/science.md §5): common English first names (or a user's list), each kept when it
 * is a single token of the model's tokenizer where it follows a space in running text, as in the IOI sentences
 * ("... and Mary"). For GPT-2 and the other byte-level BPEs that is exactly the token of {@code " " + name} (" Mary");
 * for a tokenizer that marks a word's start otherwise (SentencePiece's "▁Mary", a lower-cased WordPiece "mary") it is
 * the token the name has there. The list is GPT-2's; another tokenizer keeps those names that are one token in it, and
 * the report says how many.
 */
public final class IoiNames {

    static final List<String> DEFAULT = List.of(
            "Aaron", "Adam", "Alan", "Alex", "Alice", "Amy", "Andrew", "Anna", "Anthony", "Arthur",
            "Austin", "Ben", "Brian", "Carl", "Charlie", "Chris", "Daniel", "David", "Dean", "Edward",
            "Emily", "Emma", "Eric", "Frank", "George", "Grace", "Henry", "Ian", "Jack", "Jacob",
            "Jake", "James", "Jane", "Jason", "Jeff", "Jennifer", "Jessica", "Jim", "Joe", "John",
            "Jordan", "Joseph", "Josh", "Julia", "Justin", "Kate", "Kelly", "Kevin", "Laura", "Leo",
            "Lisa", "Luke", "Maria", "Mark", "Martin", "Mary", "Matt", "Max", "Michael", "Mike",
            "Morgan", "Nick", "Paul", "Peter", "Rachel", "Richard", "Robert", "Rose", "Ryan", "Sam",
            "Sarah", "Scott", "Sean", "Simon", "Steve", "Taylor", "Thomas", "Tim", "Tom", "Tony",
            "Victoria", "William");

    /** The word a name follows when its token is looked up (any word of the IOI templates would do). */
    static final String BEFORE = "and";

    private IoiNames() {}

    /** The names of a list that are one token, and how many names the list had (blank lines aside). */
    public record Found(Map<String, Integer> tokens, int listed, String tokenizer) {
        /** "82 of 82 names are one token". */
        public String describe() {
            return tokens.size() + " of " + listed + " name" + (listed == 1 ? " is" : "s are") + " one token";
        }
    }

    /** Name (stripped) → its single token id, in list order; ids outside [0, vocab) do not count. */
    public static Found singleTokens(List<String> names, Tokenizer tokenizer, int vocab) {
        Map<String, Integer> out = new LinkedHashMap<>();
        int[] before = tokenizer.encode(BEFORE);
        int listed = 0;
        for (String n : names) {
            String name = n.strip();
            if (name.isEmpty()) continue;
            listed++;
            int[] ids = tokenizer.encode(BEFORE + " " + name);
            if (ids.length != before.length + 1 || !Arrays.equals(ids, 0, before.length, before, 0, before.length)) continue;
            int id = ids[before.length];
            if (id >= 0 && id < vocab) out.putIfAbsent(name, id);
        }
        return new Found(out, listed, tokenizer.describe());
    }

    /** The built-in list. */
    public static Found defaults(Tokenizer tokenizer, int vocab) {
        return singleTokens(DEFAULT, tokenizer, vocab);
    }

    /** One name per line; a list none of whose names is one token is an error naming the file. */
    public static Found fromFile(Path file, Tokenizer tokenizer, int vocab) throws IOException {
        if (!Files.isReadable(file)) throw new IllegalArgumentException(file + ": names file not found or not readable");
        List<String> names = new ArrayList<>(Files.readAllLines(file));
        Found out = singleTokens(names, tokenizer, vocab);
        if (out.tokens().isEmpty()) throw new IllegalArgumentException(file + ": no name is a single token of " + tokenizer.describe() + " after a space");
        return out;
    }
}

package io.headscan.circuits;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Names for the IOI copy scores (docs/science.md §5): common English first names, each used with a
 * leading space and kept only when that is a single GPT-2 token (as in the IOI dataset).
 */
public final class IoiNames {

    private static final List<String> DEFAULT = List.of(
            "Aaron", "Adam", "Alan", "Alex", "Alice", "Amy", "Andrew", "Anna", "Anthony", "Arthur",
            "Austin", "Ben", "Brian", "Carl", "Charlie", "Chris", "Daniel", "David", "Dean", "Edward",
            "Emily", "Emma", "Eric", "Frank", "George", "Grace", "Henry", "Ian", "Jack", "Jacob",
            "Jake", "James", "Jane", "Jason", "Jeff", "Jennifer", "Jessica", "Jim", "Joe", "John",
            "Jordan", "Joseph", "Josh", "Julia", "Justin", "Kate", "Kelly", "Kevin", "Laura", "Leo",
            "Lisa", "Luke", "Maria", "Mark", "Martin", "Mary", "Matt", "Max", "Michael", "Mike",
            "Morgan", "Nick", "Paul", "Peter", "Rachel", "Richard", "Robert", "Rose", "Ryan", "Sam",
            "Sarah", "Scott", "Sean", "Simon", "Steve", "Taylor", "Thomas", "Tim", "Tom", "Tony",
            "Victoria", "William");

    private IoiNames() {}

    /** Name (without the space) → its single token id, in list order. */
    public static Map<String, Integer> singleTokens(List<String> names) {
        Map<String, Integer> out = new LinkedHashMap<>();
        for (String n : names) {
            String name = n.strip();
            if (name.isEmpty()) continue;
            int[] ids = Gpt2Tokenizer.encode(" " + name);
            if (ids.length == 1) out.put(name, ids[0]);
        }
        return out;
    }

    public static Map<String, Integer> defaults() {
        return singleTokens(DEFAULT);
    }

    /** One name per line. */
    public static Map<String, Integer> fromFile(Path file) throws IOException {
        if (!Files.isReadable(file)) throw new IllegalArgumentException(file + ": names file not found or not readable");
        List<String> names = new ArrayList<>(Files.readAllLines(file));
        Map<String, Integer> out = singleTokens(names);
        if (out.isEmpty()) throw new IllegalArgumentException(file + ": no name is a single GPT-2 token with a leading space");
        return out;
    }
}

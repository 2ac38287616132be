package io.headscan.circuits;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

/**
 * Bags of token ids for the Prediction-Attention score (docs/science.md §3): random, from a file, or from
 * a corpus. A bag is a list of token ids; every query in a bag sees every key of the bag.
 */
public final class Bags {

    private Bags() {}

    /** Where bags came from, for reports. */
    public record Source(String kind, String detail, int count, int size, Long seed, boolean withReplacement) {}

    /**
     * {@code count} bags of {@code size} ids drawn uniformly from [0, V) with one seeded generator,
     * shared by all heads; without replacement inside a bag unless asked (the original drew with it).
     */
    public static List<int[]> random(int vocab, int size, int count, long seed, boolean withReplacement) {
        if (size <= 0) throw new IllegalArgumentException("--bag-size must be positive, got " + size);
        if (count <= 0) throw new IllegalArgumentException("--bag-count must be positive, got " + count);
        if (!withReplacement && size > vocab) {
            throw new IllegalArgumentException("--bag-size " + size + " is larger than the vocabulary (" + vocab + ") without replacement");
        }
        SplittableRandom rnd = new SplittableRandom(seed);
        List<int[]> bags = new ArrayList<>(count);
        for (int b = 0; b < count; b++) {
            int[] bag = new int[size];
            if (withReplacement) {
                for (int i = 0; i < size; i++) bag[i] = rnd.nextInt(vocab);
            } else {
                // Floyd's algorithm: distinct ids without materialising the vocabulary
                LinkedHashSet<Integer> chosen = new LinkedHashSet<>();
                for (int j = vocab - size; j < vocab; j++) {
                    int t = rnd.nextInt(j + 1);
                    if (!chosen.add(t)) chosen.add(j);
                }
                int i = 0;
                for (int t : chosen) bag[i++] = t;
            }
            bags.add(bag);
        }
        return bags;
    }

    /**
     * Bags from a JSON file: an array of arrays of token ids, or a headscan {@code score --json} report (its
     * {@code bags.ids}), so that a run can be repeated on exactly the same bags. A bag is a set of distinct tokens unless
     * {@code allowRepeats} (or the report says its bags were drawn with replacement).
     */
    public static List<int[]> fromFile(Path file, int vocab, boolean allowRepeats) throws IOException {
        JsonNode root;
        try {
            root = io.headscan.Json.MAPPER.readTree(Files.readString(file));
        } catch (java.nio.file.NoSuchFileException e) {
            throw new IllegalArgumentException(file + ": bags file not found");
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IllegalArgumentException(file + ": not valid JSON: " + e.getOriginalMessage().replace('\n', ' '));
        }
        if (root != null && root.isObject()) {
            JsonNode b = root.path("bags");
            if (!b.path("ids").isArray()) {
                throw new IllegalArgumentException(file + ": a JSON object, but not a headscan score report (no bags.ids array)");
            }
            allowRepeats |= b.path("with_replacement").asBoolean(false);
            root = b.get("ids");
        }
        if (root == null || !root.isArray()) throw new IllegalArgumentException(file + ": expected a JSON array of arrays of token ids");
        List<int[]> bags = new ArrayList<>();
        for (int b = 0; b < root.size(); b++) {
            JsonNode bag = root.get(b);
            if (!bag.isArray()) throw new IllegalArgumentException(file + ": bag " + b + " is not an array");
            int[] ids = new int[bag.size()];
            for (int i = 0; i < ids.length; i++) {
                JsonNode x = bag.get(i);
                if (!x.isIntegralNumber() || !x.canConvertToInt()) {
                    throw new IllegalArgumentException(file + ": bag " + b + " entry " + i + " is not a token id: " + x);
                }
                ids[i] = x.intValue();
            }
            bags.add(ids);
        }
        try {
            validate(bags, vocab);
            if (!allowRepeats) requireDistinct(bags);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": " + e.getMessage());
        }
        return bags;
    }

    /** Each bag holds each token once (a repeated token would be scored as two queries and two keys). */
    static void requireDistinct(List<int[]> bags) {
        for (int b = 0; b < bags.size(); b++) {
            java.util.Map<Integer, Integer> first = new java.util.HashMap<>();
            int[] bag = bags.get(b);
            for (int i = 0; i < bag.length; i++) {
                Integer prev = first.putIfAbsent(bag[i], i);
                if (prev != null) {
                    throw new IllegalArgumentException("bag " + b + " holds token " + bag[i] + " twice (entries " + prev + " and " + i
                            + "); bags are sets of distinct tokens (pass --with-replacement to score repeats as they are)");
                }
            }
        }
    }

    /**
     * One bag per document: the first {@code size} distinct token ids of {@code tokenizer} (the model's own,
     * io.headscan.tokenize.Tokenizers) in order of first appearance (no BOS, no truncation); documents with fewer are
     * skipped; the first {@code count} qualifying documents are used. PATH is a .txt file, a folder of .txt files (sorted
     * by name), or .jsonl with a "text" field. An id outside the model's vocabulary [0, vocab) is an error.
     */
    public static List<int[]> fromCorpus(Path path, io.headscan.tokenize.Tokenizer tokenizer, int vocab, int size, int count) throws IOException {
        if (size <= 0) throw new IllegalArgumentException("--bag-size must be positive, got " + size);
        if (!Files.exists(path)) throw new IllegalArgumentException(path + ": corpus not found");
        if (!Files.isReadable(path)) throw new IllegalArgumentException(path + ": corpus is not readable");
        List<int[]> bags = new ArrayList<>();
        try (Stream<String> docs = documents(path)) {
            var it = docs.iterator();
            while (it.hasNext() && bags.size() < count) {
                int[] ids = tokenizer.encode(it.next());
                for (int id : ids) {
                    if (id < 0 || id >= vocab) {
                        throw new IllegalArgumentException(path + ": " + tokenizer.describe() + " gives token id " + id
                                + ", outside the model's vocabulary [0, " + vocab + ")");
                    }
                }
                int[] bag = firstDistinct(ids, size);
                if (bag != null) bags.add(bag);
            }
        } catch (java.io.UncheckedIOException e) {
            throw new IllegalArgumentException(path + ": cannot read corpus: " + e.getCause().getMessage());
        }
        if (bags.size() < count) {
            throw new IllegalArgumentException(path + ": only " + bags.size() + " document" + (bags.size() == 1 ? " has " : "s have ") + size
                    + " distinct tokens, fewer than --bag-count " + count + "; lower --bag-count or --bag-size");
        }
        return bags;
    }

    static int[] firstDistinct(int[] ids, int size) {
        LinkedHashSet<Integer> seen = new LinkedHashSet<>();
        for (int id : ids) {
            seen.add(id);
            if (seen.size() == size) return seen.stream().mapToInt(Integer::intValue).toArray();
        }
        return null;
    }

    private static Stream<String> documents(Path path) throws IOException {
        if (Files.isDirectory(path)) {
            List<Path> files;
            try (Stream<Path> s = Files.list(path)) {
                files = s.filter(p -> p.toString().endsWith(".txt") || p.toString().endsWith(".jsonl")).sorted().toList();
            }
            if (files.isEmpty()) throw new IllegalArgumentException(path + ": folder holds no .txt or .jsonl files");
            return files.stream().flatMap(p -> {
                try {
                    return documents(p);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        }
        if (path.toString().endsWith(".jsonl")) {
            BufferedReader r = Files.newBufferedReader(path, StandardCharsets.UTF_8);
            ObjectMapper om = io.headscan.Json.MAPPER;
            int[] line = {0};
            return r.lines().onClose(() -> {
                try {
                    r.close();
                } catch (IOException ignored) {
                    // nothing to do on close
                }
            }).filter(s -> !s.isBlank()).map(s -> {
                line[0]++;
                try {
                    JsonNode n = om.readTree(s);
                    JsonNode t = n == null ? null : n.get("text");
                    if (t == null || !t.isTextual()) throw new IllegalArgumentException(path + ": line " + line[0] + " has no \"text\" string");
                    return t.asText();
                } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
                    throw new IllegalArgumentException(path + ": line " + line[0] + " is not JSON: " + e.getOriginalMessage());
                }
            });
        }
        return Stream.of(Files.readString(path, StandardCharsets.UTF_8));
    }

    /**
     * Non-empty bags of equal size with ids in [0, V). A bag drawn with replacement may repeat an id: every copy
     * is its own query and key, as in the original code.
     */
    public static void validate(List<int[]> bags, int vocab) {
        if (bags.isEmpty()) throw new IllegalArgumentException("no bags given");
        int size = bags.get(0).length;
        for (int b = 0; b < bags.size(); b++) {
            int[] bag = bags.get(b);
            if (bag.length == 0) throw new IllegalArgumentException("bag " + b + " is empty");
            if (bag.length != size) {
                throw new IllegalArgumentException("bag " + b + " has " + bag.length + " tokens, bag 0 has " + size + " (all bags must have the same size)");
            }
            for (int id : bag) {
                if (id < 0 || id >= vocab) throw new IllegalArgumentException("bag " + b + " holds token id " + id + ", outside the vocabulary [0, " + vocab + ")");
            }
        }
    }
}

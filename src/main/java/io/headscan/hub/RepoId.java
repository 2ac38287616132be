package io.headscan.hub;

import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A Hub model repository id ("gpt2", "openai-community/gpt2", "pythia-160m", "org/name"). The GPT-2 family moved to
 * organisations; a cache may hold either spelling, so {@link #cacheNames()} lists both. Short names as TransformerLens
 * gives them stand for their repositories ({@link #canonical()}).
 */
public record RepoId(String id) {

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?");

    /** Legacy names of the GPT-2 family and where the Hub moved them (a cache may hold either folder). */
    private static final Map<String, String> MOVED = Map.ofEntries(
            Map.entry("gpt2", "openai-community/gpt2"),
            Map.entry("gpt2-medium", "openai-community/gpt2-medium"),
            Map.entry("gpt2-large", "openai-community/gpt2-large"),
            Map.entry("gpt2-xl", "openai-community/gpt2-xl"),
            Map.entry("distilgpt2", "distilbert/distilgpt2"));

    public RepoId {
        if (!looksLikeId(id) || id.contains("..")) throw new IllegalArgumentException("'" + id + "' is not a Hugging Face model id (org/name)");
    }

    /** Whether a string has the shape of a hub id (and so is not meant as a path). */
    public static boolean looksLikeId(String s) {
        return s != null && ID.matcher(s).matches();
    }

    /**
     * The id the Hub serves today: legacy names map to their organisation, TransformerLens's names of the training runs
     * and model families headscan knows ({@code stanford-gpt2-small-a}, {@code pythia-160m}, {@code gpt-neo-125M} …) to
     * their repositories, in any case ({@link TransformerLensNames}); any other id as it is.
     */
    public String canonical() {
        String moved = MOVED.get(id);
        return moved != null ? moved : TransformerLensNames.repository(id).orElse(id);
    }

    /** Cache folder names to look in: the canonical one first, then the legacy one. */
    public List<String> cacheNames() {
        String c = folder(canonical());
        String legacy = folder(MOVED.entrySet().stream().filter(e -> e.getValue().equals(canonical())).map(Map.Entry::getKey).findFirst().orElse(id));
        return c.equals(legacy) ? List.of(c) : List.of(c, legacy);
    }

    static String folder(String repo) {
        return "models--" + repo.replace("/", "--");
    }

    /** True for the GPT-2 Small repository, whose identity is known (docs/science.md §7). */
    public boolean isGpt2Small() {
        return canonical().equals("openai-community/gpt2");
    }

    @Override
    public String toString() {
        return id;
    }
}

package io.headscan.hub;

import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * A Hub model repository id ("gpt2", "openai-community/gpt2", "org/name"). The GPT-2 family moved to
 * organisations; a cache may hold either spelling, so {@link #cacheNames()} lists both.
 */
public record RepoId(String id) {

    private static final Pattern ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?");

    /**
     * Legacy names and where they live now, and the names TransformerLens gives the Stanford CRFM training runs
     * (docs/checkpoints.md).
     */
    private static final Map<String, String> MOVED = Map.ofEntries(
            Map.entry("gpt2", "openai-community/gpt2"),
            Map.entry("gpt2-medium", "openai-community/gpt2-medium"),
            Map.entry("gpt2-large", "openai-community/gpt2-large"),
            Map.entry("gpt2-xl", "openai-community/gpt2-xl"),
            Map.entry("distilgpt2", "distilbert/distilgpt2"),
            Map.entry("stanford-gpt2-small-a", "stanford-crfm/alias-gpt2-small-x21"),
            Map.entry("stanford-gpt2-small-b", "stanford-crfm/battlestar-gpt2-small-x49"),
            Map.entry("stanford-gpt2-small-c", "stanford-crfm/caprica-gpt2-small-x81"),
            Map.entry("stanford-gpt2-small-d", "stanford-crfm/darkmatter-gpt2-small-x343"),
            Map.entry("stanford-gpt2-small-e", "stanford-crfm/expanse-gpt2-small-x777"),
            Map.entry("stanford-gpt2-medium-a", "stanford-crfm/arwen-gpt2-medium-x21"),
            Map.entry("stanford-gpt2-medium-b", "stanford-crfm/beren-gpt2-medium-x49"),
            Map.entry("stanford-gpt2-medium-c", "stanford-crfm/celebrimbor-gpt2-medium-x81"),
            Map.entry("stanford-gpt2-medium-d", "stanford-crfm/durin-gpt2-medium-x343"),
            Map.entry("stanford-gpt2-medium-e", "stanford-crfm/eowyn-gpt2-medium-x777"));

    public RepoId {
        if (!looksLikeId(id) || id.contains("..")) throw new IllegalArgumentException("'" + id + "' is not a Hugging Face model id (org/name)");
    }

    /** Whether a string has the shape of a hub id (and so is not meant as a path). */
    public static boolean looksLikeId(String s) {
        return s != null && ID.matcher(s).matches();
    }

    /** The id the Hub serves today (legacy names map to their organisation). */
    public String canonical() {
        return MOVED.getOrDefault(id, id);
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

package io.headscan.hub;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;

/**
 * The short names TransformerLens accepts for the models of the training suites and model families headscan knows,
 * each mapped to the Hub repository it loads: the Stanford CRFM GPT-2 runs, Pythia (every size, {@code -deduped},
 * {@code -v0}, {@code -seedN}), GPT-Neo, GPT-NeoX-20B, GPT-J and OPT (TransformerLens's {@code MODEL_ALIASES} in
 * {@code transformer_lens/supported_models.py}, as of July 2026; docs/checkpoints.md lists them).
 *
 * <p>Names are matched without regard to case, as TransformerLens matches them, and map to the repository's exact
 * spelling ({@code gpt-neo-125m} is {@code EleutherAI/gpt-neo-125M}): the Hub's repository names are case-sensitive
 * where it matters here, in the cache's folder names. An official id typed in another case gets its exact spelling
 * too. Aliases that TransformerLens gives with an organisation (the pre-2023 Pythia ids such as
 * {@code EleutherAI/pythia-19m}) are left out: an id with an organisation is never renamed, since the Hub answers for
 * those itself.
 */
final class TransformerLensNames {

    /** Official repository → its aliases, in TransformerLens's order. */
    private static final Map<String, List<String>> ALIASES = table();

    /** Lower-cased alias or official id → official id. */
    private static final Map<String, String> INDEX = index();

    private TransformerLensNames() {}

    /** The repository a name stands for, if it is one of the names above (or an official id in another case). */
    static Optional<String> repository(String name) {
        return Optional.ofNullable(INDEX.get(name.toLowerCase(Locale.ROOT)));
    }

    /** Every official repository and its aliases. */
    static Map<String, List<String>> all() {
        return ALIASES;
    }

    private static Map<String, List<String>> table() {
        Map<String, List<String>> t = new LinkedHashMap<>();
        // Stanford CRFM (Mistral) GPT-2 runs; TransformerLens repeats some aliases and names medium runs "medium-small"
        String[][] crfm = {
                {"alias-gpt2-small-x21", "stanford-gpt2-small-a", "gpt2-mistral-small-a", "gpt2-stanford-small-a"},
                {"battlestar-gpt2-small-x49", "stanford-gpt2-small-b", "gpt2-mistral-small-b"},
                {"caprica-gpt2-small-x81", "stanford-gpt2-small-c", "gpt2-mistral-small-c", "gpt2-stanford-small-c"},
                {"darkmatter-gpt2-small-x343", "stanford-gpt2-small-d", "gpt2-mistral-small-d"},
                {"expanse-gpt2-small-x777", "stanford-gpt2-small-e", "gpt2-mistral-small-e"},
                {"arwen-gpt2-medium-x21", "stanford-gpt2-medium-a", "gpt2-medium-small-a", "gpt2-stanford-medium-a"},
                {"beren-gpt2-medium-x49", "stanford-gpt2-medium-b", "gpt2-medium-small-b", "gpt2-stanford-medium-b"},
                {"celebrimbor-gpt2-medium-x81", "stanford-gpt2-medium-c", "gpt2-medium-small-c"},
                {"durin-gpt2-medium-x343", "stanford-gpt2-medium-d", "gpt2-medium-small-d", "gpt2-stanford-medium-d"},
                {"eowyn-gpt2-medium-x777", "stanford-gpt2-medium-e", "gpt2-medium-small-e", "gpt2-stanford-medium-e"}};
        for (String[] r : crfm) {
            List<String> aliases = new ArrayList<>(List.of(r[1], r[0]));
            aliases.addAll(List.of(r).subList(2, r.length));
            t.put("stanford-crfm/" + r[0], List.copyOf(aliases));
        }

        // Pythia: each size under its name since January 2023 and its first one (which TransformerLens maps to the
        // current models, not to the -v0 ones), in four variants; the 14M and 31M models came later, without the others
        String[][] sizes = {{"70m", "19m"}, {"160m", "125m"}, {"410m", "350m"}, {"1b", "800m"}, {"1.4b", "1.3b"}, {"2.8b", "2.7b"},
                {"6.9b", "6.7b"}, {"12b", "13b"}};
        for (String[] s : sizes) {
            for (String variant : new String[] {"", "-deduped", "-deduped-v0", "-v0"}) {
                String name = "pythia-" + s[0] + variant, old = "pythia-" + s[1] + variant;
                List<String> aliases = switch (name) {
                    case "pythia-70m" -> List.of(name, "pythia", old);
                    case "pythia-70m-v0" -> List.of(name, "pythia-v0", old);
                    default -> List.of(name, old);
                };
                t.put("EleutherAI/" + name, aliases);
            }
            if (s[0].equals("160m")) {
                for (int seed = 1; seed <= 3; seed++) t.put("EleutherAI/pythia-160m-seed" + seed, List.of("pythia-160m-seed" + seed, "pythia-125m-seed" + seed));
            }
        }
        t.put("EleutherAI/pythia-14m", List.of("pythia-14m"));
        t.put("EleutherAI/pythia-31m", List.of("pythia-31m"));

        // GPT-Neo, GPT-NeoX, GPT-J: note the upper-case M and B of the repositories' names
        t.put("EleutherAI/gpt-neo-125M", List.of("gpt-neo-125M", "gpt-neo-small", "neo-small", "neo"));
        t.put("EleutherAI/gpt-neo-1.3B", List.of("gpt-neo-1.3B", "gpt-neo-medium", "neo-medium"));
        t.put("EleutherAI/gpt-neo-2.7B", List.of("gpt-neo-2.7B", "gpt-neo-large", "neo-large"));
        t.put("EleutherAI/gpt-neox-20b", List.of("gpt-neox-20b", "gpt-neox", "neox"));
        t.put("EleutherAI/gpt-j-6B", List.of("gpt-j-6B", "gpt-j", "gptj"));

        // OPT
        String[][] opt = {{"125m", "opt-small", "opt"}, {"1.3b", "opt-medium"}, {"2.7b", "opt-large"}, {"6.7b", "opt-xl"}, {"13b", "opt-xxl"},
                {"30b", "opt-xxxl"}, {"66b", "opt-xxxxl"}};
        for (String[] o : opt) {
            List<String> aliases = new ArrayList<>(List.of("opt-" + o[0]));
            aliases.addAll(List.of(o).subList(1, o.length));
            t.put("facebook/opt-" + o[0], List.copyOf(aliases));
        }
        return Collections.unmodifiableMap(t);
    }

    private static Map<String, String> index() {
        Map<String, String> idx = new LinkedHashMap<>();
        ALIASES.forEach((repo, aliases) -> {
            for (String a : aliases) {
                String prev = idx.put(a.toLowerCase(Locale.ROOT), repo);
                if (prev != null && !prev.equals(repo)) throw new IllegalStateException("alias " + a + " names both " + prev + " and " + repo);
            }
            idx.put(repo.toLowerCase(Locale.ROOT), repo);
        });
        return Collections.unmodifiableMap(idx);
    }
}

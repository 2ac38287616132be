package io.headscan.hub;

import static org.junit.jupiter.api.Assertions.*;

import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** TransformerLens's names of the training runs and families headscan knows, as model ids. */
class TransformerLensNamesTest {

    /**
     * TransformerLens's list (OFFICIAL_MODEL_NAMES and MODEL_ALIASES in transformer_lens/supported_models.py, July 2026)
     * for these families, aliases with an organisation left out, repeated ones once: written out here so that a slip in
     * how the table is built shows.
     */
    static final String TRANSFORMER_LENS = """
            EleutherAI/gpt-j-6B: gpt-j-6B, gpt-j, gptj
            EleutherAI/gpt-neo-1.3B: gpt-neo-1.3B, gpt-neo-medium, neo-medium
            EleutherAI/gpt-neo-125M: gpt-neo-125M, gpt-neo-small, neo-small, neo
            EleutherAI/gpt-neo-2.7B: gpt-neo-2.7B, gpt-neo-large, neo-large
            EleutherAI/gpt-neox-20b: gpt-neox-20b, gpt-neox, neox
            EleutherAI/pythia-1.4b: pythia-1.4b, pythia-1.3b
            EleutherAI/pythia-1.4b-deduped: pythia-1.4b-deduped, pythia-1.3b-deduped
            EleutherAI/pythia-1.4b-deduped-v0: pythia-1.4b-deduped-v0, pythia-1.3b-deduped-v0
            EleutherAI/pythia-1.4b-v0: pythia-1.4b-v0, pythia-1.3b-v0
            EleutherAI/pythia-12b: pythia-12b, pythia-13b
            EleutherAI/pythia-12b-deduped: pythia-12b-deduped, pythia-13b-deduped
            EleutherAI/pythia-12b-deduped-v0: pythia-12b-deduped-v0, pythia-13b-deduped-v0
            EleutherAI/pythia-12b-v0: pythia-12b-v0, pythia-13b-v0
            EleutherAI/pythia-14m: pythia-14m
            EleutherAI/pythia-160m: pythia-160m, pythia-125m
            EleutherAI/pythia-160m-deduped: pythia-160m-deduped, pythia-125m-deduped
            EleutherAI/pythia-160m-deduped-v0: pythia-160m-deduped-v0, pythia-125m-deduped-v0
            EleutherAI/pythia-160m-seed1: pythia-160m-seed1, pythia-125m-seed1
            EleutherAI/pythia-160m-seed2: pythia-160m-seed2, pythia-125m-seed2
            EleutherAI/pythia-160m-seed3: pythia-160m-seed3, pythia-125m-seed3
            EleutherAI/pythia-160m-v0: pythia-160m-v0, pythia-125m-v0
            EleutherAI/pythia-1b: pythia-1b, pythia-800m
            EleutherAI/pythia-1b-deduped: pythia-1b-deduped, pythia-800m-deduped
            EleutherAI/pythia-1b-deduped-v0: pythia-1b-deduped-v0, pythia-800m-deduped-v0
            EleutherAI/pythia-1b-v0: pythia-1b-v0, pythia-800m-v0
            EleutherAI/pythia-2.8b: pythia-2.8b, pythia-2.7b
            EleutherAI/pythia-2.8b-deduped: pythia-2.8b-deduped, pythia-2.7b-deduped
            EleutherAI/pythia-2.8b-deduped-v0: pythia-2.8b-deduped-v0, pythia-2.7b-deduped-v0
            EleutherAI/pythia-2.8b-v0: pythia-2.8b-v0, pythia-2.7b-v0
            EleutherAI/pythia-31m: pythia-31m
            EleutherAI/pythia-410m: pythia-410m, pythia-350m
            EleutherAI/pythia-410m-deduped: pythia-410m-deduped, pythia-350m-deduped
            EleutherAI/pythia-410m-deduped-v0: pythia-410m-deduped-v0, pythia-350m-deduped-v0
            EleutherAI/pythia-410m-v0: pythia-410m-v0, pythia-350m-v0
            EleutherAI/pythia-6.9b: pythia-6.9b, pythia-6.7b
            EleutherAI/pythia-6.9b-deduped: pythia-6.9b-deduped, pythia-6.7b-deduped
            EleutherAI/pythia-6.9b-deduped-v0: pythia-6.9b-deduped-v0, pythia-6.7b-deduped-v0
            EleutherAI/pythia-6.9b-v0: pythia-6.9b-v0, pythia-6.7b-v0
            EleutherAI/pythia-70m: pythia-70m, pythia, pythia-19m
            EleutherAI/pythia-70m-deduped: pythia-70m-deduped, pythia-19m-deduped
            EleutherAI/pythia-70m-deduped-v0: pythia-70m-deduped-v0, pythia-19m-deduped-v0
            EleutherAI/pythia-70m-v0: pythia-70m-v0, pythia-v0, pythia-19m-v0
            facebook/opt-1.3b: opt-1.3b, opt-medium
            facebook/opt-125m: opt-125m, opt-small, opt
            facebook/opt-13b: opt-13b, opt-xxl
            facebook/opt-2.7b: opt-2.7b, opt-large
            facebook/opt-30b: opt-30b, opt-xxxl
            facebook/opt-6.7b: opt-6.7b, opt-xl
            facebook/opt-66b: opt-66b, opt-xxxxl
            stanford-crfm/alias-gpt2-small-x21: stanford-gpt2-small-a, alias-gpt2-small-x21, gpt2-mistral-small-a, gpt2-stanford-small-a
            stanford-crfm/arwen-gpt2-medium-x21: stanford-gpt2-medium-a, arwen-gpt2-medium-x21, gpt2-medium-small-a, gpt2-stanford-medium-a
            stanford-crfm/battlestar-gpt2-small-x49: stanford-gpt2-small-b, battlestar-gpt2-small-x49, gpt2-mistral-small-b
            stanford-crfm/beren-gpt2-medium-x49: stanford-gpt2-medium-b, beren-gpt2-medium-x49, gpt2-medium-small-b, gpt2-stanford-medium-b
            stanford-crfm/caprica-gpt2-small-x81: stanford-gpt2-small-c, caprica-gpt2-small-x81, gpt2-mistral-small-c, gpt2-stanford-small-c
            stanford-crfm/celebrimbor-gpt2-medium-x81: stanford-gpt2-medium-c, celebrimbor-gpt2-medium-x81, gpt2-medium-small-c
            stanford-crfm/darkmatter-gpt2-small-x343: stanford-gpt2-small-d, darkmatter-gpt2-small-x343, gpt2-mistral-small-d
            stanford-crfm/durin-gpt2-medium-x343: stanford-gpt2-medium-d, durin-gpt2-medium-x343, gpt2-medium-small-d, gpt2-stanford-medium-d
            stanford-crfm/eowyn-gpt2-medium-x777: stanford-gpt2-medium-e, eowyn-gpt2-medium-x777, gpt2-medium-small-e, gpt2-stanford-medium-e
            stanford-crfm/expanse-gpt2-small-x777: stanford-gpt2-small-e, expanse-gpt2-small-x777, gpt2-mistral-small-e
            """;

    static Map<String, Set<String>> expected() {
        Map<String, Set<String>> m = new LinkedHashMap<>();
        for (String line : TRANSFORMER_LENS.strip().split("\n")) {
            String[] kv = line.strip().split(": ");
            m.put(kv[0], new LinkedHashSet<>(List.of(kv[1].split(", "))));
        }
        return m;
    }

    @Test
    void theTableIsTransformerLensesForTheseFamilies() {
        Map<String, Set<String>> actual = new LinkedHashMap<>();
        TransformerLensNames.all().forEach((repo, aliases) -> actual.put(repo, new LinkedHashSet<>(aliases)));
        assertEquals(expected(), actual);
        assertEquals(59, actual.size());
    }

    @Test
    void everyAliasResolvesToItsRepositoryInAnyCase() {
        expected().forEach((repo, aliases) -> {
            for (String a : aliases) {
                assertEquals(repo, new RepoId(a).canonical(), a);
                assertEquals(repo, new RepoId(a.toUpperCase(Locale.ROOT)).canonical(), a);
                assertEquals(repo, new RepoId(a.toLowerCase(Locale.ROOT)).canonical(), a);
            }
            assertEquals(repo, new RepoId(repo).canonical());
        });
    }

    @Test
    void pythiaSuitesByName() {
        for (String size : List.of("70m", "160m", "410m", "1b", "1.4b", "2.8b", "6.9b", "12b")) {
            for (String variant : List.of("", "-deduped", "-v0", "-deduped-v0")) {
                assertEquals("EleutherAI/pythia-" + size + variant, new RepoId("pythia-" + size + variant).canonical());
            }
        }
        assertEquals("EleutherAI/pythia-14m", new RepoId("pythia-14m").canonical());
        assertEquals("EleutherAI/pythia-160m-seed2", new RepoId("pythia-160m-seed2").canonical());
        assertEquals("EleutherAI/pythia-70m", new RepoId("pythia").canonical());
        assertEquals("EleutherAI/pythia-160m", new RepoId("pythia-125m").canonical(), "the 2022 name, as TransformerLens maps it");
    }

    @Test
    void theHubsSpellingIsKeptExactly() {
        // the repositories are gpt-neo-125M and gpt-j-6B, but opt-125m and gpt-neox-20b: the cache folder follows the Hub
        assertEquals("EleutherAI/gpt-neo-125M", new RepoId("gpt-neo-125m").canonical());
        assertEquals("EleutherAI/gpt-neo-1.3B", new RepoId("gpt-neo-1.3b").canonical());
        assertEquals("EleutherAI/gpt-j-6B", new RepoId("GPT-J-6b").canonical());
        assertEquals("facebook/opt-125m", new RepoId("OPT-125M").canonical());
        assertEquals("EleutherAI/gpt-neox-20b", new RepoId("gpt-neox-20B").canonical());
        assertEquals("EleutherAI/gpt-neo-125M", new RepoId("eleutherai/GPT-NEO-125m").canonical(), "an official id in another case");
        assertEquals(List.of("models--EleutherAI--gpt-neo-125M", "models--gpt-neo-125m"), new RepoId("gpt-neo-125m").cacheNames());
    }

    @Test
    void idsWithAnOrganisationAreNeverRenamed() {
        // TransformerLens maps EleutherAI/pythia-19m to EleutherAI/pythia-70m; the Hub answers for that id itself
        assertEquals("EleutherAI/pythia-19m", new RepoId("EleutherAI/pythia-19m").canonical());
        assertEquals("org/pythia-160m", new RepoId("org/pythia-160m").canonical());
        assertEquals("EleutherAI/pythia-tiny", new RepoId("EleutherAI/pythia-tiny").canonical());
        assertEquals("pythia-7b", new RepoId("pythia-7b").canonical(), "not a name TransformerLens knows");
        assertEquals("openai-community/gpt2", new RepoId("gpt2").canonical());
        assertEquals("stanford-crfm/alias-gpt2-small-x21", new RepoId("stanford-gpt2-small-a").canonical());
    }
}

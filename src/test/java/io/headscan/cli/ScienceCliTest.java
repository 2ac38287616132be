package io.headscan.cli;

import static org.junit.jupiter.api.Assertions.*;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.headscan.format.SafetensorsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** score, embed, fullvocab and ov as a user runs them, on a small 12-layer synthetic model with planted heads. */
class ScienceCliTest {

    @TempDir
    static Path shared;
    static Path model;

    @TempDir
    Path dir;

    @BeforeAll
    static void synth() {
        System.setProperty("java.awt.headless", "true");
        model = shared.resolve("m");
        CliRun r = CliRun.of("synth", "--out", model.toString(), "--layers", "12", "--heads", "4", "--d-model", "64",
                "--vocab", "1000", "--n-ctx", "8", "--plant", "10.3,11.1", "--seed", "2");
        assertEquals(0, r.code(), r.err());
    }

    @Test
    void scoreRanksPlantedHeadsFirstAndWritesEveryReport() throws Exception {
        Path json = dir.resolve("s.json"), csv = dir.resolve("s.csv"), png = dir.resolve("h.png"), att = dir.resolve("a.svg");
        CliRun r = CliRun.of("score", model.toString(), "--bag-size", "64", "--json", json.toString(), "--csv", csv.toString(),
                "--heatmap", png.toString(), "--attention-plot", "10.3=" + att, "--backend", "java");
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertTrue(lines.get(0).contains("uniform baseline 1/64"), r.out());
        assertTrue(lines.get(2).contains(" 11.1 ") || lines.get(2).contains(" 10.3 "), r.out());
        assertTrue(lines.get(3).contains(" 11.1 ") || lines.get(3).contains(" 10.3 "), r.out());
        assertTrue(r.err().contains("backend: java (requested)"), r.err());
        JsonNode j = new ObjectMapper().readTree(json.toFile());
        for (String key : List.of("scores", "scores_centered", "ranking", "definition", "bags", "model", "backend", "timings_ms")) {
            assertTrue(j.has(key), key);
        }
        assertEquals(12, j.get("scores").size());
        assertEquals(4, j.get("scores").get(0).size());
        assertEquals("hackathon", j.get("definition").get("variant").asText());
        assertEquals("1/sqrt(d_head)", j.get("definition").get("scale").asText());
        assertEquals(0, j.get("bags").get("seed").asLong());
        assertEquals(8, j.get("bags").get("count").asInt());
        double sum = 0;
        for (JsonNode row : j.get("scores_centered")) for (JsonNode v : row) sum += v.asDouble();
        assertEquals(0, sum, 1e-9, "centred scores have mean 0");
        assertEquals(49, Files.readAllLines(csv).size(), "header + 48 heads");
        assertNotNull(ImageIO.read(png.toFile()));
        assertTrue(Files.readString(att).contains("<svg"));
    }

    @Test
    void scoreWithBagsFileAndCorpus() throws Exception {
        Path bags = dir.resolve("bags.json");
        Files.writeString(bags, "[[1,2,3,4,5,6,7,8],[10,20,30,40,50,60,70,80]]");
        CliRun r = CliRun.of("score", model.toString(), "--bags", bags.toString(), "--top", "3");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("2 file bags of 8 tokens"), r.out());
        CliRun c = CliRun.of("score", model.toString(), "--corpus", bags.toString());
        assertEquals(1, c.code());
        assertTrue(c.err().contains("tokenizer.json: not found: --corpus needs the model's tokenizer, and a 1000-token vocabulary is not GPT-2's"), c.err());
    }

    @Test
    void nonFiniteWeightsAreRefusedOrMarked() throws Exception {
        Path m = dir.resolve("nan");
        Files.createDirectories(m);
        Files.copy(model.resolve("model.safetensors"), m.resolve("model.safetensors"));
        Files.copy(model.resolve("config.json"), m.resolve("config.json"));
        io.headscan.testing.Corrupt.set(m.resolve("model.safetensors"), "h.1.attn.c_attn.weight", 3, 16 + 5, Float.NaN);   // Q of head 1.1
        CliRun refused = CliRun.of("score", m.toString(), "--bag-size", "16");
        assertEquals(1, refused.code());
        assertTrue(refused.oneLineError(), refused.err());
        assertTrue(refused.err().contains("h.1.attn.c_attn.weight (1 NaN); they reach head 1.1") && refused.err().contains("--allow-nonfinite"),
                refused.err());
        assertEquals("", refused.out());

        Path json = dir.resolve("s.json"), csv = dir.resolve("s.csv"), png = dir.resolve("h.png");
        CliRun r = CliRun.of("score", m.toString(), "--bag-size", "16", "--allow-nonfinite", "--top", "0", "--json", json.toString(),
                "--csv", csv.toString(), "--heatmap", png.toString());
        assertEquals(0, r.code(), r.err());
        JsonNode root = new ObjectMapper().readTree(Files.readString(json));
        assertTrue(root.get("scores").get(1).get(1).isNull(), "JSON null, not the string NaN");
        assertTrue(root.get("scores_centered").get(1).get(1).isNull());
        JsonNode last = root.get("ranking").get(47);
        assertEquals("1.1", last.get("head").asText(), "ranked last");
        assertTrue(last.get("nonfinite_weights").asBoolean());
        assertTrue(root.get("ranking").get(0).get("head").asText().matches("10\\.3|11\\.1"), "planted heads still first");
        double sum = 0;
        for (JsonNode row : root.get("scores_centered")) for (JsonNode x : row) if (!x.isNull()) sum += x.asDouble();
        assertEquals(0, sum, 1e-9, "the other 47 heads are centred on their own mean");
        assertTrue(Files.readString(csv).contains("\n1,1,,,,\n"), "empty CSV cells for the marked head");
        assertTrue(r.out().contains("non-finite weights"), r.out());
        assertNotNull(ImageIO.read(png.toFile()));

        io.headscan.testing.Corrupt.set(m.resolve("model.safetensors"), "wte.weight", 9, 0, Float.POSITIVE_INFINITY);
        CliRun inf = CliRun.of("fullvocab", m.toString(), "--heads", "1.0");
        assertEquals(1, inf.code());
        assertTrue(inf.err().contains("wte.weight (1 Inf)") && inf.err().contains("every head"), inf.err());
    }

    /** Exit code, arguments, and what the last line of stderr says. Usage errors (a flag's value) exit 2, the rest 1. */
    static List<List<String>> badInputs() {
        return List.of(
                List.of("2", "fullvocab", "MODEL", "--heads", "12.0", "--heads 12.0: unknown head 12.0"),
                List.of("2", "ov", "MODEL", "--heads", "3.4", "unknown head 3.4"),
                List.of("2", "fullvocab", "MODEL", "--heads", "foo", "--heads foo: head 'foo' is not of the form L.H"),
                List.of("2", "ov", "MODEL", "--heads", "1.1,1.1", "head 1.1 is named twice"),
                List.of("1", "score", "MODEL", "--bags", "BAGS:[[1,2,1000]]", "token id 1000, outside the vocabulary [0, 1000)"),
                List.of("1", "score", "MODEL", "--bags", "BAGS:[[1,2],[]]", "bag 1 is empty"),
                List.of("1", "score", "MODEL", "--bags", "BAGS:[[1,2,1]]", "bag 0 holds token 1 twice"),
                List.of("2", "score", "MODEL", "--bag-size", "1001", "--bag-size 1001 is larger than the vocabulary (1000)"),
                List.of("2", "score", "MODEL", "--bag-size", "0", "--bag-size 0: must be at least 1"),
                List.of("2", "score", "MODEL", "--bag-count", "0", "--bag-count 0: must be at least 1"),
                List.of("2", "score", "MODEL", "--bag-size", "abc", "Invalid value for option '--bag-size'"),
                List.of("2", "score", "MODEL", "--top", "-3", "--top -3: must be at least 0"),
                List.of("2", "ov", "MODEL", "--top", "-1", "--top -1: must be at least 0"),
                List.of("2", "score", "MODEL", "--threads", "0", "--threads 0: must be between 1 and"),
                List.of("2", "score", "MODEL", "--threads", "1000", "--threads 1000: must be between 1 and"),
                List.of("2", "score", "MODEL", "--backend", "tpu", "unknown backend 'tpu'"),
                List.of("2", "score", "MODEL", "--wee", "fancy", "unknown W_EE variant 'fancy'"),
                List.of("2", "embed", "MODEL", "--wee", "fancy", "unknown W_EE variant 'fancy'"),
                List.of("2", "score", "MODEL", "--n-head", "0", "--n-head 0: must be at least 1"),
                List.of("2", "score", "MODEL", "--attention-plot", "10.3", "--attention-plot takes L.H=FILE"),
                List.of("2", "score", "MODEL", "--heatmap", "OUT:h.jpg", "must end in .png or .svg"),
                List.of("2", "score", "MODEL", "--json", "OUT:s.txt", "--json " ),
                List.of("1", "score", "MODEL", "--json", "OUT:missing/s.json", "does not exist"),
                List.of("1", "fullvocab", "MODEL", "--json", "/proc/x.json", "--json /proc/x.json: cannot create files in /proc"),
                List.of("2", "embed", "MODEL", "--out", "OUT:w.bin", "--out "));
    }

    @ParameterizedTest
    @MethodSource("badInputs")
    void badInputIsOneLineWithItsExitCode(List<String> c) throws Exception {
        String[] args = c.subList(1, c.size() - 1).stream().map(a -> {
            if (a.equals("MODEL")) return model.toString();
            if (a.startsWith("BAGS:")) {
                try {
                    Path f = Files.createTempFile(dir, "bags", ".json");
                    Files.writeString(f, a.substring(5));
                    return f.toString();
                } catch (java.io.IOException e) {
                    throw new RuntimeException(e);
                }
            }
            if (a.startsWith("OUT:")) return dir.resolve(a.substring(4)).toString();
            return a;
        }).toArray(String[]::new);
        CliRun r = CliRun.of(args);
        assertEquals(Integer.parseInt(c.get(0)), r.code(), r.out() + r.err());
        assertEquals("", r.out(), "nothing computed or printed before the error");
        String lastLine = r.err().strip().lines().filter(l -> !l.startsWith("Try '")).reduce((a, b) -> b).orElse("");
        assertTrue(lastLine.startsWith("headscan: ") && lastLine.contains(c.get(c.size() - 1)), r.err());
        assertFalse(r.err().contains("\tat "), "no stack trace");
    }

    @Test
    void unreadableCorpusIsNamed() throws Exception {
        Path m = shared.resolve("gpt2vocab");
        if (!Files.exists(m.resolve("model.safetensors"))) {
            assertEquals(0, CliRun.of("synth", "--out", m.toString(), "--layers", "1", "--heads", "1", "--d-model", "16",
                    "--n-ctx", "4").code());
        }
        CliRun r = CliRun.of("score", m.toString(), "--corpus", dir.resolve("nope.txt").toString());
        assertEquals(1, r.code());
        assertTrue(r.err().contains("corpus not found"), r.err());
    }

    @Test
    void embedFullvocabAndOvShareTheCachedTable() throws Exception {
        Path out = dir.resolve("wee.safetensors");
        CliRun e = CliRun.of("embed", model.toString(), "--wee", "full", "--out", out.toString());
        assertEquals(0, e.code(), e.err() + "\nOUT:" + e.out());
        try (SafetensorsFile f = SafetensorsFile.open(out)) {
            assertEquals(List.of(1000L, 64L), java.util.Arrays.stream(f.info("W_EE").shape()).boxed().toList());
            assertEquals("full", f.metadata().get("headscan.variant"));
            assertEquals(64, f.metadata().get("headscan.source_sha256").length());
        }
        Path json = dir.resolve("fv.json");
        CliRun fv = CliRun.of("fullvocab", model.toString(), "--heads", "10.3,0.0", "--json", json.toString());
        assertEquals(0, fv.code(), fv.err());
        assertTrue(fv.err().contains("from cache"), fv.err());
        JsonNode h = new ObjectMapper().readTree(json.toFile()).get("heads");
        for (String k : List.of("mean_diag_prob", "frac_rank0", "frac_rank_lt10", "median_rank", "mean_rank")) assertTrue(h.get("10.3").has(k), k);
        assertTrue(h.get("10.3").get("mean_diag_prob").asDouble() > 100 * h.get("0.0").get("mean_diag_prob").asDouble());

        Path ovJson = dir.resolve("ov.json");
        CliRun ov = CliRun.of("ov", model.toString(), "--heads", "10.3", "--token", "5", "--json", ovJson.toString());
        assertEquals(0, ov.code(), ov.err());
        JsonNode o = new ObjectMapper().readTree(ovJson.toFile()).get("heads").get("10.3");
        for (String k : List.of("frac_rank0", "frac_rank_lt10", "median_rank", "mean_rank")) {
            assertTrue(o.get("negative").has(k) && o.get("positive").has(k), k);
        }
        assertTrue(o.get("negative").get("frac_rank0").asDouble() > 0.2, o.toString());
        assertEquals(5, o.get("pushed").get("least").get(0).get("token").asInt(), "the planted head pushes its source token down most");
        assertEquals(10, o.get("pushed").get("least").size());
        assertTrue(o.get("ioi").isNull(), "no tokenizer (no tokenizer.json, and a 1000-token vocabulary is not GPT-2's): IOI skipped");
        assertTrue(ov.out().contains("IOI copy scores: skipped"), ov.out());
    }
}

package io.headscan.sweep;

import java.io.IOException;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.PathMatcher;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.OptionalLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Expands what a user names into the checkpoints of a sweep: paths, globs ({@code runs/*\/checkpoint-*}), Hugging Face
 * ids with an optional {@code @revision}, and files listing one of those per line ({@code --models-from}; blank lines
 * and {@code #} comments skipped). A checkpoint's label comes from {@code --label-from REGEX} (its first group, or the
 * whole match) or from a step in its name: {@code checkpoint-1200}, {@code step_1200}, {@code step1200},
 * {@code global_step1200}. A series sorts by step; names without one keep the order given.
 */
public final class Checkpoints {

    private static final Pattern DIGITS = Pattern.compile("\\d+");
    private static final Pattern STEP = Pattern.compile("(?:global_step|checkpoint|step|iter|ckpt)[-_]?(\\d+)", Pattern.CASE_INSENSITIVE);

    private Checkpoints() {}

    /** The checkpoints named by {@code specs} and the lines of {@code modelsFrom}, de-duplicated, in order. */
    public static List<Checkpoint> expand(List<String> specs, Optional<Path> modelsFrom, Optional<Pattern> labelFrom) throws IOException {
        List<String> all = new ArrayList<>(specs);
        if (modelsFrom.isPresent()) {
            for (String line : Files.readAllLines(modelsFrom.get())) {
                String s = line.strip();
                if (!s.isEmpty() && !s.startsWith("#")) all.add(s);
            }
        }
        LinkedHashSet<String> seen = new LinkedHashSet<>();
        List<Checkpoint> out = new ArrayList<>();
        for (String spec : all) {
            for (String one : glob(spec)) {
                if (!seen.add(one)) continue;
                String name = one, revision = "main";
                int at = one.lastIndexOf('@');
                if (at > 0 && !Files.exists(Path.of(one))) {
                    name = one.substring(0, at);
                    revision = one.substring(at + 1);
                }
                String label = label(name, labelFrom);
                OptionalLong step = label == null ? OptionalLong.empty() : number(label);
                out.add(new Checkpoint(name, revision, label, step));
            }
        }
        if (!out.isEmpty() && out.stream().allMatch(c -> c.step().isPresent())) {
            out.sort(Comparator.comparingLong(c -> c.step().getAsLong()));
        }
        return out;
    }

    /**
     * The checkpoints of a repository's branches and tags ({@code refs}, each with its commit) whose names match one of
     * {@code globs} ({@code checkpoint-*}; {@code *}, {@code ?} and {@code [...]} as in file globs), in step order
     * (revisions without a step after them, by name), thinned to the steps in {@code [fromStep, toStep]} and then to every
     * {@code every}-th. Each is pinned to its commit.
     */
    public static List<Checkpoint> revisions(String repo, List<io.headscan.hub.HubRefs.Ref> refs, List<String> globs, long fromStep, long toStep,
                                             int every, Optional<Pattern> labelFrom) {
        if (every < 1) throw new IllegalArgumentException("--every " + every + ": must be at least 1");
        List<PathMatcher> matchers = new ArrayList<>();
        for (String g : globs) {
            if (g.isBlank()) continue;
            matchers.add(FileSystems.getDefault().getPathMatcher("glob:" + g.strip()));
        }
        if (matchers.isEmpty()) throw new IllegalArgumentException("--revisions: give at least one pattern, e.g. 'checkpoint-*'");
        List<Checkpoint> out = new ArrayList<>();
        LinkedHashSet<String> seen = new LinkedHashSet<>();
        for (var r : refs) {
            if (r.name().contains("/") || !seen.add(r.name())) continue;
            Path name = Path.of(r.name());
            if (matchers.stream().noneMatch(m -> m.matches(name))) continue;
            String label = label(r.name(), labelFrom);
            OptionalLong step = label == null ? OptionalLong.empty() : number(label);
            if (step.isPresent() && (step.getAsLong() < fromStep || step.getAsLong() > toStep)) continue;
            if (step.isEmpty() && (fromStep > Long.MIN_VALUE || toStep < Long.MAX_VALUE)) continue;
            out.add(new Checkpoint(repo, r.name(), label, step, r.commit()));
        }
        out.sort(Comparator.<Checkpoint>comparingLong(c -> c.step().isPresent() ? c.step().getAsLong() : Long.MAX_VALUE)
                .thenComparing(Checkpoint::revision));
        if (every == 1) return out;
        List<Checkpoint> thin = new ArrayList<>();
        for (int i = 0; i < out.size(); i += every) thin.add(out.get(i));
        return thin;
    }

    /** "A-B", "A-" or "-B" as inclusive step bounds. */
    public static long[] stepRange(String spec) {
        String s = spec.strip();
        int dash = s.indexOf('-', 1);
        try {
            if (s.startsWith("-")) return new long[] {Long.MIN_VALUE, Long.parseLong(s.substring(1))};
            if (dash < 0) {
                long v = Long.parseLong(s);
                return new long[] {v, v};
            }
            long a = Long.parseLong(s.substring(0, dash));
            long b = dash == s.length() - 1 ? Long.MAX_VALUE : Long.parseLong(s.substring(dash + 1));
            if (b < a) throw new NumberFormatException();
            return new long[] {a, b};
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("--steps " + spec + ": expected A-B, A- or -B with A <= B, e.g. 0-2000");
        }
    }

    /** The step a label gives: the label as a number, or its first digits; none for a number past 18 digits (a branch
     *  name is the Hub's, not ours to trust). */
    private static OptionalLong number(String label) {
        Matcher m = DIGITS.matcher(label);
        if (!m.find()) return OptionalLong.empty();
        String digits = m.group().replaceFirst("^0+(?=\\d)", "");
        return digits.length() > 18 ? OptionalLong.empty() : OptionalLong.of(Long.parseLong(digits));
    }

    /** The label of a checkpoint named {@code name}, or null. */
    static String label(String name, Optional<Pattern> labelFrom) {
        if (labelFrom.isPresent()) {
            Matcher m = labelFrom.get().matcher(name);
            if (!m.find()) return null;
            return m.groupCount() >= 1 && m.group(1) != null ? m.group(1) : m.group();
        }
        Matcher m = STEP.matcher(name);
        String last = null;
        while (m.find()) last = m.group(1);   // the innermost folder's step wins (runs/step_9/checkpoint-1200)
        return last;
    }

    /** A spec without glob characters as it is; with them, the matching paths in name order (none: an error). */
    static List<String> glob(String spec) throws IOException {
        if (spec.chars().noneMatch(c -> c == '*' || c == '?' || c == '[' || c == '{')) return List.of(spec);
        Path p = Path.of(spec);
        int firstGlob = 0;
        while (firstGlob < p.getNameCount() && p.getName(firstGlob).toString().chars().noneMatch(c -> c == '*' || c == '?' || c == '[' || c == '{')) firstGlob++;
        Path base = p.isAbsolute() ? p.getRoot() : Path.of("");
        if (firstGlob > 0) base = base.resolve(p.subpath(0, firstGlob));
        int depth = p.getNameCount() - firstGlob;
        Path absBase = base.toString().isEmpty() ? Path.of(".") : base;
        PathMatcher matcher = FileSystems.getDefault().getPathMatcher("glob:" + (p.isAbsolute() ? p.toString() : p.normalize().toString()));
        List<String> out = new ArrayList<>();
        if (Files.isDirectory(absBase)) {
            try (Stream<Path> s = Files.walk(absBase, depth)) {
                for (Path q : s.sorted(Comparator.comparing(Path::toString)).toList()) {
                    Path rel = base.toString().isEmpty() ? absBase.relativize(q) : q;
                    if (q.getNameCount() > 0 && matcher.matches(rel.normalize())) out.add(rel.toString());
                }
            }
        }
        if (out.isEmpty()) throw new IllegalArgumentException(spec + ": matches no file or folder");
        return out;
    }
}

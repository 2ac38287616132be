package io.headscan.sweep;

import java.util.OptionalLong;

/**
 * One member of a sweep: what the user named ({@code spec}: a path, or a Hugging Face id), the revision for an id, its
 * label in a series (a training step read from its name, or what {@code --label-from} extracted), if any, and, for a
 * revision listed from the Hub ({@code --revisions}), the commit it pointed to then ({@code commit}, else null).
 */
public record Checkpoint(String spec, String revision, String label, Long stepOrNull, String commit) implements java.io.Serializable {

    /** With the step as an {@link OptionalLong} (stored as a nullable Long: OptionalLong is not serializable). */
    public Checkpoint(String spec, String revision, String label, OptionalLong step, String commit) {
        this(spec, revision, label, step.isPresent() ? step.getAsLong() : null, commit);
    }

    public OptionalLong step() {
        return stepOrNull == null ? OptionalLong.empty() : OptionalLong.of(stepOrNull);
    }

    public Checkpoint(String spec, String revision, String label, OptionalLong step) {
        this(spec, revision, label, step, null);
    }

    /** "spec" or "spec@revision" (for hub ids whose revision is not main). */
    public String display() {
        return revision == null || revision.equals("main") ? spec : spec + "@" + revision;
    }
}

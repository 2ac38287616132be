package io.headscan.model;

import java.util.List;
import java.util.Optional;

/** Published identities of real checkpoints (docs/science.md §7), for {@code inspect --verify}. */
public record KnownCheckpoint(String id, String file, long bytes, String sha256, long headerLength, int tensors, long parameters) {

    public static final KnownCheckpoint GPT2 = new KnownCheckpoint("openai-community/gpt2", "model.safetensors", 548_105_171L,
            "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707", 14_283, 160, 124_439_808L);

    public static final List<KnownCheckpoint> ALL = List.of(GPT2);

    /** The known checkpoint a file of this size claims to be, if any. */
    public static Optional<KnownCheckpoint> bySize(long bytes) {
        return ALL.stream().filter(k -> k.bytes == bytes).findFirst();
    }
}

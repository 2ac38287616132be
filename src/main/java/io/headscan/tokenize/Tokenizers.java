package io.headscan.tokenize;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

/**
 * The one place that picks a checkpoint's tokenizer, from the folder of its weights:
 * <ol>
 *   <li>{@code tokenizer.json} there that is GPT-2's ({@link Gpt2TokenizerJson}): the built-in {@link Gpt2Tokenizer};</li>
 *   <li>any other {@code tokenizer.json} there: the Hugging Face tokenizers library reads it ({@link HfTokenizer}, loaded only
 *       now);</li>
 *   <li>no {@code tokenizer.json} and a vocabulary of GPT-2's 50257 tokens: the built-in GPT-2 BPE, as headscan has always
 *       assumed (a synthetic or GPT-2 checkpoint saved without its tokenizer);</li>
 *   <li>otherwise none: random and file bags still work, and what needs one ({@code --corpus}, IOI names) says which file it
 *       expected where.</li>
 * </ol>
 * Either way the ids are the Hugging Face tokenizers library's for that file.
 */
public final class Tokenizers {

    public static final String FILE = "tokenizer.json";

    private Tokenizers() {}

    /** The folder a checkpoint's tokenizer.json belongs in: the folder given, or the one holding the weights file given. */
    public static Path folder(Path checkpoint) {
        Path abs = checkpoint.toAbsolutePath();
        return Files.isDirectory(abs) || abs.getParent() == null ? abs : abs.getParent();
    }

    /** Where the tokenizer.json of this checkpoint is looked for. */
    public static Path expectedFile(Path checkpoint) {
        return folder(checkpoint).resolve(FILE);
    }

    /** The tokenizer of the checkpoint at {@code checkpoint} (its weights file or folder) with {@code vocab} tokens; empty when it has none. */
    public static Optional<Tokenizer> forCheckpoint(Path checkpoint, int vocab) {
        Path file = expectedFile(checkpoint);
        if (Files.exists(file)) {
            if (!Files.isRegularFile(file)) throw new TokenizerException(file, "not a regular file");
            return Optional.of(Gpt2TokenizerJson.isGpt2(file) ? Gpt2Tokenizer.INSTANCE : HfTokenizer.open(file));
        }
        return vocab == Gpt2Tokenizer.VOCAB ? Optional.of(Gpt2Tokenizer.INSTANCE) : Optional.empty();
    }

    /**
     * Whether {@link #forCheckpoint} would give the built-in GPT-2 BPE, decided without loading the tokenizers library
     * (a broken tokenizer.json is a {@link TokenizerException}).
     */
    public static boolean isGpt2Bpe(Path checkpoint, int vocab) {
        Path file = expectedFile(checkpoint);
        if (Files.exists(file)) return Files.isRegularFile(file) && Gpt2TokenizerJson.isGpt2(file);
        return vocab == Gpt2Tokenizer.VOCAB;
    }

    /** As {@link #forCheckpoint}, for what cannot go without one: {@code purpose} (e.g. "--corpus") names it in the error. */
    public static Tokenizer require(Path checkpoint, int vocab, String purpose) {
        return forCheckpoint(checkpoint, vocab).orElseThrow(() -> new TokenizerException(expectedFile(checkpoint), missing(purpose, vocab)));
    }

    /** Why there is no tokenizer, after the file's name: "not found; --corpus needs the model's tokenizer (...)". */
    public static String missing(String purpose, int vocab) {
        return "not found: " + purpose + " needs the model's tokenizer, and a " + vocab + "-token vocabulary is not GPT-2's " + Gpt2Tokenizer.VOCAB
                + " (put the model's " + FILE + " beside its weights)";
    }

    /** Any tokenizer opened from a file, so that it can be named in tests and reports; always the tokenizers library's reading. */
    public static Tokenizer openHuggingFace(Path tokenizerJson) {
        return HfTokenizer.open(tokenizerJson);
    }
}

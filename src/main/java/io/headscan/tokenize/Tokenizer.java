package io.headscan.tokenize;

/**
 * Text to token ids and back, as a model's own tokenizer does it: no special tokens added (no BOS, no EOS), no
 * truncation, no padding. {@link Tokenizers#forCheckpoint} picks the one of a checkpoint.
 */
public interface Tokenizer extends AutoCloseable {

    /** The ids of {@code text}, exactly as the tokenizer's reference implementation gives them. */
    int[] encode(String text);

    /**
     * The text of one token (a partial UTF-8 sequence shows replacement characters; special tokens show their text); an
     * empty string for an id the tokenizer does not have (a model's vocabulary may be padded past its tokenizer's).
     */
    String decode(int id);

    /** What it is, for reports: {@code GPT-2 BPE (built in)}, {@code tokenizer.json (BPE) in /path}. */
    String describe();

    /** Frees what the tokenizer holds outside the heap; a closed tokenizer refuses to work. */
    @Override
    default void close() {}
}

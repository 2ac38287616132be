package io.headscan.tokenize;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;

/**
 * GPT-2's byte-level BPE (r50k_base, 50257 tokens), through jtokkit: built in, no native code. Used for a checkpoint
 * whose {@code tokenizer.json} is GPT-2's ({@link Gpt2TokenizerJson}) or that has none and a 50257-token vocabulary.
 */
public final class Gpt2Tokenizer implements Tokenizer {

    public static final int VOCAB = 50257;
    /** {@code <|endoftext|>}: GPT-2's one special token, and its id. */
    public static final String END_OF_TEXT_TEXT = "<|endoftext|>";
    public static final int END_OF_TEXT = 50256;

    /** The one instance (it holds nothing but jtokkit's tables, loaded on first use). */
    public static final Gpt2Tokenizer INSTANCE = new Gpt2Tokenizer();

    private Gpt2Tokenizer() {}

    private static final class Holder {
        static final Encoding ENCODING = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.R50K_BASE);
    }

    /**
     * As the Hugging Face tokenizers library encodes with GPT-2's tokenizer.json: {@code <|endoftext|>} written in the
     * text is that token (an added token, matched before anything else), the text between is byte-level BPE.
     */
    @Override
    public int[] encode(String text) {
        int at = text.indexOf(END_OF_TEXT_TEXT);
        if (at < 0) return Holder.ENCODING.encodeOrdinary(text).toArray();
        IntArrayList ids = new IntArrayList();
        int from = 0;
        for (; at >= 0; from = at + END_OF_TEXT_TEXT.length(), at = text.indexOf(END_OF_TEXT_TEXT, from)) {
            if (at > from) addAll(ids, Holder.ENCODING.encodeOrdinary(text.substring(from, at)));
            ids.add(END_OF_TEXT);
        }
        if (from < text.length()) addAll(ids, Holder.ENCODING.encodeOrdinary(text.substring(from)));
        return ids.toArray();
    }

    private static void addAll(IntArrayList to, IntArrayList from) {
        for (int i = 0; i < from.size(); i++) to.add(from.get(i));
    }

    @Override
    public String decode(int token) {
        if (token < 0 || token >= VOCAB) return "";
        IntArrayList one = new IntArrayList(1);
        one.add(token);
        return Holder.ENCODING.decode(one);
    }

    @Override
    public String describe() {
        return "GPT-2 BPE (built in)";
    }
}

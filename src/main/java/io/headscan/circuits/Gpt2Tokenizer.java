package io.headscan.circuits;

import com.knuddels.jtokkit.Encodings;
import com.knuddels.jtokkit.api.Encoding;
import com.knuddels.jtokkit.api.EncodingType;
import com.knuddels.jtokkit.api.IntArrayList;

/** GPT-2's byte-level BPE (r50k_base, 50257 tokens), through jtokkit. No BOS is added. */
public final class Gpt2Tokenizer {

    public static final int VOCAB = 50257;

    private static final Encoding ENCODING = Encodings.newLazyEncodingRegistry().getEncoding(EncodingType.R50K_BASE);

    private Gpt2Tokenizer() {}

    public static int[] encode(String text) {
        IntArrayList ids = ENCODING.encodeOrdinary(text);
        return ids.toArray();
    }

    /** The text of one token (may be a partial UTF-8 sequence, shown with replacement characters). */
    public static String decode(int token) {
        IntArrayList one = new IntArrayList(1);
        one.add(token);
        return ENCODING.decode(one);
    }

    /** Whether decoded strings are meaningful for a vocabulary of this size. */
    public static boolean appliesTo(int vocab) {
        return vocab == VOCAB;
    }
}

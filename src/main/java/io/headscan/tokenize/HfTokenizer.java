package io.headscan.tokenize;

import ai.djl.huggingface.tokenizers.jni.TokenizersLibrary;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * A model's {@code tokenizer.json} read by the Hugging Face tokenizers library itself (its Rust code, through DJL's JNI
 * binding): the ids are the library's, as Python's {@code Tokenizer.from_file(f).encode(text, add_special_tokens=False).ids}
 * gives them, with truncation and padding turned off; a token's text is {@code decode([id], skip_special_tokens=False)}.
 * DJL's {@code HuggingFaceTokenizer} wrapper is not used: it lower-cases, adds prefix spaces, truncates to 512 tokens
 * and cleans up spaces on its own, per options and a tokenizer_config.json, which would move the ids away from the
 * library's.
 *
 * <p>The file is read whole onto the heap once (GPT-2-size tokenizers: 1–3 MB); the library holds its own copy outside
 * it until {@link #close()}.
 */
final class HfTokenizer implements Tokenizer {

    /** Files larger than this are refused before reading (the largest published tokenizer.json files are about 35 MB). */
    static final long MAX_BYTES = 256L << 20;

    private final Path file;
    private final String model;
    private long handle;

    private HfTokenizer(Path file, String model, long handle) {
        this.file = file;
        this.model = model;
        this.handle = handle;
    }

    /** Opens {@code file} (a tokenizer.json); every failure is one {@link TokenizerException} naming it. */
    static Tokenizer open(Path file) {
        String json;
        try {
            long size = Files.size(file);
            if (size > MAX_BYTES) throw new TokenizerException(file, "tokenizer.json of " + size + " bytes, more than the " + MAX_BYTES + " accepted");
            json = Files.readString(file);
        } catch (java.nio.charset.MalformedInputException e) {
            throw new TokenizerException(file, "not UTF-8 text");
        } catch (java.nio.file.NoSuchFileException e) {
            throw new TokenizerException(file, "no such file");
        } catch (IOException e) {
            throw new TokenizerException(file, "cannot read: " + e.getMessage(), e);
        }
        String model = modelType(file, json);
        HfNative.load();
        long h;
        try {
            h = TokenizersLibrary.LIB.createTokenizerFromString(json);
        } catch (RuntimeException e) {
            throw new TokenizerException(file, "refused by the Hugging Face tokenizers library: " + e.getMessage(), e);
        }
        try {
            TokenizersLibrary.LIB.disableTruncation(h);
            TokenizersLibrary.LIB.disablePadding(h);
        } catch (RuntimeException e) {
            TokenizersLibrary.LIB.deleteTokenizer(h);
            throw new TokenizerException(file, "refused by the Hugging Face tokenizers library: " + e.getMessage(), e);
        }
        return new HfTokenizer(file, model, h);
    }

    /** The model's type (BPE, WordPiece, Unigram, WordLevel) for reports; the whole text checked to be JSON on the way (streamed). */
    private static String modelType(Path file, String json) {
        try (com.fasterxml.jackson.core.JsonParser p = io.headscan.Json.MAPPER.getFactory().createParser(json)) {
            com.fasterxml.jackson.core.JsonToken first = p.nextToken();
            if (first == null) throw new TokenizerException(file, "empty file");
            if (first != com.fasterxml.jackson.core.JsonToken.START_OBJECT) throw new TokenizerException(file, "not a tokenizer.json: expected a JSON object");
            String type = null;
            com.fasterxml.jackson.core.JsonToken t;
            while ((t = p.nextToken()) != null) {
                if (t == com.fasterxml.jackson.core.JsonToken.VALUE_STRING && "type".equals(p.currentName())) {
                    var obj = p.getParsingContext().getParent();
                    if (obj != null && "model".equals(obj.getCurrentName()) && obj.getParent() != null && obj.getParent().inRoot()) type = p.getText();
                }
            }
            return type != null ? io.headscan.format.Printable.name(type) : "model without a type";
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new TokenizerException(file, "not valid JSON: " + e.getOriginalMessage());
        } catch (IOException e) {
            throw new TokenizerException(file, "cannot read: " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized int[] encode(String text) {
        long h = live();
        long enc;
        try {
            enc = TokenizersLibrary.LIB.encode(h, text, false);
        } catch (RuntimeException e) {
            throw new TokenizerException(file, "the tokenizers library cannot encode a text: " + e.getMessage(), e);
        }
        try {
            long[] ids = TokenizersLibrary.LIB.getTokenIds(enc);
            int[] out = new int[ids.length];
            for (int i = 0; i < ids.length; i++) {
                if (ids[i] < 0 || ids[i] > Integer.MAX_VALUE) throw new TokenizerException(file, "the tokenizer gave token id " + ids[i] + ", outside any vocabulary");
                out[i] = (int) ids[i];
            }
            return out;
        } finally {
            TokenizersLibrary.LIB.deleteEncoding(enc);
        }
    }

    @Override
    public synchronized String decode(int id) {
        long h = live();
        if (id < 0) return "";
        try {
            return TokenizersLibrary.LIB.decode(h, new long[] {id}, false);
        } catch (RuntimeException e) {
            throw new TokenizerException(file, "the tokenizers library cannot decode token " + id + ": " + e.getMessage(), e);
        }
    }

    @Override
    public String describe() {
        return "tokenizer.json (" + model + ", Hugging Face tokenizers) in " + file.toAbsolutePath().getParent();
    }

    private long live() {
        if (handle == 0) throw new IllegalStateException(file + ": tokenizer used after close");
        return handle;
    }

    @Override
    public synchronized void close() {
        if (handle == 0) return;
        TokenizersLibrary.LIB.deleteTokenizer(handle);
        handle = 0;
    }
}

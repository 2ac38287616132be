/**
 * Tokenizers: text to a model's token ids and back, for corpus bags, the IOI names and token texts in reports.
 * {@link io.headscan.tokenize.Tokenizers} picks a checkpoint's from the folder of its weights: GPT-2's byte-level BPE built
 * in (jtokkit), or the model's own {@code tokenizer.json} read by the Hugging Face tokenizers library through DJL's JNI
 * binding, whose classes and native library load only when such a file is used.
 */
package io.headscan.tokenize;

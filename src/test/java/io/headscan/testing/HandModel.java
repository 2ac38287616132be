package io.headscan.testing;

import io.headscan.format.SafetensorsWriter;
import io.headscan.model.Dims;
import io.headscan.model.Gpt2Layout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/** A GPT-2-layout checkpoint with chosen values for some tensors and zeros everywhere else, for hand-worked cases. */
public final class HandModel {

    private HandModel() {}

    /** Writes {@code dir/model.safetensors} (every layout tensor: {@code values} where given, else zeros) and a config.json. */
    public static void write(Path dir, Dims dims, Map<String, float[]> values) throws IOException {
        SafetensorsWriter w = new SafetensorsWriter();
        for (Gpt2Layout.Entry e : Gpt2Layout.entries(dims)) {
            float[] v = values.get(e.name());
            long n = 1;
            for (long s : e.shape()) n *= s;
            w.addF32(e.name(), e.shape(), v != null ? v : new float[(int) n]);
        }
        w.write(dir.resolve("model.safetensors"));
        Files.writeString(dir.resolve("config.json"), "{\"n_head\": " + dims.heads() + "}");
    }
}

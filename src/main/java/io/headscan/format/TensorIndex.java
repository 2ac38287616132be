package io.headscan.format;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** A checkpoint's tensors in order and by name, with the named error for a name it does not have. */
record TensorIndex(Path file, List<TensorInfo> inOrder, Map<String, TensorInfo> byName) {

    static TensorIndex of(Path file, List<TensorInfo> tensors) {
        Map<String, TensorInfo> m = new LinkedHashMap<>();
        for (TensorInfo t : tensors) m.put(t.name(), t);
        return new TensorIndex(file, List.copyOf(tensors), java.util.Collections.unmodifiableMap(m));
    }

    boolean has(String name) {
        return byName.containsKey(name);
    }

    TensorInfo info(String name) {
        TensorInfo t = byName.get(name);
        if (t == null) throw new SafetensorsException(SafetensorsException.Kind.TENSOR_NOT_FOUND, file, name, "no such tensor in the checkpoint");
        return t;
    }
}

package io.headscan.format;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/** A checkpoint's tensors in order and by name, with its container's named error for a name it does not have. */
record TensorIndex(List<TensorInfo> inOrder, Map<String, TensorInfo> byName, Function<String, CheckpointFormatException> notFound) {

    static TensorIndex of(List<TensorInfo> tensors, Function<String, CheckpointFormatException> notFound) {
        Map<String, TensorInfo> m = new LinkedHashMap<>();
        for (TensorInfo t : tensors) m.put(t.name(), t);
        return new TensorIndex(List.copyOf(tensors), java.util.Collections.unmodifiableMap(m), notFound);
    }

    boolean has(String name) {
        return byName.containsKey(name);
    }

    TensorInfo info(String name) {
        TensorInfo t = byName.get(name);
        if (t == null) throw notFound.apply(name);
        return t;
    }
}

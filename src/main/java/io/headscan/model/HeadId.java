package io.headscan.model;

import java.util.ArrayList;
import java.util.List;

/** An attention head "L.H" (layer L, head H), as written in the field: 10.7 is layer 10, head 7. */
public record HeadId(int layer, int head) implements Comparable<HeadId>, java.io.Serializable {

    public static HeadId parse(String s) {
        String t = s.trim();
        int dot = t.indexOf('.');
        if (dot <= 0 || dot == t.length() - 1) throw new IllegalArgumentException("head '" + s + "' is not of the form L.H (e.g. 10.7)");
        try {
            int l = Integer.parseInt(t.substring(0, dot));
            int h = Integer.parseInt(t.substring(dot + 1));
            if (l < 0 || h < 0) throw new NumberFormatException();
            return new HeadId(l, h);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("head '" + s + "' is not of the form L.H (e.g. 10.7)");
        }
    }

    /** Parses a comma-separated list such as "10.7,11.10". */
    public static List<HeadId> parseList(String s) {
        List<HeadId> out = new ArrayList<>();
        for (String part : s.split(",")) {
            if (!part.isBlank()) out.add(parse(part));
        }
        if (out.isEmpty()) throw new IllegalArgumentException("no heads given in '" + s + "'");
        return out;
    }

    /**
     * "all" (every head of a model of these dimensions; none when {@code dims} is null) or a list such as "10.7,11.10",
     * each head checked against {@code dims} when given; a head named twice is an error.
     */
    public static List<HeadId> select(String spec, Dims dims) {
        List<HeadId> out = new ArrayList<>();
        if (spec.strip().equalsIgnoreCase("all")) {
            if (dims != null) for (int l = 0; l < dims.layers(); l++) for (int h = 0; h < dims.heads(); h++) out.add(new HeadId(l, h));
            return out;
        }
        for (HeadId h : parseList(spec)) {
            if (out.contains(h)) throw new IllegalArgumentException("head " + h + " is named twice");
            out.add(dims == null ? h : h.checkIn(dims));
        }
        return out;
    }

    /** Throws when the head does not exist in a model of these dimensions. */
    public HeadId checkIn(Dims dims) {
        if (layer >= dims.layers() || head >= dims.heads()) {
            throw new IllegalArgumentException("unknown head " + this + ": the model has " + dims.layers() + " layers of "
                    + dims.heads() + " heads (0.0 to " + (dims.layers() - 1) + "." + (dims.heads() - 1) + ")");
        }
        return this;
    }

    @Override
    public int compareTo(HeadId o) {
        return layer != o.layer ? Integer.compare(layer, o.layer) : Integer.compare(head, o.head);
    }

    @Override
    public String toString() {
        return layer + "." + head;
    }
}

package io.headscan.format;

import java.util.Locale;

/**
 * Text taken from a file (tensor, entry and shard names, pickle strings) made safe for a one-line message, a terminal
 * and a results table: control and format characters (U+202E reverses what follows it, ESC starts terminal
 * sequences), line and paragraph separators and unpaired surrogates are shown escaped ({@code \u001b}), and the
 * length is bounded. The one rule for every place that prints or stores such text.
 */
public final class Printable {

    /** Longest name shown (code points), and longest message (chars): a file cannot make a megabyte-long error line. */
    public static final int NAME = 200, LINE = 2000;

    private Printable() {}

    /** A name from a file: unsafe characters escaped, cut after {@value #NAME} code points ("..." then). */
    public static String name(String s) {
        return escape(s, NAME, true);
    }

    /** A whole message: unsafe characters escaped (a line break too), cut after {@value #LINE} characters. */
    public static String line(String m) {
        return m == null ? "" : escape(m, LINE, false);
    }

    private static String escape(String s, int limit, boolean codePoints) {
        StringBuilder b = null;
        int shown = 0;
        for (int i = 0; i < s.length(); ) {
            int c = s.codePointAt(i);
            int next = i + Character.charCount(c);
            if (shown >= limit || (!codePoints && b != null && b.length() >= limit)) {
                if (b == null) b = new StringBuilder(s.substring(0, i));
                return b.append(codePoints ? "..." : "... (" + (s.length() - i) + " more characters)").toString();
            }
            boolean unsafe = unsafe(c);
            if (unsafe && b == null) b = new StringBuilder(s.length() + 16).append(s, 0, i);
            if (b != null) {
                if (unsafe) b.append(String.format(Locale.ROOT, "\\u%04x", c));
                else b.appendCodePoint(c);
            }
            shown++;
            i = next;
        }
        return b == null ? s : b.toString();
    }

    /** Control and format characters, line and paragraph separators, and a surrogate without its pair. */
    static boolean unsafe(int c) {
        int type = Character.getType(c);
        return type == Character.CONTROL || type == Character.FORMAT || type == Character.LINE_SEPARATOR
                || type == Character.PARAGRAPH_SEPARATOR || type == Character.SURROGATE;
    }
}

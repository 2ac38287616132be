package io.headscan.format;

import static org.junit.jupiter.api.Assertions.*;

import org.junit.jupiter.api.Test;

/** The one rule for text from a file in a message: unsafe characters escaped, length bounded. */
class PrintableTest {

    @Test
    void controlFormatSeparatorAndLoneSurrogateCharactersAreEscaped() {
        assertEquals("a\\u000ab\\u001b[31mc\\u202ed\\u2028e\\ud800f", Printable.name("a\nb\u001b[31mc\u202ed\u2028e\ud800f"));
        assertEquals("plain text, ünïcödé and 😀 stay", Printable.name("plain text, ünïcödé and 😀 stay"));
        assertEquals("line\\u000d\\u000abreak", Printable.line("line\r\nbreak"));
    }

    @Test
    void namesAndLinesAreCut() {
        String name = Printable.name("x".repeat(5000));
        assertEquals(Printable.NAME + 3, name.length());
        assertTrue(name.endsWith("..."));
        String line = Printable.line("y".repeat(1 << 21));
        assertTrue(line.length() < Printable.LINE + 40, line.length() + " characters");
        assertTrue(line.endsWith("(" + ((1 << 21) - Printable.LINE) + " more characters)"), line.substring(line.length() - 40));
        assertEquals("short", Printable.line("short"));
    }
}

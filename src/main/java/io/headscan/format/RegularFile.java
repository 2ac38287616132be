package io.headscan.format;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * Only regular files are read. Opening a FIFO blocks until something writes to it (an `inspect` or a whole sweep would
 * hang), and a device or a folder is no checkpoint. Java cannot open without blocking, so this is asked before the
 * open; a file swapped for a FIFO between the two is not caught (the user would have to do that to themselves).
 */
public final class RegularFile {

    private RegularFile() {}

    /** Null when {@code p} (links followed) is a regular file or does not exist; otherwise what it is, for a message. */
    public static String problem(Path p) {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(p, BasicFileAttributes.class);
        } catch (IOException e) {
            return null;   // missing or unreadable: the open that follows names that
        }
        if (a.isRegularFile()) return null;
        String what = a.isDirectory() ? "a folder" : a.isOther() ? "a FIFO, socket or device" : "not a regular file";
        return "is " + what + ", not a regular file: not read";
    }
}

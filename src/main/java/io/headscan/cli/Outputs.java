package io.headscan.cli;

import io.headscan.AtomicFiles;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Locale;

/** Output files are checked before any work starts, so that minutes of computing never end in "cannot write". */
final class Outputs {

    private Outputs() {}

    /**
     * Checks an output named by {@code flag}: its name ends in one of {@code extensions} (a usage error otherwise), its
     * folder exists and this process can create files there (an I/O error naming the user's path otherwise). Null passes.
     */
    static void check(Path file, String flag, String... extensions) throws IOException {
        if (file == null) return;
        if (extensions.length > 0) {
            String name = file.getFileName() == null ? "" : file.getFileName().toString().toLowerCase(Locale.ROOT);
            boolean ok = false;
            for (String e : extensions) ok |= name.endsWith(e);
            if (!ok) {
                throw new UsageException(flag + " " + file + ": the file name must end in " + String.join(" or ", extensions));
            }
        }
        AtomicFiles.checkWritable(file, flag);
    }
}

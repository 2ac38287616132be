package io.headscan.testing;

import java.net.URISyntaxException;
import java.nio.file.Path;

/** Committed test fixtures (src/test/resources), as files on disk. */
public final class Fixtures {

    private Fixtures() {}

    /** A file or folder under src/test/resources/pytorch, written by make_fixtures.py with real PyTorch. */
    public static Path pytorch(String name) {
        var url = Fixtures.class.getResource("/pytorch/" + name);
        if (url == null) throw new IllegalStateException("missing fixture pytorch/" + name);
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}

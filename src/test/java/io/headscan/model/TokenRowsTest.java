package io.headscan.model;

import static org.junit.jupiter.api.Assertions.*;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/** A few tokens' rows of a half-precision table are widened alone, and equal the rows of the whole widened table. */
class TokenRowsTest {

    static final Path FAMILIES = Path.of("src/test/resources/families");

    @Test
    void fewRowsOfAHalfPrecisionTableAreACopyOfJustThoseRows() {
        for (String form : new String[] {"pythia/bf16", "gptj/bf16", "pythia/bin"}) {
            int[] tokens = {95, 0, 41};
            for (Model.Role role : new Model.Role[] {Model.Role.EMBED, Model.Role.UNEMBED}) {
                try (Model m = Model.open(FAMILIES.resolve(form)); Arena arena = Arena.ofShared()) {
                    Model.TokenRows r = m.tokenRows(role, tokens, arena);
                    boolean half = m.file().info(m.name(role, 0)).dtype() != io.headscan.format.DType.F32;
                    assertEquals(half ? 3 : m.dims().vocab(), r.matrix().rows(), form + " " + role + ": only the rows asked for");
                    Matrix whole = role == Model.Role.EMBED ? m.embedding() : m.unembedding();
                    for (int a = 0; a < tokens.length; a++) {
                        for (int j = 0; j < m.dims().dModel(); j++) {
                            assertEquals(whole.get(tokens[a], j), r.matrix().get(r.index()[a], j), form + " " + role + " row " + tokens[a]);
                        }
                    }
                    // once the whole table is widened, it is used in place
                    Model.TokenRows after = m.tokenRows(role, tokens, arena);
                    assertEquals(m.dims().vocab(), after.matrix().rows());
                    assertArrayEquals(tokens, after.index());
                }
            }
        }
    }
}

package io.headscan.hub;

import static org.junit.jupiter.api.Assertions.*;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a sweep removes from the Hugging Face cache once a checkpoint is done, with blobs shared between revisions. */
class DownloadLedgerTest {

    @TempDir
    Path cache;

    /** A snapshot {@code commit} linking {@code file} to blob {@code etag} (written if absent), as the downloader leaves it. */
    private HubDownloader.Download linked(String commit, String file, String etag, boolean blobFetched) throws Exception {
        Path repo = cache.resolve("models--EleutherAI--pythia-tiny");
        Path blob = Files.createDirectories(repo.resolve("blobs")).resolve(etag);
        if (!Files.exists(blob)) Files.writeString(blob, "bytes of " + etag);
        Path pointer = Files.createDirectories(repo.resolve("snapshots").resolve(commit)).resolve(file);
        Files.createSymbolicLink(pointer, pointer.getParent().relativize(blob));
        return new HubDownloader.Download(pointer, commit, etag, Files.size(blob), false, blobFetched);
    }

    /**
     * Every Pythia step branch has the same config.json: the checkpoint fetched ahead links to the blob the current one
     * fetched, before the ledger holds it. Releasing the current one keeps that blob; releasing the next one removes it.
     */
    @Test
    void aBlobThatTheNextCheckpointLinksToBeforeItIsHeldStays() throws Exception {
        DownloadLedger ledger = new DownloadLedger();
        List<HubDownloader.Download> step0 = List.of(linked("c0", "pytorch_model.bin", "w0", true), linked("c0", "config.json", "cfg", true));
        ledger.hold(step0);
        // step1 is being fetched ahead: its config.json already links to the shared blob, its weights are not done yet
        HubDownloader.Download step1Config = linked("c1", "config.json", "cfg", false);
        Path blobs = cache.resolve("models--EleutherAI--pythia-tiny").resolve("blobs");

        ledger.release(step0, false);
        assertFalse(Files.exists(blobs.resolve("w0")), "step0's own weights are removed");
        assertTrue(Files.exists(blobs.resolve("cfg")), "the shared config blob stays: step1 links to it");
        assertEquals("bytes of cfg", Files.readString(step1Config.file()), "step1's link still reads");

        List<HubDownloader.Download> step1 = List.of(linked("c1", "pytorch_model.bin", "w1", true), step1Config);
        ledger.hold(step1);
        ledger.release(step1, false);
        assertFalse(Files.exists(blobs.resolve("cfg")), "the last user of the shared blob removes it");
        assertFalse(Files.exists(blobs.resolve("w1")));
        try (var s = Files.list(blobs)) {
            assertEquals(List.of(), s.toList());
        }
    }

    /** Two executors (two ledgers, or two processes) share the blob: the one released last removes it. */
    @Test
    void aSharedBlobIsRemovedByItsLastUserWhateverItsLedger() throws Exception {
        DownloadLedger first = new DownloadLedger(), second = new DownloadLedger();
        List<HubDownloader.Download> a = List.of(linked("c0", "config.json", "cfg", true));
        List<HubDownloader.Download> b = List.of(linked("c1", "config.json", "cfg", false));
        first.hold(a);
        second.hold(b);
        Path blob = cache.resolve("models--EleutherAI--pythia-tiny").resolve("blobs").resolve("cfg");
        first.release(a, false);
        assertTrue(Files.exists(blob), "c1 still links to it");
        assertTrue(Files.exists(DownloadLedger.sweepOwned(blob)), "left to its last user");
        second.release(b, false);
        assertFalse(Files.exists(blob), "the last user removes it");
        assertFalse(Files.exists(DownloadLedger.sweepOwned(blob)));
    }

    @Test
    void aBlobInTheCacheBeforeTheSweepIsNeverRemoved() throws Exception {
        DownloadLedger ledger = new DownloadLedger();
        List<HubDownloader.Download> d = List.of(linked("c0", "config.json", "cfg", false));
        ledger.hold(d);
        ledger.release(d, false);
        assertTrue(Files.exists(cache.resolve("models--EleutherAI--pythia-tiny").resolve("blobs").resolve("cfg")));
    }
}

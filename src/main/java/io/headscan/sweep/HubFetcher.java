package io.headscan.sweep;

import io.headscan.hub.DownloadLedger;
import io.headscan.hub.ModelResolver;

/**
 * Fetches a sweep's checkpoints through a {@link ModelResolver}: a path as it is; a Hub id found in or downloaded into
 * the Hugging Face cache (pinned to its commit when it has one), timed, its downloads held in a {@link DownloadLedger}
 * and removed once the checkpoint is done unless {@code keepDownloads}.
 */
public final class HubFetcher implements Sweep.Fetcher {

    private final ModelResolver resolver;
    private final DownloadLedger ledger = new DownloadLedger();
    private final boolean keepDownloads;

    public HubFetcher(ModelResolver resolver, boolean keepDownloads) {
        this.resolver = resolver;
        this.keepDownloads = keepDownloads;
    }

    @Override
    public Sweep.Fetched fetch(Checkpoint c) {
        long t0 = System.nanoTime();
        ModelResolver.Resolved r = resolver.resolve(c.spec(), c.revision(), c.commit());
        double secs = (System.nanoTime() - t0) / 1e9;
        if (r.repo().isEmpty()) return Sweep.Fetched.local(r.path());
        ledger.hold(r.downloads());
        DownloadLedger.removeStale(r.path().getParent().getParent());
        return new Sweep.Fetched(r.path(), r.repo().get().canonical(), r.commit(), r.bytesFetched(), r.bytesFetched() > 0 ? secs : 0,
                () -> ledger.release(r.downloads(), keepDownloads));
    }
}

package io.headscan.circuits;

import java.util.Arrays;

/**
 * Summary of 0-based strict ranks (docs/science.md §4/§5): rank 0 means the token's own entry wins.
 * The median is the lower median, {@code sorted[(n − 1) / 2]} (torch.median's convention, docs/science.md §4): for an
 * odd count the ordinary median; for an even one (every vocabulary but GPT-2's is even) the lower of the two middle
 * values, never their mean.
 */
public record RankStatistics(long count, double fracRank0, double fracRankLt10, double medianRank, double meanRank) {

    public static RankStatistics of(int[] ranks) {
        int n = ranks.length;
        if (n == 0) return new RankStatistics(0, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
        long zero = 0, lt10 = 0;
        double sum = 0;
        for (int r : ranks) {
            if (r == 0) zero++;
            if (r < 10) lt10++;
            sum += r;
        }
        int[] sorted = ranks.clone();
        Arrays.sort(sorted);
        double median = sorted[(n - 1) / 2];
        return new RankStatistics(n, (double) zero / n, (double) lt10 / n, median, sum / n);
    }
}

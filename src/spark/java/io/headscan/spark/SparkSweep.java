package io.headscan.spark;

/**
 * The entry point for {@code spark-submit --class io.headscan.spark.SparkSweep headscan.jar MODEL… --score … --out DIR}:
 * the same options as {@code headscan sweep}, the master and every other setting from spark-submit's configuration.
 */
public final class SparkSweep {

    private SparkSweep() {}

    public static void main(String[] args) {
        String[] all = new String[args.length + 3];
        all[0] = "sweep";
        System.arraycopy(args, 0, all, 1, args.length);
        all[args.length + 1] = "--spark";
        all[args.length + 2] = io.headscan.sweep.DistributedSweep.FROM_CONFIGURATION;
        System.exit(io.headscan.cli.Main.run(all));
    }
}

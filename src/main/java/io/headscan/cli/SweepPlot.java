package io.headscan.cli;

import io.headscan.report.Figures;
import io.headscan.sweep.Checkpoint;
import io.headscan.sweep.Sweep;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** The figure of a sweep, read back from its database: a series of steps as curves, anything else as heatmaps. */
final class SweepPlot {

    private SweepPlot() {}

    /** One checkpoint's scores for a definition: its step, and [layers][heads] of the metric. */
    private record Scores(Checkpoint checkpoint, Long step, double[][] values) {}

    /** Draws the figure; false when no checkpoint of this sweep has scores for the definition. */
    static boolean draw(Connection db, List<Checkpoint> checkpoints, String definition, int top, Path out) throws Exception {
        List<Scores> series = new ArrayList<>();
        boolean seriesLike = true;
        for (Checkpoint c : checkpoints) {
            Scores s = read(db, c, definition, "score");
            if (s == null) continue;
            series.add(s);
            seriesLike &= s.step() != null && s.values().length == series.getFirst().values().length
                    && s.values()[0].length == series.getFirst().values()[0].length;
        }
        if (series.isEmpty()) return false;
        if (seriesLike && series.size() >= 2) {
            series.sort(Comparator.comparingLong(Scores::step));
            int layers = series.getFirst().values().length, heads = series.getFirst().values()[0].length;
            Map<String, Double> best = new LinkedHashMap<>();
            for (int l = 0; l < layers; l++) {
                for (int h = 0; h < heads; h++) {
                    double m = Double.NEGATIVE_INFINITY;
                    for (Scores s : series) if (Double.isFinite(s.values()[l][h])) m = Math.max(m, s.values()[l][h]);
                    best.put(l + "." + h, m);
                }
            }
            List<Figures.Line> lines = new ArrayList<>();
            double[] x = series.stream().mapToDouble(s -> s.step()).toArray();
            for (String head : best.entrySet().stream().sorted(Map.Entry.<String, Double>comparingByValue().reversed()).limit(top).map(Map.Entry::getKey).toList()) {
                int l = Integer.parseInt(head.substring(0, head.indexOf('.'))), h = Integer.parseInt(head.substring(head.indexOf('.') + 1));
                lines.add(new Figures.Line("head " + head, x, series.stream().mapToDouble(s -> s.values()[l][h]).toArray()));
            }
            boolean log = x[0] > 0 && x[x.length - 1] / x[0] >= 10;
            Figures.lines(out, "Prediction-Attention score across the run (" + definition + ")", "step", "score", log, lines);
        } else {
            List<String> titles = new ArrayList<>();
            List<double[][]> values = new ArrayList<>();
            for (Checkpoint c : checkpoints) {
                Scores s = read(db, c, definition, "centered");
                if (s == null) continue;
                String name = Path.of(c.spec()).getFileName() == null ? c.spec() : Path.of(c.spec()).getFileName().toString();
                titles.add(name.length() > 18 ? name.substring(0, 17) + "…" : name);
                values.add(s.values());
            }
            Figures.heatmaps(out, "Prediction-Attention score − mean over heads (" + definition + ")", titles, values, "score − mean");
        }
        return true;
    }

    /** The latest computation of this checkpoint for the definition, or null. */
    private static Scores read(Connection db, Checkpoint c, String definition, String metric) throws Exception {
        long modelId;
        Long step;
        int layers, heads;
        try (PreparedStatement p = db.prepareStatement("SELECT m.model_id, m.step, m.layers, m.heads FROM models m JOIN done d USING (model_id) "
                + "WHERE m.spec = ? AND coalesce(m.revision, '') = ? AND d.definition = ? AND m.current ORDER BY m.model_id DESC LIMIT 1")) {
            p.setString(1, c.spec());
            p.setString(2, Sweep.isLocal(c) ? "" : c.revision());
            p.setString(3, definition);
            try (ResultSet rs = p.executeQuery()) {
                if (!rs.next()) return null;
                modelId = rs.getLong(1);
                long st = rs.getLong(2);
                step = rs.wasNull() ? null : st;
                layers = rs.getInt(3);
                heads = rs.getInt(4);
            }
        }
        double[][] v = new double[layers][heads];
        for (double[] row : v) java.util.Arrays.fill(row, Double.NaN);
        try (PreparedStatement p = db.prepareStatement("SELECT layer, head, value FROM results WHERE model_id = ? AND definition = ? AND metric = ?")) {
            p.setLong(1, modelId);
            p.setString(2, definition);
            p.setString(3, metric);
            try (ResultSet rs = p.executeQuery()) {
                while (rs.next()) {
                    double x = rs.getDouble(3);
                    v[rs.getInt(1)][rs.getInt(2)] = rs.wasNull() ? Double.NaN : x;
                }
            }
        }
        return new Scores(c, step, v);
    }
}

package dev.turnout.orchestrator.bench;

import org.knowm.xchart.AnnotationLine;
import org.knowm.xchart.AnnotationText;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/** The PNG of a rollout's progress: devices ACTIVE and failed over time, with the start of each wave marked. */
final class ProgressChart {

    private ProgressChart() {
    }

    static void write(Path png, RolloutBenchmark.RolloutRun run, int devices, String broker) throws IOException {
        System.setProperty("java.awt.headless", "true");
        XYChart chart = new XYChartBuilder().width(900).height(500)
                .title(String.format(Locale.ROOT, "Rollout 1%%, 10%%, 100%% to %,d simulated devices (%s): %s in %.1f s",
                        devices, broker, run.state(), run.seconds()))
                .xAxisTitle("seconds since deploy").yAxisTitle("devices").build();
        chart.getStyler().setLegendPosition(org.knowm.xchart.style.Styler.LegendPosition.InsideNW);
        chart.getStyler().setMarkerSize(0);
        chart.getStyler().setYAxisMin(0.0);
        chart.getStyler().setYAxisMax((double) devices);
        chart.getStyler().setXAxisMin(0.0);
        chart.getStyler().setYAxisDecimalPattern("#,##0");
        List<Double> t = new ArrayList<>(List.of(0.0));
        List<Double> active = new ArrayList<>(List.of(0.0));
        List<Double> failed = new ArrayList<>(List.of(0.0));
        for (double[] p : run.progress()) {
            t.add(p[0]);
            active.add(p[1]);
            failed.add(p[2]);
        }
        t.add(run.seconds());
        active.add(active.get(active.size() - 1));
        failed.add(failed.get(failed.size() - 1));
        // XChart labels only data values when an axis's distinct values, in the order added, are equally spaced, as the
        // counts 0, 1, 2, ... are: a label every 52 devices at 2,000, on top of each other. A point nobody sees at the
        // axis's top, added first, breaks the spacing so that it picks round steps (200 at 2,000; 1,000 at 10,000).
        XYSeries top = chart.addSeries(" ", new double[] {0}, new double[] {devices});
        top.setMarker(SeriesMarkers.NONE);
        top.setLineStyle(org.knowm.xchart.style.lines.SeriesLines.NONE);
        top.setShowInLegend(false);
        XYSeries a = chart.addSeries("ACTIVE", t, active);
        a.setMarker(SeriesMarkers.NONE);
        a.setLineColor(new java.awt.Color(0, 55, 255));
        XYSeries f = chart.addSeries("failed", t, failed);
        f.setMarker(SeriesMarkers.NONE);
        f.setLineColor(new java.awt.Color(255, 172, 0));
        for (double[] w : run.waveStarts()) {
            chart.addAnnotation(new AnnotationLine(w[0], true, false));
            chart.addAnnotation(new AnnotationText("wave " + (int) w[1], w[0], devices * (0.97 - 0.06 * (w[1] - 1)), false));
        }
        Files.createDirectories(png.toAbsolutePath().getParent());
        BitmapEncoder.saveBitmap(chart, png.toString().replaceAll("\\.png$", ""), BitmapEncoder.BitmapFormat.PNG);
    }
}

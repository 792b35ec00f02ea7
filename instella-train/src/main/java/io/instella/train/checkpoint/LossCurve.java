package io.instella.train.checkpoint;

import javax.imageio.ImageIO;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.geom.Path2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * {@code loss_curve.png}: training loss (left axis, blue) and learning rate (right axis, orange) over the
 * optimizer steps of a log history, eval loss as green dots where logged. Drawn headless with java.awt; entries
 * without a finite value are left out; no points draws the empty axes.
 */
public final class LossCurve {
    static final int WIDTH = 720, HEIGHT = 400;
    private static final int LEFT = 70, RIGHT = 80, TOP = 30, BOTTOM = 50;
    private static final Color LOSS = new Color(31, 119, 180), LR = new Color(255, 127, 14), EVAL = new Color(44, 160, 44);

    static {
        if (System.getProperty("java.awt.headless") == null) System.setProperty("java.awt.headless", "true");
    }

    private LossCurve() {}

    /** Writes the picture (atomically). */
    public static void write(List<Map<String, Object>> logHistory, Path png) throws IOException {
        BufferedImage img = render(logHistory);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        if (!ImageIO.write(img, "png", out)) throw new IOException("no PNG writer available");
        CheckpointFiles.writeAtomically(png, out.toByteArray());
    }

    /** As {@link #write}, but a failure (no fonts, no disk space) prints one line instead of stopping the run. */
    public static boolean writeQuietly(List<Map<String, Object>> logHistory, Path png) {
        try {
            write(logHistory, png);
            return true;
        } catch (IOException | RuntimeException | InternalError | LinkageError e) {
            System.err.println("warning: could not draw " + png + " (" + e.getMessage() + "); training goes on");
            return false;
        }
    }

    private record Point(double step, double value) {}

    static BufferedImage render(List<Map<String, Object>> logHistory) {
        List<Point> loss = series(logHistory, "loss"), lr = series(logHistory, "learning_rate"), eval = series(logHistory, "eval_loss");
        BufferedImage img = new BufferedImage(WIDTH, HEIGHT, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, WIDTH, HEIGHT);
            int pw = WIDTH - LEFT - RIGHT, ph = HEIGHT - TOP - BOTTOM;
            double[] xs = range(loss, lr, eval, true);
            List<Point> lossLike = new ArrayList<>(loss);
            lossLike.addAll(eval);
            double[] ly = padded(range(lossLike, List.of(), List.of(), false));
            double[] ry = padded(range(lr, List.of(), List.of(), false));
            if (ry[0] < 0 && range(lr, List.of(), List.of(), false)[0] >= 0) ry[0] = 0;

            g.setColor(new Color(225, 225, 225));
            for (int i = 0; i <= 4; i++) {
                int y = TOP + ph * i / 4;
                g.drawLine(LEFT, y, LEFT + pw, y);
            }
            g.setColor(Color.DARK_GRAY);
            g.drawRect(LEFT, TOP, pw, ph);

            drawSeries(g, lr, xs, ry, LR, false);
            drawSeries(g, loss, xs, ly, LOSS, false);
            drawSeries(g, eval, xs, ly, EVAL, true);
            labels(g, xs, ly, ry, loss.isEmpty() && lr.isEmpty() && eval.isEmpty(), !eval.isEmpty());
        } finally {
            g.dispose();
        }
        return img;
    }

    private static void drawSeries(Graphics2D g, List<Point> pts, double[] xs, double[] ys, Color c, boolean dotsOnly) {
        if (pts.isEmpty()) return;
        g.setColor(c);
        g.setStroke(new BasicStroke(1.6f));
        Path2D.Double path = new Path2D.Double();
        for (int i = 0; i < pts.size(); i++) {
            double x = px(pts.get(i).step, xs), y = py(pts.get(i).value, ys);
            if (i == 0) path.moveTo(x, y);
            else path.lineTo(x, y);
            if (dotsOnly || pts.size() == 1) g.fillOval((int) Math.round(x) - 3, (int) Math.round(y) - 3, 6, 6);
        }
        if (!dotsOnly && pts.size() > 1) g.draw(path);
    }

    /** Axis labels and ticks; text needs fonts, which a bare headless system may lack: then the plot stays unlabelled. */
    private static void labels(Graphics2D g, double[] xs, double[] ly, double[] ry, boolean empty, boolean hasEval) {
        try {
            int pw = WIDTH - LEFT - RIGHT, ph = HEIGHT - TOP - BOTTOM;
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            for (int i = 0; i <= 4; i++) {
                int y = TOP + ph * i / 4;
                double lv = ly[1] - (ly[1] - ly[0]) * i / 4, rv = ry[1] - (ry[1] - ry[0]) * i / 4;
                g.setColor(LOSS);
                g.drawString(format(lv), 6, y + 4);
                g.setColor(LR);
                g.drawString(format(rv), LEFT + pw + 6, y + 4);
                g.setColor(Color.DARK_GRAY);
                double sv = xs[0] + (xs[1] - xs[0]) * i / 4;
                g.drawString(String.format(Locale.ROOT, xs[1] - xs[0] >= 8 ? "%.0f" : "%.1f", sv), LEFT + pw * i / 4 - 8, TOP + ph + 16);
            }
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 12));
            g.setColor(Color.DARK_GRAY);
            g.drawString("step", LEFT + pw / 2 - 12, HEIGHT - 12);
            g.setColor(LOSS);
            g.drawString("loss", LEFT, TOP - 10);
            g.setColor(LR);
            g.drawString("learning rate", LEFT + pw - 70, TOP - 10);
            if (hasEval) {
                g.setColor(EVAL);
                g.drawString("eval loss", LEFT + pw / 2 - 25, TOP - 10);
            }
            if (empty) {
                g.setColor(Color.GRAY);
                g.drawString("no steps logged yet", LEFT + pw / 2 - 55, TOP + ph / 2);
            }
        } catch (RuntimeException | InternalError | LinkageError e) {
            // no usable font (a bare headless system fails here, as InternalError on some): keep the curves
        }
    }

    private static String format(double v) {
        double a = Math.abs(v);
        if (a != 0 && (a < 1e-2 || a >= 1e5)) return String.format(Locale.ROOT, "%.2e", v);
        return String.format(Locale.ROOT, "%.3f", v);
    }

    private static double px(double step, double[] xs) {
        return LEFT + (step - xs[0]) / (xs[1] - xs[0]) * (WIDTH - LEFT - RIGHT);
    }

    private static double py(double v, double[] ys) {
        return TOP + (ys[1] - v) / (ys[1] - ys[0]) * (HEIGHT - TOP - BOTTOM);
    }

    private static List<Point> series(List<Map<String, Object>> history, String key) {
        List<Point> out = new ArrayList<>();
        if (history == null) return out;
        for (Map<String, Object> e : history) {
            if (e == null) continue;
            double step = number(e.get("step")), v = number(e.get(key));
            if (Double.isFinite(step) && Double.isFinite(v)) out.add(new Point(step, v));
        }
        return out;
    }

    private static double number(Object o) {
        return o instanceof Number n ? n.doubleValue() : Double.NaN;
    }

    private static double[] range(List<Point> a, List<Point> b, List<Point> c, boolean steps) {
        double lo = Double.POSITIVE_INFINITY, hi = Double.NEGATIVE_INFINITY;
        for (List<Point> l : List.of(a, b, c)) {
            for (Point p : l) {
                double v = steps ? p.step : p.value;
                lo = Math.min(lo, v);
                hi = Math.max(hi, v);
            }
        }
        if (lo == Double.POSITIVE_INFINITY) return new double[]{0, 1};
        if (hi - lo <= Math.abs(hi) * 1e-12 || hi == lo) {
            double d = hi == 0 ? 1 : Math.abs(hi) * 0.5;
            return new double[]{lo - (steps ? 1 : d), hi + (steps ? 1 : d)};
        }
        return new double[]{lo, hi};
    }

    private static double[] padded(double[] r) {
        double d = (r[1] - r[0]) * 0.05;
        return new double[]{r[0] - d, r[1] + d};
    }
}

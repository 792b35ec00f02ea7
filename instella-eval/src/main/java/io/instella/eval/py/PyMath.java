package io.instella.eval.py;

import java.math.BigDecimal;
import java.math.BigInteger;
import java.util.List;

/** Python numeric aggregation semantics: builtin {@code sum}, {@code statistics.mean}, lmms-eval's stderr. */
public final class PyMath {
    private PyMath() {}

    /** {@code sum(values) / len(values)} with Python's left-to-right float addition. */
    public static double mean(double[] values) {
        double s = 0.0;
        for (double v : values) s += v;
        return s / values.length;
    }

    /** lmms-eval {@code mean_stderr}: sample standard deviation over sqrt(n). */
    public static double meanStderr(double[] values) {
        double mu = mean(values);
        double ss = 0.0;
        for (double v : values) {
            double d = v - mu;
            ss += d * d;
        }
        return Math.sqrt(ss / (values.length - 1)) / Math.sqrt(values.length);
    }

    /** {@code statistics.mean} of floats: the exact rational mean, correctly rounded to a double. */
    public static double exactMean(List<Double> values) {
        if (values.isEmpty()) throw new ArithmeticException("mean requires at least one data point");
        BigDecimal sum = BigDecimal.ZERO;
        for (double v : values) sum = sum.add(new BigDecimal(v));
        // sum = unscaled * 10^-scale, so mean = unscaled / (n * 10^scale).
        BigInteger num = sum.unscaledValue();
        BigInteger den = BigInteger.valueOf(values.size());
        if (sum.scale() >= 0) den = den.multiply(BigInteger.TEN.pow(sum.scale()));
        else num = num.multiply(BigInteger.TEN.pow(-sum.scale()));
        return divideCorrectlyRounded(num, den);
    }

    /** num / den rounded to the nearest double, ties to even (as Python's int / int). */
    public static double divideCorrectlyRounded(BigInteger num, BigInteger den) {
        if (den.signum() == 0) throw new ArithmeticException("division by zero");
        if (num.signum() == 0) return 0.0;
        boolean negative = num.signum() != den.signum();
        num = num.abs();
        den = den.abs();
        // Shift so that the quotient has at least 55 bits; keep a sticky bit for the remainder.
        int shift = 55 + den.bitLength() - num.bitLength();
        BigInteger scaledNum = shift >= 0 ? num.shiftLeft(shift) : num;
        BigInteger scaledDen = shift >= 0 ? den : den.shiftLeft(-shift);
        BigInteger[] qr = scaledNum.divideAndRemainder(scaledDen);
        BigInteger q = qr[0];
        if (qr[1].signum() != 0) q = q.setBit(0);
        int extra = q.bitLength() - 53;
        BigInteger mant = q.shiftRight(extra);
        BigInteger rem = q.subtract(mant.shiftLeft(extra));
        BigInteger half = BigInteger.ONE.shiftLeft(extra - 1);
        int cmp = rem.compareTo(half);
        if (cmp > 0 || (cmp == 0 && mant.testBit(0))) mant = mant.add(BigInteger.ONE);
        double d = Math.scalb(mant.doubleValue(), extra - shift);
        return negative ? -d : d;
    }
}

package io.instella.cli;

import picocli.CommandLine.ITypeConverter;
import picocli.CommandLine.TypeConversionException;

import java.util.Locale;

/**
 * The one place where option values are checked. Every command that takes an option uses the same converter, so a
 * bad value gets the same words from every command (picocli adds "Invalid value for option '--x': "), and exit code
 * 2. A value that parses but is out of range is reported exactly like one that does not parse.
 */
final class OptionValues {
    private OptionValues() {}

    /** Largest --threads: far above any machine's cores, low enough that starting the pool cannot exhaust the OS. */
    static final int MAX_THREADS = 1024;
    /** Largest --ctx: 2^20 positions, already hundreds of GB of key/value cache for Instella-VL-1B. */
    static final int MAX_CONTEXT = 1 << 20;

    static int wholeNumber(String text, long min, long max) {
        String expected = "a whole number from " + min + " to " + max;
        long v;
        try {
            v = Long.parseLong(text.strip());
        } catch (NumberFormatException e) {
            throw new TypeConversionException("expected " + expected + ", got '" + text + "'");
        }
        if (v < min || v > max) throw new TypeConversionException("expected " + expected + ", got '" + text + "'");
        return (int) v;
    }

    /** A finite decimal number; {@code ok} says whether it is in range, {@code expected} words the range. */
    static double number(String text, java.util.function.DoublePredicate ok, String expected) {
        double v;
        try {
            v = Double.parseDouble(text.strip());
        } catch (NumberFormatException e) {
            throw new TypeConversionException("expected " + expected + ", got '" + text + "'");
        }
        // NaN and infinities parse, but mean nothing here.
        if (!Double.isFinite(v) || !ok.test(v)) throw new TypeConversionException("expected " + expected + ", got '" + text + "'");
        return v;
    }

    /** A count of at least 1 (bench's --prefill, --decode, --runs; serve's --parallel floor is its own). */
    static final class Positive implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return wholeNumber(value, 1, Integer.MAX_VALUE);
        }
    }

    /** A count of 0 or more (--max-new-tokens, where 0 reads the prompt only; --top-k, where 0 is off). */
    static final class NonNegative implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return wholeNumber(value, 0, Integer.MAX_VALUE);
        }
    }

    static final class Threads implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return wholeNumber(value, 1, MAX_THREADS);
        }
    }

    /** --ctx: at least 2 positions (one prompt token and one answer token). */
    static final class ContextLength implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return wholeNumber(value, 2, MAX_CONTEXT);
        }
    }

    static final class Seed implements ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            try {
                return Long.parseLong(value.strip());
            } catch (NumberFormatException e) {
                throw new TypeConversionException("expected a whole number from " + Long.MIN_VALUE + " to " + Long.MAX_VALUE
                        + ", got '" + value + "'");
            }
        }
    }

    static final class Temperature implements ITypeConverter<Double> {
        @Override
        public Double convert(String value) {
            return number(value, v -> v >= 0, "a number, 0 (greedy) or more");
        }
    }

    static final class TopP implements ITypeConverter<Double> {
        @Override
        public Double convert(String value) {
            return number(value, v -> v > 0 && v <= 1, "a number above 0 and at most 1 (1 = off)");
        }
    }

    static final class MinP implements ITypeConverter<Double> {
        @Override
        public Double convert(String value) {
            return number(value, v -> v >= 0 && v <= 1, "a number from 0 (off) to 1");
        }
    }

    static final class RepetitionPenalty implements ITypeConverter<Double> {
        @Override
        public Double convert(String value) {
            return number(value, v -> v > 0, "a number above 0 (1 = off)");
        }
    }

    static final class StopText implements ITypeConverter<String> {
        @Override
        public String convert(String value) {
            if (value.isEmpty()) throw new TypeConversionException("expected a non-empty text, got ''");
            return value;
        }
    }

    /** --quant (and quantize's --type): the canonical name, q8_0 or q4_0. */
    static final class Quantization implements ITypeConverter<String> {
        @Override
        public String convert(String value) {
            return switch (value.strip().toLowerCase(Locale.ROOT)) {
                case "q8_0", "q8" -> "q8_0";
                case "q4_0", "q4" -> "q4_0";
                default -> throw new TypeConversionException("expected q8_0 or q4_0, got '" + value + "'");
            };
        }
    }

    static final class KvCacheType implements ITypeConverter<String> {
        @Override
        public String convert(String value) {
            return switch (value.strip().toLowerCase(Locale.ROOT)) {
                case "f16" -> "f16";
                case "f32" -> "f32";
                default -> throw new TypeConversionException("expected f16 or f32, got '" + value + "'");
            };
        }
    }

    /** generate's --logprobs: alternatives per token, as OpenAI's top_logprobs. */
    static final class Logprobs implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return wholeNumber(value, 0, 20);
        }
    }

    /** A TCP port, 0 = any free one. */
    static final class Port implements ITypeConverter<Integer> {
        @Override
        public Integer convert(String value) {
            return wholeNumber(value, 0, 65535);
        }
    }

    /** A size or duration of at least 1 (MiB, seconds, pixels). */
    static final class PositiveLong implements ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            return wholeLong(value, 1);
        }
    }

    /** A size or duration of 0 or more. */
    static final class NonNegativeLong implements ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            return wholeLong(value, 0);
        }
    }

    /** A size in MiB, 0 or more, small enough that its byte count fits a long. */
    static final class Mebibytes implements ITypeConverter<Long> {
        @Override
        public Long convert(String value) {
            long v = wholeLong(value, 0);
            if (v > Long.MAX_VALUE >> 20) {
                throw new TypeConversionException("expected a whole number from 0 to " + (Long.MAX_VALUE >> 20) + ", got '" + value + "'");
            }
            return v;
        }
    }

    static long wholeLong(String text, long min) {
        long v;
        try {
            v = Long.parseLong(text.strip());
        } catch (NumberFormatException e) {
            v = Long.MIN_VALUE;
        }
        if (v < min) throw new TypeConversionException("expected a whole number, " + min + " or more, got '" + text + "'");
        return v;
    }
}

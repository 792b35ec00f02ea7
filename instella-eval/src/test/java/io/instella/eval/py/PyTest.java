package io.instella.eval.py;

import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Python semantics, checked against values printed by CPython 3.11. */
class PyTest {
    @Test
    void mersenneTwisterMatchesCpython() {
        PyRandom r = new PyRandom(2680);
        assertThat(List.of(r.genrandUint32(), r.genrandUint32(), r.genrandUint32()))
                .containsExactly(2245480085L, 3563084208L, 3588856645L);
        r = new PyRandom(2680);
        List<Integer> draws = new ArrayList<>();
        for (int i = 0; i < 10; i++) draws.add(r.randint(0, 4));
        assertThat(draws).containsExactly(4, 3, 2, 4, 4, 3, 3, 2, 4, 2);
        r = new PyRandom(0);
        assertThat(List.of(r.random(), r.random(), r.random())).containsExactly(0.8444218515250481, 0.7579544029403025, 0.420571580830845);
        r = new PyRandom(0);
        List<String> choices = new ArrayList<>();
        for (int i = 0; i < 8; i++) choices.add(r.choice(List.of("A", "B", "C", "D")));
        assertThat(choices).containsExactly("D", "D", "A", "C", "D", "D", "C", "D");
        PyRandom big = new PyRandom(0);
        big.seed(new java.math.BigInteger("12345678901234567890"));
        assertThat(big.random()).isEqualTo(0.5120180983871961);
        assertThat(new PyRandom(-5).random()).isEqualTo(0.6229016948897019);
        r = new PyRandom(0);
        for (int i = 0; i < 700; i++) r.random(); // crosses the 624-word state refill
        assertThat(r.random()).isEqualTo(0.6380736282281027);
    }

    @Test
    void floatParsingFollowsPython() {
        assertThat(PyStr.parseFloat("1_000")).isEqualTo(1000.0);
        assertThat(PyStr.parseFloat(" 12 ")).isEqualTo(12.0);
        assertThat(PyStr.parseFloat("\u0663")).isEqualTo(3.0);
        assertThat(PyStr.parseFloat("\u0661\u0662.\u0665")).isEqualTo(12.5);
        assertThat(PyStr.parseFloat("1e5")).isEqualTo(100000.0);
        assertThat(PyStr.parseFloat(".5")).isEqualTo(0.5);
        assertThat(PyStr.parseFloat("5.")).isEqualTo(5.0);
        assertThat(PyStr.parseFloat("-inf")).isEqualTo(Double.NEGATIVE_INFINITY);
        assertThat(PyStr.parseFloat("Infinity")).isEqualTo(Double.POSITIVE_INFINITY);
        assertThat(PyStr.parseFloat("nAn")).isNaN();
        assertThat(PyStr.parseFloat("\u00a012\u2003")).isEqualTo(12.0);
        for (String bad : new String[] {"1__0", "_1", "1_", "1,000", "1\u001c", "abc", "", "+", "1e", "0x10", "1 0"}) {
            assertThat(PyStr.parseFloat(bad)).as(bad).isNull();
        }
    }

    @Test
    void roundIsHalfEvenOnTheBinaryValue() {
        assertThat(PyStr.round(2.675, 2)).isEqualTo(2.67);
        assertThat(PyStr.round(0.125, 2)).isEqualTo(0.12);
        assertThat(PyStr.round(0.135, 2)).isEqualTo(0.14);
        assertThat(1.0 / PyStr.round(-0.001, 2)).isNegative();
        assertThat(PyStr.round(1e20, 2)).isEqualTo(1e20);
        assertThat(PyStr.round(1.005, 2)).isEqualTo(1.0);
    }

    @Test
    void floatReprMatchesPython() {
        double[] values = {1e16, 1e15, 0.0001, 0.00001, 1.5e-7, 123456789012345678.0, 0.1 + 0.2, 1.0 / 3, 5e-324,
                Double.MAX_VALUE, 100.0, 53.333333333333336, -0.0, 0.0};
        String[] expected = {"1e+16", "1000000000000000.0", "0.0001", "1e-05", "1.5e-07", "1.2345678901234568e+17",
                "0.30000000000000004", "0.3333333333333333", "5e-324", "1.7976931348623157e+308", "100.0",
                "53.333333333333336", "-0.0", "0.0"};
        for (int i = 0; i < values.length; i++) assertThat(PyJson.floatRepr(values[i])).isEqualTo(expected[i]);
    }

    @Test
    void strAndReprOfValues() throws Exception {
        ObjectMapper m = new ObjectMapper();
        assertThat(PyJson.str(m.readTree("[\"ITC Limited\", \"O'Neil\"]"))).isEqualTo("['ITC Limited', \"O'Neil\"]");
        assertThat(PyJson.reprString("a'b")).isEqualTo("\"a'b\"");
        assertThat(PyJson.reprString("it's \"x\"")).isEqualTo("'it\\'s \"x\"'");
        assertThat(PyJson.reprString("\u0000\t\n\u00a0\u2028é😀\u200b")).isEqualTo("'\\x00\\t\\n\\xa0\\u2028é😀\\u200b'");
        assertThat(PyJson.str(m.readTree("3"))).isEqualTo("3");
        assertThat(PyJson.str(m.readTree("null"))).isEqualTo("None");
        assertThat(PyJson.dumps(m.readTree("{\"a\": [1, 2.5, \"x\\ny\"], \"b\": {}, \"c\": \"é\"}")))
                .isEqualTo("{\"a\": [1, 2.5, \"x\\ny\"], \"b\": {}, \"c\": \"é\"}");
        assertThat(PyJson.dumpsIndented(m.readTree("{\"a\": [1], \"b\": {\"c\": null}}")))
                .isEqualTo("{\n  \"a\": [\n    1\n  ],\n  \"b\": {\n    \"c\": null\n  }\n}");
    }

    @Test
    void stringMethodsUsePythonsWhitespaceAndCaseTables() {
        assertThat(PyStr.strip("\u00a0\u2007 x \u202f\u0085\u001c")).isEqualTo("x");
        assertThat(PyStr.split(" a\u3000b\u001fc  ")).containsExactly("a", "b", "c");
        assertThat(PyStr.capitalize("ǆx")).isEqualTo("ǅx");
        assertThat(PyStr.capitalize("ßa")).isEqualTo("Ssa");
        assertThat(PyStr.capitalize("ΑΣ ΑΣ")).isEqualTo("Ας ας");
        assertThat(PyStr.capitalize("ﬁx")).isEqualTo("Fix");
        assertThat(PyStr.capitalize("hELLO wORLD")).isEqualTo("Hello world");
        assertThat(PyStr.capitalize("İstanbul")).isEqualTo("İstanbul");
        assertThat(PyStr.len(PyStr.lower("İ"))).isEqualTo(2);
        assertThat(PyStr.upper("straße")).isEqualTo("STRASSE");
        assertThat(PyStr.strip("..a..", ".")).isEqualTo("a");
    }

    @Test
    void regexClassesAreTranslatedToPythons() {
        Pattern notWordOrSpace = PyRegex.compile("[^\\w\\s]");
        assertThat(PyRegex.sub(notWordOrSpace, "", "½ e\u0301 a_b-c\u001c!", 0)).isEqualTo("½ e a_bc\u001c");
        Pattern boundary = PyRegex.compile("\\b([A-Z])\\.\\s+([^\\n]*)");
        assertThat(PyRegex.findAllGroup1(boundary, "Q\nA. one\nxB. two\n_C. three\n½D. four\n(E. five")).containsExactly("A", "E");
        assertThat(PyRegex.compile("\\d+").matcher("\u0661\u0662").matches()).isTrue();
        assertThat(PyRegex.compile("a.b").matcher("a\u2028b").matches()).isTrue();
        assertThat(PyRegex.compile("a.b").matcher("a\nb").matches()).isFalse();
    }

    @Test
    void literalEvalOfStringLists() {
        assertThat(PyLiteral.parseStringList("['cat', \"dog's\", 'a\\nb', '\\x41\\u00e9', r'\\d', 'x' 'y', ]"))
                .containsExactly("cat", "dog's", "a\nb", "Aé", "\\d", "xy");
        assertThat(PyLiteral.parseStringList("[]")).isEmpty();
        assertThatThrownBy(() -> PyLiteral.parseStringList("['a', 1]")).hasMessageContaining("expected a string literal");
        assertThatThrownBy(() -> PyLiteral.parseStringList("['a'")).hasMessageContaining("expected ',' or ']'");
    }

    @Test
    void exactRationalMeanIsCorrectlyRounded() {
        assertThat(PyMath.exactMean(List.of(0.3333333333333333, 0.6666666666666666, 1.0))).isEqualTo(0.6666666666666666);
        assertThat(PyMath.exactMean(List.of(0.1, 0.2))).isEqualTo(0.15000000000000002);
        assertThat(PyMath.divideCorrectlyRounded(java.math.BigInteger.ONE, java.math.BigInteger.valueOf(3))).isEqualTo(1.0 / 3);
    }
}

package io.instella.eval.metrics;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.instella.eval.py.PyRandom;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

/** The metric functions on the test vectors of shared/spec/eval.md §4 (upstream behaviour, quirks included). */
class MetricsTest {
    @Test
    void exactMatchIgnoresCaseAndAsciiPunctuationOnly() {
        assertThat(ExactMatch.score("Yes", "yes", true, true)).isEqualTo(1.0);
        assertThat(ExactMatch.score("yes.", "yes", true, true)).isEqualTo(1.0);
        assertThat(ExactMatch.score("tshirt", "t-shirt", true, true)).isEqualTo(1.0);
        assertThat(ExactMatch.score("t-shirt", "t shirt", true, true)).isEqualTo(0.0);
        assertThat(ExactMatch.score("The table", "table", true, true)).isEqualTo(0.0);
        assertThat(ExactMatch.score("yes\u3002", "yes", true, true)).isEqualTo(0.0);
        // NumPy keeps the array width: "İ".lower() is cut back to one code point.
        assertThat(ExactMatch.score("İ", "i", true, true)).isEqualTo(1.0);
        assertThat(ExactMatch.score("Yes", "yes", false, false)).isEqualTo(0.0);
    }

    @Test
    void anlsUsesRawLengthsAndThreshold() {
        assertThat(Anls.score(List.of("ITC Limited"), "itc limited")).isEqualTo(1.0);
        assertThat(Anls.score(List.of("0.28"), "0.28%")).isCloseTo(0.8, within(1e-12));
        assertThat(Anls.score(List.of("Brown & Williamson"), "Brown and Williamson")).isCloseTo(0.85, within(1e-12));
        assertThat(Anls.score(List.of("abc", "xyz"), "xy")).isCloseTo(2.0 / 3, within(1e-12));
        assertThat(Anls.score(List.of("hello"), "help")).isCloseTo(0.6, within(1e-12));
        assertThat(Anls.score(List.of("  New   York "), "new york")).isEqualTo(1.0);
        assertThat(Anls.score(List.of("straße"), "strasse")).isCloseTo(1 - 2.0 / 7, within(1e-12));
        assertThat(Anls.score(List.of("abc"), "xyz")).isNull(); // below 0.5: upstream's int 0
        assertThatThrownBy(() -> Anls.score(List.of(), "x")).isInstanceOf(IllegalArgumentException.class);
        assertThat(Levenshtein.distance("kitten", "sitting")).isEqualTo(3);
        assertThat(Levenshtein.distance("😀a", "a")).isEqualTo(1);
    }

    @Test
    void relaxedCorrectnessVectors() {
        assertThat(RelaxedCorrectness.isCorrect("52", "50", 0.05)).isTrue();
        assertThat(RelaxedCorrectness.isCorrect("53", "50", 0.05)).isFalse();
        assertThat(RelaxedCorrectness.isCorrect("5%", "0.05", 0.05)).isTrue();
        assertThat(RelaxedCorrectness.isCorrect("0.12", "12%", 0.05)).isTrue();
        assertThat(RelaxedCorrectness.isCorrect("12", "12%", 0.05)).isFalse();
        assertThat(RelaxedCorrectness.isCorrect("0", "0", 0.05)).isTrue();
        assertThat(RelaxedCorrectness.isCorrect("0.0", "0", 0.05)).isFalse(); // gold 0 is falsy: string path
        assertThat(RelaxedCorrectness.isCorrect("1_000", "1000", 0.05)).isTrue();
        assertThat(RelaxedCorrectness.isCorrect("1,000", "1000", 0.05)).isFalse();
        assertThat(RelaxedCorrectness.isCorrect("inf", "5", 0.05)).isFalse();
        assertThat(RelaxedCorrectness.isCorrect("105", "100", 0.05)).isTrue(); // exactly 5 %
        assertThat(RelaxedCorrectness.isCorrect("Yes", "yes", 0.05)).isTrue();
    }

    @Test
    void evalAiNormalisationVectors() {
        String[][] v = {{"Yes.", "yes"}, {"The Dog's ball", "dog 's ball"}, {"two dogs", "2 dogs"}, {"dont", "don't"},
                {"a man, sitting", "man sitting"}, {"coca-cola", "coca cola"}, {"1,000", "1000"}, {"Mr. Smith", "mr smith"},
                {"e.g. stop", "eg stop"}, {"3.14.", "3.14"}, {"a/b", "b"}, {"C++", "c"}, {"one-two", "1 2"}, {"none", "0"},
                {"Im fine", "im fine"}, {"hello:world", "hello:world"}, {".".repeat(40), ".".repeat(8)}};
        for (String[] t : v) assertThat(EvalAiAnswerProcessor.process(t[0])).as(t[0]).isEqualTo(t[1]);
    }

    @Test
    void vqaAccuracyCountsOtherAnswers() {
        List<String> gts = List.of("a", "a", "b", "b", "b", "b", "b", "b", "b", "b");
        assertThat(VqaAccuracy.score(gts, "a")).isCloseTo(0.6, within(1e-12));
        assertThat(VqaAccuracy.score(List.of("a", "a", "a", "b", "b", "b", "b", "b", "b", "b"), "a")).isCloseTo(0.9, within(1e-12));
        assertThat(VqaAccuracy.score(List.of("a", "a", "a", "a", "b", "b", "b", "b", "b", "b"), "a")).isNull();
        assertThat(VqaAccuracy.score(List.of("a", "a", "a", "a", "b"), "c")).isEqualTo(0.0); // every term min(1, 0/3) = 0.0
        assertThat(VqaAccuracy.score(List.of("a", "a", "a", "a", "a"), "a")).isNull(); // all terms int 1: Python int
        assertThat(VqaAccuracy.score(gts, "c")).isEqualTo(0.0);
    }

    @Test
    void mmbenchCanInferTable() {
        Map<String, String> choices = Map.of("A", "teddy bear", "B", "rabbit", "C", "cat", "D", "dog");
        String[][] v = {{"A", "A"}, {"B.", "B"}, {"(C)", "C"}, {"The answer is D", "D"}, {"Answer: B", "B"},
                {"A cute cat", "A"}, {"dog", "D"}, {"a cat and a dog", null}, {"C, because", "C"}, {"E", "E"},
                {"B) rabbit", "B"}, {"Failed to obtain answer via API", null}};
        for (String[] t : v) {
            assertThat(MmbenchEvaluator.canInfer(t[0], new java.util.LinkedHashMap<>(new java.util.TreeMap<>(choices))))
                    .as(t[0]).isEqualTo(t[1]);
        }
    }

    @Test
    void mmbenchCircularEvalDrawsFromSeed2680() throws Exception {
        ObjectMapper m = new ObjectMapper();
        String row = "{\"index\": %d, \"answer\": \"%s\", \"prediction\": \"%s\", \"category\": \"c\", \"L2-category\": \"l\","
                + " \"A\": \"x\", \"B\": \"y\", \"C\": \"z\", \"D\": \"w\", \"E\": \"nan\"}";
        var records = List.of(
                m.readTree(String.format(row, 1, "A", "A")), m.readTree(String.format(row, 1000001, "B", "B")),
                m.readTree(String.format(row, 2, "E", "???")), // unresolvable: first draw of seed 2680 is 4 -> "E"
                m.readTree(String.format(row, 3, "A", "B")));
        MmbenchEvaluator.Result r = MmbenchEvaluator.evalResult(records);
        assertThat(r.hits()).containsEntry(1L, 1).containsEntry(2L, 1).containsEntry(3L, 0);
        assertThat(r.extractorCalls()).containsExactly(new MmbenchEvaluator.ExtractorCall(2, "E", MmbenchEvaluator.RANDOM_MESSAGE));
        assertThat(r.overallAcc()).isEqualTo(2.0 / 3);
    }

    @Test
    void mmmuMultipleChoiceParse() {
        Map<String, String> idx = MmmuParsing.indexToAnswer(List.of("cat", "dog", "bird", "fish"));
        String[][] v = {{"A", "A"}, {"(B)", "B"}, {"C.", "C"}, {"The answer is D", "D"}, {"A or B, (C)", "C"},
                {"A B", "B"}, {"I think it is a dog because it barks loudly", "B"}};
        for (String[] t : v) {
            MmmuParsing.ChoiceParse p = MmmuParsing.parseMultiChoice(t[0], idx, new PyRandom(0));
            assertThat(p.letter()).as(t[0]).isEqualTo(t[1]);
            assertThat(p.randomFallback()).isFalse();
        }
        MmmuParsing.ChoiceParse fallback = MmmuParsing.parseMultiChoice("", idx, new PyRandom(0));
        assertThat(fallback.randomFallback()).isTrue();
        assertThat(fallback.letter()).isEqualTo("D"); // random.seed(0); random.choice("ABCD")
    }

    @Test
    void mmmuOpenParse() {
        assertThat(MmmuParsing.parseOpen("The answer is 1,000 m")).containsExactlyInAnyOrder(1000.0, 0.0, "1,000 m");
        assertThat(MmmuParsing.evalOpen("1000", MmmuParsing.parseOpen("The answer is 1,000 m"))).isTrue();
        assertThat(MmmuParsing.parseOpen("x = 5")).containsExactly(5.0);
        assertThat(MmmuParsing.parseOpen("2.675")).containsExactly(2.67);
        assertThat(MmmuParsing.evalOpen("2.68", MmmuParsing.parseOpen("2.675"))).isFalse();
        assertThat(MmmuParsing.parseOpen("B")).containsExactly(" b", "b ");
        assertThat(MmmuParsing.evalOpen("b", MmmuParsing.parseOpen("B"))).isTrue();
        assertThat(MmmuParsing.extractNumbers("-1.5e3 and 1,234,567 and .5")).containsExactly("1,234,567", "-1.5e3", "-1", "3", "567", ".5");
    }

    @Test
    void optionFilters() {
        String q = "Which direction is the car facing?\nA. Left\nB. Right\nC. Toward the camera\nPlease answer directly.";
        String[][] v = {{"A", "A"}, {"B.", "B"}, {"Right", "B"}, {"The car is facing right", "The car is facing right"},
                {"C. Toward the camera", "C"}, {"(B)", "B"}};
        for (String[] t : v) assertThat(OptionFilters.realWorldQaChoiceText(t[0], q)).as(t[0]).isEqualTo(t[1]);
        assertThat(OptionFilters.realWorldQaChoiceText(OptionFilters.numberWordsToDigits("three"), "How many?")).isEqualTo("3");
        assertThat(OptionFilters.realWorldQaChoiceText("3 cars.", "How many?")).isEqualTo("3 cars");
        assertThat(OptionFilters.leadingLetter("A")).isEqualTo("A");
        assertThat(OptionFilters.leadingLetter("B.")).isEqualTo("B");
        assertThat(OptionFilters.leadingLetter("C. leaf")).isEqualTo("C");
        assertThat(OptionFilters.leadingLetter(" D.")).isEqualTo("D");
        assertThat(OptionFilters.leadingLetter("The answer is A.")).isEqualTo("The answer is A.");
    }
}

package io.instella.eval.metrics;

import io.instella.eval.py.PyRegex;
import io.instella.eval.py.PyStr;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The {@code flexible-extract} filters of AI2D and RealWorldQA (each task's own {@code MultiChoiceRegexFilter.apply};
 * the YAML's regex_pattern, group_select, ignore_case and ignore_punctuation are stored but unused upstream).
 */
public final class OptionFilters {
    private OptionFilters() {}

    private static final Pattern LEADING_LETTER = PyRegex.compile("^\\s*([A-Z])\\.");
    private static final Pattern CHOICE_LINE = PyRegex.compile("\\b([A-Z])\\.\\s+([^\\n]*)");
    private static final Pattern NOT_WORD_OR_SPACE = PyRegex.compile("[^\\w\\s]");
    private static final Map<String, String> NUMBER_WORDS = Map.ofEntries(
            Map.entry("zero", "0"), Map.entry("one", "1"), Map.entry("two", "2"), Map.entry("three", "3"),
            Map.entry("four", "4"), Map.entry("five", "5"), Map.entry("six", "6"), Map.entry("seven", "7"),
            Map.entry("eight", "8"), Map.entry("nine", "9"), Map.entry("ten", "10"));

    /** AI2D: {@code re.match(r"^\s*([A-Z])\.", resp)} gives the letter, otherwise the response unchanged. */
    public static String leadingLetter(String response) {
        Matcher m = LEADING_LETTER.matcher(response);
        return m.lookingAt() ? m.group(1) : response;
    }

    /** RealWorldQA step 1 ({@code NumberWordsToDigitsFilter}): a response that is exactly a number word. */
    public static String numberWordsToDigits(String response) {
        return NUMBER_WORDS.getOrDefault(PyStr.lower(response), response);
    }

    /**
     * RealWorldQA step 2: options "X. text" are read from the question and re-lettered A, B, ... in match order;
     * the response without punctuation ({@code [^\w\s]}) and stripped is searched (case-sensitively) for the
     * leftmost option text, whose letter is returned; otherwise the cleaned response.
     */
    public static String realWorldQaChoiceText(String response, String question) {
        List<String> alternatives = new ArrayList<>();
        Map<String, String> choiceToAlpha = new HashMap<>();
        char nextAlpha = 'A';
        Matcher m = CHOICE_LINE.matcher(question);
        while (m.find()) {
            String choiceText = PyStr.strip(m.group(2));
            alternatives.add(PyRegex.literal(choiceText));
            choiceToAlpha.put(choiceText, String.valueOf(nextAlpha));
            nextAlpha++;
        }
        Pattern fallback = Pattern.compile(String.join("|", alternatives), Pattern.UNIX_LINES);
        String cleaned = PyStr.strip(PyRegex.sub(NOT_WORD_OR_SPACE, "", response, 0));
        Matcher f = fallback.matcher(cleaned);
        if (f.find()) {
            String letter = choiceToAlpha.get(f.group());
            if (letter != null) return letter;
        }
        return cleaned;
    }
}

package io.instella.eval.metrics;

import io.instella.eval.py.PyRegex;
import io.instella.eval.py.PyStr;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * The EvalAI VQA answer normalisation ({@code tasks/_task_utils/vqa_eval_metric.py EvalAIAnswerProcessor}),
 * quirks included: punctuation conditions test the original text, the period regex's look-behind is a typo'd
 * look-ahead so every "." not followed by a digit goes, and {@code sub(..., re.UNICODE)} passes 32 as the count.
 */
public final class EvalAiAnswerProcessor {
    private EvalAiAnswerProcessor() {}

    private static final String[] PUNCTUATIONS = {
        ";", "/", "[", "]", "\"", "{", "}", "(", ")", "=", "+", "\\", "_", "-", ">", "<", "@", "`", ",", "?", "!"
    };
    private static final Pattern PERIOD_STRIP = PyRegex.compile("(?!<=\\d)(\\.)(?!\\d)");
    private static final Pattern COMMA_STRIP = PyRegex.compile("(?<=\\d)(\\,)+(?=\\d)");
    /** {@code re.UNICODE} == 32, passed positionally as {@code count}. */
    private static final int PERIOD_STRIP_COUNT = 32;
    private static final List<String> ARTICLES = List.of("a", "an", "the");

    private static final Map<String, String> NUMBER_MAP = Map.ofEntries(
            Map.entry("none", "0"), Map.entry("zero", "0"), Map.entry("one", "1"), Map.entry("two", "2"),
            Map.entry("three", "3"), Map.entry("four", "4"), Map.entry("five", "5"), Map.entry("six", "6"),
            Map.entry("seven", "7"), Map.entry("eight", "8"), Map.entry("nine", "9"), Map.entry("ten", "10"));

    private static final Map<String, String> CONTRACTIONS = buildContractions();

    /** Normalises one answer string. */
    public static String process(String item) {
        item = wordTokenize(item);
        item = PyStr.strip(item.replace("\n", " ").replace("\t", " "));
        item = processPunctuation(item);
        item = processDigitArticle(item);
        return item;
    }

    static String wordTokenize(String word) {
        word = PyStr.lower(word);
        word = word.replace(",", "").replace("?", "").replace("'s", " 's");
        return PyStr.strip(word);
    }

    static String processPunctuation(String inText) {
        String out = inText;
        boolean commaStrip = COMMA_STRIP.matcher(inText).find();
        for (String p : PUNCTUATIONS) {
            if (inText.contains(p + " ") || inText.contains(" " + p) || commaStrip) {
                out = out.replace(p, "");
            } else {
                out = out.replace(p, " ");
            }
        }
        return PyRegex.sub(PERIOD_STRIP, "", out, PERIOD_STRIP_COUNT);
    }

    static String processDigitArticle(String inText) {
        List<String> out = new ArrayList<>();
        for (String word : PyStr.split(PyStr.lower(inText))) {
            word = NUMBER_MAP.getOrDefault(word, word);
            if (!ARTICLES.contains(word)) out.add(word);
        }
        for (int i = 0; i < out.size(); i++) {
            String c = CONTRACTIONS.get(out.get(i));
            if (c != null) out.set(i, c);
        }
        return String.join(" ", out);
    }

    private static Map<String, String> buildContractions() {
        String table = "aint=ain't arent=aren't cant=can't couldve=could've couldnt=couldn't couldn'tve=couldn't've "
                + "couldnt've=couldn't've didnt=didn't doesnt=doesn't dont=don't hadnt=hadn't hadnt've=hadn't've "
                + "hadn'tve=hadn't've hasnt=hasn't havent=haven't hed=he'd hed've=he'd've he'dve=he'd've hes=he's "
                + "howd=how'd howll=how'll hows=how's Id've=I'd've I'dve=I'd've Im=I'm Ive=I've isnt=isn't itd=it'd "
                + "itd've=it'd've it'dve=it'd've itll=it'll let's=let's maam=ma'am mightnt=mightn't "
                + "mightnt've=mightn't've mightn'tve=mightn't've mightve=might've mustnt=mustn't mustve=must've "
                + "neednt=needn't notve=not've oclock=o'clock oughtnt=oughtn't ow's'at='ow's'at 'ows'at='ow's'at "
                + "'ow'sat='ow's'at shant=shan't shed've=she'd've she'dve=she'd've she's=she's shouldve=should've "
                + "shouldnt=shouldn't shouldnt've=shouldn't've shouldn'tve=shouldn't've somebody'd=somebodyd "
                + "somebodyd've=somebody'd've somebody'dve=somebody'd've somebodyll=somebody'll somebodys=somebody's "
                + "someoned=someone'd someoned've=someone'd've someone'dve=someone'd've someonell=someone'll "
                + "someones=someone's somethingd=something'd somethingd've=something'd've "
                + "something'dve=something'd've somethingll=something'll thats=that's thered=there'd "
                + "thered've=there'd've there'dve=there'd've therere=there're theres=there's theyd=they'd "
                + "theyd've=they'd've they'dve=they'd've theyll=they'll theyre=they're theyve=they've twas='twas "
                + "wasnt=wasn't wed've=we'd've we'dve=we'd've weve=we've werent=weren't whatll=what'll "
                + "whatre=what're whats=what's whatve=what've whens=when's whered=where'd wheres=where's "
                + "whereve=where've whod=who'd whod've=who'd've who'dve=who'd've wholl=who'll whos=who's "
                + "whove=who've whyll=why'll whyre=why're whys=why's wont=won't wouldve=would've wouldnt=wouldn't "
                + "wouldnt've=wouldn't've wouldn'tve=wouldn't've yall=y'all yall'll=y'all'll y'allll=y'all'll "
                + "yall'd've=y'all'd've y'alld've=y'all'd've y'all'dve=y'all'd've youd=you'd youd've=you'd've "
                + "you'dve=you'd've youll=you'll youre=you're youve=you've";
        Map<String, String> m = new HashMap<>();
        for (String entry : table.split(" ")) {
            int eq = entry.indexOf('=');
            m.put(entry.substring(0, eq), entry.substring(eq + 1));
        }
        if (m.size() != 120) throw new IllegalStateException("contractions table must have 120 entries, has " + m.size());
        return Map.copyOf(m);
    }
}

package io.instella.core.util;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class UserMessagesTest {

    @Test
    void shortMessagesAreKeptAsTheyAre() {
        String m = "model.safetensors [tensor 'a']: shape has an invalid dimension \"x\" (dimensions are non-negative integers)";
        assertThat(UserMessages.abbreviate(m)).isEqualTo(m);
        assertThat(UserMessages.abbreviate(null)).isNull();
    }

    @Test
    void anOverLongQuotedValueKeepsItsStartAndSaysItsLength() {
        String value = "x".repeat(100_000);
        String m = UserMessages.abbreviate("f.safetensors [tensor 'a']: shape has an invalid dimension \"" + value
                + "\" (dimensions are non-negative integers)");
        assertThat(m).startsWith("f.safetensors [tensor 'a']: shape has an invalid dimension \"" + "x".repeat(79))
                .contains("… (100002 characters)").endsWith("(dimensions are non-negative integers)");
        assertThat(m.length()).isLessThan(300);
    }

    @Test
    void manyLongWordsAreCappedAsAWhole() {
        String m = UserMessages.abbreviate(("y".repeat(150) + " ").repeat(1000));
        assertThat(m.length()).isLessThan(2100);
        assertThat(m).endsWith("… (message cut, 151000 characters)");
    }
}

package io.instella.model.generate;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class StopStringFilterTest {
    @Test
    void holdsBackAPossibleStopPrefixAndCutsAtTheStop() {
        StopStringFilter f = new StopStringFilter(List.of("END"));
        StringBuilder shown = new StringBuilder();
        shown.append(f.accept("Hello E").delta());
        assertThat(shown.toString()).isEqualTo("Hello ");
        StopStringFilter.Step s = f.accept("Hello EN");
        assertThat(s.delta()).isEmpty();
        s = f.accept("Hello ENDx");
        assertThat(s.stopped()).isTrue();
        assertThat(f.finish("Hello ENDx")).isEqualTo("Hello ");
    }

    @Test
    void falseAlarmIsReleased() {
        StopStringFilter f = new StopStringFilter(List.of("END"));
        StringBuilder shown = new StringBuilder(f.accept("an E").delta());
        shown.append(f.accept("an Egg").delta());
        assertThat(shown.toString()).isEqualTo("an Egg");
    }

    @Test
    void incompleteUtf8IsHeldUntilComplete() {
        StopStringFilter f = new StopStringFilter(List.of());
        assertThat(f.accept("a\uFFFD").delta()).isEqualTo("a");
        assertThat(f.accept("aé").delta()).isEqualTo("é");
        f.finish("aé!");
        assertThat(f.pendingTail()).isEqualTo("!");
    }
}

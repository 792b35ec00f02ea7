package io.instella.api;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Objects;

/**
 * The turns of a chat, in order: optional system text, then user and assistant turns alternating, starting with
 * a user turn. Images attach to user turns. A conversation is a plain mutable list; it does not talk to a model.
 * Give it to {@link InstellaModel#generate} when it ends with a user turn, then add the answer with
 * {@link #assistant}.
 *
 * <pre>{@code
 * Conversation chat = Conversation.create()
 *         .user("What is in this picture?", Image.fromPath(Path.of("photo.jpg")));
 * Response r = model.generate(chat);
 * chat.assistant(r.text()).user("What colour is it?");
 * }</pre>
 *
 * <p>Instella's chat template has no system slot; system text is put before the first user turn's text
 * (followed by a blank line).
 */
public final class Conversation {

    /** Who speaks in a turn. */
    public enum Role {
        /** Instructions, before the first user turn. */
        SYSTEM,
        /** A question or request, with any images. */
        USER,
        /** An answer. */
        ASSISTANT
    }

    /**
     * One turn; {@code images} is empty except for user turns.
     *
     * @param role   who speaks
     * @param text   what is said
     * @param images the images of a user turn, in order (empty otherwise)
     */
    public record Turn(Role role, String text, List<Image> images) {
        /**
         * Checks the turn.
         *
         * @throws IllegalArgumentException when a turn other than a user turn has images
         */
        public Turn {
            Objects.requireNonNull(role, "role");
            Objects.requireNonNull(text, "text");
            images = List.copyOf(images);
            if (role != Role.USER && !images.isEmpty()) throw new IllegalArgumentException("only user turns take images");
        }
    }

    private final List<Turn> turns = new ArrayList<>();

    private Conversation() {}

    /**
     * An empty conversation.
     *
     * @return a new conversation with no turns
     */
    public static Conversation create() {
        return new Conversation();
    }

    /**
     * System text (instructions); only before the first user turn.
     *
     * @param text the instructions
     * @return this conversation
     * @throws IllegalStateException when a user or assistant turn has been added already
     */
    public Conversation system(String text) {
        Objects.requireNonNull(text, "text");
        if (turns.stream().anyMatch(t -> t.role() != Role.SYSTEM)) {
            throw new IllegalStateException("system text must come before the first user turn");
        }
        turns.add(new Turn(Role.SYSTEM, text, List.of()));
        return this;
    }

    /**
     * A user turn with any number of images (shown to the model before the text).
     *
     * @param text   the question or request
     * @param images the images the turn is about
     * @return this conversation
     * @throws IllegalStateException when the previous user turn has no answer yet
     */
    public Conversation user(String text, Image... images) {
        return user(text, Arrays.asList(images));
    }

    /**
     * A user turn with a list of images (shown to the model before the text).
     *
     * @param text   the question or request
     * @param images the images the turn is about
     * @return this conversation
     * @throws IllegalStateException when the previous user turn has no answer yet
     */
    public Conversation user(String text, List<Image> images) {
        Objects.requireNonNull(text, "text");
        for (Image i : images) Objects.requireNonNull(i, "image");
        Role last = lastRole();
        if (last == Role.USER) {
            throw new IllegalStateException("the previous user turn has no answer yet: add assistant(...) before the next user turn");
        }
        turns.add(new Turn(Role.USER, text, images));
        return this;
    }

    /**
     * The model's (or a scripted) answer to the last user turn.
     *
     * @param text the answer
     * @return this conversation
     * @throws IllegalStateException when the last turn is not a user turn
     */
    public Conversation assistant(String text) {
        Objects.requireNonNull(text, "text");
        if (lastRole() != Role.USER) {
            throw new IllegalStateException("an assistant turn must follow a user turn");
        }
        turns.add(new Turn(Role.ASSISTANT, text, List.of()));
        return this;
    }

    /**
     * Removes and returns the last turn (e.g. a question whose answer was cancelled).
     *
     * @return the removed turn; null when the conversation is empty
     */
    public Turn removeLast() {
        return turns.isEmpty() ? null : turns.removeLast();
    }

    /**
     * Removes every turn.
     *
     * @return this conversation, now empty
     */
    public Conversation clear() {
        turns.clear();
        return this;
    }

    /**
     * The turns, in order.
     *
     * @return a snapshot of the turns (later changes to the conversation do not show in it)
     */
    public List<Turn> turns() {
        return Collections.unmodifiableList(new ArrayList<>(turns));
    }

    /**
     * Every image of the conversation, in prompt order.
     *
     * @return the images of all user turns
     */
    public List<Image> images() {
        List<Image> all = new ArrayList<>();
        for (Turn t : turns) all.addAll(t.images());
        return all;
    }

    /**
     * Whether the conversation has no turns.
     *
     * @return true when empty
     */
    public boolean isEmpty() {
        return turns.isEmpty();
    }

    /**
     * An independent copy (the images are shared; they are immutable).
     *
     * @return a new conversation with the same turns
     */
    public Conversation copy() {
        Conversation c = new Conversation();
        c.turns.addAll(turns);
        return c;
    }

    private Role lastRole() {
        return turns.isEmpty() ? null : turns.getLast().role();
    }
}

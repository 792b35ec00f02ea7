package io.instella.langchain4j;

import dev.langchain4j.model.chat.request.ChatRequestParameters;
import dev.langchain4j.model.chat.request.DefaultChatRequestParameters;

import java.util.Objects;

/**
 * LangChain4j's common request parameters plus the sampling {@link #seed()}, which LangChain4j has no common
 * field for. Use it as a {@code ChatRequest}'s parameters to set a seed per request:
 *
 * <pre>{@code
 * ChatRequest request = ChatRequest.builder()
 *         .messages(UserMessage.from("Tell me a story."))
 *         .parameters(InstellaChatRequestParameters.builder().temperature(0.8).seed(42L).build())
 *         .build();
 * }</pre>
 */
public final class InstellaChatRequestParameters extends DefaultChatRequestParameters {

    private final Long seed;

    private InstellaChatRequestParameters(Builder builder) {
        super(builder);
        this.seed = builder.seed;
    }

    /**
     * The sampling seed.
     *
     * @return the seed; null: random
     */
    public Long seed() {
        return seed;
    }

    /**
     * Parameters with {@code that}'s values where it sets them and this object's elsewhere (the seed included).
     *
     * @param that the parameters that win
     * @return the merged parameters
     */
    @Override
    public ChatRequestParameters overrideWith(ChatRequestParameters that) {
        if (that == null) return this;
        Builder b = builder().overrideWith(this).overrideWith(that);
        return b.build();
    }

    /**
     * Parameters with this object's values where it sets them and {@code that}'s elsewhere.
     *
     * @param that the parameters that fill the gaps
     * @return the merged parameters
     */
    @Override
    public ChatRequestParameters defaultedBy(ChatRequestParameters that) {
        if (that == null) return this;
        return builder().overrideWith(that).overrideWith(this).build();
    }

    @Override
    public boolean equals(Object o) {
        return super.equals(o) && Objects.equals(seed, ((InstellaChatRequestParameters) o).seed);
    }

    @Override
    public int hashCode() {
        return 31 * super.hashCode() + Objects.hashCode(seed);
    }

    @Override
    public String toString() {
        return "InstellaChatRequestParameters{" + super.toString() + ", seed=" + seed + "}";
    }

    /**
     * A builder with nothing set.
     *
     * @return a new builder
     */
    public static Builder builder() {
        return new Builder();
    }

    /** Builds {@link InstellaChatRequestParameters}. */
    public static final class Builder extends DefaultChatRequestParameters.Builder<Builder> {
        private Long seed;

        /** A builder with nothing set; see {@link InstellaChatRequestParameters#builder()}. */
        public Builder() {}

        /**
         * Copies what {@code parameters} sets (its seed too when it is an {@link InstellaChatRequestParameters}).
         *
         * @param parameters the parameters to copy from
         * @return this builder
         */
        @Override
        public Builder overrideWith(ChatRequestParameters parameters) {
            super.overrideWith(parameters);
            if (parameters instanceof InstellaChatRequestParameters p && p.seed != null) seed = p.seed;
            return this;
        }

        /**
         * The sampling seed.
         *
         * @param seed the seed; null: random
         * @return this builder
         */
        public Builder seed(Long seed) {
            this.seed = seed;
            return this;
        }

        /**
         * The parameters.
         *
         * @return the parameters set so far
         */
        @Override
        public InstellaChatRequestParameters build() {
            return new InstellaChatRequestParameters(this);
        }
    }
}

/**
 * LangChain4j chat models answered by Instella-VL in this JVM: {@link io.instella.langchain4j.InstellaChatModel}
 * and {@link io.instella.langchain4j.InstellaStreamingChatModel}, built with the settings of
 * {@link io.instella.langchain4j.InstellaModelBuilder}; {@link io.instella.langchain4j.InstellaChatRequestParameters}
 * adds a per-request sampling seed.
 */
package io.instella.langchain4j;

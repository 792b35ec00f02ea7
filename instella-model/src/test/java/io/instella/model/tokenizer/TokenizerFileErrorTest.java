package io.instella.model.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.function.Consumer;
import org.assertj.core.api.AbstractThrowableAssert;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Bad tokenizer files are refused with a TokenizerException naming the file and the problem. */
class TokenizerFileErrorTest {
    @TempDir
    Path dir;

    private AbstractThrowableAssert<?, ? extends Throwable> loadingRaw(String name, String content)
            throws IOException {
        Path file = dir.resolve(name);
        Files.writeString(file, content);
        return assertThatThrownBy(() -> Tokenizer.load(file)).isInstanceOf(TokenizerException.class)
                .hasMessageContaining(file.toString());
    }

    private AbstractThrowableAssert<?, ? extends Throwable> loadingModified(String name,
            Consumer<SyntheticTokenizerJson> change) {
        SyntheticTokenizerJson json = new SyntheticTokenizerJson().token("ab").merge("a b");
        change.accept(json);
        Path file = json.write(dir.resolve(name));
        return assertThatThrownBy(() -> Tokenizer.load(file)).isInstanceOf(TokenizerException.class)
                .hasMessageContaining(file.toString());
    }

    @Test
    void theUnmodifiedSyntheticFileLoads() {
        Tokenizer t = new SyntheticTokenizerJson().token("ab").merge("a b").load(dir, "good.json");
        assertThat(t.encode("ab")).containsExactly(256);
    }

    @Test
    void missingFile() {
        Path missing = dir.resolve("nope/tokenizer.json");
        assertThatThrownBy(() -> Tokenizer.load(missing)).isInstanceOf(TokenizerException.class)
                .hasMessageContaining("not found").hasMessageContaining(missing.toString());
    }

    @Test
    void aDirectoryInsteadOfAFile() {
        assertThatThrownBy(() -> Tokenizer.load(dir)).isInstanceOf(TokenizerException.class)
                .hasMessageContaining(dir.toString());
    }

    @Test
    void notJson() throws IOException {
        loadingRaw("truncated.json", "{\"version\": \"1.0\", \"model\": {").hasMessageContaining("not valid JSON");
        loadingRaw("text.json", "this is not json").hasMessageContaining("not valid JSON");
        loadingRaw("empty.json", "").hasMessageContaining("empty");
        loadingRaw("array.json", "[1, 2]").hasMessageContaining("top level is a JSON array");
        loadingRaw("duplicate-key.json", "{\"model\": {}, \"model\": {}}").hasMessageContaining("not valid JSON")
                .hasMessageContaining("model");
    }

    @Test
    void unsupportedModelType() {
        loadingModified("wordpiece.json", j -> j.model.put("type", "WordPiece"))
                .hasMessageContaining("unsupported model type").hasMessageContaining("WordPiece")
                .hasMessageContaining("only BPE");
    }

    @Test
    void missingParts() {
        loadingModified("no-model.json", j -> j.root.remove("model")).hasMessageContaining("no \"model\"");
        loadingModified("no-vocab.json", j -> j.model.remove("vocab")).hasMessageContaining("no \"vocab\"");
        loadingModified("no-merges.json", j -> j.model.remove("merges")).hasMessageContaining("no \"merges\"");
        loadingModified("vocab-array.json", j -> j.model.putArray("vocab"))
                .hasMessageContaining("\"model.vocab\" is a JSON array");
    }

    @Test
    void mergesReferringToUnknownTokens() {
        loadingModified("unknown-left.json", j -> j.merge("zz b")).hasMessageContaining("merge #2")
                .hasMessageContaining("\"zz\", which is not in the vocab");
        loadingModified("unknown-result.json", j -> j.merge("b c"))
                .hasMessageContaining("produces \"bc\", which is not in the vocab");
        loadingModified("three-parts.json", j -> j.merge("a b c"))
                .hasMessageContaining("not two tokens separated by one space");
        loadingModified("mixed-forms.json", j -> j.merges.addArray().add("a").add("b"))
                .hasMessageContaining("merge #2");
    }

    @Test
    void duplicateAndBadIds() {
        loadingModified("duplicate-id.json", j -> j.vocab.put("zz", 3))
                .hasMessageContaining("duplicate id 3");
        loadingModified("negative-id.json", j -> j.vocab.put("zz", -1))
                .hasMessageContaining("\"zz\" has id -1");
        loadingModified("text-id.json", j -> j.vocab.put("zz", "7")).hasMessageContaining("\"zz\" has id");
    }

    @Test
    void addedTokensWithIdsHfWouldNotGive() {
        loadingModified("added-id.json", j -> {
            j.added("<x>", false, false, false, false, true);
            ((ObjectNode) j.addedTokens.get(0)).put("id", 999);
        }).hasMessageContaining("says id 999").hasMessageContaining("would give it id 257");
        loadingModified("added-no-content.json", j -> {
            j.added("<x>", false, false, false, false, true);
            ((ObjectNode) j.addedTokens.get(0)).remove("content");
        }).hasMessageContaining("added_tokens[0] has no non-empty \"content\"");
        loadingModified("added-flag.json", j -> {
            j.added("<x>", false, false, false, false, true);
            ((ObjectNode) j.addedTokens.get(0)).put("special", "yes");
        }).hasMessageContaining("special").hasMessageContaining("expected true or false");
    }

    @Test
    void unsupportedPipelineParts() {
        loadingModified("nfkc.json", j -> j.root.putObject("normalizer").put("type", "NFKC"))
                .hasMessageContaining("unsupported normalizer type \"NFKC\"");
        loadingModified("metaspace.json", j -> j.root.putObject("pre_tokenizer").put("type", "Metaspace"))
                .hasMessageContaining("unsupported pre_tokenizer type \"Metaspace\"");
        loadingModified("no-decoder.json", j -> j.root.putNull("decoder")).hasMessageContaining("no \"decoder\"");
        loadingModified("template.json", j -> j.root.putObject("post_processor").put("type", "TemplateProcessing"))
                .hasMessageContaining("unsupported post_processor type");
        loadingModified("truncation.json", j -> j.root.putObject("truncation").put("max_length", 8))
                .hasMessageContaining("\"truncation\" is set");
        loadingModified("version.json", j -> j.root.put("version", "2.0"))
                .hasMessageContaining("unknown tokenizer version");
        loadingModified("dropout.json", j -> j.model.put("dropout", 0.1)).hasMessageContaining("dropout");
        loadingModified("unk.json", j -> j.model.put("unk_token", "<unk>"))
                .hasMessageContaining("\"<unk>\" is not in the vocab");
    }

    /** Issue 14: an id of 2147483647 used to end in NegativeArraySizeException (an array of maxId + 1 entries). */
    @Test
    void idsAreBoundedByTheVocabulary() {
        loadingModified("max-int-id.json", j -> j.vocab.put("zz", Integer.MAX_VALUE))
                .hasMessageContaining("vocab entry \"zz\"").hasMessageContaining("2147483647")
                .hasMessageContaining("above the largest supported id");
        loadingModified("huge-id.json", j -> j.vocab.put("zz", new java.math.BigInteger("18446744073709551616")))
                .hasMessageContaining("vocab entry \"zz\"").hasMessageContaining("18446744073709551616");
        loadingModified("huge-negative-id.json", j -> j.vocab.put("zz", new java.math.BigInteger("-18446744073709551616")))
                .hasMessageContaining("expected a non-negative integer");
        loadingModified("float-id.json", j -> j.vocab.put("zz", 3.0)).hasMessageContaining("expected a non-negative integer");
        loadingModified("added-max-int.json", j -> j.addedTokens.addObject().put("content", "<x>").put("id", Integer.MAX_VALUE)
                .put("special", true)).hasMessageContaining("added_tokens[0]").hasMessageContaining("2147483647");
        // Bounded by the model's vocab_size when it is known: an id the embeddings cannot hold is refused at load.
        Path file = new SyntheticTokenizerJson().token("ab").merge("a b").write(dir.resolve("vocab-bound.json"));
        assertThat(Tokenizer.load(file, 257).encode("ab")).containsExactly(256);
        assertThatThrownBy(() -> Tokenizer.load(file, 256)).isInstanceOf(TokenizerException.class)
                .hasMessageContaining(file.toString()).hasMessageContaining("vocab entry \"ab\" has id 256")
                .hasMessageContaining("vocab_size 256");
    }
}

package io.instella.model.tokenizer;

/**
 * One entry of {@code added_tokens}.
 *
 * @param id the id HF assigns (the model vocabulary's id when the content is in it, else the next free one)
 * @param content the token text as written in the file
 * @param matchText the text matched in the input and returned by decode: {@code content}, normalised by the
 *     tokenizer's normaliser when {@code normalized} is set (HF's {@code normalized_cache})
 */
record AddedToken(int id, String content, String matchText, boolean singleWord, boolean lstrip, boolean rstrip,
        boolean normalized, boolean special) {}

package io.instella.model.tokenizer;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeMap;

/**
 * Splits text on a set of added tokens exactly as HF's {@code AddedVocabulary::find_matches} does:
 * non-overlapping leftmost-longest matches scanned left to right, then per match the {@code single_word} check
 * (a match touching a word character on either side is skipped), {@code lstrip} (the match takes the whitespace
 * before it, not reaching into the previous match) and {@code rstrip} (the match takes the whitespace after it).
 *
 * <p>Matching walks a character trie from each position, so it costs at most O(text length x longest token).
 */
final class AddedTokenSplitter {
    /** A split: {@code token} is null for text between added tokens. Ranges are char offsets. */
    record Split(AddedToken token, int start, int end) {}

    private static final class Node {
        char[] keys = new char[0];
        Node[] children = new Node[0];
        AddedToken token;

        Node child(char c) {
            int i = Arrays.binarySearch(keys, c);
            return i >= 0 ? children[i] : null;
        }
    }

    private final Node root;
    private final boolean empty;

    AddedTokenSplitter(List<AddedToken> tokens) {
        this.empty = tokens.isEmpty();
        this.root = build(tokens);
    }

    private static Node build(List<AddedToken> tokens) {
        // Built through sorted maps, then frozen into sorted arrays for binary search.
        final class Builder {
            final TreeMap<Character, Builder> children = new TreeMap<>();
            AddedToken token;

            /** Post-order without recursion: an added token may be a megabyte long, one trie level per character. */
            Node freeze() {
                java.util.IdentityHashMap<Builder, Node> frozen = new java.util.IdentityHashMap<>();
                java.util.ArrayDeque<Builder> stack = new java.util.ArrayDeque<>();
                stack.push(this);
                while (!stack.isEmpty()) {
                    Builder b = stack.peek();
                    boolean childrenFrozen = true;
                    for (Builder c : b.children.values()) {
                        if (!frozen.containsKey(c)) {
                            stack.push(c);
                            childrenFrozen = false;
                        }
                    }
                    if (!childrenFrozen) continue;
                    stack.pop();
                    Node node = new Node();
                    node.token = b.token;
                    node.keys = new char[b.children.size()];
                    node.children = new Node[b.children.size()];
                    int i = 0;
                    for (var e : b.children.entrySet()) {
                        node.keys[i] = e.getKey();
                        node.children[i] = frozen.get(e.getValue());
                        i++;
                    }
                    frozen.put(b, node);
                }
                return frozen.get(this);
            }
        }
        Builder top = new Builder();
        for (AddedToken token : tokens) {
            Builder node = top;
            for (int i = 0; i < token.matchText().length(); i++) {
                node = node.children.computeIfAbsent(token.matchText().charAt(i), c -> new Builder());
            }
            // Two tokens with the same text: the later entry wins, as in HF's id-keyed map of patterns.
            node.token = token;
        }
        return top.freeze();
    }

    /** Splits covering {@code text} (possibly overlapping only in HF's own rstrip corner case); none when empty. */
    List<Split> split(String text) {
        List<Split> splits = new ArrayList<>();
        int n = text.length();
        if (n == 0) {
            return splits;
        }
        if (empty) {
            splits.add(new Split(null, 0, n));
            return splits;
        }
        int startOffset = 0;
        int pos = 0;
        while (pos < n) {
            // Longest token starting at pos.
            Node node = root;
            AddedToken found = null;
            int foundEnd = -1;
            for (int k = pos; k < n; k++) {
                node = node.child(text.charAt(k));
                if (node == null) {
                    break;
                }
                if (node.token != null) {
                    found = node.token;
                    foundEnd = k + 1;
                }
            }
            if (found == null) {
                pos++;
                continue;
            }
            int matchStart = pos;
            pos = foundEnd; // the next search starts after this match, whatever the flags do below
            int start = matchStart;
            int stop = foundEnd;
            if (found.singleWord()) {
                boolean spaceBefore = start == 0 || !UnicodeClasses.isWordChar(text.codePointBefore(start));
                boolean spaceAfter = stop == n || !UnicodeClasses.isWordChar(text.codePointAt(stop));
                if (!spaceBefore || !spaceAfter) {
                    continue;
                }
            }
            if (found.lstrip()) {
                int newStart = start;
                while (newStart > 0 && UnicodeClasses.isWhiteSpace(text.charAt(newStart - 1))) {
                    newStart--;
                }
                start = Math.max(newStart, startOffset);
            }
            if (found.rstrip()) {
                while (stop < n && UnicodeClasses.isWhiteSpace(text.charAt(stop))) {
                    stop++;
                }
            }
            if (startOffset < start) {
                splits.add(new Split(null, startOffset, start));
            }
            splits.add(new Split(found, start, stop));
            startOffset = stop;
        }
        if (startOffset != n) {
            splits.add(new Split(null, startOffset, n));
        }
        return splits;
    }
}

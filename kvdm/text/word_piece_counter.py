"""BERT wordpiece tokenization in plain Python, to count a prompt's tokens."""

import unicodedata

# Code point ranges that BERT splits into single-character words.
_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_whitespace(char):
    return char in " \t\n\r\f" or unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char):
    code = ord(char)
    # Every ASCII character that is neither a letter, a digit nor a space
    # counts as punctuation, as in the original BERT.
    if 33 <= code <= 47 or 58 <= code <= 64 or 91 <= code <= 96 or (
        123 <= code <= 126
    ):
        return True
    return unicodedata.category(char).startswith("P")


def _is_cjk(char):
    code = ord(char)
    return any(low <= code <= high for low, high in _CJK_RANGES)


class WordPieceCounter:
    """Splits text into BERT wordpieces without TensorFlow or Keras.

    The same steps as keras-hub's `BertTokenizer`: optional lowercasing
    (Unicode case folding) and accent stripping, splitting on whitespace and
    control characters, punctuation and CJK characters as words of their
    own, then greedy longest-match-first wordpieces with the `##` prefix;
    a word with no match, or longer than `max_bytes_per_word` UTF-8
    bytes, is the unknown token. kvdm uses it to refuse an overlong prompt before any
    model is loaded; `TextEncoder` itself tokenizes with keras-hub.

    Args:
        vocabulary: str, path-like or list of str. The vocabulary file (one
            wordpiece per line) or its lines.
        lowercase: bool. Case-fold the text first. Defaults to True.
        strip_accents: bool or None. Remove combining accents; None follows
            `lowercase`. Defaults to None.
        unknown_token: str. Defaults to "[UNK]".
        max_bytes_per_word: int. Words longer than this in UTF-8 are
            unknown. Defaults to 100.

    Example:

    >>> counter = WordPieceCounter(["[UNK]", "the", "digit", "##s"])
    >>> counter.tokenize("The digits")
    ['the', 'digit', '##s']
    """

    def __init__(self, vocabulary, lowercase=True, strip_accents=None,
                 unknown_token="[UNK]", max_bytes_per_word=100):
        if isinstance(vocabulary, (list, tuple)):
            words = list(vocabulary)
        else:
            with open(vocabulary, encoding="utf-8") as handle:
                words = [line.rstrip("\n").rstrip("\r") for line in handle]
        if not words:
            raise ValueError(
                f"The vocabulary is empty. Received: vocabulary={vocabulary!r}"
            )
        self.vocabulary = set(words)
        self.lowercase = bool(lowercase)
        self.strip_accents = (
            self.lowercase if strip_accents is None else bool(strip_accents)
        )
        self.unknown_token = unknown_token
        self.max_bytes_per_word = int(max_bytes_per_word)

    def _normalize(self, text):
        if self.lowercase:
            text = unicodedata.normalize("NFKC", text).casefold()
        if self.strip_accents:
            text = "".join(
                c for c in unicodedata.normalize("NFD", text)
                if unicodedata.category(c) != "Mn"
            )
        return text

    def words(self, text):
        """The words of `text` after normalization and splitting."""
        words, current = [], []
        for char in self._normalize(text):
            if _is_whitespace(char):
                if current:
                    words.append("".join(current))
                    current = []
            elif _is_punctuation(char) or _is_cjk(char):
                if current:
                    words.append("".join(current))
                    current = []
                words.append(char)
            else:
                current.append(char)
        if current:
            words.append("".join(current))
        return words

    def _word_pieces(self, word):
        if len(word.encode("utf-8")) > self.max_bytes_per_word:
            return [self.unknown_token]
        pieces, start = [], 0
        while start < len(word):
            end = len(word)
            while end > start:
                piece = word[start:end] if start == 0 else "##" + word[start:end]
                if piece in self.vocabulary:
                    break
                end -= 1
            if end == start:
                return [self.unknown_token]
            pieces.append(piece)
            start = end
        return pieces

    def tokenize(self, text):
        """The wordpieces of `text` (without [CLS] and [SEP])."""
        pieces = []
        for word in self.words(text):
            pieces.extend(self._word_pieces(word))
        return pieces

    def count(self, text):
        """The number of wordpieces of `text` (without [CLS] and [SEP])."""
        return len(self.tokenize(text))

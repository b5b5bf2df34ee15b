"""Checks of prompts and captions, before any model is loaded.

A prompt must be text (a `str`, or `bytes` in UTF-8), must hold something
besides whitespace, must be valid Unicode (no lone surrogates, which is
what a command-line argument that is not UTF-8 becomes in Python) and, with
its [CLS] and [SEP] tokens, must fit the text encoder's sequence length.
Nothing here imports Keras.
"""

import functools
import warnings

from kvdm.text.text_encoder_presets import locate_text_encoder
from kvdm.text.word_piece_counter import WordPieceCounter

# [CLS] and [SEP] around every text.
NUM_SPECIAL_TOKENS = 2


def check_text(text, name="prompt", allow_empty=False):
    """Returns `text` as a `str` after checking it.

    Args:
        text: str or bytes (UTF-8).
        name: str. What the text is, for the error message.
        allow_empty: bool. Accept "" and whitespace (the empty caption
            means "no condition" in training data). Defaults to False.

    Raises:
        ValueError: not text, not valid UTF-8, or empty when not allowed.
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"The {name} is not valid UTF-8 (byte {error.start}). "
                f"Received: {name}={text!r}"
            ) from None
    if not isinstance(text, str):
        raise ValueError(
            f"The {name} must be a string. Received: {name}={text!r}"
        )
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        try:
            # Command-line bytes that are not UTF-8 arrive as surrogates.
            raw = text.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raw = text.encode("utf-8", "backslashreplace")
        raise ValueError(
            f"The {name} is not valid UTF-8 text (character {error.start} "
            f"is an undecodable byte). Received: {name}={raw!r}"
        ) from None
    if not allow_empty and not text.strip():
        raise ValueError(
            f"The {name} is empty. Give a description of the video, e.g. "
            f"\"the digit 7 moves left\". Received: {name}={text!r}"
        )
    return text


def shorten(text, limit=80):
    """`text` cut to `limit` characters for an error message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


@functools.lru_cache(maxsize=8)
def _counter(vocabulary, lowercase, strip_accents):
    return WordPieceCounter(vocabulary, lowercase=lowercase,
                            strip_accents=strip_accents)


def check_prompts(prompts, text_encoder=None, truncate=False):
    """Checks prompts, and their length when the text encoder is known.

    Args:
        prompts: list of str (or UTF-8 bytes). At least one.
        text_encoder: str or None. The encoder's preset name or folder;
            with None only the text itself is checked.
        truncate: bool. Keep an overlong prompt (the encoder then keeps its
            first tokens) with a warning instead of refusing it. Defaults to
            False.

    Returns:
        The prompts as a list of str.

    Raises:
        ValueError: a bad prompt; the message names it.
        TextEncoderNotFoundError: the encoder's files are not here.
    """
    if isinstance(prompts, (str, bytes)) or not hasattr(prompts, "__iter__"):
        raise ValueError(
            f"`prompts` must be a list of strings. Received: prompts={prompts!r}"
        )
    prompts = [check_text(p) for p in prompts]
    if not prompts:
        raise ValueError("At least one prompt is needed. Received: prompts=[]")
    if text_encoder is None:
        return prompts
    found = locate_text_encoder(text_encoder)
    counter = _counter(found["vocabulary"], found["lowercase"],
                       found["strip_accents"])
    limit = found["sequence_length"]
    for prompt in prompts:
        length = counter.count(prompt) + NUM_SPECIAL_TOKENS
        if length <= limit:
            continue
        message = (
            f"The prompt is {length} tokens long ([CLS] and [SEP] included) "
            f"but the text encoder {text_encoder!r} takes at most {limit}"
        )
        if not truncate:
            raise ValueError(
                f"{message}: shorten it. Received: prompt={shorten(prompt)!r}"
            )
        warnings.warn(f"{message}; only its first {limit} tokens are used. "
                      f"Received: prompt={shorten(prompt)!r}", stacklevel=2)
    return prompts

"""Frozen text encoders and prompt checks for text-to-video models.

`TextEncoder` (keras-hub BERT) and `load_text_encoder` import Keras when
first used; the rest of this package (presets, prompt checks, the plain
Python wordpiece counter) does not, so that the command line can check a
prompt before a backend is loaded.
"""

from kvdm.text.prompts import check_prompts
from kvdm.text.prompts import check_text
from kvdm.text.text_encoder_presets import TEXT_ENCODER_PRESETS
from kvdm.text.text_encoder_presets import TextEncoderNotFoundError
from kvdm.text.text_encoder_presets import locate_text_encoder
from kvdm.text.text_encoder_presets import text_encoder_dim
from kvdm.text.word_piece_counter import WordPieceCounter

_WITH_KERAS = {"TextEncoder", "load_text_encoder"}


def __getattr__(name):
    if name in _WITH_KERAS:
        from kvdm.text import text_encoder

        return getattr(text_encoder, name)
    raise AttributeError(f"module 'kvdm.text' has no attribute {name!r}")


__all__ = [
    "TEXT_ENCODER_PRESETS",
    "TextEncoder",
    "TextEncoderNotFoundError",
    "WordPieceCounter",
    "check_prompts",
    "check_text",
    "load_text_encoder",
    "locate_text_encoder",
    "text_encoder_dim",
]

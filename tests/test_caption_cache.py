"""`CaptionCache`: each distinct caption is encoded once, then read back."""

import numpy as np
import pytest
from keras import ops

from kvdm.training import CaptionCache
from text_encoder_utils import tiny_text_encoder

CAPTIONS = ["the digit 1 moves up", "the digit 7 moves left",
            "the digit 3 moves down and to the right"]


class CountingEncoder:
    """Wraps a `TextEncoder` and records the texts it is asked to encode."""

    def __init__(self, encoder):
        self.encoder = encoder
        self.preset = encoder.preset
        self.hidden_dim = encoder.hidden_dim
        self.sequence_length = encoder.sequence_length
        self.calls = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return self.encoder.encode(texts)


@pytest.fixture(scope="module")
def encoder():
    return tiny_text_encoder()


def test_each_distinct_caption_is_encoded_once(encoder, tmp_path):
    counting = CountingEncoder(encoder)
    path = tmp_path / "run" / "caption_embeddings.npz"
    cache = CaptionCache(counting, path)
    table = cache.table(CAPTIONS + CAPTIONS[:1] + [""])
    assert counting.calls == [sorted(CAPTIONS)]
    assert cache.num_encoded == 3 and len(cache) == 4 and path.is_file()
    # Row by row: the caption's real tokens, then zeros; "" is all zeros.
    embeddings, mask = encoder.encode(CAPTIONS)
    embeddings, mask = ops.convert_to_numpy(embeddings), ops.convert_to_numpy(mask)
    assert table.shape == (5, mask.sum(axis=1).max(), 8)
    for index in range(3):
        length = mask[index].sum()
        np.testing.assert_allclose(table[index, :length],
                                   embeddings[index, :length], atol=1e-6)
        assert not table[index, length:].any()
    np.testing.assert_array_equal(table[3], table[0])
    assert not table[4].any()

    # Asked again (every training step would): nothing is encoded.
    again = cache.table(CAPTIONS[::-1])
    assert counting.calls == [sorted(CAPTIONS)]
    np.testing.assert_array_equal(again[0], table[2])
    # A new caption alone is encoded; the file grows.
    cache.table(["the digit 2 moves up"])
    assert counting.calls[-1] == ["the digit 2 moves up"]

    # A second process (or a resumed run) reads the file instead.
    fresh = CountingEncoder(encoder)
    reread = CaptionCache(fresh, path)
    assert len(reread) == 5
    np.testing.assert_array_equal(reread.table(CAPTIONS + [""]),
                                  table[[0, 1, 2, 4]])
    assert fresh.calls == [] and reread.num_encoded == 0


def test_a_file_of_another_encoder_is_ignored(encoder, tmp_path):
    path = tmp_path / "caption_embeddings.npz"
    CaptionCache(encoder, path).table(CAPTIONS)
    other = CountingEncoder(tiny_text_encoder(preset="other"))
    cache = CaptionCache(other, path)
    assert len(cache) == 0
    cache.table(CAPTIONS)
    assert other.calls == [sorted(CAPTIONS)]


def test_memory_only_and_empty_captions(encoder):
    counting = CountingEncoder(encoder)
    cache = CaptionCache(counting)
    table = cache.table(["", " "])
    assert table.shape == (2, 1, 8) and not table.any()
    assert counting.calls == [] and cache.path is None

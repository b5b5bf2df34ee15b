"""Caption embeddings, computed once per distinct caption and kept.

Text-conditioned training feeds the network the frozen encoder's token
embeddings of each video's caption. Captions repeat (moving digits have 80
distinct ones with one digit), so each distinct caption is encoded once,
before the first step: the cache keeps the embeddings in memory and in a
file of the run folder, and the pipeline only looks them up.
"""

import json
import os

import numpy as np

# The cache file inside a run folder.
CACHE_FILE = "caption_embeddings.npz"


class CaptionCache:
    """Token embeddings of captions, in memory and optionally on disk.

    Each caption maps to the embeddings of its real tokens, `(tokens,
    hidden_dim)` float32 ([CLS] and [SEP] included); the empty caption maps
    to no tokens, the null condition. Captions not yet known are encoded in
    one `encoder.encode` pass per call, then written to `path` (atomically)
    so that a resumed run or a second process reads them back instead. A
    file written by another encoder is ignored.

    Args:
        encoder: `kvdm.text.TextEncoder`.
        path: str or None. The `.npz` file. Defaults to None (memory only).

    Attributes:
        num_encoded: int. Captions this cache has encoded (not read).

    Example:

    >>> cache = CaptionCache(encoder, "runs/text/caption_embeddings.npz")
    >>> table = cache.table(["the digit 1 moves up", ""])
    >>> table.shape  # (2, 7, 384); row 1 is all zeros
    """

    def __init__(self, encoder, path=None):
        self.encoder = encoder
        self.path = None if path is None else os.fspath(path)
        self.num_encoded = 0
        self._embeddings = {}
        self._identity = json.dumps(
            {
                "text_encoder": encoder.preset,
                "hidden_dim": encoder.hidden_dim,
                "sequence_length": encoder.sequence_length,
            },
            sort_keys=True,
        )
        if self.path is not None and os.path.isfile(self.path):
            self._read()

    def __len__(self):
        return len(self._embeddings)

    def __contains__(self, caption):
        return caption in self._embeddings

    def _read(self):
        identity, rows = read_cache_file(self.path)
        if identity == self._identity:
            self._embeddings.update(rows)

    def _write(self):
        captions = sorted(self._embeddings)
        lengths = [len(self._embeddings[c]) for c in captions]
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype("int64")
        width = self.encoder.hidden_dim
        embeddings = np.concatenate(
            [self._embeddings[c] for c in captions]
            + [np.zeros((0, width), "float32")],
            axis=0,
        )
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        tmp = f"{self.path}.tmp.npz"
        np.savez(
            tmp,
            identity=np.asarray(self._identity),
            captions=np.asarray(captions, dtype=str),
            offsets=offsets,
            embeddings=embeddings,
        )
        os.replace(tmp, self.path)

    def embeddings(self, captions):
        """The token embeddings of each caption, encoding the new ones.

        Args:
            captions: list of str.

        Returns:
            list of float32 arrays `(tokens, hidden_dim)`, one per caption
            (`(0, hidden_dim)` for an empty caption).
        """
        from keras import ops

        missing = sorted({c for c in captions if c not in self._embeddings})
        empty = [c for c in missing if not c.strip()]
        texts = [c for c in missing if c.strip()]
        for caption in empty:
            self._embeddings[caption] = np.zeros(
                (0, self.encoder.hidden_dim), "float32"
            )
        if texts:
            values, mask = self.encoder.encode(texts)
            values = ops.convert_to_numpy(values)
            mask = ops.convert_to_numpy(mask)
            for index, caption in enumerate(texts):
                self._embeddings[caption] = values[index][mask[index]].astype(
                    "float32"
                )
            self.num_encoded += len(texts)
            if self.path is not None:
                self._write()
        return [self._embeddings[c] for c in captions]

    def table(self, captions):
        """The captions' embeddings as one zero-padded array.

        Args:
            captions: list of str.

        Returns:
            float32 array `(len(captions), length, hidden_dim)`, `length` the
            longest caption's token count (at least 1); padding and empty
            captions are zeros, the form `ConditionEmbedding` takes.
        """
        return pad_rows(self.embeddings(captions), self.encoder.hidden_dim)


def read_cache_file(path):
    """The contents of a `CaptionCache` file.

    Args:
        path: str. A `caption_embeddings.npz` written by `CaptionCache`.

    Returns:
        `(identity, rows)`: the JSON string naming the encoder that wrote
        it, and a dict from each caption (in the file's sorted order) to
        its float32 token embeddings `(tokens, hidden_dim)`.
    """
    with np.load(path, allow_pickle=False) as stored:
        offsets = stored["offsets"]
        embeddings = stored["embeddings"]
        rows = {
            caption: embeddings[offsets[index]:offsets[index + 1]]
            for index, caption in enumerate(stored["captions"].tolist())
        }
        return str(stored["identity"]), rows


def pad_rows(rows, hidden_dim):
    """Token embeddings of captions as one zero-padded float32 array.

    Args:
        rows: list of float32 arrays `(tokens, hidden_dim)`.
        hidden_dim: int. The encoder's width.

    Returns:
        float32 array `(len(rows), length, hidden_dim)`, `length` the
        longest row's token count (at least 1); padding is zeros.
    """
    length = max([1] + [len(row) for row in rows])
    table = np.zeros((len(rows), length, hidden_dim), "float32")
    for index, row in enumerate(rows):
        table[index, : len(row)] = row
    return table


_CACHES = {}


def get_caption_cache(text_encoder, directory=None):
    """The process's `CaptionCache` of an encoder and folder (made once).

    Args:
        text_encoder: str. The encoder's preset name or folder.
        directory: str or None. Folder of the cache file (a run folder);
            None keeps the embeddings in memory only.
    """
    from kvdm.text import load_text_encoder

    path = None if directory is None else os.path.join(
        os.fspath(directory), CACHE_FILE
    )
    key = (text_encoder, path)
    if key not in _CACHES:
        _CACHES[key] = CaptionCache(load_text_encoder(text_encoder), path)
    return _CACHES[key]

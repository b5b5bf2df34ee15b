"""A reference BERT in plain numpy, read straight from a safetensors file.

Independent of keras-hub and of kvdm.text: the file is parsed by hand (an
8-byte little-endian header size, a JSON header, then raw tensors), the
tokenizer handles plain lowercase ASCII sentences only (split on spaces and
punctuation, greedy longest-match wordpieces), and the forward pass is the
post-LayerNorm encoder of Devlin et al. with the exact (erf) GELU. The
sentence embedding is the mean of the last hidden states over real tokens,
L2-normalised: what sentence-transformers computes for all-MiniLM-L6-v2
(its modules.json: Transformer, mean Pooling, Normalize).
"""

import json
import string
import struct

import numpy as np
from scipy.special import erf

_DTYPES = {"F32": "<f4", "F64": "<f8", "I64": "<i8", "I32": "<i4"}


def read_safetensors(path):
    """`{name: numpy array}` of every tensor in a safetensors file."""
    with open(path, "rb") as handle:
        (size,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(size))
        data = handle.read()
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, stop = entry["data_offsets"]
        tensors[name] = np.frombuffer(
            data[start:stop], _DTYPES[entry["dtype"]]
        ).reshape(entry["shape"])
    return tensors


def simple_token_ids(text, vocabulary_path):
    """Wordpiece ids of a lowercase ASCII sentence, with [CLS] and [SEP]."""
    with open(vocabulary_path, encoding="utf-8") as handle:
        ids = {line.rstrip("\n"): i for i, line in enumerate(handle)}
    assert text == text.lower() and text.isascii(), text
    words = []
    for chunk in text.split():
        word = ""
        for char in chunk:
            if char in string.punctuation:
                words += [word] if word else []
                words.append(char)
                word = ""
            else:
                word += char
        words += [word] if word else []
    pieces = [ids["[CLS]"]]
    for word in words:
        start = 0
        while start < len(word):
            for stop in range(len(word), start, -1):
                piece = word[start:stop] if start == 0 else "##" + word[start:stop]
                if piece in ids:
                    pieces.append(ids[piece])
                    start = stop
                    break
            else:
                raise AssertionError(f"no wordpiece for {word!r}")
    return pieces + [ids["[SEP]"]]


def _layer_norm(x, gamma, beta, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def _dense(x, weights, name):
    # PyTorch stores `weight` as (out, in).
    return x @ weights[f"{name}.weight"].T + weights[f"{name}.bias"]


def as_float64(weights):
    """The floating-point tensors of `weights` in float64."""
    return {k: v.astype(np.float64) for k, v in weights.items()
            if v.dtype.kind == "f"}


def hidden_states(token_ids, weights, num_heads):
    """Last hidden states `(length, hidden)` of one unpadded sequence.

    `weights` as `read_safetensors` returns them (float64 is more exact:
    see `as_float64`).
    """
    w = weights
    ids = np.asarray(token_ids)
    x = (w["embeddings.word_embeddings.weight"][ids]
         + w["embeddings.position_embeddings.weight"][: len(ids)]
         + w["embeddings.token_type_embeddings.weight"][0])
    x = _layer_norm(x, w["embeddings.LayerNorm.weight"],
                    w["embeddings.LayerNorm.bias"])
    layer = 0
    while f"encoder.layer.{layer}.attention.self.query.weight" in w:
        p = f"encoder.layer.{layer}."
        length, hidden = x.shape
        head = hidden // num_heads

        def heads(y):
            return y.reshape(length, num_heads, head).transpose(1, 0, 2)

        q = heads(_dense(x, w, p + "attention.self.query"))
        k = heads(_dense(x, w, p + "attention.self.key"))
        v = heads(_dense(x, w, p + "attention.self.value"))
        scores = q @ k.transpose(0, 2, 1) / np.sqrt(head)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        scores /= scores.sum(-1, keepdims=True)
        context = (scores @ v).transpose(1, 0, 2).reshape(length, hidden)
        x = _layer_norm(x + _dense(context, w, p + "attention.output.dense"),
                        w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"])
        inner = _dense(x, w, p + "intermediate.dense")
        inner = 0.5 * inner * (1.0 + erf(inner / np.sqrt(2.0)))
        x = _layer_norm(x + _dense(inner, w, p + "output.dense"),
                        w[p + "output.LayerNorm.weight"],
                        w[p + "output.LayerNorm.bias"])
        layer += 1
    return x


def sentence_embedding(hidden):
    """Mean-pooled, L2-normalised last hidden states `(length, hidden)`."""
    pooled = hidden.mean(0)
    return pooled / np.linalg.norm(pooled)

"""Attention in recomputed query chunks: the same outputs and gradients."""

import numpy as np
import pytest
from keras import ops

from kvdm.layers import SpatialAttention
from kvdm.layers import TemporalAttention
from kvdm.layers.attention_ops import dot_product_attention
from kvdm.models import VideoUNet
from kvdm.models.video_unet import REMAT_QUERY_CHUNK
from kvdm.utils import backend_utils
from layer_test_utils import randomize_weights


def _inputs(length=37, heads=2, channels=8):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, length, heads, channels)).astype("float32")
    bias = rng.normal(size=(1, heads, length, length)).astype("float32")
    mask = rng.uniform(size=(3, 1, length, length)) > 0.3
    mask[..., 0] = True  # every query keeps a key
    weights = rng.normal(size=x.shape).astype("float32")
    return x, bias, mask, weights


@pytest.mark.backends
@pytest.mark.parametrize("with_bias", [False, True])
def test_chunked_attention_matches_in_value_and_gradient(with_bias):
    x, bias, mask, weights = _inputs()
    if not with_bias:
        bias = mask = None

    def loss(values, chunk):
        query, key, value = values, values * 0.7 + 0.1, ops.tanh(values)
        out = dot_product_attention(
            query, key, value, bias=bias, mask=mask, query_chunk_size=chunk
        )
        return ops.sum(ops.multiply(out, ops.convert_to_tensor(weights))), ops.stop_gradient(out)

    results = {}
    for chunk in (None, 8, 36, 64):
        value, out, grad = backend_utils.value_and_grad(loss)(
            ops.convert_to_tensor(x), chunk
        )
        results[chunk] = tuple(map(ops.convert_to_numpy, (value, out, grad)))
    reference = results[None]
    assert np.abs(reference[2]).max() > 0
    for chunk in (8, 36, 64):
        for got, want in zip(results[chunk], reference):
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_attention_layers_keep_their_chunk_setting():
    video = np.random.default_rng(1).normal(size=(2, 3, 6, 6, 8)).astype("float32")
    for cls in (SpatialAttention, TemporalAttention):
        plain = cls(head_dim=4, groups=4)
        chunked = cls(head_dim=4, groups=4, query_chunk_size=5)
        plain(video)
        chunked(video)
        randomize_weights(plain)
        chunked.set_weights(plain.get_weights())
        np.testing.assert_allclose(
            ops.convert_to_numpy(chunked(video)),
            ops.convert_to_numpy(plain(video)), rtol=1e-5, atol=1e-5,
        )
        config = chunked.get_config()
        assert config["query_chunk_size"] == 5
        assert cls.from_config(config).query_chunk_size == 5
    with pytest.raises(ValueError, match="query_chunk_size=0"):
        SpatialAttention(query_chunk_size=0)


def test_remat_network_attends_in_chunks():
    def chunk_sizes(unet):
        return {
            layer.query_chunk_size
            for layer in unet._flatten_layers()
            if isinstance(layer, (SpatialAttention, TemporalAttention))
        }

    for remat, expected in ((False, {None}), (True, {REMAT_QUERY_CHUNK})):
        unet = VideoUNet(
            base_channels=8, channel_multipliers=[1, 2], num_res_blocks=1,
            attention_resolutions=[8, 4], head_dim=4, groups=4, remat=remat,
        )
        unet(np.zeros((1, 2, 8, 8, 1), "float32"), np.zeros((1,), "float32"))
        assert chunk_sizes(unet) == expected


@pytest.mark.backends
@pytest.mark.parametrize("with_bias", [False, True])
def test_attention_matches_a_numpy_reference_in_value_and_gradient(with_bias):
    # Each backend has its own attention path (einsums on TensorFlow,
    # batched matrix products of (batch * heads) on JAX, the fused kernel on
    # PyTorch): all must be the same function with the same gradient.
    x, bias, mask, weights = _inputs(length=11, heads=3, channels=4)
    if not with_bias:
        bias = mask = None

    def attention(query, key, value, xp):
        logits = xp.einsum("bqhd,bkhd->bhqk", query, key) / 2.0
        if bias is not None:
            logits = logits + bias
        if mask is not None:
            logits = xp.where(mask, logits, -1e9)
        logits = logits - logits.max(axis=-1, keepdims=True)
        exp = xp.exp(logits)
        return xp.einsum("bhqk,bkhd->bqhd", exp / exp.sum(-1, keepdims=True), value)

    def loss(values):
        query, key, value = values, values * 0.7 + 0.1, ops.tanh(values)
        out = dot_product_attention(query, key, value, bias=bias, mask=mask)
        return ops.sum(ops.multiply(out, ops.convert_to_tensor(weights))), ops.stop_gradient(out)

    value, out, grad = map(
        ops.convert_to_numpy,
        backend_utils.value_and_grad(loss)(ops.convert_to_tensor(x)),
    )
    x64 = x.astype("float64")
    want = attention(x64, x64 * 0.7 + 0.1, np.tanh(x64), np)
    np.testing.assert_allclose(out, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(value, (want * weights).sum(), rtol=1e-4, atol=1e-4)
    # Gradient by central differences of the float64 reference.
    def f(v):
        return (attention(v, v * 0.7 + 0.1, np.tanh(v), np) * weights).sum()

    step = 1e-6
    numeric = np.zeros_like(x64)
    for index in np.ndindex(*x.shape):
        plus, minus = x64.copy(), x64.copy()
        plus[index] += step
        minus[index] -= step
        numeric[index] = (f(plus) - f(minus)) / (2 * step)
    assert np.abs(numeric).max() > 0
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-4)

import keras
import numpy as np
import pytest
from layer_test_utils import run_layer_test

from kvdm.layers import SpatialAttention


@pytest.mark.backends
def test_layer_basics():
    run_layer_test(
        SpatialAttention,
        init_kwargs={"num_heads": 2, "groups": 4},
        input_shape=(2, 3, 4, 4, 8),
        expected_output_shape=(2, 3, 4, 4, 8),
        # norm gamma/beta, qkv kernel/bias, output kernel/bias.
        expected_num_trainable_weights=6,
    )


def test_starts_as_identity_with_zero_output_projection():
    x = np.random.default_rng(0).normal(size=(1, 2, 3, 3, 8)).astype("float32")
    out = keras.ops.convert_to_numpy(SpatialAttention(groups=4)(x))
    np.testing.assert_allclose(out, x, atol=1e-6)


@pytest.mark.parametrize(
    "channels, kwargs, heads",
    [(8, {"head_dim": 4}, 2), (8, {}, 1), (128, {}, 2), (12, {"num_heads": 3}, 3)],
)
def test_num_heads_from_head_dim(channels, kwargs, heads):
    layer = SpatialAttention(groups=4, **kwargs)
    layer.build((None, 2, 3, 3, channels))
    assert layer._num_heads == heads
    assert layer._num_heads * layer._head_channels == channels


def test_indivisible_channels_raise():
    layer = SpatialAttention(num_heads=3, groups=2)
    with pytest.raises(ValueError, match="not divisible by 3"):
        layer.build((None, 2, 3, 3, 8))
    layer = SpatialAttention(num_heads=2, groups=3)
    with pytest.raises(ValueError, match="groups=3"):
        layer.build((None, 2, 3, 3, 8))


@pytest.mark.backends
def test_frames_are_processed_independently():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 3, 3, 8)).astype("float32")
    layer = SpatialAttention(
        num_heads=2, groups=4, output_kernel_initializer="glorot_uniform"
    )
    base = keras.ops.convert_to_numpy(layer(x))
    changed = x.copy()
    changed[:, 1] += rng.normal(size=changed[:, 1].shape).astype("float32")
    out = keras.ops.convert_to_numpy(layer(changed))
    diff = np.abs(out - base).max(axis=(0, 2, 3, 4))
    assert diff[1] > 1e-2
    np.testing.assert_allclose(diff[[0, 2, 3]], 0.0, atol=1e-6)


def _reference(layer, x):
    """Per-frame GroupNorm, multi-head attention over pixels, residual."""
    gamma, beta, w_qkv, b_qkv, w_out, b_out = [
        keras.ops.convert_to_numpy(w) for w in layer.weights
    ]
    b, t, h, w, c = x.shape
    groups = layer.norm.groups
    g = x.reshape(b, t, h * w, groups, c // groups)
    mean = g.mean(axis=(2, 4), keepdims=True)
    var = g.var(axis=(2, 4), keepdims=True)
    normed = ((g - mean) / np.sqrt(var + layer.epsilon)).reshape(b, t, h * w, c)
    normed = normed * gamma + beta
    q, k, v = np.split(normed @ w_qkv + b_qkv, 3, axis=-1)
    heads = layer._num_heads
    split = lambda a: a.reshape(b, t, h * w, heads, c // heads)
    q, k, v = split(q), split(k), split(v)
    logits = np.einsum("btqhd,btkhd->bthqk", q, k) / np.sqrt(c // heads)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    out = np.einsum("bthqk,btkhd->btqhd", weights, v).reshape(b, t, h * w, c)
    return x + (out @ w_out + b_out).reshape(x.shape)


@pytest.mark.backends
def test_matches_numpy_reference():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 2, 3, 3, 8)).astype("float32")
    layer = SpatialAttention(
        num_heads=2, groups=4, output_kernel_initializer="glorot_uniform"
    )
    layer.build(x.shape)
    layer.set_weights(
        [rng.normal(size=w.shape).astype("float32") * 0.5 for w in layer.weights]
    )
    out = keras.ops.convert_to_numpy(layer(x))
    np.testing.assert_allclose(out, _reference(layer, x), atol=1e-4)

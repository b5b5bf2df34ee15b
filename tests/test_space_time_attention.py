"""SpaceTimeAttention; its layer contract is tested with TemporalAttention's."""

import keras
import numpy as np
import pytest

from kvdm.layers import SpaceTimeAttention
from kvdm.layers import TemporalAttention

INIT = {"num_heads": 2, "groups": 4, "num_buckets": 8, "max_distance": 16}


def _random_layer(x, seed=0, cls=SpaceTimeAttention):
    rng = np.random.default_rng(seed)
    layer = cls(**INIT)
    layer.build(x.shape)
    layer.set_weights(
        [rng.normal(size=w.shape).astype("float32") * 0.5 for w in layer.weights]
    )
    return layer


def _reference(layer, x, num_image_frames):
    """Per-frame GroupNorm, attention over all (frame, position) tokens."""
    gamma, beta, w_qkv, b_qkv, table, w_out, b_out = [
        keras.ops.convert_to_numpy(w) for w in layer.weights
    ]
    b, t, h, w, c = x.shape
    p = h * w
    groups = layer.norm.groups
    g = x.reshape(b, t, p, groups, c // groups)
    mean = g.mean(axis=(2, 4), keepdims=True)
    var = g.var(axis=(2, 4), keepdims=True)
    normed = ((g - mean) / np.sqrt(var + layer.epsilon)).reshape(b, t * p, c)
    normed = normed * gamma + beta
    q, k, v = np.split(normed @ w_qkv + b_qkv, 3, axis=-1)
    heads = layer._num_heads
    split = lambda a: a.reshape(b, t * p, heads, c // heads)
    q, k, v = split(q), split(k), split(v)
    logits = np.einsum("bqhd,bkhd->bhqk", q, k) / np.sqrt(c // heads)
    frame = np.repeat(np.arange(t), p)
    buckets = keras.ops.convert_to_numpy(
        layer.relative_position_bias.relative_position_bucket(
            frame[None, :] - frame[:, None]
        )
    )
    logits = logits + np.transpose(table[buckets], (2, 0, 1))
    video = t - num_image_frames
    allowed = (frame[:, None] == frame[None, :]) | (
        (frame[:, None] < video) & (frame[None, :] < video)
    )
    logits = np.where(allowed, logits, -np.inf)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    out = np.einsum("bhqk,bkhd->bqhd", weights, v).reshape(b, t * p, c)
    return x + (out @ w_out + b_out).reshape(x.shape)


@pytest.mark.parametrize(
    "num_image_frames", [0, pytest.param(2, marks=pytest.mark.backends)]
)
def test_matches_numpy_reference(num_image_frames):
    x = np.random.default_rng(3).normal(size=(2, 5, 2, 3, 8)).astype("float32")
    layer = _random_layer(x, seed=4)
    out = keras.ops.convert_to_numpy(layer(x, num_image_frames=num_image_frames))
    np.testing.assert_allclose(
        out, _reference(layer, x, num_image_frames), atol=1e-4
    )


def _position_changes(layer, x, frame, position, num_image_frames=0):
    """Largest output change per (frame, position) after perturbing one token."""
    base = keras.ops.convert_to_numpy(layer(x, num_image_frames=num_image_frames))
    changed = x.copy()
    changed[:, frame, position[0], position[1]] += 3.0 * np.random.default_rng(1).normal(
        size=changed.shape[-1]
    ).astype("float32")
    out = keras.ops.convert_to_numpy(layer(changed, num_image_frames=num_image_frames))
    return np.abs(out - base).max(axis=(0, 4))


@pytest.mark.backends
def test_one_position_is_temporal_attention():
    # With a single position per frame, space-time attention is temporal
    # attention: same weights, same outputs.
    x = np.random.default_rng(5).normal(size=(2, 6, 1, 1, 8)).astype("float32")
    temporal = _random_layer(x, cls=TemporalAttention)
    space_time = _random_layer(x, cls=SpaceTimeAttention)
    for num_image_frames in (0, 2):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(space_time(x, num_image_frames=num_image_frames)),
            keras.ops.convert_to_numpy(temporal(x, num_image_frames=num_image_frames)),
            atol=1e-5,
        )


@pytest.mark.backends
def test_joint_training_mask_isolates_image_frames():
    x = np.random.default_rng(0).normal(size=(2, 6, 2, 2, 8)).astype("float32")
    layer = _random_layer(x)
    diff = _position_changes(layer, x, frame=4, position=(1, 0), num_image_frames=2)
    assert diff[4].max() > 1e-3
    np.testing.assert_array_equal(diff[[0, 1, 2, 3, 5]], 0.0)
    diff = _position_changes(layer, x, frame=1, position=(0, 1), num_image_frames=2)
    assert diff[[0, 2, 3]].min() > 1e-4, diff
    np.testing.assert_array_equal(diff[[4, 5]], 0.0)


def test_invalid_num_image_frames():
    x = np.zeros((1, 3, 2, 2, 8), dtype="float32")
    layer = SpaceTimeAttention(**INIT)
    with pytest.raises(ValueError, match="num_image_frames=4"):
        layer(x, num_image_frames=4)

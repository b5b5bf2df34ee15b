import keras
import numpy as np
import pytest
from layer_test_utils import run_layer_test

from kvdm.layers import SpaceTimeAttention
from kvdm.layers import TemporalAttention
from kvdm.layers.temporal_attention import joint_training_mask

INIT = {"num_heads": 2, "groups": 4, "num_buckets": 8, "max_distance": 16}


@pytest.mark.parametrize("layer_class", [TemporalAttention, SpaceTimeAttention])
@pytest.mark.parametrize(
    "num_image_frames", [0, pytest.param(2, marks=pytest.mark.backends)]
)
def test_layer_basics(layer_class, num_image_frames):
    run_layer_test(
        layer_class,
        init_kwargs=INIT,
        input_shape=(2, 5, 3, 2, 8),
        call_kwargs={"num_image_frames": num_image_frames},
        expected_output_shape=(2, 5, 3, 2, 8),
        # norm (2), qkv (2), relative bias table (1), output (2).
        expected_num_trainable_weights=7,
    )


def _random_layer(x, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    layer = TemporalAttention(**{**INIT, **kwargs})
    layer.build(x.shape)
    layer.set_weights(
        [rng.normal(size=w.shape).astype("float32") * 0.5 for w in layer.weights]
    )
    return layer


def _frame_changes(layer, x, frame, num_image_frames, seed=1):
    rng = np.random.default_rng(seed)
    base = keras.ops.convert_to_numpy(layer(x, num_image_frames=num_image_frames))
    changed = x.copy()
    changed[:, frame] += rng.normal(size=changed[:, frame].shape).astype("float32")
    out = keras.ops.convert_to_numpy(
        layer(changed, num_image_frames=num_image_frames)
    )
    return np.abs(out - base).max(axis=(0, 2, 3, 4))


@pytest.mark.backends
def test_joint_training_mask_isolates_image_frames():
    x = np.random.default_rng(0).normal(size=(2, 6, 2, 2, 8)).astype("float32")
    layer = _random_layer(x)
    # Frames 0..3 are the video, frames 4 and 5 are independent images.
    diff = _frame_changes(layer, x, frame=4, num_image_frames=2)
    assert diff[4] > 1e-3
    np.testing.assert_array_equal(diff[[0, 1, 2, 3, 5]], 0.0)
    diff = _frame_changes(layer, x, frame=1, num_image_frames=2)
    assert diff[[0, 2, 3]].min() > 1e-4, diff  # video frames do mix
    np.testing.assert_array_equal(diff[[4, 5]], 0.0)


@pytest.mark.backends
def test_without_mask_image_frames_are_mixed():
    # The same perturbations without the mask reach every frame, so the
    # isolation above is due to the mask.
    x = np.random.default_rng(0).normal(size=(2, 6, 2, 2, 8)).astype("float32")
    layer = _random_layer(x)
    diff = _frame_changes(layer, x, frame=4, num_image_frames=0)
    assert diff.min() > 1e-4, diff
    diff = _frame_changes(layer, x, frame=1, num_image_frames=0)
    assert diff.min() > 1e-4, diff


def test_all_image_frames_is_per_frame_processing():
    x = np.random.default_rng(0).normal(size=(1, 4, 2, 2, 8)).astype("float32")
    layer = _random_layer(x)
    diff = _frame_changes(layer, x, frame=2, num_image_frames=4)
    assert diff[2] > 1e-3
    np.testing.assert_array_equal(diff[[0, 1, 3]], 0.0)


def test_joint_training_mask_values():
    mask = keras.ops.convert_to_numpy(joint_training_mask(5, 2)).astype(bool)
    expected = np.zeros((5, 5), dtype=bool)
    expected[:3, :3] = True
    expected[3, 3] = expected[4, 4] = True
    np.testing.assert_array_equal(mask, expected)
    all_video = keras.ops.convert_to_numpy(joint_training_mask(4, 0))
    assert np.all(all_video)


def _reference(layer, x, num_image_frames):
    """Per-frame GroupNorm, attention over frames with bias and mask."""
    gamma, beta, w_qkv, b_qkv, table, w_out, b_out = [
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
    logits = np.einsum("bqshd,bkshd->bshqk", q, k) / np.sqrt(c // heads)
    buckets = keras.ops.convert_to_numpy(
        layer.relative_position_bias.relative_position_bucket(
            np.arange(t)[None, :] - np.arange(t)[:, None]
        )
    )
    logits = logits + np.transpose(table[buckets], (2, 0, 1))
    video = t - num_image_frames
    allowed = np.eye(t, dtype=bool)
    allowed[:video, :video] = True
    logits = np.where(allowed, logits, -np.inf)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    out = np.einsum("bshqk,bkshd->bqshd", weights, v).reshape(b, t, h * w, c)
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


@pytest.mark.backends
def test_runs_on_other_frame_counts():
    layer = TemporalAttention(**INIT)
    inputs = keras.Input(shape=(None, 2, 2, 8))
    model = keras.Model(inputs, layer(inputs, num_image_frames=1))
    for frames in (3, 7):
        x = np.random.default_rng(frames).normal(size=(1, frames, 2, 2, 8))
        out = model.predict(x.astype("float32"), verbose=0)
        assert out.shape == (1, frames, 2, 2, 8)


def test_invalid_num_image_frames():
    x = np.zeros((1, 3, 2, 2, 8), dtype="float32")
    layer = TemporalAttention(**INIT)
    with pytest.raises(ValueError, match="num_image_frames=4"):
        layer(x, num_image_frames=4)
    with pytest.raises(ValueError, match="num_image_frames=-1"):
        layer(x, num_image_frames=-1)

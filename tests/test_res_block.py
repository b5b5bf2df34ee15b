import keras
import numpy as np
import pytest
from layer_test_utils import run_layer_test

from kvdm.layers import ResBlock


@pytest.mark.backends
@pytest.mark.parametrize(
    "init_kwargs, channels",
    [
        ({"filters": 8, "groups": 4}, 4),
        ({"filters": 8, "groups": 4, "use_scale_shift_norm": True}, 8),
        (
            {
                "filters": 8,
                "groups": 2,
                "dropout": 0.2,
                "epsilon": 1e-3,
                "kernel_initializer": "he_normal",
                "zero_init_output": False,
                "seed": 3,
            },
            8,
        ),
    ],
)
def test_layer_basics(init_kwargs, channels):
    run_layer_test(
        ResBlock,
        init_kwargs=init_kwargs,
        input_shape=[(2, 3, 4, 4, channels), (2, 16)],
        expected_output_shape=(2, 3, 4, 4, 8),
    )


def _randomize(layer, seed=0):
    rng = np.random.default_rng(seed)
    layer.set_weights(
        [
            rng.normal(size=w.shape).astype("float32") * 0.3
            for w in layer.weights
        ]
    )


@pytest.mark.backends
def test_frames_processed_independently():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 4, 4, 4, 4)).astype("float32")
    embedding = rng.normal(size=(2, 6)).astype("float32")
    block = ResBlock(8, groups=2)
    block.build(x.shape, embedding.shape)
    _randomize(block)
    base = keras.ops.convert_to_numpy(block(x, embedding))
    changed = x.copy()
    changed[:, 1] += rng.normal(size=changed[:, 1].shape).astype("float32")
    out = keras.ops.convert_to_numpy(block(changed, embedding))
    assert np.abs(out[:, 1] - base[:, 1]).max() > 1e-3
    np.testing.assert_allclose(out[:, [0, 2, 3]], base[:, [0, 2, 3]], atol=1e-6)


@pytest.mark.backends
@pytest.mark.parametrize("use_scale_shift_norm", [False, True])
def test_embedding_changes_output(use_scale_shift_norm):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 2, 4, 4, 4)).astype("float32")
    block = ResBlock(4, groups=2, use_scale_shift_norm=use_scale_shift_norm)
    block.build(x.shape, (1, 6))
    _randomize(block)
    first = block(x, rng.normal(size=(1, 6)).astype("float32"))
    second = block(x, rng.normal(size=(1, 6)).astype("float32"))
    diff = np.abs(keras.ops.convert_to_numpy(first - second))
    # The embedding reaches every frame.
    assert diff.max(axis=(0, 2, 3, 4)).min() > 1e-3


def test_starts_as_identity_or_skip_projection():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 2, 4, 4, 4)).astype("float32")
    embedding = rng.normal(size=(1, 6)).astype("float32")
    same = ResBlock(4, groups=2)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(same(x, embedding)), x, atol=1e-6
    )
    wider = ResBlock(8, groups=2)
    out = wider(x, embedding)
    skip = wider.skip_projection(x)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(out), keras.ops.convert_to_numpy(skip),
        atol=1e-6,
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="filters"):
        ResBlock(0)
    with pytest.raises(ValueError, match="dropout"):
        ResBlock(8, dropout=1.5)
    with pytest.raises(ValueError, match="divisible"):
        ResBlock(12, groups=8).build((1, 2, 4, 4, 12), (1, 4))
    with pytest.raises(ValueError, match="embedding_shape"):
        ResBlock(8, groups=4).build((1, 2, 4, 4, 8), (1, 2, 3, 4))
    with pytest.raises(ValueError, match="inputs_shape"):
        ResBlock(8, groups=4).build((1, 4, 4, 8), (1, 4))

import keras
import numpy as np
import pytest
from layer_test_utils import run_layer_test

from kvdm.layers import SpatialDownsample


@pytest.mark.backends
@pytest.mark.parametrize(
    "init_kwargs, out_channels",
    [({}, 4), ({"filters": 6}, 6), ({"use_conv": False}, 4)],
)
def test_layer_basics(init_kwargs, out_channels):
    run_layer_test(
        SpatialDownsample,
        init_kwargs=init_kwargs,
        input_shape=(2, 3, 8, 6, 4),
        expected_output_shape=(2, 3, 4, 3, out_channels),
        run_training_check=init_kwargs.get("use_conv", True),
    )


@pytest.mark.backends
def test_average_pooling_values():
    x = np.random.default_rng(0).normal(size=(1, 2, 4, 4, 3)).astype("float32")
    out = keras.ops.convert_to_numpy(SpatialDownsample(use_conv=False)(x))
    expected = x.reshape(1, 2, 2, 2, 2, 2, 3).mean(axis=(3, 5))
    np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.backends
def test_frames_untouched():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 3, 4, 4, 2)).astype("float32")
    layer = SpatialDownsample()
    base = keras.ops.convert_to_numpy(layer(x))
    changed = x.copy()
    changed[:, 0] += 1.0
    out = keras.ops.convert_to_numpy(layer(changed))
    assert np.abs(out[:, 0] - base[:, 0]).max() > 1e-3
    np.testing.assert_allclose(out[:, 1:], base[:, 1:], atol=1e-6)


def test_bad_arguments():
    with pytest.raises(ValueError, match="even"):
        SpatialDownsample().build((1, 2, 5, 4, 3))
    with pytest.raises(ValueError, match="use_conv=False"):
        SpatialDownsample(filters=8, use_conv=False).build((1, 2, 4, 4, 3))
    with pytest.raises(ValueError, match="filters"):
        SpatialDownsample(filters=-1)

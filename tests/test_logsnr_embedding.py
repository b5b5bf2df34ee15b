import keras
import numpy as np
import pytest
from layer_test_utils import run_layer_test

from kvdm.layers import LogSNREmbedding


@pytest.mark.backends
@pytest.mark.parametrize(
    "init_kwargs",
    [
        {"embedding_dim": 16},
        {
            "embedding_dim": 12,
            "num_mlp_layers": 3,
            "frequency_dim": 6,
            "logsnr_min": -10.0,
            "logsnr_max": 10.0,
            "max_period": 100.0,
        },
    ],
)
def test_layer_basics(init_kwargs):
    run_layer_test(
        LogSNREmbedding,
        init_kwargs=init_kwargs,
        input_data=np.array([-20.0, -3.5, 0.0, 17.0], "float32"),
        expected_output_shape=(4, init_kwargs["embedding_dim"]),
        expected_num_trainable_weights=2 * init_kwargs.get("num_mlp_layers", 2),
    )


@pytest.mark.backends
def test_sinusoidal_features():
    layer = LogSNREmbedding(16, frequency_dim=8)
    logsnr = np.array([-20.0, 0.0, 20.0], "float32")
    features = keras.ops.convert_to_numpy(layer.sinusoidal_features(logsnr))
    assert features.shape == (3, 8)
    # [-20, 20] maps to [0, 1000]; frequencies 10000 ** (-i / 4).
    positions = (logsnr + 20.0) * 25.0
    angles = positions[:, None] * 10000.0 ** (-np.arange(4) / 4.0)[None]
    expected = np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)
    np.testing.assert_allclose(features, expected, atol=2e-3)


@pytest.mark.backends
def test_distinguishes_nearby_logsnr_under_mixed_precision():
    # 3.0 and 3.01 are the same number in bfloat16; the embedding must still
    # see the difference because the log-SNR is never cast down.
    layer = LogSNREmbedding(16, dtype="mixed_bfloat16")
    out = layer(np.array([3.0, 3.01], "float32"))
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    out = keras.ops.convert_to_numpy(keras.ops.cast(out, "float32"))
    assert np.abs(out[0] - out[1]).max() > 1e-3


def test_default_frequency_dim():
    layer = LogSNREmbedding(64)
    layer.build((None,))
    assert layer.dense_layers[0].kernel.shape == (16, 64)
    assert len(layer.dense_layers) == 2


def test_bad_arguments():
    with pytest.raises(ValueError, match="num_mlp_layers"):
        LogSNREmbedding(16, num_mlp_layers=0)
    with pytest.raises(ValueError, match="frequency_dim"):
        LogSNREmbedding(16, frequency_dim=5)
    with pytest.raises(ValueError, match="logsnr_min"):
        LogSNREmbedding(16, logsnr_min=5.0, logsnr_max=-5.0)
    with pytest.raises(ValueError, match="logsnr_shape"):
        LogSNREmbedding(16).build((2, 1, 1))

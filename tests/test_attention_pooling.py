import keras
import numpy as np
import pytest
from layer_test_utils import run_layer_test

from kvdm.layers import AttentionPooling


def test_layer_basics():
    run_layer_test(
        AttentionPooling,
        init_kwargs={"num_heads": 2, "output_dim": 6},
        input_shape=(3, 5, 8),
        expected_output_shape=(3, 6),
        # query, query projection (2), key/value projection (2), output (2).
        expected_num_trainable_weights=7,
    )


@pytest.mark.backends
def test_layer_basics_with_mask():
    mask = np.array([[1, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype="bool")
    run_layer_test(
        AttentionPooling,
        init_kwargs={"num_heads": 4},
        input_shape=(3, 4, 8),
        call_kwargs={"mask": mask},
        expected_output_shape=(3, 8),
    )


@pytest.mark.backends
def test_masked_tokens_are_ignored():
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(2, 6, 8)).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]], dtype="bool")
    layer = AttentionPooling(num_heads=2)
    base = keras.ops.convert_to_numpy(layer(tokens, mask=mask))
    changed = tokens.copy()
    changed[0, 3:] += 5.0
    changed[1, 5] -= 5.0
    out = keras.ops.convert_to_numpy(layer(changed, mask=mask))
    np.testing.assert_allclose(out, base, atol=1e-5)
    # Unmasked, the same change does alter the result.
    out = keras.ops.convert_to_numpy(layer(changed))
    assert np.abs(out - keras.ops.convert_to_numpy(layer(tokens))).max() > 1e-3
    # A mask of ones is the same as no mask.
    ones = np.ones((2, 6), dtype="bool")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(tokens, mask=ones)),
        keras.ops.convert_to_numpy(layer(tokens)),
        atol=1e-5,
    )


def test_padding_length_does_not_matter():
    rng = np.random.default_rng(1)
    tokens = rng.normal(size=(1, 3, 8)).astype("float32")
    padded = np.concatenate([tokens, rng.normal(size=(1, 4, 8))], axis=1)
    mask = np.array([[1, 1, 1, 0, 0, 0, 0]], dtype="bool")
    layer = AttentionPooling(num_heads=2)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(layer(padded.astype("float32"), mask=mask)),
        keras.ops.convert_to_numpy(layer(tokens)),
        atol=1e-5,
    )


def test_fully_masked_row_is_finite():
    tokens = np.random.default_rng(2).normal(size=(2, 4, 8)).astype("float32")
    mask = np.zeros((2, 4), dtype="bool")
    out = keras.ops.convert_to_numpy(AttentionPooling(num_heads=2)(tokens, mask=mask))
    assert np.all(np.isfinite(out))


def test_indivisible_dimension_raises():
    layer = AttentionPooling(num_heads=3)
    with pytest.raises(ValueError, match="num_heads=3"):
        layer.build((None, 4, 8))
    with pytest.raises(ValueError, match="output_dim"):
        AttentionPooling(output_dim=0)

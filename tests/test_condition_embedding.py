import keras
import numpy as np
import pytest
from layer_test_utils import run_layer_test

from kvdm.layers import ConditionEmbedding


def _numpy(x):
    return keras.ops.convert_to_numpy(keras.ops.cast(x, "float32"))


@pytest.mark.backends
def test_layer_basics_vector():
    run_layer_test(
        ConditionEmbedding,
        init_kwargs={
            "embedding_dim": 16,
            "num_mlp_layers": 3,
            "pooling_heads": 2,
            "null_initializer": "ones",
        },
        input_shape=(3, 8),
        expected_output_shape=(3, 16),
        # 3 dense layers (kernel, bias) and the null embedding.
        expected_num_trainable_weights=7,
    )


@pytest.mark.backends
def test_layer_basics_sequence():
    run_layer_test(
        ConditionEmbedding,
        init_kwargs={"embedding_dim": 16, "pooling_heads": 2},
        input_shape=(3, 5, 8),
        expected_output_shape=(3, 16),
    )


@pytest.mark.backends
@pytest.mark.parametrize("shape", [(4, 8), (4, 5, 8)])
def test_null_embedding_used_exactly_for_zero_rows(shape):
    rng = np.random.default_rng(0)
    condition = rng.normal(size=shape).astype("float32")
    condition[1] = 0.0
    condition[3] = 0.0
    # A single non-zero entry makes a row conditional.
    condition[2] = 0.0
    condition[2].reshape(-1)[-1] = 0.5
    layer = ConditionEmbedding(16, pooling_heads=2)
    out = _numpy(layer(condition))
    null = _numpy(layer.null_embedding)
    np.testing.assert_array_equal(out[1], null)
    np.testing.assert_array_equal(out[3], null)
    for row in (0, 2):
        assert np.abs(out[row] - null).max() > 1e-3
    # Conditional rows come from the MLP: they do not depend on other rows.
    alone = _numpy(layer(condition[:1]))
    np.testing.assert_allclose(alone[0], out[0], atol=1e-5)


@pytest.mark.backends
def test_zero_tokens_are_padding():
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(2, 3, 8)).astype("float32")
    padded = np.concatenate([tokens, np.zeros((2, 4, 8), "float32")], axis=1)
    layer = ConditionEmbedding(16, pooling_heads=2)
    np.testing.assert_allclose(
        _numpy(layer(padded)), _numpy(layer(tokens)), atol=1e-5
    )


@pytest.mark.backends
def test_null_rows_have_finite_gradients():
    from kvdm.utils.backend_utils import value_and_grad

    layer = ConditionEmbedding(8, pooling_heads=2)
    condition = np.zeros((2, 3, 4), "float32")
    condition[0] = 1.0
    layer.build(condition.shape)

    def loss(x):
        value = keras.ops.sum(layer(x) ** 2)
        return value, value

    condition = keras.ops.convert_to_tensor(condition)
    value, _, grad = value_and_grad(loss)(condition)
    assert np.isfinite(_numpy(value))
    assert np.all(np.isfinite(_numpy(grad)))


def test_rank_mismatch_and_bad_arguments():
    layer = ConditionEmbedding(8, pooling_heads=2)
    layer(np.ones((2, 4), "float32"))
    with pytest.raises(ValueError, match="vectors"):
        layer(np.ones((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="condition_shape"):
        ConditionEmbedding(8).build((2,))
    with pytest.raises(ValueError, match="num_mlp_layers"):
        ConditionEmbedding(8, num_mlp_layers=0)

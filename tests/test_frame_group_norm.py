import keras
import numpy as np
import pytest
from layer_test_utils import run_layer_test

from kvdm.layers import FrameGroupNormalization


@pytest.mark.backends
def test_layer_basics():
    run_layer_test(
        FrameGroupNormalization,
        init_kwargs={"groups": 2, "epsilon": 1e-4},
        input_shape=(2, 3, 4, 4, 8),
        expected_output_shape=(2, 3, 4, 4, 8),
        expected_num_trainable_weights=2,
    )


@pytest.mark.backends
def test_matches_per_frame_group_norm_reference():
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, size=(2, 3, 4, 5, 6)).astype("float32")
    layer = FrameGroupNormalization(groups=3)
    layer.build(x.shape)
    gamma = rng.normal(size=6).astype("float32")
    beta = rng.normal(size=6).astype("float32")
    layer.set_weights([gamma, beta])
    out = keras.ops.convert_to_numpy(layer(x))
    grouped = x.reshape(2, 3, 20, 3, 2)
    mean = grouped.mean(axis=(2, 4), keepdims=True)
    var = grouped.var(axis=(2, 4), keepdims=True)
    expected = ((grouped - mean) / np.sqrt(var + 1e-5)).reshape(x.shape)
    np.testing.assert_allclose(out, expected * gamma + beta, atol=1e-4)


@pytest.mark.backends
def test_frames_are_normalized_independently():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(1, 4, 3, 3, 4)).astype("float32")
    layer = FrameGroupNormalization(groups=2)
    base = keras.ops.convert_to_numpy(layer(x))
    changed = x.copy()
    changed[:, 2] = changed[:, 2] * 5.0 + 3.0 + rng.normal(size=(3, 3, 4))
    out = keras.ops.convert_to_numpy(layer(changed))
    assert np.abs(out[:, 2] - base[:, 2]).max() > 1e-2
    np.testing.assert_array_equal(out[:, [0, 1, 3]], base[:, [0, 1, 3]])


def test_statistics_in_float32_under_mixed_precision():
    # A large offset with a tiny spread: bfloat16 statistics would lose the
    # spread entirely.
    rng = np.random.default_rng(0)
    x = (100.0 + 0.1 * rng.normal(size=(1, 2, 4, 4, 4))).astype("float32")
    layer = FrameGroupNormalization(groups=1, dtype="mixed_bfloat16")
    out = keras.ops.convert_to_numpy(keras.ops.cast(layer(x), "float32"))
    assert np.all(np.isfinite(out))
    # Inputs are rounded to bfloat16 only after normalization: the output
    # still has unit variance per frame.
    np.testing.assert_allclose(out.reshape(2, -1).std(axis=1), 1.0, atol=0.02)


def test_bad_arguments():
    with pytest.raises(ValueError, match="groups"):
        FrameGroupNormalization(groups=0)
    with pytest.raises(ValueError, match="divisible"):
        FrameGroupNormalization(groups=3).build((2, 3, 4, 4, 8))
    with pytest.raises(ValueError, match="inputs_shape"):
        FrameGroupNormalization(groups=2).build((8,))


def _fused_against_composition(monkeypatch, loss, argument):
    """Values, outputs and gradients of `loss` with the fused path and the
    `keras.ops` composition must agree; returns both values and the
    gradient (numpy)."""
    from kvdm.utils import backend_utils

    grad_fn = backend_utils.value_and_grad(loss)
    value, out, grad = grad_fn(argument)
    with monkeypatch.context() as patch:
        patch.setattr(backend_utils, "fused_frame_group_norm",
                      lambda *args: None)
        ref_value, ref_out, ref_grad = grad_fn(argument)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(out),
                               keras.ops.convert_to_numpy(ref_out),
                               atol=1e-5)
    grad = keras.ops.convert_to_numpy(grad)
    np.testing.assert_allclose(grad, keras.ops.convert_to_numpy(ref_grad),
                               atol=1e-4)
    return value, ref_value, grad


@pytest.mark.backends
def test_fused_kernel_matches_composition_with_gradients(monkeypatch):
    # On PyTorch the layer runs a fused kernel, on TensorFlow the
    # composition with its own gradient; values and input gradients must be
    # those of the keras.ops composition (which JAX runs).
    rng = np.random.default_rng(1)
    x = rng.normal(1.0, 2.0, size=(2, 3, 5, 4, 8)).astype("float32")
    weights = keras.ops.convert_to_tensor(
        rng.normal(size=x.shape).astype("float32"))
    layer = FrameGroupNormalization(groups=4)
    layer.build(x.shape)
    layer.set_weights([rng.normal(size=8).astype("float32"),
                       rng.normal(size=8).astype("float32")])

    def loss(inputs):
        out = layer(inputs)
        return keras.ops.sum(out * weights), out

    value, ref_value, _ = _fused_against_composition(
        monkeypatch, loss, keras.ops.convert_to_tensor(x))
    assert float(value) == pytest.approx(float(ref_value), rel=1e-5)


@pytest.mark.backends
@pytest.mark.parametrize("center,scale", [(True, True), (False, True),
                                          (True, False)])
def test_fused_kernel_scale_and_offset_gradients(monkeypatch, center, scale):
    # The fused path (PyTorch's kernel, TensorFlow's own gradient) must give
    # the scale and offset the gradients of the composition too, with
    # either of them left out.
    rng = np.random.default_rng(2)
    x = keras.ops.convert_to_tensor(
        rng.normal(-1.0, 3.0, size=(2, 2, 3, 5, 6)).astype("float32"))
    weights = keras.ops.convert_to_tensor(
        rng.normal(size=(2, 2, 3, 5, 6)).astype("float32"))
    layer = FrameGroupNormalization(groups=3, center=center, scale=scale)
    layer.build(x.shape)
    values = [rng.normal(size=6).astype("float32")
              for _ in layer.trainable_weights]
    params = keras.ops.convert_to_tensor(np.concatenate(values))

    def loss(flat):
        parts = [flat[6 * i:6 * (i + 1)] for i in range(len(values))]
        out, _ = layer.stateless_call(parts, [], x)
        return keras.ops.sum(out * weights), out

    _, _, grad = _fused_against_composition(monkeypatch, loss, params)
    assert np.abs(grad).max() > 1e-2

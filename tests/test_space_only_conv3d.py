import keras
import numpy as np
import pytest
from layer_test_utils import run_layer_test

from kvdm.layers import SpaceOnlyConv3D


@pytest.mark.parametrize(
    "implementation",
    [pytest.param("conv2d", marks=pytest.mark.backends), "conv3d"],
)
def test_layer_basics(implementation):
    run_layer_test(
        SpaceOnlyConv3D,
        init_kwargs={"filters": 6, "implementation": implementation},
        input_shape=(2, 3, 8, 8, 4),
        expected_output_shape=(2, 3, 8, 8, 6),
        expected_num_trainable_weights=2,
    )


def test_strided_valid_output_shape():
    run_layer_test(
        SpaceOnlyConv3D,
        init_kwargs={
            "filters": 5, "kernel_size": (3, 1), "strides": 2,
            "padding": "valid", "use_bias": False,
        },
        input_shape=(1, 2, 9, 7, 3),
        expected_output_shape=(1, 2, 4, 4, 5),
        expected_num_trainable_weights=1,
        run_mixed_precision_check=False,
        run_saving_check=False,
    )


def test_kernel_shape_is_independent_of_implementation():
    for implementation in ("auto", "conv2d", "conv3d"):
        layer = SpaceOnlyConv3D(7, kernel_size=3, implementation=implementation)
        layer.build((None, 2, 5, 5, 4))
        assert tuple(layer.kernel.shape) == (3, 3, 4, 7)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"strides": 1, "padding": "same"},
        pytest.param(
            {"strides": 2, "padding": "same"}, marks=pytest.mark.backends
        ),
        {"strides": 2, "padding": "valid"},
    ],
)
def test_conv2d_and_conv3d_implementations_agree(kwargs):
    x = np.random.default_rng(0).normal(size=(2, 3, 9, 8, 4)).astype("float32")
    layer_2d = SpaceOnlyConv3D(5, implementation="conv2d", **kwargs)
    layer_3d = SpaceOnlyConv3D(5, implementation="conv3d", **kwargs)
    layer_2d.build(x.shape)
    layer_3d.build(x.shape)
    # Non-zero bias so that it is part of the comparison.
    kernel, bias = layer_2d.get_weights()
    layer_2d.set_weights([kernel, bias + 0.3])
    layer_3d.set_weights(layer_2d.get_weights())
    out_2d = keras.ops.convert_to_numpy(layer_2d(x))
    out_3d = keras.ops.convert_to_numpy(layer_3d(x))
    assert out_2d.shape == tuple(layer_2d.compute_output_shape(x.shape))
    np.testing.assert_allclose(out_2d, out_3d, atol=1e-5)


@pytest.mark.parametrize(
    "implementation",
    [pytest.param("conv2d", marks=pytest.mark.backends), "conv3d"],
)
def test_frames_are_processed_independently(implementation):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 4, 6, 6, 3)).astype("float32")
    layer = SpaceOnlyConv3D(4, implementation=implementation)
    base = keras.ops.convert_to_numpy(layer(x))
    changed = x.copy()
    changed[:, 2] += rng.normal(size=changed[:, 2].shape).astype("float32")
    out = keras.ops.convert_to_numpy(layer(changed))
    diff = np.abs(out - base).max(axis=(0, 2, 3, 4))
    assert diff[2] > 1e-3
    np.testing.assert_array_equal(diff[[0, 1, 3]], 0.0)


def test_each_frame_is_a_2d_convolution():
    x = np.random.default_rng(2).normal(size=(1, 2, 5, 5, 3)).astype("float32")
    layer = SpaceOnlyConv3D(4, use_bias=False)
    out = keras.ops.convert_to_numpy(layer(x))
    kernel = keras.ops.convert_to_numpy(layer.kernel)
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1), (0, 0)))
    expected = np.zeros_like(out)
    for i in range(5):
        for j in range(5):
            patch = padded[:, :, i:i + 3, j:j + 3, :]
            expected[:, :, i, j] = np.einsum("btijc,ijcf->btf", patch, kernel)
    np.testing.assert_allclose(out, expected, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": 0}, "filters"),
        ({"filters": 4, "padding": "causal"}, "padding"),
        ({"filters": 4, "implementation": "fft"}, "implementation"),
        ({"filters": 4, "kernel_size": (3, 3, 3)}, "kernel_size"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SpaceOnlyConv3D(**kwargs)


@pytest.mark.backends
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("kernel_size", [(3, 3), (1, 1), (3, 5)])
def test_copy_free_conv_matches_keras_conv_with_gradients(padding, kernel_size):
    # On PyTorch, stride-1 convolutions skip keras.ops.conv's layout copies;
    # values and the gradients for the images and the kernel must not change.
    from kvdm.utils import backend_utils

    rng = np.random.default_rng(0)
    images = keras.ops.convert_to_tensor(
        rng.normal(size=(3, 7, 6, 4)).astype("float32"))
    kernel = keras.ops.convert_to_tensor(
        rng.normal(size=(*kernel_size, 4, 5)).astype("float32"))
    out_shape = keras.ops.shape(keras.ops.conv(images, kernel, padding=padding))
    weights = keras.ops.convert_to_tensor(
        rng.normal(size=out_shape).astype("float32"))

    def fast(conv_images, conv_kernel):
        out = backend_utils.channels_last_conv2d(conv_images, conv_kernel, padding)
        if out is None:  # backends without the copy-free path
            out = keras.ops.conv(conv_images, conv_kernel, padding=padding)
        return out

    def reference(conv_images, conv_kernel):
        return keras.ops.conv(conv_images, conv_kernel, padding=padding)

    for conv in (fast, reference):
        by_images = backend_utils.value_and_grad(
            lambda x, conv=conv: (keras.ops.sum(conv(x, kernel) * weights),
                                  conv(x, kernel)))
        by_kernel = backend_utils.value_and_grad(
            lambda k, conv=conv: (keras.ops.sum(conv(images, k) * weights),
                                  conv(images, k)))
        _, out, image_grad = by_images(images)
        _, _, kernel_grad = by_kernel(kernel)
        results = [keras.ops.convert_to_numpy(t)
                   for t in (out, image_grad, kernel_grad)]
        if conv is fast:
            fast_results = results
    for got, want in zip(fast_results, results):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)

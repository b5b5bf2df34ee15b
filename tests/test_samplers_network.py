"""Every sampler and conditioning method with a small VideoUNet."""

import numpy as np
import pytest
from keras import ops

from kvdm.models import VideoUNet
from kvdm.samplers import get_sampler
from kvdm.samplers import sample
from kvdm.samplers import upsample

SHAPE = (2, 3, 8, 8, 1)


@pytest.fixture(scope="module")
def unet():
    # The tiny preset with one resolution level: what these tests check
    # does not depend on the depth, and JAX compiles a third less.
    network = VideoUNet.from_preset(
        "tiny", out_channels=1, condition_dim=4, channel_multipliers=[1],
        attention_resolutions=[8], num_mlp_layers=1,
    )
    network(
        ops.zeros(SHAPE), ops.zeros((SHAPE[0],)), condition=ops.zeros((SHAPE[0], 4))
    )
    return network


@pytest.mark.backends
@pytest.mark.parametrize(
    "name, method, guidance_weight",
    [
        ("ancestral", "replacement", 1.5),
        ("ddim", "reconstruction_guidance", 0.0),
    ],
)
def test_samplers_run_with_a_network(unet, name, method, guidance_weight):
    context = np.random.default_rng(0).uniform(-1, 1, size=(2, 1, 8, 8, 1)).astype("float32")
    condition = np.ones((2, 4), "float32")
    sampler = get_sampler(
        name, num_steps=2, conditioning=method, guidance_weight=guidance_weight,
        clip_denoised=True, progress=False,
    )
    first = sampler(unet, SHAPE, prediction_type="eps", condition=condition, context=context, seed=0)
    second = sampler(unet, SHAPE, prediction_type="eps", condition=condition, context=context, seed=0)
    first, second = ops.convert_to_numpy(first), ops.convert_to_numpy(second)
    assert first.shape == SHAPE
    np.testing.assert_allclose(first, second, atol=1e-6)
    np.testing.assert_allclose(first[:, :1], context, atol=1e-6)
    assert np.all(np.abs(first) <= 1.0)


@pytest.mark.backends
def test_super_resolution_with_a_network(unet):
    # A fresh VideoUNet predicts v = 0 (its output convolution starts at
    # zero), so x_hat(z) = alpha z and the gradient of equation 8 through the
    # network is exact: x_tilde = x_hat + w_r alpha^2 D^T (y - D x_hat),
    # where D averages 2x2 blocks and D D^T = I / 4. The last step is at
    # t = 1/2 (log-SNR 0, alpha^2 = 1/2), so with w_r = 8 the output's block
    # averages equal the low-resolution video y exactly.
    low = np.random.default_rng(0).uniform(-1, 1, size=(1, 3, 4, 4, 1)).astype("float32")
    video = upsample(unet, low, spatial_factor=2, num_steps=2, prediction_type="v",
                     reconstruction_weight=8.0, condition=np.zeros((1, 4), "float32"),
                     seed=0, progress=False)
    video = ops.convert_to_numpy(video)
    assert video.shape == (1, 3, 8, 8, 1)
    blocks = video.reshape(1, 3, 4, 2, 4, 2, 1).mean(axis=(3, 5))
    np.testing.assert_allclose(blocks, low, atol=1e-5)
    # Only the block averages are imposed: the detail within each block is
    # the model's noise-driven estimate, not a copy of y.
    detail = video - np.repeat(np.repeat(blocks, 2, axis=2), 2, axis=3)
    assert np.std(detail) > 0.1


@pytest.mark.backends
def test_sampler_reads_updated_weights(unet):
    # The compiled loop takes the weights as arguments: new weights are used.
    sampler = get_sampler("ddim", num_steps=1, progress=False)
    condition = np.zeros((2, 4), "float32")
    before = ops.convert_to_numpy(sampler(unet, SHAPE, prediction_type="x", condition=condition, seed=0))
    kernel = unet.trainable_weights[-1]
    original = ops.convert_to_numpy(kernel)
    kernel.assign(original + 0.5)
    after = ops.convert_to_numpy(sampler(unet, SHAPE, prediction_type="x", condition=condition, seed=0))
    kernel.assign(original)
    assert not np.allclose(before, after)

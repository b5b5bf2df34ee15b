import keras
import numpy as np
import pytest
from keras import ops

from kvdm.diffusion import VideoDiffusion
from kvdm.diffusion.noise import frame_correlated_normal
from kvdm.diffusion.noise import noise_correlation_of
from kvdm.samplers import sample


def _frame_correlation(noise, first, second):
    a = noise[:, first].reshape(-1)
    b = noise[:, second].reshape(-1)
    return np.corrcoef(a, b)[0, 1]


@pytest.mark.backends
def test_frames_share_the_given_correlation():
    shape = (64, 5, 8, 8, 2)
    noise = ops.convert_to_numpy(
        frame_correlated_normal(shape, 0.7, seed=1, num_image_frames=2)
    )
    assert noise.shape == shape
    # Standard normal entries (40,960 values: +-0.02 is 3 standard errors).
    np.testing.assert_allclose(noise.std(), 1.0, atol=0.02)
    np.testing.assert_allclose(noise.mean(), 0.0, atol=0.02)
    for first, second in ((0, 1), (0, 2), (1, 2)):
        np.testing.assert_allclose(_frame_correlation(noise, first, second), 0.7, atol=0.03)
    # Image frames: independent of the video and of each other.
    for first, second in ((0, 3), (2, 4), (3, 4)):
        assert abs(_frame_correlation(noise, first, second)) < 0.03


def test_zero_correlation_is_the_plain_draw():
    shape = (2, 3, 4, 4, 1)
    plain = keras.random.normal(shape, seed=keras.random.SeedGenerator(5))
    mixed = frame_correlated_normal(shape, 0.0, seed=keras.random.SeedGenerator(5))
    np.testing.assert_array_equal(ops.convert_to_numpy(mixed), ops.convert_to_numpy(plain))
    for bad in (1.0, -0.1, "0.5"):
        with pytest.raises(ValueError, match="noise_correlation"):
            frame_correlated_normal(shape, bad)
    with pytest.raises(ValueError, match="shape"):
        frame_correlated_normal((2, 4, 4, 1), 0.5)


class Identity(keras.layers.Layer):
    """`x` prediction `x_hat = z`: a sample is the sampler's initial noise."""

    def call(self, z_t, logsnr, condition=None, num_image_frames=0, training=None):
        return z_t


def test_training_noise_and_sampler_noise_follow_the_model():
    model = VideoDiffusion(Identity(), prediction_type="eps", noise_correlation=0.8, seed=0)
    assert noise_correlation_of(model) == 0.8
    assert noise_correlation_of(model.denoise) == 0.8
    assert noise_correlation_of(lambda z, logsnr, condition: z) == 0.0
    # eps-prediction: the training target is the noise itself.
    out = model(np.zeros((32, 4, 8, 8, 1), "float32"), training=True)
    eps = ops.convert_to_numpy(out["target"])
    np.testing.assert_allclose(_frame_correlation(eps, 0, 3), 0.8, atol=0.05)
    assert model.get_config()["noise_correlation"] == 0.8

    model = VideoDiffusion(Identity(), prediction_type="x", noise_correlation=0.6, seed=0)
    videos = ops.convert_to_numpy(
        sample(model, (32, 4, 8, 8, 1), sampler="ddim", num_steps=1, seed=3, progress=False)
    )
    np.testing.assert_allclose(_frame_correlation(videos, 1, 2), 0.6, atol=0.05)
    plain = VideoDiffusion(Identity(), prediction_type="x", seed=0)
    videos = ops.convert_to_numpy(
        sample(plain, (32, 4, 8, 8, 1), sampler="ddim", num_steps=1, seed=3, progress=False)
    )
    assert abs(_frame_correlation(videos, 1, 2)) < 0.05
    with pytest.raises(ValueError, match="noise_correlation"):
        VideoDiffusion(Identity(), noise_correlation=1.0)


def test_step_noise_of_samplers_is_correlated():
    """The noise of ancestral and Langevin steps comes from `normal`."""
    from kvdm.samplers.guided_denoiser import GuidedDenoiser

    guided = GuidedDenoiser(
        lambda z, logsnr, condition: z, "x", {}, keras.random.SeedGenerator(0),
        noise_correlation=0.5,
    )
    noise = ops.convert_to_numpy(guided.normal(ops.zeros((64, 4, 8, 8, 1))))
    np.testing.assert_allclose(_frame_correlation(noise, 0, 3), 0.5, atol=0.05)

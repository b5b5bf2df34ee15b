"""get_sampler, sample() and the long-video drivers."""

import numpy as np
import pytest
from keras import ops

from kvdm.samplers import AncestralSampler
from kvdm.samplers import DDIMSampler
from kvdm.samplers import extend
from kvdm.samplers import get_sampler
from kvdm.samplers import interpolate
from kvdm.samplers import predict
from kvdm.samplers import sample
from kvdm.samplers import upsample
from sampler_test_case import GaussianOracle
from sampler_test_case import ar1_covariance


def oracle(frames, height=1, width=1, prediction_type="eps"):
    size = frames * height * width
    return GaussianOracle(ar1_covariance(size, 0.8), (frames, height, width, 1), prediction_type)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: get_sampler("euler"), "Received: sampler='euler'"),
        (lambda: get_sampler("ancestral", num_steps=0), "Received: num_steps=0"),
        (lambda: get_sampler("ddim", num_steps=2.5), "Received: num_steps=2.5"),
        (lambda: get_sampler("ancestral", conditioning="inpaint"), "Received: conditioning='inpaint'"),
        (lambda: get_sampler("ancestral", guidance_weight="high"), "Received: guidance_weight='high'"),
        (lambda: get_sampler("ancestral", reconstruction_weight=None), "Received: reconstruction_weight=None"),
        (lambda: get_sampler("ddim", gamma=0.5), "Received: kwargs="),
        (lambda: sample(oracle(4), (2, 4, 1, 1, 1), guidance_weight=[1]), "Received: guidance_weight=\\[1\\]"),
    ],
)
def test_clear_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_errors_for_inputs_that_do_not_fit():
    sampler = AncestralSampler(num_steps=2, progress=False)
    denoiser = oracle(4)
    with pytest.raises(ValueError, match="Received: context.shape=\\(1, 5, 1, 1, 1\\)"):
        sampler(denoiser, (2, 4, 1, 1, 1), context=np.zeros((1, 5, 1, 1, 1)))
    with pytest.raises(ValueError, match="Received: context.shape=\\(1, 2, 3, 1, 1\\)"):
        sampler(denoiser, (2, 4, 1, 1, 1), context=np.zeros((1, 2, 3, 1, 1)))
    with pytest.raises(ValueError, match="Received: context_mask.shape=\\(1, 3\\)"):
        sampler(denoiser, (2, 4, 1, 1, 1), context=np.zeros((1, 4, 1, 1, 1)), context_mask=[1, 0, 0])
    with pytest.raises(ValueError, match="Received: conditioning='replacement'"):
        sampler(denoiser, (2, 4, 1, 1, 1), low_res=np.zeros((1, 4, 1, 1, 1)))
    with pytest.raises(ValueError, match="Received: prediction_type=None"):
        sampler(lambda z, l, c: z, (2, 4, 1, 1, 1))
    with pytest.raises(ValueError, match="Received: shape="):
        sampler(denoiser, (2, 4, 1, 1))
    with pytest.raises(ValueError, match="Received: condition=None"):
        AncestralSampler(guidance_weight=1.0, progress=False)(denoiser, (2, 4, 1, 1, 1))
    with pytest.raises(ValueError, match="Received: num_frames=3"):
        predict(denoiser, np.zeros((1, 3, 1, 1, 1)), num_frames=3)
    with pytest.raises(ValueError, match="Received: overlap=4"):
        extend(denoiser, np.zeros((1, 4, 1, 1, 1)), num_frames=8, overlap=4)
    with pytest.raises(ValueError, match="Received: window_frames=2"):
        interpolate(denoiser, np.zeros((1, 3, 1, 1, 1)), factor=2, window_frames=2)


def test_get_sampler_from_name_config_and_instance():
    sampler = get_sampler("predictor_corrector", num_steps=7, delta=0.2)
    assert sampler.num_steps == 7 and sampler.delta == 0.2
    again = get_sampler({"name": "predictor_corrector", **sampler.get_config()})
    assert again.get_config() == sampler.get_config()
    assert get_sampler(sampler) is sampler


@pytest.mark.backends
def test_sample_convenience():
    denoiser = oracle(4, prediction_type="v")
    first = sample(denoiser, (3, 4, 1, 1, 1), sampler="ddim", num_steps=5, seed=1, progress=False)
    second = sample(denoiser, (3, 4, 1, 1, 1), sampler="ddim", num_steps=5, seed=1, progress=False)
    np.testing.assert_array_equal(ops.convert_to_numpy(first), ops.convert_to_numpy(second))
    sampler = DDIMSampler(num_steps=5, progress=False)
    third = sampler(denoiser, (3, 4, 1, 1, 1), seed=1)
    np.testing.assert_array_equal(ops.convert_to_numpy(first), ops.convert_to_numpy(third))


@pytest.mark.backends
def test_one_sampler_serves_several_batch_sizes():
    # The compiled loop is cached per batch size: a call with another batch
    # compiles anew, and each batch gives what a fresh sampler gives.
    denoiser = oracle(4)
    sampler = DDIMSampler(num_steps=3, progress=False)
    for batch in (2, 5, 2):
        video = sampler(denoiser, (batch, 4, 1, 1, 1), seed=3)
        fresh = DDIMSampler(num_steps=3, progress=False)(denoiser, (batch, 4, 1, 1, 1), seed=3)
        np.testing.assert_array_equal(ops.convert_to_numpy(video), ops.convert_to_numpy(fresh))


@pytest.mark.backends
def test_predict_keeps_the_context():
    context = np.full((2, 2, 1, 1, 1), 0.7, "float32")
    video = ops.convert_to_numpy(
        predict(oracle(5), context, num_frames=5, num_steps=4, seed=0, progress=False)
    )
    assert video.shape == (2, 5, 1, 1, 1)
    np.testing.assert_allclose(video[:, :2], context)


@pytest.mark.backends
def test_extend_to_any_length():
    start = np.random.default_rng(0).normal(size=(2, 4, 1, 1, 1)).astype("float32")
    video = ops.convert_to_numpy(
        extend(oracle(4), start, num_frames=11, overlap=2, num_steps=4, seed=0, progress=False)
    )
    assert video.shape == (2, 11, 1, 1, 1)
    np.testing.assert_allclose(video[:, :4], start)
    assert np.all(np.isfinite(video))


@pytest.mark.backends
def test_interpolate_keeps_key_frames():
    keys = np.random.default_rng(1).normal(size=(2, 4, 1, 1, 1)).astype("float32")
    video = ops.convert_to_numpy(
        interpolate(oracle(5), keys, factor=2, window_frames=5, num_steps=4, seed=0, progress=False)
    )
    assert video.shape == (2, 7, 1, 1, 1)
    np.testing.assert_allclose(video[:, ::2], keys)


@pytest.mark.backends
def test_upsample_matches_the_low_resolution():
    rng = np.random.default_rng(2)
    low = rng.normal(size=(2, 3, 1, 1, 1)).astype("float32") * 0.5
    video = ops.convert_to_numpy(
        upsample(oracle(3, 2, 2), low, spatial_factor=2, window_frames=3, num_steps=30,
                 reconstruction_weight=10.0, seed=0, progress=False)
    )
    assert video.shape == (2, 3, 2, 2, 1)
    np.testing.assert_allclose(video.mean(axis=(2, 3)), low.reshape(2, 3, 1), atol=0.2)
    # With a lower frame rate and windows shorter than the video.
    longer = ops.convert_to_numpy(
        upsample(oracle(3, 2, 2), low, spatial_factor=2, temporal_factor=2,
                 window_frames=3, overlap=1, num_steps=30, reconstruction_weight=10.0,
                 seed=0, progress=False)
    )
    assert longer.shape == (2, 5, 2, 2, 1)
    np.testing.assert_allclose(longer[:, ::2].mean(axis=(2, 3)), low.reshape(2, 3, 1), atol=0.2)


@pytest.mark.backends
def test_neighbouring_seeds_draw_independent_noise():
    # On PyTorch, Keras seeds draw k of SeedGenerator(s) with s + k: without
    # spreading the seeds, seed 1's noise would be seed 0's shifted by one.
    def shrink(z, logsnr, condition=None):
        return 0.5 * z

    sampler = get_sampler("ancestral", num_steps=8, progress=False)
    samples = [
        ops.convert_to_numpy(
            sampler(shrink, (64, 4, 8, 8, 1), prediction_type="x", seed=seed)
        ).reshape(-1)
        for seed in range(4)
    ]
    for first in range(4):
        for second in range(first + 1, 4):
            correlation = np.corrcoef(samples[first], samples[second])[0, 1]
            assert abs(correlation) < 0.05, (first, second, correlation)

"""Guidance and conditioning checked against exact Gaussian answers."""

import numpy as np
import pytest
from keras import ops

from kvdm.diffusion import alpha_sigma
from kvdm.samplers import AncestralSampler
from kvdm.samplers import PredictorCorrectorSampler
from kvdm.samplers import apply_classifier_free_guidance
from kvdm.samplers import average_downsample
from kvdm.samplers import bilinear_downsample
from kvdm.samplers import classifier_free_guidance
from kvdm.samplers import get_sampler
from kvdm.samplers import reconstruction_guidance
from sampler_test_case import GaussianOracle
from sampler_test_case import ar1_covariance
from sampler_test_case import empirical_kl
from sampler_test_case import flatten_samples

NUM_SAMPLES = 20000


class CountingDenoiser:
    """`eps = z * (1 + sum(c)) + 0.1 logsnr`; counts calls and batch sizes."""

    prediction_type = "eps"

    def __init__(self):
        self.batches = []

    def __call__(self, z, logsnr, condition):
        self.batches.append(int(z.shape[0]))
        scale = 1.0 + ops.sum(condition, axis=-1)
        return z * ops.reshape(scale, (-1, 1, 1, 1, 1)) + 0.1 * ops.reshape(
            logsnr, (-1, 1, 1, 1, 1)
        )


@pytest.mark.backends
class TestClassifierFreeGuidance:
    def test_matches_equation_6_in_one_batched_call(self):
        rng = np.random.default_rng(0)
        z = rng.normal(size=(3, 2, 2, 2, 1)).astype("float32")
        logsnr = np.array([-1.0, 0.5, 2.0], "float32")
        condition = rng.normal(size=(3, 4)).astype("float32")
        w = 1.5
        denoiser = CountingDenoiser()
        got = ops.convert_to_numpy(
            apply_classifier_free_guidance(denoiser, z, logsnr, condition, w)
        )
        assert denoiser.batches == [6]
        l = logsnr.reshape(-1, 1, 1, 1, 1)
        conditional = z * (1 + condition.sum(-1)).reshape(-1, 1, 1, 1, 1) + 0.1 * l
        unconditional = z + 0.1 * l
        np.testing.assert_allclose(
            got, (1 + w) * conditional - w * unconditional, rtol=1e-5, atol=1e-5
        )

    def test_wrapper_and_sampler_apply_the_same_guidance(self):
        denoiser = CountingDenoiser()
        condition = np.full((4, 3), 0.2, "float32")
        shape = (4, 3, 2, 2, 1)
        guided = classifier_free_guidance(denoiser, 2.0)
        by_wrapper = AncestralSampler(num_steps=4, progress=False)(
            guided, shape, prediction_type="eps", condition=condition, seed=1
        )
        by_sampler = AncestralSampler(num_steps=4, guidance_weight=2.0, progress=False)(
            denoiser, shape, condition=condition, seed=1
        )
        plain = AncestralSampler(num_steps=4, progress=False)(
            denoiser, shape, condition=condition, seed=1
        )
        np.testing.assert_allclose(
            ops.convert_to_numpy(by_wrapper), ops.convert_to_numpy(by_sampler), atol=1e-5
        )
        assert not np.allclose(ops.convert_to_numpy(plain), ops.convert_to_numpy(by_sampler))

    def test_rejects_non_numeric_weight(self):
        with pytest.raises(ValueError, match="Received: guidance_weight='2'"):
            classifier_free_guidance(CountingDenoiser(), "2")


@pytest.mark.backends
class TestReconstructionGuidanceFunction:
    @pytest.mark.parametrize("prediction_type", ["eps", "v", "x"])
    def test_matches_closed_form_gradient(self, prediction_type):
        # For the Gaussian oracle x_hat = M z with M symmetric, so
        # grad_z ||m (x^a - M z)||^2 = -2 M m (x^a - M z) and equation 7 is
        # x_tilde = M z + w alpha M m (x^a - M z).
        frames = 5
        oracle = GaussianOracle(ar1_covariance(frames), (frames, 1, 1, 1), prediction_type)
        rng = np.random.default_rng(1)
        z = rng.normal(size=(2, frames, 1, 1, 1)).astype("float32")
        logsnr = np.array([-1.0, 1.5], "float32")
        context = rng.normal(size=(2, frames, 1, 1, 1)).astype("float32")
        mask = np.array([[1, 1, 0, 0, 0]] * 2, "float32")
        weight = 2.0
        x_tilde, eps_tilde = reconstruction_guidance(
            oracle, prediction_type, z, logsnr, None, weight,
            context=context, context_mask=mask,
        )
        s = oracle.covariance
        for row in range(2):
            a2 = 1 / (1 + np.exp(-logsnr[row]))
            alpha, sigma = np.sqrt(a2), np.sqrt(1 - a2)
            m = alpha * s @ np.linalg.inv(a2 * s + (1 - a2) * np.eye(frames))
            zr = z[row].reshape(-1)
            residual = mask[row] * (context[row].reshape(-1) - m @ zr)
            expected = m @ zr + weight * alpha * m @ residual
            np.testing.assert_allclose(
                ops.convert_to_numpy(x_tilde)[row].reshape(-1), expected, atol=2e-4
            )
            np.testing.assert_allclose(
                ops.convert_to_numpy(eps_tilde)[row].reshape(-1),
                (zr - alpha * expected) / sigma,
                atol=2e-4,
            )

    def test_downsampling_is_linear_and_differentiable_shape(self):
        video = np.arange(2 * 3 * 4 * 4 * 1, dtype="float32").reshape(2, 3, 4, 4, 1)
        pooled = ops.convert_to_numpy(average_downsample(video, (2, 2)))
        np.testing.assert_allclose(
            pooled, video.reshape(2, 3, 2, 2, 2, 2, 1).mean(axis=(3, 5))
        )
        bilinear = ops.convert_to_numpy(bilinear_downsample(video, (2, 2)))
        assert bilinear.shape == (2, 3, 2, 2, 1)
        np.testing.assert_allclose(bilinear, pooled, atol=1e-4)


def _prediction_problem():
    frames, known = 6, 2
    oracle = GaussianOracle(ar1_covariance(frames), (frames, 1, 1, 1), "eps")
    observed = np.array([0.5, 1.0])
    mean, covariance = oracle.conditional(np.eye(frames)[:known], observed)
    context = np.zeros((1, frames, 1, 1, 1), "float32")
    context[0, :known, 0, 0, 0] = observed
    mask = np.array([1.0] * known + [0.0] * (frames - known), "float32")
    return oracle, context, mask, mean[known:], covariance[known:, known:], known


def _conditional_kl(sampler, oracle, context, mask, mean, covariance, known):
    shape = (NUM_SAMPLES,) + (len(mask), 1, 1, 1)
    samples = flatten_samples(sampler(oracle, shape, context=context, context_mask=mask, seed=0))
    np.testing.assert_allclose(samples[:, :known], np.broadcast_to(context.reshape(-1)[:known], (NUM_SAMPLES, known)))
    return empirical_kl(samples[:, known:], mean, covariance)


# Long statistics: on JAX and PyTorch in the slow pass only.
@pytest.mark.backends_slow
def test_reconstruction_guidance_beats_replacement():
    problem = _prediction_problem()
    kls = {}
    for method in ("replacement", "replacement_conditional"):
        sampler = get_sampler("ancestral", num_steps=100, conditioning=method, progress=False)
        kls[method] = _conditional_kl(sampler, *problem)
    for weight in (1.0, 2.0, 5.0, 10.0):
        sampler = get_sampler(
            "ancestral", num_steps=100, conditioning="reconstruction_guidance",
            reconstruction_weight=weight, progress=False,
        )
        kls[f"reconstruction_guidance w_r={weight:g}"] = _conditional_kl(sampler, *problem)
    print("KL(samples || p(x^b | x^a)), ancestral, 100 steps:")
    for name, value in kls.items():
        print(f"  {name}: {value:.4f}")
    replacement = min(kls["replacement"], kls["replacement_conditional"])
    for weight in (1.0, 2.0, 5.0, 10.0):
        assert kls[f"reconstruction_guidance w_r={weight:g}"] < replacement / 1.5
    best = min(kls[f"reconstruction_guidance w_r={w:g}"] for w in (2.0, 5.0))
    assert best < replacement / 4


# Long statistics: on JAX and PyTorch in the slow pass only.
@pytest.mark.backends_slow
def test_reconstruction_guidance_with_predictor_corrector():
    problem = _prediction_problem()
    kls = {}
    for method, weight in (("replacement", 1.0), ("reconstruction_guidance", 2.0)):
        sampler = PredictorCorrectorSampler(
            num_steps=60, conditioning=method, reconstruction_weight=weight, progress=False
        )
        kls[method] = _conditional_kl(sampler, *problem)
    print("predictor-corrector KL:", kls)
    assert kls["reconstruction_guidance"] < kls["replacement"] / 4


def _super_resolution_problem(frames=2, known_frames=0):
    size = frames * 4
    rng = np.random.default_rng(0)
    factor = rng.normal(size=(size, size)) / np.sqrt(size)
    oracle = GaussianOracle(factor @ factor.T + 0.1 * np.eye(size), (frames, 2, 2, 1), "v")
    # Low-resolution view: the 2x2 average of each frame.
    low_rows = np.stack([np.kron(np.eye(frames)[t], np.full(4, 0.25)) for t in range(frames)])
    # Known frames are observed exactly; their low-resolution rows add nothing.
    rows = [np.eye(size)[i] for i in range(known_frames * 4)] + list(low_rows[known_frames:])
    observation_matrix = np.stack(rows)
    x_true = np.linalg.cholesky(oracle.covariance) @ rng.normal(size=size)
    observed = observation_matrix @ x_true
    mean, covariance = oracle.conditional(observation_matrix, observed)
    _, _, vt = np.linalg.svd(observation_matrix)
    null = vt[len(observation_matrix):].T  # orthonormal basis of the null space
    low_res = (low_rows @ x_true).reshape(1, frames, 1, 1, 1).astype("float32")
    context = x_true.reshape(1, frames, 2, 2, 1).astype("float32")
    return oracle, low_res, context, null, null.T @ mean, null.T @ covariance @ null, observation_matrix, observed


# Long statistics: on JAX and PyTorch in the slow pass only.
@pytest.mark.backends_slow
def test_super_resolution_guidance():
    oracle, low_res, _, null, mean, covariance, matrix, observed = _super_resolution_problem()
    kls = {}
    for weight in (0.0, 5.0, 10.0):
        sampler = get_sampler(
            "ancestral", num_steps=60, conditioning="reconstruction_guidance",
            reconstruction_weight=weight, progress=False,
        )
        samples = flatten_samples(sampler(oracle, (NUM_SAMPLES, 2, 2, 2, 1), low_res=low_res, seed=0))
        kls[weight] = empirical_kl(samples @ null, mean, covariance)
        if weight >= 5.0:
            np.testing.assert_allclose((samples @ matrix.T).mean(0), observed, atol=0.05)
    print("super-resolution KL(samples || p(x | A x)) by w_r:", kls)
    assert kls[10.0] < kls[0.0] / 20
    assert kls[5.0] < kls[0.0] / 5


# Long statistics: on JAX and PyTorch in the slow pass only.
@pytest.mark.backends_slow
def test_super_resolution_with_known_frames():
    # Temporal extension and low resolution at once: frame 0 is known at high
    # resolution, every frame at low resolution.
    oracle, low_res, context, null, mean, covariance, matrix, observed = _super_resolution_problem(
        frames=3, known_frames=1
    )
    mask = np.array([1.0, 0.0, 0.0], "float32")
    kls = {}
    for weight in (0.0, 5.0):
        sampler = get_sampler(
            "ancestral", num_steps=60, conditioning="reconstruction_guidance",
            reconstruction_weight=weight, progress=False,
        )
        samples = flatten_samples(
            sampler(oracle, (NUM_SAMPLES, 3, 2, 2, 1), low_res=low_res,
                    context=context, context_mask=mask, seed=0)
        )
        np.testing.assert_allclose(samples[:, :4], np.broadcast_to(context.reshape(-1)[:4], (NUM_SAMPLES, 4)), atol=1e-6)
        kls[weight] = empirical_kl(samples @ null, mean, covariance)
    print("known frame + low resolution KL by w_r:", kls)
    assert kls[5.0] < kls[0.0] / 5


@pytest.mark.backends
@pytest.mark.parametrize("method", ["replacement", "replacement_conditional", "reconstruction_guidance"])
@pytest.mark.parametrize("name", ["ancestral", "predictor_corrector", "ddim"])
def test_every_sampler_with_every_conditioning(name, method):
    oracle, context, mask, *_ = _prediction_problem()
    sampler = get_sampler(name, num_steps=6, conditioning=method, progress=False)
    first = sampler(oracle, (8, 6, 1, 1, 1), context=context, context_mask=mask, seed=2)
    second = sampler(oracle, (8, 6, 1, 1, 1), context=context, context_mask=mask, seed=2)
    first, second = ops.convert_to_numpy(first), ops.convert_to_numpy(second)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first[:, :2].reshape(8, 2), np.broadcast_to([0.5, 1.0], (8, 2)))
    assert np.all(np.isfinite(first))

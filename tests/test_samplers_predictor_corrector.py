import math

import numpy as np
import pytest
from keras import ops

from kvdm.diffusion import CosineSchedule
from kvdm.diffusion import alpha_sigma
from kvdm.samplers import AncestralSampler
from kvdm.samplers import PredictorCorrectorSampler
from sampler_test_case import SamplerTestMixin
from sampler_test_case import covariance_error


def _sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def predictor_corrector_covariance(covariance, num_steps, num_corrector_steps, delta):
    """The exact output covariance of the sampler on `N(0, covariance)` data.

    With the exact (linear) denoiser every update is linear in the latent
    plus independent noise, so each eigen-direction of the covariance (with
    eigenvalue `e`, `x_hat = c z`, `c = alpha e / (alpha^2 e + sigma^2)`)
    carries a variance that follows a scalar recursion: the ancestral step
    (equation 4, gamma = 0) and `num_corrector_steps` Langevin steps
    (equation 5) per step, then the final `x_hat`.
    """
    schedule = CosineSchedule()
    logsnrs = [
        float(ops.convert_to_numpy(schedule(1.0 - i / num_steps)))
        for i in range(num_steps)
    ]

    def coefficients(logsnr, e):
        alpha, sigma = math.sqrt(_sigmoid(logsnr)), math.sqrt(_sigmoid(-logsnr))
        return alpha, sigma, alpha * e / (alpha**2 * e + sigma**2)

    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    variances = []
    for e in eigenvalues:
        variance = 1.0
        for logsnr_t, logsnr_s in zip(logsnrs[:-1], logsnrs[1:]):
            alpha_t, _, c_t = coefficients(logsnr_t, e)
            alpha_s, sigma_s, c_s = coefficients(logsnr_s, e)
            ratio = math.exp(logsnr_t - logsnr_s)
            gain = ratio * alpha_s / alpha_t + (1 - ratio) * alpha_s * c_t
            variance = gain**2 * variance + (1 - ratio) * sigma_s**2
            # eps_hat = (1 - alpha_s c_s) z / sigma_s.
            shrink = 1 - 0.5 * delta * (1 - alpha_s * c_s)
            for _ in range(num_corrector_steps):
                variance = shrink**2 * variance + delta * sigma_s**2
        _, _, c_final = coefficients(logsnrs[-1], e)
        variances.append(c_final**2 * variance)
    return eigenvectors @ np.diag(variances) @ eigenvectors.T


class ScriptedModel:
    """Stands in for the guided denoiser inside one `step`.

    `eps_hat = gain * z`, every noise draw is the constant `noise`, and
    both calls are counted (in Python: `step` is called eagerly here).
    """

    def __init__(self, gain, noise):
        self.gain = gain
        self.noise = noise
        self.denoise_calls = 0
        self.normal_calls = 0

    def denoise(self, z, logsnr):
        self.denoise_calls += 1
        eps = self.gain * z
        alpha, sigma = alpha_sigma(ops.reshape(logsnr, (-1, 1, 1, 1, 1)))
        return (z - sigma * eps) / alpha, eps

    def normal(self, like):
        self.normal_calls += 1
        return ops.full(tuple(like.shape), self.noise, "float32")

    def after_step(self, z_s, z_t, logsnr_t, logsnr_s):
        return z_s

    def after_correction(self, z_new, z_old):
        return z_new


@pytest.mark.backends
class TestPredictorCorrectorSampler(SamplerTestMixin):
    sampler_class = PredictorCorrectorSampler
    init_kwargs = {"num_steps": 8, "delta": 0.1, "num_corrector_steps": 1}
    covariance_steps = 100
    prediction_type = "v"

    # Long statistics: on JAX and PyTorch in the slow pass only.
    @pytest.mark.backends_slow
    def test_at_least_as_close_as_ancestral(self):
        # With few steps the ancestral sampler's marginals drift; the
        # Langevin corrector pulls them back toward q(z_s).
        oracle = self.make_oracle("eps")
        shape = (20000, self.num_frames, 1, 1, 1)
        errors = {}
        for cls in (AncestralSampler, PredictorCorrectorSampler):
            samples = cls(num_steps=25, progress=False)(oracle, shape, seed=0)
            errors[cls.__name__] = covariance_error(samples, oracle.covariance)
        print("covariance errors at 25 steps:", errors)
        assert errors["PredictorCorrectorSampler"] < errors["AncestralSampler"] - 0.01

    @pytest.mark.parametrize("num_corrector_steps", [0, 1, 3])
    def test_more_corrector_steps_evaluate_more(self, num_corrector_steps):
        # One step evaluates the denoiser once for the predictor and once
        # per corrector step, and gives equations 4 and 5 exactly.
        delta, gain, noise = 0.2, 0.3, 0.7
        sampler = self.make_sampler(
            delta=delta, num_corrector_steps=num_corrector_steps
        )
        model = ScriptedModel(gain, noise)
        z_t = np.random.default_rng(0).normal(size=(2, 3, 1, 1, 1)).astype("float32")
        logsnr_t = np.array([-1.0, 0.5], "float32")
        logsnr_s = np.array([0.0, 2.0], "float32")
        z_s = ops.convert_to_numpy(
            sampler.step(*(ops.convert_to_tensor(v) for v in (z_t, logsnr_t, logsnr_s)), model)
        )
        assert model.denoise_calls == 1 + num_corrector_steps
        assert model.normal_calls == 1 + num_corrector_steps

        lt = logsnr_t.astype("float64").reshape(-1, 1, 1, 1, 1)
        ls = logsnr_s.astype("float64").reshape(-1, 1, 1, 1, 1)
        alpha_t, sigma_t = np.sqrt(1 / (1 + np.exp(-lt))), np.sqrt(1 / (1 + np.exp(lt)))
        alpha_s, sigma_s = np.sqrt(1 / (1 + np.exp(-ls))), np.sqrt(1 / (1 + np.exp(ls)))
        ratio = np.exp(lt - ls)
        z = z_t.astype("float64")
        x_hat = (z - sigma_t * gain * z) / alpha_t
        # Equation 4 with gamma = 0: posterior mean plus posterior std.
        expected = ratio * alpha_s / alpha_t * z + (1 - ratio) * alpha_s * x_hat
        expected = expected + np.sqrt((1 - ratio) * sigma_s**2) * noise
        for _ in range(num_corrector_steps):
            # Equation 5.
            expected = (
                expected
                - 0.5 * delta * sigma_s * gain * expected
                + np.sqrt(delta) * sigma_s * noise
            )
        np.testing.assert_allclose(z_s, expected, rtol=1e-5, atol=1e-6)

    @pytest.mark.parametrize("num_corrector_steps", [0, 1, 3])
    def test_compiled_loop_runs_every_corrector_step(self, num_corrector_steps):
        # Few steps and a large delta: each number of corrector steps gives
        # a covariance at least 0.09 away from the others' (exact values).
        oracle = self.make_oracle("eps")
        sampler = self.make_sampler(
            num_steps=4, delta=0.5, num_corrector_steps=num_corrector_steps
        )
        samples = sampler(oracle, (20000, self.num_frames, 1, 1, 1), seed=0)
        expected = predictor_corrector_covariance(
            oracle.covariance, 4, num_corrector_steps, 0.5
        )
        assert covariance_error(samples, expected) < 0.035

    @pytest.mark.parametrize(
        "kwargs, message",
        [
            ({"delta": 0.0}, "Received: delta=0.0"),
            ({"num_corrector_steps": -1}, "Received: num_corrector_steps=-1"),
        ],
    )
    def test_rejects_bad_arguments(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            PredictorCorrectorSampler(**kwargs)

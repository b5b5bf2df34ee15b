"""Shared helpers for the sampler tests: a Gaussian oracle and a test mixin.

For data `x ~ N(0, S)` the optimal denoiser is linear,
`E[x | z_t] = alpha S (alpha^2 S + sigma^2 I)^-1 z_t`, and every conditional of
the data is Gaussian in closed form, so the distribution a sampler produces can
be compared with the exact one.
"""

import numpy as np
import pytest
from keras import ops

from kvdm.diffusion.parameterization import alpha_sigma
from kvdm.diffusion.parameterization import from_x


def ar1_covariance(size, correlation=0.9):
    """`S_ij = correlation^|i - j|`, a smooth signal over `size` frames."""
    index = np.arange(size)
    return correlation ** np.abs(index[:, None] - index[None, :])


def kernel_covariance(points, length_scale=1.5, jitter=0.05):
    """A squared-exponential covariance over `points` `(D, k)` plus jitter."""
    points = np.asarray(points, dtype="float64")
    distances = np.sum((points[:, None] - points[None, :]) ** 2, axis=-1)
    return np.exp(-0.5 * distances / length_scale**2) + jitter * np.eye(len(points))


class GaussianOracle:
    """The exact denoiser of `N(0, covariance)` data, written in `keras.ops`.

    Args:
        covariance: array `(D, D)`, D = prod(video_shape).
        video_shape: tuple `(T, H, W, C)`.
        prediction_type: str. What the call returns: "eps", "v" or "x".
    """

    def __init__(self, covariance, video_shape, prediction_type="eps"):
        covariance = np.asarray(covariance, dtype="float64")
        self.covariance = covariance
        self.video_shape = tuple(video_shape)
        self.size = int(np.prod(video_shape))
        assert covariance.shape == (self.size, self.size)
        eigenvalues, eigenvectors = np.linalg.eigh(covariance)
        self.eigenvalues = ops.convert_to_tensor(eigenvalues.astype("float32"))
        self.eigenvectors = ops.convert_to_tensor(eigenvectors.astype("float32"))
        self.prediction_type = prediction_type
        self.calls = 0

    def __call__(self, z, logsnr, condition=None):
        self.calls += 1
        flat = ops.reshape(ops.cast(z, "float32"), (-1, self.size))
        if len(logsnr.shape) == 2:
            return self._per_frame(flat, logsnr)
        alpha, sigma = alpha_sigma(ops.expand_dims(logsnr, -1))
        # E[x | z] = alpha S (alpha^2 S + sigma^2)^-1 z in S's eigenbasis.
        gains = alpha * self.eigenvalues / (
            ops.square(alpha) * self.eigenvalues + ops.square(sigma)
        )
        x_hat = ops.matmul(
            ops.matmul(flat, self.eigenvectors) * gains,
            ops.transpose(self.eigenvectors),
        )
        prediction = from_x(x_hat, flat, logsnr, self.prediction_type)
        return ops.reshape(prediction, (-1,) + self.video_shape)

    def _per_frame(self, flat, logsnr):
        """E[x | z] when frame f has its own log-SNR: `z = A x + D eps`.

        `E[x | z] = S A (A S A + D^2)^-1 z` with diagonal `A` and `D`.
        """
        per_frame = self.size // self.video_shape[0]
        logsnr = ops.repeat(ops.cast(logsnr, "float32"), per_frame, axis=1)
        alpha, sigma = alpha_sigma(logsnr)
        covariance = ops.convert_to_tensor(self.covariance.astype("float32"))
        system = (
            alpha[:, :, None] * covariance[None] * alpha[:, None, :]
            + ops.eye(self.size)[None] * ops.square(sigma)[:, :, None]
        )
        solved = ops.solve(system, flat[:, :, None])[:, :, 0]
        x_hat = ops.matmul(alpha * solved, covariance)
        prediction = from_x(x_hat, flat, logsnr, self.prediction_type)
        return ops.reshape(prediction, (-1,) + self.video_shape)

    def conditional(self, observation_matrix, observation):
        """Exact `p(x | A x = y)` as (mean, covariance), both numpy."""
        a = np.asarray(observation_matrix, dtype="float64")
        s = self.covariance
        gain = s @ a.T @ np.linalg.inv(a @ s @ a.T)
        mean = gain @ np.asarray(observation, dtype="float64")
        covariance = s - gain @ a @ s
        return mean, covariance


def flatten_samples(samples):
    samples = np.asarray(ops.convert_to_numpy(samples), dtype="float64")
    return samples.reshape(samples.shape[0], -1)


def covariance_error(samples, covariance):
    """Largest absolute entry of `cov(samples) - covariance`."""
    empirical = np.cov(flatten_samples(samples), rowvar=False)
    return float(np.max(np.abs(empirical - covariance)))


def gaussian_kl(mean_p, cov_p, mean_q, cov_q):
    """KL(N(mean_p, cov_p) || N(mean_q, cov_q))."""
    k = len(mean_p)
    inverse_q = np.linalg.inv(cov_q)
    difference = np.asarray(mean_q) - np.asarray(mean_p)
    _, logdet_p = np.linalg.slogdet(cov_p)
    _, logdet_q = np.linalg.slogdet(cov_q)
    return 0.5 * float(
        np.trace(inverse_q @ cov_p)
        + difference @ inverse_q @ difference
        - k
        + logdet_q
        - logdet_p
    )


def empirical_kl(samples, mean, covariance):
    """KL from the Gaussian fitted to `samples` `(N, k)` to `N(mean, cov)`."""
    samples = np.asarray(samples, dtype="float64")
    return gaussian_kl(
        samples.mean(axis=0), np.cov(samples, rowvar=False), mean, covariance
    )


class SamplerTestMixin:
    """Common checks that every sampler must pass.

    Subclasses set `sampler_class` and `init_kwargs` (small: few steps) and
    get the tests for free, as in a scheduler common test.
    """

    sampler_class = None
    init_kwargs = {}
    num_frames = 6

    def make_sampler(self, **overrides):
        kwargs = dict(self.init_kwargs, progress=False)
        kwargs.update(overrides)
        return self.sampler_class(**kwargs)

    def make_oracle(self, prediction_type="eps"):
        return GaussianOracle(
            ar1_covariance(self.num_frames),
            (self.num_frames, 1, 1, 1),
            prediction_type,
        )

    def test_config_round_trip(self):
        sampler = self.make_sampler()
        config = sampler.get_config()
        restored = self.sampler_class.from_config(config)
        assert restored.get_config() == config
        import inspect

        parameters = set()
        for cls in type(sampler).__mro__[:-1]:
            if "__init__" in vars(cls):
                parameters |= set(inspect.signature(cls.__init__).parameters)
        parameters -= {"self", "kwargs"}
        assert parameters == set(config)

    def test_same_seed_same_samples(self):
        sampler = self.make_sampler()
        oracle = self.make_oracle()
        shape = (16, self.num_frames, 1, 1, 1)
        first = ops.convert_to_numpy(sampler(oracle, shape, seed=3))
        second = ops.convert_to_numpy(sampler(oracle, shape, seed=3))
        other = ops.convert_to_numpy(sampler(oracle, shape, seed=4))
        assert first.shape == shape
        np.testing.assert_array_equal(first, second)
        assert not np.allclose(first, other)

    # Long statistics: on JAX and PyTorch in the slow pass only.
    @pytest.mark.backends_slow
    def test_covariance_matches(self):
        prediction_type = getattr(self, "prediction_type", "eps")
        oracle = self.make_oracle(prediction_type)
        sampler = self.make_sampler(num_steps=self.covariance_steps)
        samples = sampler(oracle, (20000, self.num_frames, 1, 1, 1), seed=0)
        error = covariance_error(samples, oracle.covariance)
        print(f"{type(sampler).__name__} covariance error: {error:.4f}")
        assert error <= 0.05

    def test_progress_callback(self):
        sampler = self.make_sampler(num_steps=6, steps_per_chunk=2)
        reports = []
        sampler(
            self.make_oracle(),
            (4, self.num_frames, 1, 1, 1),
            seed=0,
            callback=lambda step, total: reports.append((step, total)),
        )
        assert reports == [(2, 6), (4, 6), (5, 6), (6, 6)]

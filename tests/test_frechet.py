"""`frechet_distance` against closed forms."""

import numpy as np
import pytest

from kvdm.metrics import frechet_distance


def _with_moments(rng, n, mean, cov_root):
    """Samples whose sample mean and (unbiased) covariance are exactly given."""
    z = rng.standard_normal((n, len(mean)))
    z -= z.mean(axis=0)
    # Whiten so that the sample covariance of z is exactly the identity.
    chol = np.linalg.cholesky(np.atleast_2d(np.cov(z, rowvar=False)))
    z = z @ np.linalg.inv(chol).T
    return z @ cov_root.T + mean


def test_diagonal_gaussians_match_the_closed_form():
    rng = np.random.default_rng(0)
    var_a, var_b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    mean_a, mean_b = np.array([0.0, 1.0, 2.0]), np.array([3.0, 1.0, -2.0])
    a = _with_moments(rng, 500, mean_a, np.diag(np.sqrt(var_a)))
    b = _with_moments(rng, 700, mean_b, np.diag(np.sqrt(var_b)))
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert frechet_distance(b, a) == pytest.approx(expected, rel=1e-9)


def test_same_set_is_zero_and_rotation_of_isotropic_scale():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((300, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    # Isotropic covariances s^2 I and t^2 I: distance D (s - t)^2 plus means.
    rotation, _ = np.linalg.qr(rng.standard_normal((4, 4)))
    x = _with_moments(rng, 400, np.zeros(4), 2.0 * rotation)
    y = _with_moments(rng, 400, np.ones(4), 0.5 * np.eye(4))
    assert frechet_distance(x, y) == pytest.approx(4.0 + 4 * 1.5**2, rel=1e-9)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="features_a.shape=\\(5,\\)"):
        frechet_distance(np.zeros(5), np.zeros((5, 1)))
    with pytest.raises(ValueError, match="same width"):
        frechet_distance(np.zeros((5, 2)), np.zeros((5, 3)))


def test_singular_covariances_fewer_samples_than_features():
    rng = np.random.default_rng(2)
    # Rank-1 covariances in 3 dimensions: only the first axis varies.
    a = np.zeros((50, 3))
    b = np.zeros((60, 3))
    a[:, 0] = _with_moments(rng, 50, np.zeros(1), np.eye(1))[:, 0]
    b[:, 0] = _with_moments(rng, 60, np.zeros(1), 2.0 * np.eye(1))[:, 0]
    assert frechet_distance(a, b) == pytest.approx(1.0, rel=1e-9)
    # 10 samples of 64 features: both covariances singular, result finite
    # and equal to the general formula evaluated with an exact root.
    x, y = rng.standard_normal((10, 64)), rng.standard_normal((12, 64)) + 0.5
    value = frechet_distance(x, y)
    assert np.isfinite(value) and value > 64 * 0.25

import keras
import numpy as np
import pytest

from kvdm.diffusion import parameterization as p


def _np(x):
    return keras.ops.convert_to_numpy(x)


def _draw(shape=(3, 2, 4, 4, 1), seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, shape).astype("float32")
    eps = rng.standard_normal(shape).astype("float32")
    logsnr = np.array([-8.0, 0.5, 9.0], "float32")[: shape[0]]
    return x, eps, logsnr


def _alpha_sigma_np(logsnr, ndim):
    logsnr = logsnr.astype("float64").reshape((-1,) + (1,) * (ndim - 1))
    return np.sqrt(1 / (1 + np.exp(-logsnr))), np.sqrt(1 / (1 + np.exp(logsnr)))


@pytest.mark.backends
def test_diffuse_matches_equation_1():
    x, eps, logsnr = _draw()
    alpha, sigma = _alpha_sigma_np(logsnr, x.ndim)
    np.testing.assert_allclose(
        _np(p.diffuse(x, eps, logsnr)), alpha * x + sigma * eps, atol=1e-5
    )


@pytest.mark.backends
@pytest.mark.parametrize("prediction_type", ["eps", "v", "x"])
def test_to_x_eps_inverts_target(prediction_type):
    x, eps, logsnr = _draw()
    z = p.diffuse(x, eps, logsnr)
    prediction = p.target(x, eps, logsnr, prediction_type)
    x_hat, eps_hat = p.to_x_eps(prediction, z, logsnr, prediction_type)
    # Errors grow like 1/alpha (eps) or 1/sigma (x) at the extreme log-SNRs.
    np.testing.assert_allclose(_np(x_hat), x, atol=2e-3)
    np.testing.assert_allclose(_np(eps_hat), eps, atol=2e-3)


@pytest.mark.backends
@pytest.mark.parametrize("prediction_type", ["eps", "v", "x"])
def test_from_x_inverts_to_x_eps(prediction_type):
    x, eps, logsnr = _draw(seed=1)
    z = p.diffuse(x, eps, logsnr)
    prediction = p.target(x, eps, logsnr, prediction_type)
    x_hat, _ = p.to_x_eps(prediction, z, logsnr, prediction_type)
    back = p.from_x(x_hat, z, logsnr, prediction_type)
    np.testing.assert_allclose(_np(back), _np(prediction), atol=2e-3)


def test_v_target_closed_form():
    x, eps, logsnr = _draw(seed=2)
    alpha, sigma = _alpha_sigma_np(logsnr, x.ndim)
    np.testing.assert_allclose(
        _np(p.target(x, eps, logsnr, "v")), alpha * eps - sigma * x, atol=1e-6
    )
    np.testing.assert_array_equal(_np(p.target(x, eps, logsnr, "eps")), eps)
    np.testing.assert_array_equal(_np(p.target(x, eps, logsnr, "x")), x)


def test_alpha_sigma_float32_from_bfloat16():
    logsnr = keras.ops.cast(np.array([-3.0, 3.0]), "bfloat16")
    alpha, sigma = p.alpha_sigma(logsnr)
    assert keras.backend.standardize_dtype(alpha.dtype) == "float32"
    np.testing.assert_allclose(_np(alpha) ** 2 + _np(sigma) ** 2, 1.0, atol=1e-6)


def test_unknown_prediction_type():
    x, eps, logsnr = _draw()
    with pytest.raises(ValueError, match="Received: prediction_type='score'"):
        p.target(x, eps, logsnr, "score")

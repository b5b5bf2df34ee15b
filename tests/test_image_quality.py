"""PSNR and SSIM against closed forms and TensorFlow's independent implementation."""

import numpy as np
import pytest
import tensorflow as tf

from kvdm.metrics import psnr
from kvdm.metrics import psnr_per_image
from kvdm.metrics import ssim
from kvdm.metrics import ssim_per_image
from kvdm.metrics.image_quality import gaussian_window


def test_psnr_closed_form():
    # In [0, 1] units the images differ by 0.1 everywhere: MSE 0.01, 20 dB.
    targets = np.full((3, 12, 12, 3), -0.5)
    predictions = targets + 0.2
    np.testing.assert_allclose(psnr_per_image(predictions, targets), 20.0, rtol=1e-12)
    assert np.isinf(psnr_per_image(targets, targets)).all()
    score = psnr(predictions, targets)
    assert score.name == "psnr" and score.num_samples == 3
    assert score.value == pytest.approx(20.0)


def test_ssim_closed_forms():
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (2, 16, 16, 3))
    np.testing.assert_allclose(ssim_per_image(images, images), 1.0, rtol=1e-12)
    # Constant images a and b (in [0, 1]): no variance, so SSIM is the
    # luminance term (2ab + C1) / (a^2 + b^2 + C1).
    a, b = 0.25, 0.75
    x, y = np.full((1, 11, 11, 1), 2 * a - 1), np.full((1, 11, 11, 1), 2 * b - 1)
    c1 = 0.01**2
    np.testing.assert_allclose(ssim_per_image(x, y), (2 * a * b + c1) / (a**2 + b**2 + c1), rtol=1e-12)
    window = gaussian_window()
    assert window.shape == (11,) and window.sum() == pytest.approx(1.0)
    assert window[5] / window[4] == pytest.approx(np.exp(1 / (2 * 1.5**2)))


def test_ssim_and_psnr_match_tensorflow():
    rng = np.random.default_rng(1)
    targets = rng.uniform(-1, 1, (4, 32, 24, 3))
    predictions = np.clip(targets + 0.3 * rng.standard_normal(targets.shape), -1, 1)
    unit = lambda v: tf.constant((v + 1) / 2, tf.float64)  # noqa: E731
    expected = tf.image.ssim(unit(predictions), unit(targets), max_val=1.0, filter_size=11, filter_sigma=1.5,
                             k1=0.01, k2=0.03).numpy()
    np.testing.assert_allclose(ssim_per_image(predictions, targets), expected, rtol=0, atol=2e-6)
    expected_psnr = tf.image.psnr(unit(predictions), unit(targets), max_val=1.0).numpy()
    np.testing.assert_allclose(psnr_per_image(predictions, targets), expected_psnr, rtol=1e-6)


def test_videos_and_counts():
    rng = np.random.default_rng(2)
    targets = rng.uniform(-1, 1, (5, 3, 16, 16, 1))
    predictions = np.clip(targets + 0.1, -1, 1)
    assert ssim_per_image(predictions, targets).shape == (5, 3)
    score = ssim(predictions, targets)
    assert score.num_samples == 5 and 0 < score.value < 1 and score.std >= 0


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"Received: predictions.shape=\(2, 8, 8, 1\), targets.shape=\(2, 8, 8, 3\)"):
        psnr(np.zeros((2, 8, 8, 1)), np.zeros((2, 8, 8, 3)))
    with pytest.raises(ValueError, match="at least 11x11 pixels"):
        ssim(np.zeros((1, 8, 8, 1)), np.zeros((1, 8, 8, 1)))

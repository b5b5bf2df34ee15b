"""PSNR and SSIM of predicted frames against the true ones.

Both compare images in [-1, 1] after mapping them to [0, 1] (data range 1):
PSNR does not depend on that offset, but SSIM does (its luminance term is
not shift invariant), and [0, 1] is the convention its constants were set
for. Computed in float64 with numpy and scipy; no network is involved.
"""

import numpy as np
import scipy.ndimage

from kvdm.metrics.score import Score

# Wang et al. (2004): an 11x11 Gaussian window of standard deviation 1.5
# and the stabilising constants K1 = 0.01, K2 = 0.03.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def _to_unit(images):
    return (np.clip(images, -1.0, 1.0) + 1.0) / 2.0


def _pair(predictions, targets):
    predictions = np.asarray(predictions, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    if predictions.shape != targets.shape or predictions.ndim < 3:
        raise ValueError(
            "`predictions` and `targets` must be images (..., H, W, C) of the same shape. "
            f"Received: predictions.shape={predictions.shape}, targets.shape={targets.shape}"
        )
    return _to_unit(predictions), _to_unit(targets)


def psnr_per_image(predictions, targets):
    """PSNR in dB of each image: `10 log10(1 / MSE)` on [0, 1] values.

    Args:
        predictions: array `(..., H, W, C)` in [-1, 1].
        targets: array of the same shape.

    Returns:
        float64 array of the leading shape `(...)`; `inf` where identical.
    """
    predictions, targets = _pair(predictions, targets)
    mse = np.mean((predictions - targets) ** 2, axis=(-3, -2, -1))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(1.0 / mse)


def gaussian_window(size=SSIM_WINDOW, sigma=SSIM_SIGMA):
    """The normalised 1-D Gaussian whose outer product is the SSIM window."""
    offsets = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    window = np.exp(-(offsets**2) / (2.0 * sigma**2))
    return window / window.sum()


def _filter_valid(images, window):
    """Separable correlation over H and W keeping only full windows."""
    margin = len(window) // 2
    for axis in (-3, -2):
        images = scipy.ndimage.correlate1d(images, window, axis=axis, mode="constant")
        index = [slice(None)] * images.ndim
        index[axis] = slice(margin, images.shape[axis] - margin)
        images = images[tuple(index)]
    return images


def ssim_per_image(predictions, targets):
    """SSIM of each image (Wang et al. 2004), channels averaged.

    Local statistics come from the 11x11 Gaussian window (sigma 1.5) over
    positions where it fits whole (as `tf.image.ssim`), with `C1 = (0.01
    L)^2`, `C2 = (0.03 L)^2` and data range `L = 1`.

    Args:
        predictions: array `(..., H, W, C)` in [-1, 1], `H, W >= 11`.
        targets: array of the same shape.

    Returns:
        float64 array of the leading shape `(...)`, 1.0 where identical.
    """
    x, y = _pair(predictions, targets)
    if min(x.shape[-3:-1]) < SSIM_WINDOW:
        raise ValueError(
            f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels. Received: shape={x.shape}"
        )
    window = gaussian_window()
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    mu_x, mu_y = _filter_valid(x, window), _filter_valid(y, window)
    var_x = _filter_valid(x * x, window) - mu_x**2
    var_y = _filter_valid(y * y, window) - mu_y**2
    cov = _filter_valid(x * y, window) - mu_x * mu_y
    ssim_map = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return ssim_map.mean(axis=(-3, -2, -1))


def _mean_score(name, values):
    values = np.asarray(values)
    count = int(values.shape[0]) if values.ndim else 1
    return Score(name, float(np.mean(values)), num_samples=count, std=float(np.std(values)))


def psnr(predictions, targets):
    """Mean PSNR (dB) of predicted images or video frames against the truth.

    Args:
        predictions: array `(N, H, W, C)` of images or `(N, T, H, W, C)`
            of videos (e.g. the generated frames only), in [-1, 1].
        targets: array of the same shape.

    Returns:
        `Score("psnr", mean over every image, num_samples=N, std over
        images)`; `inf` if any image is reproduced exactly.
    """
    return _mean_score("psnr", psnr_per_image(predictions, targets))


def ssim(predictions, targets):
    """Mean SSIM of predicted images or video frames against the truth.

    Args:
        predictions: array `(N, H, W, C)` or `(N, T, H, W, C)` in [-1, 1].
        targets: array of the same shape.

    Returns:
        `Score("ssim", mean over every image, num_samples=N, std over images)`.
    """
    return _mean_score("ssim", ssim_per_image(predictions, targets))

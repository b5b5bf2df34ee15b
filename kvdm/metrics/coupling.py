"""How much a video denoiser lets one frame inform the others."""

import numpy as np


def frame_coupling(diffusion, videos, logsnr, scale=0.1, seed=0):
    """Response of the other frames' `x` estimate to a change in frame 0.

    The noisy videos `z = alpha x + sigma eps` at log-SNR `logsnr` are
    denoised twice, once as they are and once with a small Gaussian
    perturbation (standard deviation `scale`) added to frame 0 of `z`. The
    figure for frame `k` is the norm of the change of frame `k`'s estimate
    `x_hat` divided by that of frame 0's, averaged over the videos. A
    denoiser that treats frames independently scores 0; one that pools the
    frames' evidence about what they share scores near 1 at high noise,
    where a single frame says little.

    Args:
        diffusion: a `kvdm.diffusion.VideoDiffusion` (its `denoise`,
            `prediction_type` are used).
        videos: float array `(batch, frames, height, width, channels)` in
            `[-1, 1]`, at least two frames.
        logsnr: float. The log-SNR of the probe.
        scale: float. Standard deviation of the perturbation of frame 0.
            Defaults to `0.1`.
        seed: int. Seed of the noise and the perturbation. Defaults to `0`.

    Returns:
        Float numpy array `(frames - 1,)`: the response of frames 1, 2, ...
    """
    from kvdm.diffusion.parameterization import alpha_sigma
    from kvdm.diffusion.parameterization import to_x_eps

    videos = np.asarray(videos, dtype=np.float32)
    if videos.ndim != 5 or videos.shape[1] < 2:
        raise ValueError(
            "`videos` must have shape (batch, frames, height, width, "
            f"channels) with at least 2 frames. Received: videos.shape={videos.shape}"
        )
    if not scale > 0:
        raise ValueError(f"`scale` must be positive. Received: scale={scale}")
    rng = np.random.default_rng(seed)
    batch = videos.shape[0]
    lam = np.full((batch,), float(logsnr), dtype=np.float32)
    alpha, sigma = (float(np.asarray(v)[0]) for v in alpha_sigma(lam))
    z = alpha * videos + sigma * rng.standard_normal(videos.shape).astype(np.float32)
    perturbed = z.copy()
    perturbed[:, 0] += scale * rng.standard_normal(z[:, 0].shape).astype(np.float32)

    def x_hat(noisy):
        prediction = diffusion.denoise(noisy, lam)
        x, _ = to_x_eps(prediction, noisy, lam, diffusion.prediction_type)
        return np.asarray(x)

    change = x_hat(perturbed) - x_hat(z)
    norms = np.sqrt(np.sum(change.reshape(batch, videos.shape[1], -1) ** 2, axis=-1))
    ratios = norms[:, 1:] / np.maximum(norms[:, :1], 1e-12)
    return ratios.mean(axis=0)

"""Gaussian noise with a share common to the frames of a video."""

import math

import keras
from keras import ops

from kvdm.utils import validation


def check_noise_correlation(value):
    """Returns `value` as a float if it is in [0, 1)."""
    return validation.fraction(value, "noise_correlation")


def frame_correlated_normal(shape, correlation=0.0, seed=None,
                            num_image_frames=0, draw=None):
    """Standard normal noise whose video frames share a part.

    Every frame of a video gets `sqrt(rho) * shared + sqrt(1 - rho) * own`,
    where `shared` is one standard normal image per video and `own` is drawn
    for each frame: each entry is still standard normal, and two frames of
    one video correlate with coefficient `rho` at every position (the
    "mixed" noise prior of Ge et al., 2023). Appended image frames of joint
    image-video training get independent noise. `rho = 0` is the paper's
    independent noise.

    The forward process `z_t = alpha_t x + sigma_t eps` with this noise is
    the paper's process seen through a fixed linear map of the frames, so
    the samplers stay exact when every noise they draw has the same
    correlation (which `kvdm.samplers` does for a model with a
    `noise_correlation` attribute). What it buys: frames start from similar
    noise, so a network that couples its frames weakly still settles a
    video's content the same way in every frame.

    Args:
        shape: tuple `(batch, frames, height, width, channels)`.
        correlation: float in [0, 1). The correlation `rho` between frames.
            Defaults to `0.0`.
        seed: a `keras.random.SeedGenerator`, an int or None (used when
            `draw` is None).
        num_image_frames: int. Independent image frames at the end of the
            frame axis. Defaults to `0`.
        draw: callable or None. `draw(shape)` returns standard normal values
            of that shape; None uses `keras.random.normal` with `seed`.

    Returns:
        A float32 tensor of `shape`.

    References:
        - [Ge et al., 2023. Preserve Your Own Correlation: A Noise Prior for
          Video Diffusion Models](https://arxiv.org/abs/2305.10474)
    """
    correlation = check_noise_correlation(correlation)
    shape = tuple(shape)
    if len(shape) != 5:
        raise ValueError(
            "frame_correlated_normal draws videos of shape "
            f"(batch, frames, height, width, channels). Received: shape={shape}"
        )
    if draw is None:
        def draw(size):
            return keras.random.normal(size, dtype="float32", seed=seed)
    own = ops.cast(draw(shape), "float32")
    if correlation == 0.0:
        return own
    shared = ops.cast(draw((shape[0], 1) + shape[2:]), "float32")
    mixed = math.sqrt(1.0 - correlation) * own + math.sqrt(correlation) * shared
    if num_image_frames == 0:
        return mixed
    video_frames = shape[1] - num_image_frames
    return ops.concatenate(
        [mixed[:, :video_frames], own[:, video_frames:]], axis=1
    )


def noise_correlation_of(denoiser):
    """The `noise_correlation` of a denoiser or its owner (0 when absent)."""
    for candidate in (
        denoiser,
        getattr(denoiser, "__self__", None),
        getattr(getattr(denoiser, "denoise", None), "__self__", None),
    ):
        value = getattr(candidate, "noise_correlation", None)
        if value is not None:
            return check_noise_correlation(value)
    return 0.0

"""FVD, FID and the Inception Score, built on `frechet_distance`.

The networks (`I3D`, `InceptionFeatures`) are built on first use when not
given; pass one to reuse it across calls. Every function returns a `Score`
carrying the sample counts.

Not provided, because their weights are not available offline: the image
Inception Score (it needs Inception-v3's class logits, which the shipped
FID network lacks) and the C3D-based FID and IS that the paper reports on
UCF101 (the TGAN2 C3D weights).
"""

import numpy as np

from kvdm.metrics.frechet import frechet_distance
from kvdm.metrics.score import Score


def frechet_score(name, reference_features, features):
    """The Frechet distance of two feature sets, as a `Score`.

    Args:
        name: str. Name of the score.
        reference_features: array `(M, D)` of real samples.
        features: array `(N, D)` of generated samples.

    Returns:
        `Score(name, value, num_samples=N, num_reference=M)`.
    """
    features = np.asarray(features)
    reference_features = np.asarray(reference_features)
    value = frechet_distance(reference_features, features)
    return Score(name, value, num_samples=len(features), num_reference=len(reference_features))


def as_rgb(array, what):
    """float32 copy of images or videos with 3 channels (grey repeated); `what` names it in errors."""
    array = np.asarray(array, dtype=np.float32)
    if array.shape[-1] == 1:
        # Grey videos (e.g. MovingDigits) are shown to the RGB networks as
        # three equal channels.
        array = np.repeat(array, 3, axis=-1)
    if array.shape[-1] != 3:
        raise ValueError(f"`{what}` must have 1 or 3 channels. Received: {what}.shape={array.shape}")
    return array


def fvd(real_videos, generated_videos, i3d=None, batch_size=8):
    """Frechet Video Distance (Unterthiner et al. 2018).

    The Frechet distance between Gaussians fitted to the I3D logits of real
    and generated videos (`I3D.features`), frames resized to 224x224 with
    the reference bilinear rule.

    Args:
        real_videos: array `(M, T, H, W, C)` in [-1, 1], `C` 1 or 3, `T >= 9`.
        generated_videos: array `(N, T, H, W, C)` in [-1, 1].
        i3d: `I3D` or None (built on first use).
        batch_size: int. Videos per I3D call. Defaults to 8.

    Returns:
        `Score("fvd", ...)`.
    """
    if i3d is None:
        from kvdm.metrics.i3d import I3D

        i3d = I3D()
    real = i3d.features(as_rgb(real_videos, "real_videos"), batch_size)
    generated = i3d.features(as_rgb(generated_videos, "generated_videos"), batch_size)
    return frechet_score("fvd", real, generated)


def fid(real_images, generated_images, inception=None, batch_size=32):
    """Frechet Inception Distance (Heusel et al. 2017) of two image sets.

    Args:
        real_images: array `(M, H, W, C)` in [-1, 1], `C` 1 or 3.
        generated_images: array `(N, H, W, C)` in [-1, 1].
        inception: `InceptionFeatures` or None (built on first use).
        batch_size: int. Images per network call. Defaults to 32.

    Returns:
        `Score("fid", ...)`.
    """
    if inception is None:
        from kvdm.metrics.inception_features import InceptionFeatures

        inception = InceptionFeatures()
    real = inception.features(as_rgb(real_images, "real_images"), batch_size)
    generated = inception.features(as_rgb(generated_images, "generated_images"), batch_size)
    return frechet_score("fid", real, generated)


def video_inception_features(videos, inception, frames="avg", batch_size=32):
    """Per-video Inception features of a video batch, as the paper's FID/IS-avg and -first use.

    Args:
        videos: array `(N, T, H, W, C)` in [-1, 1].
        inception: `InceptionFeatures`.
        frames: str. `"avg"`: the features of all frames averaged over time
            ("averaging activations across frames", section 4.3 of the
            paper); `"first"`: the first frame's features.
        batch_size: int. Images per network call. Defaults to 32.

    Returns:
        float64 `(N, 2048)`.
    """
    if frames not in ("avg", "first"):
        raise ValueError(f"`frames` must be 'avg' or 'first'. Received: frames={frames!r}")
    videos = as_rgb(videos, "videos")
    if videos.ndim != 5:
        raise ValueError(f"Expected videos (N, T, H, W, C). Received: videos.shape={videos.shape}")
    if frames == "first":
        return inception.features(videos[:, 0], batch_size)
    count, length = videos.shape[:2]
    flat = inception.features(videos.reshape((count * length,) + videos.shape[2:]), batch_size)
    return flat.reshape(count, length, -1).mean(axis=1)


def video_fid(real_videos, generated_videos, frames="avg", inception=None, batch_size=32):
    """The paper's FID of videos: over all frames (`"avg"`) or first frames (`"first"`).

    Args:
        real_videos: array `(M, T, H, W, C)` in [-1, 1].
        generated_videos: array `(N, T, H, W, C)` in [-1, 1].
        frames: str. "avg" (FID-avg) or "first" (FID-first). Defaults to "avg".
        inception: `InceptionFeatures` or None (built on first use).
        batch_size: int. Images per network call. Defaults to 32.

    Returns:
        `Score("fid_avg" or "fid_first", ...)`.
    """
    if inception is None:
        from kvdm.metrics.inception_features import InceptionFeatures

        inception = InceptionFeatures()
    real = video_inception_features(real_videos, inception, frames, batch_size)
    generated = video_inception_features(generated_videos, inception, frames, batch_size)
    return frechet_score(f"fid_{frames}", real, generated)


def inception_score(logits, num_splits=1, name="inception_score"):
    """Inception Score `exp(E_x KL(p(y|x) || p(y)))` from classifier logits.

    Used with I3D's Kinetics-400 logits for the paper's Kinetics-600 IS
    ("we calculate FVD and Inception Score using the I3D network"). The
    samples are cut into `num_splits` equal parts (the remainder dropped),
    scored separately, and the mean and standard deviation reported.

    Args:
        logits: array `(N, K)` of class logits.
        num_splits: int. Defaults to 1.
        name: str. Name of the score. Defaults to "inception_score".

    Returns:
        `Score(name, mean, num_samples=N, std=std over splits)`.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or len(logits) < num_splits or num_splits < 1:
        raise ValueError(
            "`logits` must be (N, K) with at least `num_splits` rows. "
            f"Received: logits.shape={logits.shape}, num_splits={num_splits}"
        )
    logits = logits - logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    size = len(logits) // num_splits
    scores = []
    for split in range(num_splits):
        part = log_p[split * size : (split + 1) * size]
        log_marginal = np.log(np.exp(part).mean(axis=0))
        kl = (np.exp(part) * (part - log_marginal)).sum(axis=1)
        scores.append(np.exp(kl.mean()))
    return Score(name, float(np.mean(scores)), num_samples=len(logits), std=float(np.std(scores)))

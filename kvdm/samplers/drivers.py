"""Sampling drivers: one call, videos longer or larger than the model's window.

Each driver builds a sampler (by name or takes one), then samples the video
window by window, imposing what is known in each window with the sampler's
conditioning method (section 3.1): context frames for prediction and
extension, key frames for interpolation, a low-resolution video for spatial
super-resolution (equation 8). A progress bar counts the windows and each
window shows its own steps.
"""

import numpy as np
from keras import ops
from tqdm.auto import tqdm

from kvdm.samplers.inputs import as_video
from kvdm.samplers.registry import get_sampler
from kvdm.samplers.sampler import Sampler
from kvdm.utils import validation

_CALL_ARGUMENTS = ("context", "context_mask", "low_res", "low_res_mask", "callback")


def _make_sampler(sampler, progress, **kwargs):
    if isinstance(sampler, Sampler):
        for name, value in kwargs.items():
            if value is not None and getattr(sampler, name, value) != value:
                raise ValueError(
                    f"`{name}` conflicts with the given sampler's. "
                    f"Received: {name}={value!r}, sampler.{name}="
                    f"{getattr(sampler, name)!r}"
                )
        return sampler
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    return get_sampler(sampler, progress=progress, **kwargs)


def _block_seed(seed, index):
    return None if seed is None else seed + index


def _check_overlap(overlap, window_frames, max_overlap=None, what=""):
    """Returns `overlap` (default half the window) after checking it.

    `overlap` must satisfy `0 < overlap < window_frames` and, when
    `max_overlap` is given, `overlap <= max_overlap` (`what` names that
    bound in the error message).
    """
    overlap = window_frames // 2 if overlap is None else overlap
    if (
        not validation.is_int(overlap)
        or not 0 < overlap < window_frames
        or (max_overlap is not None and overlap > max_overlap)
    ):
        bound = ""
        if max_overlap is not None:
            bound = f" and overlap <= {what} ({max_overlap})"
        raise ValueError(
            "`overlap` must be an integer with 0 < overlap < window_frames "
            f"({window_frames}){bound}. Received: overlap={overlap!r}"
        )
    return overlap


def _sliding_windows(total, window_frames, overlap):
    """`(start, stop)` windows covering `[0, total)`, each `window_frames` long.

    Each window starts `overlap` frames before the previous one ends; the
    last one is moved back so that it ends exactly at `total`.
    """
    windows = [(0, window_frames)]
    while windows[-1][1] < total:
        start = min(windows[-1][1] - overlap, total - window_frames)
        windows.append((start, start + window_frames))
    return windows


def _spread_frames(video, factor):
    """Puts frame `i` of `video` at frame `i * factor`, zeros in between."""
    if factor == 1:
        return video
    batch, frames, height, width, channels = video.shape
    zeros = ops.zeros((batch, factor - 1, height, width, channels), "float32")
    pieces = []
    for index in range(frames):
        pieces.append(video[:, index : index + 1])
        if index < frames - 1:
            pieces.append(zeros)
    return ops.concatenate(pieces, axis=1)


def check_anchor_frames(anchor_frames, frames):
    """Returns `anchor_frames` if it is an integer in `[0, frames)`."""
    if (
        not validation.is_int(anchor_frames)
        or not 0 <= anchor_frames < frames
    ):
        raise ValueError(
            "`anchor_frames` must be an integer with 0 <= anchor_frames < "
            f"frames ({frames}). Received: anchor_frames={anchor_frames!r}"
        )
    return anchor_frames


def anchored_sample(sampler, denoiser, shape, anchor_frames, seed=None, **call):
    """Samples videos whose first frames are settled before the rest.

    A first pass samples whole videos; their first `anchor_frames` frames
    are kept and a second pass samples the remaining frames with them as
    known frames, by `sampler`'s conditioning method. With a network
    trained with clean leading frames (`VideoDiffusion(context_frames=...)`)
    and `conditioning="context"`, the second pass is the network's own
    continuation of frames it has settled: `p(x) = p(x^a) p(x^b | x^a)`,
    both factors from one model.

    Args:
        sampler: a `Sampler`.
        denoiser: the denoiser (see `sample`).
        shape: tuple `(batch, frames, height, width, channels)`.
        anchor_frames: int. Frames of the first pass that are kept,
            `0 <= anchor_frames < frames`; 0 is a single ordinary pass.
        seed: int or None. The second pass uses `seed + 1`.
        **call: other sampler call arguments (`prediction_type`,
            `condition`, `callback`).

    Returns:
        A float32 tensor of `shape`.
    """
    check_anchor_frames(anchor_frames, shape[1])
    first = sampler(denoiser, shape, seed=seed, **call)
    if anchor_frames == 0:
        return first
    return sampler(
        denoiser,
        shape,
        seed=_block_seed(seed, 1),
        context=first[:, :anchor_frames],
        **call,
    )


def sample(
    denoiser,
    shape,
    sampler="ancestral",
    num_steps=128,
    condition=None,
    guidance_weight=0.0,
    seed=None,
    prediction_type=None,
    progress=True,
    anchor_frames=0,
    **kwargs,
):
    """Samples videos from a denoiser in one call.

    Args:
        denoiser: callable `denoiser(z_t, logsnr, condition)` or an object
            with `denoise` and `prediction_type` (a `VideoDiffusion`).
        shape: tuple `(batch, frames, height, width, channels)`.
        sampler: str or `Sampler`. Defaults to "ancestral".
        num_steps: int. Defaults to 128.
        condition: tensor or None. Conditioning passed to the denoiser.
        guidance_weight: float. Classifier-free guidance weight (equation 6).
            Defaults to 0.0.
        seed: int or None. Makes the call reproducible.
        prediction_type: str or None. "eps", "v" or "x"; None reads it from
            the denoiser.
        progress: bool. Show a progress bar. Defaults to True.
        anchor_frames: int. With a network trained with clean leading
            frames, sample the first `anchor_frames` frames first and then
            the rest given them (`anchored_sample`; the sampler's
            conditioning must then be "context", the default here).
            Defaults to 0 (one pass).
        **kwargs: `context`, `context_mask`, `low_res`, `low_res_mask`,
            `callback` go to the sampler call; anything else to the sampler
            constructor (`gamma`, `conditioning`, `reconstruction_weight`, ...).

    Returns:
        A float32 tensor of `shape`.

    Example:

    >>> video = sample(diffusion, (2, 16, 64, 64, 3), num_steps=64, seed=1)
    """
    call_kwargs = {k: kwargs.pop(k) for k in list(kwargs) if k in _CALL_ARGUMENTS}
    guidance_weight = validation.finite_number(guidance_weight, "guidance_weight")
    if anchor_frames:
        if "context" in call_kwargs:
            raise ValueError(
                "`anchor_frames` settles the first frames itself and cannot "
                "be combined with `context`. Received: anchor_frames="
                f"{anchor_frames!r} and context frames"
            )
        if not isinstance(sampler, Sampler):
            kwargs.setdefault("conditioning", "context")
    sampler = _make_sampler(
        sampler,
        progress,
        num_steps=num_steps,
        guidance_weight=guidance_weight,
        **kwargs,
    )
    if anchor_frames:
        return anchored_sample(
            sampler,
            denoiser,
            tuple(shape),
            anchor_frames,
            seed=seed,
            prediction_type=prediction_type,
            condition=condition,
            **call_kwargs,
        )
    return sampler(
        denoiser,
        shape,
        prediction_type=prediction_type,
        condition=condition,
        seed=seed,
        **call_kwargs,
    )


def _fill_windows(
    sampler, denoiser, video, known, windows, description, progress, seed, **call
):
    """Samples each window of `video` in turn, conditioned on known frames.

    `video` is `(B, T, H, W, C)`, `known` a boolean numpy array `(T,)`; each
    window `(start, stop)` is sampled with the known frames inside it as
    context, written back into `video` and marked known.
    """
    low_res = call.pop("low_res", None)
    low_res_mask = call.pop("low_res_mask", None)
    batch, _, height, width, channels = video.shape
    for index, (start, stop) in enumerate(
        tqdm(windows, desc=description, unit="window", disable=not progress)
    ):
        mask = known[start:stop]
        arguments = dict(call)
        if mask.any():
            arguments["context"] = video[:, start:stop]
            arguments["context_mask"] = mask.astype("float32")
        if low_res is not None:
            arguments["low_res"] = low_res[:, start:stop]
            if low_res_mask is not None:
                arguments["low_res_mask"] = low_res_mask[start:stop]
        window = sampler(
            denoiser,
            (batch, stop - start, height, width, channels),
            seed=_block_seed(seed, index),
            **arguments,
        )
        video = ops.concatenate([video[:, :start], window, video[:, stop:]], axis=1)
        known[start:stop] = True
    return video


def predict(
    denoiser,
    context_frames,
    num_frames,
    sampler="ancestral",
    conditioning="reconstruction_guidance",
    num_steps=None,
    prediction_type=None,
    condition=None,
    seed=None,
    progress=True,
    **sampler_kwargs,
):
    """Video prediction: samples the frames that follow some context frames.

    Args:
        denoiser: the denoiser (see `sample`).
        context_frames: tensor `(B, T_c, H, W, C)`. The known first frames.
        num_frames: int. Length of the returned video, context included
            (the model's window, `num_frames > T_c`).
        sampler: str or `Sampler`. Defaults to "ancestral".
        conditioning: str. How the context is imposed. Defaults to
            "reconstruction_guidance".
        num_steps: int or None. Sampler steps (None: the sampler default).
        prediction_type, condition, seed, progress: as in `sample`.
        **sampler_kwargs: sampler constructor arguments.

    Returns:
        A tensor `(B, num_frames, H, W, C)` starting with the context frames.

    Example:

    >>> video = predict(diffusion, first_frames, num_frames=16)
    """
    context_frames = as_video(context_frames, "context_frames")
    validation.positive_int(num_frames, "num_frames")
    if num_frames <= context_frames.shape[1]:
        raise ValueError(
            "`num_frames` must be larger than the number of context frames "
            f"({context_frames.shape[1]}). Received: num_frames={num_frames}"
        )
    sampler = _make_sampler(
        sampler, progress, conditioning=conditioning, num_steps=num_steps, **sampler_kwargs
    )
    batch, _, height, width, channels = context_frames.shape
    return sampler(
        denoiser,
        (batch, num_frames, height, width, channels),
        prediction_type=prediction_type,
        condition=condition,
        context=context_frames,
        seed=seed,
    )


def extend(
    denoiser,
    video,
    num_frames,
    window_frames=None,
    overlap=None,
    sampler="ancestral",
    conditioning="reconstruction_guidance",
    num_steps=None,
    prediction_type=None,
    condition=None,
    seed=None,
    progress=True,
    **sampler_kwargs,
):
    """Extends a video autoregressively to any number of frames.

    Each new window of `window_frames` frames starts with the last `overlap`
    frames generated so far, which are imposed as known frames.

    Args:
        denoiser: the denoiser (see `sample`).
        video: tensor `(B, T_0, H, W, C)`. The video to extend.
        num_frames: int. Length of the returned video (`> T_0`).
        window_frames: int or None. Frames the model samples at once.
            Defaults to `T_0`.
        overlap: int or None. Known frames at the start of each window
            (`0 < overlap < window_frames`, `overlap <= T_0`). Defaults to
            half the window.
        sampler, conditioning, num_steps, prediction_type, condition, seed,
        progress, **sampler_kwargs: as in `predict`.

    Returns:
        A tensor `(B, num_frames, H, W, C)` starting with `video`.

    Example:

    >>> long_video = extend(diffusion, video, num_frames=64, overlap=8)
    """
    video = as_video(video, "video")
    initial = video.shape[1]
    validation.positive_int(num_frames, "num_frames")
    if num_frames <= initial:
        raise ValueError(
            f"`num_frames` must be larger than the video's {initial} frames. "
            f"Received: num_frames={num_frames}"
        )
    window_frames = initial if window_frames is None else window_frames
    validation.positive_int(window_frames, "window_frames")
    overlap = _check_overlap(overlap, window_frames, initial, "the video's frames")
    sampler = _make_sampler(
        sampler, progress, conditioning=conditioning, num_steps=num_steps, **sampler_kwargs
    )
    windows = []
    length = initial
    while length < num_frames:
        start = length - overlap
        stop = start + window_frames
        windows.append((start, stop))
        length = stop
    batch, _, height, width, channels = video.shape
    padding = ops.zeros((batch, length - initial, height, width, channels), "float32")
    known = np.zeros((length,), dtype=bool)
    known[:initial] = True
    video = _fill_windows(
        sampler,
        denoiser,
        ops.concatenate([video, padding], axis=1),
        known,
        windows,
        "extend",
        progress,
        seed,
        prediction_type=prediction_type,
        condition=condition,
    )
    return video[:, :num_frames]


def interpolate(
    denoiser,
    video,
    factor,
    window_frames=None,
    sampler="ancestral",
    conditioning="reconstruction_guidance",
    num_steps=None,
    prediction_type=None,
    condition=None,
    seed=None,
    progress=True,
    **sampler_kwargs,
):
    """Temporal upsampling: fills `factor - 1` frames between each pair.

    The frames of the low frame-rate `video` become the key frames
    `0, factor, 2 factor, ...` of the output; windows of `window_frames`
    frames start and end on key frames, and frames generated by an earlier
    window are known in the next.

    Args:
        denoiser: the denoiser (see `sample`).
        video: tensor `(B, T, H, W, C)`. The low frame-rate video.
        factor: int >= 2. The frame-rate multiplier.
        window_frames: int or None. Frames the model samples at once; it must
            hold at least two key frames (`>= factor + 1`). Defaults to the
            whole output.
        sampler, conditioning, num_steps, prediction_type, condition, seed,
        progress, **sampler_kwargs: as in `predict`.

    Returns:
        A tensor `(B, (T - 1) factor + 1, H, W, C)`.

    Example:

    >>> smooth = interpolate(diffusion, video_at_4fps, factor=4, window_frames=9)
    """
    video = as_video(video, "video")
    validation.int_at_least(factor, "factor", 2)
    keys = video.shape[1]
    if keys < 2:
        raise ValueError(
            "`video` needs at least 2 frames to interpolate between. "
            f"Received: video.shape={tuple(video.shape)}"
        )
    total = (keys - 1) * factor + 1
    window_frames = total if window_frames is None else window_frames
    validation.positive_int(window_frames, "window_frames")
    if window_frames < factor + 1:
        raise ValueError(
            f"`window_frames` must hold two key frames (>= factor + 1 = "
            f"{factor + 1}). Received: window_frames={window_frames}"
        )
    window_frames = min(window_frames, total)
    # Windows start and end on key frames.
    window_frames = (window_frames - 1) // factor * factor + 1
    sampler = _make_sampler(
        sampler, progress, conditioning=conditioning, num_steps=num_steps, **sampler_kwargs
    )
    # Consecutive windows share one key frame.
    windows = _sliding_windows(total, window_frames, overlap=1)
    known = np.zeros((total,), dtype=bool)
    known[::factor] = True
    return _fill_windows(
        sampler,
        denoiser,
        # Key frames at multiples of `factor`, zeros in between.
        _spread_frames(video, factor),
        known,
        windows,
        "interpolate",
        progress,
        seed,
        prediction_type=prediction_type,
        condition=condition,
    )


def upsample(
    denoiser,
    low_res_video,
    spatial_factor=2,
    temporal_factor=1,
    window_frames=None,
    overlap=None,
    sampler="ancestral",
    num_steps=None,
    reconstruction_weight=None,
    prediction_type=None,
    condition=None,
    seed=None,
    progress=True,
    **sampler_kwargs,
):
    """Spatial super-resolution of a whole video (equation 8).

    A high-resolution model is guided by the error between the
    low-resolution video and a differentiable downsampling of its estimate.
    With `temporal_factor > 1` the low-resolution frames are at every
    `temporal_factor`-th output frame (a lower frame rate), and with windows
    shorter than the output the video is extended autoregressively at the
    high resolution, the last `overlap` frames of each window being known in
    the next: the two guidance terms are combined.

    Args:
        denoiser: the high-resolution denoiser (see `sample`).
        low_res_video: tensor `(B, T, h, w, C)`.
        spatial_factor: int. Output size is `(h * factor, w * factor)`.
            Defaults to 2.
        temporal_factor: int. Output frames per low-resolution frame
            interval; the output has `(T - 1) temporal_factor + 1` frames.
            Defaults to 1 (`T` frames).
        window_frames: int or None. Frames the model samples at once.
            Defaults to the whole output.
        overlap: int or None. Known frames carried into the next window
            (`0 < overlap < window_frames`). Defaults to half the window.
        sampler, num_steps, prediction_type, condition, seed, progress,
        **sampler_kwargs: as in `predict`; conditioning is always
            "reconstruction_guidance".
        reconstruction_weight: float or None. `w_r` (None: sampler default).

    Returns:
        A tensor `(B, T_out, h * spatial_factor, w * spatial_factor, C)`.

    Example:

    >>> high = upsample(diffusion_128, low_64, spatial_factor=2,
    ...                 temporal_factor=4, window_frames=9, overlap=1)
    """
    low_res_video = as_video(low_res_video, "low_res_video")
    validation.positive_int(spatial_factor, "spatial_factor")
    validation.positive_int(temporal_factor, "temporal_factor")
    batch, low_frames, low_height, low_width, channels = low_res_video.shape
    total = (low_frames - 1) * temporal_factor + 1
    window_frames = total if window_frames is None else window_frames
    validation.positive_int(window_frames, "window_frames")
    window_frames = min(window_frames, total)
    if window_frames < total:
        overlap = _check_overlap(overlap, window_frames)
    sampler = _make_sampler(
        sampler,
        progress,
        conditioning="reconstruction_guidance",
        num_steps=num_steps,
        reconstruction_weight=reconstruction_weight,
        **sampler_kwargs,
    )
    windows = _sliding_windows(total, window_frames, overlap)
    # The low-resolution frames on the output's frame grid.
    low_res = _spread_frames(low_res_video, temporal_factor)
    low_res_mask = np.zeros((total,), dtype="float32")
    low_res_mask[::temporal_factor] = 1.0
    height, width = low_height * spatial_factor, low_width * spatial_factor
    video = ops.zeros((batch, total, height, width, channels), "float32")
    return _fill_windows(
        sampler,
        denoiser,
        video,
        np.zeros((total,), dtype=bool),
        windows,
        "upsample",
        progress,
        seed,
        prediction_type=prediction_type,
        condition=condition,
        low_res=low_res,
        low_res_mask=low_res_mask,
    )

"""Checks and prepares what a sampler is called with.

A sampler call names the shape of the videos to sample and, optionally, a
condition for the denoiser, known frames (`context` with a `context_mask`)
and a low-resolution target (`low_res` with a `low_res_mask`). These
functions check them against the shape and broadcast them to the batch, so
that the compiled loop sees float32 tensors of fixed shapes.
"""

from keras import ops

from kvdm.utils import validation


def check_shape(shape):
    """Returns `shape` as a tuple of 5 positive integers, or raises."""
    shape = tuple(shape) if isinstance(shape, (tuple, list)) else shape
    if (
        not isinstance(shape, tuple)
        or len(shape) != 5
        or not all(validation.is_int(d) and d > 0 for d in shape)
    ):
        raise ValueError(
            "`shape` must be 5 positive integers (batch, frames, height, "
            f"width, channels). Received: shape={shape!r}"
        )
    return shape


def as_video(value, name, batch=None):
    """`value` as a float32 video `(batch, frames, height, width, channels)`.

    Args:
        value: array-like of rank 5.
        name: str. The argument's name, used in error messages.
        batch: int or None. When given, `value` must have batch 1 or
            `batch` and is broadcast to `batch`.
    """
    value = ops.cast(ops.convert_to_tensor(value), "float32")
    if batch is None:
        if len(value.shape) != 5:
            raise ValueError(
                f"`{name}` must be a video (batch, frames, height, width, "
                f"channels). Received: {name}.shape={tuple(value.shape)}"
            )
        return value
    if len(value.shape) != 5 or value.shape[0] not in (1, batch):
        raise ValueError(
            f"`{name}` must be a video (batch, frames, height, width, channels) "
            f"with batch 1 or {batch}. Received: {name}.shape={tuple(value.shape)}"
        )
    return ops.broadcast_to(value, (batch,) + tuple(value.shape[1:]))


def frame_mask(mask, batch, frames, name):
    """`mask` `(frames,)` or `(1 or batch, frames)` as float32 `(batch, frames)`."""
    mask = ops.cast(ops.convert_to_tensor(mask), "float32")
    if len(mask.shape) == 1:
        mask = ops.expand_dims(mask, 0)
    if len(mask.shape) != 2 or mask.shape[1] != frames or mask.shape[0] not in (
        1,
        batch,
    ):
        raise ValueError(
            f"`{name}` must have shape (num_frames,) or (batch, num_frames) "
            f"with num_frames={frames} and batch={batch}. "
            f"Received: {name}.shape={tuple(mask.shape)}"
        )
    return ops.broadcast_to(mask, (batch, frames))


def _condition(condition, batch):
    condition = ops.cast(ops.convert_to_tensor(condition), "float32")
    if len(condition.shape) < 2 or condition.shape[0] not in (1, batch):
        raise ValueError(
            "`condition` must have shape (batch, D) or (batch, L, D) with "
            f"batch 1 or {batch}. Received: condition.shape="
            f"{tuple(condition.shape)}"
        )
    return ops.broadcast_to(condition, (batch,) + tuple(condition.shape[1:]))


def _context(context, context_mask, shape):
    """Known frames padded to all frames, and their `(batch, frames)` mask."""
    batch, frames = shape[0], shape[1]
    context = ops.convert_to_tensor(context)
    if len(context.shape) == 5 and (
        tuple(context.shape[2:]) != tuple(shape[2:]) or context.shape[1] > frames
    ):
        raise ValueError(
            "The context frames do not fit the model: they need the "
            f"frame size {tuple(shape[2:])} and at most {frames} frames. "
            f"Received: context.shape={tuple(context.shape)}"
        )
    context = as_video(context, "context", batch)
    num_context = context.shape[1]
    if context_mask is None:
        if num_context == frames:
            raise ValueError(
                "`context` covers every frame: pass `context_mask` to say "
                "which frames are known. Received: context_mask=None"
            )
        context_mask = [1.0] * num_context + [0.0] * (frames - num_context)
    if num_context < frames:
        padding = ops.zeros(
            (batch, frames - num_context) + tuple(shape[2:]), "float32"
        )
        context = ops.concatenate([context, padding], axis=1)
    return context, frame_mask(context_mask, batch, frames, "context_mask")


def _low_res(low_res, shape):
    batch, frames = shape[0], shape[1]
    low_res = as_video(low_res, "low_res", batch)
    low_shape = tuple(low_res.shape)
    if (
        low_shape[1] != frames
        or low_shape[4] != shape[4]
        or shape[2] % low_shape[2]
        or shape[3] % low_shape[3]
    ):
        raise ValueError(
            f"`low_res` must have {frames} frames, {shape[4]} channels and "
            f"a size dividing {shape[2]}x{shape[3]}. "
            f"Received: low_res.shape={low_shape}"
        )
    return low_res


def prepare_inputs(
    shape,
    condition=None,
    context=None,
    context_mask=None,
    low_res=None,
    low_res_mask=None,
    conditioning="replacement",
    guidance_weight=0.0,
):
    """Checks a sampler call's inputs and broadcasts them to the batch.

    Args:
        shape: tuple `(batch, frames, height, width, channels)`, checked.
        condition, context, context_mask, low_res, low_res_mask: as in
            `Sampler.__call__`.
        conditioning: str. The sampler's conditioning method; a `low_res`
            target needs "reconstruction_guidance".
        guidance_weight: float. The sampler's classifier-free guidance
            weight; non-zero needs a `condition`.

    Returns:
        A dict with the given inputs among "condition", "context",
        "context_mask", "low_res" and "low_res_mask", as float32 tensors
        with the batch of `shape` (a `context` is padded to every frame).
    """
    batch, frames = shape[0], shape[1]
    inputs = {}
    if condition is not None:
        inputs["condition"] = _condition(condition, batch)
    elif guidance_weight != 0.0:
        raise ValueError(
            "Classifier-free guidance needs a `condition`. Received: "
            f"condition=None, guidance_weight={guidance_weight}"
        )
    if context is not None:
        inputs["context"], inputs["context_mask"] = _context(
            context, context_mask, shape
        )
    elif context_mask is not None:
        raise ValueError(
            "`context_mask` was given without `context`. "
            f"Received: context_mask={context_mask!r}"
        )
    if low_res is not None:
        if conditioning != "reconstruction_guidance":
            raise ValueError(
                "Low-resolution conditioning (equation 8) needs "
                "conditioning='reconstruction_guidance'. "
                f"Received: conditioning={conditioning!r}"
            )
        inputs["low_res"] = _low_res(low_res, shape)
        if low_res_mask is not None:
            inputs["low_res_mask"] = frame_mask(
                low_res_mask, batch, frames, "low_res_mask"
            )
    return inputs

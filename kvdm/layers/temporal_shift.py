"""Shifting a few channels by one frame: motion-aware mixing at no cost."""

from keras import ops


def temporal_shift(inputs, fraction, num_image_frames=0):
    """Moves some channels one frame forward and as many one frame back.

    Of the `C` channels, the first `k = max(1, round(C * fraction / 2))`
    take their values from the previous frame and the next `k` from the
    following frame; the rest stay. Channels with no frame to take from
    (the first and last video frames, and every appended image frame) are
    zero. A space-only 3x3 convolution after the shift then sees its own
    frame and its two neighbours at offsets of up to one pixel: a 3x3x3
    convolution at the price of a 1x3x3 one, which follows an object that
    moves a pixel or so per frame (the temporal shift module of Lin et al.,
    2019). A beyond-the-paper option of `ResBlock`.

    Image frames of joint image-video training (the last `num_image_frames`
    frames) neither send nor receive shifted channels: an image frame is
    processed exactly as a one-frame video, and video frames never see it.

    Args:
        inputs: tensor `(batch, frames, height, width, channels)`.
        fraction: float in `(0, 1]`. Share of the channels shifted (half
            each way).
        num_image_frames: python int. Independent image frames at the end of
            the frame axis. Defaults to `0`.

    Returns:
        Tensor of the same shape and dtype.

    References:
        - [Lin et al., 2019. TSM: Temporal Shift Module for Efficient Video
          Understanding](https://arxiv.org/abs/1811.08383)
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(
            f"`fraction` must be in (0, 1]. Received: fraction={fraction}"
        )
    channels = inputs.shape[-1]
    if channels is None or channels < 2:
        raise ValueError(
            "temporal_shift needs at least 2 channels. "
            f"Received: inputs.shape={tuple(inputs.shape)}"
        )
    k = max(1, min(channels // 2, int(round(channels * fraction / 2))))
    frames = ops.shape(inputs)[1]
    zero = ops.zeros_like(inputs[:, :1, :, :, :k])
    # Frame t takes channels [0, k) of frame t - 1, [k, 2k) of frame t + 1.
    forward = ops.concatenate([zero, inputs[:, :-1, :, :, :k]], axis=1)
    backward = ops.concatenate([inputs[:, 1:, :, :, k : 2 * k], zero], axis=1)
    position = ops.arange(frames, dtype="int32")
    video_frames = frames - num_image_frames
    # A video frame receives from a neighbour that is a video frame too.
    from_previous = ops.logical_and(position >= 1, position < video_frames)
    from_next = position < video_frames - 1
    keep_forward = ops.cast(from_previous, inputs.dtype)[None, :, None, None, None]
    keep_backward = ops.cast(from_next, inputs.dtype)[None, :, None, None, None]
    return ops.concatenate(
        [
            forward * keep_forward,
            backward * keep_backward,
            inputs[:, :, :, :, 2 * k :],
        ],
        axis=-1,
    )

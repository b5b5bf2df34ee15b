"""Self-attention over every position of every frame at once."""

import keras
from keras import ops

from kvdm.layers.temporal_attention import TemporalAttention
from kvdm.layers.temporal_attention import joint_training_mask


def _expand_frames(values, pixels):
    """`(..., T, T)` -> `(..., T * pixels, T * pixels)`, constant per frame pair."""
    shape = ops.shape(values)
    frames = shape[-1]
    values = ops.expand_dims(ops.expand_dims(values, -1), -3)
    target = tuple(shape[:-2]) + (frames, pixels, frames, pixels)
    values = ops.broadcast_to(values, target)
    return ops.reshape(values, tuple(shape[:-2]) + (frames * pixels, frames * pixels))


@keras.saving.register_keras_serializable(package="kvdm")
class SpaceTimeAttention(TemporalAttention):
    """Residual multi-head self-attention over all positions of all frames.

    A beyond-the-paper alternative to the factorized pair
    `SpatialAttention` + `TemporalAttention` of section 3, for the low
    resolutions where it is affordable: every position of every frame
    attends to every position of every frame, so a moving object can be
    matched to itself in another frame wherever it has moved. (Temporal
    attention only compares the same position across frames, which for a
    moving object holds different parts of it.) The logits get the same
    relative position bias over frames as `TemporalAttention` (one bias per
    frame offset, shared by all position pairs), and with
    `num_image_frames = n` the same mask: appended image frames attend only
    within themselves and video frames never see them.

    The block computes `inputs + proj(attention(GroupNorm(inputs)))` with
    per-frame GroupNorm statistics. Its cost grows with
    `(frames * height * width) ** 2`.

    Args:
        Those of `TemporalAttention`.

    Call arguments:
        inputs: tensor of shape `(batch, frames, height, width, channels)`.
        num_image_frames: python int. Number of independent image frames at
            the end of the frame axis. Defaults to `0`.

    Returns:
        Tensor of the same shape as `inputs`.

    Example:
    ```python
    video = keras.random.normal((2, 8, 4, 4, 64))
    attention = kvdm.layers.SpaceTimeAttention(num_heads=4)
    attention(video, num_image_frames=2).shape  # (2, 8, 4, 4, 64)
    ```

    References:
        - [Ho et al., 2022. Video Diffusion Models, section 3](
          https://arxiv.org/abs/2204.03458)
        - [Bertasius et al., 2021. Is Space-Time Attention All You Need
          for Video Understanding?](https://arxiv.org/abs/2102.05095)
    """

    def call(self, inputs, num_image_frames=0):
        frames = self._check_image_frames(inputs, num_image_frames)
        shape = ops.shape(inputs)
        height, width, channels = shape[2], shape[3], shape[4]
        pixels = height * width
        x = self._normalize_frames(inputs)
        # (batch, frames * pixels, C): token k is frame k // pixels.
        x = ops.reshape(x, (-1, frames * pixels, channels))
        bias = _expand_frames(self.relative_position_bias(num_frames=frames), pixels)[None]
        mask = None
        if num_image_frames > 0:
            mask = _expand_frames(joint_training_mask(frames, num_image_frames), pixels)[None, None]
        x = self._attend(x, bias=bias, mask=mask)
        x = ops.reshape(x, shape)
        return ops.add(inputs, x)

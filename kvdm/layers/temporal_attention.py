"""Self-attention over frames at each pixel, space as batch."""

import keras
from keras import ops

from kvdm.layers.relative_position_bias import RelativePositionBias
from kvdm.layers.residual_attention import ResidualAttentionBase
from kvdm.utils import validation


def joint_training_mask(num_frames, num_image_frames):
    """Boolean `(T, T)` attention mask for joint image-video training.

    Frames `[0, T - n)` are a video and attend to each other; frames
    `[T - n, T)` are independent images and attend only to themselves.
    Entry `[i, j]` is `True` when query frame `i` may attend to key frame `j`.
    """
    positions = ops.arange(num_frames, dtype="int32")
    is_video = positions < (num_frames - num_image_frames)
    both_video = ops.logical_and(is_video[:, None], is_video[None, :])
    same_frame = ops.equal(positions[:, None], positions[None, :])
    return ops.logical_or(both_video, same_frame)


@keras.saving.register_keras_serializable(package="kvdm")
class TemporalAttention(ResidualAttentionBase):
    """Residual multi-head self-attention over frames at each position.

    Section 3 of the paper inserts, after each spatial attention block, a
    temporal attention block that attends over the frame axis and treats the
    spatial axes as batch axes, with relative position biases
    (`RelativePositionBias`) so that frame order is known without an absolute
    time.

    For joint image-video training (section 4.3.1) `num_image_frames`
    independent images are appended at the end of the frame axis; the mask
    lets an image frame attend only to itself and video frames only to video
    frames. The block computes
    `inputs + proj(attention(GroupNorm(inputs)))` and the GroupNorm
    statistics are taken per frame (over height, width and the channels of a
    group), never across frames: together with the mask this guarantees that
    changing an image frame changes no other frame's output, and changing a
    video frame changes no image frame's output. With the default zero
    initialisation of the output projection the block starts as the identity.

    Args:
        num_heads: int or None. Number of attention heads. `None` uses
            `max(1, channels // head_dim)`. Defaults to `None`.
        head_dim: int. Channels per head used when `num_heads` is `None`.
            Defaults to `64`.
        groups: int. GroupNorm groups (at most the number of channels).
            Defaults to `32`.
        epsilon: float. GroupNorm epsilon. Defaults to `1e-5`.
        num_buckets: int. Relative position buckets. Defaults to `32`.
        max_distance: int. Relative position maximum distance. Defaults to
            `64`.
        use_bias: bool. Whether the query/key/value and output projections
            have biases. Defaults to `True`.
        kernel_initializer: initializer of the query/key/value projection.
            Defaults to `"glorot_uniform"`.
        output_kernel_initializer: initializer of the output projection.
            Defaults to `"zeros"`.
        query_chunk_size: int or None. Attend in chunks of this many
            queries, each recomputed in the backward pass, so that only one
            chunk's attention matrix is held at a time (TensorFlow and JAX;
            PyTorch's fused kernel never holds it). Same outputs and
            gradients. Defaults to None.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: tensor of shape `(batch, frames, height, width, channels)`.
        num_image_frames: python int. Number of independent image frames at
            the end of the frame axis. Defaults to `0` (all frames are one
            video).

    Returns:
        Tensor of the same shape as `inputs`.

    Example:
    ```python
    video = keras.random.normal((2, 8, 4, 4, 64))
    attention = kvdm.layers.TemporalAttention(num_heads=4)
    attention(video, num_image_frames=2).shape  # (2, 8, 4, 4, 64)
    ```

    References:
        - [Ho et al., 2022. Video Diffusion Models, sections 3 and 4.3.1](
          https://arxiv.org/abs/2204.03458)
    """

    def __init__(
        self,
        num_heads=None,
        head_dim=64,
        groups=32,
        epsilon=1e-5,
        num_buckets=32,
        max_distance=64,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        output_kernel_initializer="zeros",
        **kwargs,
    ):
        super().__init__(
            num_heads=num_heads,
            head_dim=head_dim,
            groups=groups,
            epsilon=epsilon,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            output_kernel_initializer=output_kernel_initializer,
            **kwargs,
        )
        self.num_buckets = num_buckets
        self.max_distance = max_distance

    def _build_extra(self, inputs_shape):
        self.relative_position_bias = RelativePositionBias(
            num_heads=self._num_heads,
            num_buckets=self.num_buckets,
            max_distance=self.max_distance,
            dtype=self.dtype_policy,
            name="relative_position_bias",
        )
        self.relative_position_bias.build()

    def _check_image_frames(self, inputs, num_image_frames):
        """Checks `num_image_frames` against the inputs; returns the frames."""
        validation.non_negative_int(num_image_frames, "num_image_frames")
        frames = ops.shape(inputs)[1]
        if isinstance(frames, int) and num_image_frames > frames:
            raise ValueError(
                f"`num_image_frames` cannot exceed the {frames} frames of the "
                f"inputs. Received: num_image_frames={num_image_frames}"
            )
        return frames

    def call(self, inputs, num_image_frames=0):
        frames = self._check_image_frames(inputs, num_image_frames)
        shape = ops.shape(inputs)
        height, width, channels = shape[2], shape[3], shape[4]
        # Per-frame GroupNorm: statistics never cross frames.
        x = self._normalize_frames(inputs)
        # (batch, frames, pixels, C) -> (batch * pixels, frames, C).
        x = ops.reshape(x, (-1, frames, height * width, channels))
        x = ops.transpose(x, (0, 2, 1, 3))
        x = ops.reshape(x, (-1, frames, channels))
        # (1, heads, T, T), broadcast over batch * pixels.
        bias = self.relative_position_bias(num_frames=frames)[None]
        mask = None
        if num_image_frames > 0:
            mask = joint_training_mask(frames, num_image_frames)[None, None]
        x = self._attend(x, bias=bias, mask=mask)
        # (batch * pixels, frames, C) -> (batch, frames, height, width, C).
        x = ops.reshape(x, (-1, height * width, frames, channels))
        x = ops.transpose(x, (0, 2, 1, 3))
        x = ops.reshape(x, shape)
        return ops.add(inputs, x)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_buckets": self.num_buckets,
                "max_distance": self.max_distance,
            }
        )
        return config

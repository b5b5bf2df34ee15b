"""Self-attention over the pixels of each frame, frames as batch."""

import keras
from keras import ops

from kvdm.layers.residual_attention import ResidualAttentionBase


@keras.saving.register_keras_serializable(package="kvdm")
class SpatialAttention(ResidualAttentionBase):
    """Residual multi-head self-attention over space within each frame.

    Section 3 of the paper keeps the image U-Net's spatial attention blocks
    and treats the frame axis as a batch axis: each frame attends over its own
    `height * width` positions and frames never exchange information.

    The block computes `inputs + proj(attention(GroupNorm(inputs)))`. The
    GroupNorm statistics are taken per frame (over height, width and the
    channels of a group), so that frames stay independent, which joint
    image-video training relies on. With the default zero initialisation of
    the output projection the block starts as the identity.

    Args:
        num_heads: int or None. Number of attention heads. `None` uses
            `max(1, channels // head_dim)`. Defaults to `None`.
        head_dim: int. Channels per head used when `num_heads` is `None`.
            Defaults to `64`.
        groups: int. GroupNorm groups (at most the number of channels).
            Defaults to `32`.
        epsilon: float. GroupNorm epsilon. Defaults to `1e-5`.
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

    Returns:
        Tensor of the same shape as `inputs`.

    Example:
    ```python
    video = keras.random.normal((2, 4, 8, 8, 64))
    attention = kvdm.layers.SpatialAttention(num_heads=4)
    attention(video).shape  # (2, 4, 8, 8, 64)
    ```

    References:
        - [Ho et al., 2022. Video Diffusion Models, section 3](
          https://arxiv.org/abs/2204.03458)
        - [Vaswani et al., 2017. Attention Is All You Need](
          https://arxiv.org/abs/1706.03762)
    """

    def call(self, inputs):
        shape = ops.shape(inputs)
        height, width, channels = shape[2], shape[3], shape[4]
        # Frames become batch entries: (batch * frames, height * width, C).
        x = self._normalize_frames(inputs)
        x = ops.reshape(x, (-1, height * width, channels))
        x = self._attend(x)
        x = ops.reshape(x, shape)
        return ops.add(inputs, x)

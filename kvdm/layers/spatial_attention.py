"""Self-attention over the pixels of each frame, frames as batch."""

import keras
from keras import ops

from kvdm.layers.attention_ops import dot_product_attention
from kvdm.layers.attention_ops import resolve_groups
from kvdm.layers.attention_ops import resolve_num_heads


@keras.saving.register_keras_serializable(package="kvdm")
class SpatialAttention(keras.layers.Layer):
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

    def __init__(
        self,
        num_heads=None,
        head_dim=64,
        groups=32,
        epsilon=1e-5,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        output_kernel_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_heads is not None and (
            not isinstance(num_heads, int) or num_heads <= 0
        ):
            raise ValueError(
                "`num_heads` must be a positive integer or None. "
                f"Received: num_heads={num_heads}"
            )
        if not isinstance(head_dim, int) or head_dim <= 0:
            raise ValueError(
                "`head_dim` must be a positive integer. "
                f"Received: head_dim={head_dim}"
            )
        if not isinstance(groups, int) or groups <= 0:
            raise ValueError(
                "`groups` must be a positive integer. "
                f"Received: groups={groups}"
            )
        self.num_heads = num_heads
        self.head_dim = head_dim
        self.groups = groups
        self.epsilon = epsilon
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.output_kernel_initializer = keras.initializers.get(
            output_kernel_initializer
        )

    def build(self, inputs_shape):
        if len(inputs_shape) != 5:
            raise ValueError(
                "SpatialAttention expects inputs of shape "
                "(batch, frames, height, width, channels). "
                f"Received: inputs_shape={inputs_shape}"
            )
        channels = inputs_shape[-1]
        self._num_heads, self._head_channels = resolve_num_heads(
            channels, self.num_heads, self.head_dim, "SpatialAttention"
        )
        self.norm = keras.layers.GroupNormalization(
            groups=resolve_groups(channels, self.groups, "SpatialAttention"),
            epsilon=self.epsilon,
            dtype=self.dtype_policy,
            name="norm",
        )
        self.norm.build((None, inputs_shape[2], inputs_shape[3], channels))
        self.qkv = keras.layers.Dense(
            3 * channels,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="qkv",
        )
        self.qkv.build((None, None, channels))
        self.output_projection = keras.layers.Dense(
            channels,
            use_bias=self.use_bias,
            kernel_initializer=self.output_kernel_initializer,
            dtype=self.dtype_policy,
            name="output_projection",
        )
        self.output_projection.build((None, None, channels))

    def call(self, inputs):
        shape = ops.shape(inputs)
        height, width, channels = shape[2], shape[3], shape[4]
        # Frames become batch entries: (batch * frames, height, width, C).
        # Normalising per frame keeps the statistics inside each frame.
        x = ops.reshape(inputs, (-1, height, width, channels))
        x = self.norm(x)
        x = ops.reshape(x, (-1, height * width, channels))
        qkv = self.qkv(x)
        qkv = ops.reshape(
            qkv, (-1, height * width, 3, self._num_heads, self._head_channels)
        )
        query, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        x = dot_product_attention(query, key, value)
        x = ops.reshape(x, (-1, height * width, channels))
        x = self.output_projection(x)
        x = ops.reshape(x, shape)
        return ops.add(inputs, x)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "head_dim": self.head_dim,
                "groups": self.groups,
                "epsilon": self.epsilon,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "output_kernel_initializer": keras.initializers.serialize(
                    self.output_kernel_initializer
                ),
            }
        )
        return config

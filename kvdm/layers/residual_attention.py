"""Private base of the residual self-attention blocks of the U-Net."""

import keras
from keras import ops

from kvdm.layers.attention_ops import dot_product_attention
from kvdm.layers.attention_ops import resolve_groups
from kvdm.layers.attention_ops import resolve_num_heads
from kvdm.utils import validation


class ResidualAttentionBase(keras.layers.Layer):
    """Shared part of `SpatialAttention` and `TemporalAttention`.

    Holds the per-frame GroupNorm (`norm`), the fused query/key/value
    projection (`qkv`) and the output projection (`output_projection`) of a
    block computing `inputs + proj(attention(GroupNorm(inputs)))` on videos
    `(batch, frames, height, width, channels)`. Subclasses decide how the
    normalised video becomes token sequences (which axis attends) and may add
    sublayers in `_build_extra`, which runs between the `qkv` and
    `output_projection` builds so the weight order stays fixed.

    Not part of the public API: see the subclasses for the arguments.
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
        query_chunk_size=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.positive_int(
            query_chunk_size, "query_chunk_size", allow_none=True
        )
        self.query_chunk_size = query_chunk_size
        validation.positive_int(num_heads, "num_heads", allow_none=True)
        validation.positive_int(head_dim, "head_dim")
        validation.positive_int(groups, "groups")
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
        layer_name = type(self).__name__
        if len(inputs_shape) != 5:
            raise ValueError(
                f"{layer_name} expects inputs of shape "
                "(batch, frames, height, width, channels). "
                f"Received: inputs_shape={inputs_shape}"
            )
        channels = inputs_shape[-1]
        self._num_heads, self._head_channels = resolve_num_heads(
            channels, self.num_heads, self.head_dim, layer_name
        )
        self.norm = keras.layers.GroupNormalization(
            groups=resolve_groups(channels, self.groups, layer_name),
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
        self._build_extra(inputs_shape)
        self.output_projection = keras.layers.Dense(
            channels,
            use_bias=self.use_bias,
            kernel_initializer=self.output_kernel_initializer,
            dtype=self.dtype_policy,
            name="output_projection",
        )
        self.output_projection.build((None, None, channels))

    def _build_extra(self, inputs_shape):
        """Builds sublayers a subclass adds; none by default."""

    def _normalize_frames(self, inputs):
        """GroupNorm per frame: `(B, T, H, W, C)` -> `(B * T, H, W, C)`.

        Frames become batch entries, so the statistics never cross frames.
        """
        shape = ops.shape(inputs)
        x = ops.reshape(inputs, (-1, shape[2], shape[3], shape[4]))
        return self.norm(x)

    def _attend(self, tokens, bias=None, mask=None):
        """Multi-head self-attention and output projection of tokens.

        Args:
            tokens: tensor `(sequences, length, channels)`.
            bias: optional logit bias, see `dot_product_attention`.
            mask: optional boolean mask, see `dot_product_attention`.

        Returns:
            Tensor `(sequences, length, channels)`.
        """
        shape = ops.shape(tokens)
        length, channels = shape[1], shape[2]
        # The fused projection's channels are [query | key | value]. A split
        # (whose gradient is one concatenation) rather than three strided
        # slices (whose gradients each fill a zero tensor the size of `qkv`,
        # a fifth of a CPU train step at the benchmark's S shape).
        heads = (-1, length, self._num_heads, self._head_channels)
        query, key, value = (
            ops.reshape(part, heads)
            for part in ops.split(self.qkv(tokens), 3, axis=-1)
        )
        x = dot_product_attention(
            query, key, value, bias=bias, mask=mask,
            query_chunk_size=self.query_chunk_size,
        )
        x = ops.reshape(x, (-1, length, channels))
        return self.output_projection(x)

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
                "query_chunk_size": self.query_chunk_size,
            }
        )
        return config

"""Pools a sequence of token embeddings into one vector with attention."""

import keras
from keras import ops

from kvdm.layers.attention_ops import dot_product_attention
from kvdm.utils import validation


@keras.saving.register_keras_serializable(package="kvdm")
class AttentionPooling(keras.layers.Layer):
    """Multi-head attention pooling of `(batch, length, dim)` tokens.

    The query is the masked mean of the tokens plus a learned query vector;
    it attends over the tokens and over the mean token itself (so a row whose
    tokens are all masked out still has one key and gives a finite result).
    The attended value goes through an output projection to `output_dim`.
    This is how text-conditioned video models (section 4.4 of the paper)
    turn a caption's token embeddings into one conditioning vector.

    Args:
        num_heads: int. Number of attention heads; must divide the token
            dimension. Defaults to `8`.
        output_dim: int or None. Size of the pooled vector. `None` keeps the
            token dimension. Defaults to `None`.
        use_bias: bool. Whether the projections have biases. Defaults to
            `True`.
        kernel_initializer: initializer of the projections. Defaults to
            `"glorot_uniform"`.
        query_initializer: initializer of the learned query. Defaults to
            `"truncated_normal"`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: tensor of shape `(batch, length, dim)`.
        mask: optional tensor of shape `(batch, length)`, boolean or 0/1;
            `False`/0 tokens are ignored. Defaults to `None` (all tokens).

    Returns:
        Tensor of shape `(batch, output_dim or dim)`.

    Example:
    ```python
    tokens = keras.random.normal((2, 7, 64))
    pooling = kvdm.layers.AttentionPooling(num_heads=4, output_dim=128)
    pooling(tokens).shape  # (2, 128)
    ```

    References:
        - [Radford et al., 2021. Learning Transferable Visual Models From
          Natural Language Supervision](https://arxiv.org/abs/2103.00020)
        - [Ho et al., 2022. Video Diffusion Models, section 4.4](
          https://arxiv.org/abs/2204.03458)
    """

    def __init__(
        self,
        num_heads=8,
        output_dim=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        query_initializer="truncated_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.positive_int(num_heads, "num_heads")
        validation.positive_int(output_dim, "output_dim", allow_none=True)
        self.num_heads = num_heads
        self.output_dim = output_dim
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.query_initializer = keras.initializers.get(query_initializer)
        self.supports_masking = True

    def build(self, inputs_shape, mask_shape=None):
        if len(inputs_shape) != 3:
            raise ValueError(
                "AttentionPooling expects inputs of shape "
                f"(batch, length, dim). Received: inputs_shape={inputs_shape}"
            )
        dim = inputs_shape[-1]
        if dim % self.num_heads != 0:
            raise ValueError(
                f"AttentionPooling splits the token dimension {dim} into "
                f"{self.num_heads} heads, but {dim} is not divisible by "
                f"{self.num_heads}. Received: num_heads={self.num_heads}"
            )
        self._head_channels = dim // self.num_heads
        self.query = self.add_weight(
            name="query", shape=(dim,), initializer=self.query_initializer
        )
        self.query_projection = keras.layers.Dense(
            dim,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="query_projection",
        )
        self.query_projection.build((None, None, dim))
        self.key_value_projection = keras.layers.Dense(
            2 * dim,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="key_value_projection",
        )
        self.key_value_projection.build((None, None, dim))
        self.output_projection = keras.layers.Dense(
            self.output_dim or dim,
            use_bias=self.use_bias,
            kernel_initializer=self.kernel_initializer,
            dtype=self.dtype_policy,
            name="output_projection",
        )
        self.output_projection.build((None, dim))

    def call(self, inputs, mask=None):
        dim = ops.shape(inputs)[-1]
        if mask is None:
            pooled = ops.mean(inputs, axis=1, keepdims=True)
            keep = None
        else:
            weights = ops.cast(mask, inputs.dtype)[:, :, None]
            count = ops.maximum(ops.sum(weights, axis=1, keepdims=True), 1.0)
            pooled = ops.sum(inputs * weights, axis=1, keepdims=True) / count
            # The mean token (first key) is always visible.
            keep = ops.concatenate(
                [ops.ones_like(mask[:, :1], dtype="bool"),
                 ops.cast(mask, "bool")],
                axis=1,
            )[:, None, None, :]  # (batch, 1, 1, 1 + length)
        tokens = ops.concatenate([pooled, inputs], axis=1)
        query = self.query_projection(pooled + self.query)
        key_value = self.key_value_projection(tokens)
        key, value = ops.split(key_value, 2, axis=-1)
        heads = (self.num_heads, self._head_channels)
        query = ops.reshape(query, (-1, 1, *heads))
        key = ops.reshape(key, (-1, ops.shape(key)[1], *heads))
        value = ops.reshape(value, (-1, ops.shape(value)[1], *heads))
        x = dot_product_attention(query, key, value, mask=keep)
        x = ops.reshape(x, (-1, dim))
        return self.output_projection(x)

    def compute_output_shape(self, inputs_shape, mask_shape=None):
        return (inputs_shape[0], self.output_dim or inputs_shape[-1])

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "output_dim": self.output_dim,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "query_initializer": keras.initializers.serialize(
                    self.query_initializer
                ),
            }
        )
        return config

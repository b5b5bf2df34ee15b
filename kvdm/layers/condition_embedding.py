"""Embedding of the conditioning signal, with a learned null embedding."""

import keras
from keras import ops

from kvdm.layers.attention_pooling import AttentionPooling
from kvdm.utils import validation


@keras.saving.register_keras_serializable(package="kvdm")
class ConditionEmbedding(keras.layers.Layer):
    """Projects a condition vector or token sequence to an embedding.

    Section 3 of the paper adds an embedding of the conditioning information
    `c` (for text-to-video, BERT-large embeddings of the caption, section
    4.4) into every residual block, after several MLP layers. A token
    sequence `(batch, length, dim)` is first pooled into one vector with
    `AttentionPooling`; tokens that are entirely zero count as padding and
    are ignored. A vector `(batch, dim)` goes straight to the MLP.

    The null condition is all zeros: a batch row whose condition is
    entirely zero is unconditional and gets a learned null embedding instead
    of the MLP output. Classifier-free guidance relies on this: condition
    dropout zeroes rows during training, and guided sampling evaluates the
    model on `[condition, zeros]` in one batch.

    Args:
        embedding_dim: int. Output width (and width of every MLP layer).
        num_mlp_layers: int. Number of dense layers, with SiLU between them
            (not after the last). Defaults to `2`.
        pooling_heads: int. Attention heads of the pooling of token
            sequences; must divide the token dimension. Defaults to `8`.
        null_initializer: initializer of the null embedding. Defaults to
            `"random_normal"`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        condition: tensor of shape `(batch, dim)` or `(batch, length, dim)`.

    Returns:
        Tensor of shape `(batch, embedding_dim)`.

    Example:
    ```python
    embedding = kvdm.layers.ConditionEmbedding(128, pooling_heads=4)
    tokens = keras.random.normal((2, 7, 64))
    embedding(tokens).shape  # (2, 128)
    ```

    References:
        - [Ho et al., 2022. Video Diffusion Models, sections 3 and 4.4](
          https://arxiv.org/abs/2204.03458)
        - [Ho and Salimans, 2022. Classifier-Free Diffusion Guidance](
          https://arxiv.org/abs/2207.12598)
    """

    def __init__(
        self,
        embedding_dim,
        num_mlp_layers=2,
        pooling_heads=8,
        null_initializer="random_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        # The zero test runs on the condition as given (no cast to a low
        # precision dtype); the null embedding is cast explicitly.
        self.autocast = False
        validation.positive_int(embedding_dim, "embedding_dim")
        validation.int_at_least(num_mlp_layers, "num_mlp_layers", 1)
        validation.positive_int(pooling_heads, "pooling_heads")
        self.embedding_dim = embedding_dim
        self.num_mlp_layers = num_mlp_layers
        self.pooling_heads = pooling_heads
        self.null_initializer = keras.initializers.get(null_initializer)

    def build(self, condition_shape):
        if len(condition_shape) not in (2, 3) or condition_shape[-1] is None:
            raise ValueError(
                "ConditionEmbedding expects a condition of shape (batch, dim) "
                "or (batch, length, dim) with a defined `dim`. "
                f"Received: condition_shape={condition_shape}"
            )
        dim = condition_shape[-1]
        self._is_sequence = len(condition_shape) == 3
        if self._is_sequence:
            self.pooling = AttentionPooling(
                num_heads=self.pooling_heads,
                dtype=self.dtype_policy,
                name="pooling",
            )
            self.pooling.build(tuple(condition_shape))
        else:
            self.pooling = None
        self.dense_layers = []
        width = dim
        for index in range(self.num_mlp_layers):
            layer = keras.layers.Dense(
                self.embedding_dim,
                dtype=self.dtype_policy,
                name=f"dense_{index}",
            )
            layer.build((condition_shape[0], width))
            self.dense_layers.append(layer)
            width = self.embedding_dim
        self.null_embedding = self.add_weight(
            name="null_embedding",
            shape=(self.embedding_dim,),
            initializer=self.null_initializer,
        )

    def null(self, batch_size):
        """The null embedding repeated `batch_size` times."""
        null = ops.cast(self.null_embedding, self.compute_dtype)
        return ops.broadcast_to(null[None, :], (batch_size, self.embedding_dim))

    def call(self, condition):
        condition = ops.convert_to_tensor(condition)
        rank = len(condition.shape)
        if rank != (3 if self._is_sequence else 2):
            expected = (
                "token sequences (batch, length, dim)"
                if self._is_sequence
                else "vectors (batch, dim)"
            )
            raise ValueError(
                f"ConditionEmbedding was built for {expected} and cannot "
                "take a condition of another rank. "
                f"Received: condition.shape={condition.shape}"
            )
        nonzero = ops.not_equal(condition, ops.zeros((), condition.dtype))
        # A row is unconditional when every entry is zero.
        is_null = ops.logical_not(
            ops.any(ops.reshape(nonzero, (ops.shape(condition)[0], -1)), axis=1)
        )
        hidden = ops.cast(condition, self.compute_dtype)
        if self.pooling is not None:
            # All-zero tokens are padding. A null row keeps every token so
            # that its (discarded) pooled value stays finite.
            token_mask = ops.logical_or(
                ops.any(nonzero, axis=-1), is_null[:, None]
            )
            hidden = self.pooling(hidden, mask=token_mask)
        for index, layer in enumerate(self.dense_layers):
            if index > 0:
                hidden = ops.silu(hidden)
            hidden = layer(hidden)
        null = ops.cast(self.null_embedding, hidden.dtype)[None, :]
        return ops.where(is_null[:, None], null, hidden)

    def compute_output_shape(self, condition_shape):
        return (condition_shape[0], self.embedding_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "embedding_dim": self.embedding_dim,
                "num_mlp_layers": self.num_mlp_layers,
                "pooling_heads": self.pooling_heads,
                "null_initializer": keras.initializers.serialize(
                    self.null_initializer
                ),
            }
        )
        return config

"""Learned attention bias indexed by bucketed relative frame distance."""

import math

import keras
from keras import ops

from kvdm.utils import validation


@keras.saving.register_keras_serializable(package="kvdm")
class RelativePositionBias(keras.layers.Layer):
    """Per-head attention bias that depends only on the frame offset.

    The temporal attention of section 3 of the paper uses relative position
    embeddings so the network can tell frames apart without an absolute notion
    of video time. For a query frame `i` and a key frame `j` the offset
    `j - i` is mapped to one of `num_buckets` buckets (exact buckets for
    small offsets, logarithmically wider ones up to `max_distance`, as in
    Raffel et al.), and each bucket holds one learned scalar per head.
    Because only offsets enter, the bias works for any number of frames: a
    model trained on 16 frames runs on 9 or 24.

    Args:
        num_heads: int. Number of attention heads.
        num_buckets: int. Number of buckets. With `bidirectional=True`, half
            of them are used for each direction, so it must be even.
            Defaults to `32`.
        max_distance: int. Offsets at or beyond this distance share the last
            bucket. Defaults to `64`.
        bidirectional: bool. Whether past and future offsets get separate
            buckets. If `False`, future offsets (`j > i`) share bucket 0.
            Defaults to `True`.
        embeddings_initializer: initializer of the bias table. Defaults to
            `"truncated_normal"`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        num_frames: python int (or scalar integer tensor). Number of frames.

    Returns:
        Tensor of shape `(num_heads, num_frames, num_frames)`; entry
        `[h, i, j]` is the bias of head `h` for query frame `i` and key frame
        `j`.

    Example:
    ```python
    bias = kvdm.layers.RelativePositionBias(num_heads=4)
    bias(16).shape  # (4, 16, 16)
    ```

    References:
        - [Ho et al., 2022. Video Diffusion Models, section 3](
          https://arxiv.org/abs/2204.03458)
        - [Shaw et al., 2018. Self-Attention with Relative Position
          Representations](https://arxiv.org/abs/1803.02155)
        - [Raffel et al., 2020. Exploring the Limits of Transfer Learning
          with a Unified Text-to-Text Transformer](
          https://arxiv.org/abs/1910.10683)
    """

    def __init__(
        self,
        num_heads,
        num_buckets=32,
        max_distance=64,
        bidirectional=True,
        embeddings_initializer="truncated_normal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.positive_int(num_heads, "num_heads")
        exact = num_buckets // 2 if bidirectional else num_buckets
        if not validation.is_int(num_buckets) or exact < 2:
            raise ValueError(
                "`num_buckets` must be an integer of at least 2 (at least 4 "
                "when `bidirectional=True`). "
                f"Received: num_buckets={num_buckets}"
            )
        if bidirectional and num_buckets % 2 != 0:
            raise ValueError(
                "`num_buckets` must be even when `bidirectional=True`, half "
                f"for each direction. Received: num_buckets={num_buckets}"
            )
        if not validation.is_int(max_distance) or max_distance <= exact // 2:
            raise ValueError(
                "`max_distance` must be an integer larger than the number of "
                f"exact buckets ({exact // 2}). "
                f"Received: max_distance={max_distance}"
            )
        self.num_heads = num_heads
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.bidirectional = bidirectional
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer
        )

    def build(self, num_frames_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.num_buckets, self.num_heads),
            initializer=self.embeddings_initializer,
        )

    def __call__(self, num_frames, **kwargs):
        # Keras only accepts tensors as positional arguments; passing the
        # frame count by keyword lets it be a python int.
        return super().__call__(num_frames=num_frames, **kwargs)

    def relative_position_bucket(self, relative_position):
        """Maps integer offsets `j - i` to buckets in `[0, num_buckets)`."""
        relative_position = ops.cast(relative_position, "int32")
        num_buckets = self.num_buckets
        buckets = ops.zeros_like(relative_position)
        if self.bidirectional:
            num_buckets //= 2
            buckets = ops.where(relative_position > 0, num_buckets, 0)
            distance = ops.abs(relative_position)
        else:
            distance = ops.maximum(ops.negative(relative_position), 0)
        # Half the buckets are exact offsets 0 .. max_exact - 1; the rest
        # cover max_exact .. max_distance on a log scale.
        max_exact = num_buckets // 2
        log_ratio = ops.log(
            ops.cast(ops.maximum(distance, 1), "float32") / max_exact
        ) / math.log(self.max_distance / max_exact)
        large = max_exact + ops.cast(
            log_ratio * (num_buckets - max_exact), "int32"
        )
        large = ops.minimum(large, num_buckets - 1)
        buckets = buckets + ops.where(distance < max_exact, distance, large)
        return ops.cast(buckets, "int32")

    def call(self, num_frames):
        positions = ops.arange(num_frames, dtype="int32")
        # relative[i, j] = j - i (key frame minus query frame).
        relative = positions[None, :] - positions[:, None]
        buckets = self.relative_position_bucket(relative)
        bias = ops.take(self.embeddings, buckets, axis=0)  # (T, T, heads)
        return ops.transpose(bias, (2, 0, 1))

    def compute_output_shape(self, num_frames_shape=None):
        return (self.num_heads, None, None)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_heads": self.num_heads,
                "num_buckets": self.num_buckets,
                "max_distance": self.max_distance,
                "bidirectional": self.bidirectional,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config

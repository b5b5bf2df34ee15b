"""Residual block of the space-time factorized U-Net."""

import keras
from keras import ops

from kvdm.layers.attention_ops import resolve_groups
from kvdm.layers.frame_group_norm import FrameGroupNormalization
from kvdm.layers.space_only_conv3d import SpaceOnlyConv3D
from kvdm.layers.temporal_shift import temporal_shift
from kvdm.utils import backend_utils
from kvdm.utils import validation


def _clone(initializer):
    """A fresh copy, so that no two weights share one initializer object."""
    return keras.initializers.get(keras.initializers.serialize(initializer))


@keras.saving.register_keras_serializable(package="kvdm")
class ResBlock(keras.layers.Layer):
    """A residual block of space-only convolutions with an embedding added in.

    The image U-Net residual block (Wide ResNet style, as in DDPM and
    improved DDPM) with each 3x3 convolution replaced by a 1x3x3 space-only
    convolution (section 3 of the paper). The conditioning embedding (log-SNR
    plus optional condition, shape `(batch, embedding_dim)`) is projected by a
    dense layer and added to every frame and position. With
    `use_scale_shift_norm=True` it instead scales and shifts the output of the
    second normalization, `norm(h) * (1 + scale) + shift`.

    Group normalization statistics are computed per frame
    (`FrameGroupNormalization`), so the block processes frames fully
    independently (unless `temporal_shift` is set, and then image frames
    still stay apart): this is what lets image frames be appended to a video
    for joint training.

    Args:
        filters: int. Number of output channels.
        dropout: float. Dropout rate before the second convolution. Defaults
            to `0.0`.
        groups: int. Number of groups of the group normalizations, at most
            the number of channels normalized (as in the attention layers).
            The channels must split evenly into the groups. Defaults to
            `32`.
        epsilon: float. Epsilon of the group normalizations. Defaults to
            `1e-5`.
        use_scale_shift_norm: bool. Whether the embedding scales and shifts
            the second normalization instead of being added before it.
            Defaults to `False`.
        kernel_initializer: initializer of the first convolution and the skip
            projection. Defaults to `"glorot_uniform"`.
        zero_init_output: bool. Whether the last convolution starts at zero,
            so that the block starts as the identity (or the skip
            projection). Defaults to `True`.
        temporal_shift: float. Share of the channels moved one frame forward
            or back (half each way) before the first convolution
            (`kvdm.layers.temporal_shift`), so that the block mixes
            neighbouring frames at offsets of up to a pixel. `0` keeps the
            paper's frame-by-frame block. Defaults to `0.0`.
        seed: int or None. Seed of the dropout. Defaults to `None`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: tensor of shape `(batch, frames, height, width, channels)`.
        embedding: tensor of shape `(batch, embedding_dim)`, the same for
            every frame, or `(batch, frames, embedding_dim)`, one per frame
            (as `VideoContext` makes).
        training: bool. Whether dropout is active.
        num_image_frames: python int. Independent image frames at the end
            of the frame axis, which the temporal shift leaves alone.
            Defaults to `0`.

    Returns:
        Tensor of shape `(batch, frames, height, width, filters)`.

    Example:
    ```python
    video = keras.random.normal((2, 4, 16, 16, 32))
    embedding = keras.random.normal((2, 128))
    block = kvdm.layers.ResBlock(64, groups=8)
    block(video, embedding).shape  # (2, 4, 16, 16, 64)
    ```

    References:
        - [Ho et al., 2022. Video Diffusion Models, section 3](
          https://arxiv.org/abs/2204.03458)
        - [Ho et al., 2020. Denoising Diffusion Probabilistic Models](
          https://arxiv.org/abs/2006.11239)
    """

    def __init__(
        self,
        filters,
        dropout=0.0,
        groups=32,
        epsilon=1e-5,
        use_scale_shift_norm=False,
        kernel_initializer="glorot_uniform",
        zero_init_output=True,
        seed=None,
        temporal_shift=0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.positive_int(filters, "filters")
        validation.fraction(dropout, "dropout")
        temporal_shift = validation.fraction(
            temporal_shift, "temporal_shift", include_one=True
        )
        self.temporal_shift = float(temporal_shift)
        validation.positive_int(groups, "groups")
        self.filters = filters
        self.dropout = float(dropout)
        self.groups = groups
        self.epsilon = float(epsilon)
        self.use_scale_shift_norm = bool(use_scale_shift_norm)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.zero_init_output = bool(zero_init_output)
        self.seed = seed

    def build(self, inputs_shape, embedding_shape):
        if len(inputs_shape) != 5:
            raise ValueError(
                "ResBlock expects inputs of shape "
                "(batch, frames, height, width, channels). "
                f"Received: inputs_shape={inputs_shape}"
            )
        if len(embedding_shape) not in (2, 3) or embedding_shape[-1] is None:
            raise ValueError(
                "ResBlock expects an embedding of shape "
                "(batch, embedding_dim) or (batch, frames, embedding_dim). "
                f"Received: embedding_shape={embedding_shape}"
            )
        channels = inputs_shape[-1]
        inputs_shape = tuple(inputs_shape)
        hidden_shape = inputs_shape[:-1] + (self.filters,)

        self.norm_1 = FrameGroupNormalization(
            groups=resolve_groups(channels, self.groups, "ResBlock"),
            epsilon=self.epsilon,
            dtype=self.dtype_policy,
            name="norm_1",
        )
        self.norm_1.build(inputs_shape)
        self.conv_1 = SpaceOnlyConv3D(
            self.filters,
            kernel_size=3,
            kernel_initializer=_clone(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="conv_1",
        )
        self.conv_1.build(inputs_shape)
        projection_units = (
            2 * self.filters if self.use_scale_shift_norm else self.filters
        )
        self.embedding_projection = keras.layers.Dense(
            projection_units,
            dtype=self.dtype_policy,
            name="embedding_projection",
        )
        self.embedding_projection.build(tuple(embedding_shape))
        self.norm_2 = FrameGroupNormalization(
            groups=resolve_groups(self.filters, self.groups, "ResBlock"),
            epsilon=self.epsilon,
            dtype=self.dtype_policy,
            name="norm_2",
        )
        self.norm_2.build(hidden_shape)
        self.dropout_layer = keras.layers.Dropout(
            self.dropout,
            seed=self.seed,
            dtype=self.dtype_policy,
            name="dropout",
        )
        self.conv_2 = SpaceOnlyConv3D(
            self.filters,
            kernel_size=3,
            kernel_initializer=(
                "zeros"
                if self.zero_init_output
                else _clone(self.kernel_initializer)
            ),
            dtype=self.dtype_policy,
            name="conv_2",
        )
        self.conv_2.build(hidden_shape)
        if channels != self.filters:
            self.skip_projection = SpaceOnlyConv3D(
                self.filters,
                kernel_size=1,
                kernel_initializer=_clone(self.kernel_initializer),
                dtype=self.dtype_policy,
                name="skip_projection",
            )
            self.skip_projection.build(inputs_shape)
        else:
            self.skip_projection = None

    def call(self, inputs, embedding, training=None, num_image_frames=0):
        hidden = self.norm_1(inputs)
        hidden = ops.silu(hidden)
        if self.temporal_shift > 0.0:
            hidden = temporal_shift(
                hidden, self.temporal_shift, num_image_frames=num_image_frames
            )
        hidden = self.conv_1(hidden)

        embedding = self.embedding_projection(ops.silu(embedding))
        embedding = ops.cast(embedding, hidden.dtype)
        if len(embedding.shape) == 2:
            # (batch, units) -> (batch, 1, 1, 1, units): the same vector for
            # every frame and position.
            embedding = embedding[:, None, None, None, :]
        else:
            # (batch, frames, units) -> (batch, frames, 1, 1, units): one
            # vector per frame, the same at every position.
            embedding = embedding[:, :, None, None, :]
        if self.use_scale_shift_norm:
            scale, shift = ops.split(embedding, 2, axis=-1)
            hidden = self.norm_2(hidden) * (1.0 + scale) + shift
        else:
            hidden = self.norm_2(hidden + embedding)
        hidden = ops.silu(hidden)
        hidden = self._dropout(hidden, training)
        hidden = self.conv_2(hidden)

        skip = inputs
        if self.skip_projection is not None:
            skip = self.skip_projection(inputs)
        return skip + hidden

    def _dropout(self, hidden, training):
        if not training or self.dropout == 0.0:
            return hidden
        if backend_utils.replica_position()[1] == 1:
            return self.dropout_layer(hidden, training=training)
        # Replicas of data-parallel training: each keeps its rows of the
        # masks of the global batch (the same values as on one device).
        mask = backend_utils.per_example_draw(
            lambda shape: keras.random.dropout(
                ops.ones(shape, hidden.dtype),
                self.dropout,
                seed=self.dropout_layer.seed_generator,
            ),
            ops.shape(hidden),
        )
        return hidden * mask

    def compute_output_shape(self, inputs_shape, embedding_shape):
        return tuple(inputs_shape)[:-1] + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "dropout": self.dropout,
                "groups": self.groups,
                "epsilon": self.epsilon,
                "use_scale_shift_norm": self.use_scale_shift_norm,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "zero_init_output": self.zero_init_output,
                "seed": self.seed,
                "temporal_shift": self.temporal_shift,
            }
        )
        return config

"""Doubles height and width of a video, leaving frames untouched."""

import keras
from keras import ops

from kvdm.layers.space_only_conv3d import SpaceOnlyConv3D


@keras.saving.register_keras_serializable(package="kvdm")
class SpatialUpsample(keras.layers.Layer):
    """Upsamples height and width by a factor of 2, frame by frame.

    The upsampling blocks of Figure 1 of the paper double the spatial
    resolution and keep the number of frames: nearest-neighbour upsampling of
    height and width, followed (with `use_conv=True`) by a 3x3 space-only
    convolution.

    Args:
        filters: int or None. Number of output channels of the convolution.
            `None` keeps the input channel count. Must be `None` (or equal to
            the input channels) when `use_conv=False`. Defaults to `None`.
        use_conv: bool. Whether to follow the upsampling with a convolution.
            Defaults to `True`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: tensor of shape `(batch, frames, height, width, channels)`.

    Returns:
        Tensor of shape `(batch, frames, 2 * height, 2 * width, filters)`.

    Example:
    ```python
    video = keras.random.normal((2, 4, 8, 8, 32))
    kvdm.layers.SpatialUpsample()(video).shape  # (2, 4, 16, 16, 32)
    ```

    References:
        - [Ho et al., 2022. Video Diffusion Models, Figure 1](
          https://arxiv.org/abs/2204.03458)
    """

    def __init__(self, filters=None, use_conv=True, **kwargs):
        super().__init__(**kwargs)
        if filters is not None and (
            not isinstance(filters, int) or filters <= 0
        ):
            raise ValueError(
                "`filters` must be None or a positive integer. "
                f"Received: filters={filters}"
            )
        self.filters = filters
        self.use_conv = bool(use_conv)

    def build(self, inputs_shape):
        if len(inputs_shape) != 5:
            raise ValueError(
                "SpatialUpsample expects inputs of shape "
                "(batch, frames, height, width, channels). "
                f"Received: inputs_shape={inputs_shape}"
            )
        channels = inputs_shape[-1]
        output_channels = self.filters or channels
        if self.use_conv:
            self.conv = SpaceOnlyConv3D(
                output_channels,
                kernel_size=3,
                dtype=self.dtype_policy,
                name="conv",
            )
            self.conv.build(self._upsampled_shape(inputs_shape, channels))
        elif output_channels != channels:
            raise ValueError(
                "Nearest upsampling keeps the channel count: `filters` must "
                "be None or equal to the input channels when "
                f"`use_conv=False`. Received: filters={self.filters}, "
                f"inputs_shape={inputs_shape}"
            )

    @staticmethod
    def _upsampled_shape(inputs_shape, channels):
        batch, frames, height, width, _ = inputs_shape
        return (
            batch,
            frames,
            None if height is None else 2 * height,
            None if width is None else 2 * width,
            channels,
        )

    def call(self, inputs):
        outputs = ops.repeat(inputs, 2, axis=2)
        outputs = ops.repeat(outputs, 2, axis=3)
        if self.use_conv:
            outputs = self.conv(outputs)
        return outputs

    def compute_output_shape(self, inputs_shape):
        return self._upsampled_shape(
            inputs_shape, self.filters or inputs_shape[-1]
        )

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "use_conv": self.use_conv})
        return config

"""Doubles height and width of a video, leaving frames untouched."""

import keras
from keras import ops

from kvdm.layers.spatial_resample import SpatialResampleBase


@keras.saving.register_keras_serializable(package="kvdm")
class SpatialUpsample(SpatialResampleBase):
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

    def build(self, inputs_shape):
        self._check_rank(inputs_shape)
        self._build_conv(
            inputs_shape,
            self._upsampled_shape(inputs_shape, inputs_shape[-1]),
            strides=1,
            method="Nearest upsampling",
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

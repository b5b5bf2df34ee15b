"""Halves height and width of a video, leaving frames untouched."""

import keras
from keras import ops

from kvdm.layers.spatial_resample import SpatialResampleBase


@keras.saving.register_keras_serializable(package="kvdm")
class SpatialDownsample(SpatialResampleBase):
    """Downsamples height and width by a factor of 2, frame by frame.

    The downsampling blocks of Figure 1 of the paper reduce the spatial
    resolution by 2 and keep the number of frames. With `use_conv=True` a
    3x3 space-only convolution with stride 2 does it; otherwise a 2x2 average
    pooling over height and width.

    Args:
        filters: int or None. Number of output channels of the convolution.
            `None` keeps the input channel count. Must be `None` (or equal to
            the input channels) when `use_conv=False`. Defaults to `None`.
        use_conv: bool. Whether to use a strided convolution (`True`) or
            average pooling (`False`). Defaults to `True`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: tensor of shape `(batch, frames, height, width, channels)`
            with even `height` and `width`.

    Returns:
        Tensor of shape `(batch, frames, height // 2, width // 2, filters)`.

    Example:
    ```python
    video = keras.random.normal((2, 4, 16, 16, 32))
    kvdm.layers.SpatialDownsample()(video).shape  # (2, 4, 8, 8, 32)
    ```

    References:
        - [Ho et al., 2022. Video Diffusion Models, Figure 1](
          https://arxiv.org/abs/2204.03458)
    """

    def build(self, inputs_shape):
        self._check_rank(inputs_shape)
        for size in inputs_shape[2:4]:
            if size is not None and size % 2 != 0:
                raise ValueError(
                    "SpatialDownsample needs an even height and width. "
                    f"Received: inputs_shape={inputs_shape}"
                )
        self._build_conv(
            inputs_shape, inputs_shape, strides=2, method="Average pooling"
        )

    def call(self, inputs):
        if self.use_conv:
            return self.conv(inputs)
        # 2x2 average pooling written as a reshape and a mean, which every
        # backend supports in every float dtype.
        shape = ops.shape(inputs)
        blocks = ops.reshape(
            inputs,
            (
                shape[0],
                shape[1],
                shape[2] // 2,
                2,
                shape[3] // 2,
                2,
                shape[4],
            ),
        )
        return ops.mean(blocks, axis=(3, 5))

    def compute_output_shape(self, inputs_shape):
        batch, frames, height, width, channels = inputs_shape
        return (
            batch,
            frames,
            None if height is None else height // 2,
            None if width is None else width // 2,
            self.filters or channels,
        )

"""Private base of the spatial down- and upsampling layers."""

import keras

from kvdm.layers.space_only_conv3d import SpaceOnlyConv3D
from kvdm.utils import validation


class SpatialResampleBase(keras.layers.Layer):
    """Shared part of `SpatialDownsample` and `SpatialUpsample`.

    Holds the `filters` / `use_conv` arguments, the input rank check and the
    optional 3x3 space-only convolution (`conv`). Subclasses decide how height
    and width change and where the convolution sits.

    Not part of the public API: see the subclasses for the arguments.
    """

    def __init__(self, filters=None, use_conv=True, **kwargs):
        super().__init__(**kwargs)
        validation.positive_int(filters, "filters", allow_none=True)
        self.filters = filters
        self.use_conv = bool(use_conv)

    def _check_rank(self, inputs_shape):
        if len(inputs_shape) != 5:
            raise ValueError(
                f"{type(self).__name__} expects inputs of shape "
                "(batch, frames, height, width, channels). "
                f"Received: inputs_shape={inputs_shape}"
            )

    def _build_conv(self, inputs_shape, conv_inputs_shape, strides, method):
        """Builds `conv` when `use_conv`, else checks the channels are kept.

        Args:
            inputs_shape: shape of the layer inputs.
            conv_inputs_shape: shape the convolution sees.
            strides: int. Spatial stride of the convolution.
            method: str. The resampling without convolution, for the error
                message.
        """
        channels = inputs_shape[-1]
        output_channels = self.filters or channels
        if self.use_conv:
            self.conv = SpaceOnlyConv3D(
                output_channels,
                kernel_size=3,
                strides=strides,
                dtype=self.dtype_policy,
                name="conv",
            )
            self.conv.build(tuple(conv_inputs_shape))
        elif output_channels != channels:
            raise ValueError(
                f"{method} keeps the channel count: `filters` must be None "
                "or equal to the input channels when `use_conv=False`. "
                f"Received: filters={self.filters}, "
                f"inputs_shape={inputs_shape}"
            )

    def get_config(self):
        config = super().get_config()
        config.update({"filters": self.filters, "use_conv": self.use_conv})
        return config

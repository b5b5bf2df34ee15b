"""Space-only 3D convolution: a 1 x k x k kernel that never mixes frames."""

import keras
from keras import ops

from kvdm.utils import backend_utils
from kvdm.utils import validation

_IMPLEMENTATIONS = ("auto", "conv2d", "conv3d")

# Measured on a shared 2-core CPU for a (4, 8, 32, 32, 64) float32 input, 3x3
# kernel, 64 filters (milliseconds per call, median of 7 x 5 calls; the second
# figure is a repeat under heavier load from other processes):
#   tensorflow (eager)    conv2d 17.4 / 90.5   conv3d 17.6 / 98.0
#   tensorflow (XLA jit)  conv2d 16.1 / 93.6   conv3d 46.7 / 266.8
#   jax (jit)             conv2d 33.5 / 76.6   conv3d 45.3 / 195.8
#   torch (eager)         conv2d 19.6 / 160.4  conv3d 21.7 / 168.3
# Folding frames into the batch and running a 2D convolution is never slower,
# so "auto" resolves to "conv2d" on every backend. Accelerators were not
# measured; pass `implementation` explicitly to override.
_AUTO_IMPLEMENTATION = "conv2d"


def _normalize_pair(value, name):
    if validation.is_int(value):
        value = (value, value)
    value = tuple(value)
    if len(value) != 2 or not all(
        validation.is_int(v) and v > 0 for v in value
    ):
        raise ValueError(
            f"`{name}` must be a positive integer or a pair of positive "
            f"integers (height, width). Received: {name}={value}"
        )
    return value


@keras.saving.register_keras_serializable(package="kvdm")
class SpaceOnlyConv3D(keras.layers.Layer):
    """A 1 x k x k convolution over `(frames, height, width)`.

    Section 3 of the paper turns every 2D convolution of an image U-Net into a
    space-only 3D convolution: the kernel spans height and width but a single
    frame, so frames are processed independently with shared weights.

    The layer owns one kernel of shape `(k_h, k_w, channels, filters)` whatever
    the implementation, so weights move freely between implementations.
    `"conv2d"` folds the frames into the batch and runs a 2D convolution;
    `"conv3d"` runs a 3D convolution with the kernel expanded to
    `(1, k_h, k_w, channels, filters)`. Both give the same result. On
    PyTorch, `"conv2d"` with stride 1 and an odd kernel calls
    `torch.nn.functional.conv2d` on the channels-last view of the frames,
    which avoids the layout copies of `keras.ops.conv`.

    Args:
        filters: int. Number of output channels.
        kernel_size: int or pair of ints. Spatial size `(k_h, k_w)` of the
            kernel. Defaults to `3`.
        strides: int or pair of ints. Spatial strides. Frames are never
            strided. Defaults to `1`.
        padding: str. `"same"` or `"valid"`, applied to height and width.
            Defaults to `"same"`.
        use_bias: bool. Whether to add a bias. Defaults to `True`.
        kernel_initializer: initializer for the kernel. Defaults to
            `"glorot_uniform"`.
        bias_initializer: initializer for the bias. Defaults to `"zeros"`.
        implementation: str. `"conv2d"`, `"conv3d"` or `"auto"` (the faster
            one on the current backend). Defaults to `"auto"`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: tensor of shape `(batch, frames, height, width, channels)`.

    Returns:
        Tensor of shape `(batch, frames, height', width', filters)`.

    Example:
    ```python
    video = keras.random.normal((2, 4, 16, 16, 3))
    conv = kvdm.layers.SpaceOnlyConv3D(32)
    conv(video).shape  # (2, 4, 16, 16, 32)
    ```

    References:
        - [Ho et al., 2022. Video Diffusion Models, section 3](
          https://arxiv.org/abs/2204.03458)
    """

    def __init__(
        self,
        filters,
        kernel_size=3,
        strides=1,
        padding="same",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        implementation="auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.positive_int(filters, "filters")
        padding = str(padding).lower()
        if padding not in ("same", "valid"):
            raise ValueError(
                '`padding` must be "same" or "valid". '
                f"Received: padding={padding}"
            )
        validation.choice(implementation, "implementation", _IMPLEMENTATIONS)
        self.filters = filters
        self.kernel_size = _normalize_pair(kernel_size, "kernel_size")
        self.strides = _normalize_pair(strides, "strides")
        self.padding = padding
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.implementation = implementation
        if implementation == "auto":
            self._implementation = _AUTO_IMPLEMENTATION
        else:
            self._implementation = implementation

    def build(self, inputs_shape):
        if len(inputs_shape) != 5:
            raise ValueError(
                "SpaceOnlyConv3D expects inputs of shape "
                "(batch, frames, height, width, channels). "
                f"Received: inputs_shape={inputs_shape}"
            )
        channels = inputs_shape[-1]
        if channels is None:
            raise ValueError(
                "The channel axis of the inputs must be defined. "
                f"Received: inputs_shape={inputs_shape}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(*self.kernel_size, channels, self.filters),
            initializer=self.kernel_initializer,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.filters,),
                initializer=self.bias_initializer,
            )
        else:
            self.bias = None

    def call(self, inputs):
        if self._implementation == "conv3d":
            kernel = ops.expand_dims(self.kernel, axis=0)
            outputs = ops.conv(
                inputs,
                kernel,
                strides=(1, *self.strides),
                padding=self.padding,
                data_format="channels_last",
            )
        else:
            shape = ops.shape(inputs)
            frames = ops.reshape(inputs, (-1, shape[2], shape[3], shape[4]))
            outputs = None
            if self.strides == (1, 1):
                outputs = backend_utils.channels_last_conv2d(
                    frames, self.kernel, self.padding
                )
            if outputs is None:
                outputs = ops.conv(
                    frames,
                    self.kernel,
                    strides=self.strides,
                    padding=self.padding,
                    data_format="channels_last",
                )
            out_shape = ops.shape(outputs)
            outputs = ops.reshape(
                outputs,
                (-1, shape[1], out_shape[1], out_shape[2], self.filters),
            )
        if self.use_bias:
            outputs = ops.add(outputs, self.bias)
        return outputs

    def _output_length(self, length, axis):
        if length is None:
            return None
        kernel, stride = self.kernel_size[axis], self.strides[axis]
        if self.padding == "same":
            return (length + stride - 1) // stride
        return (length - kernel) // stride + 1

    def compute_output_shape(self, inputs_shape):
        batch, frames, height, width, _ = inputs_shape
        return (
            batch,
            frames,
            self._output_length(height, 0),
            self._output_length(width, 1),
            self.filters,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "implementation": self.implementation,
            }
        )
        return config

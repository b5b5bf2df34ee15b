"""Group normalization with statistics computed separately for every frame."""

import keras
from keras import ops

from kvdm.utils import backend_utils
from kvdm.utils import validation


@keras.saving.register_keras_serializable(package="kvdm")
class FrameGroupNormalization(keras.layers.Layer):
    """Group normalization whose statistics never mix frames.

    A plain group normalization of a `(batch, frames, height, width,
    channels)` tensor averages over frames, height, width and the channels of
    a group, so every frame's output depends on every other frame. That would
    break the guarantee that joint image-video training relies on (section 3
    and 4.3.1 of the paper): image frames appended to a video must be
    processed independently of the video and of each other, with temporal
    attention as the only place where frames meet. This layer computes the
    mean and variance over the spatial axes and the channels of a group for
    each `(batch, frame)` pair separately, which is exactly the group
    normalization of an image model applied frame by frame.

    Statistics are computed in float32 whatever the compute dtype, and the
    result is cast back to the compute dtype. On PyTorch a fused kernel
    (`torch.nn.functional.group_norm`) computes the same result; on
    TensorFlow the composition has its own gradient, which keeps only the
    input and the statistics for the backward pass; on JAX it is composed
    of `keras.ops`.

    Args:
        groups: int. Number of channel groups. The channel count must be
            divisible by it. Defaults to `32`.
        epsilon: float. Small constant added to the variance. Defaults to
            `1e-5`.
        center: bool. Whether to add a learned per-channel offset. Defaults to
            `True`.
        scale: bool. Whether to multiply by a learned per-channel scale.
            Defaults to `True`.
        beta_initializer: initializer for the offset. Defaults to `"zeros"`.
        gamma_initializer: initializer for the scale. Defaults to `"ones"`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: tensor of shape `(batch, frames, ..., channels)` with at least
            three axes; axes between frames and channels are spatial.

    Returns:
        Tensor of the same shape as `inputs`.

    Example:
    ```python
    video = keras.random.normal((2, 4, 16, 16, 32))
    norm = kvdm.layers.FrameGroupNormalization(groups=8)
    norm(video).shape  # (2, 4, 16, 16, 32)
    ```

    References:
        - [Wu and He, 2018. Group Normalization](
          https://arxiv.org/abs/1803.08494)
        - [Ho et al., 2022. Video Diffusion Models, section 3](
          https://arxiv.org/abs/2204.03458)
    """

    def __init__(
        self,
        groups=32,
        epsilon=1e-5,
        center=True,
        scale=True,
        beta_initializer="zeros",
        gamma_initializer="ones",
        **kwargs,
    ):
        super().__init__(**kwargs)
        validation.positive_int(groups, "groups")
        validation.positive_number(epsilon, "epsilon")
        self.groups = groups
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = keras.initializers.get(beta_initializer)
        self.gamma_initializer = keras.initializers.get(gamma_initializer)
        self.supports_masking = True
        # Variables stay float32 in `call` under mixed precision: the whole
        # normalization runs in float32 and only the result is cast.
        self.autocast = False

    def build(self, inputs_shape):
        if len(inputs_shape) < 3:
            raise ValueError(
                "FrameGroupNormalization expects inputs of shape "
                "(batch, frames, ..., channels). "
                f"Received: inputs_shape={inputs_shape}"
            )
        channels = inputs_shape[-1]
        if channels is None:
            raise ValueError(
                "The channel axis of the inputs must be defined. "
                f"Received: inputs_shape={inputs_shape}"
            )
        if channels % self.groups != 0:
            raise ValueError(
                f"The number of channels ({channels}) must be divisible by "
                f"`groups` ({self.groups}). Received: groups={self.groups}, "
                f"inputs_shape={inputs_shape}"
            )
        if self.scale:
            self.gamma = self.add_weight(
                name="gamma",
                shape=(channels,),
                initializer=self.gamma_initializer,
            )
        else:
            self.gamma = None
        if self.center:
            self.beta = self.add_weight(
                name="beta",
                shape=(channels,),
                initializer=self.beta_initializer,
            )
        else:
            self.beta = None

    def call(self, inputs):
        fused = backend_utils.fused_frame_group_norm(
            inputs,
            self.groups,
            None if self.gamma is None else self.gamma.value,
            None if self.beta is None else self.beta.value,
            self.epsilon,
        )
        if fused is not None:
            return ops.cast(fused, self.compute_dtype)
        shape = ops.shape(inputs)
        channels = inputs.shape[-1]
        x = ops.cast(inputs, "float32")
        # (batch, frames, spatial, groups, channels per group): the statistics
        # are taken over `spatial` and the channels of a group only.
        grouped = ops.reshape(
            x, (shape[0], shape[1], -1, self.groups, channels // self.groups)
        )
        mean = ops.mean(grouped, axis=(2, 4), keepdims=True)
        variance = ops.mean(
            ops.square(grouped - mean), axis=(2, 4), keepdims=True
        )
        normalized = (grouped - mean) * ops.rsqrt(variance + self.epsilon)
        normalized = ops.reshape(normalized, shape)
        if self.gamma is not None:
            normalized = normalized * ops.cast(self.gamma, "float32")
        if self.beta is not None:
            normalized = normalized + ops.cast(self.beta, "float32")
        return ops.cast(normalized, self.compute_dtype)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "groups": self.groups,
                "epsilon": self.epsilon,
                "center": self.center,
                "scale": self.scale,
                "beta_initializer": keras.initializers.serialize(
                    self.beta_initializer
                ),
                "gamma_initializer": keras.initializers.serialize(
                    self.gamma_initializer
                ),
            }
        )
        return config

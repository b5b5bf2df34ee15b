"""Embedding of the log signal-to-noise ratio that conditions the U-Net."""

import math

import keras
from keras import ops

from kvdm.utils import validation


@keras.saving.register_keras_serializable(package="kvdm")
class LogSNREmbedding(keras.layers.Layer):
    """Sinusoidal features of the log-SNR followed by an MLP.

    The network is conditioned on the log-SNR `lambda_t` of the noisy input
    (section 2 of the paper) rather than on a time index. `lambda_t` is first
    mapped linearly from `[logsnr_min, logsnr_max]` to `[0, 1000]`, the range
    of the integer time steps that transformer-style sinusoidal features were
    designed for, then encoded as
    `[sin(s * f_0), ..., sin(s * f_{k-1}), cos(s * f_0), ..., cos(s * f_{k-1})]`
    with geometrically spaced frequencies `f_i = max_period ** (-i / k)`.
    Section 3 adds that processing the embedding with several MLP layers
    helps; the appendix uses 2 to 4 layers. The features are always computed
    in float32; the log-SNR input is never cast to a low-precision dtype.

    Args:
        embedding_dim: int. Output width (and width of every MLP layer).
        num_mlp_layers: int. Number of dense layers, with SiLU between them
            (not after the last). Defaults to `2`.
        frequency_dim: int or None. Number of sinusoidal features (even).
            `None` uses `embedding_dim // 4` rounded up to an even number,
            at least 2. Defaults to `None`.
        logsnr_min: float. Log-SNR mapped to 0 before the sinusoids. Defaults
            to `-20.0`.
        logsnr_max: float. Log-SNR mapped to 1000. Defaults to `20.0`.
        max_period: float. Longest period of the sinusoids. Defaults to
            `10000.0`.
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        logsnr: tensor of shape `(batch,)`, the log-SNR of each example,
            or `(batch, frames)`, one per frame (frames given clean as
            context carry a high log-SNR of their own).

    Returns:
        Tensor of shape `logsnr.shape + (embedding_dim,)`.

    Example:
    ```python
    embedding = kvdm.layers.LogSNREmbedding(128)
    embedding(keras.ops.convert_to_tensor([-5.0, 3.0])).shape  # (2, 128)
    ```

    References:
        - [Ho et al., 2022. Video Diffusion Models, sections 2 and 3](
          https://arxiv.org/abs/2204.03458)
        - [Vaswani et al., 2017. Attention Is All You Need, section 3.5](
          https://arxiv.org/abs/1706.03762)
    """

    def __init__(
        self,
        embedding_dim,
        num_mlp_layers=2,
        frequency_dim=None,
        logsnr_min=-20.0,
        logsnr_max=20.0,
        max_period=10000.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        # The log-SNR keeps its float32 input dtype under mixed precision.
        self.autocast = False
        validation.positive_int(embedding_dim, "embedding_dim")
        validation.int_at_least(num_mlp_layers, "num_mlp_layers", 1)
        if frequency_dim is not None and (
            not validation.is_int(frequency_dim)
            or frequency_dim < 2
            or frequency_dim % 2 != 0
        ):
            raise ValueError(
                "`frequency_dim` must be None or an even integer of at least "
                f"2. Received: frequency_dim={frequency_dim}"
            )
        if not float(logsnr_min) < float(logsnr_max):
            raise ValueError(
                "`logsnr_min` must be smaller than `logsnr_max`. "
                f"Received: logsnr_min={logsnr_min}, logsnr_max={logsnr_max}"
            )
        if not max_period > 1:
            raise ValueError(
                "`max_period` must be greater than 1. "
                f"Received: max_period={max_period}"
            )
        self.embedding_dim = embedding_dim
        self.num_mlp_layers = num_mlp_layers
        self.frequency_dim = frequency_dim
        self.logsnr_min = float(logsnr_min)
        self.logsnr_max = float(logsnr_max)
        self.max_period = float(max_period)
        if frequency_dim is None:
            frequency_dim = max(2, 2 * ((embedding_dim // 4 + 1) // 2))
        self._frequency_dim = frequency_dim

    def build(self, logsnr_shape):
        if len(logsnr_shape) not in (1, 2):
            raise ValueError(
                "LogSNREmbedding expects a log-SNR of shape (batch,) or "
                "(batch, frames). "
                f"Received: logsnr_shape={logsnr_shape}"
            )
        self.dense_layers = []
        width = self._frequency_dim
        for index in range(self.num_mlp_layers):
            layer = keras.layers.Dense(
                self.embedding_dim,
                dtype=self.dtype_policy,
                name=f"dense_{index}",
            )
            layer.build(tuple(logsnr_shape) + (width,))
            self.dense_layers.append(layer)
            width = self.embedding_dim

    def sinusoidal_features(self, logsnr):
        """Returns the float32 `logsnr.shape + (frequency_dim,)` features."""
        logsnr = ops.cast(logsnr, "float32")
        # Map [logsnr_min, logsnr_max] linearly onto [0, 1000].
        scale = 1000.0 / (self.logsnr_max - self.logsnr_min)
        positions = (logsnr - self.logsnr_min) * scale
        half = self._frequency_dim // 2
        exponents = ops.arange(half, dtype="float32") / float(half)
        frequencies = ops.exp(-math.log(self.max_period) * exponents)
        angles = positions[..., None] * frequencies
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def call(self, logsnr):
        hidden = ops.cast(self.sinusoidal_features(logsnr), self.compute_dtype)
        for index, layer in enumerate(self.dense_layers):
            if index > 0:
                hidden = ops.silu(hidden)
            hidden = layer(hidden)
        return hidden

    def compute_output_shape(self, logsnr_shape):
        return tuple(logsnr_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "embedding_dim": self.embedding_dim,
                "num_mlp_layers": self.num_mlp_layers,
                "frequency_dim": self.frequency_dim,
                "logsnr_min": self.logsnr_min,
                "logsnr_max": self.logsnr_max,
                "max_period": self.max_period,
            }
        )
        return config

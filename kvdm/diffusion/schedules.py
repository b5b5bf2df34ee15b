"""Noise schedules in log-SNR space (section 2 of the paper).

A schedule maps time `t` in [0, 1] to the log signal-to-noise ratio
`lambda_t = log(alpha_t^2 / sigma_t^2)`, decreasing in `t`. Schedules are
stateless and serializable so that they can be swapped in a recipe.
"""

import math

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="kvdm")
class LogSNRSchedule:
    """Base class of noise schedules parameterized by log-SNR.

    Subclasses implement `logsnr(t)` and `t_from_logsnr(logsnr)` with
    `keras.ops`, both computed in float32.

    Args:
        logsnr_min: float. The log-SNR at `t = 1`. Defaults to -20.
        logsnr_max: float. The log-SNR at `t = 0`. Defaults to 20.
    """

    def __init__(self, logsnr_min=-20.0, logsnr_max=20.0):
        logsnr_min = float(logsnr_min)
        logsnr_max = float(logsnr_max)
        if not logsnr_min < logsnr_max:
            raise ValueError(
                "`logsnr_min` must be smaller than `logsnr_max`. "
                f"Received: logsnr_min={logsnr_min}, logsnr_max={logsnr_max}"
            )
        self.logsnr_min = logsnr_min
        self.logsnr_max = logsnr_max

    def __call__(self, t):
        return self.logsnr(t)

    def logsnr(self, t):
        raise NotImplementedError

    def t_from_logsnr(self, logsnr):
        raise NotImplementedError

    def get_config(self):
        return {"logsnr_min": self.logsnr_min, "logsnr_max": self.logsnr_max}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


@keras.saving.register_keras_serializable(package="kvdm")
class CosineSchedule(LogSNRSchedule):
    """The cosine schedule written in log-SNR space, clipped to a range.

    `lambda(t) = -2 log tan(a t + b)` with `b = arctan(exp(-lambda_max / 2))`
    and `a = arctan(exp(-lambda_min / 2)) - b`, so that `lambda(0)` is
    `logsnr_max` and `lambda(1)` is `logsnr_min` exactly. Without clipping this
    is `alpha_t = cos(pi t / 2)` (Nichol and Dhariwal, 2021).

    Args:
        logsnr_min: float. The log-SNR at `t = 1`. Defaults to -20.
        logsnr_max: float. The log-SNR at `t = 0`. Defaults to 20.

    Example:

    >>> schedule = CosineSchedule()
    >>> logsnr = schedule(keras.ops.convert_to_tensor([0.0, 0.5, 1.0]))
    """

    def _coefficients(self):
        b = math.atan(math.exp(-0.5 * self.logsnr_max))
        a = math.atan(math.exp(-0.5 * self.logsnr_min)) - b
        return a, b

    def logsnr(self, t):
        a, b = self._coefficients()
        t = ops.cast(t, "float32")
        angle = a * t + b
        # Near pi/2, tan loses float32 precision; there the identity
        # tan(x) = 1 / tan(pi/2 - x) keeps lambda(1) = logsnr_min exact.
        # pi/2 - angle is written as c + a (1 - t), c = arctan(exp(min / 2)).
        c = math.atan(math.exp(0.5 * self.logsnr_min))
        near = -2.0 * ops.log(ops.tan(angle))
        far = 2.0 * ops.log(ops.tan(c + a * (1.0 - t)))
        return ops.where(angle > 0.25 * math.pi, far, near)

    def t_from_logsnr(self, logsnr):
        a, b = self._coefficients()
        logsnr = ops.cast(logsnr, "float32")
        return (ops.arctan(ops.exp(-0.5 * logsnr)) - b) / a


SCHEDULES = {"cosine": CosineSchedule}


def get_schedule(identifier):
    """Returns a schedule from a name, a config dict or a schedule object."""
    if isinstance(identifier, LogSNRSchedule):
        return identifier
    if isinstance(identifier, str):
        if identifier not in SCHEDULES:
            raise ValueError(
                f"Unknown schedule name. Expected one of {sorted(SCHEDULES)}. "
                f"Received: schedule={identifier!r}"
            )
        return SCHEDULES[identifier]()
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    raise ValueError(
        "Expected a schedule name, config dict or LogSNRSchedule. "
        f"Received: schedule={identifier!r}"
    )

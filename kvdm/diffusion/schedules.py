"""Noise schedules in log-SNR space (section 2 of the paper).

A schedule maps time `t` in [0, 1] to the log signal-to-noise ratio
`lambda_t = log(alpha_t^2 / sigma_t^2)`, decreasing in `t`. Schedules are
stateless and serializable so that they can be swapped in a recipe.
"""

import math

import keras
from keras import ops

from kvdm.utils import validation


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

    With `shift = s` the whole curve moves by `s` in log-SNR,
    `lambda(t) = -2 log tan(a t + b) + s` (the "shifted cosine" of Hoogeboom
    et al., 2023), with `a` and `b` chosen so that the ends are still
    `logsnr_max` and `logsnr_min`. A negative shift spends more of `t`, and
    so more training examples and sampling steps, at high noise, where the
    large-scale content of a sample (for a video, what stays the same in
    every frame) is decided.

    Args:
        logsnr_min: float. The log-SNR at `t = 1`. Defaults to -20.
        logsnr_max: float. The log-SNR at `t = 0`. Defaults to 20.
        shift: float. Added to the log-SNR of the unshifted curve. Defaults
            to 0.

    Example:

    >>> schedule = CosineSchedule()
    >>> logsnr = schedule(keras.ops.convert_to_tensor([0.0, 0.5, 1.0]))
    """

    def __init__(self, logsnr_min=-20.0, logsnr_max=20.0, shift=0.0):
        super().__init__(logsnr_min=logsnr_min, logsnr_max=logsnr_max)
        self.shift = validation.finite_number(shift, "shift")
        if not self.logsnr_min < self.shift < self.logsnr_max:
            raise ValueError(
                "`shift` must lie between `logsnr_min` and `logsnr_max`. "
                f"Received: shift={shift!r}"
            )

    def _coefficients(self):
        b = math.atan(math.exp(-0.5 * (self.logsnr_max - self.shift)))
        a = math.atan(math.exp(-0.5 * (self.logsnr_min - self.shift))) - b
        return a, b

    def logsnr(self, t):
        a, b = self._coefficients()
        t = ops.cast(t, "float32")
        angle = a * t + b
        # Near pi/2, tan loses float32 precision; there the identity
        # tan(x) = 1 / tan(pi/2 - x) keeps lambda(1) = logsnr_min exact.
        # pi/2 - angle is written as c + a (1 - t), c = arctan(exp(min / 2)).
        c = math.atan(math.exp(0.5 * (self.logsnr_min - self.shift)))
        near = -2.0 * ops.log(ops.tan(angle))
        far = 2.0 * ops.log(ops.tan(c + a * (1.0 - t)))
        return ops.where(angle > 0.25 * math.pi, far, near) + self.shift

    def t_from_logsnr(self, logsnr):
        a, b = self._coefficients()
        logsnr = ops.cast(logsnr, "float32") - self.shift
        return (ops.arctan(ops.exp(-0.5 * logsnr)) - b) / a

    def get_config(self):
        return {**super().get_config(), "shift": self.shift}


# Keyed by `kvdm.names.SCHEDULES`.
SCHEDULES = {"cosine": CosineSchedule}


def get_schedule(identifier, **kwargs):
    """Returns a schedule from a name, a config dict or a schedule object.

    Args:
        identifier: str, dict or `LogSNRSchedule`. A name from `SCHEDULES`,
            a serialized schedule, or a schedule (returned as is).
        **kwargs: constructor arguments for a schedule given by name
            (`logsnr_min`, `logsnr_max`).

    Example:

    >>> schedule = get_schedule("cosine", logsnr_min=-15.0, logsnr_max=15.0)
    """
    if isinstance(identifier, str):
        validation.choice(
            identifier, "schedule", sorted(SCHEDULES), what="schedule name"
        )
        return SCHEDULES[identifier](**kwargs)
    if kwargs:
        raise ValueError(
            "Arguments can only be combined with a schedule name. "
            f"Received: schedule={identifier!r}, kwargs={kwargs!r}"
        )
    if isinstance(identifier, LogSNRSchedule):
        return identifier
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    raise ValueError(
        "Expected a schedule name, config dict or LogSNRSchedule. "
        f"Received: schedule={identifier!r}"
    )

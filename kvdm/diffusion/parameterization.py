"""Forward-process coefficients and the eps / v / x parameterizations.

All functions take tensors of the video's shape and a log-SNR of shape
`(batch,)` (or any shape that broadcasts after `expand_to`), and compute in
float32 whatever the input dtype (sensitive maths stays out of bfloat16).
"""

from keras import ops

from kvdm.names import PREDICTION_TYPES
from kvdm.utils import validation


# The log-SNR that marks a frame given clean: known frames passed to a
# network trained with context frames (`VideoDiffusion(context_frames=...)`)
# carry it instead of the noisy frames' log-SNR. At 20, sigma is 4.5e-5.
CONTEXT_LOGSNR = 20.0


def merge_frames(mask, known, other):
    """`mask * known + (1 - mask) * other` with a `(batch, frames)` frame mask."""
    mask = expand_to(mask, len(other.shape))
    return mask * known + (1.0 - mask) * other


def context_logsnr(mask, logsnr):
    """The per-frame log-SNR `(batch, frames)` a network sees with context.

    Frames where the `(batch, frames)` mask is 1 are given clean and carry
    `CONTEXT_LOGSNR`; the others carry their video's `logsnr` `(batch,)`.
    """
    logsnr = ops.cast(logsnr, "float32")[:, None]
    return merge_frames(mask, CONTEXT_LOGSNR, logsnr)


def check_prediction_type(prediction_type):
    """Returns `prediction_type` if it is one of `PREDICTION_TYPES`."""
    return validation.choice(
        prediction_type, "prediction_type", PREDICTION_TYPES,
        what="prediction type",
    )


def expand_to(values, ndim):
    """Reshapes a `(batch,)` tensor to `(batch, 1, ..., 1)` with `ndim` axes."""
    values = ops.convert_to_tensor(values)
    while len(values.shape) < ndim:
        values = ops.expand_dims(values, -1)
    return values


def alpha_sigma(logsnr):
    """`alpha = sqrt(sigmoid(lambda))`, `sigma = sqrt(sigmoid(-lambda))`."""
    logsnr = ops.cast(logsnr, "float32")
    return ops.sqrt(ops.sigmoid(logsnr)), ops.sqrt(ops.sigmoid(-logsnr))


def diffuse(x, eps, logsnr):
    """Samples `z_t = alpha_t x + sigma_t eps` from `q(z_t | x)` (equation 1)."""
    alpha, sigma = alpha_sigma(expand_to(logsnr, len(x.shape)))
    return alpha * ops.cast(x, "float32") + sigma * ops.cast(eps, "float32")


def target(x, eps, logsnr, prediction_type):
    """The regression target of a parameterization for data `x` and noise `eps`."""
    check_prediction_type(prediction_type)
    x = ops.cast(x, "float32")
    eps = ops.cast(eps, "float32")
    if prediction_type == "eps":
        return eps
    if prediction_type == "x":
        return x
    alpha, sigma = alpha_sigma(expand_to(logsnr, len(x.shape)))
    return alpha * eps - sigma * x


def to_x_eps(prediction, z, logsnr, prediction_type):
    """Converts a network prediction into `(x_hat, eps_hat)`.

    eps: `x = (z - sigma eps) / alpha`; v: `x = alpha z - sigma v`,
    `eps = sigma z + alpha v`; x: `eps = (z - alpha x) / sigma`.
    """
    check_prediction_type(prediction_type)
    prediction = ops.cast(prediction, "float32")
    z = ops.cast(z, "float32")
    alpha, sigma = alpha_sigma(expand_to(logsnr, len(z.shape)))
    if prediction_type == "eps":
        return (z - sigma * prediction) / alpha, prediction
    if prediction_type == "v":
        return alpha * z - sigma * prediction, sigma * z + alpha * prediction
    return prediction, (z - alpha * prediction) / sigma


def from_x(x_hat, z, logsnr, prediction_type):
    """Converts an `x` estimate back into the given parameterization."""
    check_prediction_type(prediction_type)
    x_hat = ops.cast(x_hat, "float32")
    if prediction_type == "x":
        return x_hat
    alpha, sigma = alpha_sigma(expand_to(logsnr, len(z.shape)))
    eps = (ops.cast(z, "float32") - alpha * x_hat) / sigma
    # The target that `x_hat` and its noise `eps` would have.
    return target(x_hat, eps, logsnr, prediction_type)

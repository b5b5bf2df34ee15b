"""Loss weightings `w(lambda_t)` of the denoising objective (equation 2).

Equation 2 of the paper writes the training loss in data space,
`E_{eps,t}[w(lambda_t) ||x_hat(z_t) - x||^2]`. A network trained on another
target regresses that target instead, and the squared errors are related by a
factor that depends only on the log-SNR (with `SNR = exp(lambda)`):

- eps: `||eps_hat - eps||^2 = SNR ||x_hat - x||^2`,
- v: `||v_hat - v||^2 = (1 + SNR) ||x_hat - x||^2`,
- x: the data-space error itself.

A weighting here is a function of the log-SNR giving the data-space weight
`w(lambda)` of equation 2. `loss_weight` turns it into the per-example weight
that multiplies the mean squared error of the prediction target, so that the
same named weighting gives the same objective whatever the parameterization.
`loss_weighting=None` means the plain mean squared error on the prediction
target, which for eps-prediction is the paper's choice (section 2).
All functions compute in float32.
"""

import keras
from keras import ops

from kvdm.diffusion.parameterization import check_prediction_type


def snr_weight(logsnr):
    """`w = SNR`: the eps-space mean squared error (Ho et al., 2020)."""
    return ops.exp(ops.cast(logsnr, "float32"))


def snr_plus_one_weight(logsnr):
    """`w = 1 + SNR`: the v-space mean squared error (Salimans and Ho, 2022)."""
    return 1.0 + ops.exp(ops.cast(logsnr, "float32"))


def truncated_snr_weight(logsnr):
    """`w = max(SNR, 1)`: truncated SNR weighting (Salimans and Ho, 2022)."""
    return ops.maximum(ops.exp(ops.cast(logsnr, "float32")), 1.0)


def min_snr_weight(logsnr, gamma=5.0):
    """`w = min(SNR, gamma)`: Min-SNR-gamma weighting (Hang et al., 2023)."""
    return ops.minimum(ops.exp(ops.cast(logsnr, "float32")), gamma)


def constant_weight(logsnr):
    """`w = 1`: the data-space mean squared error."""
    return ops.ones_like(ops.cast(logsnr, "float32"))


# Keyed by `kvdm.names.LOSS_WEIGHTINGS`.
LOSS_WEIGHTINGS = {
    "eps": snr_weight,
    "snr": snr_weight,
    "v": snr_plus_one_weight,
    "snr_plus_one": snr_plus_one_weight,
    "x": constant_weight,
    "constant": constant_weight,
    "truncated_snr": truncated_snr_weight,
    "min_snr": min_snr_weight,
}


def get_loss_weighting(identifier):
    """Returns a weighting function from a name, a callable or `None`.

    Args:
        identifier: `None` (plain mean squared error of the prediction target),
            one of the names in `LOSS_WEIGHTINGS`, or a callable mapping a
            float32 log-SNR of shape `(batch,)` to data-space weights of the
            same shape.

    Returns:
        A callable, or `None`.
    """
    if identifier is None or callable(identifier):
        return identifier
    if isinstance(identifier, str):
        if identifier not in LOSS_WEIGHTINGS:
            raise ValueError(
                "Unknown loss weighting. Expected None, a callable or one of "
                f"{sorted(LOSS_WEIGHTINGS)}. Received: "
                f"loss_weighting={identifier!r}"
            )
        return LOSS_WEIGHTINGS[identifier]
    if isinstance(identifier, dict):
        return keras.saving.deserialize_keras_object(identifier)
    raise ValueError(
        "Expected None, a callable or a loss weighting name. "
        f"Received: loss_weighting={identifier!r}"
    )


def target_error_factor(logsnr, prediction_type):
    """The factor `c` with `||target_hat - target||^2 = c ||x_hat - x||^2`."""
    check_prediction_type(prediction_type)
    logsnr = ops.cast(logsnr, "float32")
    if prediction_type == "eps":
        return ops.exp(logsnr)
    if prediction_type == "v":
        return 1.0 + ops.exp(logsnr)
    return ops.ones_like(logsnr)


def loss_weight(logsnr, prediction_type, loss_weighting=None):
    """Per-example weight multiplying the MSE of the prediction target.

    Args:
        logsnr: tensor of shape `(batch,)`.
        prediction_type: str. One of `"eps"`, `"v"`, `"x"`.
        loss_weighting: `None`, a name or a callable (see
            `get_loss_weighting`).

    Returns:
        A float32 tensor of shape `(batch,)`: ones for `loss_weighting=None`,
        else `w(lambda) / c(lambda)` where `c` is `target_error_factor`.
    """
    check_prediction_type(prediction_type)
    logsnr = ops.cast(logsnr, "float32")
    weighting = get_loss_weighting(loss_weighting)
    if weighting is None:
        return ops.ones_like(logsnr)
    # Equation 2 in data space, divided by the factor that turns the
    # data-space squared error into the target's squared error.
    weight = ops.cast(weighting(logsnr), "float32")
    return weight / target_error_factor(logsnr, prediction_type)


def per_example_mse(prediction, target):
    """Mean squared error over all axes but the first, in float32."""
    error = ops.square(
        ops.cast(prediction, "float32") - ops.cast(target, "float32")
    )
    return ops.mean(ops.reshape(error, (ops.shape(error)[0], -1)), axis=-1)


def weighted_mse(prediction, target, weight, sample_weight=None):
    """The weighted denoising loss of equation 2 averaged over the batch.

    Args:
        prediction: tensor `(batch, ...)`, the network's prediction.
        target: tensor of the same shape, the regression target.
        weight: tensor `(batch,)`, per-example weight (see `loss_weight`).
        sample_weight: optional tensor `(batch,)` multiplied into `weight`.

    Returns:
        A float32 scalar: `mean_b(weight_b * mean(|pred_b - target_b|^2))`.
    """
    weight = ops.cast(weight, "float32")
    if sample_weight is not None:
        weight = weight * ops.reshape(
            ops.cast(sample_weight, "float32"), ops.shape(weight)
        )
    return ops.mean(weight * per_example_mse(prediction, target))

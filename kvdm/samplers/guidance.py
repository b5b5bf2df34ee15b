"""Guidance as pure functions of a denoiser (equations 6, 7 and 8).

A denoiser is a callable `denoiser(z_t, logsnr, condition)` built from
`keras.ops` that returns a prediction of a declared type ("eps", "v" or "x").
Nothing here is a method of a network: each function takes the denoiser as an
argument, so that any model (or an analytic function) can be guided.
"""

from keras import ops

from kvdm.diffusion.parameterization import alpha_sigma
from kvdm.diffusion.parameterization import check_prediction_type
from kvdm.diffusion.parameterization import expand_to
from kvdm.diffusion.parameterization import to_x_eps
from kvdm.utils import backend_utils
from kvdm.utils import validation


def apply_classifier_free_guidance(denoiser, z, logsnr, condition, guidance_weight):
    """Classifier-free guidance (equation 6) in one batched denoiser call.

    The batch is doubled as `[condition, zeros]` (an all-zero condition is the
    unconditional model in kvdm) and the two halves are combined as
    `(1 + w) pred(z, c) - w pred(z, 0)`. Every parameterization ("eps", "v",
    "x") is affine in the prediction at fixed `z_t` and log-SNR, so combining
    the raw predictions is exactly equation 6 written in that parameterization.

    Args:
        denoiser: callable `denoiser(z_t, logsnr, condition)`.
        z: tensor `(batch, ...)`. The latent `z_t`.
        logsnr: tensor `(batch,)`.
        condition: tensor `(batch, ...)`. The conditioning signal `c`.
        guidance_weight: float. The guidance strength `w`.

    Returns:
        The guided prediction, of the denoiser's prediction type.
    """
    if condition is None:
        raise ValueError(
            "Classifier-free guidance needs a condition. Received: condition=None"
        )
    both_z = ops.concatenate([z, z], axis=0)
    both_logsnr = ops.concatenate([logsnr, logsnr], axis=0)
    both_condition = ops.concatenate(
        [condition, ops.zeros_like(condition)], axis=0
    )
    prediction = ops.cast(denoiser(both_z, both_logsnr, both_condition), "float32")
    conditional, unconditional = ops.split(prediction, 2, axis=0)
    # Equation 6: (1 + w) eps(z, c) - w eps(z).
    return (1.0 + guidance_weight) * conditional - guidance_weight * unconditional


def classifier_free_guidance(denoiser, guidance_weight):
    """Wraps a denoiser with classifier-free guidance (equation 6).

    Args:
        denoiser: callable `denoiser(z_t, logsnr, condition)`.
        guidance_weight: float. The guidance strength `w`; 0 returns the
            conditional prediction unchanged.

    Returns:
        A denoiser with the same signature and prediction type.

    Example:

    >>> guided = classifier_free_guidance(diffusion.denoise, 2.0)
    >>> eps = guided(z_t, logsnr, text_embeddings)
    """
    guidance_weight = validation.finite_number(guidance_weight, "guidance_weight")

    def guided(z, logsnr, condition):
        return apply_classifier_free_guidance(
            denoiser, z, logsnr, condition, guidance_weight
        )

    guided.prediction_type = getattr(denoiser, "prediction_type", None)
    return guided


def _spatial_factors(video, size):
    height, width = video.shape[2], video.shape[3]
    low_height, low_width = size
    if height % low_height or width % low_width:
        raise ValueError(
            "Average downsampling needs the high resolution to be a multiple "
            f"of the low resolution. Received: high={height}x{width}, "
            f"low={low_height}x{low_width}"
        )
    return height // low_height, width // low_width


def average_downsample(video, size):
    """Downsamples `(B, T, H, W, C)` to `(B, T, h, w, C)` by block averaging."""
    factor_h, factor_w = _spatial_factors(video, size)
    batch, frames, _, _, channels = video.shape
    low_height, low_width = size
    blocks = ops.reshape(
        video, (-1, frames, low_height, factor_h, low_width, factor_w, channels)
    )
    return ops.mean(blocks, axis=(3, 5))


def bilinear_downsample(video, size):
    """Downsamples `(B, T, H, W, C)` to `(B, T, h, w, C)` bilinearly.

    Plain bilinear interpolation (no antialiasing), the same on every backend;
    for a factor of 2 it equals the 2x2 block average.
    """
    frames, height, width, channels = video.shape[1:]
    images = ops.reshape(video, (-1, height, width, channels))
    images = ops.image.resize(
        images, tuple(size), interpolation="bilinear", antialias=False
    )
    return ops.reshape(images, (-1, frames, size[0], size[1], channels))


DOWNSAMPLERS = {"average": average_downsample, "bilinear": bilinear_downsample}


def get_downsample(identifier):
    """Returns a downsampling function `fn(video, (h, w))` by name or callable."""
    if callable(identifier):
        return identifier
    if identifier not in DOWNSAMPLERS:
        raise ValueError(
            f"Unknown downsampling method. Expected one of {sorted(DOWNSAMPLERS)} "
            f"or a callable. Received: downsample={identifier!r}"
        )
    return DOWNSAMPLERS[identifier]


def reconstruction_loss(
    x_hat,
    context=None,
    context_mask=None,
    low_res=None,
    low_res_mask=None,
    downsample="average",
):
    """The squared reconstruction error of equations 7 and 8, summed.

    Args:
        x_hat: tensor `(B, T, H, W, C)`. The model's estimate of the video.
        context: tensor `(B, T, H, W, C)` or None. Known frames `x^a`, at
            the frames where `context_mask` is 1.
        context_mask: tensor `(B, T)` or None. 1 on known frames.
        low_res: tensor `(B, T, h, w, C)` or None. A low-resolution view.
        low_res_mask: tensor `(B, T)` or None. 1 on frames that have a
            low-resolution target. Defaults to all frames.
        downsample: str or callable. How `x_hat` is brought to the low
            resolution ("average" or "bilinear"); must be differentiable.

    Returns:
        A scalar: the error summed over the batch.
    """
    loss = ops.zeros((), "float32")
    if context is not None:
        mask = expand_to(context_mask, len(x_hat.shape))
        loss = loss + ops.sum(mask * ops.square(context - x_hat))
    if low_res is not None:
        downsample = get_downsample(downsample)
        reconstruction = downsample(x_hat, tuple(low_res.shape[2:4]))
        error = ops.square(low_res - reconstruction)
        if low_res_mask is not None:
            error = expand_to(low_res_mask, len(error.shape)) * error
        loss = loss + ops.sum(error)
    return loss


def reconstruction_guidance(
    denoiser,
    prediction_type,
    z,
    logsnr,
    condition,
    reconstruction_weight,
    context=None,
    context_mask=None,
    low_res=None,
    low_res_mask=None,
    downsample="average",
):
    """Reconstruction-guided estimates `(x_tilde, eps_tilde)` (equations 7, 8).

    `x_tilde = x_hat - (w_r alpha_t / 2) grad_z ||x^a - x_hat^a(z_t)||^2`,
    where the error is taken on known frames (equation 7, temporal
    extension and interpolation), on a differentiable downsampling of
    `x_hat` (equation 8, spatial super-resolution), or both. The gradient
    flows through the denoiser. With a perfect denoiser,
    `E[x^b | z_t, x^a] = E[x^b | z_t] + (sigma_t^2 / alpha_t)
    grad log q(x^a | z_t)`, and equation 7 is this with
    `q(x^a | z_t) ~ N(x_hat^a, sigma_t^2 / alpha_t^2)`.

    The matching noise estimate follows from `z_t = alpha_t x + sigma_t eps`:
    `eps_tilde = eps_hat + (w_r alpha_t^2 / (2 sigma_t)) grad`, so a sampler
    that uses either estimate sees the same guided model whatever the
    denoiser's parameterization.

    Args:
        denoiser: callable `denoiser(z_t, logsnr, condition)`.
        prediction_type: str. "eps", "v" or "x".
        z: tensor `(B, T, H, W, C)`. The latent `z_t`.
        logsnr: tensor `(B,)`.
        condition: tensor or None. Passed to the denoiser.
        reconstruction_weight: float. The weight `w_r`.
        context, context_mask, low_res, low_res_mask, downsample: the
            conditioning data, as in `reconstruction_loss`.

    Returns:
        `(x_tilde, eps_tilde)`, float32 tensors of the shape of `z`.
    """
    check_prediction_type(prediction_type)
    z = ops.cast(z, "float32")
    logsnr = ops.cast(logsnr, "float32")
    context, context_mask, low_res, low_res_mask = (
        None if value is None else ops.cast(ops.convert_to_tensor(value), "float32")
        for value in (context, context_mask, low_res, low_res_mask)
    )

    def loss_fn(z_, logsnr_, condition_):
        prediction = ops.cast(denoiser(z_, logsnr_, condition_), "float32")
        x_hat, _ = to_x_eps(prediction, z_, logsnr_, prediction_type)
        loss = reconstruction_loss(
            x_hat, context, context_mask, low_res, low_res_mask, downsample
        )
        return loss, prediction

    _, prediction, grad = backend_utils.value_and_grad(loss_fn)(z, logsnr, condition)
    x_hat, eps_hat = to_x_eps(prediction, z, logsnr, prediction_type)
    alpha, sigma = alpha_sigma(expand_to(logsnr, len(z.shape)))
    grad = ops.cast(grad, "float32")
    # Equations 7 and 8.
    x_tilde = x_hat - 0.5 * reconstruction_weight * alpha * grad
    eps_tilde = eps_hat + 0.5 * reconstruction_weight * ops.square(alpha) / sigma * grad
    return x_tilde, eps_tilde

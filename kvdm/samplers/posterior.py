"""Gaussian transition coefficients of the forward process (equations 1 and 3).

Written in log-SNR: with `r = exp(lambda_t - lambda_s)` (`s < t`, so `r < 1`),
`sigma^2_{t|s} = (1 - r) sigma_t^2` (equation 1) and the reverse-time posterior
`q(z_s | z_t, x)` has mean `r (alpha_s / alpha_t) z_t + (1 - r) alpha_s x` and
variance `(1 - r) sigma_s^2` (equation 3). `1 - r` is computed with `expm1`
so that it stays accurate when the two log-SNRs are close.
"""

from keras import ops

from kvdm.diffusion.parameterization import alpha_sigma
from kvdm.diffusion.parameterization import expand_to


def one_minus_ratio(logsnr_t, logsnr_s):
    """`1 - exp(lambda_t - lambda_s)`, accurate for close log-SNRs."""
    logsnr_t = ops.cast(logsnr_t, "float32")
    logsnr_s = ops.cast(logsnr_s, "float32")
    return -ops.expm1(logsnr_t - logsnr_s)


def forward_variance(logsnr_t, logsnr_s):
    """`sigma^2_{t|s}` of `q(z_t | z_s)` (equation 1)."""
    _, sigma_t = alpha_sigma(logsnr_t)
    return one_minus_ratio(logsnr_t, logsnr_s) * ops.square(sigma_t)


def posterior_variance(logsnr_t, logsnr_s):
    """`tilde-sigma^2_{s|t}` of `q(z_s | z_t, x)` (equation 3)."""
    _, sigma_s = alpha_sigma(logsnr_s)
    return one_minus_ratio(logsnr_t, logsnr_s) * ops.square(sigma_s)


def ancestral_variance(logsnr_t, logsnr_s, gamma):
    """The sampling variance of equation 4.

    `(tilde-sigma^2_{s|t})^(1 - gamma) (sigma^2_{t|s})^gamma`, computed as
    `(1 - r) sigma_s^(2 (1 - gamma)) sigma_t^(2 gamma)`.
    """
    _, sigma_t = alpha_sigma(logsnr_t)
    _, sigma_s = alpha_sigma(logsnr_s)
    log_variance = (1.0 - gamma) * 2.0 * ops.log(sigma_s) + gamma * 2.0 * ops.log(
        sigma_t
    )
    return one_minus_ratio(logsnr_t, logsnr_s) * ops.exp(log_variance)


def posterior_mean(z_t, x, logsnr_t, logsnr_s):
    """`tilde-mu_{s|t}(z_t, x)` of equation 3, for tensors of any rank.

    `logsnr_t` and `logsnr_s` have shape `(batch,)` (or broadcast to it).
    """
    ndim = len(z_t.shape)
    logsnr_t = expand_to(ops.cast(logsnr_t, "float32"), ndim)
    logsnr_s = expand_to(ops.cast(logsnr_s, "float32"), ndim)
    alpha_t, _ = alpha_sigma(logsnr_t)
    alpha_s, _ = alpha_sigma(logsnr_s)
    ratio = ops.exp(logsnr_t - logsnr_s)
    z_t = ops.cast(z_t, "float32")
    x = ops.cast(x, "float32")
    return ratio * (alpha_s / alpha_t) * z_t + one_minus_ratio(
        logsnr_t, logsnr_s
    ) * alpha_s * x

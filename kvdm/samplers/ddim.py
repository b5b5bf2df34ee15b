"""The deterministic DDIM sampler."""

import keras

from kvdm.diffusion.parameterization import alpha_sigma
from kvdm.diffusion.parameterization import expand_to
from kvdm.samplers.sampler import Sampler


@keras.saving.register_keras_serializable(package="kvdm")
class DDIMSampler(Sampler):
    """Deterministic DDIM sampling, suited to few steps.

    Each step keeps the predicted noise and moves the predicted data to the
    next noise level: `z_s = alpha_s x_hat(z_t) + sigma_s eps_hat(z_t)`, a
    first-order integrator of the probability-flow ODE in log-SNR. No noise
    is drawn (except for replaced known frames), so a call is a
    deterministic function of the initial noise.

    Args:
        **kwargs: arguments of `Sampler` (`num_steps`, `conditioning`, ...).

    Call arguments:
        As `Sampler`.

    Example:

    >>> sampler = DDIMSampler(num_steps=32)
    >>> video = sampler(diffusion, (4, 16, 64, 64, 3), seed=0)

    References:
        - Song, Meng and Ermon, 2021, Denoising Diffusion Implicit Models,
          equation 12 with sigma = 0.
    """

    def step(self, z_t, logsnr_t, logsnr_s, model):
        x_hat, eps_hat = model.denoise(z_t, logsnr_t)
        alpha_s, sigma_s = alpha_sigma(expand_to(logsnr_s, len(z_t.shape)))
        z_s = alpha_s * x_hat + sigma_s * eps_hat
        return model.after_step(z_s, z_t, logsnr_t, logsnr_s)

"""The ancestral sampler (equation 4)."""

import keras
from keras import ops

from kvdm.diffusion.parameterization import expand_to
from kvdm.samplers.posterior import ancestral_variance
from kvdm.samplers.posterior import posterior_mean
from kvdm.samplers.sampler import Sampler
from kvdm.utils import validation


@keras.saving.register_keras_serializable(package="kvdm")
class AncestralSampler(Sampler):
    """Ancestral sampling with interpolated variances (equation 4).

    Each step draws
    `z_s = tilde-mu_{s|t}(z_t, x_hat(z_t)) + sqrt(var) eps` where
    `tilde-mu` is the posterior mean of equation 3 and
    `var = (tilde-sigma^2_{s|t})^(1 - gamma) (sigma^2_{t|s})^gamma`: `gamma = 0`
    uses the posterior variance (lower bound on the reverse-process entropy),
    `gamma = 1` the forward variance (upper bound). The last step returns
    `x_hat`.

    Args:
        gamma: float in [0, 1]. Interpolates the sampling variance.
            Defaults to 0.0.
        **kwargs: arguments of `Sampler` (`num_steps`, `conditioning`, ...).

    Call arguments:
        As `Sampler`.

    Example:

    >>> sampler = AncestralSampler(num_steps=256, gamma=0.3)
    >>> video = sampler(diffusion, (1, 16, 64, 64, 3), seed=0)

    References:
        - Ho et al., 2022, Video Diffusion Models, equations 3 and 4.
        - Nichol and Dhariwal, 2021, Improved Denoising Diffusion
          Probabilistic Models (the variance interpolation).
    """

    def __init__(self, gamma=0.0, **kwargs):
        super().__init__(**kwargs)
        self.gamma = validation.fraction(gamma, "gamma", include_one=True)

    def step_variance(self, logsnr_t, logsnr_s):
        """The variance of the noise added by one step from `t` to `s`."""
        return ancestral_variance(logsnr_t, logsnr_s, self.gamma)

    def step(self, z_t, logsnr_t, logsnr_s, model):
        x_hat, _ = model.denoise(z_t, logsnr_t)
        # Equation 4: posterior mean (equation 3) at x_hat, plus noise.
        mean = posterior_mean(z_t, x_hat, logsnr_t, logsnr_s)
        std = expand_to(ops.sqrt(self.step_variance(logsnr_t, logsnr_s)), len(z_t.shape))
        z_s = mean + std * model.normal(z_t)
        return model.after_step(z_s, z_t, logsnr_t, logsnr_s)

    def get_config(self):
        config = super().get_config()
        config["gamma"] = self.gamma
        return config

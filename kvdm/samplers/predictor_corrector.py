"""The predictor-corrector sampler (equations 4 and 5)."""

import math

import keras

from kvdm.diffusion.parameterization import alpha_sigma
from kvdm.diffusion.parameterization import expand_to
from kvdm.samplers.ancestral import AncestralSampler
from kvdm.utils import validation


@keras.saving.register_keras_serializable(package="kvdm")
class PredictorCorrectorSampler(AncestralSampler):
    """Ancestral steps alternating with Langevin corrections (equation 5).

    After each ancestral step to `z_s` (the predictor, equation 4), the
    corrector runs `num_corrector_steps` Langevin steps
    `z_s <- z_s - (delta / 2) sigma_s eps_hat(z_s) + sqrt(delta) sigma_s eps'`,
    which move the distribution of `z_s` toward the true marginal `q(z_s)`
    (`-eps_hat / sigma_s` estimates its score). With conditioning, the
    corrector updates only the unknown frames and uses the guided `eps`.

    Args:
        delta: float. The Langevin step size. Defaults to 0.1.
        num_corrector_steps: int. Corrector steps after each predictor step.
            Defaults to 1.
        gamma: float in [0, 1]. The predictor's variance interpolation.
            Defaults to 0.0.
        **kwargs: arguments of `Sampler`.

    Call arguments:
        As `Sampler`.

    Example:

    >>> sampler = PredictorCorrectorSampler(num_steps=128, conditioning=
    ...     "reconstruction_guidance", reconstruction_weight=5.0)
    >>> video = sampler(diffusion, (1, 16, 64, 64, 3), context=first_frames)

    References:
        - Ho et al., 2022, Video Diffusion Models, equation 5.
        - Song et al., 2021, Score-Based Generative Modeling through Stochastic
          Differential Equations.
    """

    def __init__(self, delta=0.1, num_corrector_steps=1, gamma=0.0, **kwargs):
        super().__init__(gamma=gamma, **kwargs)
        self.delta = validation.positive_number(delta, "delta")
        self.num_corrector_steps = validation.non_negative_int(
            num_corrector_steps, "num_corrector_steps"
        )

    def correct(self, z_s, logsnr_s, model):
        """One Langevin correction step at noise level `s` (equation 5)."""
        _, eps_hat = model.denoise(z_s, logsnr_s)
        _, sigma_s = alpha_sigma(expand_to(logsnr_s, len(z_s.shape)))
        z_new = (
            z_s
            - 0.5 * self.delta * sigma_s * eps_hat
            + math.sqrt(self.delta) * sigma_s * model.normal(z_s)
        )
        return model.after_correction(z_new, z_s)

    def step(self, z_t, logsnr_t, logsnr_s, model):
        z_s = super().step(z_t, logsnr_t, logsnr_s, model)
        for _ in range(self.num_corrector_steps):
            z_s = self.correct(z_s, logsnr_s, model)
        return z_s

    def get_config(self):
        config = super().get_config()
        config["delta"] = self.delta
        config["num_corrector_steps"] = self.num_corrector_steps
        return config

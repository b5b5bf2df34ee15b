"""The `diffusion` section of a recipe."""

import dataclasses

from kvdm.config.fields import RecipeError
from kvdm.config.fields import Section
from kvdm.config.fields import setting
from kvdm.names import LOSS_WEIGHTINGS
from kvdm.names import PREDICTION_TYPES
from kvdm.names import SCHEDULES


@dataclasses.dataclass(frozen=True)
class DiffusionConfig(Section):
    """The diffusion process and its training objective.

    Args:
        schedule: str. Noise schedule in log-SNR space. Defaults to "cosine".
        logsnr_min: float. Log-SNR at t = 1. Defaults to -20.
        logsnr_max: float. Log-SNR at t = 0. Defaults to 20.
        logsnr_shift: float. Shift of the cosine schedule in log-SNR
            (negative: more training and sampling at high noise). Defaults
            to 0.
        prediction_type: str. What the network predicts: "eps", "v" or "x".
            Defaults to "eps".
        loss_weighting: str or None. Data-space weight `w(lambda)` of
            equation 2; None is the plain mean squared error on the
            prediction target. Defaults to None.
        num_image_frames: int. Independent image frames appended to each
            video for joint image-video training. Defaults to 0.
        condition_dropout: float. Probability of dropping the condition
            (classifier-free guidance training), in [0, 1). Defaults to 0.
        noise_correlation: float. Correlation between the frames of a
            video's noise, in training and sampling, in [0, 1). Defaults to
            0 (independent noise, the paper's).
        context_frames: int. Beyond the paper: the most leading frames a
            training video may show clean (the network learns to continue
            them; sampling with `conditioning: context` and
            `sample.anchor_frames` uses it). Defaults to 0 (the paper's
            training).
        context_rate: float. Probability that a training video shows clean
            leading frames, in [0, 1]. Defaults to 0.5.
    """

    section = "diffusion"

    schedule: str = setting("cosine", "noise schedule", choices=SCHEDULES)
    logsnr_min: float = setting(-20.0, "log-SNR at t = 1")
    logsnr_max: float = setting(20.0, "log-SNR at t = 0")
    logsnr_shift: float = setting(0.0, "log-SNR shift of the schedule")
    prediction_type: str = setting(
        "eps", "network prediction target", choices=PREDICTION_TYPES
    )
    loss_weighting: str | None = setting(
        None, "loss weighting name", choices=LOSS_WEIGHTINGS
    )
    num_image_frames: int = setting(
        0, "independent image frames per video", minimum=0
    )
    condition_dropout: float = setting(
        0.0, "condition dropout probability", minimum=0.0,
        exclusive_maximum=1.0,
    )
    noise_correlation: float = setting(
        0.0, "correlation of the noise between frames", minimum=0.0,
        exclusive_maximum=1.0,
    )

    context_frames: int = setting(
        0, "most clean leading frames of a training video", minimum=0
    )
    context_rate: float = setting(
        0.5, "probability of clean leading frames", minimum=0.0, maximum=1.0
    )

    def check(self):
        if not self.logsnr_min < self.logsnr_max:
            raise RecipeError(
                "`diffusion.logsnr_min` must be smaller than "
                "`diffusion.logsnr_max`. Received: "
                f"diffusion.logsnr_min={self.logsnr_min}, "
                f"diffusion.logsnr_max={self.logsnr_max}"
            )
        if not self.logsnr_min < self.logsnr_shift < self.logsnr_max:
            raise RecipeError(
                "`diffusion.logsnr_shift` must lie between "
                "`diffusion.logsnr_min` and `diffusion.logsnr_max`. "
                f"Received: diffusion.logsnr_shift={self.logsnr_shift}"
            )

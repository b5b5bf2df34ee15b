"""The `sample` section of a recipe."""

import dataclasses

from kvdm.config.fields import RecipeError
from kvdm.config.fields import Section
from kvdm.config.fields import setting
from kvdm.names import CONDITIONING_METHODS
from kvdm.names import SAMPLERS


@dataclasses.dataclass(frozen=True)
class SampleConfig(Section):
    """How videos are sampled from a trained model.

    Args:
        sampler: str. "ancestral", "predictor_corrector" or "ddim".
            Defaults to "ancestral".
        num_steps: int. Predictor steps from t = 1 to t = 0. Defaults to 256.
        gamma: float. Interpolation between the lower and upper variance of
            the ancestral step (section 2 of the paper). Defaults to 0.
        num_corrector_steps: int. Langevin corrector steps per predictor
            step. Defaults to 0.
        langevin_delta: float. Langevin step size. Defaults to 0.1.
        guidance_weight: float. Classifier-free guidance weight.
            Defaults to 0.
        reconstruction_weight: float. Reconstruction guidance weight w_r
            (equations 7 and 8). Defaults to 1.
        conditioning: str. How a video is conditioned on known frames:
            "replacement", "replacement_conditional",
            "reconstruction_guidance", or "context" (the network's own
            continuation, for models trained with
            `diffusion.context_frames`). Defaults to
            "reconstruction_guidance".
        clip_denoised: bool. Clip the denoised estimate `x_hat` to [-1, 1]
            at each step. Defaults to False, the samplers' default, so that
            a run's recipe written before this field samples as it did.
        context_frames: int or None. Known first frames that prediction
            conditions on (`kvdm predict`; the paper's benchmarks: 1 for
            BAIR, 5 for Kinetics-600); must be fewer than the sampled
            frames. None means 1 for prediction. Defaults to None.
        anchor_frames: int. Generation settles the first `anchor_frames`
            frames of each video in a first pass, then samples the rest
            given them with `conditioning` (`kvdm.samplers.anchored_sample`;
            for models trained with `diffusion.context_frames`). Defaults
            to 0 (one pass).
        num_videos: int. Videos per sampling call. Defaults to 4.
        num_frames: int or None. Frames per sampled video; None uses
            `data.num_frames`. Defaults to None.
        fps: int. Frames per second of written videos. Defaults to 8.
        seed: int. Seed of the sampling noise. Defaults to 0.
        prompts: list of str or None. Prompts of the sample videos of a
            text-conditioned model (training samples, `kvdm sample`
            without `--prompt`), `num_videos` videos each; None samples
            unconditionally. Defaults to None.
    """

    section = "sample"

    sampler: str = setting("ancestral", "sampler name", choices=SAMPLERS)
    num_steps: int = setting(256, "sampling steps", minimum=1)
    gamma: float = setting(
        0.0, "ancestral variance interpolation", minimum=0.0, maximum=1.0
    )
    num_corrector_steps: int = setting(
        0, "Langevin corrector steps", minimum=0
    )
    langevin_delta: float = setting(
        0.1, "Langevin step size", exclusive_minimum=0.0
    )
    guidance_weight: float = setting(
        0.0, "classifier-free guidance weight", minimum=0.0
    )
    reconstruction_weight: float = setting(
        1.0, "reconstruction guidance weight w_r", minimum=0.0
    )
    conditioning: str = setting(
        "reconstruction_guidance", "conditioning method",
        choices=CONDITIONING_METHODS,
    )
    clip_denoised: bool = setting(False, "clip x_hat to [-1, 1] each step")
    context_frames: int | None = setting(
        None, "known frames for prediction", minimum=1
    )
    anchor_frames: int = setting(
        0, "first frames settled before the rest", minimum=0
    )
    num_videos: int = setting(4, "videos per call", minimum=1)
    num_frames: int | None = setting(None, "frames per video", minimum=1)
    fps: int = setting(8, "frames per second", minimum=1)
    seed: int = setting(0, "sampling seed", minimum=0)
    prompts: tuple[str, ...] | None = setting(
        None, "prompts of text-conditioned samples"
    )

    def check(self):
        if self.prompts is None:
            return
        if not self.prompts or not all(p.strip() for p in self.prompts):
            raise RecipeError(
                "`sample.prompts` must be a list of non-empty prompts (or "
                "null for unconditional samples). "
                f"Received: sample.prompts={list(self.prompts)!r}"
            )

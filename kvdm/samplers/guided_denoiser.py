"""The denoiser as a sampler step sees it: guided, conditioned, clipped.

`resolve_denoiser` finds the callable, prediction type, schedule and Keras
layer behind whatever a sampler was given; `GuidedDenoiser` wraps the
callable with classifier-free guidance (equation 6), reconstruction guidance
(equations 7 and 8) and the conditioning method, so that a sampler's `step`
only asks for `(x_hat, eps_hat)` and noise.
"""

import keras
from keras import ops

from kvdm.diffusion.parameterization import alpha_sigma
from kvdm.diffusion.parameterization import context_logsnr
from kvdm.diffusion.noise import frame_correlated_normal
from kvdm.diffusion.parameterization import check_prediction_type
from kvdm.diffusion.parameterization import expand_to
from kvdm.diffusion.parameterization import to_x_eps
from kvdm.diffusion.schedules import LogSNRSchedule
from kvdm.samplers import conditioning as conditioning_lib
from kvdm.samplers import guidance as guidance_lib


def resolve_denoiser(denoiser, prediction_type=None):
    """Finds the callable, prediction type, schedule and owning layer.

    Accepts a callable `denoiser(z_t, logsnr, condition)`, or any object with
    a `denoise` method and a `prediction_type` attribute (such as
    `VideoDiffusion`). The prediction type is taken from the argument, else
    from a `prediction_type` attribute of the callable or of its owner.

    Returns:
        `(fn, prediction_type, schedule, layer)`; `schedule` is the owner's
        `schedule` attribute or None, `layer` the Keras layer whose variables
        the denoiser reads (None for an analytic function).
    """
    fn = denoiser
    if callable(getattr(denoiser, "denoise", None)):
        fn = denoiser.denoise
    if not callable(fn):
        raise ValueError(
            "`denoiser` must be a callable `denoiser(z_t, logsnr, condition)`. "
            f"Received: denoiser={denoiser!r}"
        )
    owner = getattr(fn, "__self__", None)
    if prediction_type is None:
        prediction_type = getattr(fn, "prediction_type", None)
    if prediction_type is None and owner is not None:
        prediction_type = getattr(owner, "prediction_type", None)
    if prediction_type is None:
        raise ValueError(
            "The denoiser's prediction type is unknown: pass `prediction_type` "
            "('eps', 'v' or 'x') or give the denoiser a `prediction_type` "
            "attribute. Received: prediction_type=None"
        )
    check_prediction_type(prediction_type)
    schedule = getattr(owner, "schedule", None) if owner is not None else None
    if not isinstance(schedule, LogSNRSchedule):
        schedule = None
    if isinstance(fn, keras.layers.Layer):
        layer = fn
    elif isinstance(owner, keras.layers.Layer):
        layer = owner
    else:
        layer = None
    return fn, prediction_type, schedule, layer


def denoiser_key(fn):
    """A hashable identity of a denoiser callable (its owner for a method)."""
    owner = getattr(fn, "__self__", None)
    if owner is not None:
        return (id(owner), getattr(fn, "__func__", None))
    return (id(fn),)


class GuidedDenoiser:
    """The guided, conditioned denoiser seen by `Sampler.step`.

    `denoise(z, logsnr)` returns `(x_hat, eps_hat)` after classifier-free
    guidance, reconstruction guidance and clipping; `normal(like)` draws
    standard noise; `after_step` and `after_correction` apply the
    conditioning method to the known frames.

    Args:
        fn: callable `fn(z_t, logsnr, condition)`. The denoiser.
        prediction_type: str. "eps", "v" or "x".
        inputs: dict. The prepared call inputs (see
            `kvdm.samplers.inputs.prepare_inputs`).
        noise_generator: `keras.random.SeedGenerator` for `normal`.
        conditioning: str. The conditioning method. Defaults to
            "replacement".
        guidance_weight: float. Classifier-free guidance weight `w`.
            Defaults to 0.0.
        reconstruction_weight: float. `w_r` of equations 7 and 8.
            Defaults to 1.0.
        downsample: str or callable. Downsampling for low-resolution
            targets. Defaults to "average".
        clip_denoised: bool. Clip `x_hat` to [-1, 1]. Defaults to False.
        noise_correlation: float. Correlation between the frames of the
            noise `normal` draws (`kvdm.diffusion.noise`). Defaults to 0.0.
    """

    def __init__(
        self,
        fn,
        prediction_type,
        inputs,
        noise_generator,
        conditioning="replacement",
        guidance_weight=0.0,
        reconstruction_weight=1.0,
        downsample="average",
        clip_denoised=False,
        noise_correlation=0.0,
    ):
        self.fn = fn
        self.noise_correlation = noise_correlation
        self.prediction_type = prediction_type
        self.condition = inputs.get("condition")
        self.context = inputs.get("context")
        self.context_mask = inputs.get("context_mask")
        self.low_res = inputs.get("low_res")
        self.low_res_mask = inputs.get("low_res_mask")
        self.noise_generator = noise_generator
        self.conditioning = conditioning
        self.guidance_weight = guidance_weight
        self.reconstruction_weight = reconstruction_weight
        self.downsample = downsample
        self.clip_denoised = clip_denoised

    def _denoiser(self):
        weight = self.guidance_weight
        if weight == 0.0:
            return self.fn
        fn = self.fn
        return lambda z, logsnr, condition: guidance_lib.apply_classifier_free_guidance(
            fn, z, logsnr, condition, weight
        )

    def denoise(self, z, logsnr):
        denoiser = self._denoiser()
        guided = self.conditioning == "reconstruction_guidance" and (
            self.context is not None or self.low_res is not None
        )
        if guided:
            x_hat, eps_hat = guidance_lib.reconstruction_guidance(
                denoiser,
                self.prediction_type,
                z,
                logsnr,
                self.condition,
                self.reconstruction_weight,
                context=self.context,
                context_mask=self.context_mask,
                low_res=self.low_res,
                low_res_mask=self.low_res_mask,
                downsample=self.downsample,
            )
        elif self.conditioning == "context" and self.context is not None:
            # The network sees the known frames clean, marked by their own
            # log-SNR, as it was trained to (`VideoDiffusion.context_frames`).
            mask = self.context_mask
            network_z = conditioning_lib.merge(mask, self.context, z)
            prediction = denoiser(
                network_z, context_logsnr(mask, logsnr), self.condition
            )
            x_hat, _ = to_x_eps(prediction, z, logsnr, self.prediction_type)
            x_hat = conditioning_lib.merge(mask, self.context, x_hat)
            alpha, sigma = alpha_sigma(expand_to(logsnr, len(z.shape)))
            eps_hat = (ops.cast(z, "float32") - alpha * x_hat) / sigma
        else:
            prediction = denoiser(z, logsnr, self.condition)
            x_hat, eps_hat = to_x_eps(prediction, z, logsnr, self.prediction_type)
        if self.clip_denoised:
            x_hat = ops.clip(x_hat, -1.0, 1.0)
            alpha, sigma = alpha_sigma(expand_to(logsnr, len(z.shape)))
            eps_hat = (ops.cast(z, "float32") - alpha * x_hat) / sigma
        return x_hat, eps_hat

    def normal(self, like):
        return frame_correlated_normal(
            tuple(like.shape),
            self.noise_correlation,
            seed=self.noise_generator,
        )

    def after_step(self, z_s, z_t, logsnr_t, logsnr_s):
        if self.context is None:
            return z_s
        return conditioning_lib.replace_known(
            self.conditioning,
            z_s,
            z_t,
            self.context,
            self.context_mask,
            logsnr_t,
            logsnr_s,
            self.normal(z_s),
        )

    def after_correction(self, z_new, z_old):
        if self.context is None:
            return z_new
        return conditioning_lib.merge(self.context_mask, z_old, z_new)

    def denoise_final(self, z, logsnr):
        """The sample: `x_hat(z)`, with the known frames put back."""
        x_hat, _ = self.denoise(z, logsnr)
        if self.context is not None:
            x_hat = conditioning_lib.merge(self.context_mask, self.context, x_hat)
        return x_hat

"""The sampling loop shared by every sampler.

A sampler turns a denoiser into samples. The denoiser is any callable
`denoiser(z_t, logsnr, condition)` built from `keras.ops` whose prediction type
("eps", "v" or "x") is declared: a `VideoUNet`, `VideoDiffusion.denoise`, or an
analytic function. Time runs on a uniform grid `t_i = 1 - i / num_steps`; each
step maps `z_{t_i}` to `z_{t_{i+1}}` and the last one returns the denoised
estimate `x_hat(z_{t_{N-1}})`.

The loop lives here once. It is compiled (`keras.ops.fori_loop` inside a
`backend_utils.jit` function) and run in chunks of steps so that a progress
bar and a callback can report after each chunk. Subclasses only implement
`step`.
"""

import math
import random

import keras
from keras import ops
from tqdm.auto import tqdm

from kvdm.diffusion.parameterization import alpha_sigma
from kvdm.diffusion.parameterization import check_prediction_type
from kvdm.diffusion.parameterization import expand_to
from kvdm.diffusion.parameterization import to_x_eps
from kvdm.diffusion.schedules import LogSNRSchedule
from kvdm.diffusion.schedules import get_schedule
from kvdm.samplers import conditioning as conditioning_lib
from kvdm.samplers import guidance as guidance_lib
from kvdm.utils import backend_utils


def check_positive_int(value, name):
    """Returns `value` if it is a positive integer, else raises."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"`{name}` must be a positive integer. Received: {name}={value!r}"
        )
    return value


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


def _identity(fn):
    owner = getattr(fn, "__self__", None)
    if owner is not None:
        return (id(owner), getattr(fn, "__func__", None))
    return (id(fn),)


def _frame_mask(mask, batch, frames, name):
    mask = ops.cast(ops.convert_to_tensor(mask), "float32")
    if len(mask.shape) == 1:
        mask = ops.expand_dims(mask, 0)
    if len(mask.shape) != 2 or mask.shape[1] != frames or mask.shape[0] not in (
        1,
        batch,
    ):
        raise ValueError(
            f"`{name}` must have shape (num_frames,) or (batch, num_frames) "
            f"with num_frames={frames} and batch={batch}. "
            f"Received: {name}.shape={tuple(mask.shape)}"
        )
    return ops.broadcast_to(mask, (batch, frames))


def _video(value, batch, name):
    value = ops.cast(ops.convert_to_tensor(value), "float32")
    if len(value.shape) != 5 or value.shape[0] not in (1, batch):
        raise ValueError(
            f"`{name}` must be a video (batch, frames, height, width, channels) "
            f"with batch 1 or {batch}. Received: {name}.shape={tuple(value.shape)}"
        )
    return ops.broadcast_to(value, (batch,) + tuple(value.shape[1:]))


class _SamplingModel:
    """The guided, conditioned denoiser seen by `Sampler.step`.

    `denoise(z, logsnr)` returns `(x_hat, eps_hat)` after classifier-free
    guidance, reconstruction guidance and clipping; `normal(like)` draws
    standard noise; `after_step` and `after_correction` apply the
    conditioning method to the known frames.
    """

    def __init__(self, sampler, fn, prediction_type, inputs, noise_generator):
        self.sampler = sampler
        self.fn = fn
        self.prediction_type = prediction_type
        self.condition = inputs.get("condition")
        self.context = inputs.get("context")
        self.context_mask = inputs.get("context_mask")
        self.low_res = inputs.get("low_res")
        self.low_res_mask = inputs.get("low_res_mask")
        self.noise_generator = noise_generator

    def _denoiser(self):
        weight = self.sampler.guidance_weight
        if weight == 0.0:
            return self.fn
        fn = self.fn
        return lambda z, logsnr, condition: guidance_lib.apply_classifier_free_guidance(
            fn, z, logsnr, condition, weight
        )

    def denoise(self, z, logsnr):
        denoiser = self._denoiser()
        guided = self.sampler.conditioning == "reconstruction_guidance" and (
            self.context is not None or self.low_res is not None
        )
        if guided:
            x_hat, eps_hat = guidance_lib.reconstruction_guidance(
                denoiser,
                self.prediction_type,
                z,
                logsnr,
                self.condition,
                self.sampler.reconstruction_weight,
                context=self.context,
                context_mask=self.context_mask,
                low_res=self.low_res,
                low_res_mask=self.low_res_mask,
                downsample=self.sampler.downsample,
            )
        else:
            prediction = denoiser(z, logsnr, self.condition)
            x_hat, eps_hat = to_x_eps(prediction, z, logsnr, self.prediction_type)
        if self.sampler.clip_denoised:
            x_hat = ops.clip(x_hat, -1.0, 1.0)
            alpha, sigma = alpha_sigma(expand_to(logsnr, len(z.shape)))
            eps_hat = (ops.cast(z, "float32") - alpha * x_hat) / sigma
        return x_hat, eps_hat

    def normal(self, like):
        return keras.random.normal(
            tuple(like.shape), dtype="float32", seed=self.noise_generator
        )

    def after_step(self, z_s, z_t, logsnr_t, logsnr_s):
        if self.context is None:
            return z_s
        return conditioning_lib.replace_known(
            self.sampler.conditioning,
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


@keras.saving.register_keras_serializable(package="kvdm")
class Sampler:
    """Base class of samplers: one compiled loop over a uniform time grid.

    Subclasses implement `step(z_t, logsnr_t, logsnr_s, model)`, which maps
    `z_t` to `z_s` for `s < t` using `model.denoise(z, logsnr) -> (x_hat,
    eps_hat)`, `model.normal(like)` for noise and `model.after_step(...)` to
    apply the conditioning method.

    Args:
        num_steps: int. Number of denoiser steps from `t = 1` to `t = 0`.
            Defaults to 128.
        schedule: str, dict, `LogSNRSchedule` or None. The noise schedule.
            None uses the denoiser owner's `schedule` if it has one, else
            "cosine". Defaults to None.
        conditioning: str. How known frames are imposed: "replacement",
            "replacement_conditional" or "reconstruction_guidance".
            Defaults to "replacement".
        reconstruction_weight: float. `w_r` of equations 7 and 8.
            Defaults to 1.0.
        guidance_weight: float. Classifier-free guidance strength `w` of
            equation 6; 0 disables it. Defaults to 0.0.
        clip_denoised: bool. Clip `x_hat` to [-1, 1] at each step.
            Defaults to False.
        downsample: str or callable. Differentiable downsampling used for
            low-resolution targets (equation 8): "average" or "bilinear".
            Defaults to "average".
        steps_per_chunk: int or None. Steps per compiled call between progress
            reports. None reports about 20 times per sample. Defaults to None.
        progress: bool. Show a progress bar. Defaults to True.
        seed: int or None. Seeds the sequence of calls made without a `seed`.
            Defaults to None.

    Call arguments:
        denoiser: callable `denoiser(z_t, logsnr, condition)`, or an object
            with `denoise` and `prediction_type` (a `VideoDiffusion`).
        shape: tuple `(batch, frames, height, width, channels)`.
        prediction_type: str or None. "eps", "v" or "x"; None reads the
            denoiser's `prediction_type` attribute.
        condition: tensor `(batch, D)` / `(batch, L, D)` or None. Passed to the
            denoiser (zeros mean unconditional).
        context: tensor or None. Known frames `x^a`: a video with all
            `frames` (known where `context_mask` is 1) or with fewer frames,
            taken as the first frames.
        context_mask: tensor `(frames,)` / `(batch, frames)` or None.
        low_res: tensor `(batch, frames, h, w, channels)` or None. A
            low-resolution version of the video to sample (equation 8; needs
            `conditioning="reconstruction_guidance"`).
        low_res_mask: tensor `(frames,)` / `(batch, frames)` or None. Frames
            that have a low-resolution target. Defaults to all.
        seed: int or None. Makes the call reproducible.
        callback: callable or None. Called as `callback(step, num_steps)`
            after each chunk.

    Example:

    >>> sampler = kvdm.samplers.get_sampler("ancestral", num_steps=64)
    >>> video = sampler(diffusion, (2, 16, 64, 64, 3), seed=0)
    """

    def __init__(
        self,
        num_steps=128,
        schedule=None,
        conditioning="replacement",
        reconstruction_weight=1.0,
        guidance_weight=0.0,
        clip_denoised=False,
        downsample="average",
        steps_per_chunk=None,
        progress=True,
        seed=None,
    ):
        self.num_steps = check_positive_int(num_steps, "num_steps")
        self.schedule = None if schedule is None else get_schedule(schedule)
        self.conditioning = conditioning_lib.check_conditioning(conditioning)
        self.reconstruction_weight = guidance_lib.check_weight(
            reconstruction_weight, "reconstruction_weight"
        )
        self.guidance_weight = guidance_lib.check_weight(
            guidance_weight, "guidance_weight"
        )
        self.clip_denoised = bool(clip_denoised)
        if not callable(downsample):
            guidance_lib.get_downsample(downsample)
        self.downsample = downsample
        if steps_per_chunk is not None:
            check_positive_int(steps_per_chunk, "steps_per_chunk")
        self.steps_per_chunk = steps_per_chunk
        self.progress = bool(progress)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
        self.seed = seed
        self._python_random = random.Random(seed)
        self._noise_generator = None
        self._compiled = {}

    # -- the algorithm ---------------------------------------------------------

    def step(self, z_t, logsnr_t, logsnr_s, model):
        """Maps `z_t` to `z_s` (`s < t`). Implemented by subclasses."""
        raise NotImplementedError

    # -- the loop --------------------------------------------------------------

    def _logsnr(self, schedule, step, batch):
        t = 1.0 - ops.cast(step, "float32") / float(self.num_steps)
        return ops.ones((batch,), "float32") * schedule(t)

    def _build(self, fn, prediction_type, schedule, layer, batch):
        variables = list(layer.variables) if layer is not None else []
        if self._noise_generator is None:
            self._noise_generator = keras.random.SeedGenerator(0)
        noise_generator = self._noise_generator

        def mapping(values, seed_state):
            pairs = list(zip(variables, values))
            return pairs + [(noise_generator.state, seed_state)]

        def run_chunk(values, seed_state, z, start, stop, inputs):
            def body(i, carry):
                z_t, state = carry
                with keras.StatelessScope(state_mapping=mapping(values, state)) as scope:
                    model = _SamplingModel(
                        self, fn, prediction_type, inputs, noise_generator
                    )
                    logsnr_t = self._logsnr(schedule, i, batch)
                    logsnr_s = self._logsnr(schedule, i + 1, batch)
                    z_s = ops.cast(self.step(z_t, logsnr_t, logsnr_s, model), "float32")
                    state = scope.get_current_value(noise_generator.state)
                return z_s, state

            return ops.fori_loop(start, stop, body, (z, seed_state))

        def run_final(values, seed_state, z, inputs):
            with keras.StatelessScope(state_mapping=mapping(values, seed_state)):
                model = _SamplingModel(self, fn, prediction_type, inputs, noise_generator)
                logsnr = self._logsnr(schedule, self.num_steps - 1, batch)
                x_hat, _ = model.denoise(z, logsnr)
                if model.context is not None:
                    x_hat = conditioning_lib.merge(model.context_mask, model.context, x_hat)
            return x_hat

        return variables, backend_utils.jit(run_chunk), backend_utils.jit(run_final)

    def _prepare_inputs(self, shape, condition, context, context_mask, low_res, low_res_mask):
        batch, frames = shape[0], shape[1]
        inputs = {}
        if condition is not None:
            condition = ops.cast(ops.convert_to_tensor(condition), "float32")
            if len(condition.shape) < 2 or condition.shape[0] not in (1, batch):
                raise ValueError(
                    "`condition` must have shape (batch, D) or (batch, L, D) with "
                    f"batch 1 or {batch}. Received: condition.shape="
                    f"{tuple(condition.shape)}"
                )
            inputs["condition"] = ops.broadcast_to(
                condition, (batch,) + tuple(condition.shape[1:])
            )
        elif self.guidance_weight != 0.0:
            raise ValueError(
                "Classifier-free guidance needs a `condition`. Received: "
                f"condition=None, guidance_weight={self.guidance_weight}"
            )
        if context is not None:
            context = ops.convert_to_tensor(context)
            if (
                len(context.shape) == 5
                and tuple(context.shape[2:]) != tuple(shape[2:])
                or len(context.shape) == 5
                and context.shape[1] > frames
            ):
                raise ValueError(
                    "The context frames do not fit the model: they need the "
                    f"frame size {tuple(shape[2:])} and at most {frames} frames. "
                    f"Received: context.shape={tuple(context.shape)}"
                )
            context = _video(context, batch, "context")
            num_context = context.shape[1]
            if context_mask is None:
                if num_context == frames:
                    raise ValueError(
                        "`context` covers every frame: pass `context_mask` to say "
                        "which frames are known. Received: context_mask=None"
                    )
                context_mask = [1.0] * num_context + [0.0] * (frames - num_context)
            if num_context < frames:
                padding = ops.zeros(
                    (batch, frames - num_context) + tuple(shape[2:]), "float32"
                )
                context = ops.concatenate([context, padding], axis=1)
            inputs["context"] = context
            inputs["context_mask"] = _frame_mask(context_mask, batch, frames, "context_mask")
        elif context_mask is not None:
            raise ValueError(
                "`context_mask` was given without `context`. "
                f"Received: context_mask={context_mask!r}"
            )
        if low_res is not None:
            if self.conditioning != "reconstruction_guidance":
                raise ValueError(
                    "Low-resolution conditioning (equation 8) needs "
                    "conditioning='reconstruction_guidance'. "
                    f"Received: conditioning={self.conditioning!r}"
                )
            low_res = _video(low_res, batch, "low_res")
            low_shape = tuple(low_res.shape)
            if (
                low_shape[1] != frames
                or low_shape[4] != shape[4]
                or shape[2] % low_shape[2]
                or shape[3] % low_shape[3]
            ):
                raise ValueError(
                    f"`low_res` must have {frames} frames, {shape[4]} channels and "
                    f"a size dividing {shape[2]}x{shape[3]}. "
                    f"Received: low_res.shape={low_shape}"
                )
            inputs["low_res"] = low_res
            if low_res_mask is not None:
                inputs["low_res_mask"] = _frame_mask(
                    low_res_mask, batch, frames, "low_res_mask"
                )
        return inputs

    def __call__(
        self,
        denoiser,
        shape,
        prediction_type=None,
        condition=None,
        context=None,
        context_mask=None,
        low_res=None,
        low_res_mask=None,
        seed=None,
        callback=None,
    ):
        fn, prediction_type, owner_schedule, layer = resolve_denoiser(
            denoiser, prediction_type
        )
        if self.schedule is not None:
            schedule = self.schedule
        else:
            schedule = owner_schedule or get_schedule("cosine")
        shape = tuple(shape) if isinstance(shape, (tuple, list)) else shape
        if (
            not isinstance(shape, tuple)
            or len(shape) != 5
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)
        ):
            raise ValueError(
                "`shape` must be 5 positive integers (batch, frames, height, "
                f"width, channels). Received: shape={shape!r}"
            )
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"`seed` must be an integer or None. Received: seed={seed!r}")
        inputs = self._prepare_inputs(
            shape, condition, context, context_mask, low_res, low_res_mask
        )
        batch = shape[0]

        key = (
            _identity(fn),
            prediction_type,
            repr(schedule),
            self.num_steps,
            tuple(sorted(inputs)),
        )
        if key not in self._compiled:
            if layer is not None:
                # Create the network's variables outside any compiled trace.
                fn(
                    ops.zeros((1,) + shape[1:]),
                    ops.zeros((1,)),
                    None if "condition" not in inputs else inputs["condition"][:1],
                )
            self._compiled[key] = (fn,) + self._build(
                fn, prediction_type, schedule, layer, batch
            )
        _, variables, run_chunk, run_final = self._compiled[key]

        if seed is None:
            seed = self._python_random.randrange(2**31 - 1)
        generator = keras.random.SeedGenerator(seed)
        noise = keras.random.normal(shape, dtype="float32", seed=generator)
        z = conditioning_lib.initial_latent(
            noise,
            inputs.get("context"),
            inputs.get("context_mask"),
            self._logsnr(schedule, 0, batch),
        )
        seed_state = ops.convert_to_tensor(generator.state.value) * 1
        values = [ops.convert_to_tensor(v.value) for v in variables]

        loop_steps = self.num_steps - 1
        chunk = self.steps_per_chunk or max(1, math.ceil(loop_steps / 20))
        with tqdm(
            total=self.num_steps,
            disable=not self.progress,
            desc=type(self).__name__,
            unit="step",
            leave=False,
        ) as bar:
            for start in range(0, loop_steps, chunk):
                stop = min(start + chunk, loop_steps)
                z, seed_state = run_chunk(
                    values,
                    seed_state,
                    z,
                    ops.convert_to_tensor(start, "int32"),
                    ops.convert_to_tensor(stop, "int32"),
                    inputs,
                )
                # Waits for the chunk (asynchronous backends) so that the
                # progress shown is the progress made.
                ops.convert_to_numpy(seed_state)
                bar.update(stop - start)
                if callback is not None:
                    callback(stop, self.num_steps)
            x = run_final(values, seed_state, z, inputs)
            x = ops.convert_to_tensor(x)
            bar.update(1)
            if callback is not None:
                callback(self.num_steps, self.num_steps)
        return x

    # -- configuration ---------------------------------------------------------

    def get_config(self):
        schedule = self.schedule
        if schedule is not None:
            schedule = keras.saving.serialize_keras_object(schedule)
        return {
            "num_steps": self.num_steps,
            "schedule": schedule,
            "conditioning": self.conditioning,
            "reconstruction_weight": self.reconstruction_weight,
            "guidance_weight": self.guidance_weight,
            "clip_denoised": self.clip_denoised,
            "downsample": self.downsample,
            "steps_per_chunk": self.steps_per_chunk,
            "progress": self.progress,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

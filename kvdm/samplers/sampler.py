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

from kvdm.diffusion.noise import frame_correlated_normal
from kvdm.diffusion.noise import noise_correlation_of
from kvdm.diffusion.schedules import get_schedule
from kvdm.samplers import conditioning as conditioning_lib
from kvdm.samplers import guidance as guidance_lib
from kvdm.samplers.guided_denoiser import GuidedDenoiser
from kvdm.samplers.guided_denoiser import denoiser_key
from kvdm.samplers.guided_denoiser import resolve_denoiser
from kvdm.samplers.inputs import check_shape
from kvdm.samplers.inputs import prepare_inputs
from kvdm.utils import backend_utils
from kvdm.utils import validation


def spread_seed(seed):
    """Maps a sampling seed to the seed of its noise stream.

    On PyTorch a Keras `SeedGenerator(s)` seeds its `k`-th draw with
    `s + k`, so the streams of seeds `s` and `s + 1` are the same stream
    shifted by one draw: two calls with neighbouring seeds (the windows of
    `extend`, the two passes of `anchored_sample`) would add correlated
    noise. Multiplying by a large odd constant modulo `2**31` keeps the map
    one-to-one and puts neighbouring seeds far apart.
    """
    return (int(seed) * 0x9E3779B1 + 0x7F4A7C15) % (2**31)


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
        self.num_steps = validation.positive_int(num_steps, "num_steps")
        self.schedule = None if schedule is None else get_schedule(schedule)
        self.conditioning = conditioning_lib.check_conditioning(conditioning)
        self.reconstruction_weight = validation.finite_number(
            reconstruction_weight, "reconstruction_weight"
        )
        self.guidance_weight = validation.finite_number(
            guidance_weight, "guidance_weight"
        )
        self.clip_denoised = bool(clip_denoised)
        if not callable(downsample):
            guidance_lib.get_downsample(downsample)
        self.downsample = downsample
        self.steps_per_chunk = validation.positive_int(
            steps_per_chunk, "steps_per_chunk", allow_none=True
        )
        self.progress = bool(progress)
        self.seed = validation.optional_int(seed, "seed")
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

    def _guided(self, fn, prediction_type, inputs, noise_generator,
                noise_correlation=0.0):
        return GuidedDenoiser(
            fn,
            prediction_type,
            inputs,
            noise_generator,
            conditioning=self.conditioning,
            guidance_weight=self.guidance_weight,
            reconstruction_weight=self.reconstruction_weight,
            downsample=self.downsample,
            clip_denoised=self.clip_denoised,
            noise_correlation=noise_correlation,
        )

    def _build(self, fn, prediction_type, schedule, layer, batch,
               noise_correlation=0.0):
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
                    model = self._guided(
                        fn, prediction_type, inputs, noise_generator,
                        noise_correlation,
                    )
                    logsnr_t = self._logsnr(schedule, i, batch)
                    logsnr_s = self._logsnr(schedule, i + 1, batch)
                    z_s = ops.cast(self.step(z_t, logsnr_t, logsnr_s, model), "float32")
                    state = scope.get_current_value(noise_generator.state)
                return z_s, state

            return ops.fori_loop(start, stop, body, (z, seed_state))

        def run_final(values, seed_state, z, inputs):
            with keras.StatelessScope(state_mapping=mapping(values, seed_state)):
                model = self._guided(
                    fn, prediction_type, inputs, noise_generator,
                    noise_correlation,
                )
                logsnr = self._logsnr(schedule, self.num_steps - 1, batch)
                return model.denoise_final(z, logsnr)

        return variables, backend_utils.jit(run_chunk), backend_utils.jit(run_final)

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
        shape = check_shape(shape)
        validation.optional_int(seed, "seed")
        inputs = prepare_inputs(
            shape,
            condition,
            context,
            context_mask,
            low_res,
            low_res_mask,
            conditioning=self.conditioning,
            guidance_weight=self.guidance_weight,
        )
        batch = shape[0]
        # A model trained on noise shared across frames is sampled from it.
        noise_correlation = noise_correlation_of(denoiser)

        key = (
            denoiser_key(fn),
            prediction_type,
            repr(schedule),
            self.num_steps,
            batch,
            tuple(sorted(inputs)),
            noise_correlation,
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
                fn, prediction_type, schedule, layer, batch,
                noise_correlation,
            )
        _, variables, run_chunk, run_final = self._compiled[key]

        if seed is None:
            seed = self._python_random.randrange(2**31 - 1)
        generator = keras.random.SeedGenerator(spread_seed(seed))
        noise = frame_correlated_normal(
            shape, noise_correlation, seed=generator
        )
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

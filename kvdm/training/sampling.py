"""Sampling from trained runs: samplers from a recipe, EMA weights, files.

Used during training (sample videos every `train.sample_every` steps), for the
final `.keras` export, and by the `kvdm sample / predict / extend /
interpolate / upsample / info` commands.
"""

import os

import keras
import numpy as np

# Recipe fields each sampler takes, as {sample-section field: sampler arg}.
_SAMPLER_OPTIONS = {
    "ancestral": {"gamma": "gamma"},
    "predictor_corrector": {
        "gamma": "gamma",
        "num_corrector_steps": "num_corrector_steps",
        "langevin_delta": "delta",
    },
    "ddim": {},
}


def make_sampler(sample_config, progress=True):
    """Builds the `kvdm.samplers` sampler a `SampleConfig` describes."""
    from kvdm.samplers import get_sampler

    kwargs = dict(
        num_steps=sample_config.num_steps,
        conditioning=sample_config.conditioning,
        reconstruction_weight=sample_config.reconstruction_weight,
        guidance_weight=sample_config.guidance_weight,
        clip_denoised=sample_config.clip_denoised,
        progress=progress,
    )
    for field, arg in _SAMPLER_OPTIONS[sample_config.sampler].items():
        kwargs[arg] = getattr(sample_config, field)
    return get_sampler(sample_config.sampler, **kwargs)


def generate(model, recipe, video_shape, num_videos=None, num_frames=None,
             seed=None, progress=True):
    """Samples unconditional videos with the recipe's sampler.

    Args:
        model: a `VideoDiffusion` (its current weights are used).
        recipe: `Recipe`; `recipe.sample` picks the sampler.
        video_shape: `(T, H, W, C)` of the training videos.
        num_videos: int or None. Defaults to `sample.num_videos`.
        num_frames: int or None. Defaults to the recipe's sample frames.
        seed: int or None. Defaults to `sample.seed`.
        progress: bool. Show a progress bar.

    Returns:
        numpy float32 `(N, T, H, W, C)` in [-1, 1].
    """
    config = recipe.sample
    shape = (
        num_videos or config.num_videos,
        num_frames or recipe.num_sample_frames,
    ) + tuple(video_shape[1:])
    sampler = make_sampler(config, progress=progress)
    videos = sampler(model, shape, seed=config.seed if seed is None else seed)
    return np.clip(keras.ops.convert_to_numpy(videos), -1.0, 1.0)


def sample_with_ema(model, recipe, video_shape, path, progress=True):
    """Writes sample videos made with the EMA weights; training weights stay."""
    from kvdm.io import write_videos
    from kvdm.training.ema import ema_weights

    with ema_weights(model):
        videos = generate(model, recipe, video_shape, progress=progress)
    return write_videos(path, videos, fps=recipe.sample.fps)


def export_ema_model(model, recipe, video_shape, path):
    """Saves a `.keras` file of the model holding its EMA weights.

    The export is an uncompiled copy (no optimizer state), so it is small and
    loads with `keras.saving.load_model` for sampling.
    """
    from kvdm.training.ema import ema_weights

    export = model.__class__.from_config(model.get_config())
    export({"video": np.zeros((1,) + tuple(video_shape), "float32")},
           training=False)
    with ema_weights(model):
        for target, source in zip(export.weights, model.weights):
            target.assign(source.value)
    tmp = path + ".tmp.keras"
    export.save(tmp)
    os.replace(tmp, path)
    return path

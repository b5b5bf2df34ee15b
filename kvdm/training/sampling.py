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
    kwargs.update(sampler_options(sample_config))
    return get_sampler(sample_config.sampler, **kwargs)


def sampler_options(sample_config):
    """The arguments of the config's sampler that only it takes.

    Returns:
        dict, e.g. `{"gamma": 0.0}` for "ancestral" and `{}` for "ddim".
    """
    return {
        arg: getattr(sample_config, field)
        for field, arg in _SAMPLER_OPTIONS[sample_config.sampler].items()
    }


def text_encoder_name(model, recipe=None):
    """The text encoder of a model (its own record, else the recipe's)."""
    name = getattr(model, "text_encoder", None)
    if name is None and recipe is not None:
        name = recipe.model.text_encoder
    return name


def prompt_condition(model, prompts, recipe=None, videos_per_prompt=1,
                     truncate=False):
    """The condition of a text-conditioned model for some prompts.

    Args:
        model: a text-conditioned `VideoDiffusion`.
        prompts: list of str. Checked with `kvdm.text.check_prompts`.
        recipe: `Recipe` or None. Names the encoder when the model does not.
        videos_per_prompt: int. Rows per prompt (consecutive). Defaults to 1.
        truncate: bool. Cut overlong prompts with a warning instead of
            refusing them. Defaults to False.

    Returns:
        float32 tensor `(len(prompts) * videos_per_prompt, L, D)`.

    Raises:
        ValueError: the model is not text-conditioned, or a bad prompt.
    """
    from kvdm.text import check_prompts
    from kvdm.text import load_text_encoder

    name = text_encoder_name(model, recipe)
    denoiser = getattr(model, "denoiser", None)
    if name is None or getattr(denoiser, "condition_dim", None) is None:
        raise ValueError(
            "Prompts need a text-conditioned model (a recipe with "
            "`model.text_encoder`); this one has no text encoder. "
            f"Received: text_encoder={name!r}"
        )
    prompts = check_prompts(prompts, name, truncate=truncate)
    encoder = load_text_encoder(name)
    rows = [p for p in prompts for _ in range(videos_per_prompt)]
    return encoder.condition(rows, truncate=truncate)


def generate(model, recipe, video_shape, num_videos=None, num_frames=None,
             seed=None, progress=True, prompts=None):
    """Samples videos with the recipe's sampler, from prompts or not.

    A text-conditioned model samples `num_videos` videos for each prompt
    (`prompts`, else the recipe's `sample.prompts`), with the recipe's
    classifier-free guidance weight; without prompts it samples
    unconditionally (the null condition, so without guidance). With
    `sample.anchor_frames`, each video's first frames are settled in a first
    pass and the rest sampled given them (`kvdm.samplers.anchored_sample`).

    Args:
        model: a `VideoDiffusion` (its current weights are used).
        recipe: `Recipe`; `recipe.sample` picks the sampler.
        video_shape: `(T, H, W, C)` of the training videos.
        num_videos: int or None. Videos (per prompt, with prompts).
            Defaults to `sample.num_videos`.
        num_frames: int or None. Defaults to the recipe's sample frames.
        seed: int or None. Defaults to `sample.seed`.
        progress: bool. Show a progress bar.
        prompts: list of str or None. Defaults to `sample.prompts`.

    Returns:
        numpy float32 `(N, T, H, W, C)` in [-1, 1], prompt by prompt.

    Example:

    >>> loaded = kvdm.training.load_for_sampling("runs/moving_digits_text")
    >>> videos = generate(loaded.model, loaded.recipe, loaded.video_shape,
    ...                   prompts=["the digit 7 moves left"], num_videos=2)
    """
    config = recipe.sample
    prompts = config.prompts if prompts is None else prompts
    count = num_videos or config.num_videos
    condition = None
    if prompts is not None:
        condition = prompt_condition(model, prompts, recipe,
                                     videos_per_prompt=count)
        count = int(condition.shape[0])
    elif config.guidance_weight:
        # Guidance needs a condition: unconditional samples go without.
        config = config.replace(guidance_weight=0.0)
    shape = (count, num_frames or recipe.num_sample_frames) + tuple(
        video_shape[1:]
    )
    from kvdm.samplers.drivers import anchored_sample

    sampler = make_sampler(config, progress=progress)
    videos = anchored_sample(
        sampler, model, shape, config.anchor_frames, condition=condition,
        seed=config.seed if seed is None else seed)
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
    batch = {"video": np.zeros((1,) + tuple(video_shape), "float32")}
    width = getattr(model.denoiser, "condition_dim", None)
    if width is not None and getattr(model, "text_encoder", None):
        # The null condition, as a token sequence: builds the pooling.
        batch["condition"] = np.zeros((1, 1, width), "float32")
    export(batch, training=False)
    with ema_weights(model):
        for target, source in zip(export.weights, model.weights):
            target.assign(source.value)
    tmp = path + ".tmp.keras"
    export.save(tmp)
    os.replace(tmp, path)
    return path

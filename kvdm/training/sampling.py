"""Sampling from trained runs: samplers from a recipe, EMA weights, files.

Used during training (sample videos every `train.sample_every` steps), for the
final `.keras` export, and by the `kvdm sample / predict / extend /
interpolate / upsample / info` commands.
"""

import os

import keras
import numpy as np

from kvdm.config import Recipe
from kvdm.config import RecipeError
from kvdm.config import load_recipe
from kvdm.training import builders
from kvdm.training import checkpoint as checkpoint_lib

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
VIDEO_SUFFIXES = (".gif", ".mp4", ".png")


def make_sampler(sample_config, progress=True):
    """Builds the `kvdm.samplers` sampler a `SampleConfig` describes."""
    from kvdm.samplers import get_sampler

    kwargs = dict(
        num_steps=sample_config.num_steps,
        conditioning=sample_config.conditioning,
        reconstruction_weight=sample_config.reconstruction_weight,
        guidance_weight=sample_config.guidance_weight,
        progress=progress,
    )
    for field, arg in _SAMPLER_OPTIONS[sample_config.sampler].items():
        kwargs[arg] = getattr(sample_config, field)
    return get_sampler(sample_config.sampler, **kwargs)


def tile_videos(videos):
    """Puts a batch `(N, T, H, W, C)` side by side: `(T, H, N * W, C)`."""
    videos = np.asarray(videos)
    return np.concatenate(list(videos), axis=2)


def write_videos(path, videos, fps=8):
    """Writes a batch of videos to `.gif` / `.mp4` (side by side) or `.png`.

    Args:
        path: str. The file; its suffix picks the format.
        videos: array `(N, T, H, W, C)`, float in [-1, 1].
        fps: int. Frames per second.
    """
    from kvdm import io

    suffix = os.path.splitext(path)[1].lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(
            f"The output file must end in one of {list(VIDEO_SUFFIXES)}. "
            f"Received: path={path}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    videos = keras.ops.convert_to_numpy(videos)
    if suffix == ".png":
        io.write_png_grid(path, videos)
    elif suffix == ".gif":
        io.write_gif(path, tile_videos(videos), fps=fps)
    else:
        io.write_mp4(path, tile_videos(videos), fps=fps)
    return path


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
    from kvdm.diffusion.ema import ema_weights

    with ema_weights(model):
        videos = generate(model, recipe, video_shape, progress=progress)
    return write_videos(path, videos, fps=recipe.sample.fps)


def export_ema_model(model, recipe, video_shape, path):
    """Saves a `.keras` file of the model holding its EMA weights.

    The export is an uncompiled copy (no optimizer state), so it is small and
    loads with `keras.saving.load_model` for sampling.
    """
    from kvdm.diffusion.ema import ema_weights

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


class LoadedModel:
    """A model ready for sampling, with where it came from.

    Attributes:
        model: `VideoDiffusion` holding the EMA weights.
        recipe: `Recipe` of the run (defaults if a bare `.keras` file).
        video_shape: `(T, H, W, C)` the model was trained on.
        step: int or None. Training steps (None for a `.keras` file).
        source: str. The file or folder read.
    """

    def __init__(self, model, recipe, video_shape, step, source):
        self.model = model
        self.recipe = recipe
        self.video_shape = tuple(video_shape)
        self.step = step
        self.source = source


def load_for_sampling(path):
    """Loads a run folder, a checkpoint folder or a `.keras` file.

    A run folder means its newest checkpoint. Checkpoints are restored into
    the model their recipe builds and switched to the EMA weights.

    Returns:
        A `LoadedModel`.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such checkpoint or model file: {path}")
    if os.path.isfile(path):
        if not path.endswith(".keras"):
            raise ValueError(
                "Expected a run folder, a checkpoint folder or a `.keras` "
                f"file. Received: path={path}"
            )
        return _load_keras_file(path)
    checkpoint = path
    if not os.path.isfile(os.path.join(path, "meta.json")):
        checkpoint = checkpoint_lib.latest_checkpoint(path)
        if checkpoint is None:
            raise FileNotFoundError(
                f"No checkpoint found in {path} (expected "
                f"{os.path.join(path, checkpoint_lib.CHECKPOINTS)}/step-N)."
            )
    from kvdm.diffusion.ema import swap_ema_weights

    meta = checkpoint_lib.read_meta(checkpoint)
    recipe = load_recipe(os.path.join(checkpoint, "recipe.yaml"))
    keras.utils.set_random_seed(recipe.train.seed)
    builders.set_precision(recipe)
    model = builders.build_inference_model(recipe, meta["video_shape"])
    checkpoint_lib.restore_checkpoint(checkpoint, model)
    swap_ema_weights(model)
    return LoadedModel(model, recipe, meta["video_shape"], meta["step"],
                       checkpoint)


def _load_keras_file(path):
    # Importing registers the kvdm classes with Keras.
    import kvdm.diffusion  # noqa: F401
    import kvdm.models  # noqa: F401

    model = keras.saving.load_model(path, compile=False)
    recipe_path = os.path.join(os.path.dirname(path), "recipe.yaml")
    recipe = load_recipe(recipe_path) if os.path.isfile(recipe_path) else None
    if recipe is None:
        recipe = Recipe()
    denoiser = model.denoiser
    data = recipe.data
    channels = denoiser.out_channels
    if channels is None:
        raise RecipeError(
            f"Cannot tell the video shape of {path}: its network has no "
            "`out_channels`. Received: out_channels=None"
        )
    video_shape = (data.num_frames, data.image_size, data.image_size,
                   channels)
    return LoadedModel(model, recipe, video_shape, None, path)


def parameter_count(model):
    """Number of trainable parameters of a model."""
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))


def read_input_video(path, loaded, num_frames=None, size=None):
    """Reads a video file as a float32 batch `(1, T, H, W, C)` in [-1, 1].

    Frames are scaled down to the frame size, so a larger video works (for
    example one `kvdm` wrote, which enlarges small videos), but frames of
    another shape or smaller than the frame size are refused rather than
    stretched.

    Args:
        path: str. The video file.
        loaded: `LoadedModel`; its channels (and frame size unless `size` is
            given) are used.
        num_frames: int or None. Most frames to read.
        size: int, tuple `(height, width)` or None. Frame size; defaults to
            the model's.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: the file is not a readable video, or its frames do not
            fit `size`.
    """
    from kvdm import io

    channels = loaded.video_shape[-1]
    if size is None:
        size = tuple(loaded.video_shape[1:3])
    elif isinstance(size, int):
        size = (size, size)
    height, width = io.read_video(path, num_frames=1,
                                  channels=channels).shape[1:3]
    if height * size[1] != width * size[0] or height < size[0]:
        raise ValueError(
            f"The input video's frames do not fit the model, which needs "
            f"{size[0]}x{size[1]} frames (height x width); a video of the "
            f"same aspect ratio and at least that size is scaled down to it. "
            f"Received: frame_size={height}x{width}"
        )
    frames = io.read_video(path, num_frames=num_frames, size=size,
                           channels=channels)
    video = frames.astype("float32") / 127.5 - 1.0
    return video[None]


def run_task(loaded, task, video_path, sample_config, read_frames=None,
             progress=True, **options):
    """Runs a long-video driver of `kvdm.samplers` on a video file.

    Args:
        loaded: `LoadedModel`.
        task: str. "predict", "extend", "interpolate" or "upsample".
        video_path: str. The input video; read at the model's frame size
            (for "upsample", the model's size over `spatial_factor`).
        sample_config: `SampleConfig` (sampler, steps, conditioning, w_r,
            seed).
        read_frames: int or None. Frames of the input to read (None: all).
        progress: bool. Show progress bars.
        **options: the driver's own arguments (`num_frames`, `factor`,
            `window_frames`, ...); None values use the driver's defaults,
            except `num_frames` of "predict", which defaults to the model's
            frames.

    Returns:
        `(input, output)`: numpy float32 videos `(1, T, H, W, C)` in [-1, 1].
    """
    from kvdm import samplers

    drivers = {
        "predict": samplers.predict,
        "extend": samplers.extend,
        "interpolate": samplers.interpolate,
        "upsample": samplers.upsample,
    }
    options = {k: v for k, v in options.items() if v is not None}
    size = None
    if task == "upsample":
        sample_config = sample_config.replace(
            conditioning="reconstruction_guidance"
        )
        factor = options.get("spatial_factor", 2)
        if isinstance(factor, bool) or not isinstance(factor, int) or (
            factor < 1
        ):
            raise ValueError(
                "The upsampling factor must be a positive integer. "
                f"Received: spatial_factor={factor!r}"
            )
        size = loaded.video_shape[1] // factor
        if size * factor != loaded.video_shape[1]:
            raise ValueError(
                f"The model's frame size {loaded.video_shape[1]} is not a "
                f"multiple of the upsampling factor. "
                f"Received: spatial_factor={factor}"
            )
    if task == "predict":
        options.setdefault("num_frames", loaded.video_shape[0])
    video = read_input_video(video_path, loaded, num_frames=read_frames,
                             size=size)
    if read_frames is not None and video.shape[1] < read_frames:
        name = "context_frames" if task == "predict" else "read_frames"
        raise ValueError(
            f"The input video has {video.shape[1]} frames, fewer than the "
            f"{read_frames} asked for. Received: {name}={read_frames}"
        )
    sampler = make_sampler(sample_config, progress=progress)
    kwargs = dict(sampler=sampler, seed=sample_config.seed, progress=progress)
    if task != "upsample":
        kwargs["conditioning"] = sample_config.conditioning
    videos = drivers[task](loaded.model, video, **kwargs, **options)
    return video, np.clip(keras.ops.convert_to_numpy(videos), -1.0, 1.0)

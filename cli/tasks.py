"""What the conditional commands do: `kvdm predict / extend / interpolate /
upsample` read a video file and run a long-video driver of `kvdm.samplers`.

The checks that run before a model is loaded (`source_recipe`,
`check_task_options`) import neither Keras nor TensorFlow, so that a bad
option is refused at once; `read_input_video` and `run_task` import them.
"""

import os

TASKS = ("predict", "extend", "interpolate", "upsample")
# The recipe file kvdm writes into run folders and checkpoint folders, and
# next to the exported `model.keras`.
RECIPE_FILE = "recipe.yaml"


def source_recipe(source):
    """The recipe of a run, read from its YAML file without loading a model.

    Args:
        source: str. A run folder, a checkpoint folder, a `.keras` file or
            a preset name.

    Returns:
        The `Recipe`, or None when there is no recipe file to read (a bare
        `.keras` file, a missing path) or it does not validate; loading the
        model then reports what is wrong.
    """
    from kvdm import presets
    from kvdm.config import RecipeError
    from kvdm.config import load_recipe

    source = os.fspath(source)
    if presets.is_preset(source):
        source = os.fspath(presets.preset_path(source))
    folder = source if os.path.isdir(source) else os.path.dirname(source)
    path = os.path.join(folder, RECIPE_FILE)
    if not os.path.exists(source) or not os.path.isfile(path):
        return None
    try:
        return load_recipe(path)
    except (RecipeError, OSError):
        return None


def check_task_options(**options):
    """Checks the integer options of a task before any model is loaded.

    Args:
        **options: `name=value`; None values (not given) are skipped, the
            others must be positive integers.

    Raises:
        ValueError: naming the first value that is not.
    """
    for name, value in options.items():
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"`{name}` must be a positive integer. "
                f"Received: {name}={value!r}"
            )


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


def _upsample_input_size(loaded, options):
    """The low-resolution frame size of "upsample": the model's over the factor."""
    factor = options.get("spatial_factor", 2)
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
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
    return size


def run_task(loaded, task, video_path, sample_config, progress=True,
             **options):
    """Runs a long-video driver of `kvdm.samplers` on a video file.

    Args:
        loaded: `LoadedModel`.
        task: str. "predict", "extend", "interpolate" or "upsample".
        video_path: str. The input video; read at the model's frame size
            (for "upsample", the model's size over `spatial_factor`).
        sample_config: `SampleConfig` (sampler, steps, conditioning, w_r,
            clip_denoised, seed; for "predict", `context_frames`: the frames
            of the input used as context, 1 when None).
        progress: bool. Show progress bars.
        **options: the driver's own arguments (`num_frames`, `factor`,
            `window_frames`, `overlap`, `temporal_factor`, ...); None values
            use the defaults: the driver's, except that "predict" samples
            the model's frame count, and "extend" samples windows of the
            model's frame count with an overlap of half the window (at most
            the input's frames).

    Returns:
        `(input, output)`: numpy float32 videos `(1, T, H, W, C)` in [-1, 1].
    """
    import keras
    import numpy as np

    from kvdm import samplers
    from kvdm.training.sampling import make_sampler

    drivers = {
        "predict": samplers.predict,
        "extend": samplers.extend,
        "interpolate": samplers.interpolate,
        "upsample": samplers.upsample,
    }
    if task not in drivers:
        raise ValueError(
            f"`task` must be one of {list(TASKS)}. Received: task={task!r}"
        )
    options = {k: v for k, v in options.items() if v is not None}
    model_frames = loaded.video_shape[0]
    size = None
    read_frames = None
    if task == "upsample":
        sample_config = sample_config.replace(
            conditioning="reconstruction_guidance"
        )
        size = _upsample_input_size(loaded, options)
    elif task == "predict":
        read_frames = sample_config.context_frames or 1
        options.setdefault("num_frames", model_frames)
    elif task == "extend":
        options.setdefault("window_frames", model_frames)
    video = read_input_video(video_path, loaded, num_frames=read_frames,
                             size=size)
    if read_frames is not None and video.shape[1] < read_frames:
        raise ValueError(
            f"The input video has {video.shape[1]} frames, fewer than the "
            f"{read_frames} asked for. Received: context_frames={read_frames}"
        )
    if task == "extend" and "overlap" not in options:
        options["overlap"] = min(options["window_frames"] // 2,
                                 video.shape[1])
    if sample_config.guidance_weight:
        # These tasks take no prompt: a text-conditioned model runs
        # unconditionally, and guidance has no condition to steer towards.
        sample_config = sample_config.replace(guidance_weight=0.0)
    sampler = make_sampler(sample_config, progress=progress)
    kwargs = dict(sampler=sampler, seed=sample_config.seed, progress=progress)
    if task != "upsample":
        kwargs["conditioning"] = sample_config.conditioning
    videos = drivers[task](loaded.model, video, **kwargs, **options)
    return video, np.clip(keras.ops.convert_to_numpy(videos), -1.0, 1.0)

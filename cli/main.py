"""The `kvdm` command line: train, sample, predict, extend, interpolate,
upsample, inspect and evaluate video diffusion models.

Commands are thin: they read options, call `kvdm.training` and turn bad input
into one-line errors. Keras is imported inside the commands, after
`--backend` (or the recipe's `train.backend`) has set `KERAS_BACKEND` and
after every check that needs no model, so that bad input is refused at once;
this module and what it imports at the top stay free of Keras and TensorFlow.
Library log lines are kept off the terminal unless `--verbose` (see
`kvdm.cli.logs`).
"""

import functools
import os
import sys

import click

from kvdm.cli import evaluation
from kvdm.cli import huge_pages
from kvdm.cli import logs
from kvdm.cli import tasks
from kvdm.config import BACKENDS
from kvdm.config import SAMPLERS
from kvdm.config import RecipeError
from kvdm.config import load_recipe

# Errors that are the user's input, not a bug: shown as one line.
_INPUT_ERRORS = (RecipeError, ValueError, FileNotFoundError, FileExistsError,
                 NotADirectoryError, IsADirectoryError, PermissionError)


def _set_backend(backend):
    """Selects the Keras backend; must run before Keras is imported."""
    if backend is None:
        return
    if "keras" in sys.modules:
        import keras

        if keras.config.backend() != backend:
            raise click.UsageError(
                f"Keras is already loaded with backend "
                f"{keras.config.backend()!r}; cannot switch to {backend!r}."
            )
    os.environ["KERAS_BACKEND"] = backend


def _one_line_errors(command):
    """Turns input errors raised by a command into `click.ClickException`."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except click.ClickException:
            raise
        except _INPUT_ERRORS as error:
            message = str(error).strip().splitlines()
            raise click.ClickException(
                " ".join(line.strip() for line in message) or repr(error)
            ) from None

    return wrapper


@click.group(name="kvdm", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--backend", type=click.Choice(BACKENDS), default=None,
              help="Keras backend (default: the recipe's train.backend, "
                   "else KERAS_BACKEND).")
@click.option("--verbose", "-v", is_flag=True,
              help="Show the log lines of TensorFlow and other libraries "
                   "(hidden by default unless TF_CPP_MIN_LOG_LEVEL is set).")
@click.version_option(package_name="kvdm")
@click.pass_context
def cli(ctx, backend, verbose):
    """Keras Video Diffusion Models."""
    ctx.obj = {"backend": backend}
    logs.quiet(verbose)
    _set_backend(backend)


def _sampling_options(command):
    """Options shared by every command that samples."""
    options = [
        click.option("--sampler", type=click.Choice(SAMPLERS), default=None,
                      help="Sampler (default: the recipe's)."),
        click.option("--steps", type=int, default=None,
                     help="Sampling steps (default: the recipe's)."),
        click.option("--gamma", type=float, default=None,
                     help="Ancestral variance interpolation in [0, 1]."),
        click.option("--seed", type=int, default=None,
                     help="Sampling seed (default: the recipe's)."),
        click.option("--clip-denoised/--no-clip-denoised", default=None,
                     help="Clip the denoised estimate to [-1, 1] at each "
                          "step (default: the recipe's sample.clip_denoised)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _sample_config(loaded, **changes):
    """The run's `sample` section with command-line changes (validated)."""
    changes = {k: v for k, v in changes.items() if v is not None}
    return loaded.recipe.sample.replace(**changes)


def _check_sample_options(**changes):
    """Validates command-line sampling values before a model is loaded."""
    from kvdm.config import SampleConfig

    SampleConfig().replace(**{k: v for k, v in changes.items()
                              if v is not None})


def _check_source(source):
    from kvdm import presets

    if not os.path.exists(source) and not presets.is_preset(source):
        raise FileNotFoundError(f"No such checkpoint or model file: {source}")


def _load(source, with_tensorflow=False):
    """Loads SOURCE for sampling: the slow part, after every other check.

    Args:
        source: str. A run folder, a checkpoint folder or a `.keras` file.
        with_tensorflow: bool. Also import TensorFlow (with its start-up
            lines filtered) whatever the backend: reading videos needs it.
    """
    _check_source(source)
    logs.import_libraries(with_tensorflow=with_tensorflow)
    import kvdm.training

    loaded = kvdm.training.load_for_sampling(source)
    step = "" if loaded.step is None else f" (step {loaded.step})"
    click.echo(f"Loaded {loaded.source}{step}.", err=True)
    return loaded


@cli.command()
@click.argument("recipe", type=click.Path(dir_okay=False))
@click.option("--set", "overrides", multiple=True, metavar="SECTION.KEY=VALUE",
              help="Override a recipe value (YAML), e.g. --set train.steps=100."
                   " Repeatable.")
@click.option("--output", "output_dir", type=click.Path(file_okay=False),
              default=None,
              help="Run folder (default: train.output_dir, else "
                   "runs/<recipe name>).")
@click.option("--resume", is_flag=True,
              help="Continue from the newest checkpoint in the run folder.")
@click.pass_context
@_one_line_errors
def train(ctx, recipe, overrides, output_dir, resume):
    """Train the model described by RECIPE (a YAML file)."""
    if ctx.obj["backend"] is not None:
        # `kvdm --backend X train` wins over the recipe's train.backend.
        overrides = tuple(overrides) + (f"train.backend={ctx.obj['backend']}",)
    loaded = load_recipe(recipe, overrides)
    if ctx.obj["backend"] is None and loaded.train.backend is not None:
        _set_backend(loaded.train.backend)
    output_dir = output_dir or loaded.train.output_dir or os.path.join(
        "runs", os.path.splitext(os.path.basename(recipe))[0])
    logs.import_libraries(with_tensorflow=True)
    from kvdm.training import train as train_recipe

    click.echo(f"Training {recipe} into {output_dir}", err=True)
    result = train_recipe(loaded, output_dir, resume=resume)
    if result.interrupted:
        click.echo(
            f"Stopped at step {result.step}; checkpoint {result.checkpoint}. "
            f"Continue with: kvdm train {recipe} --output {output_dir} "
            "--resume", err=True)
        sys.exit(130)
    click.echo(f"Done: {result.step} steps. Model: {result.export}. "
               f"Samples: {result.samples[-1]}", err=True)


@cli.command()
@click.argument("source", type=click.Path(exists=False))
@click.option("--num-videos", type=int, default=None,
              help="Videos to sample (default: the recipe's); with --prompt, "
                   "videos per prompt (default: 1).")
@click.option("--frames", type=int, default=None,
              help="Frames per video (default: the recipe's).")
@_sampling_options
@click.option("--guidance-weight", type=float, default=None,
              help="Classifier-free guidance weight of text-conditioned "
                   "models (default: the recipe's sample.guidance_weight).")
@click.option("--prompt", "prompts", type=str, multiple=True,
              help="Text prompt of a text-conditioned model; repeat it for "
                   "several prompts (default: the recipe's sample.prompts).")
@click.option("--output", type=click.Path(dir_okay=False), default="samples.gif",
              show_default=True, help="Output file: .gif, .mp4 or .png.")
@_one_line_errors
def sample(source, num_videos, frames, sampler, steps, gamma, seed,
           clip_denoised, guidance_weight, prompts, output):
    """Sample videos from SOURCE: a run folder, a checkpoint, a .keras file or a
    shipped preset (`moving_digits`)."""
    _check_suffix(output)
    _check_sample_options(
        sampler=sampler, num_steps=steps, gamma=gamma, seed=seed,
        clip_denoised=clip_denoised, guidance_weight=guidance_weight,
        num_videos=num_videos, num_frames=frames)
    prompts = list(prompts) or None
    if prompts is not None:
        from kvdm.text import check_prompts

        recipe = tasks.source_recipe(source)
        if recipe is not None and recipe.model.text_encoder is None:
            raise click.UsageError(
                "--prompt needs a text-conditioned model with a text "
                f"encoder; the recipe of {source} names none. "
                "Received: model.text_encoder=None")
        # Empty, undecodable or too long for the encoder (when the recipe
        # names it): refused before the model is loaded.
        check_prompts(prompts, None if recipe is None
                      else recipe.model.text_encoder)
    loaded = _load(source)
    from kvdm.io import write_videos
    from kvdm.training import sampling

    if prompts is not None and (
        loaded.model.denoiser.condition_dim is None
        or sampling.text_encoder_name(loaded.model, loaded.recipe) is None
    ):
        raise click.UsageError(
            "--prompt needs a text-conditioned model; this model is "
            "unconditional (its network has no condition_dim).")
    if guidance_weight and prompts is None and not loaded.recipe.sample.prompts:
        raise click.UsageError(
            "--guidance-weight needs prompts: give --prompt (classifier-free "
            "guidance steers towards a condition).")
    config = _sample_config(
        loaded, sampler=sampler, num_steps=steps, gamma=gamma, seed=seed,
        clip_denoised=clip_denoised, guidance_weight=guidance_weight,
        num_videos=num_videos or (1 if prompts else None), num_frames=frames)
    recipe = loaded.recipe.replace(sample=config)
    videos = sampling.generate(loaded.model, recipe, loaded.video_shape,
                               prompts=prompts)
    write_videos(output, videos, fps=config.fps)
    what = "" if prompts is None else (
        f" ({config.num_videos} per prompt, guidance weight "
        f"{config.guidance_weight:g})")
    click.echo(f"Wrote {len(videos)} videos to {output}{what}", err=True)


def _check_suffix(output):
    from kvdm.io.writers import check_video_suffix

    try:
        check_video_suffix(output, "output")
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--output") from None


def _conditioning_options(command):
    """Options of the commands that condition on an input video."""
    options = [
        click.argument("source", type=click.Path(exists=False)),
        click.argument("video", type=click.Path(dir_okay=False)),
        click.option("--output", type=click.Path(dir_okay=False),
                     required=True, help="Output file: .gif, .mp4 or .png."),
        click.option("--method",
                     type=click.Choice(["reconstruction_guidance",
                                        "replacement", "context"]),
                     default=None,
                     help="How the known frames are imposed (default: the "
                          "recipe's sample.conditioning; 'context' needs a "
                          "model trained with diffusion.context_frames)."),
        click.option("--weight", "reconstruction_weight", type=float,
                     default=None,
                     help="Reconstruction guidance weight w_r "
                          "(default: the recipe's)."),
    ]
    for option in reversed(options):
        command = option(command)
    return _sampling_options(command)


def _run_task(task, source, video, output, method, reconstruction_weight,
              sampler, steps, gamma, seed, clip_denoised, context_frames=None,
              **options):
    _check_suffix(output)
    changes = dict(
        sampler=sampler, num_steps=steps, gamma=gamma, seed=seed,
        clip_denoised=clip_denoised, conditioning=method,
        reconstruction_weight=reconstruction_weight,
        context_frames=context_frames)
    _check_sample_options(**changes)
    tasks.check_task_options(**options)
    if not os.path.isfile(video):
        raise FileNotFoundError(
            f"Input video not found. Received: video={video}")
    loaded = _load(source, with_tensorflow=True)
    from kvdm.io import write_videos

    config = _sample_config(loaded, **changes)
    given, result = tasks.run_task(loaded, task, video, config, **options)
    write_videos(output, result, fps=config.fps)
    click.echo(f"{task}: {given.shape[1]} input frames "
               f"({given.shape[2]}x{given.shape[3]}) -> {result.shape[1]} "
               f"frames ({result.shape[2]}x{result.shape[3]}) in {output}",
               err=True)


@cli.command()
@_conditioning_options
@click.option("--context-frames", type=int, default=None,
              help="Frames of VIDEO used as known context (default: the "
                   "recipe's sample.context_frames, else 1).")
@click.option("--frames", type=int, default=None,
              help="Output frames, context included (default: the model's).")
@_one_line_errors
def predict(source, video, output, method, reconstruction_weight, sampler,
            steps, gamma, seed, clip_denoised, context_frames, frames):
    """Predict the frames that follow the first frames of VIDEO."""
    _run_task("predict", source, video, output, method,
              reconstruction_weight, sampler, steps, gamma, seed,
              clip_denoised, context_frames=context_frames, num_frames=frames)


@cli.command()
@_conditioning_options
@click.option("--frames", type=int, required=True,
              help="Length of the output video.")
@click.option("--window", "window_frames", type=int, default=None,
              help="Frames sampled at once (default: the model's frames, "
                   "the recipe's data.num_frames).")
@click.option("--overlap", type=int, default=None,
              help="Known frames at the start of each window (default: half "
                   "the window, at most the input's frames).")
@_one_line_errors
def extend(source, video, output, method, reconstruction_weight, sampler,
           steps, gamma, seed, clip_denoised, frames, window_frames, overlap):
    """Extend VIDEO autoregressively to --frames frames."""
    _run_task("extend", source, video, output, method, reconstruction_weight,
              sampler, steps, gamma, seed, clip_denoised, num_frames=frames,
              window_frames=window_frames, overlap=overlap)


@cli.command()
@_conditioning_options
@click.option("--factor", type=int, default=2, show_default=True,
              help="Frame-rate multiplier.")
@click.option("--window", "window_frames", type=int, default=None,
              help="Frames sampled at once (default: the whole output).")
@_one_line_errors
def interpolate(source, video, output, method, reconstruction_weight,
                sampler, steps, gamma, seed, clip_denoised, factor,
                window_frames):
    """Raise the frame rate of VIDEO by --factor."""
    _run_task("interpolate", source, video, output, method,
              reconstruction_weight, sampler, steps, gamma, seed,
              clip_denoised, factor=factor, window_frames=window_frames)


@cli.command()
@_conditioning_options
@click.option("--factor", "spatial_factor", type=int, default=2,
              show_default=True, help="Spatial upsampling factor.")
@click.option("--temporal-factor", type=int, default=1, show_default=True,
              help="Output frames per input frame interval: the input's "
                   "frames become every n-th output frame, (T - 1) n + 1 "
                   "frames in all.")
@click.option("--window", "window_frames", type=int, default=None,
              help="Frames sampled at once (default: the whole output).")
@click.option("--overlap", type=int, default=None,
              help="Frames carried into the next window when --window is "
                   "shorter than the output (default: half the window).")
@_one_line_errors
def upsample(source, video, output, method, reconstruction_weight, sampler,
             steps, gamma, seed, clip_denoised, spatial_factor,
             temporal_factor, window_frames, overlap):
    """Spatial super-resolution of VIDEO with a high-resolution model
    (always reconstruction guidance, equation 8)."""
    if method not in (None, "reconstruction_guidance"):
        raise click.BadParameter(
            "upsample always uses reconstruction guidance (equation 8). "
            f"Received: method={method}", param_hint="--method")
    _run_task("upsample", source, video, output, "reconstruction_guidance",
              reconstruction_weight, sampler, steps, gamma, seed,
              clip_denoised, spatial_factor=spatial_factor,
              temporal_factor=temporal_factor, window_frames=window_frames,
              overlap=overlap)


@cli.command()
@click.argument("source", type=click.Path(exists=False))
@_one_line_errors
def info(source):
    """Show the model, recipe, step and parameter count of SOURCE."""
    loaded = _load(source)
    from kvdm.training.runs import parameter_count

    unet = loaded.model.denoiser
    click.echo(f"source: {loaded.source}")
    click.echo(f"step: {loaded.step if loaded.step is not None else 'n/a'}")
    click.echo(f"model: {type(unet).__name__} "
               f"(prediction_type={loaded.model.prediction_type})")
    click.echo(f"parameters: {parameter_count(loaded.model):,}")
    click.echo(f"video shape (T, H, W, C): {tuple(loaded.video_shape)}")
    click.echo("recipe:")
    click.echo(loaded.recipe.to_yaml().rstrip())


@cli.command(name="eval")
@click.argument("source", type=click.Path(exists=False))
@click.option("--protocol", type=click.Choice(sorted(evaluation.PROTOCOL_NAMES)),
              required=True, help="Evaluation protocol (see docs/evaluation.md).")
@click.option("--num-samples", type=int, default=None,
              help="Generated videos (default: the protocol's; fewer gives a "
                   "scaled-down run, reported as such).")
@click.option("--batch-size", type=int, default=8, show_default=True,
              help="Videos per sampling and I3D call.")
@click.option("--output", type=click.Path(file_okay=False), default=None,
              help="Report folder (default: SOURCE's folder/eval).")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="TFDS data folder for bair and ucf101 (default: "
                   "$TFDS_DATA_DIR or ~/tensorflow_datasets).")
@click.option("--data-path", type=click.Path(file_okay=False), default=None,
              help="Folder of Kinetics-600 clips (with a test/ sub-folder).")
@click.option("--method", type=click.Choice(["reconstruction_guidance",
                                             "replacement"]), default=None,
              help="How context frames are imposed in prediction protocols "
                   "(default: the recipe's).")
@_sampling_options
@_one_line_errors
def evaluate(source, protocol, num_samples, batch_size, output, data_dir,
             data_path, method, sampler, steps, gamma, seed, clip_denoised):
    """Score samples of SOURCE (a run folder, checkpoint, .keras file or
    preset) with a named protocol: FVD and the protocol's other scores,
    written as JSON and markdown."""
    changes = dict(sampler=sampler, num_steps=steps, gamma=gamma, seed=seed,
                   clip_denoised=clip_denoised, conditioning=method)
    _check_sample_options(**changes)
    protocol = evaluation.check_options(protocol, num_samples, batch_size)
    _check_source(source)
    evaluation.check_inputs(protocol, data_dir=data_dir, data_path=data_path)
    loaded = _load(source, with_tensorflow=True)
    output = output or evaluation.default_output(source)
    report, json_path, markdown_path = evaluation.run(
        loaded, protocol, _sample_config(loaded, **changes), output,
        num_samples=num_samples, batch_size=batch_size, data_dir=data_dir,
        data_path=data_path)
    for score in report["scores"].values():
        reference = score["num_reference"]
        counts = f"{score['num_samples']} samples" + (
            f", {reference} reference" if reference is not None else "")
        value = score["value"]
        value = f"{value:.4f}" if isinstance(value, float) else value
        click.echo(f"{score['name']}: {value} ({counts})")
    click.echo(f"Wrote {json_path} and {markdown_path}", err=True)


def main(argv=None):
    """Entry point of the `kvdm` console script.

    Run as the script (`argv=None`), the process first restarts itself with
    transparent huge pages for `malloc` where they would help
    (`kvdm.cli.huge_pages`; `KVDM_HUGE_PAGES=0` turns this off).
    """
    if argv is None:
        huge_pages.restart_if_useful()
    cli.main(args=argv, prog_name="kvdm")


if __name__ == "__main__":
    main()

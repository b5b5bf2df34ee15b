"""Training a recipe with `Model.fit`, with exact resume.

`train(recipe, output_dir)` runs one `fit` call over the recipe's
deterministic data pipeline. A callback writes checkpoints, TensorBoard
scalars and sample videos, and stops cleanly on Ctrl-C or SIGTERM after
saving. Resuming rebuilds the same model from the recipe, restores every
variable (weights, optimizer moments and EMA, step counter, random
seed-generator states) and starts the pipeline at the next batch, so a resumed
run reaches the same weights as an uninterrupted one on the same backend.
"""

import dataclasses
import os
import signal
import threading
import time

import keras

from kvdm.config import RecipeError
from kvdm.training import builders
from kvdm.training import checkpoint as checkpoint_lib
from kvdm.training import run_lock
from kvdm.training import sampling


@dataclasses.dataclass
class TrainResult:
    """What `train` did.

    Attributes:
        step: int. Optimizer steps taken in total.
        interrupted: bool. Stopped by a signal before `train.steps`.
        checkpoint: str or None. The last checkpoint written.
        export: str or None. The `.keras` file of the EMA model (written when
            training completes).
        samples: list of str. Sample videos written.
    """

    step: int
    interrupted: bool = False
    checkpoint: str | None = None
    export: str | None = None
    samples: list = dataclasses.field(default_factory=list)


class _StopRequest:
    """Turns SIGINT / SIGTERM into a flag checked between training steps.

    A second signal while the first is being handled raises
    `KeyboardInterrupt` as usual.
    """

    def __init__(self):
        self.signal = None
        self._previous = {}

    def _handle(self, signum, frame):
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        print(
            f"\nReceived {signal.Signals(signum).name}: saving a checkpoint "
            "after this step (press Ctrl-C again to abort without saving).",
            flush=True,
        )

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        return False


class TrainingCallback(keras.callbacks.Callback):
    """Checkpoints, scalars, samples and clean stops during `fit`.

    Args:
        output_dir: str. The run folder.
        recipe: `Recipe`.
        start_step: int. Steps taken before this `fit` call.
        resume_from: str or None. Checkpoint whose global random state is
            restored just before the first step.
        video_shape: tuple `(T, H, W, C)`.
        stop: `_StopRequest`.
        result: `TrainResult` updated as training goes.
    """

    def __init__(self, output_dir, recipe, start_step, video_shape, stop,
                 result, resume_from=None, seconds_before=0.0):
        super().__init__()
        # Wall time spent training this run, across resumes (meta.json).
        self.seconds_before = float(seconds_before)
        self._started = time.perf_counter()
        self.resume_from = resume_from
        self.output_dir = output_dir
        self.recipe = recipe
        self.start_step = start_step
        self.video_shape = video_shape
        self.stop = stop
        self.result = result
        self._writer = None
        self._last = (start_step, 0.0, 0, time.perf_counter())

    # Scalars go to TensorBoard event files through tf.summary (tf.data
    # already loads TensorFlow), whatever the Keras backend. `tf.summary.write`
    # with the scalars plugin's metadata needs no TensorBoard install.
    def _scalars(self, step, values):
        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2

        if self._writer is None:
            self._writer = tf.summary.create_file_writer(
                os.path.join(self.output_dir, "logs", "train")
            )
        metadata = summary_pb2.SummaryMetadata(
            plugin_data=summary_pb2.SummaryMetadata.PluginData(
                plugin_name="scalars"
            ),
            data_class=summary_pb2.DATA_CLASS_SCALAR,
        ).SerializeToString()
        with self._writer.as_default():
            for name, value in values.items():
                tf.summary.write(
                    name, tf.constant(value, tf.float32), step=step,
                    metadata=metadata,
                )
        self._writer.flush()

    def save(self, step):
        model = self.model  # On JAX this syncs the training state.
        self.result.checkpoint = checkpoint_lib.save_checkpoint(
            self.output_dir, model, self.recipe, step,
            keep=self.recipe.train.keep_checkpoints,
            extra={
                "video_shape": list(self.video_shape),
                "train_seconds": self.train_seconds(),
            },
        )

    def train_seconds(self):
        """Training wall time of the run so far, resumed sessions included."""
        return round(
            self.seconds_before + time.perf_counter() - self._started, 3
        )

    def write_samples(self, step):
        path = os.path.join(self.output_dir, "samples", f"step-{step:08d}.gif")
        sampling.sample_with_ema(
            self.model, self.recipe, self.video_shape, path, progress=False
        )
        self.result.samples.append(path)

    def on_train_batch_begin(self, batch, logs=None):
        if self.resume_from is not None:
            checkpoint_lib.restore_global_rng(self.resume_from)
            self.resume_from = None

    def on_train_batch_end(self, batch, logs=None):
        step = self.start_step + batch + 1
        train = self.recipe.train
        self.result.step = step
        if step % train.log_every == 0 and logs and "loss" in logs:
            # `logs["loss"]` is the mean since the start of `fit`; turn it
            # into the mean over the last `log_every` steps.
            last_step, last_mean, last_count, last_time = self._last
            count = batch + 1
            mean = float(logs["loss"])
            window = (mean * count - last_mean * last_count) / max(
                count - last_count, 1)
            now = time.perf_counter()
            self._scalars(step, {
                "loss": window,
                "steps_per_second": (step - last_step) / (now - last_time),
            })
            self._last = (step, mean, count, now)
        stopping = self.stop.signal is not None
        if step % train.checkpoint_every == 0 or step == train.steps or (
            stopping
        ):
            self.save(step)
        if (
            train.sample_every
            and step % train.sample_every == 0
            and step != train.steps
            and not stopping
        ):
            self.write_samples(step)
        if stopping:
            self.result.interrupted = True
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()


def _check_same_run(recipe, saved):
    """Raises if `recipe` cannot continue a run started with `saved`."""
    fixed = {
        "data": None, "model": None, "diffusion": None,
        "train": ("seed", "batch_size", "backend", "mixed_precision"),
    }
    # Rematerialization changes memory and time, not the weights: a run
    # may resume with it switched (`train.distribution` is free too).
    free = {("model", "remat")}
    new, old = recipe.to_dict(), saved.to_dict()
    for section, keys in fixed.items():
        for key in keys or new[section]:
            if (section, key) in free:
                continue
            if new[section][key] != old[section][key]:
                raise RecipeError(
                    f"Cannot resume: `{section}.{key}` differs from the run "
                    f"being resumed ({old[section][key]!r}). Received: "
                    f"{section}.{key}={new[section][key]!r}"
                )


def train(recipe, output_dir, resume=False, verbose="auto"):
    """Trains the recipe's model, writing everything under `output_dir`.

    Writes `output_dir/recipe.yaml`, `checkpoints/step-N/` (atomic, every
    `train.checkpoint_every` steps, at the end and on SIGINT / SIGTERM),
    `logs/train` (TensorBoard), `samples/step-N.gif` (EMA weights, every
    `train.sample_every` steps and at the end) and, once `train.steps` are
    done, `model.keras`: the `VideoDiffusion` with EMA weights, for sampling.
    A text-conditioned recipe also writes `caption_embeddings.npz`, the
    token embeddings of every distinct caption (`CaptionCache`).

    The run folder is locked (`run_lock.RunLock`) for the whole call, so a
    second `train` into it is refused before it reads any checkpoint.

    Args:
        recipe: `kvdm.config.Recipe`.
        output_dir: str. The run folder.
        resume: bool. Continue from the newest checkpoint in `output_dir`
            that verifies, skipping newer invalid ones with a warning
            (starting fresh if there is no checkpoint).
        verbose: passed to `Model.fit` ("auto", 0, 1 or 2).

    Returns:
        A `TrainResult`.

    Raises:
        RunLockedError: another `train` holds `output_dir`.
        FileExistsError: `output_dir` holds checkpoints and `resume` is off.
        CheckpointError: resuming, and no checkpoint in `output_dir`
            verifies.
    """
    builders.check_backend(recipe)
    # Everything from the model's variables to the export lives on the
    # devices `train.distribution` chooses.
    devices = builders.distribution_scope(recipe)
    output_dir = os.fspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    with run_lock.RunLock(output_dir), devices:
        return _train_locked(recipe, output_dir, resume, verbose)


def _train_locked(recipe, output_dir, resume, verbose):
    found = checkpoint_lib.list_checkpoints(output_dir)
    if found and not resume:
        raise FileExistsError(
            f"{output_dir} already holds checkpoints (newest: "
            f"{found[-1][1]}). Resume with `--resume` or choose another "
            "output folder."
        )
    latest = checkpoint_lib.latest_checkpoint(output_dir) if resume else None
    step = 0
    seconds_before = 0.0
    if latest is not None:
        from kvdm.config import load_recipe

        _check_same_run(recipe, load_recipe(os.path.join(latest,
                                                         "recipe.yaml")))
        meta = checkpoint_lib.read_meta(latest)
        if meta["backend"] != keras.config.backend():
            raise RecipeError(
                f"Cannot resume on backend {keras.config.backend()!r} a run "
                f"checkpointed on {meta['backend']!r}. "
                f"Received: checkpoint={latest}"
            )
        step = int(meta["step"])
        seconds_before = float(meta.get("train_seconds", 0.0))
    recipe.save(os.path.join(output_dir, "recipe.yaml"))

    keras.utils.set_random_seed(recipe.train.seed)
    builders.set_precision(recipe)
    dataset, video_shape = builders.build_dataset(
        recipe, start_batch=step, cache_dir=output_dir
    )
    example = next(iter(dataset.take(1)))
    model = builders.build_training_model(recipe, video_shape, example)
    if step:
        checkpoint_lib.restore_checkpoint(latest, model)
        print(f"Resumed from {latest} at step {step}.", flush=True)

    result = TrainResult(step=step, checkpoint=latest if step else None)
    remaining = recipe.train.steps - step
    if remaining > 0:
        with _StopRequest() as stop:
            callback = TrainingCallback(
                output_dir, recipe, step, video_shape, stop, result,
                resume_from=latest if step else None,
                seconds_before=seconds_before,
            )
            model.fit(
                dataset,
                epochs=1,
                steps_per_epoch=remaining,
                callbacks=[callback],
                shuffle=False,
                verbose=verbose,
            )
    if result.interrupted:
        return result
    if result.checkpoint is None or not result.checkpoint.endswith(
        checkpoint_lib.checkpoint_name(result.step)
    ):
        extra = {"video_shape": list(video_shape)}
        if remaining > 0:
            extra["train_seconds"] = callback.train_seconds()
        result.checkpoint = checkpoint_lib.save_checkpoint(
            output_dir, model, recipe, result.step,
            keep=recipe.train.keep_checkpoints, extra=extra,
        )
    result.export = os.path.join(output_dir, "model.keras")
    sampling.export_ema_model(model, recipe, video_shape, result.export)
    final = os.path.join(output_dir, "samples", f"step-{result.step:08d}.gif")
    sampling.sample_with_ema(model, recipe, video_shape, final,
                             progress=verbose != 0)
    result.samples.append(final)
    return result

"""Loading trained runs for sampling: run folders, checkpoints, `.keras` files.

A run folder is read through its newest checkpoint that verifies (see
`kvdm.training.checkpoint.verify_checkpoint`); newer ones that do not are
skipped with a warning, and a run folder without a valid checkpoint is an
error naming the folder. Used by the `kvdm sample / predict / extend /
interpolate / upsample / info` commands.
"""

import os

import keras
import numpy as np

from kvdm import presets
from kvdm.config import Recipe
from kvdm.config import RecipeError
from kvdm.config import load_recipe
from kvdm.training import builders
from kvdm.training import checkpoint as checkpoint_lib


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
    """Loads a run folder, a checkpoint folder, a `.keras` file or a preset.

    A preset name (`kvdm.presets.PRESETS`, e.g. `"moving_digits"`) means
    the `.keras` file that ships with kvdm; an existing path of the same
    name wins.

    A run folder means its newest checkpoint that verifies; newer ones that
    do not are skipped with a `CheckpointWarning`. A checkpoint folder must
    verify. Checkpoints are restored into the model their recipe builds and
    switched to the EMA weights.

    Args:
        path: str or path-like, or a preset name.

    Returns:
        A `LoadedModel`.

    Raises:
        FileNotFoundError: nothing at `path`, or a run folder without
            checkpoints.
        CheckpointError: (a `ValueError`) the checkpoint, or every
            checkpoint of the run folder, failed to verify.
    """
    path = os.fspath(path)
    if presets.is_preset(path):
        path = os.fspath(presets.preset_path(path))
    if not os.path.exists(path):
        raise FileNotFoundError(
            "No such run folder, checkpoint, `.keras` file or preset "
            f"(presets: {', '.join(presets.PRESETS)}): {path}"
        )
    if os.path.isfile(path):
        if not path.endswith(".keras"):
            raise ValueError(
                "Expected a run folder, a checkpoint folder or a `.keras` "
                f"file. Received: path={path}"
            )
        return _load_keras_file(path)
    # A `step-N` folder is a checkpoint even when its meta.json is missing.
    if os.path.isfile(os.path.join(path, checkpoint_lib.META)) or (
        checkpoint_lib.checkpoint_step(path) is not None
        and not os.path.isdir(os.path.join(path, checkpoint_lib.CHECKPOINTS))
    ):
        checkpoint = path
        checkpoint_lib.verify_checkpoint(checkpoint)
    else:
        checkpoint = checkpoint_lib.latest_checkpoint(path)
        if checkpoint is None:
            raise FileNotFoundError(
                f"No checkpoint found in {path} (expected "
                f"{os.path.join(path, checkpoint_lib.CHECKPOINTS)}/step-N)."
            )
    from kvdm.training.ema import swap_ema_weights

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

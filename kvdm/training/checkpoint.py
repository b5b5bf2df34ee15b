"""Atomic training checkpoints: every piece of state needed to resume exactly.

A checkpoint is a folder `OUTPUT/checkpoints/step-NNNNNNNN/` holding

- `state.npz`: the values of every model variable (trainable and not, random
  seed-generator states included) and every optimizer variable (step counter,
  Adam moments, EMA weights), in a fixed order, with their paths;
- `recipe.yaml`: the recipe the run was started with;
- `meta.json`: the step, the next data batch, the backend and the Keras
  version;
- `global_rng.npy` where the backend has a global random state that Keras
  draws from (PyTorch).

It is written into a temporary folder and moved into place with `os.replace`,
so a run killed at any moment leaves either the previous checkpoint or the new
one, never half of one. `OUTPUT/checkpoints/latest` names the newest.
"""

import json
import os
import re
import shutil
import time

import keras
import numpy as np

from kvdm.utils import backend_utils

CHECKPOINTS = "checkpoints"
_NAME = re.compile(r"^step-(\d+)$")


def model_state_variables(model):
    """The variables a checkpoint stores for `model`, in a fixed order."""
    variables = list(model.trainable_variables)
    variables += list(model.non_trainable_variables)
    if getattr(model, "optimizer", None) is not None:
        variables += list(model.optimizer.variables)
    return variables


def checkpoint_name(step):
    return f"step-{int(step):08d}"


def list_checkpoints(output_dir):
    """Returns `[(step, path), ...]` of complete checkpoints, oldest first."""
    root = os.path.join(output_dir, CHECKPOINTS)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        match = _NAME.match(name)
        path = os.path.join(root, name)
        if match and os.path.isfile(os.path.join(path, "meta.json")):
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(output_dir):
    """Returns the path of the newest complete checkpoint, or None."""
    found = list_checkpoints(output_dir)
    return found[-1][1] if found else None


def _write_text(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(output_dir, model, recipe, step, keep=3, extra=None):
    """Writes a checkpoint of `model` (and its optimizer) atomically.

    Args:
        output_dir: str. The run folder.
        model: the compiled, built `keras.Model` being trained.
        recipe: the run's `Recipe`.
        step: int. Optimizer steps taken so far.
        keep: int. Newest checkpoints kept; older ones are deleted.
        extra: dict or None. More entries for `meta.json`.

    Returns:
        The checkpoint folder.
    """
    root = os.path.join(output_dir, CHECKPOINTS)
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, checkpoint_name(step))
    tmp = os.path.join(root, f".tmp-{checkpoint_name(step)}-{os.getpid()}")
    if os.path.isdir(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    variables = model_state_variables(model)
    arrays = {
        f"v{i:05d}": keras.ops.convert_to_numpy(v.value)
        for i, v in enumerate(variables)
    }
    with open(os.path.join(tmp, "state.npz"), "wb") as f:
        np.savez(f, **arrays)
        f.flush()
        os.fsync(f.fileno())
    rng_state = backend_utils.global_rng_state()
    if rng_state is not None:
        np.save(os.path.join(tmp, "global_rng.npy"), rng_state)
    recipe.save(os.path.join(tmp, "recipe.yaml"))
    meta = {
        "step": int(step),
        "data_start_batch": int(step),
        "backend": keras.config.backend(),
        "keras_version": keras.__version__,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "paths": [v.path for v in variables],
        "shapes": [list(v.shape) for v in variables],
    }
    meta.update(extra or {})
    _write_text(os.path.join(tmp, "meta.json"), json.dumps(meta, indent=1))
    if os.path.isdir(final):
        shutil.rmtree(final)
    os.replace(tmp, final)
    _write_text(os.path.join(root, "latest"), checkpoint_name(step) + "\n")
    for _, old in list_checkpoints(output_dir)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_meta(checkpoint):
    """Returns the `meta.json` dict of a checkpoint folder."""
    path = os.path.join(checkpoint, "meta.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"Not a kvdm checkpoint (no meta.json): {checkpoint}"
        )
    with open(path) as f:
        return json.load(f)


def restore_checkpoint(checkpoint, model):
    """Loads a checkpoint into a built model and its built optimizer.

    Args:
        checkpoint: str. A checkpoint folder.
        model: a `keras.Model` built exactly as when the checkpoint was saved
            (same recipe), with its optimizer built.

    Returns:
        The checkpoint's `meta.json` dict.
    """
    meta = read_meta(checkpoint)
    variables = model_state_variables(model)
    with np.load(os.path.join(checkpoint, "state.npz")) as state:
        if len(state.files) != len(variables):
            raise ValueError(
                f"The checkpoint holds {len(state.files)} variables but the "
                f"model has {len(variables)}; was it written with another "
                f"recipe? Received: checkpoint={checkpoint}"
            )
        for i, variable in enumerate(variables):
            value = state[f"v{i:05d}"]
            if tuple(value.shape) != tuple(variable.shape):
                raise ValueError(
                    f"Variable {variable.path} has shape {variable.shape} but "
                    f"the checkpoint stores {value.shape} for "
                    f"{meta['paths'][i]}. Received: checkpoint={checkpoint}"
                )
            variable.assign(value)
    return meta


def restore_global_rng(checkpoint):
    """Restores the backend's global random state saved with a checkpoint.

    Call it right before the first training step: building and compiling
    may draw from the global state.
    """
    rng_path = os.path.join(checkpoint, "global_rng.npy")
    if os.path.isfile(rng_path) and (
        read_meta(checkpoint)["backend"] == keras.config.backend()
    ):
        backend_utils.set_global_rng_state(np.load(rng_path))

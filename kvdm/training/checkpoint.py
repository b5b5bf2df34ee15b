"""Atomic, checksummed training checkpoints: every piece of state needed to
resume exactly.

A checkpoint is a folder `OUTPUT/checkpoints/step-NNNNNNNN/` holding

- `state.npz`: the values of every model variable (trainable and not, random
  seed-generator states included) and every optimizer variable (step counter,
  Adam moments, EMA weights), in a fixed order, with their paths;
- `recipe.yaml`: the recipe the run was started with;
- `global_rng.npy` where the backend has a global random state that Keras
  draws from (PyTorch);
- `meta.json`: the step, the next data batch, the backend, the Keras version
  and the SHA-256 of every other file of the checkpoint.

It is written into a temporary folder and moved into place with `os.replace`,
so a run killed at any moment leaves either the previous checkpoint or the new
one, never half of one. `OUTPUT/checkpoints/latest` names the newest.

`verify_checkpoint` checks a folder against its checksums. Resuming and
loading a run folder use the newest checkpoint that verifies, with a warning
for each newer one skipped. A checkpoint that fails verification is never
deleted: pruning neither counts nor removes it, and a new checkpoint of the
same step moves it aside to `step-NNNNNNNN.invalid`.
"""

import hashlib
import json
import os
import re
import shutil
import time
import warnings
import zipfile

import keras
import numpy as np

from kvdm.utils import backend_utils

CHECKPOINTS = "checkpoints"
META = "meta.json"
# Files every checkpoint holds besides `meta.json`.
REQUIRED_FILES = ("state.npz", "recipe.yaml")
_NAME = re.compile(r"^step-(\d+)$")


class CheckpointError(ValueError):
    """A checkpoint, or every checkpoint of a run folder, failed to verify."""


class CheckpointWarning(UserWarning):
    """A checkpoint that failed to verify was skipped or moved aside."""


def model_state_variables(model):
    """The variables a checkpoint stores for `model`, in a fixed order."""
    variables = list(model.trainable_variables)
    variables += list(model.non_trainable_variables)
    if getattr(model, "optimizer", None) is not None:
        variables += list(model.optimizer.variables)
    return variables


def checkpoint_name(step):
    return f"step-{int(step):08d}"


def checkpoint_step(path):
    """The step a checkpoint folder's name gives, or None for another name."""
    match = _NAME.match(os.path.basename(os.path.normpath(path)))
    return int(match.group(1)) if match else None


def list_checkpoints(output_dir):
    """Returns `[(step, path), ...]` of the checkpoint folders, oldest first.

    Every `step-N` folder is listed, whether or not it verifies (see
    `verify_checkpoint`).
    """
    root = os.path.join(output_dir, CHECKPOINTS)
    if not os.path.isdir(root):
        return []
    found = []
    for name in os.listdir(root):
        path = os.path.join(root, name)
        step = checkpoint_step(path)
        if step is not None and os.path.isdir(path):
            found.append((step, path))
    return sorted(found)


def file_sha256(path):
    """The SHA-256 of a file's bytes, as a hex string."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _legacy_problems(checkpoint):
    """What keeps a checkpoint saved without checksums from loading."""
    from kvdm.config import load_recipe

    problems = []
    try:
        # The archive's own CRC-32 of every array.
        with zipfile.ZipFile(os.path.join(checkpoint, "state.npz")) as state:
            bad = state.testzip()
        if bad is not None:
            problems.append(f"CRC mismatch in state.npz ({bad})")
    except (OSError, zipfile.BadZipFile) as error:
        problems.append(f"state.npz unreadable: {error}")
    try:
        load_recipe(os.path.join(checkpoint, "recipe.yaml"))
    except (OSError, ValueError) as error:
        problems.append(f"recipe.yaml unreadable: {error}")
    rng_path = os.path.join(checkpoint, "global_rng.npy")
    if os.path.isfile(rng_path):
        try:
            np.load(rng_path)
        except (OSError, ValueError) as error:
            problems.append(f"global_rng.npy unreadable: {error}")
    return problems


def _verify(checkpoint):
    """Returns `(meta, problems)`: meta is None when it does not read."""
    path = os.path.join(checkpoint, META)
    if not os.path.isfile(path):
        return None, [f"{META} missing"]
    try:
        with open(path, encoding="utf-8") as f:
            meta = json.load(f)
    except (OSError, ValueError) as error:
        return None, [f"meta unreadable: {error}"]
    if not isinstance(meta, dict) or not isinstance(meta.get("step"), int):
        return None, [f"meta unreadable: {META} holds no step"]
    checksums = meta.get("sha256")
    if checksums is not None and not isinstance(checksums, dict):
        return meta, ["meta unreadable: its `sha256` is not a mapping"]
    missing = [name for name in REQUIRED_FILES + tuple(checksums or ())
               if not os.path.isfile(os.path.join(checkpoint, name))]
    problems = [f"missing {name}" for name in dict.fromkeys(missing)]
    if problems:
        return meta, problems
    if checksums is None:
        # Saved before checkpoints recorded checksums: valid if it loads.
        return meta, _legacy_problems(checkpoint)
    for name, expected in sorted(checksums.items()):
        if file_sha256(os.path.join(checkpoint, name)) != expected:
            problems.append(f"checksum mismatch in {name}")
    return meta, problems


def verify_checkpoint(checkpoint):
    """Checks that a checkpoint folder is complete and unchanged since saved.

    A checkpoint is valid when its `meta.json` reads and every file it lists
    exists with the SHA-256 recorded when it was saved. A checkpoint saved
    before checksums were recorded (no `sha256` entry) is valid when it
    loads: its state archive passes its own CRC-32 checks and its recipe
    reads.

    Args:
        checkpoint: str. A checkpoint folder.

    Returns:
        The checkpoint's `meta.json` dict.

    Raises:
        CheckpointError: naming the folder and what is wrong with it, e.g.
            "checksum mismatch in state.npz" or "meta unreadable: ...".
    """
    checkpoint = os.fspath(checkpoint)
    meta, problems = _verify(checkpoint)
    if problems:
        raise CheckpointError(
            f"Checkpoint {checkpoint} is invalid: {'; '.join(problems)}."
        )
    return meta


def latest_checkpoint(output_dir):
    """Returns the path of the newest checkpoint that verifies, or None.

    Newer checkpoints that fail `verify_checkpoint` are skipped with a
    `CheckpointWarning` naming each and what is wrong with it; none is
    deleted.

    Args:
        output_dir: str. The run folder.

    Returns:
        A checkpoint folder, or None when the run folder holds none.

    Raises:
        CheckpointError: the run folder holds checkpoints but none verifies.
    """
    output_dir = os.fspath(output_dir)
    found = list_checkpoints(output_dir)
    skipped = []
    for _, path in reversed(found):
        problems = _verify(path)[1]
        if problems:
            skipped.append(f"{path}: {'; '.join(problems)}.")
            continue
        for message in skipped:
            warnings.warn(
                f"Skipping invalid checkpoint {message} Using {path}; the "
                "invalid one is left in place.",
                CheckpointWarning, stacklevel=2,
            )
        return path
    if found:
        raise CheckpointError(
            f"No valid checkpoint in run folder {output_dir}: all "
            f"{len(found)} failed to verify and were left in place. "
            + " ".join(skipped) + f" Received: output_dir={output_dir}"
        )
    return None


def _prune(output_dir, keep, newest):
    """Deletes valid checkpoints older than the newest `keep` valid ones.

    Checkpoints that fail to verify are neither counted nor deleted, so the
    newest valid ones always survive. `newest`, just written, is not
    verified again.
    """
    kept = 0
    for _, path in reversed(list_checkpoints(output_dir)):
        if path != newest and _verify(path)[1]:
            continue
        kept += 1
        if kept > keep:
            shutil.rmtree(path, ignore_errors=True)


def _move_aside(checkpoint):
    """Renames an invalid checkpoint out of the `step-N` names; returns where."""
    target, count = f"{checkpoint}.invalid", 1
    while os.path.exists(target):
        count += 1
        target = f"{checkpoint}.invalid-{count}"
    os.replace(checkpoint, target)
    return target


def _write_text(path, text):
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint(output_dir, model, recipe, step, keep=3, extra=None):
    """Writes a checkpoint of `model` (and its optimizer) atomically.

    `meta.json` records the SHA-256 of every other file of the checkpoint.
    A checkpoint of the same step already in place is replaced if it
    verifies and moved aside to `step-N.invalid` (with a
    `CheckpointWarning`) if not.

    Args:
        output_dir: str. The run folder.
        model: the compiled, built `keras.Model` being trained.
        recipe: the run's `Recipe`.
        step: int. Optimizer steps taken so far.
        keep: int. Newest valid checkpoints kept; older valid ones are
            deleted, invalid ones are kept and not counted.
        extra: dict or None. More entries for `meta.json`.

    Returns:
        The checkpoint folder.
    """
    if keep < 1:
        raise ValueError(
            f"At least one checkpoint must be kept. Received: keep={keep}"
        )
    root = os.path.join(output_dir, CHECKPOINTS)
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, checkpoint_name(step))
    tmp = os.path.join(root, f".tmp-{checkpoint_name(step)}-{os.getpid()}")
    if os.path.isdir(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    variables = model_state_variables(model)
    # The variables themselves, not `v.value`: under `tf.distribute` the
    # value of a scalar is a mirrored variable numpy cannot convert.
    arrays = {
        f"v{i:05d}": keras.ops.convert_to_numpy(v)
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
    meta["sha256"] = {
        name: file_sha256(os.path.join(tmp, name))
        for name in sorted(os.listdir(tmp))
    }
    _write_text(os.path.join(tmp, META), json.dumps(meta, indent=1))
    if os.path.isdir(final):
        problems = _verify(final)[1]
        if problems:
            aside = _move_aside(final)
            warnings.warn(
                f"Checkpoint {final} is invalid ({'; '.join(problems)}); "
                f"moved it to {aside} to save step {step} in its place.",
                CheckpointWarning, stacklevel=2,
            )
        else:
            shutil.rmtree(final)
    os.replace(tmp, final)
    _write_text(os.path.join(root, "latest"), checkpoint_name(step) + "\n")
    _prune(output_dir, keep, final)
    return final


def read_meta(checkpoint):
    """Returns the `meta.json` dict of a checkpoint folder."""
    path = os.path.join(checkpoint, META)
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

"""Checksummed checkpoints and the one-writer lock of run folders.

The tests work on copies of the session's tiny run (conftest.py,
tiny_run.py): an uninterrupted run of `tiny_run.STEPS` steps that keeps its
last two checkpoints.
"""

import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys

import keras
import numpy as np
import pytest
import tiny_run
from click.testing import CliRunner

from kvdm.cli.main import cli
from kvdm.config import Recipe
from kvdm.config import load_recipe
from kvdm.training import CheckpointError
from kvdm.training import CheckpointWarning
from kvdm.training import RunLock
from kvdm.training import RunLockedError
from kvdm.training import list_checkpoints
from kvdm.training import load_for_sampling
from kvdm.training import save_checkpoint
from kvdm.training import train
from kvdm.training import run_lock
from kvdm.training import verify_checkpoint

STEPS = tiny_run.STEPS
TINY = tiny_run.RECIPE
# Holds the lock of a run folder from another process until stdin closes.
# It loads run_lock.py alone, without importing Keras, so it starts at once.
HOLD_LOCK = (
    "import importlib.util, sys\n"
    "spec = importlib.util.spec_from_file_location('run_lock', sys.argv[1])\n"
    "module = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(module)\n"
    "module.RunLock(sys.argv[2]).acquire()\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
)


@pytest.fixture(scope="module")
def reference(trained_run):
    """`(recipe file, run folder)` of an uninterrupted tiny run."""
    run = trained_run.folder
    assert [s for s, _ in list_checkpoints(run)] == [STEPS - 2, STEPS]
    return trained_run.recipe, run


def copy_run(reference, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(reference[1], run)
    return run


def checkpoint(run, step):
    return run / "checkpoints" / f"step-{step:08d}"


def corrupt(folder, names=None):
    """Overwrites files of `folder` (all, or those named) with random bytes."""
    rng = np.random.default_rng(0)
    for path in sorted(folder.iterdir()):
        if names is None or path.name in names:
            path.write_bytes(rng.bytes(max(path.stat().st_size, 64)))


def snapshot(folder):
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def state(folder):
    with np.load(folder / "state.npz") as arrays:
        return {key: arrays[key] for key in arrays.files}


def one_error_line(result):
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines()
              if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return errors[0]


def test_corrupt_newest_checkpoint_is_skipped_and_resume_is_exact(
        reference, tmp_path, capsys):
    recipe_path, reference_run = reference
    run = copy_run(reference, tmp_path)
    newest = checkpoint(run, STEPS)
    corrupt(newest)
    corrupted = snapshot(newest)

    with pytest.warns(CheckpointWarning) as record:
        result = train(load_recipe(recipe_path), str(run), resume=True,
                       verbose=0)
    messages = [str(w.message) for w in record]
    assert any(str(newest) in m and "meta unreadable" in m
               for m in messages), messages
    previous = checkpoint(run, STEPS - 2)
    assert f"Resumed from {previous} at step {STEPS - 2}." in (
        capsys.readouterr().out)
    assert result.step == STEPS and not result.interrupted

    # Same weights as the uninterrupted run (see test_resume.py).
    resumed = state(checkpoint(run, STEPS))
    expected = state(checkpoint(reference_run, STEPS))
    assert resumed.keys() == expected.keys()
    for key in expected:
        np.testing.assert_allclose(resumed[key], expected[key], rtol=0,
                                   atol=1e-6, err_msg=key)
    earlier = state(checkpoint(reference_run, STEPS - 2))
    assert max(float(np.max(np.abs(earlier[k] - expected[k])))
               for k in expected if expected[k].dtype == np.float32) > 1e-2
    # The new step-8 checkpoint took the name; the invalid one was moved
    # aside, not deleted, and is unchanged.
    verify_checkpoint(checkpoint(run, STEPS))
    assert snapshot(run / "checkpoints" / f"{newest.name}.invalid") == (
        corrupted)
    assert [s for s, _ in list_checkpoints(run)] == [STEPS - 2, STEPS]


def test_all_corrupt_run_folder_is_one_error(reference, tmp_path):
    recipe_path, _ = reference
    run = copy_run(reference, tmp_path)
    for _, path in list_checkpoints(run):
        corrupt(pathlib.Path(path), names=["state.npz"])
    before = snapshot(run / "checkpoints")

    with pytest.raises(CheckpointError, match=re.escape(
            f"No valid checkpoint in run folder {run}")):
        train(load_recipe(recipe_path), str(run), resume=True, verbose=0)
    line = one_error_line(CliRunner().invoke(cli, [
        "train", str(recipe_path), "--output", str(run), "--resume"]))
    assert f"No valid checkpoint in run folder {run}" in line
    assert "checksum mismatch in state.npz" in line
    line = one_error_line(CliRunner().invoke(cli, ["info", str(run)]))
    assert f"No valid checkpoint in run folder {run}" in line
    # A failed verification deletes nothing.
    assert snapshot(run / "checkpoints") == before


def test_load_for_sampling_falls_back_to_the_newest_valid_checkpoint(
        reference, tmp_path):
    run = copy_run(reference, tmp_path)
    newest = checkpoint(run, STEPS)
    corrupt(newest, names=["state.npz"])

    with pytest.warns(CheckpointWarning, match=re.escape(
            f"{newest}: checksum mismatch in state.npz")):
        loaded = load_for_sampling(run)
    assert loaded.step == STEPS - 2
    assert loaded.source == str(checkpoint(run, STEPS - 2))
    assert newest.is_dir()
    # A checkpoint asked for by name is not replaced by another one.
    with pytest.raises(CheckpointError,
                       match="checksum mismatch in state.npz"):
        load_for_sampling(newest)


def test_second_train_into_a_locked_run_is_refused(reference, tmp_path):
    recipe_path, _ = reference
    recipe = load_recipe(recipe_path)
    run = copy_run(reference, tmp_path)
    before = snapshot(run / "checkpoints")

    # Held by this process: refused before the checkpoints are looked at
    # (without `resume`, they would give a FileExistsError).
    with RunLock(run):
        with pytest.raises(RunLockedError, match=f"PID {os.getpid()} "):
            train(recipe, str(run), verbose=0)

    # Held by another process, which is then killed.
    process = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, run_lock.__file__, str(run)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout.readline() == b"locked\n"
        line = one_error_line(CliRunner().invoke(cli, [
            "train", str(recipe_path), "--output", str(run), "--resume"]))
        assert f"Run folder {run} is in use" in line
        assert f"PID {process.pid}" in line
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        process.stdin.close()
        process.stdout.close()
    assert snapshot(run / "checkpoints") == before

    # The dead process's lock file still names it, but does not block.
    lock_file = run / run_lock.LOCK_FILE
    assert json.loads(lock_file.read_text())["pid"] == process.pid
    with RunLock(run) as lock:
        assert lock.holder["pid"] == os.getpid()
        assert json.loads(lock_file.read_text())["pid"] == os.getpid()
    assert lock_file.read_text() == ""


def test_lock_is_released_when_train_fails(tmp_path):
    recipe = Recipe.from_dict(TINY)
    run = tmp_path / "run"
    os.makedirs(run / "checkpoints" / "step-00000002")
    with pytest.raises(FileExistsError):
        train(recipe, str(run), verbose=0)
    with RunLock(run):
        pass


def tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    return model


def test_checkpoints_record_checksums_of_their_files(tmp_path):
    model = tiny_model()
    path = save_checkpoint(str(tmp_path), model, Recipe(), 1)
    meta = verify_checkpoint(path)
    assert {"state.npz", "recipe.yaml"} <= set(meta["sha256"])

    state_file = os.path.join(path, "state.npz")
    data = bytearray(open(state_file, "rb").read())
    data[len(data) // 2] ^= 1
    open(state_file, "wb").write(bytes(data))
    with pytest.raises(CheckpointError, match=re.escape(
            f"{path} is invalid: checksum mismatch in state.npz")):
        verify_checkpoint(path)
    os.remove(os.path.join(path, "recipe.yaml"))
    with pytest.raises(CheckpointError, match="missing recipe.yaml"):
        verify_checkpoint(path)
    with open(os.path.join(path, "meta.json"), "wb") as f:
        f.write(b"\xf8\x00")
    with pytest.raises(CheckpointError, match="meta unreadable"):
        verify_checkpoint(path)


def test_checkpoints_without_checksums_are_valid_if_they_load(tmp_path):
    path = save_checkpoint(str(tmp_path), tiny_model(), Recipe(), 1)
    meta_file = os.path.join(path, "meta.json")
    meta = json.load(open(meta_file))
    del meta["sha256"]
    open(meta_file, "w").write(json.dumps(meta))
    verify_checkpoint(path)

    state_file = os.path.join(path, "state.npz")
    open(state_file, "wb").write(b"not an archive")
    with pytest.raises(CheckpointError, match="state.npz unreadable"):
        verify_checkpoint(path)


def test_pruning_neither_counts_nor_deletes_invalid_checkpoints(tmp_path):
    model, recipe, run = tiny_model(), Recipe(), str(tmp_path)
    for step in (1, 2):
        save_checkpoint(run, model, recipe, step, keep=2)
    corrupt(checkpoint(tmp_path, 2), names=["state.npz"])

    save_checkpoint(run, model, recipe, 3, keep=2)
    assert [s for s, _ in list_checkpoints(run)] == [1, 2, 3]
    save_checkpoint(run, model, recipe, 4, keep=2)
    assert [s for s, _ in list_checkpoints(run)] == [2, 3, 4]

    # A new checkpoint of an invalid one's step moves the old one aside.
    corrupt(checkpoint(tmp_path, 4), names=["recipe.yaml"])
    with pytest.warns(CheckpointWarning, match="step-00000004.invalid"):
        save_checkpoint(run, model, recipe, 4, keep=2)
    verify_checkpoint(checkpoint(tmp_path, 4))
    assert (tmp_path / "checkpoints" / "step-00000004.invalid").is_dir()
    assert [s for s, _ in list_checkpoints(run)] == [2, 3, 4]

"""Ctrl-C during `kvdm train` saves a checkpoint that `--resume` continues."""

import os
import re
import signal
import subprocess
import sys
import time

import keras
import pytest
import yaml
from click.testing import CliRunner

from kvdm.cli.main import cli
from kvdm.training import list_checkpoints

TINY = {
    "data": {"name": "moving_digits", "num_frames": 4, "image_size": 16},
    # The tiny preset without its downsampling level: quicker to build and
    # to trace, and any frame size fits.
    "model": {"preset": "tiny", "channel_multipliers": [1],
              "attention_resolutions": [16], "num_mlp_layers": 1},
    # Far more steps than the test waits for, and no periodic checkpoint:
    # any checkpoint in the run folder was written because of the signal.
    "train": {"steps": 100000, "batch_size": 1, "checkpoint_every": 100000,
              "sample_every": 0, "log_every": 1, "jit_compile": False},
    "sample": {"sampler": "ddim", "num_steps": 1, "num_videos": 1},
}


# A training process started, interrupted and resumed.
@pytest.mark.slow
def test_sigint_saves_a_checkpoint_and_resume_continues(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump(TINY))
    out = tmp_path / "run"
    env = dict(os.environ, KERAS_BACKEND=keras.config.backend())
    # Files, not pipes: the progress bar writes a line per update when its
    # output is not a terminal, which could fill a pipe nobody reads.
    stdout_path, stderr_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(stdout_path, "w") as stdout, open(stderr_path, "w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "kvdm.cli.main", "train", str(recipe),
             "--output", str(out)],
            env=env, stdout=stdout, stderr=stderr,
        )
        try:
            # Scalars are logged after every step, so the log folder holds
            # an event file once the first step is done.
            logs = out / "logs" / "train"
            deadline = time.time() + 240
            while not (logs.is_dir() and os.listdir(logs)):
                assert process.poll() is None, stderr_path.read_text()[-3000:]
                assert time.time() < deadline, "training did not start"
                time.sleep(0.05)
            assert not list_checkpoints(out)
            process.send_signal(signal.SIGINT)
            returncode = process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    output = stdout_path.read_text() + stderr_path.read_text()
    assert returncode == 130, output[-3000:]
    assert "Traceback" not in output
    assert "Received SIGINT" in output
    match = re.search(r"Stopped at step (\d+); checkpoint (\S+)\. ", output)
    assert match, output[-3000:]
    step, checkpoint = int(match.group(1)), match.group(2)
    assert 1 <= step < TINY["train"]["steps"]
    assert list_checkpoints(out) == [(step, checkpoint)]
    assert os.path.basename(checkpoint) == f"step-{step:08d}"
    assert not (out / "model.keras").exists()

    result = CliRunner().invoke(cli, [
        "train", str(recipe), "--output", str(out), "--resume",
        "--set", f"train.steps={step + 2}",
    ])
    assert result.exit_code == 0, result.output
    assert f"Resumed from {checkpoint} at step {step}." in result.output
    assert f"Done: {step + 2} steps." in result.output
    assert [s for s, _ in list_checkpoints(out)] == [step, step + 2]
    assert (out / "model.keras").is_file()

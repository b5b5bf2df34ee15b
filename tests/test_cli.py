import json
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from kvdm.cli.main import cli

TINY = {
    "data": {"name": "moving_digits", "num_frames": 4, "image_size": 16},
    "model": {"preset": "tiny"},
    "train": {"steps": 4, "batch_size": 2, "checkpoint_every": 2,
              "sample_every": 0, "log_every": 2, "ema_decay": 0.9},
    "sample": {"sampler": "ddim", "num_steps": 2, "num_videos": 2},
}


def write(path, values):
    path.write_text(yaml.safe_dump(values))
    return str(path)


def run(args):
    result = CliRunner().invoke(cli, args)
    return result


def assert_clean_error(result, *words):
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    for word in words:
        assert word in result.output, (word, result.output)


@pytest.mark.parametrize("command", [[], ["train"], ["sample"], ["predict"],
                                     ["extend"], ["interpolate"],
                                     ["upsample"], ["info"]])
def test_help(command):
    result = run(command + ["--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: kvdm" in result.output


def test_train_bad_inputs(tmp_path):
    assert_clean_error(run(["train", str(tmp_path / "missing.yaml")]),
                       "missing.yaml")
    bad_key = write(tmp_path / "a.yaml", {"train": {"stpes": 3}})
    assert_clean_error(run(["train", bad_key]), "train.stpes",
                       "Did you mean 'steps'")
    good = write(tmp_path / "b.yaml", TINY)
    assert_clean_error(run(["train", good, "--set", "sample.sampler=ddpm"]),
                       "sample.sampler", "ddpm")
    assert_clean_error(run(["train", good, "--set", "train.steps=-1"]),
                       "train.steps", "-1")
    assert_clean_error(run(["train", good, "--set", "oops"]),
                       "section.key=value")
    (tmp_path / "c.yaml").write_text("data: [1, 2\n")
    assert_clean_error(run(["train", str(tmp_path / "c.yaml")]),
                       "not valid YAML")


def test_sampling_bad_inputs(tmp_path):
    assert_clean_error(run(["sample", str(tmp_path / "nothing")]),
                       "nothing")
    assert_clean_error(run(["info", str(tmp_path)]), "No checkpoint found")
    assert_clean_error(run(["sample", str(tmp_path), "--sampler", "ddpm"]),
                       "ddpm")
    assert_clean_error(run(["sample", str(tmp_path), "--output", "a.avi"]),
                       "--output", ".gif")
    assert_clean_error(
        run(["predict", str(tmp_path), str(tmp_path / "in.mp4"),
             "--output", str(tmp_path / "o.gif")]),
        "Input video not found")


def test_train_sample_info_end_to_end(trained_run, tmp_path):
    # The session's tiny run (conftest.py, tiny_run.py): `kvdm train` of a
    # 4-step recipe that checkpoints every 2 steps, into `out`.
    recipe, out = str(trained_run.recipe), trained_run.folder
    assert "Done: 4 steps." in trained_run.output
    checkpoints = sorted(os.listdir(out / "checkpoints"))
    assert "step-00000004" in checkpoints and "step-00000002" in checkpoints
    assert (out / "model.keras").is_file()
    assert (out / "samples" / "step-00000004.gif").is_file()
    assert os.listdir(out / "logs" / "train")

    # Training again into the same folder without --resume is refused.
    assert_clean_error(run(["train", recipe, "--output", str(out)]),
                       "--resume")

    info = run(["info", str(out)])
    assert info.exit_code == 0, info.output
    assert "step: 4" in info.output
    assert "parameters:" in info.output
    assert "moving_digits" in info.output

    video = tmp_path / "s.gif"
    result = run(["sample", str(out), "--num-videos", "1", "--steps", "2",
                  "--seed", "3", "--output", str(video)])
    assert result.exit_code == 0, result.output
    from kvdm.io import read_video

    frames = read_video(str(video), channels=1)
    assert frames.shape[0] >= 1 and frames.shape[1] == frames.shape[2]

    # An out-of-range sampling value is caught by the recipe validation.
    assert_clean_error(run(["sample", str(out), "--gamma", "2",
                            "--output", str(video)]), "sample.gamma", "2")
    # Unconditional model: --prompt is refused with a clear message.
    assert_clean_error(run(["sample", str(out), "--prompt", "a digit",
                            "--output", str(video)]), "text-conditioned")

    # The exported .keras model predicts from a video file.
    predicted = tmp_path / "p.png"
    result = run(["predict", str(out / "model.keras"), str(video),
                  "--context-frames", "1", "--steps", "2",
                  "--output", str(predicted)])
    assert result.exit_code == 0, result.output
    assert predicted.is_file()
    from PIL import Image

    grid = np.asarray(Image.open(predicted))
    # One row of 4 frames of 16 px with 2 px padding between them.
    assert grid.shape[:2] == (16, 4 * 16 + 3 * 2)


# -- Bad input is refused before the slow part, without library log lines ----

# Lines TensorFlow, absl, JAX or CUDA write about the machine, not the command.
LIBRARY_LOG_LINE = re.compile(
    r"cuInit|oneDNN|cpu_feature_guard|TF-TRT|absl|cudart|cuda_|XLA|"
    r"^[IWEF]\d{4} ", re.MULTILINE)


def fake_run(folder):
    """A run folder holding a recipe and an (unreadable) checkpoint."""
    checkpoint = folder / "checkpoints" / "step-00000001"
    checkpoint.mkdir(parents=True)
    write(folder / "recipe.yaml", TINY)
    write(checkpoint / "recipe.yaml", TINY)
    return folder


def kvdm(*args):
    """Runs `kvdm ARGS` in a new process with the user's default logging."""
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "kvdm.cli.main"] + [str(a) for a in args],
        capture_output=True, text=True, env=env, timeout=600)
    return result, time.perf_counter() - start


def assert_one_error_line(result, *words):
    assert result.returncode != 0, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0], (word, result.stderr)
    assert not LIBRARY_LOG_LINE.search(result.stderr), result.stderr
    assert "Traceback" not in result.stderr


def test_bad_options_fail_at_once_in_a_new_process(tmp_path):
    run_dir = fake_run(tmp_path / "run")
    result, seconds = kvdm("sample", run_dir, "--steps", 0)
    assert_one_error_line(result, "num_steps=0")
    assert seconds < 2.0, seconds
    bad = write(tmp_path / "bad.yaml", dict(TINY, train={"steps": -1}))
    result, seconds = kvdm("train", bad)
    assert_one_error_line(result, "train.steps", "-1")
    assert seconds < 2.0, seconds


def test_errors_after_loading_tensorflow_show_no_library_logs(tmp_path):
    # The folder exists but holds no checkpoint: found out after Keras and
    # TensorFlow are loaded.
    result, _ = kvdm("sample", tmp_path)
    assert_one_error_line(result, str(tmp_path))


CHECK_IMPORTS = """
import json, sys
from click.testing import CliRunner
from kvdm.cli.main import cli
failures = []
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(cli, args)
    if result.exit_code == 0 or "Error:" not in result.output:
        failures.append((args, result.output))
loaded = [m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules]
print(json.dumps({"failures": failures, "loaded": loaded}))
"""


def test_bad_options_are_refused_before_keras_is_imported(tmp_path):
    run_dir = str(fake_run(tmp_path / "run"))
    video = tmp_path / "in.gif"
    video.write_bytes(b"not read")
    out = str(tmp_path / "out.gif")
    conditional = [run_dir, str(video), "--output", out]
    commands = [
        ["sample", run_dir, "--steps", "0"],
        ["sample", run_dir, "--num-videos", "0"],
        ["sample", run_dir, "--frames", "0"],
        ["sample", run_dir, "--gamma", "2"],
        ["sample", run_dir, "--sampler", "ddpm"],
        ["sample", run_dir, "--output", "a.avi"],
        # The recipe says the model has no text encoder.
        ["sample", run_dir, "--prompt", "a digit"],
        ["sample", str(tmp_path / "missing")],
        ["info", str(tmp_path / "missing")],
        ["predict"] + conditional + ["--context-frames", "0"],
        ["predict"] + conditional + ["--steps", "0"],
        ["extend"] + conditional + ["--frames", "8", "--window", "0"],
        ["extend"] + conditional + ["--frames", "8", "--overlap", "-1"],
        ["interpolate"] + conditional + ["--factor", "0"],
        ["upsample"] + conditional + ["--temporal-factor", "0"],
        ["upsample"] + conditional + ["--factor", "-2"],
        ["upsample"] + conditional + ["--method", "replacement"],
        ["predict", run_dir, str(tmp_path / "missing.mp4"), "--output", out],
        ["train", write(tmp_path / "bad.yaml", dict(TINY, train={"steps": 0}))],
    ]
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run(
        [sys.executable, "-c", CHECK_IMPORTS, json.dumps(commands)],
        capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["failures"] == []
    assert report["loaded"] == []

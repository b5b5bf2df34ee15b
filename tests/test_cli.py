import os

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


def test_train_sample_info_end_to_end(tmp_path):
    recipe = write(tmp_path / "tiny.yaml", TINY)
    out = tmp_path / "run"
    result = run(["train", recipe, "--output", str(out)])
    assert result.exit_code == 0, result.output
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

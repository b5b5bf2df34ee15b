"""End-to-end tests of `kvdm predict / extend / interpolate / upsample`.

Every command reads the session's tiny run (conftest.py, tiny_run.py) and a
video file written with `kvdm.io`, and writes its result, which is decoded
back.
"""

import os

import numpy as np
import pytest
import tiny_run
from click.testing import CliRunner

from kvdm import io
from kvdm.cli.main import cli

# The frame size of the tiny run's model.
SIZE = tiny_run.RECIPE["data"]["image_size"]
# `write_mp4` enlarges small videos so that the shorter side is >= 128 px.
MP4_SCALE = 128 // SIZE
# Known frames go through two lossy H.264 encodings (input and output).
CODEC_TOLERANCE = 8.0


def run(args):
    return CliRunner().invoke(cli, [str(arg) for arg in args])


def assert_one_line_error(result, *words):
    assert result.exit_code not in (0, None), result.output
    assert result.exception is None or isinstance(result.exception,
                                                  SystemExit), result.exception
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines()
              if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for word in words:
        assert word in errors[0], (word, result.output)


def moving_square(num_frames, height=SIZE, width=SIZE):
    """A bright square moving diagonally on a dark background (uint8)."""
    video = np.full((num_frames, height, width, 1), 20, np.uint8)
    for t in range(num_frames):
        top = left = 3 * t
        video[t, top:top + 6, left:left + 6] = 235
    return video


@pytest.fixture(scope="module")
def run_dir(trained_run):
    return trained_run.folder


@pytest.fixture(scope="module", autouse=True)
def load_each_run_once():
    """Every command reads the same run: the first one loads it through the
    whole path (checkpoint, recipe, EMA weights), the others reuse it."""
    import kvdm.training

    load = kvdm.training.load_for_sampling
    loaded = {}

    def load_once(path):
        key = os.path.abspath(os.fspath(path))
        if key not in loaded:
            loaded[key] = load(path)
        return loaded[key]

    patch = pytest.MonkeyPatch()
    patch.setattr(kvdm.training, "load_for_sampling", load_once)
    yield loaded
    patch.undo()


@pytest.fixture(scope="module")
def input_video(tmp_path_factory):
    path = tmp_path_factory.mktemp("inputs") / "square.mp4"
    io.write_mp4(str(path), moving_square(4))
    return path


def known_frames(path, size=SIZE):
    """The frames the commands see: the file read at the model's size."""
    return io.read_video(str(path), size=(size, size), channels=1)


def mean_error(a, b):
    return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32))))


def assert_frames_kept(output, given, output_indices, given_indices):
    reference = known_frames(given)
    frames = known_frames(output)
    for out_index, in_index in zip(output_indices, given_indices):
        error = mean_error(frames[out_index], reference[in_index])
        assert error < CODEC_TOLERANCE, (out_index, in_index, error)
        # Frames of the input differ far more than the codec's error, so a
        # wrong frame kept in place of this one would not pass.
        other = reference[(in_index + 1) % len(reference)]
        assert mean_error(reference[in_index], other) > 3 * CODEC_TOLERANCE


def assert_decodes(path, num_frames, size=SIZE * MP4_SCALE):
    frames = io.read_video(str(path), channels=1)
    assert frames.shape == (num_frames, size, size, 1), frames.shape


@pytest.mark.parametrize("method", ["replacement", "reconstruction_guidance"])
def test_predict(run_dir, input_video, tmp_path, method):
    output = tmp_path / "predicted.mp4"
    result = run(["predict", run_dir, input_video, "--output", output,
                  "--method", method, "--context-frames", 2, "--frames", 5,
                  "--steps", 2, "--seed", 1])
    assert result.exit_code == 0, result.output
    assert "2 input frames (16x16) -> 5 frames (16x16)" in result.output
    assert_decodes(output, 5)
    assert_frames_kept(output, input_video, [0, 1], [0, 1])


@pytest.mark.parametrize("method", ["replacement", "reconstruction_guidance"])
def test_extend(run_dir, input_video, tmp_path, method):
    output = tmp_path / "extended.mp4"
    # 4 input frames, windows of 4 with 2 known frames: two windows.
    result = run(["extend", run_dir, input_video, "--output", output,
                  "--method", method, "--frames", 7, "--steps", 2])
    assert result.exit_code == 0, result.output
    assert "4 input frames (16x16) -> 7 frames (16x16)" in result.output
    assert_decodes(output, 7)
    assert_frames_kept(output, input_video, range(4), range(4))


@pytest.mark.parametrize("method", ["replacement", "reconstruction_guidance"])
def test_interpolate(run_dir, input_video, tmp_path, method):
    output = tmp_path / "interpolated.mp4"
    result = run(["interpolate", run_dir, input_video, "--output", output,
                  "--method", method, "--factor", 2, "--steps", 2])
    assert result.exit_code == 0, result.output
    # (T - 1) * factor + 1 frames, the input's frames at multiples of factor.
    assert "4 input frames (16x16) -> 7 frames (16x16)" in result.output
    assert_decodes(output, 7)
    assert_frames_kept(output, input_video, [0, 2, 4, 6], range(4))


def test_upsample(run_dir, input_video, tmp_path):
    output = tmp_path / "upsampled.png"
    # The 16 px model doubles 8 px frames; the input is scaled down to 8 px.
    result = run(["upsample", run_dir, input_video, "--output", output,
                  "--factor", 2, "--steps", 2])
    assert result.exit_code == 0, result.output
    assert "4 input frames (8x8) -> 4 frames (16x16)" in result.output
    # A PNG grid keeps the size: one row of 4 frames with 2 px padding.
    grid = io.read_video(str(output), channels=1)
    assert grid.shape == (1, SIZE, 4 * SIZE + 3 * 2, 1), grid.shape


def test_bad_inputs(run_dir, input_video, tmp_path):
    output = tmp_path / "out.mp4"
    missing = tmp_path / "missing.mp4"
    assert_one_line_error(run(["predict", run_dir, missing, "--output", output]),
                          "missing.mp4")
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(2048))
    for command in ("predict", "extend", "interpolate", "upsample"):
        options = ["--frames", 6] if command == "extend" else []
        assert_one_line_error(
            run([command, run_dir, corrupt, "--output", output] + options),
            "corrupt.mp4")
    assert_one_line_error(
        run(["interpolate", run_dir, input_video, "--output", output,
             "--method", "inpaint"]), "inpaint")
    for command in ("predict", "extend", "interpolate", "upsample"):
        options = ["--frames", 6] if command == "extend" else []
        assert_one_line_error(
            run([command, run_dir, input_video, "--output", output,
                 "--steps", 0] + options), "num_steps=0")
    # Frames of another shape, or smaller than the model's, are refused.
    wide = tmp_path / "wide.mp4"
    io.write_mp4(str(wide), moving_square(4, SIZE, 2 * SIZE), scale=1)
    assert_one_line_error(
        run(["predict", run_dir, wide, "--output", output]),
        "frame_size=16x32")
    small = tmp_path / "small.mp4"
    io.write_mp4(str(small), moving_square(4, 8, 8), scale=1)
    assert_one_line_error(
        run(["extend", run_dir, small, "--output", output, "--frames", 6]),
        "frame_size=8x8")
    tiny = tmp_path / "tiny.gif"
    io.write_gif(str(tiny), moving_square(4, 4, 4), scale=1)
    assert_one_line_error(
        run(["upsample", run_dir, tiny, "--output", output]),
        "frame_size=4x4")
    for factor in (3, 0, -2):
        assert_one_line_error(
            run(["upsample", run_dir, input_video, "--output", output,
                 "--factor", factor]), f"spatial_factor={factor}")
    assert_one_line_error(
        run(["upsample", run_dir, input_video, "--output", output,
             "--method", "replacement"]), "method=replacement")
    assert_one_line_error(
        run(["predict", run_dir, input_video, "--output", output,
             "--context-frames", 5]), "context_frames=5")
    assert_one_line_error(
        run(["predict", run_dir, input_video, "--output", output,
             "--context-frames", 2, "--frames", 2]), "num_frames=2")
    assert_one_line_error(
        run(["extend", run_dir, input_video, "--output", output,
             "--frames", 3]), "num_frames=3")
    assert_one_line_error(
        run(["interpolate", run_dir, input_video, "--output", output,
             "--factor", 1]), "factor=1")
    assert not output.exists()

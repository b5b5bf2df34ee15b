"""Options of the conditional commands reach the samplers (`kvdm.cli.tasks`).

No model is trained: `load_for_sampling` returns a stand-in and the drivers
of `kvdm.samplers` are replaced by recorders that return blank videos.
"""

import types

import numpy as np
import pytest
from click.testing import CliRunner

import kvdm.samplers
import kvdm.training
from kvdm import io
from kvdm.cli import tasks
from kvdm.cli.main import cli
from kvdm.config import Recipe

SIZE = 16
MODEL_FRAMES = 4
RECIPE = {
    "data": {"name": "moving_digits", "num_frames": MODEL_FRAMES,
             "image_size": SIZE},
    "model": {"preset": "tiny"},
    "sample": {"sampler": "ddim", "num_steps": 2, "num_videos": 1},
}


def moving_square(num_frames):
    video = np.full((num_frames, SIZE, SIZE, 1), 20, np.uint8)
    for t in range(num_frames):
        video[t, 2 * t:2 * t + 5, 2 * t:2 * t + 5] = 235
    return video


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    return folder


@pytest.fixture
def load(monkeypatch):
    """Makes every command load a stand-in model with the given sample section."""

    def use(**sample):
        values = {k: dict(v) for k, v in RECIPE.items()}
        values["sample"].update(sample)
        loaded = types.SimpleNamespace(
            model=object(), recipe=Recipe.from_dict(values),
            video_shape=(MODEL_FRAMES, SIZE, SIZE, 1), step=1, source="run")
        monkeypatch.setattr(kvdm.training, "load_for_sampling",
                            lambda source: loaded)
        return loaded

    use()
    return use


@pytest.fixture
def drivers(monkeypatch):
    """Replaces the drivers; returns the calls as {task: (video, kwargs)}."""
    calls = {}

    def recorder(task):
        def driver(model, video, num_frames=None, factor=2, spatial_factor=1,
                   temporal_factor=1, **kwargs):
            frames = video.shape[1]
            if task == "upsample":
                frames = (frames - 1) * temporal_factor + 1
            elif task == "interpolate":
                frames = (frames - 1) * factor + 1
            else:
                frames = num_frames
            kwargs.update(num_frames=num_frames, factor=factor,
                          spatial_factor=spatial_factor,
                          temporal_factor=temporal_factor)
            calls[task] = (np.asarray(video), kwargs)
            height = video.shape[2] * spatial_factor
            return np.zeros((1, frames, height, height, 1), "float32")
        return driver

    for task in tasks.TASKS:
        monkeypatch.setattr(kvdm.samplers, task, recorder(task))
    return calls


def run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result


def input_video(tmp_path, num_frames):
    path = tmp_path / f"in{num_frames}.gif"
    io.write_gif(str(path), moving_square(num_frames), scale=1)
    return path


def test_upsample_passes_temporal_factor_window_and_overlap(
        tmp_path, run_dir, load, drivers):
    video = input_video(tmp_path, 3)
    run("upsample", run_dir, video, "--output", tmp_path / "out.gif",
        "--temporal-factor", 2, "--window", 3, "--overlap", 1)
    given, kwargs = drivers["upsample"]
    assert given.shape == (1, 3, SIZE // 2, SIZE // 2, 1)
    assert kwargs["temporal_factor"] == 2
    assert kwargs["spatial_factor"] == 2
    assert kwargs["window_frames"] == 3
    assert kwargs["overlap"] == 1


def test_clip_denoised_from_the_recipe_and_the_command_line(
        tmp_path, run_dir, load, drivers):
    video = input_video(tmp_path, 4)
    output = tmp_path / "out.gif"
    for recipe_value, flag, expected in [
        (False, None, False),
        (True, None, True),
        (True, "--no-clip-denoised", False),
        (False, "--clip-denoised", True),
    ]:
        load(clip_denoised=recipe_value)
        flags = [flag] if flag else []
        run("interpolate", run_dir, video, "--output", output, *flags)
        sampler = drivers["interpolate"][1]["sampler"]
        assert sampler.clip_denoised is expected, (recipe_value, flag)


def test_sample_passes_clip_denoised(tmp_path, run_dir, load, monkeypatch):
    from kvdm.training import sampling

    seen = []

    def generate(model, recipe, video_shape, prompts=None):
        assert prompts is None
        seen.append(sampling.make_sampler(recipe.sample).clip_denoised)
        return np.zeros((1, MODEL_FRAMES, SIZE, SIZE, 1), "float32")

    monkeypatch.setattr(sampling, "generate", generate)
    load(clip_denoised=True)
    run("sample", run_dir, "--output", tmp_path / "a.png")
    run("sample", run_dir, "--no-clip-denoised", "--output",
        tmp_path / "b.png")
    assert seen == [True, False]


def test_extend_windows_default_to_the_models_frames(
        tmp_path, run_dir, load, drivers):
    # A 6-frame input and a 4-frame model: windows of 4, half of them known.
    video = input_video(tmp_path, 6)
    run("extend", run_dir, video, "--output", tmp_path / "out.gif",
        "--frames", 9)
    given, kwargs = drivers["extend"]
    assert given.shape[1] == 6
    assert kwargs["window_frames"] == MODEL_FRAMES
    assert kwargs["overlap"] == MODEL_FRAMES // 2
    assert kwargs["num_frames"] == 9
    # The overlap never exceeds the input: a 1-frame input overlaps by 1.
    video = input_video(tmp_path, 1)
    run("extend", run_dir, video, "--output", tmp_path / "out.gif",
        "--frames", 5)
    assert drivers["extend"][1]["overlap"] == 1
    run("extend", run_dir, video, "--output", tmp_path / "out.gif",
        "--frames", 5, "--window", 3)
    assert drivers["extend"][1]["window_frames"] == 3


def test_predict_context_frames_from_the_recipe(tmp_path, run_dir, load,
                                                drivers):
    video = input_video(tmp_path, 4)
    output = tmp_path / "out.gif"
    run("predict", run_dir, video, "--output", output)
    assert drivers["predict"][0].shape[1] == 1
    load(context_frames=2)
    run("predict", run_dir, video, "--output", output)
    given, kwargs = drivers["predict"]
    assert given.shape[1] == 2 and kwargs["num_frames"] == MODEL_FRAMES
    run("predict", run_dir, video, "--output", output, "--context-frames", 3)
    assert drivers["predict"][0].shape[1] == 3


def test_source_recipe(tmp_path):
    assert tasks.source_recipe(tmp_path / "missing") is None
    assert tasks.source_recipe(tmp_path) is None
    Recipe.from_dict(RECIPE).save(tmp_path / "recipe.yaml")
    assert tasks.source_recipe(tmp_path).data.num_frames == MODEL_FRAMES
    model = tmp_path / "model.keras"
    model.write_bytes(b"")
    assert tasks.source_recipe(model).data.num_frames == MODEL_FRAMES
    (tmp_path / "recipe.yaml").write_text("data: {num_frames: 0}\n")
    assert tasks.source_recipe(tmp_path) is None


def test_check_task_options():
    tasks.check_task_options(window_frames=None, overlap=1)
    for value in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="overlap="):
            tasks.check_task_options(overlap=value)


def test_conditioning_method_from_the_recipe_unless_given(
        tmp_path, run_dir, load, drivers):
    video = input_video(tmp_path, 4)
    output = tmp_path / "out.gif"
    for recipe_value, flag, expected in [
        ("reconstruction_guidance", None, "reconstruction_guidance"),
        ("context", None, "context"),
        ("replacement", None, "replacement"),
        ("context", "replacement", "replacement"),
        ("reconstruction_guidance", "context", "context"),
    ]:
        load(conditioning=recipe_value)
        flags = ["--method", flag] if flag else []
        run("predict", run_dir, video, "--output", output, *flags)
        kwargs = drivers["predict"][1]
        assert kwargs["conditioning"] == expected, (recipe_value, flag)
        assert kwargs["sampler"].conditioning == expected

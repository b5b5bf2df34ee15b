"""Presets: name resolution, errors, and a preset name in every command."""

import numpy as np
import pytest
from click.testing import CliRunner

from kvdm import presets

def test_unknown_preset_is_a_clear_error():
    with pytest.raises(ValueError, match="Available presets: .*name='nope'"):
        presets.preset_path("nope")
    assert not presets.is_preset("nope")


def test_a_listed_preset_resolves_to_its_files(monkeypatch, tmp_path):
    monkeypatch.setattr(presets, "_ROOT", tmp_path)
    monkeypatch.setitem(presets.PRESETS, "digits", "test preset")
    with pytest.raises(FileNotFoundError, match="missing its model.keras"):
        presets.preset_path("digits")
    (tmp_path / "digits").mkdir()
    (tmp_path / "digits" / "model.keras").write_bytes(b"x")
    assert presets.preset_path("digits") == tmp_path / "digits" / "model.keras"
    assert presets.is_preset("digits")


def test_load_for_sampling_names_the_presets_for_a_missing_source(tmp_path):
    from kvdm.training import load_for_sampling

    with pytest.raises(FileNotFoundError, match="preset"):
        load_for_sampling(str(tmp_path / "missing"))


# -- A preset made from the session's tiny run ----------------------------
#
# A listed preset folder holding the session's tiny run's model and recipe
# exercises the whole path from a name to videos in little time; the shipped
# presets are tested in test_shipped_presets.py.

NAME = "tiny_digits"


@pytest.fixture()
def tiny_preset(trained_run, monkeypatch, tmp_path):
    import shutil

    folder = tmp_path / "presets" / NAME
    folder.mkdir(parents=True)
    shutil.copyfile(trained_run.folder / "model.keras", folder / "model.keras")
    shutil.copyfile(trained_run.folder / "recipe.yaml", folder / "recipe.yaml")
    monkeypatch.setattr(presets, "_ROOT", tmp_path / "presets")
    monkeypatch.setitem(presets.PRESETS, NAME, "the tiny test run")
    return NAME


def test_from_preset_gives_the_saved_model(tiny_preset, trained_run):
    import keras

    from kvdm.diffusion import VideoDiffusion

    diffusion = VideoDiffusion.from_preset(tiny_preset)
    saved = keras.saving.load_model(trained_run.folder / "model.keras", compile=False)
    z = keras.random.normal((1, 4, 16, 16, 1), seed=0)
    logsnr = keras.ops.zeros((1,))
    got = keras.ops.convert_to_numpy(diffusion.denoiser(z, logsnr))
    want = keras.ops.convert_to_numpy(saved.denoiser(z, logsnr))
    np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    """A real MovingDigits test video (4 frames of 16x16) as a GIF."""
    from kvdm.data import MovingDigits
    from kvdm.io import write_gif

    source = MovingDigits("test", num_frames=4, image_size=16, num_videos=1, seed=3)
    videos, _ = source.render(np.arange(1))
    path = tmp_path_factory.mktemp("preset_inputs") / "digit.gif"
    write_gif(str(path), videos[0].astype(np.float32) / 127.5 - 1.0, fps=8)
    return path


@pytest.mark.parametrize(
    "command,extra,frames",
    [
        ("sample", ["--num-videos", "1"], 4),
        ("predict", ["INPUT", "--context-frames", "2"], 4),
        ("extend", ["INPUT", "--frames", "6"], 6),
        ("interpolate", ["INPUT"], 7),
    ],
)
def test_a_preset_name_works_in_every_sampling_command(tiny_preset, video_file, tmp_path, command, extra, frames):
    from kvdm.cli.main import cli
    from kvdm.io import read_video

    args = [command, tiny_preset] + [str(video_file) if a == "INPUT" else a for a in extra]
    args += ["--steps", "1", "--output", str(tmp_path / "out.gif")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    video = read_video(str(tmp_path / "out.gif"))
    assert video.shape[0] <= frames and video.shape[0] >= 2, video.shape

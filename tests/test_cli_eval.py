"""The paper's protocols as presets and `kvdm eval`."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from click.testing import CliRunner

from kvdm.cli.main import cli
from kvdm.metrics import PROTOCOLS
from kvdm.metrics import get_protocol
from kvdm.metrics import protocols


def run(args):
    return CliRunner().invoke(cli, args)


def assert_clean_error(result, *words):
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output
    for word in words:
        assert word in result.output, (word, result.output)


def test_the_papers_protocols():
    bair = get_protocol("bair")
    assert (bair.context_frames, bair.num_frames - bair.context_frames) == (1, 15)
    assert (bair.samples_per_video, bair.num_reference, bair.num_samples) == (100, 256, 25_600)
    kinetics = get_protocol("kinetics600")
    assert (kinetics.context_frames, kinetics.num_frames - kinetics.context_frames) == (5, 11)
    assert kinetics.num_samples == 50_000 and "is_i3d" in kinetics.scores
    ucf = get_protocol("ucf101")
    assert ucf.context_frames == 0 and ucf.num_samples == 10_000 and "C3D" in ucf.paper
    assert protocols.FEATURE_NETWORKS["i3d"]["size"] == (224, 224)
    assert protocols.FEATURE_NETWORKS["inception"]["size"] == (299, 299)
    with pytest.raises(ValueError, match="Received: protocol='bar'"):
        get_protocol("bar")


def test_scaling_a_protocol():
    bair, digits = get_protocol("bair"), get_protocol("moving_digits")
    assert protocols.plan(bair) == (256, 100)
    assert protocols.plan(bair, 512) == (256, 2)
    assert protocols.plan(bair, 10) == (10, 1)
    assert protocols.plan(get_protocol("kinetics600")) == (50_000, 1)
    assert protocols.plan(digits) == (64, 1)
    assert protocols.plan(digits, 8) == (8, 1)
    with pytest.raises(ValueError, match="Received: num_samples=1"):
        protocols.plan(digits, 1)


class StandInI3D:
    """Mean of each channel: a feature network with a known output."""

    def features(self, videos, batch_size):
        return videos.reshape(len(videos), -1, 3).mean(axis=1).astype(np.float64)


class StandInSampler:
    """Returns the context followed by its last frame, brightened (or zeros)."""

    def __init__(self):
        self.calls = []

    def __call__(self, model, shape, context=None, seed=None):
        self.calls.append((shape, None if context is None else context.shape, seed))
        videos = np.zeros(shape, "float32")
        if context is not None:
            videos[:, : context.shape[1]] = context
            # Never equal to the truth (the background moves off -1).
            videos[:, context.shape[1] :] = np.clip(context[:, -1:] + 0.1, -1, 1)
        return videos


def test_evaluate_counts_scores_and_writes_reports(tmp_path):
    from kvdm.metrics import evaluation

    sampler = StandInSampler()
    protocol = get_protocol("moving_digits_prediction")
    report = evaluation.evaluate(
        None, (4, 16, 16, 1), protocol, sampler, num_samples=6, batch_size=4, seed=3, progress=False,
        i3d=StandInI3D())
    # Batches of 4 and 2 real videos, one sample each, seeds counted up.
    assert [call[0] for call in sampler.calls] == [(4, 16, 16, 16, 1), (2, 16, 16, 16, 1)]
    assert [call[1] for call in sampler.calls] == [(4, 1, 16, 16, 1), (2, 1, 16, 16, 1)]
    assert [call[2] for call in sampler.calls] == [3, 4]
    assert (report["num_samples"], report["num_reference"], report["follows_protocol"]) == (6, 6, False)
    scores = report["scores"]
    assert set(scores) == {"fvd", "psnr", "ssim"}
    assert scores["fvd"]["num_samples"] == 6 and scores["fvd"]["num_reference"] == 6
    assert scores["psnr"]["num_samples"] == 6 and np.isfinite(scores["psnr"]["value"])
    assert 0 < scores["ssim"]["value"] < 1
    assert report["digits"]["generated"]["num_videos"] == 6
    json_path, markdown_path = evaluation.write_report(report, tmp_path / "eval")
    written = json.loads(open(json_path).read())
    assert written["scores"]["fvd"]["value"] == pytest.approx(scores["fvd"]["value"])
    assert written["protocol"]["name"] == "moving_digits_prediction"
    page = open(markdown_path).read()
    assert "| fvd |" in page and "6 generated, 6 real" in page
    with pytest.raises(ValueError, match=r"have 1 channel\(s\); the model makes 3"):
        evaluation.check_model(protocol, (16, 16, 16, 3))
    with pytest.raises(ValueError, match=r"scores 64x64 videos; the model makes 16x16"):
        evaluation.check_model(get_protocol("bair"), (16, 16, 16, 3))


def test_kinetics_windows_from_a_folder(tmp_path):
    from kvdm.io.video_io import write_gif
    from kvdm.metrics import evaluation

    rng = np.random.default_rng(0)
    for name, frames in (("a", 20), ("b", 18), ("c", 10)):  # "c" is too short
        folder = tmp_path / "test" / "class_x"
        folder.mkdir(parents=True, exist_ok=True)
        write_gif(str(folder / f"{name}.gif"), rng.integers(0, 256, (frames, 64, 80, 3), dtype=np.uint8), scale=1)
    protocol = get_protocol("kinetics600")
    batches = list(evaluation.real_batches(protocol, (16, 64, 64, 3), 5, 4, seed=1, data_path=str(tmp_path)))
    # Two clips are long enough: one batch of two 16-frame 64x64 windows.
    assert [b.shape for b in batches] == [(2, 16, 64, 64, 3)]
    assert batches[0].min() >= -1 and batches[0].max() <= 1


def test_tfds_protocols_read_the_benchmark_windows(monkeypatch):
    import tensorflow as tf

    import kvdm.data
    from kvdm.metrics import evaluation

    calls = []

    def make_dataset(name, split, **options):
        calls.append((name, split, options))
        videos = tf.zeros((options["batch_size"], options["num_frames"], 64, 64, 3))
        return [{"video": videos}] * 4

    monkeypatch.setattr(kvdm.data, "make_dataset", make_dataset)
    batches = list(evaluation.real_batches(get_protocol("bair"), (16, 64, 64, 3), 10, 4, data_dir="/data"))
    assert [len(b) for b in batches] == [4, 4, 2]
    name, split, options = calls[0]
    assert (name, split) == ("bair", "test")
    assert options["window"] == "start" and not options["shuffle"] and not options["repeat"]
    assert (options["num_frames"], options["image_size"], options["data_dir"]) == (16, 64, "/data")
    list(evaluation.real_batches(get_protocol("ucf101"), (16, 64, 64, 3), 3, 4))
    name, split, options = calls[1]
    assert (name, split, options["window"], options["shuffle"]) == ("ucf101", "train+test", "random", True)


def test_bad_commands_fail_fast(tmp_path):
    source = str(tmp_path)
    result = run(["eval", source, "--protocol", "bair-2"])
    assert_clean_error(result, "Invalid value for '--protocol'", "bair-2")
    assert_clean_error(run(["eval", source, "--protocol", "bair", "--num-samples", "1"]), "num_samples=1")
    assert_clean_error(run(["eval", source, "--protocol", "bair", "--batch-size", "0"]), "batch_size=0")
    assert_clean_error(run(["eval", source, "--protocol", "bair", "--steps", "0"]), "num_steps=0")
    missing = str(tmp_path / "missing")
    assert_clean_error(run(["eval", missing, "--protocol", "moving_digits"]), "No such checkpoint", missing)


def test_missing_data_names_what_to_provide(tmp_path):
    source = str(tmp_path)
    assert_clean_error(run(["eval", source, "--protocol", "kinetics600"]), "--data-path", "test/<class>/<clip>.mp4")
    clips = tmp_path / "k600"
    clips.mkdir()
    assert_clean_error(run(["eval", source, "--protocol", "kinetics600", "--data-path", str(clips)]),
                       os.path.join(str(clips), "test"))
    data_dir = tmp_path / "tfds"
    result = run(["eval", source, "--protocol", "bair", "--data-dir", str(data_dir)])
    assert_clean_error(result, "bair_robot_pushing_dataset_v0.tar",
                       os.path.join(str(data_dir), "downloads", "manual"))


CHECK_IMPORTS = """
import json, sys
from click.testing import CliRunner
from kvdm.cli.main import cli
failures = []
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(cli, args)
    if result.exit_code == 0 or "Error" not in result.output:
        failures.append((args, result.output))
loaded = [m for m in ("keras", "tensorflow", "jax", "torch") if m in sys.modules]
print(json.dumps({"failures": failures, "loaded": loaded}))
"""


def test_bad_commands_are_refused_before_keras_is_imported(tmp_path):
    source = str(tmp_path)
    commands = [
        ["eval", source, "--protocol", "nope"],
        ["eval", source, "--protocol", "bair", "--num-samples", "1"],
        ["eval", source, "--protocol", "moving_digits", "--batch-size", "-1"],
        ["eval", source, "--protocol", "moving_digits", "--sampler", "ddpm"],
        ["eval", str(tmp_path / "missing"), "--protocol", "moving_digits"],
        ["eval", source, "--protocol", "kinetics600"],
    ]
    env = dict(os.environ)
    env.pop("KERAS_BACKEND", None)
    result = subprocess.run([sys.executable, "-c", CHECK_IMPORTS, json.dumps(commands)],
                            capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report == {"failures": [], "loaded": []}


@pytest.mark.slow
def test_eval_end_to_end_on_a_trained_run(trained_run, tmp_path):
    output = tmp_path / "eval"
    result = run(["eval", str(trained_run.folder), "--protocol", "moving_digits_prediction",
                  "--num-samples", "2", "--batch-size", "2", "--output", str(output)])
    assert result.exit_code == 0, result.output
    report = json.loads((output / "moving_digits_prediction.json").read_text())
    assert report["num_samples"] == 2 and report["num_reference"] == 2
    assert report["step"] == 4 and report["video_shape"] == [4, 16, 16, 1]
    for name in ("fvd", "psnr", "ssim"):
        assert report["scores"][name]["num_samples"] == 2
    assert report["scores"]["fvd"]["value"] > 0
    assert "fvd" in (output / "moving_digits_prediction.md").read_text()
    assert "fvd: " in result.output and "(2 samples, 2 reference)" in result.output


def test_every_protocol_is_documented():
    page = open(os.path.join(os.path.dirname(__file__), "..", "docs", "evaluation.md")).read()
    for name in PROTOCOLS:
        assert f"`{name}`" in page, name

"""Training without TensorFlow: numpy batches, caption tables and `bench/train_accelerator.py`."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_numpy_batch_is_the_pipeline_batch():
    from kvdm.data import MovingDigits

    source = MovingDigits("train", num_frames=4, image_size=16, num_videos=10, seed=2)
    # Batch 3 of 4 videos crosses the first epoch's end: two permutations.
    pipeline = iter(source.as_dataset(4, start_batch=3, image_frames=2))
    for index in (3, 4):
        want = next(pipeline)
        got = source.numpy_batch(index, 4, image_frames=2)
        np.testing.assert_array_equal(got["video"], want["video"].numpy())
        np.testing.assert_array_equal(got["images"], want["images"].numpy())
        assert got["caption"] == [c.decode() for c in want["caption"].numpy()]
    assert source.numpy_batch(0, 2)["video"].dtype == np.float32


_NO_TENSORFLOW = """
import importlib.abc, sys

class NoTensorFlow(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("tensorflow", "tensorflow_datasets"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)

sys.meta_path.insert(0, NoTensorFlow())
from kvdm.data import MovingDigits
batch = MovingDigits("train", num_frames=4, image_size=16, num_videos=8).numpy_batch(1, 3)
assert batch["video"].shape == (3, 4, 16, 16, 1), batch["video"].shape
assert "tensorflow" not in sys.modules
try:
    from kvdm.data import make_dataset
except ModuleNotFoundError as error:
    print("pipeline needs", error.name)
"""


def test_moving_digits_renders_without_tensorflow():
    result = subprocess.run(
        [sys.executable, "-c", _NO_TENSORFLOW], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    # The tf.data names still need TensorFlow, and say so when used.
    assert "pipeline needs tensorflow" in result.stdout


class _Encoder:
    """A stand-in text encoder: token embeddings from the words' lengths."""

    preset = "stand-in"
    hidden_dim = 3
    sequence_length = 16

    def encode(self, texts):
        length = max(len(t.split()) for t in texts)
        values = np.zeros((len(texts), length, 3), np.float32)
        mask = np.zeros((len(texts), length), bool)
        for row, text in enumerate(texts):
            for column, word in enumerate(text.split()):
                values[row, column] = [len(word), row, column]
                mask[row, column] = True
        return values, mask


def test_caption_table_reads_the_cache_file(tmp_path, bench_module):
    from kvdm.training.caption_cache import CaptionCache

    captions = ["the digit 1 moves up", "the digit 7 moves down and to the left"]
    path = tmp_path / "caption_embeddings.npz"
    cache = CaptionCache(_Encoder(), str(path))
    want = cache.table(captions)
    names, table = bench_module("train_accelerator").caption_table(str(path))
    assert names == sorted(captions)
    for caption in captions:
        np.testing.assert_array_equal(table[names.index(caption)], want[captions.index(caption)])
    # The extra last row is the null condition (all zeros).
    assert table.shape == (3,) + want.shape[1:]
    assert not table[-1].any()


def test_a_run_trained_without_tensorflow_packs_as_a_preset(tmp_path, bench_module):

    run = tmp_path / "run"
    overrides = [
        "train.backend=tensorflow", "train.jit_compile=false", "train.batch_size=2", "train.steps=3",
        "data.image_size=16", "data.num_frames=4", "model.base_channels=8", "model.channel_multipliers=[1,2]",
    ]
    command = [sys.executable, "bench/train_accelerator.py", "recipes/moving_digits_preset.yaml",
               "--run", str(run), "--log-every", "1", "--export-every", "0"]
    for override in overrides:
        command += ["--set", override]
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    log = json.loads((run / "train_log.json").read_text())
    assert log["steps"] == 3 and [entry["step"] for entry in log["log"]] == [1, 2, 3]
    assert all(np.isfinite(entry["loss"]) for entry in log["log"])

    from kvdm.config import load_recipe

    make_preset = bench_module("make_preset")
    recipe = load_recipe("recipes/moving_digits_preset.yaml", overrides=overrides)
    export, meta = make_preset._trained_run(run, recipe)
    assert meta["step"] == 3 and meta["train_seconds"] > 0
    assert load_recipe(str(run / "recipe.yaml")).train.steps == 3
    from kvdm.training import load_for_sampling

    assert load_for_sampling(export).model.denoiser.base_channels == 8
    # Packing checks the run against the recipe it is said to come from.
    other = load_recipe("recipes/moving_digits_preset.yaml", overrides=overrides + ["model.base_channels=16"])
    with pytest.raises(SystemExit, match="model.base_channels=8"):
        make_preset._trained_run(run, other)

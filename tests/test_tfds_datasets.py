import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from kvdm.data import DatasetNotFoundError, dataset_info, make_dataset
from kvdm.data.tfds_datasets import class_caption, prepared_dir


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """Any attempt to download fails the test at once."""

    def refuse(*args, **kwargs):
        raise AssertionError("a test tried to download")

    monkeypatch.setattr(tfds.download.DownloadManager, "download", refuse)
    monkeypatch.setattr(tfds.download.DownloadManager, "download_and_extract", refuse)


@pytest.mark.parametrize(
    "name, archive",
    [
        ("bair_robot_pushing_small", "bair_robot_pushing_dataset_v0.tar"),
        ("moving_mnist", "mnist_test_seq.npy"),
        ("ucf101", "UCF101_videos.zip"),
    ],
)
def test_missing_data_fails_fast_and_says_where_to_put_it(tmp_path, name, archive):
    split = "test" if name == "moving_mnist" else "train"
    start = time.perf_counter()
    with pytest.raises(DatasetNotFoundError) as error:
        make_dataset(name, split, batch_size=2, data_dir=tmp_path)
    assert time.perf_counter() - start < 10.0
    message = str(error.value)
    assert str(tmp_path / "downloads" / "manual" / archive) in message
    assert str(tmp_path / name) in message
    assert "data.download: true" in message


def test_a_prepared_copy_is_found(tmp_path):
    variant = tmp_path / "moving_mnist" / "1.0.0"
    variant.mkdir(parents=True)
    assert prepared_dir("moving_mnist", data_dir=tmp_path) is None
    (variant / "dataset_info.json").write_text("{}")
    assert prepared_dir("moving_mnist", data_dir=tmp_path) == str(variant)


def _bair_like(self, split, **kwargs):
    """Five BAIR-shaped videos whose frame t of video n has the value 8 * t + n."""
    del self, split, kwargs
    t = np.arange(30, dtype=np.uint8)[:, None, None, None]
    videos = np.stack([np.broadcast_to(8 * t + n, (30, 64, 64, 3)) for n in range(5)]).copy()
    videos[:, :, :, :32] = 0  # left half dark: shows left-right flips
    return tf.data.Dataset.from_tensor_slices({"image_main": videos})


def test_bair_benchmark_split_is_the_first_16_frames():
    with tfds.testing.mock_data(as_dataset_fn=_bair_like):
        dataset = make_dataset("bair", "test", batch_size=5, num_frames=16, download=True)
        batch = next(iter(dataset))["video"].numpy()
    assert batch.shape == (5, 16, 64, 64, 3)
    frames = np.rint((batch[:, :, 0, 40, 0] + 1.0) * 127.5)
    np.testing.assert_array_equal(frames, 8 * np.arange(16)[None, :] + np.arange(5)[:, None])
    assert (batch[:, :, :, :32] == -1.0).all()  # no flips at test time


def test_bair_training_windows_are_random_and_flipped():
    with tfds.testing.mock_data(as_dataset_fn=_bair_like):
        dataset = make_dataset("bair", "train", batch_size=5, num_frames=16, download=True, seed=0)
        batches = [b["video"].numpy() for b in dataset.take(4)]
    videos = np.concatenate(batches)
    assert videos.shape == (20, 16, 64, 64, 3)
    left_dark = (videos[:, :, :, :32] == -1.0).all(axis=(1, 2, 3, 4))
    right_dark = (videos[:, :, :, 32:] == -1.0).all(axis=(1, 2, 3, 4))
    assert left_dark.any() and right_dark.any()  # both orientations occur
    starts = np.rint((videos[:, 0, 0, :, 0].max(axis=-1) + 1.0) * 127.5) // 8
    assert len(set(starts.tolist())) > 1  # windows start at different frames
    assert (starts <= 30 - 16).all()


def test_mocked_tfds_sets_have_the_right_shapes_and_are_deterministic():
    with tfds.testing.mock_data(num_examples=4):
        def first(seed):
            dataset = make_dataset("moving_mnist", "test", batch_size=2, num_frames=8, download=True,
                                   shuffle=True, repeat=True, seed=seed)
            return next(iter(dataset))["video"].numpy()

        video = first(0)
        np.testing.assert_array_equal(video, first(0))
    assert video.shape == (2, 8, 64, 64, 1) and video.dtype == np.float32
    assert -1.0 <= video.min() and video.max() <= 1.0


def _ucf_like(self, split, **kwargs):
    del self, split, kwargs
    videos = np.random.default_rng(0).integers(0, 256, size=(3, 20, 48, 64, 3), dtype=np.uint8)
    return tf.data.Dataset.from_tensor_slices({"video": videos, "label": np.array([0, 1, 100], np.int64)})


def test_ucf101_is_resized_to_64_and_captioned_with_its_class():
    with tfds.testing.mock_data(as_dataset_fn=_ucf_like):
        dataset = make_dataset("ucf101", "test", batch_size=3, num_frames=16, download=True)
        batch = next(iter(dataset))
    assert batch["video"].shape == (3, 16, 64, 64, 3)
    assert batch["caption"].numpy().tolist() == [b"apply eye makeup", b"apply lipstick", b"yo yo"]


def test_dataset_info():
    assert dataset_info("bair")["channels"] == 3
    assert dataset_info("moving_mnist")["splits"] == ("test",)
    assert dataset_info("moving_digits")["has_captions"] is True
    assert class_caption("PlayingDhol") == "playing dhol"


def test_recipe_download_key_reaches_the_loader(tmp_path):
    from kvdm.config import Recipe
    from kvdm.training import builders

    values = {"data": {"name": "bair", "data_dir": str(tmp_path)},
              "model": {"preset": "tiny"}, "train": {"batch_size": 2}}
    offline = Recipe.from_dict(values)
    assert builders.dataset_options(offline)["download"] is False
    start = time.perf_counter()
    with pytest.raises(DatasetNotFoundError, match="data.download: true"):
        builders.build_dataset(offline)
    assert time.perf_counter() - start < 10.0
    values["data"]["download"] = True
    online = Recipe.from_dict(values)
    assert builders.dataset_options(online)["download"] is True
    with tfds.testing.mock_data(as_dataset_fn=_bair_like):
        dataset, video_shape = builders.build_dataset(online)
        assert video_shape == (16, 64, 64, 3)


def test_ucf101_trains_on_train_and_test_splits():
    splits = []

    def ucf_like(self, split, **kwargs):
        splits.append(split)
        return _ucf_like(self, split, **kwargs)

    with tfds.testing.mock_data(as_dataset_fn=ucf_like):
        dataset = make_dataset("ucf101", "train+test", batch_size=2, num_frames=16, download=True)
        # A training split repeats: more batches than the 3 videos hold.
        batches = list(dataset.take(3))
    assert splits == ["train+test"]
    assert len(batches) == 3 and batches[0]["video"].shape == (2, 16, 64, 64, 3)

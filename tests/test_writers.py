"""`kvdm.io.writers`: a batch of videos to one GIF, MP4 or PNG grid."""

import numpy as np
import pytest

from kvdm.io import VIDEO_SUFFIXES
from kvdm.io import check_video_suffix
from kvdm.io import read_video
from kvdm.io import tile_videos
from kvdm.io import write_videos


def batch(num=2, frames=3, size=8):
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, (num, frames, size, size, 1)).astype("float32")


def test_check_video_suffix():
    for suffix in VIDEO_SUFFIXES:
        assert check_video_suffix("a/b" + suffix.upper()) == suffix
    with pytest.raises(ValueError, match="Received: output=clip.avi"):
        check_video_suffix("clip.avi", "output")


def test_tile_videos_puts_videos_side_by_side():
    videos = batch()
    tiled = tile_videos(videos)
    assert tiled.shape == (3, 8, 16, 1)
    np.testing.assert_array_equal(tiled[:, :, 8:], videos[1])


@pytest.mark.parametrize("suffix", VIDEO_SUFFIXES)
def test_write_videos_makes_folders_and_writes_each_format(tmp_path, suffix):
    path = tmp_path / "new" / f"out{suffix}"
    assert write_videos(str(path), batch(), fps=4) == str(path)
    frames = read_video(str(path), channels=1)
    if suffix == ".png":
        # One row per video, one column per frame, 2 px padding.
        assert frames.shape == (1, 2 * 8 + 2, 3 * 8 + 2 * 2, 1)
    else:
        assert frames.shape[0] >= 1 and frames.shape[2] == 2 * frames.shape[1]


def test_write_videos_refuses_bad_input(tmp_path):
    with pytest.raises(ValueError, match="must end in one of"):
        write_videos(str(tmp_path / "a.avi"), batch())
    with pytest.raises(ValueError, match="videos.shape"):
        write_videos(str(tmp_path / "a.gif"), batch()[0])
    assert not list(tmp_path.iterdir())

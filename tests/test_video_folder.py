import logging

import numpy as np
import pytest
import tensorflow as tf

from kvdm.data import VideoFolder, make_dataset
from kvdm.io import write_gif, write_mp4

# Each good video is one flat gray level, so a decoded window tells which file it came from.
LEVELS = {"a.mp4": 40, "b.avi": 100, "sub/c.gif": 160, "d.mp4": 220}


def _flat_video(level, frames=12, height=24, width=40):
    return np.full((frames, height, width, 3), level, dtype=np.uint8)


def _write(path, video):
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".gif":
        # GIF merges identical frames: vary one pixel so every frame is kept.
        video = video.copy()
        video[:, 0, 0] = np.arange(len(video))[:, None] * 10
        write_gif(path, video, scale=1)
    elif path.suffix == ".avi":
        import av

        with av.open(str(path), mode="w") as container:
            stream = container.add_stream("mpeg4", rate=8)
            stream.width, stream.height, stream.pix_fmt = video.shape[2], video.shape[1], "yuv420p"
            for frame in video:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
    else:
        write_mp4(path, video, scale=1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("videos")
    for name, level in LEVELS.items():
        _write(root / name, _flat_video(level))
    (root / "broken.mp4").write_bytes(b"this is not a video" * 100)
    (root / "empty.webm").write_bytes(b"")
    _write(root / "short.mp4", _flat_video(10, frames=2))
    (root / "notes.txt").write_text("not a video")
    (root / "captions.csv").write_text(
        'file,caption\na.mp4,"a dark clip, very dark"\nsub/c.gif,a light clip\nd.mp4,the lightest clip\n'
    )
    return root


def _level_of(video):
    uint8 = (video + 1.0) * 127.5
    return int(round(float(np.median(uint8))))


def test_reads_videos_with_captions_and_skips_bad_files(folder, caplog):
    source = VideoFolder(folder, "test", num_frames=4, image_size=16, num_parallel_calls=2)
    assert source.files == ["a.mp4", "b.avi", "broken.mp4", "d.mp4", "empty.webm", "short.mp4", "sub/c.gif"]
    with caplog.at_level(logging.WARNING):
        batches = list(source.as_dataset(batch_size=2, drop_remainder=False))
    videos = np.concatenate([b["video"].numpy() for b in batches])
    captions = [c.decode() for b in batches for c in b["caption"].numpy()]
    assert videos.shape == (4, 4, 16, 16, 3) and videos.dtype == np.float32
    assert videos.min() >= -1.0 and videos.max() <= 1.0
    expected_captions = {
        "a.mp4": "a dark clip, very dark",
        "b.avi": "",
        "sub/c.gif": "a light clip",
        "d.mp4": "the lightest clip",
    }
    by_level = {level: expected_captions[name] for name, level in LEVELS.items()}
    for video, caption in zip(videos, captions):
        level = min(by_level, key=lambda known: abs(known - _level_of(video)))
        assert abs(level - _level_of(video)) <= 6
        assert caption == by_level[level]
    assert source.num_corrupt == 2 and source.num_too_short == 1 and source.num_skipped == 3
    assert source.skipped_files == {"broken.mp4", "empty.webm", "short.mp4"}
    assert "broken.mp4" in caplog.text


def test_training_stream_keeps_going_past_bad_files(folder):
    source = VideoFolder(folder, "train", num_frames=3, image_size=16, frame_skip=4, flip=True, seed=1)
    batches = list(source.as_dataset(batch_size=4).take(3))
    assert all(b["video"].shape == (4, 3, 16, 16, 3) for b in batches)
    assert source.num_corrupt >= 2


def test_frame_skip_takes_every_fourth_frame(tmp_path):
    frames = np.repeat(np.arange(0, 240, 20, dtype=np.uint8)[:, None, None, None], 16, axis=1)
    frames = np.repeat(np.repeat(frames, 16, axis=2), 3, axis=3)
    write_mp4(tmp_path / "ramp.mp4", frames, scale=1, crf=0)
    source = VideoFolder(tmp_path, "test", num_frames=3, image_size=16, frame_skip=4, captions=None)
    batch = next(iter(source.as_dataset(batch_size=1)))
    assert "caption" not in batch
    levels = ((batch["video"].numpy()[0] + 1.0) * 127.5).mean(axis=(1, 2, 3))
    np.testing.assert_allclose(levels, [0, 80, 160], atol=3)


def test_same_seed_same_batches(folder):
    def first(seed):
        dataset = make_dataset(
            "video_folder", "train", batch_size=2, num_frames=3, image_size=16, path=folder, seed=seed
        )
        batches = list(dataset.take(3))
        return np.concatenate([b["video"].numpy() for b in batches]), [c for b in batches for c in b["caption"].numpy()]

    (videos, captions), (videos_again, captions_again) = first(3), first(3)
    np.testing.assert_array_equal(videos, videos_again)
    assert captions == captions_again


def test_split_subfolders_and_folder_captions(tmp_path):
    for split, name in (("train", "playing_guitar/x.mp4"), ("test", "surfing/y.mp4")):
        _write(tmp_path / split / name, _flat_video(90, frames=4))
    source = VideoFolder(tmp_path, "test", num_frames=2, image_size=16, captions="folder")
    assert source.files == ["surfing/y.mp4"]
    batch = next(iter(source.as_dataset(batch_size=1)))
    assert batch["caption"].numpy().tolist() == [b"surfing"]
    assert VideoFolder(tmp_path, "train", num_frames=2, captions="folder").captions == ["playing guitar"]


def test_missing_or_empty_folder_is_a_clear_error(tmp_path):
    missing = tmp_path / "no_videos_here"
    with pytest.raises(FileNotFoundError, match="no_videos_here"):
        VideoFolder(missing)
    with pytest.raises(FileNotFoundError, match="no_videos_here"):
        make_dataset("kinetics600", "train", path=missing)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No video files"):
        VideoFolder(tmp_path / "empty")


def test_a_folder_of_only_unreadable_files_stops_with_an_error(tmp_path):
    for name in ("x.mp4", "y.webm"):
        (tmp_path / name).write_bytes(b"junk" * 10)
    source = VideoFolder(tmp_path, "train", num_frames=2, image_size=16)
    with pytest.raises(tf.errors.OpError, match="could not be used"):
        next(iter(source.as_dataset(batch_size=1)))

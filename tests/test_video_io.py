import os

import av
import numpy as np
import pytest
from PIL import Image

from kvdm.data import VideoDecodeError
from kvdm.io import read_video, to_uint8, write_gif, write_mp4, write_png_grid


def smooth_video(frames=8, height=32, width=32, channels=3):
    """A slowly varying colour video in [-1, 1]."""
    t = np.arange(frames)[:, None, None]
    y = np.arange(height)[None, :, None]
    x = np.arange(width)[None, None, :]
    zero = np.zeros((frames, height, width))
    planes = [
        zero + 0.6 * np.sin(x / 9.0 + t / 4.0),
        zero + 0.6 * np.cos(y / 8.0 - t / 5.0),
        zero + 0.4 * np.sin((x + y) / 12.0),
    ]
    return np.stack(planes[:channels], axis=-1).astype(np.float32)


def test_to_uint8_maps_the_range():
    video = np.array([-1.0, 0.0, 1.0, -3.0, 2.0], dtype=np.float32)
    np.testing.assert_array_equal(to_uint8(video), [0, 128, 255, 0, 255])
    uint8 = np.array([1, 2, 3], dtype=np.uint8)
    assert to_uint8(uint8) is uint8


def test_mp4_round_trip(tmp_path):
    video = smooth_video()
    path = tmp_path / "clip.mp4"
    write_mp4(path, video, fps=8, scale=1)
    decoded = read_video(path)
    assert decoded.shape == (8, 32, 32, 3) and decoded.dtype == np.uint8
    error = np.abs(decoded.astype(np.float64) - to_uint8(video)).mean()
    assert error < 8.0, error
    assert os.listdir(tmp_path) == ["clip.mp4"]  # no temporary file left behind


def test_mp4_plays_in_browsers(tmp_path):
    path = tmp_path / "small.mp4"
    write_mp4(path, smooth_video(frames=3, height=15, width=21, channels=1), fps=10)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        width, height = stream.codec_context.width, stream.codec_context.height
    # Upscaled 9 times (nearest neighbour) to at least 128 px, then made even.
    assert (height, width) == (15 * 9 + 1, 21 * 9 + 1)
    assert read_video(path).shape[0] == 3


def test_mp4_nearest_neighbour_scale(tmp_path):
    video = np.zeros((2, 4, 4, 1), dtype=np.uint8)
    video[:, :2] = 255
    path = tmp_path / "blocks.mp4"
    write_mp4(path, video, scale=16, crf=0)
    decoded = read_video(path, channels=1)
    assert decoded.shape == (2, 64, 64, 1)
    assert decoded[:, 4:28].mean() > 240 and decoded[:, 36:60].mean() < 15


def test_gif_round_trip(tmp_path):
    gray = smooth_video(frames=5, channels=1)
    path = tmp_path / "gray.gif"
    write_gif(path, gray, fps=5, scale=1)
    np.testing.assert_array_equal(read_video(path, channels=1), to_uint8(gray))

    colour = smooth_video(frames=5)
    path = tmp_path / "colour.gif"
    write_gif(path, colour, scale=2)
    decoded = read_video(path)
    assert decoded.shape == (5, 64, 64, 3)
    expected = np.repeat(np.repeat(to_uint8(colour), 2, axis=1), 2, axis=2)
    assert np.abs(decoded.astype(np.float64) - expected).mean() < 6.0


def test_png_grid_rows_are_videos_columns_are_frames(tmp_path):
    videos = np.random.default_rng(0).integers(0, 256, size=(2, 3, 5, 4, 3), dtype=np.uint8)
    path = tmp_path / "grid.png"
    write_png_grid(path, videos, padding=1)
    grid = np.asarray(Image.open(path))
    assert grid.shape == (2 * 5 + 1, 3 * 4 + 2, 3)
    np.testing.assert_array_equal(grid[6:11, 10:14], videos[1, 2])
    np.testing.assert_array_equal(grid[0:5, 5:9], videos[0, 1])


def test_read_video_options(tmp_path):
    frames = np.repeat(np.arange(0, 240, 20, dtype=np.uint8)[:, None, None, None], 16, axis=1)
    frames = np.repeat(np.repeat(frames, 16, axis=2), 3, axis=3)
    path = tmp_path / "ramp.mp4"
    write_mp4(path, frames, scale=1, crf=0)
    decoded = read_video(path, start_frame=1, frame_skip=4, num_frames=2, channels=1)
    assert decoded.shape == (2, 16, 16, 1)
    np.testing.assert_allclose(decoded.mean(axis=(1, 2, 3)), [20, 100], atol=3)
    assert read_video(path, size=(8, 12)).shape == (12, 8, 12, 3)


def test_read_video_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        read_video(tmp_path / "missing.mp4")
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00not a video at all" * 50)
    with pytest.raises(VideoDecodeError, match="broken.mp4"):
        read_video(broken)


def test_writers_check_their_input(tmp_path):
    with pytest.raises(ValueError, match="shape"):
        write_mp4(tmp_path / "bad.mp4", np.zeros((2, 8, 8, 4), np.float32))
    with pytest.raises(ValueError, match="fps"):
        write_gif(tmp_path / "bad.gif", np.zeros((2, 8, 8, 1), np.float32), fps=0)
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        write_mp4(tmp_path / "no_such_folder" / "x.mp4", np.zeros((2, 8, 8, 3), np.float32))
    assert os.listdir(tmp_path) == []


@pytest.mark.backends
def test_to_uint8_takes_backend_tensors(tmp_path):
    import keras

    video = keras.ops.convert_to_tensor(smooth_video(frames=2, height=8, width=8))
    np.testing.assert_array_equal(to_uint8(video), to_uint8(smooth_video(frames=2, height=8, width=8)))
    write_gif(tmp_path / "tensor.gif", video, scale=1)
    assert read_video(tmp_path / "tensor.gif").shape == (2, 8, 8, 3)

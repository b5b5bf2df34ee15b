"""One entry point for every video set: `make_dataset(name, ...)`."""

import tensorflow as tf

from kvdm.data.clips import Clips
from kvdm.data.moving_digits import MovingDigits
from kvdm.data.tfds_datasets import class_caption, load_builder, tfds_spec, tfds_video_dataset
from kvdm.data.video_folder import VideoFolder
from kvdm.names import DATASET_ALIASES
from kvdm.names import FOLDER_DATASETS

# With `_TFDS`, keyed by `kvdm.names.DATASETS` (aliases resolved).
_SOURCES = {"moving_digits": MovingDigits, "clips": Clips, "video_folder": VideoFolder, "kinetics600": VideoFolder}
_TFDS = ("bair_robot_pushing_small", "ucf101", "moving_mnist")
_PIPELINE_OPTIONS = ("shuffle", "repeat", "start_batch", "drop_remainder", "prefetch", "image_frames")

DATASET_NAMES = tuple(sorted(_SOURCES)) + _TFDS


def _canonical(name):
    name = DATASET_ALIASES.get(name, name)
    if name not in _SOURCES and name not in _TFDS:
        raise ValueError(
            f"Unknown dataset; expected one of {sorted(DATASET_NAMES + tuple(DATASET_ALIASES))}. Received: name={name!r}"
        )
    return name


def dataset_info(name):
    """Static facts about a dataset, known without reading any data.

    Args:
        name: str. A dataset name accepted by `make_dataset`.

    Returns:
        dict with "name" (canonical), "channels", "has_captions" (bool, or
        "optional" for folders), "splits", "default_image_size" and
        "needs_path" (whether `path=` must be given).
    """
    name = _canonical(name)
    if name in _SOURCES:
        channels, has_captions, image_size = {
            "moving_digits": (1, True, 32),
            "clips": (3, False, 64),
            "video_folder": (3, "optional", 64),
            "kinetics600": (3, "optional", 64),
        }[name]
        return dict(
            name=name,
            channels=channels,
            has_captions=has_captions,
            splits=("train", "test"),
            default_image_size=image_size,
            needs_path=name in FOLDER_DATASETS,
        )
    spec = tfds_spec(name)
    return dict(
        name=name,
        channels=spec["channels"],
        has_captions=name == "ucf101",
        splits=spec["splits"],
        default_image_size=64,
        needs_path=False,
    )


def make_dataset(name, split="train", batch_size=8, num_frames=16, image_size=None, **options):
    """Builds the tf.data pipeline of a video set.

    Every element is a dict {"video": float32 (B, T, H, W, C) in [-1, 1]}
    plus "caption": tf.string (B,) for sets with captions (moving digits,
    folders with captions, UCF101 class names). Batches keep a fixed size
    (`drop_remainder=True`), the order is fixed by `seed`, and batches are
    prefetched. Training splits are shuffled and repeat forever by default;
    test splits are read once, in order.

    Args:
        name: str. "moving_digits", "clips", "video_folder", "kinetics600"
            (a video folder), "bair_robot_pushing_small" (or "bair"),
            "ucf101" or "moving_mnist".
        split: str. "train" or "test" (TFDS sets also accept TFDS split
            slices). Defaults to "train".
        batch_size: int. Videos per batch. Defaults to 8.
        num_frames: int. Frames per video. Defaults to 16.
        image_size: int or None. Height and width. Defaults to None (the
            set's `dataset_info(name)["default_image_size"]`).
        **options: passed on: `seed`, `shuffle`, `repeat`, `start_batch`
            (resume at that batch), `drop_remainder`, `prefetch`,
            `image_frames` (independent images with every video, see
            `VideoSource.as_dataset`; moving_digits and clips), and the
            options of `MovingDigits`, `Clips`, `VideoFolder` (`path` is
            required for folders) or `tfds_video_dataset` (`data_dir`,
            `manual_dir`, `download`, `flip`, `window`, ...).

    Returns:
        A `tf.data.Dataset`.

    Example:

    >>> dataset = make_dataset("moving_digits", "train", batch_size=16, num_frames=16, image_size=32, seed=0)
    >>> model.fit(videos_only(dataset), steps_per_epoch=100)
    """
    name = _canonical(name)
    if image_size is None:
        image_size = dataset_info(name)["default_image_size"]
    if name in _TFDS:
        if options.pop("image_frames", 0):
            raise ValueError(
                "Independent image frames are drawn for moving_digits and clips, not yet "
                f"from TFDS sets. Received: name={name!r}"
            )
        return tfds_video_dataset(name, split, batch_size, num_frames, image_size, **options)
    pipeline = {key: options.pop(key) for key in _PIPELINE_OPTIONS if key in options}
    source = _make_source(name, split, num_frames, image_size, options)
    return source.as_dataset(batch_size, **pipeline)


def _make_source(name, split, num_frames, image_size, options):
    if name in FOLDER_DATASETS:
        if "path" not in options:
            raise ValueError(f"'{name}' needs the folder of videos: pass path=... Received: options={options}")
        options = dict(options)
        return VideoFolder(options.pop("path"), split, num_frames, image_size, **options)
    return _SOURCES[name](split, num_frames, image_size, **options)


def caption_vocabulary(name, split="train", num_frames=16, image_size=None, **options):
    """The distinct captions a set's pipeline can yield, sorted, or None.

    Takes the arguments of `make_dataset` (pipeline-only ones such as
    `batch_size` are ignored) and reads no video. Moving digits list their
    captions, folders the captions of `captions.csv` ("" for videos it does
    not name), UCF101 its class names; the other sets have none.

    Example:

    >>> caption_vocabulary("moving_digits", num_frames=8, image_size=32)[:2]
    ['the digit 0 moves down', 'the digit 0 moves down and to the left']
    """
    name = _canonical(name)
    options = {k: v for k, v in options.items() if k not in _PIPELINE_OPTIONS + ("batch_size",)}
    if image_size is None:
        image_size = dataset_info(name)["default_image_size"]
    if name in _TFDS:
        if name != "ucf101":
            return None
        builder = load_builder(
            name, **{k: options[k] for k in ("config", "data_dir", "manual_dir", "download") if k in options}
        )
        return sorted({class_caption(n) for n in builder.info.features["label"].names})
    return _make_source(name, split, num_frames, image_size, options).caption_vocabulary()


def videos_only(dataset):
    """Keeps only the "video" tensor of each element (e.g. to feed `fit` on JAX or PyTorch)."""
    return dataset.map(lambda element: element["video"], num_parallel_calls=tf.data.AUTOTUNE)

"""TensorFlow Datasets video sets: BAIR robot pushing, UCF101, Moving MNIST.

Nothing is downloaded unless asked for (`download=True`; in a recipe,
`data.download: true`). Before TFDS is
touched, the files are looked for on disk: a prepared dataset in `data_dir`,
or the original archive in `manual_dir`. When neither is there, a
`DatasetNotFoundError` names the exact files and folders at once, instead of
TFDS retrying the network for minutes.
"""

import glob
import os
import re

import tensorflow as tf

from kvdm.data.video_source import uint8_to_float

_TFDS_SPECS = {
    "bair_robot_pushing_small": {
        "builder": "bair_robot_pushing_small",
        "config": None,
        "version": "2.0.0",
        "channels": 3,
        "image_size": 64,
        "frames": 30,
        "key": "image_main",
        "archives": (
            (
                "bair_robot_pushing_dataset_v0.tar",
                "http://rail.eecs.berkeley.edu/datasets/bair_robot_pushing_dataset_v0.tar",
                "30 GiB",
            ),
        ),
        "splits": ("train", "test"),
    },
    "ucf101": {
        "builder": "ucf101",
        "config": "ucf101_1_256",
        "version": "2.0.0",
        "channels": 3,
        "image_size": 256,
        "frames": None,
        "key": "video",
        "archives": (
            ("UCF101_videos.zip", "https://storage.googleapis.com/thumos14_files/UCF101_videos.zip", "6.5 GiB"),
        ),
        "splits": ("train", "test"),
    },
    "moving_mnist": {
        "builder": "moving_mnist",
        "config": None,
        "version": "1.0.0",
        "channels": 1,
        "image_size": 64,
        "frames": 20,
        "key": "image_sequence",
        "archives": (
            (
                "mnist_test_seq.npy",
                "http://www.cs.toronto.edu/~nitish/unsupervised_video/mnist_test_seq.npy",
                "780 MiB",
            ),
        ),
        "splits": ("test",),
    },
}


class DatasetNotFoundError(FileNotFoundError):
    """Raised when a TFDS dataset is neither prepared nor downloadable here."""


def tfds_spec(name):
    """The facts kvdm keeps about a TFDS video set (channels, sizes, files)."""
    if name not in _TFDS_SPECS:
        raise ValueError(f"Unknown TFDS video set; expected one of {sorted(_TFDS_SPECS)}. Received: name={name!r}")
    return dict(_TFDS_SPECS[name])


def default_data_dir():
    """TFDS' data folder: $TFDS_DATA_DIR, else ~/tensorflow_datasets."""
    return os.environ.get("TFDS_DATA_DIR") or os.path.join(os.path.expanduser("~"), "tensorflow_datasets")


def prepared_dir(name, config=None, data_dir=None):
    """Folder of a prepared copy of the dataset, or None when there is none."""
    spec = tfds_spec(name)
    config = spec["config"] if config is None else config
    data_dir = os.fspath(data_dir) if data_dir is not None else default_data_dir()
    base = os.path.join(data_dir, spec["builder"], *([config] if config else []))
    found = sorted(glob.glob(os.path.join(base, "*", "dataset_info.json")))
    return os.path.dirname(found[-1]) if found else None


def _missing_message(name, spec, config, data_dir, manual_dir, missing, extra=""):
    variant = os.path.join(data_dir, spec["builder"], *([config] if config else []), spec["version"])
    lines = [
        f"The TFDS dataset '{name}' is not on disk and downloading is off (data.download: false), "
        "so nothing was fetched. Either:"
    ]
    lines.append(f"  - copy an already prepared copy (with dataset_info.json) into {variant}/, or")
    for filename, url, size in missing:
        lines.append(
            f"  - put the archive {filename} ({size}, from {url}) at {os.path.join(manual_dir, filename)} "
            "(it is prepared on first use), or"
        )
    if extra:
        lines.append(f"    {extra}")
    lines.append(
        "  - set `data.download: true` in the recipe (or pass download=True in Python) to let TFDS "
        "download and prepare it (needs network)."
    )
    lines.append(f"Received: name={name}, data_dir={data_dir}, manual_dir={manual_dir}")
    return "\n".join(lines)


def load_builder(name, config=None, data_dir=None, manual_dir=None, download=False):
    """Returns a prepared TFDS builder, preparing it from local archives if needed.

    Args:
        name: str. "bair_robot_pushing_small", "ucf101" or "moving_mnist".
        config: str or None. TFDS builder config (UCF101: "ucf101_1_256",
            "ucf101_1", ...). Defaults to None (kvdm's default config).
        data_dir: str or None. TFDS data folder. Defaults to None
            ($TFDS_DATA_DIR or ~/tensorflow_datasets).
        manual_dir: str or None. Folder holding manually downloaded
            archives. Defaults to None (`<data_dir>/downloads/manual`).
        download: bool. Allow TFDS to download. Defaults to False.

    Raises:
        DatasetNotFoundError: nothing on disk and `download=False`; the
            message names the files to put where.
    """
    import tensorflow_datasets as tfds

    spec = tfds_spec(name)
    config = spec["config"] if config is None else config
    data_dir = os.fspath(data_dir) if data_dir is not None else default_data_dir()
    manual_dir = os.fspath(manual_dir) if manual_dir is not None else os.path.join(data_dir, "downloads", "manual")
    full_name = spec["builder"] + (f"/{config}" if config else "")
    if prepared_dir(name, config, data_dir) is not None:
        return tfds.builder(full_name, data_dir=data_dir)

    missing = [a for a in spec["archives"] if not os.path.isfile(os.path.join(manual_dir, a[0]))]
    extra = ""
    if name == "ucf101" and not download:
        # The split lists (UCF101TrainTestSplits-RecognitionTask.zip) have no
        # fixed file name in TFDS, so preparing always fetches them (114 KB).
        extra = (
            "(UCF101 also needs its split lists, 114 KB from www.crcv.ucf.edu, which TFDS always fetches "
            "while preparing: prepare it once with data.download: true; the video archive is then taken "
            "from manual_dir)"
        )
        missing = list(spec["archives"])
    if missing and not download:
        raise DatasetNotFoundError(_missing_message(name, spec, config, data_dir, manual_dir, missing, extra))

    builder = tfds.builder(full_name, data_dir=data_dir)
    download_config = tfds.download.DownloadConfig(manual_dir=manual_dir, try_download_gcs=False)
    builder.download_and_prepare(download_dir=os.path.join(data_dir, "downloads"), download_config=download_config)
    return builder


def class_caption(label):
    """A caption from a class name: "ApplyEyeMakeup" -> "apply eye makeup"."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", label.replace("_", " ")).lower()


def tfds_video_dataset(
    name,
    split="train",
    batch_size=8,
    num_frames=16,
    image_size=None,
    frame_skip=1,
    window=None,
    flip=None,
    seed=0,
    shuffle=None,
    repeat=None,
    start_batch=0,
    shuffle_buffer=256,
    drop_remainder=True,
    prefetch=True,
    config=None,
    data_dir=None,
    manual_dir=None,
    download=False,
):
    """A TFDS video set as batches of windows in [-1, 1].

    Args:
        name: str. "bair_robot_pushing_small", "ucf101" or "moving_mnist".
        split: str. A TFDS split, slices and sums allowed ("train",
            "test[:90%]", "train+test": all 13,320 UCF101 videos, as the
            paper trained on). Splits starting with "train" are training
            splits. Moving MNIST has only "test". Defaults to "train".
        batch_size: int. Videos per batch. Defaults to 8.
        num_frames: int. Frames per window. Defaults to 16.
        image_size: int or None. Output height and width (area resizing).
            Defaults to None (64 for UCF101, the native size otherwise).
        frame_skip: int. Keep every `frame_skip`-th frame. Defaults to 1.
        window: str or None. "random" (a random start) or "start" (the first
            frames; for BAIR the benchmark's 1 context + 15 frames). Defaults
            to None ("random" for training splits, "start" otherwise).
        flip: bool or None. Random left-right flips. Defaults to None (True
            for BAIR training, the paper's only augmentation; else False).
        seed: int. Seed of shuffling, windows and flips. Defaults to 0.
        shuffle: bool or None. Defaults to None (True for training splits).
        repeat: bool or None. Defaults to None (True for training splits).
        start_batch: int. First batch (resuming). TFDS sets are read
            sequentially, so the skipped examples are still read. Defaults to 0.
        shuffle_buffer: int. Windows in the shuffle buffer. Defaults to 256.
        drop_remainder: bool. Defaults to True.
        prefetch: bool. Defaults to True.
        config: str or None. TFDS builder config. Defaults to None.
        data_dir: str or None. TFDS data folder. Defaults to None.
        manual_dir: str or None. Folder of manually downloaded archives.
            Defaults to None (`<data_dir>/downloads/manual`).
        download: bool. Allow downloading. Defaults to False.

    Returns:
        `tf.data.Dataset` of {"video": float32 (B, T, H, W, C)} and, for
        UCF101, "caption": the class name (tf.string (B,)).
    """
    import tensorflow_datasets as tfds

    spec = tfds_spec(name)
    training = split.startswith("train")
    window = ("random" if training else "start") if window is None else window
    if window not in ("random", "start"):
        raise ValueError(f"`window` must be 'random' or 'start'. Received: window={window!r}")
    if flip is None:
        flip = training and name == "bair_robot_pushing_small"
    shuffle = training if shuffle is None else bool(shuffle)
    repeat = training if repeat is None else bool(repeat)
    if image_size is None:
        image_size = 64 if name == "ucf101" else spec["image_size"]
    span = (int(num_frames) - 1) * int(frame_skip) + 1
    if spec["frames"] is not None and span > spec["frames"]:
        raise ValueError(
            f"'{name}' videos have {spec['frames']} frames; a window of num_frames={num_frames} "
            f"with frame_skip={frame_skip} needs {span}. Received: num_frames={num_frames}"
        )
    builder = load_builder(name, config=config, data_dir=data_dir, manual_dir=manual_dir, download=download)
    read_config = tfds.ReadConfig(shuffle_seed=seed, interleave_cycle_length=1 if not shuffle else 16)
    dataset = builder.as_dataset(split=split, shuffle_files=shuffle, read_config=read_config)
    label_names = None
    if name == "ucf101":
        label_names = tf.constant([class_caption(n) for n in builder.info.features["label"].names])
    if repeat:
        dataset = dataset.repeat()
    channels, size, frame_skip = spec["channels"], int(image_size), int(frame_skip)
    num_frames = int(num_frames)

    def to_window(position, example):
        video = example[spec["key"]]
        length = tf.shape(video)[0]
        element_seed = tf.stack([tf.cast(seed, tf.int64), position])
        if window == "random":
            start = tf.random.stateless_uniform(
                (), element_seed, minval=0, maxval=length - span + 1, dtype=tf.int32
            )
        else:
            start = 0
        video = video[start : start + span : frame_skip]
        video = uint8_to_float(video)
        if video.shape[1] != size or video.shape[2] != size:
            video = tf.image.resize(video, (size, size), method="area", antialias=True)
        if flip:
            coin = tf.random.stateless_uniform((), element_seed + [0, 1], 0, 2, dtype=tf.int32)
            video = tf.cond(coin > 0, lambda: tf.reverse(video, axis=[2]), lambda: video)
        video = tf.ensure_shape(video, (num_frames, size, size, channels))
        element = {"video": video}
        if label_names is not None:
            element["caption"] = tf.gather(label_names, example["label"])
        return element

    def long_enough(position, example):
        return tf.shape(example[spec["key"]])[0] >= span

    dataset = dataset.enumerate()
    if spec["frames"] is None:
        dataset = dataset.filter(long_enough)
    dataset = dataset.map(to_window, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if shuffle:
        dataset = dataset.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(int(batch_size), drop_remainder=drop_remainder)
    if start_batch:
        dataset = dataset.skip(int(start_batch))
    if prefetch:
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return dataset


def bair_robot_pushing(split="train", batch_size=8, num_frames=16, image_size=64, **options):
    """BAIR robot pushing (64x64, 30-frame videos) as in the paper.

    Training windows are 16 random consecutive frames with left-right flips;
    the "test" split gives the first 16 frames of each of the 256 test
    videos, i.e. the benchmark's 1 context frame + 15 frames to predict.
    Other options as in `tfds_video_dataset`.
    """
    return tfds_video_dataset(
        "bair_robot_pushing_small", split, batch_size, num_frames, image_size, **options
    )


def ucf101(split="train", batch_size=8, num_frames=16, image_size=64, **options):
    """UCF101 (builder config "ucf101_1_256") resized to 64x64, 16-frame windows.

    The caption is the action class name ("apply eye makeup"). Other options
    as in `tfds_video_dataset`.
    """
    return tfds_video_dataset("ucf101", split, batch_size, num_frames, image_size, **options)


def moving_mnist(split="test", batch_size=8, num_frames=16, image_size=64, **options):
    """Moving MNIST (10,000 videos of 20 frames, 64x64, one "test" split).

    Use slices of "test" for a train/validation split, e.g. "test[:9000]"
    and "test[9000:]". Other options as in `tfds_video_dataset`.
    """
    return tfds_video_dataset("moving_mnist", split, batch_size, num_frames, image_size, **options)

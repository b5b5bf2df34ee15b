"""Video data sets as tf.data pipelines of {"video": float32 [-1, 1] (B, T, H, W, C), "caption": tf.string (B,)}.

The in-process sources (`MovingDigits`, `Clips`) also render numpy batches
(`VideoSource.numpy_batch`) and import without TensorFlow; the names that
build tf.data or tfds pipelines load TensorFlow when first used.
"""

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # What the names are, for readers and documentation tools.
    from kvdm.data.clips import Clips
    from kvdm.data.decode import VideoDecodeError, decode_video
    from kvdm.data.moving_digits import MovingDigits
    from kvdm.data.registry import DATASET_NAMES, caption_vocabulary, dataset_info, make_dataset, videos_only
    from kvdm.data.tfds_datasets import (
        DatasetNotFoundError,
        bair_robot_pushing,
        moving_mnist,
        tfds_video_dataset,
        ucf101,
    )
    from kvdm.data.video_folder import VideoFolder
    from kvdm.data.video_source import VideoSource

# Public name -> module that defines it (imported on first access).
_EXPORTS = {
    "Clips": "kvdm.data.clips",
    "DATASET_NAMES": "kvdm.data.registry",
    "DatasetNotFoundError": "kvdm.data.tfds_datasets",
    "MovingDigits": "kvdm.data.moving_digits",
    "VideoDecodeError": "kvdm.data.decode",
    "VideoFolder": "kvdm.data.video_folder",
    "VideoSource": "kvdm.data.video_source",
    "bair_robot_pushing": "kvdm.data.tfds_datasets",
    "caption_vocabulary": "kvdm.data.registry",
    "dataset_info": "kvdm.data.registry",
    "decode_video": "kvdm.data.decode",
    "make_dataset": "kvdm.data.registry",
    "moving_mnist": "kvdm.data.tfds_datasets",
    "tfds_video_dataset": "kvdm.data.tfds_datasets",
    "ucf101": "kvdm.data.tfds_datasets",
    "videos_only": "kvdm.data.registry",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'kvdm.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name]), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))

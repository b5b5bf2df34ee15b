"""Video data sets as tf.data pipelines of {"video": float32 [-1, 1] (B, T, H, W, C), "caption": tf.string (B,)}."""

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

__all__ = [
    "Clips",
    "DATASET_NAMES",
    "DatasetNotFoundError",
    "MovingDigits",
    "VideoDecodeError",
    "VideoFolder",
    "VideoSource",
    "bair_robot_pushing",
    "caption_vocabulary",
    "dataset_info",
    "decode_video",
    "make_dataset",
    "moving_mnist",
    "tfds_video_dataset",
    "ucf101",
    "videos_only",
]

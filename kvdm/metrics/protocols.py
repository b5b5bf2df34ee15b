"""The paper's evaluation protocols as named presets, and the feature networks' inputs.

Each protocol is data: which videos are real, how samples are made (context
frames given, frames generated), how many, and which scores. `kvdm eval
SOURCE --protocol NAME` runs one (`kvdm.metrics.evaluation`). This module
imports neither Keras nor TensorFlow (only `check_data` loads TensorFlow, to
look for a TFDS set), so that a bad protocol name is refused at once.
"""

import dataclasses
import os

# The inputs of the feature networks, written once: every video or image is
# resized to this size with the TF1 bilinear rule of the reference
# pipelines (`kvdm.metrics.resize.resize_bilinear`) and given in [-1, 1].
FEATURE_NETWORKS = {
    "i3d": {"size": (224, 224), "resize": "bilinear", "features": "400 Kinetics-400 logits (FVD)"},
    "inception": {"size": (299, 299), "resize": "bilinear", "features": "2048 pool3 features (FID)"},
}

# Protocol data sets read through TensorFlow Datasets.
TFDS_DATASETS = ("bair", "ucf101")


@dataclasses.dataclass(frozen=True)
class Protocol:
    """An evaluation protocol.

    Args:
        name: str. Its `--protocol` name.
        title: str. One line for reports.
        dataset: str. The real videos: a `kvdm.data` name.
        split: str. Their split.
        num_frames: int. Frames of every scored video (context included).
        image_size: int or None. Frame size of the real videos; None uses
            the model's.
        context_frames: int. Real frames given to the model (0:
            unconditional generation).
        num_samples: int. Generated videos.
        num_reference: int or None. Real videos (None: as many as samples).
        samples_per_video: int or None. For prediction with a fixed test
            set: samples drawn from each test video's context.
        scores: tuple of str. What is reported: "fvd", "is_i3d",
            "psnr", "ssim", "digits".
        paper: str. Where the protocol comes from, and what of it is not
            reproduced.
    """

    name: str
    title: str
    dataset: str
    split: str
    num_frames: int
    image_size: int | None
    context_frames: int
    num_samples: int
    num_reference: int | None
    samples_per_video: int | None
    scores: tuple
    paper: str

    def to_dict(self):
        return dataclasses.asdict(self)


PROTOCOLS = {
    "bair": Protocol(
        name="bair",
        title="BAIR robot pushing video prediction, 1 frame -> 15 (64x64)",
        dataset="bair",
        split="test",
        num_frames=16,
        image_size=64,
        context_frames=1,
        num_samples=100 * 256,
        num_reference=256,
        samples_per_video=100,
        scores=("fvd",),
        paper=(
            "Section 4.2, Table 2: FVD (I3D) of 100 samples for each of the 256 test videos "
            "(first 16 frames, conditioned on the first) against those 256 videos."
        ),
    ),
    "kinetics600": Protocol(
        name="kinetics600",
        title="Kinetics-600 video prediction, 5 frames -> 11 (64x64)",
        dataset="kinetics600",
        split="test",
        num_frames=16,
        image_size=64,
        context_frames=5,
        num_samples=50_000,
        num_reference=None,
        samples_per_video=1,
        scores=("fvd", "is_i3d"),
        paper=(
            "Section 4.2, Table 3: 50,000 test videos sampled without replacement, a random "
            "16-frame window of each, conditioned on its first 5 frames; FVD and Inception Score "
            "with I3D, the same windows serving as ground truth."
        ),
    ),
    "ucf101": Protocol(
        name="ucf101",
        title="UCF101 unconditional generation, 16 frames (64x64)",
        dataset="ucf101",
        split="train+test",
        num_frames=16,
        image_size=64,
        context_frames=0,
        num_samples=10_000,
        num_reference=None,
        samples_per_video=None,
        scores=("fvd",),
        paper=(
            "Section 4.1, Table 1 reports FID and IS of 10,000 samples with the C3D network of "
            "TGAN2, whose weights are not available offline; kvdm reports FVD (I3D) of the same "
            "samples against random windows of all 13,320 videos instead, which is not the "
            "paper's figure."
        ),
    ),
    "moving_digits": Protocol(
        name="moving_digits",
        title="MovingDigits unconditional generation, 16 frames (offline)",
        dataset="moving_digits",
        split="test",
        num_frames=16,
        image_size=None,
        context_frames=0,
        num_samples=64,
        num_reference=None,
        samples_per_video=None,
        scores=("fvd", "digits"),
        paper=(
            "Not in the paper: an offline check on the MovingDigits test split (digit images "
            "never seen in training), FVD (I3D, grey frames as RGB) at a small sample count "
            "plus the in-domain DigitEvaluator figures."
        ),
    ),
    "moving_digits_prediction": Protocol(
        name="moving_digits_prediction",
        title="MovingDigits video prediction, 1 frame -> 15 (offline)",
        dataset="moving_digits",
        split="test",
        num_frames=16,
        image_size=None,
        context_frames=1,
        num_samples=64,
        num_reference=None,
        samples_per_video=1,
        scores=("fvd", "psnr", "ssim", "digits"),
        paper=(
            "Not in the paper: prediction from the first frame of MovingDigits test videos, "
            "with FVD, PSNR and SSIM of the 15 predicted frames against the true ones, and the "
            "DigitEvaluator figures."
        ),
    ),
}


def get_protocol(name):
    """The protocol called `name`; a `ValueError` lists the names otherwise."""
    if name not in PROTOCOLS:
        raise ValueError(f"Unknown protocol; expected one of {sorted(PROTOCOLS)}. Received: protocol={name!r}")
    return PROTOCOLS[name]


def plan(protocol, num_samples=None):
    """How many real videos are read and how many samples each one gets.

    With `num_samples` the protocol is scaled down (or up): a protocol with a
    fixed test set and several samples per video (BAIR) keeps its real set,
    cut to `num_samples` videos when smaller, and draws
    `max(1, num_samples // real)` samples from each; the others read
    `num_samples` real videos and draw one sample (or the protocol's number)
    from each.

    Returns:
        `(num_real, samples_per_real)`.
    """
    per_video = protocol.samples_per_video or 1
    if num_samples is None:
        if protocol.num_reference is not None:
            return protocol.num_reference, per_video
        return protocol.num_samples // per_video, per_video
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 2:
        raise ValueError(f"`num_samples` must be an integer >= 2. Received: num_samples={num_samples!r}")
    if protocol.num_reference is not None and protocol.samples_per_video:
        real = min(protocol.num_reference, num_samples)
        return real, max(1, num_samples // real)
    return max(2, num_samples // per_video), per_video


def check_data(protocol, data_dir=None, data_path=None):
    """Fails at once when the protocol's real videos are not on disk.

    MovingDigits needs nothing. Kinetics-600 needs `data_path`, a folder of
    its clips with a `test/` sub-folder. BAIR and UCF101 need a prepared
    TFDS copy or the archive in `<data_dir>/downloads/manual` (the message
    of `kvdm.data.tfds_datasets.load_builder` names the exact files).

    Args:
        protocol: `Protocol`.
        data_dir: str or None. TFDS data folder ($TFDS_DATA_DIR or
            ~/tensorflow_datasets when None).
        data_path: str or None. Folder of video files (Kinetics-600).

    Raises:
        FileNotFoundError: naming the folder or file to provide.
    """
    if protocol.dataset == "moving_digits":
        return
    if protocol.dataset == "kinetics600":
        if data_path is None:
            raise FileNotFoundError(
                "The kinetics600 protocol needs the Kinetics-600 test clips: pass --data-path FOLDER, "
                "a folder holding test/<class>/<clip>.mp4. Received: data_path=None"
            )
        test = os.path.join(os.fspath(data_path), protocol.split)
        if not os.path.isdir(test):
            raise FileNotFoundError(
                f"The kinetics600 protocol reads the folder {test} (Kinetics-600 test clips, "
                f"<class>/<clip>.mp4), which does not exist. Received: data_path={data_path}"
            )
        return
    from kvdm.data.tfds_datasets import default_data_dir
    from kvdm.data.tfds_datasets import load_builder
    from kvdm.data.tfds_datasets import prepared_dir
    from kvdm.data.tfds_datasets import tfds_spec
    from kvdm.names import DATASET_ALIASES

    name = DATASET_ALIASES.get(protocol.dataset, protocol.dataset)
    if prepared_dir(name, data_dir=data_dir) is not None:
        return
    manual_dir = os.path.join(os.fspath(data_dir or default_data_dir()), "downloads", "manual")
    archives = [os.path.join(manual_dir, archive[0]) for archive in tfds_spec(name)["archives"]]
    # UCF101 also needs split lists that TFDS always fetches: without a
    # prepared copy it is missing whatever the archives.
    if name == "ucf101" or not all(os.path.isfile(path) for path in archives):
        # Raises `DatasetNotFoundError` naming the files and folders.
        load_builder(name, data_dir=data_dir, download=False)

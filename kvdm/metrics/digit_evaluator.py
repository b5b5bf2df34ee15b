"""An in-domain evaluator of MovingDigits videos: identity, confidence, motion."""

import pathlib

import numpy as np

from kvdm.metrics.frechet import frechet_distance

_WEIGHTS = pathlib.Path(__file__).resolve().parent / "assets" / "digit_classifier.weights.h5"
# The classifier sees 32x32 frames; other sizes are resized to this first.
CLASSIFIER_SIZE = 32
FEATURE_DIM = 128


def build_digit_classifier():
    """The frame classifier: a small translation-invariant CNN.

    Takes `(N, 32, 32, 1)` frames in `[-1, 1]` and returns a dict with the
    10 digit logits (`"logits"`) and the 128 penultimate features
    (`"features"`) that the Frechet distance compares.
    """
    import keras

    frames = keras.Input((CLASSIFIER_SIZE, CLASSIFIER_SIZE, 1), name="frames")
    x = frames
    for index, filters in enumerate((32, 64, 128)):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv_{index}_a")(x)
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv_{index}_b")(x)
        if index < 2:
            x = keras.layers.MaxPooling2D(2, name=f"pool_{index}")(x)
    # Max over positions: the digit may be anywhere in the frame.
    x = keras.layers.GlobalMaxPooling2D(name="global_pool")(x)
    features = keras.layers.Dense(FEATURE_DIM, activation="relu", name="features")(x)
    logits = keras.layers.Dense(10, name="logits")(features)
    return keras.Model(frames, {"logits": logits, "features": features}, name="digit_classifier")


def _to_frames(videos):
    """`(B, T, H, W, C)` in [-1, 1] -> float32 `(B*T, 32, 32, 1)` frames."""
    videos = np.asarray(videos, dtype=np.float32)
    if videos.ndim != 5:
        raise ValueError(
            "Videos must have shape (batch, frames, height, width, channels). "
            f"Received: videos.shape={videos.shape}"
        )
    batch, frames, height, width, channels = videos.shape
    if channels != 1:
        # Digits are white on black: any colour video is judged by its mean.
        videos = videos.mean(axis=-1, keepdims=True)
    flat = videos.reshape(batch * frames, height, width, 1)
    if (height, width) != (CLASSIFIER_SIZE, CLASSIFIER_SIZE):
        import tensorflow as tf

        flat = tf.image.resize(flat, (CLASSIFIER_SIZE, CLASSIFIER_SIZE), method="area").numpy()
    return np.clip(flat, -1.0, 1.0)


def shuffle_frames(videos, seed=0):
    """The floor of the identity figures: each frame from a random other video.

    Frame `t` of output video `b` is frame `t` of input video `perm_t[b]`,
    with an independent permutation per frame position, so every output
    video mixes frames of different videos while each frame stays real.
    """
    videos = np.asarray(videos)
    rng = np.random.default_rng(seed)
    out = np.empty_like(videos)
    for t in range(videos.shape[1]):
        out[:, t] = videos[rng.permutation(videos.shape[0]), t]
    return out


def centroids(videos):
    """Brightness-weighted centre of each frame, `(B, T, 2)` as (y, x) pixels."""
    videos = np.asarray(videos, dtype=np.float64)
    mass = np.clip((videos.mean(axis=-1) + 1.0) / 2.0, 0.0, None)
    height, width = mass.shape[2], mass.shape[3]
    total = mass.sum(axis=(2, 3)) + 1e-8
    y = (mass * np.arange(height)[:, None]).sum(axis=(2, 3)) / total
    x = (mass * np.arange(width)[None, :]).sum(axis=(2, 3)) / total
    return np.stack([y, x], axis=-1)


def label_counts(labels):
    """Frames of each video per digit: `(B, T)` labels -> `(B, 10)` counts."""
    labels = np.asarray(labels)
    return np.stack([(labels == k).sum(axis=1) for k in range(10)], axis=-1)


def first_step_direction(videos, min_step=0.25):
    """Direction of each video's first move, as an index of MovingDigits'.

    The brightness centroid's move from frame 0 to frame 1 is given the
    nearest of the eight directions of `kvdm.data.moving_digits.DIRECTIONS`
    by angle (a MovingDigits caption names the direction of the first
    step, which never bounces). A move shorter than `min_step` pixels is
    no direction: -1.

    Args:
        videos: array `(B, T, H, W, C)` in `[-1, 1]`, `T >= 2`.
        min_step: float. Shortest move, in pixels, that has a direction.

    Returns:
        int array `(B,)` in `[-1, 8)`.
    """
    from kvdm.data.moving_digits import DIRECTIONS

    step = np.diff(centroids(videos)[:, :2], axis=1)[:, 0]
    units = DIRECTIONS / np.linalg.norm(DIRECTIONS, axis=-1, keepdims=True)
    nearest = (step @ units.T).argmax(axis=-1)
    return np.where(np.linalg.norm(step, axis=-1) >= min_step, nearest, -1)


class DigitEvaluator:
    """Scores MovingDigits-like videos with a classifier of real digit frames.

    Built on a small CNN trained on frames of the MovingDigits train split
    (weights ship with kvdm; `bench/train_digit_classifier.py` remakes them).
    It reports, for a batch of one-digit videos:

    - `confidence`: mean top-class probability of a frame;
    - `one_label_share`: share of videos whose frames all get one label;
    - `majority_share`: mean share of a video's frames on its most common
      label (1.0 for a perfectly consistent video; about the label
      distribution's mode for frames shuffled across videos);
    - `centroid_jump`: mean distance in pixels that the brightness centroid
      moves between consecutive frames (0 for a still video);
    - `centroid_jerk`: mean size of the centroid's second difference, in
      pixels per frame squared (small for steady motion);
    - `frechet_distance` against reference videos (`reference=`): the
      Frechet distance between Gaussians fitted to per-video features (the
      mean and standard deviation over frames of the classifier's 128
      penultimate features). It is an in-domain figure named for what it is,
      not FVD.

    Every figure is meant to be read beside the same figure for real test
    videos (the ceiling) and for frames shuffled across videos
    (`shuffle_frames`, the floor).

    Args:
        weights: str or None. A `.weights.h5` file; `None` uses the shipped
            weights. Defaults to `None`.
        batch_size: int. Frames classified per call. Defaults to `512`.

    Example:
    ```python
    evaluator = DigitEvaluator()
    scores = evaluator.evaluate(videos, reference=real_videos)
    scores["majority_share"], scores["frechet_distance"]
    ```
    """

    def __init__(self, weights=None, batch_size=512):
        weights = _WEIGHTS if weights is None else pathlib.Path(weights)
        if not weights.is_file():
            raise FileNotFoundError(
                "The digit classifier weights were not found; run "
                f"`python bench/train_digit_classifier.py` to make them. Received: weights={weights}"
            )
        self.model = build_digit_classifier()
        self.model.load_weights(str(weights))
        self.batch_size = int(batch_size)

    def classify(self, videos):
        """Per-frame probabilities `(B, T, 10)` and features `(B, T, 128)`."""
        videos = np.asarray(videos)
        frames = _to_frames(videos)
        outputs = self.model.predict(frames, batch_size=self.batch_size, verbose=0)
        logits = np.asarray(outputs["logits"], dtype=np.float64)
        logits -= logits.max(axis=-1, keepdims=True)
        probs = np.exp(logits)
        probs /= probs.sum(axis=-1, keepdims=True)
        shape = videos.shape[:2]
        features = np.asarray(outputs["features"], dtype=np.float64)
        return probs.reshape(shape + (10,)), features.reshape(shape + (FEATURE_DIM,))

    @staticmethod
    def video_features(frame_features):
        """Per-video features: mean and std over frames, `(B, 256)`."""
        return np.concatenate([frame_features.mean(axis=1), frame_features.std(axis=1)], axis=-1)

    def evaluate(self, videos, reference=None):
        """The figures listed in the class docstring, as a dict of floats.

        Args:
            videos: array `(B, T, H, W, C)` in `[-1, 1]`.
            reference: optional array of real videos (same layout) for the
                Frechet distance; its figure is omitted when `None`.

        Returns:
            A dict with `num_videos`, `num_frames`, `confidence`,
            `one_label_share`, `majority_share`, `centroid_jump`,
            `centroid_jerk` and, with a reference, `frechet_distance` and
            `num_reference_videos`.
        """
        videos = np.asarray(videos)
        probs, features = self.classify(videos)
        counts = label_counts(probs.argmax(axis=-1))
        frames = videos.shape[1]
        centre = centroids(videos)
        steps = np.diff(centre, axis=1)
        scores = {
            "num_videos": int(videos.shape[0]),
            "num_frames": int(frames),
            "confidence": float(probs.max(axis=-1).mean()),
            "one_label_share": float((counts.max(axis=-1) == frames).mean()),
            "majority_share": float((counts.max(axis=-1) / frames).mean()),
            "centroid_jump": float(np.linalg.norm(steps, axis=-1).mean()) if frames > 1 else 0.0,
            "centroid_jerk": float(np.linalg.norm(np.diff(steps, axis=1), axis=-1).mean()) if frames > 2 else 0.0,
        }
        if reference is not None:
            _, reference_features = self.classify(reference)
            scores["frechet_distance"] = frechet_distance(
                self.video_features(features), self.video_features(reference_features)
            )
            scores["num_reference_videos"] = int(np.asarray(reference).shape[0])
        return scores

    def label_kept(self, videos, labels, start=0):
        """Share of frames from `start` on that the classifier gives `labels`.

        For conditional generation: `labels` `(B,)` is the digit of each
        input video, `start` the first generated frame.
        """
        probs, _ = self.classify(np.asarray(videos)[:, start:])
        return float((probs.argmax(axis=-1) == np.asarray(labels)[:, None]).mean())


def _digit_frames(split, num_videos, seed):
    """Frames `(N, 32, 32, 1)` in [-1, 1] and labels of one-digit MovingDigits videos."""
    from kvdm.data.moving_digits import MovingDigits

    source = MovingDigits(split, num_frames=8, image_size=CLASSIFIER_SIZE, num_videos=num_videos, seed=seed)
    videos, _ = source.render(np.arange(num_videos))
    rng = np.random.default_rng(seed)
    # Two random frames per video: many positions, every digit image.
    picks = rng.integers(0, videos.shape[1], size=(num_videos, 2))
    frames = np.concatenate([videos[np.arange(num_videos), picks[:, k]] for k in range(2)])
    labels = np.concatenate([source.labels[:, 0]] * 2)
    return frames.astype(np.float32) / 127.5 - 1.0, labels


def train_digit_classifier(path=None, epochs=4, num_videos=20_000, seed=0, verbose=2):
    """Trains the evaluator's classifier on MovingDigits train frames.

    Args:
        path: where to write the `.weights.h5`; `None` writes the shipped
            file. Defaults to `None`.
        epochs: int. Passes over the frames. Defaults to `4`.
        num_videos: int. Training videos (two frames are taken from each).
            Defaults to `20_000`.
        seed: int. Seed of the data and the initialisation. Defaults to `0`.
        verbose: Keras `fit` verbosity. Defaults to `2`.

    Returns:
        The held-out accuracy on frames of the test split (whose digit
        images the training split never uses).
    """
    import keras

    keras.utils.set_random_seed(seed)
    frames, labels = _digit_frames("train", num_videos, seed)
    test_frames, test_labels = _digit_frames("test", 2_000, seed + 1)
    model = build_digit_classifier()
    trainer = keras.Model(model.input, model.output["logits"])
    trainer.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    trainer.fit(frames, labels, batch_size=128, epochs=epochs, verbose=verbose, shuffle=True)
    accuracy = float((trainer.predict(test_frames, verbose=0).argmax(-1) == test_labels).mean())
    path = _WEIGHTS if path is None else pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save_weights(str(path))
    return accuracy

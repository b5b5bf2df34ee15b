"""The MovingDigits evaluator: ceiling, floor and exact cases."""

import numpy as np
import pytest

from kvdm.data import MovingDigits
from kvdm.metrics import DigitEvaluator
from kvdm.metrics import shuffle_frames
from kvdm.metrics import first_step_direction
from kvdm.metrics.digit_evaluator import centroids


def _real(num_videos=128, num_frames=8, seed=0, split="test"):
    source = MovingDigits(split, num_frames=num_frames, image_size=32, num_videos=num_videos, seed=seed)
    videos, _ = source.render(np.arange(num_videos))
    return videos.astype(np.float32) / 127.5 - 1.0, source.labels[:, 0]


@pytest.fixture(scope="module")
def evaluator():
    return DigitEvaluator()


@pytest.fixture(scope="module")
def real_sets():
    return _real(seed=0), _real(seed=1)


def test_classifier_is_accurate_on_held_out_digits(evaluator, real_sets):
    (videos, labels), _ = real_sets
    probs, features = evaluator.classify(videos)
    assert probs.shape == videos.shape[:2] + (10,)
    assert features.shape == videos.shape[:2] + (128,)
    accuracy = (probs.argmax(-1) == labels[:, None]).mean()
    assert accuracy >= 0.95
    assert evaluator.label_kept(videos, labels, start=2) >= 0.95
    # A wrong label is caught: shift every label by one.
    assert evaluator.label_kept(videos, (labels + 1) % 10) < 0.05


def test_real_videos_score_near_the_ceiling(evaluator, real_sets):
    (reference, _), (videos, _) = real_sets
    scores = evaluator.evaluate(videos, reference=reference)
    assert scores["num_videos"] == 128 and scores["num_reference_videos"] == 128
    assert scores["confidence"] >= 0.95
    assert scores["one_label_share"] >= 0.9
    assert scores["majority_share"] >= 0.97
    # Real digits move 1-2 px a frame, steadily except at a bounce.
    assert 1.0 <= scores["centroid_jump"] <= 2.5
    assert scores["centroid_jerk"] < 1.5
    shuffled = evaluator.evaluate(shuffle_frames(videos), reference=reference)
    assert scores["frechet_distance"] < 0.2 * shuffled["frechet_distance"]


def test_shuffled_frames_score_near_the_floor(evaluator, real_sets):
    _, (videos, _) = real_sets
    scores = evaluator.evaluate(shuffle_frames(videos, seed=3))
    assert "frechet_distance" not in scores
    # Frames stay real digits, but the videos lose identity and motion.
    assert scores["confidence"] >= 0.95
    assert scores["one_label_share"] <= 0.05
    assert scores["majority_share"] <= 0.45
    assert scores["centroid_jump"] > 4.0


def test_one_frame_repeated_is_consistent_and_still(evaluator, real_sets):
    _, (videos, _) = real_sets
    still = np.repeat(videos[:32, 3:4], 8, axis=1)
    scores = evaluator.evaluate(still)
    assert scores["one_label_share"] == 1.0
    assert scores["majority_share"] == 1.0
    assert scores["centroid_jump"] == 0.0
    assert scores["centroid_jerk"] == 0.0


def test_centroids_follow_a_single_pixel():
    video = -np.ones((1, 3, 8, 8, 1), np.float32)
    for t, (y, x) in enumerate([(1, 2), (3, 4), (5, 6)]):
        video[0, t, y, x] = 1.0
    np.testing.assert_allclose(centroids(video)[0], [[1, 2], [3, 4], [5, 6]], atol=1e-6)


def test_first_step_direction_reads_captions_of_real_videos():
    source = MovingDigits("test", num_frames=4, image_size=32, num_videos=256, seed=3)
    videos, _ = source.render(np.arange(256))
    found = first_step_direction(videos.astype(np.float32) / 127.5 - 1.0)
    assert (found == source.directions[:, 0]).mean() > 0.97
    # A still video has no direction; a single pixel moving up-left has.
    still = np.repeat(videos[:4, :1], 4, axis=1).astype(np.float32) / 127.5 - 1.0
    np.testing.assert_array_equal(first_step_direction(still), -1)
    video = -np.ones((1, 2, 8, 8, 1), np.float32)
    video[0, 0, 5, 5] = video[0, 1, 4, 4] = 1.0
    assert first_step_direction(video)[0] == 4  # "up and to the left"


def test_other_sizes_and_colour_are_accepted(evaluator, real_sets):
    _, (videos, _) = real_sets
    # Nearest-neighbour 2x upscale to 64x64 RGB: area resizing back to
    # 32x32 and averaging the channels give the same frames, so the same
    # labels as the originals.
    big = np.repeat(np.repeat(videos[:16], 2, axis=2), 2, axis=3)
    big = np.repeat(big, 3, axis=-1)
    original, _ = evaluator.classify(videos[:16])
    resized, _ = evaluator.classify(big)
    np.testing.assert_allclose(resized, original, atol=1e-4)


def test_bad_shapes_and_missing_weights_are_named(evaluator, tmp_path):
    with pytest.raises(ValueError, match="videos.shape=\\(4, 32, 32, 1\\)"):
        evaluator.evaluate(np.zeros((4, 32, 32, 1)))
    with pytest.raises(FileNotFoundError, match="nothing.weights.h5"):
        DigitEvaluator(weights=tmp_path / "nothing.weights.h5")

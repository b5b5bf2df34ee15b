"""FVD/FID plumbing, the paper's FID-avg/-first features and the Inception Score.

The feature networks are replaced by a stand-in with a known output, so
that what is tested here is the arithmetic around them (the networks have
their own reference tests).
"""

import numpy as np
import pytest

from kvdm.metrics import Score
from kvdm.metrics import frechet_distance
from kvdm.metrics import frechet_score
from kvdm.metrics import fvd
from kvdm.metrics import inception_score
from kvdm.metrics import video_fid
from kvdm.metrics import video_inception_features


class MeanColour:
    """Stands for a feature network: the mean of each channel of an input."""

    def __init__(self):
        self.seen = []

    def features(self, inputs, batch_size):
        self.seen.append(inputs.shape)
        return inputs.reshape(len(inputs), -1, inputs.shape[-1]).mean(axis=1).astype(np.float64)


def test_frechet_score_carries_the_counts():
    rng = np.random.default_rng(0)
    real, fake = rng.standard_normal((40, 3)), rng.standard_normal((30, 3)) + 1.0
    score = frechet_score("fvd", real, fake)
    assert isinstance(score, Score)
    assert (score.num_samples, score.num_reference) == (30, 40)
    assert score.value == pytest.approx(frechet_distance(real, fake))
    assert score.to_dict()["num_reference"] == 40
    assert "30 samples, 40 reference" in str(score)
    assert Score("psnr", float("inf"), 2).to_dict() == {
        "name": "psnr", "value": "inf", "num_samples": 2, "num_reference": None, "std": None}


def test_fvd_feeds_rgb_videos_to_the_network():
    rng = np.random.default_rng(1)
    real = rng.uniform(-1, 1, (6, 9, 8, 8, 1)).astype("float32")
    fake = rng.uniform(-1, 1, (5, 9, 8, 8, 1)).astype("float32")
    network = MeanColour()
    score = fvd(real, fake, i3d=network, batch_size=4)
    # Grey videos reach the network as three equal channels.
    assert network.seen == [(6, 9, 8, 8, 3), (5, 9, 8, 8, 3)]
    assert (score.name, score.num_samples, score.num_reference) == ("fvd", 5, 6)
    with pytest.raises(ValueError, match=r"1 or 3 channels. Received: real_videos.shape=\(2, 9, 8, 8, 2\)"):
        fvd(np.zeros((2, 9, 8, 8, 2)), fake, i3d=network)


def test_video_features_average_or_first_frame():
    videos = np.zeros((2, 3, 4, 4, 3), dtype="float32")
    for t in range(3):
        videos[:, t] = t / 4.0  # frame t is the constant t / 4
    videos[1] += 0.1
    network = MeanColour()
    first = video_inception_features(videos, network, frames="first")
    np.testing.assert_allclose(first[:, 0], [0.0, 0.1], atol=1e-7)
    average = video_inception_features(videos, network, frames="avg")
    np.testing.assert_allclose(average[:, 0], [0.25, 0.35], atol=1e-7)
    assert network.seen[-1] == (6, 4, 4, 3)  # every frame, flattened
    score = video_fid(videos, videos, frames="first", inception=network)
    assert score.name == "fid_first" and score.value == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="Received: frames='last'"):
        video_inception_features(videos, network, frames="last")


def test_inception_score_closed_forms():
    # Identical predictions: p(y|x) = p(y), KL 0, score 1.
    assert inception_score(np.zeros((10, 7))).value == pytest.approx(1.0)
    # Certain predictions spread evenly over K classes: score K.
    logits = np.full((12, 4), -1e3)
    logits[np.arange(12), np.arange(12) % 4] = 0.0
    score = inception_score(logits, num_splits=3)
    assert score.value == pytest.approx(4.0) and score.std == pytest.approx(0.0, abs=1e-9)
    assert score.num_samples == 12
    with pytest.raises(ValueError, match="num_splits=5"):
        inception_score(np.zeros((4, 3)), num_splits=5)

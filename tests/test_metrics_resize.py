"""`resize_bilinear` follows TensorFlow 1's `resize_bilinear` (the FVD and FID pipelines' rule)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kvdm.metrics import resize_bilinear
from kvdm.metrics.resize import bilinear_weights


@pytest.mark.parametrize("size_in, size_out", [((64, 64), (224, 224)), ((300, 310), (299, 299)), ((17, 9), (5, 12))])
def test_matches_tensorflow_1(size_in, size_out):
    images = np.random.default_rng(0).uniform(-1, 1, (2,) + size_in + (3,)).astype("float32")
    expected = tf.compat.v1.image.resize_bilinear(images, size_out, align_corners=False, half_pixel_centers=False)
    ours = keras.ops.convert_to_numpy(resize_bilinear(keras.ops.convert_to_tensor(images), size_out))
    np.testing.assert_allclose(ours, expected.numpy(), rtol=0, atol=2e-6)


def test_videos_identity_and_weights():
    videos = np.random.default_rng(1).uniform(-1, 1, (2, 3, 8, 8, 1)).astype("float32")
    out = keras.ops.convert_to_numpy(resize_bilinear(keras.ops.convert_to_tensor(videos), (16, 12)))
    assert out.shape == (2, 3, 16, 12, 1)
    frame = keras.ops.convert_to_numpy(resize_bilinear(keras.ops.convert_to_tensor(videos[:, 1]), (16, 12)))
    np.testing.assert_allclose(out[:, 1], frame, rtol=0, atol=1e-6)
    assert resize_bilinear(videos, (8, 8)) is videos
    weights = bilinear_weights(5, 12)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    # Output pixel i reads input position i * 5 / 12: pixel 5 is 2.0833.
    np.testing.assert_allclose(weights[5, 2:4], [1 - 1 / 12, 1 / 12], atol=1e-6)
    with pytest.raises(ValueError, match=r"Received: images.shape=\(8, 8, 1\)"):
        resize_bilinear(np.zeros((8, 8, 1)), (4, 4))

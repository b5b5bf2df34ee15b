import keras
import numpy as np
import pytest
from layer_test_utils import run_layer_test

from kvdm.layers import RelativePositionBias


@pytest.mark.backends
def test_layer_basics():
    # The layer takes a python int, so the symbolic, fit and saving steps of
    # run_layer_test do not apply; training through it is covered by the
    # TemporalAttention tests.
    out = run_layer_test(
        RelativePositionBias,
        init_kwargs={"num_heads": 3, "num_buckets": 8, "max_distance": 16},
        input_data=5,
        expected_output_shape=(3, 5, 5),
        expected_num_trainable_weights=1,
    )
    assert np.abs(out).max() > 0


@pytest.mark.parametrize(
    "bidirectional", [pytest.param(True, marks=pytest.mark.backends), False]
)
def test_bias_depends_only_on_offset(bidirectional):
    layer = RelativePositionBias(
        num_heads=2, num_buckets=8, max_distance=12, bidirectional=bidirectional
    )
    bias = keras.ops.convert_to_numpy(layer(20))
    assert bias.shape == (2, 20, 20)
    for k in (1, 3, 7):
        np.testing.assert_array_equal(bias[:, k:, k:], bias[:, :-k, :-k])
    # And it does depend on the offset (distinct diagonals differ).
    assert not np.allclose(bias[:, 1, 0], bias[:, 0, 0])
    if bidirectional:
        assert not np.allclose(bias[:, 0, 1], bias[:, 0, 0])
        assert not np.allclose(bias[:, 0, 1], bias[:, 1, 0])
    else:
        # Keys after the query all share bucket 0 with the zero offset.
        np.testing.assert_array_equal(bias[:, 0, 5], bias[:, 0, 0])


def test_any_number_of_frames_shares_the_table():
    layer = RelativePositionBias(num_heads=2)
    bias_16 = keras.ops.convert_to_numpy(layer(16))
    bias_9 = keras.ops.convert_to_numpy(layer(9))
    bias_24 = keras.ops.convert_to_numpy(layer(24))
    np.testing.assert_array_equal(bias_9, bias_16[:, :9, :9])
    np.testing.assert_array_equal(bias_24[:, :16, :16], bias_16)
    assert len(layer.weights) == 1


def _reference_bucket(offset, num_buckets, max_distance, bidirectional):
    bucket = 0
    if bidirectional:
        num_buckets //= 2
        bucket = num_buckets if offset > 0 else 0
        distance = abs(offset)
    else:
        distance = max(-offset, 0)
    max_exact = num_buckets // 2
    if distance < max_exact:
        return bucket + distance
    large = max_exact + int(
        np.log(distance / max_exact)
        / np.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    )
    return bucket + min(large, num_buckets - 1)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_buckets_match_reference(bidirectional):
    layer = RelativePositionBias(
        num_heads=1, num_buckets=16, max_distance=20, bidirectional=bidirectional
    )
    offsets = np.arange(-40, 41)
    buckets = keras.ops.convert_to_numpy(layer.relative_position_bucket(offsets))
    expected = [_reference_bucket(o, 16, 20, bidirectional) for o in offsets]
    np.testing.assert_array_equal(buckets, expected)
    assert buckets.min() >= 0 and buckets.max() < 16
    # Offsets far beyond max_distance share the last bucket of their side.
    assert buckets[0] == buckets[1]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_heads": 0}, "num_heads"),
        ({"num_heads": 2, "num_buckets": 7}, "even"),
        ({"num_heads": 2, "num_buckets": 2}, "num_buckets"),
        ({"num_heads": 2, "num_buckets": 32, "max_distance": 4}, "max_distance"),
    ],
)
def test_invalid_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RelativePositionBias(**kwargs)

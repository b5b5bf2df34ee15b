"""Helpers of `bench/_child.py` that shape the printed benchmark figures."""

import pytest


@pytest.fixture(scope="module")
def child(bench_module):
    return bench_module("_child")


@pytest.mark.parametrize(
    "values, expected",
    [
        ([4.0], 4.0),
        ([3.0, 1.0], 2.0),  # an even count: the mean of the middle two
        ([5.0, 1.0, 2.0], 2.0),
        ([9.0, 1.0, 3.0, 2.0], 2.5),
    ],
)
def test_median_of_step_times(child, values, expected):
    assert child._median(values) == pytest.approx(expected)


def test_median_of_no_steps_is_none(child):
    assert child._median([]) is None

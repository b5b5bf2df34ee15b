"""Helpers of the benchmark scripts that shape their printed figures."""

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


def test_time_between_traced_kernels(bench_module):
    trace = bench_module("probes/jax_step_trace")
    # (name, start, duration): two overlapping kernels, a gap of 5, a
    # kernel inside another, then a gap of 3.
    kernels = [("a", 0, 10), ("b", 4, 8), ("c", 17, 10), ("d", 18, 2), ("e", 30, 1)]
    assert trace.uncovered_us(kernels) == 5 + 3
    assert trace.uncovered_us(list(reversed(kernels))) == 8

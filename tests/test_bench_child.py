"""Helpers of the benchmark scripts that shape their printed figures."""

import sys

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


def test_children_get_the_command_environment_only_when_asked(child):
    from kvdm.cli import huge_pages
    from kvdm.cli import xla_flags

    base = {"PATH": "/bin", "XLA_FLAGS": "--xla_dump_to=/tmp/d"}
    plain = child.child_environment("jax", "plain", base)
    assert plain == dict(base, KERAS_BACKEND="jax", TF_CPP_MIN_LOG_LEVEL="3")
    jax_command = child.child_environment("jax", "command", base)
    tensorflow_command = child.child_environment("tensorflow", "command", base)
    # XLA's CPU flags on JAX only, after the user's own.
    assert jax_command["XLA_FLAGS"] == "--xla_dump_to=/tmp/d " + xla_flags.SETTING
    assert tensorflow_command["XLA_FLAGS"] == base["XLA_FLAGS"]
    # Huge pages exactly where the command would restart itself with them.
    restarted = huge_pages.restart_environment(
        plain, sys.platform, huge_pages.transparent_huge_pages_mode(),
        huge_pages.glibc_version())
    expected = None if restarted is None else restarted["GLIBC_TUNABLES"]
    for env in (jax_command, tensorflow_command):
        assert env.get("GLIBC_TUNABLES") == expected
    assert base == {"PATH": "/bin", "XLA_FLAGS": "--xla_dump_to=/tmp/d"}
    with pytest.raises(ValueError, match="environment='shell'"):
        child.child_environment("jax", "shell", base)

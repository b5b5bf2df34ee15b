"""The pure logic of bench/experiments: equal-compute steps, tables, frame strips."""

import pathlib
import sys

import numpy as np
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "bench" / "experiments"))

import experiment_utils  # noqa: E402
import table2_prediction  # noqa: E402
import table4_joint_training  # noqa: E402


def test_equal_compute_steps_spends_the_same_budget():
    steps = table4_joint_training.equal_compute_steps(300, {0: 1.0, 4: 1.5, 8: 2.0})
    assert steps == {0: 300, 4: 200, 8: 150}
    # Each setting's steps times its step time is the reference budget, to rounding.
    seconds = {0: 0.7, 4: 0.95, 8: 1.3}
    steps = table4_joint_training.equal_compute_steps(150, seconds)
    for key, value in steps.items():
        assert abs(value * seconds[key] - 150 * 0.7) <= seconds[key] / 2
    # A costlier step never gets more steps than a cheaper one.
    assert steps[0] >= steps[4] >= steps[8]


def test_equal_compute_steps_checks_its_arguments():
    with pytest.raises(ValueError, match="reference"):
        table4_joint_training.equal_compute_steps(100, {4: 1.0})
    with pytest.raises(ValueError, match="Received: base_steps=0"):
        table4_joint_training.equal_compute_steps(0, {0: 1.0})
    with pytest.raises(ValueError, match="step time positive"):
        table4_joint_training.equal_compute_steps(10, {0: 1.0, 4: 0.0})
    # Tiny budgets still train every setting for a step.
    assert table4_joint_training.equal_compute_steps(1, {0: 1.0, 8: 5.0}) == {0: 1, 8: 1}


def test_samplers_compared_make_equal_network_evaluations():
    (_, first, first_steps, first_options), (_, second, second_steps, second_options) = (
        table2_prediction.samplers_compared(16))
    assert (first, second) == ("ancestral", "predictor_corrector")
    assert first_steps * (1 + first_options.get("num_corrector_steps", 0)) == 32
    assert second_steps * (1 + second_options["num_corrector_steps"]) == 32


def test_markdown_table_formats_cells():
    table = experiment_utils.markdown_table([("a", "A"), ("b", "B")], [{"a": 0.12345, "b": "x"}, {"a": 3}])
    assert table.splitlines() == ["| A | B |", "| --- | --- |", "| 0.123 | x |", "| 3 | - |"]


def test_video_strip_lays_frames_side_by_side():
    video = np.full((4, 5, 6, 1), -1.0, np.float32)
    video[2] = 1.0
    strip = experiment_utils.video_strip(video, every=2)
    # Frames 0 and 2, each followed by a one-pixel white separator.
    assert strip.shape == (5, 2 * 7)
    assert strip[:, :6].max() == 0.0 and strip[:, 7:13].min() == 1.0
    assert (strip[:, 6] == 1.0).all()

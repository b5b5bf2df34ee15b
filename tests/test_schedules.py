import math

import keras
import numpy as np
import pytest

from kvdm.diffusion import schedules
from kvdm.diffusion.schedules import CosineSchedule
from kvdm.diffusion.schedules import get_schedule


def _np(x):
    return keras.ops.convert_to_numpy(x)


@pytest.mark.backends
def test_endpoints_are_the_clip_range():
    schedule = CosineSchedule(logsnr_min=-15.0, logsnr_max=12.0)
    values = _np(schedule(np.array([0.0, 1.0], "float32")))
    np.testing.assert_allclose(values, [12.0, -15.0], atol=1e-4)
    default = _np(CosineSchedule()(np.array([0.0, 1.0], "float32")))
    np.testing.assert_allclose(default, [20.0, -20.0], atol=1e-4)


@pytest.mark.backends
def test_logsnr_is_float32_and_strictly_decreasing():
    t = np.linspace(0.0, 1.0, 1001).astype("float32")
    logsnr = CosineSchedule()(t)
    assert keras.backend.standardize_dtype(logsnr.dtype) == "float32"
    assert np.all(np.diff(_np(logsnr)) < 0)


@pytest.mark.backends
def test_wide_clip_matches_unclipped_cosine_closed_form():
    # With a wide clip range the schedule is alpha_t = cos(pi t / 2), i.e.
    # lambda(t) = -2 log tan(pi t / 2) (Nichol and Dhariwal, 2021).
    schedule = CosineSchedule(logsnr_min=-30.0, logsnr_max=30.0)
    t = np.linspace(0.02, 0.98, 49)
    expected = -2.0 * np.log(np.tan(np.pi * t / 2.0))
    np.testing.assert_allclose(
        _np(schedule(t.astype("float32"))), expected, atol=1e-4
    )
    alpha2 = 1.0 / (1.0 + np.exp(-_np(schedule(t.astype("float32")))))
    np.testing.assert_allclose(alpha2, np.cos(np.pi * t / 2) ** 2, atol=1e-5)


@pytest.mark.backends
def test_t_from_logsnr_inverts_logsnr():
    schedule = CosineSchedule()
    t = np.linspace(0.0, 1.0, 257).astype("float32")
    round_trip = _np(schedule.t_from_logsnr(schedule(t)))
    np.testing.assert_allclose(round_trip, t, atol=1e-4)
    logsnr = np.linspace(-19.0, 19.0, 77).astype("float32")
    np.testing.assert_allclose(
        _np(schedule(schedule.t_from_logsnr(logsnr))), logsnr, atol=2e-3
    )


def test_alpha_sigma_of_schedule_lie_on_unit_circle():
    from kvdm.diffusion.parameterization import alpha_sigma

    t = np.linspace(0.0, 1.0, 101).astype("float32")
    alpha, sigma = alpha_sigma(CosineSchedule()(t))
    np.testing.assert_allclose(_np(alpha) ** 2 + _np(sigma) ** 2, 1.0, atol=1e-6)
    # lambda = log(alpha^2 / sigma^2) in the interior.
    inner = slice(5, -5)
    np.testing.assert_allclose(
        np.log(_np(alpha)[inner] ** 2 / _np(sigma)[inner] ** 2),
        _np(CosineSchedule()(t))[inner],
        atol=1e-3,
    )


def test_get_schedule_and_config_round_trip():
    schedule = CosineSchedule(logsnr_min=-10.0, logsnr_max=8.0)
    assert get_schedule(schedule) is schedule
    assert isinstance(get_schedule("cosine"), CosineSchedule)
    restored = get_schedule(keras.saving.serialize_keras_object(schedule))
    assert isinstance(restored, CosineSchedule)
    assert restored.get_config() == schedule.get_config()
    assert set(schedule.get_config()) == {"logsnr_min", "logsnr_max"}
    assert set(schedules.SCHEDULES) >= {"cosine"}


def test_invalid_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="Received: logsnr_min=5.0"):
        CosineSchedule(logsnr_min=5.0, logsnr_max=1.0)
    with pytest.raises(ValueError, match="Received: schedule='linear'"):
        get_schedule("linear")
    with pytest.raises(ValueError, match="Received: schedule=3"):
        get_schedule(3)


def test_coefficients_follow_closed_form():
    schedule = CosineSchedule(logsnr_min=-20.0, logsnr_max=20.0)
    a, b = schedule._coefficients()
    assert math.isclose(b, math.atan(math.exp(-10.0)))
    assert math.isclose(a + b, math.atan(math.exp(10.0)))

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
    assert set(schedule.get_config()) == {"logsnr_min", "logsnr_max", "shift"}
    assert set(schedules.SCHEDULES) >= {"cosine"}


def test_invalid_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="Received: logsnr_min=5.0"):
        CosineSchedule(logsnr_min=5.0, logsnr_max=1.0)
    with pytest.raises(ValueError, match="Received: schedule='linear'"):
        get_schedule("linear")
    with pytest.raises(ValueError, match="Received: schedule=3"):
        get_schedule(3)
    with pytest.raises(ValueError, match="kwargs="):
        get_schedule(CosineSchedule(), logsnr_min=-5.0)


def test_get_schedule_passes_arguments_to_a_named_schedule():
    schedule = get_schedule("cosine", logsnr_min=-15.0, logsnr_max=12.0)
    assert isinstance(schedule, CosineSchedule)
    assert schedule.get_config() == {"logsnr_min": -15.0, "logsnr_max": 12.0, "shift": 0.0}


def test_coefficients_follow_closed_form():
    schedule = CosineSchedule(logsnr_min=-20.0, logsnr_max=20.0)
    a, b = schedule._coefficients()
    assert math.isclose(b, math.atan(math.exp(-10.0)))
    assert math.isclose(a + b, math.atan(math.exp(10.0)))


def test_shifted_cosine_moves_the_curve_and_keeps_its_ends():
    import numpy as np

    plain = CosineSchedule()
    shifted = CosineSchedule(shift=-2.0)
    ends = keras.ops.convert_to_numpy(shifted(keras.ops.convert_to_tensor([0.0, 1.0])))
    np.testing.assert_allclose(ends, [20.0, -20.0], atol=1e-3)
    # Away from the ends the clipping moves the curve by less than 1e-3:
    # the plain curve lowered by 2, i.e. `-2 log tan(pi t / 2) - 2`.
    t = np.linspace(0.2, 0.8, 7).astype("float32")
    got = keras.ops.convert_to_numpy(shifted(t))
    expected = keras.ops.convert_to_numpy(plain(t)) - 2.0
    np.testing.assert_allclose(got, expected, atol=1e-3)
    np.testing.assert_allclose(-2 * np.log(np.tan(np.pi * t / 2)) - 2.0, got, atol=1e-3)
    # t_from_logsnr inverts it, and the config round-trips.
    back = keras.ops.convert_to_numpy(shifted.t_from_logsnr(got))
    np.testing.assert_allclose(back, t, atol=1e-5)
    assert CosineSchedule.from_config(shifted.get_config()).shift == -2.0
    with pytest.raises(ValueError, match="shift=25.0"):
        CosineSchedule(shift=25.0)

import re
import subprocess
import sys

import numpy as np
import pytest

from kvdm.utils import validation


@pytest.mark.parametrize(
    "check, value, expected",
    [
        (lambda v: validation.positive_int(v, "n"), 3, 3),
        (lambda v: validation.positive_int(v, "n", allow_none=True), None, None),
        (lambda v: validation.positive_int_list(v, "n"), (1, 2), [1, 2]),
        (lambda v: validation.non_negative_int(v, "n"), 0, 0),
        (lambda v: validation.int_at_least(v, "n", 2), 2, 2),
        (lambda v: validation.optional_int(v, "n"), None, None),
        (lambda v: validation.optional_int(v, "n"), -4, -4),
        (lambda v: validation.finite_number(v, "n"), 2, 2.0),
        (lambda v: validation.finite_number(v, "n"), np.float32(-1.5), -1.5),
        (lambda v: validation.positive_number(v, "n"), 0.25, 0.25),
        (lambda v: validation.fraction(v, "n"), 0, 0.0),
        (lambda v: validation.fraction(v, "n", include_one=True), 1, 1.0),
        (lambda v: validation.choice(v, "n", ("a", "b")), "b", "b"),
    ],
)
def test_valid_values_are_returned(check, value, expected):
    got = check(value)
    assert got == expected
    assert type(got) is type(expected)


@pytest.mark.parametrize(
    "check, value, message",
    [
        (validation.positive_int, 0, "`n` must be a positive integer. Received: n=0"),
        (validation.positive_int, True, "`n` must be a positive integer. Received: n=True"),
        (validation.positive_int, 2.0, "`n` must be a positive integer. Received: n=2.0"),
        (validation.positive_int, None, "`n` must be a positive integer. Received: n=None"),
        (validation.positive_int_list, "12", "`n` must be a list of positive integers. Received: n='12'"),
        (validation.positive_int_list, [1, 0], "`n` must be a list of positive integers. Received: n=[1, 0]"),
        (validation.positive_int_list, [1, False], "`n` must be a list of positive integers. Received: n=[1, False]"),
        (validation.non_negative_int, -1, "`n` must be a non-negative integer. Received: n=-1"),
        (validation.non_negative_int, False, "`n` must be a non-negative integer. Received: n=False"),
        (validation.optional_int, 1.5, "`n` must be an integer or None. Received: n=1.5"),
        (validation.optional_int, True, "`n` must be an integer or None. Received: n=True"),
        (validation.finite_number, "2", "`n` must be a number. Received: n='2'"),
        (validation.finite_number, True, "`n` must be a number. Received: n=True"),
        (validation.finite_number, float("inf"), "`n` must be finite. Received: n=inf"),
        (validation.positive_number, 0.0, "`n` must be a positive number. Received: n=0.0"),
        (validation.positive_number, float("nan"), "`n` must be a positive number. Received: n=nan"),
        (validation.fraction, 1.0, "`n` must be a number in [0, 1). Received: n=1.0"),
        (validation.fraction, -0.1, "`n` must be a number in [0, 1). Received: n=-0.1"),
        (validation.fraction, None, "`n` must be a number in [0, 1). Received: n=None"),
    ],
)
def test_invalid_values_name_the_argument_and_value(check, value, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        check(value, "n")


def test_allow_none_and_bounds_appear_in_messages():
    with pytest.raises(ValueError, match=re.escape("a positive integer or None. Received: n=0")):
        validation.positive_int(0, "n", allow_none=True)
    with pytest.raises(ValueError, match=re.escape("an integer of at least 2. Received: n=1")):
        validation.int_at_least(1, "n", 2)
    with pytest.raises(ValueError, match=re.escape("a number in [0, 1]. Received: n=1.5")):
        validation.fraction(1.5, "n", include_one=True)


def test_choice_messages():
    with pytest.raises(
        ValueError,
        match=re.escape("`mode` must be one of ('a', 'b'). Received: mode='c'"),
    ):
        validation.choice("c", "mode", ("a", "b"))
    with pytest.raises(
        ValueError,
        match=re.escape("Unknown sampler. Expected one of ['a', 'b']. Received: sampler=['a']"),
    ):
        # Unhashable values are rejected, not a TypeError.
        validation.choice(["a"], "sampler", ["a", "b"], what="sampler")
    with pytest.raises(ValueError, match=re.escape("Received: name={}")):
        validation.choice({}, "name", {"a": 1}, what="thing")


def test_imports_no_backend():
    code = "import sys, kvdm.utils.validation; print('keras' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"

"""Argument checks shared by layers, models, diffusion, samplers and data.

Each check returns the value when it is valid and otherwise raises a
`ValueError` that names the argument and ends `Received: name=value`, as
Keras' own layers do. Booleans are not numbers here: `True` is rejected
where an integer or a float is expected. Integers are Python `int`s; numbers
are any real number (Python or numpy) but booleans.

This module imports nothing heavy, so `kvdm.config` and the data pipeline
can use it without loading a Keras backend.
"""

import math
import numbers


def is_int(value):
    """Whether `value` is a Python `int` (booleans excluded)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value):
    """Whether `value` is a real number (booleans excluded)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _invalid(name, value, requirement):
    return ValueError(
        f"`{name}` must be {requirement}. Received: {name}={value!r}"
    )


def positive_int(value, name, allow_none=False):
    """Returns `value` if it is an integer >= 1 (or None when allowed).

    Args:
        value: the argument.
        name: str. The argument's name, used in the error message.
        allow_none: bool. Whether None is valid. Defaults to False.
    """
    if allow_none and value is None:
        return None
    if not is_int(value) or value < 1:
        requirement = "a positive integer"
        if allow_none:
            requirement += " or None"
        raise _invalid(name, value, requirement)
    return value


def positive_int_list(values, name):
    """Returns `values` as a list if every entry is a positive integer."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise _invalid(name, values, "a list of positive integers")
    values = list(values)
    if not all(is_int(value) and value > 0 for value in values):
        raise _invalid(name, values, "a list of positive integers")
    return values


def non_negative_int(value, name):
    """Returns `value` if it is an integer >= 0."""
    if not is_int(value) or value < 0:
        raise _invalid(name, value, "a non-negative integer")
    return value


def int_at_least(value, name, minimum):
    """Returns `value` if it is an integer >= `minimum`."""
    if not is_int(value) or value < minimum:
        raise _invalid(name, value, f"an integer of at least {minimum}")
    return value


def optional_int(value, name):
    """Returns `value` if it is an integer or None (for example a seed)."""
    if value is not None and not is_int(value):
        raise _invalid(name, value, "an integer or None")
    return value


def finite_number(value, name):
    """Returns `value` as a float if it is a finite number."""
    if not is_number(value):
        raise _invalid(name, value, "a number")
    if not math.isfinite(value):
        raise _invalid(name, value, "finite")
    return float(value)


def positive_number(value, name):
    """Returns `value` as a float if it is a finite number > 0."""
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise _invalid(name, value, "a positive number")
    return float(value)


def fraction(value, name, include_one=False):
    """Returns `value` as a float if it is in [0, 1) (or [0, 1]).

    Args:
        value: the argument.
        name: str. The argument's name, used in the error message.
        include_one: bool. Whether 1 is valid. Defaults to False.
    """
    if include_one:
        valid = is_number(value) and 0.0 <= value <= 1.0
        interval = "[0, 1]"
    else:
        valid = is_number(value) and 0.0 <= value < 1.0
        interval = "[0, 1)"
    if not valid:
        raise _invalid(name, value, f"a number in {interval}")
    return float(value)


def choice(value, name, choices, what=None):
    """Returns `value` if it is one of `choices`.

    Args:
        value: the argument.
        name: str. The argument's name, used after `Received:`.
        choices: the valid values (a tuple, list or dict), shown as given.
        what: str or None. What the value names ("sampler", "prediction
            type", ...). With it the message reads "Unknown {what}. Expected
            one of ..."; without it, "`name` must be one of ...".
    """
    try:
        valid = value in choices
    except TypeError:  # An unhashable value looked up in a dict.
        valid = False
    if not valid:
        if what is None:
            start = f"`{name}` must be one of {choices}."
        else:
            start = f"Unknown {what}. Expected one of {choices}."
        raise ValueError(f"{start} Received: {name}={value!r}")
    return value

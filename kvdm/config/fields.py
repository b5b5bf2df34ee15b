"""Typed, validated recipe sections built from dataclass fields.

A section is a frozen dataclass whose fields are declared once with
`setting(...)`: the type hint says what a value must be, the metadata says
which values are allowed. Parsing a YAML mapping, checking a value built in
Python and writing the section back out are all derived from those
declarations, so adding a field is a one-line change.
"""

import dataclasses
import difflib
import types
import typing


class RecipeError(ValueError):
    """A recipe value is missing, unknown, of the wrong type or impossible."""


def setting(default, doc, *, choices=None, minimum=None, maximum=None,
            exclusive_minimum=None, exclusive_maximum=None):
    """Declares one recipe field.

    Args:
        default: the value used when the recipe does not give one.
        doc: str. One line saying what the field means.
        choices: tuple of allowed values, or None for any value of the type.
        minimum: smallest allowed value (inclusive), or None.
        maximum: largest allowed value (inclusive), or None.
        exclusive_minimum: values must be strictly larger, or None.
        exclusive_maximum: values must be strictly smaller, or None.

    Returns:
        A `dataclasses.field` carrying the constraints as metadata. Lists
        (type hint `tuple[int, ...]`) apply the bounds to every element.
    """
    metadata = {
        "doc": doc,
        "choices": tuple(choices) if choices is not None else None,
        "minimum": minimum,
        "maximum": maximum,
        "exclusive_minimum": exclusive_minimum,
        "exclusive_maximum": exclusive_maximum,
    }
    return dataclasses.field(default=default, metadata=metadata)


def _did_you_mean(name, candidates):
    if not all(isinstance(c, str) for c in candidates):
        return ""
    close = difflib.get_close_matches(str(name), list(candidates), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def _split_optional(hint):
    """Returns `(inner_type, allows_none)` for `X | None` hints."""
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"Unsupported recipe type hint: {hint!r}")
        return inner[0], type(None) in args
    return hint, False


def _type_name(hint):
    inner, optional = _split_optional(hint)
    if typing.get_origin(inner) is tuple:
        name = f"a list of {typing.get_args(inner)[0].__name__}"
    else:
        name = {int: "an integer", float: "a number", str: "a string",
                bool: "true or false"}[inner]
    return f"{name} or null" if optional else name


def _coerce_scalar(value, kind):
    """Returns `value` as `kind`, or raises TypeError."""
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            # YAML 1.1 reads `3e-4` (no dot) as a string; accept it as a number.
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str:
        if isinstance(value, str):
            return value
    raise TypeError


def _check_bounds(key, value, meta):
    checks = (
        ("minimum", lambda v, b: v >= b, ">="),
        ("maximum", lambda v, b: v <= b, "<="),
        ("exclusive_minimum", lambda v, b: v > b, ">"),
        ("exclusive_maximum", lambda v, b: v < b, "<"),
    )
    for name, ok, symbol in checks:
        bound = meta.get(name)
        if bound is not None and not ok(value, bound):
            raise RecipeError(
                f"`{key}` must be {symbol} {bound}. Received: {key}={value!r}"
            )
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise RecipeError(
            f"`{key}` must be one of {list(choices)}."
            f"{_did_you_mean(value, choices)} Received: {key}={value!r}"
        )


def coerce_value(key, value, hint, meta):
    """Checks one value against its type hint and constraints.

    Args:
        key: str. The dotted name used in error messages, e.g. "train.steps".
        value: the value read from YAML or given in Python.
        hint: the field's type hint.
        meta: the field's metadata from `setting`.

    Returns:
        The value in canonical form (floats as float, lists as tuples).
    """
    kind, optional = _split_optional(hint)
    if value is None:
        if optional:
            return None
        raise RecipeError(
            f"`{key}` must be {_type_name(hint)}, not null. "
            f"Received: {key}=None"
        )
    try:
        if typing.get_origin(kind) is tuple:
            if not isinstance(value, (list, tuple)):
                raise TypeError
            item_kind = typing.get_args(kind)[0]
            value = tuple(_coerce_scalar(v, item_kind) for v in value)
        else:
            value = _coerce_scalar(value, kind)
    except TypeError:
        raise RecipeError(
            f"`{key}` must be {_type_name(hint)}. Received: {key}={value!r}"
        ) from None
    for item in value if isinstance(value, tuple) else (value,):
        _check_bounds(key, item, meta)
    return value


class Section:
    """Mixin for frozen dataclass recipe sections.

    Subclasses set the class attribute `section` (the YAML key) and may define
    `check()` for rules that involve several fields.
    """

    section = ""

    def __post_init__(self):
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            key = f"{self.section}.{field.name}"
            value = coerce_value(
                key, getattr(self, field.name), hints[field.name],
                field.metadata,
            )
            object.__setattr__(self, field.name, value)
        self.check()

    def check(self):
        """Cross-field rules; raises `RecipeError`."""

    @classmethod
    def from_dict(cls, values):
        """Builds the section from a mapping, rejecting unknown keys."""
        if values is None:
            values = {}
        if not isinstance(values, dict):
            raise RecipeError(
                f"Recipe section `{cls.section}` must be a mapping of "
                f"key: value. Received: {cls.section}={values!r}"
            )
        names = [f.name for f in dataclasses.fields(cls)]
        for key in values:
            if key not in names:
                raise RecipeError(
                    f"Unknown key `{cls.section}.{key}`."
                    f"{_did_you_mean(key, names)} Valid keys: {names}. "
                    f"Received: {cls.section}.{key}={values[key]!r}"
                )
        return cls(**values)

    def to_dict(self):
        """Returns plain Python data (lists, not tuples) for YAML."""
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)
        }

    def replace(self, **changes):
        """Returns a copy with some fields changed (and validated)."""
        return dataclasses.replace(self, **changes)


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


def describe(cls):
    """Returns `[(key, type, default, doc), ...]` for a section class."""
    hints = typing.get_type_hints(cls)
    return [
        (f"{cls.section}.{f.name}", _type_name(hints[f.name]),
         _plain(f.default), f.metadata.get("doc", ""))
        for f in dataclasses.fields(cls)
    ]

"""Declared parameters: what a plugin accepts, checked before any work and listed by ``*_params`` commands.

Every plugin family with parameters (segmenters, models) declares them as a tuple of :class:`Param`
(name, type, default, constraint text, validator). :func:`check_params` checks keyword values against
such a declaration and fails with one message of the scikit-learn form::

    The 's' parameter of bis must be a float in [0, 1]. Got 1.5.

The factories (:func:`float_param`, :func:`int_param`, :func:`bool_param`, :func:`weights_param`) build
the common declarations; :func:`any_of` one whose valid values are the union of several checks
(:func:`integer`, :func:`real`, :func:`among`, :func:`instance`, ...), e.g. scikit-learn's
``max_depth``: an int >= 1 or None.

Example
-------
>>> from antares.params import check_params, float_param
>>> check_params((float_param("t", 40.0, 0, low_open=True),), {"t": 20}, "bis")
{'t': 20.0}
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from antares.errors import UsageError


@dataclass(frozen=True)
class Param:
    """One declared parameter of a plugin (a segmenter, a model, ...).

    Attributes
    ----------
    name : str
        Keyword of the parameter, e.g. ``"t"``.
    type : type
        The kind of value expected, for a command line to parse: ``float``, ``int``, ``bool`` or
        ``list`` (a list parameter is stored as a tuple).
    default : object
        The value used when the parameter is not given (already valid).
    constraint : str
        What a valid value is, in words that complete "must be a(n) ...", e.g. ``"float in [0, 1]"``.
    validator : callable
        ``validator(value) -> value``: the value normalised (an ``int`` 40 becomes ``40.0`` for a
        float parameter), or raises ``ValueError`` / ``TypeError`` when it is not valid.
    description : str
        One line for ``antares segment_params`` / ``antares model_params``.
    """

    name: str
    type: type
    default: Any
    constraint: str
    validator: Callable[[Any], Any]
    description: str = ""


# --------------------------------------------------------------------------- declarations of one constraint

def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _interval_text(kind: str, low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {high}"
    return kind


def _in_interval(value, low, high, low_open, high_open) -> bool:
    if not np.isfinite(value):
        return False
    if low is not None and (value < low or (low_open and value == low)):
        return False
    if high is not None and (value > high or (high_open and value == high)):
        return False
    return True


def float_param(name, default, low=None, high=None, *, low_open=False, high_open=False, description=""):
    """A float parameter in an interval; integers are accepted and converted."""

    def validate(value):
        if not _is_real(value) or not _in_interval(float(value), low, high, low_open, high_open):
            raise ValueError(value)
        return float(value)

    return Param(name, float, default, _interval_text("float", low, high, low_open, high_open), validate, description)


def int_param(name, default, low=None, high=None, *, allow_none=False, description=""):
    """An integer parameter in a closed interval (optionally ``None``)."""

    def validate(value):
        if value is None and allow_none:
            return None
        if not _is_int(value) or not _in_interval(int(value), low, high, False, False):
            raise ValueError(value)
        return int(value)

    text = _interval_text("int", low, high, False, False) + (" or None" if allow_none else "")
    return Param(name, int, default, text, validate, description)


def bool_param(name, default, description=""):
    """A boolean parameter (``True``/``False`` only, not 0/1)."""

    def validate(value):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(value)
        return bool(value)

    return Param(name, bool, default, "bool", validate, description)


def weights_param(name, description=""):
    """A list of floats >= 0, not all 0, or ``None``; stored as a tuple of floats (or ``None``)."""

    def validate(value):
        if value is None:
            return None
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ValueError(value)
        items = list(value)
        if not items or not all(_is_real(v) and np.isfinite(v) and v >= 0 for v in items):
            raise ValueError(value)
        if not any(v > 0 for v in items):
            raise ValueError(value)
        return tuple(float(v) for v in items)

    return Param(name, list, None, "list of floats >= 0 (not all 0) or None", validate, description)


def _article(text: str) -> str:
    return "an" if text[:1].lower() in "aeio" else "a"


# --------------------------------------------------------------------------- unions of checks

def integer(low=None, high=None) -> Callable[[Any], bool]:
    """A check: an int (not a bool) in the closed interval ``[low, high]`` (``None``: unbounded)."""
    return lambda value: _is_int(value) and _in_interval(int(value), low, high, False, False)


def real(low=None, high=None, *, low_open=False, high_open=False) -> Callable[[Any], bool]:
    """A check: a finite int or float (not a bool) in the interval from ``low`` to ``high``."""
    return lambda value: _is_real(value) and _in_interval(float(value), low, high, low_open, high_open)


def among(*options) -> Callable[[Any], bool]:
    """A check: one of the strings ``options``."""
    return lambda value: isinstance(value, str) and value in options


def instance(*types) -> Callable[[Any], bool]:
    """A check: an instance of one of ``types`` (``bool`` accepts numpy booleans too)."""
    types = types + ((np.bool_,) if bool in types else ())
    return lambda value: isinstance(value, types)


def is_none(value) -> bool:
    """A check: ``None``."""
    return value is None


def is_array_like(value) -> bool:
    """A check: a list, tuple or array (not a string)."""
    return isinstance(value, (list, tuple, np.ndarray))


def any_of(name, default, constraint, *checks, description="") -> Param:
    """A parameter valid when any of ``checks`` holds; values are passed on unchanged.

    Parameters
    ----------
    name : str
        Keyword of the parameter.
    default : object
        Its default (valid).
    constraint : str
        The valid values in words completing "must be a(n) ...", e.g. ``"int in the range [1, inf) or None"``.
    *checks : callable
        ``check(value) -> bool``, e.g. ``integer(1)``, :func:`is_none`.
    description : str
        One line for the ``*_params`` commands.

    Returns
    -------
    Param
        With ``type`` ``object`` (the command line parses the value by its form).
    """

    def validate(value):
        if not any(check(value) for check in checks):
            raise ValueError(value)
        return value

    return Param(name, object, default, constraint, validate, description)


# --------------------------------------------------------------------------- checking values

def parse_value(text: str):
    """A command-line value by its form: int, float, None, bool, else the string itself.

    Example
    -------
    >>> [parse_value(t) for t in ("3", "0.5", "none", "True", "sqrt")]
    [3, 0.5, None, True, 'sqrt']
    """
    lowered = text.strip().lower()
    if lowered in ("none", "null"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def invalid_message(owner: str, param: Param, value) -> str:
    """``The 'NAME' parameter of OWNER must be a(n) CONSTRAINT. Got VALUE.``"""
    constraint = f"{_article(param.constraint)} {param.constraint}"
    return f"The {param.name!r} parameter of {owner} must be {constraint}. Got {value!r}."


def check_params(params, values: dict, owner: str) -> dict[str, Any]:
    """Values for every declared parameter, checked and normalised; the others take their defaults.

    Parameters
    ----------
    params : sequence of Param
        The declaration.
    values : dict
        Keyword values given (a subset of the declared names).
    owner : str
        The plugin's name in messages (``bis``, ``RandomForestClassifier``).

    Returns
    -------
    dict
        name -> validated value, in declaration order.

    Raises
    ------
    antares.errors.UsageError
        A name that is not declared (the declared ones are listed), or a value outside its constraint
        (:func:`invalid_message`).
    """
    declared = {p.name: p for p in params}
    for key in values:
        if key not in declared:
            raise UsageError(f"unknown parameter {key!r} for {owner}; valid parameters: {', '.join(declared)}")
    out = {}
    for p in params:
        value = values.get(p.name, p.default)
        try:
            out[p.name] = p.validator(value)
        except (ValueError, TypeError):
            raise UsageError(invalid_message(owner, p, value)) from None
    return out

"""Argument checks shared by every API, UI handler and command: each turns a value a user or a
client sent into the value the code needs, or raises a ``ValueError`` that names the argument,
says what is allowed and quotes (briefly) what was given.

A leaf: imports nothing from the playground, so every layer may use it.
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Iterable
from typing import Any

MAX_SEED = 2**32 - 1


def short_repr(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to about ``limit`` characters, for error messages: a message must
    not echo a 100,000-character input back."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def _is_number(value) -> bool:
    """A real number, not a bool (True is an int in Python, never a count or a temperature here)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _fmt(x) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def _between(low, high) -> str:
    if low is not None and high is not None:
        return f"between {_fmt(low)} and {_fmt(high)}"
    if low is not None:
        return f"at least {_fmt(low)}"
    return f"at most {_fmt(high)}" if high is not None else ""


def check_int(name: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    """``value`` as an int in [low, high] (either bound optional), else a ``ValueError`` saying
    what is allowed ("n must be between 1 and 10000, not 0").

    Accepts Python and NumPy integers and integral floats (5.0: what a JSON client or a slider
    sends); rejects bools, strings, None, NaN and infinities.
    """
    between = _between(low, high)
    if not _is_number(value) or not math.isfinite(value) or not float(value).is_integer():
        raise ValueError(f"{name} must be an integer{' ' + between if between else ''}, not {short_repr(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {between}, not {short_repr(value)}")
    return value


def check_float(name: str, value: Any, low: float | None = None, high: float | None = None, *,
                low_open: bool = False, high_open: bool = False, note: str = "") -> float:
    """``value`` as a finite float within the bounds (either optional; ``low_open`` / ``high_open``
    exclude the bound itself), else a ``ValueError`` such as "eta must be a number in [0, 1], not
    1.5". Rejects bools, strings, None, NaN and infinities. ``note`` is added to the message
    (what the value means, e.g. "(0 plays the model's best move)")."""
    if low is not None and high is not None:
        allowed = f" in {'(' if low_open else '['}{_fmt(low)}, {_fmt(high)}{')' if high_open else ']'}"
    elif low is not None:
        allowed = f" {'>' if low_open else '>='} {_fmt(low)}"
    elif high is not None:
        allowed = f" {'<' if high_open else '<='} {_fmt(high)}"
    else:
        allowed = ""
    ok = _is_number(value) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        note = f" {note}" if note else ""
        raise ValueError(f"{name} must be a {'' if allowed else 'finite '}number{allowed}{note}, "
                         f"not {short_repr(value)}")
    return float(value)


def check_choice(name: str, value: Any, choices: Iterable, note: str = ""):
    """``value`` if it is one of ``choices`` (of the choice's type: True is not 1, and an array
    is never a choice), else a ``ValueError`` listing them. ``note`` is added to the list
    (e.g. "(or None: the model's default)")."""
    choices = list(choices)
    for choice in choices:
        if _same(value, choice):
            return choice
    note = f" {note}" if note else ""
    raise ValueError(f"{name} must be one of {choices}{note}, not {short_repr(value)}")


def _same(value, choice) -> bool:
    if value is choice:
        return True
    if isinstance(value, bool) or isinstance(choice, bool):  # True == 1, but a flag is not a count
        return False
    return isinstance(value, type(choice)) and value == choice


def validate_seed(seed: Any, name: str = "seed") -> int:
    """A seed is an integer in [0, 2**32 - 1]; None draws a fresh one. ``name``: the argument's
    name in the error message (``seed_a``)."""
    if seed is None:
        return random.SystemRandom().randint(0, MAX_SEED)
    return check_int(name, seed, 0, MAX_SEED)

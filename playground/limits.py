"""What one visitor may ask of a public server: work per request, upload size, queue length.

A public Space takes requests from anyone, so each request is costed *before* it runs. Every tab
declares, in its ``tab.py`` (``COST``, read through the registry), the unit its work is counted in
(network evaluations of one sample: a U-Net call on one image, a BERT pass over one character
position...), what one unit costs in seconds on the reference machine (a 2-core AMD EPYC, float32;
``python -m playground bench --costs`` measures it on any machine), and for each endpoint how many
units a request asks for. A request whose estimate is over the budget gets a clear error before any
work is done.

The limits bind the app's endpoints only (the page, ``gradio_client``, MCP tools). The Python API
and the command line are unlimited: the message says how to run the same request without a limit.

Environment variables (read when the app is built or a request arrives):

* ``PLAYGROUND_WORK_BUDGET``: seconds of estimated compute per request; ``0`` or ``off``: no limit.
  Default 7200 on a local launch (every request the sliders allow, the faithful 1000-step sampler
  on 256 images with classifier-free guidance included: about 3,840 s), 60 on a Hugging Face Space
  (detected from ``SPACE_ID`` or ``SYSTEM=spaces``).
* ``PLAYGROUND_MAX_FILE_SIZE``: the largest upload (Gradio's ``max_file_size``), default ``5mb``
  (the images are 28x28: a few kilobytes each).
* ``PLAYGROUND_QUEUE_SIZE``: how many requests may wait for a worker; one more is refused at once
  with a message. Default 64 on a Space, 256 locally; ``0`` or ``off``: unbounded.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Callable

LOCAL_BUDGET_S = 7200.0
SPACE_BUDGET_S = 60.0
DEFAULT_MAX_FILE_SIZE = "5mb"
LOCAL_QUEUE_SIZE = 256
SPACE_QUEUE_SIZE = 64
_OFF = {"0", "off", "none", "no", "unlimited"}


def on_space() -> bool:
    """Running as a Hugging Face Space (the variables Spaces set)?"""
    return bool(os.environ.get("SPACE_ID")) or os.environ.get("SYSTEM", "").lower() == "spaces"


def _setting(name: str, default: float | None) -> float | None:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in _OFF:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of {'seconds' if 'BUDGET' in name else 'requests'} "
                         f"or 'off', not {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a positive number or 'off', not {raw!r}")
    return value or None


def work_budget() -> float | None:
    """Seconds of estimated compute one request may ask for; None: no limit."""
    return _setting("PLAYGROUND_WORK_BUDGET", SPACE_BUDGET_S if on_space() else LOCAL_BUDGET_S)


def max_file_size() -> str:
    return os.environ.get("PLAYGROUND_MAX_FILE_SIZE", "").strip() or DEFAULT_MAX_FILE_SIZE


def queue_size() -> int | None:
    size = _setting("PLAYGROUND_QUEUE_SIZE", SPACE_QUEUE_SIZE if on_space() else LOCAL_QUEUE_SIZE)
    return None if size is None else max(1, int(size))


def queue_full_message(size: int) -> str:
    return (f"The playground is busy: {size} requests are already waiting, this server's limit "
            f"(PLAYGROUND_QUEUE_SIZE). Please try again in a minute.")


@dataclass(frozen=True)
class Cost:
    """How a tab counts the work its endpoints ask for (declared in its ``tab.py`` as ``COST``)."""
    unit: str  # what one unit is, e.g. "U-Net evaluations of one image"
    seconds_per_unit: float  # measured on the reference machine (see the module's docstring)
    # api_name -> (the formula in the endpoint's argument names, e.g. "steps x n"; the function giving
    # the units a request asks for from the endpoint's inputs as sent, positional and in order)
    endpoints: dict[str, tuple[str, Callable[..., float]]] = field(default_factory=dict)
    fewer: str = "less work"  # what to ask for instead: "fewer steps or images"
    # a representative request, (api_name, inputs): ``bench --costs`` times it to check seconds_per_unit
    probe: tuple[str, tuple] | None = None
    unlimited: str = ""  # how to run it without a limit: the Python function or the CLI line


@dataclass(frozen=True)
class Estimate:
    units: float
    seconds: float
    cost: Cost


def estimate(cost: Cost, api_name: str, inputs: list) -> Estimate | None:
    """The work a request asks for, or None when the endpoint is not costed or its inputs are not
    numbers the endpoint would accept (it refuses those itself, with its own message)."""
    if api_name not in cost.endpoints:
        return None
    _, units_of = cost.endpoints[api_name]
    try:
        units = float(units_of(*inputs))
    except (TypeError, ValueError, OverflowError, IndexError, KeyError, AttributeError):
        return None
    if not math.isfinite(units) or units < 0:
        return None
    return Estimate(units, units * cost.seconds_per_unit, cost)


def check(cost: Cost | None, api_name: str, inputs: list, budget: float | None = None) -> Estimate | None:
    """Refuse (``ValueError``) a request whose estimated work is over the budget (default:
    ``work_budget()``); returns the estimate otherwise."""
    if cost is None:
        return None
    budget = work_budget() if budget is None else budget
    found = estimate(cost, api_name, inputs)
    if found is None or budget is None or found.seconds <= budget:
        return found
    formula = cost.endpoints[api_name][0]
    raise ValueError(
        f"This request asks for about {found.units:,.0f} {cost.unit} ({formula}), about "
        f"{_seconds(found.seconds)} s of compute on a 2-core CPU; this server allows at most {_seconds(budget)} s "
        f"per request, about {budget / cost.seconds_per_unit:,.0f} of them (PLAYGROUND_WORK_BUDGET). Ask for "
        f"{cost.fewer}, or run it without a limit on your own machine: {cost.unlimited}.")


def _seconds(x: float) -> str:
    return f"{x:.2g}" if x < 10 else f"{x:,.0f}"


def units(x) -> float:
    """A number as sent (an int, a float, a numeric string): what the endpoints will round or refuse."""
    if isinstance(x, bool) or x is None:
        raise TypeError
    return float(x)


def describe() -> dict:
    """The limits in force (the System panel shows them)."""
    budget = work_budget()
    queue = queue_size()
    return {
        "where": "Hugging Face Space" if on_space() else "local launch",
        "work budget per request": "none" if budget is None else f"{budget:g} s of estimated compute "
                                                                 "(PLAYGROUND_WORK_BUDGET)",
        "work budget (s)": budget,
        "largest upload": f"{max_file_size()} (PLAYGROUND_MAX_FILE_SIZE)",
        "queue": "unbounded" if queue is None else f"{queue} waiting requests (PLAYGROUND_QUEUE_SIZE)",
        "Python API and CLI": "unlimited",
    }

"""The shared argument checks (``playground.checks``) and the UI's error translation (``uikit.ui_errors``)."""

import math

import gradio as gr
import numpy as np
import pytest

from playground.checks import check_choice, check_float, check_int, short_repr


def test_check_int_accepts_integers_and_integral_floats():
    assert check_int("n", 5, 1, 10) == 5 and check_int("n", 5.0, 1, 10) == 5 and check_int("n", np.int64(3), 1) == 3
    assert check_int("k", 0, 0) == 0 and check_int("k", -4, high=0) == -4 and check_int("k", 10**12) == 10**12


@pytest.mark.parametrize("value, match", [
    (True, r"n must be an integer between 1 and 10, not True"),
    ("5", r"n must be an integer between 1 and 10, not '5'"),
    (None, r"n must be an integer"), (2.5, r"n must be an integer"), (math.nan, r"n must be an integer"),
    (math.inf, r"n must be an integer"), (0, r"n must be between 1 and 10, not 0"), (11, r"n must be between"),
])
def test_check_int_refuses_with_the_allowed_range(value, match):
    with pytest.raises(ValueError, match=match):
        check_int("n", value, 1, 10)


def test_check_int_one_sided_bounds():
    with pytest.raises(ValueError, match=r"--n must be at least 2, not 1"):
        check_int("--n", 1, 2)
    with pytest.raises(ValueError, match=r"k must be at most 3, not 4"):
        check_int("k", 4, high=3)


def test_check_float_bounds_open_and_closed():
    assert check_float("eta", 0, 0, 1) == 0.0 and isinstance(check_float("eta", 1, 0, 1), float)
    assert check_float("t", 10, 0, 10, low_open=True) == 10.0 and check_float("d", 1e9, 0) == 1e9
    for value, match in [(1.5, r"eta must be a number in \[0, 1\], not 1.5"), (-0.1, r"in \[0, 1\]")]:
        with pytest.raises(ValueError, match=match):
            check_float("eta", value, 0, 1)
    with pytest.raises(ValueError, match=r"temperature must be a number in \(0, 10\], not 0"):
        check_float("temperature", 0, 0, 10, low_open=True)
    with pytest.raises(ValueError, match=r"delay must be a number >= 0 \(seconds\), not -1"):
        check_float("delay", -1, 0, note="(seconds)")
    with pytest.raises(ValueError, match=r"x must be a number < 1"):
        check_float("x", 1, high=1, high_open=True)


@pytest.mark.parametrize("value", [True, False, None, "0.5", math.nan, math.inf, -math.inf, [0.5], np.array(0.5)])
def test_check_float_refuses_bools_text_and_non_finite(value):
    with pytest.raises(ValueError, match=r"^x must be a"):
        check_float("x", value, 0, 1)
    with pytest.raises(ValueError, match=r"^x must be a finite number"):
        check_float("x", value)


def test_check_choice_matches_type_and_value_and_lists_the_choices():
    assert check_choice("arch", "dcgan", ("dcgan", "su2017")) == "dcgan"
    assert check_choice("arch", np.str_("su2017"), ["dcgan", "su2017"]) == "su2017"  # a str subclass is a str
    assert check_choice("preset", "fast", {"fast": 1, "slow": 2}) == "fast"  # a dict's keys
    assert check_choice("search", None, [None, "none"]) is None
    for value in (True, 1.0, ["dcgan"], np.array(["dcgan"]), {"dcgan": 1}):
        with pytest.raises(ValueError, match=r"arch must be one of \['dcgan', 'su2017'\]"):
            check_choice("arch", value, ("dcgan", "su2017"))
    with pytest.raises(ValueError, match=r"k must be one of \[1, 2\], not True"):  # True == 1, but not a count
        check_choice("k", True, (1, 2))
    with pytest.raises(ValueError, match=r"\(or None: the default\), not 'x'"):
        check_choice("search", "x", ("none",), note="(or None: the default)")


def test_messages_never_echo_a_long_input():
    long = "x" * 100_000
    for check in (lambda: check_int("n", long, 1, 2), lambda: check_float("t", long, 0, 1),
                  lambda: check_choice("a", long, ("b",))):
        with pytest.raises(ValueError) as err:
            check()
        assert len(str(err.value)) < 200 and "100002 characters" in str(err.value)
    assert short_repr("ab") == "'ab'"


def test_checks_is_the_one_validator_and_device_re_exports_it():
    from playground import device, uikit

    assert device.check_int is check_int and uikit.check_int is check_int


# --------------------------------------------------------------------------- ui_errors
def test_ui_errors_translates_plain_handlers():
    from playground.uikit import ui_errors

    @ui_errors
    def handler(x):
        if x == "bad":
            raise ValueError("x must be good")
        if x == "oom":
            raise RuntimeError("out of memory")
        if x == "page":
            raise gr.Error("already for the page", title="kept")
        return x

    assert handler("ok") == "ok"
    with pytest.raises(gr.Error) as err:
        handler("bad")
    assert err.value.message == "x must be good"
    with pytest.raises(gr.Error, match="generation failed on .*: out of memory"):
        handler("oom")
    with pytest.raises(gr.Error) as err:
        handler("page")
    assert err.value.title == "kept"  # a gr.Error (itself a ValueError) passes through as it is


def test_ui_errors_wraps_generators_before_and_during_the_stream():
    import inspect

    from playground.uikit import ui_errors

    @ui_errors
    def stream(fail_at, progress=None):
        if fail_at == 0:
            raise ValueError("steps must be between 1 and 10, not 0")  # a check before the first step
        for i in range(1, 4):
            if i == fail_at:
                raise RuntimeError("CUDA out of memory")
            yield i

    assert inspect.isgeneratorfunction(stream)  # Gradio streams what a generator function yields
    assert "progress" in inspect.signature(stream).parameters  # and sees the handler's own parameters
    assert list(stream(None)) == [1, 2, 3]
    with pytest.raises(gr.Error, match="steps must be between"):
        list(stream(0))
    seen = []
    with pytest.raises(gr.Error, match="generation failed on .*CUDA out of memory"):
        for i in stream(3):
            seen.append(i)
    assert seen == [1, 2]  # the steps before the fault were streamed

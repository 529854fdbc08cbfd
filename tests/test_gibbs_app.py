"""The Gibbs tab through gradio_client against the launched app: sampling with each method, the stream,
bad inputs."""

from pathlib import Path

import pytest
from gradio_client.exceptions import AppError

from playground import gibbs

DEFAULTS = ("科学技术____生产力。", 16, 2, 40, 10, 1.0, 0, "random", "linear:0.1", 7)


def test_sample_matches_the_python_api_and_keeps_the_template(client):
    text, path = client.predict(*DEFAULTS, api_name="/gibbs_sample")
    lines = text.split("\n")
    assert lines == gibbs.sample("科学技术____生产力。", n=2, steps=40, burn_in=10, anneal="linear:0.1", seed=7)
    assert all(len(t) == len("科学技术____生产力。") and t.startswith("科学技术") and t.endswith("生产力。") for t in lines)
    saved = Path(path).read_text(encoding="utf-8").splitlines()
    assert saved[0].startswith("# ") and saved[1:] == lines


def test_the_chain_streams_then_ends_on_the_same_samples(client):
    updates = list(client.submit("", 12, 3, 60, 0, 1.0, 0, "sequential", "none", 11, api_name="/gibbs_chain"))
    assert len(updates) >= 3  # throttled to ~12 updates a second, the last step always sent
    live, text, _ = updates[-1]
    assert "step 60 / 60" in live and 'class="hit' in live
    assert text.split("\n") == gibbs.sample(length=12, n=3, steps=60, burn_in=0, order="sequential", seed=11)


@pytest.mark.parametrize("method, steps", [("mh", 24), ("mh-raw", 24), ("mask-predict", 6)])
def test_every_method_through_the_client_matches_the_python_api(client, method, steps):
    args = ("科学技术____生产力。", 16, 2, steps, 0, 1.0, 0, "random", "none", 3, method)
    text, _ = client.predict(*args, api_name="/gibbs_sample")
    assert text.split("\n") == gibbs.sample("科学技术____生产力。", n=2, steps=steps, burn_in=0, seed=3, method=method)
    updates = list(client.submit(*args, api_name="/gibbs_chain"))
    live, streamed, _ = updates[-1]
    assert streamed == text and f"{method} · " in live and f"{steps} / {steps}" in live
    assert ("proposals accepted" in live) == method.startswith("mh")
    assert ("slots redrawn" in live) == (method == "mask-predict")


def test_the_domain_through_the_client_matches_the_python_api(client):
    args = ("", 12, 2, 30, 0, 1.0, 0, "random", "none", 5, "gibbs")
    review, _ = client.predict(*args, "review", api_name="/gibbs_sample")
    assert review.split("\n") == gibbs.sample(length=12, n=2, steps=30, burn_in=0, seed=5, domain="review")
    news, _ = client.predict(*args, "", api_name="/gibbs_sample")  # "": the model's default, news
    assert news.split("\n") == gibbs.sample(length=12, n=2, steps=30, burn_in=0, seed=5, domain="news") != \
        review.split("\n")
    live, streamed, _ = list(client.submit(*args, "review", api_name="/gibbs_chain"))[-1]
    assert streamed == review and "domain: review" in live


@pytest.mark.parametrize(
    "change, match",
    [
        ({0: "科学技术"}, "no free slots"),
        ({0: "", 1: 0}, "length must be between 1 and 128"),
        ({0: "", 1: 129}, "length must be between 1 and 128"),
        ({3: 10, 4: 10}, r"burn_in \(10\) must be below steps \(10\)"),
        ({5: 0}, "temperature must be"),
        ({5: "hot"}, "temperature must be"),
        ({2: 17}, "at most 16 in the app"),
        ({3: 2001}, "at most 2000 in the app"),
        ({7: "zigzag"}, "order must be one of"),
        ({8: "cubic:0.1"}, "anneal"),
        ({9: -1}, "seed must be between"),
        ({0: 42}, "template must be text"),
        ({10: "beam"}, "method must be one of"),
        ({11: "poetry"}, "domain must be one of"),
        ({11: 3}, "domain must be one of"),
    ],
)
@pytest.mark.parametrize("api_name", ["/gibbs_sample", "/gibbs_chain"])
def test_bad_inputs_give_clear_errors_and_the_server_keeps_serving(client, change, match, api_name):
    args = list(DEFAULTS) + ["gibbs", "news"]
    for i, v in change.items():
        args[i] = v
    with pytest.raises(AppError, match=match):
        client.predict(*args, api_name=api_name)
    assert client.predict("__", 2, 1, 2, 0, 1.0, 0, "random", "none", 0, api_name="/gibbs_sample")[0]

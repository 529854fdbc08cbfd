"""The launched app (`python app.py`) answering gradio_client calls, bad inputs included."""

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from gradio_client.exceptions import AppError
from PIL import Image

from playground import gan


def _images(result):
    return [Image.open(item["image"]) for item in result]


def test_generate_matches_the_python_api(client):
    result = client.predict("dcgan", 42, 6, api_name="/gan_generate")
    images = _images(result)
    assert len(images) == 6 and all(im.size == (28, 28) for im in images)
    pixels = np.stack([np.asarray(im.convert("L")) for im in images])
    assert np.array_equal(pixels, gan.generate(6, seed=42, output_type="np"))
    assert json.loads(images[5].info["parameters"]) == {"model": "gan/dcgan", "seed": 42, "n": 6, "index": 5}


def test_su2017_and_interpolation(client):
    assert len(client.predict("su2017", 1, 3, api_name="/gan_generate")) == 3
    frames, gif = client.predict("dcgan", 3, 4, 5, api_name="/gan_interpolate")
    assert len(frames) == 5
    animation = Image.open(gif)
    assert animation.format == "GIF" and animation.n_frames == 8


def test_empty_seed_draws_one_and_records_it(client):
    images = _images(client.predict("su2017", None, 2, api_name="/gan_generate"))
    seed = json.loads(images[0].info["parameters"])["seed"]
    assert np.array_equal(np.asarray(images[1].convert("L")), gan.generate(2, seed=seed, arch="su2017", output_type="np")[1])
    frames, gif = client.predict("su2017", None, None, 3, api_name="/gan_interpolate")
    assert len(frames) == 3 and Image.open(gif).n_frames == 4


def test_random_seed_model_card_and_system(client):
    seed = client.predict(api_name="/gan_random_seed")
    assert 0 <= seed < 2**32
    card, plot = client.predict("su2017", api_name="/gan_model_card")
    assert "su2017" in card and "Measured quality" in card
    status = client.predict(api_name="/system_status")
    assert status["device"] and "gan/dcgan" in status["loaded_models"]


@pytest.mark.parametrize(
    "args, api_name, match",
    [
        (("dcgan", 0, 999), "/gan_generate", "at most 256 in the app"),
        (("dcgan", 0, 0), "/gan_generate", "n must be between 1 and 10000"),
        (("dcgan", -5, 4), "/gan_generate", "seed must be between 0 and"),
        (("biggan", 0, 4), "/gan_generate", "arch must be one of"),
        (("dcgan", 0, None), "/gan_generate", "n must be an integer"),
        (("dcgan", "abc", 4), "/gan_generate", "seed must be an integer"),
        (("dcgan", 1.5, 4), "/gan_generate", "seed must be an integer"),
        (("dcgan", {"a": 1}, 4), "/gan_generate", "seed must be an integer"),
        ((None, 0, 4), "/gan_generate", "arch must be one of"),
        (("dcgan", 0, 1, 1), "/gan_interpolate", "steps must be between 2 and 64"),
        (("dcgan", 0, 1, None), "/gan_interpolate", "steps must be an integer"),
        (("dcgan", 0, 2**40, 4), "/gan_interpolate", "seed_b must be between"),
        (("su2017", [1], 2, 4), "/gan_interpolate", "seed_a must be an integer"),
        (("stylegan",), "/gan_model_card", "arch must be one of"),
    ],
)
def test_bad_inputs_give_clear_errors_and_the_server_keeps_serving(client, args, api_name, match):
    with pytest.raises(AppError, match=match):
        client.predict(*args, api_name=api_name)
    assert len(client.predict("dcgan", 0, 2, api_name="/gan_generate")) == 2


def test_concurrent_identical_requests_all_arrive(client):
    jobs = [client.submit("dcgan", 7, 8, api_name="/gan_generate") for _ in range(16)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda j: j.result(timeout=120), jobs))
    first = None
    for result in results:
        images = _images(result)
        assert len(images) == 8
        pixels = np.stack([np.asarray(im.convert("L")) for im in images])
        first = pixels if first is None else first
        assert np.array_equal(pixels, first)
    ids = {im.info["request_id"] for r in results for im in _images(r)}
    assert len(ids) == 16 * 8  # every file distinct, so no two requests share a cache path


def test_concurrent_identical_interpolations_all_arrive(client):
    jobs = [client.submit("su2017", 5, 6, 4, api_name="/gan_interpolate") for _ in range(8)]
    gifs = [job.result(timeout=120)[1] for job in jobs]
    assert len(set(gifs)) == 8
    assert all(Image.open(g).n_frames == 6 for g in gifs)

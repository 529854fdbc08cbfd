"""The DDPM tab through gradio_client against the launched app: generate, the streamed
denoising, interpolation, bad inputs."""

import json

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from playground import ddpm


def _images(result):
    return [Image.open(item["image"]) for item in result]


def test_generate_matches_the_python_api(client):
    images = _images(client.predict("ddim", 10, 0.0, 42, 3, api_name="/ddpm_generate"))
    assert len(images) == 3 and all(im.size == (28, 28) for im in images)
    pixels = np.stack([np.asarray(im.convert("L")) for im in images])
    assert np.array_equal(pixels, ddpm.generate(3, steps=10, sampler="ddim", seed=42, output_type="np"))
    assert json.loads(images[0].info["parameters"])["sampler"] == "ddim"


def test_frames_stream_every_step_then_the_samples(client):
    job = client.submit("dpm++", 6, 0.0, 5, 4, api_name="/ddpm_frames")
    updates = list(job)  # every streamed output, in order
    assert len(updates) >= 6  # one per step, then the final one with samples and GIF
    xt_panel, x0_panel, samples, gif, scrub = updates[-1]  # the saved frames live in a gr.State: not sent
    assert Image.open(xt_panel).size[0] > 28 and Image.open(x0_panel).size == Image.open(xt_panel).size
    pixels = np.stack([np.asarray(im.convert("L")) for im in _images(samples)])
    assert np.array_equal(pixels, ddpm.generate(4, steps=6, sampler="dpm++", seed=5, output_type="np"))
    assert Image.open(gif).n_frames >= 6
    steps_seen = [json.loads(Image.open(u[0]).info["parameters"])["step"] for u in updates]
    assert steps_seen[:6] == [1, 2, 3, 4, 5, 6]


def test_class_and_guidance_match_the_python_api(client):
    result = client.predict("dpm++", 5, 0.0, 3, 4, "ddpm-fashion-cfg", "Ankle boot", 2.5, api_name="/ddpm_generate")
    images = _images(result)
    pixels = np.stack([np.asarray(im.convert("L")) for im in images])
    assert np.array_equal(pixels, ddpm.generate(4, steps=5, sampler="dpm++", seed=3, model="ddpm-fashion-cfg",
                                                label="Ankle boot", guidance=2.5, output_type="np"))
    params = json.loads(images[0].info["parameters"])
    assert params["label"] == "Ankle boot" and params["guidance"] == 2.5 and params["model"] == "ddpm/ddpm-fashion-cfg"
    # "any": a class per image, each recorded; the same seed gives the same images as the API's label=None
    anyclass = _images(client.predict("dpm++", 5, 0.0, 3, 4, "ddpm-fashion-cfg", "any", 2.5,
                                      api_name="/ddpm_generate"))
    assert np.array_equal(np.stack([np.asarray(im.convert("L")) for im in anyclass]),
                          ddpm.generate(4, steps=5, seed=3, model="ddpm-fashion-cfg", guidance=2.5, output_type="np"))
    # the write-up's model: "any" and a guidance slider it ignores; a class is refused
    plain = _images(client.predict("dpm++", 5, 0.0, 3, 2, "ddpm-fashion", "any", 2.5, api_name="/ddpm_generate"))
    assert np.array_equal(np.stack([np.asarray(im.convert("L")) for im in plain]),
                          ddpm.generate(2, steps=5, seed=3, model="ddpm-fashion", output_type="np"))
    with pytest.raises(AppError, match="is unconditional"):
        client.predict("dpm++", 5, 0.0, 3, 2, "ddpm-fashion", "Bag", 1.0, api_name="/ddpm_generate")


def test_frames_stream_a_class_with_its_captions(client):
    job = client.submit("unipc", 4, 0.0, 1, 3, "ddpm-fashion-cfg", "Trouser", 2.0, api_name="/ddpm_frames")
    *_, last = list(job)
    samples = last[2]
    assert [item["caption"] for item in samples] == ["Trouser"] * 3
    pixels = np.stack([np.asarray(Image.open(item["image"]).convert("L")) for item in samples])
    assert np.array_equal(pixels, ddpm.generate(3, steps=4, sampler="unipc", seed=1, model="ddpm-fashion-cfg",
                                                label="Trouser", guidance=2.0, output_type="np"))


def test_the_sampler_grid_and_the_model_switch(client):
    cells = client.predict(7, "ddpm-fashion-cfg", "Sneaker", 1.0, api_name="/ddpm_sampler_grid")
    assert len(cells) == 20 and cells[0]["caption"] == "ddpm, 5 steps (Sneaker)"
    assert cells[-1]["caption"] == "unipc, 50 steps (Sneaker)"
    last = np.asarray(Image.open(cells[-1]["image"]).convert("L"))
    assert np.array_equal(last, ddpm.generate(1, steps=50, sampler="unipc", seed=7, model="ddpm-fashion-cfg",
                                              label="Sneaker", guidance=1.0, output_type="np")[0])
    label, guidance = client.predict("ddpm-fashion", api_name="/ddpm_model_changed")  # widget updates
    assert label["value"] == "any" and label["interactive"] is False and guidance["interactive"] is False
    label, guidance = client.predict("ddpm-fashion-cfg", api_name="/ddpm_model_changed")
    assert label["interactive"] is True and guidance["interactive"] is True
    assert guidance["value"] == ddpm.load_unet("ddpm-fashion-cfg").default_guidance


def test_presets(client):
    assert client.predict("faithful", api_name="/ddpm_preset") == ("ddpm", 1000)
    assert client.predict("fast", api_name="/ddpm_preset") == ("dpm++", 10)


def test_interpolate_uploaded_images(client, tmp_path):
    from playground.data import load_fashion_mnist

    test, _ = load_fashion_mnist("test")
    paths = []
    for i in range(2):
        paths.append(tmp_path / f"im{i}.png")
        Image.fromarray(np.asarray(test[i])).save(paths[-1])
    strip, gif = client.predict(handle_file(str(paths[0])), handle_file(str(paths[1])), 400, 20, 5, 0,
                                api_name="/ddpm_interpolate")
    assert len(strip) == 5 and Image.open(gif).n_frames == 8  # ping-pong: 5 forward + 3 back


@pytest.mark.parametrize(
    "args, api_name, match",
    [
        (("dpm++", 0, 0.0, 0, 4), "/ddpm_generate", "steps must be between 1 and 1000"),
        (("dpm++", 1001, 0.0, 0, 4), "/ddpm_generate", "steps must be between 1 and 1000"),
        (("euler", 10, 0.0, 0, 4), "/ddpm_generate", "sampler must be one of"),
        (("ddim", 10, 1.5, 0, 4), "/ddpm_generate", r"eta must be a number in \[0, 1\]"),
        (("ddim", 10, None, 0, 4), "/ddpm_generate", "eta must be"),
        (("dpm++", 10, 0.0, 0, 257), "/ddpm_generate", "at most 256 in the app"),
        (("dpm++", 10, 0.0, -5, 4), "/ddpm_generate", "seed must be between"),
        (("dpm++", 10, 0.0, 0, 65), "/ddpm_frames", "n must be between 1 and 64"),
        (("dpm++", "ten", 0.0, 0, 4), "/ddpm_frames", "steps must be an integer"),
        (("fastest",), "/ddpm_preset", "preset must be one of"),
        (("dpm++", 10, 0.0, 0, 4, "ddpm-fashion-cfg", "Hat", 2.0), "/ddpm_generate", "label must be a Fashion-MNIST"),
        (("dpm++", 10, 0.0, 0, 4, "ddpm-fashion-cfg", "Bag", 25), "/ddpm_frames", "guidance must be"),
        (("dpm++", 10, 0.0, 0, 4, "stable-diffusion", "Bag", 2), "/ddpm_generate", "model must be one of"),
        ((None, None, 500, 25, 8, 0), "/ddpm_interpolate", "image A: pick a sample"),
    ],
)
def test_bad_inputs_give_clear_errors_and_the_server_keeps_serving(client, args, api_name, match):
    with pytest.raises(AppError, match=match):
        client.predict(*args, api_name=api_name)
    assert len(client.predict("dpm++", 2, 0.0, 0, 1, api_name="/ddpm_generate")) == 1


def test_a_non_image_upload_is_refused(client, tmp_path):
    bad = tmp_path / "fake.png"
    bad.write_text("not an image")
    with pytest.raises(AppError, match="not a readable image file"):
        client.predict(handle_file(str(bad)), handle_file(str(bad)), 500, 25, 4, 0, api_name="/ddpm_interpolate")


def test_a_bare_path_instead_of_an_upload_is_refused(client):
    # Gradio validates file payloads before the handler runs: a bare server path is rejected (with
    # Gradio's generic message) and never opened; the server keeps serving.
    with pytest.raises(AppError):
        client.predict("/etc/passwd", "/etc/passwd", 500, 25, 4, 0, api_name="/ddpm_interpolate")
    assert len(client.predict("dpm++", 2, 0.0, 0, 2, api_name="/ddpm_generate")) == 2

"""Issue 9: a corrupt or truncated shipped checkpoint, a missing data file or engine, and a Hub id
while offline each give a clear error for that tab only; the other tabs keep working.

API level: every tab's loader against each kind of broken checkpoint folder (tmp copies under
``$PLAYGROUND_CHECKPOINTS``), weights files that lack tensors (which transformers and diffusers
would otherwise load as random or empty weights), recovery once the file is fixed, garbled card
and log files, Fashion-MNIST missing, the engine missing or broken, ``$PLAYGROUND_HUB_REPO``
offline. App level: the real app (``python app.py``) started with two tabs' checkpoints corrupt,
garbled card files, no engine and no data; then with an unreachable Hub repository.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import gradio as gr
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from playground.device import manager

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "checkpoints"
HUB_REPO = "playground-tests/no-such-repo"


# --------------------------------------------------------------------------- API level
def _gan():
    from playground.gan import api
    return api.generate(2, seed=0, arch="dcgan", output_type="np")


def _ddpm():
    from playground.ddpm import api
    return api.generate(1, steps=2, seed=0, output_type="np", model="ddpm-fashion")


def _ddpm_cfg():
    from playground.ddpm import api
    return api.generate(1, steps=2, seed=0, output_type="np", model="ddpm-fashion-cfg", label="Bag")


def _eae():
    from playground.eae import api
    return api.generate(2, seed=0, model="eae", output_type="np")


def _xiangqi():
    from playground.xiangqi import api
    return api.candidates([], k=3)


def _gibbs():
    from playground.gibbs import api
    return api.sample("科学技术__", n=1, steps=4, burn_in=0, seed=0)


# checkpoint folder -> (its weights file, its config file, a call that loads it)
TABS = {
    "gan-dcgan": ("model.safetensors", "config.json", _gan),
    "ddpm-fashion": ("unet/diffusion_pytorch_model.safetensors", "unet/config.json", _ddpm),
    "ddpm-fashion-cfg": ("unet/diffusion_pytorch_model.safetensors", "unet/config.json", _ddpm_cfg),
    "eae-eae": ("model.safetensors", "config.json", _eae),
    "xiangqi-gpt": ("model-00001-of-00002.safetensors", "config.json", _xiangqi),
    "gibbs-bert": ("model.safetensors", "config.json", _gibbs),
}


def break_checkpoint(folder: Path, fault: str) -> None:
    weights, config = (folder / f for f in TABS[folder.name][:2])
    if fault == "truncated":
        data = weights.read_bytes()
        weights.write_bytes(data[: len(data) // 2])
    elif fault == "garbage":
        weights.write_bytes(os.urandom(weights.stat().st_size))
    elif fault == "config garbled":
        config.write_text('{"not json')
    elif fault == "config missing":
        config.unlink()
    elif fault == "folder missing":
        shutil.rmtree(folder)
    else:
        raise AssertionError(fault)


@pytest.fixture
def checkpoints(tmp_path, monkeypatch):
    """A checkpoints folder of symlinks to the shipped ones (``$PLAYGROUND_CHECKPOINTS``);
    ``checkpoints(name)`` swaps one for a real copy to break. The device manager's cache is
    cleared before and after, so no model loaded elsewhere hides a fault."""
    root = tmp_path / "checkpoints"
    root.mkdir()
    for d in SHIPPED.iterdir():
        (root / d.name).symlink_to(d)
    monkeypatch.setenv("PLAYGROUND_CHECKPOINTS", str(root))
    monkeypatch.delenv("PLAYGROUND_HUB_REPO", raising=False)

    def own(name: str) -> Path:
        (root / name).unlink()
        shutil.copytree(SHIPPED / name, root / name)
        return root / name

    manager.unload()
    yield own
    manager.unload()


FAULTS = ["truncated", "garbage", "config garbled", "config missing", "folder missing"]


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("name", list(TABS))
def test_broken_checkpoint_is_a_clear_error(checkpoints, name, fault):
    folder = checkpoints(name)
    break_checkpoint(folder, fault)
    with pytest.raises(ValueError) as err:
        TABS[name][2]()
    message = str(err.value)
    assert str(folder) in message, message  # names the folder
    assert "PLAYGROUND_CHECKPOINTS" in message and "intact copy" in message, message  # says what to do
    assert ("missing" if "missing" in fault else "corrupt") in message, message
    assert "Traceback" not in message and len(message) < 1500
    assert not manager.loaded()  # nothing half-loaded is cached


def _drop_a_tensor(path: Path) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(path)
    del tensors[sorted(tensors)[-1]]
    save_file(tensors, path, metadata={"format": "pt"})


@pytest.mark.parametrize("name", ["ddpm-fashion", "xiangqi-gpt", "gibbs-bert"])
def test_weights_lacking_a_tensor_are_refused(checkpoints, name):
    """transformers would fill a missing weight with random values and diffusers would leave it
    empty (on the meta device): both must be a clear error, not a random model or a traceback."""
    folder = checkpoints(name)
    weights = folder / ("model-00002-of-00002.safetensors" if name == "xiangqi-gpt" else TABS[name][0])
    _drop_a_tensor(weights)
    with pytest.raises(ValueError, match="corrupt or incomplete") as err:
        TABS[name][2]()
    assert str(folder) in str(err.value)
    assert not manager.loaded()


@pytest.mark.parametrize("name", list(TABS))
def test_fixed_checkpoint_loads_on_the_next_call(checkpoints, name):
    folder = checkpoints(name)
    weights = folder / TABS[name][0]
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(ValueError, match="corrupt"):
        TABS[name][2]()
    weights.write_bytes(good)
    assert TABS[name][2]() is not None
    assert manager.loaded()


def test_one_broken_tab_leaves_the_others_working(checkpoints):
    break_checkpoint(checkpoints("gan-dcgan"), "truncated")
    with pytest.raises(ValueError, match="gan-dcgan"):
        _gan()
    assert _eae().shape == (2, 28, 28)
    assert len(_xiangqi()) == 3


# -- the Hub, offline
@pytest.fixture
def offline_hub(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setenv("PLAYGROUND_HUB_REPO", HUB_REPO)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what HF_HUB_OFFLINE=1 sets at import
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    manager.unload()
    yield
    manager.unload()


@pytest.mark.parametrize("name", list(TABS))
def test_offline_hub_repo_is_a_clear_error(offline_hub, name):
    with pytest.raises(ValueError) as err:
        TABS[name][2]()
    message = str(err.value)
    assert HUB_REPO in message and name in message, message
    assert "Unset PLAYGROUND_HUB_REPO" in message, message


def test_offline_hub_repo_cards_do_not_stop_the_app(offline_hub):
    from playground.ddpm import ui as ddpm_ui
    from playground.eae import ui as eae_ui
    from playground.gan import ui as gan_ui
    from playground.gibbs import ui as gibbs_ui
    from playground.xiangqi import ui as xiangqi_ui

    assert HUB_REPO in ddpm_ui.model_card()[0]
    assert HUB_REPO in gibbs_ui.gibbs_model_card()[0]
    assert HUB_REPO in xiangqi_ui.xiangqi_model_card()
    assert eae_ui.metrics_table().empty and ddpm_ui.sampler_table().empty
    for card in (gan_ui.gan_model_card, eae_ui.eae_model_card):  # the endpoints: a gr.Error
        with pytest.raises(gr.Error, match="PLAYGROUND_HUB_REPO"):
            card("dcgan" if card is gan_ui.gan_model_card else "eae")


# -- card and log files
def test_garbled_card_and_log_files_give_empty_views(tmp_path):
    from playground.checkpoints import read_json
    from playground.ddpm import ui as ddpm_ui
    from playground.eae import ui as eae_ui
    from playground.gan import ui as gan_ui
    from playground.gibbs import ui as gibbs_ui
    from playground.uikit import card_markdown

    (tmp_path / "README.md").write_bytes(b"\xff\xfe\x00garbage" * 50)
    assert "cannot be read" in card_markdown(tmp_path)
    (tmp_path / "metrics.json").write_bytes(b"\xff{garbage")
    assert read_json(tmp_path / "metrics.json") == {}
    log = tmp_path / "loss.csv"
    for loss_frame in (gan_ui.loss_frame, ddpm_ui.loss_frame, eae_ui.loss_frame, gibbs_ui.loss_frame):
        for content in (os.urandom(2000), b"step,loss\n1,abc\nxx\n", b"a,b\n1,2\n", b""):
            log.write_bytes(content)
            assert loss_frame(log).empty
    # a log cut mid-line keeps its whole rows
    log.write_text("step,loss\n1,0.5\n2,0.4\n3")
    assert ddpm_ui.loss_frame(log)["step"].tolist() == [1, 2]


# -- Fashion-MNIST missing
def test_missing_fashion_mnist_is_a_clear_error(tmp_path, monkeypatch):
    from playground.data import load_fashion_mnist
    from playground.eae import api as eae_api
    from playground.eae import ui as eae_ui

    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "no-data"))
    with pytest.raises(FileNotFoundError):  # what scripts catch
        load_fashion_mnist("test")
    with pytest.raises(ValueError, match="apt-get install dataset-fashion-mnist"):  # what the app translates
        eae_api.latent_report("eae")
    with pytest.raises(gr.Error, match="Fashion-MNIST file .* not found"):
        eae_ui.eae_reconstruct("eae", None, 4, 0)


# -- the engine
def test_missing_or_broken_engine_is_a_clear_error(tmp_path, monkeypatch):
    from playground.xiangqi import engine
    from playground.xiangqi import ui as xiangqi_ui

    not_executable = tmp_path / "fairy-stockfish"
    not_executable.write_text("not a program")
    not_executable.chmod(0o644)
    for path, match in [(tmp_path / "missing", "does not exist"), (not_executable, "not an executable file"),
                        (Path("/bin/false"), "did not start as a UCI engine")]:
        monkeypatch.setenv("FAIRY_STOCKFISH", str(path))
        with pytest.raises(engine.EngineMissing, match=match) as err:
            engine.Engine()
        assert str(path) in str(err.value) and "FAIRY_STOCKFISH" in str(err.value)
        watch = xiangqi_ui.xiangqi_watch("fairy-stockfish depth 1", "red", 0)
        with pytest.raises(gr.Error, match=match):
            next(watch)


# --------------------------------------------------------------------------- app level
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(env: dict, log: Path):
    """``python app.py`` with ``env`` on a free port; (process, url) once it answers."""
    port = _free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False", **env}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"app.py did not start (exit code {proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url, timeout=2)
            return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail(f"app.py did not answer within 180 s:\n{log.read_text()[-3000:]}")


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _app_error(client: Client, *args, api_name: str) -> str:
    with pytest.raises(AppError) as err:
        client.predict(*args, api_name=api_name)
    message = str(err.value)
    assert "Traceback" not in message and "raised an exception" not in message, message
    return message


@pytest.fixture(scope="module")
def broken_app(tmp_path_factory):
    """The app with the ddpm (both models) and gibbs checkpoints corrupt, the default GAN's and EAE's model
    card and loss log garbled (their weights intact), no engine and no Fashion-MNIST."""
    tmp = tmp_path_factory.mktemp("broken-app")
    root = tmp / "checkpoints"
    root.mkdir()
    for d in SHIPPED.iterdir():
        if d.name in ("ddpm-fashion", "ddpm-fashion-cfg", "gibbs-bert"):
            shutil.copytree(d, root / d.name)
        elif d.name in ("gan-dcgan", "eae-eae"):  # real folders of links, the card files garbled
            (root / d.name).mkdir()
            for f in d.iterdir():
                (root / d.name / f.name).symlink_to(f)
            for f in ("README.md", "loss.csv"):
                (root / d.name / f).unlink()
                (root / d.name / f).write_bytes(os.urandom(1000))
        else:
            (root / d.name).symlink_to(d)
    break_checkpoint(root / "ddpm-fashion", "truncated")
    break_checkpoint(root / "ddpm-fashion-cfg", "truncated")
    break_checkpoint(root / "gibbs-bert", "config garbled")
    env = {"PLAYGROUND_CHECKPOINTS": str(root), "FAIRY_STOCKFISH": str(tmp / "no-engine"),
           "FASHION_MNIST_DIR": str(tmp / "no-data"), "PLAYGROUND_HUB_REPO": ""}
    proc, url = _launch(env, tmp / "app.log")
    yield Client(url, verbose=False), root
    _stop(proc)


GIBBS_ARGS = ("科学技术____生产力。", 16, 1, 5, 0, 1.0, 0, "random", "none", 0)


def test_app_broken_tabs_fail_alone(broken_app):
    client, root = broken_app
    # the broken tabs: a gr.Error naming the checkpoint and what to do
    for api_name in ("/ddpm_generate", "/ddpm_frames"):
        for model in ("ddpm-fashion-cfg", "ddpm-fashion"):  # the default (the dropdown's value) and the other
            message = _app_error(client, "dpm++", 2, 0, 0, 1, model, api_name=api_name)
            assert f"{root / model}" in message and "corrupt" in message and "PLAYGROUND_CHECKPOINTS" in message
    for api_name in ("/gibbs_sample", "/gibbs_chain"):
        message = _app_error(client, *GIBBS_ARGS, api_name=api_name)
        assert str(root / "gibbs-bert") in message and "corrupt" in message and "PLAYGROUND_CHECKPOINTS" in message
    message = _app_error(client, "fairy-stockfish depth 1", "red", 0, api_name="/xiangqi_watch")
    assert "no-engine" in message and "FAIRY_STOCKFISH" in message
    message = _app_error(client, "eae", None, 4, 0, api_name="/eae_reconstruct")
    assert "Fashion-MNIST" in message and "no-data" in message
    # the other tabs (and the broken tabs' other features) work
    assert len(client.predict("dcgan", 0, 4, api_name="/gan_generate")) == 4
    assert len(client.predict("eae", 0, 4, 1.0, api_name="/eae_generate")) == 4
    history = client.predict("", "h2e2", "red", 0, api_name="/xiangqi_move")[0]
    assert history.startswith("h2e2 ") and len(history.split()) == 2
    assert client.predict("fast", api_name="/ddpm_preset") == ("dpm++", 10)
    card, _ = client.predict("dcgan", api_name="/gan_model_card")
    assert "cannot be read" in card
    card, _ = client.predict("su2017", api_name="/gan_model_card")
    assert "su2017" in card
    assert client.predict(api_name="/system_status")["device"]


def test_app_offline_hub_repo(tmp_path):
    """With an unreachable Hub repository the app starts, and every tab's model says which
    repository failed and to unset PLAYGROUND_HUB_REPO."""
    env = {"PLAYGROUND_HUB_REPO": HUB_REPO, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc, url = _launch(env, tmp_path / "app.log")
    try:
        client = Client(url, verbose=False)
        calls = {"/gan_generate": ("dcgan", 0, 2), "/ddpm_generate": ("dpm++", 2, 0, 0, 1),
                 "/eae_generate": ("eae", 0, 2, 1.0), "/xiangqi_candidates": ("", 3), "/gibbs_sample": GIBBS_ARGS}
        for api_name, args in calls.items():
            message = _app_error(client, *args, api_name=api_name)
            assert HUB_REPO in message and "Unset PLAYGROUND_HUB_REPO" in message, (api_name, message)
        # what needs no model still works
        assert client.predict("", "red", api_name="/xiangqi_undo")[0] == ""
    finally:
        _stop(proc)


def test_a_tied_weight_listed_as_missing_is_not_a_fault():
    # transformers sometimes lists GPT-2's lm_head (tied to the token embedding) as missing
    from transformers import GPT2Config, GPT2LMHeadModel

    from playground.checkpoints import check_loading_info

    model = GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=8, n_head=2, vocab_size=10, n_positions=8))
    check_loading_info("checkpoints/some-gpt", {"missing_keys": ["lm_head.weight"]}, model)
    with pytest.raises(ValueError, match="transformer.wte.weight"):
        check_loading_info("checkpoints/some-gpt", {"missing_keys": ["lm_head.weight", "transformer.wte.weight"]},
                           model)

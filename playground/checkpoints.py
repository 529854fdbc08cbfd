"""Where shipped weights live and how they are loaded (safetensors only, never pickle).

Checkpoints are ``PyTorchModelHubMixin`` / ``save_pretrained`` folders under
``checkpoints/`` (override with ``$PLAYGROUND_CHECKPOINTS``). Setting
``$PLAYGROUND_HUB_REPO=owner/name`` loads the same folder layout from a Hugging Face Hub
repository instead; offline, that fails with a clear message.

Two loaders, one per kind of folder:

* ``load_pretrained(cls, name)``: our own networks (``PyTorchModelHubMixin``: ``config.json`` +
  ``model.safetensors``), built from the config and loaded strictly;
* ``load_saved(load, source, what)``: a transformers or diffusers ``save_pretrained`` folder, or a
  Hugging Face Hub id, through the library's own ``from_pretrained`` (``load``).

Both raise ``ValueError`` naming the folder (or the Hub id) and saying what to do, in our words.
"""

from __future__ import annotations

import contextlib
import inspect
import json
import os
import re
import sys
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SAVE_HINT = "pass a local folder saved with save_pretrained"
# one transformers or diffusers load at a time, tokenizers included: from_pretrained keeps
# process-wide state while it builds a model (the device manager serialises model loads too)
_LOADING = threading.RLock()


def checkpoints_root() -> Path:
    return Path(os.environ.get("PLAYGROUND_CHECKPOINTS") or REPO_ROOT / "checkpoints")


def checkpoint_dir(name: str) -> Path:
    """Local folder of checkpoint ``name``, fetched from the Hub first if so configured."""
    repo = os.environ.get("PLAYGROUND_HUB_REPO")
    if not repo:
        return checkpoints_root() / name
    from huggingface_hub import snapshot_download

    try:
        root = snapshot_download(repo, allow_patterns=[f"{name}/*"])
    except Exception as e:  # offline, unknown repo, no permission...
        raise ValueError(
            f"could not fetch checkpoint {name!r} from the Hugging Face Hub repository {repo!r} "
            f"({hub_failure(e)}). Unset PLAYGROUND_HUB_REPO to use the shipped checkpoints/."
        ) from None
    return Path(root) / name


def brief(e: BaseException, limit: int = 240) -> str:
    """An exception for our messages: its type and its first sentence or line, whole (a library's
    message runs on with advice about arguments our API does not take); only the type when even
    that is too long."""
    text = str(e).strip().splitlines()[0].strip() if str(e).strip() else ""
    sentence = re.match(r"(.+?[.!?])(\s|$)", text)
    text = sentence.group(1) if sentence else text
    return f"{type(e).__name__}: {text}" if text and len(text) <= limit else type(e).__name__


def hub_failure(e: BaseException) -> str:
    """Why a Hugging Face Hub request failed, in our words."""
    names = {c.__name__ for c in type(e).__mro__}
    if names & {"OfflineModeIsEnabled"}:
        return "HF_HUB_OFFLINE is set"
    if names & {"RepositoryNotFoundError", "RevisionNotFoundError"}:
        return "no such repository on the Hub, or it is private"
    if names & {"GatedRepoError"}:
        return "the repository is gated: accept its terms on the Hub and log in"
    if names & {"TransportError", "ConnectionError", "ConnectError", "Timeout", "TimeoutException",
                "NetworkError", "ConnectTimeout"}:
        return "the Hub cannot be reached: offline?"
    return brief(e)


@contextlib.contextmanager
def quiet_loading():
    """One load at a time, and no progress bars from transformers or diffusers while it runs (every
    load of the app's would print one). Restored afterwards; loads are rare and short."""
    with _LOADING:
        restore = []
        for name in ("transformers.utils.logging", "diffusers.utils.logging"):
            module = sys.modules.get(name)
            if module is not None and module.is_progress_bar_enabled():
                module.disable_progress_bar()
                restore.append(module.enable_progress_bar)
        try:
            yield
        finally:
            for enable in restore:
                enable()


def load_pretrained(cls, name_or_path: str | Path):
    """Build ``cls`` (a ``PyTorchModelHubMixin`` network) from ``config.json`` and load
    ``model.safetensors`` strictly.

    Missing, truncated or mismatched files raise ``ValueError`` naming the folder. (Built here
    rather than by ``cls.from_pretrained``, which prints "Loading weights from local directory"
    on every load.)
    """
    # a Path or an absolute path names a folder; a bare name is a shipped checkpoint
    if isinstance(name_or_path, Path) or os.path.isabs(name_or_path):
        folder = Path(name_or_path)
    else:
        folder = checkpoint_dir(str(name_or_path))
    _check_files(folder, ("config.json", "model.safetensors"))
    from safetensors.torch import load_model

    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        accepted = inspect.signature(cls.__init__).parameters
        model = cls(**{key: value for key, value in config.items() if key in accepted})
        load_model(model, str(folder / "model.safetensors"), strict=True)
    except Exception as e:
        raise ValueError(f"checkpoint {folder} is corrupt or does not match {cls.__name__} "
                         f"({brief(e)}). {restore_hint(folder)}") from None
    return model.eval()


def _check_files(folder: Path, required: Iterable[str], make_hint: str = "") -> None:
    if not folder.is_dir():
        raise ValueError(f"checkpoint folder {folder} is missing. {restore_hint(folder)}{make_hint}")
    for name in required:
        if not (folder / name).is_file():
            raise ValueError(f"checkpoint {folder} is incomplete: {name} is missing. {restore_hint(folder)}"
                             f"{make_hint}")


def is_folder(source) -> bool:
    """Does ``source`` name a local folder (a Path, an absolute path, or a path that exists) rather
    than a Hugging Face Hub id?"""
    return isinstance(source, Path) or os.path.isabs(str(source)) or Path(str(source)).exists()


def load_saved(load: Callable, source: str | Path, what: str, required: Iterable[str] = ("config.json",),
               make_hint: str = "", weights: Callable = lambda loaded: [loaded]):
    """The one loader of transformers and diffusers ``save_pretrained`` folders and Hub ids.

    ``load(source, **kwargs)`` is the library's ``from_pretrained`` with our arguments bound (a
    transformers model asked for ``output_loading_info=True`` returns ``(model, info)``: the info
    is checked, see ``check_loading_info``, and the model returned). ``what`` names the thing in
    messages ("masked LM"); ``weights(loaded)`` lists the modules whose tensors must all have been
    loaded (diffusers leaves missing ones empty, on the "meta" device, and says nothing).

    A folder (``is_folder``) must exist and hold the ``required`` files; a load that fails says the
    checkpoint is corrupt or not a ``what`` folder, with ``restore_hint`` (and ``make_hint``: how to
    make one). A Hub id loads from the local Hugging Face cache if it is there, else from the Hub;
    offline, unknown or unreachable, a ``ValueError`` says so (fast: no long retries) and what to do.
    """
    if not is_folder(source):
        return _from_hub(load, str(source), what, weights)
    folder = Path(source)
    _check_files(folder, required, make_hint)
    try:
        with quiet_loading():
            loaded = load(str(folder))
    except Exception as e:
        raise ValueError(f"checkpoint {folder} is corrupt or not a {what} folder ({brief(e)}). "
                         f"{restore_hint(folder)}") from None
    if isinstance(loaded, tuple) and len(loaded) == 2 and isinstance(loaded[1], dict):
        loaded, info = loaded
        check_loading_info(folder, info, loaded)
    _check_weights(loaded, weights, f"checkpoint {folder}", f" {restore_hint(folder)}")
    return loaded


def _from_hub(load: Callable, source: str, what: str, weights: Callable):
    import huggingface_hub

    def attempt(**kwargs):
        with quiet_loading():
            loaded = load(source, **kwargs)
        return loaded[0] if isinstance(loaded, tuple) and len(loaded) == 2 and isinstance(loaded[1], dict) else loaded

    try:
        loaded = attempt(local_files_only=True)
    except Exception:  # not in the local cache
        if huggingface_hub.constants.HF_HUB_OFFLINE:
            raise ValueError(f"the {what} {source!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set "
                             f"(nor is it a local folder): unset HF_HUB_OFFLINE, with a network, to fetch it from the "
                             f"Hub, or {SAVE_HINT}.") from None
        try:
            huggingface_hub.model_info(source, timeout=10)  # fails fast: unreachable Hub, unknown name
        except Exception as e:
            raise ValueError(f"could not load the {what} {source!r} from the Hugging Face Hub ({hub_failure(e)}). "
                             f"Check the name and the network, or {SAVE_HINT}.") from None
        try:
            loaded = attempt()
        except Exception as e:
            raise ValueError(f"could not load the {what} {source!r} from the Hugging Face Hub: the repository is "
                             f"there, but not as a {what} with safetensors weights ({brief(e)}). Pick another "
                             f"model, or {SAVE_HINT}.") from None
    _check_weights(loaded, weights, f"the Hub model {source!r}", "")
    return loaded


def _check_weights(loaded, weights: Callable, where: str, hint: str) -> None:
    modules = [m for m in weights(loaded) if hasattr(m, "named_parameters")]  # a tokenizer has none
    empty = [name for m in modules for name, t in [*m.named_parameters(), *m.named_buffers()] if t.is_meta]
    if empty:
        raise ValueError(f"{where} is corrupt or incomplete: its weights lack "
                         f"{', '.join(empty[:5])}{' ...' if len(empty) > 5 else ''}.{hint}")


def restore_hint(folder: str | Path) -> str:
    """What to do about the broken or missing checkpoint ``folder``, for error messages."""
    folder = Path(os.path.abspath(folder))
    root = Path(os.path.abspath(checkpoints_root()))
    repo = os.environ.get("PLAYGROUND_HUB_REPO")
    try:
        name = folder.relative_to(root).parts[0]
    except (ValueError, IndexError):
        name = None
    if name is None and repo and _in_hub_cache(folder):
        return (f"It came from the Hugging Face Hub repository {repo!r}: fix that repository (or delete its copy "
                "in the local Hugging Face cache), or unset PLAYGROUND_HUB_REPO to use the shipped checkpoints/.")
    if name is None:
        return "Save or export that folder again, or pass an intact one."
    if os.environ.get("PLAYGROUND_CHECKPOINTS"):
        return (f"Replace it with an intact copy of the project's checkpoints/{name}, or unset "
                "PLAYGROUND_CHECKPOINTS to use the shipped checkpoints/.")
    return (f"Restore the shipped files (`git checkout -- checkpoints/{name}` in a clone of the project, or "
            "download the project again), or set PLAYGROUND_CHECKPOINTS to a folder holding an intact copy.")


def _in_hub_cache(folder: Path) -> bool:
    from huggingface_hub import constants

    return folder.is_relative_to(os.path.abspath(constants.HF_HUB_CACHE))


def check_loading_info(folder: str | Path, info: dict, model=None) -> None:
    """transformers loads a checkpoint that lacks some weights with those weights freshly (randomly)
    initialised, and only logs it: from the ``output_loading_info`` of a load, a ``ValueError``
    instead, naming the folder and the missing or mismatched weights. A weight tied to one that
    was loaded (GPT-2's ``lm_head`` is its token embedding) is not missing, though transformers
    sometimes lists it."""
    problems = {key: sorted(map(str, info.get(key) or ())) for key in ("missing_keys", "mismatched_keys")}
    if model is not None and problems["missing_keys"]:
        params = dict(model.named_parameters(remove_duplicate=False))
        loaded = {p.data_ptr() for name, p in params.items() if name not in problems["missing_keys"]}
        problems["missing_keys"] = [name for name in problems["missing_keys"]
                                    if name not in params or params[name].data_ptr() not in loaded]
    problems = {key: names for key, names in problems.items() if names}
    if problems:
        detail = "; ".join(f"{key.replace('_', ' ')}: {', '.join(names[:5])}" + (" ..." if len(names) > 5 else "")
                           for key, names in problems.items())
        raise ValueError(f"checkpoint {folder} is corrupt or incomplete: its weights do not cover the model "
                         f"({detail}). {restore_hint(folder)}")


def read_json(path: Path) -> dict:
    """The JSON in ``path``; {} when the file is missing, unreadable or garbled."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):  # ValueError: undecodable bytes, invalid JSON
        return {}


# The Hub metadata of the playground's model cards (``huggingface_hub.ModelCard`` reads it).
FASHION_MNIST = "zalando-datasets/fashion_mnist"  # MIT-licensed (Zalando Research): the image models may be MIT too


def hub_metadata(library_name: str, tags: list[str], license: str = "mit", datasets: list[str] | None = None,
                 pipeline_tag: str | None = None, **more) -> list[str]:
    """A model card's front matter (the lines between and including the two ``---``), written by
    ``huggingface_hub.ModelCardData``: license, library, datasets, pipeline tag, tags and ``more``
    (``language``, ``license_name``, ``license_link``)."""
    from huggingface_hub import ModelCardData

    data = ModelCardData(library_name=library_name, license=license, datasets=datasets, pipeline_tag=pipeline_tag,
                         tags=[*tags, "generative-model-playground"], **more)
    return ["---", *data.to_yaml().splitlines(), "---"]


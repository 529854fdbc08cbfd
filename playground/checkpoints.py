"""Where shipped weights live and how they are loaded (safetensors only, never pickle).

Checkpoints are ``PyTorchModelHubMixin`` / ``save_pretrained`` folders under
``checkpoints/`` (override with ``$PLAYGROUND_CHECKPOINTS``). Setting
``$PLAYGROUND_HUB_REPO=owner/name`` loads the same folder layout from a Hugging Face Hub
repository instead; offline, that fails with a clear message.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


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
            f"({type(e).__name__}: {e}). Unset PLAYGROUND_HUB_REPO to use the shipped checkpoints/."
        ) from None
    return Path(root) / name


def load_pretrained(cls, name_or_path: str | Path):
    """Build ``cls`` from ``config.json`` and load ``model.safetensors`` strictly.

    Missing, truncated or mismatched files raise ``ValueError`` naming the folder.
    """
    # a Path or an absolute path names a folder; a bare name is a shipped checkpoint
    if isinstance(name_or_path, Path) or os.path.isabs(name_or_path):
        folder = Path(name_or_path)
    else:
        folder = checkpoint_dir(str(name_or_path))
    if not folder.is_dir():
        raise ValueError(f"checkpoint folder {folder} is missing. {restore_hint(folder)}")
    config_path, weights_path = folder / "config.json", folder / "model.safetensors"
    for p in (config_path, weights_path):
        if not p.is_file():
            raise ValueError(f"checkpoint {folder} is incomplete: {p.name} is missing. {restore_hint(folder)}")
    try:
        model = cls.from_pretrained(folder, strict=True)
    except Exception as e:
        raise ValueError(f"checkpoint {folder} is corrupt or does not match {cls.__name__} "
                         f"({type(e).__name__}: {str(e)[:300]}). {restore_hint(folder)}") from None
    return model


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

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
    config_path, weights_path = folder / "config.json", folder / "model.safetensors"
    for p in (config_path, weights_path):
        if not p.is_file():
            raise ValueError(f"checkpoint {folder} is incomplete: {p.name} is missing")
    try:
        model = cls.from_pretrained(folder, strict=True)
    except Exception as e:
        raise ValueError(f"checkpoint {folder} is corrupt or does not match {cls.__name__}: "
                         f"{type(e).__name__}: {e}") from None
    return model


def read_json(path: Path) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError):
        return {}

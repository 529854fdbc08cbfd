"""Command-line flags made from a training config dataclass, and the record a tab gives the CLI.

Each tab's ``tab.py`` describes itself with a ``Training`` record (its config class, its train
function, its default folders) plus eval and bench hooks; ``python -m playground train <tab>``
builds that tab's parser from the config: one flag per field (``batch_size`` -> ``--batch-size``),
its help text taken from the field's ``metadata["help"]`` or else its comment in the source, and
its default shown. Booleans take ``on``/``off`` (``--bf16 off``) and also ``--no-<name>``
(``--no-curriculum``), the spellings recorded in older model cards.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
from dataclasses import dataclass, field
from typing import Any, Callable

# help for fields every trainer has, where the config's own comment says nothing
COMMON_HELP = {
    "steps": "training steps (a resumed run may change it)",
    "batch_size": "examples per process and step",
    "lr": "peak learning rate",
    "warmup": "steps of linear learning-rate warm-up",
    "seed": "random seed: initial weights, data order, noise",
    "bf16": "bfloat16 autocast",
    "size": "model size",
    "schedule": "noise schedule (su: the write-up's linear 2e-5..0.02)",
    "kind": "which model",
    "arch": "architecture (its defaults: TrainConfig.for_arch)",
    "weight_decay": "AdamW weight decay",
    "dropout": "dropout rate",
}
RUN_FLAGS = ("max_minutes", "save_minutes", "save_every", "log_every", "sample_every", "eval_every")


@dataclass
class Training:
    """What ``python -m playground train <tab>`` needs from a tab."""
    config: type  # the config dataclass
    train: Callable  # train(config, out_dir, export_dir=None, data_dir=None, **run options) -> summary
    out: str  # the default --out, formatted with the config's fields, e.g. "runs/gan-{arch}"
    make_config: Callable | None = None  # config from the given fields (default: config(**fields))
    data_dir: str | None = None  # the default --data-dir
    choices: dict = field(default_factory=dict)  # field -> allowed values (argparse checks them)
    aliases: dict = field(default_factory=dict)  # field -> older flag spellings, e.g. {"kind": ["--model"]}
    hidden: tuple = ()  # fields without a flag

    def build(self, overrides: dict):
        return (self.make_config or self.config)(**overrides)


def _on_off(text: str) -> bool:
    value = text.strip().lower()
    if value in ("on", "true", "yes", "1"):
        return True
    if value in ("off", "false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected on or off, not {text!r}")


def field_comments(cls: type) -> dict[str, str]:
    """``name -> comment`` for fields written as ``name: type = default  # comment``."""
    try:
        source = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    found = re.findall(r"^\s+(\w+)\s*:[^=\n]*=[^#\n]*#\s*(.+)$", source, re.M)
    return {name: text.strip() for name, text in found}


def _kind(annotation: Any) -> str | None:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", str(annotation))
    for kind in ("bool", "int", "float", "str"):
        if re.search(rf"\b{kind}\b", text):
            return kind
    return None  # dicts, lists: not a flag


def add_config_flags(parser: argparse.ArgumentParser, training: Training) -> list[str]:
    """One flag per scalar field of ``training.config``; returns the fields that got one. Every
    flag defaults to None, so that only the flags given override the config's own defaults."""
    comments = field_comments(training.config)
    names = []
    for f in dataclasses.fields(training.config):
        kind = _kind(f.type)
        if kind is None or f.name in training.hidden:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        text = f.metadata.get("help") or comments.get(f.name) or COMMON_HELP.get(f.name, "")
        text = f"{text} (default: {'on' if default is True else 'off' if default is False else default})".strip()
        flags = ["--" + f.name.replace("_", "-"), *training.aliases.get(f.name, [])]
        group = parser.add_argument_group() if kind == "bool" else parser
        if kind == "bool":
            group.add_argument(*flags, dest=f.name, type=_on_off, default=None, metavar="on|off", help=text)
            group.add_argument("--no-" + f.name.replace("_", "-"), dest=f.name, action="store_const", const=False,
                               help=f"same as {flags[0]} off")
        else:
            parser.add_argument(*flags, dest=f.name, default=None, choices=training.choices.get(f.name),
                                type={"int": int, "float": float, "str": str}[kind], help=text)
        names.append(f.name)
    return names


def add_run_flags(parser: argparse.ArgumentParser, training: Training) -> None:
    """The run loop's flags, alike for every tab."""
    parser.add_argument("--out", default=None, help=f"the run folder: state, log, samples (default: {training.out})")
    parser.add_argument("--export", default=None, help="export the model here when --steps is reached")
    parser.add_argument("--data-dir", default=None,
                        help=f"the training data (default: {training.data_dir or 'the installed data set'})")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (resumably) after this many minutes")
    parser.add_argument("--save-minutes", type=float, default=None, help="save the state this often (default 3)")
    parser.add_argument("--save-every", type=int, default=None, help="also save every N steps")
    parser.add_argument("--log-every", type=int, default=None, help="steps between loss.csv rows (default 50)")
    parser.add_argument("--sample-every", type=int, default=None, help="steps between sample grids (default 1000)")
    parser.add_argument("--eval-every", type=int, default=None, help="steps between validations (default 500)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_options(args: argparse.Namespace) -> dict:
    """The run loop's keyword arguments that were given on the command line."""
    options = {name: getattr(args, name) for name in RUN_FLAGS if getattr(args, name, None) is not None}
    for name in ("save_every", "log_every", "sample_every", "eval_every"):
        if name in options and options[name] < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be a positive number of steps, not {options[name]}")
    return options

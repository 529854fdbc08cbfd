"""The metric classifier's entries for the registry: ``train classifier`` and ``eval classifier``."""

from __future__ import annotations

from dataclasses import dataclass

from ..cliargs import Training

MAIN = None  # no endpoint: not in the app


@dataclass
class ClassifierConfig:
    epochs: int = 4  # passes over the 60,000 training images
    seed: int = 0


def train(config: ClassifierConfig, out_dir=None, export_dir=None, data_dir=None, command=None, **options) -> dict:
    """One short supervised run, not the resumable loop: it writes the folder directly (``--export``)."""
    from ..metrics import train_classifier

    return train_classifier(out_dir=export_dir or "checkpoints/fmnist-classifier", epochs=config.epochs,
                            seed=config.seed, data_dir=data_dir, command=command)


def training() -> Training:
    return Training(ClassifierConfig, train, out="checkpoints/fmnist-classifier")


def add_eval_arguments(p) -> None:
    pass


def evaluate(args, command: str) -> int:
    from ..metrics import classifier_accuracy

    print(f"classifier test accuracy: {100 * classifier_accuracy(args.data_dir):.2f}%")
    return 0

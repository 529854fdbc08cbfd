"""The registry of tabs: the app, the command line and the bench all read this one list.

Adding a tab is one folder and one line here. The folder ``playground/<name>/`` holds the model,
its trainer, its API and two modules this registry reads:

* ``ui.py`` with ``build()``: the tab's widgets and events; returns its first result's
  ``(loader, output)`` (shown on page load). The main endpoint's handler is the function of the
  same name as its ``api_name``.
* ``tab.py`` with ``MAIN``: ``(api_name, default inputs, images returned or None)`` of the main
  endpoint (bench and load test); ``training()`` returning a ``cliargs.Training`` (for ``train``);
  ``add_eval_arguments(parser)`` and ``evaluate(args, command) -> int`` (for ``eval``);
  ``bench_cases() -> [(name, fn)]`` (for ``bench``); optionally ``image_models()`` (the image models it
  ships, for the Compare tab); ``COST``, a ``limits.Cost``: the unit its endpoints'
  work is counted in and each endpoint's count (the work budget of a public server). Optional hooks add commands the same way:
  ``add_data_arguments`` / ``make_data`` (``data``), ``add_sample_arguments`` / ``sample`` (``sample``).
  A hook a tab does not define is a command the tab does not have.

Modules are imported only when used, so ``python -m playground train ddpm`` loads DDPM alone.
``register`` adds a tab at run time (a test registers a stub sixth tab this way).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Tab:
    name: str  # the folder, the CLI word and the endpoints' prefix
    title: str  # the tab's label in the app
    package: str  # the Python package of the folder
    in_app: bool = True  # False: a model with CLI entries only (the metric classifier)
    composes: bool = False  # True: shows the other tabs' models (Compare), reached through this registry only

    @property
    def entry(self):
        """The tab's ``tab.py``: main endpoint, training, eval and bench hooks."""
        return importlib.import_module(f"{self.package}.tab")

    @property
    def ui(self):
        return importlib.import_module(f"{self.package}.ui")

    def main_handler(self):
        """The UI handler the server runs for the main endpoint."""
        return getattr(self.ui, self.entry.MAIN[0])


TABS: list[Tab] = [
    Tab("gan", "GAN · Fashion-MNIST", "playground.gan"),
    Tab("ddpm", "DDPM · diffusion", "playground.ddpm"),
    Tab("eae", "EAE · entropic autoencoder", "playground.eae"),
    Tab("xiangqi", "Xiangqi · 象棋 GPT", "playground.xiangqi"),
    Tab("gibbs", "Gibbs · BERT 中文", "playground.gibbs"),
    Tab("compare", "Compare · every image model", "playground.compare", composes=True),
    Tab("classifier", "Fashion-MNIST classifier (the image metrics' features)", "playground.classifier", in_app=False),
]


def image_models() -> list:
    """Every image model the tabs ship (each tab's ``tab.py`` ``image_models()``: ``images.ImageModel``),
    in registry order. A tab whose models cannot be listed is left out, with a message."""
    models = []
    for name in names("image_models"):
        try:
            models += get(name).entry.image_models()
        except (ValueError, OSError) as e:
            print(f"compare: the {name} tab's models are left out ({type(e).__name__}: {e})")
    return models


def register(tab: Tab) -> Tab:
    """Add (or replace) a tab; the app, the CLI and the bench built afterwards include it."""
    unregister(tab.name)
    TABS.append(tab)
    return tab


def unregister(name: str) -> None:
    TABS[:] = [t for t in TABS if t.name != name]


def names(hook: str | None = None) -> list[str]:
    """The registered tabs' names; with ``hook``, only those whose ``tab.py`` defines it (this imports them)."""
    return [t.name for t in TABS if hook is None or getattr(t.entry, hook, None) is not None]


def get(name: str) -> Tab:
    for tab in TABS:
        if tab.name == name:
            return tab
    raise ValueError(f"no tab {name!r}; the tabs are {', '.join(names())}")


def app_tabs() -> list[Tab]:
    return [t for t in TABS if t.in_app]


def main_calls() -> list[tuple[str, tuple]]:
    """Each app tab's main endpoint with the inputs the UI shows by default."""
    return [tuple(t.entry.MAIN[:2]) for t in app_tabs()]


def expected_images() -> dict[str, int]:
    return {t.entry.MAIN[0]: t.entry.MAIN[2] for t in app_tabs() if t.entry.MAIN[2]}


def costs() -> dict:
    """api_name -> the ``limits.Cost`` its tab declares (``COST`` in its ``tab.py``): how the app's
    work budget counts what a request asks for. An endpoint not listed is not costed."""
    found = {}
    for tab in app_tabs():
        cost = getattr(tab.entry, "COST", None)
        if cost is not None:
            found.update(dict.fromkeys(cost.endpoints, cost))
    return found


def handlers() -> dict:
    """api_name -> the UI handler the server runs for it."""
    return {t.entry.MAIN[0]: t.main_handler() for t in app_tabs()}

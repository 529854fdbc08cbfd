"""The repository's own promises: Spaces front matter, set-up commands, pins."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _front_matter() -> dict:
    m = re.match(r"^---\n(.*?)\n---\n", README, re.S)
    assert m, "README.md must start with Hugging Face Spaces front matter"
    return dict(line.split(": ", 1) for line in m.group(1).splitlines())


def test_spaces_front_matter():
    fm = _front_matter()
    assert fm["sdk"] == "gradio" and fm["app_file"] == "app.py" and fm["python_version"] == '"3.11"'
    for key in ("title", "emoji", "short_description", "license", "sdk_version"):
        assert fm.get(key), key
    assert len(fm["short_description"]) <= 60
    import gradio

    assert fm["sdk_version"] == gradio.__version__


def test_readme_gives_exactly_two_setup_commands_and_ci_runs_the_test_one():
    commands = re.findall(r"^    (apt-get update && .*)$", README, re.M)
    assert len(commands) == 2
    launch, test = commands
    assert launch.endswith("python app.py") and "requirements.txt" in launch
    assert test.endswith("python -m pytest") and "requirements-dev.txt" in test
    assert "packages.txt packages-dev.txt" in test
    # PEP 668: a bare Debian/Ubuntu forbids pip into the system Python, so both install
    # python3-venv and run inside .venv (which git ignores)
    for command in commands:
        assert "apt-get install -y python3-venv && python3 -m venv .venv && . .venv/bin/activate && pip install" in command
    assert ".venv/" in (ROOT / ".gitignore").read_text().split()
    # .ci/run extracts its command from README.md with this sed expression: it must find exactly `test`
    import subprocess

    script = (ROOT / ".ci" / "run").read_text()
    sed_expr = re.search(r"sed -n '([^']+)' README.md", script).group(1)
    found = subprocess.run(["sed", "-n", sed_expr, "README.md"], cwd=ROOT, capture_output=True, text=True).stdout
    assert found.strip() == test


def test_torch_pins():
    req = (ROOT / "requirements.txt").read_text().split()
    assert "torch==2.14.1" in req and "torchvision==0.29.1" in req


def test_screenshot_exists():
    assert (ROOT / "assets" / "screenshot.png").stat().st_size > 10_000


def test_dependencies_run_one_way():
    """app -> ui -> tabs -> shared helpers (uikit, images, data, ...) -> device manager -> checks: no module
    imports from a layer above its own. The registry (``playground.tabs``) sits with the app."""
    import ast

    from playground import checks
    from playground import tabs as registry

    tabs = set(registry.names())
    assert {"gan", "ddpm", "eae", "xiangqi", "gibbs"} <= tabs
    pkg = ROOT / "playground"

    def imported(path):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = path.parent.relative_to(ROOT).parts
                if node.level:
                    base = base[: len(base) - node.level + 1]
                    mod = ".".join(base + tuple((node.module or "").split("."))).strip(".")
                else:
                    mod = node.module or ""
                names.add(mod)
                names.update(f"{mod}.{a.name}" for a in node.names)
            elif isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
        return {n for n in names if n.startswith("playground.")}

    for path in pkg.rglob("*.py"):
        rel = path.relative_to(pkg).parts
        deps = imported(path)
        if rel[0] in tabs:  # a tab never reaches up into the app or across into another tab
            # a composing tab (Compare) reads the other tabs' models through the registry, and only so
            above = ("playground.ui", "playground.bench", "playground.__main__") + (
                () if registry.get(rel[0]).composes else ("playground.tabs",))
            assert not {d for d in deps if d in above or d.startswith("playground.ui.")}, path
            assert not {d for d in deps if d.split(".")[1] in tabs - {rel[0]}}, path
        elif rel[0] not in ("ui.py", "__main__.py", "bench.py", "tabs.py"):  # shared helpers: no tab, no app
            assert not {d for d in deps if d.split(".")[1] in tabs | {"ui", "bench", "tabs", "__main__"}}, path
        if rel[0] == "checks.py":  # the argument checks: a leaf every layer may use
            assert deps == set(), path
        if rel[0] == "device.py":  # the device manager: the checks only
            assert deps <= {"playground.checks"} | {f"playground.checks.{n}" for n in dir(checks)}, path

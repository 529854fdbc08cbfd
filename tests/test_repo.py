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

"""README.md's examples, run as a new user would: every ```python block, taken from README.md itself.

* The Python blocks run in this process, the ``gradio_client`` block against the app launched for
  the tests (``app_url``: README's ``http://127.0.0.1:7860/`` is replaced by its address). Each
  block's statements run in order, as written; any exception fails the test.
* The images a user would supply are stand-ins made here: ``shirt.png``, ``a.png`` and ``b.png`` in
  the working folder (a temporary one), ``my_pil_image`` and ``my_array`` in the namespace.
* Sizes are scaled down only on lines whose cost README states (a comment "takes about N s" or
  "N minutes", ``COST``): there ``SIZE`` caps every ``n=`` at 16 and every ``steps=`` at 60
  (``n=10_000`` -> ``n=16``, ``steps=1000`` -> ``steps=60``), and a streamed call
  (``client.submit``) stops after its first ``STREAMED`` updates. Every other line runs as written.
* Lines that need the Hub ("(needs the Hub)") run offline (``HF_HUB_OFFLINE``, an empty cache):
  each must raise a ``ValueError`` with our message, whole, saying what to do.

The command lines (README's indented ``python -m playground ...`` lines) must paste into a shell as
they are (no pipes: alternatives go in the comment) and parse with the CLI's own parser.
"""

from __future__ import annotations

import ast
import re
import shlex
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"^```python\n(.*?)^```", README, re.S | re.M)
CLIENT_BLOCKS = [b for b in BLOCKS if "gradio_client" in b]
PYTHON_BLOCKS = [b for b in BLOCKS if "gradio_client" not in b]
README_URL = "http://127.0.0.1:7860/"

COST = re.compile(r"#.*\btakes about [\d.]+ (s|seconds?|minutes?)\b")
SIZE = re.compile(r"\b(n|steps)=([\d_]+)")
CAPS = {"n": 16, "steps": 60}
STREAMED = 3
HUB = "(needs the Hub)"
OUR_HUB_MESSAGE = re.compile(r"(is not in the local Hugging Face cache and HF_HUB_OFFLINE is set .*: unset "
                             r"HF_HUB_OFFLINE|could not load the .* from the Hugging Face Hub).* save_pretrained\.$")


def scaled(block: str) -> str:
    """``block`` with sizes capped and streams shortened on the lines whose cost README states."""
    lines = []
    for line in block.splitlines():
        if COST.search(line):
            line = SIZE.sub(lambda m: f"{m[1]}={min(int(m[2].replace('_', '')), CAPS[m[1]])}", line)
            line = line.replace("client.submit(", "shortened(client).submit(")
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_scaling_touches_only_the_lines_whose_cost_is_stated():
    block = ('a = f(n=10_000, steps=1000)  # takes about 18 minutes on one core\n'
             'b = f(n=10_000, steps=25)\n'
             'for x in client.submit(1, api_name="/x"):  # takes about 30 s\n    pass\n')
    assert scaled(block).splitlines() == [
        'a = f(n=16, steps=60)  # takes about 18 minutes on one core', 'b = f(n=10_000, steps=25)',
        'for x in shortened(client).submit(1, api_name="/x"):  # takes about 30 s', '    pass']
    assert len(PYTHON_BLOCKS) >= 5 and len(CLIENT_BLOCKS) == 1
    slow = [line for b in BLOCKS for line in b.splitlines() if "n=10_000" in line or "steps=1000" in line]
    assert slow and all(COST.search(line) for line in slow)  # the slow lines say what they cost


@pytest.fixture
def user_files(tmp_path, monkeypatch):
    """The working folder holds the images README's examples name; the namespace, the objects."""
    rng = np.random.default_rng(0)
    photo = np.zeros((120, 90, 3), np.uint8)
    photo[20:100, 15:75] = (200, 60, 60)  # a red shirt on black, as a user's photo might be
    Image.fromarray(photo).save(tmp_path / "shirt.png")
    for name in ("a.png", "b.png"):
        Image.fromarray(rng.integers(0, 256, (28, 28), dtype=np.uint8)).save(tmp_path / name)
    monkeypatch.chdir(tmp_path)
    return {"my_pil_image": Image.fromarray(photo[:, :, 0]), "my_array": rng.integers(0, 256, (40, 40), dtype=np.uint8)}


@pytest.fixture
def offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # what HF_HUB_OFFLINE=1 sets at import
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))


def run_block(block: str, namespace: dict) -> list[str]:
    """Run ``block``'s statements in order; the Hub lines must fail clearly. Returns the timings."""
    source = scaled(block)
    lines = source.splitlines()
    timings = []
    for stmt in ast.parse(source).body:
        text = "\n".join(lines[stmt.lineno - 1:stmt.end_lineno])
        code = compile(ast.Module([stmt], type_ignores=[]), "README.md", "exec")
        t0 = time.perf_counter()
        if HUB in text:
            with pytest.raises(ValueError) as err:
                exec(code, namespace)
            message = str(err.value)
            assert OUR_HUB_MESSAGE.search(message), f"{text}\n{message}"
            assert "local_files_only" not in message and len(message) < 600, message
        else:
            try:
                exec(code, namespace)
            except Exception as e:
                raise AssertionError(f"README example failed: {text}\n{type(e).__name__}: {e}") from e
        timings.append(f"{time.perf_counter() - t0:7.2f} s  {text.splitlines()[0][:100]}")
    print("\n".join(timings))
    return timings


@pytest.mark.parametrize("block", PYTHON_BLOCKS, ids=[re.search(r"import (\w+)", b)[1] for b in PYTHON_BLOCKS])
def test_python_examples_run_as_written(block, user_files, offline):
    assert run_block(block, dict(user_files))


class _Shortened:
    """A client whose streamed calls stop after their first ``STREAMED`` updates (then cancel)."""

    def __init__(self, client):
        self.client = client

    def submit(self, *args, **kwargs):
        job = self.client.submit(*args, **kwargs)

        def first_updates():
            try:
                for i, update in enumerate(job):
                    yield update
                    if i + 1 >= STREAMED:
                        break
            finally:
                job.cancel()

        return first_updates()


def test_gradio_client_examples_run_as_written(app_url, user_files):
    (block,) = CLIENT_BLOCKS
    assert block.count(README_URL) == 1 and "import Client, handle_file" in block
    namespace = dict(user_files, shortened=_Shortened)
    assert run_block(block.replace(README_URL, app_url), namespace)
    assert len(namespace["texts"].splitlines()) == 8  # the last example's output: eight chains


# --------------------------------------------------------------------------- command lines
def _command_lines() -> list[str]:
    section = README.split("\n## Command line\n", 1)[1].split("\n## ", 1)[0]
    return [line[4:] for line in section.splitlines() if line.startswith("    ")]


def _tokens(line: str) -> list[str]:
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    return list(lexer)  # "#" starts a comment; | ; & < > come out as tokens of their own


def test_command_lines_paste_into_a_shell_and_parse():
    from playground.__main__ import build_parser

    lines = _command_lines()
    assert len(lines) >= 25
    for line in lines:
        tokens = _tokens(line)
        assert not set(tokens) & {"|", "||", "&", "&&", ";", "<", ">"}, f"not one command when pasted: {line}"
        if tokens[:3] != ["python", "-m", "playground"] or "..." in tokens:
            continue
        argv = [t.strip("[]") for t in tokens[3:] if t.strip("[]")]  # [--optional flags] given
        try:
            build_parser(argv).parse_args(argv)
        except SystemExit as e:
            assert e.code == 0, f"the CLI refuses README's line: {line}"  # 0: --help

"""The registry of tabs: a sixth tab added at run time through ``playground.tabs.register`` alone
appears in the app (its endpoint answers through gradio_client), in the CLI (train, eval, bench)
and in the load bench's call list; and every training command recorded in the shipped cards runs."""

import json
import shlex
import socket
import sys
import textwrap
from pathlib import Path

import pytest

from playground import tabs

ROOT = Path(__file__).resolve().parent.parent

STUB_UI = '''
import gradio as gr


def stub_echo(text: str) -> str:
    return f"stub says {text}"


def build():
    box = gr.Textbox(label="in")
    out = gr.Textbox(label="out")
    gr.Button("Echo").click(stub_echo, box, out, api_name="stub_echo")
    return (lambda: "first"), out
'''

STUB_TAB = '''
from dataclasses import dataclass

import torch

from playground.cliargs import Training
from playground.training import Algorithm, run

MAIN = ("stub_echo", ("hi",), None)


@dataclass
class StubConfig:
    steps: int = 3
    lr: float = 0.1
    bf16: bool = False
    seed: int = 0
    width: int = 4  # the stub's one weight vector


class StubAlgorithm(Algorithm):
    name = "stub"
    columns = ["step", "loss", "minutes"]

    def build(self, acc, fresh):
        self.w = torch.nn.Parameter(torch.zeros(self.config.width))
        self.opt = torch.optim.SGD([self.w], lr=self.config.lr)

    def state_dict(self):
        return {"w": self.w.detach().clone(), "opt": self.opt.state_dict()}

    def load_state_dict(self, state):
        self.w.data.copy_(state["w"])
        self.opt.load_state_dict(state["opt"])

    def prepare(self, acc):
        pass

    def step(self, step):
        loss = (self.w - 1).pow(2).sum()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": loss.item()}

    def export(self, export_dir, summary):
        (export_dir / "w.txt").write_text(" ".join(f"{v:.4f}" for v in self.w.tolist()))


def train(config, out_dir, export_dir=None, data_dir=None, **options):
    return run(StubAlgorithm(config, data_dir), out_dir, export_dir, **options)


def training():
    return Training(StubConfig, train, out="runs/stub")


def add_eval_arguments(p):
    p.add_argument("--word", default="ok")


def evaluate(args, command):
    print(f"stub eval {args.word}")
    return 0


def bench_cases():
    return [("stub echo", lambda: None)]
'''


@pytest.fixture()
def stub_tab(tmp_path, monkeypatch):
    package = tmp_path / "stubtab"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "ui.py").write_text(textwrap.dedent(STUB_UI))
    (package / "tab.py").write_text(textwrap.dedent(STUB_TAB))
    monkeypatch.syspath_prepend(str(tmp_path))
    tab = tabs.register(tabs.Tab("stub", "Stub · the sixth tab", "stubtab"))
    yield tab
    tabs.unregister("stub")
    for name in [m for m in sys.modules if m.startswith("stubtab")]:
        del sys.modules[name]


def test_a_sixth_tab_registered_at_run_time_is_everywhere(stub_tab, tmp_path, capsys):
    from gradio_client import Client

    from playground.__main__ import main
    from playground.ui import build_demo

    # the load bench's calls and the bench's handlers
    assert ("stub_echo", ("hi",)) in tabs.main_calls()
    assert tabs.handlers()["stub_echo"]("x") == "stub says x"
    # the CLI: train (flags from the config dataclass), resume, export; eval; bench
    out, export = tmp_path / "run", tmp_path / "export"
    assert main(["train", "stub", "--steps", "2", "--width", "3", "--out", str(out), "--no-progress"]) == 0
    assert json.loads((out / "summary.json").read_text())["step"] == 2
    assert main(["train", "stub", "--steps", "4", "--width", "3", "--out", str(out), "--export", str(export),
                 "--no-progress", "--log-every", "1"]) == 0
    assert len((export / "w.txt").read_text().split()) == 3 and (export / "training.json").is_file()
    assert [r.split(",")[0] for r in (out / "loss.csv").read_text().splitlines()] == ["step", "3", "4"]
    assert main(["eval", "stub", "--word", "fine"]) == 0
    assert main(["bench", "--tab", "stub", "--repeats", "1"]) == 0
    printed = capsys.readouterr().out
    assert "stub eval fine" in printed and "stub echo" in printed
    with pytest.raises(SystemExit):
        main(["train", "stub", "--arch", "dcgan"])  # another tab's flag is not the stub's
    # the app: its tab is built and its endpoint answers through gradio_client
    demo = build_demo()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    demo.launch(prevent_thread_lock=True, server_port=port, quiet=True)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        assert client.predict("hello", api_name="/stub_echo") == "stub says hello"
    finally:
        demo.close()


def _recorded_commands() -> list[str]:
    commands = []
    for path in sorted(ROOT.glob("checkpoints/*/training.json")):
        record = json.loads(path.read_text())
        commands += [record["command"]] + [c["command"] for c in record.get("continued", [])]
    return [c for c in commands if c and " train " in c]


@pytest.mark.parametrize("command", _recorded_commands())
def test_every_recorded_training_command_still_parses_and_runs(command, tmp_path):
    """Each card's command with its flags as written: only the step count, the folders and the
    data are made tiny (two steps; xiangqi on a few engine games made here)."""
    import subprocess

    args = shlex.split(command)[3:]  # after "python -m playground"
    replace = {"--steps": "2", "--out": str(tmp_path / "run"), "--export": str(tmp_path / "export")}
    args = [replace.get(args[i - 1], a) if i else a for i, a in enumerate(args)]
    args += [] if "--out" in args else ["--out", replace["--out"]]
    tab = args[1]
    if tab == "classifier":  # not on the run loop (a few epochs, no steps): its flags are parsed, not run
        from playground.__main__ import build_parser

        parsed = build_parser(args).parse_args(args)
        assert parsed.tab == "classifier" and parsed.epochs == 4 and parsed.threads == 1
        return
    if tab == "xiangqi":
        from playground.xiangqi.scored import ScoredConfig
        from playground.xiangqi.selfplay import SelfPlayConfig, generate

        scored = "scores" in args  # --objective scores: the board-aware GPT, on engine-scored games
        games = tmp_path / "games"
        generate(games, 3 if scored else 8, ScoredConfig(depth=1, max_opening=4) if scored else
                 SelfPlayConfig(min_depth=1, max_depth=1, max_opening=4), workers=1, progress=False)
        if scored:  # one held-out game whatever the hash split drew (the run evaluates on it)
            lines = [line for f in ("train.jsonl", "val.jsonl") for line in open(games / f)]
            (games / "train.jsonl").write_text("".join(lines[:-1]))
            (games / "val.jsonl").write_text(lines[-1])
        args += ["--data-dir", str(games), "--size", "tiny", "--batch-size", "4"]
        if "--init-from" in args:  # continue from a tiny model made the same way
            subprocess.run([sys.executable, "-m", "playground", "train", "xiangqi", "--steps", "1", "--size", "tiny",
                            "--out", str(tmp_path / "base"), "--export", str(tmp_path / "base-export"),
                            "--data-dir", str(games), "--no-progress"] + (["--objective", "scores"] if scored else []),
                           cwd=ROOT, check=True, capture_output=True)
            args[args.index("--init-from") + 1] = str(tmp_path / "base-export")
    if tab == "ddpm" and "--init-from" in args:  # start from a tiny unconditional pipeline made here
        from diffusers import DDPMPipeline

        from playground.ddpm.models import make_scheduler, make_unet

        DDPMPipeline(unet=make_unet("tiny"), scheduler=make_scheduler("su")).save_pretrained(tmp_path / "base")
        args[args.index("--init-from") + 1] = str(tmp_path / "base")
    if tab == "gibbs" and "--init-from" in args:  # continue from a tiny BERT trained here a step
        subprocess.run([sys.executable, "-m", "playground", "train", "gibbs", "--steps", "1", "--size", "tiny",
                        "--batch-size", "8", "--out", str(tmp_path / "base"), "--export", str(tmp_path / "base-export"),
                        "--no-progress"], cwd=ROOT, check=True, capture_output=True)
        args[args.index("--init-from") + 1] = str(tmp_path / "base-export")
    if tab in ("ddpm", "eae", "gan", "gibbs"):
        args += ["--batch-size", "8"] + (["--size", "tiny"] if tab in ("ddpm", "gibbs") else [])
    r = subprocess.run([sys.executable, "-m", "playground", *args], cwd=ROOT, capture_output=True, text=True,
                       timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["finished"]

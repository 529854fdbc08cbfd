"""The command line, run as a user would."""

import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "playground", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def test_sample_writes_a_grid_with_parameters(tmp_path):
    out = tmp_path / "grid.png"
    r = run("sample", "gan", "--n", "64", "--seed", "0", "--out", str(out))
    assert r.returncode == 0, r.stderr
    grid = Image.open(out)
    assert grid.size == (8 * 30 + 2, 8 * 30 + 2)  # 8x8 tiles of 28 px with 2 px padding
    assert '"seed": 0' in grid.info["parameters"]


def test_bad_arguments_exit_cleanly():
    r = run("sample", "gan", "--n", "20000")
    assert r.returncode == 2 and "n must be between 1 and 10000" in r.stderr and "Traceback" not in r.stderr
    r = run("train", "gan", "--arch", "biggan")
    assert r.returncode == 2 and "invalid choice" in r.stderr


def test_eval_prints_all_metrics():
    r = run("eval", "gan", "--arch", "su2017", "--n", "500")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if "FD=" in line]
    assert len(lines) == 2 and lines[0].startswith("real floor") and lines[1].startswith("gan/su2017")
    assert all(k in lines[1] for k in ("KIDx1000=", "precision=", "recall="))


def test_bench_prints_latency_per_endpoint():
    r = run("bench", "--repeats", "2")
    assert r.returncode == 0, r.stderr
    assert "gan/dcgan generate n=64" in r.stdout and "median" in r.stdout
    assert "eae/eae generate n=64" in r.stdout and "eae/vae reconstruct 16 images" in r.stdout


def test_train_then_resume_from_the_command_line(tmp_path):
    args = ["train", "gan", "--arch", "su2017", "--batch-size", "16", "--out", str(tmp_path / "run"), "--no-progress",
            "--export", str(tmp_path / "export")]
    r = run(*args, "--steps", "2")
    assert r.returncode == 0, r.stderr
    r = run(*args, "--steps", "4")
    assert r.returncode == 0 and "resumed su2017 from step 2" in r.stderr
    assert (tmp_path / "export" / "model.safetensors").is_file()
    assert "python -m playground train gan" in (tmp_path / "export" / "README.md").read_text()


def test_eae_sample_eval_and_bad_arguments(tmp_path):
    out = tmp_path / "eae.png"
    r = run("sample", "eae", "--model", "vae", "--n", "16", "--seed", "1", "--temperature", "0.8", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert Image.open(out).size == (4 * 30 + 2, 4 * 30 + 2) and '"model": "eae/vae"' in Image.open(out).info["parameters"]
    r = run("sample", "eae", "--temperature", "0", "--out", str(out))
    assert r.returncode == 2 and "temperature must be" in r.stderr and "Traceback" not in r.stderr
    r = run("eval", "eae", "--model", "ae-bn", "--n", "500", "--temperatures", "0.7")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if "FD=" in line]
    assert lines[0].startswith("real floor") and lines[1].startswith("eae/ae-bn") and "test SSE=" in lines[1]
    # then each prior (N(0, I) at T=1 is the line above) at T=1 and 0.7, and the decoder's ceiling
    assert [line.split("n=")[0].split() for line in lines[2:]] == [
        ["eae/ae-bn", "normal", "T=0.7"], ["eae/ae-bn", "gmm", "T=1"], ["eae/ae-bn", "gmm", "T=0.7"],
        ["eae/ae-bn", "test", "reconstructions", "(the", "ceiling)"]]
    fd = {tuple(line.split("n=")[0].split()[1:]): float(line.split("FD=")[1].split()[0]) for line in lines[2:4]}
    assert fd[("gmm", "T=1")] < fd[("normal", "T=0.7")]  # the fitted mixture helps ae-bn (412.7 -> 56.3 at 10k)
    r = run("eval", "eae", "--model", "ae-bn", "--priors", "normal,cauchy")
    assert r.returncode == 2 and "--priors must be" in r.stderr and "Traceback" not in r.stderr
    r = run("eval", "eae", "--temperatures", "0.7,cold")
    assert r.returncode == 2 and "--temperatures must be" in r.stderr


def test_eae_train_then_resume_from_the_command_line(tmp_path):
    args = ["train", "eae", "--model", "vae", "--batch-size", "16", "--latent-dim", "4", "--channels", "4",
            "--out", str(tmp_path / "run"), "--no-progress", "--export", str(tmp_path / "export")]
    r = run(*args, "--steps", "2")
    assert r.returncode == 0, r.stderr
    r = run(*args, "--steps", "4")
    assert r.returncode == 0 and "resumed vae from step 2" in r.stderr
    assert "python -m playground train eae --model vae" in (tmp_path / "export" / "README.md").read_text()
    r = run("train", "eae", "--model", "eae", "--k", "0", "--out", str(tmp_path / "bad"))
    assert r.returncode == 2 and "k must be between" in r.stderr

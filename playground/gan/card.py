"""Model cards for the shipped GAN checkpoints, written from measured records only:
``training.json`` (written by training) and ``metrics.json`` (written by ``eval gan``)."""

from __future__ import annotations

from pathlib import Path

from ..checkpoints import FASHION_MNIST, hub_metadata, read_json

DESCRIPTIONS = {
    "su2017": """\
A faithful PyTorch reproduction of the Fashion-MNIST GAN toy from Su Jianlin's blog
(kexue.fm, post 4540): WGAN with a **one-sided** gradient penalty.

- Generator: 10-d uniform(-1, 1) noise -> 32 -> 128 -> 784, ReLU, sigmoid output; critic
  784 -> 128 -> 32 -> 1, ReLU, no normalisation; weights initialised uniform(-0.05, 0.05).
- Critic loss `mean D(real) - mean D(fake) + 10 * mean relu(|grad D(x_hat)| - 1)` on random
  interpolates x_hat; generator loss `mean D(fake)` (the write-up's sign convention).
- Adam(1e-4, beta1 0.5), 5 critic steps per generator step, batch 100.
- The write-up ran 1,000,000 iterations; our 20-minute CPU budget allows far fewer
  (see below). It is the playground's reference baseline.""",
    "dcgan": """\
A small convolutional GAN built to beat the MLP baseline by a wide margin on the
same budget class (45 CPU-minutes).

- Generator: 64-d N(0, I) latent -> linear to 128x7x7 -> two stride-2 transposed convs
  (64, 32 channels) with BatchNorm + ReLU -> 3x3 conv -> sigmoid. 0.57 M parameters.
- Critic: three convs (32, 64, 128 channels, LeakyReLU 0.2, no normalisation) + linear.
- **Loss: non-saturating logistic GAN loss + R1 penalty** (gamma/2 E|grad D(real)|^2, gamma 1).
  Why not the write-up's WGAN-GP? WGAN-GP needs ~5 critic steps per generator step, each
  with a double backward pass through interpolates; on a 2-core CPU that buys 5x fewer
  generator updates in the same time. The non-saturating loss gives strong gradients with
  one critic step, and R1 (Mescheder et al. 2018) is the gradient penalty that provably
  stabilises it near equilibrium, acting on real data only (cheap: the critic is small).
- Adam(2e-4, betas 0.5/0.999), batch 64, bfloat16 autocast on the CPU, and an exponential
  moving average of the generator weights (decay 0.999, BatchNorm statistics averaged too)
  which is what ships.""",
}


def _metrics_table(m: dict) -> str:
    fake, real = m["samples"], m["real_floor"]
    rows = [
        "| | FD (lower is better) | KID x 1000 | precision | recall |",
        "|---|---|---|---|---|",
        f"| this model, {fake['n']:,} samples | {fake['fd']:.3f} | {1000 * fake['kid']:.3f} ± {1000 * fake['kid_std']:.3f} "
        f"| {fake['precision']:.3f} | {fake['recall']:.3f} |",
        f"| real floor: {real['n']:,} training images | {real['fd']:.3f} | {1000 * real['kid']:.3f} ± {1000 * real['kid_std']:.3f} "
        f"| {real['precision']:.3f} | {real['recall']:.3f} |",
    ]
    hist = ", ".join(f"{k} {100 * v:.1f}%" for k, v in fake["class_histogram"].items())
    return "\n".join(rows) + f"\n\nClass mix of the samples under the classifier: {hist}."


def render(arch: str, folder: Path) -> str:
    t = read_json(folder / "training.json")
    m = read_json(folder / "metrics.json")
    cfg = t.get("config", {})
    lines = [
        *hub_metadata("pytorch", ["gan", "fashion-mnist", "pytorch_model_hub_mixin"], datasets=[FASHION_MNIST],
                      pipeline_tag="unconditional-image-generation"),
        f"# Fashion-MNIST GAN: `{arch}`",
        "",
        DESCRIPTIONS[arch],
        "",
        "## Training",
        "- Data: the 60,000 Fashion-MNIST training images, scaled to [0, 1], from the Debian package "
        "`dataset-fashion-mnist`.",
    ]
    if t:
        lines += [
            f"- Command: `{t.get('command')}`",
            f"- {t['step']:,} generator steps (batch {cfg.get('batch_size')}, {cfg.get('critic_steps')} critic "
            f"step(s) each), seed {cfg.get('seed')}.",
            f"- Time: {t['wall_minutes']} min wall clock, {t['cpu_minutes']} min CPU time, torch on "
            f"{t['threads']} thread(s) of a 2-core Xeon, device `{t['device']}`.",
        ] + [f"- Note: {note}" for note in t.get("notes", [])] + [
            "- Files: `model.safetensors` + `config.json` (load with `playground.gan.load_generator`), "
            "`loss.csv` (the loss log), `samples.png` (a fixed 6x6 latent grid at the last step).",
        ]
    lines += ["", "## Measured quality"]
    if m:
        lines += [
            f"Measured with `{m['command']}`: {m['samples']['n']:,} samples against the 10,000 Fashion-MNIST "
            "test images, in the 128-d feature space of the shipped classifier (`checkpoints/fmnist-classifier`). "
            "FD is the Frechet distance (FID's formula in that space), KID the unbiased cubic-kernel MMD "
            "(on features scaled to unit root-mean-square), "
            "precision/recall the k-NN (k = 3) estimates of Kynkaanniemi et al. 2019.",
            "",
            _metrics_table(m),
            "",
            f"Evaluation took {m['seconds']:.0f} s.",
            "",
            "![A fixed 6x6 grid of samples at the last training step](samples.png)",
        ]
    else:
        lines.append("Not measured yet: run `python -m playground eval gan --arch " + arch + " --write-card`.")
    return "\n".join(lines) + "\n"


def write_card(arch: str, folder: Path) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render(arch, Path(folder)))
    return path

"""Model cards for the EAE tab's checkpoints, written from measured records only:
``training.json`` (training), ``metrics.json`` (``eval eae --write-card``) and, for the EAE,
``sweep.json`` (``sweep eae --collect``). The EAE card is also the reproduction report:
it compares all three models from their own records."""

from __future__ import annotations

from pathlib import Path

from ..checkpoints import FASHION_MNIST, hub_metadata, read_json

# the sweep's centre configuration (``playground.eae.sweep`` varies one setting at a time around it);
# it lives here, below both the sweep and the trainer, because the card compares every run against it
CENTRE = {"kind": "eae", "latent_dim": 32, "k": 1, "lam": 1.0, "warmup": 1000}


def run_name(c: dict) -> str:
    """A sweep run's name, from its configuration."""
    if c["kind"] != "eae":
        beta = c.get("beta")
        return f"{c['kind']}-d{c['latent_dim']}" + (f"-beta{beta:g}" if beta is not None else "")
    return f"eae-d{c['latent_dim']}-k{c['k']}-lam{c['lam']:g}-w{c['warmup']}"


TITLES = {"eae": "EAE: autoencoder + BatchNorm + maximum entropy", "ae-bn": "AE + BatchNorm (lambda = 0)",
          "vae": "VAE (same encoder and decoder)"}

ARCHITECTURE = """\
- Encoder: 28x28 -> two stride-2 4x4 convs (32, 64 channels) -> 3x3 conv (128) -> linear to the
  code; BatchNorm + LeakyReLU(0.2) after each conv. Decoder: linear to 128x7x7 -> two stride-2
  transposed convs (64, 32) -> 3x3 conv -> sigmoid; BatchNorm + ReLU. The three models share it
  exactly (the VAE's last encoder layer has twice the outputs: mean and log-variance).
- Generation: z ~ N(0, temperature^2 I) -> decoder, for all three (the write-up's method); or, with
  `prior="gmm"`, z from a 10-component Gaussian mixture fitted to the training codes after training."""

DESCRIPTIONS = {
    "eae": """\
A reproduction of Ghose, Rashwan & Poupart, *Batch norm with entropic regularization turns
deterministic autoencoders into generative models* (UAI 2020), as explained in Su Jianlin's
post (kexue.fm 7343). The code passes through **BatchNorm without learnable scale or
shift**, which pins every dimension of the batch's codes to mean 0 and variance 1; among
all such distributions the Gaussian has the largest entropy, so **maximising a k-NN
(Kozachenko-Leonenko) estimate of the codes' entropy** pushes the aggregate code towards
N(0, I), and then z ~ N(0, I) -> decoder generates.

Loss per batch: mean over images of the sum of squared pixel errors, minus lambda times
H_kNN(BN codes of the batch) = psi(n) - psi(k) + log V_d + (d/n) sum_i log eps_k(i),
lambda ramping linearly from 0 over a warm-up (the write-up warns that reconstructions
collapse otherwise). The write-up gives no hyperparameters and no public code is known:
ours come from the sweep below.""",
    "ae-bn": """\
The EAE's first baseline: the same network with the same BatchNorm on the code, trained on
reconstruction error alone (lambda = 0). BatchNorm fixes each dimension's mean and variance
but not its shape or the dependence between dimensions, so nothing makes the aggregate code
Gaussian: this is what the entropy term has to beat.""",
    "vae": """\
The EAE's second baseline, the model the paper claims to match or beat: a VAE with the same
encoder (doubled last layer: mean and log-variance) and decoder, no BatchNorm on the code,
trained on the negative ELBO with a Gaussian decoder. Its one knob is the decoder variance
sigma^2, i.e. the weight of the KL term against the summed squared error: loss = SSE + beta * KL
with beta = 2 sigma^2. The sweep on the EAE card tried the *calibrated* decoder (sigma^2 set to
the batch's mean squared error, its maximum-likelihood value; Rybkin, Daniilidis & Levine 2021)
and fixed betas, and this checkpoint uses the one that scored best there (see Training), so the
baseline is tuned as carefully as the EAE. Reconstructions use the posterior mean.""",
}


def _fmt_metrics(name: str, s: dict) -> str:
    return (f"| {name} | {s['fd']:.2f} | {1000 * s['kid']:.2f} | {s['precision']:.3f} | {s['recall']:.3f} |")


def temperature_table(m: dict) -> list[str]:
    """FD, precision and recall of this model's samples at each scored latent temperature."""
    rows = m.get("by_temperature", [])
    if len(rows) < 2:
        return []
    return ["", f"Sampling at a lower temperature, z ~ N(0, T^2 I) ({rows[0]['n']:,} samples each):", "",
            "| temperature | FD | KID x 1000 | precision | recall |", "|---|---|---|---|---|"] + [
        f"| {r['temperature']:g} | {r['fd']:.2f} | {1000 * r['kid']:.2f} | {r['precision']:.3f} | {r['recall']:.3f} |"
        for r in rows] + [""]


def best_temperature(m: dict) -> dict:
    rows = m.get("by_temperature") or [dict(temperature=1.0, **m["samples"])]
    return min(rows, key=lambda r: r["fd"])


def comparison(root: Path) -> list[str]:
    """One table of the three shipped models, from their own metrics.json files."""
    rows, records = [], {}
    for kind in ("eae", "ae-bn", "vae"):
        m = read_json(root / f"eae-{kind}" / "metrics.json")
        if m:
            records[kind] = m
    if not records:
        return []
    any_m = next(iter(records.values()))
    n = any_m["samples"]["n"]
    rows += [
        f"| model ({n:,} samples) | FD | KID x 1000 | precision | recall | test SSE / image | FD(code, N(0,I)) | prior coverage |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, m in records.items():
        s, lat = m["samples"], m.get("latent", {})
        rows.append(f"| `{kind}` | {s['fd']:.2f} | {1000 * s['kid']:.2f} | {s['precision']:.3f} | {s['recall']:.3f} "
                    f"| {m['reconstruction']['sse']:.2f} | {lat.get('fd_to_n01', float('nan')):.3f} "
                    f"| {lat.get('prior_coverage', float('nan')):.3f} |")
    f = any_m["real_floor"]
    rows.append(f"| real floor ({f['n']:,} training images) | {f['fd']:.2f} | {1000 * f['kid']:.2f} "
                f"| {f['precision']:.3f} | {f['recall']:.3f} | | | |")
    if {"eae", "ae-bn", "vae"} <= set(records):
        fd = {k: records[k]["samples"]["fd"] for k in records}
        best = min(fd, key=fd.get)
        verdict = ("**confirms** the paper's claim: the EAE's samples score better than the VAE's"
                   if fd["eae"] < fd["vae"] else
                   "**does not confirm** the paper's claim: the VAE's samples score better than the EAE's")
        rows += ["", f"On FD our run {verdict} (FD {fd['eae']:.2f} vs {fd['vae']:.2f}, "
                 f"{fd['vae'] / fd['eae']:.2f}x); against BatchNorm alone the entropy term moves FD "
                 f"from {fd['ae-bn']:.2f} to {fd['eae']:.2f}. Best of the three on FD: `{best}`."]
        if any(len(records[k].get("by_temperature", [])) > 1 for k in records):
            tuned = {k: best_temperature(records[k]) for k in records}
            rows += ["", "Each at its best scored temperature: " + ", ".join(
                f"`{k}` FD {t['fd']:.2f} (T = {t['temperature']:g})" for k, t in tuned.items()) + "."]
    return rows


def _best(m: dict, prior: str) -> dict | None:
    rows = [r for r in m.get("by_prior", []) if r["prior"] == prior]
    return min(rows, key=lambda r: r["fd"]) if rows else None


def prior_section(root: Path) -> list[str]:
    """The ex-post prior study: every model under N(0, I) and under the fitted mixture, at each scored
    temperature, beside the FD of its test reconstructions (the best any prior can reach with that
    decoder), and what the mixture's gain says about the EAE claim."""
    records = {kind: m for kind in ("eae", "ae-bn", "vae")
               if (m := read_json(root / f"eae-{kind}" / "metrics.json")) and m.get("by_prior")}
    if not records:
        return []
    any_m = next(iter(records.values()))
    fit = any_m.get("prior_fit") or {}
    lines = [
        "Ghosh et al. (2020, RAE) fit a 10-component, full-covariance Gaussian mixture to the training codes "
        "after training and sample from it instead of N(0, I). Here: scikit-learn's `GaussianMixture` "
        f"(EM from a k-means start, {fit.get('n_init', 1)} initialisation, a {fit.get('reg_covar', 1e-4):g} ridge on each "
        "covariance), fitted to the codes of the 60,000 training images (the VAE: one posterior sample each, a draw of "
        "the aggregate posterior its decoder was trained on), stored beside the weights as `prior-gmm.safetensors` "
        f"(`{fit.get('command', 'python -m playground prior eae')}`; CPU seconds per fit: " + ", ".join(
            f"`{k}` {(m.get('prior_fit') or {}).get('cpu_seconds', 0):.0f}" for k, m in records.items()) +
        "). `temperature` scales each component's spread. The reconstruction row is the FD of the decoder's "
        "reconstructions of the 10,000 test images: no prior can do better with that decoder.",
        "",
        f"| model | prior | temperature | FD | KID x 1000 | precision | recall |",
        "|---|---|---|---|---|---|---|",
    ]
    for kind, m in records.items():
        for r in sorted(m["by_prior"], key=lambda r: (r["prior"] != "normal", -r["temperature"])):
            lines.append(f"| `{kind}` | {r['prior']} | {r['temperature']:g} | {r['fd']:.2f} | {1000 * r['kid']:.2f} "
                         f"| {r['precision']:.3f} | {r['recall']:.3f} |")
        c = m.get("reconstruction_ceiling")
        if c:
            lines.append(f"| `{kind}` | test reconstructions (the ceiling) | | {c['fd']:.2f} | {1000 * c['kid']:.2f} "
                         f"| {c['precision']:.3f} | {c['recall']:.3f} |")
    lines.append("")
    gains = {}
    for kind, m in records.items():
        normal, gmm = _best(m, "normal"), _best(m, "gmm")
        if normal and gmm:
            gains[kind] = (normal, gmm)
            lat = (m.get("latent") or {}).get("gmm") or {}
            ll = (f"; the mixture describes the test codes {lat['test_log_likelihood_gmm'] - lat['test_log_likelihood_n01']:.1f}"
                  f" nats per code better than N(0, I)" if "test_log_likelihood_gmm" in lat else "")
            ceiling = m.get("reconstruction_ceiling", {}).get("fd")
            lines.append(f"- `{kind}`: best FD {normal['fd']:.1f} under N(0, I) (T = {normal['temperature']:g}), "
                         f"{gmm['fd']:.1f} under the mixture (T = {gmm['temperature']:g}): "
                         f"{normal['fd'] / gmm['fd']:.2f}x" + (f"; the ceiling is {ceiling:.1f}" if ceiling else "") + ll + ".")
    if {"eae", "ae-bn"} <= set(gains):
        g_eae = gains["eae"][0]["fd"] / gains["eae"][1]["fd"]
        g_bn = gains["ae-bn"][0]["fd"] / gains["ae-bn"][1]["fd"]
        verdict = ("as the EAE claim predicts: the entropy term has already made the code closer to N(0, I), so the "
                   "mixture has less to fix for `eae` than for BatchNorm alone" if g_eae < g_bn else
                   "against the EAE claim's prediction: the mixture gains at least as much for `eae` as for BatchNorm "
                   "alone, so the entropy term has not made the code much more Gaussian in the way that matters for "
                   "sampling")
        lines += ["", f"**What the mixture's gain says about the EAE claim.** The mixture improves FD {g_eae:.2f}x for "
                  f"`eae` and {g_bn:.2f}x for `ae-bn`: {verdict}."]
    if not gains:
        return lines
    best_kind = min(gains, key=lambda k: min(r["fd"] for r in gains[k]))
    best = min(gains[best_kind], key=lambda r: r["fd"])
    base = records.get("eae", {}).get("samples", {}).get("fd")
    if base:
        lines += ["", f"Best autoencoder with its best prior: `{best_kind}` under {best['prior']} at T = "
                  f"{best['temperature']:g}, FD {best['fd']:.1f}, against the write-up's `eae` at FD {base:.1f} "
                  f"({base / best['fd']:.2f}x; the goal was 2x: {'met' if base / best['fd'] >= 2 else 'missed'})."]
        ceilings = {k: m.get("reconstruction_ceiling", {}).get("fd") for k, m in records.items()}
        if best_kind != "eae" and ceilings.get(best_kind) and ceilings.get("eae"):
            lines[-1] += (f" Once the prior is fitted after training, the sharper decoder wins: `{best_kind}` "
                          f"reconstructs the test set at FD {ceilings[best_kind]:.1f} against the EAE's "
                          f"{ceilings['eae']:.1f}, and the entropy term's pull towards N(0, I) is paid for in "
                          "reconstruction (test SSE "
                          f"{records[best_kind]['reconstruction']['sse']:.2f} against {records['eae']['reconstruction']['sse']:.2f}).")
    return lines


def sweep_table(records: list[dict]) -> list[str]:
    if not records:
        return []
    r0 = records[0]
    commands = sorted({r.get("command") for r in records if r.get("command")})
    lines = [
        f"Each configuration trained {r0['config']['steps']:,} steps (batch {r0['config']['batch_size']}, one thread, "
        f"two or three runs sharing the 2-core CPU) and was scored on {r0['n']:,} samples; one setting changed at a "
        "time from the centre (d 32, k 1, lambda 1, warm-up 1,000). Commands: "
        + "; ".join(f"`{c}`" for c in commands) + ".",
        "",
        "| run | d | k | lambda | warm-up | FD | precision | recall | test SSE | FD(code, N(0,I)) | prior coverage |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        c = r["config"]
        lam = c["lam"] if c["kind"] == "eae" else ("-" if c["kind"] == "ae-bn" else f"beta {c['beta']:g}"
                                                  if c.get("beta") is not None else "calibrated")
        lines.append(f"| `{r['name']}` | {c['latent_dim']} | {c['k'] if c['kind'] == 'eae' else '-'} | {lam} "
                     f"| {c['warmup'] if c['kind'] == 'eae' else '-'} | {r['fd']:.2f} | {r['precision']:.3f} "
                     f"| {r['recall']:.3f} | {r['test_sse']:.2f} | {r['fd_to_n01']:.3f} | {r['prior_coverage']:.3f} |")
    return lines


def _pct(new: float, old: float) -> str:
    return f"{100 * (new - old) / abs(old):+.0f}%"


def sweep_findings(records: list[dict], shipped: dict | None = None) -> list[str]:
    """Each one-at-a-time change against the sweep's centre run: how FD (sample quality), test
    SSE (reconstruction) and FD(code, N(0, I)) (how Gaussian the code is) moved."""
    by_name = {r["name"]: r for r in records}
    centre = by_name.get(run_name(CENTRE))
    if centre is None:
        return []
    lines = ["Against the centre run (FD, test SSE, FD(code, N(0,I)); lower is better for all three):", ""]
    for r in records:
        if r is centre:
            continue
        c = r["config"]
        if c["kind"] == "eae":
            changed = [f"{key} {CENTRE[key]:g} -> {c[key]:g}" for key in ("latent_dim", "k", "lam", "warmup")
                       if c[key] != CENTRE[key]]
            what = ", ".join(changed).replace("latent_dim", "d").replace("lam", "lambda")
        else:
            what = f"`{r['name']}` instead of the EAE"
        lines.append(f"- {what}: FD {centre['fd']:.1f} -> {r['fd']:.1f} ({_pct(r['fd'], centre['fd'])}), "
                     f"test SSE {centre['test_sse']:.2f} -> {r['test_sse']:.2f} ({_pct(r['test_sse'], centre['test_sse'])}), "
                     f"FD(code, N(0,I)) {centre['fd_to_n01']:.3f} -> {r['fd_to_n01']:.3f}.")
    best = min((r for r in records if r["config"]["kind"] == "eae"), key=lambda r: r["fd"])
    lines += ["", f"Best EAE on FD: `{best['name']}` (FD {best['fd']:.1f})."]
    if shipped:
        same = all(shipped.get(key) == best["config"][key] for key in ("latent_dim", "k", "lam", "warmup"))
        lines[-1] += (" The shipped EAE uses its settings, trained longer." if same else
                      " The shipped EAE uses other settings (see Training).")
    return lines


def render(kind: str, folder: Path) -> str:
    folder = Path(folder)
    t = read_json(folder / "training.json")
    m = read_json(folder / "metrics.json")
    cfg = t.get("config", {})
    lines = [
        *hub_metadata("pytorch", ["autoencoder", "entropy-regularization", "fashion-mnist", "pytorch_model_hub_mixin"],
                      datasets=[FASHION_MNIST], pipeline_tag="unconditional-image-generation"),
        f"# {TITLES[kind]} (`{kind}`)",
        "",
        DESCRIPTIONS[kind],
        "",
        ARCHITECTURE,
        "",
        "## Training",
        "- Data: the 60,000 Fashion-MNIST training images in [0, 1] (Debian package `dataset-fashion-mnist`).",
    ]
    if t:
        hyper = {"eae": f"lambda {cfg.get('lam')}, k {cfg.get('k')}, warm-up {cfg.get('warmup'):,} steps",
                 "ae-bn": "lambda 0",
                 "vae": "calibrated decoder variance" if cfg.get("beta") is None else f"beta {cfg.get('beta')}"}[kind]
        lines += [
            f"- Command: `{t.get('command')}`",
            f"- {t['step']:,} steps of batch {cfg.get('batch_size')} x {t.get('processes', 1)} process(es), "
            f"latent dimension d = {cfg.get('latent_dim')}, {hyper}; Adam, lr {cfg.get('lr')} with a cosine decay "
            f"to 1/20; bfloat16 autocast {'on' if cfg.get('bf16') else 'off'}; seed {cfg.get('seed')}.",
            f"- Time: {t['wall_minutes']} min wall clock, {t['cpu_minutes']} min CPU time, torch on {t['threads']} "
            f"thread(s) of a 2-core Xeon, device `{t['device']}` (budget: 30 minutes of this CPU per model).",
        ] + [f"- Note: {note}" for note in t.get("notes", [])] + [
            "- Files: `model.safetensors` + `config.json` (load with `playground.eae.load_model`), `loss.csv` "
            "(step, loss, SSE, entropy or KL, lambda, minutes), `samples.png` (a fixed 6x6 latent grid).",
        ]
    lines += ["", "## Measured quality"]
    if m:
        s, f, lat, rec = m["samples"], m["real_floor"], m.get("latent", {}), m["reconstruction"]
        lines += [
            f"Measured with `{m['command']}`: {s['n']:,} samples (temperature 1) against the 10,000 Fashion-MNIST test "
            "images, in the 128-d feature space of the shipped classifier (`checkpoints/fmnist-classifier`): FD "
            "(FID's formula in that space), KID (unbiased cubic-kernel MMD), k-NN precision/recall (k = 3).",
            "",
            "| | FD | KID x 1000 | precision | recall |",
            "|---|---|---|---|---|",
            _fmt_metrics(f"this model, {s['n']:,} samples", s),
            _fmt_metrics(f"real floor, {f['n']:,} training images", f),
            "",
        ] + temperature_table(m) + [
            f"- Reconstruction of the 10,000 test images: {rec['sse']:.2f} summed squared error per image "
            f"(MSE {rec['mse']:.5f} per pixel).",
        ]
        if lat:
            lines += [
                f"- Aggregate code of the test images (`playground.eae.latent_report`, d = {lat['latent_dim']}): "
                f"k-NN entropy (k = {lat['k']}) {lat['entropy_knn']:.2f} nats, against {lat['entropy_knn_of_n01_samples']:.2f} "
                f"for 10,000 true N(0, I) draws by the same estimator (the closed-form maximum for unit variance is "
                f"{lat['entropy_max_unit_variance']:.2f}: at this d and n the estimator reads high, so the true draws "
                "are the fair yardstick); Frechet distance of its Gaussian fit to N(0, I) "
                f"{lat['fd_to_n01']:.3f}; per-dimension Kolmogorov-Smirnov statistic vs N(0, 1) mean {lat['ks_mean']:.3f}, "
                f"max {lat['ks_max']:.3f}; prior coverage {lat['prior_coverage']:.3f} (the share of z ~ N(0, I) draws "
                "that land within a code's 3-NN ball: the rest fall in holes the decoder never trained on).",
            ]
        hist = ", ".join(f"{k} {100 * v:.1f}%" for k, v in s["class_histogram"].items())
        lines += [f"- Class mix of the samples under the classifier: {hist}.", f"- Evaluation took {m['seconds']:.0f} s."]
        table = comparison(folder.parent)
        if table:
            lines += ["", "## The three models side by side", ""] + table
        priors = prior_section(folder.parent)
        if priors:
            lines += ["", "## Ex-post prior: a Gaussian mixture fitted to the codes", ""] + priors
    else:
        lines.append(f"Not measured yet: run `python -m playground eval eae --model {kind} --write-card`.")
    if kind == "eae":
        sweep = read_json(folder / "sweep.json")
        if sweep:
            lines += ["", "## Sweep", ""] + sweep_table(sweep) + [""] + sweep_findings(sweep, cfg)
    if m:
        lines += ["", "![A fixed 6x6 grid of samples at the last training step](samples.png)"]
    return "\n".join(lines) + "\n"


def write_card(kind: str, folder: Path) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render(kind, Path(folder)))
    return path

"""Training for the xiangqi tab (``python -m playground train xiangqi ...``).

A GPT learns to predict each next move of a game (cross-entropy over the move vocabulary,
see ``models``), with the write-up's curriculum: first only the first eighth of every game
(openings), then the first quarter, the first half, and whole games last (endgames). Each
game is reflected left-right with probability 1/2 (``--no-mirror`` turns it off). With
``--legal-weight w`` a second term teaches the rules directly: at ``--legal-positions`` random
positions of each batch, pyffish lists the legal moves and the loss adds ``w`` times minus the log
of the probability mass the model puts on them (the model then rarely predicts an illegal move).
``--init-from FOLDER`` starts from a saved model (``save_pretrained``) instead of random weights,
to continue a finished run under a new schedule or objective. Mini-batches
hold games of similar length (random groups of ``batch_size x group`` games sorted by length). AdamW,
a linear warm-up then cosine decay to a tenth of the peak rate over ``steps``, bfloat16
autocast where it is faster.

Runs through Hugging Face Accelerate: the same script runs data-parallel, unchanged, under
``torchrun --nproc_per_node N -m playground train xiangqi ...`` (gloo on CPUs) or
``accelerate launch --multi_gpu``; every process draws its own slice of each global batch.
State (model, optimiser, data position, RNG, step, time) is saved atomically to
``<out>/state.pt`` every ``--save-minutes``; running the same command again resumes (a changed
``--steps`` stretches the cosine from there on). When ``steps`` is reached the model and its
tokenizer are exported with ``save_pretrained`` (weights sharded under 9 MB), with a model card.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..data import load_xiangqi_games
from ..training import (LengthBatches, LossLog, SaveClock, atomic_torch_save, check_resumable, load_state,
                        make_accelerator)
from . import rules
from .models import SIZES, Vocab, build_tokenizer, make_model

# the loss log's columns (a continued run's export merges its log with the earlier one's)
LOSS_COLUMNS = ["step", "loss", "lr", "prefix", "minutes", "val_loss", "val_accuracy", "legal_loss"]

# (share of the steps, share of each game seen): openings first, whole games last
CURRICULUM = ((0.10, 1 / 8), (0.15, 1 / 4), (0.25, 1 / 2), (0.50, 1.0))


@dataclass
class TrainConfig:
    size: str = "small"
    steps: int = 6_000
    batch_size: int = 32  # games per process
    lr: float = 1e-3
    warmup: int = 200
    weight_decay: float = 0.1
    dropout: float = 0.1  # the data is small: many passes over a few thousand games
    curriculum: bool = True
    mirror: bool = True  # each game is reflected left-right with probability 1/2 (an equally legal game)
    group: int = 20  # batches drawn at once and sorted by length: little padding
    bf16: bool = True
    seed: int = 0
    legal_weight: float = 0.0  # weight of the legal-mass term (0: off)
    legal_positions: int = 64  # positions per process and step that get it
    init_from: str = ""  # a save_pretrained folder to start from ("" : random weights)

    def __post_init__(self):
        if not (isinstance(self.legal_weight, (int, float)) and math.isfinite(self.legal_weight)
                and self.legal_weight >= 0):
            raise ValueError(f"legal_weight must be a number >= 0, not {self.legal_weight!r}")
        if self.legal_positions < 1:
            raise ValueError(f"legal_positions must be positive, not {self.legal_positions!r}")
        if self.size not in SIZES:
            raise ValueError(f"--size must be one of {list(SIZES)}, not {self.size!r}")
        for name in ("steps", "batch_size", "group"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be a positive number, not {self.lr!r}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0 steps, not {self.warmup!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout!r}")


def prefix_share(config: TrainConfig, step: int) -> float:
    """The share of each game trained on at ``step`` (the curriculum)."""
    if not config.curriculum:
        return 1.0
    done = 0.0
    for share_of_steps, share_of_game in CURRICULUM:
        done += share_of_steps
        if step < done * config.steps:
            return share_of_game
    return 1.0


def lr_at(config: TrainConfig, step: int) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, config.steps - config.warmup))
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def make_batch(games: list[list[int]], share: float, pad: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Token ids, attention mask and labels for games cut to ``share`` of their moves
    (at least one move). The result token opens each row; padding is ignored by the loss."""
    rows = [g[: 1 + max(1, math.ceil(share * (len(g) - 1)))] for g in games]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    return ids, mask, labels


def legal_targets(ids: torch.Tensor, mask: torch.Tensor, vocab: Vocab, count: int) -> tuple:
    """``count`` distinct random (row, column) positions of a batch (all of them if fewer; column
    c predicts move c) and a (count, vocabulary) bool mask of the legal moves there, from pyffish."""
    lengths = mask.sum(1).tolist()
    pairs = [(r, c) for r, n in enumerate(lengths) for c in range(n - 1)]  # column c predicts move c
    picked = [pairs[i] for i in torch.randperm(len(pairs))[:count].tolist()]  # distinct positions
    legal = torch.zeros((len(picked), len(vocab.ids)), dtype=torch.bool)
    for k, (r, c) in enumerate(picked):
        prefix = [vocab.tokens[i] for i in ids[r, 1:c + 1].tolist()]
        legal[k, [vocab.ids[m] for m in rules.legal_after(prefix)]] = True
    rows = torch.tensor([r for r, _ in picked])
    cols = torch.tensor([c for _, c in picked])
    return rows, cols, legal


def legal_loss(logits: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, legal: torch.Tensor) -> torch.Tensor:
    """Mean of minus the log of the probability mass on the legal moves at the given positions."""
    picked = logits[rows.to(logits.device), cols.to(logits.device)].float()
    legal = legal.to(logits.device)
    return (torch.logsumexp(picked, -1) - torch.logsumexp(picked.masked_fill(~legal, float("-inf")), -1)).mean()


def load_initial_weights(model, folder: str | Path, tokenizer) -> None:
    """Copy the weights of a ``save_pretrained`` GPT folder into ``model`` (same size and vocabulary)."""
    from transformers import AutoTokenizer, GPT2LMHeadModel

    folder = Path(folder)
    if not (folder / "config.json").is_file():
        raise ValueError(f"--init-from {folder}: no saved model there (config.json missing)")
    if AutoTokenizer.from_pretrained(folder).get_vocab() != tokenizer.get_vocab():
        raise ValueError(f"--init-from {folder}: its move vocabulary differs from this trainer's")
    source = GPT2LMHeadModel.from_pretrained(folder, torch_dtype=torch.float32, use_safetensors=True)
    mine, theirs = model.config, source.config
    if (mine.n_layer, mine.n_embd, mine.n_head) != (theirs.n_layer, theirs.n_embd, theirs.n_head):
        raise ValueError(f"--init-from {folder}: a {theirs.n_layer}x{theirs.n_embd} model, not the "
                         f"{mine.n_layer}x{mine.n_embd} of --size")
    model.load_state_dict(source.state_dict())


@torch.no_grad()
def evaluate(model, games: list[list[int]], pad: int, device, batch_size: int = 32) -> dict:
    """Mean next-move loss and top-1 accuracy (the played move) over whole validation games."""
    model.eval()
    total_loss, total_right, total = 0.0, 0, 0
    for i in range(0, len(games), batch_size):
        ids, mask, labels = (t.to(device) for t in make_batch(games[i:i + batch_size], 1.0, pad))
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        target = labels[:, 1:]
        keep = target != -100
        loss = torch.nn.functional.cross_entropy(logits[keep], target[keep], reduction="sum")
        total_loss += loss.item()
        total_right += (logits.argmax(-1)[keep] == target[keep]).sum().item()
        total += keep.sum().item()
    model.train()
    return {"val_loss": total_loss / max(1, total), "val_accuracy": total_right / max(1, total)}


def train(
    config: TrainConfig,
    out_dir,
    data_dir,
    export_dir=None,
    max_minutes: float | None = None,
    save_minutes: float = 5.0,
    save_every: int | None = None,
    eval_every: int = 500,
    log_every: int = 25,
    progress: bool = True,
    command: str = "",
) -> dict:
    """Train (or resume) the GPT on the games in ``data_dir`` (``train.jsonl``, ``val.jsonl``);
    return a summary. Exports the model when ``steps`` is reached."""
    acc = make_accelerator(config.bf16)
    device, main = acc.device, acc.is_main_process
    out = Path(out_dir)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed + acc.process_index)

    tokenizer = build_tokenizer()
    vocab = Vocab(tokenizer)
    train_games = load_xiangqi_games(Path(data_dir) / "train.jsonl")
    val_games = load_xiangqi_games(Path(data_dir) / "val.jsonl")[:300]
    train_ids = [vocab.encode(g["moves"], g["result"]) for g in train_games]
    val_ids = [vocab.encode(g["moves"], g["result"]) for g in val_games]
    stream = LengthBatches(torch.tensor([len(g) for g in train_ids]), config.batch_size, config.group, config.seed,
                           acc.process_index, acc.num_processes)

    mirror = torch.tensor(vocab.mirror_table())

    def draw_games() -> list[list[int]]:
        games = [train_ids[i] for i in stream.next().tolist()]
        if config.mirror:
            flips = torch.rand(len(games)) < 0.5
            games = [mirror[torch.tensor(g)].tolist() if f else g for g, f in zip(games, flips.tolist())]
        return games

    model = make_model(config.size, vocab_size=len(tokenizer), dropout=config.dropout).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.95))

    step, elapsed, cpu_elapsed, tokens_seen = 0, 0.0, 0.0, 0
    state_path = out / "state.pt"
    state = load_state(state_path, "cpu")
    if state is None and config.init_from:
        load_initial_weights(model, config.init_from, tokenizer)
    if state is not None:
        check_resumable(state, asdict(config), state_path)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        stream.load_state_dict(state["stream"])
        torch.set_rng_state(state["rng"][acc.process_index % len(state["rng"])].clone())
        step, elapsed, cpu_elapsed = state["step"], state["elapsed"], state["cpu_elapsed"]
        tokens_seen = state.get("tokens", 0)
        if main:
            print(f"resumed xiangqi from step {step} ({elapsed / 60:.1f} min trained)", file=sys.stderr)
    model, opt = acc.prepare(model, opt)
    if main:
        (out / "config.json").write_text(json.dumps(asdict(config), indent=2))

    def save_state():
        rng = acc.gather(torch.get_rng_state()[None].to(device))
        tokens = int(acc.gather(torch.tensor([tokens_seen], device=device)).sum()) if acc.num_processes > 1 \
            else tokens_seen
        if main:
            atomic_torch_save(
                {"config": asdict(config), "step": step, "elapsed": elapsed, "cpu_elapsed": cpu_elapsed,
                 "tokens": tokens, "model": acc.unwrap_model(model).state_dict(), "opt": opt.state_dict(),
                 "stream": stream.state_dict(), "rng": [r.clone() for r in rng.cpu()]},
                state_path,
            )
        acc.wait_for_everyone()

    log = LossLog(out / "loss.csv", LOSS_COLUMNS, step) if main else None
    t0, c0 = time.time(), time.process_time()
    clock = SaveClock(acc, save_minutes, max_minutes, save_every)
    start_elapsed, start_cpu = elapsed, cpu_elapsed
    bar = tqdm(total=config.steps, initial=step, desc="xiangqi", disable=not (progress and main), dynamic_ncols=True)
    model.train()
    stopped_early = False
    running, legal_running = [], []
    try:
        while step < config.steps:
            for group in opt.param_groups:
                group["lr"] = lr_at(config, step)
            share = prefix_share(config, step)
            ids, mask, labels = (t.to(device) for t in make_batch(draw_games(), share, vocab.pad))
            with acc.autocast():
                output = model(input_ids=ids, attention_mask=mask, labels=labels)
                loss = output.loss
                running.append(output.loss.item())  # the log's loss is the next-move loss alone
                if config.legal_weight > 0:
                    legal = legal_loss(output.logits, *legal_targets(ids.cpu(), mask.cpu(), vocab,
                                                                     config.legal_positions))
                    legal_running.append(legal.item())
                    loss = loss + config.legal_weight * legal
            opt.zero_grad(set_to_none=True)
            acc.backward(loss)
            acc.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            step += 1
            tokens_seen += int(mask.sum())
            bar.update(1)
            elapsed = start_elapsed + time.time() - t0
            cpu_elapsed = start_cpu + time.process_time() - c0
            row_val = {}
            if step % eval_every == 0 or step == config.steps:
                if main:
                    row_val = evaluate(acc.unwrap_model(model), val_ids, vocab.pad, device)
                acc.wait_for_everyone()
            if log is not None and (step % log_every == 0 or row_val):
                mean = sum(running) / max(1, len(running))
                log.write([step, f"{mean:.4f}", f"{lr_at(config, step - 1):.3g}", f"{share:.3f}",
                           f"{elapsed / 60:.2f}", f"{row_val['val_loss']:.4f}" if row_val else "",
                           f"{row_val['val_accuracy']:.4f}" if row_val else "",
                           f"{sum(legal_running) / len(legal_running):.4f}" if legal_running else ""])
                bar.set_postfix(loss=f"{mean:.3f}", prefix=f"{share:.2f}")
            if step % log_every == 0:
                running, legal_running = [], []
            save_now, stop_now = clock.due(step)
            if save_now:
                save_state()
                clock.saved()
            if stop_now and step < config.steps:
                stopped_early = True
                break
    except KeyboardInterrupt:
        stopped_early = True
        if main:
            print(f"\ninterrupted at step {step}; state saved, run the same command to continue", file=sys.stderr)
    bar.close()
    if log is not None:
        log.close()
    save_state()

    summary = {
        "size": config.size, "step": step, "steps": config.steps, "finished": step >= config.steps,
        "wall_minutes": round(elapsed / 60, 2), "cpu_minutes": round(cpu_elapsed / 60, 2),
        "threads": torch.get_num_threads(), "device": str(device), "processes": acc.num_processes,
        "parameters": sum(p.numel() for p in acc.unwrap_model(model).parameters()),
        "train_games": len(train_ids), "train_plies": sum(len(g) - 1 for g in train_ids),
        "val_games": len(val_ids), "data": str(data_dir), "config": asdict(config), "command": command,
    }
    if main:
        summary.update(evaluate(acc.unwrap_model(model), val_ids, vocab.pad, device))
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        if stopped_early:
            print(f"stopped at step {step}; run the same command to continue", file=sys.stderr)
        if summary["finished"] and export_dir is not None:
            export(acc.unwrap_model(model), tokenizer, out, Path(export_dir), summary, Path(data_dir))
    acc.wait_for_everyone()
    return summary


def export(model, tokenizer, run_dir: Path, export_dir: Path, summary: dict, data_dir: Path) -> None:
    """``save_pretrained`` the model (fp16 shards under 9 MB) and tokenizer, with the training
    record, the data record, the loss log and a model card."""
    from .card import write_card

    export_dir.mkdir(parents=True, exist_ok=True)
    init = summary.get("config", {}).get("init_from")
    lineage = read_lineage(Path(init), summary, run_dir / "loss.csv") if init else None
    model = model.cpu().to(torch.float16)
    model.save_pretrained(export_dir, max_shard_size="9MB", safe_serialization=True)
    tokenizer.save_pretrained(export_dir)
    if lineage is None:
        shutil.copy(run_dir / "loss.csv", export_dir / "loss.csv")
        (export_dir / "training.json").write_text(json.dumps(summary, indent=2))
    else:  # a continued model: its record and loss log carry the whole history
        (export_dir / "loss.csv").write_text(lineage[1])
        (export_dir / "training.json").write_text(json.dumps(lineage[0], indent=2))
    if (data_dir / "meta.json").exists():
        shutil.copy(data_dir / "meta.json", export_dir / "data.json")
    if (data_dir / "val.jsonl").exists():  # the held-out games, for `eval xiangqi` and the shipped-model test
        shutil.copy(data_dir / "val.jsonl", export_dir / "heldout.jsonl")
    write_card(export_dir)
    print(f"exported xiangqi to {export_dir}", file=sys.stderr)


def read_lineage(init_dir: Path, summary: dict, loss_csv: Path) -> tuple[dict, str] | None:
    """For a run started ``--init-from`` an exported model: its training record with this run
    appended under ``continued``, and one loss log (this run's steps and minutes counted on from
    the earlier ones). None when ``init_dir`` has no training record."""
    import csv
    import io

    if not (init_dir / "training.json").is_file():
        return None
    base = json.loads((init_dir / "training.json").read_text())
    record = {**base, "continued": base.get("continued", []) + [summary]}
    step0 = base["step"] + sum(c["step"] for c in base.get("continued", []))
    minutes0 = base["wall_minutes"] + sum(c["wall_minutes"] for c in base.get("continued", []))
    out = io.StringIO()
    writer = csv.DictWriter(out, LOSS_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    if (init_dir / "loss.csv").is_file():
        with open(init_dir / "loss.csv") as f:
            writer.writerows(csv.DictReader(f))
    with open(loss_csv) as f:
        for row in csv.DictReader(f):
            row["step"] = str(int(row["step"]) + step0)
            row["minutes"] = f"{float(row['minutes']) + minutes0:.2f}"
            writer.writerow(row)
    return record, out.getvalue()

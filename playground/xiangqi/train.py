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

Only the algorithm lives here (config, model, one step, validation, export);
``playground.training.run`` owns the loop: Hugging Face Accelerate (the same script runs
data-parallel, unchanged, under ``torchrun --nproc_per_node N -m playground train xiangqi ...`` or
``accelerate launch --multi_gpu``; every process draws its own slice of each global batch), resume
from ``<out>/state.pt`` (model, optimiser, data position, every process's RNG, step, time, saved
atomically every ``--save-minutes``; a changed ``--steps`` stretches the cosine from there on),
the loss log, Ctrl-C and the summary. When ``steps`` is reached the model and its tokenizer are
exported with ``save_pretrained`` (weights sharded under 9 MB), with a model card.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checks import check_choice, check_float, check_int
from ..data import load_xiangqi_games
from ..training import Algorithm, LengthBatches, check_positive, pad_rows, run
from . import rules
from .models import SIZES, Vocab, build_tokenizer, make_model

# the loss log's columns (a continued run's export merges its log with the earlier one's)
LOSS_COLUMNS = ["step", "loss", "lr", "prefix", "minutes", "val_loss", "val_accuracy", "legal_loss"]

DATA_DIR = "runs/xiangqi-data"  # the games folder when none is given (`python -m playground data xiangqi`)

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
    # --objective scores: the board-aware GPT on engine-scored games (train_scored.py)
    objective: str = "moves"  # moves: the write-up's next-move imitation; scores: every legal move's engine score
    board: str = "pieces"  # scores: the board as piece-square embeddings, or none (the move-only ablation)
    temperature: float = 60.0  # scores: centipawns of the softmax that turns move scores into a soft policy
    soft_weight: float = 1.0  # scores: weight of the soft-policy term
    best_weight: float = 0.0  # scores: weight of the best-move term
    value_weight: float = 0.5  # scores: weight of the value-head term
    val_games: int = 200  # scores: held-out games in each validation

    def __post_init__(self):
        check_choice("objective", self.objective, OBJECTIVES)
        check_choice("board", self.board, ("pieces", "none"))
        check_positive(self, "temperature", "val_games")
        for name in ("soft_weight", "best_weight", "value_weight", "legal_weight"):
            check_float(name, getattr(self, name), low=0)
        check_choice("--size", self.size, SIZES)
        check_positive(self, "legal_positions", "steps", "batch_size", "group", "lr")
        check_int("warmup", self.warmup, low=0)
        check_float("dropout", self.dropout, 0, 1, high_open=True)


OBJECTIVES = ("moves", "scores")
DATA_DIRS = {"moves": "runs/xiangqi-data", "scores": "runs/xiangqi-scored"}


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
    ids, mask = pad_rows([g[: 1 + max(1, math.ceil(share * (len(g) - 1)))] for g in games], pad)
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


class XiangqiAlgorithm(Algorithm):
    """The xiangqi GPT's part of the training loop: one model, AdamW, length-sorted batches of games."""

    name = "xiangqi"
    columns = LOSS_COLUMNS
    postfix = ("loss", "prefix")

    def __init__(self, config: TrainConfig, data_dir=None):
        super().__init__(config, Path(data_dir if data_dir is not None else DATA_DIR))

    def build(self, acc, fresh: bool) -> None:
        config, device = self.config, acc.device
        self.tokenizer = build_tokenizer()
        self.vocab = vocab = Vocab(self.tokenizer)
        train_games = load_xiangqi_games(self.data_dir / "train.jsonl")
        val_games = load_xiangqi_games(self.data_dir / "val.jsonl")[:300]
        self.train_ids = [vocab.encode(g["moves"], g["result"]) for g in train_games]
        self.val_ids = [vocab.encode(g["moves"], g["result"]) for g in val_games]
        self.stream = LengthBatches(torch.tensor([len(g) for g in self.train_ids]), config.batch_size, config.group,
                                    config.seed, acc.process_index, acc.num_processes)
        self.mirror = torch.tensor(vocab.mirror_table())
        self.net = make_model(config.size, vocab_size=len(self.tokenizer), dropout=config.dropout).to(device)
        decay = [p for n, p in self.net.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in self.net.named_parameters() if p.dim() < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                      {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.95))
        if fresh and config.init_from:
            load_initial_weights(self.net, config.init_from, self.tokenizer)
        self.tokens_seen = 0

    def state_dict(self) -> dict:
        acc = self.acc
        tokens = int(acc.gather(torch.tensor([self.tokens_seen], device=acc.device)).sum()) \
            if acc.num_processes > 1 else self.tokens_seen
        return {"tokens": tokens, "model": self.net.state_dict(), "opt": self.opt.state_dict(),
                "stream": self.stream.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.stream.load_state_dict(state["stream"])
        self.tokens_seen = state.get("tokens", 0)

    def draw_games(self) -> list[list[int]]:
        games = [self.train_ids[i] for i in self.stream.next().tolist()]
        if self.config.mirror:
            flips = torch.rand(len(games)) < 0.5
            games = [self.mirror[torch.tensor(g)].tolist() if f else g for g, f in zip(games, flips.tolist())]
        return games

    def step(self, step: int) -> dict:
        config, acc = self.config, self.acc
        lr = lr_at(config, step)
        for group in self.opt.param_groups:
            group["lr"] = lr
        share = prefix_share(config, step)
        ids, mask, labels = (t.to(acc.device) for t in make_batch(self.draw_games(), share, self.vocab.pad))
        with acc.autocast():
            output = self.model(input_ids=ids, attention_mask=mask, labels=labels)
            loss = output.loss
            values = {"loss": output.loss.item(), "lr": lr, "prefix": share}  # the log's loss: next-move loss alone
            if config.legal_weight > 0:
                legal = legal_loss(output.logits, *legal_targets(ids.cpu(), mask.cpu(), self.vocab,
                                                                 config.legal_positions))
                values["legal_loss"] = legal.item()
                loss = loss + config.legal_weight * legal
        self.opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.tokens_seen += int(mask.sum())
        return values

    def evaluate(self) -> dict:
        return evaluate(self.net, self.val_ids, self.vocab.pad, self.acc.device)

    def summary(self) -> dict:
        return {"size": self.config.size, "parameters": sum(p.numel() for p in self.net.parameters()),
                "train_games": len(self.train_ids), "train_plies": sum(len(g) - 1 for g in self.train_ids),
                "val_games": len(self.val_ids), "data": str(self.data_dir)}

    def export(self, export_dir: Path, summary: dict) -> None:
        """``save_pretrained`` the model (fp16 shards under 9 MB) and tokenizer, with the data record,
        the held-out games and a model card (the loop has already written loss.csv and training.json;
        a run started ``--init-from`` an exported model replaces them with the whole history)."""
        from .card import write_card

        init = summary.get("config", {}).get("init_from")
        lineage = read_lineage(Path(init), summary, export_dir / "loss.csv") if init else None
        self.net.cpu().to(torch.float16).save_pretrained(export_dir, max_shard_size="9MB", safe_serialization=True)
        self.tokenizer.save_pretrained(export_dir)
        if lineage is not None:  # a continued model: its record and loss log carry the whole history
            (export_dir / "loss.csv").write_text(lineage[1])
            (export_dir / "training.json").write_text(json.dumps(lineage[0], indent=2))
        if (self.data_dir / "meta.json").exists():
            shutil.copy(self.data_dir / "meta.json", export_dir / "data.json")
        if (self.data_dir / "val.jsonl").exists():  # the held-out games, for `eval xiangqi` and the shipped test
            shutil.copy(self.data_dir / "val.jsonl", export_dir / "heldout.jsonl")
        write_card(export_dir)


def train(config: TrainConfig, out_dir, export_dir=None, data_dir=None, **options) -> dict:
    """Train (or resume) the GPT on the games in ``data_dir`` (``train.jsonl``, ``val.jsonl``;
    default ``runs/xiangqi-data``, or ``runs/xiangqi-scored`` for ``objective="scores"``); return a
    summary. Exports the model when ``steps`` is reached.
    ``options``: the run loop's (``max_minutes``, ``save_minutes`` (default 5), ``save_every``,
    ``log_every`` (default 25), ``eval_every``, ``progress``, ``command``; see
    ``playground.training.run``)."""
    options.setdefault("save_minutes", 5.0)
    options.setdefault("log_every", 25)
    data_dir = data_dir or DATA_DIRS[config.objective]
    if config.objective == "scores":
        from .train_scored import ScoredAlgorithm

        return run(ScoredAlgorithm(config, data_dir), out_dir, export_dir, **options)
    return run(XiangqiAlgorithm(config, data_dir), out_dir, export_dir, **options)


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

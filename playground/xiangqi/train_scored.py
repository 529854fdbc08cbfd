"""Training the board-aware GPT on engine-scored games (``train xiangqi --objective scores``).

The data (``scored.py``) scores every legal move of every position. At each position the model
(``modeling.XiangqiGPT``) learns from four targets, each with its weight in the config:

* ``soft``: cross-entropy to a soft policy, the softmax of the engine's move scores at
  ``temperature`` centipawns (a mate in n counts as 30000 - n, so the quickest mate dominates and
  won games get finished): what every legal move is worth, not only which one was played
  (DeepMind's searchless chess trains on the value of every legal move);
* ``best``: cross-entropy to the engine's best move;
* ``legal``: minus the log of the probability mass on the exact legal set (the engine's output
  lists it), so that the unconstrained top move is legal;
* ``value``: binary cross-entropy of the value head against the engine's evaluation of the
  position as an expected score (``scored.value_of``); decided final positions (checkmate,
  stalemate) count as lost for the side to move.

Positions are seen from the side to move (``position.py``): black's moves and boards are turned
upside down, so the policy is predicted in red's frame. Games are reflected left-right with
probability 1/2. Mini-batches hold games of similar length. AdamW with warm-up then cosine.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..checkpoints import read_json
from ..training import Algorithm, LengthBatches
from . import position
from .models import SIZES, Vocab, build_tokenizer
from .scored import parse_scores, value_of

SCORE_CAP = 30_000


def _lines(paths):
    for path in paths:
        if Path(path).is_file():
            with open(path) as f:
                yield from (line for line in f if line.strip())


class ScoredGames:
    """Engine-scored games as arrays: token ids, boards, and per position its legal moves (ids in the
    side to move's frame) with their scores, best first."""

    def __init__(self, paths, vocab: Vocab, limit: int | None = None):
        flip = vocab.flip_table
        self.ids, self.boards, self.offsets, self.moves, self.scores, self.final = [], [], [], [], [], []
        paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
        for n, line in enumerate(_lines(paths)):
            if limit is not None and n >= limit:
                break
            game = json.loads(line)
            moves = game["moves"].split()
            self.ids.append(np.array(vocab.encode(moves, game.get("result")), dtype=np.int64))
            self.boards.append(position.game_boards(moves))
            offsets, ids, cps = [0], [], []
            for ply, text in enumerate(game["scores"]):
                for move, cp in parse_scores(text):
                    token = vocab.ids[move]
                    ids.append(flip[token] if ply % 2 else token)
                    cps.append(max(-SCORE_CAP, min(SCORE_CAP, cp)))
                offsets.append(len(ids))
            self.offsets.append(np.array(offsets, dtype=np.int64))
            self.moves.append(np.array(ids, dtype=np.int64))
            self.scores.append(np.array(cps, dtype=np.float32))
            decided = game.get("reason") in ("checkmate", "stalemate") and len(game["scores"]) == len(moves)
            self.final.append(0.0 if decided else None)  # the side to move there has lost
        self.positions = sum(len(o) - 1 for o in self.offsets)

    def __len__(self) -> int:
        return len(self.ids)

    def lengths(self) -> torch.Tensor:
        return torch.tensor([len(i) for i in self.ids])


def make_batch(data: ScoredGames, games: list[int], flips: list[bool], mirror: np.ndarray, pad: int) -> dict:
    """Padded tensors for ``games`` (reflected where ``flips``): ids, mask, boards, and for every
    target position its (row, column), legal moves, scores and value target."""
    width = max(len(data.ids[g]) for g in games)
    ids = np.full((len(games), width), pad, dtype=np.int64)
    mask = np.zeros((len(games), width), dtype=np.int64)
    boards = np.zeros((len(games), width, 90), dtype=np.int64)
    rows, cols, legal, scores, values, vrows, vcols = [], [], [], [], [], [], []
    for r, (g, flip) in enumerate(zip(games, flips)):
        seq, board = data.ids[g], data.boards[g][: len(data.ids[g])]
        if flip:
            seq, board = mirror[seq], position.mirror_boards(board)
        ids[r, : len(seq)], mask[r, : len(seq)], boards[r, : len(seq)] = seq, 1, board
        offsets, moves, cps = data.offsets[g], data.moves[g], data.scores[g]
        for c in range(len(offsets) - 1):
            m = moves[offsets[c]:offsets[c + 1]]
            rows.append(r)
            cols.append(c)
            legal.append(mirror[m] if flip else m)
            scores.append(cps[offsets[c]:offsets[c + 1]])
            vrows.append(r)
            vcols.append(c)
            values.append(value_of(int(cps[offsets[c]])))
        if data.final[g] is not None and len(seq) - 1 == len(offsets) - 1:
            vrows.append(r)
            vcols.append(len(seq) - 1)
            values.append(data.final[g])
    most = max(len(m) for m in legal)
    legal_ids = np.zeros((len(legal), most), dtype=np.int64)
    legal_cp = np.full((len(legal), most), -np.inf, dtype=np.float32)
    for k, (m, s) in enumerate(zip(legal, scores)):
        legal_ids[k, : len(m)], legal_cp[k, : len(m)] = m, s
    t = torch.from_numpy
    return {"ids": t(ids), "mask": t(mask), "boards": t(boards), "rows": torch.tensor(rows), "cols": torch.tensor(cols),
            "legal": t(legal_ids), "cp": t(legal_cp), "vrows": torch.tensor(vrows), "vcols": torch.tensor(vcols),
            "values": torch.tensor(values, dtype=torch.float32)}


def losses(output, batch: dict, temperature: float) -> dict:
    """The four terms (means over positions) and two figures: top-1 agreement with the engine's best
    move and raw legality (the unconstrained top move is legal)."""
    logits = output.policy_logits[batch["rows"], batch["cols"]].float()
    logp = logits.log_softmax(-1)
    cp = batch["cp"]
    present = torch.isfinite(cp)
    picked = logp.gather(1, batch["legal"]).masked_fill(~present, float("-inf"))
    target = (cp / temperature).softmax(-1)  # -inf scores (padding) get 0
    soft = -(target * picked.masked_fill(~present, 0.0)).sum(-1)
    best = -picked[:, 0]  # lines are stored best first
    legal = -torch.logsumexp(picked, -1)
    values = output.value_logits[batch["vrows"], batch["vcols"]].float()
    value = F.binary_cross_entropy_with_logits(values, batch["values"])
    with torch.no_grad():
        top = logits.argmax(-1, keepdim=True)
        in_legal = ((batch["legal"] == top) & present).any(-1)
        agree = (top[:, 0] == batch["legal"][:, 0])
    return {"soft": soft.mean(), "best": best.mean(), "legal": legal.mean(), "value": value,
            "top1": agree.float().mean(), "raw_legal": in_legal.float().mean()}


def make_board_model(size: str, vocab_size: int, board: str = "pieces", dropout: float = 0.0):
    from .modeling import XiangqiConfig, XiangqiGPT
    from .models import N_POSITIONS

    layers, width, heads = SIZES[size]
    config = XiangqiConfig(board=board, vocab_size=vocab_size, n_positions=N_POSITIONS, n_embd=width, n_layer=layers,
                           n_head=heads, resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout,
                           bos_token_id=None, eos_token_id=None, pad_token_id=0)
    return XiangqiGPT(config)


class ScoredAlgorithm(Algorithm):
    """``--objective scores``: the board-aware GPT on engine-scored games."""

    name = "xiangqi"
    columns = ["step", "loss", "soft", "best", "legal", "value", "top1", "raw_legal", "lr", "minutes",
               "val_soft", "val_top1", "val_raw_legal", "val_value"]
    postfix = ("soft", "raw_legal")

    def build(self, acc, fresh: bool) -> None:
        config, device = self.config, acc.device
        self.tokenizer = build_tokenizer()
        self.vocab = Vocab(self.tokenizer)
        # --data-dir A,B: the games of every folder (e.g. the scored games and the DAgger games);
        # the held-out games are the first folder's
        folders = [Path(f) for f in str(self.data_dir).split(",")]
        missing = [str(f / "train.jsonl") for f in folders if not (f / "train.jsonl").is_file()]
        if missing:
            raise ValueError(f"no scored games at {', '.join(missing)}: make them with "
                             "`python -m playground data xiangqi --scored`")
        self.train_data = ScoredGames([f / "train.jsonl" for f in folders], self.vocab)
        self.val_data = ScoredGames(folders[0] / "val.jsonl", self.vocab, limit=config.val_games)
        self.stream = LengthBatches(self.train_data.lengths(), config.batch_size, config.group, config.seed,
                                    acc.process_index, acc.num_processes)
        self.mirror = np.array(self.vocab.mirror_table())
        self.net = make_board_model(config.size, len(self.tokenizer), config.board, config.dropout).to(device)
        if fresh and config.init_from:
            from transformers import AutoModel

            source = AutoModel.from_pretrained(config.init_from, dtype=torch.float32)
            self.net.load_state_dict(source.state_dict())
        decay = [p for p in self.net.parameters() if p.dim() >= 2]
        no_decay = [p for p in self.net.parameters() if p.dim() < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                      {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.95))
        self.positions_seen = 0

    def state_dict(self) -> dict:
        return {"model": self.net.state_dict(), "opt": self.opt.state_dict(), "stream": self.stream.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.stream.load_state_dict(state["stream"])

    def lr_at(self, step: int) -> float:
        config = self.config
        if step < config.warmup:
            return config.lr * (step + 1) / config.warmup
        progress = min(1.0, (step - config.warmup) / max(1, config.steps - config.warmup))
        return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))

    def objective(self, terms: dict) -> torch.Tensor:
        c = self.config
        return (c.soft_weight * terms["soft"] + c.best_weight * terms["best"] + c.legal_weight * terms["legal"]
                + c.value_weight * terms["value"])

    def step(self, step: int) -> dict:
        acc, config = self.acc, self.config
        for group in self.opt.param_groups:
            group["lr"] = self.lr_at(step)
        games = self.stream.next().tolist()
        flips = (torch.rand(len(games)) < 0.5).tolist() if config.mirror else [False] * len(games)
        batch = {k: v.to(acc.device) for k, v in make_batch(self.train_data, games, flips, self.mirror,
                                                               self.vocab.pad).items()}
        with acc.autocast():
            output = self.model(input_ids=batch["ids"], boards=batch["boards"], attention_mask=batch["mask"])
        terms = losses(output, batch, config.temperature)
        loss = self.objective(terms)
        self.opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.positions_seen += len(batch["rows"])
        return {"loss": loss.item(), **{k: v.item() for k, v in terms.items()}, "lr": self.lr_at(step)}

    @torch.no_grad()
    def evaluate(self) -> dict:
        net, data = self.acc.unwrap_model(self.model), self.val_data
        net.eval()
        totals, count = {}, 0
        for start in range(0, len(data), 16):
            games = list(range(start, min(len(data), start + 16)))
            batch = {k: v.to(self.acc.device) for k, v in make_batch(data, games, [False] * len(games), self.mirror,
                                                                       self.vocab.pad).items()}
            output = net(input_ids=batch["ids"], boards=batch["boards"], attention_mask=batch["mask"])
            n = len(batch["rows"])
            for key, value in losses(output, batch, self.config.temperature).items():
                totals[key] = totals.get(key, 0.0) + value.item() * n
            count += n
        net.train()
        return {f"val_{k}": v / max(1, count) for k, v in totals.items() if k in ("soft", "top1", "raw_legal", "value")}

    def summary(self) -> dict:
        out = {"size": self.config.size, "objective": "scores", "board": self.config.board,
               "parameters": sum(p.numel() for p in self.net.parameters()),
               "train_games": len(self.train_data), "train_positions": self.train_data.positions,
               "val_games": len(self.val_data), "positions_this_run": self.positions_seen,
               "data": str(self.data_dir)}
        if self.config.init_from:  # the run this one continued: its own record travels with the weights
            source = Path(self.config.init_from)
            earlier = read_json(source / "snapshot.json")
            if not earlier and (source / "training.json").exists():  # an exported model: its data record too
                earlier = {**read_json(source / "training.json"), "data_record": read_json(source / "data.json")}
            if earlier:
                out["earlier"] = earlier
        return out

    def export(self, export_dir: Path, summary: dict) -> None:
        """``save_pretrained`` (fp16 shards under 9 MB) with the tokenizer and the data record."""
        net = self.acc.unwrap_model(self.model)
        net.cpu().to(torch.float16).save_pretrained(export_dir, max_shard_size="9MB")
        net.to(torch.float32).to(self.acc.device)
        self.tokenizer.save_pretrained(export_dir)
        folders = [Path(f) for f in str(self.data_dir).split(",")]
        folder = folders[0]
        # data.json: the first folder's record (the held-out games' source), with every folder's record
        records = [{"folder": str(f), **read_json(f / "meta.json")} for f in folders if (f / "meta.json").exists()]
        if records:
            (export_dir / "data.json").write_text(json.dumps({**records[0], "folders": records}, indent=2))
        if (folder / "val.jsonl").exists():  # the held-out games without their scores: `eval xiangqi` replays them
            with open(folder / "val.jsonl") as f, open(export_dir / "heldout.jsonl", "w") as out:
                for line in f:
                    game = json.loads(line)
                    out.write(json.dumps({k: game.get(k) for k in ("moves", "result", "reason", "plies")}) + "\n")
        from .card import write_card

        write_card(export_dir)



def snapshot(run_dir, out_dir) -> Path:
    """The weights of an unfinished run (``<run_dir>/state.pt``) as a ``save_pretrained`` folder
    (float16 shards under 9 MB, with the tokenizer): what a new machine continues from with
    ``--init-from`` when the run's state (optimiser included) cannot travel."""
    from ..training import load_state

    state = load_state(Path(run_dir) / "state.pt", "cpu")
    if state is None:
        raise ValueError(f"no training state in {run_dir}")
    config = state["config"]
    tokenizer = build_tokenizer()
    net = make_board_model(config["size"], len(tokenizer), config["board"])
    net.load_state_dict(state["model"])
    out = Path(out_dir)
    net.to(torch.float16).save_pretrained(out, max_shard_size="9MB")
    tokenizer.save_pretrained(out)
    (out / "snapshot.json").write_text(json.dumps({"step": state["step"], "of_steps": config["steps"],
                                                   "wall_minutes": round(state["elapsed"] / 60, 2),
                                                   "config": config}, indent=2))
    return out

"""The xiangqi tab's Python API. The UI calls exactly these.

A game is its move list: ``history`` is a list of ICCS moves from the standard start (or one
string of them, space-separated), so every call is stateless and a script can play a whole
game through ``gradio_client``. Rules (legal moves, check, mate, repetition, the move cap)
come from pyffish through ``rules``; the model only ranks moves.

``choose_move`` follows the write-up: the model never has to invent a move. Every legal move is
scored by its log-probability given the game so far (one forward pass: a move is one token,
see ``models``), and the best is played (``temperature=0``) or one is sampled.
"""

from __future__ import annotations

import functools
import math
import numbers
import random
from pathlib import Path

import torch

from ..checkpoints import check_loading_info, checkpoint_dir, restore_hint
from ..device import check_int, manager, short_repr, validate_seed
from . import rules
from .board import board_svg  # noqa: F401  (re-exported: part of the tab's API)
from .models import Vocab

SHIPPED = "xiangqi-gpt"
MAX_TEMPERATURE = 10.0
MAX_K = 50
# re-exported: the rules are part of the tab's API
legal_moves = rules.legal_moves
state = rules.state


def model_dir() -> Path:
    return checkpoint_dir(SHIPPED)


def _load(folder: Path):
    from transformers import AutoModelForCausalLM

    if not folder.is_dir():
        raise ValueError(f"checkpoint folder {folder} is missing. {restore_hint(folder)}")
    if not (folder / "config.json").is_file():
        raise ValueError(f"checkpoint {folder} is incomplete: config.json is missing. {restore_hint(folder)} "
                         "(Or train one with `python -m playground train xiangqi --export ...`.)")
    try:
        model, info = AutoModelForCausalLM.from_pretrained(folder, use_safetensors=True, dtype=torch.float32,
                                                           output_loading_info=True)
    except Exception as e:
        raise ValueError(f"checkpoint {folder} is corrupt or not a causal LM ({type(e).__name__}: {str(e)[:300]}). "
                         f"{restore_hint(folder)}") from None
    check_loading_info(folder, info, model)
    return model


@functools.lru_cache(maxsize=4)
def _vocab(folder: Path) -> Vocab:
    from transformers import AutoTokenizer

    try:
        return Vocab(AutoTokenizer.from_pretrained(folder))
    except Exception as e:
        raise ValueError(f"the tokenizer in {folder} cannot be loaded ({type(e).__name__}: {str(e)[:300]}). "
                         f"{restore_hint(folder)}") from None


def load_model(folder: str | Path | None = None):
    """(model, vocab) of the shipped GPT (or the ``save_pretrained`` folder given), cached."""
    folder = Path(folder) if folder is not None else model_dir()
    model = manager.get(f"xiangqi/{folder.name}", lambda: _load(folder))
    return model, _vocab(folder)


def _check_temperature(temperature) -> float:
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not math.isfinite(temperature) \
            or not 0 <= temperature <= MAX_TEMPERATURE:
        raise ValueError(f"temperature must be a number between 0 and {MAX_TEMPERATURE:g} (0 plays the "
                         f"model's best move), not {short_repr(temperature)}")
    return float(temperature)


def _check_running(moves: list[str]) -> dict:
    st = rules.state(moves)
    if st["result"] is not None:
        raise ValueError(f"the game is over ({rules.result_text(st)}); start a new game or undo a move")
    return st


@manager.gpu
def next_move_logprobs(histories: list[list[str]], folder: str | Path | None = None) -> torch.Tensor:
    """Log-probabilities over the whole vocabulary for the next move after each of
    ``histories`` (validated ICCS lists), each told that the side to move wins. (B, V) on the CPU."""
    model, vocab = load_model(folder)
    rows = [vocab.encode(h, vocab.result_for("red" if len(h) % 2 == 0 else "black")) for h in histories]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), vocab.pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
    with manager.inference():
        logits = model(input_ids=ids.to(manager.device), attention_mask=mask.to(manager.device)).logits
        last = logits[torch.arange(len(rows)), mask.sum(1).to(logits.device) - 1].float()
        return torch.log_softmax(last, -1).cpu()


def _legal_scores(moves: list[str], folder=None) -> tuple[list[str], torch.Tensor, Vocab]:
    legal = rules.legal_moves(moves)
    logp = next_move_logprobs([moves], folder)[0]
    vocab = load_model(folder)[1]
    return legal, logp[[vocab.ids[m] for m in legal]], vocab


def _pick(names: list[str], scores: torch.Tensor, temperature: float, seed) -> str:
    if temperature == 0:
        return names[int(scores.argmax())]
    rng = random.Random(validate_seed(seed))
    return rng.choices(names, torch.softmax(scores / temperature, -1).tolist())[0]


def _top(names: list[str], scores: torch.Tensor, k: int) -> list[tuple[str, float]]:
    probs = torch.softmax(scores, -1)
    order = torch.argsort(probs, descending=True)[:k].tolist()
    return [(names[i], round(float(probs[i]), 4)) for i in order]


def choose_move(history=(), temperature: float = 0.0, legal_only: bool = True, seed: int | None = None,
                model: str | Path | None = None) -> str:
    """The model's move (ICCS) for the side to move after ``history``.

    ``legal_only=True``: every legal move scored by its log-probability, the best played at
    temperature 0, else one sampled from the scores divided by the temperature. ``legal_only=False``:
    the model's own choice over every move token, legal or not (to measure how often it is).
    """
    moves = rules.parse_history(history)
    _check_running(moves)
    temperature = _check_temperature(temperature)
    if not isinstance(legal_only, bool):
        raise ValueError(f"legal_only must be True or False, not {short_repr(legal_only)}")
    if legal_only:
        names, scores, _ = _legal_scores(moves, model)
    else:
        vocab = load_model(model)[1]
        logp = next_move_logprobs([moves], model)[0]
        names, scores = [vocab.tokens[i] for i in vocab.move_ids], logp[vocab.move_ids]
    return _pick(names, scores, temperature, seed)


def candidates(history=(), k: int = 5, model: str | Path | None = None) -> list[tuple[str, float]]:
    """The model's ``k`` (1 to 50) most likely legal moves with their probabilities, renormalised
    over the legal moves, most likely first."""
    moves = rules.parse_history(history)
    _check_running(moves)
    k = check_int("k", k, 1, MAX_K)
    names, scores, _ = _legal_scores(moves, model)
    return _top(names, scores, k)


def play(history=(), move=None, temperature: float = 0.0, seed: int | None = None, k: int = 5) -> dict:
    """Apply the human's ``move`` (ICCS, WXF or Chinese; None lets the model move) and the
    model's reply. Returns the new history, the reply, the model's top ``k`` candidates for it
    and the state."""
    moves = rules.parse_history(history)
    temperature = _check_temperature(temperature)
    if move is not None:
        _check_running(moves)
        moves = rules.apply_move(moves, move)
    reply, top = None, []
    if rules.state(moves)["result"] is None:
        names, scores, _ = _legal_scores(moves)
        top = _top(names, scores, k)
        reply = _pick(names, scores, temperature, seed)
        moves = moves + [reply]
    return {"history": moves, "reply": reply, "candidates": top, "state": rules.state(moves)}

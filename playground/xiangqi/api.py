"""The xiangqi tab's Python API. The UI calls exactly these.

A game is its move list: ``history`` is a list of ICCS moves from the standard start (or one
string of them, space-separated), so every call is stateless and a script can play a whole
game through ``gradio_client``. Rules (legal moves, check, mate, repetition, the move cap)
come from pyffish through ``rules``; the model only ranks moves.

``choose_move`` follows the write-up: the model never has to invent a move. Every legal move is
scored by its log-probability given the game so far (one forward pass: a move is one token,
see ``models``), and the best is played (``temperature=0``) or one is sampled. A board-aware
model (``modeling.XiangqiGPT``) also has a value head: ``evaluation`` gives the side to move's
expected score, and ``search="1-ply"`` scores every legal move by the value of the position it
leads to (``policy.lookahead``) instead of by its probability; ``search="2-ply"`` also answers
the most promising of them with every opponent reply (``policy.two_ply``).
"""

from __future__ import annotations

import functools
import random
from pathlib import Path

import torch

from ..checkpoints import checkpoint_dir, load_saved, read_json
from ..checks import check_choice, check_float, check_int, short_repr, validate_seed
from ..device import manager
from . import policy, rules
from .board import board_svg  # noqa: F401  (re-exported: part of the tab's API)
from .models import Vocab

SHIPPED = "xiangqi-gpt"
MAX_TEMPERATURE = 10.0
MAX_K = 50
SEARCHES = ("none", "1-ply", "2-ply")
DEFAULT_SEARCH = "1-ply"  # a model with a value head plays this by default (the card measures each search)
# re-exported: the rules are part of the tab's API
legal_moves = rules.legal_moves
state = rules.state


def model_dir() -> Path:
    return checkpoint_dir(SHIPPED)


MAKE_HINT = " (Or train one with `python -m playground train xiangqi --export ...`.)"


def _load(folder: Path):
    from transformers import AutoModel, AutoModelForCausalLM

    from . import modeling  # noqa: F401  (registers the board-aware model with the Auto classes)

    # the board-aware GPT is an AutoModel of our own; a move-only one (the write-up's) a GPT-2 LM
    config = read_json(folder / "config.json")
    auto = AutoModel if config.get("model_type") == "xiangqi-gpt" else AutoModelForCausalLM
    return load_saved(lambda src, **kw: auto.from_pretrained(src, use_safetensors=True, dtype=torch.float32,
                                                             output_loading_info=True, **kw),
                      folder, "causal LM", make_hint=MAKE_HINT)


@functools.lru_cache(maxsize=4)
def _vocab(folder: Path) -> Vocab:
    from transformers import AutoTokenizer

    return Vocab(load_saved(AutoTokenizer.from_pretrained, folder, "tokenizer", required=()))


def load_model(folder: str | Path | None = None):
    """(model, vocab) of the shipped GPT (or the ``save_pretrained`` folder given), cached."""
    folder = Path(folder) if folder is not None else model_dir()
    model = manager.get(f"xiangqi/{folder.name}", lambda: _load(folder))
    return model, _vocab(folder)


def _check_temperature(temperature) -> float:
    return check_float("temperature", temperature, 0, MAX_TEMPERATURE, note="(0 plays the model's best move)")


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
    with manager.inference():
        return policy.next_move_logprobs(model, vocab, histories, manager.device)


@manager.gpu
def _lookahead(moves: list[str], legal: list[str], folder=None, search: str = "1-ply") -> torch.Tensor:
    model, vocab = load_model(folder)
    with manager.inference():
        if search == "2-ply":
            return policy.two_ply(model, vocab, moves, legal, manager.device)
        return policy.lookahead(model, vocab, moves, legal, manager.device)


def has_value_head(folder=None) -> bool:
    return policy.is_board_model(load_model(folder)[0])


def default_search(folder=None) -> str:
    """The best way to play within 300 ms a move (the card measures each): ``DEFAULT_SEARCH``
    where the model has a value head, else the policy alone."""
    return DEFAULT_SEARCH if has_value_head(folder) else "none"


def _check_search(search, folder=None) -> str:
    """None or "default" (the app's spelling): the model's default; else one of ``SEARCHES``."""
    if search is None or check_choice("search", search, ["default", *SEARCHES],
                                      note="(or None: the model's default)") == "default":
        return default_search(folder)
    if search != "none" and not has_value_head(folder):
        raise ValueError(f"search={search!r} needs a model with a value head (the board-aware GPT); this model "
                         "has none: use search='none'")
    return search


@manager.gpu
def _value(moves: list[str], folder=None) -> float | None:
    model, vocab = load_model(folder)
    with manager.inference():
        return policy.value(model, vocab, moves, manager.device)


def evaluation(history=(), model: str | Path | None = None) -> dict:
    """The model's evaluation of the position after ``history``: ``{"side_to_move", "value",
    "red_win_probability"}``, value being the side to move's expected score (0 lost .. 1 won) from
    the value head (None for a model without one); a finished game gives its result."""
    moves = rules.parse_history(history)
    st = rules.state(moves)
    side = st["side_to_move"]
    if st["result"] is not None:
        red = {"1-0": 1.0, "0-1": 0.0}.get(st["result"], 0.5)
        return {"side_to_move": side, "value": red if side == "red" else 1 - red, "red_win_probability": red}
    value = _value(moves, model)
    red = None if value is None else (value if side == "red" else 1 - value)
    return {"side_to_move": side, "value": value, "red_win_probability": red}


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
                model: str | Path | None = None, search: str | None = None) -> str:
    """The model's move (ICCS) for the side to move after ``history``.

    ``legal_only=True``: every legal move scored by its log-probability, the best played at
    temperature 0, else one sampled from the scores divided by the temperature. ``legal_only=False``:
    the model's own choice over every move token, legal or not (to measure how often it is).
    ``search``: "none" (the policy alone), "1-ply" (each legal move scored by the value head at
    the position it leads to, its log-odds taking the place of the log-probability; a model with a
    value head only), "2-ply" (the 8 best by 1-ply each answered by every reply and scored by the
    worst of them, ``policy.two_ply``) or None (or "default", as the app says) for the model's default
    (``default_search``).
    """
    moves = rules.parse_history(history)
    _check_running(moves)
    temperature = _check_temperature(temperature)
    if not isinstance(legal_only, bool):
        raise ValueError(f"legal_only must be True or False, not {short_repr(legal_only)}")
    search = _check_search(search, model)
    if search != "none" and legal_only:
        legal = rules.legal_moves(moves)
        ours = _lookahead(moves, legal, model, search).clamp(1e-6, 1 - 1e-6)
        return _pick(legal, torch.log(ours) - torch.log1p(-ours), temperature, seed)
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


def play(history=(), move=None, temperature: float = 0.0, seed: int | None = None, k: int = 5,
         search: str | None = None) -> dict:
    """Apply the human's ``move`` (ICCS, WXF or Chinese; None lets the model move) and the
    model's reply (chosen as ``choose_move`` does with ``search``). Returns the new history, the
    reply, the model's top ``k`` candidates (its policy) for it and the state."""
    moves = rules.parse_history(history)
    temperature = _check_temperature(temperature)
    search = _check_search(search)
    if move is not None:
        _check_running(moves)
        moves = rules.apply_move(moves, move)
    reply, top = None, []
    if rules.state(moves)["result"] is None:
        names, scores, _ = _legal_scores(moves)
        top = _top(names, scores, k)
        reply = _pick(names, scores, temperature, seed) if search == "none" else \
            choose_move(moves, temperature, seed=seed, search=search)
        moves = moves + [reply]
    return {"history": moves, "reply": reply, "candidates": top, "state": rules.state(moves)}

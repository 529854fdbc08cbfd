"""What a model says about positions: next-move log-probabilities, the value, a one-ply lookahead.

Two kinds of model answer here alike: the write-up's move-only GPT (``GPT2LMHeadModel``: told that
the side to move wins, its next-token distribution is the policy; it has no value head) and the
board-aware ``XiangqiGPT`` (``modeling``), whose policy comes in the side to move's frame and is
turned back here, and whose value head gives the side to move's expected score.

``lookahead`` is the one-ply search: the game so far is run once with the key/value cache kept,
then every legal move is appended as one more token (with the board it leads to) in one batch
over that cache, and each child's value, seen from the opponent, is turned into ours. A move that
leaves the opponent without a legal move wins at once (checkmate, and stalemate loses in
xiangqi), and one that ends the game by repetition (a perpetual check loses) or the n-move rule
scores its result: the rules say so, not the model.
"""

from __future__ import annotations

import numpy as np
import torch

from . import position, rules
from .models import Vocab


def is_board_model(model) -> bool:
    return getattr(model.config, "model_type", "") == "xiangqi-gpt"


def _inputs(histories: list[list[str]], vocab: Vocab, device) -> tuple:
    rows = [vocab.encode(h, vocab.result_for("red" if len(h) % 2 == 0 else "black")) for h in histories]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), vocab.pad, dtype=torch.long)
    mask = torch.zeros_like(ids)
    boards = torch.zeros((len(rows), width, 90), dtype=torch.long)
    for i, (r, h) in enumerate(zip(rows, histories)):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = 1
        boards[i, : len(r)] = torch.from_numpy(position.game_boards(h).astype(np.int64))
    return ids.to(device), mask.to(device), boards.to(device)


def next_move_logprobs(model, vocab: Vocab, histories: list[list[str]], device) -> torch.Tensor:
    """(B, V) log-probabilities over the vocabulary, in absolute (ICCS) moves, on the CPU."""
    ids, mask, boards = _inputs(histories, vocab, device)
    last = mask.sum(1) - 1
    rows = torch.arange(len(histories), device=ids.device)
    if not is_board_model(model):
        logits = model(input_ids=ids, attention_mask=mask).logits[rows, last].float()
        return torch.log_softmax(logits, -1).cpu()
    out = model(input_ids=ids, boards=boards, attention_mask=mask)
    logp = torch.log_softmax(out.policy_logits[rows, last].float(), -1).cpu()
    flip = torch.tensor(vocab.flip_table)
    black = torch.tensor([len(h) % 2 == 1 for h in histories])
    logp[black] = logp[black][:, flip]  # the side to move's frame -> ICCS (the flip is its own inverse)
    return logp


def value(model, vocab: Vocab, history: list[str], device) -> float | None:
    """The side to move's expected score (0 loss .. 1 win) by the value head; None without one."""
    if not is_board_model(model):
        return None
    ids, mask, boards = _inputs([history], vocab, device)
    out = model(input_ids=ids, boards=boards, attention_mask=mask)
    return float(torch.sigmoid(out.value_logits[0, -1].float()))


def lookahead(model, vocab: Vocab, history: list[str], legal: list[str], device) -> torch.Tensor:
    """For each legal move, our expected score after it (1 - the opponent's value there), one
    batch over the cached game; a move after which the opponent has no legal move scores 1, one that
    returns to an earlier position scores 0.5 (the repetition draw it heads for), and a move that
    ends the game by the repetition or n-move rules scores what the rules give."""
    ids, mask, boards = _inputs([history], vocab, device)
    out = model(input_ids=ids, boards=boards, attention_mask=mask, use_cache=True)
    cache = out.past_key_values
    cache.batch_repeat_interleave(len(legal))
    child_ids = torch.tensor([[vocab.ids[m]] for m in legal], device=device)
    base = position.absolute_board_after(history)
    red_next = len(history) % 2 == 1  # after our move, the opponent moves
    child_boards = torch.from_numpy(np.stack([position.relative(position.play(base, m), red_next) for m in legal])
                                    .astype(np.int64))[:, None].to(device)
    n = ids.shape[1]
    child_mask = torch.ones((len(legal), n + 1), dtype=torch.long, device=device)
    child = model(input_ids=child_ids, boards=child_boards, attention_mask=child_mask,
                  position_ids=torch.full((len(legal), 1), n, device=device), past_key_values=cache)
    ours = 1 - torch.sigmoid(child.value_logits[:, 0].float()).cpu()
    for k, move in enumerate(legal):
        if not rules.legal_after(history + [move]):
            ours[k] = 1.0
    for move in rules.repeats_after(history, legal):
        ours[legal.index(move)] = 0.5
    us = "1-0" if len(history) % 2 == 0 else "0-1"
    for move, st in rules.claims_after(history, legal).items():  # repetition and n-move ends: the rules decide
        ours[legal.index(move)] = 1.0 if st["result"] == us else 0.5 if st["result"] == rules.DRAW else 0.0
    return ours


def _decided(ours: torch.Tensor) -> torch.Tensor:
    """The moves whose score the rules set (a won, drawn or lost end): exact 0, 1/2 or 1."""
    return (ours == 0) | (ours == 0.5) | (ours == 1)


def two_ply(model, vocab: Vocab, history: list[str], legal: list[str], device, width: int = 8) -> torch.Tensor:
    """A selective two-ply search: the ``width`` best moves by ``lookahead`` (the rest keep their
    one-ply score, capped below the searched ones) are each answered by every opponent reply, and
    a move scores the worst leaf for us, the value head read at the leaf (us to move) in one batch
    over the cached game; a reply that mates us scores 0 (``position.in_check`` spots the
    checks, pyffish says which of them leave us no move). It sees a piece left hanging or a mate
    in one that the one-ply value head misses."""
    ours = lookahead(model, vocab, history, legal, device)
    open_moves = [k for k in torch.argsort(ours, descending=True).tolist() if not _decided(ours[k])][:width]
    if not open_moves:
        return ours
    fen = rules.fen_after(history)
    base = position.absolute_board_after(history)
    red = len(history) % 2 == 0  # we move at the root and at the leaves
    pairs, leaf_boards, child_boards = [], [], []
    for k in open_moves:
        after = position.play(base, legal[k])
        for reply in rules.legal_from(fen, [legal[k]]):
            pairs.append((k, reply))
            child_boards.append(position.relative(after, not red))
            leaf_boards.append(position.play(after, reply))
    if not pairs:  # every searched move leaves the opponent no move: lookahead already scored them 1
        return ours
    ids, mask, boards = _inputs([history], vocab, device)
    n = ids.shape[1]
    out = model(input_ids=ids, boards=boards, attention_mask=mask, use_cache=True)
    cache = out.past_key_values
    cache.batch_repeat_interleave(len(pairs))
    leaf_ids = torch.tensor([[vocab.ids[legal[k]], vocab.ids[r]] for k, r in pairs], device=device)
    leaf = np.stack([np.stack([c, position.relative(b, red)]) for c, b in zip(child_boards, leaf_boards)])
    out = model(input_ids=leaf_ids, boards=torch.from_numpy(leaf.astype(np.int64)).to(device),
                attention_mask=torch.ones((len(pairs), n + 2), dtype=torch.long, device=device),
                position_ids=torch.arange(n, n + 2, device=device).expand(len(pairs), 2), past_key_values=cache)
    values = torch.sigmoid(out.value_logits[:, 1].float()).cpu()
    for i, ((k, reply), board) in enumerate(zip(pairs, leaf_boards)):
        if position.in_check(board, red) and not rules.legal_from(fen, [legal[k], reply]):
            values[i] = 0.0  # mated
    searched = torch.tensor([p[0] for p in pairs])
    best = torch.full_like(ours, 2.0).scatter_reduce(0, searched, values, "amin")
    scored = torch.tensor(open_moves)
    floor = float(best[scored].min())
    capped = torch.where(_decided(ours), ours, torch.minimum(ours, torch.tensor(floor - 1e-3)))
    capped[scored] = best[scored]
    return capped

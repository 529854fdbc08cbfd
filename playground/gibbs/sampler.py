"""The Gibbs sampler itself, written out: the chains, the site loop, the temperature schedule and the
draw at each site (as ``playground.ddpm.pipeline`` holds the denoising loop).

After Su Jianlin's posts on kexue.fm: start every chain from ``[MASK]`` (or random characters, or a
given text) at its free slots, then at each step pick one free slot per chain, mask it, and draw a
new token from the masked LM's conditional distribution there given every other token; lower the
temperature over the run (simulated annealing) to move from sampling towards the most fluent text.
Fixed slots (a template's own characters) never change.

This module takes checked inputs and has no knowledge of loading, argument checking or the
playground's device queue: ``playground.gibbs.api`` validates the arguments (``api.prepare`` builds
a ``Run``), loads the model and its ``TokenTable``, and advances ``gibbs(...)`` one step at a time
inside a device slot (``manager.steps``). Everything random is drawn from the one CPU
``torch.Generator`` passed in, in a fixed order, so a run repeats exactly from the same seed.

    table = TokenTable.from_tokenizer(tokenizer, mlm.config.vocab_size)
    run = Run(Template(ids, free, shown), n=4, steps=200, burn_in=50,
              temps=temperatures(1.0, ("linear", 0.1), 200, 50), top_k=0, order="random", init="mask", seed=0)
    for step in gibbs(mlm, table, run, torch.Generator().manual_seed(0), device):
        pass
    texts(step.ids, run.template, table)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch

from .models import query_logits

ORDERS = ("random", "sequential")  # site orders
INITS = ("mask", "random")  # starting states (besides a starting text)
ANNEALS = ("linear", "geometric")  # temperature schedules
GREEDY_BELOW = 1e-6  # temperatures below this draw the argmax


@dataclass(frozen=True)
class TokenTable:
    """What the sampler needs from a tokenizer: the ids of ``[CLS] [SEP] [MASK]``, each id's
    display text (``##`` continuation marks removed) and which ids may be drawn (not specials,
    unused slots, ``##`` pieces, nor ``_``, the template's free-slot mark)."""

    tokenizer: object
    cls_id: int
    sep_id: int
    mask_id: int
    shown: list[str]
    allowed: torch.Tensor  # (vocab,) bool

    @classmethod
    def from_tokenizer(cls, tokenizer, vocab_size: int) -> TokenTable:
        for name in ("cls_token_id", "sep_token_id", "mask_token_id"):
            if getattr(tokenizer, name, None) is None:
                raise ValueError(f"the tokenizer has no {name[:-9]} token: it is not a BERT-style masked LM tokenizer")
        tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        tokens = [t or "" for t in tokens] + [""] * max(0, vocab_size - len(tokens))
        special = set(tokenizer.all_special_ids)
        allowed = torch.tensor([i not in special and bool(t) and t != "_" and not t.startswith("##")
                                and not (len(t) > 1 and t.startswith("[") and t.endswith("]"))
                                for i, t in enumerate(tokens[:vocab_size])])
        shown = [t.removeprefix("##") for t in tokens]
        return cls(tokenizer, tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.mask_token_id, shown, allowed)


@dataclass
class Template:
    """The slots of a template: ids (free slots hold ``[MASK]``), which are free, and how fixed
    slots are shown (their own text, as written)."""

    ids: list[int]
    free: list[bool]
    shown: list[str]


@dataclass
class Run:
    """One sampling run, its arguments already checked (``api.prepare``).

    ``n`` chains of ``template``'s slots; ``steps`` Gibbs steps, the first ``burn_in`` of them
    flagged as burn-in; ``temps[t]``: the temperature of step ``t`` (``temperatures``); ``top_k``:
    draw among the ``top_k`` likeliest ids only (0: all); ``order``: one of ``ORDERS``; ``init``:
    "mask", "random" or the starting ids of the slots (a list, one id per slot); ``seed``: what the
    caller seeds the run's generator with."""

    template: Template
    n: int
    steps: int
    burn_in: int
    temps: list[float]
    top_k: int
    order: str
    init: str | list[int]
    seed: int


class Step(NamedTuple):
    """What ``gibbs`` yields after each step."""

    index: int  # the step, 0-based
    ids: torch.Tensor  # (n, slots + 2) on the CPU: [CLS] slots [SEP]; the same tensor, updated in place each step
    slots: torch.Tensor  # (n,) the slot each chain resampled (0-based over the template's slots)
    changed: torch.Tensor  # (n,) bool: whether that slot's id changed


def temperatures(temperature: float, anneal: tuple[str, float] | None, steps: int, burn_in: int) -> list[float]:
    """The temperature of each step (checked arguments): ``temperature`` through burn-in (steps
    s <= ``burn_in``, 1-based), then annealed to ``anneal = (kind, final)``: at step s,
    frac = (s - burn_in) / (steps - burn_in) and T = temperature + (final - temperature) * frac
    ("linear") or temperature * (final / temperature) ** frac ("geometric"), reaching ``final`` at
    the last step. ``anneal`` None: constant."""
    out = []
    for s in range(1, steps + 1):
        if anneal is None or s <= burn_in:
            out.append(temperature)
            continue
        kind, final = anneal
        frac = (s - burn_in) / (steps - burn_in)
        out.append(temperature + (final - temperature) * frac if kind == "linear"
                   else temperature * (final / temperature) ** frac)
    return out


def draw(logits: torch.Tensor, allowed: torch.Tensor, temperature: float, top_k: int,
         generator: torch.Generator) -> torch.Tensor:
    """One id per row of ``logits`` (n, V): the argmax when ``temperature`` is (nearly) 0, else a draw
    from softmax(logits / temperature) restricted to the allowed ids (and to the top ``top_k``)."""
    logits = logits.float().cpu().masked_fill(~allowed, -math.inf)
    if temperature < GREEDY_BELOW:
        return logits.argmax(-1)
    if top_k:
        kth = logits.topk(min(top_k, int(allowed.sum())), -1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    probs = torch.softmax(logits / temperature, -1)
    return torch.multinomial(probs, 1, generator=generator)[:, 0]


def start(run: Run, table: TokenTable, generator: torch.Generator) -> torch.Tensor:
    """The chains' starting state, (n, slots + 2) ids: ``[CLS]`` slots ``[SEP]`` in every chain; free
    slots hold ``[MASK]``, random allowed ids (``init="random"``, drawn with ``generator``) or the
    starting ids."""
    body = torch.tensor(run.template.ids).repeat(run.n, 1)
    free = torch.tensor(run.template.free)
    if run.init == "random":
        pool = table.allowed.nonzero()[:, 0]
        draws = pool[torch.randint(len(pool), (run.n, len(run.template.ids)), generator=generator)]
        body = torch.where(free, draws, body)
    elif isinstance(run.init, list):
        body = torch.tensor(run.init).repeat(run.n, 1)
    edge = torch.full((run.n, 1), 0)
    return torch.cat([edge + table.cls_id, body, edge + table.sep_id], 1)


def gibbs(mlm, table: TokenTable, run: Run, generator: torch.Generator, device) -> Iterator[Step]:
    """Run the ``run.n`` chains of ``run`` on ``mlm`` (in eval mode, on ``device``) as one batch,
    yielding a ``Step`` after each of the ``run.steps`` steps.

    At step t every chain picks one free slot: with ``order="sequential"`` the free slots in turn,
    left to right, cycling; with "random" one drawn uniformly, among the slots still holding
    ``[MASK]`` while a chain has any (so its first steps fill the text in a random order). The slot
    is masked, one encoder pass gives the logits there (the vocabulary projection at those positions
    only, ``models.query_logits``), and a new id is drawn at temperature ``run.temps[t]`` (``draw``).

    Lazy: nothing runs before the first ``next``; each step runs under ``torch.inference_mode``, and a
    caller may hold a device slot around each ``next`` (``manager.steps``)."""
    ids = start(run, table, generator)
    free_slots = torch.tensor([i for i, f in enumerate(run.template.free) if f])
    rows = torch.arange(run.n)
    for t in range(run.steps):
        with torch.inference_mode():
            if run.order == "sequential":
                slots = free_slots[t % len(free_slots)].repeat(run.n)
            else:
                still_masked = (ids[:, 1 + free_slots] == table.mask_id).float()
                score = torch.rand(run.n, len(free_slots), generator=generator) + 2 * still_masked
                slots = free_slots[score.argmax(1)]
            cols = slots + 1
            old = ids[rows, cols]
            ids[rows, cols] = table.mask_id
            logits = query_logits(mlm, ids.to(device), cols.to(device))
            new = draw(logits, table.allowed, run.temps[t], run.top_k, generator)
            ids[rows, cols] = new
        yield Step(t, ids, slots, new != old)


def texts(ids: torch.Tensor, template: Template, table: TokenTable) -> list[str]:
    """The chains' texts: fixed slots show the template's own text, free slots their token's text
    (``_`` for a free slot still holding ``[MASK]``, possible only mid-run)."""
    out = []
    for row in ids[:, 1:-1].tolist():
        out.append("".join(shown if not free else ("_" if i == table.mask_id else table.shown[i])
                           for i, free, shown in zip(row, template.free, template.shown)))
    return out

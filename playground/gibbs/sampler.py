"""The samplers themselves, written out: the chains, the site loop, the temperature schedule and the
draw at each site (as ``playground.ddpm.pipeline`` holds the denoising loop). Three methods
(``METHODS``), each a generator yielding a ``Step`` after each step:

* ``gibbs`` (the write-up's): resample one slot per chain from the masked LM's conditional there.
* ``mh`` / ``mh-raw``: Metropolis-Hastings after Goyal, Dyer & Berg-Kirkpatrick (ICLR 2022), the
  same conditional as the *proposal*, accepted or rejected by an energy read from one unmasked pass.
  Gibbs with an MLM's conditionals does not sample any fixed joint distribution (the conditionals
  need not be consistent); MH samples exp(-E / T) exactly, in the limit.
* ``mask-predict``: parallel decoding after Ghazvininejad et al. (EMNLP 2019): predict every free
  slot at once, then re-mask the least confident ones on a falling schedule, about ten passes.

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

from .models import domain_types, logits_at, query_logits

METHODS = ("gibbs", "mh", "mh-raw", "mask-predict")  # the samplers (``sample``)
ENERGIES = {"mh": "norm", "mh-raw": "raw"}  # MH's energy: each slot's log-softmax, or raw logit, for its own id
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

    @property
    def free_slots(self) -> torch.Tensor:
        """The free slots' indices (0-based over the slots)."""
        return torch.tensor([i for i, f in enumerate(self.free) if f])


@dataclass
class Run:
    """One sampling run, its arguments already checked (``api.prepare``).

    ``n`` chains of ``template``'s slots; ``steps`` Gibbs steps, the first ``burn_in`` of them
    flagged as burn-in; ``temps[t]``: the temperature of step ``t`` (``temperatures``); ``top_k``:
    draw among the ``top_k`` likeliest ids only (0: all); ``order``: one of ``ORDERS``; ``init``:
    "mask", "random" or the starting ids of the slots (a list, one id per slot); ``seed``: what the
    caller seeds the run's generator with; ``method``: one of ``METHODS``; ``domain``: the domain
    token (a token type id, ``models.DOMAINS``) every pass reads at every position, or None (a
    model without one)."""

    template: Template
    n: int
    steps: int
    burn_in: int
    temps: list[float]
    top_k: int
    order: str
    init: str | list[int]
    seed: int
    method: str = "gibbs"
    domain: int | None = None


class Step(NamedTuple):
    """What each sampler yields after each step."""

    index: int  # the step, 0-based
    ids: torch.Tensor  # (n, slots + 2) on the CPU: [CLS] slots [SEP]; the same tensor, updated in place each step
    slots: torch.Tensor  # (n, k) the slots each chain redrew (0-based over the template's slots); k = 1 but
    #                      for mask-predict, where k is the pass's re-masked count
    changed: torch.Tensor  # (n, k) bool: whether that slot's id changed
    accepted: torch.Tensor  # (n,) bool: MH's accept/reject (a rejected proposal changes nothing); else True


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


def restrict(logits: torch.Tensor, allowed: torch.Tensor, top_k: int) -> torch.Tensor:
    """``logits`` (n, V) as float on the CPU, -inf outside the allowed ids (and the top ``top_k``)."""
    logits = logits.float().cpu().masked_fill(~allowed, -math.inf)
    if top_k:
        kth = logits.topk(min(top_k, int(allowed.sum())), -1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, -math.inf)
    return logits


def draw(logits: torch.Tensor, allowed: torch.Tensor, temperature: float, top_k: int,
         generator: torch.Generator) -> torch.Tensor:
    """One id per row of ``logits`` (n, V): the argmax when ``temperature`` is (nearly) 0, else a draw
    from softmax(logits / temperature) restricted to the allowed ids (and to the top ``top_k``)."""
    logits = restrict(logits, allowed, top_k)
    if temperature < GREEDY_BELOW:
        return logits.argmax(-1)
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


def run_steps(mlm, table: TokenTable, run: Run, generator: torch.Generator, device) -> Iterator[Step]:
    """The steps of ``run`` with its ``method``: ``gibbs``, ``metropolis_hastings`` or ``mask_predict``."""
    if run.method == "mask-predict":
        return mask_predict(mlm, table, run, generator, device)
    if run.method in ENERGIES:
        return metropolis_hastings(mlm, table, run, generator, device)
    return gibbs(mlm, table, run, generator, device)


def pick_slots(run: Run, ids: torch.Tensor, free_slots: torch.Tensor, t: int, mask_id: int,
               generator: torch.Generator) -> torch.Tensor:
    """The slot each chain redraws at step ``t``: with ``order="sequential"`` the free slots in turn,
    left to right, cycling; with "random" one drawn uniformly, among the slots still holding
    ``[MASK]`` while a chain has any (so its first steps fill the text in a random order)."""
    if run.order == "sequential":
        return free_slots[t % len(free_slots)].repeat(run.n)
    still_masked = (ids[:, 1 + free_slots] == mask_id).float()
    score = torch.rand(run.n, len(free_slots), generator=generator) + 2 * still_masked
    return free_slots[score.argmax(1)]


def gibbs(mlm, table: TokenTable, run: Run, generator: torch.Generator, device) -> Iterator[Step]:
    """Run the ``run.n`` chains of ``run`` on ``mlm`` (in eval mode, on ``device``) as one batch,
    yielding a ``Step`` after each of the ``run.steps`` steps.

    At step t every chain picks one free slot (``pick_slots``). The slot is masked, one encoder pass
    gives the logits there (the vocabulary projection at those positions only,
    ``models.query_logits``), and a new id is drawn at temperature ``run.temps[t]`` (``draw``).

    Lazy: nothing runs before the first ``next``; each step runs under ``torch.inference_mode``, and a
    caller may hold a device slot around each ``next`` (``manager.steps``)."""
    ids = start(run, table, generator)
    types = _types(ids, run, device)
    free_slots = run.template.free_slots
    rows = torch.arange(run.n)
    everyone = torch.ones(run.n, dtype=torch.bool)
    for t in range(run.steps):
        with torch.inference_mode():
            slots = pick_slots(run, ids, free_slots, t, table.mask_id, generator)
            cols = slots + 1
            old = ids[rows, cols]
            ids[rows, cols] = table.mask_id
            logits = query_logits(mlm, ids.to(device), cols.to(device), types)
            new = draw(logits, table.allowed, run.temps[t], run.top_k, generator)
            ids[rows, cols] = new
        yield Step(t, ids, slots[:, None], (new != old)[:, None], everyone)


def _types(ids: torch.Tensor, run: Run, device) -> torch.Tensor | None:
    """The run's domain token at every position of ``ids`` (on ``device``), or None."""
    types = domain_types(ids, run.domain)
    return None if types is None else types.to(device)


def energy(mlm, ids: torch.Tensor, kind: str, device, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """The energy of each row of ``ids`` (n, slots + 2) under the masked LM read as an energy-based
    model (Goyal et al., 2022), from one pass with nothing masked: minus the sum over the slots of
    each slot's score for its own id, the raw logit (``kind="raw"``, their E_raw) or its log-softmax
    over the vocabulary (``"norm"``, E_norm). (n,) float on the CPU; lower is likelier.
    ``token_type_ids``: the domain token, or None."""
    types = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
    logits = mlm(input_ids=ids.to(device), **types).logits[:, 1:-1].float()
    if kind == "norm":
        logits = logits.log_softmax(-1)
    own = ids[:, 1:-1].to(logits.device)[..., None]
    return -logits.gather(-1, own)[..., 0].sum(1).cpu()


def proposal_log_probs(logits: torch.Tensor, allowed: torch.Tensor, temperature: float, top_k: int) -> torch.Tensor:
    """log q(id) of the distribution ``draw`` samples from (temperature, allowed ids, top-k): (n, V)."""
    return torch.log_softmax(restrict(logits, allowed, top_k) / temperature, -1)


def metropolis_hastings(mlm, table: TokenTable, run: Run, generator: torch.Generator, device) -> Iterator[Step]:
    """Metropolis-Hastings with the masked LM's conditionals as proposals (Goyal, Dyer &
    Berg-Kirkpatrick, "Exposing the implicit energy networks behind masked language models via
    Metropolis-Hastings", ICLR 2022), targeting p(x) proportional to exp(-E(x) / T) with E from
    ``energy`` (``ENERGIES[run.method]``) and T = ``run.temps[t]``.

    Each step, per chain: pick a slot i as Gibbs does (``pick_slots``), propose x'_i from the masked
    conditional q at temperature T (exactly Gibbs's draw), score the proposed text with one unmasked
    pass, and accept with probability min(1, exp((E(x) - E(x')) / T) q(x_i) / q(x'_i)); the masked
    context is the same both ways, so q is one distribution. A rejected proposal leaves the chain as
    it was. While a chain still holds ``[MASK]`` (``init="mask"``: its first steps) its draws are
    accepted as they come: a text with masks has no energy. At a (near) zero temperature the
    proposal is the argmax and is accepted when it does not raise the energy. With ``top_k`` a
    proposal whose reverse move q cannot make (the old id outside the top k) is rejected.

    Two encoder passes a step (the proposal's and the energy's), so about twice Gibbs's time."""
    kind = ENERGIES[run.method]
    ids = start(run, table, generator)
    types = _types(ids, run, device)
    free_slots = run.template.free_slots
    rows = torch.arange(run.n)
    current = torch.full((run.n,), math.nan)  # each chain's energy, once it has no [MASK] left
    for t in range(run.steps):
        temperature = run.temps[t]
        with torch.inference_mode():
            filling = (ids[:, 1 + free_slots] == table.mask_id).any(1)
            slots = pick_slots(run, ids, free_slots, t, table.mask_id, generator)
            cols = slots + 1
            old = ids[rows, cols].clone()
            if not filling.all() and bool(current[~filling].isnan().any()):
                current = torch.where(filling, current, energy(mlm, ids, kind, device, types))
            ids[rows, cols] = table.mask_id
            logits = query_logits(mlm, ids.to(device), cols.to(device), types)
            new = draw(logits, table.allowed, temperature, run.top_k, generator)
            ids[rows, cols] = new
            accept = filling.clone()
            if not filling.all():
                proposed = energy(mlm, ids, kind, device, types)
                if temperature < GREEDY_BELOW:
                    accept |= proposed <= current
                else:
                    logq = proposal_log_probs(logits, table.allowed, temperature, run.top_k)
                    log_alpha = (current - proposed) / temperature + logq[rows, old] - logq[rows, new]
                    u = torch.rand(run.n, generator=generator)
                    accept |= torch.log(u) < log_alpha
                current = torch.where(accept & ~filling, proposed, current)
            ids[rows, cols] = torch.where(accept, new, old)
        yield Step(t, ids, slots[:, None], (accept & (new != old))[:, None], accept)


def remask_counts(free: int, passes: int) -> list[int]:
    """Mask-Predict's schedule: how many of the ``free`` slots each pass redraws: all of them in the
    first pass, then free * (passes - t) / passes rounded down (at least one) in pass t, so the
    re-masked share falls linearly (Ghazvininejad et al., 2019)."""
    return [free] + [max(1, free * (passes - t) // passes) for t in range(1, passes)]


def mask_predict(mlm, table: TokenTable, run: Run, generator: torch.Generator, device) -> Iterator[Step]:
    """Mask-Predict parallel decoding (Ghazvininejad, Levy, Liu & Zettlemoyer, "Mask-Predict:
    parallel decoding of conditional masked language models", EMNLP 2019), with draws in place of
    the argmax so that chains differ.

    Pass 0 masks every free slot and draws them all at once from one encoder pass; each later pass t
    re-masks the ``remask_counts`` least confident slots of each chain and draws them again, given the
    rest. A slot's confidence is the model's probability of its id when drawn (temperature 1, allowed
    ids only); slots not redrawn keep theirs. ``run.temps[t]`` is pass t's draw temperature (burn-in
    and annealing as for Gibbs: anneal to 0 for the paper's argmax); ``order`` and ``init`` play no part."""
    ids = start(run, table, generator)
    types = _types(ids, run, device)
    free_slots = run.template.free_slots
    everyone = torch.ones(run.n, dtype=torch.bool)
    confidence = torch.zeros(run.n, len(free_slots))
    ids[:, 1 + free_slots] = table.mask_id
    for t, k in enumerate(remask_counts(len(free_slots), run.steps)):
        with torch.inference_mode():
            picked = (-confidence).topk(k, 1).indices.sort(1).values  # (n, k) indices into free_slots
            slots = free_slots[picked]
            rows = torch.arange(run.n)[:, None].expand(-1, k).reshape(-1)
            cols = (slots + 1).reshape(-1)
            old = ids[rows, cols]
            ids[rows, cols] = table.mask_id
            logits = logits_at(mlm, ids.to(device), rows.to(device), cols.to(device),
                               token_type_ids=types).float().cpu()
            new = draw(logits, table.allowed, run.temps[t], run.top_k, generator)
            ids[rows, cols] = new
            probs = torch.softmax(restrict(logits, table.allowed, 0), -1)
            confidence.scatter_(1, picked, probs[torch.arange(len(new)), new].view(run.n, k))
        yield Step(t, ids, slots, (new != old).view(run.n, k), everyone)


def texts(ids: torch.Tensor, template: Template, table: TokenTable) -> list[str]:
    """The chains' texts: fixed slots show the template's own text, free slots their token's text
    (``_`` for a free slot still holding ``[MASK]``, possible only mid-run)."""
    out = []
    for row in ids[:, 1:-1].tolist():
        out.append("".join(shown if not free else ("_" if i == table.mask_id else table.shown[i])
                           for i, free, shown in zip(row, template.free, template.shown)))
    return out

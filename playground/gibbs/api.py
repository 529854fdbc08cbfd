"""The gibbs tab's Python API: Gibbs sampling of Chinese text from a BERT masked LM.

After Su Jianlin's posts on kexue.fm: start from all ``[MASK]`` (or a given text), then repeatedly
pick a position, mask it, and draw a new character from the masked LM's conditional distribution
there given every other character (random-scan Gibbs sampling); lower the temperature over the run
(simulated annealing) to move from sampling towards the most fluent text; keep the fixed characters
of a template unchanged (constrained generation).

``sample(template, ...)`` returns ``n`` texts; ``chain(...)`` takes the same arguments and yields
every step, for streaming. Besides the write-up's Gibbs sampler, ``method`` picks Metropolis-Hastings
(Goyal et al., ICLR 2022) or Mask-Predict parallel decoding (Ghazvininejad et al., 2019). The ``n`` chains run in parallel as one batch: one encoder pass per step
for all chains, the vocabulary projection computed only at the resampled positions. This module
checks the arguments and loads the model (a folder, the shipped one, or a Hub id); the sampling loop
itself is ``playground.gibbs.sampler``.

Arguments
    template    text whose ``_`` or ``[MASK]`` marks are free slots, e.g. ``科学技术____生产力。``;
                every other character is fixed and never changes. None (or "", as the app's empty
                box sends it): ``length`` free slots.
                Characters the model does not know are kept (shown as written) but read as
                ``[UNK]``, with a warning.
    length      free slots without a template (1 to 128; checked even with a template).
    n           chains (texts returned), 1 to 64.
    steps       Gibbs steps, 1 to 5000; each resamples one slot in every chain.
    burn_in     0 <= burn_in < steps: the first ``burn_in`` steps run at ``temperature``; annealing
                (if any) runs over the remaining steps. ``chain`` flags burn-in steps.
    temperature the sampling temperature, > 0 (up to 10). Tiny values pick the argmax.
    top_k       sample among the ``top_k`` most likely characters only (0: all).
    order       "random": each chain resamples one slot drawn uniformly at random per step (while a
                chain still holds ``[MASK]`` slots it draws among those, so its first steps fill the
                text in a random order); "sequential": slots in order, left to right, cycling.
    init        "mask": free slots start as ``[MASK]`` (``steps`` must then be at least the number
                of free slots, so every slot is drawn); "random": random characters of the
                vocabulary; any other string: a starting text with exactly one character per slot
                (the characters at fixed slots are ignored), e.g. ``template=None, length=6,
                init="今天天气很好"`` starts every chain from that sentence.
    anneal      None (or "none"): constant temperature. A number f: linear annealing from
                ``temperature`` down to f (0 <= f <= temperature; f = 0 ends greedy, every draw the
                argmax). "linear:f" or "geometric:f" (the spelling of the CLI and the app; "f" alone
                is linear), or the pair ("linear" | "geometric", f): geometric multiplies the
                temperature by a constant factor per step (f > 0). The temperature at step s
                (1-based) is ``temperature`` for s <= burn_in, then T(frac) with
                frac = (s - burn_in) / (steps - burn_in), reaching f at the last step.
    seed        the run repeats exactly with the same seed (a CPU ``torch.Generator``); None: fresh.
    model       None: the shipped model (``checkpoints/gibbs-bert``); a folder saved with
                ``save_pretrained``; or a Hugging Face Hub masked LM such as ``bert-base-chinese``
                (loads when the Hub is reachable; a clear ValueError when not).
    method      the sampler (None: ``DEFAULT_METHOD``, "gibbs"):
                "gibbs"  the write-up's random-scan Gibbs sampler, as above.
                "mh"     Metropolis-Hastings: each step proposes a new character for one slot per chain
                         from the same masked conditional Gibbs draws from, then accepts it or keeps
                         the old one by comparing the two texts' energies, E = minus the sum over the
                         slots of each character's log-probability from one pass with nothing masked
                         (Goyal et al.'s E_norm), at temperature T: the chains sample exp(-E / T), the
                         masked LM's own joint distribution, which Gibbs with its conditionals does not.
                         ``steps``, ``burn_in``, ``order``, ``init`` and ``anneal`` mean what they mean
                         for Gibbs (a step is one proposal per chain; two encoder passes, about twice
                         Gibbs's time); ``init="mask"``: the first steps fill the masks, always accepted.
                "mh-raw" the same with the raw logits in place of log-probabilities (their E_raw).
                "mask-predict"  parallel decoding: ``steps`` passes (about 10 is the paper's), the first
                         drawing every free slot at once, each later one re-masking the least confident
                         slots (a share falling linearly to one slot) and drawing them again. ``burn_in``
                         and ``anneal`` set each pass's temperature as for Gibbs (anneal to 0: the
                         paper's argmax); ``order`` plays no part; ``init`` must be "mask".
    domain      the register to write in, for a model trained with the domain token (``domains(model)``
                lists what it knows): "news" (the People's Daily, 1998) or "review" (hotel and product
                reviews); None: ``DEFAULT_DOMAIN``, "news". Every pass reads it as the token type id at
                every position. A model without the domain token (``domains`` empty: the write-up's
                BERT, a Hub model) takes only None.

Returned texts are each chain's state after the last step. Fixed slots show the template's own text;
a free slot still holding ``[MASK]`` (only possible mid-run, in ``chain``) shows as ``_``.
"""

from __future__ import annotations

import functools
import numbers
import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import torch

from ..checkpoints import checkpoint_dir, is_folder, load_saved
from ..checks import check_choice, check_float, check_int, short_repr, validate_seed
from ..device import manager
from . import sampler
from .models import DOMAINS, MAX_CHARS, has_sparse_head, model_domains
from .sampler import (ANNEALS, GREEDY_BELOW, INITS, METHODS, ORDERS, Run, Step, Template, TokenTable,  # noqa: F401
                      temperatures)

SHIPPED = "gibbs-bert"
MAX_CHAINS = 64
MAX_STEPS = 5000
MAX_TEMPERATURE = 10.0
MAX_TOP_K = 1000
DEFAULT_METHOD = "gibbs"  # what method=None runs
DEFAULT_DOMAIN = "news"  # what domain=None writes, with a model that has the domain token
FREE = re.compile(r"(\[MASK\]|_)")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")


def model_dir() -> Path:
    return checkpoint_dir(SHIPPED)


# -- loading -------------------------------------------------------------------------------
_is_folder = is_folder  # (the evaluation's name for it)
MAKE_HINT = " (Or train one with `python -m playground train gibbs --export ...`.)"


def _source(model) -> str:
    """The folder or Hub id to load ``model`` from."""
    if model is None:
        return str(model_dir())
    if not isinstance(model, (str, Path)) or not str(model).strip():
        raise ValueError(f"model must be None, a folder or a Hugging Face Hub id, not {short_repr(model)}")
    if is_folder(model):
        return str(Path(model).resolve())
    if not _HUB_ID.match(str(model)):
        raise ValueError(f"model {model!r} is neither an existing folder nor a Hugging Face Hub id (owner/name)")
    return str(model)


def _load_model(source: str):
    from transformers import AutoModelForMaskedLM

    return load_saved(lambda src, **kw: AutoModelForMaskedLM.from_pretrained(src, dtype=torch.float32,
                                                                             output_loading_info=True, **kw),
                      source, "masked LM", make_hint=MAKE_HINT)


@functools.lru_cache(maxsize=8)
def _table(source: str, vocab_size: int) -> TokenTable:
    from transformers import AutoTokenizer

    tokenizer = load_saved(AutoTokenizer.from_pretrained, source, "tokenizer", required=())
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"the tokenizer of {source} is not a fast tokenizer (needed for character offsets)")
    return TokenTable.from_tokenizer(tokenizer, vocab_size)


def load_model(model: str | Path | None = None):
    """(masked LM, ``TokenTable``) for the shipped model, a ``save_pretrained`` folder or a Hub id; cached."""
    source = _source(model)
    mlm = manager.get(f"gibbs/{source}", lambda: _load_model(source))
    return mlm, _table(source, mlm.config.vocab_size)


# -- checking the arguments ----------------------------------------------------------------
ANNEAL_FORMS = "None, a final temperature such as 0.1, \"linear:0.1\", \"geometric:0.05\" or (\"linear\", 0.1)"


def _check_temperature(temperature) -> float:
    return check_float("temperature", temperature, 0, MAX_TEMPERATURE, low_open=True)


def _check_anneal(anneal, temperature: float) -> tuple[str, float] | None:
    """None, or (kind, final temperature). Every spelling is accepted: None / "none" / "", a
    number f (linear to f), "linear:0.1" / "geometric:0.05" / "0.1" (the CLI's and the app's), and
    the pair ("linear" | "geometric", f)."""
    if isinstance(anneal, str):
        anneal = parse_anneal(anneal)
    if anneal is None:
        return None
    if isinstance(anneal, numbers.Real) and not isinstance(anneal, bool):
        kind, final = "linear", anneal
    elif isinstance(anneal, (tuple, list)) and len(anneal) == 2:
        kind, final = anneal
    else:
        raise ValueError(f"anneal must be {ANNEAL_FORMS}; not {short_repr(anneal)}")
    kind = check_choice("anneal kind", kind.lower() if isinstance(kind, str) else kind, ANNEALS)
    final = check_float("the final temperature of anneal", final, 0, temperature,
                        note="(annealing lowers the temperature)")
    if kind == "geometric" and final == 0:
        raise ValueError("geometric annealing needs a final temperature above 0 (use linear to end greedy)")
    return kind, final


def parse_anneal(spec: str | None):
    """The ``anneal`` argument from text (CLI, UI): "" / "none" -> None, "0.1" -> 0.1 (linear to 0.1),
    "linear:0.1" / "geometric:0.05" -> (kind, final). ``sample`` and ``chain`` take the text too."""
    text = (spec or "").strip().lower()
    if text in ("", "none", "off"):
        return None
    kind, _, final = text.rpartition(":")
    try:
        value = float(final)
    except ValueError:
        raise ValueError(f"anneal must look like 0.1, linear:0.1 or geometric:0.05 (or none), "
                         f"not {short_repr(spec)}") from None
    return (kind, value) if kind else value


def _check_unicode(name: str, text: str) -> None:
    """The tokenizer takes UTF-8: a lone surrogate (possible in a Python str and in JSON) is refused."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ValueError(f"{name} must be valid Unicode text; character {e.start + 1} is a lone surrogate "
                         f"({short_repr(text[e.start])})") from None


def parse_template(template: str | None, length: int, table: TokenTable) -> Template:
    """Slots of ``template`` (``_`` / ``[MASK]`` free, other characters fixed), or ``length`` free slots."""
    if template is None:
        return Template([table.mask_id] * length, [True] * length, [""] * length)
    if not isinstance(template, str):
        raise ValueError(f"template must be a string or None, not {type(template).__name__}")
    if not template.strip():
        raise ValueError("the template is empty: write fixed characters and mark free slots with _ or [MASK]")
    _check_unicode("template", template)
    ids, free, shown, unknown = [], [], [], []
    unk = table.tokenizer.unk_token_id
    for piece in FREE.split(template):
        if FREE.fullmatch(piece):
            ids.append(table.mask_id), free.append(True), shown.append("")
        elif piece:
            enc = table.tokenizer(piece, add_special_tokens=False, return_offsets_mapping=True)
            for i, (a, b) in zip(enc["input_ids"], enc["offset_mapping"]):
                ids.append(i), free.append(False), shown.append(piece[a:b])
                if i == unk:
                    unknown.append(piece[a:b])
    if not any(free):
        raise ValueError("the template has no free slots: mark the characters to generate with _ or [MASK]")
    if len(ids) > MAX_CHARS:
        raise ValueError(f"the template has {len(ids)} slots; at most {MAX_CHARS} fit the model")
    if unknown:
        warnings.warn(f"the model does not know {''.join(dict.fromkeys(unknown))!r}: read as [UNK] "
                      "(kept unchanged in the output)", stacklevel=4)
    return Template(ids, free, shown)


def _initial_ids(init, tmpl: Template, table: TokenTable) -> list[int] | None:
    """The starting ids of a text ``init`` (one token per slot, checked: ``check_arguments``), or None
    for "mask" / "random"."""
    if init in INITS:
        return None
    _check_unicode("init", init)
    ids = table.tokenizer(init, add_special_tokens=False)["input_ids"]
    if len(ids) != len(tmpl.ids):
        raise ValueError(f"the starting text init has {len(ids)} characters but there are {len(tmpl.ids)} slots: "
                         f"give one character per slot (or init=\"mask\" / \"random\")")
    return [t if f else f0 for t, f, f0 in zip(ids, tmpl.free, tmpl.ids)]


def check_method(method) -> str:
    """``method`` as a name in ``METHODS`` (None: ``DEFAULT_METHOD``)."""
    return DEFAULT_METHOD if method is None else check_choice("method", method, METHODS)


def check_domain(domain) -> str | None:
    """``domain`` checked: None, or one of ``DOMAINS`` (whether the model knows it: ``domain_id``)."""
    return None if domain is None else check_choice("domain", domain, DOMAINS)


def domain_id(domain: str | None, known: tuple[str, ...]) -> int | None:
    """The token type id a run passes for ``domain`` (checked) with a model that knows the domains
    ``known`` (``domains``): None picks ``DEFAULT_DOMAIN``; a model without the domain token takes
    None only (and gets no token type ids)."""
    if not known:
        if domain is not None:
            raise ValueError(f"this model was trained without the domain token, so domain must be None, not "
                             f"{domain!r} (models trained with --domain-token on know "
                             f"{' and '.join(DOMAINS)})")
        return None
    return known.index(check_choice("domain", DEFAULT_DOMAIN if domain is None else domain, known))


def domains(model: str | Path | None = None) -> tuple[str, ...]:
    """The domains ``model`` (default: the shipped one) was trained to tell apart, ``("news",
    "review")``, or () for a model without the domain token."""
    return model_domains(load_model(model)[0])


def check_arguments(template=None, length=16, n=4, steps=200, burn_in=50, temperature=1.0, top_k=0,
                    order="random", init="mask", anneal=None, seed=None, method=None, domain=None) -> dict:
    """Every argument that can be checked without the model (ValueError naming what is allowed),
    normalised: what ``prepare`` and the CLI check before any slow work. The template's text and a
    starting text ``init`` are read with the model's tokenizer, in ``prepare``."""
    if template is not None and not isinstance(template, str):
        raise ValueError(f"template must be a string or None, not {type(template).__name__}")
    length = check_int("length", length, 1, MAX_CHARS)
    n = check_int("n", n, 1, MAX_CHAINS)
    steps = check_int("steps", steps, 1, MAX_STEPS)
    burn_in = check_int("burn_in", burn_in, 0, MAX_STEPS)
    if burn_in >= steps:
        raise ValueError(f"burn_in ({burn_in}) must be below steps ({steps})")
    temperature = _check_temperature(temperature)
    anneal = _check_anneal(anneal, temperature)
    top_k = check_int("top_k", top_k, 0, MAX_TOP_K)
    order = check_choice("order", order, ORDERS)
    seed = validate_seed(seed)
    method = check_method(method)
    domain = check_domain(domain)
    if not isinstance(init, str) or not init:
        raise ValueError(f"init must be one of {list(INITS)} or a starting text, not {short_repr(init)}")
    if method == "mask-predict" and init != "mask":
        raise ValueError(f"init must be \"mask\" with method=\"mask-predict\" (its first pass redraws every free "
                         f"slot), not {short_repr(init)}")
    free = len(FREE.findall(template)) if template else length  # each _ or [MASK] is one slot
    if init == "mask" and method != "mask-predict" and steps < free:
        raise ValueError(f"steps ({steps}) must be at least the number of free slots ({free}) with init=\"mask\", "
                         "so that every slot is drawn at least once")
    return dict(template=template or None, length=length, n=n, steps=steps, burn_in=burn_in, temperature=temperature,
                top_k=top_k, order=order, init=init, anneal=anneal, seed=seed, method=method, domain=domain)


def prepare(template=None, length=16, n=4, steps=200, burn_in=50, temperature=1.0, top_k=0, order="random",
            init="mask", anneal=None, seed=None, table: TokenTable | None = None, method=None, domain=None,
            known: tuple[str, ...] = ()) -> Run:
    """Check every argument (ValueError naming what is allowed) and parse the template; ``known``:
    the model's domains (``domains``)."""
    a = check_arguments(template, length, n, steps, burn_in, temperature, top_k, order, init, anneal, seed, method,
                        domain)
    kind = domain_id(a["domain"], known)
    tmpl = parse_template(a["template"], a["length"], table)
    start = _initial_ids(init, tmpl, table)
    return Run(tmpl, a["n"], a["steps"], a["burn_in"],
               temperatures(a["temperature"], a["anneal"], a["steps"], a["burn_in"]), a["top_k"], a["order"],
               init if start is None else start, a["seed"], a["method"], kind)


# -- running ---------------------------------------------------------------------------
@manager.gpu
def sample(template: str | None = None, length: int = 16, n: int = 4, steps: int = 200, burn_in: int = 50,
           temperature: float = 1.0, top_k: int = 0, order: str = "random", init: str = "mask", anneal=None,
           seed: int | None = None, model: str | Path | None = None, method: str | None = None,
           domain: str | None = None) -> list[str]:
    """``n`` texts: each chain's state after ``steps`` steps of ``method`` (see the module docstring)."""
    mlm, table = load_model(model)
    run = prepare(template, length, n, steps, burn_in, temperature, top_k, order, init, anneal, seed, table, method,
                  domain, model_domains(mlm))
    ids = None
    for step in _steps(run, mlm, table):
        ids = step.ids
    return sampler.texts(ids, run.template, table)


def chain(template: str | None = None, length: int = 16, n: int = 4, steps: int = 200, burn_in: int = 50,
          temperature: float = 1.0, top_k: int = 0, order: str = "random", init: str = "mask", anneal=None,
          seed: int | None = None, model: str | Path | None = None, method: str | None = None,
          domain: str | None = None) -> Iterator[dict]:
    """The same run as ``sample`` (same arguments, same seed, same result), one dict per step:
    ``step`` (1-based), ``temperature``, ``burn_in`` (step <= burn_in), ``texts`` (n strings),
    ``positions`` (the slot each chain resampled, 0-based over the template's slots; for
    ``method="mask-predict"`` each chain's list of the slots its pass redrew), ``changed`` (whether
    that slot's character changed; a list beside each list of positions) and ``accepted`` (per
    chain: whether MH accepted its proposal; always True for the other methods) and ``domain`` (the
    domain written in, or None for a model without the domain token).
    Arguments are checked before the first step."""
    mlm, table = load_model(model)
    run = prepare(template, length, n, steps, burn_in, temperature, top_k, order, init, anneal, seed, table, method,
                  domain, model_domains(mlm))
    return _stream(run, model)


def _steps(run: Run, mlm, table: TokenTable) -> Iterator[Step]:
    """The sampler's steps on the playground's device, each inside a device slot (given up between
    steps), every draw from one CPU generator seeded with ``run.seed``."""
    return manager.steps(sampler.run_steps(mlm, table, run, manager.generator(run.seed), manager.device))


@manager.gpu
def _stream(run: Run, model) -> Iterator[dict]:
    """The device-bound generator behind ``chain`` (a checked run; on ZeroGPU, inside ``spaces.GPU``)."""
    mlm, table = load_model(model)
    many = run.method == "mask-predict"
    domain = None if run.domain is None else model_domains(mlm)[run.domain]
    for t, ids, slots, changed, accepted in _steps(run, mlm, table):
        yield {"step": t + 1, "temperature": run.temps[t], "burn_in": t + 1 <= run.burn_in,
               "texts": sampler.texts(ids, run.template, table),
               "positions": slots.tolist() if many else slots[:, 0].tolist(),
               "changed": changed.tolist() if many else changed[:, 0].tolist(), "accepted": accepted.tolist(),
               "domain": domain}


def info(model: str | Path | None = None) -> dict:
    """The loaded model's size and vocabulary, for the UI."""
    mlm, table = load_model(model)
    c = mlm.config
    return {"model": _source(model), "type": c.model_type, "layers": c.num_hidden_layers, "width": c.hidden_size,
            "vocabulary": c.vocab_size, "drawable": int(table.allowed.sum()),
            "parameters": sum(p.numel() for p in mlm.parameters()), "sparse_head": has_sparse_head(mlm),
            "domains": list(model_domains(mlm))}

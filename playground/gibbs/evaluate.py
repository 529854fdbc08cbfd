"""How good the model and its samples are: ``python -m playground eval gibbs``.

The model (for the card):

* ``mlm_scores``: held-out masked-LM loss and accuracy: 15% of the characters of each held-out
  sentence (a fixed seed) replaced by ``[MASK]``, the argmax compared with the real character.
* ``pseudo_perplexity``: exp of minus the mean of log p(x_i | all other characters), each character
  of each held-out sentence masked in turn (Salazar et al., 2020).

The samples:

* ``distinct_n``: distinct n-grams over all n-grams of all samples (characters; higher = more varied).
* ``self_bleu``: the mean character BLEU-4 of each sample against all the others (lower = more varied).
* ``novelty``: the share of samples not found verbatim (as a substring) anywhere in the training text.
* ``CharNgram`` / fluency: per-character perplexity under an interpolated Kneser-Ney character trigram
  fitted to part of the held-out split (text the BERT never trained on), for the samples beside real
  held-out sentences (the other part) and the same sentences with their characters shuffled.

The samplers side by side (``method_table``, ``eval gibbs --methods``): for each method and sample
length, the judge GPT's per-character perplexity (``judge.perplexity``, when a judge is there) and the
trigram's refitted on the 3 M-character training split (sparse no more: real held-out text 55,
shuffled 2,783, where the held-out fit gives 187 and 1,377), diversity, novelty and seconds, beside
real held-out sentences cut to the same length and those shuffled.
"""

from __future__ import annotations

import json
import math
import random
import statistics
import time
from collections import Counter, defaultdict

import torch

from ..checkpoints import read_json
from ..training import pad_rows
from .models import MASK, SPECIALS, domain_types, logits_at

BOS, EOS = "\x02", "\x03"


# -- the model -----------------------------------------------------------------------------
def spread(items: list, k: int) -> list:
    """``k`` items evenly spaced through ``items`` (the held-out file order mixes sources)."""
    if k >= len(items):
        return list(items)
    return [items[i * len(items) // k] for i in range(k)]


@torch.no_grad()
def mlm_scores(model, rows: list[list[int]], mask_id: int = SPECIALS.index(MASK), prob: float = 0.15, seed: int = 0,
               batch_size: int = 64, device=None, domains: list[int] | None = None) -> dict:
    """Masked-LM loss and top-1 accuracy on ``rows`` (``[CLS] chars [SEP]`` id lists): a fixed
    ``prob`` share of the characters (seeded, at least one per sentence) replaced by ``[MASK]``.
    ``domains``: each row's domain token (its token type id) for a domain-aware model, else None."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    g = torch.Generator().manual_seed(seed)
    loss, right, total = 0.0, 0, 0
    for i in range(0, len(rows), batch_size):
        ids, attention = pad_rows(rows[i:i + batch_size])
        lengths = attention.sum(1, keepdim=True)
        pos = torch.arange(ids.shape[1])[None]
        is_char = (pos >= 1) & (pos < lengths - 1)
        chosen = (torch.rand(ids.shape, generator=g) < prob) & is_char
        first = torch.zeros_like(chosen)
        first[:, 1] = lengths[:, 0] > 2
        chosen |= first & ~chosen.any(1, keepdim=True)
        r, c = chosen.nonzero(as_tuple=True)
        types = None if domains is None else domain_types(ids, domains[i:i + batch_size]).to(device)
        logits = logits_at(model, ids.masked_fill(chosen, mask_id).to(device), r.to(device), c.to(device),
                           attention.to(device), types).float()
        target = ids[r, c].to(device)
        loss += torch.nn.functional.cross_entropy(logits, target, reduction="sum").item()
        right += int((logits.argmax(-1) == target).sum())
        total += len(target)
    model.train(was_training)
    return {"val_loss": loss / max(1, total), "val_accuracy": right / max(1, total), "val_masked": total}


@torch.no_grad()
def pseudo_perplexity(model, rows: list[list[int]], mask_id: int = SPECIALS.index(MASK), batch_size: int = 128,
                      device=None, domains: list[int] | None = None) -> float:
    """exp(-mean log p(x_i | x without i)) over every character of ``rows``, each masked in turn
    (``domains``: as for ``mlm_scores``)."""
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for k, row in enumerate(rows):
        row_t = torch.tensor(row)
        positions = torch.arange(1, len(row) - 1)
        for chunk in positions.split(batch_size):
            ids = row_t.repeat(len(chunk), 1)
            ids[torch.arange(len(chunk)), chunk] = mask_id
            types = None if domains is None else domain_types(ids, domains[k]).to(device)
            logits = logits_at(model, ids.to(device), torch.arange(len(chunk), device=device), chunk.to(device),
                               token_type_ids=types)
            logp = torch.log_softmax(logits.float(), -1)
            total += logp[torch.arange(len(chunk)), row_t[chunk].to(device)].sum().item()
            count += len(chunk)
    model.train(was_training)
    return math.exp(-total / max(1, count))


# -- diversity and novelty -----------------------------------------------------------------
def _ngrams(text: str, n: int) -> list[str]:
    return [text[i:i + n] for i in range(len(text) - n + 1)]


def distinct_n(texts: list[str], n: int) -> float:
    """Distinct character n-grams / all character n-grams, over all ``texts`` (0 when there are none)."""
    grams = [g for t in texts for g in _ngrams(t, n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def bleu(hypothesis: str, references: list[str], max_n: int = 4) -> float:
    """Character BLEU-``max_n`` of ``hypothesis`` against ``references``: clipped n-gram precisions,
    add-one smoothed for n > 1 (Lin and Och, 2004), geometric mean, brevity penalty against the
    closest reference length."""
    if not hypothesis or not references:
        return 0.0
    log_p = 0.0
    for n in range(1, max_n + 1):
        counts = Counter(_ngrams(hypothesis, n))
        most = Counter()
        for ref in references:
            for g, k in Counter(_ngrams(ref, n)).items():
                most[g] = max(most[g], k)
        matched, total = sum(min(k, most[g]) for g, k in counts.items()), sum(counts.values())
        if n == 1:
            if matched == 0:
                return 0.0
            log_p += math.log(matched / total)
        else:
            log_p += math.log((matched + 1) / (total + 1))
    ref_len = min((abs(len(r) - len(hypothesis)), len(r)) for r in references)[1]
    bp = 1.0 if len(hypothesis) > ref_len else math.exp(1 - ref_len / len(hypothesis))
    return bp * math.exp(log_p / max_n)


def self_bleu(texts: list[str], max_n: int = 4) -> float:
    """Mean BLEU of each text against all the others (needs at least two texts)."""
    if len(texts) < 2:
        raise ValueError("self-BLEU needs at least two texts")
    return sum(bleu(t, texts[:i] + texts[i + 1:], max_n) for i, t in enumerate(texts)) / len(texts)


def novelty(texts: list[str], corpus: list[str]) -> float:
    """The share of ``texts`` that occur nowhere in ``corpus`` as a substring of a sentence."""
    if not texts:
        return 0.0
    haystack = "\n".join(corpus)
    return sum(t not in haystack for t in texts) / len(texts)


# -- fluency: a character trigram ----------------------------------------------------------
class CharNgram:
    """An interpolated Kneser-Ney character n-gram model (discount 0.75), with sentence start and
    end symbols and a uniform floor over the characters seen plus one unknown."""

    def __init__(self, sentences: list[str], order: int = 3, discount: float = 0.75):
        if order < 1:
            raise ValueError(f"order must be >= 1, not {order}")
        self.order, self.d = order, discount
        self.counts: list[dict[str, Counter]] = [defaultdict(Counter) for _ in range(order)]
        for s in sentences:
            seq = BOS * (order - 1) + s + EOS
            for i in range(order - 1, len(seq)):
                self.counts[-1][seq[i - order + 1:i]][seq[i]] += 1
        for k in range(order - 1, 0, -1):  # lower orders: continuation counts (distinct left contexts)
            for ctx, nexts in self.counts[k].items():
                for ch in nexts:
                    self.counts[k - 1][ctx[1:]][ch] += 1
        self.totals = [{ctx: sum(c.values()) for ctx, c in level.items()} for level in self.counts]
        self.vocab = {ch for c in self.counts[0].values() for ch in c}
        self.floor = 1.0 / (len(self.vocab) + 1)

    def prob(self, context: str, ch: str) -> float:
        p = self.floor
        for k in range(self.order):  # from the empty context up
            ctx = context[len(context) - k:] if k else ""
            nexts = self.counts[k].get(ctx)
            if not nexts:
                continue
            total = self.totals[k][ctx]
            p = max(nexts.get(ch, 0) - self.d, 0) / total + self.d * len(nexts) / total * p
        return p

    def log_prob(self, sentence: str) -> tuple[float, int]:
        """(natural-log probability, characters scored incl. the end symbol)."""
        seq = BOS * (self.order - 1) + sentence + EOS
        lp = sum(math.log(self.prob(seq[i - self.order + 1:i], seq[i])) for i in range(self.order - 1, len(seq)))
        return lp, len(sentence) + 1

    def perplexity(self, texts: list[str]) -> float:
        """Per-character perplexity of ``texts`` (their end symbols counted as characters)."""
        scored = [self.log_prob(t) for t in texts if t]
        if not scored:
            raise ValueError("no text to score")
        return math.exp(-sum(lp for lp, _ in scored) / sum(n for _, n in scored))


def shuffled(texts: list[str], seed: int = 0) -> list[str]:
    """Each text with its characters in a random (seeded) order."""
    rng = random.Random(seed)
    return ["".join(rng.sample(t, len(t))) for t in texts]


def fluency_reference(val_sentences: list[str], reference: int = 300) -> tuple[CharNgram, list[str]]:
    """The trigram fitted to the held-out split minus ``reference`` evenly spaced sentences,
    which are returned as the real text to compare with."""
    step = max(1, len(val_sentences) // max(1, reference))
    picked = set(range(0, len(val_sentences), step)[:reference])
    real = [s for i, s in enumerate(val_sentences) if i in picked]
    return CharNgram([s for i, s in enumerate(val_sentences) if i not in picked]), real


# -- the CLI hooks -------------------------------------------------------------------------
def evaluate_samples(samples: list[str] | None = None, *, n: int = 64, length: int = 24, steps: int = 200,
                     burn_in: int = 50, temperature: float = 1.0, top_k: int = 0, order: str = "random",
                     init: str = "mask", anneal=None, template: str | None = None, seed: int = 0, model=None,
                     reference: int = 300, data_dir=None, method: str = "gibbs", domain: str | None = None) -> dict:
    """Diversity, novelty and fluency of ``samples`` (or of ``n`` drawn with ``api.sample`` and the
    sampler arguments given; at most 64 per call, so bigger ``n`` runs several seeded batches).

    Returns distinct-1/2, self-BLEU, novelty, and the trigram perplexity of the samples, of
    ``reference`` real held-out sentences and of those sentences shuffled."""
    from ..data import load_chinese_sentences
    from .api import MAX_CHAINS, sample

    config = {}
    if samples is None:
        config = dict(n=n, length=length, steps=steps, burn_in=burn_in, temperature=temperature, top_k=top_k,
                      order=order, init=init, anneal=anneal, template=template, seed=seed, method=method,
                      domain=domain)
        samples = []
        for i, start in enumerate(range(0, n, MAX_CHAINS)):
            samples += sample(template, length=length, n=min(MAX_CHAINS, n - start), steps=steps, burn_in=burn_in,
                              temperature=temperature, top_k=top_k, order=order, init=init, anneal=anneal,
                              seed=seed + i, model=model, method=method, domain=domain)
    samples = [s for s in samples if s]
    if len(samples) < 2:
        raise ValueError("evaluate_samples needs at least two non-empty samples")
    ngram, real = fluency_reference(load_chinese_sentences("val", root=data_dir), reference)
    return {
        "samples": len(samples), "sampler": config,
        "distinct_1": distinct_n(samples, 1), "distinct_2": distinct_n(samples, 2),
        "self_bleu": self_bleu(samples),
        "novel": novelty(samples, load_chinese_sentences("train", root=data_dir)),
        "fluency_ppl": ngram.perplexity(samples),
        "real_ppl": ngram.perplexity(real), "shuffled_ppl": ngram.perplexity(shuffled(real, seed)),
        "reference_sentences": len(real), "examples": samples[:8],
    }


def evaluate_model(model=None, sentences: int = 200, data_dir=None) -> dict:
    """Held-out MLM loss/accuracy and pseudo-perplexity of a model folder or Hub id (default: the
    shipped one) on ``sentences`` evenly spaced held-out sentences, through its own tokenizer."""
    from ..data import chinese_sentence_notes, load_chinese_sentences
    from .api import load_model
    from .models import model_domains

    mlm, table = load_model(model)
    texts = spread(load_chinese_sentences("val", root=data_dir), sentences)
    kinds = spread([d for d, _ in chinese_sentence_notes("val", root=data_dir)], sentences)
    known = model_domains(mlm)  # a domain-aware model reads each sentence with its own domain token
    pairs = [(r, d) for r, d in zip(table.tokenizer(texts, truncation=True)["input_ids"], kinds) if len(r) > 2]
    rows = [r for r, _ in pairs]
    domains = [known.index(d) for _, d in pairs] if known else None
    scores = mlm_scores(mlm, rows, mask_id=table.mask_id, domains=domains)
    return {**scores, "val_pseudo_perplexity": pseudo_perplexity(mlm, rows, mask_id=table.mask_id, domains=domains),
            "val_pppl_sentences": len(rows)}


def bench(model=None, n: int = 8, length: int = 32, steps: int = 200, repeats: int = 3) -> dict:
    """Warm wall time of ``sample`` (``n`` chains x ``length`` characters x ``steps`` steps): the median
    of ``repeats`` runs after one warm-up run."""
    from .api import sample

    sample(length=length, n=n, steps=steps, burn_in=0, seed=0, model=model)
    times = []
    for i in range(repeats):
        t0 = time.perf_counter()
        sample(length=length, n=n, steps=steps, burn_in=0, seed=i + 1, model=model)
        times.append(time.perf_counter() - t0)
    return {"n": n, "length": length, "steps": steps, "seconds": round(statistics.median(times), 2),
            "threads": torch.get_num_threads()}


def report(model=None, *, n: int = 64, length: int = 24, steps: int = 200, burn_in: int = 50,
           temperature: float = 1.0, top_k: int = 0, order: str = "random", anneal=None, seed: int = 0,
           speed: bool = True, write_card: bool = False, command: str = "", data_dir=None,
           method: str = "gibbs") -> dict:
    """``python -m playground eval gibbs``: sample metrics (``evaluate_samples``) and the sampler's
    speed; with ``write_card``, store them as ``metrics.json`` in the model folder and rewrite its
    card (a local folder only; default the shipped model)."""
    from pathlib import Path

    from .api import _is_folder, model_dir
    from .card import write_card as write

    results = {"command": command, "samples": evaluate_samples(
        n=n, length=length, steps=steps, burn_in=burn_in, temperature=temperature, top_k=top_k, order=order,
        anneal=anneal, seed=seed, model=model, data_dir=data_dir, method=method)}
    if speed:
        b = bench(model)
        results["bench"] = (f"{b['n']} chains x {b['length']} characters x {b['steps']} steps in {b['seconds']:.2f} s "
                            f"(median of 3, {b['threads']} torch thread(s))")
    if write_card:
        if model is not None and not _is_folder(model):
            raise ValueError("--write-card needs a local model folder, not a Hub id")
        folder = Path(model) if model is not None else model_dir()
        kept = {k: v for k, v in read_json(folder / "metrics.json").items() if k == "methods"}
        (folder / "metrics.json").write_text(json.dumps({**kept, **results}, indent=2))
        write(folder)
    return results


def add_method_table(model=None, table: dict | None = None):
    """Add a ``method_table`` to the model folder's ``metrics.json`` (its other figures kept; a table
    measured before at the same temperature, top-k and annealing replaced) and rewrite the card;
    returns the folder."""
    from pathlib import Path

    from .api import _is_folder, model_dir
    from .card import write_card as write

    if model is not None and not _is_folder(model):
        raise ValueError("--write-card needs a local model folder, not a Hub id")
    folder = Path(model) if model is not None else model_dir()
    metrics = read_json(folder / "metrics.json")
    table = json.loads(json.dumps(table))  # as it will read back (a tuple becomes a list)
    settings = ("temperature", "top_k", "anneal")
    tables = [t for t in metrics.get("methods", []) if [t.get(k) for k in settings] != [table.get(k) for k in settings]]
    metrics["methods"] = tables + [table]
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write(folder)
    return folder


# -- the samplers side by side -------------------------------------------------------------
METHOD_STEPS = {"mask-predict": "passes"}  # the methods whose steps are --passes (the rest take --steps)


def real_text(length: int, count: int = 300, data_dir=None, domain: str | None = None) -> list[str]:
    """``count`` evenly spaced held-out sentences of at least ``length`` characters, cut to ``length``;
    ``domain``: of that domain only ("news" or "review"; None: both)."""
    from ..data import chinese_sentence_notes, load_chinese_sentences

    notes = chinese_sentence_notes("val", root=data_dir)
    long_enough = [s[:length] for s, (d, _) in zip(load_chinese_sentences("val", root=data_dir), notes)
                   if len(s) >= length and domain in (None, d)]
    if len(long_enough) < 2:
        raise ValueError(f"fewer than two held-out sentences have {length} characters")
    return spread(long_enough, count)


def method_table(model=None, *, methods=("gibbs", "mh", "mh-raw", "mask-predict"), lengths=(16, 32), n: int = 64,
                 steps: int = 200, burn_in: int = 50, passes: int = 10, temperature: float = 1.0, top_k: int = 0,
                 anneal=None, seed: int = 0, judge: str | None = None, data_dir=None, domains=None) -> dict:
    """Free samples of every ``methods`` x ``lengths`` x ``domains`` (default: each domain the model
    knows, or one row without a domain for a model that has none): ``n`` each (Gibbs and MH: ``steps`` with
    ``burn_in``; Mask-Predict: ``passes``, no burn-in; all at ``temperature``, ``top_k``, ``anneal``),
    scored by the judge GPT (``judge`` folder; default the shipped one, skipped when there is none)
    and by the character trigram fitted to the training split, with distinct-1/2, self-BLEU, novelty
    and seconds per batch of ``min(n, 64)`` chains; and the same figures for real held-out text cut to
    each length (of the row's domain) and for that text shuffled. Returns {"rows": [...], "judge":
    folder or None, ...}."""
    from ..data import load_chinese_sentences
    from . import judge as judge_module
    from .api import MAX_CHAINS, sample
    from .api import domains as model_domains

    domains = list(model_domains(model) or [None]) if domains is None else list(domains)

    train = load_chinese_sentences("train", root=data_dir)
    ngram = CharNgram(train)
    try:
        judge_module.load_judge(judge)
        judged = str(judge or judge_module.checkpoint_dir(judge_module.SHIPPED_JUDGE))
    except ValueError:
        if judge is not None:
            raise
        judged = None

    def scores(texts: list[str]) -> dict:
        out = {"trigram_ppl": ngram.perplexity(texts), "distinct_1": distinct_n(texts, 1),
               "distinct_2": distinct_n(texts, 2), "self_bleu": self_bleu(texts), "novel": novelty(texts, train)}
        if judged:
            out["judge_ppl"] = judge_module.perplexity(texts, judged)
        return out

    rows = []
    for length in lengths:
        for domain in domains:
            real = real_text(length, data_dir=data_dir, domain=domain)
            rows.append({"method": "real held-out text", "length": length, "domain": domain, "samples": len(real),
                         **scores(real)})
            rows.append({"method": "real, shuffled", "length": length, "domain": domain, "samples": len(real),
                         **scores(shuffled(real, seed))})
            for method in methods:
                mp = method == "mask-predict"
                kw = dict(length=length, steps=passes if mp else steps, burn_in=0 if mp else burn_in,
                          temperature=temperature, top_k=top_k, anneal=anneal, model=model, method=method,
                          domain=domain)
                texts, seconds = [], []
                for i, start in enumerate(range(0, n, MAX_CHAINS)):
                    t0 = time.perf_counter()
                    texts += sample(None, n=min(MAX_CHAINS, n - start), seed=seed + i, **kw)
                    seconds.append(time.perf_counter() - t0)
                rows.append({"method": method, "length": length, "domain": domain, "samples": len(texts),
                             "steps": kw["steps"], "burn_in": kw["burn_in"],
                             "seconds": round(statistics.median(seconds), 2), **scores(texts), "examples": texts[:3]})
    return {"rows": rows, "judge": judged, "trigram": f"Kneser-Ney character trigram fitted to the training split "
            f"({sum(map(len, train)):,} characters)", "temperature": temperature, "top_k": top_k,
            "anneal": anneal, "threads": torch.get_num_threads()}


def format_method_table(table: dict) -> str:
    """``method_table``'s rows as a Markdown table."""
    judged = table.get("judge") is not None
    by_domain = any(r.get("domain") for r in table["rows"])  # (tables measured before the domain token: none)
    head = ["method", "chars", *(["domain"] if by_domain else []), "steps", *(["judge ppl"] if judged else []),
            "trigram ppl", "distinct-1", "distinct-2", "self-BLEU", "novel", "s / 64 chains"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in table["rows"]:
        cells = [r["method"], str(r["length"]), *([r.get("domain") or "both"] if by_domain else []),
                 str(r.get("steps", "")),
                 *([f"{r['judge_ppl']:.1f}"] if judged else []), f"{r['trigram_ppl']:.1f}",
                 f"{r['distinct_1']:.3f}", f"{r['distinct_2']:.3f}", f"{r['self_bleu']:.3f}",
                 f"{100 * r['novel']:.0f}%", f"{r['seconds']:.1f}" if "seconds" in r else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


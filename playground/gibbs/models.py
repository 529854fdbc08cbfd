"""The gibbs tab's masked LM: a small Chinese BERT with one token per character.

Vocabulary. Every character seen at least ``min_count`` times in the training sentences (5 by
default: about 3,900 characters, covering 99.9% of the corpus), most frequent first, after the five
BERT specials ``[PAD] [UNK] [CLS] [SEP] [MASK]`` (ids 0 to 4). Digits and latin letters are
characters like any other, so a Gibbs step always resamples exactly one character.

The tokenizer is a ``PreTrainedTokenizerFast`` (a word-level model whose pre-tokenizer isolates every
character) saved beside the weights, so ``AutoTokenizer`` and ``AutoModelForMaskedLM`` load the
folder. It applies the corpus's own normalisation (``playground.data.CHINESE_CHAR_MAP``: full-width
digits and letters to ASCII, ASCII sentence punctuation to full width; whitespace dropped), wraps
text in ``[CLS] ... [SEP]`` and decodes by joining characters without spaces.

The model is a transformers ``BertForMaskedLM`` (post-LN BERT, GELU, tied input/output embeddings),
130 positions: 128 characters plus ``[CLS]`` and ``[SEP]``.

The domain token. The corpus holds two registers, 1998 news and hotel / product reviews, and a model
trained on both mixes them inside one sentence. A model trained with ``--domain-token`` reads the
sentence's domain as BERT's token type (segment) id, added to every position's embedding: 0 for
news, 1 for review (``DOMAINS``; no vocabulary change). Its config records
``playground_domains = ["news", "review"]`` (``model_domains``); sampling then passes the chosen
domain as ``token_type_ids`` at every position. A model without that record reads every text as
token type 0, as BERT does by default.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import torch

from ..data import CHINESE_DOMAINS

DOMAINS = CHINESE_DOMAINS  # token type ids 0 and 1 of a domain-aware model: ("news", "review")
PAD, UNK, CLS, SEP, MASK = "[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"
SPECIALS = [PAD, UNK, CLS, SEP, MASK]
MAX_CHARS = 128
MAX_POSITIONS = MAX_CHARS + 2

SIZES = {  # name -> (layers, width, heads)
    "tiny": (2, 64, 2),
    "small": (4, 256, 4),
    "base": (6, 384, 6),
}


def build_vocabulary(sentences: Iterable[str], min_count: int = 5) -> list[str]:
    """Characters seen at least ``min_count`` times, most frequent first (ties by code point)."""
    counts = Counter()
    for s in sentences:
        counts.update(s)
    chars = [c for c, k in counts.items() if k >= min_count and c not in SPECIALS and not c.isspace()]
    return sorted(chars, key=lambda c: (-counts[c], c))


def build_tokenizer(chars: list[str]):
    """The character-level fast tokenizer: specials first (ids 0-4), then ``chars`` in order."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    from ..data import CHINESE_CHAR_MAP

    vocab = {tok: i for i, tok in enumerate([*SPECIALS, *chars])}
    if len(vocab) != len(SPECIALS) + len(chars):
        raise ValueError("the character list repeats a character or a special token")
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.normalizer = normalizers.Sequence([normalizers.Replace(a, b) for a, b in CHINESE_CHAR_MAP.items()])
    core.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(),
                                                  pre_tokenizers.Split(Regex("."), behavior="isolated")])
    core.post_processor = processors.TemplateProcessing(
        single=f"{CLS} $A {SEP}", pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
        special_tokens=[(CLS, vocab[CLS]), (SEP, vocab[SEP])])
    core.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, unk_token=UNK, cls_token=CLS, sep_token=SEP,
                                   mask_token=MASK, model_max_length=MAX_POSITIONS, clean_up_tokenization_spaces=False)


def make_model(size: str = "small", vocab_size: int = 4000, dropout: float = 0.1, domains: bool = False):
    """A randomly initialised ``BertForMaskedLM`` of one of ``SIZES``; ``domains``: it will learn the
    domain token (its config records ``DOMAINS`` as ``playground_domains``)."""
    from transformers import BertConfig, BertForMaskedLM

    if size not in SIZES:
        raise ValueError(f"size must be one of {list(SIZES)}, not {size!r}")
    layers, width, heads = SIZES[size]
    config = BertConfig(vocab_size=vocab_size, hidden_size=width, num_hidden_layers=layers, num_attention_heads=heads,
                        intermediate_size=4 * width, max_position_embeddings=MAX_POSITIONS, type_vocab_size=2,
                        hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, pad_token_id=0)
    if domains:
        config.playground_domains = list(DOMAINS)
    return BertForMaskedLM(config)


def model_domains(model) -> tuple[str, ...]:
    """The domains a model was trained to tell apart by token type (``DOMAINS``), or () if none."""
    return tuple(getattr(model.config, "playground_domains", None) or ())


def domain_types(ids: torch.Tensor, domain) -> torch.Tensor | None:
    """``token_type_ids`` holding ``domain`` (one id, or a sequence of one per row of ``ids``) at every
    position of ``ids`` (None: none passed)."""
    if domain is None:
        return None
    return torch.as_tensor(domain, dtype=ids.dtype, device=ids.device).reshape(-1, 1).expand_as(ids).contiguous()


def encode(sentence: str, ids: dict[str, int]) -> list[int]:
    """``[CLS]`` + one id per character (``[UNK]`` for unknown ones) + ``[SEP]``, without the
    tokenizer (the trainer's hot path; the same ids as the tokenizer for normalised text)."""
    unk = ids[UNK]
    return [ids[CLS], *(ids.get(c, unk) for c in sentence), ids[SEP]]


def has_sparse_head(model) -> bool:
    """True for BERT-family masked LMs (``.bert`` encoder + ``.cls`` head): their vocabulary
    projection can be applied to chosen positions only."""
    return isinstance(getattr(model, "bert", None), torch.nn.Module) and \
        isinstance(getattr(model, "cls", None), torch.nn.Module)


def logits_at(model, ids: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor,
              attention_mask: torch.Tensor | None = None, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Vocabulary logits at positions ``(rows[i], cols[i])`` of ``ids`` (one encoder pass);
    the output projection runs only at those positions when the model allows it.
    ``token_type_ids``: the domain token (``domain_types``), or None."""
    types = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
    if has_sparse_head(model):
        hidden = model.bert(input_ids=ids, attention_mask=attention_mask, **types).last_hidden_state
        return model.cls(hidden[rows, cols])
    return model(input_ids=ids, attention_mask=attention_mask, **types).logits[rows, cols]


def _queryable(model) -> bool:
    """A BERT encoder whose last layer can be run for a few query positions only (this module's
    ``query_logits``): post-LN self-attention layers with the standard submodules."""
    if not has_sparse_head(model) or model.config.is_decoder or model.training:
        return False
    last = model.bert.encoder.layer[-1]
    sa = getattr(getattr(last, "attention", None), "self", None)
    return all(hasattr(sa, a) for a in ("query", "key", "value", "num_attention_heads", "attention_head_size")) \
        and all(hasattr(last, a) for a in ("intermediate", "output")) \
        and getattr(model.config, "position_embedding_type", "absolute") == "absolute"


def query_logits(model, ids: torch.Tensor, cols: torch.Tensor,
                 token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Vocabulary logits at position ``cols[i]`` of row ``i`` of ``ids`` (no padding; eval mode).

    The same numbers as ``logits_at``, cheaper: the last layer's keys and values need every position,
    but its queries, attention output and feed-forward only the queried one per row (a fifth less
    work for a 4-layer model). Other models take the plain path."""
    rows = torch.arange(len(ids), device=ids.device)
    if not _queryable(model):
        return logits_at(model, ids, rows, cols, token_type_ids=token_type_ids)
    h = model.bert.embeddings(input_ids=ids, token_type_ids=token_type_ids)
    layers = model.bert.encoder.layer
    for layer in layers[:-1]:
        h = layer(h)
        h = h[0] if isinstance(h, tuple) else h
    last = layers[-1]
    sa = last.attention.self
    n, length, width = h.shape
    heads, d = sa.num_attention_heads, sa.attention_head_size
    x = h[rows, cols]
    q = sa.query(x).view(n, heads, 1, d)
    k = sa.key(h).view(n, length, heads, d).transpose(1, 2)
    v = sa.value(h).view(n, length, heads, d).transpose(1, 2)
    a = torch.nn.functional.scaled_dot_product_attention(q, k, v).reshape(n, width)
    a = last.attention.output(a, x)
    return model.cls(last.output(last.intermediate(a), a))


class SparseMLMLoss(torch.nn.Module):
    """Wraps a ``BertForMaskedLM`` for training: the masked-LM cross-entropy with the vocabulary
    projection computed at the masked positions only (about a quarter less work than the
    full-width head). Wrapping (rather than calling submodules) keeps DDP's gradient hooks."""

    def __init__(self, mlm):
        super().__init__()
        self.mlm = mlm

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, labels: torch.Tensor,
                token_type_ids: torch.Tensor | None = None):
        rows, cols = (labels != -100).nonzero(as_tuple=True)
        logits = logits_at(self.mlm, input_ids, rows, cols, attention_mask, token_type_ids)
        return torch.nn.functional.cross_entropy(logits.float(), labels[rows, cols])

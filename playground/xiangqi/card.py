"""The model card (README.md) of the xiangqi GPT folder, written from measured records only:
``training.json`` (the export), ``data.json`` (the self-play record) and ``metrics.json``
(``python -m playground eval xiangqi --write-card``), whichever exist."""

from __future__ import annotations

from pathlib import Path

from ..checkpoints import read_json


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def _continued(stage: dict) -> str:
    """One line for a run that continued the model above (``--init-from``)."""
    c = stage.get("config", {})
    legal = (f", with the legal-move term (weight {c['legal_weight']:g}: minus the log of the probability mass on "
             f"the legal moves, at {c.get('legal_positions')} random positions a step, legal moves from pyffish)"
             if c.get("legal_weight") else "")
    text = (f"- Then continued (`--init-from`) for {stage['step']:,} steps of {c.get('batch_size')} games{legal}; "
            f"{'curriculum' if c.get('curriculum') else 'whole games'}, peak rate {c.get('lr'):g}, {c.get('warmup')}-step "
            f"warm-up then cosine to a tenth. {stage['wall_minutes']:.1f} wall minutes, {stage['cpu_minutes']:.1f} CPU "
            f"minutes, {stage['threads']} torch thread(s). After it: held-out next-move loss "
            f"{stage.get('val_loss', float('nan')):.3f}, top-1 agreement {_pct(stage.get('val_accuracy'))}.")
    if stage.get("command"):
        text += f" Command: `{stage['command']}`"
    return text


def render(folder: Path) -> str:
    folder = Path(folder)
    training = read_json(folder / "training.json")
    data = read_json(folder / "data.json")
    metrics = read_json(folder / "metrics.json")
    model = read_json(folder / "config.json")
    config = training.get("config", {})
    lines = [
        "---",
        "library_name: transformers",
        "pipeline_tag: text-generation",
        "tags: [xiangqi, chinese-chess, gpt2, playground]",
        "---",
        "",
        "# A GPT that plays Chinese chess (xiangqi)",
        "",
        "A small GPT-2 trained from scratch on Fairy-Stockfish self-play games, after the write-up "
        "\"GPT meets Chinese chess\" (kexue.fm 7877). One token per move (ICCS, e.g. `h2e2`), each game "
        "opened by a token saying who won; at play time the model is told that its own side wins. "
        "`AutoModelForCausalLM` and `AutoTokenizer` load this folder.",
        "",
        "## Model",
        "",
        f"- `GPT2LMHeadModel`: {model.get('n_layer')} layers, width {model.get('n_embd')}, {model.get('n_head')} heads, "
        f"context {model.get('n_positions')} tokens, vocabulary {model.get('vocab_size')} "
        f"({training.get('parameters', 0) / 1e6:.2f} M parameters; weights stored in float16).",
        "- Vocabulary: every (from, to) pair some xiangqi piece can ever make (2,238 moves) plus `[PAD]`, `[UNK]` "
        "and four result tokens (`<red>`, `<black>`, `<draw>`, `<?>`). One token per move makes a game a quarter "
        "as long as the write-up's four characters per move, so training costs a quarter as much attention, and "
        "scoring every legal move is one forward pass.",
        "- Playing (`playground.xiangqi.choose_move`): pyffish lists the legal moves, each is scored by its "
        "log-probability, the best is played (temperature 0) or one sampled: every move is legal by construction.",
        "",
        "## Data",
        "",
    ]
    if data:
        c = data.get("config", {})
        lines += [
            f"- {training.get('train_games', 0):,} training games ({training.get('train_plies', 0):,} plies) and "
            f"{training.get('val_games', 0):,} held-out games from {data.get('played', 0):,} Fairy-Stockfish self-play "
            f"games (duplicates removed; about 5% held out by a hash of the moves).",
            f"- Variety: each side searches to its own depth, drawn from {c.get('min_depth')}-{c.get('max_depth')} "
            f"for the game; the first {c.get('min_opening')}-{c.get('max_opening')} plies are sampled among the "
            f"engine's top {c.get('opening_multipv')} lines (softmax, {c.get('opening_temperature')} cp), "
            f"{_pct(c.get('random_move_prob'))} of them uniformly among all legal moves; later, "
            f"{_pct(c.get('sample_prob'))} of plies are drawn among lines within {c.get('margin')} cp of the best.",
            f"- Generation: {data.get('core_minutes', 0):.0f} core-minutes (wall x processes). "
            f"Command (each run adds its games to the folder; the last run was): `{data.get('command', '')}`",
        ]
    lines += ["", "## Training", ""]
    if training:
        lines += [
            f"- {training['step']:,} steps of {config.get('batch_size')} games (AdamW, peak rate {config.get('lr'):g}, "
            f"{config.get('warmup')}-step warm-up then cosine to a tenth; weight decay {config.get('weight_decay')}; "
            f"dropout {config.get('dropout')}; bfloat16 autocast {'on' if config.get('bf16') else 'off'}).",
            "- The write-up's curriculum: the first 1/8 of every game for the first 10% of the steps, then 1/4 "
            "(15%), 1/2 (25%), whole games for the last half." if config.get("curriculum") else
            "- No curriculum: whole games throughout.",
            "- Each game drawn is reflected left-right (files a-i) with probability 1/2: xiangqi is symmetric under "
            "that reflection, so the mirror image is an equally legal game with the same result."
            if config.get("mirror") else "- No mirroring.",
            f"- Time: {training['wall_minutes']:.1f} wall minutes, {training['cpu_minutes']:.1f} CPU minutes, "
            f"{training['threads']} torch thread(s), {training['processes']} process(es).",
            f"- Held-out next-move loss {training.get('val_loss', float('nan')):.3f}, top-1 agreement with the "
            f"engine's played move {_pct(training.get('val_accuracy'))}.",
        ]
        if training.get("command"):
            lines.append(f"- Command: `{training['command']}`")
        for stage in training.get("continued", []):
            lines.append(_continued(stage))
        for note in training.get("notes", []):
            lines.append(f"- {note}")
    lines += ["", "## Evaluation", ""]
    if metrics:
        lines.append(f"Measured with `{metrics.get('command', 'python -m playground eval xiangqi --write-card')}`.")
        legality = metrics.get("legality")
        if legality:
            lines += ["", f"- Raw legality: on {legality['positions']:,} positions from held-out games, the model's "
                          f"own top move over the whole vocabulary is legal in {_pct(legality['raw_legal'])} of them. "
                          f"Its top move equals the move played there in {_pct(legality['top1_played'])}; its top "
                          f"legal move in {_pct(legality['top1_legal_played'])}."]
        if metrics.get("matches"):
            lines += ["", "Matches: colour-swapped pairs from random 4-ply openings (each opening played with the "
                          "model as red and as black), temperature 0, move cap 300 plies.", "",
                      "| opponent | games | wins | draws | losses | score | mean plies |", "|---|---|---|---|---|---|---|"]
            for m in metrics["matches"]:
                lines.append(f"| {m['opponent']} | {m['games']} | {m['win']} | {m['draw']} | {m['loss']} "
                             f"| {m['score']:.3f} | {m['mean_plies']} |")
        if metrics.get("bench"):
            lines += ["", f"- Reply time (warm, this 2-core CPU): {metrics['bench']}"]
    else:
        lines.append("Not measured yet: run `python -m playground eval xiangqi --write-card`.")
    lines += ["", "## Files", "", "`loss.csv`: step, training loss, learning rate, share of each game seen (the "
              "curriculum), minutes, held-out loss and top-1 agreement, and the legal-move term where it was on (a "
              "continued run's rows count on from the earlier run's steps and minutes). `training.json`: the training "
              "record this card is written from.", ""]
    return "\n".join(lines)


def write_card(folder: Path) -> Path:
    path = Path(folder) / "README.md"
    path.write_text(render(folder))
    return path

"""The model card (README.md) of the xiangqi GPT folder, written from measured records only:
``training.json`` (the export), ``data.json`` (the self-play record) and ``metrics.json``
(``python -m playground eval xiangqi --write-card``), whichever exist."""

from __future__ import annotations

from pathlib import Path

from ..checkpoints import hub_metadata, read_json

DEFAULT_WHY = {  # why the default search (api.DEFAULT_SEARCH) is the default, from the matches below
    "none": "the policy alone.",
    "1-ply": "it scores far higher against the random mover (below) than the policy alone, within the 300 ms "
             "reply budget.",
    "2-ply": "the strongest of the three against every opponent below, within the 300 ms reply budget.",
}


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
        *hub_metadata("transformers", ["xiangqi", "chinese-chess", "gpt2", "fairy-stockfish"],
                      pipeline_tag="text-generation"),
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


def _match_table(matches: list[dict]) -> list[str]:
    lines = ["| opponent | search | games | wins | draws | losses | score (95% interval) | mean plies | how the games ended |",
             "|---|---|---|---|---|---|---|---|---|"]
    for m in matches:
        ci = f" ± {m['ci95']:.3f}" if "ci95" in m else ""
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(m.get("reasons", {}).items(), key=lambda kv: -kv[1]))
        lines.append(f"| {m['opponent']} | {m.get('search', 'none')} | {m['games']} | {m['win']} | {m['draw']} "
                     f"| {m['loss']} | {m['score']:.3f}{ci} | {m['mean_plies']} | {reasons} |")
    return lines


def _stages(earlier: dict) -> list[dict]:
    """The earlier stages of a continued run, first first: each record may hold the one before it."""
    chain = []
    while isinstance(earlier, dict) and earlier:
        chain.insert(0, earlier)
        earlier = earlier.get("earlier")
    return chain


def _precision(training: dict, config: dict) -> str:
    """What the run computed in: the loop records it (``precision``); older records only say what was asked."""
    used = training.get("precision", "bf16" if config.get("bf16") else "no")
    if used == "bf16":
        return "bfloat16 autocast"
    return ("float32: bfloat16 autocast was asked for, but this CPU has no native bfloat16, where it is slower"
            if config.get("bf16") else "float32")


BOARD_TEXT = ("the 90 points as the side to move sees them (black turned upside down, colours swapped), embedded as "
              "a sum of piece-square vectors and added to the move token at every position")


def render_board_model(folder: Path) -> str:
    """The card of the board-aware GPT (``--objective scores``)."""
    from .api import DEFAULT_SEARCH

    folder = Path(folder)
    training, data = read_json(folder / "training.json"), read_json(folder / "data.json")
    metrics, model = read_json(folder / "metrics.json"), read_json(folder / "config.json")
    ablation, baseline = read_json(folder / "ablation.json"), read_json(folder / "baseline.json")
    config = training.get("config", {})
    lines = [
        *hub_metadata("transformers", ["xiangqi", "chinese-chess", "gpt2", "fairy-stockfish"]), "",
        "# A GPT that sees the board and plays Chinese chess (xiangqi)", "",
        "A GPT over the game's moves, one token per move, after the write-up \"GPT meets Chinese chess\" (kexue.fm "
        "7877), that ranks the legal moves as the write-up plays. What it adds: at every position it also sees the "
        "board, and it learned from Fairy-Stockfish's scores for every legal move, the exact legal set and the "
        "engine's evaluation (a value head), not only from the moves played. `AutoModel` loads this folder once "
        "`playground.xiangqi.modeling` is imported (it registers the config and model classes; no "
        "`trust_remote_code`): `import playground.xiangqi.modeling; AutoModel.from_pretrained(folder)`.", "",
        "## Model", "",
        f"- `XiangqiGPT` (`playground/xiangqi/modeling.py`): a GPT-2 of {model.get('n_layer')} layers, width "
        f"{model.get('n_embd')}, {model.get('n_head')} heads, context {model.get('n_positions')}, vocabulary "
        f"{model.get('vocab_size')} move tokens and specials ({training.get('parameters', 0) / 1e6:.2f} M parameters; "
        "float16 weights in shards under 9 MB).",
        f"- The board: {BOARD_TEXT if model.get('board') == 'pieces' else 'not seen (move-only)'}.",
        "- Heads: a policy over the move vocabulary in the side to move's frame (turned back to ICCS when black "
        "moves), and a value head: the logit of the side to move's expected score.",
        "- Playing: `choose_move(..., search=\"none\")` plays the most likely legal move; `search=\"1-ply\"` "
        "scores each legal move by the value head at the position it leads to (one batch over the cached game; a "
        "move that leaves the opponent no legal move wins); `search=\"2-ply\"` answers the 8 best of those with "
        "every opponent reply and scores each by its worst reply's value (a reply that mates scores 0), so it "
        "sees a piece left hanging or a mate in one. "
        f"The default is `{DEFAULT_SEARCH}`: {DEFAULT_WHY[DEFAULT_SEARCH]}", "",
        "## Data", "",
    ]
    for record in data.get("folders", [data] if data else []):
        c = record.get("config", {})
        if "model" in c:  # DAgger games (scored.DaggerConfig)
            lines.append(
                f"- {record.get('played', 0):,} DAgger games (`{record.get('folder', '')}`): the model `{c.get('model')}` "
                f"itself (temperature {c.get('temperature')}, its default search) against {c.get('opponents')} (one per "
                f"game, colours drawn, {c.get('opening_plies')} random opening plies), every position then scored at "
                f"depth {c.get('depth')}, so it learns what to play where its own play leads. "
                f"{record.get('core_minutes', 0):.0f} core-minutes; command: `{record.get('command', '')}`")
        else:
            lines.append(
                f"- {record.get('played', 0):,} engine games (`{record.get('folder', 'data')}`, seed {c.get('seed')}), "
                f"each position with every legal move scored by Fairy-Stockfish at depth {c.get('depth')} (MultiPV over "
                f"all moves). Players: both sides the engine (softmax over its scores at {c.get('temperature')} cp, "
                f"{c.get('opening_temperature')} cp for the first {c.get('min_opening')}-{c.get('max_opening')} plies) in "
                f"{100 * (1 - c.get('noisy_share', 0) - c.get('random_share', 0)):.0f}% of games; one side noisy (a "
                f"random move with probability {c.get('min_eps')}-{c.get('max_eps')}) in "
                f"{100 * c.get('noisy_share', 0):.0f}%; one side uniformly random in {100 * c.get('random_share', 0):.0f}%. "
                f"{record.get('core_minutes', 0):.0f} core-minutes; command (runs append): `{record.get('command', '')}`")
    if training:
        lines.append(f"- This run trained on {training.get('train_games', 0):,} games ({training.get('train_positions', 0):,} "
                     "positions); about 5% of the engine games are held out by a hash of the moves, and the held-out "
                     "figures below are on them.")
    earlier = training.get("earlier", {}) if training else {}
    chain = _stages(earlier)
    for i, stage in enumerate(chain):
        d = stage.get("data")
        if isinstance(d, dict):  # a snapshot's record carries its data's summary
            lines.append(f"- Stage {i + 1} (below) trained on {d['games']:,} other engine games ({d['train_positions']:,} "
                         f"positions; seed {d['seed']}, depth {d['depth']}, {d['core_minutes']:.0f} core-minutes): "
                         f"`{d['command']}`")
        else:  # an exported model's record: its data.json travels as data_record
            records = stage.get("data_record", {}).get("folders", [])
            lines.append(f"- Stage {i + 1} (below) trained on {stage.get('train_games', 0):,} games "
                         f"({stage.get('train_positions', 0):,} positions) from `{d}`"
                         + "".join(f"; `{r.get('command', '')}` ({r.get('core_minutes', 0):.0f} core-minutes)"
                                   for r in records) + ".")
    if ablation:
        lines += ["", "## Recipe study", "",
                  f"Each configuration trained for the same budget ({ablation['rows'][0].get('step')} steps of "
                  f"{ablation['base'].get('batch_size')} games, {ablation['base'].get('size')} size), scored on the "
                  "held-out games (`python -m playground sweep xiangqi`):", "",
                  "| run | board | soft weight | best weight | held-out soft loss | top-1 = engine's best | raw legality | value loss | minutes |",
                  "|---|---|---|---|---|---|---|---|---|"]
        for r in ablation["rows"]:
            lines.append(f"| {r['name']} | {r['board']} | {r['soft_weight']:g} | {r['best_weight']:g} | "
                         f"{r['val_soft']:.3f} | {_pct(r['val_top1'])} | {_pct(r['val_raw_legal'])} | "
                         f"{r['val_value']:.3f} | {r['wall_minutes']:.1f} |")
        for note in ablation.get("notes", []):
            lines += ["", note]
    lines += ["", "## Training", ""]
    for i, stage in enumerate(chain):
        c = stage.get("config", {})
        v = stage.get("val") or {k: stage.get(k) for k in ("val_soft", "val_top1", "val_raw_legal")}
        start = "continued from the stage above" if i else "from scratch"
        if "of_steps" in stage:  # a snapshot: the run was stopped before its planned steps
            plan = (f"cosine planned over {stage['of_steps']:,} steps and stopped when the held-out loss flattened "
                    "while the training loss kept falling: more data was worth more than more steps")
        else:
            plan = "cosine to a tenth"
        lines.append(
            f"- Stage {i + 1}: {stage.get('step', 0):,} steps of {c.get('batch_size')} games {start} (peak rate "
            f"{c.get('lr'):g}, {c.get('warmup')}-step warm-up, {plan}); {stage.get('wall_minutes', 0):.1f} wall "
            f"minutes, {stage.get('cpu_minutes', 0):.0f} CPU minutes. Held-out then: soft loss "
            f"{v.get('val_soft') or float('nan'):.3f}, top-1 = engine's best {_pct(v.get('val_top1'))}, raw legality "
            f"{_pct(v.get('val_raw_legal'))}. Command: `{stage.get('command', '')}`")
    if chain:
        dagger = any("model" in r.get("config", {}) for r in data.get("folders", [data] if data else []))
        lines.append(f"- Stage {len(chain) + 1} (this run) continued from its weights (`--init-from`), with new "
                     "engine games" + (" and the DAgger games:" if dagger else ":"))
    if training:
        lines += [
            f"- {training['step']:,} steps of {config.get('batch_size')} games (AdamW, peak rate {config.get('lr'):g}, "
            f"{config.get('warmup')}-step warm-up then cosine to a tenth; weight decay {config.get('weight_decay')}; "
            f"dropout {config.get('dropout')}; {_precision(training, config)}); games reflected left-right with "
            "probability 1/2.",
            f"- Loss per position: {config.get('soft_weight'):g} x soft policy (softmax of the move scores at "
            f"{config.get('temperature'):g} cp) + {config.get('best_weight'):g} x best move + "
            f"{config.get('legal_weight'):g} x legal mass + {config.get('value_weight'):g} x value (binary "
            "cross-entropy to the engine's evaluation as an expected score; mated positions 0).",
            f"- Time: {training['wall_minutes']:.1f} wall minutes, {training['cpu_minutes']:.1f} CPU minutes, "
            f"{training['threads']} torch thread(s). Held-out: soft loss {training.get('val_soft', float('nan')):.3f}, "
            f"top-1 = engine's best {_pct(training.get('val_top1'))}, raw legality {_pct(training.get('val_raw_legal'))}.",
        ]
        if training.get("command"):
            lines.append(f"- Command: `{training['command']}`")
        for note in training.get("notes", []):
            lines.append(f"- {note}")
        data_minutes = sum(r.get("core_minutes", 0) for r in data.get("folders", [data] if data else []))
        for stage in chain:
            d = stage.get("data")
            data_minutes += (d.get("core_minutes", 0) if isinstance(d, dict) else
                             sum(r.get("core_minutes", 0) for r in stage.get("data_record", {}).get("folders", [])))
        train_minutes = training.get("cpu_minutes", 0) + sum(stage.get("cpu_minutes", 0) for stage in chain)
        lines.append(f"- Budget, all stages: data {data_minutes:.0f} core-minutes + training {train_minutes:.0f} CPU "
                     f"minutes = {(data_minutes + train_minutes) / 60:.1f} CPU-hours.")
    lines += ["", "## Evaluation", ""]
    if metrics:
        lines.append(f"Measured with `{metrics.get('command')}`.")
        legality = metrics.get("legality")
        if legality:
            lines += ["", f"- Raw legality: on {legality['positions']:,} held-out positions the model's own top move "
                          f"over the whole vocabulary is legal in {_pct(legality['raw_legal'])}."]
        if metrics.get("matches"):
            lines += ["", "Matches: colour-swapped pairs from random 4-ply openings, temperature 0, move cap 300.", ""]
            lines += _match_table(metrics["matches"])
        if metrics.get("bench"):
            lines += ["", f"- Reply time (warm, this 2-core CPU): {metrics['bench']}"]
    else:
        lines.append("Not measured yet: run `python -m playground eval xiangqi --write-card`.")
    if baseline:
        lines += ["", "## Baseline: the write-up's move-only GPT", "",
                  f"The model this one replaced (`{baseline.get('command')}`): raw legality "
                  f"{_pct(baseline.get('legality', {}).get('raw_legal'))}.", ""]
        lines += _match_table(baseline.get("matches", []))
        for note in baseline.get("notes", []):
            lines += ["", note]
    lines += ["", "## Files", "", "`loss.csv`: step, loss and its four terms, top-1 agreement and raw legality of "
              "the batch, learning rate, minutes, and the held-out figures where measured. `training.json`: the "
              "training record this card is written from; `data.json`: the data record; `ablation.json`: the recipe "
              "study.", ""]
    return "\n".join(lines)


def write_card(folder: Path) -> Path:
    path = Path(folder) / "README.md"
    board_model = read_json(Path(folder) / "config.json").get("model_type") == "xiangqi-gpt"
    path.write_text(render_board_model(folder) if board_model else render(folder))
    return path

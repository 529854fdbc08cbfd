"""Xiangqi tab: the move vocabulary, self-play data, training plus resume, the export, and the
playing API on a tiny model trained here."""

import csv
import itertools
import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from playground.data import load_xiangqi_games
from playground.xiangqi import api, rules, selfplay
from playground.xiangqi.engine import Engine, EngineMissing
from playground.xiangqi.models import SPECIALS, Vocab, build_tokenizer, mirror_move, move_vocabulary
from playground.xiangqi.train import TrainConfig, make_batch, prefix_share, train

ROOT = Path(__file__).resolve().parent.parent
TINY = {"size": "tiny", "batch_size": 4, "warmup": 2}


def _random_game(rng: random.Random, plies: int = 200) -> list[str]:
    moves: list[str] = []
    while len(moves) < plies and rules.state(moves)["result"] is None:
        moves.append(rng.choice(rules.legal_moves(moves)))
    return moves


def test_the_move_vocabulary_holds_every_legal_move_of_random_games():
    vocab = set(move_vocabulary())
    assert len(vocab) == 2238 and len(set(SPECIALS) & vocab) == 0
    rng = random.Random(0)
    seen = 0
    for _ in range(8):
        game = rules.Tracker()
        while len(game.moves) < 150 and game.state() is None:
            legal = game.legal_moves()
            assert set(legal) <= vocab, set(legal) - vocab
            seen += len(legal)
            game.push(rng.choice(legal))
    assert seen > 3000


def test_the_tokenizer_saves_and_loads_with_auto_tokenizer(tmp_path):
    from transformers import AutoTokenizer

    build_tokenizer().save_pretrained(tmp_path)
    tok = AutoTokenizer.from_pretrained(tmp_path)
    ids = tok("<red> h2e2 h9g7")["input_ids"]
    assert len(ids) == 3 and tok.convert_ids_to_tokens(ids) == ["<red>", "h2e2", "h9g7"]
    vocab = Vocab(tok)
    assert vocab.encode(["h2e2"], "0-1") == [vocab.ids["<black>"], vocab.ids["h2e2"]]
    with pytest.raises(ValueError, match="not a move"):
        vocab.encode(["a0i9"])


def test_a_mirrored_game_is_legal_and_ends_the_same_way():
    vocab = Vocab(build_tokenizer())
    table = vocab.mirror_table()
    assert all(table[table[i]] == i for i in range(len(table)))  # an involution
    assert mirror_move("h2e2") == "b2e2" and mirror_move("e0e1") == "e0e1"
    rng = random.Random(1)
    for _ in range(3):
        moves = _random_game(rng, plies=120)
        ids = vocab.encode(moves, "1-0")
        mirrored = [vocab.tokens[table[i]] for i in ids]
        assert mirrored[0] == "<red>" and mirrored[1:] == [mirror_move(m) for m in moves]
        assert rules.state(mirrored[1:])["result"] == rules.state(moves)["result"]  # pyffish accepts every move


def test_curriculum_and_batches():
    config = TrainConfig(steps=100)
    assert [prefix_share(config, s) for s in (0, 9, 10, 24, 25, 49, 50, 99)] == \
        [1 / 8, 1 / 8, 1 / 4, 1 / 4, 1 / 2, 1 / 2, 1.0, 1.0]
    ids, mask, labels = make_batch([[2, 10, 11, 12, 13, 14, 15, 16, 17], [3, 20]], 1 / 4, pad=0)
    assert ids.tolist() == [[2, 10, 11], [3, 20, 0]]  # the result token, then ceil(8/4) moves / at least one
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0]] and labels[1, 2] == -100


@pytest.fixture(scope="module")
def games(tmp_path_factory):
    """A handful of real self-play games (depth 1-2, one engine)."""
    out = tmp_path_factory.mktemp("games")
    config = selfplay.SelfPlayConfig(min_depth=1, max_depth=2, min_opening=2, max_opening=4)
    summary = selfplay.generate(out, 6, config, workers=1, chunk=3, progress=False)
    assert summary["kept"] + summary["duplicates"] == 6
    return out


def test_self_play_writes_legal_varied_games(games):
    records = load_xiangqi_games(games / "train.jsonl") + load_xiangqi_games(games / "val.jsonl")
    assert len(records) >= 5 and len({" ".join(g["moves"]) for g in records}) == len(records)
    for g in records:
        moves = rules.parse_history(g["moves"])  # every move legal
        st = rules.state(moves)
        assert st["result"] == g["result"] and g["plies"] == len(moves)
        assert 1 <= min(g["depths"]) and max(g["depths"]) <= 2
    meta = json.loads((games / "meta.json").read_text())
    assert meta["played"] == 6 and meta["next_seed"] == 6 and meta["config"]["max_depth"] == 2


def test_self_play_continues_without_replaying_seeds(tmp_path):
    config = selfplay.SelfPlayConfig(min_depth=1, max_depth=1, min_opening=2, max_opening=2)
    selfplay.generate(tmp_path, 2, config, workers=1, progress=False)
    selfplay.generate(tmp_path, 2, config, workers=1, progress=False)
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["played"] == 4 and meta["next_seed"] == 4
    seeds = [g["seed"] for name in ("train.jsonl", "val.jsonl") for g in load_xiangqi_games(tmp_path / name)]
    assert sorted(seeds) == sorted(set(seeds))
    with pytest.raises(ValueError, match="another configuration"):
        selfplay.generate(tmp_path, 1, selfplay.SelfPlayConfig(min_depth=2, max_depth=2), workers=1, progress=False)


def test_import_checks_every_move(tmp_path):
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"moves": "h2e2 h9g7 h0g2", "result": None}) + "\n")
    assert selfplay.import_games(good, tmp_path / "data")["imported"] == 1
    assert selfplay.import_games(good, tmp_path / "data")["duplicates"] == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"moves": "h2e2 h2e2"}) + "\n")
    with pytest.raises(ValueError, match="game 1"):
        selfplay.import_games(bad, tmp_path / "data")
    broken = tmp_path / "broken.jsonl"
    broken.write_text("not json\n")
    with pytest.raises(ValueError, match="broken.jsonl:1"):
        load_xiangqi_games(broken)


def test_the_engine_answers_and_a_missing_engine_says_how_to_install(monkeypatch):
    with Engine() as engine:
        lines = engine.analyse(["h2e2"], depth=2, multipv=3)
        assert 1 <= len(lines) <= 3 and all(line.move in rules.legal_moves(["h2e2"]) for line in lines)
    monkeypatch.setenv("FAIRY_STOCKFISH", "/nonexistent/fairy-stockfish")
    with pytest.raises(EngineMissing, match="apt-get install fairy-stockfish"):
        Engine()


def _state(path):
    return torch.load(path / "state.pt", weights_only=True)


@pytest.fixture(scope="module")
def tiny_model(games, tmp_path_factory):
    root = tmp_path_factory.mktemp("xq")
    config = TrainConfig(steps=6, seed=1, **TINY)
    summary = train(config, root / "run", data_dir=games, export_dir=root / "export", progress=False, log_every=1,
                    eval_every=3)
    assert summary["finished"] and summary["step"] == 6
    return root, config


def test_few_steps_then_resume_matches_straight_run(games, tmp_path):
    # the learning rate and the curriculum follow --steps, so hold both fixed over the 6 steps
    # (warm-up longer than the run, whole games) and the split run matches the straight one
    fixed = dict(TINY, warmup=10, curriculum=False, seed=1)
    config = TrainConfig(steps=6, **fixed)
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert train(config, straight, data_dir=games, progress=False, log_every=1)["step"] == 6
    assert train(TrainConfig(steps=3, **fixed), split, data_dir=games, progress=False, log_every=1)["step"] == 3
    assert train(config, split, data_dir=games, progress=False, log_every=1)["step"] == 6
    a, b = _state(straight), _state(split)
    for key in a["model"]:
        assert torch.allclose(a["model"][key].float(), b["model"][key].float(), atol=1e-5), key
    with open(split / "loss.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[2]["val_loss"] and float(rows[2]["val_accuracy"]) >= 0  # evaluated every 3 steps
    with pytest.raises(ValueError, match="different configuration"):
        train(TrainConfig(steps=6, seed=1, size="tiny", batch_size=8), split, data_dir=games, progress=False)


def test_the_export_loads_with_auto_classes(tiny_model):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    export = tiny_model[0] / "export"
    assert {"config.json", "tokenizer.json", "README.md", "loss.csv", "training.json", "data.json"} <= \
        {p.name for p in export.iterdir()}
    assert list(export.glob("*.safetensors")) and not list(export.glob("*.bin"))
    model = AutoModelForCausalLM.from_pretrained(export)
    tok = AutoTokenizer.from_pretrained(export)
    logits = model(**tok("<red> h2e2", return_tensors="pt")).logits
    assert logits.shape == (1, 2, len(tok))
    card = (export / "README.md").read_text()
    assert "library_name: transformers" in card and "6 steps of 4 games" in card


def test_choose_move_is_always_legal_and_seeded(tiny_model):
    folder = tiny_model[0] / "export"
    rng = random.Random(1)
    for _ in range(5):
        history = _random_game(rng, plies=rng.randint(0, 40))
        if rules.state(history)["result"] is not None:
            continue
        legal = rules.legal_moves(history)
        assert api.choose_move(history, model=folder) in legal
        assert api.choose_move(history, temperature=1.0, seed=3, model=folder) == \
            api.choose_move(history, temperature=1.0, seed=3, model=folder)
        raw = api.choose_move(history, legal_only=False, model=folder)
        assert raw in move_vocabulary()
        top = api.candidates(history, k=5, model=folder)
        assert len(top) == min(5, len(legal)) and all(m in legal for m, _ in top)
        assert [p for _, p in top] == sorted((p for _, p in top), reverse=True) and sum(p for _, p in top) <= 1.0001


def test_the_logprobs_of_a_batch_equal_those_of_single_games(tiny_model):
    folder = tiny_model[0] / "export"
    histories = [[], ["h2e2"], ["h2e2", "h9g7", "h0g2"]]
    batch = api.next_move_logprobs(histories, folder)
    for i, h in enumerate(histories):
        assert torch.allclose(batch[i], api.next_move_logprobs([h], folder)[0], atol=1e-4)


def test_one_game_loop_yields_every_ply_and_ends_where_the_rules_say():
    from playground.xiangqi import game

    mate = "h2e2 a9a8 e2e6 a8a9 e3e4 i9i8 e4e5 i8i9 e5d5 a9a8 b2e2".split()  # red mates with two cannons
    script = game.CallbackMover(lambda history: mate[len(history)], "script")
    seen = list(game.plies(script, script, opening=mate[:2]))
    assert [moves for moves, _ in seen] == [mate[:k] for k in range(2, len(mate) + 1)]
    assert all(st is None for _, st in seen[:-1]) and seen[-1][1] == rules.state(mate)
    assert seen[-1][1]["result"] == "1-0" and seen[-1][1]["reason"] == "checkmate"
    assert game.play_out(script, script) == (mate, rules.state(mate))
    # seeded movers replay the same game
    first = list(itertools.islice(game.plies(game.RandomMover(0), game.RandomMover(1)), 21))
    assert first == list(itertools.islice(game.plies(game.RandomMover(0), game.RandomMover(1)), 21))
    assert len(first[-1][0]) == 20 and rules.parse_history(first[-1][0])
    with pytest.raises(ValueError, match="unknown mover"):
        game.mover("alphazero")


def test_a_match_against_the_engine(tiny_model):
    from playground.xiangqi import evaluate

    m = evaluate.match("depth:1", pairs=1, opening_plies=2, seed=0, folder=tiny_model[0] / "export", progress=False)
    assert m["opponent"] == "fairy-stockfish depth 1" and m["games"] == 2 and m["win"] + m["draw"] + m["loss"] == 2
    assert sum(m["reasons"].values()) == 2 and 2 < m["mean_plies"] <= rules.MAX_PLIES


def test_a_match_played_by_two_workers_is_the_same_match(tiny_model):
    from playground.xiangqi import evaluate

    folder = tiny_model[0] / "export"
    one = evaluate.match("depth:1", pairs=2, opening_plies=2, seed=3, folder=folder, progress=False)
    two = evaluate.match("depth:1", pairs=2, opening_plies=2, seed=3, folder=folder, progress=False, workers=2)
    drop = ("minutes",)
    assert {k: v for k, v in one.items() if k not in drop} == {k: v for k, v in two.items() if k not in drop}
    assert one["games"] == 4


@pytest.mark.parametrize("kwargs, match", [
    ({"history": "h2e2 h2e2"}, "ply 2"),
    ({"history": "h2e9"}, "ply 1"),
    ({"history": "zz"}, "ply 1"),
    ({"history": 42}, "history"),
    ({"history": "", "temperature": float("nan")}, "temperature"),
    ({"history": "", "temperature": -1}, "temperature"),
    ({"history": "", "legal_only": "yes"}, "legal_only"),
])
def test_bad_input_gives_a_clear_error(tiny_model, kwargs, match):
    with pytest.raises(ValueError, match=match):
        api.choose_move(model=tiny_model[0] / "export", **kwargs)


def test_k_is_checked(tiny_model):
    for k in (0, 51, 2.5, None):
        with pytest.raises(ValueError, match="k must be"):
            api.candidates([], k=k, model=tiny_model[0] / "export")


def test_legal_targets_match_the_rules_and_the_legal_term_behaves():
    from playground.xiangqi.models import Vocab, build_tokenizer
    from playground.xiangqi.train import legal_loss, legal_targets, make_batch

    vocab = Vocab(build_tokenizer())
    games = [vocab.encode("h2e2 h9g7 h0g2".split(), "1-0"), vocab.encode("c3c4 b9c7".split(), "0-1")]
    ids, mask, _ = make_batch(games, 1.0, vocab.pad)
    torch.manual_seed(0)
    rows, cols, legal = legal_targets(ids, mask, vocab, 500)
    assert len(rows) == 5 and set(zip(rows.tolist(), cols.tolist())) == {(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)}
    assert len(legal_targets(ids, mask, vocab, 3)[0]) == 3
    for r, c, row in zip(rows.tolist(), cols.tolist(), legal):
        prefix = [vocab.tokens[i] for i in ids[r, 1:c + 1].tolist()]
        assert {vocab.tokens[i] for i in row.nonzero().flatten().tolist()} == set(rules.legal_moves(prefix))
    # all the mass on legal moves: ~0; uniform over the vocabulary: log(V / legal)
    logits = torch.zeros(2, ids.shape[1], len(vocab.ids))
    uniform = legal_loss(logits, rows, cols, legal)
    expected = (torch.log(torch.tensor(float(len(vocab.ids)))) - torch.log(legal.sum(1).float())).mean()
    assert torch.isclose(uniform, expected, atol=1e-5)
    logits[rows, cols] = torch.where(legal, 0.0, -1e4)
    assert legal_loss(logits, rows, cols, legal) < 1e-3


def test_legal_term_trains_and_init_from_starts_at_the_saved_weights(games, tiny_model, tmp_path):
    import csv as csv_module

    root, base = tiny_model
    config = TrainConfig(steps=2, seed=1, legal_weight=1.0, legal_positions=8, init_from=str(root / "export"),
                         curriculum=False, **TINY)
    # before any step the model equals the exported one
    from transformers import GPT2LMHeadModel

    from playground.xiangqi.models import build_tokenizer, make_model
    from playground.xiangqi.train import load_initial_weights

    fresh = make_model("tiny", vocab_size=len(build_tokenizer()))
    load_initial_weights(fresh, root / "export", build_tokenizer())
    saved = GPT2LMHeadModel.from_pretrained(root / "export")
    for key, value in saved.state_dict().items():
        assert torch.allclose(fresh.state_dict()[key], value.float()), key
    summary = train(config, tmp_path / "run", data_dir=games, export_dir=tmp_path / "export", progress=False,
                    log_every=1)
    assert summary["finished"]
    with open(tmp_path / "run" / "loss.csv") as f:
        rows = list(csv_module.DictReader(f))
    assert all(float(r["legal_loss"]) > 0 for r in rows)
    # the export carries the whole history: the first run's record and loss log, then this one's
    record = json.loads((tmp_path / "export" / "training.json").read_text())
    assert record["step"] == 6 and [c["step"] for c in record["continued"]] == [2]
    with open(tmp_path / "export" / "loss.csv") as f:
        merged = list(csv_module.DictReader(f))
    assert [int(r["step"]) for r in merged] == [1, 2, 3, 4, 5, 6, 7, 8] and merged[-1]["legal_loss"]
    card = (tmp_path / "export" / "README.md").read_text()
    assert "Then continued (`--init-from`) for 2 steps" in card and "legal-move term" in card
    with pytest.raises(ValueError, match="no saved model"):
        load_initial_weights(fresh, tmp_path / "nowhere", build_tokenizer())
    with pytest.raises(ValueError, match="legal_weight"):
        TrainConfig(legal_weight=-1)
    with pytest.raises(ValueError, match="not the"):
        load_initial_weights(make_model("small", vocab_size=len(build_tokenizer())), root / "export", build_tokenizer())


def test_train_from_the_command_line(games, tmp_path):
    cmd = [sys.executable, "-m", "playground", "train", "xiangqi", "--size", "tiny", "--steps", "2", "--batch-size",
           "2", "--data-dir", str(games), "--out", str(tmp_path / "run"), "--no-progress", "--threads", "1"]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["step"] == 2
    bad_cmd = [str(tmp_path / "nowhere") if arg == str(games) else arg for arg in cmd]
    bad = subprocess.run(bad_cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert bad.returncode == 2 and "playground data xiangqi" in bad.stderr

"""The board-aware xiangqi GPT: board encoding, engine-scored data, targets, saving through the Auto classes."""

import json
import random

import numpy as np
import pyffish as sf
import pytest
import torch

from playground.xiangqi import position, rules
from playground.xiangqi.engine import MATE, available

needs_engine = pytest.mark.skipif(not available(), reason="Fairy-Stockfish is not installed")


def _random_game(seed: int, plies: int = 80) -> list[str]:
    rng, game = random.Random(seed), rules.Tracker()
    for _ in range(plies):
        legal = game.legal_moves()
        if not legal or game.state() is not None:
            break
        game.push(rng.choice(legal))
    return game.moves


@pytest.mark.parametrize("seed", range(6))
def test_board_encoding_matches_pyffish_for_both_colours_and_mirrored(seed):
    moves = _random_game(seed)
    boards = position.game_boards(moves)
    assert boards.shape == (len(moves) + 1, 90)
    for ply in range(len(moves) + 1):
        fen = sf.get_fen(rules.VARIANT, rules.START_FEN, [rules.iccs_to_uci(m) for m in moves[:ply]])
        assert (position.board_from_fen(fen) == boards[ply]).all(), ply
        # the side to move always has its king on its own side of the river, on ranks 0-2
        king = int(np.flatnonzero(boards[ply] == 1)[0])
        assert king // 9 <= 2
    # left-right mirror: the mirrored game replayed gives the mirrored boards
    from playground.xiangqi.models import mirror_move

    mirrored = position.game_boards([mirror_move(m) for m in moves])
    assert (mirrored == position.mirror_boards(boards)).all()


def test_flip_move_is_an_involution_on_the_vocabulary():
    from playground.xiangqi.models import move_vocabulary

    vocab = set(move_vocabulary())
    assert all(position.flip_move(m) in vocab and position.flip_move(position.flip_move(m)) == m for m in vocab)


def _scored_game(moves: list[str]) -> dict:
    """A game in the scored format with made-up scores over pyffish's legal moves (best first)."""
    scores = []
    for ply in range(len(moves)):
        legal = sorted(rules.legal_after(moves[:ply]))
        played = moves[ply]
        ranked = [played] + [m for m in legal if m != played]
        scores.append(" ".join(f"{m}:{100 - 10 * i}" for i, m in enumerate(ranked)))
    st = rules.state(moves)
    return {"moves": " ".join(moves), "result": st["result"], "reason": st["reason"], "plies": len(moves),
            "scores": scores}


def test_targets_follow_the_rules(tmp_path):
    """Legal sets in the batch are exactly pyffish's (in the side to move's frame), the best move
    comes first, value targets come from the scores, and a checkmated final position is a loss."""
    from playground.xiangqi.models import Vocab, build_tokenizer
    from playground.xiangqi.scored import value_of
    from playground.xiangqi.train_scored import ScoredGames, make_batch

    games = [_random_game(1, 30), _random_game(2, 31)]
    records = [_scored_game(g) for g in games]
    records[1]["reason"] = "checkmate"  # as if the side to move after the last move were mated
    path = tmp_path / "games.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    vocab = Vocab(build_tokenizer())
    data = ScoredGames(path, vocab)
    assert len(data) == 2 and data.positions == 61
    mirror = np.array(vocab.mirror_table())
    batch = make_batch(data, [0, 1], [False, True], mirror, vocab.pad)
    from playground.xiangqi.models import mirror_move

    for k, (r, c) in enumerate(zip(batch["rows"].tolist(), batch["cols"].tolist())):
        legal = set(rules.legal_after(games[r][:c]))
        if r == 1:  # mirrored
            legal = {mirror_move(m) for m in legal}
        if c % 2:  # black to move: the frame is turned upside down
            legal = {position.flip_move(m) for m in legal}
        got = {vocab.tokens[i] for i, cp in zip(batch["legal"][k].tolist(), batch["cp"][k].tolist()) if cp > -1e9}
        assert got == legal, (r, c)
        assert batch["cp"][k, 0] == 100 and abs(batch["values"][k].item() - value_of(100)) < 1e-6
    assert value_of(MATE - 3) == 1.0 and value_of(-(MATE - 3)) == 0.0 and abs(value_of(0) - 0.5) < 1e-9
    # the decided final position: a value target of 0 for the side to move, no policy target
    finals = [(r, c, v) for r, c, v in zip(batch["vrows"].tolist(), batch["vcols"].tolist(), batch["values"].tolist())
              if c == len(games[r])]
    assert finals == [(1, 31, 0.0)] and data.final == [None, 0.0]


@needs_engine
def test_scored_data_generation_resumes_and_appends(tmp_path):
    from playground.xiangqi.scored import ScoredConfig, parse_scores
    from playground.xiangqi.selfplay import generate

    config = ScoredConfig(depth=1, max_opening=4)
    generate(tmp_path, 2, config, workers=1, progress=False)
    generate(tmp_path, 2, config, workers=1, progress=False)
    lines = [json.loads(line) for name in ("train.jsonl", "val.jsonl") if (tmp_path / name).exists()
             for line in open(tmp_path / name)]
    meta = json.loads((tmp_path / "meta.json").read_text())
    assert meta["next_seed"] == 4 and meta["played"] == 4 and len(lines) == 4
    game = lines[0]
    moves = game["moves"].split()
    for ply in (0, len(game["scores"]) // 2, len(game["scores"]) - 1):
        scored = parse_scores(game["scores"][ply])
        assert {m for m, _ in scored} == set(rules.legal_after(moves[:ply]))  # every legal move, nothing else
        assert [cp for _, cp in scored] == sorted((cp for _, cp in scored), reverse=True)
    with pytest.raises(ValueError, match="another configuration"):
        generate(tmp_path, 1, ScoredConfig(depth=2), workers=1, progress=False)


def test_board_model_saves_and_loads_through_the_auto_classes(tmp_path):
    from transformers import AutoConfig, AutoModel

    from playground.xiangqi.train_scored import make_board_model

    model = make_board_model("tiny", 2244).eval()
    model.save_pretrained(tmp_path, max_shard_size="9MB")
    assert AutoConfig.from_pretrained(tmp_path).model_type == "xiangqi-gpt"
    loaded = AutoModel.from_pretrained(tmp_path).eval()
    assert type(loaded).__name__ == "XiangqiGPT"
    ids = torch.randint(0, 2244, (2, 5))
    boards = torch.from_numpy(position.game_boards("h2e2 h9g7 h0g2 i9h9".split())).long()[None].repeat(2, 1, 1)
    a, b = model(ids, boards=boards), loaded(ids, boards=boards)
    assert torch.allclose(a.policy_logits, b.policy_logits) and torch.allclose(a.value_logits, b.value_logits)
    assert a.policy_logits.shape == (2, 5, 2244) and a.value_logits.shape == (2, 5)
    assert not (a.policy_logits[0, 1] == model(ids, boards=torch.zeros_like(boards)).policy_logits[0, 1]).all()


def test_one_ply_lookahead_over_the_cache_equals_one_forward_per_child():
    from playground.xiangqi import policy
    from playground.xiangqi.models import Vocab, build_tokenizer
    from playground.xiangqi.train_scored import make_board_model

    torch.manual_seed(0)
    model = make_board_model("tiny", 2244).eval()
    vocab = Vocab(build_tokenizer())
    history = "h2e2 h9g7 h0g2 i9h9 i0h0".split()  # black to move: the frame is turned
    legal = rules.legal_moves(history)
    with torch.no_grad():
        batched = policy.lookahead(model, vocab, history, legal, "cpu")
        one_by_one = torch.tensor([1 - policy.value(model, vocab, history + [m], "cpu") for m in legal])
        assert torch.allclose(batched, one_by_one, atol=1e-5)
        # the policy comes back in ICCS: for black, the turned frame's entry of the same move
        logp = policy.next_move_logprobs(model, vocab, [history], "cpu")[0]
        ids, mask, boards = policy._inputs([history], vocab, "cpu")
        raw = model(ids, boards=boards, attention_mask=mask).policy_logits[0, -1].float().log_softmax(-1)
        for move in legal[:5]:
            assert torch.isclose(logp[vocab.ids[move]], raw[vocab.ids[position.flip_move(move)]])


def test_a_move_that_mates_scores_one_in_the_lookahead():
    from playground.xiangqi import policy
    from playground.xiangqi.models import Vocab, build_tokenizer
    from playground.xiangqi.train_scored import make_board_model

    game = "b2b5 h7h5 h2d2 h5c5 f0e1 c5c0".split()  # black's cannon mates (a game from the engine data)
    assert rules.state(game)["reason"] == "checkmate"
    before, mate = game[:-1], game[-1]
    model = make_board_model("tiny", 2244).eval()
    legal = rules.legal_moves(before)
    with torch.no_grad():
        ours = policy.lookahead(model, Vocab(build_tokenizer()), before, legal, "cpu")
    assert ours[legal.index(mate)] == 1.0 and (ours[[m != mate for m in legal]] < 1.0).all()


def test_a_move_back_to_an_earlier_position_scores_a_draw_in_the_lookahead():
    """Shuffling (cannon out and back) returns to a position seen before: the search scores it 0.5,
    the repetition draw it heads for, so a winning side makes progress instead (issue 20's draws)."""
    from playground.xiangqi import policy
    from playground.xiangqi.models import Vocab, build_tokenizer
    from playground.xiangqi.train_scored import make_board_model

    history = "h2e2 h9g7 e2h2".split()  # red's cannon went out and came back
    legal = rules.legal_moves(history)
    assert rules.repeats_after(history, legal) == {"g7h9"}  # black's knight back: the start position again
    assert rules.repeats_after("h2e2 h9g7 e2h2 g7h9".split(), ["h2e2", "b2e2", "h0g2"]) == {"h2e2"}
    assert rules.repeats_after(["h2e2", "h9g7"], ["e2e6"]) == set()  # a capture is a new position
    model = make_board_model("tiny", 2244).eval()
    with torch.no_grad():
        ours = policy.lookahead(model, Vocab(build_tokenizer()), history, legal, "cpu")
    assert ours[legal.index("g7h9")] == 0.5 and (ours[[m != "g7h9" for m in legal]] != 0.5).all()


@needs_engine
def test_dagger_data_scores_the_positions_the_model_reaches(tmp_path):
    """Games the model plays (here an untrained tiny board model against a random mover), every
    position scored by the engine; the trainer reads them beside the scored games (--data-dir A,B)."""
    from playground.xiangqi.models import build_tokenizer
    from playground.xiangqi.scored import DaggerConfig, parse_scores
    from playground.xiangqi.selfplay import generate
    from playground.xiangqi.train_scored import make_board_model

    folder = tmp_path / "model"
    make_board_model("tiny", 2244).save_pretrained(folder)
    build_tokenizer().save_pretrained(folder)
    generate(tmp_path / "dagger", 1, DaggerConfig(model=str(folder), opponents="random", depth=1, opening_plies=2),
             workers=1, progress=False)
    games = [json.loads(line) for name in ("train.jsonl", "val.jsonl") if (tmp_path / "dagger" / name).exists()
             for line in open(tmp_path / "dagger" / name)]
    assert len(games) == 1
    game = games[0]
    moves = game["moves"].split()
    assert "model" in game["players"] and "random" in game["players"]
    assert rules.state(moves)["result"] == game["result"] and game["result"] is not None
    assert len(game["scores"]) == len(moves)  # every position before a move, scored
    k = len(moves) // 2
    assert {m for m, _ in parse_scores(game["scores"][k])} == set(rules.legal_after(moves[:k]))


def test_claims_after_finds_the_move_that_repeats_the_position_a_third_time():
    shuffle = "b0c2 b9c7 c2b0 c7b9 b0c2 b9c7 c2b0 c7b9".split()
    before, last = shuffle[:-1], shuffle[-1]
    claims = rules.claims_after(before, rules.legal_moves(before))
    assert set(claims) == {last} and claims[last]["result"] == rules.state(shuffle)["result"] == rules.DRAW
    assert rules.claims_after(shuffle[:3], rules.legal_moves(shuffle[:3])) == {}


@needs_engine
def test_a_continued_run_on_two_data_folders_records_both_stages_in_its_card(tmp_path):
    """Stage 2 of a run: ``--init-from`` a snapshot, engine games plus DAgger games (``--data-dir A,B``).
    The export's data.json keeps every folder's record and the card reports both stages and the budget."""
    from playground.xiangqi.scored import DaggerConfig, ScoredConfig
    from playground.xiangqi.selfplay import generate
    from playground.xiangqi.train import TrainConfig, train
    from playground.xiangqi.train_scored import snapshot

    for name in ("a", "b"):
        folder = tmp_path / name
        generate(folder, 2, ScoredConfig(depth=1, max_opening=4, seed=ord(name)), workers=1, progress=False)
        games = [line for f in ("train.jsonl", "val.jsonl") for line in open(folder / f)]
        (folder / "train.jsonl").write_text(games[0])  # one game each side of the split (a hash decides it)
        (folder / "val.jsonl").write_text(games[1])
    tiny = dict(objective="scores", size="tiny", batch_size=2, warmup=1, lr=1e-3, val_games=1)
    train(TrainConfig(steps=2, **tiny), tmp_path / "run1", data_dir=tmp_path / "a", progress=False, save_every=1)
    snapshot(tmp_path / "run1", tmp_path / "snap")
    generate(tmp_path / "dagger", 1, DaggerConfig(model=str(tmp_path / "snap"), opponents="depth:1", depth=1,
                                                  opening_plies=2), workers=1, progress=False)
    export = tmp_path / "export"
    train(TrainConfig(steps=2, init_from=str(tmp_path / "snap"), **tiny), tmp_path / "run2", export,
          data_dir=f"{tmp_path / 'b'},{tmp_path / 'dagger'}", progress=False)
    data = json.loads((export / "data.json").read_text())
    assert [r["folder"] for r in data["folders"]] == [str(tmp_path / "b"), str(tmp_path / "dagger")]
    assert data["config"]["seed"] == ord("b")  # the first folder's record stays at the top level
    training = json.loads((export / "training.json").read_text())
    assert training["earlier"]["step"] == 2 and training["earlier"]["config"]["size"] == "tiny"
    card = (export / "README.md").read_text()
    assert "Stage 1: 2 steps" in card and "DAgger games" in card and "engine games" in card
    assert "Budget, all stages" in card


@pytest.mark.parametrize("seed", range(3))
def test_in_check_matches_pyffish_for_both_kings(seed):
    """position.in_check (the two-ply search's cheap check test) against pyffish, for the side to
    move and for the side that just moved, along random games."""
    rng, fen, checks = random.Random(seed), rules.START_FEN, 0
    for _ in range(150):
        legal = sf.legal_moves(rules.VARIANT, fen, [])
        if not legal:
            break
        fen = sf.get_fen(rules.VARIANT, fen, [rng.choice(legal)])
        board, red = position.absolute_board(fen.split()[0]), fen.split()[1] == "w"
        expected = sf.gives_check(rules.VARIANT, fen, [])
        checks += expected
        assert position.in_check(board, red) == expected, fen
        assert not position.in_check(board, not red), fen  # the side that moved never stands in check
    assert position.in_check(position.absolute_board("4k4/9/9/9/9/9/9/9/9/4K4"), True)  # the kings face
    assert not position.in_check(position.absolute_board("4k4/9/9/9/4P4/9/9/9/9/4K4"), True)


def test_two_ply_search_takes_the_worst_reply_by_the_value_head_and_sees_a_mate_in_one():
    from playground.xiangqi import policy
    from playground.xiangqi.models import Vocab, build_tokenizer
    from playground.xiangqi.train_scored import make_board_model

    torch.manual_seed(0)
    model = make_board_model("tiny", 2244).eval()
    vocab = Vocab(build_tokenizer())
    history = "h2e2 h9g7 h0g2 i9h9 i0h0".split()
    legal = rules.legal_moves(history)
    with torch.no_grad():
        ours = policy.two_ply(model, vocab, history, legal, "cpu", width=len(legal))
        for k in (0, 7, len(legal) - 1):  # every reply, one forward each: the worst for black
            replies = rules.legal_after(history + [legal[k]])
            worst = min(policy.value(model, vocab, history + [legal[k], r], "cpu") for r in replies)
            assert abs(float(ours[k]) - worst) < 1e-5, legal[k]
        # width 3: the three best by 1-ply searched, the others below the worst of them
        narrow = policy.two_ply(model, vocab, history, legal, "cpu", width=3)
        one_ply = policy.lookahead(model, vocab, history, legal, "cpu")
        searched = torch.argsort(one_ply, descending=True)[:3]
        assert torch.allclose(narrow[searched], ours[searched])
        others = torch.ones(len(legal), dtype=torch.bool)
        others[searched] = False
        assert (narrow[others] < narrow[searched].min()).all()
        # red to move; after f0e1?? black's cannon mates at once (c5c0): that move scores 0
        before = "b2b5 h7h5 h2d2 h5c5".split()
        legal = rules.legal_moves(before)
        ours = policy.two_ply(model, vocab, before, legal, "cpu", width=len(legal))
        assert ours[legal.index("f0e1")] == 0.0
        assert rules.state(before + ["f0e1", "c5c0"])["reason"] == "checkmate"

"""The shipped xiangqi GPT: transformers' Auto classes load the folder as it is (once
``playground.xiangqi.modeling`` has registered its classes), its files fit a Space, its moves are always
legal with ``legal_only=True``, its raw (unconstrained) predictions stay legal above a floor, and
it beats a random mover in a short match.

The floors sit well under what the model measures (see its card), so they fail only if the
checkpoint, the board encoding or the scoring breaks."""

import random
from pathlib import Path

import torch

from playground.data import load_xiangqi_games
from playground.xiangqi import api, evaluate, position, rules

FOLDER = Path(__file__).resolve().parent.parent / "checkpoints" / "xiangqi-gpt"
# measured on these 400 positions of the held-out games: raw legality 0.9325 (top-1 = engine's played move 0.145)
RAW_FLOOR = 0.85
# measured: W/D/L 3/1/0, score 0.875, over these 4 games (2 colour-swapped pairs, the default search)
SCORE_FLOOR = 0.5


def test_the_auto_classes_load_the_folder_as_it_is():
    import playground.xiangqi.modeling  # noqa: F401  (registers the config and model classes)
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(FOLDER)
    model = AutoModel.from_pretrained(FOLDER).eval()
    assert type(model).__name__ == "XiangqiGPT"
    moves = "h2e2 h9g7".split()
    ids = tok("<red> " + " ".join(moves), return_tensors="pt")["input_ids"]
    boards = torch.from_numpy(position.game_boards(moves)).long()[None]
    with torch.no_grad():
        out = model(input_ids=ids, boards=boards)
    assert out.policy_logits.shape[:2] == (1, 3) and out.value_logits.shape == (1, 3)


def test_every_weight_file_fits_a_space_without_lfs():
    weights = list(FOLDER.rglob("*.safetensors"))
    assert weights and all(p.stat().st_size < 10 * 2**20 for p in weights)
    assert not list(FOLDER.rglob("*.bin")) and not list(FOLDER.rglob("*.pt"))


def test_the_model_always_moves_legally_from_random_positions():
    rng = random.Random(0)
    for game in range(6):
        game_moves = rules.Tracker()
        while len(game_moves.moves) < 40 + 20 * game and game_moves.state() is None:
            legal = game_moves.legal_moves()
            if len(game_moves.moves) % 2 == game % 2:
                move = api.choose_move(game_moves.moves, temperature=0.0 if game < 3 else 1.0, seed=game)
                assert move in legal, (game_moves.moves, move)
            else:
                move = rng.choice(legal)
            game_moves.push(move)


def test_raw_predictions_are_mostly_legal():
    games = load_xiangqi_games(FOLDER / "heldout.jsonl")
    report = evaluate.raw_legality(games, positions=400, seed=1)
    assert report["raw_legal"] > RAW_FLOOR


def test_it_beats_a_random_mover_in_a_short_match():
    m = evaluate.match("random", pairs=2, seed=0, progress=False)
    assert m["games"] == 4 and m["score"] >= SCORE_FLOOR, m


def test_the_card_carries_measured_figures():
    card = (FOLDER / "README.md").read_text()
    assert "Not measured yet" not in card and "random" in card and "depth 1" in card
    assert "Baseline" in card and "Recipe study" in card

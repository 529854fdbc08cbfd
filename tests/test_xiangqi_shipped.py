"""The shipped xiangqi GPT: transformers loads the folder as it is, its files fit a Space, its
moves are always legal with ``legal_only=True``, and its raw (unconstrained) predictions stay
legal above a floor.

The floor sits well under what the model measures (see its card), so it fails only if the
checkpoint, the tokenizer or the scoring breaks."""

import random
from pathlib import Path

from playground.data import load_xiangqi_games
from playground.xiangqi import api, evaluate, rules

FOLDER = Path(__file__).resolve().parent.parent / "checkpoints" / "xiangqi-gpt"
# measured on 400 positions of the card's held-out games: raw legality 0.7825 (top-1 = played move 0.100)
RAW_FLOOR = 0.65


def test_transformers_loads_the_folder_as_it_is():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(FOLDER)
    model = AutoModelForCausalLM.from_pretrained(FOLDER)
    ids = tok("<red> h2e2 h9g7", return_tensors="pt")["input_ids"]
    assert model(input_ids=ids).logits.shape == (1, 3, len(tok))


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


def test_the_card_carries_measured_figures():
    card = (FOLDER / "README.md").read_text()
    assert "Not measured yet" not in card and "random" in card and "depth 1" in card

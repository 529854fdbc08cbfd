"""The xiangqi tab through gradio_client against the launched app: a whole game played by a
script, two games kept apart, hints, undo, export, watch mode and bad inputs."""

import json
import random
from pathlib import Path

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from playground.xiangqi import rules


def test_a_script_plays_a_whole_game_through_the_api(client):
    """Random legal moves for red until the game ends: every reply legal, the end detected."""
    rng = random.Random(0)
    history, status = client.predict("red", 0.0, api_name="/xiangqi_new_game")[0::4]
    while True:
        moves = history.split()
        st = rules.state(moves)
        if st["result"] is not None:
            break
        assert st["side_to_move"] == "red"
        out = client.predict(history, rng.choice(rules.legal_moves(moves)), "red", 0.0, api_name="/xiangqi_move")
        new = out[0].split()
        assert new[:len(moves)] == moves and len(new) in (len(moves) + 1, len(moves) + 2)
        rules.parse_history(new)  # the model's reply is legal
        history, status = out[0], out[4]
    assert "Game over" in status and len(history.split()) <= rules.MAX_PLIES
    with pytest.raises(AppError, match="after the end of the game|game is over"):
        client.predict(history, "h2e2", "red", 0.0, api_name="/xiangqi_move")


def test_two_clients_keep_their_games_apart(app_url):
    a, b = Client(app_url, verbose=False), Client(app_url, verbose=False)
    ja = a.submit("", "h2e2", "red", 0.0, api_name="/xiangqi_move")
    jb = b.submit("", "炮八平五", "red", 0.0, api_name="/xiangqi_move")
    ha, hb = ja.result()[0].split(), jb.result()[0].split()
    assert ha[0] == "h2e2" and hb[0] == "b2e2"
    ha2 = a.predict(" ".join(ha), "h0g2", "red", 0.0, api_name="/xiangqi_move")[0].split()
    assert ha2[:2] == ha and ha2[2] == "h0g2"
    assert b.predict(" ".join(hb), 3, api_name="/xiangqi_candidates")["data"]  # b's game is untouched by a's


def test_black_side_candidates_undo_and_export(client):
    history = client.predict("black", 0.0, api_name="/xiangqi_new_game")[0]
    assert len(history.split()) == 1  # the model opened as red
    cands = client.predict(history, 5, api_name="/xiangqi_candidates")["data"]
    assert len(cands) == 5 and all(m in rules.legal_moves(history) for m, _, _ in cands)
    probs = [p for _, _, p in cands]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0001
    move = cands[0][0]
    after = client.predict(history, move, "black", 0.0, api_name="/xiangqi_move")[0]
    assert after.split()[:2] == [*history.split(), move] and len(after.split()) == 3
    assert client.predict(after, "black", api_name="/xiangqi_undo")[0] == history
    record = Path(client.predict(after, "black", api_name="/xiangqi_export")).read_text(encoding="utf-8")
    assert json.loads(record.strip().splitlines()[-1])["moves"] == after and '[Black "You"]' in record


def test_watch_streams_a_game_against_the_random_mover(client):
    job = client.submit("random mover", "red", 0.0, api_name="/xiangqi_watch")
    seen = []
    for update in job:
        seen.append(update[0])
        if len(seen) >= 6:
            job.cancel()
            break
    assert [len(h.split()) for h in seen[:6]] == [0, 1, 2, 3, 4, 5]
    rules.parse_history(seen[-1])


@pytest.mark.parametrize(
    "args, api_name, match",
    [
        (("h2e2 h2e2", "h0g2", "red", 0.0), "/xiangqi_move", "ply 2"),
        (("", "zz", "red", 0.0), "/xiangqi_move", "not a legal move"),
        (("", "h2e9", "red", 0.0), "/xiangqi_move", "not a legal move"),
        (("", "", "red", 0.0), "/xiangqi_move", "move must be a move"),
        (("", "h2e2", "green", 0.0), "/xiangqi_move", r"side must be one of \['red', 'black'\]"),
        (("", "h2e2", "red", -1), "/xiangqi_move", "temperature must be"),
        (("", "h2e2", "black", 0.0), "/xiangqi_move", "it is red's turn"),
        ((5, "h2e2", "red", 0.0), "/xiangqi_move", "history must be"),
        (("", 0), "/xiangqi_candidates", "k must be"),
        (("h2e2 x", 5), "/xiangqi_candidates", "ply 2"),
        (("purple", 0.0), "/xiangqi_new_game", "side must be"),
        (("alphazero", "red", 0.0), "/xiangqi_watch", "opponent must be one of"),
    ],
)
def test_bad_inputs_give_clear_errors_and_the_server_keeps_serving(client, args, api_name, match):
    with pytest.raises(AppError, match=match):
        client.predict(*args, api_name=api_name)
    assert client.predict("", "h2e2", "red", 0.0, api_name="/xiangqi_move")[0].startswith("h2e2 ")


def test_click_selects_then_moves_and_the_reply_comes_separately():
    """The board's click handler needs no model (it answers at once); the reply step adds the model's move."""
    import gradio as gr

    from playground.xiangqi import ui as xui

    class Click:  # what gr.SelectData carries for our board
        def __init__(self, value):
            self.value = value

    *view, selected = xui.xiangqi_click("", "", "red", 0.0, Click("h2"))
    assert selected == "h2" and 'class="selected"' in view[1] and view[0] == ""
    assert all(isinstance(x, type(gr.skip())) for x in view[2:4])  # move list and candidates kept
    *view, selected = xui.xiangqi_click("", selected, "red", 0.0, Click("e2"))
    assert selected == "" and view[0] == "h2e2"
    history, board, table, cands, status = xui.xiangqi_reply(view[0], "red", 0.0)
    moves = history.split()
    assert moves[0] == "h2e2" and len(moves) == 2 and cands
    # red's turn again: the reply step changes nothing
    assert all(isinstance(x, type(gr.skip())) for x in xui.xiangqi_reply(history, "red", 0.0))
    # a click on an empty point or an opponent's piece selects nothing
    assert xui.xiangqi_click(history, "", "red", 0.0, Click("e5"))[-1] == ""
    assert xui.xiangqi_click(history, "", "red", 0.0, Click("a9"))[-1] == ""


def test_search_evaluation_and_a_watched_match(client):
    """The new last arguments: ``search`` on the moves, the evaluation endpoint, a match of two
    games in watch mode with the running score (positional calls without them still work above)."""
    from playground.xiangqi import api

    value_head = api.has_value_head()
    out = client.predict("", "h2e2", "red", 0.0, "none", api_name="/xiangqi_move")
    assert len(out[0].split()) == 2
    bar = client.predict(out[0], api_name="/xiangqi_evaluation")
    assert "xiangqi-eval" in bar and (("data-red=" in bar) == value_head)
    for search in ("1-ply", "2-ply"):
        if value_head:
            out = client.predict("", "h2e2", "red", 0.0, search, api_name="/xiangqi_move")
            assert len(out[0].split()) == 2 and out[0].split()[1] in api.legal_moves("h2e2")
        else:
            with pytest.raises(AppError, match="value head"):
                client.predict("", "h2e2", "red", 0.0, search, api_name="/xiangqi_move")
    with pytest.raises(AppError, match="search"):
        client.predict("", "h2e2", "red", 0.0, "deep", api_name="/xiangqi_move")
    job = client.submit("random mover", "red", 0, 2, "default", api_name="/xiangqi_watch")
    statuses = [update[3] for update in job]
    assert "Game 1/2" in statuses[0] and "the model plays red" in statuses[0]
    assert any("the model plays black" in s for s in statuses) and "Game over" in statuses[-1]
    import re

    w, d, l = map(int, re.search(r"W/D/L (\d+)/(\d+)/(\d+)", statuses[-1]).groups())
    assert w + d + l == 2 and re.search(r"score [\d.]+/2", statuses[-1])

"""Xiangqi rules (playground.xiangqi.rules): ICCS <-> UCI, WXF and Chinese notation, the game
ends pyffish reports (checkmate, stalemate, repetition, perpetual check, n-move rule), the move
cap, input validation and the SVG board."""

import random
import xml.etree.ElementTree as ET

import pyffish as sf
import pytest

from playground.xiangqi import board, rules

V = "xiangqi"
SVG = "{http://www.w3.org/2000/svg}"

# Red mates with two cannons on the e-file (重炮) while black shuffles its chariots.
MATE = "h2e2 a9a8 e2e6 a8a9 e3e4 i9i8 e4e5 i8i9 e5d5 a9a8 b2e2".split()
# Both chariots go out and back twice: the start position occurs for the third time at ply 8.
REPEAT = "a0a1 a9a8 a1a0 a8a9 a0a1 a9a8 a1a0 a8a9".split()
# 100 plies of random play without a capture and without a repeated position.
NO_CAPTURE = """b0a2 h7f7 b2b4 i9i7 f0e1 b9c7 i3i4 b7a7 h2h1 f7f8 h1h5 i7f7 h5i5 d9e8 b4b6 e9d9 e3e4 e8d7
b6b2 f7f6 c3c4 f6f5 b2g2 f5e5 g2b2 f9e8 b2f2 h9i7 i0i1 f8f9 i5f5 d9d8 i1i3 e5a5 f2d2 a5d5 a2c1 f9d9 i4i5
e8f7 d2d4 f7e8 i3i1 c6c5 f5f3 a9b9 f3f7 b9b7 e4e5 c7b5 f7f8 e8f7 c1a2 i7g8 e5f5 d8e8 d4d3 b7b6 e1f0 g6g5
i1i0 d9e9 i0i1 e8d8 c0e2 g8h6 i1a1 b6d6 g3g4 h6i8 a1f1 a7a9 d3d4 i8h6 f1g1 b5c3 d0e1 e9e7 a2c1 d8d9 f5f6
c3a2 c1d3 d5e5 f8i8 a6a5 d3c1 h6i4 c1d3 a2c1 e0d0 a9a6 g1h1 e7e9 h1h9 d9d8 h9h8 e9e8 d4e4 e5f5""".split()

_SHUFFLE = "a9a8 a8a9 i9i8 i8i9".split()


def _with_black_shuffling(red: str) -> list[str]:
    """Red's moves with black shuffling its chariots in between (red moved last)."""
    moves = []
    for i, move in enumerate(red.split()):
        moves += ([_SHUFFLE[(i - 1) % 4]] if i else []) + [move]
    return moves


# positions (histories) with tandem pieces for the side to move
THREE_PAWNS = _with_black_shuffling("e3e4 e4e5 e5e6 e6e7 g3g4 g4g5 g5g6 g6f6 f6e6 c3c4 c4c5 c5d5 d5e5") + ["i9i8"]
TWO_PAWN_FILES = _with_black_shuffling("c3c4 c4c5 c5d5 d5d6 a3a4 a4a5 a5b5 b5c5 c5d5 "
                                       "g3g4 g4g5 g5f5 f5f6 i3i4 i4i5 i5h5 h5g5 g5f5") + ["i9i8"]
TANDEMS = {
    "black cannons": "h2h3 b7b0 f0e1 h7b7 b2b1",
    "red cannons": "b2b1 h7i7 i0i2 i7f7 b1h1 c9a7",
    "black chariots": "a0a1 h7f7 a1g1 f7f2 b2b9 i9i8 b0c2 b7b3 c0a2 i8a8 e3e4",
    "red chariots": "b2d2 b9a7 f0e1 a7b9 d2d3 b7f7 h2a2 h7h8 a0a1 h8h5 c3c4 h5h7 d3d5 f7a7 a1b1 g9e7 e1f2 a7c7 "
                    "b1i1 a6a5",
    "red horses": "a0a1 h7f7 a1g1 f7f2 b2b9 i9i8 b0c2 b7b3 c0a2 i8a8 e3e4 a8h8 c2b0 a9a8 b0d1 a8g8 d1f2 g8c8 "
                  "g1h1 h8i8 h1g1 c8c7 h2h5 b3b5 b9d9 b5a5 h5i5 g6g5 f2h3 c7d7",
    "three pawns on a file": " ".join(THREE_PAWNS),
    "two files of two pawns": " ".join(TWO_PAWN_FILES),
}
TANDEM_MARKS = {"black cannons": ["前炮", "后炮"], "red cannons": ["前炮", "后炮"], "black chariots": ["前车", "后车"],
                "red chariots": ["前车"], "red horses": ["前马", "后马"],
                "three pawns on a file": ["前兵", "中兵", "后兵"], "two files of two pawns": ["前兵六", "后兵四"]}


def _iccs_sorted(fen, uci_moves):
    return sorted(rules.uci_to_iccs(m) for m in sf.legal_moves(V, fen, uci_moves))


# ---------------------------------------------------------------------------------------------
# ICCS <-> UCI


def test_iccs_uci_round_trip_on_all_opening_moves():
    uci = sf.legal_moves(V, rules.START_FEN, [])
    iccs = rules.legal_moves([])
    assert len(iccs) == 44 and iccs == sorted(iccs)
    assert sorted(rules.iccs_to_uci(m) for m in iccs) == sorted(uci)
    assert all(rules.uci_to_iccs(rules.iccs_to_uci(m)) == m for m in iccs)
    assert all(rules.iccs_to_uci(rules.uci_to_iccs(m)) == m for m in uci)


def test_rank_conversion_edge_cases():
    assert rules.iccs_to_uci("a0a9") == "a1a10"
    assert rules.iccs_to_uci("i9i0") == "i10i1"
    assert rules.uci_to_iccs("h10g8") == "h9g7"
    assert rules.uci_to_iccs("a1a10") == "a0a9"
    assert rules.square_of("a0") == (0, 0) and rules.square_of("i9") == (8, 9)
    for bad in ["a10a1", "j0a1", "a0a", "A0A1", "", None, 42]:
        with pytest.raises(ValueError, match="ICCS"):
            rules.iccs_to_uci(bad)
    for bad in ["a0a1", "a11a1", "a1a0", "h3", None]:
        with pytest.raises(ValueError, match="UCI"):
            rules.uci_to_iccs(bad)
    with pytest.raises(ValueError, match="ICCS square"):
        rules.square_of("j1")


# ---------------------------------------------------------------------------------------------
# notation


def test_known_notation():
    assert rules.to_chinese([], "h2e2") == "炮二平五"
    assert rules.to_wxf([], "h2e2") == "C2=5"
    assert rules.to_chinese([], "b0c2") == "马八进七"
    assert rules.to_chinese(["h2e2"], "h9g7") == "马8进7"
    assert rules.to_wxf(["h2e2"], "h9g7") == "H8+7"
    assert rules.to_chinese([], "c0e2") == "相七进五" and rules.to_chinese([], "f0e1") == "仕四进五"
    assert rules.to_chinese(["h2e2"], "e9e8") == "将5进1"
    assert rules.to_chinese_list(MATE) == ["炮二平五", "车1进1", "炮五进四", "车1退1", "兵五进一", "车9进1",
                                           "兵五进一", "车9退1", "兵五平六", "车1进1", "炮八平五"]


@pytest.mark.parametrize("name", ["start", "after h2e2", *TANDEMS])
def test_every_legal_move_round_trips_through_chinese_and_wxf(name):
    history = {"start": "", "after h2e2": "h2e2"}.get(name, TANDEMS.get(name))
    fen = rules.state(history)["fen"]
    chinese = {}
    for move in rules.legal_moves(history):
        chinese[move] = rules.to_chinese(history, move)
        wxf = sf.get_san(V, fen, rules.iccs_to_uci(move), False, sf.NOTATION_XIANGQI_WXF)
        assert rules.parse_move(history, chinese[move]) == move, (move, chinese[move])
        assert rules.parse_move(history, wxf) == move, (move, wxf)
    assert len(set(chinese.values())) == len(chinese)  # no two moves share a name
    if name in TANDEM_MARKS:
        for mark in TANDEM_MARKS[name]:
            assert any(text.startswith(mark) for text in chinese.values()), (mark, sorted(chinese.values()))


def test_chinese_list_matches_move_by_move_notation():
    game = THREE_PAWNS + ["e7e8"]
    assert rules.to_chinese_list(game) == [rules.to_chinese(game[:i], game[i]) for i in range(len(game))]
    assert rules.to_chinese_list(" ".join(game))[-1] == "前兵进一"
    assert rules.to_chinese_list([]) == []


def test_tandem_pawn_notation_follows_pyffish():
    # three red pawns on file 5 (e5, e6, e7): WXF numbers them from the front
    assert rules.to_wxf(THREE_PAWNS, "e7e8") == "15+1"
    assert rules.to_chinese(THREE_PAWNS, "e7e8") == "前兵进一"
    assert rules.to_chinese(THREE_PAWNS, "e6d6") == "中兵平六"
    assert rules.to_chinese(THREE_PAWNS, "e5f5") == "后兵平四"
    for text in ["前兵进一", "1P5+1", "一兵进一", "前兵五进一", "15+1", "前卒进1"]:
        assert rules.parse_move(THREE_PAWNS, text) == "e7e8", text
    # two files with two pawns each: the file is named too
    assert rules.to_wxf(TWO_PAWN_FILES, "d6d7") == "16+1"
    assert rules.to_chinese(TWO_PAWN_FILES, "d6d7") == "前兵六进一"
    assert rules.to_chinese(TWO_PAWN_FILES, "f5e5") == "后兵四平五"
    with pytest.raises(ValueError, match="not a legal move"):
        rules.parse_move(TWO_PAWN_FILES, "前兵进一")  # which file?


def test_parse_move_accepts_variant_spellings():
    assert rules.parse_move([], "H2-E2") == "h2e2"
    assert rules.parse_move([], " h2e2 ") == "h2e2"
    for text in ["炮二平五", "炮2平5", "砲二平五", "炮２平５", "c2=5", "C2.5", "C2.5 ", "炮 二 平 五"]:
        assert rules.parse_move([], text) == "h2e2", text
    for text in ["马8进7", "馬8進7", "马八进七", "傌８進７", "H8+7", "N8+7"]:
        assert rules.parse_move(["h2e2"], text) == "h9g7", text
    assert rules.parse_move([], "俥一进一") == "i0i1"
    assert rules.parse_move([], "帥五進一") == "e0e1"
    assert rules.parse_move(["h2e2"], "將5进1") == "e9e8"
    # front/rear pieces: pyffish's C+=5, WXF's +C=5 and 前炮平五 all name the same move
    history = TANDEMS["red cannons"]  # red's cannons on h1 and h2, both on file 2
    fronts = [m for m in rules.legal_moves(history) if rules.to_chinese(history, m).startswith("前炮")]
    move = fronts[0]
    wxf = rules.to_wxf(history, move)
    assert wxf[1] == "+"
    assert rules.parse_move(history, wxf) == move
    assert rules.parse_move(history, "+" + wxf[0] + wxf[2:]) == move
    assert rules.parse_move(history, rules.to_chinese(history, move).replace("炮", "砲")) == move


def test_parse_move_rejects_with_examples():
    with pytest.raises(ValueError, match=r"'炮三平五' is not a legal move for red.*include b2a2 = C8=9 = 炮八平九"):
        rules.parse_move([], "炮三平五")
    with pytest.raises(ValueError, match="ICCS.*WXF.*Chinese"):
        rules.parse_move([], "hello")
    with pytest.raises(ValueError, match="h2h8 is not a legal move for red"):
        rules.parse_move([], "h2h8")
    for bad in [None, 5, "", "x" * 100]:
        with pytest.raises(ValueError):
            rules.parse_move([], bad)
    with pytest.raises(ValueError, match="not a legal move"):
        rules.to_chinese([], "h2h8")


# ---------------------------------------------------------------------------------------------
# rules through pyffish


def test_flying_general_is_enforced():
    # e3e4 e6e5 e4xe5: only red's pawn on e5 stands between the kings on the e-file
    history = ["e3e4", "e6e5", "e4e5", "a9a8"]
    legal = rules.legal_moves(history)
    assert "e5e6" in legal and "e5d5" not in legal and "e5f5" not in legal
    with pytest.raises(ValueError, match="ply 5: e5d5 is not a legal move for red"):
        rules.parse_history(history + ["e5d5"])
    with pytest.raises(ValueError, match="not a legal move"):
        rules.apply_move(history, "e5d5")


def test_checkmate():
    st = rules.state(MATE)
    assert st == {**st, "result": "1-0", "reason": "checkmate", "in_check": True, "side_to_move": "black",
                  "ply": 11, "last_move": "b2e2"}
    assert rules.result_text(st) == "红胜 (red wins by checkmate)"
    assert rules.legal_moves(MATE) == []
    uci = [rules.iccs_to_uci(m) for m in MATE]
    assert sf.legal_moves(V, rules.START_FEN, uci) == [] and sf.game_result(V, rules.START_FEN, uci) == -sf.VALUE_MATE
    # one ply earlier it is not over
    assert rules.state(MATE[:-1])["result"] is None and not rules.state(MATE[:-1])["in_check"]
    with pytest.raises(ValueError, match=r"ply 12: 'a0a1' comes after the end of the game.*1-0.*checkmate"):
        rules.parse_history(MATE + ["a0a1"])
    with pytest.raises(ValueError, match="game is over"):
        rules.apply_move(MATE, "a0a1")
    assert rules.apply_move(MATE[:-1], "炮八平五") == MATE


def test_pyffish_reports_no_immediate_game_end_in_xiangqi():
    # rules.py relies on this and spends no call on is_immediate_game_end
    for fen, moves in [(rules.START_FEN, MATE), (rules.START_FEN, REPEAT), (rules.START_FEN, NO_CAPTURE),
                       ("4k4/9/4P4/9/9/5R3/9/9/9/3K5 b - - 0 1", [])]:
        assert sf.is_immediate_game_end(V, fen, [rules.iccs_to_uci(m) for m in moves])[0] is False


def test_stalemate_loses_for_the_side_to_move():
    # Not reachable quickly by legal play, so from a FEN: black's king on e9 cannot move (d9
    # faces red's king, f9 is covered by the chariot, e8 by the pawn) and is not in check.
    fen = "4k4/9/4P4/9/9/5R3/9/9/9/3K5 b - - 0 1"
    assert sf.validate_fen(fen, V) == sf.FEN_OK
    assert sf.legal_moves(V, fen, []) == [] and not sf.gives_check(V, fen, [])
    assert sf.game_result(V, fen, []) == -sf.VALUE_MATE  # from the side to move: black loses
    st, legal = rules._analyse(fen, [])
    assert (st["result"], st["reason"], legal) == ("1-0", "stalemate", [])
    assert rules.result_text(st).startswith("红胜")
    # the same position with red to move is no stalemate
    assert rules._analyse(fen.replace(" b ", " w "), [])[0]["result"] is None


def test_plain_repetition_is_a_draw():
    assert rules.state(REPEAT[:7])["result"] is None
    st = rules.state(REPEAT)
    assert (st["result"], st["reason"]) == ("1/2-1/2", "repetition")
    assert rules.legal_moves(REPEAT) == []
    assert sf.is_optional_game_end(V, rules.START_FEN, [rules.iccs_to_uci(m) for m in REPEAT]) == (True, 0)
    with pytest.raises(ValueError, match="ply 9.*after the end of the game.*repetition"):
        rules.parse_history(REPEAT + ["a0a1"])
    # the same positions reached by a different route count as well
    assert rules.state(REPEAT[:4] + ["a0a2", "a9a8", "a2a0", "a8a9"])["reason"] == "repetition"


def test_perpetual_check_loses():
    # From a FEN: red's chariot checks black's king up and down the palace for ever.
    fen = "9/4k4/R8/9/9/9/9/9/9/3K5 w - - 0 1"
    checks = "a7a8 e8e9 a8a9 e9e8 a9a8 e8e9 a8a9 e9e8 a9a8 e8e9".split()
    uci = [rules.iccs_to_uci(m) for m in checks]
    assert sf.is_optional_game_end(V, fen, uci[:8]) == (False, 0)
    assert sf.is_optional_game_end(V, fen, uci[:9]) == (True, sf.VALUE_MATE)  # black, to move, wins
    assert rules._analyse(fen, checks[:8])[0]["result"] is None
    st, legal = rules._analyse(fen, checks[:9])
    assert (st["result"], st["reason"], legal) == ("0-1", "perpetual check", [])
    assert rules.result_text(st) == "黑胜 (black wins: red gave perpetual check)"
    with pytest.raises(ValueError, match=r"ply 10: 'e8e9' comes after the end.*0-1"):
        rules._validate(fen, checks)


def test_perpetual_chase_loses():
    # From a FEN: red's chariot keeps attacking black's unprotected cannon (AXF chasing rule);
    # the start position comes back for the third time at ply 8, red to move, and red loses.
    fen = "4k4/9/1c7/9/9/9/9/2R6/9/3K5 w - - 0 1"
    chase = "c2b2 b7c7 b2c2 c7b7 c2b2 b7c7 b2c2 c7b7".split()
    assert sf.is_optional_game_end(V, fen, [rules.iccs_to_uci(m) for m in chase]) == (True, -sf.VALUE_MATE)
    assert rules._analyse(fen, chase[:7])[0]["result"] is None
    st, _ = rules._analyse(fen, chase)
    assert (st["result"], st["reason"], st["in_check"]) == ("0-1", "perpetual chase", False)
    assert rules.result_text(st) == "黑胜 (black wins: red chased perpetually)"


def test_n_move_rule():
    assert len(NO_CAPTURE) == 100
    assert rules.state(NO_CAPTURE[:99])["result"] is None
    st = rules.state(NO_CAPTURE)
    assert (st["result"], st["reason"]) == ("1/2-1/2", "n-move rule")
    assert st["fen"].split()[4] == "100"  # the halfmove clock pyffish keeps
    assert rules.result_text(st).startswith("和棋")
    with pytest.raises(ValueError, match="ply 101.*after the end.*50 moves without a capture"):
        rules.parse_history(NO_CAPTURE + ["a0a1"])


def test_move_cap_with_a_small_cap(monkeypatch):
    monkeypatch.setattr(rules, "MAX_PLIES", 10)
    game = NO_CAPTURE[:10]
    assert rules.state(game[:9])["result"] is None
    st = rules.state(game)
    assert (st["result"], st["reason"]) == ("1/2-1/2", "move cap")
    assert rules.result_text(st) == "和棋 (draw: the 10-ply move cap was reached)"
    assert rules.legal_moves(game) == []
    with pytest.raises(ValueError, match="ply 11.*after the end.*move cap"):
        rules.parse_history(NO_CAPTURE[:11])
    with pytest.raises(ValueError, match="game is over"):
        rules.apply_move(game, NO_CAPTURE[10])


def test_move_cap_at_max_plies():
    # a random game (seed 0) that neither side wins within MAX_PLIES plies
    rng, moves, uci = random.Random(0), [], []
    while len(moves) < rules.MAX_PLIES:
        move = rng.choice(_iccs_sorted(rules.START_FEN, uci))
        moves.append(move)
        uci.append(rules.iccs_to_uci(move))
    assert rules.parse_history(moves) == moves  # no earlier end
    assert rules.parse_history(", ".join(moves).upper()) == moves  # a long but valid string
    st = rules.state(moves)
    assert (st["result"], st["reason"], st["ply"]) == ("1/2-1/2", "move cap", 300)
    assert rules.state(moves[:-1])["result"] is None
    extra = _iccs_sorted(rules.START_FEN, uci)[0]
    with pytest.raises(ValueError, match="ply 301.*after the end"):
        rules.parse_history(moves + [extra])


# ---------------------------------------------------------------------------------------------
# bad input


def test_history_forms():
    assert rules.parse_history("") == [] and rules.parse_history("   ") == [] and rules.parse_history([]) == []
    assert rules.parse_history(" H2E2, h9g7 ,b0c2  b9c7") == ["h2e2", "h9g7", "b0c2", "b9c7"]
    assert rules.parse_history(("h2e2", " H9G7 ")) == ["h2e2", "h9g7"]


@pytest.mark.parametrize("history, message", [
    ("h2e2 h9g7 zz", r"ply 3: 'zz' is not an ICCS move.*4 characters.*h2e2"),
    ("h2e2 h9g77", r"ply 2: 'h9g77' is not an ICCS move"),
    ("h2e2 h9g7 j0a1", r"ply 3: 'j0a1'"),
    ("h2e2 h2e2", r"ply 2: h2e2 is not a legal move for black in this position"),
    ("h2h9 h9h8 a0a9", r"ply 2: h9h8 is not a legal move for black"),
    ("a0a5", r"ply 1: a0a5 is not a legal move for red"),
    ("h2e2 h9g7 h2e2 zz", r"ply 3: h2e2 is not a legal move for red"),  # the earlier problem wins
    (["h2e2", 5], r"ply 2: expected an ICCS move string, not 5"),
    ([None], r"ply 1: expected an ICCS move string"),
    (5, "history must be a list"),
    (None, "history must be a list"),
    ({"h2e2": 1}, "history must be a list"),
    (b"h2e2", "history must be a list"),
    ("h2e2 " * 2000, "characters long"),
    (["a0a1", "a9a8"] * 200, "has 400 moves"),
])
def test_bad_histories(history, message):
    with pytest.raises(ValueError, match=message):
        rules.parse_history(history)


def test_apply_move_has_no_side_effects():
    history = ["h2e2", "h9g7"]
    assert rules.apply_move(history, "马二进三") == ["h2e2", "h9g7", "h0g2"]
    assert rules.apply_move("h2e2 h9g7", "h0g2") == ["h2e2", "h9g7", "h0g2"]
    for bad in ["h2e2", "马二进四", "", None]:
        with pytest.raises(ValueError):
            rules.apply_move(history, bad)
    with pytest.raises(ValueError, match="ply 2"):
        rules.apply_move(["h2e2", "h2e2"], "a0a1")
    assert history == ["h2e2", "h9g7"]


# ---------------------------------------------------------------------------------------------
# the board


def _svg(history, **kw):
    text = board.board_svg(history, **kw)
    return text, ET.fromstring(text)


def _circle_at(root, cls, x, y):
    return [c for c in root.iter(f"{SVG}circle") if c.get("class") == cls
            and float(c.get("cx")) == x and float(c.get("cy")) == y]


def _pieces(root):
    return [g for g in root.iter(f"{SVG}g") if (g.get("class") or "").startswith("piece")]


def test_board_svg_start_position():
    text, root = _svg([])
    assert root.tag == f"{SVG}svg" and root.get("width") == "450"
    squares = [e for e in root.iter() if e.get("data-sq")]
    assert len(squares) == 90 and len({e.get("data-sq") for e in squares}) == 90
    assert all(e.get("class") == "sq" for e in squares)
    pieces = _pieces(root)
    assert len(pieces) == 32
    assert sum(p.get("class") == "piece red" for p in pieces) == 16
    glyphs = "".join(t.text for p in pieces for t in p.iter(f"{SVG}text"))
    assert sorted(glyphs) == sorted("车马相仕帅仕相马车炮炮兵兵兵兵兵" "车马象士将士象马车炮炮卒卒卒卒卒")
    assert "楚河" in text and "漢界" in text and "Noto Sans CJK SC" in root.get("font-family")
    assert not [c for c in root.iter(f"{SVG}circle") if c.get("class") in ("last-from", "last-to", "check")]
    # the clickable overlay is drawn last, on top of the pieces
    assert list(root)[-1].get("class") == "sq"


def test_board_svg_marks_last_move_check_and_flips():
    _, root = _svg(MATE)
    fx, fy = board._xy("b2", False)
    tx, ty = board._xy("e2", False)
    assert _circle_at(root, "last-from", fx, fy) and _circle_at(root, "last-to", tx, ty)
    kx, ky = board._xy("e9", False)
    assert _circle_at(root, "check", kx, ky)
    assert (kx, ky) == (board.MARGIN + 4 * board.CELL, board.MARGIN)  # black's king at the top
    _, flipped = _svg(MATE, flip=True)
    fx2, fy2 = board._xy("b2", True)
    assert (fx2, fy2) == (board.MARGIN + 7 * board.CELL, board.MARGIN + 2 * board.CELL)
    assert _circle_at(flipped, "last-from", fx2, fy2)
    assert _circle_at(flipped, "check", board.MARGIN + 4 * board.CELL, board.MARGIN + 9 * board.CELL)
    sq = next(e for e in flipped.iter() if e.get("data-sq") == "a0")
    assert float(sq.get("x")) > board.WIDTH / 2 and float(sq.get("y")) < board.HEIGHT / 2


def test_board_svg_selected_square_shows_destinations():
    _, root = _svg(["h2e2"], selected="H9", size=300)
    assert root.get("width") == "300"
    x, y = board._xy("h9", False)
    assert _circle_at(root, "selected", x, y)
    dests = [c for c in root.iter(f"{SVG}circle") if c.get("class") == "dest"]
    assert len(dests) == len([m for m in rules.legal_moves(["h2e2"]) if m.startswith("h9")]) == 2
    # a piece that cannot move (or an empty point) is highlighted without destinations
    _, root = _svg([], selected="e5")
    assert not [c for c in root.iter(f"{SVG}circle") if c.get("class") == "dest"]


@pytest.mark.parametrize("kwargs, message", [
    ({"selected": "j1"}, "selected must be an ICCS square"),
    ({"selected": "<script>"}, "selected must be an ICCS square"),
    ({"selected": 5}, "selected must be an ICCS square"),
    ({"flip": "yes"}, "flip must be True or False"),
    ({"size": 10}, "size must be between 100 and 2000"),
    ({"size": "big"}, "size must be an integer"),
    ({"size": float("nan")}, "size must be an integer"),
])
def test_board_svg_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        board.board_svg([], **kwargs)
    with pytest.raises(ValueError, match="ply 1"):
        board.board_svg("<svg>")


def test_result_text():
    assert rules.result_text(rules.state([])) == "红方走棋 (red to move)"
    assert rules.result_text(rules.state(["h2e2"])) == "黑方走棋 (black to move)"
    assert rules.result_text(rules.state(REPEAT)) == "和棋 (draw by threefold repetition)"
    with pytest.raises(ValueError, match="state dict"):
        rules.result_text("1-0")


def test_the_tracker_agrees_with_state_move_by_move():
    """The constant-cost tracker (self-play, matches) ends games exactly where state() does,
    including a repetition draw and a game to the move cap or a decisive end."""
    import random

    rng = random.Random(3)
    for game_no in range(2):
        tracker = rules.Tracker()
        while (tracked := tracker.state()) is None:
            if len(tracker.moves) % 25 == 0:  # the full replay is the slow part: check every 25th ply
                st = rules.state(tracker.moves)
                assert st["result"] is None, (game_no, tracker.moves)
                assert tracker.legal_moves() == rules.legal_moves(tracker.moves)
                assert tracker.fen == st["fen"] and tracker.side_to_move() == st["side_to_move"]
            tracker.push(rng.choice(tracker.legal_moves()))
        assert tracked == rules.state(tracker.moves)
        assert rules.state(tracker.moves[:-1])["result"] is None  # it ended on the last move, not before
    shuffle = ["h0g2", "h9g7", "g2h0", "g7h9"] * 2
    tracker = rules.Tracker(shuffle)
    assert tracker.state()["result"] == rules.state(shuffle)["result"] == "1/2-1/2"
    with pytest.raises(ValueError, match="not an ICCS move"):
        tracker.push("h2")

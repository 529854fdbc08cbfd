"""Xiangqi rules and notation, all delegated to pyffish (Fairy-Stockfish).

Nothing here generates moves: legality, check, mate and the repetition/n-move rules all come from
``pyffish`` with the variant ``"xiangqi"``. This module adds the notations, validation with clear
error messages (naming the ply) and the move cap (the SVG board is drawn by ``board``, from
these). Every function is pure.

    parse_history(history) -> list[str]      state(history) -> dict       legal_moves(history)
    apply_move(history, move) -> list[str]   parse_move(history, text)    result_text(state)
    to_chinese(history, move), to_chinese_list(history), to_wxf(history, move)
    iccs_to_uci(move), uci_to_iccs(move), square_of(square); MAX_PLIES, START_FEN

A history is a list of ICCS moves or one string of them separated by spaces and/or commas (at most
8 * MAX_PLIES + 100 characters).

Notation
    Public moves are ICCS: files a-i from red's left, ranks 0-9 from red's back rank ("h2e2" is
    炮二平五). pyffish speaks UCI with ranks 1-10 ("h3e3"); ``iccs_to_uci`` / ``uci_to_iccs`` are
    the only conversion. WXF ("C2=5") comes from pyffish's ``NOTATION_XIANGQI_WXF``: two pieces
    of a kind on one file are "C+=5" / "C-+1" (front / rear), and pawns, when three share a file
    or two files hold two each, are numbered from the front with their file ("25=4"). The Chinese
    notation is a mapping of that string: 炮二平五, 马8进7, 前车进一, 中兵平六, 前兵六进一 (red
    numerals 一-九, black digits 1-9). ``parse_move`` reads all three.

What pyffish does (version 0.0.90, checked by experiment and against Fairy-Stockfish's source)
    * Every call rebuilds the position from a FEN plus a move list and costs a few milliseconds
      whatever the list's length, so this module keeps calls few: one ``get_san_moves`` call
      validates a whole history (it raises ``ValueError`` at the first illegal move;
      ``legal_moves`` with a bad move list raises ``SystemError`` instead). Positions are tracked
      in Python only to decide when asking pyffish about repetition can matter.
    * Checkmate and stalemate: ``legal_moves`` is empty and ``game_result`` returns -32000
      (``-VALUE_MATE``), i.e. a loss for the side to move in both cases (困毙 loses in xiangqi).
      ``gives_check`` tells the two apart.
    * ``is_immediate_game_end`` covers variant rules (extinction, flags, n-check, bikjang...) and
      never fires in xiangqi (when it says False its value is meaningless: it can be -32000), so
      this module does not spend a call on it.
    * ``is_optional_game_end`` (values from the side to move's point of view) fires on
        - the third occurrence of a position (same side to move, counted since the last capture,
          the starting position included): 0 (draw) for plain repetition; if every move of one
          side in the cycle gave check, that side loses (perpetual check, 长将, e.g. +32000 when
          the side to move was the one checked); under the AXF chasing rule a side that keeps
          attacking an unprotected piece loses (长捉); both sides at once is a draw;
        - the n-move rule: 100 plies (50 moves) without a capture is a draw (pawn moves do not
          reset the counter in xiangqi), extended by 2 plies per check beyond 10 given by one
          side in that stretch (AXF).
      pyffish calls these "optional" (claimable) ends; here they end the game, as an arbiter
      (and the engine's self-play) would. The reason is told apart from the position history
      and ``gives_check``: "repetition", "perpetual check", "perpetual chase", "n-move rule".
    * The flying general (kings facing on an open file) is enforced by ``legal_moves``.
    * The move cap is ours: a game reaching ``MAX_PLIES`` plies without another result is drawn.

State reasons: "checkmate", "stalemate", "perpetual check", "perpetual chase", "repetition",
"n-move rule", "move cap".
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import pyffish as sf

VARIANT = "xiangqi"
START_FEN: str = sf.start_fen(VARIANT)
MAX_PLIES = 300
N_MOVE_PLIES = 100  # pyffish's n-move rule for xiangqi (only a hint for when to ask it)
REPETITIONS = 3  # pyffish ends the game on the third occurrence of a position
WXF = sf.NOTATION_XIANGQI_WXF
FILES = "abcdefghi"
RED, BLACK, DRAW = "1-0", "0-1", "1/2-1/2"

_ICCS = re.compile(r"[a-i][0-9][a-i][0-9]")
_UCI = re.compile(r"([a-i])(10|[1-9])([a-i])(10|[1-9])")
_SQUARE = re.compile(r"[a-i][0-9]")
_ICCS_HINT = "ICCS moves are 4 characters: from-file a-i, from-rank 0-9, to-file, to-rank (e.g. h2e2)"

# FEN letters -> WXF letters (FEN's n is the horse, b the elephant)
_FEN_TO_WXF = {"r": "R", "n": "H", "b": "E", "a": "A", "k": "K", "c": "C", "p": "P"}
_NAMES = {True: {"K": "帅", "A": "仕", "E": "相", "H": "马", "R": "车", "C": "炮", "P": "兵"},
          False: {"K": "将", "A": "士", "E": "象", "H": "马", "R": "车", "C": "炮", "P": "卒"}}
_ACTIONS = {"+": "进", "-": "退", "=": "平"}
_NUMERALS = "一二三四五六七八九"
# Everything a user may type, mapped onto WXF's alphabet; 前/中/后 become the WXF tandem signs.
_GLYPHS = {**dict.fromkeys("车車俥", "R"), **dict.fromkeys("马馬傌", "H"), **dict.fromkeys("相象", "E"),
           **dict.fromkeys("仕士", "A"), **dict.fromkeys("帅帥将將", "K"), **dict.fromkeys("炮砲包", "C"),
           **dict.fromkeys("兵卒", "P"), **dict.fromkeys("进進", "+"), "退": "-", "平": "=", ".": "=",
           "前": "+", "中": "=", **dict.fromkeys("后後", "-"), "N": "H", "B": "E",
           **{c: str(i) for i, c in enumerate(_NUMERALS, 1)}}
_WXF_PIECE = re.compile(r"([KAEHRCP])([1-9+-])([+=-])([1-9])")  # C2=5, or C+=5 for the front one of two
_WXF_PAWNS = re.compile(r"([1-5])([1-9])([+=-])([1-9])")  # 25=4: 2nd pawn from the front on file 5
# the shapes a normalised move can have: C2=5 / C+=5, +C=5 / 2P=4 / +P5+1, 25=4
_KEY_SHAPE = re.compile(r"[KAEHRCP][1-9+-][+=-][1-9]|[+=1-5-][KAEHRCP][1-9]?[+=-][1-9]|[1-5][1-9][+=-][1-9]")


# ---------------------------------------------------------------------------------------------
# squares and moves


def iccs_to_uci(move: str) -> str:
    """ICCS "h2e2" -> pyffish's UCI "h3e3" (ranks 0-9 -> 1-10)."""
    if not isinstance(move, str) or not _ICCS.fullmatch(move):
        raise ValueError(f"{move!r} is not an ICCS move; {_ICCS_HINT}")
    return f"{move[0]}{int(move[1]) + 1}{move[2]}{int(move[3]) + 1}"


def uci_to_iccs(move: str) -> str:
    """pyffish's UCI "h3e3" -> ICCS "h2e2" (ranks 1-10 -> 0-9)."""
    match = _UCI.fullmatch(move) if isinstance(move, str) else None
    if match is None:
        raise ValueError(f"{move!r} is not a xiangqi UCI move (files a-i, ranks 1-10, e.g. h3e3)")
    return f"{match[1]}{int(match[2]) - 1}{match[3]}{int(match[4]) - 1}"


def square_of(square: str) -> tuple[int, int]:
    """(file 0-8, rank 0-9) of an ICCS square such as "h2"."""
    if not isinstance(square, str) or not _SQUARE.fullmatch(square):
        raise ValueError(f"{square!r} is not an ICCS square (file a-i then rank 0-9, e.g. h2)")
    return FILES.index(square[0]), int(square[1])


def _board(fen: str) -> dict[str, str]:
    """ICCS square -> FEN letter (upper case red, lower case black) of every piece in ``fen``."""
    board = {}
    for row, text in enumerate(fen.split()[0].split("/")):
        file = 0
        for token in re.findall(r"\d+|\D", text):
            if token.isdigit():
                file += int(token)
            else:
                board[f"{FILES[file]}{9 - row}"] = token
                file += 1
    return board


def _side(fen: str) -> str:
    return "red" if fen.split()[1] == "w" else "black"


def _short(token: Any) -> str:
    text = repr(token)
    return text if len(text) <= 24 else text[:20] + "...'"


# ---------------------------------------------------------------------------------------------
# history validation


def _tokens(history: Any) -> list[str]:
    """The raw move tokens of ``history`` (lower case), checking only types and sizes."""
    if isinstance(history, str):
        limit = 8 * MAX_PLIES + 100  # room for "h2e2, " separators
        if len(history) > limit:
            raise ValueError(f"the move history is {len(history)} characters long; at most {limit} are "
                             f"allowed (a game ends after {MAX_PLIES} plies)")
        tokens = [t for t in re.split(r"[\s,]+", history.strip().lower()) if t]
    elif isinstance(history, (list, tuple)):
        if len(history) > MAX_PLIES + 1:
            raise ValueError(f"the move history has {len(history)} moves; a game ends after {MAX_PLIES} plies")
        tokens = []
        for ply, token in enumerate(history, 1):
            if not isinstance(token, str):
                raise ValueError(f"ply {ply}: expected an ICCS move string, not {_short(token)}; {_ICCS_HINT}")
            tokens.append(token.strip().lower())
    else:
        raise ValueError("history must be a list of ICCS moves or one string of them separated by spaces "
                         f"or commas, not {type(history).__name__}")
    if len(tokens) > MAX_PLIES + 1:
        raise ValueError(f"the move history has {len(tokens)} moves; a game ends after {MAX_PLIES} plies")
    return tokens


def _accepts(fen: str, uci: list[str]) -> bool:
    if not uci:
        return True
    try:
        sf.get_san_moves(VARIANT, fen, uci, False, WXF)
    except ValueError:
        return False
    return True


def _playable(fen: str, uci: list[str]) -> int:
    """How many of ``uci`` are legal in a row from ``fen``: one call, a binary search on failure."""
    if _accepts(fen, uci):
        return len(uci)
    good, bad = 0, len(uci)
    while bad - good > 1:
        mid = (good + bad) // 2
        good, bad = (mid, bad) if _accepts(fen, uci[:mid]) else (good, mid)
    return good


def _positions(fen: str, moves: list[str]) -> list[tuple[frozenset, int]]:
    """(position key, plies since the last capture) after each prefix of ``moves``, replayed in Python.

    Only used to decide when pyffish's repetition and n-move rules can possibly fire."""
    board, parts = _board(fen), fen.split()
    side, clock = parts[1], int(parts[4]) if len(parts) > 4 else 0
    out = [(frozenset(board.items()) | {side}, clock)]
    for move in moves:
        clock = 0 if move[2:] in board else clock + 1
        board[move[2:]] = board.pop(move[:2])
        side = "b" if side == "w" else "w"
        out.append((frozenset(board.items()) | {side}, clock))
    return out


def _repeated(positions: list[tuple[frozenset, int]], ply: int) -> bool:
    """Has the position after ``ply`` plies occurred REPETITIONS - 1 times since the last capture?"""
    key, clock = positions[ply]
    earlier = positions[max(0, ply - clock):ply]
    return sum(k == key for k, _ in earlier) >= REPETITIONS - 1


def _may_end(positions: list[tuple[frozenset, int]], ply: int) -> bool:
    """Can pyffish's optional game end (repetition, n-move rule) fire after ``ply`` plies?"""
    return positions[ply][1] >= N_MOVE_PLIES or _repeated(positions, ply)


def claims_after(history: list[str], moves: list[str]) -> dict[str, dict]:
    """For each of ``moves`` (legal after the validated ``history``) that ends the game at once by
    repetition (perpetual check or chase included) or the n-move rule, its ``state`` dict. Python
    replays decide where such an end can fire; pyffish is asked only there."""
    positions = _positions(START_FEN, history)
    board = _board(START_FEN)
    for move in history:
        board[move[2:]] = board.pop(move[:2])
    side = "b" if len(history) % 2 == 0 else "w"  # to move after one more ply
    out = {}
    for move in moves:
        after = dict(board)
        clock = 0 if move[2:] in after else positions[-1][1] + 1
        after[move[2:]] = after.pop(move[:2])
        if _may_end(positions + [(frozenset(after.items()) | {side}, clock)], len(history) + 1):
            st = state(history + [move])
            if st["result"] is not None:
                out[move] = st
    return out


def repeats_after(history: list[str], moves: list[str]) -> set[str]:
    """Those of ``moves`` (legal after the validated ``history``) after which the position has occurred
    before since the last capture: a player who makes one is heading for a repetition (a search scores
    it as the draw it leads to, as engines do, so a winning side makes progress instead of shuffling)."""
    positions = _positions(START_FEN, history)
    board = _board(START_FEN)
    for move in history:
        board[move[2:]] = board.pop(move[:2])
    side = "b" if len(history) % 2 == 0 else "w"  # to move after one more ply
    earlier = {key for key, _ in positions[len(history) - positions[-1][1]:]}
    out = set()
    for move in moves:
        if move[2:] in board:  # a capture: a position never seen
            continue
        after = dict(board)
        after[move[2:]] = after.pop(move[:2])
        if frozenset(after.items()) | {side} in earlier:
            out.add(move)
    return out


def _validate(fen: str, tokens: list[str]) -> list[str]:
    """``tokens`` if they are a legal game from ``fen`` that has not ended before its last move."""
    malformed = next((i for i, t in enumerate(tokens) if not _ICCS.fullmatch(t)), len(tokens))
    limit = min(malformed, MAX_PLIES)
    uci = [iccs_to_uci(t) for t in tokens[:limit]]
    playable = _playable(fen, uci)
    positions = _positions(fen, tokens[:playable])
    for ply in range(1, playable):
        if _may_end(positions, ply) and sf.is_optional_game_end(VARIANT, fen, uci[:ply])[0]:
            raise _after_end(fen, tokens, ply)
    if playable < limit:
        if not sf.legal_moves(VARIANT, fen, uci[:playable]):
            raise _after_end(fen, tokens, playable)
        side = _side(fen) if playable % 2 == 0 else ("black" if _side(fen) == "red" else "red")
        raise ValueError(f"ply {playable + 1}: {tokens[playable]} is not a legal move for {side} in this position")
    if malformed < min(len(tokens), MAX_PLIES):
        raise ValueError(f"ply {malformed + 1}: {_short(tokens[malformed])} is not an ICCS move; {_ICCS_HINT}")
    if len(tokens) > MAX_PLIES:
        raise _after_end(fen, tokens, MAX_PLIES)
    return tokens


def _after_end(fen: str, tokens: list[str], ply: int) -> ValueError:
    st, _ = _analyse(fen, tokens[:ply])
    return ValueError(f"ply {ply + 1}: {_short(tokens[ply])} comes after the end of the game: after ply {ply} "
                      f"the game is over, {st['result']}, {result_text(st)}")


def parse_history(history: Any) -> list[str]:
    """The validated, lower-case ICCS move list of ``history``: a list of moves or one string of
    them separated by spaces and/or commas. ``ValueError`` naming the ply on any problem."""
    return _validate(START_FEN, _tokens(history))


# ---------------------------------------------------------------------------------------------
# game state


def _decide(value: int, side_to_move: str) -> str:
    """A pyffish value (side to move's point of view) as a result string."""
    if value == 0:
        return DRAW
    return RED if (value > 0) == (side_to_move == "red") else BLACK


def _claim_reason(fen: str, uci: list[str], positions: list, value: int, in_check: bool) -> str:
    ply = len(uci)
    if _repeated(positions, ply) and value != 0:
        # the loser is the side that kept checking (长将) or, failing that, chasing (长捉)
        loser_checked = in_check if value > 0 else sf.gives_check(VARIANT, fen, uci[:-1])
        return "perpetual check" if loser_checked else "perpetual chase"
    if positions[ply][1] >= N_MOVE_PLIES:
        return "n-move rule"
    return "repetition"


def _analyse(fen: str, moves: list[str]) -> tuple[dict, list[str]]:
    """The state dict and the legal ICCS moves (sorted; [] once over) after validated ``moves``."""
    uci = [iccs_to_uci(m) for m in moves]
    now = sf.get_fen(VARIANT, fen, uci)
    side = _side(now)
    legal = sf.legal_moves(VARIANT, fen, uci)
    in_check = sf.gives_check(VARIANT, fen, uci)
    result = reason = None
    if not legal:
        result, reason = _decide(sf.game_result(VARIANT, fen, uci), side), "checkmate" if in_check else "stalemate"
    else:
        positions = _positions(fen, moves)
        if _may_end(positions, len(moves)):
            ended, value = sf.is_optional_game_end(VARIANT, fen, uci)
            if ended:
                result, reason = _decide(value, side), _claim_reason(fen, uci, positions, value, in_check)
    if result is None and len(moves) >= MAX_PLIES:
        result, reason = DRAW, "move cap"
    st = {"fen": now, "side_to_move": side, "ply": len(moves), "in_check": bool(in_check), "result": result,
          "reason": reason, "last_move": moves[-1] if moves else None}
    return st, ([] if result else sorted(uci_to_iccs(m) for m in legal))


def state(history: Any) -> dict:
    """fen, side_to_move ("red"/"black"), ply, in_check, result ("1-0", "0-1", "1/2-1/2" or None
    while the game runs), reason (None or e.g. "checkmate", "repetition") and last_move (ICCS)."""
    return _analyse(START_FEN, parse_history(history))[0]


def legal_moves(history: Any) -> list[str]:
    """The sorted ICCS moves of the side to move ([] once the game is over)."""
    return _analyse(START_FEN, parse_history(history))[1]


def legal_after(moves: list[str]) -> list[str]:
    """The legal ICCS moves after ``moves`` trusted as they are (no validation, no end-of-game
    check, unsorted): the trainer's fast path for positions taken from recorded games."""
    return [uci_to_iccs(m) for m in sf.legal_moves(VARIANT, START_FEN, [iccs_to_uci(m) for m in moves])]


def fen_after(moves: list[str]) -> str:
    """The FEN after ``moves`` trusted as they are: one replay, so that a search can ask about the
    positions below it from there (``legal_from``) instead of replaying the game each time."""
    return sf.get_fen(VARIANT, START_FEN, [iccs_to_uci(m) for m in moves])


def legal_from(fen: str, moves: list[str]) -> list[str]:
    """The legal ICCS moves after ``moves`` (trusted) from ``fen``, unsorted."""
    return [uci_to_iccs(m) for m in sf.legal_moves(VARIANT, fen, [iccs_to_uci(m) for m in moves])]


class Tracker:
    """A game followed move by move at a constant cost per move, for self-play and matches.

    ``state()`` and ``legal_moves()`` replay the whole history through pyffish on every call (the
    price of taking any history string); a self-play game of 300 plies would pay that 300 times.
    The tracker keeps the current FEN and the (position, capture clock) keys instead, and asks
    the full-history ``_analyse`` only when the game can have ended: no legal move, a position
    repeated or the n-move clock reached (``_may_end``), or the move cap. Its moves are trusted
    (they come from the engine or from ``legal_moves``), so ``push`` checks only their form.
    """

    def __init__(self, moves: Any = ()):
        self.moves: list[str] = []
        self.fen = START_FEN
        self._board = _board(START_FEN)
        self._side, self._clock = "w", 0
        self.positions = [(frozenset(self._board.items()) | {"w"}, 0)]
        for move in parse_history(list(moves)):
            self.push(move)

    def push(self, move: str) -> None:
        if not _ICCS.fullmatch(move):
            raise ValueError(f"{_short(move)} is not an ICCS move; {_ICCS_HINT}")
        self.fen = sf.get_fen(VARIANT, self.fen, [iccs_to_uci(move)])
        self._clock = 0 if move[2:] in self._board else self._clock + 1
        self._board[move[2:]] = self._board.pop(move[:2])
        self._side = "b" if self._side == "w" else "w"
        self.positions.append((frozenset(self._board.items()) | {self._side}, self._clock))
        self.moves.append(move)

    def legal_moves(self) -> list[str]:
        """The side to move's legal moves (sorted ICCS), ignoring whether the game has ended."""
        return sorted(uci_to_iccs(m) for m in sf.legal_moves(VARIANT, self.fen, []))

    def side_to_move(self) -> str:
        return "red" if self._side == "w" else "black"

    def state(self) -> dict | None:
        """The full ``state()`` dict once the game is over, else None."""
        ply = len(self.moves)
        if ply >= MAX_PLIES or _may_end(self.positions, ply) or not sf.legal_moves(VARIANT, self.fen, []):
            st = _analyse(START_FEN, self.moves)[0]
            return st if st["result"] is not None else None
        return None


_OUTCOMES = {
    "checkmate": "{winner} wins by checkmate",
    "stalemate": "{winner} wins: {loser} has no legal move (stalemate loses in xiangqi)",
    "perpetual check": "{winner} wins: {loser} gave perpetual check",
    "perpetual chase": "{winner} wins: {loser} chased perpetually",
    "repetition": "draw by threefold repetition",
    "n-move rule": "draw: 50 moves without a capture",
    "move cap": "draw: the {cap}-ply move cap was reached",
}


def result_text(st: dict) -> str:
    """A human line for a state dict, e.g. "红胜 (red wins by checkmate)"."""
    if not isinstance(st, dict) or "result" not in st:
        raise ValueError("result_text needs a state dict (from state())")
    result, reason = st["result"], st.get("reason")
    if result is None:
        side = st.get("side_to_move", "red")
        return f"{'红方' if side == 'red' else '黑方'}走棋 ({side} to move)"
    if result == DRAW:
        text = _OUTCOMES.get(reason, "draw").format(winner="", loser="", cap=MAX_PLIES)
        return f"和棋 ({text if text.startswith('draw') else 'draw'})"
    winner, loser = ("red", "black") if result == RED else ("black", "red")
    text = _OUTCOMES.get(reason, "{winner} wins").format(winner=winner, loser=loser, cap=MAX_PLIES)
    return f"{'红胜' if winner == 'red' else '黑胜'} ({text})"


# ---------------------------------------------------------------------------------------------
# notation


def _pawn_files(board: dict[str, str], red: bool) -> tuple[dict[str, int], bool]:
    """Pawns of one side per file, and whether two files hold two or more (WXF's "multi tandem")."""
    counts: dict[str, int] = {}
    for square, piece in board.items():
        if piece == ("P" if red else "p"):
            counts[square[0]] = counts.get(square[0], 0) + 1
    return counts, sum(n >= 2 for n in counts.values()) >= 2


def _ordinal(k: int, n: int) -> str:
    """The k-th of n pawns on a file, from the front: 前, 中 (of three), 二, 三, 四, 后."""
    return "前" if k == 1 else "后" if k == n else "中" if n == 3 else _NUMERALS[k - 1]


def _chinese(wxf: str, red: bool, board: dict[str, str], origin: str) -> str:
    """pyffish's WXF string of a move by ``origin``'s piece as Chinese notation."""
    number = (lambda d: _NUMERALS[int(d) - 1]) if red else (lambda d: d)
    match = _WXF_PIECE.fullmatch(wxf)
    if match:
        piece, where, action, to = match.groups()
        name = _NAMES[red][piece]
        head = (("前" if where == "+" else "后") + name) if where in "+-" else name + number(where)
        return head + _ACTIONS[action] + number(to)
    match = _WXF_PAWNS.fullmatch(wxf)
    if match:
        k, file, action, to = match.groups()
        counts, multi = _pawn_files(board, red)
        head = _ordinal(int(k), counts[origin[0]]) + _NAMES[red]["P"] + (number(file) if multi else "")
        return head + _ACTIONS[action] + number(to)
    raise ValueError(f"unexpected WXF move {wxf!r} from pyffish")


def _key(text: str) -> str:
    """Any notation normalised onto WXF's alphabet: 炮二平五 -> C2=5, 前車進1 -> +R+1, c2.5 -> C2=5."""
    text = unicodedata.normalize("NFKC", text).upper()
    return "".join(_GLYPHS.get(c, c) for c in text if not c.isspace())


def _keys(wxf: str, red: bool, board: dict[str, str], origin: str) -> set[str]:
    """Every accepted spelling of one move (normalised with ``_key``)."""
    keys = {_key(wxf), _key(_chinese(wxf, red, board, origin))}
    match = _WXF_PIECE.fullmatch(wxf)
    if match and match[2] in "+-":  # also +C=5 (sign first) and, for pawns, 1P/2P
        keys.add(match[2] + match[1] + match[3] + match[4])
        if match[1] == "P":
            keys.add(("1" if match[2] == "+" else "2") + "P" + match[3] + match[4])
    match = _WXF_PAWNS.fullmatch(wxf)
    if match:
        k, file, action, to = match.groups()
        counts, multi = _pawn_files(board, red)
        for word in {k, _key(_ordinal(int(k), counts[origin[0]]))}:
            for where in ([file] if multi else ["", file]):
                keys.add(f"{word}P{where}{action}{to}")
    return keys


def _file_of_key(key: str, red: bool) -> str | None:
    """The ICCS file a normalised move starts from, when it names one (C2=5, 25=4, +P5+1)."""
    digit = key[1] if re.match(r"[KAEHRCP1-5][1-9][+=-]", key) else key[2] \
        if re.match(r"[+=1-5-][KAEHRCP][1-9][+=-]", key) else None
    return None if digit is None else FILES[9 - int(digit)] if red else FILES[int(digit) - 1]


def _wxf(fen: str, move: str) -> str:
    return sf.get_san(VARIANT, fen, iccs_to_uci(move), False, WXF)


def _legal_move(st: dict, legal: list[str], move: Any) -> str:
    """``move`` as a lower-case ICCS move legal in the analysed position."""
    if st["result"] is not None:
        raise ValueError(f"the game is over ({result_text(st)}): no move can be played")
    iccs = move.strip().lower() if isinstance(move, str) else move
    if not isinstance(iccs, str) or not _ICCS.fullmatch(iccs):
        raise ValueError(f"{_short(move)} is not an ICCS move; {_ICCS_HINT}")
    if iccs not in legal:
        raise ValueError(f"{iccs} is not a legal move for {st['side_to_move']} in this position")
    return iccs


def to_wxf(history: Any, move: str) -> str:
    """WXF notation of the ICCS ``move`` after ``history``, e.g. "C2=5" for h2e2 at the start."""
    st, legal = _analyse(START_FEN, parse_history(history))
    return _wxf(st["fen"], _legal_move(st, legal, move))


def to_chinese(history: Any, move: str) -> str:
    """Chinese notation of the ICCS ``move`` after ``history``: 炮二平五, 马8进7, 前车进一..."""
    st, legal = _analyse(START_FEN, parse_history(history))
    move = _legal_move(st, legal, move)
    return _chinese(_wxf(st["fen"], move), st["side_to_move"] == "red", _board(st["fen"]), move[:2])


def to_chinese_list(history: Any) -> list[str]:
    """Chinese notation of every move of a game (one pyffish call for all the WXF strings)."""
    moves = parse_history(history)
    wxf = sf.get_san_moves(VARIANT, START_FEN, [iccs_to_uci(m) for m in moves], False, WXF)
    board, out = _board(START_FEN), []
    for ply, (move, text) in enumerate(zip(moves, wxf)):
        out.append(_chinese(text, ply % 2 == 0, board, move[:2]))
        board[move[2:]] = board.pop(move[:2])
    return out


def _examples(fen: str, moves: list[str], red: bool, board: dict[str, str]) -> str:
    shown = []
    for move in moves[:4]:
        wxf = _wxf(fen, move)
        shown.append(f"{move} = {wxf} = {_chinese(wxf, red, board, move[:2])}")
    return ", ".join(shown)


def _read_move(st: dict, legal: list[str], text: Any) -> str:
    """The legal ICCS move ``text`` names in the analysed position (see ``parse_move``)."""
    if st["result"] is not None:
        raise ValueError(f"the game is over ({result_text(st)}): no move can be played")
    if not isinstance(text, str) or not text.strip() or len(text) > 40:
        raise ValueError(f"a move must be a short string in ICCS (h2e2), WXF (C2=5) or Chinese (炮二平五) "
                         f"notation, not {_short(text)}")
    iccs = re.fullmatch(r"([a-i][0-9])\s*-?\s*([a-i][0-9])", unicodedata.normalize("NFKC", text).strip().lower())
    if iccs:
        return _legal_move(st, legal, iccs[1] + iccs[2])
    key, fen, red = _key(text), st["fen"], st["side_to_move"] == "red"
    board = _board(fen)
    pieces, found = [], set()
    if _KEY_SHAPE.fullmatch(key):  # only the named piece type (and file, if named) needs pyffish's WXF
        piece, file = next((c for c in key if c in "KAEHRCP"), "P"), _file_of_key(key, red)
        pieces = [m for m in legal if _FEN_TO_WXF[board[m[:2]].lower()] == piece]
        found = {m for m in pieces if file in (None, m[0]) and key in _keys(_wxf(fen, m), red, board, m[:2])}
    if len(found) == 1:
        return found.pop()
    if found:
        raise ValueError(f"{text!r} is ambiguous here: it could be {', '.join(sorted(found))}; give the ICCS move")
    raise ValueError(f"{text!r} is not a legal move for {st['side_to_move']} here; give a move in ICCS (h2e2), "
                     f"WXF (C2=5) or Chinese (炮二平五). Legal moves include "
                     f"{_examples(fen, pieces or legal, red, board)}")


def parse_move(history: Any, text: Any) -> str:
    """The ICCS move meant by ``text`` after ``history``: ICCS ("h2e2", "H2-E2"), WXF ("C2=5",
    "C2.5", "C+=5", "+C=5") or Chinese (炮二平五, 砲2平5, 前俥進一, 马８进７...). Unknown, illegal
    or ambiguous moves raise ``ValueError`` with a few legal moves in all three notations."""
    return _read_move(*_analyse(START_FEN, parse_history(history)), text)


def apply_move(history: Any, move: Any) -> list[str]:
    """A new list: ``history`` (validated) plus ``move`` (ICCS, WXF or Chinese). Raises
    ``ValueError`` if either is invalid or the game is over; the input is never changed."""
    moves = parse_history(history)
    return moves + [_read_move(*_analyse(START_FEN, moves), move)]

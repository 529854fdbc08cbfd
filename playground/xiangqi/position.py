"""The board the model sees: every position of a game as 90 piece codes, from the side to move.

A position is encoded on the 90 points (file 0-8, rank 0-9; index ``rank * 9 + file``) with one
code a point: 0 empty, 1-7 the side to move's king, advisor, elephant, horse, rook, cannon,
pawn, 8-14 the opponent's. When black is to move the board is turned upside down (rank r ->
9 - r) and the colours swapped, so the model always looks at the board as red does and both
colours' positions teach it the same thing. The move vocabulary is closed under that flip
(``flip_move``), so the policy is predicted in the same frame and mapped back.

Boards are replayed in Python from the move list (a move lifts the piece from its square and
puts it on the target, capturing whatever stood there): no rules engine is needed for recorded
(legal) games, and a whole game costs well under a millisecond. ``board_from_fen`` reads a FEN
for the tests, which check the replay against pyffish.
"""

from __future__ import annotations

import numpy as np

FILES = "abcdefghi"
PIECES = "kabnrcp"  # FEN letters: king, advisor, elephant (b), horse (n), rook, cannon, pawn
N_CODES = 1 + 2 * len(PIECES)
START = "rnbakabnr/9/1c5c1/p1p1p1p1p/9/9/P1P1P1P1P/1C5C1/9/RNBAKABNR"


def _square(move: str, k: int) -> int:
    return int(move[2 * k + 1]) * 9 + FILES.index(move[2 * k])


def absolute_board(placement: str = START) -> np.ndarray:
    """90 signed codes from a FEN placement: +1..+7 red pieces, -1..-7 black, 0 empty."""
    board = np.zeros(90, dtype=np.int8)
    for row, text in enumerate(placement.split("/")):
        file = 0
        for ch in text:
            if ch.isdigit():
                file += int(ch)
                continue
            code = PIECES.index(ch.lower()) + 1
            board[(9 - row) * 9 + file] = code if ch.isupper() else -code
            file += 1
    return board


def board_from_fen(fen: str) -> np.ndarray:
    """The model's 90 codes for a FEN (side to move from its second field)."""
    return relative(absolute_board(fen.split()[0]), red_to_move=fen.split()[1] == "w")


_FLIP_RANKS = np.array([(9 - s // 9) * 9 + s % 9 for s in range(90)])


def relative(board: np.ndarray, red_to_move: bool) -> np.ndarray:
    """Signed absolute codes -> the model's codes 0-14 from the side to move."""
    b = board if red_to_move else -board[..., _FLIP_RANKS]
    return np.where(b > 0, b, np.where(b < 0, -b + len(PIECES), 0)).astype(np.int8)


def play(board: np.ndarray, move: str) -> np.ndarray:
    """A copy of the signed absolute ``board`` after ``move`` (trusted to be legal)."""
    out = board.copy()
    src, dst = _square(move, 0), _square(move, 1)
    out[dst], out[src] = out[src], 0
    return out


def absolute_board_after(moves: list[str]) -> np.ndarray:
    board = absolute_board()
    for move in moves:
        board = play(board, move)
    return board


def game_boards(moves: list[str]) -> np.ndarray:
    """(len(moves) + 1, 90) model codes: the position before each move and after the last."""
    board = absolute_board()
    out = np.empty((len(moves) + 1, 90), dtype=np.int8)
    for ply, move in enumerate(moves):
        out[ply] = relative(board, ply % 2 == 0)
        src, dst = _square(move, 0), _square(move, 1)
        board[dst], board[src] = board[src], 0
    out[len(moves)] = relative(board, len(moves) % 2 == 0)
    return out


def flip_move(move: str) -> str:
    """``move`` seen upside down (rank r -> 9 - r): black's move in red's frame and back."""
    return f"{move[0]}{9 - int(move[1])}{move[2]}{9 - int(move[3])}"


def mirror_boards(boards: np.ndarray) -> np.ndarray:
    """Boards reflected left-right (file f -> 8 - f), as ``models.mirror_move`` reflects moves."""
    shape = boards.shape
    return boards.reshape(*shape[:-1], 10, 9)[..., ::-1].reshape(shape)


_ORTHO = ((1, 0), (-1, 0), (0, 1), (0, -1))
_HORSE = ((2, 1), (2, -1), (-2, 1), (-2, -1), (1, 2), (1, -2), (-1, 2), (-1, -2))
KING, HORSE, ROOK, CANNON, PAWN = 1, 4, 5, 6, 7


def in_check(board: np.ndarray, red: bool) -> bool:
    """Is the king of red (``red``) or black attacked on the signed absolute ``board``? By a
    rook or the facing king along a line, a cannon over one screen, a horse whose leg is free,
    or a pawn (forward, or sideways once across the river). Cheap enough for a search's leaves,
    where asking pyffish costs milliseconds; the tests check it against pyffish."""
    sign = 1 if red else -1
    kings = np.flatnonzero(board == sign * KING)
    if not len(kings):
        return True
    rank, file = divmod(int(kings[0]), 9)

    def at(r, f):
        return int(board[r * 9 + f]) * sign  # > 0 ours, < 0 theirs

    for dr, df in _ORTHO:
        r, f, screens = rank + dr, file + df, 0
        while 0 <= r <= 9 and 0 <= f <= 8:
            piece = at(r, f)
            if piece:
                if screens == 0 and piece in (-ROOK, -KING):
                    return True
                if screens == 1:
                    if piece == -CANNON:
                        return True
                    break
                screens += 1
            r, f = r + dr, f + df
    for dr, df in _HORSE:
        r, f = rank + dr, file + df
        if 0 <= r <= 9 and 0 <= f <= 8 and at(r, f) == -HORSE:
            leg = (r - (dr > 0) + (dr < 0), f) if abs(dr) == 2 else (r, f - (df > 0) + (df < 0))
            if at(*leg) == 0:
                return True
    ahead = rank + sign  # an enemy pawn attacks the king from the square in front of it or beside it
    if 0 <= ahead <= 9 and at(ahead, file) == -PAWN:
        return True
    return any(0 <= f <= 8 and at(rank, f) == -PAWN for f in (file - 1, file + 1))

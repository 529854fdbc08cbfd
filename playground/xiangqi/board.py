"""The SVG board of the xiangqi tab: ``board_svg(history, selected=None, flip=False, size=450)``.

The position comes from ``rules`` (pyffish); this module only draws it: grid, river, palaces,
file labels in both notations, the pieces in Chinese, the last move, a king in check, a selected
piece with its legal destinations, and an invisible clickable square over each of the 90 points
(``<rect class="sq" data-sq="h2">``) that the page turns into moves.
"""

from __future__ import annotations

from typing import Any

from ..checks import check_int
from .rules import _FEN_TO_WXF, _NAMES, _NUMERALS, _SQUARE, FILES, START_FEN, _analyse, _board, _short, \
    parse_history, square_of

FONT = "'Noto Sans CJK SC', 'WenQuanYi Micro Hei', 'Microsoft YaHei', 'PingFang SC', sans-serif"

CELL, MARGIN = 50, 56
WIDTH, HEIGHT = 8 * CELL + 2 * MARGIN, 9 * CELL + 2 * MARGIN
_INK, _RED_INK, _BLACK_INK = "#5b3a1a", "#c0392b", "#1b1b1b"


def _xy(square: str, flip: bool) -> tuple[int, int]:
    file, rank = square_of(square)
    if flip:
        file, rank = 8 - file, 9 - rank
    return MARGIN + file * CELL, MARGIN + (9 - rank) * CELL


def _grid() -> str:
    """Lines, river, palaces and the cannon/pawn point marks (the same seen from either side)."""
    left, right, top, bottom = MARGIN, MARGIN + 8 * CELL, MARGIN, MARGIN + 9 * CELL
    path = [f"M{left},{MARGIN + r * CELL}H{right}" for r in range(10)]
    for f in range(9):
        x = MARGIN + f * CELL
        path += [f"M{x},{top}V{bottom}"] if f in (0, 8) else \
            [f"M{x},{top}V{top + 4 * CELL}", f"M{x},{top + 5 * CELL}V{bottom}"]
    for y in (top, top + 7 * CELL):
        x = MARGIN + 3 * CELL
        path += [f"M{x},{y}L{x + 2 * CELL},{y + 2 * CELL}", f"M{x + 2 * CELL},{y}L{x},{y + 2 * CELL}"]
    marks = []
    points = [(f, r) for f in (1, 7) for r in (2, 7)] + [(f, r) for f in range(0, 9, 2) for r in (3, 6)]
    for f, r in points:
        x, y = MARGIN + f * CELL, MARGIN + r * CELL
        for dx in (-1, 1):
            if 0 <= f + dx <= 8:
                for dy in (-1, 1):
                    marks.append(f"M{x + dx * 4},{y + dy * 12}V{y + dy * 4}H{x + dx * 12}")
    river = top + 4.5 * CELL
    return (f'<rect x="{left - 7}" y="{top - 7}" width="{8 * CELL + 14}" height="{9 * CELL + 14}" fill="none" '
            f'stroke="{_INK}" stroke-width="3"/>'
            f'<path d="{"".join(path)}" stroke="{_INK}" stroke-width="1.3" fill="none"/>'
            f'<path d="{"".join(marks)}" stroke="{_INK}" stroke-width="1.2" fill="none"/>'
            f'<text x="{left + 2 * CELL}" y="{river}" font-size="26" fill="{_INK}" text-anchor="middle" '
            f'dominant-baseline="central" letter-spacing="14">楚河</text>'
            f'<text x="{left + 6 * CELL}" y="{river}" font-size="26" fill="{_INK}" text-anchor="middle" '
            f'dominant-baseline="central" letter-spacing="14">漢界</text>')


def _labels(flip: bool) -> str:
    """File numbers on each side's edge (红 一..九 right to left, 黑 1..9), ICCS letters and ranks."""
    out = []
    for f, letter in enumerate(FILES):
        for rank, label in ((0, _NUMERALS[8 - f]), (9, str(f + 1))):
            x, y = _xy(f"{letter}{rank}", flip)
            dy = 33 if y > HEIGHT / 2 else -33
            out.append(f'<text x="{x}" y="{y + dy}">{label}</text>')
        x, y = _xy(f"{letter}{9 if flip else 0}", flip)
        out.append(f'<text x="{x}" y="{y + 48}" font-size="10">{letter}</text>')
    for rank in range(10):
        x, y = _xy(f"{'i' if flip else 'a'}{rank}", flip)
        out.append(f'<text x="{x - 40}" y="{y}" font-size="10">{rank}</text>')
    return (f'<g font-size="13" fill="#8a6236" text-anchor="middle" dominant-baseline="central">'
            f'{"".join(out)}</g>')


def _piece(square: str, letter: str, flip: bool) -> str:
    x, y = _xy(square, flip)
    red = letter.isupper()
    ink = _RED_INK if red else _BLACK_INK
    glyph = _NAMES[red][_FEN_TO_WXF[letter.lower()]]
    return (f'<g class="piece {"red" if red else "black"}" data-piece="{letter}">'
            f'<circle cx="{x}" cy="{y}" r="22" fill="#fbeacb" stroke="{ink}" stroke-width="2.2"/>'
            f'<circle cx="{x}" cy="{y}" r="18" fill="none" stroke="{ink}" stroke-width="0.9"/>'
            f'<text x="{x}" y="{y}" font-size="25" font-weight="bold" fill="{ink}" text-anchor="middle" '
            f'dominant-baseline="central">{glyph}</text></g>')


def _ring(square: str, flip: bool, cls: str, colour: str, r: float = 25, width: float = 3, dash: str = "") -> str:
    x, y = _xy(square, flip)
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    return (f'<circle class="{cls}" cx="{x}" cy="{y}" r="{r}" fill="none" stroke="{colour}" '
            f'stroke-width="{width}"{dashes}/>')


def _check_size(size: Any) -> int:
    """``size`` (pixels) as an int in [100, 2000]."""
    return check_int("size", size, 100, 2000)


def board_svg(history: Any, selected: str | None = None, flip: bool = False, size: int = 450) -> str:
    """A standalone SVG of the position after ``history``: the last move marked, the king in check
    ringed, ``selected`` (an ICCS square) highlighted with dots on its legal destinations, and an
    invisible clickable ``<rect class="sq" data-sq="h2">`` over each of the 90 points.
    ``flip=True`` shows the board from black's side."""
    moves = parse_history(history)
    if selected is not None:
        if not isinstance(selected, str) or not _SQUARE.fullmatch(selected.strip().lower()):
            raise ValueError(f"selected must be an ICCS square such as 'h2' or None, not {_short(selected)}")
        selected = selected.strip().lower()
    if not isinstance(flip, bool):
        raise ValueError(f"flip must be True or False, not {_short(flip)}")
    size = _check_size(size)
    st, legal = _analyse(START_FEN, moves)
    board = _board(st["fen"])
    parts = [_grid(), _labels(flip)]
    if moves:
        parts.append(_ring(moves[-1][:2], flip, "last-from", "#2e7d32", r=9, width=2, dash="3 2"))
    parts += [_piece(square, letter, flip) for square, letter in sorted(board.items())]
    if moves:
        parts.append(_ring(moves[-1][2:], flip, "last-to", "#2e7d32", r=25.5, width=2.5))
    if st["in_check"]:
        king = next(s for s, p in board.items() if p == ("K" if st["side_to_move"] == "red" else "k"))
        parts.append(_ring(king, flip, "check", "#e53935", r=26, width=4))
    if selected:
        parts.append(_ring(selected, flip, "selected", "#1565c0", r=25.5, width=3))
        for move in (m for m in legal if m.startswith(selected)):
            x, y = _xy(move[2:], flip)
            parts.append(_ring(move[2:], flip, "dest", "#1565c0", r=24, width=2.5, dash="5 3") if move[2:] in board
                         else f'<circle class="dest" cx="{x}" cy="{y}" r="7" fill="#1565c0" fill-opacity="0.7"/>')
    for square in (f"{f}{r}" for r in range(10) for f in FILES):
        x, y = _xy(square, flip)
        parts.append(f'<rect class="sq" data-sq="{square}" x="{x - CELL // 2}" y="{y - CELL // 2}" width="{CELL}" '
                     f'height="{CELL}" fill="transparent" pointer-events="all" cursor="pointer"/>')
    label = f"xiangqi board after {len(moves)} plies, {st['side_to_move']} to move"
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{size}" '
            f'height="{round(size * HEIGHT / WIDTH)}" font-family="{FONT}" role="img" aria-label="{label}">'
            f'<rect width="{WIDTH}" height="{HEIGHT}" rx="12" fill="#eccf98"/>{"".join(parts)}</svg>')

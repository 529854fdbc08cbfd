"""The xiangqi tab: a board to play the GPT on, wired to ``playground.xiangqi``.

The game lives in the page (each browser session has its own): the move list as a string of
ICCS moves. Every endpoint takes that string and returns the new one, so a script plays a whole
game through ``gradio_client`` with no session.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import gradio as gr

from ..checks import check_choice, check_float, check_int
from ..uikit import DEVICE_EVENT, SelectEvent, card_markdown, first_result, scratch_dir, shared_doc, ui_errors
from . import api, engine, game, rules
from .board import board_svg

SIDES = [("Red (moves first)", "red"), ("Black", "black")]
SEARCH_CHOICES = [("The model's default", "default"), ("Policy only", "none"), ("1-ply lookahead (value head)", "1-ply"),
                  ("2-ply search (value head)", "2-ply")]
MAX_GAMES = 20
OPPONENTS = ["random mover"] + [f"fairy-stockfish depth {d}" for d in range(1, 6)]
MOVE_HEADERS = ["#", "red", "红", "black", "黑"]
CANDIDATE_HEADERS = ["move", "中文", "probability"]
SQUARE = re.compile(r"^[a-i][0-9]$")

# A click on a point of the board reports its ICCS square (data-sq) as a select event.
BOARD_JS = """
element.addEventListener('click', (e) => {
  const t = e.target.closest('[data-sq]');
  if (t) trigger('select', {index: 0, value: t.dataset.sq, selected: true});
});
"""
CSS = "#xiangqi-board svg { width: 100%; max-width: 520px; height: auto; display: block; margin: auto; }"


def _check_side(side) -> str:
    return check_choice("side", side, ("red", "black"))


def _search(search):
    """The UI's search choice for the API: "default" (or None) is the model's default."""
    if search is None or check_choice("search", search, ["default", *api.SEARCHES]) == "default":
        return None
    return search


def evaluation_bar(moves: list[str]) -> str:
    """The model's evaluation of the position as a red/black bar (HTML)."""
    ev = api.evaluation(moves)
    red = ev["red_win_probability"]
    if red is None:
        return ("<div id='xiangqi-eval' class='xq-eval'><em>This model has no value head: no evaluation "
                "(the board-aware model has one).</em></div>")
    pct = round(100 * red)
    return (f"<div id='xiangqi-eval' class='xq-eval' data-red='{red:.4f}' title=\"the model's value head: red's "
            f"expected score\"><div style='display:flex;height:14px;border:1px solid #888;border-radius:3px;"
            f"overflow:hidden'><div style='width:{pct}%;background:#c8102e'></div><div style='width:{100 - pct}%;"
            f"background:#222'></div></div><small>Model's evaluation: 红 Red {pct}% · 黑 Black {100 - pct}% "
            f"(expected score)</small></div>")


def move_table(moves: list[str]) -> list[list]:
    chinese = rules.to_chinese_list(moves)
    rows = []
    for i in range(0, len(moves), 2):
        rows.append([i // 2 + 1, moves[i], chinese[i], moves[i + 1] if i + 1 < len(moves) else "",
                     chinese[i + 1] if i + 1 < len(moves) else ""])
    return rows


def candidate_table(before: list[str], top: list[tuple[str, float]]) -> list[list]:
    return [[m, rules.to_chinese(before, m), p] for m, p in top]


def status_line(moves: list[str], side: str) -> str:
    st = rules.state(moves)
    if st["result"] is not None:
        return f"**Game over:** {rules.result_text(st)}"
    turn = "your move" if st["side_to_move"] == side else "the model is thinking"
    who = "红方 Red" if st["side_to_move"] == "red" else "黑方 Black"
    check = " · **check!** 将军" if st["in_check"] else ""
    last = f" · last move {st['last_move']} ({rules.to_chinese(moves[:-1], moves[-1])})" if moves else ""
    return f"{who} to move ({turn}){check}{last}"


# The arguments and returns xiangqi_new_game and xiangqi_move share (their docstrings, via ``shared_doc``).
PLAY_ARGS = """
side: the side you play, "red" (the default; red moves first) or "black".
temperature: the model's temperature, a number from 0 (its best move; the default) to 10.
search: "default" or None (the model's default: 1-ply for the shipped model), "none" (policy only), "1-ply" or "2-ply".
"""
VIEW_RETURNS = """
the new history (ICCS moves, space-separated)
the board (SVG)
the move list: rows of move number, red's move (ICCS, Chinese) and black's
the model's top 5 candidates for its reply: rows of move (ICCS), Chinese and probability
the status line (Markdown): whose turn, check, the last move, or the result
"""


def _view(moves: list[str], side: str, top=(), before=None, selected=None):
    """(history, board, move table, candidates, status) for the page."""
    return (" ".join(moves), board_svg(moves, selected=selected, flip=side == "black"), move_table(moves),
            candidate_table(before if before is not None else moves, top), status_line(moves, side))


@ui_errors
@shared_doc(PLAY_ARGS, VIEW_RETURNS)
def xiangqi_new_game(side: str, temperature: float = 0.0, search: str | None = None):
    """A new game; when you take black, the model opens as red."""
    side = _check_side(side)
    temperature = api._check_temperature(temperature)
    search = _search(search)
    if side == "black":
        result = api.play([], None, temperature=temperature, search=search)
        return _view(result["history"], side, result["candidates"], before=[])
    return _view([], side)


@ui_errors
@shared_doc(PLAY_ARGS, VIEW_RETURNS)
def xiangqi_move(history: str, move: str, side: str = "red", temperature: float = 0.0, search: str | None = None):
    """Play ``move`` (ICCS like h2e2, WXF like C2=5, or Chinese like 炮二平五) after ``history``
    (ICCS moves, space-separated); the model replies at once (unless the game is over). Stateless:
    the game is its move list, sent with every call and returned updated (a game ends after at most 300 plies).

    Args:
        history: the game so far, ICCS moves from the start (h2e2...) separated by spaces or commas; "": a new game.
        move: your move, legal and on your turn: ICCS (h2e2), WXF (C2=5) or Chinese (炮二平五).
    """
    side = _check_side(side)
    search = _search(search)
    if not isinstance(move, str) or not move.strip():
        raise ValueError("move must be a move such as h2e2, C2=5 or 炮二平五")
    moves = rules.parse_history(history)
    st = rules.state(moves)
    if st["result"] is None and st["side_to_move"] != side:
        raise ValueError(f"it is {st['side_to_move']}'s turn, not yours ({side}): the model moves first")
    result = api.play(moves, move, temperature=temperature, search=search)
    before = result["history"][:-1] if result["reply"] else result["history"]
    return _view(result["history"], side, result["candidates"], before=before)


@ui_errors
def xiangqi_evaluation(history: str):
    """The model's evaluation of the position after ``history``: a bar of red's and black's
    expected score from the value head (HTML).

    Args:
        history: the game so far, ICCS moves from the start (h2e2...) separated by spaces or commas; "": a new game.

    Returns:
        the bar (HTML; red's expected score, 0 to 1, in its data-red attribute)
        a finished game shows its result; a model without a value head shows a note instead
    """
    return evaluation_bar(rules.parse_history(history))


@ui_errors
def xiangqi_candidates(history: str, k: float = 5):
    """The model's k most likely legal moves for the side to move, with probabilities (renormalised over
    the legal moves). The game must not be over.

    Args:
        history: the game so far, ICCS moves from the start (h2e2...) separated by spaces or commas; "": a new game.
        k: how many moves, an integer from 1 to 50 (default 5).

    Returns:
        a table, most likely first: rows of move (ICCS), the move in Chinese and its probability
    """
    moves = rules.parse_history(history)
    return candidate_table(moves, api.candidates(moves, k=k))


@ui_errors
def xiangqi_undo(history: str, side: str):
    """Take back your last move and the model's reply. Playing black, the model's opening move stays
    (with no move of yours left to take back, it is played again, at temperature 0).

    Args:
        history: the game so far, ICCS moves from the start (h2e2...) separated by spaces or commas; "": a new game.
        side: the side you play, "red" or "black".

    Returns:
        the shortened history (ICCS moves, space-separated)
        the board (SVG)
        the move list: rows of move number, red's move (ICCS, Chinese) and black's
        the model's candidates (empty unless it played its opening again): move (ICCS), Chinese, probability
        the status line (Markdown): whose turn, check, the last move, or the result
    """
    side = _check_side(side)
    moves = rules.parse_history(history)
    while moves:
        moves = moves[:-1]
        if rules.state(moves)["side_to_move"] == side:
            break
    if side == "black" and not moves:  # the model's opening move stays
        return xiangqi_new_game.__wrapped__(side)
    return _view(moves, side)


@ui_errors
def xiangqi_click(history: str, selected: str, side: str, temperature: float, evt: SelectEvent):
    """A click on the board: select one of your pieces, then click where it goes."""
    side = _check_side(side)
    api._check_temperature(temperature)
    moves = rules.parse_history(history)
    square = evt.value if isinstance(evt.value, str) and SQUARE.match(evt.value) else None
    st = rules.state(moves)
    if square is None or st["result"] is not None or st["side_to_move"] != side:
        return (*_board_only(moves, side, None), "")
    legal = rules.legal_moves(moves)
    if selected and selected + square in legal:  # your move shows at once; the model replies next (xiangqi_reply)
        return (*_view(moves + [selected + square], side), "")
    if any(m.startswith(square) for m in legal):  # one of your pieces that can move
        return (*_board_only(moves, side, square), square)
    return (*_board_only(moves, side, None), "")


def _board_only(moves: list[str], side: str, selected: str | None) -> tuple:
    """The view after a click that moves nothing: the board redrawn, the move list and the model's
    last candidates left as they are."""
    history, board, _, _, status = _view(moves, side, selected=selected)
    return history, board, gr.skip(), gr.skip(), status


@ui_errors
def xiangqi_reply(history: str, side: str, temperature: float, search: str | None = None):
    """After a click: the model's move when it is the model's turn; otherwise nothing changes."""
    side = _check_side(side)
    temperature = api._check_temperature(temperature)
    search = _search(search)
    moves = rules.parse_history(history)
    st = rules.state(moves)
    if st["result"] is not None or st["side_to_move"] == side:
        return tuple(gr.skip() for _ in range(5))
    result = api.play(moves, None, temperature=temperature, search=search)
    return _view(result["history"], side, result["candidates"], before=moves)


@ui_errors
def xiangqi_export(history: str, side: str):
    """The game as a text record (ICCS and Chinese) ending in a JSON line the trainer reads.

    Args:
        history: the game so far, ICCS moves from the start (h2e2...) separated by spaces or commas; "": a new game.
        side: the side you played, "red" or "black" (the record names you and the GPT as Red and Black).

    Returns:
        a .txt file: headers (Red, Black, Result), then the numbered moves in ICCS and Chinese
        its last line is JSON: {"moves": the ICCS moves, "result": the result, null while the game goes on}
    """
    side = _check_side(side)
    moves = rules.parse_history(history)
    st = rules.state(moves)
    chinese = rules.to_chinese_list(moves)
    human = "You" if side == "red" else "GPT"
    lines = ['[Game "Chinese Chess"]', f'[Red "{human}"]', f'[Black "{"GPT" if side == "red" else "You"}"]',
             f'[Result "{st["result"] or "*"}"]', '[Format "ICCS"]', ""]
    for i in range(0, len(moves), 2):
        pair = moves[i:i + 2]
        lines.append(f"{i // 2 + 1}. " + " ".join(f"{m} {c}" for m, c in zip(pair, chinese[i:i + 2])))
    lines += ["", json.dumps({"moves": " ".join(moves), "result": st["result"]})]
    path = scratch_dir() / f"xiangqi-{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def _opponent(choice: str):
    choice = check_choice("opponent", choice, OPPONENTS)
    if choice == "random mover":
        return game.RandomMover(seed=int(time.time()))
    depth = int(choice.rsplit(" ", 1)[1])  # "fairy-stockfish depth N"
    if not engine.available():
        raise ValueError(engine.unavailable_reason())
    try:
        return game.EngineMover(depth)
    except engine.EngineMissing as e:  # there, but not a working engine
        raise ValueError(str(e)) from None


def _score_line(game_no: int, games: int, tally: dict) -> str:
    played = tally["win"] + tally["draw"] + tally["loss"]
    score = tally["win"] + 0.5 * tally["draw"]
    return (f"Game {game_no}/{games} · the model's W/D/L {tally['win']}/{tally['draw']}/{tally['loss']}, "
            f"score {score:g}/{played}" if played else f"Game {game_no}/{games}")


@ui_errors
def xiangqi_watch(opponent: str, model_side: str, delay: float = 0.4, games: float = 1, search: str | None = None):
    """The model plays ``opponent``: a match of ``games`` games (1-20) from the start, the model
    taking ``model_side`` in the first and the colours swapping each game, streamed move by move
    with the running score (Stop ends it). The model plays its best move (temperature 0); a game ends after
    at most 300 plies. A public server may refuse a request over its work budget (see the System panel).

    Args:
        opponent: "random mover" or "fairy-stockfish depth 1" to "... depth 5" (needs Fairy-Stockfish on the server).
        model_side: the model's side in the first game, "red" or "black" (the app's default: "red").
        delay: the pause between moves, in seconds: a number from 0 to 5 (default 0.4).
        games: the number of games, an integer from 1 to 20 (default 1).
        search: "default" or None (the model's default: 1-ply for the shipped model), "none" (policy only), "1-ply" or "2-ply".

    Returns:
        after every move: the game's history (ICCS moves, space-separated)
        the board (SVG)
        the move list: rows of move number, red's move (ICCS, Chinese) and black's
        the status line (Markdown): the game number, the side to move or the result, and the model's W/D/L
    """
    model_side = _check_side(model_side)
    delay = check_float("delay", delay, 0, 5, note="(seconds)")
    games = check_int("games", games, 1, MAX_GAMES)
    search = _search(search)
    if search is not None:
        api._check_search(search)
    mover = _opponent(opponent)
    model = game.ModelMover(search=search)
    tally = {"win": 0, "draw": 0, "loss": 0}
    try:
        for number in range(1, games + 1):
            side = model_side if number % 2 == 1 else ("black" if model_side == "red" else "red")
            red, black = (model, mover) if side == "red" else (mover, model)
            head = _score_line(number, games, tally) + f" · the model plays {side}"
            for moves, st in game.plies(red, black):
                if st is not None:
                    won = {"1-0": "red", "0-1": "black"}.get(st["result"])
                    tally["draw" if won is None else "win" if won == side else "loss"] += 1
                    line = f"**Game over:** {rules.result_text(st)}  \n" + _score_line(number, games, tally)
                else:
                    line = f"{head}  \n{status_line(moves, 'spectator')}"
                yield " ".join(moves), board_svg(moves, flip=side == "black"), move_table(moves), line
                if st is None or number < games:
                    time.sleep(delay)  # before the next move
    except TimeoutError as e:  # the engine hung mid-game: said on the page (ui_errors), as bad input is
        raise ValueError(f"Fairy-Stockfish stopped answering: {e}") from None
    finally:
        mover.close()


def xiangqi_model_card() -> str:
    try:
        return card_markdown(api.model_dir())
    except ValueError as e:
        return f"No model card: {e}"


def opening_candidates() -> list[list]:
    """The tab's first result: the model's five favourite opening moves for red."""
    return candidate_table([], api.candidates([], k=5))


def build():
    """The tab's widgets and events; returns its first result's loader and output for ``demo.load``."""
    with gr.Row():
        with gr.Column(scale=3, min_width=360):
            board = gr.HTML(board_svg([]), js_on_load=BOARD_JS, elem_id="xiangqi-board",
                            css_template=CSS, padding=False)
            status = gr.Markdown(status_line([], "red"), elem_id="xiangqi-status")
            bar = gr.HTML("<small>The model's evaluation of the position shows here after the first move.</small>",
                          elem_id="xiangqi-eval-bar")
        with gr.Column(scale=2, min_width=300):
            with gr.Row():
                side = gr.Radio(SIDES, value="red", label="You play", elem_id="xiangqi-side")
                temperature = gr.Slider(0, 2, value=0, step=0.05, label="Model temperature (0: its best move)",
                                        elem_id="xiangqi-temperature")
            search = gr.Radio(SEARCH_CHOICES, value="default", label="How the model chooses", elem_id="xiangqi-search",
                              info="Policy only: its most likely legal move. 1-ply: every legal move scored by the "
                                   "value head at the position it leads to. 2-ply: the best of those also "
                                   "answered by every reply, each scored by the worst reply's value.")
            with gr.Row():
                move = gr.Textbox(label="Your move", placeholder="h2e2 · C2=5 · 炮二平五", elem_id="xiangqi-move-input",
                                  scale=3)
                play = gr.Button("Play", variant="primary", elem_id="xiangqi-play", scale=1, min_width=60)
            with gr.Row():
                new = gr.Button("New game", elem_id="xiangqi-new")
                undo = gr.Button("Undo", elem_id="xiangqi-undo")
                export = gr.DownloadButton("Export record", elem_id="xiangqi-export")
            with gr.Row():
                hint = gr.Button("Hint: the model's top moves for my position", elem_id="xiangqi-hint", scale=3)
                k = gr.Number(5, precision=0, minimum=1, maximum=api.MAX_K, label="k", scale=1, min_width=60)
            cands = gr.Dataframe(headers=CANDIDATE_HEADERS, value=[], label="The model's top candidates (its last reply, or your hint)",
                                 interactive=False, elem_id="xiangqi-candidates")
            table = gr.Dataframe(headers=MOVE_HEADERS, value=[], label="Moves", interactive=False, max_height=320,
                                 elem_id="xiangqi-moves")
            history = gr.Textbox("", label="Game so far (ICCS)", interactive=False, elem_id="xiangqi-history")
            selected = gr.State("")
    with gr.Accordion("Watch: the model against an opponent", open=False):
        installed = engine.available()
        with gr.Row():
            opponent = gr.Dropdown(OPPONENTS, value="random mover", label="Opponent", elem_id="xiangqi-opponent",
                                   info=("Fairy-Stockfish found." if installed else engine.unavailable_reason()))
            model_side = gr.Radio(SIDES, value="red", label="The model plays", elem_id="xiangqi-watch-side")
            delay = gr.Slider(0, 2, value=0.4, step=0.1, label="Pause between moves (s)")
            games = gr.Number(1, precision=0, minimum=1, maximum=MAX_GAMES, label="Games (colours swap each game)",
                              elem_id="xiangqi-watch-games")
        with gr.Row():
            watch = gr.Button("Watch a game", variant="primary", elem_id="xiangqi-watch")
            stop = gr.Button("Stop", elem_id="xiangqi-watch-stop")
        with gr.Row():
            watch_board = gr.HTML(board_svg([]), elem_id="xiangqi-watch-board", css_template=CSS.replace(
                "#xiangqi-board", "#xiangqi-watch-board"), padding=False)
            with gr.Column():
                watch_status = gr.Markdown("", elem_id="xiangqi-watch-status")
                watch_table = gr.Dataframe(headers=MOVE_HEADERS, value=[], interactive=False, max_height=360,
                                           label="Moves")
                watch_history = gr.Textbox("", label="Game (ICCS)", interactive=False)
    with gr.Accordion("Model card", open=False):
        gr.Markdown(xiangqi_model_card(), elem_id="xiangqi-card")

    view = [history, board, table, cands, status]
    # preprocess=False: values arrive as sent and the API validates them
    play_event = dict(fn=xiangqi_move, inputs=[history, move, side, temperature, search], outputs=view,
                      preprocess=False, **DEVICE_EVENT)
    evaluate = dict(fn=xiangqi_evaluation, inputs=history, outputs=bar, preprocess=False, **DEVICE_EVENT)
    play.click(**play_event, api_name="xiangqi_move").then(lambda: ("", ""), None, [move, selected],
                                                           api_visibility="private")
    move.submit(**play_event, api_visibility="private").then(lambda: ("", ""), None, [move, selected],
                                                             api_visibility="private")
    # the evaluation bar follows every change of the game (its own endpoint: the moves' outputs stay as they were)
    history.change(**evaluate, api_name="xiangqi_evaluation")
    new.click(xiangqi_new_game, [side, temperature, search], view, api_name="xiangqi_new_game", preprocess=False,
              **DEVICE_EVENT).then(lambda: "", None, selected, api_visibility="private")
    side.change(xiangqi_new_game, [side, temperature, search], view, api_visibility="private", preprocess=False,
                **DEVICE_EVENT)
    undo.click(xiangqi_undo, [history, side], view, api_name="xiangqi_undo", preprocess=False)
    # selecting a piece and showing your move need no model: they answer at once, outside the device queue
    board.select(xiangqi_click, [history, selected, side, temperature], [*view, selected], api_visibility="private",
                 concurrency_id="xiangqi-click", concurrency_limit=8, preprocess=False).then(
        xiangqi_reply, [history, side, temperature, search], view, api_visibility="private", preprocess=False,
        **DEVICE_EVENT)
    export.click(xiangqi_export, [history, side], export, api_name="xiangqi_export", preprocess=False)
    hint.click(xiangqi_candidates, [history, k], cands, api_name="xiangqi_candidates", preprocess=False,
               **DEVICE_EVENT)
    watching = watch.click(xiangqi_watch, [opponent, model_side, delay, games, search],
                           [watch_history, watch_board, watch_table, watch_status], api_name="xiangqi_watch",
                           concurrency_id="xiangqi-watch", concurrency_limit=4, preprocess=False)
    stop.click(None, None, None, cancels=[watching], api_visibility="private")
    return first_result(opening_candidates, "Xiangqi"), cands

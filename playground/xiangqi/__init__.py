"""The xiangqi tab: a GPT trained on Fairy-Stockfish games, playing through pyffish's rules.

    from playground import xiangqi
    xiangqi.choose_move(["h2e2"])                  # the model's reply, ICCS
    xiangqi.candidates("h2e2 h9g7", k=5)          # [(move, probability), ...]
    xiangqi.state("h2e2 h9g7")                    # FEN, side to move, check, result
    svg = xiangqi.board_svg("h2e2 h9g7")
"""

from .api import (SHIPPED, board_svg, candidates, choose_move, evaluation, legal_moves, load_model,  # noqa: F401
                  model_dir, play, state)
from .rules import MAX_PLIES, apply_move, parse_history, parse_move, to_chinese, to_chinese_list  # noqa: F401

__all__ = ["MAX_PLIES", "SHIPPED", "apply_move", "board_svg", "candidates", "choose_move", "evaluation", "legal_moves",
           "load_model", "model_dir", "parse_history", "parse_move", "play", "state", "to_chinese",
           "to_chinese_list"]

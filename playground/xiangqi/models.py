"""The xiangqi GPT: a transformers ``GPT2LMHeadModel`` over one token per move.

Vocabulary. The write-up spelled each move as four characters (20 tokens: 0-9, a-i and
[PAD]). We give each move its own token instead: the ~2,000 (from, to) pairs that some
xiangqi piece can ever make (lines along a file or rank, horse jumps, elephant and advisor
diagonals). A game is then a quarter as long (at most 301 tokens, not 1,200), which cuts the
cost of attention and of training four-fold on a CPU, and scoring every legal move is one
forward pass: each candidate's log-probability is read off one softmax, the exact version of the
write-up's "sum of its four characters' log-probabilities, all in one batch".

Each game opens with a token that says how it ended (``<red>`` won, ``<black>`` won,
``<draw>``, ``<?>`` unknown); at play time the model is told that the side it plays wins, so it
imitates the winners' moves: the write-up's "train on winners", without discarding the losers'
positions.

The tokenizer is a ``PreTrainedTokenizerFast`` (a word-level model over space-separated ICCS
moves) saved beside the weights, so ``AutoTokenizer`` and ``AutoModelForCausalLM`` load the folder.
"""

from __future__ import annotations

import functools

FILES = "abcdefghi"
PAD, UNK = "[PAD]", "[UNK]"
RESULT_TOKENS = {"1-0": "<red>", "0-1": "<black>", "1/2-1/2": "<draw>", None: "<?>"}
SPECIALS = [PAD, UNK, *RESULT_TOKENS.values()]

SIZES = {  # name -> (layers, width, heads)
    "tiny": (2, 64, 2),
    "small": (6, 256, 8),
    "base": (8, 384, 8),
}
MAX_PLIES = 300
N_POSITIONS = MAX_PLIES + 4  # the result token, then up to MAX_PLIES moves


def _square(f: int, r: int) -> str:
    return f"{FILES[f]}{r}"


@functools.lru_cache(maxsize=1)
def move_vocabulary() -> tuple[str, ...]:
    """Every ICCS move some piece can make from some point, sorted."""
    moves = set()
    in_palace = lambda f, r: 3 <= f <= 5 and (r <= 2 or r >= 7)  # noqa: E731
    for f in range(9):
        for r in range(10):
            targets = [(f, r2) for r2 in range(10) if r2 != r] + [(f2, r) for f2 in range(9) if f2 != f]
            targets += [(f + df, r + dr) for df, dr in ((1, 2), (2, 1), (-1, 2), (-2, 1), (1, -2), (2, -1),
                                                         (-1, -2), (-2, -1))]
            targets += [(f + df, r + dr) for df in (2, -2) for dr in (2, -2) if (r <= 4) == (r + dr <= 4)]
            if in_palace(f, r):
                targets += [(f + df, r + dr) for df in (1, -1) for dr in (1, -1) if in_palace(f + df, r + dr)]
            for f2, r2 in targets:
                if 0 <= f2 < 9 and 0 <= r2 < 10:
                    moves.add(_square(f, r) + _square(f2, r2))
    return tuple(sorted(moves))


def mirror_move(move: str) -> str:
    """``move`` reflected left-right: files a..i become i..a, ranks stay."""
    flip = lambda c: FILES[8 - FILES.index(c)]  # noqa: E731
    return flip(move[0]) + move[1] + flip(move[2]) + move[3]


def build_tokenizer():
    """The word-level fast tokenizer: specials first, then every move."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {tok: i for i, tok in enumerate([*SPECIALS, *move_vocabulary()])}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, unk_token=UNK,
                                   model_max_length=N_POSITIONS)


def make_model(size: str = "small", vocab_size: int | None = None, dropout: float = 0.0):
    from transformers import GPT2Config, GPT2LMHeadModel

    if size not in SIZES:
        raise ValueError(f"size must be one of {list(SIZES)}, not {size!r}")
    layers, width, heads = SIZES[size]
    vocab_size = vocab_size or len(SPECIALS) + len(move_vocabulary())
    config = GPT2Config(vocab_size=vocab_size, n_positions=N_POSITIONS, n_embd=width, n_layer=layers, n_head=heads,
                        resid_pdrop=dropout, embd_pdrop=dropout, attn_pdrop=dropout, bos_token_id=SPECIALS.index("<?>"),
                        eos_token_id=SPECIALS.index("<?>"), pad_token_id=0)
    return GPT2LMHeadModel(config)


class Vocab:
    """Fast move <-> id maps taken from a tokenizer (the API's hot path avoids the tokenizer)."""

    def __init__(self, tokenizer):
        self.ids = dict(tokenizer.get_vocab())
        self.tokens = {i: t for t, i in self.ids.items()}
        self.pad = self.ids[PAD]
        self.move_ids = sorted(i for t, i in self.ids.items() if len(t) == 4 and t[0] in FILES)

    def encode(self, moves: list[str], result: str | None = None) -> list[int]:
        try:
            return [self.ids[RESULT_TOKENS[result]]] + [self.ids[m] for m in moves]
        except KeyError as e:
            raise ValueError(f"{e.args[0]!r} is not a move any xiangqi piece can make") from None

    def mirror_table(self) -> list[int]:
        """id -> id of the same move reflected left-right (file a <-> i); other tokens map to
        themselves. Xiangqi is symmetric under this reflection, so a mirrored game is as legal,
        and ends the same way, as the game itself: free data."""
        table = list(range(len(self.tokens)))
        for move in (self.tokens[i] for i in self.move_ids):
            table[self.ids[move]] = self.ids[mirror_move(move)]
        return table

    @functools.cached_property
    def flip_table(self) -> list[int]:
        """id -> id of the same move seen upside down (rank r <-> 9 - r, ``position.flip_move``):
        black's moves in red's frame and back (the flip is its own inverse)."""
        from .position import flip_move

        table = list(range(len(self.tokens)))
        for move in (self.tokens[i] for i in self.move_ids):
            table[self.ids[move]] = self.ids[flip_move(move)]
        return table

    def result_for(self, side_to_move: str) -> str:
        """The result token that tells the model ``side_to_move`` wins."""
        return "1-0" if side_to_move == "red" else "0-1"

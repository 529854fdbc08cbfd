"""The board-aware xiangqi GPT: a transformers model over one token per move that also sees the board.

``XiangqiGPT`` keeps the write-up's framing (a GPT-2 over the game's moves, one token per move,
that ranks the legal moves) and adds what a move-only model of a few thousand games lacks:

* **the board**: at every position, the 90 points as the side to move sees them
  (``position.py``) are embedded as a sum of piece-square embeddings (one vector per piece kind
  and point, as a piece-square table; an ``EmbeddingBag`` over the ~32 occupied points) and
  added to the move token's embedding, so each position's hidden state knows where every piece
  stands, not only which moves led there (Toshniwal et al. 2021: the board state helps most
  when data is small). ``board="none"`` is the move-only model of the ablation.
* **a policy in the side to move's frame**: logits over the move vocabulary as red sees the
  board (black's moves turned upside down, ``position.flip_move``), so red's and black's
  positions teach the same head;
* **a value head**: the logit of the side to move's expected score (win 1, draw 1/2, loss 0),
  trained on the engine's evaluation; it drives the optional one-ply lookahead.

Registered with transformers' Auto classes when this module is imported (``import
playground.xiangqi`` does it), so ``AutoModel.from_pretrained(folder)`` loads a saved model
without ``trust_remote_code``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, GPT2Config, GPT2Model, GPT2PreTrainedModel
from transformers.utils import ModelOutput

from .position import N_CODES

BOARDS = ("pieces", "none")


class XiangqiConfig(GPT2Config):
    model_type = "xiangqi-gpt"

    def __init__(self, board: str = "pieces", **kwargs):
        super().__init__(**kwargs)
        if board not in BOARDS:
            raise ValueError(f"board must be one of {list(BOARDS)}, not {board!r}")
        self.board = board


@dataclass
class XiangqiOutput(ModelOutput):
    policy_logits: torch.Tensor | None = None  # (batch, positions, vocabulary), side to move's frame
    value_logits: torch.Tensor | None = None  # (batch, positions): logit of the side to move's expected score
    past_key_values: object | None = None


class XiangqiGPT(GPT2PreTrainedModel):
    config_class = XiangqiConfig

    def __init__(self, config: XiangqiConfig):
        super().__init__(config)
        self.transformer = GPT2Model(config)
        width = config.n_embd
        # index 0: an empty point (left out of the sum); 1 + (code - 1) * 90 + point otherwise
        self.pieces = nn.EmbeddingBag(1 + (N_CODES - 1) * 90, width, mode="sum", padding_idx=0) \
            if config.board == "pieces" else None
        self.policy = nn.Linear(width, config.vocab_size, bias=False)
        self.value = nn.Sequential(nn.Linear(width, width), nn.GELU(), nn.Linear(width, 1))
        self.post_init()

    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, nn.EmbeddingBag):
            module.weight.data.normal_(0.0, self.config.initializer_range)
            module.weight.data[0].zero_()

    def board_embedding(self, boards: torch.Tensor) -> torch.Tensor:
        """(..., 90) codes -> (..., width): the sum of the occupied points' piece-square vectors."""
        codes = boards.long()
        points = torch.arange(90, device=codes.device)
        index = torch.where(codes > 0, 1 + (codes - 1) * 90 + points, torch.zeros_like(codes))
        flat = self.pieces(index.reshape(-1, 90))
        return flat.reshape(*codes.shape[:-1], -1)

    def forward(self, input_ids: torch.Tensor, boards: torch.Tensor | None = None,
                attention_mask: torch.Tensor | None = None, position_ids: torch.Tensor | None = None,
                past_key_values=None, use_cache: bool = False, **kwargs) -> XiangqiOutput:
        embeds = self.transformer.wte(input_ids)
        if self.pieces is not None:
            if boards is None:
                raise ValueError("this model sees the board: pass boards (batch, positions, 90)")
            embeds = embeds + self.board_embedding(boards).to(embeds.dtype)
        out = self.transformer(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids,
                               past_key_values=past_key_values, use_cache=use_cache)
        hidden = out.last_hidden_state
        return XiangqiOutput(policy_logits=self.policy(hidden), value_logits=self.value(hidden).squeeze(-1),
                             past_key_values=out.past_key_values if use_cache else None)


AutoConfig.register(XiangqiConfig.model_type, XiangqiConfig, exist_ok=True)
AutoModel.register(XiangqiConfig, XiangqiGPT, exist_ok=True)

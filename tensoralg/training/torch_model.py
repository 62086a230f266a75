"""The attention-only transformer in PyTorch, the same math as :func:`tensoralg.models.model.forward`.

Column-vector convention of CLAIMS.md, parameters named as tensoralg's weight files:
W_E (d_model × n_vocab), W_pos (d_model × n_ctx), W_U (n_vocab × d_model) and per layer
W_Q, W_K, W_V (H × d_head × d_model), W_O (H × d_model × d_head). No biases and no LayerNorm,
so the path expansion (C12, C20) covers the whole model. With X the residual stream (a row per
position), head h computes A = softmax*(s · X W_Qᵀ W_K Xᵀ) and writes A X W_Vᵀ W_Oᵀ; the
logits are X W_Uᵀ. This module imports torch; nothing outside :mod:`tensoralg.training` imports it.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch

from ..models.model import AttentionLayer, Model


class AttentionOnly(torch.nn.Module):
    """Embedding, attention-only layers, unembedding; weights drawn from ``generator``."""

    def __init__(self, n_vocab: int, n_ctx: int, heads: Sequence[int], d_model: int, d_head: int,
                 positional: bool, generator: torch.Generator) -> None:
        super().__init__()

        def draw(*shape: int, fan_in: int) -> torch.nn.Parameter:
            return torch.nn.Parameter(torch.randn(*shape, generator=generator) / math.sqrt(fan_in))

        self.score_scale = 1.0 / math.sqrt(d_head)
        self.W_E = draw(d_model, n_vocab, fan_in=d_model)
        self.W_pos = draw(d_model, n_ctx, fan_in=d_model) if positional else None
        self.W_U = draw(n_vocab, d_model, fan_in=d_model)
        self.W_Q = torch.nn.ParameterList([draw(h, d_head, d_model, fan_in=d_model) for h in heads])
        self.W_K = torch.nn.ParameterList([draw(h, d_head, d_model, fan_in=d_model) for h in heads])
        self.W_V = torch.nn.ParameterList([draw(h, d_head, d_model, fan_in=d_model) for h in heads])
        self.W_O = torch.nn.ParameterList([draw(h, d_model, d_head, fan_in=d_head) for h in heads])

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits, batch × n × n_vocab, for tokens of shape batch × n."""
        n = tokens.shape[-1]
        x = self.W_E.T[tokens]
        if self.W_pos is not None:
            x = x + self.W_pos[:, :n].T
        future = ~torch.ones(n, n, dtype=torch.bool, device=tokens.device).tril()
        for W_Q, W_K, W_V, W_O in zip(self.W_Q, self.W_K, self.W_V, self.W_O):
            q = torch.einsum("bnd,hed->bhne", x, W_Q)
            k = torch.einsum("bnd,hed->bhne", x, W_K)
            v = torch.einsum("bnd,hed->bhne", x, W_V)
            scores = (q @ k.transpose(-1, -2)) * self.score_scale
            pattern = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
            x = x + torch.einsum("bhne,hde->bnd", pattern @ v, W_O)
        return x @ self.W_U.T


def to_model(module: AttentionOnly) -> Model:
    """The same weights as a tensoralg :class:`Model` (float64, score scale 1/√d_head)."""

    def array(p: torch.Tensor) -> np.ndarray:
        return p.detach().cpu().double().numpy()

    layers = tuple(AttentionLayer(array(q), array(k), array(v), array(o))
                   for q, k, v, o in zip(module.W_Q, module.W_K, module.W_V, module.W_O))
    return Model(array(module.W_E), array(module.W_U), layers,
                 W_pos=None if module.W_pos is None else array(module.W_pos), score_scale=module.score_scale)

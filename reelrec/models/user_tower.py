"""UserTower: user id, dwell-weighted watch history, context and attributes → unit vector."""

from __future__ import annotations

import torch
from torch import nn

from reelrec.config import ModelConfig
from reelrec.models.encoders import DwellPooling, OptionalId, mlp

N_HOURS = 25  # 24 hours + unknown
N_WEEKDAYS = 8  # 7 days + unknown
CONTEXT_DIM = 8


class UserTower(nn.Module):
    """Embeds a batch of user inputs into L2-normalised ``[B, cfg.dim]`` vectors.

    Inputs (dict of tensors): ``user_idx [B]``, ``hist_video [B, N]`` (-1 = pad),
    ``hist_dwell [B, N]``, ``hist_liked [B, N]``, content of the U distinct history videos
    (``hist_tags [U, T]``, ``hist_creator [U]``, ``hist_content_row [B, N]``), ``hour [B]``,
    ``weekday [B]``,
    ``attrs [B, A]`` (0 = unknown). Only the inputs named in ``cfg.user_features`` are read.
    """

    def __init__(
        self,
        cfg: ModelConfig,
        n_users: int,
        n_videos: int,
        attribute_sizes: list[int],
        sparse: bool,
        n_tags: int = 0,
        n_creators: int = 0,
    ) -> None:
        super().__init__()
        self.features = list(cfg.user_features)
        width = 0
        e = cfg.embedding_dim
        if "id" in self.features:
            self.user_id = OptionalId(n_users, e, sparse)
            width += e
        if "history" in self.features:
            self.history = DwellPooling(n_videos, e, sparse, n_tags, n_creators)
            width += e
        if "context" in self.features:
            self.hour = nn.Embedding(N_HOURS, CONTEXT_DIM)
            self.weekday = nn.Embedding(N_WEEKDAYS, CONTEXT_DIM)
            width += 2 * CONTEXT_DIM
        if "attributes" in self.features and attribute_sizes:
            self.attributes = nn.ModuleList(
                nn.Embedding(s + 1, CONTEXT_DIM) for s in attribute_sizes
            )
            width += CONTEXT_DIM * len(attribute_sizes)
        self.head = mlp(width, list(cfg.hidden), cfg.dim, cfg.dropout)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """Encode users; see the class docstring for inputs."""
        parts: list[torch.Tensor] = []
        if "id" in self.features:
            parts.append(self.user_id(x["user_idx"]))
        if "history" in self.features:
            parts.append(self.history(x))
        if "context" in self.features:
            parts += [self.hour(x["hour"]), self.weekday(x["weekday"])]
        if hasattr(self, "attributes"):
            parts += [emb(x["attrs"][:, j]) for j, emb in enumerate(self.attributes)]
        return nn.functional.normalize(self.head(torch.cat(parts, dim=1)), dim=1)

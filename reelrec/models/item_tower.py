"""ItemTower: video id (+OOV), creator, tags, duration, age, title, media vectors → unit vector.

The content inputs let a video never seen in training get a useful vector: during training
its id is replaced by an OOV bucket with probability ``id_dropout`` (done by the batch
builder), so the tower learns to place videos from content alone.
"""

from __future__ import annotations

import torch
from torch import nn

from reelrec.config import ModelConfig
from reelrec.models.encoders import Bag, OptionalId, mlp

SMALL_DIM = 8


class ItemTower(nn.Module):
    """Embeds a batch of video inputs into L2-normalised ``[B, cfg.dim]`` vectors.

    Inputs (dict of tensors): ``video_idx [B]``, ``creator_idx [B]`` (-1 = none),
    ``tags [B, T]`` and ``title [B, L]`` (0 = pad), ``duration_bucket [B]``, ``age_bucket [B]``,
    ``vectors [B, V]`` float32. Only the inputs named in ``cfg.item_features`` are read.
    """

    def __init__(
        self,
        cfg: ModelConfig,
        sizes: dict[str, int],
        sparse: bool,
    ) -> None:
        super().__init__()
        e = cfg.embedding_dim
        self.features = [f for f in cfg.item_features if f != "vectors" or sizes["vectors"] > 0]
        width = 0
        if "id" in self.features:
            self.video_id = OptionalId(sizes["videos"], e, sparse)
            width += e
        if "creator" in self.features:
            self.creator = OptionalId(sizes["creators"], e, sparse)
            width += e
        if "tags" in self.features:
            self.tags = Bag(sizes["tags"], e, sparse)
            width += e
        if "title" in self.features:
            self.title = Bag(sizes["text"], e, sparse)
            width += e
        if "duration" in self.features:
            self.duration = nn.Embedding(sizes["duration"] + 2, SMALL_DIM)
            width += SMALL_DIM
        if "age" in self.features:
            self.age = nn.Embedding(sizes["age"] + 2, SMALL_DIM)
            width += SMALL_DIM
        if "vectors" in self.features:
            self.vectors = nn.Linear(sizes["vectors"], e)
            width += e
        self.head = mlp(width, list(cfg.hidden), cfg.dim, cfg.dropout)

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """Encode videos; see the class docstring for inputs."""
        parts: list[torch.Tensor] = []
        if "id" in self.features:
            parts.append(self.video_id(x["video_idx"]))
        if "creator" in self.features:
            parts.append(self.creator(x["creator_idx"]))
        if "tags" in self.features:
            parts.append(self.tags(x["tags"]))
        if "title" in self.features:
            parts.append(self.title(x["title"]))
        if "duration" in self.features:
            parts.append(self.duration(x["duration_bucket"]))
        if "age" in self.features:
            parts.append(self.age(x["age_bucket"]))
        if "vectors" in self.features:
            parts.append(self.vectors(x["vectors"]))
        return nn.functional.normalize(self.head(torch.cat(parts, dim=1)), dim=1)

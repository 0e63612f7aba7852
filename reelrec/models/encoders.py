"""Building blocks shared by both towers: masked pooling, bags, MLPs."""

from __future__ import annotations

import torch
from torch import nn


def mlp(in_dim: int, hidden: list[int], out_dim: int, dropout: float = 0.0) -> nn.Sequential:
    """Linear → ReLU (→ Dropout) blocks ending in a linear projection to ``out_dim``."""
    layers: list[nn.Module] = []
    width = in_dim
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, out_dim))
    return nn.Sequential(*layers)


def padded_embedding(num: int, dim: int, sparse: bool) -> nn.Embedding:
    """``num`` rows plus row 0 for padding / missing, which stays a zero vector."""
    embedding = nn.Embedding(num + 1, dim, padding_idx=0, sparse=sparse)
    nn.init.normal_(embedding.weight, std=0.05)
    with torch.no_grad():
        embedding.weight[0].zero_()
    return embedding


class Bag(nn.Module):
    """Mean of embeddings of a padded index matrix ``[B, L]`` (0 = padding) → ``[B, dim]``."""

    def __init__(self, num: int, dim: int, sparse: bool) -> None:
        super().__init__()
        self.embedding = padded_embedding(num, dim, sparse)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """Masked mean; an all-padding row gives zeros."""
        vectors = self.embedding(idx)  # [B, L, D]
        count = (idx > 0).sum(dim=1, keepdim=True).clamp(min=1)
        pooled: torch.Tensor = vectors.sum(dim=1) / count
        return pooled


class OptionalId(nn.Module):
    """Embedding of an index that may be -1 (missing), which maps to a zero vector."""

    def __init__(self, num: int, dim: int, sparse: bool) -> None:
        super().__init__()
        self.embedding = padded_embedding(num, dim, sparse)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        """``[B]`` → ``[B, dim]``."""
        out: torch.Tensor = self.embedding(idx + 1)
        return out


class DwellPooling(nn.Module):
    """Weighted mean of history video representations; weights learned from dwell and likes.

    A history video is represented by its id embedding plus the mean of its tag embeddings and
    its creator embedding, so tastes transfer between videos that share content.
    ``w = softplus(a·dwell + b·liked + c)``: a fully watched or liked video counts more than a
    glance, with the trade-off learned rather than fixed.
    """

    def __init__(
        self, num: int, dim: int, sparse: bool, n_tags: int = 0, n_creators: int = 0
    ) -> None:
        super().__init__()
        self.items = OptionalId(num, dim, sparse)
        self.tags = Bag(n_tags, dim, sparse) if n_tags else None
        self.creators = OptionalId(n_creators, dim, sparse) if n_creators else None
        self.coef = nn.Parameter(torch.tensor([1.0, 1.0, 0.5]))

    def forward(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """Pool a batch of histories into ``[B, dim]``.

        Inputs: ``hist_video [B, N]`` (-1 pad), ``hist_dwell``/``hist_liked`` ``[B, N]``, and the
        content of the U distinct history videos: ``hist_tags [U, T]``, ``hist_creator [U]``,
        with ``hist_content_row [B, N]`` pointing each slot at its row.
        """
        video = x["hist_video"]
        dwell, liked = x["hist_dwell"], x["hist_liked"]
        weight = nn.functional.softplus(self.coef[0] * dwell + self.coef[1] * liked + self.coef[2])
        weight = weight * (video >= 0)
        vectors = self.items(video)  # [B, N, D]
        if self.tags is not None or self.creators is not None:
            content = 0.0
            if self.tags is not None:
                content = content + self.tags(x["hist_tags"])  # [U, D], U distinct videos
            if self.creators is not None:
                content = content + self.creators(x["hist_creator"])
            vectors = vectors + content[x["hist_content_row"]]  # type: ignore[index]
        total = weight.sum(dim=1, keepdim=True).clamp(min=1e-6)
        pooled: torch.Tensor = (vectors * weight.unsqueeze(-1)).sum(dim=1) / total
        return pooled

"""TwoTower: a user tower and an item tower whose unit vectors meet in one dot-product space."""

from __future__ import annotations

import torch
from torch import nn

from reelrec.config import ModelConfig
from reelrec.models.item_tower import ItemTower
from reelrec.models.user_tower import UserTower


class TwoTower(nn.Module):
    """The retrieval model: ``score(u, v) = encode_users(u) · encode_items(v)``.

    Args:
        sizes: table sizes: ``users``, ``videos``, ``creators``, ``tags``, ``text``,
            ``duration``, ``age``, ``vectors`` and ``attributes`` (a list of sizes).
    """

    def __init__(self, cfg: ModelConfig, sizes: dict[str, object], sparse: bool = True) -> None:
        super().__init__()
        self.cfg = cfg
        self.sizes = sizes
        self.user_tower = UserTower(
            cfg,
            int(sizes["users"]),  # type: ignore[call-overload]
            int(sizes["videos"]),  # type: ignore[call-overload]
            list(sizes["attributes"]),  # type: ignore[call-overload]
            sparse,
            n_tags=int(sizes["tags"]),  # type: ignore[call-overload]
            n_creators=int(sizes["creators"]),  # type: ignore[call-overload]
        )
        item_sizes = {k: int(v) for k, v in sizes.items() if k != "attributes"}  # type: ignore[call-overload]
        self.item_tower = ItemTower(cfg, item_sizes, sparse)

    def encode_users(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[B, dim]`` unit vectors for a batch of user inputs."""
        return self.user_tower(x)  # type: ignore[no-any-return]

    def encode_items(self, x: dict[str, torch.Tensor]) -> torch.Tensor:
        """``[B, dim]`` unit vectors for a batch of video inputs."""
        return self.item_tower(x)  # type: ignore[no-any-return]
